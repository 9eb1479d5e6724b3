//! SQLite: feed state and the record of every entry ever seen.
//!
//! # Architecture
//! - this module: opening the database, the schema and its migrations
//!   (`PRAGMA user_version`), errors and the text forms of times and paths.
//! - [`feeds`]: one row per feed: validators, last result, errors, next due time.
//! - [`claim`]: which of a document's entries are new, edited or known, decided in one
//!   transaction, each new one given its final path.
//! - [`entries`]: the entries' life after the claim: pending, written, re-rendered,
//!   pruned.
//! - [`lease`]: which process is fetching a feed right now.
//! - [`images`]: images kept with articles: where each URL's file is, or why it is not.
//!
//! An entry is claimed (inserted as `pending` with its final path) in one transaction
//! before its file is written, and marked `written` after. Pending rows are written again
//! by the next run, so a crash at any moment ends with every article written once, at one
//! path. UNIQUE constraints on `(feed, key)` and `path` settle races between processes.

pub mod claim;
pub mod entries;
pub mod feeds;
pub mod images;
pub mod lease;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, TransactionBehavior};

pub use claim::{Admission, ClaimOptions, ClaimReport, Claimed, EncodedArticle};
pub use entries::StoredEntry;
pub use feeds::{DocumentRecord, FeedIdentity, FeedState, FeedStatus, FetchRecord, HookStatus};
pub use lease::{HeldLease, lease_holder_name};

/// Prepared statements kept compiled per connection (every statement of the store fits).
const STATEMENT_CACHE_CAPACITY: usize = 64;

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
    // Entries kept but not written: `filtered` (a block or keep rule, an age limit; the
    // rule is in `held_by`) and `seen` (`fetch --catchup`, `initial_entries`). SQLite
    // cannot change a CHECK constraint, so the table is rebuilt. Also the feed's own title
    // and site (for `tidings export`), the images kept with articles (`output.images`),
    // and the last run of each hook (for `status`).
    r"
CREATE TABLE entries_next (
    id             INTEGER PRIMARY KEY,
    feed           TEXT NOT NULL,
    key            TEXT NOT NULL,
    canonical_link TEXT,
    path           TEXT NOT NULL UNIQUE,
    content_hash   TEXT NOT NULL,
    article        TEXT NOT NULL,
    date           TEXT NOT NULL,
    first_seen     TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'written', 'filtered', 'seen')),
    written_at     TEXT,
    raw_hash       TEXT,
    held_by        TEXT,
    UNIQUE (feed, key)
) STRICT;
INSERT INTO entries_next (id, feed, key, canonical_link, path, content_hash, article, date, first_seen, state, written_at, raw_hash)
    SELECT id, feed, key, canonical_link, path, content_hash, article, date, first_seen, state, written_at, raw_hash FROM entries;
DROP TABLE entries;
ALTER TABLE entries_next RENAME TO entries;
CREATE INDEX entries_pending ON entries (state) WHERE state = 'pending';
CREATE INDEX entries_canonical ON entries (canonical_link);
ALTER TABLE feeds ADD COLUMN title TEXT;
ALTER TABLE feeds ADD COLUMN site_url TEXT;
CREATE TABLE images (
    url        TEXT PRIMARY KEY,
    feed       TEXT NOT NULL,
    file       TEXT,
    error      TEXT,
    fetched_at TEXT NOT NULL
) STRICT;
CREATE TABLE hooks (
    name        TEXT PRIMARY KEY,
    last_run_at TEXT NOT NULL,
    ok          INTEGER NOT NULL,
    detail      TEXT NOT NULL,
    failures    INTEGER NOT NULL DEFAULT 0
) STRICT;
",
    // What every pass asks of each entry a feed lists (is it known, has it changed, what
    // state is it in), answered from an index alone: in the table these columns come
    // after the article, so reading them meant reading the article's overflow pages.
    "CREATE INDEX entries_lookup ON entries (feed, key, raw_hash, content_hash, state);",
    // Articles in a table of their own: marking an entry written rewrote its row, article
    // and all (two or three pages of the write-ahead log per entry); the small rows of
    // `entries` now share their pages. Deleting an entry deletes its article.
    r"
