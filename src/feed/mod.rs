//! Feed bytes -> the feed-rs model, whatever the publisher got wrong.
//!
//! # Architecture
//! - [`decode`]: bytes to UTF-8 text (BOM, UTF-8 validity, XML declaration, HTTP
//!   charset, windows-1252; UTF-16 with or without BOM).
//! - [`repair`]: the XML fixed where real feeds break it (junk before the document, bare
//!   `&`, HTML entities, `<rss>` without a version, a document cut off mid-entry).
//! - [`dialect`]: older and unusual dialects (RSS 0.90, Atom 0.3, namespaced RSS 2.0,
//!   RSS 1.0 without links, markup in titles) rewritten into forms feed-rs reads.
//! - [`json`]: JSON Feed's version spellings and truncated JSON.
//! - this module: runs feed-rs on the repaired text, with [`dates`] as its date parser,
//!   and names what a document is when it is not a feed.
//! - [`discover`]: the feed an HTML page links to (autodiscovery).
//! - [`hints`]: how long the feed itself asks to be left alone (`ttl`, `sy:update*`).
//!
//! Data moves one way: bytes -> [`decode`] -> [`repair`] -> [`dialect`] (or [`json`]) ->
//! feed-rs -> `Feed`, then a guard: a document with item or entry elements that yields no
//! entry is an error, never "nothing new". Everything here is a pure function of the bytes
//! and the [`Source`] facts that came with them.

pub mod dates;
pub mod decode;
pub mod dialect;
pub mod discover;
pub mod hints;
pub mod json;
pub mod layout;
pub mod repair;
pub mod scan;

use std::borrow::Cow;

use feed_rs::model::Feed;

pub use decode::decode_to_utf8;

pub use discover::discover_feed;
pub use hints::update_hint;
use repair::{Truncation, repair_xml, truncation_repair};

/// Why a document yielded no feed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Nothing but white space.
    #[error("empty document")]
    Empty,
    /// Not RSS, Atom or JSON Feed; says what it looks like instead.
    #[error("not a feed {0}")]
    NotAFeed(String),
    /// A feed the parser could not read, even after repairs.
    #[error("malformed feed")]
    Malformed(#[source] feed_rs::parser::ParseFeedError),
    /// A feed that ends before its first entry is complete.
    #[error("malformed feed: the document is cut off before its first complete entry")]
    CutOffBeforeFirstEntry,
    /// The document has entries, but none could be read.
    #[error(
        "parse: {found} <{element}> elements but no entries read (an unsupported dialect or namespace?)"
    )]
    NoEntriesRead {
        /// How many item or entry elements the document has.
        found: usize,
        /// `item`, `entry` or (JSON Feed) `items`.
        element: &'static str,
    },
    /// The XML reader gave up on the document in a way it does not report as an error.
    #[error("malformed feed: the XML reader could not read this document")]
    ReaderFailed,
    /// A gzip file (by its magic bytes) that cannot be unpacked.
    #[error("a gzip file that cannot be unpacked")]
    Gzip(#[source] std::io::Error),
    /// A gzip file that unpacks to more than the body limit.
    #[error("a gzip file larger than {limit} bytes unpacked")]
    GzipTooLarge {
        /// `fetch.max_body_bytes`.
        limit: u64,
    },
}

/// A parsed document and how many entries it had in its text.
#[derive(Debug)]
pub struct ParsedDocument {
    /// What feed-rs read.
    pub feed: Feed,
    /// The item or entry elements (JSON Feed items) of the text that was parsed; more
    /// than `feed.entries` means some could not be read.
    pub entry_elements: usize,
    /// The digests of the document's entry elements, when the entries read correspond to
    /// them one for one (see [`EntryPrints`]).
    pub prints: Option<EntryPrints>,
}

/// Entries a caller already holds: the digests of entry elements' texts (from
/// [`EntryPrints`] of an earlier document), valid next to one frame.
#[derive(Debug, Clone, Copy)]
pub struct KnownEntries<'a> {
    /// The frame the digests were taken in.
    pub frame: u128,
    /// The entry elements' digests.
    pub digests: &'a std::collections::HashSet<u128>,
}

