//! Full text for summary-only feeds (`full_text = true`): after the claim, each pending
//! entry that has not been tried (a new entry, or one whose feed content changed) gets its
//! page fetched and its article extracted; the article is stored with the extracted body
//! (so `render` needs no network) or, when the page fails, is not HTML, yields nothing or
//! less than the feed's own content, with the feed's content and the reason. The entry's
//! content digest stays the feed's, so an unchanged entry is never fetched again and an
//! edit in the feed is fetched once.
//!
//! Politeness: pages go through the per-host in-flight limit, the fetch timeouts, body
//! cap, redirect cap and User-Agent of feeds, with `fetch.page_interval_ms` between two
//! requests to one host; the stage stops fetching when half the feed's lease is used, so
//! slow pages cannot hold a pass without bound (the rest keep the feed's content).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use url::Url;

use super::{FeedError, Pipeline};
use crate::article::extract::{ExtractedPage, extract_article};
use crate::article::markdown::convert_html;
use crate::article::text::html_to_plain_text;
use crate::article::{Article, FullText};
use crate::config::FeedConfig;
use crate::error::ErrorChain;
use crate::fetch::{FetchStatus, Fetcher, Request, Validators};

/// When each host was last asked for a page, shared by every feed of a run.
#[derive(Debug, Default)]
pub struct PageClock(Mutex<HashMap<String, Instant>>);

