//! Normalisation: one feed-rs entry -> one [`Article`] (FORMAT.md's fields). Pure: no
//! clock, no I/O; the time an entry was first seen is supplied by the store.

use chrono::{DateTime, Utc};
use feed_rs::model::{Entry, Feed, FeedType, Link, Text};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use crate::config::FeedConfig;
use crate::links::{canonical_link, clean_url};
use crate::markdown::{Converted, convert_html, text_to_markdown};
use crate::text::{clean_title, collapse_whitespace, first_words, html_to_plain_text, summarize};

/// The longest title kept; anything longer is not a title.
const MAX_TITLE_CHARS: usize = 500;

/// The longest title made from a summary when the entry has none.
const FALLBACK_TITLE_CHARS: usize = 80;

/// One entry, normalised. Everything a file is rendered from, except the settings of the
/// moment (time zone, front matter) and the first-seen time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    /// Identity within its feed: the guid/id, else the link, else a hash of title and date.
    pub key: String,
    /// The guid/id the feed gave, when it gave one.
    #[serde(default)]
    pub guid: Option<String>,
    /// A digest of the entry as the feed wrote it: unchanged means nothing to convert.
    #[serde(default)]
    pub raw_hash: String,
    /// The link with tracking parameters and fragment dropped: the story's identity
    /// across feeds.
    pub canonical_link: Option<String>,
    pub title: String,
    /// The entry's own time: published, else updated. `None` means the first-seen time is
    /// used.
    pub published: Option<DateTime<Utc>>,
    pub summary: String,
    pub body: String,
    /// The absolute link without tracking parameters (the source line).
    pub link: Option<String>,
    pub lang: String,
    pub categories: Vec<String>,
    pub tags: Vec<String>,
    /// The entry's own categories, as the feed gave them.
    pub entry_categories: Vec<String>,
    /// The best image for a thumbnail: a media thumbnail, an image enclosure, or the
    /// first image of the body.
    #[serde(default)]
    pub thumbnail: Option<String>,
}

impl Article {
    /// A digest of what the entry said; a change means the entry was edited.
    pub fn content_hash(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [
            self.title.as_str(),
            &self.published.map(|d| d.to_rfc3339()).unwrap_or_default(),
            &self.summary,
            &self.body,
            self.link.as_deref().unwrap_or(""),
            &self.entry_categories.join("\u{1f}"),
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0u8]);
        }
        hex(&hasher.finalize())
    }

    /// A short stable id for the `{id}` path placeholder and slug fallback.
    pub fn short_id(&self) -> String {
        hex(&Sha256::digest(self.key.as_bytes()))[..12].to_string()
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Feed-level facts normalisation needs from the document.
#[derive(Debug, Clone)]
pub struct FeedContext {
    /// The feed's own site link, else the URL it was fetched from: the base of last resort.
    pub base: Option<Url>,
    /// The primary language subtag the feed declares, lowercased.
    pub declared_lang: Option<String>,
    /// RSS of every version carries HTML in its text elements by convention (entity-encoded
    /// or CDATA), whatever type the parser gives them; Atom and JSON Feed say what they hold.
    pub text_is_html: bool,
}

impl FeedContext {
    pub fn from_feed(feed: &Feed, fetched_from: &Url) -> FeedContext {
        let site = feed
            .links
            .iter()
            .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
            .and_then(|l| clean_url(&l.href, Some(fetched_from)));
        FeedContext {
            base: site.or_else(|| Some(fetched_from.clone())),
            declared_lang: feed.language.as_deref().and_then(primary_language),
            text_is_html: !matches!(feed.feed_type, FeedType::Atom | FeedType::JSON),
        }
    }
}

/// `en-US` -> `en`; `None` for an empty or unusable tag.
fn primary_language(tag: &str) -> Option<String> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    (!primary.is_empty() && primary.len() <= 8 && primary.chars().all(|c| c.is_ascii_alphabetic()))
        .then_some(primary)
}

