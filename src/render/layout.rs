//! The built-in layout (`config/article.md.j2`) written directly, without the template
//! engine: the same bytes, about ten times faster. Rendering through minijinja (the
//! context's strings cloned into its values, six macro calls, a filter call per line) was
//! a tenth of a cold pass's CPU.
//!
//! Only the built-in layout takes this path; a configured template, even a copy of the
//! shipped file, is rendered by minijinja. That the two agree byte for byte is checked by
//! the tests below over varied settings, by the corpus test over every real entry, and by
//! the templates test (shipped file against built-in layout, hostile titles).

use chrono::{DateTime, Utc};

use super::{RenderSettings, push_yaml_double_quoted, tags, thumbnail};
use crate::article::Article;
use crate::article::markdown::markdown_link_destination;

/// The file text of `article`, dated `date`, in the built-in layout: what
/// `ArticleTemplate::builtin()` renders for `article_context(article, date, settings)`.
pub(super) fn builtin_layout(
    article: &Article,
    date: DateTime<Utc>,
    settings: &RenderSettings<'_>,
) -> String {
    let fm = settings.front_matter;
    let body = article.body.trim();
    let mut out = String::with_capacity(body.len() + article.summary.len() + 512);
    out.push_str("---\ntitle: ");
    push_yaml_double_quoted(&mut out, &article.title);
    out.push_str("\ndate: ");
    let date = date
        .with_timezone(&settings.timezone)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    push_yaml_double_quoted(&mut out, &date);
    out.push_str("\nsummary: ");
    push_yaml_double_quoted(&mut out, &article.summary);
    out.push('\n');
    push_list(&mut out, "categories", &article.categories);
    let lang = std::slice::from_ref(&article.lang);
    push_list(&mut out, "lang", lang);
    push_list(&mut out, "translations", lang);
    push_list(&mut out, "tags", &tags(article, settings.entry_tags));
    push_string_line(&mut out, "menu", &fm.menu);
    push_string_line(&mut out, "thumbnail", thumbnail(article, settings));
    push_string_line(&mut out, "lead", &fm.lead);
    push_bool_line(&mut out, "comments", fm.comments);
    push_bool_line(&mut out, "authorbox", fm.authorbox);
    push_bool_line(&mut out, "pager", fm.pager);
    push_bool_line(&mut out, "toc", fm.toc);
    push_bool_line(&mut out, "mathjax", fm.mathjax);
    push_string_line(&mut out, "sidebar", &fm.sidebar);
    push_list(&mut out, "widgets", &fm.widgets);
    out.push_str("---\n\n");
    if !body.is_empty() {
        out.push_str(body);
        out.push_str("\n\n");
    }
    // Jinja's `{% if link %}`: an empty link is false.
    if let Some(link) = article.link.as_deref().filter(|link| !link.is_empty()) {
        out.push('[');
        out.push_str(settings.feed_name);
        out.push_str("](");
        out.push_str(&markdown_link_destination(link));
        out.push_str(")\n");
    }
    // The template's trailing blank lines reduced to one line end, as `render` does.
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// The layout's `list` macro: `name:` and one `  - "item"` line each, or `name: []`.
fn push_list(out: &mut String, name: &str, items: &[String]) {
    out.push_str(name);
    if items.is_empty() {
        out.push_str(": []\n");
        return;
    }
    out.push_str(":\n");
    for item in items {
        out.push_str("  - ");
        push_yaml_double_quoted(out, item);
        out.push('\n');
    }
}

fn push_string_line(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    push_yaml_double_quoted(out, value);
    out.push('\n');
}

fn push_bool_line(out: &mut String, name: &str, value: bool) {
    out.push_str(name);
    out.push_str(if value { ": true\n" } else { ": false\n" });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FrontMatter;
    use crate::render::{ArticleTemplate, article_context, sample};

    /// What the template engine writes for the same article.
    fn through_the_template(
        article: &Article,
        date: DateTime<Utc>,
        settings: &RenderSettings<'_>,
    ) -> String {
        ArticleTemplate::builtin()
            .render(&article_context(article, date, settings))
            .expect("the built-in template renders")
    }

    #[test]
    fn the_built_in_layout_writes_what_the_template_writes() {
        let date = DateTime::<Utc>::from_timestamp(1_720_549_800, 0).expect("time");
        let plain = FrontMatter::default();
        let every_key = FrontMatter {
            menu: "main: \"menu\"".to_string(),
            thumbnail: "https://example.org/default.png".to_string(),
            lead: "yes".to_string(),
            comments: true,
            authorbox: false,
            pager: true,
            toc: false,
            mathjax: true,
            sidebar: "right\nside".to_string(),
            widgets: vec!["recent".to_string(), "tags: \"all\"".to_string()],
        };
        let zones = [chrono_tz::Tz::UTC, chrono_tz::Tz::Asia__Kolkata];
        let mut compared = 0;
        for title in sample::HOSTILE_TITLES {
            let article = sample::article(title);
            let variants = [
                article.clone(),
                Article {
                    body: "  \n".to_string(),
                    link: None,
                    ..article.clone()
                },
                Article {
                    body: String::new(),
                    link: Some(String::new()),
                    categories: Vec::new(),
                    tags: Vec::new(),
                    entry_categories: Vec::new(),
                    thumbnail: None,
                    lang: String::new(),
                    ..article.clone()
                },
                Article {
                    link: Some("https://example.org/a path/(x)".to_string()),
                    tags: vec!["News".to_string(), "news".to_string()],
                    entry_categories: vec!["NEWS".to_string(), "other".to_string()],
                    body: "\n\nbody with trailing lines\n\n\n".to_string(),
                    ..article
                },
            ];
            for variant in &variants {
                for front_matter in [&plain, &every_key] {
                    for timezone in zones {
                        for (entry_tags, auto_thumbnail) in [(false, false), (true, true)] {
                            let settings = RenderSettings {
                                timezone,
                                front_matter,
                                entry_tags,
                                auto_thumbnail,
                                ..sample::settings(title)
                            };
                            assert_eq!(
                                builtin_layout(variant, date, &settings),
                                through_the_template(variant, date, &settings),
                                "title {title:?}"
                            );
                            compared += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(compared, sample::HOSTILE_TITLES.len() * 4 * 2 * 2 * 2);
    }
}
