//! Feed bytes -> feed-rs model.
//!
//! feed-rs is strict XML and decodes by the XML declaration only. Real feeds need more, so
//! the bytes first go through a small repair step: decode to UTF-8 by BOM, then UTF-8
//! validity, then the XML declaration, then the HTTP charset, then windows-1252; drop junk
//! before the document; escape bare `&`; turn HTML named entities into character
//! references. Only then does feed-rs see the document, always as UTF-8.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};
use feed_rs::model::Feed;

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("empty document")]
    Empty,
    #[error("not a feed {0}")]
    NotAFeed(String),
    #[error("malformed feed: {0}")]
    Malformed(String),
}

/// A fetched document as the parser needs it.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub bytes: &'a [u8],
    /// The `charset` of the `Content-Type` header, if any.
    pub http_charset: Option<&'a str>,
    /// The media type of the `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// Resolves relative links.
    pub base_url: &'a str,
    /// The zone of dates that name none.
    pub zone: chrono_tz::Tz,
}

/// Parses a fetched document, repairing what real feeds get wrong. A document cut off in
/// the middle keeps its complete entries.
pub fn parse_feed(source: &Source<'_>) -> Result<Feed, ParseError> {
    if source.bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    let text = decode_to_utf8(source.bytes, source.http_charset);
    let repaired = repair_xml(&text);
    match parse_repaired(&repaired, source) {
        Err(ParseError::Malformed(message)) => match truncation_repair(&repaired) {
            Truncation::Repaired(shortened) => {
                parse_repaired(&shortened, source).map_err(|_| ParseError::Malformed(message))
            }
            Truncation::NothingComplete => Err(ParseError::Malformed(
                "the document is cut off before its first complete entry".into(),
            )),
            Truncation::NotTruncated => Err(ParseError::Malformed(message)),
        },
        Err(ParseError::NotAFeed(_)) => Err(ParseError::NotAFeed(describe_non_feed(
            &repaired,
            source.content_type,
        ))),
        other => other,
    }
}

fn parse_repaired(text: &str, source: &Source<'_>) -> Result<Feed, ParseError> {
    let zone = source.zone;
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(source.base_url))
        .timestamp_parser(move |text| crate::dates::parse_date(text, zone))
        .sanitize_content(false)
        // An empty id tells normalisation the feed gave none, so it can fall back to the
        // link rather than trust a generated hash.
        .id_generator(|_, _, _| String::new())
        .build();
    parser.parse(text.as_bytes()).map_err(|e| match e {
        feed_rs::parser::ParseFeedError::ParseError(
            feed_rs::parser::ParseErrorKind::NoFeedRoot,
        ) => ParseError::NotAFeed(String::new()),
        other => ParseError::Malformed(other.to_string()),
    })
}

enum Truncation {
    NotTruncated,
    NothingComplete,
    /// The document cut after its last complete entry and closed again.
    Repaired(String),
}

/// Recognises an XML feed that ends early (its root element is never closed) and keeps
/// what can be kept: everything up to its last complete entry.
fn truncation_repair(text: &str) -> Truncation {
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

fn describe_non_feed(text: &str, content_type: Option<&str>) -> String {
    let head: String = text
        .chars()
        .take(1024)
        .collect::<String>()
        .to_ascii_lowercase();
    let looks_html = ["<html", "<!doctype html", "<head", "<body"]
        .iter()
        .any(|t| head.contains(t));
    let media = content_type.map(|c| c.split(';').next().unwrap_or(c).trim().to_ascii_lowercase());
    match media {
        Some(media) if media == "text/html" || media == "application/xhtml+xml" => {
            format!("({media})")
        }
        _ if looks_html => "(an HTML page)".into(),
        Some(media) => format!("({media}: no RSS, Atom or JSON Feed root element)"),
        None => "(no RSS, Atom or JSON Feed root element)".into(),
    }
}

/// Decodes feed bytes to UTF-8 text. Order: a BOM; bytes that are valid UTF-8 stay UTF-8
/// whatever a label says (mislabelled UTF-8 is far more common than Latin-1 that happens
/// to be valid UTF-8); the XML declaration's encoding; the HTTP charset; windows-1252.
pub fn decode_to_utf8<'a>(bytes: &'a [u8], http_charset: Option<&str>) -> Cow<'a, str> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom_len..]);
        return text;
    }
    // UTF-16 without a BOM still starts with `<` or `{`, next to a zero byte.
    match bytes {
        [b'<' | b'{', 0, ..] => return encoding_rs::UTF_16LE.decode_without_bom_handling(bytes).0,
        [0, b'<' | b'{', ..] => return encoding_rs::UTF_16BE.decode_without_bom_handling(bytes).0,
        _ => {}
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(text);
    }
    let declared =
        xml_declared_encoding(bytes).and_then(|label| Encoding::for_label(label.as_bytes()));
    let from_http = http_charset.and_then(|label| Encoding::for_label(label.trim().as_bytes()));
    let encoding = declared
        .or(from_http)
        // UTF-16 without a BOM is read as declared; a UTF-8 label on bytes that are not
        // UTF-8 means the publisher was wrong, and windows-1252 is the usual truth.
        .filter(|e| *e != UTF_8)
        .unwrap_or(WINDOWS_1252);
    let (text, _) = encoding.decode_without_bom_handling(bytes);
    text
}

