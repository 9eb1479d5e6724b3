//! One row per feed: what the last fetch said (validators, result, error count), where
//! the feed lives now, when the server allows the next fetch and when the daemon plans it.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, parse_timestamp, timestamp};
use crate::fetch::Validators;

/// A feed's stored state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedState {
    /// What to send back for a 304.
    pub validators: Validators,
    /// A digest of the last body read, to skip a same-bytes answer.
    pub body_hash: Option<String>,
    /// Failures in a row.
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
    /// 304 Not Modified.
    NotModified {
        /// The feed's new address, if it moved.
        moved_to: Option<String>,
        /// The server's own timing: not before this.
        not_before: Option<DateTime<Utc>>,
    },
    /// A document that was read.
    Fetched {
        /// Its `ETag` / `Last-Modified`.
        validators: Validators,
        /// A digest of its body.
        body_hash: String,
        /// The feed's new address, if it moved.
        moved_to: Option<String>,
        /// The server's or the feed's own timing: not before this.
        not_before: Option<DateTime<Utc>>,
        /// What the document said of its feed, when it was processed (not for a body
        /// that was the same as last time).
        document: Option<DocumentRecord>,
    },
    /// The pass failed.
    Failed {
        /// Why, as printed.
        error: String,
        /// 410 Gone: not fetched again until the URL changes.
        gone: bool,
        /// `Retry-After`: not before this.
        not_before: Option<DateTime<Utc>>,
    },
}

impl FetchRecord {
    /// A fetched document's record completed with what processing it found: its facts,
    /// and the feed's own word on when to come back (the later of it and the server's).
    pub fn with_document(self, found: DocumentRecord, hint: Option<DateTime<Utc>>) -> FetchRecord {
        match self {
            FetchRecord::Fetched {
                validators,
                body_hash,
                moved_to,
                not_before,
                document: _,
            } => FetchRecord::Fetched {
                validators,
                body_hash,
                moved_to,
                not_before: match (not_before, hint) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                },
                document: Some(found),
            },
            other => other,
        }
    }
}

/// What a processed document said of its feed, recorded with its fetch once its entries
/// are claimed.
#[derive(Debug, Clone, Default)]
pub struct DocumentRecord {
    /// The title and site link the document gives its feed.
    pub identity: FeedIdentity,
    /// The digests of its entry elements (`None` for a document whose entries cannot be
    /// matched to its text).
    pub entry_prints: Option<Vec<u8>>,
}

/// How a hook's last run ended, as `tidings status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HookStatus {
    /// `after_pass` or `webhook`.
    pub name: String,
    /// When it last ran (RFC 3339).
    pub last_run_at: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// How many files it was given, or why it failed.
    pub detail: String,
    /// Failures in a row.
    pub failures: i64,
}

/// The title and site link a feed gives itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedIdentity {
    /// Its `<title>`.
    pub title: Option<String>,
    /// Its site's link.
    pub site_url: Option<String>,
}

/// One feed's stored state, as `tidings status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FeedStatus {
    /// The feed's name.
    pub name: String,
    /// Its configured URL.
    pub url: String,
    /// When it was last fetched (RFC 3339).
    pub last_fetch_at: Option<String>,
    /// `ok`, `not-modified`, `error` or `gone`.
    pub last_result: Option<String>,
    /// The last failure, as printed.
    pub last_error: Option<String>,
    /// Failures in a row.
    pub error_count: u32,
    /// When the daemon fetches it next.
    pub next_due: Option<String>,
    /// Where the feed moved (301/308 or autodiscovery), when it did.
    pub moved_to: Option<String>,
    /// Articles written.
    pub written: i64,
    /// Articles claimed but not yet written.
    pub pending: i64,
    /// Entries a filter holds back (kept, not written).
    pub filtered: i64,
    /// Entries recorded as seen and not written (`--catchup`, `initial_entries`).
    pub caught_up: i64,
    /// Images of its articles that could not be kept (their remote links stay).
    pub images_failed: i64,
    /// Entries whose body is their page's article (full text).
    pub full_text_pages: i64,
    /// Entries that kept the feed's content although full text was asked for, by reason.
    pub full_text_fallbacks: std::collections::BTreeMap<String, i64>,
}

