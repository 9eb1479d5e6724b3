//! One feed's pass: lease, conditional fetch under the per-host limit, autodiscovery, the
//! same-bytes check, processing, writing, and the record of how it ended.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;

use super::process::Processed;
use super::report::log_outcome;
use super::write::WrittenArticle;
use super::{FeedError, FeedOutcome, FeedReport, Pipeline};
use crate::config::FeedConfig;
use crate::fetch::{FetchOutcome, FetchStatus, Request, Validators};
use crate::store::{FeedState, FetchRecord};

/// Whether a pass waits for the time the server asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassMode {
    /// A feed whose server asked not to be fetched yet (`Retry-After`, cache lifetime,
    /// `ttl`) is skipped and reported as not due.
    HonourServer,
    /// Fetch now whatever the server asked (`tidings fetch --force`).
    Force,
    /// Fetch now and record every new entry as seen without writing it
    /// (`tidings fetch --catchup`).
    CatchUp,
}

/// Passes that may exist for each place among `fetch.concurrency`: one at work, the rest
/// waiting for a place or for the flush of the files they wrote. A flush takes 50–150 ms;
/// with 16 places, feeds ending meanwhile filled them all and the pass stood still.
const PASSES_PER_PLACE: usize = 4;

/// Where a pass is fetching from, and what it has learnt on the way.
struct Attempt {
    url: url::Url,
    validators: Validators,
    /// The feed's new address (permanent redirects, autodiscovery), to store.
    moved_to: Option<url::Url>,
    traces: Traces,
    /// New entries are recorded as seen, not written (`fetch --catchup`).
    catch_up: bool,
    /// The pass's place among `fetch.concurrency`, given back while its files wait to be
    /// flushed and marked.
    place: Option<OwnedSemaphorePermit>,
}

/// What a pass leaves besides its outcome, for its report.
#[derive(Debug, Default)]
pub struct Traces {
    /// Things the person should know that did not stop the pass.
    pub notes: Vec<String>,
    /// Body bytes fetched (after decompression), all rounds together.
    pub bytes: u64,
    /// The files it wrote.
    pub written: Vec<WrittenArticle>,
    /// The feed's lease went back with the pass's last write.
    pub lease_released: bool,
}

/// How one round of fetching ended.
enum Round {
    Finished(FeedOutcome),
    /// The document is an HTML page naming its feed here.
    Discovered(url::Url),
}

