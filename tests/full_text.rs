//! Full text: a summary-only feed whose entries link to real-looking article pages (news,
//! a blog with comments, a cookie wall, German, lazy images) served on 127.0.0.1 becomes
//! whole articles; failing pages fall back with their reason; known entries are never
//! fetched again, an edited one once; render needs no network; pages respect the per-host
//! limit and interval. Also `tidings extract`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{RawServer, Sandbox, fixture, read_request_head, serve_body, stderr, stdout};
use tokio::io::AsyncWriteExt;
use wiremock::MockServer;

const PAGES: &[&str] = &["news", "blog", "cookie", "german", "lazy"];

/// What each page's article must say (a sentence from its middle).
const SAYS: &[(&str, &str)] = &[
    ("news", "The approved budget is 410 million euros"),
    ("blog", "Error handling took the longest to get right"),
    ("cookie", "Local authorities are opening cooling centres"),
    ("german", "Der Handelsverband befürchtet"),
    ("lazy", "Grey Rock can only be reached at low tide"),
];

/// What no article may carry: the page around it.
const CHROME: &[&str] = &[
    "Accept all cookies",
    "Wir verwenden Cookies",
    "Your privacy matters",
    "Subscribe to our newsletter",
    "Related articles",
    "Ten gadgets we loved",
    "First! This article is nonsense",
    "Share on Twitter",
    "All rights reserved",
    "Careers",
];

