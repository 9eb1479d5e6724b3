//! One feed entry -> one [`Article`]: the fields of FORMAT.md, ready to render.
//!
//! # Architecture
//! - [`identity`]: the entry's key, canonical link and raw digest, before any HTML work
//!   (unchanged entries stop there).
//! - [`normalise`](normalise()): title, date, summary and body of one entry, using
//!   [`text`] (plain text, summaries), [`markdown`] (sanitised HTML -> CommonMark, and the
//!   CommonMark helpers every writer of markdown uses) and [`media`] (thumbnails, podcast
//!   enclosures).
//! - this module: the [`Article`] type, feed-level facts ([`FeedContext`]) and field
//!   limits ([`bound_fields`]).
//!
//! Everything here is pure: no clock, no I/O. The time an entry was first seen comes from
//! the store.

pub mod extract;
mod html_tree;
pub mod identity;
pub mod markdown;
mod markdown_writer;
pub mod media;
pub mod normalise;
pub mod text;
pub mod tidy;
pub mod visibility;

use chrono::{DateTime, Utc};
use feed_rs::model::{Entry, Feed, FeedType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

pub use identity::{Identity, disambiguate_keys, identify, identify_entries};
pub use normalise::normalise;

use crate::links::clean_url;

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
    /// The key earlier versions gave an entry without guid and link (see
    /// [`Identity::legacy_key`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_key: Option<String>,
    /// The link with tracking parameters and fragment dropped: the story's identity
    /// across feeds.
    pub canonical_link: Option<String>,
    /// Plain text, at most 500 characters; the summary's first words when the entry has none.
    pub title: String,
    /// The entry's own time: published, else updated. `None` means the first-seen time is
    /// used.
    pub published: Option<DateTime<Utc>>,
    /// Plain text, at most `output.summary_chars`.
    pub summary: String,
    /// The CommonMark body, sanitised, with media link lines. Not in the article's JSON:
    /// the store keeps it in a column of its own (JSON stored before has it, and is read
    /// with it).
    #[serde(default, skip_serializing)]
    pub body: String,
    /// The absolute link without tracking parameters (the source line).
    pub link: Option<String>,
    /// The primary language subtag (`en`).
    pub lang: String,
    /// Front-matter categories (from the feed's configuration).
    pub categories: Vec<String>,
    /// Front-matter tags (from the feed's configuration).
    pub tags: Vec<String>,
    /// The entry's own categories, as the feed gave them.
    pub entry_categories: Vec<String>,
    /// The best image for a thumbnail: a media thumbnail, an image enclosure, or the
    /// first image of the body.
    #[serde(default)]
    pub thumbnail: Option<String>,
    /// The entry's author(s), plain text (`dc:creator`, `<author>`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The entry's own last-updated time, when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<DateTime<Utc>>,
    /// Its audio, video and other files (a podcast episode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enclosures: Vec<Enclosure>,
    /// Whether the body came from the article's page (`full_text`), and why not when it
    /// did not. `None`: full text was not asked for (or not yet tried).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_text: Option<FullText>,
}

/// How the full text of an article was got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullText {
    /// The body is the page's article.
    pub from_page: bool,
    /// Why the feed's own content was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A file an entry carries (RSS `<enclosure>`, `media:content`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enclosure {
    /// Its absolute URL.
    pub url: String,
    /// Its MIME type, when given (`audio/mpeg`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Its size in bytes, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
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

    /// The date the article is written with, given when it was first seen: its own
    /// published (else updated) time, never later than first seen (a date in the future, a
    /// wrong clock or zone, would hide the article from Hugo), else the first-seen time.
    pub fn date(&self, first_seen: DateTime<Utc>) -> DateTime<Utc> {
        self.published.map_or(first_seen, |p| p.min(first_seen))
    }

    /// A short stable id for the `{id}` path placeholder and slug fallback.
    pub fn short_id(&self) -> String {
        hex(&Sha256::digest(self.key.as_bytes()))[..12].to_string()
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    // Bytes first, then one check that they are text (ASCII digits always are): pushing
    // `char`s encoded each one on its own (800 instructions for a 16-byte digest).
    let digits: Vec<u8> = bytes
        .iter()
        .flat_map(|byte| {
            [
                DIGITS[usize::from(byte >> 4)],
                DIGITS[usize::from(byte & 0x0f)],
            ]
        })
        .collect();
    String::from_utf8(digits).unwrap_or_default()
}

/// The text form of a change-detection digest (XXH3-128): an entry's raw fields, a
/// fetched body. The prefix keeps it apart from the SHA-256 digests stored before.
pub fn change_digest_text(digest: u128) -> String {
    // `format!("xxh3:{digest:032x}")` spelled out: the formatting machinery took 1,200
    // instructions per digest, one per entry of every document read.
    let mut text = String::with_capacity(5 + 32);
    text.push_str("xxh3:");
    text.push_str(&hex(&digest.to_be_bytes()));
    text
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
    /// The facts of `feed`, fetched from `fetched_from` (after redirects).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_digests_are_written_as_they_always_were() {
        // Stored digests are compared as text: the form must not change.
        for digest in [
            0,
            1,
            0xabc,
            u128::MAX,
            0x0123_4567_89ab_cdef_0011_2233_4455_6677,
        ] {
            assert_eq!(change_digest_text(digest), format!("xxh3:{digest:032x}"));
        }
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }
}
