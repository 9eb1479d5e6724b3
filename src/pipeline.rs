//! One feed end to end: fetch -> parse -> normalise -> claim -> render -> write -> record.
//! The same code serves `tidings fetch` and the daemon.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::article::{
    Article, FeedContext, Identity, bound_fields, disambiguate_keys, hex, identify, normalise,
};
use crate::config::{Config, Dedup, FeedConfig, OnUpdate};
use crate::fetch::{FetchOutcome, FetchStatus, Fetcher, Validators};
use crate::output::{slugify, write_atomic};
use crate::parse::{ParseError, Source, discover_feed, parse_feed, update_hint};
use crate::render::{RenderSettings, render_article};
use crate::store::{ClaimOptions, ClaimReport, FetchRecord, Store, StoreError, lease_holder_name};

/// How one feed's pass ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedOutcome {
    /// The server answered 304.
    NotModified,
    /// The server sent the same bytes as last time.
    SameContent,
    /// The document was read; `claim` says what it held.
    Processed(ClaimReport),
    /// Another tidings process is fetching this feed right now.
    Busy,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedReport {
    pub feed: String,
    pub outcome: FeedOutcome,
    /// Things the user should know that did not stop the pass (a moved feed).
    pub notes: Vec<String>,
}

/// Why a pass failed, with what the scheduler needs to know.
#[derive(Debug)]
struct Failure {
    message: String,
    gone: bool,
    retry_after: Option<DateTime<Utc>>,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            gone: false,
            retry_after: None,
        }
    }
}

/// Why a fetched document produced no articles.
#[derive(Debug)]
enum ProcessError {
    /// An HTML page that names its feed.
    Discovered(url::Url),
    Failed(String),
}

