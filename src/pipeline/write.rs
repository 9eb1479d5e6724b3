//! Claimed articles to files: render with today's settings, write atomically, flush the
//! batch with one `syncfs`, then mark the entries written. Also `tidings render`.

use chrono::Utc;

use super::{Pipeline, PipelineError};
use crate::config::FeedConfig;
use crate::filter::Verdict;
use crate::images::{image_folder, image_urls, relative_link, rewrite_image_links};
use crate::output::{WriteError, remove_stale_temp_files, write_atomic};
use crate::render::{RenderSettings, TemplateError, render_article};
use crate::store::images::StoredImage;
use crate::store::{HeldLease, StoredEntry};

/// Files rendered before they are written, at most: a few hundred KiB of text.
const RENDER_BATCH: usize = 64;

/// A file a pass wrote: what hooks and webhooks are told.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WrittenArticle {
    /// The feed's name.
    pub feed: String,
    /// The article's title.
    pub title: String,
    /// Its link.
    pub link: Option<String>,
    /// The file, absolute.
    pub path: std::path::PathBuf,
    /// Its front-matter date.
    pub date: chrono::DateTime<Utc>,
    /// An edit rewrote a file written before (else the file is new).
    pub updated: bool,
}

impl WrittenArticle {
    fn of(entry: &StoredEntry, dir: &std::path::Path) -> WrittenArticle {
        WrittenArticle {
            feed: entry.feed.clone(),
            title: entry.article.title.clone(),
            link: entry.article.link.clone(),
            path: dir.join(&entry.path),
            date: entry.date,
            updated: entry.written_before,
        }
    }
}

/// Files written and not yet flushed and marked written.
#[derive(Debug)]
pub(super) struct UnmarkedFiles {
    /// The entries whose files were written.
    pub(super) ids: Vec<i64>,
    /// Their files, when `write_entries` was asked to list them.
    pub(super) files: Vec<WrittenArticle>,
    /// Entries left pending (a failed file or template, a feed no longer configured).
    left: usize,
    /// The first file that could not be written.
    write_error: Option<WriteError>,
    /// The first template that failed.
    render_error: Option<TemplateError>,
}

impl UnmarkedFiles {
    /// The files written, or why some entries were left pending (once the written ones
    /// are marked).
    pub(super) fn outcome(self) -> Result<Vec<WrittenArticle>, PipelineError> {
        let left = self.left;
        match (self.write_error, self.render_error) {
            (Some(source), _) => Err(PipelineError::LeftPending { left, source }),
            (None, Some(source)) => Err(PipelineError::Render { left, source }),
            (None, None) => Ok(self.files),
        }
    }
}

/// What `tidings render` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RenderReport {
    /// Files whose text changed.
    pub rewritten: usize,
    /// Files already as they would be written (left untouched, mtime kept).
    pub unchanged: usize,
    /// Files deleted downstream: left deleted.
    pub missing: usize,
    /// Entries a filter held back that today's rules let through: written now.
    pub released: usize,
    /// Written articles today's rules would block: their files are left in place.
    pub now_blocked: usize,
}

