//! Editing the configuration file in place (`tidings add`, `remove`, `import`): the text
//! is changed with `toml_edit`, so comments, blank lines and the order of keys stay as the
//! person wrote them; the result is validated as a whole before it replaces the file, and
//! it replaces it atomically (a temporary file beside it, then a rename).

use std::collections::HashSet;
use std::path::Path;

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};

use super::ConfigError;

/// A feed to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFeed {
    /// Its name (already valid and unique: see [`FeedNames`]).
    pub name: String,
    /// Its URL.
    pub url: String,
    /// `schedule`, when given.
    pub schedule: Option<String>,
    /// `categories`, when not the default.
    pub categories: Vec<String>,
}

/// Why the file was not changed.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file is not TOML.
    #[error("{path} is not valid TOML")]
    Syntax {
        /// The file.
        path: std::path::PathBuf,
        /// What the TOML reader said.
        #[source]
        source: toml_edit::TomlError,
    },
    /// `feeds` is something else than `[[feeds]]` tables.
    #[error("`feeds` in {0} is not a list of [[feeds]] tables")]
    NotTables(std::path::PathBuf),
    /// A feed with this name exists.
    #[error("a feed named {0:?} is already configured")]
    DuplicateName(String),
    /// A feed with this URL exists.
    #[error("{url} is already configured as feed {name:?}")]
    DuplicateUrl {
        /// The URL.
        url: String,
        /// The feed that has it.
        name: String,
    },
    /// No feed has this name.
    #[error("no feed named {0:?} in the configuration")]
    UnknownName(String),
    /// The edited configuration would not load (the file is left as it was).
    #[error("the edited configuration would be invalid; the file is unchanged")]
    Invalid(#[source] ConfigError),
    /// The file could not be read or replaced.
    #[error("cannot {action} {path}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// The configuration text, parsed for editing.
pub struct ConfigDocument {
    path: std::path::PathBuf,
    document: DocumentMut,
}

impl ConfigDocument {
    /// Reads the file at `path`.
    pub fn read(path: &Path) -> Result<ConfigDocument, EditError> {
        let text = std::fs::read_to_string(path).map_err(|source| EditError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        ConfigDocument::parse(&text, path)
    }

    /// Parses configuration text that came from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<ConfigDocument, EditError> {
        let document = text
            .parse::<DocumentMut>()
            .map_err(|source| EditError::Syntax {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(ConfigDocument {
            path: path.to_path_buf(),
            document,
        })
    }

    /// `(name, url)` of every configured feed.
    pub fn feeds(&self) -> Vec<(String, String)> {
        let Some(tables) = self
            .document
            .get("feeds")
            .and_then(Item::as_array_of_tables)
        else {
            return Vec::new();
        };
        tables
            .iter()
            .map(|t| {
                let text = |key| {
                    t.get(key)
                        .and_then(Item::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                (text("name"), text("url"))
            })
            .collect()
    }

    /// Appends `feed` as a `[[feeds]]` table at the end of the file. A name or URL that is
    /// already configured is refused.
    pub fn add(&mut self, feed: &NewFeed) -> Result<(), EditError> {
        for (name, url) in self.feeds() {
            if name.eq_ignore_ascii_case(&feed.name) {
                return Err(EditError::DuplicateName(feed.name.clone()));
            }
            if same_url(&url, &feed.url) {
                return Err(EditError::DuplicateUrl {
                    url: feed.url.clone(),
                    name,
                });
            }
        }
        let mut table = Table::new();
        table.insert("name", value(feed.name.as_str()));
        table.insert("url", value(feed.url.as_str()));
        if let Some(schedule) = &feed.schedule {
            table.insert("schedule", value(schedule.as_str()));
        }
        if !feed.categories.is_empty() {
            let mut list = Array::new();
            for category in &feed.categories {
                list.push(category.as_str());
            }
            table.insert("categories", value(list));
        }
        let feeds = self
            .document
            .entry("feeds")
            .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()));
        let tables = feeds
            .as_array_of_tables_mut()
            .ok_or_else(|| EditError::NotTables(self.path.clone()))?;
        tables.push(table);
        Ok(())
    }

    /// Removes the feed named `name` (its table and the comments inside it).
    pub fn remove(&mut self, name: &str) -> Result<String, EditError> {
        let tables = self
            .document
            .get_mut("feeds")
            .and_then(Item::as_array_of_tables_mut)
            .ok_or_else(|| EditError::UnknownName(name.to_string()))?;
        let index = tables
            .iter()
            .position(|t| t.get("name").and_then(Item::as_str) == Some(name))
            .ok_or_else(|| EditError::UnknownName(name.to_string()))?;
        let url = tables
            .get(index)
            .and_then(|t| t.get("url"))
            .and_then(Item::as_str)
            .unwrap_or_default()
            .to_string();
        tables.remove(index);
        Ok(url)
    }

    /// The edited text.
    pub fn text(&self) -> String {
        self.document.to_string()
    }

    /// Checks that the edited text loads, then replaces the file with it atomically.
    pub fn save(&self) -> Result<(), EditError> {
        let text = self.text();
        let base = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        super::parse(&text, &self.path, base).map_err(EditError::Invalid)?;
        crate::output::replace_file(&self.path, text.as_bytes()).map_err(|source| EditError::Io {
            action: "write",
            path: self.path.clone(),
            source,
        })
    }
}

/// Two feed URLs are the same when they differ only in a trailing slash or the case of
/// the scheme and host (which `url` normalises).
pub fn same_url(a: &str, b: &str) -> bool {
    let normal = |text: &str| {
        url::Url::parse(text.trim())
            .map(|u| u.to_string())
            .unwrap_or_else(|_| text.trim().to_string())
            .trim_end_matches('/')
            .to_string()
    };
    normal(a) == normal(b)
}

/// The names in use, to derive new ones that are valid and unique.
#[derive(Debug, Default)]
pub struct FeedNames {
    taken: HashSet<String>,
}

impl FeedNames {
    /// The names of `feeds` (`(name, url)` pairs).
    pub fn of(feeds: &[(String, String)]) -> FeedNames {
        FeedNames {
            taken: feeds.iter().map(|(name, _)| name.to_lowercase()).collect(),
        }
    }

    /// Whether `name` (in any case) is in use.
    pub fn contains(&self, name: &str) -> bool {
        self.taken.contains(&name.to_lowercase())
    }

    /// A valid name not in use: `wanted` itself when `verbatim` and it is already a valid
    /// name (an exported list's names come back unchanged), else made from it (lowercase
    /// ASCII letters and digits, hyphens), else from the URL's host; `-2`, `-3`… added
    /// until it is unique. The name is then in use.
    pub fn derive(&mut self, wanted: Option<&str>, url: &str, verbatim: bool) -> String {
        let wanted = wanted.map(str::trim).filter(|w| !w.is_empty());
        let base = wanted
            .filter(|w| verbatim && super::resolve::check_feed_name(w).is_ok())
            .map(str::to_string)
            .or_else(|| wanted.map(ascii_name).filter(|n| !n.is_empty()))
            .or_else(|| {
                url::Url::parse(url)
                    .ok()
                    .and_then(|u| {
                        u.host_str()
                            .map(|h| ascii_name(h.trim_start_matches("www.")))
                    })
                    .filter(|n| !n.is_empty())
            })
            .unwrap_or_else(|| "feed".to_string());
        let mut name = base.clone();
        let mut n = 2;
        while self.contains(&name) {
            let suffix = format!("-{n}");
            let mut stem = base.clone();
            stem.truncate(64 - suffix.len());
            name = format!("{}{suffix}", stem.trim_end_matches('-'));
            n += 1;
        }
        self.taken.insert(name.to_lowercase());
        name
    }
}

/// `text` as a feed name: lowercase ASCII letters and digits, runs of anything else one
/// hyphen, at most 40 characters.
fn ascii_name(text: &str) -> String {
    let mut name = String::new();
    let mut hyphen = false;
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() {
            if hyphen && !name.is_empty() {
                name.push('-');
            }
            hyphen = false;
            name.push(ch.to_ascii_lowercase());
            if name.len() >= 40 {
                break;
            }
        } else if ch != '\'' && ch != '’' {
            hyphen = true;
        }
    }
    name.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_titles_then_hosts_and_are_made_unique() {
        let mut names = FeedNames::of(&[("lwn".into(), "https://lwn.net/rss".into())]);
        assert_eq!(
            names.derive(Some("LWN"), "https://lwn.net/other", false),
            "lwn-2"
        );
        assert_eq!(
            names.derive(
                Some("Ars Technica: All content"),
                "https://arstechnica.com/feed",
                false
            ),
            "ars-technica-all-content"
        );
        assert_eq!(
            names.derive(Some("Новости"), "https://www.example.ru/rss", false),
            "example-ru"
        );
        assert_eq!(
            names.derive(Some("my_feed.v2"), "https://a.example/", true),
            "my_feed.v2"
        );
        assert_eq!(
            names.derive(Some("My Feed"), "https://a.example/", true),
            "my-feed"
        );
        assert_eq!(names.derive(None, "not a url", false), "feed");
    }

    #[test]
    fn adding_keeps_comments_and_refuses_duplicates() {
        let text = "# my feeds\n[output]\ndir = \"out\" # where\n\n[[feeds]]\n# the first\nname = \"a\"\nurl = \"https://a.example/feed\"\n";
        let mut document = ConfigDocument::parse(text, Path::new("t.toml")).expect("toml");
        document
            .add(&NewFeed {
                name: "b".into(),
                url: "https://b.example/feed".into(),
                schedule: Some("@hourly".into()),
                categories: vec![],
            })
            .expect("added");
        let edited = document.text();
        assert!(edited.starts_with(text), "{edited}");
        assert!(edited.ends_with("[[feeds]]\nname = \"b\"\nurl = \"https://b.example/feed\"\nschedule = \"@hourly\"\n"), "{edited}");
        let duplicate = NewFeed {
            name: "c".into(),
            url: "HTTPS://A.example/feed".into(),
            schedule: None,
            categories: vec![],
        };
        assert!(
            matches!(document.add(&duplicate), Err(EditError::DuplicateUrl { name, .. }) if name == "a")
        );
        assert_eq!(
            document.remove("a").expect("removed"),
            "https://a.example/feed"
        );
        assert!(!document.text().contains("the first"));
        assert!(document.text().contains("# my feeds"));
    }
}
