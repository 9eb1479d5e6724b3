//! Who an entry is, worked out before any HTML work: its key within its feed, its
//! canonical link across feeds, and a digest of everything the feed said about it (an
//! unchanged digest means there is nothing to convert again).

use std::collections::HashSet;

use feed_rs::model::{Entry, Link};
use sha2::{Digest, Sha256};
use url::Url;

use super::{FeedContext, hex};
use crate::links::{canonical_link, clean_url};

/// Who an entry is, worked out before any HTML work: its key, and a digest of everything
/// the feed said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Identity within its feed: the guid/id, else the canonical link, else a hash of title and date.
    pub key: String,
    /// The guid/id the feed gave, when it gave one.
    pub guid: Option<String>,
    /// The link without tracking parameters and fragment: the story across feeds.
    pub canonical_link: Option<String>,
    /// A digest of every field normalisation reads.
    pub raw_hash: String,
    /// For entries keyed by their content: the title-and-date key earlier versions gave
    /// them, under which they may be stored.
    pub legacy_key: Option<String>,
    /// The article's address as written (the original behind a FeedBurner redirect, else
    /// the entry's page), absolute and without trackers: worked out here once, for the
    /// key and the article alike.
    pub link: Option<Url>,
}

/// The entry's key (its id when the feed gave one, else its canonical link, else the digest
/// of everything it says) and the digest of its raw fields. Cheap: no HTML is parsed.
pub fn identify(entry: &Entry, context: &FeedContext) -> Identity {
    let base = context.base.as_ref();
    // The key stays with the link the feed gives (FeedBurner's redirect, as entries were
    // stored before origLink was read); the story across feeds is its real address.
    let page_url = entry_page(&entry.links, base);
    let original_url = original_link(&entry.links, base);
    let page = page_url.as_ref().map(canonical_link);
    let canonical = original_url
        .as_ref()
        .map(canonical_link)
        .or_else(|| page.clone());
    let guid = Some(entry.id.trim().to_string()).filter(|id| !id.is_empty());
    let raw_hash = raw_digest(entry);
    let (key, legacy_key) = match (&guid, page.or_else(|| canonical.clone())) {
        (Some(guid), _) => (guid.clone(), None),
        (None, Some(link)) => (link, None),
        // Nothing names the entry: what it says is who it is, so two different entries
        // never share a key (a title and a date alone do not tell them apart). A key is
        // kept for ever, so it stays the SHA-256 it always was.
        (None, None) => (
            format!("content:{}", content_key_digest(entry)),
            Some(title_date_key(entry)),
        ),
    };
    Identity {
        key,
        guid,
        canonical_link: canonical,
        raw_hash,
        legacy_key,
        link: original_url.or(page_url),
    }
}

