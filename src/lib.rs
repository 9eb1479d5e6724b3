//! tidings: feeds in, clean front-matter markdown files out.
//!
//! The modules follow the data: [`config`] says what to fetch, [`fetch`] gets the bytes,
//! [`parse`] turns them into a feed model, [`article`] normalises each entry (with
//! [`text`], [`links`] and [`markdown`]), [`store`] decides what is new, [`render`] makes the
//! file text and [`output`] writes it. [`pipeline`] runs one feed through all of them.

pub mod article;
pub mod config;
pub mod daemon;
pub mod dates;
pub mod fetch;
pub mod links;
pub mod markdown;
pub mod output;
pub mod parse;
pub mod pipeline;
pub mod render;
pub mod runtime;
pub mod schedule;
pub mod store;
pub mod text;
