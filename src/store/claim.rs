//! The claim: one transaction that decides, for each article of a document, whether it
//! is new (inserted as pending at a free path), edited (back to pending at its old path),
//! a story another feed already wrote (recorded as a duplicate), or known and unchanged.

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{FetchRecord, Store, StoreError, StoredEntry, parse_timestamp, path_text, timestamp};
use crate::article::{Article, Identity};
use crate::output::{ArticlePaths, FolderLookups, PathProbe};

/// The key prefix of entries `tidings reindex` found on disk: the next claim of the same
/// story takes such a row over under the story's real key.
pub const REINDEXED: &str = "reindexed:";

/// What claiming a batch of articles decided.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClaimReport {
    /// Entries seen for the first time, claimed for writing.
    pub new: usize,
    /// Known entries whose content changed, claimed for rewriting.
    pub updated: usize,
    /// Known entries the document repeats.
    pub unchanged: usize,
    /// New here, but the same story was already written by another feed.
    pub duplicates: usize,
    /// New (or edited while held), kept but not written: a filter holds them.
    pub filtered: usize,
    /// New, recorded as seen and never written (`--catchup`, `initial_entries`).
    pub caught_up: usize,
}

/// What is done with an entry the claim has not written before.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Admission {
    /// Written.
    #[default]
    Write,
    /// Kept with its article but not written, for this reason (a filter rule); written
    /// later if the rules change and `tidings render` runs, or the entry is edited into
    /// what the rules allow.
    Filtered(String),
    /// Recorded as seen and never written (`fetch --catchup`, `initial_entries`).
    Seen,
}

impl Admission {
    fn state(&self) -> (&'static str, Option<&str>) {
        match self {
            Admission::Write => ("pending", None),
            Admission::Filtered(reason) => ("filtered", Some(reason)),
            Admission::Seen => ("seen", None),
        }
    }
}

/// How a feed's articles are claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimOptions {
    /// Rewrite a known entry whose content changed (else leave it).
    pub rewrite_updates: bool,
    /// Skip a new entry whose canonical link another feed already has.
    pub cross_feed_dedup: bool,
}

impl Store {
    /// Claims a feed's articles in one transaction: unknown keys are inserted as pending at
    /// a free path, known keys whose content changed go back to pending at their old path,
    /// the rest are left alone. `paths` chooses a new article's path. `admissions` says,
    /// article by article, what is done with one not written before (missing: written).
    /// `fetch` (the feed's address and how the fetch ended) is recorded in the same
    /// transaction: the validators are stored exactly when the entries are claimed, never
    /// before (a crash in between would answer the next fetch with a 304 and lose them).
    #[allow(clippy::too_many_arguments)]
    pub fn claim(
        &mut self,
        feed: &str,
        articles: &[Article],
        admissions: &[Admission],
        options: ClaimOptions,
        now: DateTime<Utc>,
        paths: &ArticlePaths<'_>,
        fetch: Option<(&str, &FetchRecord)>,
    ) -> Result<ClaimReport, StoreError> {
        let encoded = EncodedArticle::probed_all(articles, paths, now)?;
        self.claim_for_writing(feed, &encoded, admissions, options, now, paths, fetch)
            .map(|claimed| claimed.report)
    }

    /// [`Store::claim`] of articles encoded beforehand, also handing back the entries it
    /// made pending, as [`Store::pending`] would read them, when they are all the feed has
    /// pending: the pass writes them without reading their articles back (reading and
    /// decoding them was 4% of a cold fetch's instructions).
    #[allow(clippy::too_many_arguments)]
    pub fn claim_for_writing(
        &mut self,
        feed: &str,
        articles: &[EncodedArticle<'_>],
        admissions: &[Admission],
        options: ClaimOptions,
        now: DateTime<Utc>,
        paths: &ArticlePaths<'_>,
        fetch: Option<(&str, &FetchRecord)>,
    ) -> Result<Claimed, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut report = ClaimReport::default();
        // Entries an earlier pass left pending are written with this pass's, in order.
        let pending_before: bool = tx
            .prepare_cached(super::entries::FEED_HAS_PENDING)?
            .query_row([feed], |row| row.get(0))?;
        let to_write;
        {
            let mut claim = Claim::prepare(&tx, feed, options, now)?;
            let mut seen_keys = HashSet::new();
            for (index, article) in articles.iter().enumerate() {
                // A document that lists one entry twice describes one entry.
                if !seen_keys.insert(article.article.key.as_str()) {
                    continue;
                }
                let admission = admissions.get(index).unwrap_or(&Admission::Write);
                match claim.decide(article, admission, paths)? {
                    Decision::New => report.new += 1,
                    Decision::Updated => report.updated += 1,
                    Decision::Unchanged => report.unchanged += 1,
                    Decision::Duplicate => report.duplicates += 1,
                    Decision::Filtered => report.filtered += 1,
                    Decision::Seen => report.caught_up += 1,
                }
            }
            to_write = claim.inserted.filter(|_| !pending_before);
        }
        if let Some((url, record)) = fetch {
            super::feeds::write_fetch_record(&tx, feed, url, record, now)?;
        }
        tx.commit()?;
        Ok(Claimed { report, to_write })
    }

