//! The configuration file: TOML in, a validated [`Config`] out.
//!
//! # Architecture
//! - `file`: the file as written, one struct per table, with every default written once
//!   (its `Default` impls).
//! - `resolve`: the file to a [`Config`]: paths made absolute, values checked (names,
//!   URLs, schedules, time zones, path template, limits), per-feed values merged with the
//!   global ones. Errors name the key (`feeds[1].name`).
//! - `edit`: the file changed in place, comments kept (`add`, `remove`, `import`).
//! - `opml`: subscription lists in and out (`import`, `export`).
//! - this module: the validated types, where the file is looked for, and loading.
//!
//! The rest of the program only ever sees a configuration that makes sense.

pub mod edit;
mod file;
pub mod opml;
mod resolve;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::output::PathTemplate;
use crate::schedule::{Schedule, Timing};

pub use file::default_user_agent;
pub use resolve::check_feed_url;

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

/// Why there is no configuration to run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No file given and none found where one is looked for.
    #[error(
        "no configuration file found (give --config PATH or set TIDINGS_CONFIG; looked for {searched})"
    )]
    NotFound {
        /// The places looked at.
        searched: String,
    },
    /// The file could not be read.
    #[error("cannot read configuration file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// Not TOML, or a key tidings does not know.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The TOML reader's message (it names the line and the key).
        message: String,
    },
    /// A template that cannot be used.
    #[error("{path}: `{key}`")]
    Template {
        /// The file.
        path: PathBuf,
        /// `output.template` or `feeds[n].template`.
        key: String,
        /// What is wrong with it.
        #[source]
        source: crate::render::TemplateError,
    },
    /// A value that does not make sense.
    #[error("{path}: `{key}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key, as `table.key` or `feeds[n].key`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

/// The validated configuration. Paths are absolute (relative ones were resolved against
/// the configuration file's folder).
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub source: PathBuf,
    /// The SQLite database.
    pub database: PathBuf,
    /// Where and how articles are written.
    pub output: OutputConfig,
    /// How feeds are fetched.
    pub fetch: FetchConfig,
    /// How `tidings run` schedules.
    pub daemon: DaemonConfig,
    /// What runs after a pass that changed files.
    pub hooks: HooksConfig,
    /// The feeds, each with its settings resolved.
    pub feeds: Vec<FeedConfig>,
}

/// `[hooks]`: the next tool downstream.
#[derive(Debug, Clone, Default)]
pub struct HooksConfig {
    /// A command (argv, no shell) run after a pass that wrote, updated or removed files;
    /// empty: none.
    pub after_pass: Vec<String>,
    /// How long the command may run before it is killed.
    pub timeout: Duration,
    /// Where the new and updated articles are POSTed as JSON.
    pub webhook: Option<Url>,
    /// The HMAC-SHA256 key of the webhook's signature header.
    pub secret: Option<String>,
}

impl HooksConfig {
    /// Whether any hook is configured (else nobody needs the list of written files).
    pub fn any(&self) -> bool {
        !self.after_pass.is_empty() || self.webhook.is_some()
    }
}

/// How `tidings run` schedules.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Jitter and backoff.
    pub timing: Timing,
    /// How long in-flight feeds may take to finish after SIGTERM.
    pub grace: Duration,
    /// Feeds overdue at start-up are spread over this window instead of all at once.
    pub startup_spread: Duration,
    /// Where `/healthz`, `/readyz` and `/metrics` are served; none by default.
    pub listen: Option<std::net::SocketAddr>,
    /// Whether metrics carry a series per feed.
    pub metrics_feed_labels: bool,
}

/// Where and how articles are written.
#[derive(Debug, Clone)]
pub struct OutputConfig {
    /// The output folder.
    pub dir: PathBuf,
    /// Each article's path inside it.
    pub path: PathTemplate,
    /// The zone of the front-matter date and the path's date placeholders.
    pub timezone: Tz,
    /// The longest summary, in characters.
    pub summary_chars: usize,
    /// Where kept images go (relative to `dir`) unless the article is a page bundle.
    pub images_dir: PathBuf,
    /// The largest image kept.
    pub images_max_bytes: u64,
    /// The most image bytes kept for one article.
    pub images_max_article_bytes: u64,
}