impl Pipeline {
    /// Writes what earlier runs claimed but did not write (a crash, a full disk), feed by
    /// feed under the feed's lease, so a concurrent process never writes the same file.
    pub fn write_all_pending(&self) -> Result<Vec<WrittenArticle>, PipelineError> {
        // A kill in the middle of a write leaves a temporary file beside the file being
        // written: in the folder of a pending entry, or of the images.
        let mut folders: Vec<std::path::PathBuf> = self
            .store()
            .pending_paths()?
            .iter()
            .filter_map(|path| path.parent().map(std::path::Path::to_path_buf))
            .collect();
        folders.push(self.config.output.images_dir.clone());
        let stale = remove_stale_temp_files(&self.config.output.dir, folders);
        if stale > 0 {
            tracing::info!(
                stale,
                "removed temporary files an interrupted run left behind"
            );
        }
        let feeds = self.store().feeds_with_pending()?;
        let mut written = Vec::new();
        let mut first_error = None;
        for feed in feeds {
            let Some(config) = self.feed_config(&feed) else {
                continue;
            };
            let leased = self.store().try_lease(
                &feed,
                config.url.as_str(),
                &self.holder,
                Utc::now(),
                self.lease_ttl(),
            )?;
            if !leased {
                continue;
            }
            let lease = HeldLease {
                feed: &feed,
                holder: &self.holder,
            };
            match self.write_pending(Some(&feed), Some(lease)) {
                Ok(files) => written.extend(files),
                Err(error) => {
                    // The lease went back with the written marks, unless marking failed.
                    self.store().release_lease(&feed, &self.holder)?;
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(written),
        }
    }

    /// Writes the files of the entries this pass claimed for `feed`: `claimed` when the
    /// claim handed them over (with `feed_title`, the title the claim recorded), else its
    /// pending entries as stored. They are flushed and marked written afterwards, with the
    /// feed's lease (`mark_in_group`).
    ///
    /// The title comes with the entries because asking the store for it meant waiting
    /// for its lock while other feeds' claims held it (about 0.1 s of a cold 200-feed
    /// run's blocking threads, `perf sched`).
    pub(super) fn write_claimed(
        &self,
        feed: &str,
        claimed: Option<Vec<StoredEntry>>,
        feed_title: Option<&str>,
    ) -> Result<UnmarkedFiles, PipelineError> {
        match claimed {
            Some(entries) => {
                let titles = feed_title
                    .map(|title| (feed.to_string(), title.to_string()))
                    .into_iter()
                    .collect();
                // Only hooks read the list of files a pass wrote (a path and a title
                // copied per file, 1% of a cold pass's CPU).
                let list_files = self.config.hooks.any();
                self.write_entries(&entries, &titles, list_files)
            }
            None => self.write_files(Some(feed)),
        }
    }

    /// Writes the files of pending entries (of one feed, or all) and marks them written,
    /// giving `lease` back in the same transaction. Entries of feeds no longer configured
    /// stay pending. Returns the files written.
    pub fn write_pending(
        &self,
        feed: Option<&str>,
        lease: Option<HeldLease<'_>>,
    ) -> Result<Vec<WrittenArticle>, PipelineError> {
        let mut unmarked = self.write_files(feed)?;
        self.flush_and_mark(&std::mem::take(&mut unmarked.ids), lease)?;
        unmarked.outcome()
    }

    /// Renders and writes the files of pending entries (of one feed, or all), without
    /// flushing them or marking them written.
    fn write_files(&self, feed: Option<&str>) -> Result<UnmarkedFiles, PipelineError> {
        let pending = self.store().pending(feed)?;
        self.write_entries(&pending, &self.feed_titles(feed), true)
    }

    /// Renders and writes the files of `pending`, with `titles` (by feed name) as their
    /// feeds' titles; with `list_files`, lists the files written.
    fn write_entries(
        &self,
        pending: &[StoredEntry],
        titles: &std::collections::HashMap<String, String>,
        list_files: bool,
    ) -> Result<UnmarkedFiles, PipelineError> {
        let mut unmarked = UnmarkedFiles {
            ids: Vec::with_capacity(pending.len()),
            files: Vec::with_capacity(if list_files { pending.len() } else { 0 }),
            left: 0,
            write_error: None,
            render_error: None,
        };
        // Rendered a batch at a time, then written: rendering between file writes ran
        // with caches the file system had just taken over (the built-in layout took
        // three times as long as rendering the same articles one after another).
        for batch in pending.chunks(RENDER_BATCH) {
            let texts: Vec<_> = batch
                .iter()
                .map(|entry| self.render_entry(entry, titles))
                .collect();
            for (entry, rendered) in batch.iter().zip(texts) {
                self.write_rendered(entry, rendered, list_files, &mut unmarked);
            }
        }
        unmarked.left = pending.len() - unmarked.ids.len();
        Ok(unmarked)
    }

    /// Writes one rendered entry's file, noting in `unmarked` what became of it.
    fn write_rendered(
        &self,
        entry: &StoredEntry,
        rendered: Option<Result<String, TemplateError>>,
        list_files: bool,
        unmarked: &mut UnmarkedFiles,
    ) {
        let text = match rendered {
            None => return,
            Some(Ok(text)) => text,
            Some(Err(error)) => {
                tracing::error!(feed = %entry.feed, error = %crate::error::ErrorChain(&error), "article left pending: its template failed");
                unmarked.render_error.get_or_insert(error);
                return;
            }
        };
        match write_atomic(&self.config.output.dir, &entry.path, text.as_bytes()) {
            Ok(()) => {
                unmarked.ids.push(entry.id);
                if list_files {
                    unmarked
                        .files
                        .push(WrittenArticle::of(entry, &self.config.output.dir));
                }
            }
            Err(error) => {
                tracing::warn!(feed = %entry.feed, error = %crate::error::ErrorChain(&error), "article left pending");
                unmarked.write_error.get_or_insert(error);
            }
        }
    }

    /// The title `feed` (each feed when `None`) gives itself, for templates: one query per
    /// batch, of the one feed a pass writes.
    fn feed_titles(&self, feed: Option<&str>) -> std::collections::HashMap<String, String> {
        let store = self.store();
        let identities = match feed {
            Some(name) => store
                .feed_identity(name)
                .map(|identity| [(name.to_string(), identity)].into_iter().collect()),
            None => store.feed_identities(),
        };
        identities
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(name, identity)| identity.title.map(|title| (name, title)))
            .collect()
    }

    /// The file text of a stored entry with today's settings; `None` when its feed is no
    /// longer configured.
    fn render_entry(
        &self,
        entry: &StoredEntry,
        titles: &std::collections::HashMap<String, String>,
    ) -> Option<Result<String, TemplateError>> {
        let feed = self.feed_config(&entry.feed)?;
        let with_local_images;
        let article = if feed.local_images {
            with_local_images = self.with_local_images(entry);
            &with_local_images
        } else {
            &entry.article
        };
        let settings = RenderSettings {
            feed_name: &feed.name,
            timezone: self.config.output.timezone,
            front_matter: &feed.front_matter,
            entry_tags: feed.entry_tags,
            auto_thumbnail: feed.auto_thumbnail,
            template: feed.template(),
            feed_title: titles.get(&feed.name).map(String::as_str),
            feed_url: feed.url.as_str(),
            first_seen: Some(entry.first_seen),
        };
        Some(render_article(article, entry.date, &settings))
    }

    /// The entry's article with its image links pointing at the copies kept beside it (or
    /// in `output.images_dir`); images not kept keep their remote links.
    fn with_local_images(&self, entry: &StoredEntry) -> crate::article::Article {
        let output = &self.config.output;
        let folder = image_folder(&entry.path, &output.images_dir);
        let mut local = std::collections::HashMap::new();
        for url in image_urls(&entry.article.body) {
            let Ok(Some(StoredImage::Kept(file))) = self.store().image(&url) else {
                continue;
            };
            let Some(name) = std::path::Path::new(&file).file_name() else {
                continue;
            };
            let target = folder.join(name);
            if output.dir.join(&target).is_file() {
                local.insert(url, relative_link(&entry.path, &target));
            }
        }
        let mut article = entry.article.clone();
        article.body = rewrite_image_links(&article.body, &local);
        article
    }

    /// Rewrites the files of written entries from the database, without fetching: after a
    /// change of front matter defaults or time zone. Files whose text would not change are
    /// not touched (their mtime stays), and files someone deleted stay deleted.
    pub fn render_written(&self, feeds: &[FeedConfig]) -> Result<RenderReport, PipelineError> {
        let mut report = RenderReport::default();
        let now = Utc::now();
        for feed in feeds {
            let titles = self.feed_titles(Some(&feed.name));
            // Held entries the rules now allow become pending and are written like any.
            let released: Vec<i64> = self
                .store()
                .filtered(&feed.name)?
                .into_iter()
                .filter(|entry| feed.filters.judge(&entry.article, now) == Verdict::Write)
                .map(|entry| entry.id)
                .collect();
            if !released.is_empty() {
                self.store().release_filtered(&released)?;
                report.released += self.write_pending(Some(&feed.name), None)?.len();
            }
            // Bound first: the store's lock must not be held while rendering (templates
            // with local images ask the store too).
            let written = self.store().written(Some(&feed.name))?;
            // An earlier render killed mid-write left its temporary file beside the file.
            remove_stale_temp_files(
                &self.config.output.dir,
                written
                    .iter()
                    .filter_map(|entry| entry.path.parent().map(std::path::Path::to_path_buf)),
            );
            for entry in written {
                if feed.filters.judge(&entry.article, now) != Verdict::Write {
                    report.now_blocked += 1;
                }
                let text = match self.render_entry(&entry, &titles) {
                    None => continue,
                    Some(text) => {
                        text.map_err(|source| PipelineError::Render { left: 0, source })?
                    }
                };
                let target = self.config.output.dir.join(&entry.path);
                match std::fs::read(&target) {
                    Ok(current) if current == text.as_bytes() => report.unchanged += 1,
                    Ok(_) => {
                        write_atomic(&self.config.output.dir, &entry.path, text.as_bytes())?;
                        report.rewritten += 1;
                    }
                    Err(_) => report.missing += 1,
                }
            }
        }
        if report.rewritten > 0 {
            self.flush.flush(&self.config.output.dir)?;
        }
        Ok(report)
    }
}
