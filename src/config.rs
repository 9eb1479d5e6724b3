//! The configuration file: TOML in, a validated [`Config`] out.
//!
//! Every table denies unknown keys so a typo is an error that names the key, and every
//! value is checked at load time (names, URLs, schedules, time zone, path template), so
//! the rest of the program only ever sees a configuration that makes sense.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;
use url::Url;

use crate::output::PathTemplate;
use crate::schedule::{DEFAULT_SCHEDULE, Schedule, Timing};

/// Where the configuration file is looked for when `--config` is not given, after
/// `$TIDINGS_CONFIG`.
pub fn default_config_candidates() -> Vec<PathBuf> {
    let mut candidates = vec![PathBuf::from("tidings.toml")];
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")));
    if let Some(dir) = xdg {
        candidates.push(dir.join("tidings").join("tidings.toml"));
    }
    candidates.push(PathBuf::from("/etc/tidings/tidings.toml"));
    candidates
}

/// Finds the configuration file: the explicit path, else `$TIDINGS_CONFIG`, else the first
/// of [`default_config_candidates`] that exists.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    if let Some(env) = std::env::var_os("TIDINGS_CONFIG").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(env));
    }
    let candidates = default_config_candidates();
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .ok_or_else(|| ConfigError::NotFound {
            searched: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no configuration file found (give --config PATH or set TIDINGS_CONFIG; looked for {searched})"
    )]
    NotFound { searched: String },
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// The validated configuration. Paths are absolute (relative ones were resolved against
/// the configuration file's folder).
#[derive(Debug, Clone)]
pub struct Config {
    pub source: PathBuf,
    pub database: PathBuf,
    pub output: OutputConfig,
    pub fetch: FetchConfig,
    pub daemon: DaemonConfig,
    pub feeds: Vec<FeedConfig>,
}

/// How `tidings run` schedules.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub timing: Timing,
    /// How long in-flight feeds may take to finish after SIGTERM.
    pub grace: Duration,
    /// Feeds overdue at start-up are spread over this window instead of all at once.
    pub startup_spread: Duration,
}

#[derive(Debug, Clone)]
pub struct OutputConfig {
    pub dir: PathBuf,
    pub path: PathTemplate,
    pub timezone: Tz,
    pub summary_chars: usize,
}

#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub concurrency: usize,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// The longest wait for the next bytes of an answer (a stalled server).
    pub read_timeout: Duration,
    pub max_redirects: usize,
    /// Entries read from one document at most (the first ones: feeds list newest first).
    pub max_entries: usize,
    /// The longest title, summary or content taken from an entry, in bytes.
    pub max_field_bytes: usize,
    pub max_body_bytes: u64,
    pub user_agent: String,
    /// Requests in flight to one host at most, across all feeds.
    pub per_host: usize,
}

/// One feed with everything it needs resolved: its own values or the global defaults.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub name: String,
    pub url: Url,
    pub lang: Option<String>,
    pub categories: Vec<String>,
    pub tags: Vec<String>,
    /// Shared: feeds without a schedule of their own point at the one default.
    pub schedule: std::sync::Arc<Schedule>,
    /// The zone of dates in the feed that name none.
    pub timezone: Tz,
    /// Extra request headers (a token, a cookie), validated.
    pub headers: Vec<(String, String)>,
    pub on_update: OnUpdate,
    pub dedup: Dedup,
    /// Append the entry's own categories to `tags`.
    pub entry_tags: bool,
    /// Fill `thumbnail` from the entry (media thumbnail, image enclosure, first image).
    pub auto_thumbnail: bool,
    pub front_matter: FrontMatter,
}

/// What happens when a known entry's content or title changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUpdate {
    /// Rewrite its file in place (same path, same date).
    #[default]
    Rewrite,
    /// Leave the file as first written.
    Ignore,
}

/// Where a story counts as already written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dedup {
    /// One story (one canonical link) is written once across all feeds.
    #[default]
    Global,
    /// This feed writes its own copy of every story it carries.
    Feed,
}

/// The theme settings written into every article's front matter (Mainroad-style keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontMatter {
    pub menu: String,
    pub thumbnail: String,
    pub lead: String,
    pub comments: bool,
    pub authorbox: bool,
    pub pager: bool,
    pub toc: bool,
    pub mathjax: bool,
    pub sidebar: String,
    pub widgets: Vec<String>,
}

impl Default for FrontMatter {
    fn default() -> Self {
        FrontMatter {
            menu: String::new(),
            thumbnail: String::new(),
            lead: String::new(),
            comments: false,
            authorbox: false,
            pager: true,
            toc: false,
            mathjax: false,
            sidebar: "right".to_string(),
            widgets: vec!["search".into(), "recent".into(), "taglist".into()],
        }
    }
}

