//! The article a template is checked with when the configuration loads: every field set,
//! with the values that break naive YAML (quotes, colons, `#`, line breaks, `---`, `yes`,
//! a leading `@`, brackets, a tab, a NEL).

use std::sync::LazyLock;

use chrono::{DateTime, Utc};

use super::{ArticleContext, RenderSettings, article_context};
use crate::article::{Article, Enclosure};
use crate::config::FrontMatter;

/// Titles that a template without the `yaml` filter writes as broken or wrong YAML.
pub const HOSTILE_TITLES: &[&str] = &[
    "Plain title",
    "Breaking: \"quotes\", colons: and # hashes",
    "yes",
    "---",
    "Line one\nline two",
    "@handle [brackets] {braces} & *star | pipe > more",
    "Tab\tand NEL\u{85}end",
    "null",
];

/// The sample article's context with `title`.
pub fn context(title: &str) -> ArticleContext {
    article_context(&article(title), date(), &settings(title))
}

/// When the sample article was published.
fn date() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_720_549_800, 0).unwrap_or_default()
}

/// The sample article titled `title`, every field set.
pub fn article(title: &str) -> Article {
    let date = date();
    Article {
        key: "https://example.org/sample".to_string(),
        guid: Some("sample-guid: 1".to_string()),
        raw_hash: String::new(),
        legacy_key: None,
        canonical_link: Some("https://example.org/sample".to_string()),
        title: title.to_string(),
        published: Some(date),
        summary: format!("Summary of {title}: with \"quotes\""),
        body: "A body with a ![picture](https://example.org/a.png) and [a link](https://example.org/).".to_string(),
        link: Some("https://example.org/sample?a=1&b=2".to_string()),
        lang: "en".to_string(),
        categories: vec!["news: world".to_string()],
        tags: vec!["yes".to_string(), "#tag".to_string()],
        entry_categories: vec!["Category: \"one\"".to_string()],
        thumbnail: Some("https://example.org/a.png".to_string()),
        author: Some(format!("Ann \"{title}\" O'Neil")),
        updated: Some(date),
        enclosures: vec![Enclosure {
            url: "https://example.org/episode.mp3".to_string(),
            mime_type: Some("audio/mpeg".to_string()),
            length: Some(1234),
        }],
        full_text: None,
    }
}

/// The front matter settings of a configuration that sets none.
static DEFAULT_FRONT_MATTER: LazyLock<FrontMatter> = LazyLock::new(FrontMatter::default);

/// The settings the sample is rendered with (the feed titled `title`).
pub fn settings(title: &str) -> RenderSettings<'_> {
    RenderSettings {
        feed_name: "sample",
        timezone: chrono_tz::Tz::UTC,
        front_matter: &DEFAULT_FRONT_MATTER,
        entry_tags: true,
        auto_thumbnail: true,
        template: super::ArticleTemplate::builtin(),
        feed_title: Some(title),
        feed_url: "https://example.org/feed.xml",
        first_seen: Some(date()),
    }
}
