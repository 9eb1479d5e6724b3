//! `tidings run`: fetch each feed on its schedule until told to stop.
//!
//! # Architecture
//! - this module: the loop. It owns the plan (which feed is due when), starts due feeds
//!   as tasks and never waits on one; it reacts to finished passes and to signals.
//! - [`plan`]: where each feed starts (its stored due time, or a stable point in the
//!   start-up window), its next fetch after a pass (schedule, backoff, the server's own
//!   timing), and how a reloaded configuration changes the plan.
//! - [`systemd`]: READY, STATUS, WATCHDOG, RELOADING and STOPPING for `Type=notify`.
//! - [`lock`]: one daemon per database (hand-run fetches beside it stay allowed).
//!
//! A finished pass plans that feed's next fetch and stores it, so a restart resumes the
//! plan. SIGHUP reloads the configuration; SIGTERM and SIGINT stop scheduling and give
//! in-flight feeds a grace period.

pub mod health;
pub mod lock;
pub mod plan;
pub mod systemd;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::task::{JoinError, JoinSet};

use crate::config::{self, Config, FeedConfig};
use crate::error::ErrorChain;
use crate::pipeline::{FeedOutcome, FeedReport, PassMode, Pipeline, PipelineError};
use plan::Plan;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The database or the HTTP client.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// Signal handlers could not be installed.
    #[error("cannot listen for signals")]
    Signals(#[source] std::io::Error),
    /// Another daemon runs on the same database.
    #[error(transparent)]
    AlreadyRunning(#[from] lock::LockError),
    /// The health and metrics address could not be listened on.
    #[error("cannot listen on daemon.listen = {address}")]
    Listen {
        /// The configured address.
        address: std::net::SocketAddr,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// The longest the loop sleeps: it also proves to the watchdog that it is alive.
const TICK: Duration = Duration::from_secs(1);

/// What the daemon has done since it started, for systemd's STATUS line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Feed passes finished.
    pub passes: u64,
    /// Articles written for the first time.
    pub new_articles: u64,
    /// Passes that failed.
    pub failed_passes: u64,
}

/// A finished pass: the feed as it was started, its report, and the pipeline it ran on.
type Finished = (FeedConfig, FeedReport, Arc<Pipeline>);

/// The signals the daemon answers.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
}

impl Signals {
    fn listen() -> Result<Signals, DaemonError> {
        let listen = |kind| signal(kind).map_err(DaemonError::Signals);
        Ok(Signals {
            terminate: listen(SignalKind::terminate())?,
            interrupt: listen(SignalKind::interrupt())?,
            hangup: listen(SignalKind::hangup())?,
        })
    }
}

/// The running daemon's state, owned by its loop.
struct Daemon {
    pipeline: Arc<Pipeline>,
    plan: Plan,
    in_flight: HashSet<String>,
    tasks: JoinSet<Finished>,
    counters: Counters,
    /// When the loop last went round (milliseconds), read by the watchdog.
    heartbeat: Arc<AtomicI64>,
    /// Held while the daemon runs: a second daemon on this database refuses to start.
    _lock: lock::DaemonLock,
    /// What `/metrics` shows.
    metrics: Arc<crate::metrics::Metrics>,
    /// The hooks' queues: one command at a time, webhooks beside it.
    hooks: crate::hooks::HookRunner,
}

/// Runs the daemon until SIGTERM or SIGINT. `config_path` is read again on SIGHUP.
pub async fn run(config_path: PathBuf, config: Config) -> Result<(), DaemonError> {
    let mut daemon = Daemon::start(config).await?;
    let mut signals = Signals::listen()?;
    systemd::start_watchdog(Arc::clone(&daemon.heartbeat), TICK);
    systemd::notify(&[sd_notify::NotifyState::Ready]);
    daemon.report_status();
    tracing::info!(feeds = daemon.plan.len(), "tidings is running");
    loop {
        daemon.start_due_feeds();
        let sleep_for = daemon.sleep_for();
        tokio::select! {
            () = tokio::time::sleep(sleep_for) => {}
            Some(joined) = daemon.tasks.join_next(), if !daemon.tasks.is_empty() => {
                daemon.finished(joined).await;
            }
            _ = signals.terminate.recv() => break,
            _ = signals.interrupt.recv() => break,
            _ = signals.hangup.recv() => daemon.reload(&config_path).await,
        }
    }
    daemon.stop().await;
    Ok(())
}

impl Daemon {
    /// Opens the pipeline, writes what an earlier run left pending, and makes the plan.
    async fn start(config: Config) -> Result<Daemon, DaemonError> {
        let lock = lock::DaemonLock::acquire(&config.database)?;
        let pipeline = Pipeline::open_for_fetching(config)?;
        // The whole file is checked once per start; each pass meets damage as it reads.
        pipeline
            .blocking(|p| {
                p.store()
                    .verify(&p.config().database)
                    .map_err(crate::pipeline::PipelineError::from)
            })
            .await?;
        let hooks = crate::hooks::HookRunner::start();
        match pipeline.blocking(|p| p.write_all_pending()).await {
            Ok(written) if written.is_empty() => {}
            Ok(written) => {
                tracing::info!(
                    written = written.len(),
                    "wrote the articles an earlier run left pending"
                );
                hooks.after_pass(&pipeline, &written);
            }
            Err(error) => {
                tracing::error!(error = %ErrorChain(&error), "could not write the articles an earlier run left pending");
            }
        }
        let plan = plan::initial_plan(&pipeline, Utc::now()).await;
        let daemon_config = &pipeline.config().daemon;
        let metrics = Arc::new(crate::metrics::Metrics::new(
            daemon_config.metrics_feed_labels,
        ));
        let heartbeat = Arc::new(AtomicI64::new(Utc::now().timestamp_millis()));
        if let Some(address) = daemon_config.listen {
            let health = health::Health {
                heartbeat: Arc::clone(&heartbeat),
                metrics: Arc::clone(&metrics),
                database: pipeline.config().database.clone(),
            };
            health::serve(address, health)
                .await
                .map_err(|source| DaemonError::Listen { address, source })?;
        }
        Ok(Daemon {
            pipeline,
            plan,
            in_flight: HashSet::new(),
            tasks: JoinSet::new(),
            counters: Counters::default(),
            heartbeat,
            _lock: lock,
            metrics,
            hooks,
        })
    }

    /// Starts every due feed that is not already in flight; the pipeline keeps them under
    /// `fetch.concurrency`.
    fn start_due_feeds(&mut self) {
        self.heartbeat
            .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
        for feed in self.plan.due(Utc::now(), &self.in_flight) {
            self.in_flight.insert(feed.name.clone());
            let pipeline = Arc::clone(&self.pipeline);
            self.tasks.spawn(async move {
                // The plan already waits for the server's timing; a reload can make a feed due
                // early, and the pass still honours it.
                let report = pipeline.run_feed(&feed, PassMode::HonourServer).await;
                (feed, report, pipeline)
            });
        }
    }

    /// Until the next feed is due, at most one [`TICK`].
    fn sleep_for(&self) -> Duration {
        match self.plan.next_due(&self.in_flight) {
            Some(due) => (due - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(TICK),
            None => TICK,
        }
    }

    async fn finished(&mut self, joined: Result<Finished, JoinError>) {
        match joined {
            Ok((feed, report, used)) => {
                self.in_flight.remove(&feed.name);
                self.counters.passes += 1;
                match &report.outcome {
                    FeedOutcome::Processed(claim) => {
                        self.counters.new_articles += claim.new as u64;
                    }
                    FeedOutcome::Failed(_) => self.counters.failed_passes += 1,
                    _ => {}
                }
                self.metrics.record(&report);
                self.hooks.after_pass(&used, &report.written);
                plan::plan_next(&used, &mut self.plan, &feed, &report).await;
                if let Some(due) = self.plan.due_of(&feed.name) {
                    self.metrics.set_next_due(&feed.name, due);
                }
                self.report_status();
            }
            Err(error) => {
                tracing::error!(%error, "a feed task ended abnormally");
                // Its name is unknown here; let every feed be planned again.
                self.in_flight.clear();
            }
        }
    }

    /// Reads the configuration again. On success the plan follows it and a new pipeline
    /// runs the next passes; on failure the running configuration stays and the error is
    /// logged.
    async fn reload(&mut self, config_path: &Path) {
        systemd::notify_reloading();
        let reloaded = config::load(config_path)
            .map_err(|error| ErrorChain(&error).to_string())
            .and_then(|config| {
                Pipeline::open_for_fetching(config).map_err(|error| ErrorChain(&error).to_string())
            });
        match reloaded {
            Ok(pipeline) => {
                self.plan.follow(&pipeline.config().feeds, Utc::now());
                self.pipeline = pipeline;
                tracing::info!(feeds = self.plan.len(), "configuration reloaded");
            }
            Err(error) => {
                tracing::error!(%error, "configuration not reloaded; keeping the running one");
            }
        }
        systemd::notify(&[sd_notify::NotifyState::Ready]);
        self.report_status();
    }

    /// Stops scheduling; in-flight feeds get the grace period to finish.
    async fn stop(mut self) {
        systemd::notify(&[sd_notify::NotifyState::Stopping]);
        let grace = self.pipeline.config().daemon.grace;
        tracing::info!(
            in_flight = self.tasks.len(),
            grace_secs = grace.as_secs(),
            "stopping"
        );
        let (tasks, plan) = (&mut self.tasks, &mut self.plan);
        let drained = tokio::time::timeout(grace, async {
            while let Some(joined) = tasks.join_next().await {
                if let Ok((feed, report, used)) = joined {
                    plan::plan_next(&used, plan, &feed, &report).await;
                }
            }
        })
        .await;
        if drained.is_err() {
            // Files are written atomically and claimed entries stay pending until
            // written, so cutting a pass short loses nothing: the next start writes what
            // is pending.
            tracing::warn!(
                unfinished = self.tasks.len(),
                "grace period over; stopping unfinished feeds"
            );
            self.tasks.abort_all();
        }
    }

    fn report_status(&self) {
        let status = systemd::status_line(&self.plan, &self.in_flight, &self.counters);
        systemd::notify(&[sd_notify::NotifyState::Status(&status)]);
    }
}
