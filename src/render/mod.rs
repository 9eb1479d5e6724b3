//! Article -> file text through a template (`config/article.md.j2` unless configured
//! otherwise), and files read back (`tidings reindex`, adopting files after a lost
//! database).
//!
//! # Architecture
//! - this module: what a template sees ([`ArticleContext`], made by a pure function),
//!   [`render_article`], the YAML double-quoting every string goes through, and reading a
//!   file of the built-in layout back.
//! - [`template`]: compiling, checking and running templates (minijinja), with the
//!   `yaml`, `date` and `link_destination` filters.
//! - `layout`: the built-in layout written without the template engine (same bytes).
//! - `sample`: the hostile article a template is checked with when it loads.
//!
//! Every string in the built-in front matter is a double-quoted scalar: a quoted string
//! can never be read as a boolean, a number, a date or a null by any YAML reader, 1.1 or
//! 1.2. The round trip is tested with a strict YAML 1.2 parser.

mod layout;
mod sample;
pub mod template;

use std::sync::LazyLock;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::article::markdown::markdown_link_destination;
use crate::article::{Article, Enclosure};
use crate::config::FrontMatter;
pub use template::{ArticleTemplate, TemplateError};

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
    /// The layout.
    pub template: &'a ArticleTemplate,
    /// The feed's own title, when known.
    pub feed_title: Option<&'a str>,
    /// The feed's configured URL.
    pub feed_url: &'a str,
    /// When the entry was first seen.
    pub first_seen: Option<DateTime<Utc>>,
}

/// Everything a template sees (the README lists each with an example).
#[derive(Debug, Clone, Serialize)]
pub struct ArticleContext {
    title: String,
    /// RFC 3339 in the configured zone; `| date("%Y-%m-%d")` formats it.
    date: String,
    summary: String,
    body: String,
    link: Option<String>,
    feed: String,
    feed_title: Option<String>,
    feed_url: String,
    author: Option<String>,
    /// The short stable id (the `{id}` path placeholder).
    id: String,
    /// The entry's guid/id as the feed gave it, else its key.
    guid: String,
    categories: Vec<String>,
    tags: Vec<String>,
    entry_categories: Vec<String>,
    lang: String,
    /// The entry's image with `thumbnail = "auto"`, else `front_matter.thumbnail`.
    thumbnail: String,
    /// The entry's own best image, whatever the settings.
    image: Option<String>,
    enclosures: Vec<Enclosure>,
    /// The images of the body, in order.
    images: Vec<String>,
    word_count: usize,
    reading_minutes: usize,
    first_seen: Option<String>,
    updated: Option<String>,
    front_matter: FrontMatter,
}

/// The `thumbnail` line's value: the entry's own image with `thumbnail = "auto"`, else the
/// configured one.
fn thumbnail<'a>(article: &'a Article, settings: &'a RenderSettings<'_>) -> &'a str {
    article
        .thumbnail
        .as_deref()
        .filter(|_| settings.auto_thumbnail)
        .unwrap_or(&settings.front_matter.thumbnail)
}

/// Words a minute for `reading_minutes` (a common figure for reading on screens).
const WORDS_PER_MINUTE: usize = 230;

/// What the template sees for `article`, dated `date`.
pub fn article_context(
    article: &Article,
    date: DateTime<Utc>,
    settings: &RenderSettings<'_>,
) -> ArticleContext {
    let zone = settings.timezone;
    let in_zone = |time: DateTime<Utc>| {
        time.with_timezone(&zone)
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    };
    let fm = settings.front_matter;
    let thumbnail = thumbnail(article, settings).to_string();
    let body = article.body.trim().to_string();
    let word_count = word_count(&body);
    ArticleContext {
        title: article.title.clone(),
        date: in_zone(date),
        summary: article.summary.clone(),
        images: crate::images::image_destinations(&body),
        word_count,
        reading_minutes: word_count.div_ceil(WORDS_PER_MINUTE),
        body,
        link: article.link.clone(),
        feed: settings.feed_name.to_string(),
        feed_title: settings.feed_title.map(str::to_string),
        feed_url: settings.feed_url.to_string(),
        author: article.author.clone(),
        id: article.short_id(),
        guid: article.guid.clone().unwrap_or_else(|| article.key.clone()),
        categories: article.categories.clone(),
        tags: tags(article, settings.entry_tags),
        entry_categories: article.entry_categories.clone(),
        lang: article.lang.clone(),
        thumbnail,
        image: article.thumbnail.clone(),
        enclosures: article.enclosures.clone(),
        first_seen: settings.first_seen.map(in_zone),
        updated: article.updated.map(in_zone),
        front_matter: fm.clone(),
    }
}

