//! `tidings run`: fetch each feed on its schedule until told to stop.
//!
//! One loop owns the plan (which feed is due when). It starts due feeds as tasks and never
//! waits on one; a finished pass plans that feed's next fetch (its schedule, or a backoff
//! after a failure) and stores it, so a restart resumes the plan. SIGHUP reloads the
//! configuration; SIGTERM and SIGINT stop scheduling and give in-flight feeds a grace
//! period. Under systemd (`Type=notify`) it reports READY, STATUS, WATCHDOG, RELOADING and
//! STOPPING.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::{self, Config, FeedConfig};
use crate::fetch::Fetcher;
use crate::pipeline::{FeedOutcome, FeedReport, Pipeline};
use crate::schedule::{jitter, next_after_failure, next_after_success};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Client(#[from] crate::fetch::ClientError),
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
}

/// The longest the loop sleeps: it also proves to the watchdog that it is alive.
const TICK: Duration = Duration::from_secs(1);

/// One feed's place in the plan.
struct Planned {
    feed: FeedConfig,
    due: DateTime<Utc>,
}

/// What the daemon has done since it started, for systemd's STATUS line.
#[derive(Default)]
struct Counters {
    passes: u64,
    new_articles: u64,
    failed_passes: u64,
}

fn build_pipeline(config: Config) -> Result<Arc<Pipeline>, DaemonError> {
    let store = Store::open(&config.database)?;
    let fetcher = Fetcher::new(&config.fetch)?;
    Ok(Pipeline::new(Arc::new(config), fetcher, store))
}

/// Runs the daemon until SIGTERM or SIGINT. `config_path` is read again on SIGHUP.
pub async fn run(config_path: PathBuf, config: Config) -> Result<(), DaemonError> {
    let mut pipeline = build_pipeline(config)?;
    if let Err(error) = pipeline.blocking(|p| p.write_all_pending()).await {
        tracing::error!(%error, "could not write the articles an earlier run left pending");
    }
    let mut plan = initial_plan(&pipeline, Utc::now()).await;
    let mut terminate = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let mut hangup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;

    let heartbeat = Arc::new(AtomicI64::new(Utc::now().timestamp_millis()));
    start_watchdog(Arc::clone(&heartbeat));
    let mut limit = Arc::new(Semaphore::new(pipeline.config().fetch.concurrency));
    let mut in_flight: HashSet<String> = HashSet::new();
    let mut tasks: JoinSet<(FeedConfig, FeedReport, Arc<Pipeline>)> = JoinSet::new();
    let mut counters = Counters::default();

    notify(&[sd_notify::NotifyState::Ready]);
    report_status(&plan, &in_flight, &counters);
    tracing::info!(feeds = plan.len(), "tidings is running");

    loop {
        heartbeat.store(Utc::now().timestamp_millis(), Ordering::Relaxed);
        let now = Utc::now();
        for planned in plan.values() {
            if planned.due <= now && !in_flight.contains(&planned.feed.name) {
                in_flight.insert(planned.feed.name.clone());
                let (feed, pipeline, limit) = (
                    planned.feed.clone(),
                    Arc::clone(&pipeline),
                    Arc::clone(&limit),
                );
                tasks.spawn(async move {
                    let _permit = limit.acquire_owned().await;
                    let report = pipeline.run_feed(&feed).await;
                    (feed, report, pipeline)
                });
            }
        }
        let next_due = plan
            .values()
            .filter(|p| !in_flight.contains(&p.feed.name))
            .map(|p| p.due)
            .min();
        let sleep_for = next_due
            .and_then(|due| (due - Utc::now()).to_std().ok())
            .unwrap_or(Duration::ZERO)
            .min(TICK);
        let sleep_for = if next_due.is_none() { TICK } else { sleep_for };

        tokio::select! {
            () = tokio::time::sleep(sleep_for) => {}
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                match joined {
                    Ok((feed, report, used)) => {
                        in_flight.remove(&feed.name);
                        counters.passes += 1;
                        match &report.outcome {
                            FeedOutcome::Processed(claim) => counters.new_articles += claim.new as u64,
                            FeedOutcome::Failed(_) => counters.failed_passes += 1,
                            _ => {}
                        }
                        plan_next(&used, &mut plan, &feed, &report).await;
                        report_status(&plan, &in_flight, &counters);
                    }
                    Err(error) => {
                        tracing::error!(%error, "a feed task ended abnormally");
                        // Its name is unknown here; let every feed be planned again.
                        in_flight.clear();
                    }
                }
            }
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => {
                if let Some(reloaded) = reload(&config_path, &mut plan).await {
                    limit = Arc::new(Semaphore::new(reloaded.config().fetch.concurrency));
                    pipeline = reloaded;
                }
                report_status(&plan, &in_flight, &counters);
            }
        }
    }

    notify(&[sd_notify::NotifyState::Stopping]);
    let grace = pipeline.config().daemon.grace;
    tracing::info!(
        in_flight = tasks.len(),
        grace_secs = grace.as_secs(),
        "stopping"
    );
    let drained = tokio::time::timeout(grace, async {
        while let Some(joined) = tasks.join_next().await {
            if let Ok((feed, report, used)) = joined {
                plan_next(&used, &mut plan, &feed, &report).await;
            }
        }
    })
    .await;
    if drained.is_err() {
        // Files are written atomically and claimed entries stay pending until written, so
        // cutting a pass short loses nothing: the next start writes what is pending.
        tracing::warn!(
            unfinished = tasks.len(),
            "grace period over; stopping unfinished feeds"
        );
        tasks.abort_all();
    }
    Ok(())
}