/// The `encoding` pseudo-attribute of an XML declaration at the start of the bytes.
fn xml_declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(1024)];
    let start = find(head, b"<?xml")?;
    let end = start + find(&head[start..], b"?>")?;
    let decl = String::from_utf8_lossy(&head[start..end]);
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    let close = value.find(quote)?;
    Some(value[..close].trim().to_string())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Repairs common breakage in XML feeds (JSON passes through untouched).
pub fn repair_xml(text: &str) -> String {
    let text = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if text.starts_with('{') {
        return text.to_string();
    }
    let text = drop_junk_before_document(text);
    let text = without_declared_encoding(text);
    let text = with_rss_version(&text);
    escape_stray_ampersands(&text)
}

/// Junk before the document (PHP warnings, a `<?phpxml` prolog, blank lines): start at the
/// XML declaration if there is one, else at the first element.
fn drop_junk_before_document(text: &str) -> &str {
    if let Some(pos) = text.find("<?xml") {
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
    let Some(at) = text.find("<rss") else {
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
/// comments are left alone: their `&` is literal text.
fn escape_stray_ampersands(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    // Positions (in `text`) of the next CDATA section and comment, each searched for again
    // only once passed, so the whole pass stays linear.
    let next_from = |from: usize, needle: &str| text[from..].find(needle).map(|i| from + i);
    let mut next_cdata = next_from(0, "<![CDATA[");
    let mut next_comment = next_from(0, "<!--");
    let mut at = 0;
    loop {
        let raw = match (next_cdata, next_comment) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match (text[at..].find('&').map(|i| at + i), raw) {
            (Some(amp), raw) if raw.is_none_or(|r| amp < r) => {
                out.push_str(&text[at..amp]);
                at = amp + push_reference(&mut out, &text[amp..]);
            }
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
                let end = next_from(body, close).map_or(text.len(), |e| e + close.len());
                out.push_str(&text[at..end]);
                at = end;
                if next_cdata.is_some_and(|c| c < at) {
                    next_cdata = next_from(at, "<![CDATA[");
                }
                if next_comment.is_some_and(|c| c < at) {
                    next_comment = next_from(at, "<!--");
                }
            }
            _ => {
                out.push_str(&text[at..]);
                return out;
            }
        }
    }
}

/// Writes the reference at the start of `text` (which begins with `&`) in XML-safe form and
/// returns how many bytes of `text` it stood for.
fn push_reference(out: &mut String, text: &str) -> usize {
    let body = &text[1..];
    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
        .unwrap_or(body.len());
    let name = &body[..name_len];
    let terminated = body[name_len..].starts_with(';');
    if terminated && !name.is_empty() {
        if let Some(number) = name.strip_prefix('#') {
            let valid = match number.strip_prefix(['x', 'X']) {
                Some(hex) => !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()),
                None => !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()),
            };
            if valid {
                out.push_str(&text[..name_len + 2]);
                return name_len + 2;
            }
        } else if matches!(name, "amp" | "lt" | "gt" | "quot" | "apos") {
            out.push_str(&text[..name_len + 2]);
            return name_len + 2;
        } else {
            let reference = &text[..name_len + 2];
            let decoded = html_escape::decode_html_entities(reference);
            if decoded != reference {
                for ch in decoded.chars() {
                    out.push_str(&format!("&#{};", ch as u32));
                }
                return name_len + 2;
            }
        }
    }
    out.push_str("&amp;");
    1
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn declared_encoding_is_removed_after_decoding() {
        let text = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss/>";
        assert_eq!(
            without_declared_encoding(text),
            "<?xml version=\"1.0\" ?><rss/>"
        );
    }

    #[test]
    fn decoding_prefers_valid_utf8_over_labels() {
        assert_eq!(
            decode_to_utf8("café".as_bytes(), Some("iso-8859-1")),
            "café"
        );
        let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><t>caf\xe9</t>";
        assert!(decode_to_utf8(latin1, None).contains("café"));
        assert!(decode_to_utf8(b"<t>caf\xe9</t>", Some("koi8-r")).contains("cafИ"));
        assert!(decode_to_utf8(b"<t>caf\xe9</t>", None).contains("café"));
    }

    #[test]
    fn junk_before_declaration_is_dropped() {
        assert!(repair_xml("\n\n  <?xml version=\"1.0\"?><rss/>").starts_with("<?xml"));
        assert!(
            repair_xml("Warning: x in y.php\n<?xml version=\"1.0\"?><rss/>").starts_with("<?xml")
        );
    }
}