/// The whole file for one article. `date` is the article's resolved time (its published
/// or updated time, else when it was first seen).
pub fn render_article(
    article: &Article,
    date: DateTime<Utc>,
    settings: &RenderSettings<'_>,
) -> Result<String, TemplateError> {
    if settings.template.is_builtin() {
        return Ok(layout::builtin_layout(article, date, settings));
    }
    settings
        .template
        .render(&article_context(article, date, settings))
}

/// Words of a markdown body: runs of non-space holding a letter or digit, images and
/// link destinations left out.
fn word_count(body: &str) -> usize {
    static DESTINATION: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"\]\((?:<[^>]*>|[^)\s]*)(?:\s+\x22[^\x22]*\x22)?\)")
            .unwrap_or_else(|e| unreachable!("a valid pattern: {e}"))
    });
    let without_images = crate::images::without_images(body);
    DESTINATION
        .replace_all(&without_images, "]")
        .split_whitespace()
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .count()
}

/// Whether `text` is a file tidings wrote for `article` of feed `feed_name`: its source line
/// links to the article's link, or (no link) its title is the article's. Used to adopt a
/// file after the database was lost instead of writing a twin beside it.
pub fn is_rendering_of(text: &str, feed_name: &str, article: &Article) -> bool {
    if !text.starts_with("---\n") {
        return false;
    }
    match &article.link {
        Some(link) => {
            let source_line = format!("[{feed_name}]({})", markdown_link_destination(link));
            text.trim_end().lines().next_back() == Some(source_line.as_str())
        }
        None => {
            let title_line = format!("title: {}", yaml_double_quoted(&article.title));
            text.lines().nth(1) == Some(title_line.as_str())
        }
    }
}

/// What a file tidings wrote says, read back (`tidings reindex`): the inverse of
/// [`render_article`] for the fields an article is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderedArticle {
    /// `title`.
    pub title: String,
    /// `date`, as written (`YYYY-MM-DD HH:MM:SS` in the output's zone).
    pub date: String,
    /// `summary`.
    pub summary: String,
    /// `categories`.
    pub categories: Vec<String>,
    /// The first of `lang`.
    pub lang: String,
    /// `tags`.
    pub tags: Vec<String>,
    /// The markdown between the front matter and the source line.
    pub body: String,
    /// The source line's label (the feed's name) and link.
    pub source: Option<(String, String)>,
}

/// Reads a file tidings wrote; `None` when it is not one (no front matter, no title).
pub fn read_rendered(text: &str) -> Option<RenderedArticle> {
    let rest = text.strip_prefix("---\n")?;
    let end = rest.find("\n---\n")?;
    let (front, after) = (&rest[..end + 1], &rest[end + 5..]);
    let mut article = RenderedArticle::default();
    let mut list_key: Option<&str> = None;
    for line in front.lines() {
        if let Some(item) = line.strip_prefix("  - ") {
            let value = yaml_unquoted(item)?;
            match list_key {
                Some("categories") => article.categories.push(value),
                Some("tags") => article.tags.push(value),
                Some("lang") if article.lang.is_empty() => article.lang = value,
                _ => {}
            }
            continue;
        }
        let (key, value) = line.split_once(':')?;
        list_key = Some(key);
        let value = value.trim();
        if value.starts_with('"') {
            let value = yaml_unquoted(value)?;
            match key {
                "title" => article.title = value,
                "date" => article.date = value,
                "summary" => article.summary = value,
                _ => {}
            }
        }
    }
    let mut body = after.trim_matches('\n');
    if let Some(last) = body.lines().next_back()
        && let Some(source) = source_line(last)
    {
        article.source = Some(source);
        body = body[..body.len() - last.len()].trim_end_matches('\n');
    }
    article.body = body.to_string();
    (!article.title.is_empty()).then_some(article)
}

