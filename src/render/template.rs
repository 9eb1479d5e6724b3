//! Article templates (minijinja): the built-in layout is `config/article.md.j2`, compiled
//! into the binary; `output.template` or a feed's `template` replaces it.
//!
//! minijinja was chosen over tera and handlebars: Jinja syntax (what Obsidian and Hugo
//! users already know from Ansible and Jinja-based tools), no dependencies of its own with
//! default features off, sandboxed (no file or network access from a template), and
//! templates compile once and render without allocation-heavy reflection.
//!
//! Templates are checked when the configuration loads: they must compile, and a sample
//! article with hostile values (quotes, colons, line breaks, `---`, `yes`) must render to
//! front matter a strict YAML 1.2 reader accepts, with the title read back intact.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset};
use minijinja::value::{Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};

use super::yaml_double_quoted;
use crate::article::markdown::markdown_link_destination;

/// The built-in layout's source.
pub const BUILTIN_SOURCE: &str = include_str!("../../config/article.md.j2");

/// The name a template is registered under.
const NAME: &str = "article";

/// A compiled article template.
pub struct ArticleTemplate {
    environment: Environment<'static>,
    /// The file it came from; `None` for the built-in one.
    pub source: Option<PathBuf>,
}

impl std::fmt::Debug for ArticleTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some(path) => write!(f, "ArticleTemplate({})", path.display()),
            None => f.write_str("ArticleTemplate(built-in)"),
        }
    }
}

/// Why a template cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The file could not be read.
    #[error("cannot read the template {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// It does not compile, or rendering failed.
    #[error("template {name}: {detail}")]
    Template {
        /// The file, or `built-in`.
        name: String,
        /// minijinja's message with the line.
        detail: String,
    },
    /// Its front matter is not YAML for some article.
    #[error(
        "template {name}: the front matter it writes is not valid YAML for an article titled {title:?} ({detail}); write strings with the `yaml` filter, e.g. `title: {{{{ title | yaml }}}}`"
    )]
    NotYaml {
        /// The file.
        name: String,
        /// The sample title.
        title: String,
        /// The YAML reader's message.
        detail: String,
    },
}

static BUILTIN: LazyLock<ArticleTemplate> = LazyLock::new(|| {
    ArticleTemplate::compile(BUILTIN_SOURCE.to_string(), None)
        .unwrap_or_else(|error| panic!("the built-in template compiles: {error}"))
});

impl ArticleTemplate {
    /// The built-in layout.
    pub fn builtin() -> &'static ArticleTemplate {
        &BUILTIN
    }

    /// Whether this is the built-in layout (rendered without the template engine, see
    /// `layout`).
    pub fn is_builtin(&self) -> bool {
        self.source.is_none()
    }

    /// Reads, compiles and checks the template at `path`.
    pub fn load(path: &Path) -> Result<ArticleTemplate, TemplateError> {
        let source = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let template = ArticleTemplate::compile(source, Some(path.to_path_buf()))?;
        template.check_yaml()?;
        Ok(template)
    }

    fn compile(source: String, path: Option<PathBuf>) -> Result<ArticleTemplate, TemplateError> {
        let mut environment = Environment::new();
        environment.set_auto_escape_callback(|_| AutoEscape::None);
        // Block tags on their own line leave no line behind (Jinja's trim_blocks and
        // lstrip_blocks), and the file's last line end is kept.
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(|error| TemplateError::Template {
                name: "built-in syntax".to_string(),
                detail: describe(&error),
            })?;
        environment.set_syntax(syntax);
        environment.set_undefined_behavior(UndefinedBehavior::Lenient);
        environment.add_filter("yaml", yaml_filter);
        environment.add_filter("date", date_filter);
        environment.add_filter("link_destination", |link: &Value| {
            link.as_str()
                .map(markdown_link_destination)
                .unwrap_or_default()
        });
        let name = path
            .as_ref()
            .map_or_else(|| "built-in".to_string(), |p| p.display().to_string());
        environment
            .add_template_owned(NAME, source)
            .map_err(|error| TemplateError::Template {
                name: name.clone(),
                detail: describe(&error),
            })?;
        Ok(ArticleTemplate {
            environment,
            source: path,
        })
    }

    fn name(&self) -> String {
        self.source
            .as_ref()
            .map_or_else(|| "built-in".to_string(), |p| p.display().to_string())
    }

    /// The file text for `context`: the template's output with trailing blank lines
    /// reduced to one line end.
    pub fn render(&self, context: &impl serde::Serialize) -> Result<String, TemplateError> {
        let template =
            self.environment
                .get_template(NAME)
                .map_err(|error| TemplateError::Template {
                    name: self.name(),
                    detail: describe(&error),
                })?;
        let mut text = template
            .render(minijinja::value::Serde(context))
            .map_err(|error| TemplateError::Template {
                name: self.name(),
                detail: describe(&error),
            })?;
        while text.ends_with("\n\n") {
            text.pop();
        }
        Ok(text)
    }

    /// Renders hostile samples and reads their front matter back with a YAML 1.2 reader.
    fn check_yaml(&self) -> Result<(), TemplateError> {
        for title in super::sample::HOSTILE_TITLES {
            let text = self.render(&super::sample::context(title))?;
            let Some(front_matter) = front_matter_of(&text) else {
                // A template without front matter writes plain markdown: nothing to check.
                return Ok(());
            };
            let parsed: Result<serde_json::Value, _> = serde_saphyr::from_str(front_matter);
            let not_yaml = |detail: String| TemplateError::NotYaml {
                name: self.name(),
                title: title.to_string(),
                detail,
            };
            let parsed = parsed.map_err(|e| not_yaml(e.to_string()))?;
            if let Some(read) = parsed.get("title")
                && read.as_str() != Some(&title.replace('\n', " "))
            {
                return Err(not_yaml(format!("`title` reads back as {read}")));
            }
        }
        Ok(())
    }
}

