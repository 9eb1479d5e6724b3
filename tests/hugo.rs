//! A real downstream client: tidings writes articles into a minimal Hugo site, Hugo builds
//! it, and every article must become a page with the same title, date, categories and tags,
//! with no warning from Hugo and no raw HTML or relative link in the rendered content.
//!
//! Needs `hugo` on the PATH (`apt-get install hugo`; `.ci/run` installs it).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{Sandbox, copy_dir, fixture, stderr, stdout};
use serde::Deserialize;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Debug, Deserialize)]
struct FrontMatter {
    title: String,
    date: String,
    categories: Vec<String>,
    tags: Vec<String>,
}

fn front_matter(text: &str) -> FrontMatter {
    let rest = text.strip_prefix("---\n").expect("front matter");
    let end = rest.find("\n---\n").expect("closing ---");
    serde_saphyr::from_str(&rest[..end + 1]).unwrap_or_else(|e| panic!("strict YAML: {e}\n{text}"))
}

/// The `data-*` attributes of the page's `<article>`, entity-decoded, and its content.
fn page_facts(html: &str) -> (BTreeMap<String, String>, String) {
    let start = html.find("<article ").expect("an article element");
    let tag_end = start + html[start..].find('>').expect("tag end");
    let mut attributes = BTreeMap::new();
    let mut rest = &html[start + 9..tag_end];
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].trim().to_string();
        let value_start = eq + 2;
        let value_end = value_start + rest[value_start..].find('"').expect("closing quote");
        attributes.insert(
            name,
            html_escape::decode_html_entities(&rest[value_start..value_end]).into_owned(),
        );
        rest = &rest[value_end + 1..];
    }
    let content_end = html.rfind("</article>").expect("article end");
    (attributes, html[tag_end + 1..content_end].to_string())
}

