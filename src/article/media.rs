//! What an entry's media say: a thumbnail, and a link line for each audio or video file
//! (a podcast episode), since markdown cannot embed them.

use std::collections::HashSet;

use feed_rs::model::Entry;
use url::Url;

use super::markdown::{escape_link_text, markdown_link_destination};
use super::text::collapse_whitespace;
use crate::links::clean_url;

/// What an entry's media say: a thumbnail, and a link line for each audio or video file
/// (a podcast episode), since markdown cannot embed them.
pub struct Media {
    pub thumbnail: Option<Url>,
    pub link_lines: Vec<String>,
    /// Every file with a URL, in the feed's order.
    pub enclosures: Vec<super::Enclosure>,
}

pub fn media_of(entry: &Entry, base: Option<&Url>) -> Media {
    let mut thumbnail = None;
    let mut link_lines = Vec::new();
    let mut enclosures: Vec<super::Enclosure> = Vec::new();
    let mut linked = HashSet::new();
    for object in &entry.media {
        if thumbnail.is_none() {
            thumbnail = object
                .thumbnails
                .iter()
                .find_map(|t| clean_url(&t.image.uri, base));
        }
        for content in &object.content {
            let Some(url) = content
                .url
                .as_ref()
                .and_then(|u| clean_url(u.as_str(), base))
            else {
                continue;
            };
            if !enclosures.iter().any(|e| e.url == url.as_str()) {
                enclosures.push(super::Enclosure {
                    url: url.to_string(),
                    mime_type: content
                        .content_type
                        .as_ref()
                        .map(|m| m.essence().to_string()),
                    length: content.size,
                });
            }
            let kind = content
                .content_type
                .as_ref()
                .map(|m| m.ty().as_str().to_ascii_lowercase());
            match kind.as_deref() {
                Some("image") if thumbnail.is_none() => thumbnail = Some(url),
                Some(kind @ ("audio" | "video")) if linked.insert(url.to_string()) => {
                    let label = if kind == "audio" { "Audio" } else { "Video" };
                    let file = url
                        .path_segments()
                        .and_then(|mut s| s.next_back())
                        .filter(|s| !s.is_empty())
                        .map(|s| collapse_whitespace(&percent_decoded(s)))
                        .unwrap_or_else(|| url.to_string());
                    let size = content
                        .size
                        .map(|bytes| format!(", {:.1} MB", bytes as f64 / 1_000_000.0))
                        .unwrap_or_default();
                    link_lines.push(format!(
                        "{label}: [{}{size}]({})",
                        escape_link_text(&file),
                        markdown_link_destination(url.as_str())
                    ));
                }
                _ => {}
            }
        }
    }
    Media {
        thumbnail,
        link_lines,
        enclosures,
    }
}

fn percent_decoded(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| text.to_string())
}
