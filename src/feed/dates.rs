//! Dates as real feeds write them: RFC 3339 and ISO 8601 variants, RFC 822 with zone names
//! or none, month and day names in several languages, Unix timestamps. Pure functions.
//!
//! A date without a zone is read in the feed's configured zone.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Parses `text` as a date; `zone` is used when the text names no offset.
pub fn parse_date(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.is_empty() || text.len() > 100 {
        return None;
    }
    if let Ok(date) = DateTime::parse_from_rfc3339(text) {
        return Some(date.with_timezone(&Utc)).filter(|d| is_plausible(*d));
    }
    if let Ok(date) = DateTime::parse_from_rfc2822(text) {
        return Some(date.with_timezone(&Utc)).filter(|d| is_plausible(*d));
    }
    // A comment after the date (`+0000 (UTC)`) says nothing the zone did not.
    let text = match text.find('(') {
        Some(open) if open > 0 && text.ends_with(')') => text[..open].trim_end(),
        _ => text,
    };
    unix_timestamp(text)
        .or_else(|| iso_like(text, zone))
        .or_else(|| iso_basic(text, zone))
        .or_else(|| iso_reduced(text, zone))
        .or_else(|| rfc822_like(text, zone))
        .filter(|date| is_plausible(*date))
}

/// ISO 8601's basic format: `20031231T101455Z`, `20031231T1014+0100`, `20031231`.
fn iso_basic(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits != 8 {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<u32>().ok();
    let date = NaiveDate::from_ymd_opt(number(0..4)? as i32, number(4..6)?, number(6..8)?)?;
    let rest = &text[8..];
    let Some(time_text) = rest.strip_prefix(['T', 't']) else {
        return rest
            .is_empty()
            .then(|| resolve(date.and_time(NaiveTime::MIN), None, zone))
            .flatten();
    };
    let time_digits = time_text.bytes().take_while(u8::is_ascii_digit).count();
    let field = |at: usize| time_text.get(at..at + 2)?.parse::<u32>().ok();
    let time = match time_digits {
        4 => NaiveTime::from_hms_opt(field(0)?, field(2)?, 0)?,
        6 => NaiveTime::from_hms_opt(field(0)?, field(2)?, field(4)?)?,
        _ => return None,
    };
    let offset = take_zone(time_text[time_digits..].trim())?;
    resolve(date.and_time(time), offset, zone)
}

/// W3C-DTF's reduced precision: `2003-12` and `2003` stand for their first day.
fn iso_reduced(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    let (year, rest) = take_number(text, 4, 4)?;
    let month = match rest.strip_prefix('-') {
        Some(rest) => {
            let (month, rest) = take_number(rest, 2, 2)?;
            if !rest.is_empty() {
                return None;
            }
            month
        }
        None if rest.is_empty() => 1,
        None => return None,
    };
    let date = NaiveDate::from_ymd_opt(year as i32, month, 1)?;
    resolve(date.and_time(NaiveTime::MIN), None, zone)
}

/// Dates before the web (the year 1, the Unix epoch that unset fields print as) are
/// placeholders, not the time an entry was written: they count as missing.
fn is_plausible(date: DateTime<Utc>) -> bool {
    date.year() >= 1980
}

fn unix_timestamp(text: &str) -> Option<DateTime<Utc>> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = text.parse().ok()?;
    match text.len() {
        9 | 10 => DateTime::from_timestamp(value, 0),
        12 | 13 => DateTime::from_timestamp_millis(value),
        _ => None,
    }
}

/// `2020-01-10T14:33`, `2020/1/10 14:33:00`, `2020-01-10 14:33:00.123 +0200`,
/// `2020-01-10` and the like.
fn iso_like(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    let (year, rest) = take_number(text, 4, 4)?;
    let rest = rest.strip_prefix(['-', '/', '.'])?;
    let (month, rest) = take_number(rest, 1, 2)?;
    let rest = rest.strip_prefix(['-', '/', '.'])?;
    let (day, rest) = take_number(rest, 1, 2)?;
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let rest = rest.trim_start_matches(['T', 't', ' ']);
    let (time, rest) = if rest.is_empty() {
        (NaiveTime::MIN, rest)
    } else {
        take_time(rest)?
    };
    let offset = take_zone(rest.trim())?;
    resolve(date.and_time(time), offset, zone)
}

