//! One feed end to end: fetch -> parse -> normalise -> claim -> render -> write -> record.
//! The same code serves `tidings fetch`, `tidings render` and the daemon.
//!
//! # Architecture
//! - this module: the [`Pipeline`] (configuration, HTTP client, database, per-host
//!   limits), opened one way for every command, and its errors.
//! - [`pass`]: one feed's pass, under its lease and the per-host limit: conditional
//!   fetch, autodiscovery, same-bytes check, then the document to [`process`] and the new
//!   files to [`write`]; what happened is recorded in the feed's row.
//! - [`process`]: a fetched document to claimed articles (blocking: parsing, HTML
//!   conversion, one SQLite transaction). Unchanged entries stop at their identity.
//! - [`write`]: claimed articles to files (render, atomic write), also for `tidings
//!   render`.
//! - [`marks`]: written files flushed and marked written, with the leases given back, in
//!   one `syncfs` and one transaction for all the feeds that finish together.
//! - [`full_text`]: the pages of new entries fetched and their articles extracted
//!   (`full_text = true`), before images and files.
//! - [`images`]: the images of new articles downloaded and kept (`output.images = "local"`),
//!   before their files are written.
//! - [`report`]: what a pass did, for the person at the terminal and the log.
//! - [`reindex`]: what tidings knows rebuilt from the articles on disk.
//! - [`probe`]: one fetch of a URL for `tidings add` (autodiscovery, the feed's title).
//!
//! CPU work, SQLite and file writes run on tokio's blocking pool; only fetching runs on
//! the async workers.

pub mod full_text;
pub mod images;
pub mod known;
pub mod marks;
pub mod pass;
pub mod probe;
pub mod process;
pub mod reindex;
pub mod report;
pub mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Semaphore;

pub use full_text::{ExtractPageError, extract_markdown, extract_page};
pub use pass::PassMode;
pub use probe::{ProbedFeed, probe_feed};
pub use reindex::ReindexReport;
pub use report::{FeedOutcome, FeedReport, Totals};
pub use write::{RenderReport, WrittenArticle};

use crate::config::Config;
use crate::feed::ParseError;
use crate::fetch::{ClientError, FetchError, Fetcher};
use crate::output::WriteError;
use crate::store::{Store, StoreError, lease_holder_name};

/// What went wrong in the machinery around feeds: the database, the files, the runtime.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A file could not be written or flushed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Some files of a batch could not be written; their entries stay pending.
    #[error("{left} article(s) left pending for the next run")]
    LeftPending {
        /// How many.
        left: usize,
        /// The first write that failed.
        #[source]
        source: WriteError,
    },
    /// An article's template failed; it stays pending (or, in `render`, unchanged).
    #[error("{left} article(s) left pending: the template failed")]
    Render {
        /// How many.
        left: usize,
        /// What the template said.
        #[source]
        source: crate::render::TemplateError,
    },
    /// A blocking task panicked or was cancelled.
    #[error("internal task failed")]
    Task(#[from] tokio::task::JoinError),
}

/// Why one feed's pass failed. Every variant is shown in the report and stored as the
/// feed's last error.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The HTTP request failed or was refused.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The document is not a feed tidings can read.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// An earlier fetch got 410 Gone.
    #[error(
        "gone (HTTP 410 earlier): not fetched again until its url changes in the configuration"
    )]
    Gone,
    /// The URL is an HTML page whose feed link leads to another page.
    #[error("not a feed (text/html), and the page it names is not one either")]
    DiscoveredPageIsNoFeed,
    /// The database, the files or the runtime.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The feed's task ended abnormally (the log says how).
    #[error("internal error (see log)")]
    Internal,
}

impl From<StoreError> for FeedError {
    fn from(error: StoreError) -> FeedError {
        FeedError::Pipeline(error.into())
    }
}

impl FeedError {
    /// The server said the feed is gone for good (410), now or earlier.
    pub fn is_gone(&self) -> bool {
        match self {
            FeedError::Gone => true,
            FeedError::Fetch(error) => error.is_gone(),
            _ => false,
        }
    }

    /// When the server allows the next request (429/503 with `Retry-After`).
    pub fn retry_after(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self {
            FeedError::Fetch(error) => error.retry_after(),
            _ => None,
        }
    }
}