/// Normalises one entry.
pub fn normalise(
    entry: &Entry,
    identity: Identity,
    context: &FeedContext,
    feed: &FeedConfig,
    summary_chars: usize,
) -> Article {
    let link_url = entry_link(&entry.links).and_then(|href| clean_url(href, context.base.as_ref()));
    // Relative URLs in the content resolve against the entry's xml:base, else its link,
    // else the feed's link.
    let content_base = entry
        .base
        .as_deref()
        .and_then(|b| clean_url(b, context.base.as_ref()))
        .or_else(|| link_url.clone())
        .or_else(|| context.base.clone());

    let body_source = entry
        .content
        .as_ref()
        .and_then(|c| {
            c.body
                .as_deref()
                .filter(|b| !b.trim().is_empty())
                .map(|b| (b, is_plain(context, c.content_type.as_ref())))
        })
        .or_else(|| entry.summary.as_ref().and_then(|t| text_source(t, context)))
        // Video feeds (YouTube, Vimeo) describe an entry only in its media.
        .or_else(|| {
            entry
                .media
                .iter()
                .filter_map(|m| m.description.as_ref())
                .find_map(|t| text_source(t, context))
        });
    let summary_source = entry
        .summary
        .as_ref()
        .and_then(|t| text_source(t, context))
        .or(body_source);

    let plain_summary = summary_source
        .map(|(text, plain)| to_plain(text, plain))
        .unwrap_or_default();
    let summary = summarize(&plain_summary, summary_chars);
    let converted = match body_source {
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

    let link = link_url.as_ref().map(Url::to_string);
    let title = entry
        .title
        .as_ref()
        .map(|t| first_words(&clean_title(&t.content), MAX_TITLE_CHARS))
        .filter(|t| !t.is_empty())
        .or_else(|| {
            Some(first_words(&plain_summary, FALLBACK_TITLE_CHARS)).filter(|t| !t.is_empty())
        })
        .or_else(|| link.clone())
        .unwrap_or_else(|| "Untitled".to_string());

    let published = entry.published.or(entry.updated);
    let lang = feed
        .lang
        .clone()
        .or_else(|| context.declared_lang.clone())
        .unwrap_or_else(|| "en".to_string());
    let entry_categories = entry
        .categories
        .iter()
        .map(|c| collapse_whitespace(c.label.as_deref().unwrap_or(&c.term)))
        .filter(|c| !c.is_empty())
        .collect();

    Article {
        key: identity.key,
        guid: identity.guid,
        canonical_link: identity.canonical_link,
        raw_hash: identity.raw_hash,
        title,
        published,
        summary,
        body,
        link,
        lang,
        categories: feed.categories.clone(),
        tags: feed.tags.clone(),
        entry_categories,
        thumbnail,
    }
}

/// What an entry's media say: a thumbnail, and a link line for each audio or video file
/// (a podcast episode), since markdown cannot embed them.
struct Media {
    thumbnail: Option<Url>,
    link_lines: Vec<String>,
}

fn media_of(entry: &Entry, base: Option<&Url>) -> Media {
    let mut thumbnail = None;
    let mut link_lines = Vec::new();
    let mut linked = std::collections::HashSet::new();
    for object in &entry.media {
        if thumbnail.is_none() {
            thumbnail = object
                .thumbnails
                .iter()
                .find_map(|t| clean_url(&t.image.uri, base));
        }
        for content in &object.content {
            let Some(url) = content
                .url
                .as_ref()
                .and_then(|u| clean_url(u.as_str(), base))
            else {
                continue;
            };
            let kind = content
                .content_type
                .as_ref()
                .map(|m| m.ty().as_str().to_ascii_lowercase());
            match kind.as_deref() {
                Some("image") if thumbnail.is_none() => thumbnail = Some(url),
                Some(kind @ ("audio" | "video")) if linked.insert(url.to_string()) => {
                    let label = if kind == "audio" { "Audio" } else { "Video" };
                    let file = url
                        .path_segments()
                        .and_then(|mut s| s.next_back())
                        .filter(|s| !s.is_empty())
                        .map(|s| crate::text::collapse_whitespace(&percent_decoded(s)))
                        .unwrap_or_else(|| url.to_string());
                    let size = content
                        .size
                        .map(|bytes| format!(", {:.1} MB", bytes as f64 / 1_000_000.0))
                        .unwrap_or_default();
                    link_lines.push(format!(
                        "{label}: [{}{size}]({})",
                        escape_link_text(&file),
                        crate::render::markdown_link_destination(url.as_str())
                    ));
                }
                _ => {}
            }
        }
    }
    Media {
        thumbnail,
        link_lines,
    }
}

fn percent_decoded(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| text.to_string())
}

/// Link text that CommonMark reads as plain text.
fn escape_link_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '[' | ']' | '*' | '_' | '`' | '\\' | '<') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Who an entry is, worked out before any HTML work: its key, and a digest of everything
/// the feed said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub key: String,
    pub guid: Option<String>,
    pub canonical_link: Option<String>,
    pub raw_hash: String,
}