impl Store {
    /// The stored state of a feed. A feed whose configured URL changed starts afresh: the
    /// old validators belong to another document.
    pub fn feed_state(&self, name: &str, url: &str) -> Result<FeedState, StoreError> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT url, etag, last_modified, body_hash, error_count, effective_url, gone, not_before
                 FROM feeds WHERE name = ?1",
            )?
            .query_row(
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

    /// Records how a fetch of `name` ended; with `release`, gives this holder's lease of
    /// the feed back in the same transaction (the record ends the feed's pass).
    pub fn record_fetch(
        &self,
        name: &str,
        url: &str,
        record: &FetchRecord,
        now: DateTime<Utc>,
        release: Option<&str>,
    ) -> Result<(), StoreError> {
        // One transaction (its first statement writes, so it never upgrades a read).
        let tx = self.conn.unchecked_transaction()?;
        write_fetch_record(&tx, name, url, record, now)?;
        if let Some(holder) = release {
            super::lease::release(&tx, name, holder)?;
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

    /// The entry digests recorded with `name`'s last processed document.
    pub fn entry_prints(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT entry_prints FROM feeds WHERE name = ?1")?;
        Ok(statement
            .query_row([name], |row| row.get(0))
            .optional()?
            .flatten())
    }

    /// The title and site link `name` gave itself (nothing known: both `None`).
    pub fn feed_identity(&self, name: &str) -> Result<FeedIdentity, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT title, site_url FROM feeds WHERE name = ?1")?;
        Ok(statement
            .query_row([name], |row| {
                Ok(FeedIdentity {
                    title: row.get(0)?,
                    site_url: row.get(1)?,
                })
            })
            .optional()?
            .unwrap_or_default())
    }

    /// The title and site link each feed gave itself, by name.
    pub fn feed_identities(
        &self,
    ) -> Result<std::collections::HashMap<String, FeedIdentity>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT name, title, site_url FROM feeds")?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                FeedIdentity {
                    title: row.get(1)?,
                    site_url: row.get(2)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records how a hook's last run ended.
    pub fn record_hook(
        &self,
        name: &str,
        at: DateTime<Utc>,
        ok: bool,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO hooks (name, last_run_at, ok, detail, failures) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (name) DO UPDATE SET last_run_at = ?2, ok = ?3, detail = ?4,
                 failures = CASE WHEN ?3 THEN 0 ELSE failures + 1 END",
            params![name, timestamp(at), ok, detail, i64::from(!ok)],
        )?;
        Ok(())
    }

    /// How each hook's last run ended.
    pub fn hook_statuses(&self) -> Result<Vec<HookStatus>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT name, last_run_at, ok, detail, failures FROM hooks ORDER BY name")?;
        let rows = statement.query_map([], |row| {
            Ok(HookStatus {
                name: row.get(0)?,
                last_run_at: row.get(1)?,
                ok: row.get(2)?,
                detail: row.get(3)?,
                failures: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every feed the database knows, with its last result and its articles.
    pub fn feed_statuses(&self) -> Result<Vec<FeedStatus>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT f.name, f.url, f.last_fetch_at, f.last_result, f.last_error, f.error_count, f.next_due, f.effective_url,
                    (SELECT COUNT(*) FROM entries e WHERE e.feed = f.name AND e.state = 'written'),
                    (SELECT COUNT(*) FROM entries e WHERE e.feed = f.name AND e.state = 'pending'),
                    (SELECT COUNT(*) FROM entries e WHERE e.feed = f.name AND e.state = 'filtered'),
                    (SELECT COUNT(*) FROM entries e WHERE e.feed = f.name AND e.state = 'seen'),
                    (SELECT COUNT(*) FROM images i WHERE i.feed = f.name AND i.error IS NOT NULL)
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
                filtered: row.get(10)?,
                caught_up: row.get(11)?,
                images_failed: row.get(12)?,
                full_text_pages: 0,
                full_text_fallbacks: std::collections::BTreeMap::new(),
            })
        })?;
        let mut statuses: Vec<FeedStatus> = rows.collect::<Result<_, _>>()?;
        let mut full_text = self.conn.prepare(
            "SELECT json_extract(a.article, '$.full_text.from_page'), json_extract(a.article, '$.full_text.reason'), COUNT(*)
             FROM entries e JOIN articles a ON a.id = e.id
             WHERE e.feed = ?1 AND json_extract(a.article, '$.full_text') IS NOT NULL
             GROUP BY 1, 2",
        )?;
        for status in &mut statuses {
            let rows = full_text.query_map([&status.name], |row| {
                Ok((
                    row.get::<_, Option<bool>>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })?;
            for row in rows {
                match row? {
                    (Some(true), _, count) => status.full_text_pages += count,
                    (_, reason, count) => {
                        *status
                            .full_text_fallbacks
                            .entry(reason.unwrap_or_default())
                            .or_default() += count;
                    }
                }
            }
        }
        Ok(statuses)
    }
}

/// Writes how a fetch of `name` ended, inside the caller's transaction.
pub(super) fn write_fetch_record(
    conn: &rusqlite::Connection,
    name: &str,
    url: &str,
    record: &FetchRecord,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = timestamp(now);
    conn.prepare_cached(
        "INSERT INTO feeds (name, url) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET url = excluded.url,
             etag = CASE WHEN feeds.url = excluded.url THEN feeds.etag END,
             last_modified = CASE WHEN feeds.url = excluded.url THEN feeds.last_modified END,
             body_hash = CASE WHEN feeds.url = excluded.url THEN feeds.body_hash END,
             effective_url = CASE WHEN feeds.url = excluded.url THEN feeds.effective_url END,
             gone = CASE WHEN feeds.url = excluded.url THEN feeds.gone ELSE 0 END,
             not_before = CASE WHEN feeds.url = excluded.url THEN feeds.not_before END",
    )?
    .execute(params![name, url])?;
    match record {
        FetchRecord::NotModified {
            moved_to,
            not_before,
        } => {
            conn.prepare_cached(
                "UPDATE feeds SET last_fetch_at = ?2, last_result = 'not-modified', last_error = NULL, error_count = 0,
                     effective_url = COALESCE(?3, effective_url), not_before = ?4 WHERE name = ?1",
            )?
            .execute(params![name, now, moved_to, not_before.map(timestamp)])?;
        }
        FetchRecord::Fetched {
            validators,
            body_hash,
            moved_to,
            not_before,
            document,
        } => {
            if let Some(document) = document {
                conn.prepare_cached(
                    "UPDATE feeds SET title = ?2, site_url = ?3, entry_prints = ?4 WHERE name = ?1",
                )?
                .execute(params![
                    name,
                    document.identity.title,
                    document.identity.site_url,
                    document.entry_prints
                ])?;
            }
            conn.prepare_cached(
                "UPDATE feeds SET last_fetch_at = ?2, last_result = 'ok', last_error = NULL, error_count = 0,
                     etag = ?3, last_modified = ?4, body_hash = ?5,
                     effective_url = COALESCE(?6, effective_url), not_before = ?7 WHERE name = ?1",
            )?
            .execute(params![
                    name,
                    now,
                    validators.etag,
                    validators.last_modified,
                    body_hash,
                    moved_to,
                    not_before.map(timestamp)
                ])?;
        }
        FetchRecord::Failed {
            error,
            gone,
            not_before,
        } => {
            conn.prepare_cached(
                "UPDATE feeds SET last_fetch_at = ?2, last_result = ?5, last_error = ?3,
                     error_count = error_count + 1, gone = ?4, not_before = ?6 WHERE name = ?1",
            )?
            .execute(params![
                name,
                now,
                error,
                gone,
                if *gone { "gone" } else { "error" },
                not_before.map(timestamp)
            ])?;
        }
    }
    Ok(())
}