/// `[label](link)` (the link possibly in angle brackets) as label and link.
fn source_line(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('[')?;
    let (label, rest) = rest.split_once("](")?;
    let link = rest.strip_suffix(')')?;
    let link = link
        .strip_prefix('<')
        .and_then(|l| l.strip_suffix('>'))
        .unwrap_or(link);
    let plain_label = !label.is_empty()
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    plain_label.then(|| (label.to_string(), link.to_string()))
}

/// The value of a YAML double-quoted scalar as [`yaml_double_quoted`] writes it.
fn yaml_unquoted(quoted: &str) -> Option<String> {
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            't' => out.push('\t'),
            '0' => out.push('\0'),
            'N' => out.push('\u{85}'),
            '_' => out.push('\u{a0}'),
            'L' => out.push('\u{2028}'),
            'P' => out.push('\u{2029}'),
            'x' => out.push(char::from_u32(hex_digits(&mut chars, 2)?)?),
            'u' => out.push(char::from_u32(hex_digits(&mut chars, 4)?)?),
            _ => return None,
        }
    }
    Some(out)
}

fn hex_digits(chars: &mut std::str::Chars<'_>, count: usize) -> Option<u32> {
    let digits: String = chars.by_ref().take(count).collect();
    u32::from_str_radix(&digits, 16).ok()
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

/// A YAML double-quoted scalar on one line. Line breaks become a space (FORMAT.md); `"`
/// and `\` are escaped; every character YAML does not allow as printable, plus the ones
/// some readers treat as line breaks (NEL, LS, PS) or strip (BOM), is written as an
/// escape.
pub fn yaml_double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    push_yaml_double_quoted(&mut out, value);
    out
}

/// [`yaml_double_quoted`] appended to `out`. Runs of characters written as they are
/// are copied whole: front matter is quoted text (titles, summaries, tags, links),
/// and copying it a character at a time, asking of each whether it needs an escape, was
/// most of rendering an article's front matter.
fn push_yaml_double_quoted(out: &mut String, value: &str) {
    out.push('"');
    let bytes = value.as_bytes();
    let (mut copied, mut at) = (0, 0);
    while at < bytes.len() {
        if !may_start_escape(bytes[at]) {
            at += 1;
            continue;
        }
        // `at` is at a character's first byte: an ASCII byte or a lead byte.
        let Some(ch) = value[at..].chars().next() else {
            break;
        };
        let mut next = at + ch.len_utf8();
        if matches!(ch, '\r' | '\n') {
            // CRLF is one break; a run of breaks is one space.
            out.push_str(&value[copied..at]);
            while matches!(bytes.get(next), Some(b'\r' | b'\n')) {
                next += 1;
            }
            out.push(' ');
            copied = next;
        } else if let Some(escape) = escape_of(ch) {
            out.push_str(&value[copied..at]);
            out.push_str(&escape);
            copied = next;
        }
        at = next;
    }
    out.push_str(&value[copied..]);
    out.push('"');
}

/// Whether a character starting with byte `b` may need an escape: the ASCII controls,
/// `"`, `\` and DEL, and the first bytes of U+0080–U+00A0 (`C2`), U+2028 and U+2029
/// (`E2`), U+FEFF, U+FFFE and U+FFFF (`EF`) — every character [`escape_of`] escapes.
fn may_start_escape(b: u8) -> bool {
    b < 0x20 || matches!(b, b'"' | b'\\' | 0x7f | 0xc2 | 0xe2 | 0xef)
}