impl FrontMatter {
    fn overridden_by(mut self, o: &FrontMatterOverrides) -> Self {
        if let Some(v) = &o.menu {
            self.menu = v.clone();
        }
        if let Some(v) = &o.thumbnail {
            self.thumbnail = v.clone();
        }
        if let Some(v) = &o.lead {
            self.lead = v.clone();
        }
        if let Some(v) = o.comments {
            self.comments = v;
        }
        if let Some(v) = o.authorbox {
            self.authorbox = v;
        }
        if let Some(v) = o.pager {
            self.pager = v;
        }
        if let Some(v) = o.toc {
            self.toc = v;
        }
        if let Some(v) = o.mathjax {
            self.mathjax = v;
        }
        if let Some(v) = &o.sidebar {
            self.sidebar = v.clone();
        }
        if let Some(v) = &o.widgets {
            self.widgets = v.clone();
        }
        self
    }
}

pub const DEFAULT_PATH_TEMPLATE: &str = "{feed}/{year}/{date}-{slug}.md";
pub const DEFAULT_SUMMARY_CHARS: usize = 320;
pub const DEFAULT_CONCURRENCY: usize = 8;
pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

pub fn default_user_agent() -> String {
    format!(
        "tidings/{} (+{})",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_REPOSITORY")
    )
}

// ---- the file as written -------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    output: RawOutput,
    #[serde(default)]
    fetch: RawFetch,
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default)]
    front_matter: FrontMatterOverrides,
    #[serde(default)]
    feeds: Vec<RawFeed>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    database: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    dir: Option<PathBuf>,
    path: Option<String>,
    timezone: Option<String>,
    summary_chars: Option<usize>,
    on_update: Option<OnUpdate>,
    entry_tags: Option<bool>,
    thumbnail: Option<ThumbnailMode>,
}

/// `thumbnail = "auto"` fills the front matter's thumbnail from the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ThumbnailMode {
    Auto,
    None,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFetch {
    concurrency: Option<usize>,
    timeout_secs: Option<u64>,
    connect_timeout_secs: Option<u64>,
    read_timeout_secs: Option<u64>,
    max_redirects: Option<usize>,
    max_entries: Option<usize>,
    max_field_bytes: Option<usize>,
    max_body_bytes: Option<u64>,
    user_agent: Option<String>,
    per_host: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    schedule: Option<String>,
    jitter_secs: Option<u64>,
    max_backoff_secs: Option<u64>,
    grace_secs: Option<u64>,
    startup_spread_secs: Option<u64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatterOverrides {
    menu: Option<String>,
    thumbnail: Option<String>,
    lead: Option<String>,
    comments: Option<bool>,
    authorbox: Option<bool>,
    pager: Option<bool>,
    toc: Option<bool>,
    mathjax: Option<bool>,
    sidebar: Option<String>,
    widgets: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    name: String,
    url: String,
    lang: Option<String>,
    categories: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    schedule: Option<String>,
    timezone: Option<String>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    on_update: Option<OnUpdate>,
    dedup: Option<Dedup>,
    entry_tags: Option<bool>,
    thumbnail: Option<ThumbnailMode>,
    front_matter: Option<FrontMatterOverrides>,
}

// ---- loading and validation ------------------------------------------------------------

/// Reads and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let base = std::path::absolute(&base).unwrap_or(base);
    parse(&text, path, &base)
}

