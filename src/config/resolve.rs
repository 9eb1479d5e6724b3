//! The file as written to a validated [`Config`]: every value checked, every path made
//! absolute, every feed given its own values or the global ones. Errors name the key.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use url::Url;

use super::file::{
    ConfigFile, DaemonTable, FeedTable, FetchTable, FiltersTable, HooksTable, ImagesMode,
    OutputTable, ThumbnailMode,
};
use super::{
    Config, ConfigError, DaemonConfig, FeedConfig, FetchConfig, FrontMatter, HooksConfig,
    OutputConfig,
};
use crate::filter::{Filters, Rule};
use crate::output::PathTemplate;
use crate::render::ArticleTemplate;
use crate::schedule::{Schedule, Timing};

/// Makes the error of one key.
struct Invalid<'a> {
    source: &'a Path,
}

impl Invalid<'_> {
    fn at(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.source.to_path_buf(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// `value` when it is at least `min`.
    fn at_least<T: PartialOrd + std::fmt::Display>(
        &self,
        key: &str,
        value: T,
        min: T,
    ) -> Result<T, ConfigError> {
        if value < min {
            return Err(self.at(key, format!("must be at least {min}")));
        }
        Ok(value)
    }

    /// A whole number of seconds, at least one.
    fn seconds(&self, key: &str, value: u64) -> Result<Duration, ConfigError> {
        match value {
            0 => Err(self.at(key, "must be at least 1 second")),
            n => Ok(Duration::from_secs(n)),
        }
    }
}

pub(super) fn resolve(file: ConfigFile, source: &Path, base: &Path) -> Result<Config, ConfigError> {
    let invalid = Invalid { source };
    let output = resolve_output(&file.output, base, &invalid)?;
    let fetch = resolve_fetch(file.fetch, &invalid)?;
    let daemon = resolve_daemon(&file.daemon, &invalid)?;
    let default_schedule = Arc::new(
        Schedule::parse(&file.daemon.schedule)
            .map_err(|e| invalid.at("daemon.schedule", e.to_string()))?,
    );
    let global_front_matter = FrontMatter::default().overridden_by(&file.front_matter);
    let global_filters = resolve_filters(&file.filters, &invalid)?;
    let hooks = resolve_hooks(&file.hooks, &invalid)?;
    let global_template = load_template(
        file.output.template.as_deref(),
        base,
        "output.template",
        source,
    )?;
    // Feeds naming the same file share one compiled template.
    let mut templates: std::collections::HashMap<std::path::PathBuf, Arc<ArticleTemplate>> =
        std::collections::HashMap::new();
    let mut seen_names = HashSet::new();
    let mut seen_urls = std::collections::HashMap::new();
    let mut feeds = Vec::with_capacity(file.feeds.len());
    for (index, feed) in file.feeds.into_iter().enumerate() {
        let key = |field: &str| format!("feeds[{index}].{field}");
        // Names become folders: two that differ only in case share one on macOS and
        // Windows disks.
        if !seen_names.insert(feed.name.to_lowercase()) {
            check_feed_name(&feed.name).map_err(|m| invalid.at(&key("name"), m))?;
            return Err(invalid.at(
                &key("name"),
                format!(
                    "duplicate feed name {:?} (names must differ in more than case)",
                    feed.name
                ),
            ));
        }
        if let Some(earlier) = seen_urls.insert(feed.url.trim().to_string(), index) {
            return Err(invalid.at(
                &key("url"),
                format!("{:?} is also the url of feeds[{earlier}]", feed.url.trim()),
            ));
        }
        let globals = Globals {
            output: &file.output,
            allow_private_networks: fetch.allow_private_networks,
            schedule: &default_schedule,
            front_matter: &global_front_matter,
            filters: &global_filters,
            template: &global_template,
        };
        let template = match feed.template.as_deref() {
            None => global_template.clone(),
            Some(path) => {
                let path = base.join(path);
                match templates.get(&path) {
                    Some(known) => Some(Arc::clone(known)),
                    None => {
                        let loaded = load_template(Some(&path), base, &key("template"), source)?;
                        if let Some(loaded) = &loaded {
                            templates.insert(path, Arc::clone(loaded));
                        }
                        loaded
                    }
                }
            }
        };
        let mut resolved = resolve_feed(feed, &globals, &key, &invalid)?;
        resolved.template = template;
        feeds.push(resolved);
    }
    Ok(Config {
        source: source.to_path_buf(),
        database: base.join(&file.storage.database),
        output,
        fetch,
        daemon,
        hooks,
        feeds,
    })
}

/// Loads and checks the template at `path` (relative to `base`), if one is named.
fn load_template(
    path: Option<&Path>,
    base: &Path,
    key: &str,
    source: &Path,
) -> Result<Option<Arc<ArticleTemplate>>, ConfigError> {
    let Some(path) = path else {
        return Ok(None);
    };
    ArticleTemplate::load(&base.join(path))
        .map(|template| Some(Arc::new(template)))
        .map_err(|error| ConfigError::Template {
            path: source.to_path_buf(),
            key: key.to_string(),
            source: error,
        })
}

/// Compiles `rules` (given at `key`); an invalid one names its index and column.
fn compile_rules(
    rules: &[String],
    key: &str,
    invalid: &Invalid<'_>,
) -> Result<Vec<Rule>, ConfigError> {
    rules
        .iter()
        .enumerate()
        .map(|(index, text)| {
            Rule::parse(text).map_err(|e| invalid.at(&format!("{key}[{index}]"), e.to_string()))
        })
        .collect()
}

fn resolve_filters(table: &FiltersTable, invalid: &Invalid<'_>) -> Result<Filters, ConfigError> {
    Ok(Filters {
        block: compile_rules(&table.block, "filters.block", invalid)?,
        keep: compile_rules(&table.keep, "filters.keep", invalid)?,
        max_age_days: (table.max_age_days > 0).then_some(table.max_age_days),
    })
}

fn resolve_hooks(table: &HooksTable, invalid: &Invalid<'_>) -> Result<HooksConfig, ConfigError> {
    if table
        .after_pass
        .first()
        .is_some_and(|program| program.trim().is_empty())
    {
        return Err(invalid.at(
            "hooks.after_pass",
            "the program (first item) must not be empty",
        ));
    }
    let webhook = table
        .webhook
        .as_deref()
        .map(|text| check_feed_url(text).map_err(|m| invalid.at("hooks.webhook", m)))
        .transpose()?;
    if table.secret.is_some() && webhook.is_none() {
        return Err(invalid.at(
            "hooks.secret",
            "is only used with hooks.webhook, which is not set",
        ));
    }
    Ok(HooksConfig {
        after_pass: table.after_pass.clone(),
        timeout: invalid.seconds("hooks.timeout_secs", table.timeout_secs)?,
        webhook,
        secret: table.secret.clone(),
    })
}

fn resolve_output(
    table: &OutputTable,
    base: &Path,
    invalid: &Invalid<'_>,
) -> Result<OutputConfig, ConfigError> {
    Ok(OutputConfig {
        dir: base.join(&table.dir),
        path: PathTemplate::parse(&table.path)
            .map_err(|e| invalid.at("output.path", e.to_string()))?,
        timezone: parse_zone(Some(&table.timezone))
            .map_err(|m| invalid.at("output.timezone", m))?,
        summary_chars: invalid.at_least("output.summary_chars", table.summary_chars, 1)?,
        images_dir: check_relative_folder(&table.images_dir)
            .map_err(|m| invalid.at("output.images_dir", m))?,
        images_max_bytes: invalid.at_least("output.images_max_bytes", table.images_max_bytes, 1)?,
        images_max_article_bytes: invalid.at_least(
            "output.images_max_article_bytes",
            table.images_max_article_bytes,
            1,
        )?,
    })
}

fn resolve_fetch(table: FetchTable, invalid: &Invalid<'_>) -> Result<FetchConfig, ConfigError> {
    Ok(FetchConfig {
        concurrency: invalid.at_least("fetch.concurrency", table.concurrency, 1)?,
        timeout: invalid.seconds("fetch.timeout_secs", table.timeout_secs)?,
        connect_timeout: invalid
            .seconds("fetch.connect_timeout_secs", table.connect_timeout_secs)?,
        read_timeout: invalid.seconds("fetch.read_timeout_secs", table.read_timeout_secs)?,
        max_redirects: table.max_redirects,
        max_entries: invalid.at_least("fetch.max_entries", table.max_entries, 1)?,
        max_field_bytes: invalid.at_least("fetch.max_field_bytes", table.max_field_bytes, 1024)?,
        max_body_bytes: table.max_body_bytes,
        user_agent: reqwest::header::HeaderValue::try_from(table.user_agent.as_str())
            .map(|_| table.user_agent.clone())
            .map_err(|_| {
                invalid.at(
                    "fetch.user_agent",
                    "must be one line of visible characters (it is sent as a header)",
                )
            })?,
        per_host: invalid.at_least("fetch.per_host", table.per_host, 1)?,
        allow_private_networks: table.allow_private_networks,
        page_interval: Duration::from_millis(table.page_interval_ms),
    })
}

fn resolve_daemon(table: &DaemonTable, invalid: &Invalid<'_>) -> Result<DaemonConfig, ConfigError> {
    Ok(DaemonConfig {
        timing: Timing {
            jitter: Duration::from_secs(table.jitter_secs),
            max_backoff: invalid.seconds("daemon.max_backoff_secs", table.max_backoff_secs)?,
        },
        grace: Duration::from_secs(table.grace_secs),
        startup_spread: Duration::from_secs(table.startup_spread_secs),
        listen: table
            .listen
            .as_deref()
            .map(|text| {
                text.parse().map_err(|_| {
                    invalid.at(
                        "daemon.listen",
                        format!("{text:?} is not an address and port such as \"127.0.0.1:9188\""),
                    )
                })
            })
            .transpose()?,
        metrics_feed_labels: table.metrics_feed_labels,
    })
}

/// What a feed takes from the global tables when it does not say.
struct Globals<'a> {
    output: &'a OutputTable,
    allow_private_networks: bool,
    schedule: &'a Arc<Schedule>,
    front_matter: &'a FrontMatter,
    filters: &'a Filters,
    template: &'a Option<Arc<ArticleTemplate>>,
}

