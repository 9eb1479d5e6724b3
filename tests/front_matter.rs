//! The front matter must load with a strict YAML 1.2 parser to exactly the values meant,
//! whatever a hostile feed puts in its titles and categories.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde::Deserialize;
use tidings::config::FrontMatter;
use tidings::{Article, RenderSettings, render_article};

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Parsed {
    title: String,
    date: String,
    summary: String,
    categories: Vec<String>,
    lang: Vec<String>,
    translations: Vec<String>,
    tags: Vec<String>,
    menu: String,
    thumbnail: String,
    lead: String,
    comments: bool,
    authorbox: bool,
    pager: bool,
    toc: bool,
    mathjax: bool,
    sidebar: String,
    widgets: Vec<String>,
}

fn article(title: &str, summary: &str, tag: &str) -> Article {
    Article {
        key: "k".into(),
        guid: None,
        raw_hash: String::new(),
        legacy_key: None,
        canonical_link: None,
        title: title.into(),
        published: None,
        summary: summary.into(),
        body: "Body.".into(),
        link: Some("https://example.com/a".into()),
        lang: "en".into(),
        categories: vec![tag.into()],
        tags: vec![tag.into(), "second".into()],
        entry_categories: Vec::new(),
        thumbnail: None,
        author: None,
        updated: None,
        enclosures: Vec::new(),
        full_text: None,
    }
}

fn front_matter_of(text: &str) -> &str {
    let rest = text.strip_prefix("---\n").expect("opening ---");
    let end = rest.find("\n---\n").expect("closing ---");
    &rest[..end + 1]
}

/// What a string must read back as: line breaks (CR, LF, CRLF, runs) become one space.
fn expected(value: &str) -> String {
    let mut out = String::new();
    let mut in_break = false;
    for ch in value.chars() {
        if ch == '\r' || ch == '\n' {
            if !in_break {
                out.push(' ');
            }
            in_break = true;
        } else {
            in_break = false;
            out.push(ch);
        }
    }
    out
}

fn round_trip(title: &str, summary: &str, tag: &str) {
    let front_matter = FrontMatter::default();
    let settings = RenderSettings {
        feed_name: "feed",
        timezone: chrono_tz::Tz::UTC,
        front_matter: &front_matter,
        entry_tags: false,
        auto_thumbnail: false,
        template: tidings::ArticleTemplate::builtin(),
        feed_title: None,
        feed_url: "https://example.org/feed",
        first_seen: None,
    };
    let date = Utc
        .with_ymd_and_hms(2025, 2, 12, 0, 6, 8)
        .single()
        .expect("date");
    let text = render_article(&article(title, summary, tag), date, &settings).expect("renders");
    let yaml = front_matter_of(&text);
    let parsed: Parsed = serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(parsed.title, expected(title), "{yaml}");
    assert_eq!(parsed.summary, expected(summary), "{yaml}");
    assert_eq!(parsed.categories, vec![expected(tag)]);
    assert_eq!(parsed.tags, vec![expected(tag), "second".to_string()]);
    assert_eq!(parsed.date, "2025-02-12 00:06:08");
    assert!(!parsed.comments && parsed.pager);
    assert_eq!(parsed.widgets, vec!["search", "recent", "taglist"]);
    assert!(text.ends_with("[feed](https://example.com/a)\n") && !text.ends_with("\n\n"));
}

#[test]
fn hostile_titles_round_trip() {
    for title in [
        "He said \"hi\": then left",
        "key: value # not a comment",
        "# starts like a comment",
        "- looks like a list item",
        "yes",
        "No",
        "null",
        "~",
        "0o17",
        "1e3",
        "2025-02-12",
        "@handle and `backticks`",
        "back\\slash \\n not a newline",
        "line one\nline two\r\nline three",
        "emoji 🎉🔥 and CJK 中文標題",
        "RTL: مرحبا بالعالم שלום",
        "tab\there",
        "nul\u{0} bell\u{7} esc\u{1b} del\u{7f} nel\u{85} ls\u{2028} ps\u{2029} bom\u{feff}",
        "{{< shortcode >}} & [link](x) *em*",
        "&amp; %YAML 1.2 --- ...",
        "'single' \"double\"",
        "   leading and trailing   ",
        "",
    ] {
        round_trip(title, title, title);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn any_text_round_trips(title in "\\PC*|[\\x00-\\x7f]{0,40}", tag in ".{0,20}") {
        round_trip(&title, &title, &tag);
    }
}
