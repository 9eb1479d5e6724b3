//! Feed bytes to UTF-8 text. feed-rs decodes by the XML declaration only; real feeds
//! also mislabel UTF-8, rely on the HTTP charset, or send UTF-16 without a BOM.

use std::borrow::Cow;
use std::io::Read as _;

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

use super::ParseError;

/// A body that is a gzip file by its magic bytes (served as `application/gzip`, or
/// compressed twice) unpacked, at most `limit` bytes; `None` when it is not gzip.
pub fn gunzip_if_gzip(bytes: &[u8], limit: u64) -> Result<Option<Vec<u8>>, ParseError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(None);
    }
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(limit.saturating_add(1))
        .read_to_end(&mut unpacked)
        .map_err(ParseError::Gzip)?;
    if unpacked.len() as u64 > limit {
        return Err(ParseError::GzipTooLarge { limit });
    }
    Ok(Some(unpacked))
}

/// UTF-8 with a few bytes that are not (a stray Latin-1 byte pasted into a UTF-8 feed):
/// the valid sequences kept as UTF-8, each stray byte read as windows-1252. `None` when
/// the bytes do not look like UTF-8: fewer than ten valid multi-byte sequences per stray
/// byte.
fn mostly_utf8(bytes: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(bytes.len() + 16);
    let mut stray = 0usize;
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                out.push_str(valid);
                break;
            }
            Err(error) => {
                let (valid, after) = rest.split_at(error.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let bad = error.error_len().unwrap_or(after.len()).max(1);
                let (decoded, _) = WINDOWS_1252.decode_without_bom_handling(&after[..bad]);
                out.push_str(&decoded);
                stray += bad;
                rest = &after[bad..];
            }
        }
    }
    let multibyte = out
        .chars()
        .filter(|c| c.len_utf8() > 1)
        .count()
        .saturating_sub(stray);
    (stray > 0 && multibyte >= stray * 10).then_some(out)
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
    if let Some(text) = mostly_utf8(bytes) {
        return Cow::Owned(text);
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

    #[test]
    fn utf8_with_one_stray_latin1_byte_stays_utf8() {
        let mut bytes = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><t>trænere, Ærø, Øst, Åbo, møde, færdig, øl, år, blå, grøn, være, rød</t>"
            .as_bytes()
            .to_vec();
        bytes.extend_from_slice(b"<u>caf\xe9</u>");
        let text = decode_to_utf8(&bytes, Some("iso-8859-1"));
        assert!(text.contains("trænere"), "{text}");
        assert!(text.contains("café"), "{text}");
        // Real Latin-1 is not mistaken for UTF-8.
        assert!(decode_to_utf8(b"<t>tr\xe6nere \xc6r\xf8</t>", None).contains("trænere Ærø"));
    }

    #[test]
    fn gzip_bodies_are_unpacked_within_the_limit() {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&[b'x'; 5000]).expect("compress");
        let packed = encoder.finish().expect("finish");
        assert_eq!(
            gunzip_if_gzip(&packed, 10_000)
                .expect("gzip")
                .map(|b| b.len()),
            Some(5000)
        );
        assert!(matches!(
            gunzip_if_gzip(&packed, 100),
            Err(ParseError::GzipTooLarge { limit: 100 })
        ));
        assert!(gunzip_if_gzip(b"<rss/>", 100).expect("plain").is_none());
    }
}