/// Titles and content that trip Hugo or YAML when written carelessly.
fn traps_feed() -> String {
    let items = [
        (
            "trap-1",
            "yes",
            "Tue, 09 Jul 2024 18:30:00 +0000",
            "<p>A title that YAML 1.1 reads as a boolean.</p>",
        ),
        (
            "trap-2",
            "Colon: \"quoted\" #hash &amp; 'single'",
            "Tue, 09 Jul 2024 18:31:00 +0000",
            "<p>{{&lt; shortcode &gt;}} and {{% other %}} must not run.</p>",
        ),
        (
            "trap-3",
            "2024-07-09",
            "Tue, 09 Jul 2024 18:32 +0000",
            "<p>A date without seconds, and a title that looks like a date.</p>",
        ),
        (
            "trap-4",
            "From the future",
            "Fri, 01 Jan 2100 00:00:00 +0000",
            "<p>Dated far in the future.</p>",
        ),
        (
            "trap-5",
            "- leading dash",
            "Tue, 09 Jul 2024 18:33:00 +0000",
            "<p><script>alert(1)</script><iframe src=\"https://player.example.com/v/1\"></iframe>Raw <span style=\"color:red\">html</span> and <a href=\"/relative\">a relative link</a>.</p>",
        ),
    ];
    let body: String = items
        .iter()
        .map(|(guid, title, date, html)| {
            format!(
                "<item><title>{title}</title><guid>{guid}</guid><link>https://traps.example.org/{guid}</link><pubDate>{date}</pubDate><category>Hugo</category><category>hugo</category><category>Edge Cases</category><description><![CDATA[{html}]]></description></item>"
            )
        })
        .collect();
    format!(
        "<rss version=\"2.0\"><channel><title>Traps</title><link>https://traps.example.org/</link>{body}</channel></rss>"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_article_becomes_a_hugo_page_with_the_same_fields() {
    let hugo_available = Command::new("hugo")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(hugo_available, "this test needs Hugo: apt-get install hugo");

    let server = MockServer::start().await;
    let feeds: [(&str, Vec<u8>, &str); 5] = [
        ("notes", fixture("rss2.xml"), "application/rss+xml"),
        ("werkstatt", fixture("atom.xml"), "application/atom+xml"),
        ("radio", fixture("feed.json"), "application/feed+json"),
        ("journal", fixture("rss1.rdf"), "application/rdf+xml"),
        ("traps", traps_feed().into_bytes(), "application/rss+xml"),
    ];
    let mut config = String::from(
        "[output]\ndir = \"site/content/posts\"\nentry_tags = true\nthumbnail = \"auto\"\n",
    );
    for (name, body, content_type) in feeds {
        Mock::given(method("GET"))
            .and(path(format!("/{name}")))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, content_type))
            .mount(&server)
            .await;
        config.push_str(&format!(
            "[[feeds]]\nname = \"{name}\"\nurl = \"{}/{name}\"\n",
            server.uri()
        ));
    }
    let sandbox = Sandbox::with_config_text(&config);
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hugo-site"),
        &sandbox.dir.path().join("site"),
    );
    let fetched = sandbox.run_async(&["fetch"]).await;
    assert_eq!(
        fetched.status.code(),
        Some(0),
        "{}{}",
        stdout(&fetched),
        stderr(&fetched)
    );

    let site = sandbox.dir.path().join("site");
    let build = Command::new("hugo")
        .arg("--source")
        .arg(&site)
        .arg("--destination")
        .arg(site.join("public"))
        .env("HUGO_ENVIRONMENT", "production")
        .output()
        .expect("run hugo");
    let log = format!("{}{}", stdout(&build), stderr(&build));
    assert!(build.status.success(), "{log}");
    assert!(
        !log.contains("WARN") && !log.contains("ERROR"),
        "Hugo complained:\n{log}"
    );

    // Every page Hugo rendered, by the article file it came from.
    let mut pages = BTreeMap::new();
    let mut stack = vec![site.join("public/posts")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("public dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "index.html") {
                let html = std::fs::read_to_string(&path).expect("page");
                if html.contains("<article ") {
                    let (attributes, content) = page_facts(&html);
                    pages.insert(attributes["data-source"].clone(), (attributes, content));
                }
            }
        }
    }

    let articles = {
        let mut found = BTreeMap::new();
        let mut stack = vec![site.join("content/posts")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("content dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "md") {
                    let relative = path
                        .strip_prefix(site.join("content"))
                        .expect("under content");
                    found.insert(
                        relative.to_string_lossy().into_owned(),
                        std::fs::read_to_string(&path).expect("article"),
                    );
                }
            }
        }
        found
    };
    assert_eq!(articles.len(), 12, "{:?}", articles.keys());
    for (source, text) in &articles {
        let expected = front_matter(text);
        let (page, content) = pages
            .get(source)
            .unwrap_or_else(|| panic!("{source} became no page (future date? draft?)"));
        assert_eq!(page["data-title"], expected.title, "{source}");
        assert_eq!(
            page["data-date"], expected.date,
            "{source}: date to the second"
        );
        assert_eq!(
            page["data-categories"],
            expected.categories.join("|"),
            "{source}"
        );
        assert_eq!(page["data-tags"], expected.tags.join("|"), "{source}");
        assert_eq!(page["data-draft"], "false");
        assert!(
            !content.contains("raw HTML omitted"),
            "{source} has raw HTML:\n{content}"
        );
        assert!(
            !content.contains("<script") && !content.contains("<iframe"),
            "{source}: {content}"
        );
        for attribute in ["href=\"", "src=\""] {
            for value in content.split(attribute).skip(1) {
                let url = &value[..value.find('"').unwrap_or(value.len())];
                assert!(
                    url.starts_with("https://") || url.starts_with("http://"),
                    "{source}: relative or odd URL {url:?}"
                );
            }
        }
    }
    // The traps: a shortcode shown, not run; tags merged once whatever their case.
    let shortcode = articles
        .keys()
        .find(|k| k.contains("colon"))
        .expect("the colon article");
    let (_, content) = &pages[shortcode];
    assert!(
        content.contains("{{&lt; shortcode &gt;}}"),
        "shown, not run: {content}"
    );
    assert!(
        content.contains("{{% other %}}"),
        "shown, not run: {content}"
    );
    let yes = articles
        .values()
        .map(|t| front_matter(t))
        .find(|f| f.title == "yes")
        .expect("the yes article");
    assert_eq!(yes.tags, ["traps", "Hugo", "Edge Cases"]);
}
