//! tidings: feeds in, clean front-matter markdown files out.
//!
//! The library does the work; the `tidings` binary parses arguments, calls it and
//! prints. The stages follow the data, one folder or file each:
//!
//! ```text
//! config ─► fetch ─► feed ─► article ─► store (claim) ─► render ─► output ─► store (written)
//!             (HTTP)   (bytes→Feed) (Entry→Article) (new? edited?)  (file text) (atomic files)
//! ```
//!
//! [`Pipeline`] runs one feed through all of them and is shared by `tidings fetch`,
//! `tidings render` and the daemon ([`run_daemon`]). Only `fetch`, `store` and `output`
//! touch the outside world; the other stages are pure functions, tested directly.
#![warn(missing_docs)]

mod article;
pub mod config;
mod daemon;
mod error;
mod feed;
mod fetch;
mod filter;
mod hooks;
mod html;
mod images;
mod links;
mod metrics;
mod network;
mod output;
mod pipeline;
mod render;
mod runtime;
mod schedule;
mod store;

pub use article::extract::{ExtractError, check_selector};
pub use article::markdown::{
    Parser as HtmlParser, both_trees, both_writers, convert_html, convert_parsed, html_to_markdown,
};
pub use article::text::{clean_title, html_to_plain_text, summarize};
pub use article::{
    Article, FeedContext, Identity, bound_fields, disambiguate_keys, identify, identify_entries,
    normalise,
};
pub use daemon::{DaemonError, run as run_daemon};
pub use error::ErrorChain;
pub use feed::dates::parse_date;
pub use feed::{
    EntryPrints, KnownEntries, ParseError, ParsedDocument, Source, discover_feed, parse_document,
    parse_feed,
};
pub use fetch::{
    ClientError, Document, FetchError, FetchStatus, Fetcher, Request as FetchRequest, Validators,
};
pub use hooks::{HookError, run_once as run_hooks_once, signature as webhook_signature};
pub use links::{CleanedUrl, clean_url, clean_url_text, masked};
pub use metrics::Metrics;
pub use output::{
    ArticlePaths, FolderLookups, PathProbe, PathTemplate, TemplateError, WriteError, replace_file,
    slugify, sync_filesystem, write_atomic,
};
pub use pipeline::{
    ExtractPageError, FeedError, FeedOutcome, FeedReport, PassMode, Pipeline, PipelineError,
    ProbedFeed, ReindexReport, RenderReport, Totals, WrittenArticle, extract_markdown,
    extract_page, probe_feed,
};
pub use render::{
    ArticleContext, ArticleTemplate, RenderSettings, TemplateError as ArticleTemplateError,
    article_context, render_article, yaml_double_quoted,
};
pub use runtime::{build_runtime, tune_allocator};
pub use schedule::{Schedule, ScheduleError, Timing};
pub use store::{
    Admission, ClaimOptions, ClaimReport, Claimed, EncodedArticle, FeedIdentity, FeedState,
    FeedStatus, FetchRecord, HeldLease, HookStatus, Store, StoreError, StoredEntry,
    lease_holder_name,
};