fn latest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl FeedReport {
    pub fn failed(&self) -> bool {
        matches!(self.outcome, FeedOutcome::Failed(_))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Write(String),
}

/// Everything a pass needs, shared by all feeds of a run.
pub struct Pipeline {
    config: Arc<Config>,
    fetcher: Fetcher,
    store: Mutex<Store>,
    host_limits: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// This process's name in feed leases.
    holder: String,
}

impl Pipeline {
    pub fn new(config: Arc<Config>, fetcher: Fetcher, store: Store) -> Arc<Pipeline> {
        Arc::new(Pipeline {
            config,
            fetcher,
            store: Mutex::new(store),
            host_limits: Mutex::new(HashMap::new()),
            holder: lease_holder_name(),
        })
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave SQLite half-done (transactions roll
        // back on drop), so a poisoned lock is still safe to use.
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `feeds` with at most `fetch.concurrency` in flight; `on_report` sees each
    /// report as its feed finishes. Returns the reports in the order the feeds were given.
    pub async fn run_feeds(
        self: &Arc<Self>,
        feeds: Vec<FeedConfig>,
        mut on_report: impl FnMut(&FeedReport),
    ) -> Vec<FeedReport> {
        // Only `concurrency` passes exist at any time (not one waiting task per feed), so
        // memory stays flat however many feeds there are.
        let limit = self.config.fetch.concurrency;
        let mut reports: Vec<Option<FeedReport>> = vec![None; feeds.len()];
        let mut tasks = JoinSet::new();
        let mut finish_one =
            |joined: Option<Result<(usize, FeedReport), tokio::task::JoinError>>| match joined {
                Some(Ok((index, report))) => {
                    on_report(&report);
                    reports[index] = Some(report);
                }
                Some(Err(error)) => tracing::error!(%error, "a feed task panicked"),
                None => {}
            };
        for (index, feed) in feeds.iter().cloned().enumerate() {
            if tasks.len() >= limit {
                finish_one(tasks.join_next().await);
            }
            let pipeline = Arc::clone(self);
            tasks.spawn(async move { (index, pipeline.run_feed(&feed).await) });
        }
        while !tasks.is_empty() {
            finish_one(tasks.join_next().await);
        }
        reports
            .into_iter()
            .zip(feeds)
            .map(|(report, feed)| {
                report.unwrap_or_else(|| FeedReport {
                    feed: feed.name,
                    outcome: FeedOutcome::Failed("internal error (see log)".into()),
                    notes: Vec::new(),
                })
            })
            .collect()
    }

    /// One pass of one feed. Never panics on input; every failure is in the report and in
    /// the feed's stored state.
    pub async fn run_feed(self: &Arc<Self>, feed: &FeedConfig) -> FeedReport {
        let started = std::time::Instant::now();
        let holder = self.holder.clone();
        let (name, url) = (feed.name.clone(), feed.url.to_string());
        let lease_ttl = self.lease_ttl();
        let leased = self
            .blocking(move |p| {
                p.store()
                    .try_lease(&name, &url, &holder, Utc::now(), lease_ttl)
            })
            .await;
        match leased {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(feed = %feed.name, "another tidings process is fetching this feed; skipped");
                return FeedReport {
                    feed: feed.name.clone(),
                    outcome: FeedOutcome::Busy,
                    notes: Vec::new(),
                };
            }
            Err(error) => {
                return FeedReport {
                    feed: feed.name.clone(),
                    outcome: FeedOutcome::Failed(error),
                    notes: Vec::new(),
                };
            }
        }
        let report = self.run_leased_feed(feed, started).await;
        let (name, holder) = (feed.name.clone(), self.holder.clone());
        if let Err(error) = self
            .blocking(move |p| p.store().release_lease(&name, &holder))
            .await
        {
            tracing::warn!(feed = %feed.name, %error, "could not release the feed's lease; it expires by itself");
        }
        report
    }

    /// How long a lease lasts: longer than any pass can take.
    fn lease_ttl(&self) -> std::time::Duration {
        self.config.fetch.timeout * 2 + std::time::Duration::from_secs(120)
    }

    async fn run_leased_feed(
        self: &Arc<Self>,
        feed: &FeedConfig,
        started: std::time::Instant,
    ) -> FeedReport {
        let (outcome, notes) = match self.pass(feed).await {
            Ok(done) => done,
            Err(failure) => {
                let record = FetchRecord::Failed {
                    error: failure.message.clone(),
                    gone: failure.gone,
                    not_before: failure.retry_after,
                };
                if let Err(error) = self.record(feed, record).await {
                    tracing::error!(feed = %feed.name, error = %error.message, "could not record the failure in the database");
                }
                (FeedOutcome::Failed(failure.message), Vec::new())
            }
        };
        log_outcome(&feed.name, &outcome, started.elapsed());
        FeedReport {
            feed: feed.name.clone(),
            outcome,
            notes,
        }
    }

    /// Runs `work` on the blocking pool: SQLite, parsing and file writes must not hold up
    /// the async workers that drive the fetches.
    pub async fn blocking<T, E>(
        self: &Arc<Self>,
        work: impl FnOnce(&Pipeline) -> Result<T, E> + Send + 'static,
    ) -> Result<T, String>
    where
        T: Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let pipeline = Arc::clone(self);
        match tokio::task::spawn_blocking(move || work(&pipeline)).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(join) => Err(format!("internal task failed: {join}")),
        }
    }

    /// The limit of requests in flight to `url`'s host.
    fn host_limit(&self, url: &url::Url) -> Arc<Semaphore> {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let mut limits = self
            .host_limits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            limits
                .entry(host)
                .or_insert_with(|| Arc::new(Semaphore::new(self.config.fetch.per_host))),
        )
    }

    async fn pass(
        self: &Arc<Self>,
        feed: &FeedConfig,
    ) -> Result<(FeedOutcome, Vec<String>), Failure> {
        let (name, url) = (feed.name.clone(), feed.url.to_string());
        let state = self
            .blocking(move |p| p.store().feed_state(&name, &url))
            .await?;
        if state.gone {
            return Err(Failure {
                message: "gone (HTTP 410 earlier): not fetched again until its url changes in the configuration".into(),
                gone: true,
                retry_after: None,
            });
        }
        let mut notes = Vec::new();
        let mut url = state
            .effective_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .unwrap_or_else(|| feed.url.clone());
        let mut validators = state.validators.clone();
        let mut moved_to: Option<url::Url> = None;
        // A second round only when the first document was an HTML page naming its feed.
        for round in 0..2 {
            let outcome = self.fetch_limited(&url, &validators, &feed.headers).await?;
            if let Some(target) = outcome.moved_permanently_to {
                tracing::warn!(feed = %feed.name, to = %target, "feed moved permanently; using the new address");
                notes.push(format!("moved permanently to {target}"));
                moved_to = Some(target);
            }
            let document = match outcome.status {
                FetchStatus::NotModified => {
                    let record = FetchRecord::NotModified {
                        moved_to: moved_to.map(|u| u.to_string()),
                        not_before: outcome.fresh_until,
                    };
                    self.record(feed, record).await?;
                    return Ok((FeedOutcome::NotModified, notes));
                }
                FetchStatus::Fetched(document) => document,
            };
            let body_hash = hex(&Sha256::digest(&document.body));
            let validators_now = document.validators.clone();
            let fetched = |not_before| FetchRecord::Fetched {
                validators: validators_now.clone(),
                body_hash: body_hash.clone(),
                moved_to: moved_to.as_ref().map(url::Url::to_string),
                not_before,
            };
            if round == 0 && state.body_hash.as_deref() == Some(body_hash.as_str()) {
                self.record(feed, fetched(outcome.fresh_until)).await?;
                return Ok((FeedOutcome::SameContent, notes));
            }
            let feed_config = feed.clone();
            let processed = self
                .blocking(move |p| Ok::<_, String>(p.process_document(&feed_config, &document)))
                .await;
            match processed {
                Ok(Ok((report, feed_hint))) => {
                    let record = fetched(latest(outcome.fresh_until, feed_hint));
                    // The validators are stored only once the entries are claimed: a crash
                    // before this point refetches the document instead of getting a 304
                    // and losing entries.
                    self.record(feed, record).await?;
                    let name = feed.name.clone();
                    self.blocking(move |p| p.write_pending(Some(&name))).await?;
                    return Ok((FeedOutcome::Processed(report), notes));
                }
                Ok(Err(ProcessError::Discovered(found))) if round == 0 => {
                    tracing::info!(feed = %feed.name, found = %found, "the URL is a page; using the feed it names");
                    notes.push(format!("feed found at {found}"));
                    moved_to = Some(found.clone());
                    url = found;
                    validators = Validators::default();
                }
                Ok(Err(ProcessError::Discovered(_))) => {
                    return Err(Failure::from(
                        "not a feed (text/html), and the page it names is not one either"
                            .to_string(),
                    ));
                }
                Ok(Err(ProcessError::Failed(message))) | Err(message) => return Err(message.into()),
            }
        }
        Err(Failure::from("not a feed (text/html)".to_string()))
    }

    /// One fetch under the per-host limit.
    async fn fetch_limited(
        &self,
        url: &url::Url,
        validators: &Validators,
        headers: &[(String, String)],
    ) -> Result<FetchOutcome, Failure> {
        let host_limit = self.host_limit(url);
        let _permit = host_limit
            .acquire_owned()
            .await
            .map_err(|e| Failure::from(e.to_string()))?;
        self.fetcher
            .fetch(url, validators, headers)
            .await
            .map_err(|error| Failure {
                message: error.to_string(),
                gone: error.is_gone(),
                retry_after: error.retry_after(),
            })
    }

    async fn record(
        self: &Arc<Self>,
        feed: &FeedConfig,
        record: FetchRecord,
    ) -> Result<(), Failure> {
        let (name, url) = (feed.name.clone(), feed.url.to_string());
        self.blocking(move |p| p.store().record_fetch(&name, &url, &record, Utc::now()))
            .await
            .map_err(Failure::from)
    }

    /// Parse, normalise and claim (blocking: CPU work and SQLite). Also returns the feed's
    /// own hint about when to come back (`ttl`, `sy:updatePeriod`).
    fn process_document(
        &self,
        feed: &FeedConfig,
        document: &crate::fetch::Document,
    ) -> Result<(ClaimReport, Option<DateTime<Utc>>), ProcessError> {
        let parsed = parse_feed(&Source {
            bytes: &document.body,
            http_charset: document.charset.as_deref(),
            content_type: document.content_type.as_deref(),
            base_url: document.final_url.as_str(),
            zone: feed.timezone,
        });
        let mut parsed = match parsed {
            Ok(parsed) => parsed,
            Err(error @ ParseError::NotAFeed(_)) => {
                return Err(match discover_feed(&document.body, &document.final_url) {
                    Some(found) if found != document.final_url => ProcessError::Discovered(found),
                    _ => ProcessError::Failed(error.to_string()),
                });
            }
            Err(error) => return Err(ProcessError::Failed(error.to_string())),
        };
        let limits = &self.config.fetch;
        parsed.entries.truncate(limits.max_entries);
        for entry in &mut parsed.entries {
            bound_fields(entry, limits.max_field_bytes);
        }
        let now = Utc::now();
        let hint = update_hint(parsed.ttl, &document.body).map(|wait| now + wait);
        let context = FeedContext::from_feed(&parsed, &document.final_url);
        let mut identities: Vec<Identity> = parsed
            .entries
            .iter()
            .map(|e| identify(e, &context))
            .collect();
        disambiguate_keys(&mut identities);
        // Entries the feed repeats exactly as before need no HTML work at all.
        let unchanged = self
            .store()
            .unchanged_keys(&feed.name, &identities)
            .map_err(|e| ProcessError::Failed(e.to_string()))?;
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
        let options = ClaimOptions {
            rewrite_updates: feed.on_update == OnUpdate::Rewrite,
            cross_feed_dedup: feed.dedup == Dedup::Global,
        };
        let output = &self.config.output;
        let path_for = |article: &Article, date: DateTime<Utc>| {
            let slug = slugify(&article.title);
            let id = article.short_id();
            let slug = if slug.is_empty() { id.clone() } else { slug };
            output.path.render(
                &feed.name,
                &date.with_timezone(&output.timezone),
                &slug,
                &id,
            )
        };
        let taken_on_disk = |relative: &Path| output.dir.join(relative).exists();
        let mut report = self
            .store()
            .claim(
                &feed.name,
                &articles,
                options,
                now,
                &path_for,
                &taken_on_disk,
            )
            .map_err(|e| ProcessError::Failed(e.to_string()))?;
        report.unchanged += unchanged.len();
        Ok((report, hint))
    }

    /// Writes what earlier runs claimed but did not write (a crash, a full disk), feed by
    /// feed under the feed's lease, so a concurrent process never writes the same file.
    pub fn write_all_pending(&self) -> Result<usize, PipelineError> {
        let stale = crate::output::remove_stale_temp_files(&self.config.output.dir);
        if stale > 0 {
            tracing::info!(
                stale,
                "removed temporary files an interrupted run left behind"
            );
        }
        let feeds = self.store().feeds_with_pending()?;
        let mut written = 0;
        let mut first_error = None;
        for feed in feeds {
            let Some(config) = self.config.feeds.iter().find(|f| f.name == feed) else {
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
            match self.write_pending(Some(&feed)) {
                Ok(n) => written += n,
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
            self.store().release_lease(&feed, &self.holder)?;
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(written),
        }
    }

    /// Writes the files of pending entries (of one feed, or all) and marks them written.
    /// Entries of feeds no longer configured stay pending. Returns how many were written.
    pub fn write_pending(&self, feed: Option<&str>) -> Result<usize, PipelineError> {
        let pending = self.store().pending(feed)?;
        let mut written = Vec::with_capacity(pending.len());
        let mut first_error = None;
        for entry in &pending {
            let Some(text) = self.render_entry(entry) else {
                continue;
            };
            match write_atomic(&self.config.output.dir, &entry.path, text.as_bytes()) {
                Ok(()) => written.push(entry.id),
                Err(error) => {
                    tracing::warn!(feed = %entry.feed, %error, "article left pending");
                    first_error.get_or_insert(error.to_string());
                }
            }
        }
        if !written.is_empty() {
            // One flush for the batch; only then are the entries recorded as written.
            if let Err(error) = crate::output::sync_filesystem(&self.config.output.dir) {
                tracing::warn!(%error, "articles left pending: could not flush them to disk");
                return Err(PipelineError::Write(error.to_string()));
            }
        }
        self.store().mark_written(&written, Utc::now())?;
        match first_error {
            Some(error) => Err(PipelineError::Write(format!(
                "{error} ({} article(s) left pending for the next run)",
                pending.len() - written.len()
            ))),
            None => Ok(written.len()),
        }
    }

    /// The file text of a stored entry with today's settings; `None` when its feed is no
    /// longer configured.
    fn render_entry(&self, entry: &crate::store::PendingEntry) -> Option<String> {
        let feed = self.config.feeds.iter().find(|f| f.name == entry.feed)?;
        let settings = RenderSettings {
            feed_name: &feed.name,
            timezone: self.config.output.timezone,
            front_matter: &feed.front_matter,
            entry_tags: feed.entry_tags,
            auto_thumbnail: feed.auto_thumbnail,
        };
        Some(render_article(&entry.article, entry.date, &settings))
    }

    /// Rewrites the files of written entries from the database, without fetching: after a
    /// change of front matter defaults or time zone. Files whose text would not change are
    /// not touched (their mtime stays), and files someone deleted stay deleted.
    pub fn render_written(&self, feeds: &[FeedConfig]) -> Result<RenderReport, PipelineError> {
        let mut report = RenderReport::default();
        for feed in feeds {
            for entry in self.store().written(Some(&feed.name))? {
                let Some(text) = self.render_entry(&entry) else {
                    continue;
                };
                let target = self.config.output.dir.join(&entry.path);
                match std::fs::read(&target) {
                    Ok(current) if current == text.as_bytes() => report.unchanged += 1,
                    Ok(_) => {
                        write_atomic(&self.config.output.dir, &entry.path, text.as_bytes())
                            .map_err(|e| PipelineError::Write(e.to_string()))?;
                        report.rewritten += 1;
                    }
                    Err(_) => report.missing += 1,
                }
            }
        }
        if report.rewritten > 0 {
            crate::output::sync_filesystem(&self.config.output.dir)
                .map_err(|e| PipelineError::Write(e.to_string()))?;
        }
        Ok(report)
    }
}

/// What `tidings render` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RenderReport {
    pub rewritten: usize,
    pub unchanged: usize,
    /// Files deleted downstream: left deleted.
    pub missing: usize,
}