    /// The keys of `feed` whose stored raw digest equals the given one: entries the feed
    /// repeats unchanged, which need no conversion at all. One query for the whole
    /// document (the keys go in as one JSON array), answered from the (feed, key) index.
    /// A feed with nothing stored (its first fetch) repeats nothing: one look at the index
    /// instead of the document's keys encoded and looked up one by one.
    pub fn unchanged_keys(
        &self,
        feed: &str,
        identities: &[Identity],
    ) -> Result<HashSet<String>, StoreError> {
        if identities.is_empty() || !self.has_entries(feed)? {
            return Ok(HashSet::new());
        }
        let keys = serde_json::to_string(
            &identities
                .iter()
                .map(|identity| identity.key.as_str())
                .collect::<Vec<_>>(),
        )?;
        let mut statement = self.conn.prepare_cached(
            "SELECT key, raw_hash FROM entries
             WHERE feed = ?1 AND key IN (SELECT value FROM json_each(?2))",
        )?;
        let mut stored = std::collections::HashMap::new();
        let mut rows = statement.query(params![feed, keys])?;
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            let raw_hash: Option<String> = row.get(1)?;
            if let Some(raw_hash) = raw_hash {
                stored.insert(key, raw_hash);
            }
        }
        Ok(identities
            .iter()
            .filter(|identity| stored.get(&identity.key) == Some(&identity.raw_hash))
            .map(|identity| identity.key.clone())
            .collect())
    }
}

/// An article with what the claim stores of it (its content digest and its JSON),
/// computed before the database is locked: inside the claim's transaction they were a
/// fifth of the time the pipeline's other threads waited for the database.
#[derive(Debug)]
pub struct EncodedArticle<'a> {
    article: &'a Article,
    content_hash: String,
    json: String,
    /// Its preferred path, looked for on disk before the store was locked.
    path: Option<PathProbe>,
}

impl<'a> EncodedArticle<'a> {
    /// `article`'s digest and JSON.
    pub fn new(article: &'a Article) -> Result<EncodedArticle<'a>, StoreError> {
        Ok(EncodedArticle {
            article,
            content_hash: article.content_hash(),
            json: serde_json::to_string(article)?,
            path: None,
        })
    }

    /// The articles of one claim at `now`, each [`EncodedArticle::new`] with its preferred
    /// path under `paths` looked for on disk (each folder once for the whole batch, see
    /// [`ArticlePaths::probe_in`]): the path and the probe are work the claim then does
    /// not do while it holds the store.
    pub fn probed_all(
        articles: &'a [Article],
        paths: &ArticlePaths<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<EncodedArticle<'a>>, StoreError> {
        let mut folders = FolderLookups::default();
        articles
            .iter()
            .map(|article| EncodedArticle::probed(article, paths, now, &mut folders))
            .collect()
    }

    fn probed(
        article: &'a Article,
        paths: &ArticlePaths<'_>,
        now: DateTime<Utc>,
        folders: &mut FolderLookups,
    ) -> Result<EncodedArticle<'a>, StoreError> {
        let probe = paths.probe_in(
            &article.title,
            &article.short_id(),
            article.date(now),
            folders,
        );
        Ok(EncodedArticle {
            path: Some(probe),
            ..EncodedArticle::new(article)?
        })
    }
}

/// What a claim decided, and what it made pending.
#[derive(Debug)]
pub struct Claimed {
    /// What the claim decided.
    pub report: ClaimReport,
    /// The entries the claim made pending, when they are all the feed's pending entries
    /// and the claim inserted each of them (else `None`: read them with
    /// [`Store::pending`]).
    pub to_write: Option<Vec<StoredEntry>>,
}

/// What the claim decided for one article.
enum Decision {
    New,
    Updated,
    Unchanged,
    Duplicate,
    Filtered,
    Seen,
}

/// A known entry as stored.
struct Known {
    id: i64,
    content_hash: String,
    state: String,
}