/// How feeds are fetched.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Feeds in flight at once.
    pub concurrency: usize,
    /// The whole request.
    pub timeout: Duration,
    /// Making the connection.
    pub connect_timeout: Duration,
    /// The longest wait for the next bytes of an answer (a stalled server).
    pub read_timeout: Duration,
    /// Redirects followed at most.
    pub max_redirects: usize,
    /// Entries read from one document at most (the first ones: feeds list newest first).
    pub max_entries: usize,
    /// The longest title, summary or content taken from an entry, in bytes.
    pub max_field_bytes: usize,
    /// The largest body, after decompression.
    pub max_body_bytes: u64,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Requests in flight to one host at most, across all feeds.
    pub per_host: usize,
    /// Whether feeds may reach private and local addresses (the default of each feed).
    pub allow_private_networks: bool,
    /// The least time between two article-page requests to one host (full text).
    pub page_interval: Duration,
}

/// One feed with everything it needs resolved: its own values or the global defaults.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// Folder, default category and tag, source-line label.
    pub name: String,
    /// Where the feed is fetched from (as configured; a moved feed's new address is
    /// stored in the database).
    pub url: Url,
    /// The language written into its articles; `None`: the feed's own, else `en`.
    pub lang: Option<String>,
    /// Front-matter categories.
    pub categories: Vec<String>,
    /// Front-matter tags.
    pub tags: Vec<String>,
    /// Shared: feeds without a schedule of their own point at the one default.
    pub schedule: Arc<Schedule>,
    /// The zone of dates in the feed that name none.
    pub timezone: Tz,
    /// Extra request headers (a token, a cookie), validated.
    pub headers: Vec<(String, String)>,
    /// What an edited entry does to its file.
    pub on_update: OnUpdate,
    /// Where a story counts as already written.
    pub dedup: Dedup,
    /// Append the entry's own categories to `tags`.
    pub entry_tags: bool,
    /// Fill `thumbnail` from the entry (media thumbnail, image enclosure, first image).
    pub auto_thumbnail: bool,
    /// The theme keys of its articles.
    pub front_matter: FrontMatter,
    /// Whether its requests may reach private and local addresses (an intranet feed).
    pub allow_private_networks: bool,
    /// Which entries are written: the global rules and its own.
    pub filters: crate::filter::Filters,
    /// On the feed's first fetch, only the newest this many entries are written.
    pub initial_entries: Option<usize>,
    /// Its layout; `None`: the built-in one.
    pub template: Option<Arc<crate::render::ArticleTemplate>>,
    /// Download its articles' images and link to the copies.
    pub local_images: bool,
    /// Fetch each new entry's page and write its article instead of the feed's content.
    pub full_text: bool,
    /// The CSS selector of the article on its pages, for sites the extractor gets wrong.
    pub full_text_selector: Option<String>,
}

impl FeedConfig {
    /// The layout its articles are written with.
    pub fn template(&self) -> &crate::render::ArticleTemplate {
        match &self.template {
            Some(template) => template,
            None => crate::render::ArticleTemplate::builtin(),
        }
    }
}

/// What happens when a known entry's content or title changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUpdate {
    /// Rewrite its file in place (same path, same date).
    #[default]
    Rewrite,
    /// Leave the file as first written.
    Ignore,
}

/// Where a story counts as already written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dedup {
    /// One story (one canonical link) is written once across all feeds.
    #[default]
    Global,
    /// This feed writes its own copy of every story it carries.
    Feed,
}

/// The theme settings written into every article's front matter (Mainroad-style keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[allow(missing_docs)] // Each field is the front-matter key of the same name (FORMAT.md).
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
    let file: file::ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: source.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    })?;
    resolve::resolve(file, source, base)
}