/// `Tue, 09 Jul 2024 18:30:00 +0200` and its real-world variants: localized or missing
/// day names, localized month names, two-digit years, missing seconds, zone names or no
/// zone, `Month D, YYYY`.
fn rfc822_like(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    let mut tokens: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        // RFC 850 writes `09-Jul-2024`.
        .flat_map(|t| {
            let dashed_date = t.contains('-')
                && !t.contains(':')
                && t.chars().next().is_some_and(|c| c.is_ascii_digit());
            let parts: Vec<&str> = if dashed_date {
                t.split('-').collect()
            } else {
                vec![t]
            };
            parts
        })
        .collect();
    // French writes Tuesday as `mar.`: when two tokens read as months, the first is a day.
    let month_like = tokens
        .iter()
        .filter(|t| month_number(t.to_lowercase().trim_end_matches('.')).is_some())
        .count();
    if month_like > 1
        && tokens
            .first()
            .is_some_and(|t| !t.starts_with(|c: char| c.is_ascii_digit()))
    {
        tokens.remove(0);
    }
    let mut day = None;
    let mut month = None;
    let mut year = None;
    let mut time = None;
    let mut offset = None;
    for token in tokens {
        let lower = token.to_lowercase();
        let lower = lower.trim_end_matches('.');
        if time.is_none() && token.contains(':') {
            let (parsed, rest) = take_time(token)?;
            time = Some(parsed);
            if !rest.is_empty() {
                offset = Some(take_zone(rest)?);
            }
        } else if let Some(m) = month_number(lower).filter(|_| month.is_none()) {
            month = Some(m);
        } else if lower.bytes().all(|b| b.is_ascii_digit()) {
            let value: u32 = lower.parse().ok()?;
            if day.is_none() && lower.len() <= 2 && (1..=31).contains(&value) && year.is_none() {
                day = Some(value);
            } else if year.is_none() && (lower.len() == 4 || lower.len() == 2) {
                year = Some(if lower.len() == 2 {
                    two_digit_year(value)
                } else {
                    value as i32
                });
            } else {
                return None;
            }
        } else if time.is_some() && offset.is_none() {
            offset = Some(take_zone(token)?);
        } else if is_day_name(lower) || lower == "de" || lower == "del" {
            // Day names say nothing the date doesn't; "de" joins Spanish and Portuguese dates.
        } else {
            return None;
        }
    }
    let date = NaiveDate::from_ymd_opt(year?, month?, day?)?;
    resolve(
        date.and_time(time.unwrap_or(NaiveTime::MIN)),
        offset.unwrap_or(None),
        zone,
    )
}

fn two_digit_year(value: u32) -> i32 {
    // RFC 2822: 00-49 are 2000-2049, 50-99 are 1950-1999.
    if value < 50 {
        2000 + value as i32
    } else {
        1900 + value as i32
    }
}

fn resolve(local: NaiveDateTime, offset: Option<FixedOffset>, zone: Tz) -> Option<DateTime<Utc>> {
    match offset {
        Some(offset) => offset
            .from_local_datetime(&local)
            .single()
            .map(|d| d.with_timezone(&Utc)),
        // In a DST gap or overlap the earliest reading is as good as any.
        None => zone
            .from_local_datetime(&local)
            .earliest()
            .map(|d| d.with_timezone(&Utc)),
    }
}

/// A number of `min..=max` digits at the start of `text`.
fn take_number(text: &str, min: usize, max: usize) -> Option<(u32, &str)> {
    let len = text.bytes().take_while(u8::is_ascii_digit).count();
    if len < min || len > max {
        return None;
    }
    Some((text[..len].parse().ok()?, &text[len..]))
}

/// `H:MM`, `HH:MM:SS`, `HH:MM:SS.fff` at the start of `text`.
fn take_time(text: &str) -> Option<(NaiveTime, &str)> {
    let (hour, rest) = take_number(text, 1, 2)?;
    let rest = rest.strip_prefix(':')?;
    let (minute, rest) = take_number(rest, 2, 2)?;
    let (second, rest) = match rest.strip_prefix(':') {
        Some(after) => take_number(after, 2, 2)?,
        None => (0, rest),
    };
    let rest = match rest.strip_prefix(['.', ',']) {
        Some(after) => after.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => rest,
    };
    // A leap second is read as the last second of its minute.
    let time = NaiveTime::from_hms_opt(hour, minute, second.min(59))?;
    Some((time, rest))
}

