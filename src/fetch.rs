//! HTTP: one conditional GET per feed, with hard limits on time and size.
//!
//! Redirects are followed here rather than by reqwest, so that a chain of permanent ones
//! (301/308) can be reported and remembered while temporary ones (302/303/307) are not.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use url::Url;

use std::net::IpAddr;

use crate::config::FetchConfig;
use crate::network::{PublicOnlyResolver, RefusedAddress, is_public};

/// What the previous successful fetch told us, sent back so the server can answer 304.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// `ETag` of the last answer.
    pub etag: Option<String>,
    /// `Last-Modified` of the last answer.
    pub last_modified: Option<String>,
}

/// A fetched document.
#[derive(Debug)]
pub struct Document {
    /// Decompressed body bytes, at most the configured cap.
    pub body: Vec<u8>,
    /// The `charset` parameter of `Content-Type`.
    pub charset: Option<String>,
    /// The `Content-Type` header as sent.
    pub content_type: Option<String>,
    /// Its `ETag` and `Last-Modified`, for the next request.
    pub validators: Validators,
    /// Where the document came from after redirects.
    pub final_url: Url,
}

/// What the server answered.
#[derive(Debug)]
pub enum FetchStatus {
    /// 304: the document is as it was at the validators' fetch.
    NotModified,
    /// A document.
    Fetched(Box<Document>),
}

/// A successful answer and what it says about the next fetch.
#[derive(Debug)]
pub struct FetchOutcome {
    pub status: FetchStatus,
    /// The end of a chain of permanent redirects (301/308 only): the feed's new address.
    pub moved_permanently_to: Option<Url>,
    /// `Cache-Control: max-age` or `Expires`: the server asks not to be asked before this.
    pub fresh_until: Option<DateTime<Utc>>,
}