fn teaser_feed(base: &str, items: &[(&str, &str)]) -> Vec<u8> {
    let mut xml = String::from(
        "<rss version=\"2.0\"><channel><title>Teasers</title><link>https://teasers.example/</link>",
    );
    for (path, teaser) in items {
        xml.push_str(&format!(
            "<item><guid>{path}</guid><title>Story {path}</title><link>{base}/{path}</link><pubDate>Tue, 09 Jul 2024 18:30:00 +0000</pubDate><description>{teaser} Read more →</description></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

fn page_requests(requests: &[wiremock::Request], page: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.url.path() == format!("/{page}"))
        .count()
}

async fn serve_pages(server: &MockServer) {
    for page in PAGES {
        serve_body(
            server,
            &format!("/{page}.html"),
            fixture(&format!("pages/{page}.html")),
            "text/html; charset=utf-8",
        )
        .await;
    }
}

fn article_of<'a>(articles: &'a std::collections::BTreeMap<String, String>, page: &str) -> &'a str {
    articles
        .values()
        .find(|text| text.contains(&format!("title: \"Story {page}\"")))
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no article for {page}: {:?}", articles.keys()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_summary_only_feed_becomes_whole_articles_and_is_not_fetched_twice() {
    let server = MockServer::start().await;
    serve_pages(&server).await;
    let items: Vec<(String, &str)> = PAGES
        .iter()
        .map(|p| (format!("{p}.html"), "A short teaser."))
        .collect();
    let items: Vec<(&str, &str)> = items.iter().map(|(p, t)| (p.as_str(), *t)).collect();
    serve_body(
        &server,
        "/feed.xml",
        teaser_feed(&server.uri(), &items),
        "application/rss+xml",
    )
    .await;
    let sandbox = Sandbox::new(
        &[("teasers", format!("{}/feed.xml", server.uri()))],
        "[output]\nfull_text = true\n[fetch]\npage_interval_ms = 0\n",
    );
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let articles = sandbox.articles();
    assert_eq!(articles.len(), PAGES.len());
    for (page, sentence) in SAYS {
        let text = article_of(&articles, &format!("{page}.html"));
        assert!(
            text.contains(sentence),
            "{page}: the page's article is written:\n{text}"
        );
        assert!(
            !text.contains("Read more"),
            "{page}: not the teaser:\n{text}"
        );
        for chrome in CHROME {
            assert!(
                !text.contains(chrome),
                "{page}: {chrome:?} is not article text:\n{text}"
            );
        }
        // The summary is the feed's (its "Read more" link text dropped).
        assert!(
            text.contains("summary: \"A short teaser.\""),
            "{page}:\n{text}"
        );
    }
    let news = article_of(&articles, "news.html");
    assert!(
        news.contains("## What the line will cost") && news.contains("| National government | 60%"),
        "{news}"
    );
    assert!(
        news.contains("> This is the most important transport decision"),
        "{news}"
    );
    assert!(
        news.contains(&format!(
            "![Map of the planned route]({}/media/tram-route.jpg)",
            server.uri()
        )),
        "{news}"
    );
    let blog = article_of(&articles, "blog.html");
    assert!(
        blog.contains("```rust\nlet feeds"),
        "code keeps its language:\n{blog}"
    );
    let lazy = article_of(&articles, "lazy.html");
    assert!(
        lazy.contains(&format!("({}/photos/north-point.jpg)", server.uri())),
        "lazy image resolved:\n{lazy}"
    );

    let status = sandbox.run_async(&["status", "--json"]).await;
    let statuses: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(statuses[0]["full_text_pages"], 5, "{statuses}");

    // A second pass fetches the feed and no page.
    let before = server.received_requests().await.expect("recorded");
    let again = sandbox.run_async(&["fetch", "--force"]).await;
    assert!(again.status.success(), "{}", stderr(&again));
    let after = server.received_requests().await.expect("recorded");
    for page in PAGES {
        let page = format!("{page}.html");
        assert_eq!(
            page_requests(&after, &page),
            page_requests(&before, &page),
            "{page} fetched again"
        );
    }

    // Rendering needs no network: the extracted articles are in the database.
    drop(server);
    let render = sandbox.run_async(&["render"]).await;
    assert!(render.status.success(), "{}", stderr(&render));
    assert!(
        stdout(&render).contains("0 rewritten, 5 unchanged"),
        "{}",
        stdout(&render)
    );
    assert_eq!(sandbox.articles(), articles);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_entry_is_fetched_once_more() {
    let server = MockServer::start().await;
    serve_pages(&server).await;
    let feed = |teaser: &str| teaser_feed(&server.uri(), &[("news.html", teaser)]);
    serve_body(
        &server,
        "/feed.xml",
        feed("First teaser."),
        "application/rss+xml",
    )
    .await;
    let sandbox = Sandbox::new(
        &[("teasers", format!("{}/feed.xml", server.uri()))],
        "[output]\nfull_text = true\n[fetch]\npage_interval_ms = 0\n",
    );
    assert!(sandbox.run_async(&["fetch"]).await.status.success());
    server.reset().await;
    serve_pages(&server).await;
    serve_body(
        &server,
        "/feed.xml",
        feed("Corrected teaser."),
        "application/rss+xml",
    )
    .await;
    for _ in 0..2 {
        let output = sandbox.run_async(&["fetch", "--force"]).await;
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(
        page_requests(&requests, "news.html"),
        1,
        "the edit is fetched once, then known"
    );
    let articles = sandbox.articles();
    let text = article_of(&articles, "news.html");
    assert!(
        text.contains("Corrected teaser.") && text.contains("410 million euros"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_that_fail_keep_the_feeds_content_and_say_why() {
    let server = MockServer::start().await;
    serve_body(
        &server,
        "/stub.html",
        fixture("pages/stub.html"),
        "text/html",
    )
    .await;
    serve_body(
        &server,
        "/data.json",
        b"{\"a\": 1}".to_vec(),
        "application/json",
    )
    .await;
    let long_teaser = "A feed that carries more text than the page. ".repeat(40);
    serve_body(
        &server,
        "/cookie.html",
        fixture("pages/cookie.html"),
        "text/html",
    )
    .await;
    let items = [
        ("missing.html", "Teaser of a missing page."),
        ("stub.html", "Teaser of a page without an article."),
        ("data.json", "Teaser of a JSON document."),
        ("cookie.html", long_teaser.as_str()),
    ];
    serve_body(
        &server,
        "/feed.xml",
        teaser_feed(&server.uri(), &items),
        "application/rss+xml",
    )
    .await;
    let sandbox = Sandbox::new(
        &[("teasers", format!("{}/feed.xml", server.uri()))],
        "[output]\nfull_text = true\n[fetch]\npage_interval_ms = 0\n",
    );
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(
        output.status.success(),
        "pages failing is not the feed failing: {}",
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("4 new") && stdout(&output).contains("4 kept the feed's content"),
        "{}",
        stdout(&output)
    );
    let articles = sandbox.articles();
    for (page, teaser) in items {
        let text = article_of(&articles, page);
        assert!(
            text.contains(teaser.trim()),
            "{page}: the feed's content is written:\n{text}"
        );
    }
    let status = sandbox.run_async(&["status", "--json"]).await;
    let statuses: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    let reasons = statuses[0]["full_text_fallbacks"]
        .as_object()
        .expect("reasons by count")
        .clone();
    let all: String = reasons.keys().cloned().collect::<Vec<_>>().join("\n");
    assert_eq!(
        reasons
            .values()
            .map(|v| v.as_i64().unwrap_or(0))
            .sum::<i64>(),
        4,
        "{all}"
    );
    assert!(all.contains("404"), "{all}");
    assert!(all.contains("no article found"), "{all}");
    assert!(all.contains("not HTML (application/json)"), "{all}");
    assert!(all.contains("shorter than the feed's content"), "{all}");
    let text = stdout(&sandbox.run_async(&["status"]).await);
    assert!(
        text.contains("full text: 0 from pages, 4 kept the feed's content"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_of_one_host_are_fetched_one_at_a_time_and_spaced() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let times = Arc::new(std::sync::Mutex::new(Vec::new()));
    let page = String::from_utf8(fixture("pages/news.html")).expect("utf-8");
    let (in_flight_2, most_2, times_2) = (
        Arc::clone(&in_flight),
        Arc::clone(&most),
        Arc::clone(&times),
    );
    let server = RawServer::start(move |mut stream| {
        let (in_flight, most, times, page) = (Arc::clone(&in_flight_2), Arc::clone(&most_2), Arc::clone(&times_2), page.clone());
        async move {
            let head = read_request_head(&mut stream).await;
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (body, kind) = if path.starts_with("/feed") {
                let port = stream.local_addr().map(|a| a.port()).unwrap_or(0);
                let items: String = (0..4)
                    .map(|n| format!("<item><guid>{n}</guid><title>Story {n}</title><link>http://127.0.0.1:{port}/page{n}.html</link><description>Teaser.</description></item>"))
                    .collect();
                (format!("<rss version=\"2.0\"><channel><title>t</title><link>http://x.example/</link>{items}</channel></rss>"), "application/rss+xml")
            } else {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                times.lock().expect("times").push(Instant::now());
                tokio::time::sleep(Duration::from_millis(150)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                (page, "text/html")
            };
            let response = format!("HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = stream.write_all(response.as_bytes()).await;
        }
    })
    .await;
    let sandbox = Sandbox::new(
        &[("paced", server.url("/feed.xml"))],
        "[output]\nfull_text = true\n[fetch]\nper_host = 1\npage_interval_ms = 300\n",
    );
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(sandbox.articles().len(), 4);
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "one page request at a time to the host"
    );
    let times = times.lock().expect("times").clone();
    assert_eq!(times.len(), 4);
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(290),
            "{:?}",
            pair[1] - pair[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn extract_prints_the_article_a_page_would_become() {
    let server = MockServer::start().await;
    serve_pages(&server).await;
    let sandbox = Sandbox::with_config_text("");
    let output = sandbox
        .run_async(&["extract", &format!("{}/news.html", server.uri())])
        .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("---\ntitle: \"City council approves the riverside tram line\"\ndate: \"2024-07-09 18:30:00\"\n"), "{text}");
    assert!(
        text.contains("The approved budget is 410 million euros"),
        "{text}"
    );
    for chrome in CHROME {
        assert!(!text.contains(chrome), "{chrome:?}:\n{text}");
    }
    // With a selector: only what it names.
    let output = sandbox
        .run_async(&[
            "extract",
            &format!("{}/news.html", server.uri()),
            "--selector",
            "table",
        ])
        .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("| National government |") && !text.contains("410 million euros"),
        "{text}"
    );
    let bad = sandbox
        .run_async(&[
            "extract",
            &format!("{}/news.html", server.uri()),
            "--selector",
            "p[[",
        ])
        .await;
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("not a CSS selector"),
        "{}",
        stderr(&bad)
    );
    let missing = sandbox
        .run_async(&["extract", &format!("{}/stub.html", server.uri())])
        .await;
    assert!(!missing.status.success());
}