/// Everything a pass needs, shared by all feeds of a run.
pub struct Pipeline {
    config: Arc<Config>,
    fetcher: Fetcher,
    store: Mutex<Store>,
    host_limits: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// `fetch.concurrency`: the feeds whose pass is fetching, processing or writing. A
    /// pass gives its place back while its files wait to be flushed and marked.
    passes: Arc<Semaphore>,
    /// This process's name in feed leases.
    holder: String,
    /// When each host was last asked for an article page.
    page_clock: full_text::PageClock,
    /// The flush of written files to disk, shared by the feeds of a run.
    flush: crate::output::SharedFlush,
    /// The written marks of feeds ending together, recorded together.
    marks: marks::WrittenMarks,
    /// Where each feed's name is in `config.feeds`: writing looks a feed up per article,
    /// which a scan of 10,000 feeds made the slowest step of a big run.
    feed_positions: HashMap<String, usize>,
}

impl Pipeline {
    /// Opens the database and makes the HTTP client for `config` (built at its first use):
    /// how `render` and `reindex` get a pipeline; `fetch` and the daemon (and its reloads)
    /// open theirs with [`Pipeline::open_for_fetching`].
    pub fn open(config: Config) -> Result<Arc<Pipeline>, PipelineError> {
        let fetcher = Fetcher::new(&config.fetch)?;
        Self::with_fetcher(config, fetcher)
    }

    /// [`Pipeline::open`] for a run that fetches its feeds (`fetch`, the daemon): the HTTP
    /// clients those feeds need start being built while the database opens
    /// ([`Fetcher::prepare`]).
    pub fn open_for_fetching(config: Config) -> Result<Arc<Pipeline>, PipelineError> {
        let fetcher = Fetcher::new(&config.fetch)?;
        let feeds = &config.feeds;
        if feeds.iter().any(|feed| feed.allow_private_networks) {
            fetcher.prepare(true);
        }
        if feeds.iter().any(|feed| !feed.allow_private_networks) {
            fetcher.prepare(false);
        }
        Self::with_fetcher(config, fetcher)
    }

    fn with_fetcher(config: Config, fetcher: Fetcher) -> Result<Arc<Pipeline>, PipelineError> {
        let store = Store::open(&config.database)?;
        let feed_positions = config
            .feeds
            .iter()
            .enumerate()
            .map(|(position, feed)| (feed.name.clone(), position))
            .collect();
        let passes = Arc::new(Semaphore::new(config.fetch.concurrency));
        Ok(Arc::new(Pipeline {
            config: Arc::new(config),
            fetcher,
            store: Mutex::new(store),
            host_limits: Mutex::new(HashMap::new()),
            passes,
            holder: lease_holder_name(),
            page_clock: full_text::PageClock::default(),
            flush: crate::output::SharedFlush::default(),
            marks: marks::WrittenMarks::default(),
            feed_positions,
        }))
    }

    /// The HTTP client (feeds, pages, webhooks).
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// The configured feed of this name.
    pub fn feed_config(&self, name: &str) -> Option<&crate::config::FeedConfig> {
        self.feed_positions
            .get(name)
            .and_then(|&position| self.config.feeds.get(position))
    }

    /// The configuration this pipeline runs.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The database, for one short piece of blocking work.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave SQLite half-done (transactions roll
        // back on drop), so a poisoned lock is still safe to use.
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `work` on the blocking pool: SQLite, parsing and file writes must not hold up
    /// the async workers that drive the fetches.
    pub async fn blocking<T, E>(
        self: &Arc<Self>,
        work: impl FnOnce(&Pipeline) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<PipelineError> + Send + 'static,
    {
        let pipeline = Arc::clone(self);
        tokio::task::spawn_blocking(move || work(&pipeline))
            .await
            .map_err(|join| E::from(PipelineError::Task(join)))?
    }

    /// Runs one database call on the blocking pool.
    pub async fn with_store<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, PipelineError> {
        self.blocking(move |p| work(&mut p.store()).map_err(PipelineError::from))
            .await
    }

    /// A place among the requests in flight to `url`'s host (feeds, pages and images
    /// alike), held until dropped. The semaphore is never closed, so acquiring cannot
    /// fail; if it ever did, the request goes ahead rather than the pass failing.
    async fn host_permit(&self, url: &url::Url) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.host_limit(url).acquire_owned().await.ok()
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

    /// How long a lease lasts: longer than any pass can take.
    fn lease_ttl(&self) -> std::time::Duration {
        self.config.fetch.timeout * 2 + std::time::Duration::from_secs(120)
    }
}