/// Why a fetch got no document.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with an error status.
    #[error("HTTP {status}{}", retry_after.map(|t| format!(" (retry after {})", t.format("%Y-%m-%d %H:%M:%S UTC"))).unwrap_or_default())]
    Status {
        /// The status.
        status: StatusCode,
        /// `Retry-After` of a 429 or 503.
        retry_after: Option<DateTime<Utc>>,
    },
    /// Connecting took too long, or the answer stalled or was too slow.
    #[error("timed out ({0})")]
    Timeout(&'static str),
    /// The body is larger than `fetch.max_body_bytes`.
    #[error("body larger than {limit} bytes (after decompression)")]
    TooLarge {
        /// The configured cap.
        limit: u64,
    },
    /// A redirect chain longer than `fetch.max_redirects` (or a loop).
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    /// A redirect whose `Location` is missing, unparsable or not http(s).
    #[error("redirect without a usable Location header")]
    BadRedirect,
    /// No connection could be made.
    #[error("connection failed")]
    Connect(#[source] reqwest::Error),
    /// The request or the reading of the answer failed otherwise.
    #[error("request failed")]
    Request(#[source] reqwest::Error),
    /// The address is private or local and the feed may not reach such addresses.
    #[error(transparent)]
    Refused(#[from] RefusedAddress),
    /// A redirect to a scheme other than http and https (`file:`, `ftp:`).
    #[error("redirect to a {0}: URL refused (only http and https are fetched)")]
    RedirectScheme(String),
    /// The HTTP client could not be built at its first use.
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl FetchError {
    /// 410: the feed is gone for good.
    pub fn is_gone(&self) -> bool {
        matches!(self, FetchError::Status { status, .. } if *status == StatusCode::GONE)
    }

    /// When a 429/503 said to come back (`Retry-After`).
    pub fn retry_after(&self) -> Option<DateTime<Utc>> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The HTTP client shared by every feed of a run.
///
/// Its two clients are built at their first use: each build parses the system's root
/// certificates (16 million instructions, 2% of a cold 20-feed run), and most runs need
/// only one of them — every feed refuses private networks, or (a farm on loopback) every
/// feed may reach them. The first use holds a worker for that build, once per run.
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// Connects to public addresses only (resolved names are filtered after DNS).
    public_only: Arc<Mutex<Option<reqwest::Client>>>,
    /// Connects anywhere: for feeds allowed to reach private networks, and webhooks.
    any_address: Arc<Mutex<Option<reqwest::Client>>>,
    settings: Arc<ClientSettings>,
    max_body_bytes: u64,
    max_redirects: usize,
}

/// What both clients are built with.
#[derive(Debug)]
struct ClientSettings {
    user_agent: HeaderValue,
    connect_timeout: Duration,
    read_timeout: Duration,
    timeout: Duration,
}

/// The HTTP client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// reqwest refused (no TLS backend).
    #[error("cannot set up the HTTP client")]
    Build(#[source] reqwest::Error),
    /// `fetch.user_agent` cannot be sent as a header.
    #[error("fetch.user_agent is not a valid header value")]
    UserAgent(#[source] reqwest::header::InvalidHeaderValue),
}

const ACCEPT: &str = "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8";

impl Fetcher {
    /// The client for `config`'s limits and User-Agent.
    pub fn new(config: &FetchConfig) -> Result<Fetcher, ClientError> {
        // reqwest is built without a default crypto provider (ring instead of aws-lc keeps
        // the build small); installing it twice is harmless, so the error is ignored.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let user_agent =
            HeaderValue::try_from(config.user_agent.as_str()).map_err(ClientError::UserAgent)?;
        Ok(Fetcher {
            public_only: Arc::new(Mutex::new(None)),
            any_address: Arc::new(Mutex::new(None)),
            settings: Arc::new(ClientSettings {
                user_agent,
                connect_timeout: config.connect_timeout,
                read_timeout: config.read_timeout,
                timeout: config.timeout,
            }),
            max_body_bytes: config.max_body_bytes,
            max_redirects: config.max_redirects,
        })
    }

    /// The client for public addresses only (`any_address` false) or for any address,
    /// built now if this is its first use. Built under the lock: the fetches of a run
    /// start together, and without it each thread built its own (the certificates parsed
    /// twice over).
    fn client(&self, any_address: bool) -> Result<reqwest::Client, ClientError> {
        let slot = if any_address {
            &self.any_address
        } else {
            &self.public_only
        };
        // A panic while building leaves the slot empty: still safe to use.
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let settings = &self.settings;
        let builder = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout)
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(30));
        let builder = if any_address {
            builder
        } else {
            builder.dns_resolver(Arc::new(PublicOnlyResolver))
        };
        let client = builder.build().map_err(ClientError::Build)?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Starts building the client for public addresses only (`any_address` false) or for
    /// any address on a thread of its own, so that reading the system's root certificates
    /// (17–28 ms of a cold run's start here, during which no feed could be fetched)
    /// overlaps with what the run does before its first fetch. Fetches that come first
    /// wait for the build under the client's lock, as they would for their own; a build
    /// that fails here is tried again, and reported, at the first fetch.
    pub fn prepare(&self, any_address: bool) {
        let fetcher = self.clone();
        // Without a thread the client is built at its first use, as before.
        let _ = std::thread::Builder::new()
            .name("tidings-http-client".into())
            .spawn(move || fetcher.client(any_address).ok());
    }

    /// GETs `url`, sending the validators of the last fetch and the feed's own headers.
    pub async fn fetch(
        &self,
        url: &Url,
        validators: &Validators,
        request: &Request<'_>,
    ) -> Result<FetchOutcome, FetchError> {
        let (response, final_url, moved_permanently_to) =
            self.follow_redirects(url, validators, request).await?;
        let status = response.status();
        let fresh_until = freshness(response.headers(), Utc::now());
        if status == StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome {
                status: FetchStatus::NotModified,
                moved_permanently_to,
                fresh_until,
            });
        }
        if !status.is_success() {
            let retry_after = matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            )
            .then(|| header_text(response.headers(), header::RETRY_AFTER))
            .flatten()
            .and_then(|value| parse_retry_after(&value, Utc::now()));
            return Err(FetchError::Status {
                status,
                retry_after,
            });
        }
        let headers = response.headers().clone();
        let body = self.read_body(response).await?;
        let content_type = header_text(&headers, header::CONTENT_TYPE);
        Ok(FetchOutcome {
            status: FetchStatus::Fetched(Box::new(Document {
                body,
                charset: content_type.as_deref().and_then(charset_of),
                content_type,
                validators: Validators {
                    etag: header_text(&headers, header::ETAG),
                    last_modified: header_text(&headers, header::LAST_MODIFIED),
                },
                final_url,
            })),
            moved_permanently_to,
            fresh_until,
        })
    }

    /// Sends the request and follows redirects by hand, at most `max_redirects`. Returns
    /// the final answer, where it came from, and that address when every hop was
    /// permanent (301/308): the feed's new home.
    async fn follow_redirects(
        &self,
        url: &Url,
        validators: &Validators,
        request: &Request<'_>,
    ) -> Result<(reqwest::Response, Url, Option<Url>), FetchError> {
        let mut current = url.clone();
        let mut all_permanent = true;
        let mut hops = 0;
        loop {
            let response = self.send(&current, validators, request).await?;
            let status = response.status();
            if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
                let moved = (hops > 0 && all_permanent).then(|| current.clone());
                return Ok((response, current, moved));
            }
            hops += 1;
            if hops > self.max_redirects {
                return Err(FetchError::TooManyRedirects(self.max_redirects));
            }
            let location =
                header_text(response.headers(), header::LOCATION).ok_or(FetchError::BadRedirect)?;
            let next = current
                .join(&location)
                .map_err(|_| FetchError::BadRedirect)?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(FetchError::RedirectScheme(next.scheme().to_string()));
            }
            all_permanent &= matches!(
                status,
                StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
            );
            current = next;
        }
    }

    /// The body, at most `max_body_bytes` after decompression.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
        let too_large = FetchError::TooLarge {
            limit: self.max_body_bytes,
        };
        if response
            .content_length()
            .is_some_and(|n| n > self.max_body_bytes)
        {
            return Err(too_large);
        }
        // Chunks arrive decompressed, so this cap also stops compression bombs and bodies
        // that never end.
        let mut body = Vec::with_capacity(64 * 1024);
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if (body.len() + chunk.len()) as u64 > self.max_body_bytes {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn send(
        &self,
        url: &Url,
        validators: &Validators,
        options: &Request<'_>,
    ) -> Result<reqwest::Response, FetchError> {
        if !options.allow_private_networks {
            refuse_private_literal(url)?;
        }
        let client = self.client(options.allow_private_networks)?;
        let mut request = client.get(url.clone()).header(header::ACCEPT, ACCEPT);
        for (name, value) in options.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                request = request.header(name, value);
            }
        }
        if let Some(etag) = &validators.etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(last_modified) = &validators.last_modified {
            request = request.header(header::IF_MODIFIED_SINCE, last_modified);
        }
        request.send().await.map_err(classify)
    }
}

