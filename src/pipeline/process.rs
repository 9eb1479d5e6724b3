//! A fetched document to claimed articles: parse, bound, identify, skip what the feed
//! repeats unchanged, normalise the rest, claim them in one transaction. Blocking work
//! (CPU and SQLite), run on the blocking pool.

use chrono::{DateTime, Utc};

use super::known::{KnownDocument, context_digest, guid_key_digest};
use super::{FeedError, Pipeline};
use crate::article::{
    Article, FeedContext, Identity, bound_fields, disambiguate_keys, identify, normalise,
};
use crate::config::{Dedup, FeedConfig, OnUpdate};
use crate::feed::{
    EntryPrints, KnownEntries, ParseError, ParsedDocument, Source, discover_feed, parse_document,
    update_hint,
};
use crate::fetch::Document;
use crate::filter::Verdict;
use crate::output::ArticlePaths;
use crate::store::{
    Admission, ClaimOptions, ClaimReport, Claimed, DocumentRecord, EncodedArticle, FeedIdentity,
    FetchRecord, StoredEntry,
};

/// What a document turned out to be.
pub enum Processed {
    /// A feed whose entries were claimed, and its fetch recorded with them.
    Claimed {
        /// What the claim decided.
        report: ClaimReport,
        /// What the person should know: entries not read, entries over the limit.
        notes: Vec<String>,
        /// The entries to write, when the claim could hand them over (else they are read
        /// from the database).
        to_write: Option<Vec<StoredEntry>>,
        /// The title the feed gives itself, as the claim recorded it: the templates'
        /// feed title for the entries handed over, without asking the store again.
        feed_title: Option<String>,
    },
    /// An HTML page that names its feed at this address.
    Discovered(url::Url),
}

/// A document read: its entries, or the feed an HTML page names.
enum Read {
    Entries(Box<ReadDocument>),
    Discovered(url::Url),
}

/// A document's entries, parsed and identified.
struct ReadDocument {
    /// What the parser read (entries left out as known are not in it).
    feed: feed_rs::model::Feed,
    /// What the person should know: entries not read, entries over the limit.
    notes: Vec<String>,
    context: FeedContext,
    /// One per entry read, keys not yet told apart.
    identities: Vec<Identity>,
    /// [`guid_key_digest`] of each identity.
    guid_keys: Vec<u64>,
    /// The document's entry elements, when they match the entries read.
    prints: Option<EntryPrints>,
}

impl ReadDocument {
    /// Whether entries were left out as known when the rest of the document says they
    /// may not be: another context, or a guid shared with an entry read.
    fn left_out_disagrees(&self, known: Option<&KnownDocument>, max_field_bytes: usize) -> bool {
        let (Some(prints), Some(known)) = (&self.prints, known) else {
            return false;
        };
        prints.left_out() > 0
            && (known.context != context_digest(&self.context, max_field_bytes)
                || known.shares_guid_with_left_out(prints, &self.guid_keys))
    }
}

impl Pipeline {
    /// Parse, normalise and claim one fetched document. `fetched` (how the fetch ended)
    /// is completed with what the document says of its feed (title, entry digests, `ttl`)
    /// and recorded in the claim's transaction.
    pub fn process_document(
        &self,
        feed: &FeedConfig,
        document: &Document,
        catch_up: bool,
        fetched: FetchRecord,
    ) -> Result<Processed, FeedError> {
        let known = self
            .store()
            .entry_prints(&feed.name)?
            .and_then(|bytes| KnownDocument::from_bytes(&bytes));
        let max_field_bytes = self.config.fetch.max_field_bytes;
        let mut read = self.read_document(feed, document, known.as_ref())?;
        if let Read::Entries(entries) = &read
            && entries.left_out_disagrees(known.as_ref(), max_field_bytes)
        {
            // What was left out as known must be read after all.
            read = self.read_document(feed, document, None)?;
        }
        let ReadDocument {
            feed: parsed,
            notes,
            context,
            mut identities,
            guid_keys,
            prints,
        } = match read {
            Read::Entries(entries) => *entries,
            Read::Discovered(found) => return Ok(Processed::Discovered(found)),
        };
        let now = Utc::now();
        let hint = update_hint(parsed.ttl, &document.body).map(|wait| now + wait);
        disambiguate_keys(&mut identities);
        // Entries the feed repeats exactly as before need no HTML work at all.
        let unchanged = self.store().unchanged_keys(&feed.name, &identities)?;
        let articles: Vec<Article> = parsed
            .entries
            .iter()
            .zip(identities)
            .filter(|(_, identity)| !unchanged.contains(&identity.key))
            .map(|(entry, identity)| {
                normalise(
                    entry,
                    identity,
                    &context,
                    feed,
                    self.config.output.summary_chars,
                )
            })
            .collect();
        let admissions = self.admissions(feed, &articles, catch_up, now)?;
        let (title, site_url) = feed_identity(&parsed);
        let known_now = prints.as_ref().and_then(|prints| {
            let context = context_digest(&context, max_field_bytes);
            KnownDocument::after(prints, context, &guid_keys, known.as_ref())
        });
        let feed_title = title.clone();
        let found = DocumentRecord {
            identity: FeedIdentity { title, site_url },
            entry_prints: known_now.map(|known| known.to_bytes()),
        };
        let fetched = fetched.with_document(found, hint);
        let Claimed {
            mut report,
            to_write,
        } = self.claim(feed, &articles, &admissions, now, &fetched)?;
        let left_out = prints.as_ref().map_or(0, EntryPrints::left_out);
        report.unchanged += unchanged.len() + left_out;
        Ok(Processed::Claimed {
            report,
            notes,
            to_write,
            feed_title,
        })
    }