/// How `ch` is written inside a double-quoted scalar, when not as itself (line breaks,
/// which become a space, aside).
fn escape_of(ch: char) -> Option<std::borrow::Cow<'static, str>> {
    let code = ch as u32;
    let named = match ch {
        '"' => "\\\"",
        '\\' => "\\\\",
        '\t' => "\\t",
        '\u{0}' => "\\0",
        '\u{85}' => "\\N",
        '\u{a0}' => "\\_",
        '\u{2028}' => "\\L",
        '\u{2029}' => "\\P",
        _ if code < 0x20 || (0x7f..=0x9f).contains(&code) => {
            return Some(format!("\\x{code:02X}").into());
        }
        _ if matches!(code, 0xFEFF | 0xFFFE | 0xFFFF) => {
            return Some(format!("\\u{code:04X}").into());
        }
        _ => return None,
    };
    Some(named.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quoting a character at a time, as it was first written.
    fn quoted_char_by_char(value: &str) -> String {
        let mut out = String::from('"');
        let mut chars = value.chars().peekable();
        while let Some(ch) = chars.next() {
            match ch {
                '\r' | '\n' => {
                    while chars.peek().is_some_and(|c| matches!(c, '\r' | '\n')) {
                        chars.next();
                    }
                    out.push(' ');
                }
                c => match escape_of(c) {
                    Some(escape) => out.push_str(&escape),
                    None => out.push(c),
                },
            }
        }
        out.push('"');
        out
    }

    proptest::proptest! {
        #[test]
        fn quoting_copies_runs_as_it_quoted_characters(
            value in "[a\"\\\\\r\n\t\u{0}\u{1}\u{7f}\u{80}\u{85}\u{9f}\u{a0}\u{a1}é’—\u{2028}\u{2029}\u{feff}\u{fffe}\u{ffff}\u{fffd}€𝄞 ]{0,24}"
        ) {
            proptest::prop_assert_eq!(yaml_double_quoted(&value), quoted_char_by_char(&value));
        }

        #[test]
        fn quoting_any_text_matches_quoting_it_character_by_character(value in proptest::prelude::any::<String>()) {
            proptest::prop_assert_eq!(yaml_double_quoted(&value), quoted_char_by_char(&value));
        }
    }

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

    #[test]
    fn a_rendered_article_reads_back() {
        let article = Article {
            key: "k".into(),
            guid: None,
            raw_hash: String::new(),
            legacy_key: None,
            canonical_link: None,
            title: "A \"quoted\" title\twith \u{7} bell".into(),
            published: None,
            summary: "Sum \\ mary".into(),
            body: "Body.\n\nMore.".into(),
            link: Some("https://example.com/a b".into()),
            lang: "de".into(),
            categories: vec!["c1".into()],
            tags: vec!["t1".into(), "t2".into()],
            entry_categories: Vec::new(),
            thumbnail: None,
            author: None,
            updated: None,
            enclosures: Vec::new(),
            full_text: None,
        };
        let front_matter = FrontMatter::default();
        let settings = RenderSettings {
            feed_name: "blog",
            timezone: Tz::UTC,
            front_matter: &front_matter,
            entry_tags: false,
            auto_thumbnail: false,
            template: ArticleTemplate::builtin(),
            feed_title: None,
            feed_url: "https://example.org/feed",
            first_seen: None,
        };
        let date = DateTime::parse_from_rfc3339("2024-01-02T03:04:05Z")
            .expect("date")
            .with_timezone(&Utc);
        let text = render_article(&article, date, &settings).expect("renders");
        let read = read_rendered(&text).expect("a tidings file");
        assert_eq!(read.title, article.title);
        assert_eq!(read.date, "2024-01-02 03:04:05");
        assert_eq!(read.summary, article.summary);
        assert_eq!(read.categories, article.categories);
        assert_eq!(read.tags, article.tags);
        assert_eq!(read.lang, "de");
        assert_eq!(read.body, article.body);
        assert_eq!(
            read.source,
            Some(("blog".into(), "https://example.com/a%20b".into()))
        );
        assert!(is_rendering_of(&text, "blog", &article));
        assert_eq!(read_rendered("no front matter"), None);
    }
}