/// The statements of one feed's claim, prepared once per transaction.
struct Claim<'tx> {
    feed: &'tx str,
    options: ClaimOptions,
    now: DateTime<Utc>,
    find: rusqlite::CachedStatement<'tx>,
    /// An entry first stored under its bare guid, now disambiguated by its link.
    find_by_guid: rusqlite::CachedStatement<'tx>,
    known_duplicate: rusqlite::CachedStatement<'tx>,
    written_elsewhere: rusqlite::CachedStatement<'tx>,
    insert_duplicate: rusqlite::CachedStatement<'tx>,
    path_used: rusqlite::CachedStatement<'tx>,
    insert: rusqlite::CachedStatement<'tx>,
    insert_article: rusqlite::CachedStatement<'tx>,
    update: rusqlite::CachedStatement<'tx>,
    refresh_raw: rusqlite::CachedStatement<'tx>,
    rekey: rusqlite::CachedStatement<'tx>,
    /// The entries inserted as pending, as [`Store::pending`] reads them; `None` once an
    /// entry became pending another way (an edit), whose row the claim did not build.
    inserted: Option<Vec<StoredEntry>>,
}

impl<'tx> Claim<'tx> {
    fn prepare(
        tx: &'tx rusqlite::Transaction<'_>,
        feed: &'tx str,
        options: ClaimOptions,
        now: DateTime<Utc>,
    ) -> Result<Claim<'tx>, StoreError> {
        Ok(Claim {
            feed,
            options,
            now,
            find: tx.prepare_cached(
                "SELECT id, content_hash, state FROM entries WHERE feed = ?1 AND key = ?2",
            )?,
            find_by_guid: tx.prepare_cached(
                "SELECT id, content_hash, state FROM entries WHERE feed = ?1 AND key = ?2 AND canonical_link IS ?3",
            )?,
            known_duplicate: tx
                .prepare_cached("SELECT 1 FROM duplicates WHERE feed = ?1 AND key = ?2")?,
            written_elsewhere: tx.prepare_cached(
                "SELECT feed FROM entries WHERE canonical_link = ?1 AND feed != ?2 AND state IN ('pending', 'written') LIMIT 1",
            )?,
            insert_duplicate: tx.prepare_cached(
                "INSERT OR IGNORE INTO duplicates (feed, key, canonical_link, written_by, first_seen) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
            path_used: tx.prepare_cached("SELECT 1 FROM entries WHERE path = ?1")?,
            insert: tx.prepare_cached(
                "INSERT INTO entries (feed, key, canonical_link, path, content_hash, date, first_seen, state, raw_hash, held_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?,
            insert_article: tx.prepare_cached(super::PUT_ARTICLE)?,
            update: tx.prepare_cached(
                "UPDATE entries SET content_hash = ?2, state = ?3, raw_hash = ?4, held_by = ?5 WHERE id = ?1",
            )?,
            refresh_raw: tx.prepare_cached("UPDATE entries SET raw_hash = ?2 WHERE id = ?1")?,
            rekey: tx.prepare_cached("UPDATE entries SET key = ?2 WHERE id = ?1")?,
            inserted: Some(Vec::new()),
        })
    }

    fn decide(
        &mut self,
        encoded: &EncodedArticle<'_>,
        admission: &Admission,
        paths: &ArticlePaths<'_>,
    ) -> Result<Decision, StoreError> {
        let (article, hash) = (encoded.article, encoded.content_hash.as_str());
        match self.known(article, hash)? {
            Some(known) if known.content_hash == hash => {
                // Same content from changed raw text: remember the raw text so it is not
                // converted again next time.
                self.refresh_raw
                    .execute(params![known.id, article.raw_hash])?;
                Ok(Decision::Unchanged)
            }
            Some(known) => self.edited(&known, encoded, admission),
            None if self
                .known_duplicate
                .exists(params![self.feed, article.key])? =>
            {
                Ok(Decision::Unchanged)
            }
            None if matches!(admission, Admission::Write)
                && self.record_if_written_elsewhere(article)? =>
            {
                Ok(Decision::Duplicate)
            }
            None => {
                self.insert_new(encoded, admission, paths)?;
                Ok(match admission {
                    Admission::Write => Decision::New,
                    Admission::Filtered(_) => Decision::Filtered,
                    Admission::Seen => Decision::Seen,
                })
            }
        }
    }

    /// A known entry whose content changed. A written (or pending) one is rewritten when
    /// `on_update` says so; a filtered one stays held unless the rules now let it through
    /// (then it is new to the reader); one recorded as seen stays unwritten.
    fn edited(
        &mut self,
        known: &Known,
        encoded: &EncodedArticle<'_>,
        admission: &Admission,
    ) -> Result<Decision, StoreError> {
        let (article, hash) = (encoded.article, encoded.content_hash.as_str());
        let (state, held_by, decision) = match known.state.as_str() {
            "filtered" => match admission {
                Admission::Filtered(reason) => {
                    ("filtered", Some(reason.as_str()), Decision::Filtered)
                }
                _ => ("pending", None, Decision::New),
            },
            "seen" => ("seen", None, Decision::Unchanged),
            _ if !self.options.rewrite_updates => {
                self.refresh_raw
                    .execute(params![known.id, article.raw_hash])?;
                return Ok(Decision::Unchanged);
            }
            _ => ("pending", None, Decision::Updated),
        };
        if state == "pending" {
            self.inserted = None;
        }
        self.update
            .execute(params![known.id, hash, state, article.raw_hash, held_by])?;
        self.insert_article
            .execute(params![known.id, encoded.json, encoded.article.body])?;
        Ok(decision)
    }

    /// The stored id and content digest of the article's entry, if it is known: by its
    /// key, else (an entry first stored under its bare guid) by guid and link, else (an
    /// entry stored under its title-and-date key) by that key and the same content, in
    /// which case the row takes the new key.
    fn known(&mut self, article: &Article, hash: &str) -> Result<Option<Known>, StoreError> {
        let row = |r: &rusqlite::Row<'_>| {
            Ok(Known {
                id: r.get(0)?,
                content_hash: r.get(1)?,
                state: r.get(2)?,
            })
        };
        if let Some(known) = self
            .find
            .query_row(params![self.feed, article.key], row)
            .optional()?
        {
            return Ok(Some(known));
        }
        if let Some(bare_guid) = article.guid.as_deref().filter(|g| *g != article.key) {
            return Ok(self
                .find_by_guid
                .query_row(params![self.feed, bare_guid, article.canonical_link], row)
                .optional()?);
        }
        // A story `tidings reindex` found on disk, by its link.
        if let Some(link) = article.canonical_link.as_deref() {
            let found_key = format!("{REINDEXED}{link}");
            if let Some(known) = self
                .find
                .query_row(params![self.feed, found_key], row)
                .optional()?
            {
                self.rekey.execute(params![known.id, article.key])?;
                return Ok(Some(known));
            }
        }
        let Some(legacy) = article.legacy_key.as_deref() else {
            return Ok(None);
        };
        match self
            .find
            .query_row(params![self.feed, legacy], row)
            .optional()?
        {
            Some(known) if known.content_hash == hash => {
                self.rekey.execute(params![known.id, article.key])?;
                Ok(Some(known))
            }
            _ => Ok(None),
        }
    }

