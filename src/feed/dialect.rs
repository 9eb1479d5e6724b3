//! Older and unusual forms of RSS and Atom rewritten into the forms feed-rs reads, so no
//! dialect comes out silently empty:
//!
//! - RSS 0.90 (`<rdf:RDF>` in Netscape's 0.9 namespace) becomes RSS 1.0;
//! - RSS 2.0 in a default namespace (`xmlns="http://backend.userland.com/rss2"`) loses it;
//! - RSS 0.93, 0.94 and other versions are read as 2.0 (a superset of them);
//! - Atom 0.3 becomes Atom 1.0: its namespace, `issued`/`created` (published),
//!   `modified` (updated), `mode="escaped|xml|base64"` content and MIME-typed text;
//! - items without `<link>` get their `rdf:about` (RSS 1.0: their identity) or their
//!   permalink guid (RSS 2.0) as link;
//! - RSS items without a date get one from `atom:published`, `dcterms:issued` and kin;
//! - markup written straight into a `<title>` (`<title><p>x</p></title>`), a description
//!   or a summary is escaped, so its text is kept whatever form it takes.
//!
//! Each rewrite is a linear pass over the text and runs only when its trigger is present,
//! so ordinary feeds pay one scan for the triggers. Done on the text rather than by a
//! second XML parser because feed-rs must see a document anyway and the forms involved are
//! few and plain; what cannot be rewritten safely is left as it is.

use std::borrow::Cow;

use super::scan;

use base64::Engine as _;

const NETSCAPE_RSS_090: &str = "http://my.netscape.com/rdf/simple/0.9/";
const RSS_10: &str = "http://purl.org/rss/1.0/";
const ATOM_03: &str = "http://purl.org/atom/ns#";
const ATOM_10: &str = "http://www.w3.org/2005/Atom";

/// Applies every rewrite whose trigger the document shows. `markup_possible: false`
/// says a tag scan of this text found no markup in its titles, descriptions, summaries
/// and `encoded` elements (see `layout::EntryLayout::markup_in_text_elements`).
pub fn normalise_dialect(text: &str, markup_possible: bool) -> Cow<'_, str> {
    let mut text = Cow::Borrowed(text);
    if scan::find(&text, NETSCAPE_RSS_090).is_some() {
        text = Cow::Owned(text.replace(NETSCAPE_RSS_090, RSS_10));
    }
    if let Some(rewritten) = rss_root(&text) {
        text = Cow::Owned(rewritten);
    }
    if scan::find(&text, ATOM_03).is_some() {
        text = Cow::Owned(atom_03(&text));
    }
    // Decided item by item, never by counting the whole document: an item must read the
    // same whatever other items come with it (known items are left out before this).
    if let Some(rewritten) = item_links_and_dates(&text) {
        text = Cow::Owned(rewritten);
    }
    // `markup_possible` is false when the caller's tag scan found no markup in any of
    // these elements of this very text: then the escapes would change nothing, and their
    // four scans of the whole text (a tenth of reading a document) are left out. A text
    // rewritten above is scanned whatever the caller saw.
    if !markup_possible && matches!(text, Cow::Borrowed(_)) {
        return text;
    }
    if let Some(rewritten) = escape_title_markup(&text) {
        text = Cow::Owned(rewritten);
    }
    // Descriptions and summaries with naked markup (`… exactly <em>is</em> good …`) lose
    // everything from the first element on otherwise.
    for element in ["description", "summary", "encoded"] {
        if let Some(rewritten) = escape_naked_markup(&text, element, false) {
            text = Cow::Owned(rewritten);
        }
    }
    text
}

/// The `<rss>` start tag: a default namespace removed, a version other than 2.0, 0.91 and
/// 0.92 (which feed-rs reads) made 2.0. `None` when nothing changes.
fn rss_root(text: &str) -> Option<String> {
    let start = find_start_tag(text, "rss", 0)?;
    let end = start + text[start..].find('>')?;
    let tag = &text[start..end];
    let mut new_tag = tag.to_string();
    if let Some((at, len)) = attribute_span(tag, "xmlns") {
        new_tag.replace_range(at..at + len, "");
    }
    if let Some(version) = attribute_value(&new_tag, "version")
        && !matches!(version.trim(), "2.0" | "0.91" | "0.92" | "")
    {
        let (at, len) = attribute_span(&new_tag, "version")?;
        new_tag.replace_range(at..at + len, " version=\"2.0\"");
    }
    (new_tag != tag).then(|| format!("{}{new_tag}{}", &text[..start], &text[end..]))
}