#[cfg(test)]
mod recovery_tests {
    use super::*;

    fn parse(text: &str) -> Result<Feed, ParseError> {
        parse_feed(&Source {
            bytes: text.as_bytes(),
            http_charset: None,
            content_type: None,
            base_url: "https://example.com/",
            zone: chrono_tz::Tz::UTC,
        })
    }

    #[test]
    fn truncated_rss_keeps_its_complete_items() {
        let text = "<rss version=\"2.0\"><channel><title>t</title><item><title>one</title></item><item><title>two</title></item><item><title>thr";
        let feed = parse(text).expect("recovered");
        assert_eq!(feed.entries.len(), 2);
    }

    #[test]
    fn truncated_atom_keeps_its_complete_entries() {
        let text = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title><entry><id>1</id><title>one</title></entry><entry><id>2</id><ti";
        assert_eq!(parse(text).expect("recovered").entries.len(), 1);
    }

    #[test]
    fn malformed_but_complete_documents_still_fail() {
        let text = "<rss version=\"2.0\"><channel><item><title>a</item></channel></rss>";
        assert!(matches!(parse(text), Err(ParseError::Malformed(_))));
    }

    #[test]
    fn rss_without_version_is_read_as_rss2() {
        let feed =
            parse("<rss><channel><title>t</title><item><title>one</title></item></channel></rss>")
                .expect("rss");
        assert_eq!(feed.entries.len(), 1);
    }

    #[test]
    fn utf16_without_bom_is_detected() {
        let text = "<rss version=\"2.0\"><channel><title>Ж</title><item><title>é</title></item></channel></rss>";
        let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(decode_to_utf8(&bytes, None).contains("<title>é</title>"));
    }

    #[test]
    fn html_pages_are_named_as_such() {
        let err = parse_feed(&Source {
            bytes: b"<head><title>Moved</title></head><body>x</body>",
            http_charset: None,
            content_type: Some("text/html; charset=utf-8"),
            base_url: "https://example.com/",
            zone: chrono_tz::Tz::UTC,
        })
        .expect_err("not a feed");
        assert_eq!(err.to_string(), "not a feed (text/html)");
        let err = parse("<head><title>Moved</title></head><body>x</body>").expect_err("not a feed");
        assert_eq!(err.to_string(), "not a feed (an HTML page)");
    }
}

