//! Feed schedules: crontab lines as crontab(5) reads them.
//!
//! `croner` is used rather than the `cron` crate because `cron` rejects every standard
//! 5-field line and numbers Sunday as 1; croner reads `0 0 * * 0`, `MON-FRI`, `@hourly` and
//! ORs day-of-month with day-of-week as Vixie cron does, and accepts a leading seconds
//! field for short intervals.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A parsed crontab schedule, keeping the text it came from for display.
#[derive(Clone)]
pub struct Schedule {
    text: String,
    cron: Cron,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "invalid schedule {text:?}: {reason} (expected a crontab line such as \"*/30 * * * *\" or \"@hourly\")"
)]
/// A schedule that is not a crontab line croner can read.
pub struct ScheduleError {
    text: String,
    reason: String,
}

impl Schedule {
    /// Reads a crontab line: 5 fields, 6 with leading seconds, or a nickname (`@hourly`).
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let trimmed = text.trim();
        let parser = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build();
        let cron = parser.parse(trimmed).map_err(|e| ScheduleError {
            text: text.to_string(),
            reason: e.to_string(),
        })?;
        // `0 0 30 2 *` reads well and never fires.
        if cron.find_next_occurrence(&Utc::now(), false).is_err() {
            return Err(ScheduleError {
                text: text.to_string(),
                reason: "it never fires (no such date)".to_string(),
            });
        }
        Ok(Schedule {
            text: trimmed.to_string(),
            cron,
        })
    }

    /// The first time strictly after `after` that the schedule fires, in `after`'s zone.
    pub fn next_after<Tz: TimeZone>(&self, after: &DateTime<Tz>) -> Option<DateTime<Tz>>
    where
        DateTime<Tz>: croner::CronDateTime,
    {
        self.cron.find_next_occurrence(after, false).ok()
    }

    /// The line as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({:?})", self.text)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The default schedule of a feed that names none: every 30 minutes.
pub const DEFAULT_SCHEDULE: &str = "*/30 * * * *";

/// How far from its schedule a feed's fetches may be moved, and how far failures push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Feeds that share a schedule are spread over this window (each feed always gets the
    /// same offset in it), at most half the feed's interval.
    pub jitter: Duration,
    /// The longest wait after repeated failures.
    pub max_backoff: Duration,
}

impl Schedule {
    /// The gap between the next two firings after `now`: the feed's interval.
    pub fn interval_after<Tz: TimeZone>(&self, now: &DateTime<Tz>) -> Duration
    where
        DateTime<Tz>: croner::CronDateTime,
    {
        let first = self.next_after(now);
        let second = first.as_ref().and_then(|f| self.next_after(f));
        match (first, second) {
            (Some(a), Some(b)) => (b - a).to_std().unwrap_or(Duration::from_secs(60)),
            _ => Duration::from_secs(24 * 3600),
        }
    }
}

/// A stable offset in `[0, window)` for `feed`: the same feed always lands at the same
/// point of the window, and different feeds spread over it. FNV-1a, because the standard
/// hasher may change between Rust releases and the offsets should not.
pub fn jitter(feed: &str, window: Duration) -> Duration {
    let millis = window.as_millis() as u64;
    if millis == 0 {
        return Duration::ZERO;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in feed.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    Duration::from_millis(hash % millis)
}

fn later(a: DateTime<Utc>, b: Option<DateTime<Utc>>) -> DateTime<Utc> {
    match b {
        Some(b) if b > a => b,
        _ => a,
    }
}

fn add(time: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|d| time.checked_add_signed(d))
        .unwrap_or(time)
}

/// When a feed is next due after a successful pass at `now`: its next firing in `zone`
/// plus its jitter, or `not_before` (a server's hint) if that is later.
pub fn next_after_success(
    schedule: &Schedule,
    feed: &str,
    now: DateTime<Utc>,
    zone: chrono_tz::Tz,
    timing: &Timing,
    not_before: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let local = now.with_timezone(&zone);
    let interval = schedule.interval_after(&local);
    let next = schedule
        .next_after(&local)
        .map_or_else(|| add(now, interval), |n| n.with_timezone(&Utc));
    let offset = jitter(feed, timing.jitter.min(interval / 2));
    later(add(next, offset), not_before)
}

