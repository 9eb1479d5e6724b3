//! The XML fixed where real feeds break it, before feed-rs (strict XML) sees it: junk
//! before the document, an encoding declaration that no longer holds, `<rss>` without a
//! version, bare `&`, HTML named entities, and a document cut off mid-entry. Pure
//! functions, each linear in the text.

use std::borrow::Cow;

use super::scan;

/// Repairs common breakage in XML feeds (JSON passes through untouched). The text itself
/// when nothing needed repair, as in most feeds: each step copies the document only when
/// it changes something (two whole copies of every document were 1.5% of a cold fetch).
pub fn repair_xml(text: &str) -> Cow<'_, str> {
    let text = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if text.starts_with('{') {
        return Cow::Borrowed(text);
    }
    let text = without_declared_encoding(drop_junk_before_document(text));
    let text = rewritten_by(text, with_rss_version);
    let text = rewritten_by(text, without_forbidden_controls);
    let text = rewritten_by(text, without_late_declarations);
    rewritten_by(text, escape_stray_ampersands)
}

/// `text` after `step`, a rewrite that borrows what it leaves unchanged: still borrowed
/// from the original when neither changed anything, and never copied only to be kept.
pub(super) fn rewritten_by<'a>(
    text: Cow<'a, str>,
    step: impl for<'b> FnOnce(&'b str) -> Cow<'b, str>,
) -> Cow<'a, str> {
    match text {
        Cow::Borrowed(original) => step(original),
        Cow::Owned(earlier) => {
            let changed = match step(&earlier) {
                Cow::Borrowed(_) => None,
                Cow::Owned(rewritten) => Some(rewritten),
            };
            Cow::Owned(changed.unwrap_or(earlier))
        }
    }
}

/// XML declarations after the start of the document (two feeds concatenated, a template
/// that prints one per item) removed: only the first is a declaration, and the XML
/// reader fails on another, or panics when it names an encoding. CDATA, where
/// `<?xml …?>` is article text, is left alone.
fn without_late_declarations(text: &str) -> Cow<'_, str> {
    let is_declaration = |at: usize| {
        at > 0
            && text[at + 5..]
                .chars()
                .next()
                .is_some_and(char::is_whitespace)
    };
    if !memchr::memmem::find_iter(text.as_bytes(), b"<?xml").any(is_declaration) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while at < text.len() {
        let next_cdata = scan::find_from(text, "<![CDATA[", at);
        let next_declaration = text[at..]
            .match_indices("<?xml")
            .map(|(i, _)| at + i)
            .find(|&i| is_declaration(i));
        match (next_declaration, next_cdata) {
            (Some(declaration), cdata) if cdata.is_none_or(|c| declaration < c) => {
                out.push_str(&text[at..declaration]);
                at = text[declaration..]
                    .find("?>")
                    .map_or(text.len(), |end| declaration + end + 2);
            }
            (_, Some(cdata)) => {
                let end = text[cdata..]
                    .find("]]>")
                    .map_or(text.len(), |e| cdata + e + 3);
                out.push_str(&text[at..end]);
                at = end;
            }
            (_, None) => {
                out.push_str(&text[at..]);
                at = text.len();
            }
        }
    }
    Cow::Owned(out)
}

/// Control characters XML forbids (all of C0 but tab and line breaks) removed: one of
/// them would fail the whole document for a character no reader sees.
fn without_forbidden_controls(text: &str) -> Cow<'_, str> {
    let forbidden = |c: char| c < ' ' && !matches!(c, '\t' | '\n' | '\r');
    // Looked for byte by byte (controls are one byte in UTF-8 and never part of a longer
    // character): decoding every character cost 1% of a fetch.
    let forbidden_byte = |b: u8| (b < b' ') & (b != b'\t') & (b != b'\n') & (b != b'\r');
    if !scan::any_byte(text.as_bytes(), forbidden_byte) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().filter(|c| !forbidden(*c)).collect())
}

/// Junk before the document (PHP warnings, a `<?phpxml` prolog, blank lines): start at the
/// XML declaration if there is one, else at the first element.
fn drop_junk_before_document(text: &str) -> &str {
    if let Some(pos) = scan::find(text, "<?xml") {
        // Only skip forward when what precedes is junk rather than document content.
        if pos > 0 && !text[..pos].contains("<rss") && !text[..pos].contains("<feed") {
            let after = &text[pos..];
            if after
                .as_bytes()
                .get(5)
                .is_some_and(|b| b.is_ascii_whitespace())
            {
                return after;
            }
        }
        return text;
    }
    match text.find('<') {
        Some(pos) if pos > 0 => &text[pos..],
        _ => text,
    }
}

/// `<rss>` without a `version` is RSS 2.0 in practice; feed-rs needs the attribute.
fn with_rss_version(text: &str) -> Cow<'_, str> {
    let Some(at) = scan::find(text, "<rss") else {
        return Cow::Borrowed(text);
    };
    let tag_end = text[at..].find('>').map_or(text.len(), |e| at + e);
    let tag = &text[at..tag_end];
    let is_rss_element = tag.len() == 4 || tag[4..].starts_with(char::is_whitespace);
    if !is_rss_element || tag.contains("version") {
        return Cow::Borrowed(text);
    }
    Cow::Owned(format!(
        "{} version=\"2.0\"{}",
        &text[..at + 4],
        &text[at + 4..]
    ))
}