impl Fetcher {
    /// POSTs `body` to `url` with `headers` (a webhook the configuration names: any
    /// address, no redirects followed); returns the answer's status.
    pub async fn post(
        &self,
        url: &Url,
        body: Vec<u8>,
        headers: &[(String, String)],
    ) -> Result<u16, FetchError> {
        let mut request = self.client(true)?.post(url.clone()).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(classify)?;
        Ok(response.status().as_u16())
    }
}

/// What one feed's requests carry and where they may go.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// Extra headers (a token, a cookie).
    pub headers: &'a [(String, String)],
    /// Private and local addresses may be reached.
    pub allow_private_networks: bool,
}

/// An IP-literal URL (`http://127.0.0.1/`, `http://[::1]/`, `http://2130706433/`, which
/// the URL parser reads as 127.0.0.1) needs no resolver, so it is checked here.
fn refuse_private_literal(url: &Url) -> Result<(), FetchError> {
    let address = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    if is_public(address) {
        Ok(())
    } else {
        Err(FetchError::Refused(RefusedAddress {
            host: url.host_str().unwrap_or_default().to_string(),
            address,
        }))
    }
}

fn classify(error: reqwest::Error) -> FetchError {
    // The resolver's refusal travels inside reqwest's error.
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&error);
    while let Some(current) = cause {
        if let Some(refused) = current.downcast_ref::<RefusedAddress>() {
            return FetchError::Refused(RefusedAddress {
                host: refused.host.clone(),
                address: refused.address,
            });
        }
        cause = current.source();
    }
    if error.is_timeout() {
        FetchError::Timeout(if error.is_connect() {
            "connect"
        } else {
            "no data or too slow"
        })
    } else if error.is_connect() {
        FetchError::Connect(error)
    } else {
        FetchError::Request(error)
    }
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

/// `Retry-After`: seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u32>() {
        return Some(now + chrono::Duration::seconds(i64::from(seconds)));
    }
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// How long the server says the answer stays fresh: `Cache-Control: max-age` first, then
/// `Expires`. `no-cache`, `no-store` and dates in the past say nothing.
pub fn freshness(headers: &HeaderMap, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Some(cache_control) = header_text(headers, header::CACHE_CONTROL) {
        let directives: Vec<String> = cache_control
            .split(',')
            .map(|d| d.trim().to_ascii_lowercase())
            .collect();
        if directives
            .iter()
            .any(|d| d == "no-cache" || d == "no-store")
        {
            return None;
        }
        if let Some(seconds) = directives.iter().find_map(|d| {
            d.strip_prefix("max-age=")
                .and_then(|v| v.trim_matches('"').parse::<u32>().ok())
        }) {
            return (seconds > 0).then(|| now + chrono::Duration::seconds(i64::from(seconds)));
        }
    }
    header_text(headers, header::EXPIRES)
        .and_then(|value| DateTime::parse_from_rfc2822(&value).ok())
        .map(|d| d.with_timezone(&Utc))
        .filter(|d| *d > now)
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

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(now + chrono::Duration::seconds(120))
        );
        let date = parse_retry_after("Thu, 01 Jan 2026 01:00:00 GMT", now).expect("date");
        assert_eq!(date, now + chrono::Duration::hours(1));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn freshness_prefers_max_age_and_ignores_no_cache() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=600"),
        );
        headers.insert(
            header::EXPIRES,
            HeaderValue::from_static("Thu, 01 Jan 2026 05:00:00 GMT"),
        );
        assert_eq!(
            freshness(&headers, now),
            Some(now + chrono::Duration::seconds(600))
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        assert_eq!(freshness(&headers, now), None);
        headers.remove(header::CACHE_CONTROL);
        assert_eq!(
            freshness(&headers, now),
            Some(now + chrono::Duration::hours(5))
        );
    }
}
