//! The daemon's plan: when each feed is next due. It starts from the stored due times,
//! moves after each pass (schedule, backoff, the server's own timing), follows a reloaded
//! configuration, and is stored so a restart resumes it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::FeedConfig;
use crate::error::ErrorChain;
use crate::pipeline::{FeedReport, Pipeline};
use crate::schedule::{jitter, next_after_failure, next_after_success};

/// One feed's place in the plan.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The feed as configured now.
    pub feed: FeedConfig,
    /// When it is next fetched.
    pub due: DateTime<Utc>,
}

/// Every configured feed and when it is next due.
#[derive(Debug, Default)]
pub struct Plan {
    feeds: HashMap<String, Planned>,
}

impl Plan {
    /// A plan of the given feeds and times.
    pub fn new(planned: impl IntoIterator<Item = Planned>) -> Plan {
        Plan {
            feeds: planned
                .into_iter()
                .map(|p| (p.feed.name.clone(), p))
                .collect(),
        }
    }

    /// How many feeds are planned.
    pub fn len(&self) -> usize {
        self.feeds.len()
    }

    /// When the feed named `name` is due, if it is planned.
    pub fn due_of(&self, name: &str) -> Option<DateTime<Utc>> {
        self.feeds.get(name).map(|p| p.due)
    }

    /// The feeds due at `now` that are not in flight.
    pub fn due(&self, now: DateTime<Utc>, in_flight: &HashSet<String>) -> Vec<FeedConfig> {
        self.feeds
            .values()
            .filter(|p| p.due <= now && !in_flight.contains(&p.feed.name))
            .map(|p| p.feed.clone())
            .collect()
    }

    /// The next feed due among those not in flight.
    pub fn next(&self, in_flight: &HashSet<String>) -> Option<&Planned> {
        self.feeds
            .values()
            .filter(|p| !in_flight.contains(&p.feed.name))
            .min_by_key(|p| p.due)
    }

    /// When the next feed not in flight is due.
    pub fn next_due(&self, in_flight: &HashSet<String>) -> Option<DateTime<Utc>> {
        self.next(in_flight).map(|p| p.due)
    }

    /// Follows a reloaded configuration: removed feeds leave, new feeds and feeds whose
    /// URL or schedule changed are due at `now`, the others keep their time and take the
    /// new settings.
    pub fn follow(&mut self, feeds: &[FeedConfig], now: DateTime<Utc>) {
        let configured: std::collections::HashSet<&str> =
            feeds.iter().map(|f| f.name.as_str()).collect();
        self.feeds
            .retain(|name, _| configured.contains(name.as_str()));
        for feed in feeds {
            match self.feeds.get_mut(&feed.name) {
                Some(planned)
                    if planned.feed.url == feed.url
                        && planned.feed.schedule.as_str() == feed.schedule.as_str() =>
                {
                    planned.feed = feed.clone();
                }
                _ => {
                    self.feeds.insert(
                        feed.name.clone(),
                        Planned {
                            feed: feed.clone(),
                            due: now,
                        },
                    );
                }
            }
        }
    }
}

/// Where each feed starts: its stored due time if that is still ahead, else (never
/// fetched, or overdue after downtime) a stable point in the start-up window, so a restart
/// does not fetch everything at once.
pub async fn initial_plan(pipeline: &Arc<Pipeline>, now: DateTime<Utc>) -> Plan {
    let spread = pipeline.config().daemon.startup_spread;
    let mut planned = Vec::new();
    for feed in pipeline.config().feeds.clone() {
        let name = feed.name.clone();
        let stored = pipeline
            .with_store(move |store| store.next_due(&name))
            .await
            .ok()
            .flatten();
        // Spread over the start-up window, but never later than one interval of the
        // feed's own schedule: a feed due every 2 seconds does not wait a minute.
        let window = spread.min(feed.schedule.interval_after(&now));
        let due = match stored {
            Some(due) if due > now => due,
            _ => now + chrono::Duration::from_std(jitter(&feed.name, window)).unwrap_or_default(),
        };
        planned.push(Planned { feed, due });
    }
    Plan::new(planned)
}

/// Plans a feed's next fetch after a pass and stores it.
pub async fn plan_next(
    pipeline: &Arc<Pipeline>,
    plan: &mut Plan,
    feed: &FeedConfig,
    report: &FeedReport,
) {
    // The feed may have been removed or changed by a reload while it was in flight.
    let Some(planned) = plan.feeds.get_mut(&feed.name) else {
        return;
    };
    if planned.feed.url != feed.url {
        return;
    }
    let timing = pipeline.config().daemon.timing;
    let now = Utc::now();
    let (name, url) = (feed.name.clone(), feed.url.to_string());
    let state = pipeline
        .with_store(move |store| store.feed_state(&name, &url))
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
        .with_store(move |store| store.set_next_due(&name, due))
        .await
    {
        tracing::warn!(feed = %feed.name, error = %ErrorChain(&error), "could not store the next due time");
    }
    tracing::debug!(feed = %feed.name, next_due = %due, "planned");
}
