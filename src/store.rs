//! SQLite: feed state and the record of every entry ever seen.
//!
//! An entry is claimed (inserted as `pending` with its final path) in one transaction
//! before its file is written, and marked `written` after. Pending rows are written again
//! by the next run, so a crash at any moment ends with every article written once, at one
//! path. UNIQUE constraints on `(feed, key)` and `path` settle races between processes.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::article::Article;
use crate::fetch::Validators;

/// Schema steps; `PRAGMA user_version` counts how many have run.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE feeds (
    name          TEXT PRIMARY KEY,
    url           TEXT NOT NULL,
    etag          TEXT,
    last_modified TEXT,
    body_hash     TEXT,
    last_fetch_at TEXT,
    last_result   TEXT,
    last_error    TEXT,
    error_count   INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE entries (
    id             INTEGER PRIMARY KEY,
    feed           TEXT NOT NULL,
    key            TEXT NOT NULL,
    canonical_link TEXT,
    path           TEXT NOT NULL UNIQUE,
    content_hash   TEXT NOT NULL,
    article        TEXT NOT NULL,
    date           TEXT NOT NULL,
    first_seen     TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'written')),
    written_at     TEXT,
    UNIQUE (feed, key)
) STRICT;
CREATE INDEX entries_pending ON entries (state) WHERE state = 'pending';
CREATE INDEX entries_canonical ON entries (canonical_link);
",
    // The daemon's plan survives restarts.
    "ALTER TABLE feeds ADD COLUMN next_due TEXT;",
    // Permanent redirects, 410 Gone and the servers' own timing.
    "ALTER TABLE feeds ADD COLUMN effective_url TEXT;
     ALTER TABLE feeds ADD COLUMN gone INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE feeds ADD COLUMN not_before TEXT;",
    // Stories already written by another feed, and which process is fetching a feed.
    "CREATE TABLE duplicates (
         feed           TEXT NOT NULL,
         key            TEXT NOT NULL,
         canonical_link TEXT NOT NULL,
         written_by     TEXT NOT NULL,
         first_seen     TEXT NOT NULL,
         PRIMARY KEY (feed, key)
     ) STRICT;
     ALTER TABLE feeds ADD COLUMN lease_holder TEXT;
     ALTER TABLE feeds ADD COLUMN lease_until TEXT;",
    // The digest of an entry as the feed wrote it: when it has not changed, the entry is
    // not converted again.
    "ALTER TABLE entries ADD COLUMN raw_hash TEXT;",
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "database {path} has schema version {found}, newer than this tidings knows ({known}); upgrade tidings"
    )]
    TooNew {
        path: PathBuf,
        found: usize,
        known: usize,
    },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("stored article is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// A feed's stored state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedState {
    pub validators: Validators,
    pub body_hash: Option<String>,
    pub error_count: u32,
    /// Where the feed now lives, after permanent redirects or autodiscovery.
    pub effective_url: Option<String>,
    /// The server answered 410 Gone: not fetched again until the configured URL changes.
    pub gone: bool,
    /// The server asked not to be fetched before this (cache hints, ttl, Retry-After).
    pub not_before: Option<DateTime<Utc>>,
}

/// How one fetch ended, for the feed's record.
#[derive(Debug, Clone)]
pub enum FetchRecord {
    NotModified {
        moved_to: Option<String>,
        not_before: Option<DateTime<Utc>>,
    },
    Fetched {
        validators: Validators,
        body_hash: String,
        moved_to: Option<String>,
        not_before: Option<DateTime<Utc>>,
    },
    Failed {
        error: String,
        gone: bool,
        not_before: Option<DateTime<Utc>>,
    },
}

/// One feed's stored state, as `tidings status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FeedStatus {
    pub name: String,
    pub url: String,
    pub last_fetch_at: Option<String>,
    pub last_result: Option<String>,
    pub last_error: Option<String>,
    pub error_count: u32,
    pub next_due: Option<String>,
    /// Where the feed moved (301/308 or autodiscovery), when it did.
    pub moved_to: Option<String>,
    pub written: i64,
    pub pending: i64,
}

