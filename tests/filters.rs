//! Filters: block and keep rules on each field, the age limit, invalid rules, and
//! `tidings render` after the rules change. The real binary against a feed served on
//! 127.0.0.1.

mod common;

use common::{Sandbox, serve_body, stderr, stdout};
use wiremock::MockServer;

/// One item: (guid, title, author, category, link path, summary, content).
type Item<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
);

fn feed_with(items: &[Item<'_>]) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Mixed</title><link>https://news.example/</link>"#,
    );
    for (guid, title, author, category, link, summary, content) in items {
        xml.push_str(&format!(
            "<item><guid>{guid}</guid><title>{title}</title><dc:creator>{author}</dc:creator><category>{category}</category><link>https://news.example{link}</link><pubDate>Tue, 09 Jul 2024 18:30:00 +0000</pubDate><description>{summary}</description><content:encoded><![CDATA[<p>{content}</p>]]></content:encoded></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    xml
}

const ITEMS: &[Item<'static>] = &[
    (
        "1",
        "A plain story",
        "Ann",
        "News",
        "/plain",
        "Nothing odd.",
        "Just text.",
    ),
    (
        "2",
        "SPONSORED: buy now",
        "Ann",
        "News",
        "/s",
        "Ad.",
        "Ad text.",
    ),
    (
        "3",
        "Episode 12",
        "Ann",
        "Podcast",
        "/ep12",
        "Listen.",
        "Audio.",
    ),
    (
        "4",
        "Guest post",
        "Spam Bot",
        "News",
        "/guest",
        "Hello.",
        "Body.",
    ),
    ("5", "Offer", "Ann", "News", "/ads/offer", "See.", "Text."),
    (
        "6",
        "Coupons",
        "Ann",
        "News",
        "/c",
        "Use promo code X.",
        "Text.",
    ),
    (
        "7",
        "Review",
        "Ann",
        "News",
        "/r",
        "A review.",
        "Contains affiliate links.",
    ),
];

async fn serve_items(items: &[Item<'_>]) -> MockServer {
    let server = MockServer::start().await;
    serve_body(
        &server,
        "/feed.xml",
        feed_with(items).into_bytes(),
        "application/rss+xml",
    )
    .await;
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn block_rules_on_each_field_hold_back_what_they_match() {
    let server = serve_items(ITEMS).await;
    let sandbox = Sandbox::new(
        &[("mixed", format!("{}/feed.xml", server.uri()))],
        r#"[filters]
block = ["title:(?i)sponsored", "category:^Podcast$", "author:^Spam", "link:/ads/", "summary:promo code", "content:affiliate"]
"#,
    );
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(sandbox.titles(), vec!["A plain story"]);
    assert!(
        stdout(&output).contains("1 new") && stdout(&output).contains("6 filtered"),
        "{}",
        stdout(&output)
    );

    let status = sandbox.run_async(&["status", "--json"]).await;
    let statuses: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(statuses[0]["filtered"], 6, "{statuses}");
    assert_eq!(statuses[0]["written"], 1, "{statuses}");

    // A second pass holds them back again and writes nothing.
    let again = sandbox.run_async(&["fetch", "--force"]).await;
    assert!(again.status.success());
    assert_eq!(sandbox.titles(), vec!["A plain story"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_rules_write_only_what_they_match_and_feed_rules_add_to_global_ones() {
    let server = serve_items(ITEMS).await;
    let url = format!("{}/feed.xml", server.uri());
    let sandbox = Sandbox::with_config_text(&format!(
        r#"[filters]
keep = ["category:^News$"]
block = ["title:(?i)sponsored"]

[[feeds]]
name = "mixed"
url = "{url}"
block = ["author:Spam"]
keep = ["title:^Episode"]
"#
    ));
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    // Kept: News items and the episode; blocked: the sponsored one (global) and the
    // guest post (the feed's own rule).
    assert_eq!(
        sandbox.titles(),
        vec!["A plain story", "Coupons", "Episode 12", "Offer", "Review"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_older_than_the_age_limit_are_not_written() {
    let recent = chrono::Utc::now().to_rfc2822();
    let xml = format!(
        r#"<rss version="2.0"><channel><title>t</title><link>https://a.example/</link>
<item><guid>old</guid><title>Old news</title><pubDate>Tue, 09 Jul 2019 18:30:00 +0000</pubDate><description>x</description></item>
<item><guid>new</guid><title>Fresh news</title><pubDate>{recent}</pubDate><description>y</description></item>
</channel></rss>"#
    );
    let server = MockServer::start().await;
    serve_body(
        &server,
        "/feed.xml",
        xml.into_bytes(),
        "application/rss+xml",
    )
    .await;
    let sandbox = Sandbox::new(
        &[("aged", format!("{}/feed.xml", server.uri()))],
        "[filters]\nmax_age_days = 30\n",
    );
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(sandbox.titles(), vec!["Fresh news"]);
}

#[test]
fn an_invalid_rule_is_a_configuration_error_naming_the_key_and_column() {
    let sandbox = Sandbox::with_config_text(
        "[[feeds]]\nname = \"a\"\nurl = \"https://a.example/feed\"\nblock = [\"title:ok\", \"title:sale (50%\"]\n",
    );
    let output = sandbox.run(&["check"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("feeds[0].block[1]"), "{message}");
    assert!(message.contains("column 6"), "{message}");

    let sandbox = Sandbox::with_config_text(
        "[filters]\nkeep = [\"headline:x\"]\n[[feeds]]\nname = \"a\"\nurl = \"https://a.example/feed\"\n",
    );
    let output = sandbox.run(&["check"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("filters.keep[0]") && message.contains("headline"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn render_writes_what_changed_rules_allow_without_fetching() {
    let server = serve_items(&ITEMS[..2]).await;
    let url = format!("{}/feed.xml", server.uri());
    let config =
        |block: &str| format!("[[feeds]]\nname = \"mixed\"\nurl = \"{url}\"\nblock = [{block}]\n");
    let sandbox = Sandbox::with_config_text(&config("\"title:(?i)sponsored\""));
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(sandbox.titles(), vec!["A plain story"]);

    // The server is gone: render works from the database alone.
    drop(server);
    std::fs::write(
        sandbox.config_path(),
        common::allowing_loopback(&config("\"title:plain\"")),
    )
    .expect("config");
    let render = sandbox.run_async(&["render"]).await;
    assert!(render.status.success(), "{}", stderr(&render));
    let said = stdout(&render);
    assert!(said.contains("1 held by filters now written"), "{said}");
    // The file already written stays, and the run says so.
    assert!(
        said.contains("1 written article(s) match today's filters"),
        "{said}"
    );
    assert_eq!(
        sandbox.titles(),
        vec!["A plain story", "SPONSORED: buy now"]
    );
}
