//! Subscriptions: catching up with a backlog, `initial_entries`, `add`, `remove`, OPML
//! import and export. The real binary, feeds served on 127.0.0.1.

mod common;

use common::{Sandbox, serve_body, stderr, stdout};
use wiremock::MockServer;

/// An RSS feed of `(guid, title, day of July 2024)` items.
fn rss(items: &[(&str, &str, u32)]) -> Vec<u8> {
    let mut xml = String::from(
        "<rss version=\"2.0\"><channel><title>Backlog Weekly</title><link>https://backlog.example/</link>",
    );
    for (guid, title, day) in items {
        xml.push_str(&format!(
            "<item><guid>{guid}</guid><title>{title}</title><link>https://backlog.example/{guid}</link><pubDate>{day:02} Jul 2024 10:00:00 +0000</pubDate><description>About {title}.</description></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

const BACKLOG: &[(&str, &str, u32)] = &[
    ("e5", "Fifth", 5),
    ("e4", "Fourth", 4),
    ("e3", "Third", 3),
    ("e2", "Second", 2),
    ("e1", "First", 1),
];

#[tokio::test(flavor = "multi_thread")]
async fn catchup_records_the_backlog_and_a_later_entry_is_written_alone() {
    let server = MockServer::start().await;
    serve_body(&server, "/feed.xml", rss(BACKLOG), "application/rss+xml").await;
    let sandbox = Sandbox::new(&[("backlog", format!("{}/feed.xml", server.uri()))], "");

    let output = sandbox.run_async(&["fetch", "--catchup"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("5 caught up"),
        "{}",
        stdout(&output)
    );
    assert!(sandbox.articles().is_empty(), "nothing written on catch-up");

    let status = sandbox.run_async(&["status", "--json"]).await;
    let statuses: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(statuses[0]["caught_up"], 5, "{statuses}");

    // The feed gains one entry: only that one is written.
    server.reset().await;
    let mut grown = vec![("e6", "Sixth", 6)];
    grown.extend_from_slice(BACKLOG);
    serve_body(&server, "/feed.xml", rss(&grown), "application/rss+xml").await;
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("1 new"), "{}", stdout(&output));
    assert_eq!(sandbox.titles(), vec!["Sixth"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn initial_entries_writes_only_the_newest_on_the_first_fetch() {
    let server = MockServer::start().await;
    // Listed oldest first, so "newest" must come from the dates, not the order.
    let mut shuffled = BACKLOG.to_vec();
    shuffled.reverse();
    serve_body(&server, "/feed.xml", rss(&shuffled), "application/rss+xml").await;
    let sandbox = Sandbox::with_config_text(&format!(
        "[[feeds]]\nname = \"backlog\"\nurl = \"{}/feed.xml\"\ninitial_entries = 2\n",
        server.uri()
    ));
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(sandbox.titles(), vec!["Fifth", "Fourth"]);

    // Later fetches write every new entry, however many.
    server.reset().await;
    let mut grown = vec![
        ("e7", "Seventh", 7),
        ("e6", "Sixth", 6),
        ("e8", "Eighth", 8),
    ];
    grown.extend_from_slice(BACKLOG);
    serve_body(&server, "/feed.xml", rss(&grown), "application/rss+xml").await;
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        sandbox.titles(),
        vec!["Eighth", "Fifth", "Fourth", "Seventh", "Sixth"]
    );
}

/// A configuration a person wrote, comments and all.
const COMMENTED: &str =
    "# My tidings.\n[output]\ndir = \"articles\"   # the Hugo content folder\n\n# Feeds below.\n";

/// `(name, url, categories)` of the configured feeds, as TOML reads them.
fn configured(sandbox: &Sandbox) -> Vec<(String, String, Vec<String>)> {
    let text = std::fs::read_to_string(sandbox.config_path()).expect("config");
    let value: toml::Value = toml::from_str(&text).expect("the edited config is TOML");
    let Some(feeds) = value.get("feeds").and_then(toml::Value::as_array) else {
        return Vec::new();
    };
    feeds
        .iter()
        .map(|f| {
            let text = |k: &str| {
                f.get(k)
                    .and_then(toml::Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let categories = f
                .get("categories")
                .and_then(toml::Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            (text("name"), text("url"), categories)
        })
        .collect()
}

fn opml_fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/opml")
        .join(name)
}

#[test]
fn each_opml_shape_imports_and_an_export_imports_back_to_the_same_feeds() {
    // (fixture, feeds added, one expected (name, url, categories), skipped lines)
    type Expected = (
        &'static str,
        usize,
        (&'static str, &'static str, &'static [&'static str]),
        &'static [&'static str],
    );
    let cases: &[Expected] = &[
        // The Verge is in two folders: one feed in both categories.
        (
            "feedly.opml",
            3,
            (
                "the-verge",
                "https://www.theverge.com/rss/index.xml",
                &["Tech", "News"],
            ),
            &[],
        ),
        (
            "inoreader.opml",
            3,
            (
                "q-a-weekly",
                "https://qa.example.com/feed?format=rss&lang=en",
                &[],
            ),
            &["skipped 1 invalid", "Broken"],
        ),
        (
            "netnewswire.opml",
            3,
            (
                "nasa-breaking-news",
                "https://www.nasa.gov/rss/dyn/breaking_news.rss",
                &["Science", "Space"],
            ),
            &[],
        ),
        (
            "miniflux.opml",
            3,
            (
                "music-example-ru",
                "https://music.example.ru/rss",
                &["Музыка"],
            ),
            &[],
        ),
        (
            "newsboat.opml",
            3,
            ("xkcd.com", "https://xkcd.com/atom.xml", &[]),
            &[],
        ),
    ];
    for (fixture, count, (name, url, categories), skipped) in cases {
        let sandbox = Sandbox::with_config_text(COMMENTED);
        let before = std::fs::read_to_string(sandbox.config_path()).expect("config");
        let file = opml_fixture(fixture);
        let file = file.to_str().expect("utf-8 path");

        let dry = sandbox.run(&["import", "--dry-run", file]);
        assert!(dry.status.success(), "{fixture}: {}", stderr(&dry));
        assert!(
            stdout(&dry).contains(&format!("would add {count} feed(s)")),
            "{fixture}: {}",
            stdout(&dry)
        );
        assert_eq!(
            std::fs::read_to_string(sandbox.config_path()).expect("config"),
            before,
            "{fixture}: --dry-run changed the file"
        );

        let output = sandbox.run(&["import", file]);
        assert!(output.status.success(), "{fixture}: {}", stderr(&output));
        for line in *skipped {
            assert!(
                stdout(&output).contains(line),
                "{fixture}: {}",
                stdout(&output)
            );
        }
        let after = std::fs::read_to_string(sandbox.config_path()).expect("config");
        assert!(
            after.starts_with(&before),
            "{fixture}: comments and layout kept:\n{after}"
        );
        let feeds = configured(&sandbox);
        assert_eq!(feeds.len(), *count, "{fixture}: {feeds:?}");
        let categories: Vec<String> = categories.iter().map(|c| c.to_string()).collect();
        assert!(
            feeds.contains(&(name.to_string(), url.to_string(), categories)),
            "{fixture}: {feeds:?}"
        );
        // A second import finds them all configured and changes nothing.
        let twice = sandbox.run(&["import", file]);
        assert!(twice.status.success(), "{fixture}: {}", stderr(&twice));
        assert!(
            stdout(&twice).contains("added 0 feed(s)")
                && stdout(&twice).contains(&format!("skipped {count} already configured")),
            "{fixture}: {}",
            stdout(&twice)
        );
        assert_eq!(
            std::fs::read_to_string(sandbox.config_path()).expect("config"),
            after
        );
        let check = sandbox.run(&["check"]);
        assert!(check.status.success(), "{fixture}: {}", stderr(&check));

        // Export, then import into an empty configuration: the same feeds.
        let exported = sandbox.dir.path().join("export.opml");
        let export = sandbox.run(&["export", "-o", exported.to_str().expect("path")]);
        assert!(export.status.success(), "{fixture}: {}", stderr(&export));
        let elsewhere = Sandbox::with_config_text("");
        let again = elsewhere.run(&["import", exported.to_str().expect("path")]);
        assert!(again.status.success(), "{fixture}: {}", stderr(&again));
        assert_eq!(configured(&elsewhere), feeds, "{fixture}: export → import");
    }
}

#[test]
fn import_of_a_broken_file_changes_nothing() {
    let sandbox = Sandbox::with_config_text(COMMENTED);
    let before = std::fs::read_to_string(sandbox.config_path()).expect("config");
    let broken = sandbox.dir.path().join("broken.opml");
    std::fs::write(
        &broken,
        "<opml><body><outline xmlUrl=\"https://a.example/\"></body>",
    )
    .expect("write");
    let output = sandbox.run(&["import", broken.to_str().expect("path")]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("not well-formed"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.config_path()).expect("config"),
        before
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn add_follows_autodiscovery_names_the_feed_and_refuses_duplicates() {
    let server = MockServer::start().await;
    serve_body(&server, "/feed.xml", rss(BACKLOG), "application/rss+xml").await;
    let page = "<!doctype html><html><head><title>Blog</title><link rel=\"alternate\" type=\"application/rss+xml\" href=\"/feed.xml\"></head><body>Hi</body></html>";
    serve_body(&server, "/blog/", page.as_bytes().to_vec(), "text/html").await;
    let sandbox = Sandbox::with_config_text(COMMENTED);
    let before = std::fs::read_to_string(sandbox.config_path()).expect("config");

    let output = sandbox
        .run_async(&[
            "add",
            &format!("{}/blog/", server.uri()),
            "--schedule",
            "@hourly",
        ])
        .await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("name = \"backlog-weekly\""),
        "{}",
        stdout(&output)
    );
    let after = std::fs::read_to_string(sandbox.config_path()).expect("config");
    assert!(after.starts_with(&before), "comments kept:\n{after}");
    assert_eq!(
        configured(&sandbox),
        vec![(
            "backlog-weekly".to_string(),
            format!("{}/feed.xml", server.uri()),
            vec![]
        )]
    );
    assert!(after.contains("schedule = \"@hourly\""), "{after}");

    // The same page, or the feed itself: refused, file unchanged.
    for url in [
        format!("{}/blog/", server.uri()),
        format!("{}/feed.xml", server.uri()),
    ] {
        let again = sandbox.run_async(&["add", &url]).await;
        assert_eq!(again.status.code(), Some(2), "{}", stdout(&again));
        assert!(
            stderr(&again).contains("already configured as feed \"backlog-weekly\""),
            "{}",
            stderr(&again)
        );
    }
    // A name in use: refused.
    serve_body(
        &server,
        "/other.xml",
        rss(&BACKLOG[..1]),
        "application/rss+xml",
    )
    .await;
    let taken = sandbox
        .run_async(&[
            "add",
            &format!("{}/other.xml", server.uri()),
            "--name",
            "Backlog-Weekly",
        ])
        .await;
    assert_eq!(taken.status.code(), Some(2));
    assert!(
        stderr(&taken).contains("already configured"),
        "{}",
        stderr(&taken)
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.config_path()).expect("config"),
        after
    );

    // The feed is fetched like any other.
    let fetch = sandbox.run_async(&["fetch"]).await;
    assert!(fetch.status.success(), "{}", stderr(&fetch));
    assert_eq!(sandbox.articles().len(), 5);

    // Remove: gone from the file, comments kept, articles kept.
    let removed = sandbox.run_async(&["remove", "backlog-weekly"]).await;
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert!(configured(&sandbox).is_empty());
    let text = std::fs::read_to_string(sandbox.config_path()).expect("config");
    assert!(text.starts_with(&before), "{text}");
    assert_eq!(sandbox.articles().len(), 5);
    let unknown = sandbox.run_async(&["remove", "backlog-weekly"]).await;
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("no feed named"),
        "{}",
        stderr(&unknown)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn add_of_something_that_is_no_feed_changes_nothing() {
    let server = MockServer::start().await;
    serve_body(
        &server,
        "/page",
        b"<html><body>no feed here</body></html>".to_vec(),
        "text/html",
    )
    .await;
    let sandbox = Sandbox::with_config_text(COMMENTED);
    let before = std::fs::read_to_string(sandbox.config_path()).expect("config");
    let output = sandbox
        .run_async(&["add", &format!("{}/page", server.uri())])
        .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("not a feed"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.config_path()).expect("config"),
        before
    );
}