/// Where each feed starts: its stored due time if that is still ahead, else (never
/// fetched, or overdue after downtime) a stable point in the start-up window, so a restart
/// does not fetch everything at once.
async fn initial_plan(pipeline: &Arc<Pipeline>, now: DateTime<Utc>) -> HashMap<String, Planned> {
    let spread = pipeline.config().daemon.startup_spread;
    let mut plan = HashMap::new();
    for feed in pipeline.config().feeds.clone() {
        let name = feed.name.clone();
        let stored = pipeline
            .blocking(move |p| p.store().next_due(&name))
            .await
            .ok()
            .flatten();
        let due = match stored {
            Some(due) if due > now => due,
            _ => now + chrono::Duration::from_std(jitter(&feed.name, spread)).unwrap_or_default(),
        };
        plan.insert(feed.name.clone(), Planned { feed, due });
    }
    plan
}

/// Plans a feed's next fetch after a pass and stores it.
async fn plan_next(
    pipeline: &Arc<Pipeline>,
    plan: &mut HashMap<String, Planned>,
    feed: &FeedConfig,
    report: &FeedReport,
) {
    // The feed may have been removed or changed by a reload while it was in flight.
    let Some(planned) = plan.get_mut(&feed.name) else {
        return;
    };
    if planned.feed.url != feed.url {
        return;
    }
    let timing = pipeline.config().daemon.timing;
    let now = Utc::now();
    let (name, url) = (feed.name.clone(), feed.url.to_string());
    let state = pipeline
        .blocking(move |p| p.store().feed_state(&name, &url))
        .await
        .unwrap_or_default();
    // The server's own timing (cache lifetime, ttl, Retry-After) can only delay a fetch.
    let not_before = state.not_before;
    let (schedule, zone) = (&planned.feed.schedule, planned.feed.timezone);
    let due = if report.failed() {
        let failures = state.error_count.max(1);
        next_after_failure(
            schedule, &feed.name, now, zone, &timing, failures, not_before,
        )
    } else {
        next_after_success(schedule, &feed.name, now, zone, &timing, not_before)
    };
    planned.due = due;
    let name = feed.name.clone();
    if let Err(error) = pipeline
        .blocking(move |p| p.store().set_next_due(&name, due))
        .await
    {
        tracing::warn!(feed = %feed.name, %error, "could not store the next due time");
    }
    tracing::debug!(feed = %feed.name, next_due = %due, "planned");
}

/// Reads the configuration again. On success the plan follows it (new and changed feeds
/// are due now, removed ones leave) and the new pipeline is returned; on failure the old
/// configuration stays and the error is logged.
async fn reload(config_path: &Path, plan: &mut HashMap<String, Planned>) -> Option<Arc<Pipeline>> {
    notify_reloading();
    let loaded = config::load(config_path)
        .map_err(|e| e.to_string())
        .and_then(|config| build_pipeline(config).map_err(|e| e.to_string()));
    let pipeline = match loaded {
        Ok(pipeline) => pipeline,
        Err(error) => {
            tracing::error!(%error, "configuration not reloaded; keeping the running one");
            notify(&[sd_notify::NotifyState::Ready]);
            return None;
        }
    };
    let now = Utc::now();
    let feeds = &pipeline.config().feeds;
    plan.retain(|name, _| feeds.iter().any(|f| &f.name == name));
    for feed in feeds {
        match plan.get_mut(&feed.name) {
            Some(planned)
                if planned.feed.url == feed.url
                    && planned.feed.schedule.as_str() == feed.schedule.as_str() =>
            {
                planned.feed = feed.clone();
            }
            _ => {
                plan.insert(
                    feed.name.clone(),
                    Planned {
                        feed: feed.clone(),
                        due: now,
                    },
                );
            }
        }
    }
    tracing::info!(feeds = plan.len(), "configuration reloaded");
    notify(&[sd_notify::NotifyState::Ready]);
    Some(pipeline)
}

fn report_status(
    plan: &HashMap<String, Planned>,
    in_flight: &HashSet<String>,
    counters: &Counters,
) {
    let next = plan
        .values()
        .filter(|p| !in_flight.contains(&p.feed.name))
        .min_by_key(|p| p.due)
        .map(|p| format!("; next: {} at {}", p.feed.name, p.due.format("%H:%M:%S")))
        .unwrap_or_default();
    let status = format!(
        "{} feeds, {} in flight, {} passes, {} new articles, {} failed passes{next}",
        plan.len(),
        in_flight.len(),
        counters.passes,
        counters.new_articles,
        counters.failed_passes
    );
    notify(&[sd_notify::NotifyState::Status(&status)]);
}

/// Sends a state to systemd; a no-op when not started by systemd (no NOTIFY_SOCKET).
fn notify(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(false, states) {
        tracing::debug!(%error, "sd_notify failed");
    }
}

fn notify_reloading() {
    match sd_notify::NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[sd_notify::NotifyState::Reloading, now]),
        Err(_) => notify(&[sd_notify::NotifyState::Reloading]),
    }
}

/// Pings systemd's watchdog at half its interval, but only while the scheduler loop keeps
/// beating: a stuck loop stops the pings and systemd restarts the service.
fn start_watchdog(heartbeat: Arc<AtomicI64>) {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let period = Duration::from_micros(usec / 2);
    let stale_after = (period.as_millis() as i64).max(5 * TICK.as_millis() as i64);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        loop {
            ticker.tick().await;
            let age = Utc::now().timestamp_millis() - heartbeat.load(Ordering::Relaxed);
            if age <= stale_after {
                notify(&[sd_notify::NotifyState::Watchdog]);
            } else {
                tracing::error!(
                    age_ms = age,
                    "scheduler loop is stuck; not pinging the watchdog"
                );
            }
        }
    });
}
