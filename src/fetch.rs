//! HTTP: one conditional GET per feed, with hard limits on time and size.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use url::Url;

use crate::config::FetchConfig;

/// What the previous successful fetch told us, sent back so the server can answer 304.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A fetched document.
#[derive(Debug)]
pub struct Document {
    /// Decompressed body bytes, at most the configured cap.
    pub body: Vec<u8>,
    /// The `charset` parameter of `Content-Type`.
    pub charset: Option<String>,
    pub content_type: Option<String>,
    pub validators: Validators,
    /// Where the document came from after redirects.
    pub final_url: Url,
}

#[derive(Debug)]
pub enum FetchOutcome {
    NotModified,
    Fetched(Box<Document>),
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("HTTP {status}")]
    Status { status: StatusCode },
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("body larger than {limit} bytes (after decompression)")]
    TooLarge { limit: u64 },
    #[error("too many redirects")]
    TooManyRedirects,
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("{0}")]
    Other(String),
}

/// The HTTP client shared by every feed of a run.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_body_bytes: u64,
    timeout: Duration,
}

pub const MAX_REDIRECTS: usize = 5;

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client: {0}")]
pub struct ClientError(String);

impl Fetcher {
    pub fn new(config: &FetchConfig) -> Result<Fetcher, ClientError> {
        // reqwest is built without a default crypto provider (ring instead of aws-lc keeps
        // the build small); installing it twice is harmless, so the error is ignored.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.timeout)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ClientError(e.to_string()))?;
        Ok(Fetcher {
            client,
            max_body_bytes: config.max_body_bytes,
            timeout: config.timeout,
        })
    }

    /// GETs `url`, sending the validators of the last fetch.
    pub async fn fetch(
        &self,
        url: &Url,
        validators: &Validators,
    ) -> Result<FetchOutcome, FetchError> {
        let mut request = self.client.get(url.clone()).header(
            header::ACCEPT,
            "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8",
        );
        if let Some(etag) = &validators.etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(last_modified) = &validators.last_modified {
            request = request.header(header::IF_MODIFIED_SINCE, last_modified);
        }
        let mut response = request.send().await.map_err(|e| self.classify(e))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome::NotModified);
        }
        if !status.is_success() {
            return Err(FetchError::Status { status });
        }
        if response
            .content_length()
            .is_some_and(|n| n > self.max_body_bytes)
        {
            return Err(FetchError::TooLarge {
                limit: self.max_body_bytes,
            });
        }
        let headers = response.headers().clone();
        let final_url = response.url().clone();
        // Chunks arrive decompressed, so this cap also stops compression bombs.
        let mut body = Vec::with_capacity(64 * 1024);
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e))? {
            if (body.len() + chunk.len()) as u64 > self.max_body_bytes {
                return Err(FetchError::TooLarge {
                    limit: self.max_body_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        let content_type = header_text(&headers, header::CONTENT_TYPE);
        Ok(FetchOutcome::Fetched(Box::new(Document {
            body,
            charset: content_type.as_deref().and_then(charset_of),
            content_type,
            validators: Validators {
                etag: header_text(&headers, header::ETAG),
                last_modified: header_text(&headers, header::LAST_MODIFIED),
            },
            final_url,
        })))
    }

    fn classify(&self, error: reqwest::Error) -> FetchError {
        if error.is_timeout() {
            FetchError::Timeout(self.timeout)
        } else if error.is_redirect() {
            FetchError::TooManyRedirects
        } else if error.is_connect() {
            FetchError::Connect(root_cause(&error))
        } else {
            FetchError::Other(root_cause(&error))
        }
    }
}

/// The innermost error message: reqwest's own top level only says "error sending request".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The `charset` parameter of a `Content-Type` value.
pub fn charset_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches(['"', '\'']).to_string())
            .filter(|v| !v.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_is_read_from_content_type() {
        assert_eq!(
            charset_of("text/xml; charset=ISO-8859-1").as_deref(),
            Some("ISO-8859-1")
        );
        assert_eq!(
            charset_of("application/rss+xml;Charset=\"utf-8\"").as_deref(),
            Some("utf-8")
        );
        assert_eq!(charset_of("text/xml"), None);
    }
}
