//! Templates: a notes-vault layout read back by a strict YAML 1.2 parser for hostile
//! titles, every variable, broken templates refused at load, the shipped default equal
//! to the built-in layout, and `render` after a template change.

mod common;

use common::{Sandbox, serve_body, stderr, stdout};
use wiremock::MockServer;

const HOSTILE: &[&str] = &[
    "Breaking: \"quotes\", colons: and # hashes",
    "yes",
    "---",
    "null",
    "[1, 2] {a: b} @at *star & more",
    "Line one&#10;line two",
];

/// What each hostile title reads as once tidings has cleaned it (entities decoded, white
/// space collapsed).
fn cleaned(title: &str) -> String {
    title.replace("&#10;", " ")
}

fn hostile_feed() -> Vec<u8> {
    let mut xml = String::from(
        r#"<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Vault "Feed": one</title><link>https://vault.example/</link>"#,
    );
    for (n, title) in HOSTILE.iter().enumerate() {
        xml.push_str(&format!(
            "<item><guid>g{n}</guid><title>{}</title><dc:creator>Ann: \"A\" O'Neil</dc:creator><category>yes</category><category>Rust: lang</category><link>https://vault.example/{n}</link><pubDate>Tue, 09 Jul 2024 18:30:00 +0000</pubDate><description>Summary {n}</description><content:encoded><![CDATA[<p>One two three four five.</p><p><img src=\"/img/{n}.png\" alt=\"pic\"></p>]]></content:encoded><enclosure url=\"https://vault.example/{n}.mp3\" type=\"audio/mpeg\" length=\"2048\"/></item>",
            title.replace('&', "&amp;").replace("&amp;#10;", "&#10;").replace('<', "&lt;")
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

/// An Obsidian note: its front matter in the vault's usual keys.
const VAULT_TEMPLATE: &str = r#"---
title: {{ title | yaml }}
source: {{ link | yaml }}
author: {{ author | yaml }}
created: {{ date | date("%Y-%m-%d %H:%M") | yaml }}
published: {{ date | date("%Y-%m-%d") | yaml }}
feed: {{ feed_title | yaml }}
feed_url: {{ feed_url | yaml }}
id: {{ id | yaml }}
words: {{ word_count }}
minutes: {{ reading_minutes }}
images: {{ images | yaml }}
audio: {{ enclosures | map(attribute="url") | list | yaml }}
first_seen: {{ first_seen | yaml }}
tags:
{% for tag in entry_categories %}
  - {{ tag | yaml }}
{% endfor %}
---

# {{ title }}

{{ body }}
"#;

#[derive(serde::Deserialize, Debug)]
struct Note {
    title: String,
    source: String,
    author: String,
    created: String,
    published: String,
    feed: String,
    feed_url: String,
    id: String,
    words: u64,
    minutes: u64,
    images: Vec<String>,
    audio: Vec<String>,
    first_seen: String,
    tags: Vec<String>,
}

fn front_matter(text: &str) -> &str {
    let rest = text.strip_prefix("---\n").expect("front matter");
    &rest[..rest.find("\n---\n").expect("closing line") + 1]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notes_vault_template_reads_back_for_hostile_titles() {
    let server = MockServer::start().await;
    serve_body(&server, "/feed.xml", hostile_feed(), "application/rss+xml").await;
    let sandbox = Sandbox::with_config_text(&format!(
        "[output]\ntemplate = \"vault.md.j2\"\ntimezone = \"Europe/Berlin\"\npath = \"{{feed}}/{{slug}}.md\"\n[[feeds]]\nname = \"vault\"\nurl = \"{}/feed.xml\"\n",
        server.uri()
    ));
    std::fs::write(sandbox.dir.path().join("vault.md.j2"), VAULT_TEMPLATE).expect("template");
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let notes = sandbox.articles();
    assert_eq!(notes.len(), HOSTILE.len(), "{notes:?}");
    let mut titles: Vec<String> = Vec::new();
    for text in notes.values() {
        let note: Note = serde_saphyr::from_str(front_matter(text))
            .unwrap_or_else(|e| panic!("strict YAML 1.2 reads it: {e}\n{text}"));
        assert!(
            note.source.starts_with("https://vault.example/"),
            "{note:?}"
        );
        assert_eq!(note.author, "Ann: \"A\" O'Neil");
        // 18:30 UTC is 20:30 in Berlin in July.
        assert_eq!(note.created, "2024-07-09 20:30");
        assert_eq!(note.published, "2024-07-09");
        // The feed's own title, learnt from the document before its articles are written.
        assert_eq!(note.feed, "Vault \"Feed\": one");
        assert_eq!(note.feed_url, format!("{}/feed.xml", server.uri()));
        assert_eq!(note.id.len(), 12);
        // "One two three four five." and the audio line's "Audio: [n.mp3, 0.0 MB]"; the
        // image is not words.
        assert_eq!((note.words, note.minutes), (9, 1), "{text}");
        assert_eq!(note.images.len(), 1);
        assert!(
            note.images[0].starts_with("https://vault.example/img/"),
            "{note:?}"
        );
        assert_eq!(note.audio.len(), 1);
        assert!(note.first_seen.contains('T'), "{note:?}");
        assert_eq!(note.tags, vec!["yes", "Rust: lang"]);
        assert!(text.contains(&format!("\n# {}\n", note.title)), "{text}");
        titles.push(note.title);
    }
    titles.sort();
    let mut expected: Vec<String> = HOSTILE.iter().map(|t| cleaned(t)).collect();
    expected.sort();
    assert_eq!(titles, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_default_template_writes_what_the_built_in_layout_writes() {
    let server = MockServer::start().await;
    serve_body(&server, "/feed.xml", hostile_feed(), "application/rss+xml").await;
    let url = format!("{}/feed.xml", server.uri());
    let built_in = Sandbox::new(&[("vault", url.clone())], "");
    let shipped = Sandbox::new(
        &[("vault", url)],
        &format!(
            "[output]\ntemplate = {:?}\n",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/article.md.j2")
        ),
    );
    for sandbox in [&built_in, &shipped] {
        let output = sandbox.run_async(&["fetch"]).await;
        assert!(output.status.success(), "{}", stderr(&output));
    }
    assert_eq!(built_in.articles().len(), HOSTILE.len());
    assert_eq!(built_in.articles(), shipped.articles());
}

#[test]
fn broken_templates_are_refused_when_the_configuration_loads() {
    // (template, what the message must say)
    let cases = [
        ("---\ntitle: {{ title | yaml }\n---\n", "line 2"),
        (
            "---\ntitle: {{ title }}\n---\n{{ body }}\n",
            "not valid YAML",
        ),
        (
            "---\ntitle: {{ title | nosuchfilter }}\n---\n",
            "nosuchfilter",
        ),
        (
            "---\ntitle: {{ title | yaml }}\ndate: {{ date | date(\"%Q\") }}\n---\n",
            "strftime",
        ),
    ];
    for (template, said) in cases {
        let sandbox = Sandbox::with_config_text(
            "[[feeds]]\nname = \"a\"\nurl = \"https://a.example/feed\"\ntemplate = \"t.md.j2\"\n",
        );
        std::fs::write(sandbox.dir.path().join("t.md.j2"), template).expect("template");
        let output = sandbox.run(&["check"]);
        assert_eq!(output.status.code(), Some(2), "{template}");
        let message = stderr(&output);
        assert!(
            message.contains("feeds[0].template"),
            "{template}: {message}"
        );
        assert!(message.contains(said), "{template}: {message}");
    }
    let missing = Sandbox::with_config_text("[output]\ntemplate = \"nowhere.j2\"\n");
    let output = missing.run(&["check"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot read the template"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn render_applies_a_changed_template_and_touches_only_changed_files() {
    let server = MockServer::start().await;
    serve_body(&server, "/feed.xml", hostile_feed(), "application/rss+xml").await;
    let url = format!("{}/feed.xml", server.uri());
    let sandbox = Sandbox::with_config_text(&format!(
        "[[feeds]]\nname = \"notes\"\nurl = \"{url}\"\ntemplate = \"notes.md.j2\"\ndedup = \"feed\"\n[[feeds]]\nname = \"site\"\nurl = \"{url}?site\"\ndedup = \"feed\"\n"
    ));
    let template = sandbox.dir.path().join("notes.md.j2");
    std::fs::write(
        &template,
        "---\ntitle: {{ title | yaml }}\n---\n\n{{ body }}\n",
    )
    .expect("template");
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let mtimes = |prefix: &str| -> Vec<std::time::SystemTime> {
        sandbox
            .articles()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .map(|k| {
                std::fs::metadata(sandbox.articles_dir().join(k))
                    .and_then(|m| m.modified())
                    .expect("mtime")
            })
            .collect()
    };
    let site_before = mtimes("site/");
    assert_eq!(site_before.len(), HOSTILE.len());
    std::thread::sleep(std::time::Duration::from_millis(1100));

    std::fs::write(
        &template,
        "---\ntitle: {{ title | yaml }}\nsource: {{ link | yaml }}\n---\n\n{{ body }}\n",
    )
    .expect("template");
    drop(server);
    let render = sandbox.run_async(&["render"]).await;
    assert!(render.status.success(), "{}", stderr(&render));
    assert!(
        stdout(&render).contains(&format!(
            "rendered: {} rewritten, {} unchanged",
            HOSTILE.len(),
            HOSTILE.len()
        )),
        "{}",
        stdout(&render)
    );
    assert_eq!(
        mtimes("site/"),
        site_before,
        "files whose text is the same are not touched"
    );
    let notes: Vec<String> = sandbox
        .articles()
        .into_iter()
        .filter(|(k, _)| k.starts_with("notes/"))
        .map(|(_, v)| v)
        .collect();
    assert!(
        notes
            .iter()
            .all(|n| n.contains("\nsource: \"https://vault.example/")),
        "{notes:?}"
    );
}

#[test]
fn the_readme_template_examples_load() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let examples: Vec<&str> = readme
        .split("```jinja\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .collect();
    assert!(
        examples.len() >= 2,
        "the README shows a vault and a Hugo theme template"
    );
    for example in examples {
        let sandbox = Sandbox::with_config_text(
            "[output]\ntemplate = \"t.md.j2\"\n[[feeds]]\nname = \"a\"\nurl = \"https://a.example/feed\"\n",
        );
        std::fs::write(sandbox.dir.path().join("t.md.j2"), example).expect("template");
        let output = sandbox.run(&["check"]);
        assert!(output.status.success(), "{example}\n{}", stderr(&output));
    }
}
