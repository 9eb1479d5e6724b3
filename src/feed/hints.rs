//! How long a feed itself asks to be left alone: RSS `<ttl>` and the syndication
//! module's `sy:updatePeriod` / `sy:updateFrequency`.

/// How long the feed itself says to wait before the next fetch: RSS `<ttl>` (minutes) or
/// `sy:updatePeriod` / `sy:updateFrequency`, whichever is longer, at most a day (a wrong
/// hint must not silence a feed for long).
pub fn update_hint(ttl_minutes: Option<u32>, body: &[u8]) -> Option<chrono::Duration> {
    let ttl = ttl_minutes
        .filter(|m| *m > 0)
        .map(|m| chrono::Duration::minutes(i64::from(m)));
    let syndication = syndication_period(body);
    let hint = match (ttl, syndication) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }?;
    Some(hint.min(chrono::Duration::days(1)))
}

fn syndication_period(body: &[u8]) -> Option<chrono::Duration> {
    // Bytes, not text: the two elements are ASCII, and decoding 64 KB of every fetched
    // document to look for them cost 1.5% of a pass whose entries were all known.
    let head = &body[..body.len().min(64 * 1024)];
    let element = |name: &str| {
        let open = memchr::memmem::find(head, format!("<sy:{name}>").as_bytes())? + name.len() + 5;
        let close = memchr::memchr(b'<', &head[open..])? + open;
        let value = std::str::from_utf8(&head[open..close]).ok()?;
        Some(value.trim().to_ascii_lowercase())
    };
    let period = match element("updatePeriod")?.as_str() {
        "hourly" => chrono::Duration::hours(1),
        "daily" => chrono::Duration::days(1),
        "weekly" => chrono::Duration::weeks(1),
        "monthly" => chrono::Duration::days(30),
        "yearly" => chrono::Duration::days(365),
        _ => return None,
    };
    let frequency: i32 = element("updateFrequency")
        .and_then(|f| f.parse().ok())
        .filter(|f| *f > 0)
        .unwrap_or(1);
    Some(period / frequency)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_take_the_longer_and_are_capped() {
        let body = b"<rss><channel><sy:updatePeriod>\n\thourly\t</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>";
        assert_eq!(update_hint(None, body), Some(chrono::Duration::minutes(30)));
        assert_eq!(
            update_hint(Some(60), body),
            Some(chrono::Duration::minutes(60))
        );
        assert_eq!(
            update_hint(Some(60 * 24 * 30), b""),
            Some(chrono::Duration::days(1))
        );
        assert_eq!(update_hint(None, b"<rss/>"), None);
    }
}