/// An entry waiting for its file.
#[derive(Debug, Clone)]
pub struct PendingEntry {
    pub id: i64,
    pub feed: String,
    pub path: PathBuf,
    pub date: DateTime<Utc>,
    pub article: Article,
}

/// What claiming a batch of articles decided.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClaimReport {
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// New here, but the same story was already written by another feed.
    pub duplicates: usize,
}

/// How a feed's articles are claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimOptions {
    /// Rewrite a known entry whose content changed (else leave it).
    pub rewrite_updates: bool,
    /// Skip a new entry whose canonical link another feed already has.
    pub cross_feed_dedup: bool,
}

pub struct Store {
    conn: Connection,
}

fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_timestamp(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).map_or(DateTime::UNIX_EPOCH, |t| t.with_timezone(&Utc))
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Folder {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        // Another process (the daemon and a hand-run fetch) may hold the write lock for a
        // moment; wait for it rather than fail.
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        let mut store = Store { conn };
        store.migrate(path)?;
        Ok(store)
    }

    fn migrate(&mut self, path: &Path) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        if version > MIGRATIONS.len() {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version) {
            tx.execute_batch(migration)?;
            tx.pragma_update(
                None,
                "user_version",
                i64::try_from(index + 1).unwrap_or(i64::MAX),
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The stored state of a feed. A feed whose configured URL changed starts afresh: the
    /// old validators belong to another document.
    pub fn feed_state(&self, name: &str, url: &str) -> Result<FeedState, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT url, etag, last_modified, body_hash, error_count, effective_url, gone, not_before
                 FROM feeds WHERE name = ?1",
                [name],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        FeedState {
                            validators: Validators {
                                etag: row.get(1)?,
                                last_modified: row.get(2)?,
                            },
                            body_hash: row.get(3)?,
                            error_count: row.get(4)?,
                            effective_url: row.get(5)?,
                            gone: row.get(6)?,
                            not_before: row.get::<_, Option<String>>(7)?.as_deref().map(parse_timestamp),
                        },
                    ))
                },
            )
            .optional()?;
        Ok(match row {
            Some((stored_url, state)) if stored_url == url => state,
            Some((_, state)) => FeedState {
                error_count: state.error_count,
                ..FeedState::default()
            },
            None => FeedState::default(),
        })
    }

    /// Records how a fetch of `name` ended.
    pub fn record_fetch(
        &self,
        name: &str,
        url: &str,
        record: &FetchRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = timestamp(now);
        self.conn.execute(
            "INSERT INTO feeds (name, url) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET url = excluded.url,
                 etag = CASE WHEN feeds.url = excluded.url THEN feeds.etag END,
                 last_modified = CASE WHEN feeds.url = excluded.url THEN feeds.last_modified END,
                 body_hash = CASE WHEN feeds.url = excluded.url THEN feeds.body_hash END,
                 effective_url = CASE WHEN feeds.url = excluded.url THEN feeds.effective_url END,
                 gone = CASE WHEN feeds.url = excluded.url THEN feeds.gone ELSE 0 END,
                 not_before = CASE WHEN feeds.url = excluded.url THEN feeds.not_before END",
            params![name, url],
        )?;
        match record {
            FetchRecord::NotModified {
                moved_to,
                not_before,
            } => {
                self.conn.execute(
                    "UPDATE feeds SET last_fetch_at = ?2, last_result = 'not-modified', last_error = NULL, error_count = 0,
                         effective_url = COALESCE(?3, effective_url), not_before = ?4 WHERE name = ?1",
                    params![name, now, moved_to, not_before.map(timestamp)],
                )?;
            }
            FetchRecord::Fetched {
                validators,
                body_hash,
                moved_to,
                not_before,
            } => {
                self.conn.execute(
                    "UPDATE feeds SET last_fetch_at = ?2, last_result = 'ok', last_error = NULL, error_count = 0,
                         etag = ?3, last_modified = ?4, body_hash = ?5,
                         effective_url = COALESCE(?6, effective_url), not_before = ?7 WHERE name = ?1",
                    params![
                        name,
                        now,
                        validators.etag,
                        validators.last_modified,
                        body_hash,
                        moved_to,
                        not_before.map(timestamp)
                    ],
                )?;
            }
            FetchRecord::Failed {
                error,
                gone,
                not_before,
            } => {
                self.conn.execute(
                    "UPDATE feeds SET last_fetch_at = ?2, last_result = ?5, last_error = ?3,
                         error_count = error_count + 1, gone = ?4, not_before = ?6 WHERE name = ?1",
                    params![
                        name,
                        now,
                        error,
                        gone,
                        if *gone { "gone" } else { "error" },
                        not_before.map(timestamp)
                    ],
                )?;
            }
        }
        Ok(())
    }

    /// Claims a feed's articles in one transaction: unknown keys are inserted as pending at
    /// a free path, known keys whose content changed go back to pending at their old path,
    /// the rest are left alone. `path_for` gives an article's preferred relative path for
    /// its date; `taken_on_disk` says whether a path is already used by a file tidings does
    /// not know about.
    pub fn claim(
        &mut self,
        feed: &str,
        articles: &[Article],
        options: ClaimOptions,
        now: DateTime<Utc>,
        path_for: &dyn Fn(&Article, DateTime<Utc>) -> PathBuf,
        taken_on_disk: &dyn Fn(&Path) -> bool,
    ) -> Result<ClaimReport, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut report = ClaimReport::default();
        let mut seen_keys = HashSet::new();
        {
            let mut find = tx.prepare_cached(
                "SELECT id, content_hash FROM entries WHERE feed = ?1 AND key = ?2",
            )?;
            // An entry first stored under its bare guid, now disambiguated by its link.
            let mut find_by_guid = tx.prepare_cached(
                "SELECT id, content_hash FROM entries WHERE feed = ?1 AND key = ?2 AND canonical_link IS ?3",
            )?;
            let mut known_duplicate =
                tx.prepare_cached("SELECT 1 FROM duplicates WHERE feed = ?1 AND key = ?2")?;
            let mut written_elsewhere = tx.prepare_cached(
                "SELECT feed FROM entries WHERE canonical_link = ?1 AND feed != ?2 LIMIT 1",
            )?;
            let mut insert_duplicate = tx.prepare_cached(
                "INSERT OR IGNORE INTO duplicates (feed, key, canonical_link, written_by, first_seen) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut path_used = tx.prepare_cached("SELECT 1 FROM entries WHERE path = ?1")?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO entries (feed, key, canonical_link, path, content_hash, article, date, first_seen, state, raw_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9)",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE entries SET content_hash = ?2, article = ?3, state = 'pending', raw_hash = ?4 WHERE id = ?1",
            )?;
            let mut refresh_raw =
                tx.prepare_cached("UPDATE entries SET raw_hash = ?2 WHERE id = ?1")?;
            for article in articles {
                // A document that lists one entry twice describes one entry.
                if !seen_keys.insert(article.key.as_str()) {
                    continue;
                }
                let hash = article.content_hash();
                let row = |r: &rusqlite::Row<'_>| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?));
                let mut known: Option<(i64, String)> =
                    find.query_row(params![feed, article.key], row).optional()?;
                let bare_guid = article.guid.as_deref().filter(|g| *g != article.key);
                if let (None, Some(guid)) = (&known, bare_guid) {
                    known = find_by_guid
                        .query_row(params![feed, guid, article.canonical_link], row)
                        .optional()?;
                }
                match known {
                    Some((id, stored_hash)) if stored_hash == hash || !options.rewrite_updates => {
                        // Same content from changed raw text (or an edit to ignore): remember
                        // the raw text so it is not converted again next time.
                        refresh_raw.execute(params![id, article.raw_hash])?;
                        report.unchanged += 1;
                    }
                    Some((id, _)) => {
                        update.execute(params![
                            id,
                            hash,
                            serde_json::to_string(article)?,
                            article.raw_hash
                        ])?;
                        report.updated += 1;
                    }
                    None if known_duplicate.exists(params![feed, article.key])? => {
                        report.unchanged += 1
                    }
                    None => {
                        if let Some(link) = article
                            .canonical_link
                            .as_deref()
                            .filter(|_| options.cross_feed_dedup)
                        {
                            let other: Option<String> = written_elsewhere
                                .query_row(params![link, feed], |r| r.get(0))
                                .optional()?;
                            if let Some(other) = other {
                                insert_duplicate.execute(params![
                                    feed,
                                    article.key,
                                    link,
                                    other,
                                    timestamp(now)
                                ])?;
                                report.duplicates += 1;
                                continue;
                            }
                        }
                        // Nothing is published after it was first seen: a date in the future
                        // (a wrong clock or zone) would hide the article from Hugo.
                        let date = article.published.map_or(now, |p| p.min(now));
                        let preferred = path_for(article, date);
                        let mut path = preferred.clone();
                        let mut attempt = 1;
                        while path_used.exists([path_text(&path)])? || taken_on_disk(&path) {
                            attempt += 1;
                            path = crate::output::with_collision_suffix(&preferred, attempt);
                        }
                        insert.execute(params![
                            feed,
                            article.key,
                            article.canonical_link,
                            path_text(&path),
                            hash,
                            serde_json::to_string(article)?,
                            timestamp(date),
                            timestamp(now),
                            article.raw_hash,
                        ])?;
                        report.new += 1;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(report)
    }

    /// The keys of `feed` whose stored raw digest equals the given one: entries the feed
    /// repeats unchanged, which need no conversion at all.
    pub fn unchanged_keys(
        &self,
        feed: &str,
        identities: &[crate::article::Identity],
    ) -> Result<HashSet<String>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT raw_hash FROM entries WHERE feed = ?1 AND key = ?2")?;
        let mut unchanged = HashSet::new();
        for identity in identities {
            let stored: Option<Option<String>> = statement
                .query_row(params![feed, identity.key], |r| r.get(0))
                .optional()?;
            if stored.flatten().as_deref() == Some(identity.raw_hash.as_str()) {
                unchanged.insert(identity.key.clone());
            }
        }
        Ok(unchanged)
    }

    /// Takes the right to fetch `feed` for `ttl`, unless another live process holds it.
    /// `holder` names this process (`pid@host`); a lease of a process that is gone from
    /// this host is free at once, so a crash never blocks a feed for long.
    pub fn try_lease(
        &mut self,
        feed: &str,
        url: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<(Option<String>, Option<String>)> = tx
            .query_row(
                "SELECT lease_holder, lease_until FROM feeds WHERE name = ?1",
                [feed],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let free = match &current {
            None | Some((None, _)) => true,
            Some((Some(other), until)) => {
                other == holder
                    || until.as_deref().is_none_or(|u| parse_timestamp(u) <= now)
                    || !lease_holder_alive(other)
            }
        };
        if free {
            let until = now
                + chrono::Duration::from_std(ttl).unwrap_or_else(|_| chrono::Duration::minutes(10));
            tx.execute(
                "INSERT INTO feeds (name, url, lease_holder, lease_until) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET lease_holder = excluded.lease_holder, lease_until = excluded.lease_until",
                params![feed, url, holder, timestamp(until)],
            )?;
        }
        tx.commit()?;
        Ok(free)
    }

    /// Gives the lease back (only if `holder` still has it).
    pub fn release_lease(&self, feed: &str, holder: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE feeds SET lease_holder = NULL, lease_until = NULL WHERE name = ?1 AND lease_holder = ?2",
            params![feed, holder],
        )?;
        Ok(())
    }

    /// Feeds that have entries waiting for their files.
    pub fn feeds_with_pending(&self) -> Result<Vec<String>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT DISTINCT feed FROM entries WHERE state = 'pending' ORDER BY feed",
        )?;
        let rows = statement.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every written entry of `feed` (all feeds when `None`), for re-rendering.
    pub fn written(&self, feed: Option<&str>) -> Result<Vec<PendingEntry>, StoreError> {
        self.entries_in_state("written", feed)
    }

    /// Forgets entries first seen before `cutoff` (and duplicate records as old): their
    /// stories will be written again if a feed still carries them. Pending entries are
    /// kept. Returns how many were forgotten.
    pub fn prune(&mut self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let cutoff = timestamp(cutoff);
        let entries = tx.execute(
            "DELETE FROM entries WHERE state = 'written' AND first_seen <= ?1",
            [&cutoff],
        )?;
        let duplicates = tx.execute("DELETE FROM duplicates WHERE first_seen <= ?1", [&cutoff])?;
        tx.commit()?;
        Ok(entries + duplicates)
    }

    /// Runs SQLite's own consistency check; "ok" when the file is sound.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// Entries whose files are not known to be written, oldest first; only `feed`'s when
    /// given.
    pub fn pending(&self, feed: Option<&str>) -> Result<Vec<PendingEntry>, StoreError> {
        self.entries_in_state("pending", feed)
    }

    fn entries_in_state(
        &self,
        state: &str,
        feed: Option<&str>,
    ) -> Result<Vec<PendingEntry>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT id, feed, path, date, article FROM entries
             WHERE state = ?1 AND (?2 IS NULL OR feed = ?2) ORDER BY id",
        )?;
        let rows = statement.query_map(params![state, feed], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
            ))
        })?;
        let mut entries = Vec::new();
        for row in rows {
            let (id, feed, path, date, article) = row?;
            entries.push(PendingEntry {
                id,
                feed,
                path: PathBuf::from(path),
                date: parse_timestamp(&date),
                article: serde_json::from_str(&article)?,
            });
        }
        Ok(entries)
    }

    /// Marks entries written, in one transaction.
    pub fn mark_written(&mut self, ids: &[i64], now: DateTime<Utc>) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut statement = tx.prepare_cached(
                "UPDATE entries SET state = 'written', written_at = ?2 WHERE id = ?1",
            )?;
            let now = timestamp(now);
            for id in ids {
                statement.execute(params![id, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// When the daemon planned to fetch `name` next, if it did.
    pub fn next_due(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let due: Option<Option<String>> = self
            .conn
            .query_row(
                "SELECT next_due FROM feeds WHERE name = ?1",
                [name],
                |row| row.get(0),
            )
            .optional()?;
        Ok(due.flatten().as_deref().map(parse_timestamp))
    }

    /// Stores when `name` is next due (after its pass was recorded).
    pub fn set_next_due(&self, name: &str, due: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE feeds SET next_due = ?2 WHERE name = ?1",
            params![name, timestamp(due)],
        )?;
        Ok(())
    }

    /// Every feed the database knows, with its last result and its articles.
    pub fn feed_statuses(&self) -> Result<Vec<FeedStatus>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT f.name, f.url, f.last_fetch_at, f.last_result, f.last_error, f.error_count, f.next_due, f.effective_url,
                    (SELECT COUNT(*) FROM entries e WHERE e.feed = f.name AND e.state = 'written'),
                    (SELECT COUNT(*) FROM entries e WHERE e.feed = f.name AND e.state = 'pending')
             FROM feeds f ORDER BY f.name",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(FeedStatus {
                name: row.get(0)?,
                url: row.get(1)?,
                last_fetch_at: row.get(2)?,
                last_result: row.get(3)?,
                last_error: row.get(4)?,
                error_count: row.get(5)?,
                next_due: row.get(6)?,
                moved_to: row.get(7)?,
                written: row.get(8)?,
                pending: row.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Whether the process named by a lease (`pid@host`) still runs. A lease from another
/// host is trusted until it expires.
fn lease_holder_alive(holder: &str) -> bool {
    let Some((pid, host)) = holder.split_once('@') else {
        return true;
    };
    if host != this_host() {
        return true;
    }
    Path::new("/proc").join(pid).exists() || !Path::new("/proc/self").exists()
}

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

/// This process's name in leases.
pub fn lease_holder_name() -> String {
    format!("{}@{}", std::process::id(), this_host())
}

/// Paths are stored with `/` separators whatever the platform.
fn path_text(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