CREATE TABLE articles (
    id      INTEGER PRIMARY KEY,
    article TEXT NOT NULL
) STRICT;
INSERT INTO articles (id, article) SELECT id, article FROM entries;
ALTER TABLE entries DROP COLUMN article;
CREATE TRIGGER entries_article_gone AFTER DELETE ON entries
BEGIN
    DELETE FROM articles WHERE id = old.id;
END;
",
    // The digests of the entry elements of each feed's last document (what the pipeline
    // calls the known document): entries repeated byte for byte are not parsed again.
    "ALTER TABLE feeds ADD COLUMN entry_prints BLOB;",
    // Since the articles moved out, an entry's row is small and the (feed, key) index
    // finds it in one more page read; the covering index cost a page of the write-ahead
    // log at every insert and every written mark (its last column is the state).
    "DROP INDEX entries_lookup;",
    // The state's CHECK as comparisons joined by OR: SQLite evaluates `state IN (four
    // strings)` by building a temporary b-tree of the four at every insert and every
    // state change (two per article; 20% of the time of inserting and marking 10,000
    // rows). The same rule; the table is rebuilt because SQLite cannot alter a CHECK.
    // Dropping the old table drops its trigger first, so no article goes with it.
    r"
CREATE TABLE entries_next (
    id             INTEGER PRIMARY KEY,
    feed           TEXT NOT NULL,
    key            TEXT NOT NULL,
    canonical_link TEXT,
    path           TEXT NOT NULL UNIQUE,
    content_hash   TEXT NOT NULL,
    date           TEXT NOT NULL,
    first_seen     TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state = 'pending' OR state = 'written' OR state = 'filtered' OR state = 'seen'),
    written_at     TEXT,
    raw_hash       TEXT,
    held_by        TEXT,
    UNIQUE (feed, key)
) STRICT;
INSERT INTO entries_next (id, feed, key, canonical_link, path, content_hash, date, first_seen, state, written_at, raw_hash, held_by)
    SELECT id, feed, key, canonical_link, path, content_hash, date, first_seen, state, written_at, raw_hash, held_by FROM entries;
DROP TABLE entries;
ALTER TABLE entries_next RENAME TO entries;
CREATE INDEX entries_pending ON entries (state) WHERE state = 'pending';
CREATE INDEX entries_canonical ON entries (canonical_link);
CREATE TRIGGER entries_article_gone AFTER DELETE ON entries
BEGIN
    DELETE FROM articles WHERE id = old.id;
END;
",
    // The pending entries by feed: a pass asks whether its feed has pending entries and
    // reads them, while the feeds still waiting for their flush hold hundreds of pending
    // rows; the index by state alone made each ask read every one of them.
    r"
DROP INDEX entries_pending;
CREATE INDEX entries_pending ON entries (feed) WHERE state = 'pending';
",
    // The article's body in a column of its own, out of its JSON: escaping each body into
    // a JSON string (and reading it back out) was 2.6% of a cold pass's CPU, for text
    // SQLite stores as it is. Rows from before keep the body in their JSON (`body` NULL).
    "ALTER TABLE articles ADD COLUMN body TEXT;",
];

