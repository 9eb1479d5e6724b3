//! Plain-text helpers for titles and summaries: strip HTML, decode entities,
//! collapse white space, shorten at a word boundary. All pure functions.

use super::visibility::{is_hidden, might_be_hidden};
use crate::html::{Token, tokens};

/// Elements whose text is never part of what a reader sees.
const INVISIBLE_ELEMENTS: &[&str] = &[
    "script",
    "style",
    "template",
    "noscript",
    "head",
    "title",
    // MathML's annotations (its TeX source) are not what it shows.
    "annotation",
    "annotation-xml",
];

/// Elements that never have content or a closing tag.
const VOID_ELEMENTS: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Elements after which a reader sees a break, so their text must not glue to the next
/// block's (`reliability.Second`).
const BLOCK_ELEMENTS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "tr",
    "ul",
];

/// Turns an HTML fragment (or plain text that may carry entities) into one line of plain
/// text: tags removed, invisible elements dropped, entities decoded, white space collapsed.
pub fn html_to_plain_text(html: &str) -> String {
    let stripped = strip_tags(html);
    let decoded = html_escape::decode_html_entities(&stripped);
    collapse_whitespace(&decoded)
}

/// Normalises an entry title: tags stripped, entities decoded (twice-escaped ones too, as
/// in `&amp;#x27;`), white space collapsed and trimmed.
pub fn clean_title(raw: &str) -> String {
    let once = html_to_plain_text(raw);
    // A title escaped twice by its publisher still carries an entity after one decoding.
    if once.contains('&') {
        let twice = html_escape::decode_html_entities(&once);
        collapse_whitespace(&twice)
    } else {
        once
    }
}

/// Collapses every run of white space (including non-breaking and zero-width-free
/// Unicode spaces and line breaks) into one ASCII space and trims both ends.
pub fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        // Printable ASCII (most of a title or a summary) is copied a run at a time, not
        // a character at a time.
        let run = bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_graphic())
            .count();
        let (piece, next) = if run > 0 {
            (&text[at..at + run], at + run)
        } else {
            let Some(ch) = text[at..].chars().next() else {
                break;
            };
            let next = at + ch.len_utf8();
            if ch.is_whitespace() || ch.is_control() {
                pending_space = !out.is_empty();
                at = next;
                continue;
            }
            (&text[at..next], next)
        };
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push_str(piece);
        at = next;
    }
    out
}

/// Removes tags, comments and the content of invisible elements; inserts a space where a
/// block element starts or ends. Text that only looks like a tag (`a < b`) is kept.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut scan = tokens(html);
    while let Some(token) = scan.next() {
        match token {
            Token::Text(text) | Token::CData(text) => out.push_str(text),
            Token::Comment(_) => {}
            Token::Tag(tag) => {
                let name = tag.name.to_ascii_lowercase();
                if !tag.closing && INVISIBLE_ELEMENTS.contains(&name.as_str()) {
                    scan.skip_past_closing(&name);
                    // A formula's annotation sits inside a word ("the nth").
                    if !name.starts_with("annotation") {
                        out.push(' ');
                    }
                } else if !tag.closing
                    && !tag.self_closing
                    && might_be_hidden(tag.attributes)
                    && !VOID_ELEMENTS.contains(&name.as_str())
                    && is_hidden(|attribute| tag.attribute(attribute))
                {
                    scan.skip_element(&name);
                    out.push(' ');
                } else if BLOCK_ELEMENTS.contains(&name.as_str()) {
                    out.push(' ');
                }
            }
        }
    }
    out
}

/// The markers WordPress and others put at the end of a truncated description.
const TRUNCATION_MARKERS: &[&str] = &["[…]", "[...]", "[&hellip;]", "&hellip;", "…"];

/// Makes the `summary` field from plain text: a trailing truncation marker becomes
/// `...`, and text longer than `limit` characters is cut at the last white space at or
/// before the limit (at the limit when there is none, as in Chinese) with `...` appended.
pub fn summarize(plain: &str, limit: usize) -> String {
    let mut text = without_read_more(plain.trim_end());
    for marker in TRUNCATION_MARKERS {
        if let Some(head) = text.strip_suffix(marker) {
            text = format!("{head}...");
            break;
        }
    }
    if text.chars().count() <= limit {
        return text;
    }
    format!("{}...", cut_at_word(&text, limit))
}

/// Links publishers append to a teaser ("Continue reading…", "Read more »"): they lead to
/// the article, which the source line already does, and read as noise in a summary.
const READ_MORE_PHRASES: &[&str] = &[
    "continue reading",
    "keep reading",
    "read more here",
    "read more",
    "read on",
    "read the rest of this entry",
    "read the rest",
    "read the full article",
    "read full article",
    "read full story",
    "weiterlesen",
    "lire la suite",
    "leer más",
    "continua a leggere",
    "lees verder",
];

/// `text` without a trailing read-more phrase (and the dots, arrows or brackets around
/// it); a sentence cut short gets `...` instead.
fn without_read_more(text: &str) -> String {
    let decoration = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '.' | '…' | '→' | '»' | '›' | '>' | ':' | '[' | ']' | '(' | ')'
            )
    };
    let core = text.trim_end_matches(decoration);
    let lower = core.to_lowercase();
    let Some(phrase) = READ_MORE_PHRASES.iter().find(|p| lower.ends_with(*p)) else {
        return text.to_string();
    };
    // Byte offsets of `lower` match `core` only when lowercasing kept every length.
    if lower.len() != core.len() {
        return text.to_string();
    }
    // "how to read more" is a sentence; "Read more »" and "Continue reading…" are links.
    let decorated = text[core.len()..].chars().any(|c| !c.is_whitespace());
    let capitalised = core[core.len() - phrase.len()..].starts_with(|c: char| c.is_uppercase());
    if !decorated && !capitalised {
        return text.to_string();
    }
    let head = core[..core.len() - phrase.len()]
        .trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '[' | '(' | '|' | '-' | '–'));
    if head.is_empty() {
        return text.to_string();
    }
    if head.ends_with(['.', '!', '?', '…']) {
        head.to_string()
    } else {
        format!("{head}...")
    }
}