/// When a feed is next due after its `failures`-th failure in a row at `now`: twice the
/// interval after the first, four times after the second and so on, up to
/// `timing.max_backoff`, never before its next scheduled firing nor `not_before`.
pub fn next_after_failure(
    schedule: &Schedule,
    feed: &str,
    now: DateTime<Utc>,
    zone: chrono_tz::Tz,
    timing: &Timing,
    failures: u32,
    not_before: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let regular = next_after_success(schedule, feed, now, zone, timing, None);
    let interval = schedule.interval_after(&now.with_timezone(&zone));
    let factor = 2u32.saturating_pow(failures.clamp(1, 30));
    let backoff = interval
        .saturating_mul(factor)
        .min(timing.max_backoff.max(interval));
    later(later(add(now, backoff), Some(regular)), not_before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    const NO_JITTER: Timing = Timing {
        jitter: Duration::ZERO,
        max_backoff: Duration::from_secs(6 * 3600),
    };

    #[test]
    fn a_schedule_that_never_fires_is_refused() {
        let error = Schedule::parse("0 0 30 2 *").expect_err("no 30 February");
        assert!(error.to_string().contains("never fires"), "{error}");
        assert!(Schedule::parse("0 0 29 2 *").is_ok(), "leap days come");
    }

    #[test]
    fn day_of_month_and_day_of_week_are_ored_as_in_crontab() {
        // The 13th, or any Friday.
        let schedule = Schedule::parse("0 0 13 * FRI").expect("valid");
        let from = at("2026-11-01T00:00:00Z"); // a Sunday
        let next = schedule.next_after(&from).expect("next");
        assert_eq!(
            next,
            at("2026-11-06T00:00:00Z"),
            "the first Friday comes before the 13th"
        );
        let after = schedule
            .next_after(&at("2026-11-12T00:00:00Z"))
            .expect("next");
        assert_eq!(after, at("2026-11-13T00:00:00Z"));
    }

    #[test]
    fn schedules_follow_the_zone_across_dst() {
        let berlin: chrono_tz::Tz = "Europe/Berlin".parse().expect("zone");
        let daily = Schedule::parse("0 9 * * *").expect("valid");
        // 9:00 in Berlin is 8:00 UTC in winter and 7:00 UTC in summer.
        let winter = next_after_success(
            &daily,
            "f",
            at("2026-03-28T12:00:00Z"),
            berlin,
            &NO_JITTER,
            None,
        );
        assert_eq!(
            winter,
            at("2026-03-29T07:00:00Z"),
            "DST starts on 29 March 2026"
        );
        let summer = next_after_success(
            &daily,
            "f",
            at("2026-10-24T12:00:00Z"),
            berlin,
            &NO_JITTER,
            None,
        );
        assert_eq!(
            summer,
            at("2026-10-25T08:00:00Z"),
            "DST ends on 25 October 2026"
        );
        // 02:30 does not exist on the spring-forward day: it runs at 03:00.
        let gap = Schedule::parse("30 2 * * *").expect("valid");
        let next = next_after_success(
            &gap,
            "f",
            at("2026-03-28T12:00:00Z"),
            berlin,
            &NO_JITTER,
            None,
        );
        assert_eq!(next.with_timezone(&berlin).day(), 29);
        assert_eq!(next.with_timezone(&berlin).hour(), 3);
    }

    #[test]
    fn jitter_is_stable_bounded_and_spreads_feeds() {
        let window = Duration::from_secs(120);
        assert_eq!(jitter("techcrunch", window), jitter("techcrunch", window));
        let offsets: std::collections::HashSet<_> = (0..50)
            .map(|i| jitter(&format!("feed-{i}"), window))
            .collect();
        assert!(offsets.len() > 40, "feeds spread out");
        assert!(offsets.iter().all(|o| *o < window));
        assert_eq!(jitter("x", Duration::ZERO), Duration::ZERO);
        // Never more than half the interval, so a feed never skips a firing.
        let every_minute = Schedule::parse("* * * * *").expect("valid");
        let timing = Timing {
            jitter: Duration::from_secs(3600),
            ..NO_JITTER
        };
        let now = at("2026-01-01T00:00:10Z");
        let next = next_after_success(&every_minute, "f", now, chrono_tz::Tz::UTC, &timing, None);
        assert!(
            next >= at("2026-01-01T00:01:00Z") && next < at("2026-01-01T00:01:30Z"),
            "{next}"
        );
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_cap_and_hints_only_delay() {
        let hourly = Schedule::parse("0 * * * *").expect("valid");
        let now = at("2026-01-01T10:00:00Z");
        let after = |failures| {
            next_after_failure(
                &hourly,
                "f",
                now,
                chrono_tz::Tz::UTC,
                &NO_JITTER,
                failures,
                None,
            )
        };
        assert_eq!(after(1), at("2026-01-01T12:00:00Z"));
        assert_eq!(after(2), at("2026-01-01T14:00:00Z"));
        assert_eq!(after(3), at("2026-01-01T16:00:00Z"), "8 h, capped at 6 h");
        assert_eq!(after(30), at("2026-01-01T16:00:00Z"), "capped at 6 h");
        // A server hint later than the schedule wins; an earlier one changes nothing.
        let hint = at("2026-01-01T13:30:00Z");
        let next = next_after_success(
            &hourly,
            "f",
            now,
            chrono_tz::Tz::UTC,
            &NO_JITTER,
            Some(hint),
        );
        assert_eq!(next, hint);
        let early = at("2026-01-01T10:05:00Z");
        let next = next_after_success(
            &hourly,
            "f",
            now,
            chrono_tz::Tz::UTC,
            &NO_JITTER,
            Some(early),
        );
        assert_eq!(next, at("2026-01-01T11:00:00Z"));
    }

    #[test]
    fn five_field_lines_parse_and_sunday_is_zero_and_seven() {
        let start = Utc
            .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .single()
            .expect("valid date"); // a Monday
        for line in ["0 0 * * 0", "0 0 * * 7", "0 0 * * SUN"] {
            let next = Schedule::parse(line)
                .expect(line)
                .next_after(&start)
                .expect("next");
            assert_eq!(next.weekday(), chrono::Weekday::Sun, "{line}");
        }
    }

    #[test]
    fn nicknames_and_seconds_are_accepted_and_junk_is_not() {
        assert!(Schedule::parse("@hourly").is_ok());
        assert!(Schedule::parse("*/10 * * * * *").is_ok());
        assert!(Schedule::parse("0 9 * * MON-FRI").is_ok());
        assert!(Schedule::parse("every hour").is_err());
        assert!(Schedule::parse("61 * * * *").is_err());
    }
}
