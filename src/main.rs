//! The `tidings` command: parses arguments, loads the configuration, calls the library,
//! prints, and turns the result into an exit status (0 ok, 1 a feed failed, 2 usage or
//! configuration error).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use tidings::config::{self, Config};
use tidings::fetch::Fetcher;
use tidings::pipeline::{Pipeline, Totals};
use tidings::store::Store;

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
    },
    /// Validate the configuration and show what would be fetched.
    Check,
}

/// Exit statuses.
const EXIT_FEED_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let config = match load_config(&cli) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("tidings: {error:#}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let result = match &cli.command {
        Command::Check => check(&config),
        Command::Fetch { feeds } => fetch(config, feeds),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("tidings: {error:#}");
            ExitCode::from(EXIT_FEED_FAILED)
        }
    }
}

fn init_logging(cli: &Cli) {
    // `fetch` prints one line per feed on stdout already; its log only needs errors.
    let default_level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "error",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("tidings={default_level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
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
        let schedule = feed
            .schedule
            .as_ref()
            .map_or("-".to_string(), ToString::to_string);
        println!("  {:<24} {}  [{}]", feed.name, feed.url, schedule);
    }
    Ok(ExitCode::SUCCESS)
}

fn fetch(config: Config, names: &[String]) -> anyhow::Result<ExitCode> {
    let feeds = match config.select_feeds(names) {
        Ok(feeds) => feeds,
        Err(error) => {
            eprintln!("tidings: {error}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let store = Store::open(&config.database)?;
    let fetcher = Fetcher::new(&config.fetch)?;
    let pipeline = Pipeline::new(Arc::new(config), fetcher, store);
    // Articles claimed by an earlier run that stopped before writing them come first.
    if let Err(error) = pipeline.write_pending(None) {
        eprintln!("tidings: {error}");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let reports = runtime.block_on(pipeline.run_feeds(feeds, |report| println!("{report}")));
    let totals = Totals::of(&reports);
    println!("{totals}");
    Ok(if totals.failed > 0 {
        ExitCode::from(EXIT_FEED_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}
