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
    #[error("not a feed: {0}")]
    NotAFeed(String),
    #[error("malformed feed: {0}")]
    Malformed(String),
}

/// Parses a fetched document. `http_charset` is the `charset` of the `Content-Type`
/// header, if any; `base_url` resolves relative links.
pub fn parse_feed(
    bytes: &[u8],
    http_charset: Option<&str>,
    base_url: &str,
) -> Result<Feed, ParseError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    let text = decode_to_utf8(bytes, http_charset);
    let repaired = repair_xml(&text);
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(base_url))
        .sanitize_content(false)
        // An empty id tells normalisation the feed gave none, so it can fall back to the
        // link rather than trust a generated hash.
        .id_generator(|_, _, _| String::new())
        .build();
    parser.parse(repaired.as_bytes()).map_err(|e| match e {
        feed_rs::parser::ParseFeedError::ParseError(
            feed_rs::parser::ParseErrorKind::NoFeedRoot,
        ) => ParseError::NotAFeed(describe_non_feed(&repaired)),
        other => ParseError::Malformed(other.to_string()),
    })
}

fn describe_non_feed(text: &str) -> String {
    let head: String = text
        .chars()
        .take(512)
        .collect::<String>()
        .to_ascii_lowercase();
    if head.contains("<html") || head.contains("<!doctype html") {
        "the document is an HTML page, not RSS, Atom or JSON Feed".into()
    } else {
        "no RSS, Atom or JSON Feed root element found".into()
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
    let mut rest = text;
    loop {
        let next_amp = rest.find('&');
        let next_raw = rest
            .find("<![CDATA[")
            .into_iter()
            .chain(rest.find("<!--"))
            .min();
        match (next_amp, next_raw) {
            (Some(amp), raw) if raw.is_none_or(|r| amp < r) => {
                out.push_str(&rest[..amp]);
                let after = &rest[amp..];
                let consumed = push_reference(&mut out, after);
                rest = &after[consumed..];
            }
            (_, Some(raw)) => {
                let (open, close) = if rest[raw..].starts_with("<![CDATA[") {
                    ("<![CDATA[", "]]>")
                } else {
                    ("<!--", "-->")
                };
                let body_start = raw + open.len();
                let end = rest[body_start..]
                    .find(close)
                    .map_or(rest.len(), |e| body_start + e + close.len());
                out.push_str(&rest[..end]);
                rest = &rest[end..];
            }
            _ => {
                out.push_str(rest);
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