/// The feed an HTML page names in `<link rel="alternate" type="application/rss+xml" …>`
/// (autodiscovery), resolved against the page's URL.
pub fn discover_feed(page: &[u8], base: &url::Url) -> Option<url::Url> {
    const FEED_TYPES: &[&str] = &[
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/rdf+xml",
        "application/json",
    ];
    let html = String::from_utf8_lossy(&page[..page.len().min(512 * 1024)]);
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(offset) = lower[from..].find("<link") {
        let start = from + offset;
        let end = lower[start..].find('>').map_or(lower.len(), |e| start + e);
        from = end;
        let attributes = tag_attributes(&html[start + 5..end]);
        let get = |name: &str| {
            attributes
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let is_alternate = get("rel").is_some_and(|rel| {
            rel.split_whitespace()
                .any(|r| r.eq_ignore_ascii_case("alternate"))
        });
        let is_feed = get("type")
            .is_some_and(|t| FEED_TYPES.contains(&t.trim().to_ascii_lowercase().as_str()));
        if let (true, true, Some(href)) = (is_alternate, is_feed, get("href")) {
            let href = html_escape::decode_html_entities(href);
            if let Some(url) = crate::links::clean_url(&href, Some(base)) {
                return Some(url);
            }
        }
    }
    None
}

/// `name="value"`, `name='value'` and `name=value` pairs of a tag, names lowercased.
fn tag_attributes(text: &str) -> Vec<(String, String)> {
    let mut attributes = Vec::new();
    let mut rest = text.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        let value = if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (value, remaining) = match after.chars().next() {
                Some(quote @ ('"' | '\'')) => {
                    let body = &after[1..];
                    let close = body.find(quote).unwrap_or(body.len());
                    (&body[..close], body.get(close + 1..).unwrap_or(""))
                }
                _ => {
                    let close = after.find(char::is_whitespace).unwrap_or(after.len());
                    (&after[..close], &after[close..])
                }
            };
            rest = remaining;
            value.to_string()
        } else {
            String::new()
        };
        if !name.is_empty() {
            attributes.push((name, value));
        }
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
    }
    attributes
}

/// How long the feed itself says to wait before the next fetch: RSS `<ttl>` (minutes) or
/// `sy:updatePeriod` / `sy:updateFrequency`, whichever is longer, at most a day (a wrong
/// hint must not silence a feed for long).
pub fn update_hint(ttl_minutes: Option<u32>, body: &[u8]) -> Option<chrono::Duration> {
    let ttl = ttl_minutes
        .filter(|m| *m > 0)
        .map(|m| chrono::Duration::minutes(i64::from(m)));
    let syndication = syndication_period(body);
    let hint = match (ttl, syndication) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }?;
    Some(hint.min(chrono::Duration::days(1)))
}

fn syndication_period(body: &[u8]) -> Option<chrono::Duration> {
    let head = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    let element = |name: &str| {
        let open = head.find(&format!("<sy:{name}>"))? + name.len() + 5;
        let close = head[open..].find('<')? + open;
        Some(head[open..close].trim().to_ascii_lowercase())
    };
    let period = match element("updatePeriod")?.as_str() {
        "hourly" => chrono::Duration::hours(1),
        "daily" => chrono::Duration::days(1),
        "weekly" => chrono::Duration::weeks(1),
        "monthly" => chrono::Duration::days(30),
        "yearly" => chrono::Duration::days(365),
        _ => return None,
    };
    let frequency: i32 = element("updateFrequency")
        .and_then(|f| f.parse().ok())
        .filter(|f| *f > 0)
        .unwrap_or(1);
    Some(period / frequency)
}

#[cfg(test)]
mod discovery_tests {
    use super::*;

    #[test]
    fn alternate_links_are_found_and_resolved() {
        let base = url::Url::parse("https://blog.example.com/posts/").expect("url");
        let page = br#"<html><head><link rel="stylesheet" href="/s.css"><link rel='alternate' type='application/atom+xml' title="Feed" href="/feed.atom?a=1&amp;b=2"></head></html>"#;
        assert_eq!(
            discover_feed(page, &base).map(|u| u.to_string()).as_deref(),
            Some("https://blog.example.com/feed.atom?a=1&b=2")
        );
        assert_eq!(
            discover_feed(b"<html><body>nothing</body></html>", &base),
            None
        );
    }

    #[test]
    fn hints_take_the_longer_and_are_capped() {
        let body = b"<rss><channel><sy:updatePeriod>\n\thourly\t</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>";
        assert_eq!(update_hint(None, body), Some(chrono::Duration::minutes(30)));
        assert_eq!(
            update_hint(Some(60), body),
            Some(chrono::Duration::minutes(60))
        );
        assert_eq!(
            update_hint(Some(60 * 24 * 30), b""),
            Some(chrono::Duration::days(1))
        );
        assert_eq!(update_hint(None, b"<rss/>"), None);
    }
}
