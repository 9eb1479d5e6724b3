//! Autodiscovery: the feed an HTML page names in its head.

use crate::html::{Token, tokens};

/// The feed an HTML page names in `<link rel="alternate" type="application/rss+xml" …>`
/// (autodiscovery), resolved against the page's URL.
pub fn discover_feed(page: &[u8], base: &url::Url) -> Option<url::Url> {
    const FEED_TYPES: &[&str] = &[
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/rdf+xml",
        "application/json",
    ];
    let html = String::from_utf8_lossy(&page[..page.len().min(512 * 1024)]);
    tokens(&html)
        .filter_map(|token| match token {
            Token::Tag(tag) if !tag.closing && tag.is("link") => Some(tag),
            _ => None,
        })
        .filter(|link| {
            let is_alternate = link.attribute("rel").is_some_and(|rel| {
                rel.split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("alternate"))
            });
            let is_feed = link
                .attribute("type")
                .is_some_and(|t| FEED_TYPES.contains(&t.trim().to_ascii_lowercase().as_str()));
            is_alternate && is_feed
        })
        .filter_map(|link| link.attribute("href"))
        .find_map(|href| {
            crate::links::clean_url(&html_escape::decode_html_entities(href), Some(base))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_links_are_found_and_resolved() {
        let base = url::Url::parse("https://blog.example.com/posts/").expect("url");
        let page = br#"<html><head><link rel="stylesheet" href="/s.css"><link rel='alternate' type='application/atom+xml' title="Feed" href="/feed.atom?a=1&amp;b=2"></head></html>"#;
        assert_eq!(
            discover_feed(page, &base).map(|u| u.to_string()).as_deref(),
            Some("https://blog.example.com/feed.atom?a=1&b=2")
        );
        assert_eq!(
            discover_feed(b"<html><body>nothing</body></html>", &base),
            None
        );
    }
}