/// The entry elements of an XML document by the digests of their texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPrints {
    /// What every entry inherits from around it (see [`layout`]).
    pub frame: u128,
    /// Each entry element in document order: its digest, and whether it was left out
    /// before parsing because the caller knew it. The entries read are the ones not left
    /// out, in this order.
    pub entries: Vec<(u128, bool)>,
}

impl EntryPrints {
    /// How many entries were left out, known.
    pub fn left_out(&self) -> usize {
        self.entries
            .iter()
            .filter(|(_, left_out)| *left_out)
            .count()
    }
}

/// A fetched document as the parser needs it.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The body as fetched (decompressed).
    pub bytes: &'a [u8],
    /// The `charset` of the `Content-Type` header, if any.
    pub http_charset: Option<&'a str>,
    /// The media type of the `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// Resolves relative links.
    pub base_url: &'a str,
    /// The zone of dates that name none.
    pub zone: chrono_tz::Tz,
    /// The largest document accepted after unpacking a gzip body.
    pub max_bytes: u64,
}

/// Parses a fetched document (see [`parse_document`]) and keeps the feed.
pub fn parse_feed(source: &Source<'_>) -> Result<Feed, ParseError> {
    parse_document(source, None).map(|parsed| parsed.feed)
}

/// Parses a fetched document, repairing what real feeds get wrong. A document cut off in
/// the middle keeps its complete entries; a document whose entries cannot be read is an
/// error, not an empty feed.
///
/// Entry elements whose text `known` holds (in an equal frame) are left out before the
/// XML parser reads the document, unless the shorter document then reads differently
/// (an entry fewer or an error), in which case the whole is parsed.
pub fn parse_document(
    source: &Source<'_>,
    known: Option<KnownEntries<'_>>,
) -> Result<ParsedDocument, ParseError> {
    let unpacked = decode::gunzip_if_gzip(source.bytes, source.max_bytes)?;
    let bytes = unpacked.as_deref().unwrap_or(source.bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    let text = decode_to_utf8(bytes, source.http_charset);
    let trimmed = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if trimmed.starts_with('{') {
        let document = json::normalise_json(trimmed);
        if document.cut_before_first_item {
            return Err(ParseError::CutOffBeforeFirstEntry);
        }
        let feed = parse_repaired(&document.text, source)?;
        return guard(feed, document.items, "items", None);
    }
    let facts = layout::FrameFacts {
        base_url: source.base_url,
        zone: source.zone.name(),
    };
    // Where the entries lie is read from the text before any repair: entries the caller
    // knows are cut out before any work is done on them. (Each repair and rewrite works
    // on one entry at a time, or on what the frame holds.)
    let layout = layout::entry_layout(&text, facts);
    let spans = layout.spans.as_ref();
    let digests: Vec<u128> = spans.map_or_else(Vec::new, |spans| {
        spans
            .ranges
            .iter()
            .map(|range| layout::entry_digest(&text, range))
            .collect()
    });
    if let (Some(known), Some(spans)) = (known, spans)
        && known.frame == spans.frame
        && let Some(parsed) = parse_without_known(
            &text,
            spans,
            &digests,
            known,
            source,
            layout.markup_in_text_elements,
        )
    {
        return Ok(parsed);
    }
    let repaired = repaired_xml(&text, layout.markup_in_text_elements);
    let mut feed = parse_xml(&repaired, source)?;
    attach_original_links(&mut feed, &repaired);
    let prints = spans
        .filter(|spans| spans.ranges.len() == feed.entries.len())
        .map(|spans| EntryPrints {
            frame: spans.frame,
            entries: digests.iter().map(|digest| (*digest, false)).collect(),
        });
    guard(feed, layout.found, layout.element, prints)
}

/// The document without the entries `known` holds, repaired and parsed; `None` when none
/// is known or the shorter document does not read as one entry per element kept.
fn parse_without_known(
    text: &str,
    spans: &layout::EntrySpans,
    digests: &[u128],
    known: KnownEntries<'_>,
    source: &Source<'_>,
    markup_in_text_elements: bool,
) -> Option<ParsedDocument> {
    let left_out: Vec<bool> = digests
        .iter()
        .map(|digest| known.digests.contains(digest))
        .collect();
    let kept = left_out.iter().filter(|left_out| !**left_out).count();
    if kept == digests.len() {
        return None;
    }
    let shorter = layout::without_entries(text, &spans.ranges, |index| left_out[index]);
    // Entries left out take their elements with them: what the layout saw of the whole
    // text holds for the rest.
    let repaired = repaired_xml(&shorter, markup_in_text_elements);
    let mut feed = parse_repaired(&repaired, source).ok()?;
    if feed.entries.len() != kept {
        return None;
    }
    attach_original_links(&mut feed, &repaired);
    Some(ParsedDocument {
        feed,
        entry_elements: kept,
        prints: Some(EntryPrints {
            frame: spans.frame,
            entries: digests.iter().copied().zip(left_out).collect(),
        }),
    })
}

/// An XML text repaired and its dialect rewritten into what feed-rs reads.
/// `markup_in_text_elements` is what the entry layout saw of `text`
/// ([`layout::EntryLayout::markup_in_text_elements`]); a repair that changed the text
/// makes that unknown.
fn repaired_xml(text: &str, markup_in_text_elements: bool) -> Cow<'_, str> {
    let repaired = repair_xml(text);
    let markup_possible = markup_in_text_elements || matches!(repaired, Cow::Owned(_));
    repair::rewritten_by(repaired, |text| {
        dialect::normalise_dialect(text, markup_possible)
    })
}

