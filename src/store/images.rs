//! Images kept with articles: for each image URL, the file it was stored as (one copy,
//! relative to the output folder; its name is its content digest) or why it was not kept.
//! A URL that failed is not fetched again: its articles keep the remote link.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, timestamp};

/// What is known of an image URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredImage {
    /// Kept at this path (relative to the output folder).
    Kept(String),
    /// Not kept, for this reason.
    Failed(String),
}

impl Store {
    /// What is known of `url`, if it was tried.
    pub fn image(&self, url: &str) -> Result<Option<StoredImage>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT file, error FROM images WHERE url = ?1")?;
        let row: Option<(Option<String>, Option<String>)> = statement
            .query_row([url], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(row.map(|(file, error)| match file {
            Some(file) => StoredImage::Kept(file),
            None => StoredImage::Failed(error.unwrap_or_default()),
        }))
    }

    /// Records how fetching `url` for `feed` ended.
    pub fn record_image(
        &self,
        url: &str,
        feed: &str,
        outcome: &StoredImage,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (file, error) = match outcome {
            StoredImage::Kept(file) => (Some(file.as_str()), None),
            StoredImage::Failed(error) => (None, Some(error.as_str())),
        };
        self.conn.execute(
            "INSERT INTO images (url, feed, file, error, fetched_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (url) DO UPDATE SET file = ?3, error = ?4, fetched_at = ?5",
            params![url, feed, file, error, timestamp(now)],
        )?;
        Ok(())
    }
}