    /// Parses a document, leaving out the entries of `known` it repeats, and identifies
    /// its entries (keys not yet told apart).
    fn read_document(
        &self,
        feed: &FeedConfig,
        document: &Document,
        known: Option<&KnownDocument>,
    ) -> Result<Read, FeedError> {
        let digests = known.map(KnownDocument::digests);
        let known_entries = known
            .zip(digests.as_ref())
            .map(|(known, digests)| KnownEntries {
                frame: known.frame,
                digests,
            });
        let parsed = match self.parse_document(feed, document, known_entries) {
            Ok(parsed) => parsed,
            Err(error @ ParseError::NotAFeed(_)) => {
                return match discover_feed(&document.body, &document.final_url) {
                    Some(found) if found != document.final_url => Ok(Read::Discovered(found)),
                    _ => Err(error.into()),
                };
            }
            Err(error) => return Err(error.into()),
        };
        let mut notes = Vec::new();
        let read = parsed.feed.entries.len();
        if parsed.entry_elements > read {
            let unread = parsed.entry_elements - read;
            tracing::warn!(feed = %feed.name, unread, read, "entries the parser could not read");
            notes.push(format!(
                "{unread} of {} entries could not be read",
                parsed.entry_elements
            ));
        }
        let mut prints = parsed.prints;
        let mut parsed = parsed.feed;
        let limits = &self.config.fetch;
        let left_out = prints.as_ref().map_or(0, EntryPrints::left_out);
        if left_out > 0 && parsed.entries.len() + left_out > limits.max_entries {
            // The first entries of the document are kept: read it whole to know them.
            return self.read_document(feed, document, None);
        }
        if parsed.entries.len() > limits.max_entries {
            let total = parsed.entries.len();
            tracing::warn!(feed = %feed.name, total, kept = limits.max_entries, "more entries than fetch.max_entries");
            notes.push(format!(
                "kept the first {} of {total} entries (fetch.max_entries)",
                limits.max_entries
            ));
            parsed.entries.truncate(limits.max_entries);
            // The entries kept no longer match the document's elements one for one.
            prints = None;
        }
        for entry in &mut parsed.entries {
            bound_fields(entry, limits.max_field_bytes);
        }
        let context = FeedContext::from_feed(&parsed, &document.final_url);
        let identities: Vec<Identity> = parsed
            .entries
            .iter()
            .map(|entry| identify(entry, &context))
            .collect();
        let guid_keys = identities.iter().map(guid_key_digest).collect();
        Ok(Read::Entries(Box::new(ReadDocument {
            feed: parsed,
            notes,
            context,
            identities,
            guid_keys,
            prints,
        })))
    }

    fn parse_document(
        &self,
        feed: &FeedConfig,
        document: &Document,
        known: Option<KnownEntries<'_>>,
    ) -> Result<ParsedDocument, ParseError> {
        parse_document(
            &Source {
                bytes: &document.body,
                http_charset: document.charset.as_deref(),
                content_type: document.content_type.as_deref(),
                base_url: document.final_url.as_str(),
                zone: feed.timezone,
                max_bytes: self.config.fetch.max_body_bytes,
            },
            known,
        )
    }

    /// What is done with each article if it is new: the filters' verdict; then, on a
    /// catch-up, every article is only recorded as seen, and on a feed's first fetch with
    /// `initial_entries = N`, all but the newest N it would write are.
    fn admissions(
        &self,
        feed: &FeedConfig,
        articles: &[Article],
        catch_up: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<Admission>, FeedError> {
        let mut admissions: Vec<Admission> = articles
            .iter()
            .map(|article| match feed.filters.judge(article, now) {
                Verdict::Write => Admission::Write,
                Verdict::Filtered(reason) => Admission::Filtered(reason),
            })
            .collect();
        let limit = if catch_up {
            Some(0)
        } else if let Some(n) = feed.initial_entries
            && !self.store().has_entries(&feed.name)?
        {
            Some(n)
        } else {
            None
        };
        if let Some(limit) = limit {
            let mut writable: Vec<usize> = (0..articles.len())
                .filter(|&i| admissions[i] == Admission::Write)
                .collect();
            // Newest first; undated entries after the dated ones, in the feed's order.
            writable.sort_by_key(|&i| std::cmp::Reverse(articles[i].published));
            for &i in writable.iter().skip(limit) {
                admissions[i] = Admission::Seen;
            }
        }
        Ok(admissions)
    }

    fn claim(
        &self,
        feed: &FeedConfig,
        articles: &[Article],
        admissions: &[Admission],
        now: DateTime<Utc>,
        fetched: &FetchRecord,
    ) -> Result<Claimed, FeedError> {
        let options = ClaimOptions {
            rewrite_updates: feed.on_update == OnUpdate::Rewrite,
            cross_feed_dedup: feed.dedup == Dedup::Global,
        };
        let output = &self.config.output;
        let paths = ArticlePaths {
            dir: &output.dir,
            template: &output.path,
            timezone: output.timezone,
            feed: &feed.name,
        };
        // Encoded, and their paths looked for on disk, before the database is locked, so
        // that the other threads wait less.
        let encoded = EncodedArticle::probed_all(articles, &paths, now)?;
        Ok(self.store().claim_for_writing(
            &feed.name,
            &encoded,
            admissions,
            options,
            now,
            &paths,
            Some((feed.url.as_str(), fetched)),
        )?)
    }
}

/// The title a feed gives itself and its site's link (the first link that is not the
/// feed itself).
pub fn feed_identity(feed: &feed_rs::model::Feed) -> (Option<String>, Option<String>) {
    let title = feed
        .title
        .as_ref()
        .map(|t| crate::article::text::clean_title(&t.content))
        .filter(|t| !t.is_empty());
    let site = feed
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .map(|l| l.href.clone());
    (title, site)
}