/// The text between the opening `---` line and the next `---` line.
fn front_matter_of(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("---\n")?;
    let end = rest
        .find("\n---\n")
        .or_else(|| rest.ends_with("\n---").then(|| rest.len() - 4))?;
    Some(&rest[..end + 1])
}

/// minijinja's message with the line it names.
fn describe(error: &Error) -> String {
    let what = match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    };
    match error.line() {
        Some(line) => format!("line {line}: {what}"),
        None => what,
    }
}

/// `| yaml`: any value as valid YAML on one line: strings double-quoted (the escaping of
/// the built-in layout), booleans and numbers as they are, none as `null`, lists and maps
/// in flow style.
fn yaml_filter(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => "null".to_string(),
        // minijinja prints booleans the Python way (`True`); YAML 1.2 knows `true`.
        ValueKind::Bool if value.is_true() => "true".to_string(),
        ValueKind::Bool => "false".to_string(),
        ValueKind::Number => value.to_string(),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<String> = value
                .try_iter()
                .map(|items| items.map(|item| yaml_filter(&item)).collect())
                .unwrap_or_default();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map => {
            let entries: Vec<String> = value
                .try_iter()
                .map(|keys| {
                    keys.map(|key| {
                        let item = value.get_item(&key).unwrap_or_default();
                        format!(
                            "{}: {}",
                            yaml_double_quoted(&key.to_string()),
                            yaml_filter(&item)
                        )
                    })
                    .collect()
                })
                .unwrap_or_default();
            format!("{{{}}}", entries.join(", "))
        }
        _ => match value.as_str() {
            Some(text) => yaml_double_quoted(text),
            None => yaml_double_quoted(&value.to_string()),
        },
    }
}

/// `| date(format)`: an RFC 3339 time (as the context gives them, in the configured zone)
/// in a strftime format; `%Y-%m-%d %H:%M:%S` by default. A format chrono cannot read is an
/// error, never a panic.
fn date_filter(value: &Value, format: Option<String>) -> Result<String, Error> {
    let Some(text) = value.as_str() else {
        return Ok(String::new());
    };
    let time = DateTime::<FixedOffset>::parse_from_rfc3339(text).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("`date` expects a time such as 2024-07-09T18:30:00+00:00, got {text:?}: {e}"),
        )
    })?;
    let format = format.as_deref().unwrap_or("%Y-%m-%d %H:%M:%S");
    let items = chrono::format::StrftimeItems::new(format)
        .parse()
        .map_err(|_| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("`date`: {format:?} is not a strftime format chrono can write"),
            )
        })?;
    Ok(time.format_with_items(items.iter()).to_string())
}