/// Atom 0.3 into Atom 1.0.
fn atom_03(text: &str) -> String {
    let text = text.replace(ATOM_03, ATOM_10);
    // `created` stands for published only in entries that have no `issued`.
    let text = map_entries(&text, |entry| {
        if find_start_tag(entry, "issued", 0).is_some() {
            Cow::Borrowed(entry)
        } else {
            Cow::Owned(rename_element(entry, "created", "published"))
        }
    });
    let text = rename_element(&text, "issued", "published");
    let text = rename_element(&text, "modified", "updated");
    atom_03_text_constructs(&text)
}

/// `text` with each `<entry …>…</entry>` passed through `change`.
fn map_entries(text: &str, change: impl Fn(&str) -> Cow<'_, str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    while let Some(start) = find_start_tag(text, "entry", from) {
        let Some(end) = scan::find_from(text, "</entry>", start) else {
            break;
        };
        out.push_str(&text[from..start]);
        out.push_str(&change(&text[start..end]));
        from = end;
    }
    out.push_str(&text[from..]);
    out
}

/// `mode` and MIME `type` attributes of Atom 0.3 text constructs and content, in 1.0's
/// terms; base64 content decoded.
fn atom_03_text_constructs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        rest = &rest[lt..];
        let Some(gt) = rest.find('>') else {
            break;
        };
        let tag = &rest[..=gt];
        let name = local_name(tag);
        if !matches!(
            name,
            "title" | "content" | "summary" | "tagline" | "subtitle" | "rights" | "copyright"
        ) || tag.starts_with("</")
        {
            out.push_str(tag);
            rest = &rest[gt + 1..];
            continue;
        }
        let mode = attribute_value(tag, "mode").map(str::to_ascii_lowercase);
        let mime = attribute_value(tag, "type").map(str::to_ascii_lowercase);
        let text_construct = name != "content";
        let new_type = match (mode.as_deref(), mime.as_deref()) {
            (Some("xml"), _) if text_construct => Some("xhtml"),
            (Some("xml"), Some(m)) if m.contains("html") => Some("xhtml"),
            (_, Some("text/html" | "html")) => Some("html"),
            (_, Some("text/plain" | "text")) if text_construct => Some("text"),
            (Some("escaped"), None) => Some("html"),
            (Some("base64"), _) => Some(if mime.as_deref().is_some_and(|m| m.contains("html")) {
                "html"
            } else {
                "text"
            }),
            _ => None,
        };
        let mut new_tag = tag.to_string();
        for attribute in ["mode", "type"] {
            if let Some((at, len)) = attribute_span(&new_tag, attribute) {
                new_tag.replace_range(at..at + len, "");
            }
        }
        if let Some(new_type) = new_type {
            let insert_at = new_tag.len() - if new_tag.ends_with("/>") { 2 } else { 1 };
            new_tag.insert_str(insert_at, &format!(" type=\"{new_type}\""));
        }
        out.push_str(&new_tag);
        rest = &rest[gt + 1..];
        if mode.as_deref() == Some("base64") && !tag.ends_with("/>") {
            let close = format!("</{}", tag_name(tag));
            if let Some(end) = scan::find(rest, &close) {
                let encoded: String = rest[..end].split_whitespace().collect();
                match base64::engine::general_purpose::STANDARD.decode(encoded.as_bytes()) {
                    Ok(bytes) => out.push_str(&escape_text(&String::from_utf8_lossy(&bytes))),
                    Err(_) => out.push_str(&rest[..end]),
                }
                rest = &rest[end..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// What items lack of a link ([`item_link`]) and of a date ([`ItemDates`]), added in one
/// pass over the items (finding every item's end was a scan of the whole text per pass).
/// `None` when no item needed either.
fn item_links_and_dates(text: &str) -> Option<String> {
    let dates = ItemDates::of(text);
    add_to_items(text, |start_tag, item| {
        let date = dates.as_ref().and_then(|dates| dates.addition(item));
        match item_link(start_tag, item) {
            Some(link) => Some(link + date.as_deref().unwrap_or_default()),
            None => date,
        }
    })
}

/// An item without `<link>` gets one: its `rdf:about` (RSS 1.0, where it is the item's
/// identity), else its `guid` when it is a web address not marked `isPermaLink="false"`
/// (RSS 2.0 says a guid is a permalink unless so marked).
fn item_link(start_tag: &str, item: &str) -> Option<String> {
    if element_text(item, "link").is_some() {
        return None;
    }
    let link = about_or_permalink(start_tag, item)?;
    Some(format!("<link>{}</link>", link.trim()))
}

/// `text` with what `addition` gives each item (from its start tag and its inside)
/// written before the item's end tag; decided item by item, so an item reads the same
/// whatever other items come with it. `None` when no item got anything.
fn add_to_items(text: &str, addition: impl Fn(&str, &str) -> Option<String>) -> Option<String> {
    let mut out: Option<String> = None;
    let (mut from, mut copied) = (0, 0);
    while let Some(start) = find_start_tag(text, "item", from) {
        let Some(tag_len) = text[start..].find('>') else {
            break;
        };
        let tag_end = start + tag_len + 1;
        let Some(close) = scan::find_from(text, "</item>", tag_end) else {
            break;
        };
        from = close;
        let Some(added) = addition(&text[start..tag_end], &text[tag_end..close]) else {
            continue;
        };
        // The output is built only once an item needs something.
        let out = out.get_or_insert_with(|| String::with_capacity(text.len() + 256));
        out.push_str(&text[copied..close]);
        out.push_str(&added);
        copied = close;
    }
    let mut out = out?;
    out.push_str(&text[copied..]);
    Some(out)
}

/// An item's `rdf:about`, else its permalink guid.
fn about_or_permalink<'a>(start_tag: &'a str, item: &'a str) -> Option<&'a str> {
    let about = attribute_value(start_tag, "rdf:about")
        .or_else(|| attribute_value(start_tag, "about"))
        .filter(|a| !a.trim().is_empty());
    about.or_else(|| {
        let guid_at = find_start_tag(item, "guid", 0)?;
        let guid_tag_end = guid_at + item[guid_at..].find('>')?;
        let not_permalink = attribute_value(&item[guid_at..guid_tag_end], "isPermaLink")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"));
        let guid = element_text(item, "guid")?.trim();
        let web = guid.starts_with("http://") || guid.starts_with("https://");
        (web && !not_permalink && !guid.contains(['<', '&'])).then_some(guid)
    })
}

/// The date elements RSS items carry besides `pubDate`, best first: what was published,
/// then what was modified. (`dc:date` and `atom:updated` feed-rs reads itself in RSS 2.0.)
const ITEM_DATE_ELEMENTS: &[&str] = &[
    "atom:published",
    "dcterms:issued",
    "dcterms:created",
    "dcterms:date",
    "dc:date",
    "atom:updated",
    "dcterms:modified",
    "atom:modified",
];

/// RSS items without a date of their own get a `pubDate` (RSS 0.9x/2.0) or `dc:date`
/// (RSS 1.0) from the first of [`ITEM_DATE_ELEMENTS`] they carry.
struct ItemDates {
    /// An RSS 1.0 document (`rdf:RDF`): dates are `dc:date`, else `pubDate`.
    rdf: bool,
}

impl ItemDates {
    /// `None` for an RSS 1.0 document without the Dublin Core prefix (its items cannot
    /// be given a `dc:date`).
    fn of(text: &str) -> Option<ItemDates> {
        let rdf = scan::find(text, ":RDF").is_some();
        if rdf {
            // Only where the document declares the Dublin Core prefix.
            scan::find(text, "xmlns:dc=")?;
        }
        Some(ItemDates { rdf })
    }

    /// The date element to add to an item (its inside), if it has none.
    fn addition(&self, item: &str) -> Option<String> {
        let target = if self.rdf { "dc:date" } else { "pubDate" };
        let dated = find_start_tag(item, target, 0).is_some()
            || (!self.rdf && find_start_tag(item, "dc:date", 0).is_some());
        if dated {
            return None;
        }
        let value = ITEM_DATE_ELEMENTS
            .iter()
            .find_map(|name| element_text(item, name))?;
        Some(format!(
            "<{target}>{}</{target}>",
            escape_text(value.trim())
        ))
    }
}

/// Markup written straight into a `<title>` (not escaped, not in CDATA) escaped as text,
/// so the parser keeps every word of it. Atom `type="xhtml"` titles become `type="html"`
/// with the same markup escaped. `None` when no title holds markup.
fn escape_title_markup(text: &str) -> Option<String> {
    escape_naked_markup(text, "title", true)
}

/// Markup written straight into `<local>` elements (any prefix) escaped as text. An
/// `xhtml` one is left alone, or, with `xhtml_to_html`, escaped and typed `html`.
fn escape_naked_markup(text: &str, local: &str, xhtml_to_html: bool) -> Option<String> {
    let mut out: Option<String> = None;
    let mut from = 0;
    let mut copied = 0;
    while let Some(start) = find_start_tag_any_prefix(text, local, from) {
        let Some(tag_len) = text[start..].find('>') else {
            break;
        };
        let tag_end = start + tag_len + 1;
        from = tag_end;
        let tag = &text[start..tag_end];
        if tag.ends_with("/>") {
            continue;
        }
        let close_tag = format!("</{}", tag_name(tag));
        let Some(close) = scan::find_from(text, &close_tag, tag_end) else {
            break;
        };
        let inner = &text[tag_end..close];
        let xhtml = attribute_value(tag, "type").is_some_and(|t| t.eq_ignore_ascii_case("xhtml"));
        if !holds_markup(inner) || (xhtml && !xhtml_to_html) {
            // Nothing inside is looked at again: an element does not nest in itself.
            from = close;
            continue;
        }
        if inside_literal_text(text, start) {
            // An HTML `<summary>` or `<title>` in a CDATA section (a `<details>` block, an
            // inline SVG) is the content's, and its markup stays as written.
            continue;
        }
        let out = out.get_or_insert_with(|| String::with_capacity(text.len() + 256));
        out.push_str(&text[copied..start]);
        let mut new_tag = tag.to_string();
        if xhtml && let Some((at, len)) = attribute_span(&new_tag, "type") {
            new_tag.replace_range(at..at + len, " type=\"html\"");
        }
        out.push_str(&new_tag);
        out.push_str(&escape_markup_outside_cdata(inner));
        copied = close;
        from = close;
    }
    let mut out = out?;
    out.push_str(&text[copied..]);
    Some(out)
}

/// Whether `at` is inside a CDATA section or a comment, whose text is literal. Asked only
/// of an element about to be escaped, so documents without naked markup never pay for it.
fn inside_literal_text(text: &str, at: usize) -> bool {
    let before = &text.as_bytes()[..at];
    [("<![CDATA[", "]]>"), ("<!--", "-->")]
        .iter()
        .any(|(open, close)| {
            memchr::memmem::rfind(before, open.as_bytes()).is_some_and(|opened| {
                scan::find_from(text, close, opened + open.len()).is_none_or(|closed| closed > at)
            })
        })
}

/// Whether `inner` holds an element (a `<` that starts neither CDATA nor a comment).
fn holds_markup(inner: &str) -> bool {
    let mut rest = inner;
    while let Some(lt) = rest.find('<') {
        let after = &rest[lt..];
        if let Some(body) = after.strip_prefix("<![CDATA[") {
            rest = scan::find(body, "]]>").map_or("", |e| &body[e + 3..]);
        } else if after.starts_with("<!--") {
            rest = scan::find(after, "-->").map_or("", |e| &after[e + 3..]);
        } else {
            return after[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '/');
        }
    }
    false
}

/// `<` and `>` escaped, except inside CDATA sections (whose text is already literal).
fn escape_markup_outside_cdata(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len() + 32);
    let mut rest = inner;
    while let Some(at) = scan::find(rest, "<![CDATA[") {
        out.push_str(&rest[..at].replace('<', "&lt;").replace('>', "&gt;"));
        let body = &rest[at..];
        let end = scan::find(body, "]]>").map_or(body.len(), |e| e + 3);
        out.push_str(&body[..end]);
        rest = &body[end..];
    }
    out.push_str(&rest.replace('<', "&lt;").replace('>', "&gt;"));
    out
}

fn escape_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renames every start and end tag of element `from` (any prefix kept) to `to`.
fn rename_element(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        rest = &rest[lt..];
        let name = tag_name(rest);
        let (prefix, local) = match name.rsplit_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, name),
        };
        if local == from {
            let closing = rest.starts_with("</");
            out.push_str(if closing { "</" } else { "<" });
            if let Some(prefix) = prefix {
                out.push_str(prefix);
                out.push(':');
            }
            out.push_str(to);
            rest = &rest[(if closing { 2 } else { 1 }) + name.len()..];
        } else {
            out.push('<');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The name of the tag at the start of `tag` (`<a:b …>` or `</a:b>`: `a:b`).
fn tag_name(tag: &str) -> &str {
    let body = tag
        .strip_prefix("</")
        .or_else(|| tag.strip_prefix('<'))
        .unwrap_or(tag);
    let end = body
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(body.len());
    &body[..end]
}

/// The local part of a tag's name.
fn local_name(tag: &str) -> &str {
    let name = tag_name(tag);
    name.rsplit_once(':').map_or(name, |(_, local)| local)
}

/// The first start tag `<name …>` (exactly that name) at or after `from`.
fn find_start_tag(text: &str, name: &str, from: usize) -> Option<usize> {
    let needle = format!("<{name}");
    let mut at = from;
    while let Some(offset) = scan::find(text.get(at..)?, &needle) {
        let start = at + offset;
        let next = text[start + needle.len()..].chars().next();
        if next.is_some_and(|c| c.is_whitespace() || c == '>' || c == '/') {
            return Some(start);
        }
        at = start + needle.len();
    }
    None
}

/// The first start tag whose local name is `local` (`<title`, `<atom:title`).
fn find_start_tag_any_prefix(text: &str, local: &str, from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(offset) = scan::find(text.get(at..)?, local) {
        let found = at + offset;
        at = found + local.len();
        let next = text[at..].chars().next();
        if !next.is_some_and(|c| c.is_whitespace() || c == '>' || c == '/') {
            continue;
        }
        let before = &text[..found];
        // Where the name begins: just after the last character that cannot be in one
        // (which may be more than one byte long).
        let name_start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_')))
            .map_or(0, |(p, c)| p + c.len_utf8());
        let prefix = &before[name_start..];
        if before[..name_start].ends_with('<') && (prefix.is_empty() || prefix.ends_with(':')) {
            return Some(name_start - 1);
        }
    }
    None
}

/// The text of the first `<name>…</name>` in `text` (CDATA unwrapped).
fn element_text<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = find_start_tag(text, name, 0)?;
    let open_end = start + text[start..].find('>')? + 1;
    let close = scan::find_from(text, &format!("</{name}>"), open_end)?;
    let inner = text[open_end..close].trim();
    let inner = inner
        .strip_prefix("<![CDATA[")
        .and_then(|i| i.strip_suffix("]]>"))
        .unwrap_or(inner);
    (!inner.trim().is_empty()).then_some(inner)
}

/// Where attribute `name` stands in `tag` (from the white space before it to the end of
/// its value), and how long that is.
fn attribute_span(tag: &str, name: &str) -> Option<(usize, usize)> {
    let mut search = 0;
    while let Some(offset) = tag[search..].find(name) {
        let at = search + offset;
        search = at + name.len();
        let before_ok = tag[..at].ends_with(char::is_whitespace);
        let after = tag[at + name.len()..].trim_start();
        let Some(value) = after.strip_prefix('=') else {
            continue;
        };
        if !before_ok {
            continue;
        }
        let value = value.trim_start();
        let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'')?;
        let close = value[1..].find(quote)?;
        let value_end = tag.len() - value.len() + 1 + close + 1;
        let space_start = tag[..at].trim_end().len();
        return Some((space_start, value_end - space_start));
    }
    None
}