/// Why the database could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be opened or set up.
    #[error("cannot open the database {path}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The database's folder could not be made.
    #[error("cannot create the database folder {path}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A newer tidings migrated the file.
    #[error(
        "database {path} has schema version {found}, newer than this tidings knows ({known}); upgrade tidings"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: usize,
        /// The newest version this build knows.
        known: usize,
    },
    /// The file is damaged (SQLite's `quick_check`, or a corruption found while reading).
    #[error(
        "database {path} is damaged ({report}): restore it from a backup, or move it aside and run `tidings reindex` to rebuild what tidings knows from the articles on disk"
    )]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// SQLite's first complaint.
        report: String,
    },
    /// A read-only command met a database of another schema version.
    #[error(
        "database {path} has schema version {found}, this tidings reads {known}; run `tidings fetch` once to bring it up to date"
    )]
    NotCurrent {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: usize,
        /// This build's.
        known: usize,
    },
    /// An SQLite file of another program.
    #[error(
        "{path} is an SQLite database of another program, not tidings': point `storage.database` elsewhere"
    )]
    Foreign {
        /// The file.
        path: PathBuf,
    },
    /// A statement failed.
    #[error("database error")]
    Sql(#[source] rusqlite::Error),
    /// A statement met a damaged page (the check at open looks at the small tables only;
    /// the rest is checked by `status` and at the daemon's start).
    #[error(
        "the database is damaged: restore it from a backup, or move it aside and run `tidings reindex` to rebuild what tidings knows from the articles on disk"
    )]
    DamagedPage(#[source] rusqlite::Error),
    /// A stored article no longer reads as one.
    #[error("stored article is unreadable")]
    Corrupt(#[from] serde_json::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        if is_corruption(&error) {
            StoreError::DamagedPage(error)
        } else {
            StoreError::Sql(error)
        }
    }
}

/// Whether SQLite says the file is not (or no longer) a sound database.
fn is_corruption(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(failure, _)
            if matches!(
                failure.code,
                rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
            )
    )
}

/// The tables checked each time the database is opened: small (a row per feed or hook)
/// and read by every run. `entries` grows with every article ever seen; checking it on
/// each open made a warm 1000-feed fetch spend 0.2 of its 0.41 s reading a 203 MB file,
/// so it is checked whole by `status` and when the daemon starts, and any damaged page a
/// run meets is reported as damage ([`StoreError::DamagedPage`]).
const CHECKED_AT_OPEN: &[&str] = &["feeds", "hooks"];

