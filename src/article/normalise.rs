//! One feed-rs entry -> one [`Article`]: title, date, summary, body, media, links.

use feed_rs::model::{Entry, Text};
use url::Url;

use super::identity::Identity;
use super::markdown::{Converted, convert_html, text_to_markdown};
use super::media::media_of;
use super::text::{clean_title, collapse_whitespace, first_words, html_to_plain_text, summarize};
use super::{Article, FeedContext};
use crate::config::FeedConfig;
use crate::links::clean_url;

/// The longest title kept; anything longer is not a title.
const MAX_TITLE_CHARS: usize = 500;

/// The longest title made from a summary when the entry has none.
const FALLBACK_TITLE_CHARS: usize = 80;

/// Normalises one entry.
pub fn normalise(
    entry: &Entry,
    identity: Identity,
    context: &FeedContext,
    feed: &FeedConfig,
    summary_chars: usize,
) -> Article {
    let link_url = identity.link;
    let sources = Sources::of(entry, context);
    let plain_summary = sources
        .summary
        .map(|(text, plain)| to_plain(text, plain))
        .unwrap_or_default();
    let (body, thumbnail, enclosures) =
        body_and_thumbnail(entry, &sources, link_url.as_ref(), context);
    let link = link_url.as_ref().map(Url::to_string);
    Article {
        key: identity.key,
        guid: identity.guid,
        canonical_link: identity.canonical_link,
        raw_hash: identity.raw_hash,
        legacy_key: identity.legacy_key,
        title: title_of(entry, &plain_summary, link.as_deref()),
        published: entry.published.or(entry.updated),
        summary: summarize(&plain_summary, summary_chars),
        body,
        link,
        lang: feed
            .lang
            .clone()
            .or_else(|| context.declared_lang.clone())
            .unwrap_or_else(|| "en".to_string()),
        categories: feed.categories.clone(),
        tags: feed.tags.clone(),
        entry_categories: entry
            .categories
            .iter()
            .map(|c| collapse_whitespace(c.label.as_deref().unwrap_or(&c.term)))
            .filter(|c| !c.is_empty())
            .collect(),
        thumbnail,
        author: author_of(entry),
        updated: entry.updated,
        enclosures,
        full_text: None,
    }
}

/// The entry's authors' names, plain text, joined with commas.
fn author_of(entry: &Entry) -> Option<String> {
    let names: Vec<String> = entry
        .authors
        .iter()
        .filter_map(|person| person.name.as_deref().map(clean_title))
        .filter(|name| !name.is_empty())
        .collect();
    (!names.is_empty()).then(|| names.join(", "))
}

/// Where an entry's body and summary come from: each a text and whether it is plain
/// text (rather than HTML).
struct Sources<'a> {
    body: Option<(&'a str, bool)>,
    summary: Option<(&'a str, bool)>,
}

impl<'a> Sources<'a> {
    /// The body: the content, else the summary, else (video feeds such as YouTube and
    /// Vimeo, which describe an entry only in its media) a media description. The
    /// summary: the summary, else the body's source.
    fn of(entry: &'a Entry, context: &FeedContext) -> Sources<'a> {
        let body = entry
            .content
            .as_ref()
            .and_then(|c| {
                c.body
                    .as_deref()
                    .filter(|b| !b.trim().is_empty())
                    .map(|b| (b, is_plain(context, c.content_type.as_ref())))
            })
            .or_else(|| entry.summary.as_ref().and_then(|t| text_source(t, context)))
            .or_else(|| {
                entry
                    .media
                    .iter()
                    .filter_map(|m| m.description.as_ref())
                    .find_map(|t| text_source(t, context))
            });
        let summary = entry
            .summary
            .as_ref()
            .and_then(|t| text_source(t, context))
            .or(body);
        Sources { body, summary }
    }
}

/// The markdown body (with a link line per audio or video file), the best thumbnail and
/// the entry's files.
fn body_and_thumbnail(
    entry: &Entry,
    sources: &Sources<'_>,
    link: Option<&Url>,
    context: &FeedContext,
) -> (String, Option<String>, Vec<super::Enclosure>) {
    // Relative URLs in the content resolve against the entry's xml:base, else its link,
    // else the feed's link.
    let content_base = entry
        .base
        .as_deref()
        .and_then(|b| clean_url(b, context.base.as_ref()))
        .or_else(|| link.cloned())
        .or_else(|| context.base.clone());
    let converted = match sources.body {
        Some((text, true)) => Converted {
            markdown: text_to_markdown(text),
            first_image: None,
        },
        Some((html, false)) => convert_html(html, content_base.as_ref()),
        None => Converted::default(),
    };
    let media = media_of(entry, context.base.as_ref());
    let mut body = converted.markdown;
    for line in &media.link_lines {
        if !body.is_empty() {
            body.push_str("\n\n");
        }
        body.push_str(line);
    }
    let thumbnail = media
        .thumbnail
        .or(converted.first_image)
        .map(|u| u.to_string());
    (body, thumbnail, media.enclosures)
}

/// The title as plain text; without one, the summary's first words, else the link.
fn title_of(entry: &Entry, plain_summary: &str, link: Option<&str>) -> String {
    entry
        .title
        .as_ref()
        .map(|t| first_words(&clean_title(&t.content), MAX_TITLE_CHARS))
        .filter(|t| !t.is_empty())
        .or_else(|| {
            Some(first_words(plain_summary, FALLBACK_TITLE_CHARS)).filter(|t| !t.is_empty())
        })
        .or_else(|| link.map(str::to_string))
        .unwrap_or_else(|| "Untitled".to_string())
}

fn text_source<'a>(text: &'a Text, context: &FeedContext) -> Option<(&'a str, bool)> {
    let content = text.content.as_str();
    (!content.trim().is_empty()).then_some((content, is_plain(context, text.content_type.as_ref())))
}

/// Whether a text element holds plain text rather than HTML.
fn is_plain(context: &FeedContext, mime: &str) -> bool {
    !context.text_is_html && mime.starts_with("text/plain")
}

fn to_plain(text: &str, plain: bool) -> String {
    if plain {
        collapse_whitespace(text)
    } else {
        html_to_plain_text(text)
    }
}