/// An offset or a zone name; `Some(None)` for an empty string (no zone given).
fn take_zone(text: &str) -> Option<Option<FixedOffset>> {
    let text = text.trim();
    if text.is_empty() {
        return Some(None);
    }
    if let Some(rest) = text.strip_prefix(['+', '-']) {
        let sign = if text.starts_with('-') { -1 } else { 1 };
        let digits: String = rest.chars().filter(|c| *c != ':').collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (hours, minutes) = match digits.len() {
            1 | 2 => (digits.parse::<i32>().ok()?, 0),
            4 => (
                digits[..2].parse::<i32>().ok()?,
                digits[2..].parse::<i32>().ok()?,
            ),
            _ => return None,
        };
        return FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60)).map(Some);
    }
    let upper = text.to_ascii_uppercase();
    // `GMT+2`, `UTC-05:00`
    for prefix in ["GMT", "UTC", "UT"] {
        if let Some(rest) = upper
            .strip_prefix(prefix)
            .filter(|r| r.starts_with(['+', '-']))
        {
            return take_zone(rest);
        }
    }
    let hours = match upper.as_str() {
        "Z" | "UT" | "UTC" | "GMT" | "WET" | "Z07:00" => 0.0,
        "EST" | "ET" => -5.0,
        "EDT" => -4.0,
        "CT" => -6.0,
        "MT" => -7.0,
        "PT" => -8.0,
        "AT" => -4.0,
        "CST" => -6.0,
        "CDT" => -5.0,
        "MST" => -7.0,
        "MDT" => -6.0,
        "PST" => -8.0,
        "PDT" => -7.0,
        "AKST" => -9.0,
        "AKDT" => -8.0,
        "HST" => -10.0,
        "AST" => -4.0,
        "ADT" => -3.0,
        "NST" => -3.5,
        "NDT" => -2.5,
        "BST" | "CET" | "MET" | "WEST" => 1.0,
        "CEST" | "MEST" | "EET" | "SAST" => 2.0,
        "EEST" | "MSK" => 3.0,
        "IST" => 5.5,
        "ICT" => 7.0,
        "HKT" | "AWST" | "SGT" => 8.0,
        "JST" | "KST" => 9.0,
        "ACST" => 9.5,
        "AEST" => 10.0,
        "ACDT" => 10.5,
        "AEDT" => 11.0,
        "NZST" => 12.0,
        "NZDT" => 13.0,
        _ => return None,
    };
    FixedOffset::east_opt((hours * 3600.0) as i32).map(Some)
}

/// Month names and abbreviations in the languages feeds are written in, lowercased.
const MONTHS: &[(&str, u32)] = &[
    // English
    ("jan", 1),
    ("january", 1),
    ("feb", 2),
    ("february", 2),
    ("mar", 3),
    ("march", 3),
    ("apr", 4),
    ("april", 4),
    ("may", 5),
    ("jun", 6),
    ("june", 6),
    ("jul", 7),
    ("july", 7),
    ("aug", 8),
    ("august", 8),
    ("sep", 9),
    ("sept", 9),
    ("september", 9),
    ("oct", 10),
    ("october", 10),
    ("nov", 11),
    ("november", 11),
    ("dec", 12),
    ("december", 12),
    // French
    ("janv", 1),
    ("janvier", 1),
    ("févr", 2),
    ("fevr", 2),
    ("février", 2),
    ("fevrier", 2),
    ("mars", 3),
    ("avr", 4),
    ("avril", 4),
    ("mai", 5),
    ("juin", 6),
    ("juil", 7),
    ("juillet", 7),
    ("août", 8),
    ("aout", 8),
    ("septembre", 9),
    ("octobre", 10),
    ("novembre", 11),
    ("déc", 12),
    ("décembre", 12),
    ("decembre", 12),
    // German
    ("januar", 1),
    ("jän", 1),
    ("jänner", 1),
    ("februar", 2),
    ("mär", 3),
    ("märz", 3),
    ("maerz", 3),
    ("juni", 6),
    ("juli", 7),
    ("okt", 10),
    ("oktober", 10),
    ("dez", 12),
    ("dezember", 12),
    // Spanish
    ("ene", 1),
    ("enero", 1),
    ("febrero", 2),
    ("marzo", 3),
    ("abr", 4),
    ("abril", 4),
    ("mayo", 5),
    ("junio", 6),
    ("julio", 7),
    ("ago", 8),
    ("agosto", 8),
    ("set", 9),
    ("septiembre", 9),
    ("setiembre", 9),
    ("octubre", 10),
    ("noviembre", 11),
    ("dic", 12),
    ("diciembre", 12),
    // Portuguese
    ("janeiro", 1),
    ("fev", 2),
    ("fevereiro", 2),
    ("março", 3),
    ("marco", 3),
    ("maio", 5),
    ("junho", 6),
    ("julho", 7),
    ("setembro", 9),
    ("out", 10),
    ("outubro", 10),
    ("novembro", 11),
    ("dezembro", 12),
    // Italian
    ("gen", 1),
    ("gennaio", 1),
    ("febbraio", 2),
    ("aprile", 4),
    ("mag", 5),
    ("maggio", 5),
    ("giu", 6),
    ("giugno", 6),
    ("lug", 7),
    ("luglio", 7),
    ("settembre", 9),
    ("ott", 10),
    ("ottobre", 10),
    ("dicembre", 12),
    // Dutch
    ("januari", 1),
    ("februari", 2),
    ("mrt", 3),
    ("maart", 3),
    ("mei", 5),
    ("augustus", 8),
];