impl Pipeline {
    /// Runs `feeds` with at most `fetch.concurrency` in flight; `on_report` sees each
    /// report as its feed finishes. Returns the reports in the order the feeds were given.
    pub async fn run_feeds(
        self: &Arc<Self>,
        feeds: &[FeedConfig],
        mode: PassMode,
        mut on_report: impl FnMut(&FeedReport),
    ) -> Vec<FeedReport> {
        // A bounded number of passes exist at any time (not one waiting task per feed), so
        // memory stays flat however many feeds there are: `concurrency` at work and, for
        // each, a few more waiting for their files' flush or for a place.
        let limit = self
            .config
            .fetch
            .concurrency
            .saturating_mul(PASSES_PER_PLACE);
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
            // Places are taken here, in the order the feeds were given, rather than by the
            // tasks in whatever order the runtime first polls them: with `concurrency = 1`
            // the feeds run one after another in configuration order, so the first feed
            // carrying a story is the one that writes it. Feeds finishing meanwhile are
            // reported as they finish.
            let place = loop {
                tokio::select! {
                    place = Arc::clone(&self.passes).acquire_owned() => break place.ok(),
                    Some(joined) = tasks.join_next(), if !tasks.is_empty() => finish_one(Some(joined)),
                }
            };
            let pipeline = Arc::clone(self);
            tasks.spawn(
                async move { (index, pipeline.run_feed_in_place(&feed, mode, place).await) },
            );
        }
        while !tasks.is_empty() {
            finish_one(tasks.join_next().await);
        }
        reports
            .into_iter()
            .zip(feeds)
            .map(|(report, feed)| {
                report.unwrap_or_else(|| FeedReport {
                    feed: feed.name.clone(),
                    outcome: FeedOutcome::Failed(Arc::new(FeedError::Internal)),
                    notes: Vec::new(),
                    elapsed: std::time::Duration::ZERO,
                    bytes: 0,
                    written: Vec::new(),
                })
            })
            .collect()
    }

    /// One pass of one feed. Never panics on input; every failure is in the report and in
    /// the feed's stored state.
    pub async fn run_feed(self: &Arc<Self>, feed: &FeedConfig, mode: PassMode) -> FeedReport {
        // The semaphore is never closed; if acquiring ever failed, the pass goes ahead.
        let place = Arc::clone(&self.passes).acquire_owned().await.ok();
        self.run_feed_in_place(feed, mode, place).await
    }

    /// [`run_feed`](Self::run_feed) with its place among `fetch.concurrency` taken.
    async fn run_feed_in_place(
        self: &Arc<Self>,
        feed: &FeedConfig,
        mode: PassMode,
        place: Option<OwnedSemaphorePermit>,
    ) -> FeedReport {
        let started = Instant::now();
        let (name, url, holder, ttl) = (
            feed.name.clone(),
            feed.url.to_string(),
            self.holder.clone(),
            self.lease_ttl(),
        );
        // The lease and the feed's state in one call to the database thread.
        let leased = self
            .with_store(move |store| {
                if !store.try_lease(&name, &url, &holder, Utc::now(), ttl)? {
                    return Ok(None);
                }
                store.feed_state(&name, &url).map(Some).inspect_err(|_| {
                    // The pass ends here: the feed is given back (an error doing so is
                    // outlived by the lease's expiry).
                    let _ = store.release_lease(&name, &holder);
                })
            })
            .await;
        let report = |outcome, traces: Traces| FeedReport {
            feed: feed.name.clone(),
            outcome,
            notes: traces.notes,
            elapsed: started.elapsed(),
            bytes: traces.bytes,
            written: traces.written,
        };
        let state = match leased {
            Ok(Some(state)) => state,
            Ok(None) => {
                tracing::info!(feed = %feed.name, "another tidings process is fetching this feed; skipped");
                return report(FeedOutcome::Busy, Traces::default());
            }
            Err(error) => {
                return report(
                    FeedOutcome::Failed(Arc::new(error.into())),
                    Traces::default(),
                );
            }
        };
        let (outcome, traces) = self.run_leased_feed(feed, mode, &state, place).await;
        log_outcome(&feed.name, &outcome, started.elapsed());
        let (name, holder) = (feed.name.clone(), self.holder.clone());
        if !traces.lease_released
            && let Err(error) = self
                .with_store(move |store| store.release_lease(&name, &holder))
                .await
        {
            tracing::warn!(feed = %feed.name, error = %crate::error::ErrorChain(&error), "could not release the feed's lease; it expires by itself");
        }
        report(outcome, traces)
    }

    async fn run_leased_feed(
        self: &Arc<Self>,
        feed: &FeedConfig,
        mode: PassMode,
        state: &FeedState,
        place: Option<OwnedSemaphorePermit>,
    ) -> (FeedOutcome, Traces) {
        match self.pass(feed, mode, state, place).await {
            Ok(done) => done,
            Err(error) => {
                let record = FetchRecord::Failed {
                    error: crate::error::ErrorChain(&error).to_string(),
                    gone: error.is_gone(),
                    not_before: error.retry_after(),
                };
                let recorded = self.record(feed, record).await;
                if let Err(store_error) = &recorded {
                    tracing::error!(feed = %feed.name, error = %crate::error::ErrorChain(store_error), "could not record the failure in the database");
                }
                let traces = Traces {
                    lease_released: recorded.is_ok(),
                    ..Traces::default()
                };
                (FeedOutcome::Failed(Arc::new(error)), traces)
            }
        }
    }

    async fn pass(
        self: &Arc<Self>,
        feed: &FeedConfig,
        mode: PassMode,
        state: &FeedState,
        place: Option<OwnedSemaphorePermit>,
    ) -> Result<(FeedOutcome, Traces), FeedError> {
        if state.gone {
            return Err(FeedError::Gone);
        }
        if let (PassMode::HonourServer, Some(until)) = (mode, state.not_before)
            && until > Utc::now()
        {
            return Ok((FeedOutcome::NotDue(until), Traces::default()));
        }
        let mut attempt = Attempt {
            url: state
                .effective_url
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .unwrap_or_else(|| feed.url.clone()),
            validators: state.validators.clone(),
            moved_to: None,
            traces: Traces::default(),
            catch_up: mode == PassMode::CatchUp,
            place,
        };
        let found = match self.round(feed, state, &mut attempt, true).await? {
            Round::Finished(outcome) => return Ok((outcome, attempt.traces)),
            Round::Discovered(found) => found,
        };
        // The URL was a page naming its feed: one more round, at the feed.
        tracing::info!(feed = %feed.name, found = %found, "the URL is a page; using the feed it names");
        attempt.traces.notes.push(format!("feed found at {found}"));
        attempt.moved_to = Some(found.clone());
        attempt.url = found;
        attempt.validators = Validators::default();
        match self.round(feed, state, &mut attempt, false).await? {
            Round::Finished(outcome) => Ok((outcome, attempt.traces)),
            Round::Discovered(_) => Err(FeedError::DiscoveredPageIsNoFeed),
        }
    }

    /// One fetch and what follows it: a 304, the same bytes as last time, or a document
    /// processed and written.
    async fn round(
        self: &Arc<Self>,
        feed: &FeedConfig,
        state: &FeedState,
        attempt: &mut Attempt,
        first: bool,
    ) -> Result<Round, FeedError> {
        let outcome = self
            .fetch_limited(&attempt.url, &attempt.validators, feed)
            .await?;
        if let Some(target) = outcome.moved_permanently_to {
            tracing::warn!(feed = %feed.name, to = %target, "feed moved permanently; using the new address");
            attempt
                .traces
                .notes
                .push(format!("moved permanently to {target}"));
            attempt.moved_to = Some(target);
        }
        let moved_to = attempt.moved_to.as_ref().map(url::Url::to_string);
        let document = match outcome.status {
            FetchStatus::NotModified => {
                let record = FetchRecord::NotModified {
                    moved_to,
                    not_before: outcome.fresh_until,
                };
                self.record(feed, record).await?;
                attempt.traces.lease_released = true;
                return Ok(Round::Finished(FeedOutcome::NotModified));
            }
            FetchStatus::Fetched(document) => {
                attempt.traces.bytes += document.body.len() as u64;
                document
            }
        };
        // Compared only with this feed's last body: XXH3-128 (SHA-256 of every fetched
        // body was 3% of the CPU of a pass whose feeds had two new entries each).
        let body_hash =
            crate::article::change_digest_text(xxhash_rust::xxh3::xxh3_128(&document.body));
        let fetched = FetchRecord::Fetched {
            validators: document.validators.clone(),
            body_hash: body_hash.clone(),
            moved_to,
            not_before: outcome.fresh_until,
            document: None,
        };
        if first && state.body_hash.as_deref() == Some(body_hash.as_str()) {
            self.record(feed, fetched).await?;
            attempt.traces.lease_released = true;
            return Ok(Round::Finished(FeedOutcome::SameContent));
        }
        let feed_config = feed.clone();
        let catch_up = attempt.catch_up;
        // Without pages or images to fetch first, the claimed entries are written on the
        // same blocking thread, without a trip back to the runtime in between.
        let write_at_once = !feed.full_text && !feed.local_images;
        // The fetch is recorded with the claim (validators stored only once the entries
        // are claimed: a crash before refetches the document instead of getting a 304).
        let (processed, written) = self
            .blocking(move |p| {
                let mut processed =
                    p.process_document(&feed_config, &document, catch_up, fetched)?;
                let written = match &mut processed {
                    Processed::Claimed {
                        to_write,
                        feed_title,
                        ..
                    } if write_at_once => Some(p.write_claimed(
                        &feed_config.name,
                        to_write.take(),
                        feed_title.as_deref(),
                    )?),
                    _ => None,
                };
                Ok::<_, FeedError>((processed, written))
            })
            .await?;
        match processed {
            Processed::Claimed { report, notes, .. } => {
                attempt.traces.notes.extend(notes);
                let mut unmarked = match written {
                    Some(unmarked) => unmarked,
                    None => {
                        self.fetch_pages_and_images(feed, attempt).await?;
                        let name = feed.name.clone();
                        // Pages and images changed the stored articles: read them back.
                        self.blocking(move |p| p.write_claimed(&name, None, None))
                            .await?
                    }
                };
                // The files are written: another feed can start while they are flushed.
                attempt.place = None;
                self.mark_in_group(std::mem::take(&mut unmarked.ids), &feed.name)
                    .await?;
                attempt.traces.lease_released = true;
                let written = unmarked.outcome()?;
                // Only hooks read the list; without them a run of 50,000 articles would
                // keep 50,000 paths and titles until it ends.
                if self.config.hooks.any() {
                    attempt.traces.written.extend(written);
                }
                Ok(Round::Finished(FeedOutcome::Processed(report)))
            }
            Processed::Discovered(found) => Ok(Round::Discovered(found)),
        }
    }

    /// Full text and local images of the claimed entries, as the feed asks.
    async fn fetch_pages_and_images(
        self: &Arc<Self>,
        feed: &FeedConfig,
        attempt: &mut Attempt,
    ) -> Result<(), FeedError> {
        if feed.full_text {
            let full_text = self.fetch_full_text(feed).await?;
            if !full_text.fallbacks.is_empty() {
                attempt.traces.notes.push(format!(
                    "full text: {} from pages, {} kept the feed's content (first: {})",
                    full_text.pages,
                    full_text.fallbacks.len(),
                    full_text.fallbacks[0]
                ));
            }
        }
        if feed.local_images {
            let images = self.keep_images(feed).await?;
            if !images.failed.is_empty() {
                attempt.traces.notes.push(format!(
                    "{} image(s) left remote (first: {})",
                    images.failed.len(),
                    images.failed[0].1
                ));
            }
        }
        Ok(())
    }

    /// One fetch under the per-host limit.
    async fn fetch_limited(
        &self,
        url: &url::Url,
        validators: &Validators,
        feed: &FeedConfig,
    ) -> Result<FetchOutcome, FeedError> {
        let _permit = self.host_permit(url).await;
        let request = Request {
            headers: &feed.headers,
            allow_private_networks: feed.allow_private_networks,
        };
        Ok(self.fetcher.fetch(url, validators, &request).await?)
    }

    /// Records how the feed's pass ended, and gives its lease back with it.
    async fn record(
        self: &Arc<Self>,
        feed: &FeedConfig,
        record: FetchRecord,
    ) -> Result<(), FeedError> {
        let (name, url, holder) = (feed.name.clone(), feed.url.to_string(), self.holder.clone());
        Ok(self
            .with_store(move |store| {
                store.record_fetch(&name, &url, &record, Utc::now(), Some(&holder))
            })
            .await?)
    }
}