impl Config {
    /// The feeds named in `names`, in configuration order; `None` when `names` is empty,
    /// for every feed (read from the configuration itself: a copy of 10,000 feeds was a
    /// sixth of a run's peak memory). Unknown names are an error listing them.
    pub fn select_feeds(&self, names: &[String]) -> Result<Option<Vec<FeedConfig>>, UnknownFeeds> {
        if names.is_empty() {
            return Ok(None);
        }
        let unknown: Vec<String> = names
            .iter()
            .filter(|n| !self.feeds.iter().any(|f| &f.name == *n))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(UnknownFeeds(unknown));
        }
        Ok(Some(
            self.feeds
                .iter()
                .filter(|f| names.contains(&f.name))
                .cloned()
                .collect(),
        ))
    }
}

/// Feed names given on the command line that the configuration does not have.
#[derive(Debug, thiserror::Error)]
#[error("no feed named {} in the configuration", .0.join(", "))]
pub struct UnknownFeeds(pub Vec<String>);

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

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

    /// A default as the code has it, as text (strings without quotes).
    fn value_text(value: &toml::Value) -> String {
        match value {
            toml::Value::String(text) => text.clone(),
            other => other.to_string(),
        }
    }

    #[test]
    fn readme_key_table_states_the_defaults_the_code_has() {
        let defaults = toml::Value::try_from(file::ConfigFile::default()).expect("defaults");
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README.md");
        let mut documented = HashSet::new();
        // The rows of the table headed `| key | default | meaning |`.
        let table = readme
            .lines()
            .skip_while(|l| !l.starts_with("| key | default |"))
            .take_while(|l| l.starts_with('|'));
        for row in table.filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let (Some(keys), Some(default)) = (cells.get(1), cells.get(2)) else {
                continue;
            };
            let default = default
                .trim_matches('`')
                .trim_matches('"')
                .replace("<version>", env!("CARGO_PKG_VERSION"))
                .replace("<repository>", env!("CARGO_PKG_REPOSITORY"));
            // `table.key` cells; `[[feeds]] x` and `front_matter.*` rows are not defaults.
            for key in keys.split('`').filter(|k| {
                k.split_once('.').is_some_and(|(t, f)| {
                    [t, f].iter().all(|part| {
                        !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    })
                })
            }) {
                let (table, field) = key.split_once('.').expect("dotted");
                let in_code = defaults.get(table).and_then(|t| t.get(field));
                match in_code {
                    Some(value) => assert_eq!(
                        value_text(value),
                        default,
                        "README says `{key}` defaults to {default:?}; the code says {value}"
                    ),
                    None => assert_eq!(
                        default, "none",
                        "README: `{key}` has no default in the code"
                    ),
                }
                documented.insert(key.to_string());
            }
        }
        for (table, fields) in defaults.as_table().expect("table") {
            let Some(fields) = fields.as_table() else {
                continue;
            };
            for field in fields.keys() {
                let key = format!("{table}.{field}");
                assert!(
                    table == "front_matter" || documented.contains(&key),
                    "`{key}` is missing from the README's key table"
                );
            }
        }
        assert!(
            documented.len() >= 20,
            "only {} keys read",
            documented.len()
        );
    }

    #[test]
    fn shipped_config_states_the_defaults_the_code_has() {
        let shipped =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/tidings.toml"))
                .expect("config/tidings.toml");
        let shipped: toml::Value = toml::from_str(&shipped).expect("shipped config is TOML");
        let mut defaults = toml::Value::try_from(file::ConfigFile::default()).expect("defaults");
        defaults.as_table_mut().expect("table").insert(
            "front_matter".into(),
            toml::Value::try_from(FrontMatter::default()).expect("front matter"),
        );
        let mut compared = 0;
        for table in ["storage", "output", "fetch", "daemon", "front_matter"] {
            let Some(keys) = shipped.get(table).and_then(toml::Value::as_table) else {
                continue;
            };
            for (key, value) in keys {
                assert_eq!(
                    Some(value),
                    defaults.get(table).and_then(|t| t.get(key)),
                    "config/tidings.toml sets `{table}.{key}` to {value}, which is not the default"
                );
                compared += 1;
            }
        }
        assert!(compared >= 20, "only {compared} keys compared");
    }
}