/// The first words of `text`, at most `limit` characters, cut at a word boundary when
/// there is one: the title of an entry that has none.
pub fn first_words(text: &str, limit: usize) -> String {
    cut_at_word(text, limit).to_string()
}

/// `text` shortened to at most `limit` characters: at the last white space at or before
/// the limit, or at the limit itself when the text there has no white space.
fn cut_at_word(text: &str, limit: usize) -> &str {
    let Some((cut_byte, _)) = text.char_indices().nth(limit) else {
        return text;
    };
    let head = &text[..cut_byte];
    // The character right after the limit being a space means the limit ends a word.
    if text[cut_byte..].starts_with(char::is_whitespace) {
        return head.trim_end();
    }
    match head.rfind(char::is_whitespace) {
        Some(space) if space > 0 => head[..space].trim_end(),
        _ => head,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// White space collapsed a character at a time, as it was first written.
    fn collapsed_by_chars(text: &str) -> String {
        let mut out = String::new();
        let mut pending_space = false;
        for ch in text.chars() {
            if ch.is_whitespace() || ch.is_control() {
                pending_space = !out.is_empty();
                continue;
            }
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(ch);
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn white_space_collapses_as_character_by_character(
            text in "[ab. \t\r\n\u{0}\u{7f}\u{85}\u{a0}\u{2003}\u{200b}\u{3000}é日~!]{0,40}"
        ) {
            proptest::prop_assert_eq!(collapse_whitespace(&text), collapsed_by_chars(&text));
        }

        #[test]
        fn any_text_collapses_as_character_by_character(text in proptest::prelude::any::<String>()) {
            proptest::prop_assert_eq!(collapse_whitespace(&text), collapsed_by_chars(&text));
        }
    }

    #[test]
    fn plain_text_separates_blocks_and_drops_scripts() {
        let html = "<p>First&nbsp;one.</p><p>Second<script>alert(1)</script> &amp; <b>bold</b></p>";
        assert_eq!(html_to_plain_text(html), "First one. Second & bold");
    }

    #[test]
    fn plain_text_keeps_a_lone_less_than_sign() {
        assert_eq!(html_to_plain_text("a < b and c<d"), "a < b and c<d");
    }

    #[test]
    fn plain_text_honours_quoted_greater_than_in_attributes() {
        assert_eq!(
            html_to_plain_text(r#"<a title="x>y" href="/">link</a> text"#),
            "link text"
        );
    }

    #[test]
    fn tag_cut_off_at_the_end_is_dropped() {
        assert_eq!(html_to_plain_text("1 2 <span class=\"li"), "1 2");
    }

    #[test]
    fn title_decodes_double_escaped_entities() {
        assert_eq!(
            clean_title("Don&#x27;t   <em>panic</em>\n now"),
            "Don't panic now"
        );
    }

    #[test]
    fn summary_under_limit_is_kept_and_marker_replaced() {
        assert_eq!(summarize("Short text […]", 320), "Short text ...");
        assert_eq!(summarize("Short text [...]", 320), "Short text ...");
    }

    #[test]
    fn read_more_links_leave_the_summary() {
        assert_eq!(
            summarize("The latest news Continue reading...", 320),
            "The latest news..."
        );
        assert_eq!(
            summarize("A whole sentence. Read More »", 320),
            "A whole sentence."
        );
        assert_eq!(
            summarize("sinking to … Read More Here →", 320),
            "sinking to ..."
        );
        assert_eq!(summarize("First part. Read more […]", 320), "First part.");
        assert_eq!(summarize("How to read more", 320), "How to read more");
        assert_eq!(summarize("Read more", 320), "Read more");
    }

    #[test]
    fn summary_is_cut_at_last_space_before_limit() {
        assert_eq!(summarize("one two three four", 9), "one two...");
        assert_eq!(summarize("one two three four", 7), "one two...");
        assert_eq!(summarize("one two three four", 8), "one two...");
    }

    #[test]
    fn summary_without_spaces_is_cut_at_limit() {
        assert_eq!(
            summarize("这是一个没有空格的很长的中文句子", 5),
            "这是一个没..."
        );
    }

    #[test]
    fn first_words_cuts_at_word() {
        assert_eq!(first_words("alpha beta gamma", 12), "alpha beta");
        assert_eq!(first_words("alpha", 12), "alpha");
    }

    #[test]
    fn hidden_text_and_math_annotations_are_not_in_plain_text() {
        assert_eq!(
            html_to_plain_text(
                r#"<p>Intro. <a href="/x">Read More<span class="screen-reader-text">Read More</span></a></p><div hidden><div>x</div>gone</div><img hidden src="a.png"> after"#
            ),
            "Intro. Read More after"
        );
        assert_eq!(
            html_to_plain_text(
                r#"the <math><mi>n</mi><annotation encoding="application/x-tex">n</annotation></math>th element"#
            ),
            "the nth element"
        );
    }

    #[test]
    fn inline_emphasis_keeps_the_rest_of_the_sentence() {
        assert_eq!(
            html_to_plain_text("But what exactly <em>is</em> good compression?"),
            "But what exactly is good compression?"
        );
    }
}
