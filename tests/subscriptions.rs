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

fn titles(sandbox: &Sandbox) -> Vec<String> {
    let mut titles: Vec<String> = sandbox
        .articles()
        .values()
        .filter_map(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("title: \""))
                .map(|t| t.trim_end_matches('"').to_string())
        })
        .collect();
    titles.sort();
    titles
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
    assert_eq!(titles(&sandbox), vec!["Sixth"]);
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
    assert_eq!(titles(&sandbox), vec!["Fifth", "Fourth"]);

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
        titles(&sandbox),
        vec!["Eighth", "Fifth", "Fourth", "Seventh", "Sixth"]
    );
}