/// The key tidings gave entries without guid and link before content keys: a hash of the
/// title and the date. Kept so entries stored under it are still recognised.
fn title_date_key(entry: &Entry) -> String {
    let raw_title = entry.title.as_ref().map_or("", |t| t.content.as_str());
    let published = entry.published.or(entry.updated);
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

/// A digest of every field normalisation reads: XXH3-128, which tells an unchanged entry
/// from an edited one as surely as SHA-256 (it is only compared with the same entry's
/// last digest) at a small part of the cost. SHA-256 over every entry of every document
/// was 3% of the CPU of a pass whose entries were all known.
fn raw_digest(entry: &Entry) -> String {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    raw_fields(entry, |text| {
        hasher.update(text.as_bytes());
        hasher.update(&[0u8]);
    });
    super::change_digest_text(hasher.digest128())
}

/// The SHA-256 of every field normalisation reads: the key of an entry that has neither
/// id nor link.
fn content_key_digest(entry: &Entry) -> String {
    let mut hasher = Sha256::new();
    raw_fields(entry, |text| {
        hasher.update(text.as_bytes());
        hasher.update([0u8]);
    });
    hex(&hasher.finalize())
}

/// Every field normalisation reads, in a fixed order, each given to `part`.
fn raw_fields(entry: &Entry, mut part: impl FnMut(&str)) {
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
}

/// The article's real address behind a FeedBurner redirect (`feedburner:origLink`).
pub(crate) fn original_link(links: &[Link], base: Option<&Url>) -> Option<Url> {
    links
        .iter()
        .filter(|l| l.rel.as_deref() == Some(crate::feed::ORIGINAL_LINK_REL))
        .find_map(|l| clean_url(&l.href, base))
}

/// The entry's page, absolute and without trackers: the first usable link that is not an
/// enclosure, a comment feed or similar (an empty `<link/>` before a real one is skipped).
pub(crate) fn entry_page(links: &[Link], base: Option<&Url>) -> Option<Url> {
    links
        .iter()
        .filter(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .find_map(|l| clean_url(&l.href, base))
}

/// The identities of a document's entries, in order: [`identify`] each, then
/// [`disambiguate_keys`] across them.
pub fn identify_entries(entries: &[Entry], context: &FeedContext) -> Vec<Identity> {
    let mut identities: Vec<Identity> = entries.iter().map(|e| identify(e, context)).collect();
    disambiguate_keys(&mut identities);
    identities
}

/// Gives entries that share a guid but not a link keys of their own (`guid#link`), so a
/// feed that repeats one guid on every item, or on two items, loses none of them. Entries
/// whose guid is unique keep the guid as their key.
pub fn disambiguate_keys(identities: &mut [Identity]) {
    // The entries with a guid, ordered by key then link: a key whose entries do not all
    // carry its first entry's link is shared by different stories. (A map of keys to sets
    // of links made a set per entry, to learn in nearly every document that no key is
    // shared.)
    let mut with_guid: Vec<usize> = (0..identities.len())
        .filter(|&i| identities[i].guid.is_some())
        .collect();
    let key_and_link = |i: usize| {
        (
            identities[i].key.as_str(),
            identities[i].canonical_link.as_deref(),
        )
    };
    with_guid.sort_unstable_by(|&a, &b| key_and_link(a).cmp(&key_and_link(b)));
    let mut shared_keys: HashSet<String> = HashSet::new();
    for same_key in with_guid.chunk_by(|&a, &b| identities[a].key == identities[b].key) {
        let (first, last) = (same_key[0], same_key[same_key.len() - 1]);
        if identities[first].canonical_link != identities[last].canonical_link {
            shared_keys.insert(identities[first].key.clone());
        }
    }
    if shared_keys.is_empty() {
        return;
    }
    // Entries without a guid whose key is a shared guid take part too, as they did.
    for identity in identities.iter_mut() {
        if shared_keys.contains(&identity.key) {
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
            legacy_key: None,
            link: None,
        }
    }

    /// The rule as a map of keys to their sets of links (how it was first written).
    fn keys_by_link_sets(identities: &[Identity]) -> Vec<String> {
        use std::collections::HashMap;
        let mut links_by_key: HashMap<&str, HashSet<Option<&str>>> = HashMap::new();
        for identity in identities.iter().filter(|i| i.guid.is_some()) {
            links_by_key
                .entry(identity.key.as_str())
                .or_default()
                .insert(identity.canonical_link.as_deref());
        }
        identities
            .iter()
            .map(|identity| match links_by_key.get(identity.key.as_str()) {
                Some(links) if links.len() > 1 => format!(
                    "{}#{}",
                    identity.key,
                    identity
                        .canonical_link
                        .clone()
                        .unwrap_or_else(|| format!("raw:{}", identity.raw_hash))
                ),
                _ => identity.key.clone(),
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn keys_are_told_apart_as_by_sets_of_links(
            entries in proptest::collection::vec(
                (0..3u8, proptest::bool::ANY, proptest::option::of(0..3u8), 0..2u8),
                0..12,
            )
        ) {
            let mut identities: Vec<Identity> = entries
                .iter()
                .map(|&(key, has_guid, link, raw)| Identity {
                    key: format!("k{key}"),
                    guid: has_guid.then(|| format!("k{key}")),
                    canonical_link: link.map(|l| format!("https://a.example/{l}")),
                    raw_hash: format!("r{raw}"),
                    legacy_key: None,
                    link: None,
                })
                .collect();
            let expected = keys_by_link_sets(&identities);
            disambiguate_keys(&mut identities);
            let keys: Vec<String> = identities.into_iter().map(|i| i.key).collect();
            proptest::prop_assert_eq!(keys, expected);
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
