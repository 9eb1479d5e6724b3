//! `tidings reindex`: what tidings knows rebuilt from the articles on disk, after the
//! database was lost or replaced. Each file tidings wrote names its feed (its source line)
//! and its story (the link); it is recorded as written, so nothing is written twice and
//! `status` counts it, and the next claim of the same story takes the row over.

use std::path::{Path, PathBuf};

use chrono::{NaiveDateTime, TimeZone as _, Utc};

use super::{Pipeline, PipelineError};
use crate::article::Article;
use crate::links::{canonical_link, clean_url};
use crate::output::TEMP_DIR;
use crate::render::read_rendered;
use crate::store::claim::REINDEXED;

/// What `tidings reindex` found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReindexReport {
    /// Articles recorded as written.
    pub recorded: usize,
    /// Articles the database already knew.
    pub known: usize,
    /// Files that are not tidings articles of a configured feed.
    pub skipped: usize,
}

impl Pipeline {
    /// Records every article file under the output folder that the database does not
    /// know.
    pub fn reindex(&self) -> Result<ReindexReport, PipelineError> {
        let output = &self.config.output;
        let mut report = ReindexReport::default();
        let now = Utc::now();
        for relative in markdown_files(&output.dir) {
            let Ok(text) = std::fs::read_to_string(output.dir.join(&relative)) else {
                report.skipped += 1;
                continue;
            };
            let Some((feed, feed_url, article, date)) = self.found_article(&relative, &text) else {
                report.skipped += 1;
                continue;
            };
            let mut store = self.store();
            if store.path_known(&relative)? {
                report.known += 1;
                continue;
            }
            store.record_found(&feed, &feed_url, &relative, &article, date, now)?;
            report.recorded += 1;
        }
        Ok(report)
    }

    /// The feed, article and date a file tidings wrote describes.
    fn found_article(
        &self,
        relative: &Path,
        text: &str,
    ) -> Option<(String, String, Article, chrono::DateTime<Utc>)> {
        let read = read_rendered(text)?;
        let first_folder = relative
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        let feed = self.config.feeds.iter().find(|f| {
            read.source
                .as_ref()
                .is_some_and(|(label, _)| *label == f.name)
                || first_folder.as_deref() == Some(f.name.as_str())
        })?;
        let link = read
            .source
            .as_ref()
            .and_then(|(_, link)| clean_url(link, None));
        let canonical = link.as_ref().map(canonical_link);
        let key = format!(
            "{REINDEXED}{}",
            canonical
                .clone()
                .unwrap_or_else(|| relative.to_string_lossy().into_owned())
        );
        let local = NaiveDateTime::parse_from_str(&read.date, "%Y-%m-%d %H:%M:%S").ok()?;
        let date = self
            .config
            .output
            .timezone
            .from_local_datetime(&local)
            .earliest()?
            .with_timezone(&Utc);
        let article = Article {
            key,
            guid: None,
            raw_hash: String::new(),
            legacy_key: None,
            canonical_link: canonical,
            title: read.title,
            published: Some(date),
            summary: read.summary,
            body: read.body,
            link: link.map(|l| l.to_string()),
            lang: read.lang,
            categories: read.categories,
            tags: read.tags,
            entry_categories: Vec::new(),
            thumbnail: None,
            author: None,
            updated: None,
            enclosures: Vec::new(),
            full_text: None,
        };
        Some((feed.name.clone(), feed.url.to_string(), article, date))
    }
}

/// Every `.md` file under `dir` (relative to it), the old shared temporary folder left
/// out (temporary files beside articles end in `.tidings-tmp`, never `.md`).
fn markdown_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![PathBuf::new()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(dir.join(&folder)) else {
            continue;
        };
        for entry in entries.flatten() {
            let relative = folder.join(entry.file_name());
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && entry.file_name() != TEMP_DIR {
                folders.push(relative);
            } else if kind.is_file() && relative.extension().is_some_and(|e| e == "md") {
                found.push(relative);
            }
        }
    }
    found.sort();
    found
}