fn log_outcome(feed: &str, outcome: &FeedOutcome, elapsed: std::time::Duration) {
    let duration_ms = elapsed.as_millis() as u64;
    match outcome {
        FeedOutcome::Busy => {
            tracing::info!(feed, status = "busy", new = 0, updated = 0, duration_ms)
        }
        FeedOutcome::NotModified => tracing::info!(
            feed,
            status = "not-modified",
            new = 0,
            updated = 0,
            duration_ms
        ),
        FeedOutcome::SameContent => tracing::info!(
            feed,
            status = "same-content",
            new = 0,
            updated = 0,
            duration_ms
        ),
        FeedOutcome::Processed(r) => {
            tracing::info!(
                feed,
                status = "ok",
                new = r.new,
                updated = r.updated,
                duration_ms
            )
        }
        FeedOutcome::Failed(error) => {
            tracing::warn!(feed, status = "failed", error = %error, duration_ms)
        }
    }
}

impl std::fmt::Display for FeedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            FeedOutcome::NotModified => write!(f, "{}: unchanged (not modified)", self.feed),
            FeedOutcome::SameContent => write!(f, "{}: unchanged (same content)", self.feed),
            FeedOutcome::Processed(r) => write!(
                f,
                "{}: {} new, {} updated, {} unchanged, {} duplicates",
                self.feed, r.new, r.updated, r.unchanged, r.duplicates
            ),
            FeedOutcome::Busy => write!(
                f,
                "{}: skipped (another tidings process is fetching it)",
                self.feed
            ),
            FeedOutcome::Failed(error) => write!(f, "{}: failed: {error}", self.feed),
        }?;
        if !self.notes.is_empty() {
            write!(f, " ({})", self.notes.join("; "))?;
        }
        Ok(())
    }
}

/// The sums over a run's reports, for the closing line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    pub feeds: usize,
    pub new: usize,
    pub updated: usize,
    pub unchanged_feeds: usize,
    pub duplicates: usize,
    pub failed: usize,
}

impl Totals {
    pub fn of(reports: &[FeedReport]) -> Totals {
        let mut totals = Totals {
            feeds: reports.len(),
            ..Totals::default()
        };
        for report in reports {
            match &report.outcome {
                FeedOutcome::NotModified | FeedOutcome::SameContent | FeedOutcome::Busy => {
                    totals.unchanged_feeds += 1
                }
                FeedOutcome::Processed(r) => {
                    totals.new += r.new;
                    totals.updated += r.updated;
                    totals.duplicates += r.duplicates;
                }
                FeedOutcome::Failed(_) => totals.failed += 1,
            }
        }
        totals
    }
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "total: {} feed(s), {} new, {} updated, {} duplicates, {} unchanged feed(s), {} failed",
            self.feeds, self.new, self.updated, self.duplicates, self.unchanged_feeds, self.failed
        )
    }
}