/// Validates configuration text; `base` is the folder relative paths are resolved against.
pub fn parse(text: &str, source: &Path, base: &Path) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: source.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    })?;
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        path: source.to_path_buf(),
        key: key.to_string(),
        message,
    };

    let database = base.join(
        raw.storage
            .database
            .unwrap_or_else(|| PathBuf::from("state/tidings.db")),
    );
    let dir = base.join(raw.output.dir.unwrap_or_else(|| PathBuf::from("articles")));
    let template_text = raw
        .output
        .path
        .unwrap_or_else(|| DEFAULT_PATH_TEMPLATE.to_string());
    let path =
        PathTemplate::parse(&template_text).map_err(|e| invalid("output.path", e.to_string()))?;
    let timezone =
        parse_zone(raw.output.timezone.as_deref()).map_err(|m| invalid("output.timezone", m))?;
    let summary_chars = raw.output.summary_chars.unwrap_or(DEFAULT_SUMMARY_CHARS);
    if summary_chars == 0 {
        return Err(invalid("output.summary_chars", "must be at least 1".into()));
    }

    let concurrency = raw.fetch.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if concurrency == 0 {
        return Err(invalid("fetch.concurrency", "must be at least 1".into()));
    }
    let secs = |key: &str, value: Option<u64>, default: u64| -> Result<Duration, ConfigError> {
        match value.unwrap_or(default) {
            0 => Err(invalid(key, "must be at least 1 second".into())),
            n => Ok(Duration::from_secs(n)),
        }
    };
    let fetch = FetchConfig {
        concurrency,
        timeout: secs("fetch.timeout_secs", raw.fetch.timeout_secs, 30)?,
        connect_timeout: secs(
            "fetch.connect_timeout_secs",
            raw.fetch.connect_timeout_secs,
            10,
        )?,
        read_timeout: secs("fetch.read_timeout_secs", raw.fetch.read_timeout_secs, 20)?,
        max_redirects: raw.fetch.max_redirects.unwrap_or(5),
        max_entries: match raw.fetch.max_entries.unwrap_or(1000) {
            0 => return Err(invalid("fetch.max_entries", "must be at least 1".into())),
            n => n,
        },
        max_field_bytes: match raw.fetch.max_field_bytes.unwrap_or(1024 * 1024) {
            n if n < 1024 => {
                return Err(invalid(
                    "fetch.max_field_bytes",
                    "must be at least 1024".into(),
                ));
            }
            n => n,
        },
        max_body_bytes: raw.fetch.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
        user_agent: raw.fetch.user_agent.unwrap_or_else(default_user_agent),
        per_host: match raw.fetch.per_host.unwrap_or(2) {
            0 => return Err(invalid("fetch.per_host", "must be at least 1".into())),
            n => n,
        },
    };
    let daemon = DaemonConfig {
        timing: Timing {
            jitter: Duration::from_secs(raw.daemon.jitter_secs.unwrap_or(120)),
            max_backoff: secs(
                "daemon.max_backoff_secs",
                raw.daemon.max_backoff_secs,
                6 * 3600,
            )?,
        },
        grace: Duration::from_secs(raw.daemon.grace_secs.unwrap_or(10)),
        startup_spread: Duration::from_secs(raw.daemon.startup_spread_secs.unwrap_or(60)),
    };

    let default_schedule = std::sync::Arc::new(
        Schedule::parse(raw.daemon.schedule.as_deref().unwrap_or(DEFAULT_SCHEDULE))
            .map_err(|e| invalid("daemon.schedule", e.to_string()))?,
    );
    let global_front_matter = FrontMatter::default().overridden_by(&raw.front_matter);

    let mut seen_names = HashSet::new();
    let mut feeds = Vec::with_capacity(raw.feeds.len());
    for (index, feed) in raw.feeds.into_iter().enumerate() {
        let key = |field: &str| format!("feeds[{index}].{field}");
        check_feed_name(&feed.name).map_err(|m| invalid(&key("name"), m))?;
        if !seen_names.insert(feed.name.clone()) {
            return Err(invalid(
                &key("name"),
                format!("duplicate feed name {:?}", feed.name),
            ));
        }
        let url = check_feed_url(&feed.url).map_err(|m| invalid(&key("url"), m))?;
        let schedule = match feed.schedule.as_deref() {
            Some(text) => std::sync::Arc::new(
                Schedule::parse(text).map_err(|e| invalid(&key("schedule"), e.to_string()))?,
            ),
            None => default_schedule.clone(),
        };
        if feed
            .lang
            .as_deref()
            .is_some_and(|lang| lang.trim().is_empty())
        {
            return Err(invalid(&key("lang"), "must not be empty".into()));
        }
        let feed_zone =
            parse_zone(feed.timezone.as_deref()).map_err(|m| invalid(&key("timezone"), m))?;
        let front_matter = match &feed.front_matter {
            Some(o) => global_front_matter.clone().overridden_by(o),
            None => global_front_matter.clone(),
        };
        feeds.push(FeedConfig {
            categories: feed.categories.unwrap_or_else(|| vec![feed.name.clone()]),
            tags: feed.tags.unwrap_or_else(|| vec![feed.name.clone()]),
            name: feed.name,
            url,
            lang: feed.lang,
            schedule,
            timezone: feed_zone,
            headers: check_headers(&feed.headers).map_err(|m| invalid(&key("headers"), m))?,
            on_update: feed.on_update.or(raw.output.on_update).unwrap_or_default(),
            dedup: feed.dedup.unwrap_or_default(),
            entry_tags: feed.entry_tags.or(raw.output.entry_tags).unwrap_or(false),
            auto_thumbnail: feed.thumbnail.or(raw.output.thumbnail) == Some(ThumbnailMode::Auto),
            front_matter,
        });
    }

    Ok(Config {
        source: source.to_path_buf(),
        database,
        output: OutputConfig {
            dir,
            path,
            timezone,
            summary_chars,
        },
        fetch,
        daemon,
        feeds,
    })
}

