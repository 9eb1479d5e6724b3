//! Feed schedules: crontab lines as crontab(5) reads them.
//!
//! `croner` is used rather than the `cron` crate because `cron` rejects every standard
//! 5-field line and numbers Sunday as 1; croner reads `0 0 * * 0`, `MON-FRI`, `@hourly` and
//! ORs day-of-month with day-of-week as Vixie cron does, and accepts a leading seconds
//! field for short intervals.

use std::fmt;

use chrono::{DateTime, TimeZone};
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
pub struct ScheduleError {
    text: String,
    reason: String,
}

impl Schedule {
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Utc};

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