fn resolve_feed(
    feed: FeedTable,
    globals: &Globals<'_>,
    key: &dyn Fn(&str) -> String,
    invalid: &Invalid<'_>,
) -> Result<FeedConfig, ConfigError> {
    check_feed_name(&feed.name).map_err(|m| invalid.at(&key("name"), m))?;
    let url = check_feed_url(&feed.url).map_err(|m| invalid.at(&key("url"), m))?;
    let schedule = match feed.schedule.as_deref() {
        Some(text) => Arc::new(
            Schedule::parse(text).map_err(|e| invalid.at(&key("schedule"), e.to_string()))?,
        ),
        None => Arc::clone(globals.schedule),
    };
    if feed
        .lang
        .as_deref()
        .is_some_and(|lang| lang.trim().is_empty())
    {
        return Err(invalid.at(&key("lang"), "must not be empty"));
    }
    let front_matter = match &feed.front_matter {
        Some(o) => globals.front_matter.clone().overridden_by(o),
        None => globals.front_matter.clone(),
    };
    let mut filters = globals.filters.clone();
    filters
        .block
        .extend(compile_rules(&feed.block, &key("block"), invalid)?);
    filters
        .keep
        .extend(compile_rules(&feed.keep, &key("keep"), invalid)?);
    if let Some(days) = feed.max_age_days {
        filters.max_age_days = (days > 0).then_some(days);
    }
    if feed.initial_entries == Some(0) {
        return Err(invalid.at(
            &key("initial_entries"),
            "must be at least 1 (`tidings fetch --catchup` writes none)",
        ));
    }
    if let Some(selector) = &feed.full_text_selector {
        crate::article::extract::check_selector(selector)
            .map_err(|e| invalid.at(&key("full_text_selector"), e.to_string()))?;
    }
    Ok(FeedConfig {
        // A selector asks for full text unless the feed says otherwise.
        full_text: feed
            .full_text
            .unwrap_or(globals.output.full_text || feed.full_text_selector.is_some()),
        full_text_selector: feed.full_text_selector.clone(),
        local_images: feed.images.unwrap_or(globals.output.images) == ImagesMode::Local,
        template: globals.template.clone(),
        filters,
        initial_entries: feed.initial_entries,
        categories: feed.categories.unwrap_or_else(|| vec![feed.name.clone()]),
        tags: feed.tags.unwrap_or_else(|| vec![feed.name.clone()]),
        url,
        lang: feed.lang,
        schedule,
        timezone: parse_zone(feed.timezone.as_deref())
            .map_err(|m| invalid.at(&key("timezone"), m))?,
        headers: check_headers(&feed.headers).map_err(|m| invalid.at(&key("headers"), m))?,
        on_update: feed.on_update.unwrap_or(globals.output.on_update),
        dedup: feed.dedup,
        entry_tags: feed.entry_tags.unwrap_or(globals.output.entry_tags),
        auto_thumbnail: feed.thumbnail.or(globals.output.thumbnail) == Some(ThumbnailMode::Auto),
        front_matter,
        allow_private_networks: feed
            .allow_private_networks
            .unwrap_or(globals.allow_private_networks),
        name: feed.name,
    })
}

/// A folder inside the output folder: relative, without `..`.
fn check_relative_folder(path: &Path) -> Result<std::path::PathBuf, String> {
    let inside = !path.as_os_str().is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if inside {
        Ok(path.to_path_buf())
    } else {
        Err(format!(
            "{} must be a folder inside output.dir (relative, without `..`)",
            path.display()
        ))
    }
}

/// Header names and values a request can carry.
fn check_headers(headers: &BTreeMap<String, String>) -> Result<Vec<(String, String)>, String> {
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
pub(crate) fn check_feed_name(name: &str) -> Result<(), String> {
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

/// An http(s) URL with a host: what a feed (or a webhook) may be; the message says why not.
pub fn check_feed_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?} must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} has no host"));
    }
    Ok(url)
}
