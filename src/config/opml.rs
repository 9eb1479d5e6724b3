//! OPML, the subscription lists feed readers import and export: read into a list of
//! feeds with their folders (`tidings import`), written as OPML 2.0 (`tidings export`).
//!
//! Readers write OPML in many shapes: Feedly and Inoreader nest feeds one folder deep,
//! NetNewsWire and Miniflux as deep as their folders go, newsboat writes a flat list;
//! attribute names vary in case (`xmlUrl`, `xmlurl`), titles sit in `text` or `title` or
//! both, and some lists put folders in a `category` attribute instead. All of them read
//! here; quick-xml is already in the tree through feed-rs.

use quick_xml::events::{BytesStart, Event};

/// One subscription read from an OPML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlFeed {
    /// `title`, else `text`.
    pub title: Option<String>,
    /// `text`, else `title`: what the reader showed.
    pub text: Option<String>,
    /// The feed's URL.
    pub xml_url: String,
    /// The site's URL.
    pub html_url: Option<String>,
    /// The folders it sits in, outermost first, then the names of its `category`
    /// attribute.
    pub folders: Vec<String>,
}

/// Why an OPML file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OpmlError {
    /// Not well-formed XML.
    #[error("not well-formed XML at byte {position}")]
    Xml {
        /// Where the reader stopped.
        position: u64,
        /// What it said.
        #[source]
        source: quick_xml::Error,
    },
    /// No `<opml>` root element.
    #[error("not an OPML file (no <opml> element)")]
    NotOpml,
}

/// Every outline with a feed URL, in document order, with its folders.
pub fn read_opml(bytes: &[u8]) -> Result<Vec<OpmlFeed>, OpmlError> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = quick_xml::Reader::from_str(text);
    let mut feeds = Vec::new();
    // One entry per open <outline>: the folder name it opens, if it is a folder.
    let mut open: Vec<Option<String>> = Vec::new();
    let mut saw_opml = false;
    loop {
        let event = reader.read_event().map_err(|source| OpmlError::Xml {
            position: reader.buffer_position(),
            source,
        })?;
        match event {
            Event::Start(element) | Event::Empty(element)
                if element.local_name().as_ref().eq_ignore_ascii_case("opml") =>
            {
                saw_opml = true;
            }
            Event::Start(element)
                if element
                    .local_name()
                    .as_ref()
                    .eq_ignore_ascii_case("outline") =>
            {
                let outline = Outline::of(&element);
                match outline.feed(&open) {
                    Some(feed) => {
                        feeds.push(feed);
                        open.push(None);
                    }
                    None => open.push(outline.label()),
                }
            }
            Event::Empty(element)
                if element
                    .local_name()
                    .as_ref()
                    .eq_ignore_ascii_case("outline") =>
            {
                if let Some(feed) = Outline::of(&element).feed(&open) {
                    feeds.push(feed);
                }
            }
            Event::End(element)
                if element
                    .local_name()
                    .as_ref()
                    .eq_ignore_ascii_case("outline") =>
            {
                open.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_opml {
        return Err(OpmlError::NotOpml);
    }
    Ok(feeds)
}

/// The attributes of one `<outline>` that matter.
#[derive(Default)]
struct Outline {
    text: Option<String>,
    title: Option<String>,
    kind: Option<String>,
    xml_url: Option<String>,
    url: Option<String>,
    html_url: Option<String>,
    category: Option<String>,
}

impl Outline {
    fn of(element: &BytesStart<'_>) -> Outline {
        let mut outline = Outline::default();
        for attribute in element.attributes().with_checks(false).flatten() {
            let key = attribute.key.local_name().as_ref().to_lowercase();
            // A value with an HTML entity XML does not know (`&nbsp;`) is taken raw and
            // decoded as HTML.
            let value = match attribute.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
                Ok(value) => value.into_owned(),
                Err(_) => html_escape::decode_html_entities(&attribute.value).into_owned(),
            };
            let value = value.trim().to_string();
            if value.is_empty() {
                continue;
            }
            let slot = match key.as_str() {
                "text" => &mut outline.text,
                "title" => &mut outline.title,
                "type" => &mut outline.kind,
                "xmlurl" => &mut outline.xml_url,
                "url" => &mut outline.url,
                "htmlurl" => &mut outline.html_url,
                "category" => &mut outline.category,
                _ => continue,
            };
            *slot = Some(value);
        }
        outline
    }

    /// What a reader shows for it.
    fn label(&self) -> Option<String> {
        self.text.clone().or_else(|| self.title.clone())
    }

    /// The feed it names, if it names one: `xmlUrl`, or `url` on an rss/atom outline.
    fn feed(&self, open: &[Option<String>]) -> Option<OpmlFeed> {
        let is_feed_type = self
            .kind
            .as_deref()
            .is_some_and(|k| matches!(k.to_ascii_lowercase().as_str(), "rss" | "atom" | "feed"));
        let xml_url = self
            .xml_url
            .clone()
            .or_else(|| self.url.clone().filter(|_| is_feed_type))?;
        let mut folders: Vec<String> = open.iter().flatten().cloned().collect();
        // OPML 2.0: comma-separated, slash-delimited category paths ("/Tech/Rust").
        for category in self.category.iter().flat_map(|c| c.split(',')) {
            for part in category.split('/').map(str::trim).filter(|p| !p.is_empty()) {
                if !folders.iter().any(|f| f == part) {
                    folders.push(part.to_string());
                }
            }
        }
        Some(OpmlFeed {
            title: self.title.clone().or_else(|| self.text.clone()),
            text: self.text.clone().or_else(|| self.title.clone()),
            xml_url,
            html_url: self.html_url.clone(),
            folders,
        })
    }
}

/// One feed for `tidings export`.
#[derive(Debug, Clone)]
pub struct ExportFeed<'a> {
    /// The configured name (the outline's `text`, which `import` takes as the name).
    pub name: &'a str,
    /// The feed's own title when known, else the name.
    pub title: &'a str,
    /// The feed's URL.
    pub xml_url: &'a str,
    /// Its site, when known.
    pub html_url: Option<&'a str>,
    /// Its categories, when not the default (its name alone).
    pub categories: &'a [String],
}