/// The `rel` given to a FeedBurner entry's `feedburner:origLink`: the article's real
/// address behind a `feedproxy.google.com` redirect.
pub const ORIGINAL_LINK_REL: &str = "feedburner:origLink";

/// Adds each entry's `feedburner:origLink` (which feed-rs does not read) to its links, in
/// document order; nothing when the entries cannot be matched to the document's one by one.
fn attach_original_links(feed: &mut Feed, text: &str) {
    use crate::html::Token;
    if scan::find(text, "origLink").is_none() {
        return;
    }
    let mut links: Vec<Option<String>> = Vec::new();
    let (mut in_entry, mut in_original) = (false, false);
    for token in crate::html::tokens(text) {
        match token {
            Token::Tag(tag) if !tag.self_closing => {
                let local = tag.local_name();
                match local {
                    "item" | "entry" if tag.closing => in_entry = false,
                    "item" | "entry" => {
                        links.push(None);
                        in_entry = true;
                    }
                    "origLink" => in_original = !tag.closing && in_entry,
                    _ => {}
                }
            }
            Token::Text(piece) | Token::CData(piece) if in_original => {
                if let Some(slot) = links.last_mut() {
                    slot.get_or_insert_with(String::new).push_str(piece.trim());
                }
            }
            _ => {}
        }
    }
    if links.len() != feed.entries.len() {
        return;
    }
    for (entry, link) in feed.entries.iter_mut().zip(links) {
        let Some(href) = link.filter(|l| !l.is_empty()) else {
            continue;
        };
        entry.links.push(feed_rs::model::Link {
            href: html_escape::decode_html_entities(&href).into_owned(),
            target: None,
            rel: Some(ORIGINAL_LINK_REL.to_string()),
            media_type: None,
            href_lang: None,
            title: None,
            length: None,
        });
    }
}

/// A feed with no entries from a text that has some is an error that says so.
fn guard(
    feed: Feed,
    found: usize,
    element: &'static str,
    prints: Option<EntryPrints>,
) -> Result<ParsedDocument, ParseError> {
    if feed.entries.is_empty() && found > 0 {
        return Err(ParseError::NoEntriesRead { found, element });
    }
    Ok(ParsedDocument {
        feed,
        entry_elements: found,
        prints,
    })
}

fn parse_xml(repaired: &str, source: &Source<'_>) -> Result<Feed, ParseError> {
    match parse_repaired(repaired, source) {
        Err(ParseError::Malformed(message)) => match truncation_repair(repaired) {
            Truncation::Repaired(shortened) => {
                parse_repaired(&shortened, source).map_err(|_| ParseError::Malformed(message))
            }
            Truncation::NothingComplete => Err(ParseError::CutOffBeforeFirstEntry),
            Truncation::NotTruncated => Err(ParseError::Malformed(message)),
        },
        Err(ParseError::NotAFeed(_)) => Err(ParseError::NotAFeed(describe_non_feed(
            repaired,
            source.content_type,
        ))),
        other => other,
    }
}