    /// With cross-feed dedup, records a new article whose story another feed already has
    /// as a duplicate; true when it did.
    fn record_if_written_elsewhere(&mut self, article: &Article) -> Result<bool, StoreError> {
        let Some(link) = article
            .canonical_link
            .as_deref()
            .filter(|_| self.options.cross_feed_dedup)
        else {
            return Ok(false);
        };
        let other: Option<String> = self
            .written_elsewhere
            .query_row(params![link, self.feed], |r| r.get(0))
            .optional()?;
        let Some(other) = other else {
            return Ok(false);
        };
        self.insert_duplicate.execute(params![
            self.feed,
            article.key,
            link,
            other,
            timestamp(self.now)
        ])?;
        Ok(true)
    }

    fn insert_new(
        &mut self,
        encoded: &EncodedArticle<'_>,
        admission: &Admission,
        paths: &ArticlePaths<'_>,
    ) -> Result<(), StoreError> {
        let (article, hash) = (encoded.article, encoded.content_hash.as_str());
        let (state, held_by) = admission.state();
        let date = article.date(self.now);
        let path_used = &mut self.path_used;
        let feed = self.feed;
        let taken = |candidate: &Path| path_used.exists([path_text(candidate)]);
        let is_this_article = |text: &str| crate::render::is_rendering_of(text, feed, article);
        let path = match &encoded.path {
            Some(probe) if probe.is_for(date) => {
                paths.choose_after(probe, taken, is_this_article)?
            }
            _ => paths.choose(
                &article.title,
                &article.short_id(),
                date,
                taken,
                is_this_article,
            )?,
        };
        let stored_path = path_text(&path);
        let id = self.insert.insert(params![
            self.feed,
            article.key,
            article.canonical_link,
            stored_path,
            hash,
            timestamp(date),
            timestamp(self.now),
            state,
            article.raw_hash,
            held_by,
        ])?;
        self.insert_article
            .execute(params![id, encoded.json, encoded.article.body])?;
        if let (Admission::Write, Some(inserted)) = (admission, self.inserted.as_mut()) {
            // The times as stored: read back, they have whole seconds.
            inserted.push(StoredEntry {
                id,
                feed: self.feed.to_string(),
                path: std::path::PathBuf::from(stored_path),
                date: parse_timestamp(&timestamp(date)),
                article: article.clone(),
                written_before: false,
                first_seen: parse_timestamp(&timestamp(self.now)),
            });
        }
        Ok(())
    }
}