/// The text is UTF-8 now; an `encoding="…"` left in the declaration would make the XML
/// reader decode it a second time.
fn without_declared_encoding(text: &str) -> Cow<'_, str> {
    if !text.starts_with("<?xml") {
        return Cow::Borrowed(text);
    }
    let Some(end) = text.find("?>") else {
        return Cow::Borrowed(text);
    };
    let decl = &text[..end];
    let Some(at) = decl.find("encoding") else {
        return Cow::Borrowed(text);
    };
    let after = &decl[at + "encoding".len()..];
    let Some(eq) = after.find('=') else {
        return Cow::Borrowed(text);
    };
    let value = after[eq + 1..].trim_start();
    let Some(quote) = value.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        return Cow::Borrowed(text);
    };
    let Some(close) = value[1..].find(quote) else {
        return Cow::Borrowed(text);
    };
    // UTF-8 declared is what the text now is: nothing to remove, nothing to copy.
    let declared = &value[1..1 + close];
    if declared.eq_ignore_ascii_case("utf-8") || declared.eq_ignore_ascii_case("utf8") {
        return Cow::Borrowed(text);
    }
    let attr_end = decl.len() - value.len() + 1 + close + 1;
    Cow::Owned(format!(
        "{}{}{}",
        &text[..at],
        &text[attr_end..end],
        &text[end..]
    ))
}

