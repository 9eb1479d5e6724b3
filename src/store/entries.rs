//! Entries after their claim: waiting for their files (`pending`), written, read back for
//! re-rendering, and forgotten by `prune`.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{Store, StoreError, parse_timestamp, timestamp};
use crate::article::Article;

/// Whether the feed `?1` has pending entries.
pub(super) const FEED_HAS_PENDING: &str =
    "SELECT EXISTS (SELECT 1 FROM entries WHERE feed = ?1 AND state = 'pending')";

/// A claimed entry as stored: where its file goes and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// The row's id.
    pub id: i64,
    /// The feed it belongs to.
    pub feed: String,
    /// Its file, relative to the output folder.
    pub path: PathBuf,
    /// The date it is written with.
    pub date: DateTime<Utc>,
    /// What it says, as normalised.
    pub article: Article,
    /// Its file was written before (a pending edit rewrites it).
    pub written_before: bool,
    /// When it was first seen.
    pub first_seen: DateTime<Utc>,
}

impl Store {
    /// Feeds that have entries waiting for their files.
    pub fn feeds_with_pending(&self) -> Result<Vec<String>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT DISTINCT feed FROM entries WHERE state = 'pending' ORDER BY feed",
        )?;
        let rows = statement.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every written entry of `feed` (all feeds when `None`), for re-rendering.
    pub fn written(&self, feed: Option<&str>) -> Result<Vec<StoredEntry>, StoreError> {
        self.entries_in_state(InState::Written, feed)
    }

    /// Where the pending entries' files go (only the paths: start-up looks there for a
    /// killed write's temporary files).
    pub fn pending_paths(&self) -> Result<Vec<PathBuf>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT path FROM entries WHERE state = 'pending'")?;
        let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
        rows.map(|row| Ok(PathBuf::from(row?))).collect()
    }

    /// Entries of `feed` a filter holds back.
    pub fn filtered(&self, feed: &str) -> Result<Vec<StoredEntry>, StoreError> {
        self.entries_in_state(InState::Filtered, Some(feed))
    }

    /// Makes held entries pending: the rules now let them through.
    pub fn release_filtered(&mut self, ids: &[i64]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut statement = tx.prepare_cached(
                "UPDATE entries SET state = 'pending', held_by = NULL WHERE id = ?1 AND state = 'filtered'",
            )?;
            for id in ids {
                statement.execute([id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Forgets entries first seen before `cutoff` (and duplicate records as old): their
    /// stories will be written again if a feed still carries them. Pending entries are
    /// kept. Returns how many were forgotten.
    pub fn prune(&mut self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let cutoff = timestamp(cutoff);
        let entries = tx.execute(
            "DELETE FROM entries WHERE state IN ('written', 'filtered', 'seen') AND first_seen <= ?1",
            [&cutoff],
        )?;
        let duplicates = tx.execute("DELETE FROM duplicates WHERE first_seen <= ?1", [&cutoff])?;
        if entries > 0 {
            // A forgotten entry the feed still carries must be read again, not left out
            // as known.
            tx.execute("UPDATE feeds SET entry_prints = NULL", [])?;
        }
        tx.commit()?;
        Ok(entries + duplicates)
    }

    /// Entries whose files are not known to be written, oldest first; only `feed`'s when
    /// given.
    pub fn pending(&self, feed: Option<&str>) -> Result<Vec<StoredEntry>, StoreError> {
        self.entries_in_state(InState::Pending, feed)
    }

    fn entries_in_state(
        &self,
        state: InState,
        feed: Option<&str>,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let mut statement = self.conn.prepare_cached(state.query(feed.is_some()))?;
        let rows = statement.query_map(rusqlite::params_from_iter(feed), |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, bool>(5)?,
                row.get::<_, String>(6)?,
                row.get::<_, Option<String>>(7)?,
            ))
        })?;
        let mut entries = Vec::new();
        for row in rows {
            let (id, feed, path, date, article, written_before, first_seen, body) = row?;
            // An entry whose article is missing is an error, never an entry skipped.
            let mut article: Article = serde_json::from_str(article.as_deref().unwrap_or("null"))?;
            if let Some(body) = body {
                article.body = body;
            }
            entries.push(StoredEntry {
                id,
                feed,
                path: PathBuf::from(path),
                date: parse_timestamp(&date),
                article,
                written_before,
                first_seen: parse_timestamp(&first_seen),
            });
        }
        Ok(entries)
    }

    /// Marks entries written, in one transaction; the leases in `release` (of the feeds
    /// they belong to) are given back in it.
    pub fn mark_written(
        &mut self,
        ids: &[i64],
        now: DateTime<Utc>,
        release: &[super::HeldLease<'_>],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            // One statement per run of consecutive ids: the rows one claim inserted have
            // consecutive ids, so a feed's batch is one range instead of a statement each
            // (every id of a run is in `ids`, so the range holds no other row).
            let mut statement = tx.prepare_cached(
                "UPDATE entries SET state = 'written', written_at = ?3 WHERE id BETWEEN ?1 AND ?2",
            )?;
            let now = timestamp(now);
            for run in consecutive_runs(ids) {
                statement.execute(params![run.start(), run.end(), now])?;
            }
        }
        for lease in release {
            super::lease::release(&tx, lease.feed, lease.holder)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Whether some entry's file is at `path`.
    pub fn path_known(&self, path: &std::path::Path) -> Result<bool, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT 1 FROM entries WHERE path = ?1")?;
        Ok(statement.exists([super::path_text(path)])?)
    }

    /// Records an article found on disk as written (`tidings reindex`), under a key that
    /// the next claim of the same story (same feed, same link) takes over.
    pub fn record_found(
        &mut self,
        feed: &str,
        feed_url: &str,
        path: &std::path::Path,
        article: &Article,
        date: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO feeds (name, url) VALUES (?1, ?2)",
            params![feed, feed_url],
        )?;
        let tx = self.conn.transaction()?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO entries (feed, key, canonical_link, path, content_hash, date, first_seen, state, written_at, raw_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'written', ?7, '')",
            params![
                feed,
                article.key,
                article.canonical_link,
                super::path_text(path),
                article.content_hash(),
                timestamp(date),
                timestamp(now),
            ],
        )?;
        if inserted > 0 {
            tx.execute(
                super::PUT_ARTICLE,
                params![
                    tx.last_insert_rowid(),
                    serde_json::to_string(article)?,
                    article.body
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Replaces a claimed entry's article (its full text) without touching its content
    /// digest, which stays the feed's: an unchanged entry is not fetched again.
    pub fn replace_article(&self, id: i64, article: &Article) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE articles SET article = ?2, body = ?3 WHERE id = ?1",
            params![id, serde_json::to_string(article)?, article.body],
        )?;
        Ok(())
    }

    /// Whether anything of `feed` was ever claimed (its first fetch has none).
    pub fn has_entries(&self, feed: &str) -> Result<bool, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT 1 FROM entries WHERE feed = ?1 LIMIT 1")?;
        Ok(statement.exists([feed])?)
    }

    /// How many articles wait for their files.
    pub fn pending_count(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM entries WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?)
    }
}

