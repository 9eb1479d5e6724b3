//! The configuration file as written: one struct per table, every key optional, and
//! every default written once, in the `Default` impls below (`#[serde(default)]` fills
//! in what the file leaves out). `deny_unknown_fields` makes a typo an error that names
//! the key. Nothing here is validated; [`super::resolve`] does that.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Dedup, FrontMatter, OnUpdate};
use crate::schedule::DEFAULT_SCHEDULE;

/// The whole file.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigFile {
    pub storage: StorageTable,
    pub output: OutputTable,
    pub fetch: FetchTable,
    pub daemon: DaemonTable,
    pub front_matter: FrontMatterOverrides,
    pub filters: FiltersTable,
    pub hooks: HooksTable,
    pub feeds: Vec<FeedTable>,
}

/// `[filters]`: rules for every feed (a feed's own rules add to these).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FiltersTable {
    pub block: Vec<String>,
    pub keep: Vec<String>,
    /// 0: no age limit.
    pub max_age_days: u32,
}

/// `[hooks]`: what runs when a pass changed files.
#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HooksTable {
    pub after_pass: Vec<String>,
    pub timeout_secs: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl Default for HooksTable {
    fn default() -> Self {
        HooksTable {
            after_pass: Vec::new(),
            timeout_secs: 300,
            webhook: None,
            secret: None,
        }
    }
}

/// `[storage]`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageTable {
    pub database: PathBuf,
}

impl Default for StorageTable {
    fn default() -> Self {
        StorageTable {
            database: PathBuf::from("state/tidings.db"),
        }
    }
}

/// `[output]`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputTable {
    pub dir: PathBuf,
    pub path: String,
    pub timezone: String,
    pub summary_chars: usize,
    pub on_update: OnUpdate,
    pub entry_tags: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<ThumbnailMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<PathBuf>,
    pub images: ImagesMode,
    pub images_dir: PathBuf,
    pub images_max_bytes: u64,
    pub images_max_article_bytes: u64,
    pub full_text: bool,
}

/// Where an article's images live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImagesMode {
    /// The article links to them where they are.
    #[default]
    Remote,
    /// They are downloaded and kept with the article.
    Local,
}

impl Default for OutputTable {
    fn default() -> Self {
        OutputTable {
            dir: PathBuf::from("articles"),
            path: "{feed}/{year}/{date}-{slug}.md".to_string(),
            timezone: "UTC".to_string(),
            summary_chars: 320,
            on_update: OnUpdate::Rewrite,
            entry_tags: false,
            thumbnail: None,
            template: None,
            images: ImagesMode::Remote,
            images_dir: PathBuf::from("images"),
            images_max_bytes: 10 * 1024 * 1024,
            images_max_article_bytes: 50 * 1024 * 1024,
            full_text: false,
        }
    }
}

/// `thumbnail = "auto"` fills the front matter's thumbnail from the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThumbnailMode {
    Auto,
    None,
}

/// `[fetch]`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FetchTable {
    pub concurrency: usize,
    pub timeout_secs: u64,
    pub connect_timeout_secs: u64,
    pub read_timeout_secs: u64,
    pub max_redirects: usize,
    pub max_entries: usize,
    pub max_field_bytes: usize,
    pub max_body_bytes: u64,
    pub user_agent: String,
    pub per_host: usize,
    pub allow_private_networks: bool,
    pub page_interval_ms: u64,
}

impl Default for FetchTable {
    fn default() -> Self {
        FetchTable {
            concurrency: 8,
            timeout_secs: 30,
            connect_timeout_secs: 10,
            read_timeout_secs: 20,
            max_redirects: 5,
            max_entries: 1000,
            max_field_bytes: 1024 * 1024,
            max_body_bytes: 16 * 1024 * 1024,
            user_agent: default_user_agent(),
            per_host: 2,
            allow_private_networks: false,
            page_interval_ms: 500,
        }
    }
}

/// `tidings/<version> (+<repository>)`.
pub fn default_user_agent() -> String {
    format!(
        "tidings/{} (+{})",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_REPOSITORY")
    )
}

/// `[daemon]`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonTable {
    pub schedule: String,
    pub jitter_secs: u64,
    pub max_backoff_secs: u64,
    pub grace_secs: u64,
    pub startup_spread_secs: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    pub metrics_feed_labels: bool,
}

impl Default for DaemonTable {
    fn default() -> Self {
        DaemonTable {
            schedule: DEFAULT_SCHEDULE.to_string(),
            jitter_secs: 120,
            max_backoff_secs: 6 * 3600,
            grace_secs: 10,
            startup_spread_secs: 60,
            listen: None,
            metrics_feed_labels: true,
        }
    }
}

/// `[front_matter]` and `[feeds.front_matter]`: only the keys given replace the
/// defaults ([`FrontMatter::default`]) or the global table.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontMatterOverrides {
    pub menu: Option<String>,
    pub thumbnail: Option<String>,
    pub lead: Option<String>,
    pub comments: Option<bool>,
    pub authorbox: Option<bool>,
    pub pager: Option<bool>,
    pub toc: Option<bool>,
    pub mathjax: Option<bool>,
    pub sidebar: Option<String>,
    pub widgets: Option<Vec<String>>,
}

impl FrontMatter {
    /// These settings with the keys `o` gives replaced.
    pub(super) fn overridden_by(mut self, o: &FrontMatterOverrides) -> Self {
        fn set<T: Clone>(field: &mut T, value: Option<&T>) {
            if let Some(value) = value {
                *field = value.clone();
            }
        }
        set(&mut self.menu, o.menu.as_ref());
        set(&mut self.thumbnail, o.thumbnail.as_ref());
        set(&mut self.lead, o.lead.as_ref());
        set(&mut self.comments, o.comments.as_ref());
        set(&mut self.authorbox, o.authorbox.as_ref());
        set(&mut self.pager, o.pager.as_ref());
        set(&mut self.toc, o.toc.as_ref());
        set(&mut self.mathjax, o.mathjax.as_ref());
        set(&mut self.sidebar, o.sidebar.as_ref());
        set(&mut self.widgets, o.widgets.as_ref());
        self
    }
}

/// One `[[feeds]]` table. Keys left out take the global value (`output.*`,
/// `daemon.schedule`) or a default derived from the feed's name.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeedTable {
    pub name: String,
    pub url: String,
    pub lang: Option<String>,
    pub categories: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub on_update: Option<OnUpdate>,
    #[serde(default)]
    pub dedup: Dedup,
    pub entry_tags: Option<bool>,
    pub thumbnail: Option<ThumbnailMode>,
    pub front_matter: Option<FrontMatterOverrides>,
    pub allow_private_networks: Option<bool>,
    #[serde(default)]
    pub block: Vec<String>,
    #[serde(default)]
    pub keep: Vec<String>,
    pub max_age_days: Option<u32>,
    pub initial_entries: Option<usize>,
    pub template: Option<PathBuf>,
    pub images: Option<ImagesMode>,
    pub full_text: Option<bool>,
    pub full_text_selector: Option<String>,
}
