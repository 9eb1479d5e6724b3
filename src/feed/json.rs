//! JSON Feed as publishers write it: version strings other than the URL feed-rs expects
//! (`"1.0"`, `http://…`, none at all), and documents cut off in the middle, which keep their
//! complete items as a truncated XML feed does.

use std::borrow::Cow;

/// A JSON document ready for feed-rs, and how many items its text holds.
pub struct JsonDocument<'a> {
    /// The text to parse.
    pub text: Cow<'a, str>,
    /// The elements of its `items` array (complete ones, when the text was cut off).
    pub items: usize,
    /// The text ends before its first item is complete.
    pub cut_before_first_item: bool,
}

/// The version feed-rs reads.
const VERSION_URL: &str = "https://jsonfeed.org/version/1.1";

/// Repairs a JSON Feed's version and a cut-off text; anything else is left to feed-rs.
pub fn normalise_json(text: &str) -> JsonDocument<'_> {
    let scan = scan(text);
    let text: Cow<'_, str> = match (scan.truncated, scan.items_end, scan.items_start) {
        (false, _, _) => Cow::Borrowed(text),
        // Cut off after the items: close the feed.
        (true, Some(end), _) => Cow::Owned(format!("{}}}", &text[..end])),
        // Cut off among the items: keep the complete ones, close the array and the feed.
        (true, None, Some(start)) => {
            let cut = scan.after_last_item.unwrap_or(start);
            Cow::Owned(format!("{}]}}", &text[..cut]))
        }
        (true, None, None) => Cow::Borrowed(text),
    };
    let text = if text.contains("\"https://jsonfeed.org/version/1") {
        text
    } else {
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(mut map)) if map.contains_key("items") => {
                map.insert("version".into(), VERSION_URL.into());
                Cow::Owned(serde_json::Value::Object(map).to_string())
            }
            _ => text,
        }
    };
    JsonDocument {
        text,
        items: scan.items,
        cut_before_first_item: scan.truncated && scan.items_end.is_none() && scan.items == 0,
    }
}

/// What one pass over the text found.
#[derive(Debug, Default)]
struct Scan {
    /// Complete elements of the top-level `items` array.
    items: usize,
    /// Just after the last complete item.
    after_last_item: Option<usize>,
    /// Just after the `[` of the items array.
    items_start: Option<usize>,
    /// Just after the `]` of the items array, once it closed.
    items_end: Option<usize>,
    /// The text ends with containers (or a string) still open.
    truncated: bool,
}

/// One linear pass: strings and escapes skipped, nesting tracked, the top-level `items`
/// array's elements counted.
fn scan(text: &str) -> Scan {
    let mut found = Scan::default();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut string_start = 0;
    // The string just closed, while only white space follows it: a key if a `:` comes.
    let mut last_string: Option<(usize, usize)> = None;
    let mut key: Option<(usize, usize)> = None;
    let mut in_items = false;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                last_string = Some((string_start, i));
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                string_start = i + 1;
            }
            b':' => {
                if depth == 1 {
                    key = last_string;
                }
                last_string = None;
            }
            b'{' | b'[' => {
                depth += 1;
                let items_key = key.is_some_and(|(s, e)| &text[s..e] == "items");
                if b == b'[' && depth == 2 && items_key && found.items_start.is_none() {
                    in_items = true;
                    found.items_start = Some(i + 1);
                }
                last_string = None;
            }
            b'}' | b']' => {
                if in_items && depth == 2 {
                    in_items = false;
                    found.items_end = Some(i + 1);
                } else if in_items && depth == 3 {
                    found.items += 1;
                    found.after_last_item = Some(i + 1);
                }
                depth = depth.saturating_sub(1);
                last_string = None;
            }
            b if b.is_ascii_whitespace() => {}
            _ => last_string = None,
        }
    }
    found.truncated = depth > 0 || in_string;
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_off_feed_keeps_its_complete_items() {
        let text = r#"{"version":"https://jsonfeed.org/version/1.1","title":"t","items":[{"id":"1","content_text":"a ] } \" {"},{"id":"2","content_text":"b"},{"id":"3","content_te"#;
        let document = normalise_json(text);
        assert_eq!(document.items, 2);
        let value: serde_json::Value = serde_json::from_str(&document.text).expect("valid");
        assert_eq!(value["items"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn other_version_spellings_become_the_url() {
        let document = normalise_json(r#"{"version":"1.0","title":"t","items":[{"id":"1"}]}"#);
        assert!(document.text.contains(VERSION_URL), "{}", document.text);
        assert_eq!(document.items, 1);
        let whole = r#"{"version":"https://jsonfeed.org/version/1","items":[]}"#;
        assert!(matches!(normalise_json(whole).text, Cow::Borrowed(_)));
    }
}
