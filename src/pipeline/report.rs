//! What a pass did, in the words the person at the terminal reads: one line per feed, a
//! closing total, and one structured log line per pass.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::FeedError;
use crate::error::ErrorChain;
use crate::store::ClaimReport;

/// How one feed's pass ended.
#[derive(Debug, Clone)]
pub enum FeedOutcome {
    /// The server answered 304.
    NotModified,
    /// The server sent the same bytes as last time.
    SameContent,
    /// The document was read; the claim says what it held.
    Processed(ClaimReport),
    /// Another tidings process is fetching this feed right now.
    Busy,
    /// The server asked not to be fetched before this time; the feed was left alone.
    NotDue(chrono::DateTime<chrono::Utc>),
    /// The pass failed; the feed's row records why.
    Failed(Arc<FeedError>),
}

/// One feed's pass, for the report.
#[derive(Debug, Clone)]
pub struct FeedReport {
    /// The feed's name.
    pub feed: String,
    /// How the pass ended.
    pub outcome: FeedOutcome,
    /// Things the user should know that did not stop the pass (a moved feed).
    pub notes: Vec<String>,
    /// How long the pass took.
    pub elapsed: std::time::Duration,
    /// Body bytes fetched (after decompression); 0 for a 304.
    pub bytes: u64,
    /// The files the pass wrote (new and rewritten), for hooks.
    pub written: Vec<super::write::WrittenArticle>,
}

impl FeedReport {
    /// Whether the pass failed.
    pub fn failed(&self) -> bool {
        matches!(self.outcome, FeedOutcome::Failed(_))
    }
}

/// One line per feed: `name: 2 new, …`. `{:#}` shows a failure's whole chain of causes.
impl fmt::Display for FeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            FeedOutcome::NotModified => write!(f, "{}: unchanged (not modified)", self.feed),
            FeedOutcome::SameContent => write!(f, "{}: unchanged (same content)", self.feed),
            FeedOutcome::Processed(r) => {
                write!(
                    f,
                    "{}: {} new, {} updated, {} unchanged, {} duplicates",
                    self.feed, r.new, r.updated, r.unchanged, r.duplicates
                )?;
                if r.filtered > 0 {
                    write!(f, ", {} filtered", r.filtered)?;
                }
                if r.caught_up > 0 {
                    write!(f, ", {} caught up (not written)", r.caught_up)?;
                }
                Ok(())
            }
            FeedOutcome::Busy => write!(
                f,
                "{}: skipped (another tidings process is fetching it)",
                self.feed
            ),
            FeedOutcome::NotDue(until) => write!(
                f,
                "{}: skipped (the server asked not to be fetched before {}; --force fetches anyway)",
                self.feed,
                until.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            FeedOutcome::Failed(error) if f.alternate() => {
                write!(f, "{}: failed: {:#}", self.feed, ErrorChain(error.as_ref()))
            }
            FeedOutcome::Failed(error) => {
                write!(f, "{}: failed: {}", self.feed, ErrorChain(error.as_ref()))
            }
        }?;
        if !self.notes.is_empty() {
            write!(f, " ({})", self.notes.join("; "))?;
        }
        Ok(())
    }
}

/// One log line per pass, with the fields log collectors filter on.
pub(super) fn log_outcome(feed: &str, outcome: &FeedOutcome, elapsed: Duration) {
    let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let (status, new, updated) = match outcome {
        FeedOutcome::Busy => ("busy", 0, 0),
        FeedOutcome::NotDue(_) => ("not-due", 0, 0),
        FeedOutcome::NotModified => ("not-modified", 0, 0),
        FeedOutcome::SameContent => ("same-content", 0, 0),
        FeedOutcome::Processed(r) => ("ok", r.new, r.updated),
        FeedOutcome::Failed(error) => {
            tracing::warn!(feed, status = "failed", error = %ErrorChain(error.as_ref()), duration_ms);
            return;
        }
    };
    tracing::info!(feed, status, new, updated, duration_ms);
}

/// The sums over a run's reports, for the closing line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Feeds in the run.
    pub feeds: usize,
    /// Articles written for the first time.
    pub new: usize,
    /// Articles rewritten after an edit.
    pub updated: usize,
    /// Feeds with nothing to read (304, same bytes, fetched by another process, or not
    /// due yet).
    pub unchanged_feeds: usize,
    /// Stories skipped because another feed already wrote them.
    pub duplicates: usize,
    /// Feeds whose pass failed.
    pub failed: usize,
    /// New entries a filter held back.
    pub filtered: usize,
    /// New entries recorded as seen without writing them.
    pub caught_up: usize,
}

impl Totals {
    /// Adds up `reports`.
    pub fn of(reports: &[FeedReport]) -> Totals {
        let mut totals = Totals {
            feeds: reports.len(),
            ..Totals::default()
        };
        for report in reports {
            match &report.outcome {
                FeedOutcome::NotModified
                | FeedOutcome::SameContent
                | FeedOutcome::Busy
                | FeedOutcome::NotDue(_) => {
                    totals.unchanged_feeds += 1;
                }
                FeedOutcome::Processed(r) => {
                    totals.new += r.new;
                    totals.updated += r.updated;
                    totals.duplicates += r.duplicates;
                    totals.filtered += r.filtered;
                    totals.caught_up += r.caught_up;
                }
                FeedOutcome::Failed(_) => totals.failed += 1,
            }
        }
        totals
    }
}

impl fmt::Display for Totals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "total: {} feed(s), {} new, {} updated, {} duplicates, {} unchanged feed(s), {} failed",
            self.feeds, self.new, self.updated, self.duplicates, self.unchanged_feeds, self.failed
        )?;
        if self.filtered > 0 {
            write!(f, ", {} filtered", self.filtered)?;
        }
        if self.caught_up > 0 {
            write!(f, ", {} caught up", self.caught_up)?;
        }
        Ok(())
    }
}
