//! What tidings has done, in the Prometheus text format (OpenMetrics): served by the
//! daemon at `/metrics` and written by `fetch --metrics-file` for node_exporter's
//! textfile collector. Names follow Prometheus' conventions (`tidings_` prefix, units in
//! names, `_total` for counters); the feed name is the one per-feed label, and
//! `daemon.metrics_feed_labels = false` drops it for very large configurations.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::pipeline::{FeedOutcome, FeedReport};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FeedLabel {
    feed: String,
}

/// The counters, gauges and histogram of one process.
pub struct Metrics {
    registry: Registry,
    passes: Family<ResultLabel, Counter>,
    pass_duration: Histogram,
    written: Counter,
    updated: Counter,
    duplicates: Counter,
    bytes: Counter,
    feeds_failing: Gauge,
    consecutive_failures: Family<FeedLabel, Gauge>,
    next_due: Family<FeedLabel, Gauge>,
    pending: Gauge,
    feed_labels: bool,
    /// Failures in a row per feed, to count the feeds failing now.
    failing: Mutex<std::collections::HashMap<String, i64>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Fresh metrics; `feed_labels` says whether per-feed series are kept.
    pub fn new(feed_labels: bool) -> Metrics {
        let mut registry = Registry::with_prefix("tidings");
        let passes = Family::<ResultLabel, Counter>::default();
        registry.register(
            "feed_passes",
            "Feed passes by result (ok, not_modified, same_content, busy, not_due, failed)",
            passes.clone(),
        );
        let pass_duration = Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]);
        registry.register(
            "feed_pass_duration_seconds",
            "How long one feed's pass took",
            pass_duration.clone(),
        );
        let written = Counter::default();
        registry.register(
            "articles_written",
            "Articles written for the first time",
            written.clone(),
        );
        let updated = Counter::default();
        registry.register(
            "articles_updated",
            "Articles rewritten after an edit",
            updated.clone(),
        );
        let duplicates = Counter::default();
        registry.register(
            "articles_duplicate",
            "Stories skipped because another feed wrote them",
            duplicates.clone(),
        );
        let bytes = Counter::default();
        registry.register(
            "fetched_bytes",
            "Body bytes fetched (after decompression)",
            bytes.clone(),
        );
        let feeds_failing = Gauge::default();
        registry.register(
            "feeds_failing",
            "Feeds whose last pass failed",
            feeds_failing.clone(),
        );
        let consecutive_failures = Family::<FeedLabel, Gauge>::default();
        let next_due = Family::<FeedLabel, Gauge>::default();
        if feed_labels {
            registry.register(
                "feed_consecutive_failures",
                "Failed passes in a row, per feed",
                consecutive_failures.clone(),
            );
            registry.register(
                "feed_next_due_timestamp_seconds",
                "When the daemon fetches a feed next (Unix time)",
                next_due.clone(),
            );
        }
        let pending = Gauge::default();
        registry.register(
            "pending_articles",
            "Articles claimed but not yet written (a full disk, a crash)",
            pending.clone(),
        );
        registry.register(
            "build",
            "The running tidings",
            Info::new(vec![(
                "version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            )]),
        );
        Metrics {
            registry,
            passes,
            pass_duration,
            written,
            updated,
            duplicates,
            bytes,
            feeds_failing,
            consecutive_failures,
            next_due,
            pending,
            feed_labels,
            failing: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Counts one finished pass.
    pub fn record(&self, report: &FeedReport) {
        let result = match &report.outcome {
            FeedOutcome::NotModified => "not_modified",
            FeedOutcome::SameContent => "same_content",
            FeedOutcome::Processed(claim) => {
                self.written.inc_by(claim.new as u64);
                self.updated.inc_by(claim.updated as u64);
                self.duplicates.inc_by(claim.duplicates as u64);
                "ok"
            }
            FeedOutcome::Busy => "busy",
            FeedOutcome::NotDue(_) => "not_due",
            FeedOutcome::Failed(_) => "failed",
        };
        self.passes.get_or_create(&ResultLabel { result }).inc();
        self.bytes.inc_by(report.bytes);
        self.pass_duration.observe(report.elapsed.as_secs_f64());
        if matches!(report.outcome, FeedOutcome::Busy | FeedOutcome::NotDue(_)) {
            return;
        }
        let mut failing = self
            .failing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = failing.entry(report.feed.clone()).or_insert(0);
        *count = if report.failed() { *count + 1 } else { 0 };
        if self.feed_labels {
            self.consecutive_failures
                .get_or_create(&FeedLabel {
                    feed: report.feed.clone(),
                })
                .set(*count);
        }
        let now_failing = failing.values().filter(|n| **n > 0).count();
        self.feeds_failing
            .set(i64::try_from(now_failing).unwrap_or(i64::MAX));
    }

    /// When the daemon fetches `feed` next.
    pub fn set_next_due(&self, feed: &str, due: chrono::DateTime<chrono::Utc>) {
        if self.feed_labels {
            self.next_due
                .get_or_create(&FeedLabel {
                    feed: feed.to_string(),
                })
                .set(due.timestamp());
        }
    }

    /// How many articles wait for their files.
    pub fn set_pending(&self, pending: i64) {
        self.pending.set(pending);
    }

    /// The text of all metrics.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ClaimReport;
    use std::time::Duration;

    #[test]
    fn passes_articles_and_failing_feeds_are_counted() {
        let metrics = Metrics::new(true);
        let report = |feed: &str, outcome| FeedReport {
            feed: feed.into(),
            outcome,
            notes: Vec::new(),
            elapsed: Duration::from_millis(30),
            bytes: 100,
            written: Vec::new(),
        };
        metrics.record(&report(
            "a",
            FeedOutcome::Processed(ClaimReport {
                new: 3,
                updated: 1,
                unchanged: 0,
                duplicates: 0,
                ..ClaimReport::default()
            }),
        ));
        metrics.record(&report("b", FeedOutcome::NotModified));
        let text = metrics.encode();
        assert!(text.contains("tidings_articles_written_total 3"), "{text}");
        assert!(
            text.contains("tidings_feed_passes_total{result=\"ok\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("tidings_feed_passes_total{result=\"not_modified\"} 1"),
            "{text}"
        );
        assert!(text.contains("tidings_feeds_failing 0"), "{text}");
        assert!(text.contains("tidings_fetched_bytes_total 200"), "{text}");
        assert!(text.contains("tidings_build_info{version="), "{text}");
        let unlabelled = Metrics::new(false).encode();
        assert!(!unlabelled.contains("feed_next_due"), "{unlabelled}");
    }
}
