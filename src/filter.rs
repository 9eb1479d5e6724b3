//! Which entries are written: block and keep rules on an article's fields, and an age
//! limit. Pure: the rules are compiled once with the configuration and asked per article.
//!
//! Semantics (README, "Filters"): block rules first, any match blocks; then, when keep
//! rules exist, only an article matching one is written; then the age limit. A feed's
//! rules add to the global ones. Rules are `regex` expressions, which run in linear time,
//! so no rule can hang a pass.

use std::fmt;

use chrono::{DateTime, Utc};
use regex::Regex;

use crate::article::Article;

/// The field a rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The plain-text title.
    Title,
    /// The plain-text summary.
    Summary,
    /// The markdown body.
    Content,
    /// The entry's author.
    Author,
    /// The entry's link.
    Link,
    /// Each of the entry's own categories, one at a time.
    Category,
}

impl Field {
    const ALL: [(&'static str, Field); 6] = [
        ("title", Field::Title),
        ("summary", Field::Summary),
        ("content", Field::Content),
        ("author", Field::Author),
        ("link", Field::Link),
        ("category", Field::Category),
    ];

    fn name(self) -> &'static str {
        Field::ALL
            .iter()
            .find(|(_, field)| *field == self)
            .map_or("?", |(name, _)| name)
    }
}

/// One `field:regex` rule.
#[derive(Debug, Clone)]
pub struct Rule {
    field: Field,
    pattern: Regex,
}

/// Why a rule does not compile.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    /// No `field:` prefix, or one tidings does not know.
    #[error(
        "a rule is `field:regex` with field one of title, summary, content, author, link, category (got {0:?})"
    )]
    Field(String),
    /// The expression is not a valid regular expression.
    #[error("invalid regular expression at column {column}: {message}")]
    Pattern {
        /// 1-based column in the expression (after `field:`).
        column: usize,
        /// What the regex parser said.
        message: String,
    },
}

impl Rule {
    /// Compiles `field:regex`.
    pub fn parse(text: &str) -> Result<Rule, RuleError> {
        let (name, expression) = text
            .split_once(':')
            .ok_or_else(|| RuleError::Field(text.to_string()))?;
        let field = Field::ALL
            .iter()
            .find(|(known, _)| *known == name.trim())
            .map(|(_, field)| *field)
            .ok_or_else(|| RuleError::Field(name.to_string()))?;
        let pattern = Regex::new(expression).map_err(|error| pattern_error(expression, &error))?;
        Ok(Rule { field, pattern })
    }

    fn matches(&self, article: &Article) -> bool {
        let one = |text: &str| self.pattern.is_match(text);
        match self.field {
            Field::Title => one(&article.title),
            Field::Summary => one(&article.summary),
            Field::Content => one(&article.body),
            Field::Author => article.author.as_deref().is_some_and(one),
            Field::Link => article.link.as_deref().is_some_and(one),
            Field::Category => article.entry_categories.iter().any(|c| one(c)),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.field.name(), self.pattern.as_str())
    }
}

/// The column of a syntax error, from the regex parser's own span; the whole message of
/// the `regex` crate otherwise (a pattern too big).
fn pattern_error(expression: &str, error: &regex::Error) -> RuleError {
    let span = match regex_syntax::parse(expression) {
        Err(regex_syntax::Error::Parse(e)) => Some((*e.span(), e.kind().to_string())),
        Err(regex_syntax::Error::Translate(e)) => Some((*e.span(), e.kind().to_string())),
        _ => None,
    };
    match span {
        Some((span, message)) => RuleError::Pattern {
            column: span.start.column,
            message,
        },
        None => RuleError::Pattern {
            column: 1,
            message: error.to_string(),
        },
    }
}

/// A feed's rules: the global ones and its own.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Any match blocks.
    pub block: Vec<Rule>,
    /// When not empty, only a match is written.
    pub keep: Vec<Rule>,
    /// Articles dated earlier than this many days before the pass are not written.
    pub max_age_days: Option<u32>,
}

/// Why an article is not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Written.
    Write,
    /// Held back, with the reason (`block title:…`, `no keep rule`, `older than 30 days`).
    Filtered(String),
}

impl Filters {
    /// Whether any rule or limit is set.
    pub fn is_empty(&self) -> bool {
        self.block.is_empty() && self.keep.is_empty() && self.max_age_days.is_none()
    }

    /// What the rules say about `article` at `now`.
    pub fn judge(&self, article: &Article, now: DateTime<Utc>) -> Verdict {
        if let Some(rule) = self.block.iter().find(|rule| rule.matches(article)) {
            return Verdict::Filtered(format!("block {rule}"));
        }
        if !self.keep.is_empty() && !self.keep.iter().any(|rule| rule.matches(article)) {
            return Verdict::Filtered("matches no keep rule".to_string());
        }
        if let (Some(days), Some(published)) = (self.max_age_days, article.published)
            && published < now - chrono::Duration::days(i64::from(days))
        {
            return Verdict::Filtered(format!("older than {days} days"));
        }
        Verdict::Write
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_errors_name_the_field_or_the_column() {
        assert!(matches!(
            Rule::parse("titel:x"),
            Err(RuleError::Field(f)) if f == "titel"
        ));
        assert!(matches!(Rule::parse("no colon"), Err(RuleError::Field(_))));
        match Rule::parse("title:ab(c") {
            Err(RuleError::Pattern { column, .. }) => assert_eq!(column, 3),
            other => panic!("{other:?}"),
        }
    }
}
