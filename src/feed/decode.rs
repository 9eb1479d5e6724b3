//! Feed bytes to UTF-8 text. feed-rs decodes by the XML declaration only; real feeds
//! also mislabel UTF-8, rely on the HTTP charset, or send UTF-16 without a BOM.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn utf16_without_bom_is_detected() {
        let text = "<rss version=\"2.0\"><channel><title>Ж</title><item><title>é</title></item></channel></rss>";
        let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(decode_to_utf8(&bytes, None).contains("<title>é</title>"));
    }
}