fn parse_repaired(text: &str, source: &Source<'_>) -> Result<Feed, ParseError> {
    let zone = source.zone;
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(source.base_url))
        .timestamp_parser(move |text| dates::parse_date(text, zone))
        .sanitize_content(false)
        // An empty id tells normalisation the feed gave none, so it can fall back to the
        // link rather than trust a generated hash.
        .id_generator(|_, _, _| String::new())
        .build();
    // The XML reader under feed-rs has panicked on hostile input (found by the fuzz
    // harness: a second declaration naming an encoding); a panic there is a document
    // that cannot be read, not the end of the process.
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parser.parse(text.as_bytes())
    }))
    .map_err(|_| ParseError::ReaderFailed)?;
    parsed.map_err(|e| match e {
        feed_rs::parser::ParseFeedError::ParseError(
            feed_rs::parser::ParseErrorKind::NoFeedRoot,
        ) => ParseError::NotAFeed(String::new()),
        other => ParseError::Malformed(other),
    })
}

fn describe_non_feed(text: &str, content_type: Option<&str>) -> String {
    let head: String = text
        .chars()
        .take(1024)
        .collect::<String>()
        .to_ascii_lowercase();
    let looks_html = ["<html", "<!doctype html", "<head", "<body"]
        .iter()
        .any(|t| head.contains(t));
    let media = content_type.map(|c| c.split(';').next().unwrap_or(c).trim().to_ascii_lowercase());
    match media {
        Some(media) if media == "text/html" || media == "application/xhtml+xml" => {
            format!("({media})")
        }
        _ if looks_html => "(an HTML page)".into(),
        Some(media) => format!("({media}: no RSS, Atom or JSON Feed root element)"),
        None => "(no RSS, Atom or JSON Feed root element)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Feed, ParseError> {
        parse_feed(&Source {
            bytes: text.as_bytes(),
            http_charset: None,
            content_type: None,
            base_url: "https://example.com/",
            zone: chrono_tz::Tz::UTC,
            max_bytes: 1 << 20,
        })
    }

    #[test]
    fn truncated_rss_keeps_its_complete_items() {
        let text = "<rss version=\"2.0\"><channel><title>t</title><item><title>one</title></item><item><title>two</title></item><item><title>thr";
        let feed = parse(text).expect("recovered");
        assert_eq!(feed.entries.len(), 2);
    }

    #[test]
    fn truncated_atom_keeps_its_complete_entries() {
        let text = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title><entry><id>1</id><title>one</title></entry><entry><id>2</id><ti";
        assert_eq!(parse(text).expect("recovered").entries.len(), 1);
    }

    #[test]
    fn malformed_but_complete_documents_still_fail() {
        let text = "<rss version=\"2.0\"><channel><item><title>a</item></channel></rss>";
        assert!(matches!(parse(text), Err(ParseError::Malformed(_))));
    }

    #[test]
    fn rss_without_version_is_read_as_rss2() {
        let feed =
            parse("<rss><channel><title>t</title><item><title>one</title></item></channel></rss>")
                .expect("rss");
        assert_eq!(feed.entries.len(), 1);
    }

    #[test]
    fn html_pages_are_named_as_such() {
        let err = parse_feed(&Source {
            bytes: b"<head><title>Moved</title></head><body>x</body>",
            http_charset: None,
            content_type: Some("text/html; charset=utf-8"),
            base_url: "https://example.com/",
            zone: chrono_tz::Tz::UTC,
            max_bytes: 1 << 20,
        })
        .expect_err("not a feed");
        assert_eq!(err.to_string(), "not a feed (text/html)");
        let err = parse("<head><title>Moved</title></head><body>x</body>").expect_err("not a feed");
        assert_eq!(err.to_string(), "not a feed (an HTML page)");
    }

    #[test]
    fn entry_elements_are_counted_with_any_prefix_but_not_empty_or_in_cdata() {
        let count = |text: &str| {
            let layout = layout::entry_layout(
                text,
                layout::FrameFacts {
                    base_url: "https://example.com/",
                    zone: "UTC",
                },
            );
            (layout.found, layout.element)
        };
        assert_eq!(
            count("<item><item /></item><rss:item>x</rss:item><![CDATA[<item>]]>"),
            (2, "item")
        );
        assert_eq!(
            count("<feed><entry/><entry><id>1</id></entry><atom:entry></atom:entry></feed>"),
            (2, "entry")
        );
    }
}