/// The states [`Store::entries_in_state`] lists, each with its own statement: the state is
/// written into the text because SQLite prepared the statement again at every run when
/// it was a bound value (the partial index of pending entries fits only a known value).
#[derive(Debug, Clone, Copy)]
pub(super) enum InState {
    Pending,
    Written,
    Filtered,
}

impl InState {
    /// The statement listing the entries in this state, of one feed (`?1`) when
    /// `of_one_feed`. Two statements rather than `(?1 IS NULL OR feed = ?1)`, which SQLite
    /// cannot answer from the (feed) index of pending entries.
    pub(super) fn query(self, of_one_feed: bool) -> &'static str {
        macro_rules! in_state {
            ($state:literal, $feed:literal) => {
                concat!(
                    "SELECT e.id, e.feed, e.path, e.date, a.article, e.written_at IS NOT NULL, e.first_seen, a.body
                     FROM entries e LEFT JOIN articles a ON a.id = e.id
                     WHERE e.state = '",
                    $state,
                    "'",
                    $feed,
                    " ORDER BY e.id"
                )
            };
        }
        match (self, of_one_feed) {
            (InState::Pending, true) => in_state!("pending", " AND e.feed = ?1"),
            (InState::Pending, false) => in_state!("pending", ""),
            (InState::Written, true) => in_state!("written", " AND e.feed = ?1"),
            (InState::Written, false) => in_state!("written", ""),
            (InState::Filtered, true) => in_state!("filtered", " AND e.feed = ?1"),
            (InState::Filtered, false) => in_state!("filtered", ""),
        }
    }
}

/// `ids` as runs of consecutive ids, in the order given (`[4, 5, 6, 9, 10]` is `4..=6`
/// and `9..=10`).
fn consecutive_runs(ids: &[i64]) -> Vec<std::ops::RangeInclusive<i64>> {
    let mut runs: Vec<std::ops::RangeInclusive<i64>> = Vec::new();
    for &id in ids {
        match runs.last_mut() {
            Some(run) if run.end().checked_add(1) == Some(id) => *run = *run.start()..=id,
            _ => runs.push(id..=id),
        }
    }
    runs
}