fn month_number(token: &str) -> Option<u32> {
    MONTHS
        .iter()
        .find(|(name, _)| *name == token)
        .map(|(_, n)| *n)
}

/// Day names and abbreviations in the languages feeds are written in, lowercased.
const DAYS: &[&str] = &[
    // English
    "mon",
    "tue",
    "tues",
    "wed",
    "thu",
    "thur",
    "thurs",
    "fri",
    "sat",
    "sun",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    // French
    "lun",
    "mer",
    "jeu",
    "ven",
    "sam",
    "dim",
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    // German
    "mo",
    "di",
    "mi",
    "do",
    "fr",
    "sa",
    "so",
    "mon",
    "die",
    "mit",
    "don",
    "fre",
    "son",
    "montag",
    "dienstag",
    "mittwoch",
    "donnerstag",
    "freitag",
    "samstag",
    "sonntag",
    // Spanish
    "lu",
    "ma",
    "ju",
    "vi",
    "mié",
    "mie",
    "jue",
    "vie",
    "sáb",
    "dom",
    "lunes",
    "martes",
    "miércoles",
    "miercoles",
    "jueves",
    "viernes",
    "sábado",
    "sabado",
    "domingo",
    // Portuguese
    "seg",
    "ter",
    "qua",
    "qui",
    "sex",
    "segunda",
    "terça",
    "terca",
    "quarta",
    "quinta",
    "sexta",
    "segunda-feira",
    "terça-feira",
    "terca-feira",
    "quarta-feira",
    "quinta-feira",
    "sexta-feira",
    // Italian
    "gio",
    "lunedì",
    "lunedi",
    "martedì",
    "martedi",
    "mercoledì",
    "mercoledi",
    "giovedì",
    "giovedi",
    "venerdì",
    "venerdi",
    "sabato",
    "domenica",
    // Dutch
    "wo",
    "za",
    "zo",
    "maandag",
    "dinsdag",
    "woensdag",
    "donderdag",
    "vrijdag",
    "zaterdag",
    "zondag",
];

