//! The `tidings` command: parses arguments, loads the configuration, calls the library,
//! prints, and turns the result into an exit status (0 ok, 1 a feed failed, 2 usage or
//! configuration error).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use tidings::config::edit::{ConfigDocument, EditError, FeedNames, NewFeed};
use tidings::config::{self, Config, FeedConfig};
use tidings::{ErrorChain, FeedReport, FeedStatus, PassMode, Pipeline, Store, Totals};

#[derive(Debug, Parser)]
#[command(
    name = "tidings",
    version,
    about = "Feeds in, clean front-matter markdown files out"
)]
struct Cli {
    /// Configuration file (default: $TIDINGS_CONFIG, ./tidings.toml,
    /// $XDG_CONFIG_HOME/tidings/tidings.toml, /etc/tidings/tidings.toml).
    #[arg(long, short = 'c', global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    /// Only errors in the log.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    quiet: bool,

    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fetch all feeds (or the named ones) once, write new articles, and exit.
    Fetch {
        /// Names of the feeds to fetch (default: all).
        feeds: Vec<String>,
        /// Fetch feeds whose server asked to be left alone until later (Retry-After,
        /// cache lifetime, ttl).
        #[arg(long)]
        force: bool,
        /// Record the feeds' current entries as seen without writing them (a new
        /// subscription with a long backlog); later entries are written as usual.
        #[arg(long, conflicts_with = "force")]
        catchup: bool,
        /// Write the run's metrics (Prometheus text format) to this file, atomically:
        /// for node_exporter's textfile collector under a timer.
        #[arg(long, value_name = "PATH")]
        metrics_file: Option<PathBuf>,
    },
    /// Validate the configuration and show what would be fetched.
    Check,
    /// Run as a daemon: fetch every feed on its schedule until SIGTERM or SIGINT;
    /// SIGHUP reloads the configuration.
    Run,
    /// Rewrite every article of the named feeds (default: all) from the database, without
    /// fetching: after a change of front matter defaults or time zone.
    Render {
        /// Names of the feeds to render (default: all).
        feeds: Vec<String>,
    },
    /// Forget entries first seen more than DAYS days ago. Forgotten entries are written
    /// again if their feeds still carry them.
    Prune {
        /// Age in days.
        #[arg(long, value_name = "DAYS")]
        older_than: u32,
    },
    /// Rebuild what tidings knows from the articles on disk (after the database was lost
    /// or replaced): each article is recorded as written, so none is written twice.
    Reindex,
    /// Subscribe to a feed: fetch URL once (an HTML page's feed is found by
    /// autodiscovery), name it after its title unless --name is given, and append it to
    /// the configuration file, comments and layout kept.
    Add {
        /// The feed's URL, or a page that links to its feed.
        url: String,
        /// The feed's name (default: made from the feed's title).
        #[arg(long)]
        name: Option<String>,
        /// Its crontab schedule (default: daemon.schedule).
        #[arg(long, value_name = "CRON")]
        schedule: Option<String>,
    },
    /// Remove a feed from the configuration file (its articles and what the database
    /// knows of it are kept).
    Remove {
        /// The feed's name.
        name: String,
    },
    /// Subscribe to every feed of an OPML file (folders become categories); feeds already
    /// configured and invalid entries are skipped and listed. The file is changed once,
    /// or not at all.
    Import {
        /// The OPML file (from Feedly, Inoreader, NetNewsWire, Miniflux, newsboat…).
        file: PathBuf,
        /// Show what would be added without changing the configuration.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the markdown article tidings would write for a web page (full text): the
    /// page's main article, front matter from its metadata. To check how a site extracts.
    Extract {
        /// The page.
        url: String,
        /// A CSS selector naming the article, as a feed's full_text_selector would.
        #[arg(long)]
        selector: Option<String>,
    },
    /// Write the subscriptions as OPML 2.0 (stdout, or a file).
    Export {
        /// Write to this file (atomically) instead of stdout.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Show each feed's last fetch, result, articles, errors and next due time.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Exit statuses.
const EXIT_FEED_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;
/// The database or the output folder cannot be used: nothing could be done.
const EXIT_STORE: u8 = 3;
/// SIGINT stopped `fetch` (128 + 2, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    tidings::tune_allocator();
    let cli = Cli::parse();
    init_logging(&cli);
    let config = match load_config(&cli) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("tidings: {}", ErrorChain(&*error));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let config_path = config.source.clone();
    let result = match &cli.command {
        Command::Check => check(&config),
        Command::Fetch {
            feeds,
            force,
            catchup,
            metrics_file,
        } => {
            let mode = if *catchup {
                PassMode::CatchUp
            } else if *force {
                PassMode::Force
            } else {
                PassMode::HonourServer
            };
            fetch(
                config,
                feeds,
                mode,
                metrics_file.as_deref(),
                cli.verbose > 0,
            )
        }
        Command::Run => run(config_path, config),
        Command::Status { json } => status(&config, *json),
        Command::Render { feeds } => render(config, feeds),
        Command::Prune { older_than } => prune(&config, *older_than),
        Command::Reindex => reindex(config),
        Command::Add {
            url,
            name,
            schedule,
        } => add(&config, url, name.as_deref(), schedule.as_deref()),
        Command::Remove { name } => remove(&config, name),
        Command::Import { file, dry_run } => import(&config, file, *dry_run),
        Command::Export { output } => export(&config, output.as_deref()),
        Command::Extract { url, selector } => extract(&config, url, selector.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            if cli.verbose > 0 {
                eprintln!("tidings: {:#}", ErrorChain(&*error));
            } else {
                eprintln!("tidings: {}", ErrorChain(&*error));
            }
            ExitCode::from(exit_status_of(&error))
        }
    }
}

/// The store or the output folder that cannot be used has its own status; anything else
/// that stops a command counts as a failure.
fn exit_status_of(error: &anyhow::Error) -> u8 {
    // A refused edit of the configuration (a duplicate, an unknown name, a result that
    // would not load) is a usage error: nothing was changed.
    if error
        .downcast_ref::<EditError>()
        .is_some_and(|e| !matches!(e, EditError::Io { .. }))
    {
        return EXIT_USAGE;
    }
    let store_or_output = error.downcast_ref::<tidings::StoreError>().is_some()
        || error.downcast_ref::<tidings::WriteError>().is_some()
        || error
            .downcast_ref::<tidings::PipelineError>()
            .is_some_and(|e| {
                matches!(
                    e,
                    tidings::PipelineError::Store(_)
                        | tidings::PipelineError::Write(_)
                        | tidings::PipelineError::LeftPending { .. }
                )
            })
        || error
            .downcast_ref::<tidings::DaemonError>()
            .is_some_and(|e| matches!(e, tidings::DaemonError::Pipeline(_)));
    if store_or_output {
        EXIT_STORE
    } else {
        EXIT_FEED_FAILED
    }
}

fn init_logging(cli: &Cli) {
    // `fetch` prints one line per feed on stdout already, so its log only needs errors;
    // the daemon's log is its only output, one line per feed pass.
    let quiet_default = if matches!(cli.command, Command::Run) {
        "info"
    } else {
        "error"
    };
    let default_level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => quiet_default,
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("tidings={default_level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match cli.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let path = config::locate(cli.config.as_deref())?;
    Ok(config::load(&path)?)
}

fn check(config: &Config) -> anyhow::Result<ExitCode> {
    println!("configuration: {} (ok)", config.source.display());
    println!("database:      {}", config.database.display());
    println!(
        "output:        {}/{}",
        config.output.dir.display(),
        config.output.path.as_str()
    );
    println!("time zone:     {}", config.output.timezone);
    println!("{} feed(s):", config.feeds.len());
    for feed in &config.feeds {
        println!(
            "  {:<24} {}  [{}]",
            feed.name,
            tidings::masked(feed.url.as_str()),
            feed.schedule
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The feeds a command names, copied out of the configuration; `None` for all of them
/// (when none are named), which the pipeline's configuration holds.
type NamedFeeds = Option<Vec<FeedConfig>>;

/// The named feeds and a pipeline over the database, opened by `open`
/// ([`Pipeline::open`], or [`Pipeline::open_for_fetching`] for a fetch); `None` (after
/// saying why) when a name is unknown.
fn open_pipeline(
    config: Config,
    names: &[String],
    open: fn(Config) -> Result<Arc<Pipeline>, tidings::PipelineError>,
) -> anyhow::Result<Option<(NamedFeeds, Arc<Pipeline>)>> {
    let feeds = match config.select_feeds(names) {
        Ok(feeds) => feeds,
        Err(error) => {
            eprintln!("tidings: {error}");
            return Ok(None);
        }
    };
    Ok(Some((feeds, open(config)?)))
}

fn fetch(
    config: Config,
    names: &[String],
    mode: PassMode,
    metrics_file: Option<&std::path::Path>,
    verbose: bool,
) -> anyhow::Result<ExitCode> {
    let Some((named, pipeline)) = open_pipeline(config, names, Pipeline::open_for_fetching)? else {
        return Ok(ExitCode::from(EXIT_USAGE));
    };
    let feeds = named.as_deref().unwrap_or(&pipeline.config().feeds);
    // Articles claimed by an earlier run that stopped before writing them come first.
    let mut written_files = match pipeline.write_all_pending() {
        Ok(written) => {
            if !written.is_empty() {
                println!(
                    "pending: {} article(s) an earlier run claimed, written now",
                    written.len()
                );
            }
            written
        }
        Err(error) => {
            eprintln!("tidings: {}", ErrorChain(&error));
            Vec::new()
        }
    };
    let runtime = tidings::build_runtime().context("cannot start the async runtime")?;
    let progress = Progress::new(feeds.len(), verbose);
    let all = feeds.len();
    let finished = std::cell::RefCell::new(Vec::with_capacity(all));
    let metrics = tidings::Metrics::new(pipeline.config().daemon.metrics_feed_labels);
    // SIGINT (Ctrl-C) stops the run but still says what was done. Feeds cut short lose
    // nothing: claimed articles stay pending and the next run writes them.
    let interrupted = runtime.block_on(async {
        let run = pipeline.run_feeds(feeds, mode, |report| {
            progress.finished(report);
            metrics.record(report);
            finished.borrow_mut().push(report.clone());
        });
        tokio::select! {
            _ = run => false,
            _ = tokio::signal::ctrl_c() => true,
        }
    });
    progress.clear();
    if let Some(path) = metrics_file {
        if let Ok(pending) = pipeline.store().pending_count() {
            metrics.set_pending(pending);
        }
        tidings::replace_file(path, metrics.encode().as_bytes())
            .with_context(|| format!("cannot write the metrics file {}", path.display()))?;
    }
    let reports = finished.into_inner();
    let totals = Totals::of(&reports);
    println!("{totals}");
    // The next tool hears of the files once all feeds are done (also after Ctrl-C: the
    // files it names are written).
    written_files.extend(reports.iter().flat_map(|r| r.written.iter().cloned()));
    runtime.block_on(tidings::run_hooks_once(&pipeline, &written_files));
    if interrupted {
        println!(
            "interrupted: {} of {all} feed(s) not finished (their claimed articles are written by the next run)",
            all - reports.len()
        );
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    Ok(if totals.failed > 0 {
        ExitCode::from(EXIT_FEED_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

fn run(config_path: PathBuf, config: Config) -> anyhow::Result<ExitCode> {
    let runtime = tidings::build_runtime().context("cannot start the async runtime")?;
    let result = runtime.block_on(tidings::run_daemon(config_path, config));
    // Blocking work still running (a file write, a parse) gets a moment to finish.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    result?;
    Ok(ExitCode::SUCCESS)
}

fn status(config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    // Read-only: `status` creates nothing and works on a read-only folder.
    // The one command that checks the whole file: a run checks only the small tables.
    let (mut statuses, hooks) = match Store::open_read_only(&config.database)? {
        Some(store) => {
            store.verify(&config.database)?;
            (store.feed_statuses()?, store.hook_statuses()?)
        }
        None => (Vec::new(), Vec::new()),
    };
    // Configured feeds that were never fetched are shown too.
    let fetched: std::collections::HashSet<String> =
        statuses.iter().map(|s| s.name.clone()).collect();
    for feed in &config.feeds {
        if !fetched.contains(&feed.name) {
            statuses.push(FeedStatus {
                name: feed.name.clone(),
                url: feed.url.to_string(),
                last_fetch_at: None,
                last_result: None,
                last_error: None,
                error_count: 0,
                next_due: None,
                moved_to: None,
                written: 0,
                pending: 0,
                filtered: 0,
                caught_up: 0,
                images_failed: 0,
                full_text_pages: 0,
                full_text_fallbacks: Default::default(),
            });
        }
    }
    statuses.sort_by(|a, b| a.name.cmp(&b.name));
    // Credentials in feed URLs are not shown.
    for status in &mut statuses {
        status.url = tidings::masked(&status.url);
        status.moved_to = status.moved_to.as_deref().map(tidings::masked);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&statuses)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<24} {:<20} {:<12} {:>8} {:>8} {:>9} {:>7} {:<20} LAST ERROR",
        "FEED", "LAST FETCH", "RESULT", "ARTICLES", "FILTERED", "CAUGHT-UP", "ERRORS", "NEXT DUE"
    );
    let configured_names: std::collections::HashSet<&str> =
        config.feeds.iter().map(|f| f.name.as_str()).collect();
    for s in &statuses {
        if let Some(moved) = &s.moved_to {
            println!("{:<24} now at {moved} (configured: {})", s.name, s.url);
        }
        let configured = configured_names.contains(s.name.as_str());
        let name = if configured {
            s.name.clone()
        } else {
            format!("{} (removed)", s.name)
        };
        println!(
            "{:<24} {:<20} {:<12} {:>8} {:>8} {:>9} {:>7} {:<20} {}",
            name,
            s.last_fetch_at.as_deref().unwrap_or("never"),
            s.last_result.as_deref().unwrap_or("-"),
            s.written + s.pending,
            s.filtered,
            s.caught_up,
            s.error_count,
            s.next_due.as_deref().unwrap_or("-"),
            s.last_error.as_deref().unwrap_or("")
        );
    }
    for s in statuses
        .iter()
        .filter(|s| s.full_text_pages > 0 || !s.full_text_fallbacks.is_empty())
    {
        let fallbacks: i64 = s.full_text_fallbacks.values().sum();
        let reasons: Vec<String> = s
            .full_text_fallbacks
            .iter()
            .map(|(reason, count)| format!("{reason} ×{count}"))
            .collect();
        println!(
            "{:<24} full text: {} from pages, {fallbacks} kept the feed's content{}",
            s.name,
            s.full_text_pages,
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", reasons.join("; "))
            }
        );
    }
    for hook in &hooks {
        let result = if hook.ok {
            format!("ok ({})", hook.detail)
        } else {
            format!("FAILED ({} in a row): {}", hook.failures, hook.detail)
        };
        println!(
            "hook {:<19} last run {} {result}",
            hook.name, hook.last_run_at
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A one-line progress counter on stderr while `fetch` runs, only when stderr is a
/// terminal: logs and pipes get the report lines alone.
struct Progress {
    total: usize,
    /// `-v`: a failure's whole chain of causes.
    verbose: bool,
    done: std::cell::Cell<usize>,
    on_terminal: bool,
}

impl Progress {
    fn new(total: usize, verbose: bool) -> Progress {
        let progress = Progress {
            total,
            verbose,
            done: std::cell::Cell::new(0),
            on_terminal: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        };
        progress.draw();
        progress
    }

    fn draw(&self) {
        if self.on_terminal {
            eprint!("\r\x1b[K[{}/{}] fetching…", self.done.get(), self.total);
        }
    }

    fn clear(&self) {
        if self.on_terminal {
            eprint!("\r\x1b[K");
        }
    }

    fn finished(&self, report: &FeedReport) {
        self.clear();
        if self.verbose {
            println!("{report:#}");
        } else {
            println!("{report}");
        }
        self.done.set(self.done.get() + 1);
        self.draw();
    }
}

fn render(config: Config, names: &[String]) -> anyhow::Result<ExitCode> {
    let Some((named, pipeline)) = open_pipeline(config, names, Pipeline::open)? else {
        return Ok(ExitCode::from(EXIT_USAGE));
    };
    let report = pipeline.render_written(named.as_deref().unwrap_or(&pipeline.config().feeds))?;
    println!(
        "rendered: {} rewritten, {} unchanged, {} deleted downstream (left deleted), {} held by filters now written",
        report.rewritten, report.unchanged, report.missing, report.released
    );
    if report.now_blocked > 0 {
        println!(
            "note: {} written article(s) match today's filters; their files are left in place (delete them by hand if they should go)",
            report.now_blocked
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn prune(config: &Config, days: u32) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(&config.database)?;
    let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
    let forgotten = store.prune(cutoff)?;
    println!(
        "forgot {forgotten} entries first seen before {}",
        cutoff.format("%Y-%m-%d %H:%M:%S UTC")
    );
    eprintln!(
        "warning: tidings no longer remembers these entries. If a feed still carries one of them, the next fetch writes it again as a new article (a second file if the old one is still there)."
    );
    Ok(ExitCode::SUCCESS)
}

fn reindex(config: Config) -> anyhow::Result<ExitCode> {
    let Some((_, pipeline)) = open_pipeline(config, &[], Pipeline::open)? else {
        return Ok(ExitCode::from(EXIT_USAGE));
    };
    let report = pipeline.reindex()?;
    println!(
        "reindexed: {} article(s) recorded, {} already known, {} file(s) skipped (not an article of a configured feed)",
        report.recorded, report.known, report.skipped
    );
    Ok(ExitCode::SUCCESS)
}

fn add(
    config: &Config,
    url: &str,
    name: Option<&str>,
    schedule: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let mut document = ConfigDocument::read(&config.source)?;
    let given = url::Url::parse(url.trim()).with_context(|| format!("{url:?} is not a URL"))?;
    let refuse_known = |document: &ConfigDocument, candidate: &str| -> anyhow::Result<()> {
        if let Some((name, _)) = document
            .feeds()
            .into_iter()
            .find(|(_, known)| config::edit::same_url(known, candidate))
        {
            return Err(EditError::DuplicateUrl {
                url: candidate.to_string(),
                name,
            }
            .into());
        }
        Ok(())
    };
    refuse_known(&document, given.as_str())?;
    let runtime = tidings::build_runtime().context("cannot start the async runtime")?;
    let probed = runtime
        .block_on(tidings::probe_feed(&config.fetch, &given))
        .with_context(|| format!("{} is not a feed tidings can read", tidings::masked(url)))?;
    if probed.url != given {
        refuse_known(&document, probed.url.as_str())?;
    }
    let mut names = FeedNames::of(&document.feeds());
    let name = match name {
        Some(name) if names.contains(name) => {
            return Err(EditError::DuplicateName(name.to_string()).into());
        }
        Some(name) => name.to_string(),
        None => names.derive(probed.title.as_deref(), probed.url.as_str(), false),
    };
    let feed = NewFeed {
        name,
        url: probed.url.to_string(),
        schedule: schedule.map(str::to_string),
        categories: Vec::new(),
    };
    document.add(&feed)?;
    document.save()?;
    println!(
        "added to {} ({} entries now, title {:?}):\n",
        config.source.display(),
        probed.entries,
        probed.title.as_deref().unwrap_or("")
    );
    println!("[[feeds]]\nname = {:?}\nurl = {:?}", feed.name, feed.url);
    if let Some(schedule) = &feed.schedule {
        println!("schedule = {schedule:?}");
    }
    Ok(ExitCode::SUCCESS)
}

fn remove(config: &Config, name: &str) -> anyhow::Result<ExitCode> {
    let mut document = ConfigDocument::read(&config.source)?;
    let url = document.remove(name)?;
    document.save()?;
    println!(
        "removed feed {name:?} ({}) from {}; its articles and its record in the database are kept",
        tidings::masked(&url),
        config.source.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn import(config: &Config, file: &std::path::Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let outlines =
        config::opml::read_opml(&bytes).with_context(|| format!("{}", file.display()))?;
    // A feed filed in several folders (Feedly allows it) is one feed in all of them.
    let mut merged: Vec<config::opml::OpmlFeed> = Vec::with_capacity(outlines.len());
    for outline in outlines {
        match merged
            .iter_mut()
            .find(|m| config::edit::same_url(&m.xml_url, &outline.xml_url))
        {
            Some(first) => {
                for folder in outline.folders {
                    if !first.folders.contains(&folder) {
                        first.folders.push(folder);
                    }
                }
            }
            None => merged.push(outline),
        }
    }
    let outlines = merged;
    let mut document = ConfigDocument::read(&config.source)?;
    // What the file configures (read once; feeds added below are no duplicates of each
    // other, the outlines having been merged by URL).
    let known = document.feeds();
    let mut names = FeedNames::of(&known);
    let (mut added, mut configured, mut invalid) = (Vec::new(), Vec::new(), Vec::new());
    for outline in outlines {
        let label = outline
            .text
            .clone()
            .unwrap_or_else(|| outline.xml_url.clone());
        if let Err(reason) = config::check_feed_url(&outline.xml_url) {
            invalid.push(format!("{label}: {reason}"));
            continue;
        }
        let already = known
            .iter()
            .find(|(_, url)| config::edit::same_url(url, &outline.xml_url))
            .cloned();
        if let Some((name, _)) = already {
            configured.push(format!("{label}: {} (feed {name:?})", outline.xml_url));
            continue;
        }
        let feed = NewFeed {
            name: names.derive(outline.text.as_deref(), &outline.xml_url, true),
            url: outline.xml_url.trim().to_string(),
            schedule: None,
            categories: outline.folders.clone(),
        };
        document.add(&feed)?;
        added.push(feed);
    }
    if !dry_run && !added.is_empty() {
        document.save()?;
    }
    let verb = if dry_run { "would add" } else { "added" };
    println!(
        "{verb} {} feed(s) to {}",
        added.len(),
        config.source.display()
    );
    for feed in &added {
        let folders = if feed.categories.is_empty() {
            String::new()
        } else {
            format!("  [{}]", feed.categories.join(", "))
        };
        println!(
            "  + {:<24} {}{folders}",
            feed.name,
            tidings::masked(&feed.url)
        );
    }
    if !configured.is_empty() {
        println!("skipped {} already configured:", configured.len());
        configured.iter().for_each(|line| println!("  = {line}"));
    }
    if !invalid.is_empty() {
        println!("skipped {} invalid:", invalid.len());
        invalid.iter().for_each(|line| println!("  ! {line}"));
    }
    Ok(ExitCode::SUCCESS)
}

fn extract(config: &Config, url: &str, selector: Option<&str>) -> anyhow::Result<ExitCode> {
    let page = url::Url::parse(url.trim()).with_context(|| format!("{url:?} is not a URL"))?;
    if let Some(selector) = selector {
        tidings::check_selector(selector)?;
    }
    let runtime = tidings::build_runtime().context("cannot start the async runtime")?;
    let text = runtime.block_on(tidings::extract_page(config, &page, selector))?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn export(config: &Config, output: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let identities = match Store::open_read_only(&config.database) {
        Ok(Some(store)) => store.feed_identities().unwrap_or_default(),
        _ => Default::default(),
    };
    let feeds: Vec<config::opml::ExportFeed<'_>> = config
        .feeds
        .iter()
        .map(|feed| {
            let (title, site) = identities
                .get(&feed.name)
                .map(|known| (known.title.as_deref(), known.site_url.as_deref()))
                .unwrap_or_default();
            let default_categories = feed.categories.len() == 1 && feed.categories[0] == feed.name;
            config::opml::ExportFeed {
                name: &feed.name,
                title: title.unwrap_or(&feed.name),
                xml_url: feed.url.as_str(),
                html_url: site,
                categories: if default_categories {
                    &[]
                } else {
                    &feed.categories
                },
            }
        })
        .collect();
    let created = chrono::Utc::now().to_rfc2822();
    let text = config::opml::write_opml(&feeds, &created);
    match output {
        Some(path) => {
            tidings::replace_file(path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("exported {} feed(s) to {}", feeds.len(), path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