/// The entry's key (its id when the feed gave one, else its canonical link, else a hash of
/// its title and date) and the digest of its raw fields. Cheap: no HTML is parsed.
pub fn identify(entry: &Entry, context: &FeedContext) -> Identity {
    let canonical = entry_link(&entry.links)
        .and_then(|href| clean_url(href, context.base.as_ref()))
        .map(|url| canonical_link(&url));
    let guid = Some(entry.id.trim().to_string()).filter(|id| !id.is_empty());
    let raw_title = entry.title.as_ref().map_or("", |t| t.content.as_str());
    let published = entry.published.or(entry.updated);
    let key = match (&guid, &canonical) {
        (Some(guid), _) => guid.clone(),
        (None, Some(link)) => link.clone(),
        (None, None) => {
            let mut hasher = Sha256::new();
            hasher.update(raw_title.trim().as_bytes());
            hasher.update([0u8]);
            hasher.update(
                published
                    .map(|d| d.to_rfc3339())
                    .unwrap_or_default()
                    .as_bytes(),
            );
            format!("sha256:{}", hex(&hasher.finalize()))
        }
    };
    Identity {
        key,
        guid,
        canonical_link: canonical,
        raw_hash: raw_digest(entry),
    }
}

/// A digest of every field normalisation reads.
fn raw_digest(entry: &Entry) -> String {
    let mut hasher = Sha256::new();
    let mut part = |text: &str| {
        hasher.update(text.as_bytes());
        hasher.update([0u8]);
    };
    part(&entry.id);
    part(entry.title.as_ref().map_or("", |t| t.content.as_str()));
    part(entry.summary.as_ref().map_or("", |t| t.content.as_str()));
    part(
        entry
            .content
            .as_ref()
            .and_then(|c| c.body.as_deref())
            .unwrap_or(""),
    );
    part(entry.base.as_deref().unwrap_or(""));
    for link in &entry.links {
        part(&link.href);
        part(link.rel.as_deref().unwrap_or(""));
    }
    part(&entry.published.map(|d| d.to_rfc3339()).unwrap_or_default());
    part(&entry.updated.map(|d| d.to_rfc3339()).unwrap_or_default());
    for category in &entry.categories {
        part(&category.term);
        part(category.label.as_deref().unwrap_or(""));
    }
    for media in &entry.media {
        part(
            media
                .description
                .as_ref()
                .map_or("", |t| t.content.as_str()),
        );
        for thumbnail in &media.thumbnails {
            part(&thumbnail.image.uri);
        }
        for content in &media.content {
            part(content.url.as_ref().map_or("", |u| u.as_str()));
        }
    }
    hex(&hasher.finalize())
}

/// The entry's page: the first link that is not an enclosure, a comment feed or similar.
fn entry_link(links: &[Link]) -> Option<&str> {
    links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .map(|l| l.href.as_str())
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

/// Cuts an entry's title, summary and content to at most `max_bytes` each (at a character
/// boundary): a hostile or broken feed cannot make one article arbitrarily large.
pub fn bound_fields(entry: &mut Entry, max_bytes: usize) {
    let cut = |text: &mut String| {
        if text.len() > max_bytes {
            let mut end = max_bytes;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
    };
    if let Some(title) = entry.title.as_mut() {
        cut(&mut title.content);
    }
    if let Some(summary) = entry.summary.as_mut() {
        cut(&mut summary.content);
    }
    if let Some(body) = entry.content.as_mut().and_then(|c| c.body.as_mut()) {
        cut(body);
    }
}

/// Gives entries that share a guid but not a link keys of their own (`guid#link`), so a
/// feed that repeats one guid on every item, or on two items, loses none of them. Entries
/// whose guid is unique keep the guid as their key.
pub fn disambiguate_keys(identities: &mut [Identity]) {
    let mut links_by_key: std::collections::HashMap<&str, std::collections::HashSet<Option<&str>>> =
        std::collections::HashMap::new();
    for identity in identities.iter() {
        if identity.guid.is_some() {
            links_by_key
                .entry(identity.key.as_str())
                .or_default()
                .insert(identity.canonical_link.as_deref());
        }
    }
    let shared: std::collections::HashSet<String> = links_by_key
        .into_iter()
        .filter(|(_, links)| links.len() > 1)
        .map(|(key, _)| key.to_string())
        .collect();
    for identity in identities.iter_mut() {
        if shared.contains(&identity.key) {
            let distinct = identity
                .canonical_link
                .clone()
                .unwrap_or_else(|| format!("raw:{}", identity.raw_hash));
            identity.key = format!("{}#{distinct}", identity.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(guid: &str, link: &str) -> Identity {
        Identity {
            key: guid.into(),
            guid: Some(guid.into()),
            canonical_link: Some(link.into()),
            raw_hash: String::new(),
        }
    }

    #[test]
    fn shared_guids_with_different_links_get_their_own_keys() {
        let mut articles = vec![
            article("same", "https://a.example/1"),
            article("same", "https://a.example/2"),
            article("unique", "https://a.example/3"),
            article("twice", "https://a.example/4"),
            article("twice", "https://a.example/4"),
        ];
        disambiguate_keys(&mut articles);
        let keys: Vec<&str> = articles.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "same#https://a.example/1",
                "same#https://a.example/2",
                "unique",
                "twice",
                "twice"
            ]
        );
    }
}