/// The value of attribute `name` in `tag`.
fn attribute_value<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let (at, len) = attribute_span(tag, name)?;
    let span = &tag[at..at + len];
    let eq = span.find('=')?;
    let value = span[eq + 1..].trim_start();
    Some(&value[1..value.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_after_multibyte_characters_are_found() {
        // Found by the fuzz harness: a byte index inside 'ƒ'.
        assert_eq!(
            find_start_tag_any_prefix("ƒ<title>x</title>", "title", 0),
            Some(2)
        );
        assert_eq!(find_start_tag_any_prefix("aƒtitle>", "title", 0), None);
    }

    #[test]
    fn html_elements_inside_cdata_and_comments_keep_their_markup() {
        // A WordPress details block: its `<summary>` is the post's HTML, not the feed's.
        let text = "<item><title>One</title><description><![CDATA[<details><summary><b>Click</b> here</summary><p>More</p></details>]]></description><!-- <title><b>old</b></title> --></item>";
        assert!(matches!(normalise_dialect(text, true), Cow::Borrowed(_)));
        // The same markup written straight into the description is escaped, whole.
        let naked = "<item><description><details><summary><b>Click</b></summary></details></description></item>";
        assert_eq!(
            normalise_dialect(naked, true),
            "<item><description>&lt;details&gt;&lt;summary&gt;&lt;b&gt;Click&lt;/b&gt;&lt;/summary&gt;&lt;/details&gt;</description></item>"
        );
    }

    #[test]
    fn escapes_are_left_out_only_for_the_text_the_caller_scanned() {
        let naked =
            "<rss version=\"2.0\"><channel><item><title>a <b>b</b></title></item></channel></rss>";
        // On the caller's word that its scan of this very text saw no markup in a text
        // element, the escapes are not run: the text comes back as it was.
        assert!(matches!(normalise_dialect(naked, false), Cow::Borrowed(_)));
        // A rewrite before the escapes (the default namespace removed) made a text the
        // caller never scanned: its markup is escaped whatever the caller said.
        let namespaced = naked.replace(
            "<rss version=\"2.0\">",
            "<rss version=\"2.0\" xmlns=\"http://backend.userland.com/rss2\">",
        );
        assert_eq!(
            normalise_dialect(&namespaced, false),
            "<rss version=\"2.0\"><channel><item><title>a &lt;b&gt;b&lt;/b&gt;</title></item></channel></rss>"
        );
    }

    #[test]
    fn rss_root_loses_its_default_namespace_and_odd_versions() {
        let text = r#"<?xml version="1.0"?><rss version="2.0" xmlns="http://backend.userland.com/rss2"><channel/></rss>"#;
        assert_eq!(
            normalise_dialect(text, true),
            r#"<?xml version="1.0"?><rss version="2.0"><channel/></rss>"#
        );
        let text = r#"<rss version="0.94" xmlns:dc="http://purl.org/dc/elements/1.1/">"#;
        assert_eq!(
            normalise_dialect(text, true),
            r#"<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">"#
        );
        let plain = r#"<rss version="2.0"><channel/></rss>"#;
        assert!(matches!(normalise_dialect(plain, true), Cow::Borrowed(_)));
    }

    #[test]
    fn naked_title_markup_is_escaped_and_cdata_left() {
        let text = "<item><title><p>Item <b>Title</b></p></title><title><![CDATA[<i>x</i>]]></title></item>";
        assert_eq!(
            normalise_dialect(text, true),
            "<item><title>&lt;p&gt;Item &lt;b&gt;Title&lt;/b&gt;&lt;/p&gt;</title><title><![CDATA[<i>x</i>]]></title></item>"
        );
    }

    #[test]
    fn naked_markup_in_descriptions_is_escaped_and_xhtml_summaries_left() {
        let text = r#"<item><description>What exactly <em>is</em> good?</description></item><entry><summary type="xhtml"><div>x</div></summary></entry>"#;
        assert_eq!(
            normalise_dialect(text, true),
            r#"<item><description>What exactly &lt;em&gt;is&lt;/em&gt; good?</description></item><entry><summary type="xhtml"><div>x</div></summary></entry>"#
        );
    }

    #[test]
    fn atom_03_dates_and_modes_become_atom_10() {
        let text = r#"<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry><issued>2004-01-01T00:00:00Z</issued><modified>2004-01-02T00:00:00Z</modified><content type="text/html" mode="escaped">&lt;p&gt;x&lt;/p&gt;</content><summary mode="base64">aGVsbG8gPGI+</summary></entry></feed>"#;
        let out = normalise_dialect(text, true);
        assert!(out.contains(ATOM_10), "{out}");
        assert!(
            out.contains("<published>2004-01-01T00:00:00Z</published>"),
            "{out}"
        );
        assert!(
            out.contains("<updated>2004-01-02T00:00:00Z</updated>"),
            "{out}"
        );
        assert!(out.contains(r#"<content type="html">&lt;p&gt;"#), "{out}");
        assert!(
            out.contains(r#"<summary type="text">hello &lt;b&gt;</summary>"#),
            "{out}"
        );
    }

    #[test]
    fn rdf_items_without_links_get_their_about() {
        let text = r#"<rdf:RDF><item rdf:about="https://a.example/1"><title>a</title></item><item rdf:about="x"><link>https://b.example/</link></item></rdf:RDF>"#;
        let out = normalise_dialect(text, true);
        assert!(
            out.contains(r#"<title>a</title><link>https://a.example/1</link></item>"#),
            "{out}"
        );
        assert_eq!(out.matches("<link>").count(), 2, "{out}");
    }

    #[test]
    fn permalink_guids_are_links_unless_marked_otherwise() {
        let text = r#"<rss version="2.0"><channel><link>https://a.example/</link><item><guid>https://a.example/p/1</guid></item><item><guid isPermaLink="false">https://a.example/?p=2</guid></item><item><guid>tag:a,2024:3</guid></item></channel></rss>"#;
        let out = normalise_dialect(text, true);
        assert!(
            out.contains(
                "<guid>https://a.example/p/1</guid><link>https://a.example/p/1</link></item>"
            ),
            "{out}"
        );
        assert_eq!(out.matches("<link>").count(), 2, "{out}");
        let empty_link = "<rss version=\"2.0\"><channel><item><link/><guid>https://a.example/p/4</guid></item></channel></rss>";
        assert!(
            normalise_dialect(empty_link, true).contains("<link>https://a.example/p/4</link>"),
            "an empty link is no link"
        );
    }

    #[test]
    fn an_item_reads_the_same_whatever_other_items_come_with_it() {
        let undated_linkless = "<item><guid>https://a.example/p/9</guid><atom:updated>2020-03-04T00:00:00Z</atom:updated></item>";
        let linked = "<item><link>https://a.example/p/1</link><pubDate>x</pubDate></item>";
        let dated_elsewhere = "<item><link>https://a.example/p/2</link><atom:published>2020-01-01T00:00:00Z</atom:published></item>";
        let document = |items: &[&str]| {
            format!(
                "<rss version=\"2.0\"><channel><link>https://a.example/</link><image><link>https://a.example/</link></image>{}</channel></rss>",
                items.concat()
            )
        };
        let read_alone = normalise_dialect(&document(&[undated_linkless]), true).into_owned();
        let read_with_others = normalise_dialect(
            &document(&[linked, dated_elsewhere, undated_linkless]),
            true,
        )
        .into_owned();
        let item_of = |text: &str| {
            let start = text.rfind("<item>").expect("item");
            text[start..].to_string()
        };
        assert_eq!(item_of(&read_alone), item_of(&read_with_others));
        assert!(
            item_of(&read_alone).contains("<link>https://a.example/p/9</link>"),
            "{read_alone}"
        );
        assert!(
            item_of(&read_alone).contains("<pubDate>2020-03-04T00:00:00Z</pubDate>"),
            "{read_alone}"
        );
    }

    #[test]
    fn undated_items_take_published_dates_from_other_namespaces() {
        let text = "<rss version=\"2.0\"><channel><item><title>a</title><dcterms:modified>2020-01-02</dcterms:modified><atom:published>2020-01-01T00:00:00Z</atom:published></item><item><pubDate>x</pubDate><atom:published>y</atom:published></item></channel></rss>";
        let out = normalise_dialect(text, true);
        assert!(
            out.contains("<pubDate>2020-01-01T00:00:00Z</pubDate></item>"),
            "{out}"
        );
        assert_eq!(out.matches("<pubDate>").count(), 2, "{out}");
    }
}