impl PageClock {
    /// Waits until `interval` has passed since the last page request to `url`'s host, and
    /// books this one.
    async fn wait_turn(&self, url: &Url, interval: std::time::Duration) {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let wait = {
            let mut last = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let turn = last
                .get(&host)
                .map_or(now, |previous| (*previous + interval).max(now));
            last.insert(host, turn);
            turn - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// A page's article, or why there is none.
pub struct PageArticle {
    /// What the extractor found.
    pub page: ExtractedPage,
    /// Where the page came from after redirects (the base of its links).
    pub final_url: Url,
}

/// Fetches `url` and extracts its main article.
pub async fn fetch_page_article(
    fetcher: &Fetcher,
    url: &Url,
    request: &Request<'_>,
    selector: Option<&str>,
) -> Result<PageArticle, String> {
    let outcome = fetcher
        .fetch(url, &Validators::default(), request)
        .await
        .map_err(|e| ErrorChain(&e).to_string())?;
    let FetchStatus::Fetched(document) = outcome.status else {
        return Err("the server answered 304 to a plain GET".to_string());
    };
    let declared_html = document
        .content_type
        .as_deref()
        .is_none_or(|t| t.to_ascii_lowercase().contains("html"));
    if !declared_html {
        return Err(format!(
            "not HTML ({})",
            document.content_type.as_deref().unwrap_or_default()
        ));
    }
    let html = crate::feed::decode::decode_to_utf8(&document.body, document.charset.as_deref())
        .into_owned();
    let final_url = document.final_url.clone();
    let selector = selector.map(str::to_string);
    let base = final_url.clone();
    let page =
        tokio::task::spawn_blocking(move || extract_article(&html, &base, selector.as_deref()))
            .await
            .map_err(|e| format!("extraction failed: {e}"))?
            .map_err(|e| e.to_string())?;
    Ok(PageArticle { page, final_url })
}

/// The feed's article with the page's body when it is worth it, with the outcome marked.
pub fn with_page_body(article: &Article, found: Result<PageArticle, String>) -> Article {
    let mut article = article.clone();
    let page = match found {
        Ok(page) => page,
        Err(reason) => {
            article.full_text = Some(FullText {
                from_page: false,
                reason: Some(reason),
            });
            return article;
        }
    };
    let converted = convert_html(&page.page.html, Some(&page.final_url)).markdown;
    let page_chars = html_to_plain_text(&page.page.html).chars().count();
    let feed_chars = article.body.chars().count();
    // "Clearly shorter" than what the feed already gives: less than four fifths of it.
    if converted.trim().is_empty() || page_chars * 5 < feed_chars * 4 {
        tracing::debug!(
            page_chars,
            feed_chars,
            "the page's article is shorter than the feed's content"
        );
        article.full_text = Some(FullText {
            from_page: false,
            reason: Some("the page's article is shorter than the feed's content".to_string()),
        });
        return article;
    }
    article.body = converted;
    article.full_text = Some(FullText {
        from_page: true,
        reason: None,
    });
    article
}

/// What the full-text stage of one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FullTextReport {
    /// Entries whose body is now their page's article.
    pub pages: usize,
    /// Entries that kept the feed's content: the reasons.
    pub fallbacks: Vec<String>,
}

impl Pipeline {
    /// Fetches and extracts the pages of `feed`'s pending entries not tried yet.
    pub(super) async fn fetch_full_text(
        self: &Arc<Self>,
        feed: &FeedConfig,
    ) -> Result<FullTextReport, FeedError> {
        let mut report = FullTextReport::default();
        let name = feed.name.clone();
        let pending = self
            .with_store(move |store| store.pending(Some(&name)))
            .await?;
        let deadline = Instant::now() + self.lease_ttl() / 2;
        let request = Request {
            headers: &[],
            allow_private_networks: feed.allow_private_networks,
        };
        for entry in pending
            .into_iter()
            .filter(|e| e.article.full_text.is_none())
        {
            let link = entry
                .article
                .link
                .as_deref()
                .and_then(|l| Url::parse(l).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https"));
            let found = match link {
                None => Err("the entry has no http(s) link".to_string()),
                Some(_) if Instant::now() >= deadline => {
                    Err("no time left in this pass".to_string())
                }
                Some(url) => {
                    let _permit = self.host_permit(&url).await;
                    self.page_clock
                        .wait_turn(&url, self.config.fetch.page_interval)
                        .await;
                    fetch_page_article(
                        &self.fetcher,
                        &url,
                        &request,
                        feed.full_text_selector.as_deref(),
                    )
                    .await
                }
            };
            let article = with_page_body(&entry.article, found);
            match article.full_text.as_ref() {
                Some(FullText {
                    from_page: true, ..
                }) => report.pages += 1,
                Some(FullText {
                    reason: Some(reason),
                    ..
                }) => {
                    tracing::info!(feed = %feed.name, link = ?entry.article.link, %reason, "full text: kept the feed's content");
                    report.fallbacks.push(reason.clone());
                }
                _ => {}
            }
            let id = entry.id;
            self.with_store(move |store| store.replace_article(id, &article))
                .await?;
        }
        Ok(report)
    }
}

/// Why `tidings extract` has no article to show.
#[derive(Debug, thiserror::Error)]
pub enum ExtractPageError {
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] crate::fetch::ClientError),
    /// The page could not be fetched or held no article.
    #[error("{url}: {reason}")]
    Page {
        /// The page.
        url: String,
        /// Why.
        reason: String,
    },
    /// The template failed.
    #[error(transparent)]
    Template(#[from] crate::render::TemplateError),
}

/// `tidings extract URL`: the markdown file tidings would write for the page, its front
/// matter from the page's own metadata (title, date, author, language).
pub async fn extract_page(
    config: &crate::config::Config,
    url: &Url,
    selector: Option<&str>,
) -> Result<String, ExtractPageError> {
    let fetcher = Fetcher::new(&config.fetch)?;
    let request = Request {
        headers: &[],
        allow_private_networks: config.fetch.allow_private_networks,
    };
    let found = fetch_page_article(&fetcher, url, &request, selector)
        .await
        .map_err(|reason| ExtractPageError::Page {
            url: crate::links::masked(url.as_str()),
            reason,
        })?;
    let page = &found.page;
    let zone = config.output.timezone;
    let published = page
        .published
        .as_deref()
        .and_then(|d| crate::feed::dates::parse_date(d, chrono_tz::Tz::UTC));
    let plain = html_to_plain_text(&page.html);
    let summary_source = page.excerpt.clone().unwrap_or_else(|| plain.clone());
    let link = found.final_url.to_string();
    let label: String = found
        .final_url
        .host_str()
        .unwrap_or("page")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        .collect();
    let article = Article {
        key: link.clone(),
        guid: None,
        raw_hash: String::new(),
        legacy_key: None,
        canonical_link: Some(link.clone()),
        title: page
            .title
            .as_deref()
            .map(crate::article::text::clean_title)
            .unwrap_or_else(|| link.clone()),
        published,
        summary: crate::article::text::summarize(
            &html_to_plain_text(&summary_source),
            config.output.summary_chars,
        ),
        body: convert_html(&page.html, Some(&found.final_url)).markdown,
        link: Some(link.clone()),
        lang: page
            .lang
            .as_deref()
            .and_then(|l| l.split(['-', '_']).next())
            .map(str::to_ascii_lowercase)
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "en".to_string()),
        categories: Vec::new(),
        tags: Vec::new(),
        entry_categories: Vec::new(),
        thumbnail: None,
        author: page
            .byline
            .as_deref()
            .map(crate::article::text::clean_title),
        updated: None,
        enclosures: Vec::new(),
        full_text: Some(FullText {
            from_page: true,
            reason: None,
        }),
    };
    let now = chrono::Utc::now();
    let front_matter = crate::config::FrontMatter::default();
    let settings = crate::render::RenderSettings {
        feed_name: &label,
        timezone: zone,
        front_matter: &front_matter,
        entry_tags: false,
        auto_thumbnail: false,
        template: crate::render::ArticleTemplate::builtin(),
        feed_title: None,
        feed_url: url.as_str(),
        first_seen: Some(now),
    };
    Ok(crate::render::render_article(
        &article,
        article.date(now),
        &settings,
    )?)
}

/// A page's main article as markdown: extraction and the sanitising conversion, the
/// work one page costs (what `benches/extract.rs` measures).
pub fn extract_markdown(
    html: &str,
    url: &Url,
    selector: Option<&str>,
) -> Result<String, crate::article::extract::ExtractError> {
    let page = extract_article(html, url, selector)?;
    Ok(convert_html(&page.html, Some(url)).markdown)
}