fn is_day_name(token: &str) -> bool {
    DAYS.contains(&token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> String {
        parse_date(text, Tz::UTC).map_or_else(
            || "none".into(),
            |d| d.format("%Y-%m-%d %H:%M:%S").to_string(),
        )
    }

    #[test]
    fn standard_forms() {
        assert_eq!(
            utc("Tue, 09 Jul 2024 18:30:00 +0200"),
            "2024-07-09 16:30:00"
        );
        assert_eq!(utc("2024-03-01T23:15:42+01:00"), "2024-03-01 22:15:42");
        assert_eq!(utc("2024-03-01T23:15:42.123Z"), "2024-03-01 23:15:42");
    }

    #[test]
    fn rfc822_variants_with_zone_names() {
        assert_eq!(utc("Tue, 09 Jul 2024 18:30:00 PST"), "2024-07-10 02:30:00");
        assert_eq!(utc("Tue, 09 Jul 2024 18:30:00 EST"), "2024-07-09 23:30:00");
        assert_eq!(utc("Tue, 09 Jul 2024 18:30:00 CEST"), "2024-07-09 16:30:00");
        assert_eq!(utc("Tue, 9 Jul 2024 18:30 GMT"), "2024-07-09 18:30:00");
        assert_eq!(utc("09 Jul 24 18:30:00 +0000"), "2024-07-09 18:30:00");
        assert_eq!(
            utc("Tuesday, 09-Jul-2024 18:30:00 UTC"),
            "2024-07-09 18:30:00"
        );
        assert_eq!(utc("Mar 5, 2024 08:00:00 GMT"), "2024-03-05 08:00:00");
        assert_eq!(
            utc("Tue, 09 Sept 2024 18:30:00 +0000"),
            "2024-09-09 18:30:00"
        );
        assert_eq!(utc("May 31, 2019 12:17:58 -0700"), "2019-05-31 19:17:58");
    }

    #[test]
    fn missing_zone_reads_in_the_feed_zone() {
        assert_eq!(utc("Tue, 09 Jul 2024 18:30:00"), "2024-07-09 18:30:00");
        let berlin: Tz = "Europe/Berlin".parse().expect("zone");
        let date = parse_date("2024-07-09 18:30:00", berlin).expect("date");
        assert_eq!(date.format("%H:%M").to_string(), "16:30");
    }

    #[test]
    fn localized_names() {
        assert_eq!(
            utc("Seg, 24 Set 2018 19:42:40 -0300"),
            "2018-09-24 22:42:40"
        );
        assert_eq!(
            utc("mar., 05 nov. 2019 10:00:00 +0100"),
            "2019-11-05 09:00:00"
        );
        assert_eq!(utc("Di, 12 Mär 2024 08:00:00 +0100"), "2024-03-12 07:00:00");
        assert_eq!(utc("Mié, 03 Ene 2024 10:00:00 GMT"), "2024-01-03 10:00:00");
        assert_eq!(
            utc("gio, 15 giu 2023 12:00:00 +0200"),
            "2023-06-15 10:00:00"
        );
        assert_eq!(utc("wo, 10 mei 2023 09:00:00 +0200"), "2023-05-10 07:00:00");
        assert_eq!(utc("15 février 2023 12:00"), "2023-02-15 12:00:00");
    }

    #[test]
    fn iso_variants_and_timestamps() {
        assert_eq!(utc("2018-01-06T08:00"), "2018-01-06 08:00:00");
        assert_eq!(utc("2020/1/10 14:33:00"), "2020-01-10 14:33:00");
        assert_eq!(utc("2020-01-10 14:33:00 +0800"), "2020-01-10 06:33:00");
        assert_eq!(utc("2020-01-10"), "2020-01-10 00:00:00");
        assert_eq!(utc("1700000000"), "2023-11-14 22:13:20");
        assert_eq!(utc("1700000000000"), "2023-11-14 22:13:20");
    }

    #[test]
    fn nonsense_is_none() {
        for text in [
            "",
            "yesterday",
            "2020-13-45",
            "32 Jan 2020",
            "Tue, 09 Foo 2024",
            "12345",
        ] {
            assert_eq!(utc(text), "none", "{text}");
        }
    }

    #[test]
    fn reduced_basic_and_commented_forms_are_read() {
        let utc = |text: &str| parse_date(text, Tz::UTC).map(|d| d.to_rfc3339());
        assert_eq!(utc("2003-12").as_deref(), Some("2003-12-01T00:00:00+00:00"));
        assert_eq!(utc("2003").as_deref(), Some("2003-01-01T00:00:00+00:00"));
        assert_eq!(
            utc("20031231T101455Z").as_deref(),
            Some("2003-12-31T10:14:55+00:00")
        );
        assert_eq!(
            utc("Wed, 08 Jul 2004 23:56:58 +0000 (UTC)").as_deref(),
            Some("2004-07-08T23:56:58+00:00")
        );
        assert_eq!(
            utc("Wed, 30 Jul 2003 12:00:00 ET").as_deref(),
            Some("2003-07-30T17:00:00+00:00")
        );
        assert_eq!(utc("Mon, 01 Jan 0001 00:00:00 GMT"), None);
        assert_eq!(utc("1970-01-01T00:00:00Z"), None);
    }
}