/// Header names and values a request can carry.
fn check_headers(
    headers: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, String> {
    headers
        .iter()
        .map(|(name, value)| {
            reqwest::header::HeaderName::try_from(name.as_str())
                .map_err(|_| format!("{name:?} is not a valid header name"))?;
            reqwest::header::HeaderValue::try_from(value.as_str())
                .map_err(|_| format!("the value of {name:?} is not a valid header value"))?;
            Ok((name.clone(), value.clone()))
        })
        .collect()
}

/// An IANA zone name; UTC when absent.
fn parse_zone(name: Option<&str>) -> Result<Tz, String> {
    match name {
        None => Ok(Tz::UTC),
        Some(name) => name.parse::<Tz>().map_err(|_| {
            format!(
                "unknown time zone {name:?} (use an IANA name such as \"Europe/Berlin\" or \"UTC\")"
            )
        }),
    }
}

/// A feed name becomes a folder name and a label: keep it to characters that are safe in
/// a file name on every system.
fn check_feed_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 64 {
        return Err(format!("{name:?} is longer than 64 characters"));
    }
    let starts_well = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let all_safe = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !starts_well || !all_safe {
        return Err(format!(
            "{name:?} is not safe as a file name: use letters a-z, A-Z, digits, '-', '_' and '.', starting with a letter or digit"
        ));
    }
    Ok(())
}

fn check_feed_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?} must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} has no host"));
    }
    Ok(url)
}

impl Config {
    /// The feeds named in `names`, in configuration order; all of them when `names` is
    /// empty. Unknown names are an error listing them.
    pub fn select_feeds(&self, names: &[String]) -> Result<Vec<FeedConfig>, UnknownFeeds> {
        if names.is_empty() {
            return Ok(self.feeds.clone());
        }
        let unknown: Vec<String> = names
            .iter()
            .filter(|n| !self.feeds.iter().any(|f| &f.name == *n))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(UnknownFeeds(unknown));
        }
        Ok(self
            .feeds
            .iter()
            .filter(|f| names.contains(&f.name))
            .cloned()
            .collect())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("no feed named {} in the configuration", .0.join(", "))]
pub struct UnknownFeeds(pub Vec<String>);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("test.toml"), Path::new("/base"))
    }

    #[test]
    fn minimal_config_gets_defaults_resolved_against_the_config_folder() {
        let config = parse_str("[[feeds]]\nname = \"tc\"\nurl = \"https://example.com/feed\"\n")
            .expect("valid");
        assert_eq!(config.database, Path::new("/base/state/tidings.db"));
        assert_eq!(config.output.dir, Path::new("/base/articles"));
        assert_eq!(config.output.summary_chars, 320);
        assert_eq!(config.feeds[0].categories, vec!["tc".to_string()]);
        assert_eq!(config.feeds[0].front_matter, FrontMatter::default());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = parse_str("[output]\ndirr = \"x\"\n").expect_err("unknown key");
        assert!(err.to_string().contains("dirr"), "{err}");
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let text = "[[feeds]]\nname = \"a\"\nurl = \"https://a.example/\"\n[[feeds]]\nname = \"a\"\nurl = \"https://b.example/\"\n";
        let err = parse_str(text).expect_err("duplicate");
        assert!(err.to_string().contains("feeds[1].name"), "{err}");
    }

    #[test]
    fn unsafe_names_and_bad_urls_are_rejected() {
        for name in ["../x", "a/b", ".hidden", "", "con sole"] {
            let text = format!("[[feeds]]\nname = {name:?}\nurl = \"https://a.example/\"\n");
            let err = parse_str(&text).expect_err(name);
            assert!(err.to_string().contains("feeds[0].name"), "{err}");
        }
        for url in ["not a url", "ftp://a.example/", "file:///etc/passwd"] {
            let text = format!("[[feeds]]\nname = \"a\"\nurl = {url:?}\n");
            let err = parse_str(&text).expect_err(url);
            assert!(err.to_string().contains("feeds[0].url"), "{err}");
        }
    }

    #[test]
    fn feed_front_matter_overrides_global_defaults() {
        let text = "[front_matter]\ncomments = true\nsidebar = \"left\"\n[[feeds]]\nname = \"a\"\nurl = \"https://a.example/\"\n[feeds.front_matter]\nsidebar = \"none\"\n";
        let config = parse_str(text).expect("valid");
        assert!(config.feeds[0].front_matter.comments);
        assert_eq!(config.feeds[0].front_matter.sidebar, "none");
    }
}
