//! `tidings add`: one fetch of a URL the person gave, following autodiscovery from an
//! HTML page, to learn the feed's real address and its title. Nothing is stored.

use url::Url;

use super::FeedError;
use crate::config::FetchConfig;
use crate::feed::{ParseError, Source, discover_feed, parse_document};
use crate::fetch::{Document, FetchStatus, Fetcher, Request, Validators};

/// What one fetch learnt about a feed.
#[derive(Debug, Clone)]
pub struct ProbedFeed {
    /// The feed's address (the page's feed when the URL was a page).
    pub url: Url,
    /// The title the feed gives itself.
    pub title: Option<String>,
    /// Its site's link.
    pub site: Option<String>,
    /// Entries it carries now.
    pub entries: usize,
}

/// Fetches `url` (and the feed an HTML page names), with `fetch`'s limits.
pub async fn probe_feed(fetch: &FetchConfig, url: &Url) -> Result<ProbedFeed, FeedError> {
    let fetcher = Fetcher::new(fetch).map_err(super::PipelineError::from)?;
    let request = Request {
        headers: &[],
        allow_private_networks: fetch.allow_private_networks,
    };
    let get = |target: Url| {
        let (fetcher, request) = (&fetcher, request);
        async move {
            match fetcher
                .fetch(&target, &Validators::default(), &request)
                .await?
                .status
            {
                FetchStatus::Fetched(document) => Ok::<_, FeedError>(document),
                // No validators were sent, so a 304 is the server's mistake.
                FetchStatus::NotModified => Err(ParseError::Empty.into()),
            }
        }
    };
    let document = get(url.clone()).await?;
    match read(&document, fetch) {
        Err(error @ ParseError::NotAFeed(_)) => {
            let found = discover_feed(&document.body, &document.final_url)
                .filter(|found| *found != document.final_url)
                .ok_or(error)?;
            let document = get(found).await?;
            match read(&document, fetch) {
                Err(ParseError::NotAFeed(_)) => Err(FeedError::DiscoveredPageIsNoFeed),
                other => Ok(other?),
            }
        }
        other => Ok(other?),
    }
}

fn read(document: &Document, fetch: &FetchConfig) -> Result<ProbedFeed, ParseError> {
    let parsed = parse_document(
        &Source {
            bytes: &document.body,
            http_charset: document.charset.as_deref(),
            content_type: document.content_type.as_deref(),
            base_url: document.final_url.as_str(),
            zone: chrono_tz::Tz::UTC,
            max_bytes: fetch.max_body_bytes,
        },
        None,
    )?;
    let (title, site) = super::process::feed_identity(&parsed.feed);
    Ok(ProbedFeed {
        url: document.final_url.clone(),
        title,
        site,
        entries: parsed.feed.entries.len(),
    })
}