/// An OPML 2.0 document of `feeds`, one outline each, categories in the `category`
/// attribute.
pub fn write_opml(feeds: &[ExportFeed<'_>], created: &str) -> String {
    use quick_xml::escape::escape;
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n  <head>\n    <title>tidings subscriptions</title>\n",
    );
    out.push_str(&format!(
        "    <dateCreated>{}</dateCreated>\n  </head>\n  <body>\n",
        escape(created)
    ));
    for feed in feeds {
        out.push_str(&format!(
            "    <outline type=\"rss\" text=\"{}\" title=\"{}\" xmlUrl=\"{}\"",
            escape(feed.name),
            escape(feed.title),
            escape(feed.xml_url)
        ));
        if let Some(html) = feed.html_url {
            out.push_str(&format!(" htmlUrl=\"{}\"", escape(html)));
        }
        if !feed.categories.is_empty() {
            let joined = feed
                .categories
                .iter()
                .map(|c| c.replace([',', '/'], " "))
                .collect::<Vec<_>>()
                .join(",");
            out.push_str(&format!(" category=\"{}\"", escape(joined.as_str())));
        }
        out.push_str("/>\n");
    }
    out.push_str("  </body>\n</opml>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_nest_and_attribute_names_vary() {
        let opml = br#"<?xml version="1.0"?><opml version="1.0"><body>
<outline text="Tech"><outline text="Rust" title="Rust"><outline type="rss" text="This Week" xmlurl="https://this-week.example/rss"/></outline></outline>
<outline text="Loose" xmlUrl="https://loose.example/feed" htmlUrl="https://loose.example/" category="/News/World,Extra"/>
<outline type="link" text="Not a feed" url="https://page.example/"/>
</body></opml>"#;
        let feeds = read_opml(opml).expect("opml");
        assert_eq!(feeds.len(), 2);
        assert_eq!(feeds[0].folders, vec!["Tech", "Rust"]);
        assert_eq!(feeds[0].xml_url, "https://this-week.example/rss");
        assert_eq!(feeds[1].folders, vec!["News", "World", "Extra"]);
        assert_eq!(feeds[1].html_url.as_deref(), Some("https://loose.example/"));
    }

    #[test]
    fn broken_and_foreign_files_are_errors() {
        assert!(matches!(
            read_opml(b"<opml><body><outline></body>"),
            Err(OpmlError::Xml { .. })
        ));
        assert!(matches!(
            read_opml(b"<rss><channel/></rss>"),
            Err(OpmlError::NotOpml)
        ));
    }

    #[test]
    fn export_escapes_and_reads_back() {
        let categories = vec!["Tech & Science".to_string()];
        let feeds = [ExportFeed {
            name: "a",
            title: "Q&A \"weekly\" <b>",
            xml_url: "https://a.example/feed?x=1&y=2",
            html_url: Some("https://a.example/"),
            categories: &categories,
        }];
        let text = write_opml(&feeds, "Sat, 28 Nov 2026 00:00:00 GMT");
        let back = read_opml(text.as_bytes()).expect("reads back");
        assert_eq!(back[0].xml_url, "https://a.example/feed?x=1&y=2");
        assert_eq!(back[0].title.as_deref(), Some("Q&A \"weekly\" <b>"));
        assert_eq!(back[0].text.as_deref(), Some("a"));
        assert_eq!(back[0].folders, vec!["Tech & Science"]);
    }
}