/// Stores an entry's article (`?1` the entry's id, `?2` the article as JSON, `?3` its
/// body, which the JSON leaves out).
const PUT_ARTICLE: &str = "INSERT OR REPLACE INTO articles (id, article, body) VALUES (?1, ?2, ?3)";

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `attempt` again while SQLite answers "busy", for at most [`BUSY_TIMEOUT`].
fn retry_while_busy<T>(mut attempt: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match attempt() {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// A damaged-file error when `source` says the file is corrupt, else `source` as it is.
fn damaged_or(path: &Path, source: rusqlite::Error) -> StoreError {
    match &source {
        rusqlite::Error::SqliteFailure(error, message)
            if matches!(
                error.code,
                rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
            ) =>
        {
            StoreError::Damaged {
                path: path.to_path_buf(),
                report: message.clone().unwrap_or_else(|| error.to_string()),
            }
        }
        _ => StoreError::Open {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// The database: one connection, used by one thread at a time.
pub struct Store {
    conn: Connection,
}

/// Times are stored as RFC 3339 text in UTC, to the second.
fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_timestamp(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).map_or(DateTime::UNIX_EPOCH, |t| t.with_timezone(&Utc))
}

/// The page size of new databases (see [`Store::open`]).
const PAGE_SIZE: i64 = 8_192;

/// Bytes of WAL pages after which a commit checkpoints (see [`Store::open`]).
const WAL_CHECKPOINT_BYTES: i64 = 32 << 20;

impl Store {
    /// Opens (creating if needed) the database at `path`, brings its schema up to date and
    /// checks that it is sound (`PRAGMA quick_check`): a damaged database is an error that
    /// says what to do, never a run that reports nothing new.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Folder {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        // Damage met this early (the first page holds the schema and the settings) is
        // reported as damage, with what to do, like damage found by the check below.
        let open_err = |source| damaged_or(path, source);
        let conn = Connection::open(path).map_err(open_err)?;
        // Another process (the daemon and a hand-run fetch) may hold the write lock for a
        // moment; wait for it rather than fail. Set before any statement runs.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // Only a new database takes the page size (before its first table and before
        // WAL); one made by an earlier version keeps its own. An article (2-3 KB of JSON)
        // took a 4 KB page of its own, written once to the log and once more to the file
        // at the checkpoint; 8 KB pages hold three: a cold pass of 10,000 articles writes
        // a third fewer pages (7% less time), and small transactions write a page twice
        // the size.
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(open_err)?;
        // Switching to WAL takes an exclusive lock without calling the busy handler, so
        // processes starting together on a new database retry it themselves.
        retry_while_busy(|| conn.pragma_update(None, "journal_mode", "WAL")).map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        // A statement that changes many rows inside a transaction (marking a feed's
        // entries written, one range of ids) keeps the pages it changes in a statement
        // journal, to undo that statement alone; past 64 KiB SQLite spilled it into a temp
        // file in /var/tmp (4 files and 800 writes in a cold pass of 200 feeds). It is
        // never read after a crash (the WAL is what recovery reads), so memory holds it.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(open_err)?;
        // A checkpoint runs inside the commit that crosses this many WAL pages, with the
        // store held, and ends in an fsync: SQLite's default (1,000 pages) checkpointed
        // five times in a pass adding two entries to 200 feeds, copying the same pages
        // (the feeds table's, the indexes' inner ones) each time. At 32 MiB of pages most
        // passes checkpoint once, when the connection closes.
        let page_size: i64 = conn
            .pragma_query_value(None, "page_size", |row| row.get(0))
            .map_err(open_err)?;
        conn.pragma_update(
            None,
            "wal_autocheckpoint",
            WAL_CHECKPOINT_BYTES / page_size.max(512),
        )
        .map_err(open_err)?;
        // A feed's pass runs about twenty distinct statements; rusqlite's default cache
        // of 16 evicted them in turn, so every one was compiled again for every feed
        // (`sqlite3_prepare_v3` was 7% of a pass adding two entries a feed).
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        let mut store = Store { conn };
        store.migrate(path).map_err(|error| match error {
            StoreError::Sql(source) | StoreError::DamagedPage(source) => damaged_or(path, source),
            other => other,
        })?;
        store.check_tables(path, CHECKED_AT_OPEN)?;
        Ok(store)
    }

    /// Opens an existing database for reading only (`status`): nothing is created,
    /// migrated or written. `None` when there is no database yet.
    pub fn open_read_only(path: &Path) -> Result<Option<Store>, StoreError> {
        if !path.exists() {
            return Ok(None);
        }
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        let store = Store { conn };
        let version: i64 = store
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(open_err)?;
        if usize::try_from(version).ok() != Some(MIGRATIONS.len()) {
            return Err(StoreError::NotCurrent {
                path: path.to_path_buf(),
                found: usize::try_from(version).unwrap_or(usize::MAX),
                known: MIGRATIONS.len(),
            });
        }
        store.check_tables(path, CHECKED_AT_OPEN)?;
        Ok(Some(store))
    }

    /// `PRAGMA quick_check` of the whole file: a damaged file is refused with what to do
    /// about it. Reads every page (0.2 s for 50,000 articles), so it runs where that
    /// does not repeat every few minutes: `tidings status` and the daemon's start.
    pub fn verify(&self, path: &Path) -> Result<(), StoreError> {
        self.quick_check(path, "PRAGMA quick_check")
    }

    /// `PRAGMA quick_check` of `tables` only (and their indexes).
    fn check_tables(&self, path: &Path, tables: &[&str]) -> Result<(), StoreError> {
        for table in tables {
            self.quick_check(path, &format!("PRAGMA quick_check({table})"))?;
        }
        Ok(())
    }

    fn quick_check(&self, path: &Path, pragma: &str) -> Result<(), StoreError> {
        let report: String = self
            .conn
            .query_row(pragma, [], |r| r.get(0))
            .map_err(|source| damaged_or(path, source))?;
        if report == "ok" {
            Ok(())
        } else {
            Err(StoreError::Damaged {
                path: path.to_path_buf(),
                report: report.lines().next().unwrap_or_default().to_string(),
            })
        }
    }

    fn migrate(&mut self, path: &Path) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        let tables: i64 = tx.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )?;
        if version == 0 && tables > 0 {
            return Err(StoreError::Foreign {
                path: path.to_path_buf(),
            });
        }
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

    /// Runs SQLite's own consistency check; "ok" when the file is sound.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }
}

/// Paths are stored with `/` separators whatever the platform.
fn path_text(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(store: &Store, name: &str) -> i64 {
        store
            .conn
            .pragma_query_value(None, name, |row| row.get(0))
            .expect("pragma")
    }

    #[test]
    fn a_new_database_has_8k_pages_and_an_earlier_one_keeps_its_own() {
        let dir = tempfile::tempdir().expect("temp dir");
        let new = Store::open(&dir.path().join("new.db")).expect("new database");
        assert_eq!(pragma(&new, "page_size"), 8_192);
        assert_eq!(pragma(&new, "wal_autocheckpoint"), 4_096, "32 MiB of pages");
        let old_path = dir.path().join("old.db");
        {
            let conn = Connection::open(&old_path).expect("open");
            conn.pragma_update(None, "page_size", 4_096)
                .expect("4 KB pages");
            conn.execute_batch(MIGRATIONS[0]).expect("old schema");
            conn.pragma_update(None, "user_version", 1)
                .expect("version");
        }
        let old = Store::open(&old_path).expect("earlier database");
        assert_eq!(pragma(&old, "page_size"), 4_096, "pages are not resized");
        assert_eq!(pragma(&old, "wal_autocheckpoint"), 8_192, "32 MiB of pages");
        assert_eq!(pragma(&old, "user_version"), MIGRATIONS.len() as i64);
    }

    #[test]
    fn a_database_of_the_previous_schema_keeps_its_entries_and_learns_the_new_states() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).expect("open");
            for migration in &MIGRATIONS[..5] {
                conn.execute_batch(migration).expect("old schema");
            }
            conn.pragma_update(None, "user_version", 5)
                .expect("version");
            conn.execute(
                "INSERT INTO entries (feed, key, path, content_hash, article, date, first_seen, state, written_at, raw_hash)
                 VALUES ('a', 'k', 'a/x.md', 'h', '{}', 'd', 'f', 'written', 'w', 'r')",
                [],
            )
            .expect("old row");
        }
        let store = Store::open(&path).expect("migrated");
        let (state, path_text): (String, String) = store
            .conn
            .query_row("SELECT state, path FROM entries WHERE key = 'k'", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("row kept");
        assert_eq!((state.as_str(), path_text.as_str()), ("written", "a/x.md"));
        let article: String = store
            .conn
            .query_row(
                "SELECT a.article FROM entries e JOIN articles a ON a.id = e.id WHERE e.key = 'k'",
                [],
                |r| r.get(0),
            )
            .expect("the article moved to its own table");
        assert_eq!(article, "{}");
        store
            .conn
            .execute("UPDATE entries SET state = 'filtered' WHERE key = 'k'", [])
            .expect("the new state is allowed");
        assert!(
            store
                .conn
                .execute("UPDATE entries SET state = 'bogus' WHERE key = 'k'", [])
                .is_err(),
            "the CHECK constraint is still there"
        );
        store
            .conn
            .execute("DELETE FROM entries WHERE key = 'k'", [])
            .expect("delete");
        let articles: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM articles", [], |r| r.get(0))
            .expect("count");
        assert_eq!(articles, 0, "an entry's article goes with it");
    }

    #[test]
    fn the_state_check_rebuild_keeps_every_entry_and_article_as_it_was() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("before.db");
        // One step before the rebuild (step 11).
        let before = 10;
        let columns = "id, feed, key, canonical_link, path, content_hash, date, first_seen, state, written_at, raw_hash, held_by";
        let rows = |conn: &Connection| -> Vec<Vec<Option<String>>> {
            let mut statement = conn
                .prepare(&format!(
                    "SELECT CAST(id AS TEXT), {}, a.article FROM entries e JOIN articles a USING (id) ORDER BY id",
                    &columns[4..]
                ))
                .expect("query");
            statement
                .query_map([], |row| (0..13).map(|i| row.get(i)).collect())
                .expect("rows")
                .collect::<Result<_, _>>()
                .expect("read")
        };
        let stored = {
            let conn = Connection::open(&path).expect("open");
            for migration in &MIGRATIONS[..before] {
                conn.execute_batch(migration).expect("earlier schema");
            }
            conn.pragma_update(None, "user_version", before as i64)
                .expect("version");
            for (id, state, held_by) in [
                (1, "pending", None),
                (2, "written", None),
                (3, "filtered", Some("rule")),
                (4, "seen", None),
            ] {
                conn.execute(
                    &format!("INSERT INTO entries ({columns}) VALUES (?1, 'f', ?2, 'https://x/' || ?1, 'f/' || ?1 || '.md', 'h', 'd', 's', ?3, 'w', 'r', ?4)"),
                    rusqlite::params![id, format!("k{id}"), state, held_by],
                )
                .expect("entry");
                conn.execute(
                    "INSERT INTO articles (id, article) VALUES (?1, '{\"n\":' || ?1 || '}')",
                    [id],
                )
                .expect("article");
            }
            rows(&conn)
        };
        let store = Store::open(&path).expect("migrated");
        assert_eq!(pragma(&store, "user_version"), MIGRATIONS.len() as i64);
        assert_eq!(
            rows(&store.conn),
            stored,
            "every column of every entry, and its article"
        );
        assert!(
            store
                .conn
                .execute("UPDATE entries SET state = 'bogus' WHERE id = 1", [])
                .is_err(),
            "the state is still checked"
        );
        let schema: Vec<String> = store
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE tbl_name = 'entries' AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY name")
            .expect("schema")
            .query_map([], |row| row.get(0))
            .expect("names")
            .collect::<Result<_, _>>()
            .expect("read");
        assert_eq!(
            schema,
            [
                "entries_article_gone",
                "entries_canonical",
                "entries_pending"
            ]
        );
        // What the rebuild is for: a state change no longer builds a temporary b-tree.
        let opcodes: Vec<String> = store
            .conn
            .prepare("EXPLAIN UPDATE entries SET state = 'written', written_at = ?2 WHERE id = ?1")
            .expect("explain")
            .query_map(rusqlite::params![None::<i64>, None::<String>], |row| {
                row.get(1)
            })
            .expect("opcodes")
            .collect::<Result<_, _>>()
            .expect("read");
        assert!(opcodes.iter().any(|op| op == "SeekRowid"), "{opcodes:?}");
        assert!(
            !opcodes.iter().any(|op| op == "OpenEphemeral"),
            "{opcodes:?}"
        );
    }

    #[test]
    fn a_feeds_pending_entries_are_found_by_the_index_not_by_reading_every_pending_row() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("plan.db")).expect("database");
        let plan = |sql: &str| -> String {
            store
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("plan")
                .query_map(["f"], |row| row.get::<_, String>(3))
                .expect("rows")
                .collect::<Result<Vec<_>, _>>()
                .expect("read")
                .join("; ")
        };
        for sql in [
            entries::InState::Pending.query(true),
            entries::FEED_HAS_PENDING,
        ] {
            let plan = plan(sql);
            assert!(
                plan.contains("INDEX entries_pending (feed=?)"),
                "{sql}: {plan}"
            );
        }
    }
}
