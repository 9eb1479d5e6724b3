//! The main article of a web page (full text for summary-only feeds, `tidings extract`):
//! dom_smoothie, a port of Mozilla's Readability.js, finds the content and drops
//! navigation, share bars, comments, related lists, cookie banners and newsletter boxes;
//! a feed's `full_text_selector` names the content itself for sites it gets wrong. The
//! HTML it returns then goes through the same sanitising conversion as feed content
//! ([`super::markdown::convert_html`]), resolved against the page's final URL.
//!
//! Pure: HTML in, HTML and metadata out.

use url::Url;

/// What was extracted from a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractedPage {
    /// The article's HTML (cleaned by Readability, or the selector's elements).
    pub html: String,
    /// Its plain text length, in characters.
    pub text_chars: usize,
    /// The page's title (`og:title`, JSON-LD, `<title>`…).
    pub title: Option<String>,
    /// The author line.
    pub byline: Option<String>,
    /// The published time as the page writes it.
    pub published: Option<String>,
    /// The page's language.
    pub lang: Option<String>,
    /// Its description.
    pub excerpt: Option<String>,
}

/// Why no article came out of a page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// Readability found no content.
    #[error("no article found on the page")]
    Empty,
    /// The selector is not valid CSS.
    #[error("full_text_selector {0:?} is not a CSS selector")]
    BadSelector(String),
    /// The selector matches nothing.
    #[error("full_text_selector {0:?} matches nothing on the page")]
    NoMatch(String),
}

/// Readability's strictest pass first; when it finds too little, the more lenient ones
/// (as Readability.js retries with fewer flags).
const POLICIES: [dom_smoothie::ParsePolicy; 3] = [
    dom_smoothie::ParsePolicy::Strict,
    dom_smoothie::ParsePolicy::Moderate,
    dom_smoothie::ParsePolicy::Clean,
];

/// Text shorter than this (characters) after a pass counts as "found too little".
const MIN_ARTICLE_CHARS: usize = 250;

/// The main article of `html`, fetched from `url`.
pub fn extract_article(
    html: &str,
    url: &Url,
    selector: Option<&str>,
) -> Result<ExtractedPage, ExtractError> {
    let config = dom_smoothie::Config {
        // Classes stay for the markdown conversion (`language-rust` on code), which
        // drops them; a page of more elements than this is not an article page.
        keep_classes: true,
        max_elements_to_parse: 200_000,
        ..dom_smoothie::Config::default()
    };
    if let Some(selector) = selector {
        return by_selector(html, url, selector, config);
    }
    let mut best: Option<dom_smoothie::Article> = None;
    for policy in POLICIES {
        let Ok(mut readability) =
            dom_smoothie::Readability::new(html, Some(url.as_str()), Some(config.clone()))
        else {
            return Err(ExtractError::Empty);
        };
        let Ok(article) = readability.parse_with_policy(policy) else {
            continue;
        };
        let chars = article.text_content.chars().count();
        let better = best
            .as_ref()
            .is_none_or(|b| chars > b.text_content.chars().count());
        if better {
            best = Some(article);
        }
        if chars >= MIN_ARTICLE_CHARS {
            break;
        }
    }
    let article = best.ok_or(ExtractError::Empty)?;
    let text_chars = article.text_content.trim().chars().count();
    if text_chars == 0 {
        return Err(ExtractError::Empty);
    }
    Ok(ExtractedPage {
        html: article.content.to_string(),
        text_chars,
        title: Some(article.title).filter(|t| !t.trim().is_empty()),
        byline: article.byline,
        published: article.published_time,
        lang: article.lang,
        excerpt: article.excerpt,
    })
}

/// The elements `selector` names, with the page's metadata from Readability.
fn by_selector(
    html: &str,
    url: &Url,
    selector: &str,
    config: dom_smoothie::Config,
) -> Result<ExtractedPage, ExtractError> {
    let readability = dom_smoothie::Readability::new(html, Some(url.as_str()), Some(config))
        .map_err(|_| ExtractError::Empty)?;
    let metadata = readability.get_article_metadata(readability.parse_json_ld());
    let selection = readability
        .doc
        .try_select(selector)
        .ok_or_else(|| ExtractError::NoMatch(selector.to_string()))?;
    let mut content = String::new();
    let mut text_chars = 0;
    for node in selection.nodes() {
        content.push_str(&node.html());
        text_chars += node.text().trim().chars().count();
    }
    if content.is_empty() {
        return Err(ExtractError::NoMatch(selector.to_string()));
    }
    Ok(ExtractedPage {
        html: content,
        text_chars,
        title: Some(metadata.title).filter(|t| !t.trim().is_empty()),
        byline: metadata.byline,
        published: metadata.published_time,
        lang: metadata.lang,
        excerpt: metadata.excerpt,
    })
}

/// Whether `selector` is CSS the extractor can use (checked when the configuration loads).
pub fn check_selector(selector: &str) -> Result<(), ExtractError> {
    dom_query::Matcher::new(selector)
        .map(|_| ())
        .map_err(|_| ExtractError::BadSelector(selector.to_string()))
}
