//! Article -> file text: YAML front matter in a fixed key order, the markdown body, and
//! the source line (FORMAT.md).
//!
//! The front matter is written by hand rather than through a YAML serializer because the
//! layout is fixed byte for byte and every string is always a double-quoted scalar: a
//! quoted string can never be read as a boolean, a number, a date or a null by any YAML
//! reader, 1.1 or 1.2. The round trip is tested with a strict YAML 1.2 parser.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::article::Article;
use crate::article::markdown::markdown_link_destination;
use crate::config::FrontMatter;

/// What rendering needs besides the article itself.
#[derive(Debug, Clone, Copy)]
pub struct RenderSettings<'a> {
    /// The feed's name: the source line's label.
    pub feed_name: &'a str,
    /// The zone of the `date` line.
    pub timezone: Tz,
    /// The feed's theme keys.
    pub front_matter: &'a FrontMatter,
    /// Append the entry's own categories to the tags.
    pub entry_tags: bool,
    /// Use the entry's own image as `thumbnail` when it has one.
    pub auto_thumbnail: bool,
}

/// The whole file for one article. `date` is the article's resolved time (its published
/// or updated time, else when it was first seen).
pub fn render_article(
    article: &Article,
    date: DateTime<Utc>,
    settings: &RenderSettings<'_>,
) -> String {
    let fm = settings.front_matter;
    let local = date.with_timezone(&settings.timezone);
    let mut out = String::with_capacity(article.body.len() + 1024);
    out.push_str("---\n");
    scalar(&mut out, "title", &article.title);
    scalar(
        &mut out,
        "date",
        &local.format("%Y-%m-%d %H:%M:%S").to_string(),
    );
    scalar(&mut out, "summary", &article.summary);
    list(&mut out, "categories", &article.categories);
    list(&mut out, "lang", std::slice::from_ref(&article.lang));
    list(
        &mut out,
        "translations",
        std::slice::from_ref(&article.lang),
    );
    list(&mut out, "tags", &tags(article, settings.entry_tags));
    scalar(&mut out, "menu", &fm.menu);
    let thumbnail = article
        .thumbnail
        .as_deref()
        .filter(|_| settings.auto_thumbnail)
        .unwrap_or(&fm.thumbnail);
    scalar(&mut out, "thumbnail", thumbnail);
    scalar(&mut out, "lead", &fm.lead);
    boolean(&mut out, "comments", fm.comments);
    boolean(&mut out, "authorbox", fm.authorbox);
    boolean(&mut out, "pager", fm.pager);
    boolean(&mut out, "toc", fm.toc);
    boolean(&mut out, "mathjax", fm.mathjax);
    scalar(&mut out, "sidebar", &fm.sidebar);
    list(&mut out, "widgets", &fm.widgets);
    out.push_str("---\n\n");
    let body = article.body.trim();
    if !body.is_empty() {
        out.push_str(body);
        out.push_str("\n\n");
    }
    if let Some(link) = &article.link {
        // The feed name is validated to plain characters, so it needs no escaping here.
        let _ = writeln!(
            out,
            "[{}]({})",
            settings.feed_name,
            markdown_link_destination(link)
        );
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// The configured tags, then (optionally) the entry's own categories, each once whatever
/// its case.
fn tags(article: &Article, entry_tags: bool) -> Vec<String> {
    let mut tags: Vec<String> =
        Vec::with_capacity(article.tags.len() + article.entry_categories.len());
    let extra = if entry_tags {
        article.entry_categories.as_slice()
    } else {
        &[]
    };
    for tag in article.tags.iter().chain(extra) {
        if !tags.iter().any(|t| t.to_lowercase() == tag.to_lowercase()) {
            tags.push(tag.clone());
        }
    }
    tags
}

fn scalar(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    out.push_str(": ");
    out.push_str(&yaml_double_quoted(value));
    out.push('\n');
}

fn boolean(out: &mut String, key: &str, value: bool) {
    out.push_str(key);
    out.push_str(if value { ": true\n" } else { ": false\n" });
}

fn list(out: &mut String, key: &str, items: &[String]) {
    out.push_str(key);
    if items.is_empty() {
        out.push_str(": []\n");
        return;
    }
    out.push_str(":\n");
    for item in items {
        out.push_str("  - ");
        out.push_str(&yaml_double_quoted(item));
        out.push('\n');
    }
}

/// A YAML double-quoted scalar on one line. Line breaks become a space (FORMAT.md); `"`
/// and `\` are escaped; every character YAML does not allow as printable, plus the ones
/// some readers treat as line breaks (NEL, LS, PS) or strip (BOM), is written as an
/// escape.
pub fn yaml_double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    let mut chars = value.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\r' | '\n' => {
                // CRLF is one break; a run of breaks is one space.
                while chars.peek().is_some_and(|c| matches!(c, '\r' | '\n')) {
                    chars.next();
                }
                out.push(' ');
            }
            '\t' => out.push_str("\\t"),
            '\u{0}' => out.push_str("\\0"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if (c as u32) < 0x20 || (0x7f..=0x9f).contains(&(c as u32)) => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c if matches!(c as u32, 0xFEFF | 0xFFFE | 0xFFFF) => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_quotes_backslashes_and_controls() {
        assert_eq!(yaml_double_quoted(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(
            yaml_double_quoted("line\r\nbreak\n\nhere"),
            "\"line break here\""
        );
        assert_eq!(yaml_double_quoted("bell\u{7}"), "\"bell\\x07\"");
        assert_eq!(yaml_double_quoted("yes"), "\"yes\"");
    }
}