/// Escapes every `&` that does not start a character or entity reference, and rewrites
/// HTML named entities (which XML does not know) as numeric references. CDATA sections and
/// comments are left alone: their `&` is literal text. Borrowed when every `&` already
/// reads as XML (the document is copied from its first change on, not before).
fn escape_stray_ampersands(text: &str) -> Cow<'_, str> {
    // Made at the first reference that changes; `text[..copied]` is in it.
    let mut out: Option<String> = None;
    let mut copied = 0;
    // Positions (in `text`) of the next CDATA section and comment, each searched for again
    // only once passed, so the whole pass stays linear.
    let next_from = |from: usize, needle: &str| scan::find_from(text, needle, from);
    let mut next_cdata = next_from(0, "<![CDATA[");
    let mut next_comment = next_from(0, "<!--");
    let mut at = 0;
    loop {
        let raw = match (next_cdata, next_comment) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match (text[at..].find('&').map(|i| at + i), raw) {
            (Some(amp), raw) if raw.is_none_or(|r| amp < r) => match reference_at(&text[amp..]) {
                Reference::Kept(len) => at = amp + len,
                Reference::Replaced { len, with } => {
                    let out = out.get_or_insert_with(|| String::with_capacity(text.len() + 64));
                    out.push_str(&text[copied..amp]);
                    out.push_str(&with);
                    at = amp + len;
                    copied = at;
                }
            },
            (_, Some(raw)) => {
                let close = if next_cdata == Some(raw) {
                    "]]>"
                } else {
                    "-->"
                };
                let body = raw
                    + if close == "]]>" {
                        "<![CDATA[".len()
                    } else {
                        "<!--".len()
                    };
                at = next_from(body, close).map_or(text.len(), |e| e + close.len());
                if next_cdata.is_some_and(|c| c < at) {
                    next_cdata = next_from(at, "<![CDATA[");
                }
                if next_comment.is_some_and(|c| c < at) {
                    next_comment = next_from(at, "<!--");
                }
            }
            _ => break,
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

/// Whether XML 1.0 allows character `code` in a document.
fn is_xml_char(code: u32) -> bool {
    matches!(code, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// What a `&` at the start of a text stands for in the repaired document.
enum Reference {
    /// A reference XML reads, kept as written: its length in bytes.
    Kept(usize),
    /// `len` bytes written as `with` instead.
    Replaced { len: usize, with: Cow<'static, str> },
}

/// The reference at the start of `text` (which begins with `&`): kept when XML reads it;
/// an HTML named entity becomes numeric references, a character XML forbids goes, and a
/// `&` that starts no reference becomes `&amp;`.
fn reference_at(text: &str) -> Reference {
    let stray = Reference::Replaced {
        len: 1,
        with: Cow::Borrowed("&amp;"),
    };
    let body = &text[1..];
    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
        .unwrap_or(body.len());
    let name = &body[..name_len];
    let terminated = body[name_len..].starts_with(';');
    if !terminated || name.is_empty() {
        return stray;
    }
    let len = name_len + 2;
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => number.parse::<u32>().ok(),
        };
        return match code {
            Some(code) if is_xml_char(code) => Reference::Kept(len),
            // `&#0;` and other characters XML forbids would fail the whole document: the
            // character goes, the feed stays.
            Some(_) => Reference::Replaced {
                len,
                with: Cow::Borrowed(""),
            },
            None => stray,
        };
    }
    if matches!(name, "amp" | "lt" | "gt" | "quot" | "apos") {
        return Reference::Kept(len);
    }
    let reference = &text[..len];
    let decoded = html_escape::decode_html_entities(reference);
    if decoded == reference {
        return stray;
    }
    let numeric = decoded
        .chars()
        .map(|ch| format!("&#{};", ch as u32))
        .collect();
    Reference::Replaced {
        len,
        with: Cow::Owned(numeric),
    }
}

/// What [`truncation_repair`] found.
pub enum Truncation {
    NotTruncated,
    NothingComplete,
    /// The document cut after its last complete entry and closed again.
    Repaired(String),
}

/// Recognises an XML feed that ends early (its root element is never closed) and keeps
/// what can be kept: everything up to its last complete entry.
pub fn truncation_repair(text: &str) -> Truncation {
    let head: String = text.chars().take(2048).collect();
    let (entry_end, root_end, closing) = if head.contains("<feed") {
        ("</entry>", "</feed>", "\n</feed>\n")
    } else if head.contains("<rdf:RDF") {
        ("</item>", "</rdf:RDF>", "\n</rdf:RDF>\n")
    } else if head.contains("<rss") {
        ("</item>", "</rss>", "\n</channel>\n</rss>\n")
    } else {
        return Truncation::NotTruncated;
    };
    if text.contains(root_end) {
        return Truncation::NotTruncated;
    }
    match text.rfind(entry_end) {
        Some(last) => {
            let cut = last + entry_end.len();
            Truncation::Repaired(format!("{}{closing}", &text[..cut]))
        }
        None => Truncation::NothingComplete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forbidden_control_is_removed_wherever_it_falls_in_the_blocks_searched() {
        // Every position around the 64-byte blocks, in documents of 0 to 200 bytes with
        // the allowed controls (tab, line feed, carriage return) around it.
        let allowed = "\t\n\r <a>é</a> ".repeat(20);
        for length in 0..200 {
            let clean: String = allowed.chars().take(length).collect();
            assert_eq!(without_forbidden_controls(&clean), clean, "length {length}");
            for position in 0..=clean.len() {
                if !clean.is_char_boundary(position) {
                    continue;
                }
                let dirty = format!("{}\u{1}{}", &clean[..position], &clean[position..]);
                assert_eq!(
                    without_forbidden_controls(&dirty),
                    clean,
                    "length {length}, control at {position}"
                );
            }
        }
    }

    #[test]
    fn bare_ampersands_are_escaped_and_references_kept() {
        assert_eq!(
            escape_stray_ampersands("a & b &amp; &#38; &#x26; &lt;"),
            "a &amp; b &amp; &#38; &#x26; &lt;"
        );
        assert_eq!(escape_stray_ampersands("AT&T"), "AT&amp;T");
    }

    #[test]
    fn html_entities_become_numeric_outside_cdata_only() {
        assert_eq!(
            escape_stray_ampersands("x&nbsp;y&mdash;"),
            "x&#160;y&#8212;"
        );
        assert_eq!(
            escape_stray_ampersands("<![CDATA[a & b&nbsp;]]>&c"),
            "<![CDATA[a & b&nbsp;]]>&amp;c"
        );
    }

    #[test]
    fn declarations_after_the_start_go_but_not_in_cdata() {
        assert_eq!(
            repair_xml(
                "<?xml version=\"1.0\"?><rss><a><?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>x</a><![CDATA[<?xml version=\"1.0\"?>]]></rss>"
            ),
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><a>x</a><![CDATA[<?xml version=\"1.0\"?>]]></rss>"
        );
    }

    #[test]
    fn references_to_characters_xml_forbids_are_dropped() {
        assert_eq!(
            escape_stray_ampersands("a&#0;b&#x1;c&#9;&#xFFFF;d"),
            "abc&#9;d"
        );
    }

    #[test]
    fn a_document_that_needs_no_repair_is_the_text_itself() {
        let text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><item><title>AT&amp;T&#8217;s &lt;b&gt;</title><description><![CDATA[a & b&nbsp;]]></description><!-- & --></item></channel></rss>";
        let repaired = repair_xml(text);
        assert!(matches!(repaired, Cow::Borrowed(_)), "copied: {repaired}");
        assert_eq!(repaired, text);
    }

    #[test]
    fn repairs_one_after_another_keep_each_others_changes() {
        assert_eq!(
            repair_xml(
                "<?xml version=\"1.0\" encoding=\"windows-1252\"?><rss><channel><title>A & B&hellip;</title></channel></rss>"
            ),
            "<?xml version=\"1.0\" ?><rss version=\"2.0\"><channel><title>A &amp; B&#8230;</title></channel></rss>"
        );
    }

    #[test]
    fn declared_encoding_is_removed_after_decoding() {
        let text = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss/>";
        assert_eq!(
            without_declared_encoding(text),
            "<?xml version=\"1.0\" ?><rss/>"
        );
    }

    #[test]
    fn junk_before_declaration_is_dropped() {
        assert!(repair_xml("\n\n  <?xml version=\"1.0\"?><rss/>").starts_with("<?xml"));
        assert!(
            repair_xml("Warning: x in y.php\n<?xml version=\"1.0\"?><rss/>").starts_with("<?xml")
        );
    }
}
