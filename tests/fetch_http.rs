//! The fetcher against servers that behave like the real web: redirects, 410, 429,
//! headers, per-host limits, autodiscovery, and pathological bodies. Each condition is
//! produced by a real server on 127.0.0.1.

mod common;

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{RawServer, Sandbox, fixture, read_request_head, serve, stderr, stdout};
use tokio::io::AsyncWriteExt;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn feed_200() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture("rss2.xml"), "application/rss+xml")
}

fn redirect(status: u16, to: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).insert_header("Location", to)
}

async fn paths_requested(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .expect("recording on")
        .iter()
        .map(|r| r.url.path().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn permanent_redirects_are_remembered_and_temporary_ones_are_not() {
    let server = MockServer::start().await;
    serve(&server, "/old.xml", redirect(301, "/middle.xml")).await;
    serve(&server, "/middle.xml", redirect(308, "/new.xml")).await;
    serve(&server, "/new.xml", feed_200()).await;
    serve(&server, "/temporary.xml", redirect(302, "/new.xml")).await;
    let sandbox = Sandbox::new(
        &[
            ("moved", format!("{}/old.xml", server.uri())),
            ("hopping", format!("{}/temporary.xml", server.uri())),
        ],
        "[fetch]\nper_host = 1\n",
    );
    let first = sandbox.run_async(&["fetch", "moved"]).await;
    assert_eq!(first.status.code(), Some(0), "{}", stdout(&first));
    assert!(
        stdout(&first).contains("moved permanently to"),
        "{}",
        stdout(&first)
    );
    let second = sandbox.run_async(&["fetch", "moved"]).await;
    assert_eq!(second.status.code(), Some(0));
    assert_eq!(
        paths_requested(&server).await,
        ["/old.xml", "/middle.xml", "/new.xml", "/new.xml"]
    );
    let status = sandbox.run_async(&["status"]).await;
    assert!(stdout(&status).contains("now at"), "{}", stdout(&status));

    server.reset().await;
    serve(&server, "/new.xml", feed_200()).await;
    serve(&server, "/temporary.xml", redirect(302, "/new.xml")).await;
    sandbox.run_async(&["fetch", "hopping"]).await;
    sandbox.run_async(&["fetch", "hopping"]).await;
    assert_eq!(
        paths_requested(&server).await,
        ["/temporary.xml", "/new.xml", "/temporary.xml", "/new.xml"],
        "a 302 is followed each time, never remembered"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redirect_loops_end_with_a_clear_error() {
    let server = MockServer::start().await;
    serve(&server, "/a.xml", redirect(302, "/b.xml")).await;
    serve(&server, "/b.xml", redirect(302, "/a.xml")).await;
    let sandbox = Sandbox::new(&[("loop", format!("{}/a.xml", server.uri()))], "");
    let output = sandbox.run_async(&["fetch"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("loop: failed: more than 5 redirects"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gone_feeds_are_not_polled_until_their_url_changes() {
    let server = MockServer::start().await;
    serve(&server, "/gone.xml", ResponseTemplate::new(410)).await;
    serve(&server, "/back.xml", feed_200()).await;
    let sandbox = Sandbox::new(&[("gone", format!("{}/gone.xml", server.uri()))], "");
    let first = sandbox.run_async(&["fetch"]).await;
    assert!(
        stdout(&first).contains("HTTP 410 Gone"),
        "{}",
        stdout(&first)
    );
    let second = sandbox.run_async(&["fetch"]).await;
    assert_eq!(second.status.code(), Some(1));
    assert!(
        stdout(&second).contains("not fetched again until its url changes"),
        "{}",
        stdout(&second)
    );
    assert_eq!(
        paths_requested(&server).await,
        ["/gone.xml"],
        "no second request"
    );

    let config = std::fs::read_to_string(sandbox.config_path()).expect("config");
    std::fs::write(
        sandbox.config_path(),
        config.replace("/gone.xml", "/back.xml"),
    )
    .expect("edit");
    let third = sandbox.run_async(&["fetch"]).await;
    assert_eq!(third.status.code(), Some(0), "{}", stdout(&third));
    assert_eq!(sandbox.articles().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_report_when_to_retry() {
    let server = MockServer::start().await;
    serve(
        &server,
        "/busy.xml",
        ResponseTemplate::new(429).insert_header("Retry-After", "120"),
    )
    .await;
    serve(
        &server,
        "/down.xml",
        ResponseTemplate::new(503).insert_header("Retry-After", "Wed, 21 Oct 2037 07:28:00 GMT"),
    )
    .await;
    serve(&server, "/broken.xml", ResponseTemplate::new(500)).await;
    let sandbox = Sandbox::new(
        &[
            ("busy", format!("{}/busy.xml", server.uri())),
            ("down", format!("{}/down.xml", server.uri())),
            ("broken", format!("{}/broken.xml", server.uri())),
        ],
        "",
    );
    let output = sandbox.run_async(&["fetch"]).await;
    let out = stdout(&output);
    assert!(
        out.contains("busy: failed: HTTP 429 Too Many Requests (retry after"),
        "{out}"
    );
    assert!(
        out.contains(
            "down: failed: HTTP 503 Service Unavailable (retry after 2037-10-21 07:28:00 UTC)"
        ),
        "{out}"
    );
    assert!(
        out.contains("broken: failed: HTTP 500 Internal Server Error"),
        "{out}"
    );
    let status = sandbox.run_async(&["status", "--json"]).await;
    let json: serde_json::Value = serde_json::from_str(&stdout(&status)).expect("json");
    let errors: Vec<u64> = json
        .as_array()
        .expect("array")
        .iter()
        .map(|f| f["error_count"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(errors, [1, 1, 1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn user_agent_and_per_feed_headers_are_sent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/private.xml"))
        .and(header("authorization", "Bearer s3cret"))
        .and(header("user-agent", "my-reader/2.0"))
        .respond_with(feed_200())
        .mount(&server)
        .await;
    serve(&server, "/private.xml", ResponseTemplate::new(401)).await;
    let config = format!(
        "[fetch]\nuser_agent = \"my-reader/2.0\"\n[[feeds]]\nname = \"private\"\nurl = \"{}/private.xml\"\n[feeds.headers]\nAuthorization = \"Bearer s3cret\"\n",
        server.uri()
    );
    let sandbox = Sandbox::with_config_text(&config);
    let output = sandbox.run_async(&["fetch"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(sandbox.articles().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn html_pages_lead_to_the_feed_they_name() {
    let server = MockServer::start().await;
    let page = r#"<!DOCTYPE html><html><head><title>Blog</title>
        <link rel="alternate" type="application/rss+xml" title="RSS" href="/feeds/main.xml">
        </head><body>Hello</body></html>"#;
    serve(
        &server,
        "/blog/",
        ResponseTemplate::new(200).set_body_raw(page, "text/html; charset=utf-8"),
    )
    .await;
    serve(&server, "/feeds/main.xml", feed_200()).await;
    serve(
        &server,
        "/plain/",
        ResponseTemplate::new(200)
            .set_body_raw("<html><body>no feed here</body></html>", "text/html"),
    )
    .await;
    let sandbox = Sandbox::new(
        &[
            ("blog", format!("{}/blog/", server.uri())),
            ("plain", format!("{}/plain/", server.uri())),
        ],
        "",
    );
    let output = sandbox.run_async(&["fetch"]).await;
    let out = stdout(&output);
    assert!(
        out.contains("blog: 2 new") && out.contains("feed found at"),
        "{out}"
    );
    assert!(
        out.contains("plain: failed: not a feed (text/html)"),
        "{out}"
    );
    // The feed's address is remembered: the page is not fetched again.
    sandbox.run_async(&["fetch", "blog"]).await;
    let blog_pages = paths_requested(&server)
        .await
        .iter()
        .filter(|p| *p == "/blog/")
        .count();
    assert_eq!(blog_pages, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_to_one_host_are_limited_across_feeds() {
    let open = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (open_c, most_c) = (Arc::clone(&open), Arc::clone(&most));
    let body = String::from_utf8(fixture("rss2.xml")).expect("utf-8");
    let server = RawServer::start(move |mut stream| {
        let (open, most, body) = (Arc::clone(&open_c), Arc::clone(&most_c), body.clone());
        async move {
            let _ = read_request_head(&mut stream).await;
            let now = open.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            open.fetch_sub(1, Ordering::SeqCst);
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    })
    .await;
    let feeds: Vec<(String, String)> = (0..6)
        .map(|i| (format!("f{i}"), server.url(&format!("/f{i}.xml"))))
        .collect();
    let feeds: Vec<(&str, String)> = feeds.iter().map(|(n, u)| (n.as_str(), u.clone())).collect();
    let sandbox = Sandbox::new(&feeds, "[fetch]\nconcurrency = 6\nper_host = 2\n");
    let output = sandbox.run_async(&["fetch"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(
        most.load(Ordering::SeqCst),
        2,
        "never more than 2 requests in flight to one host"
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

#[tokio::test(flavor = "multi_thread")]
async fn compressed_feeds_are_read_and_compression_bombs_stopped() {
    let server = MockServer::start().await;
    serve(
        &server,
        "/small.xml.gz",
        ResponseTemplate::new(200)
            .set_body_raw(gzip(&fixture("rss2.xml")), "application/rss+xml")
            .insert_header("Content-Encoding", "gzip"),
    )
    .await;
    // 64 MiB of zeros in about 64 KiB.
    let bomb = gzip(&vec![0u8; 64 * 1024 * 1024]);
    assert!(bomb.len() < 200 * 1024);
    serve(
        &server,
        "/bomb.xml",
        ResponseTemplate::new(200)
            .set_body_raw(bomb, "application/rss+xml")
            .insert_header("Content-Encoding", "gzip"),
    )
    .await;
    let sandbox = Sandbox::new(
        &[
            ("small", format!("{}/small.xml.gz", server.uri())),
            ("bomb", format!("{}/bomb.xml", server.uri())),
        ],
        "[fetch]\nmax_body_bytes = 4194304\n",
    );
    let output = sandbox.run_async(&["fetch"]).await;
    let out = stdout(&output);
    assert!(out.contains("small: 2 new"), "{out}");
    assert!(
        out.contains("bomb: failed: body larger than 4194304 bytes (after decompression)"),
        "{out}"
    );
    let requests = server.received_requests().await.expect("recording");
    let accept = requests[0]
        .headers
        .get("accept-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        accept.contains("gzip") && accept.contains("br") && accept.contains("deflate"),
        "{accept}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn endless_slow_and_lying_bodies_fail_cleanly_and_alone() {
    let endless = RawServer::start(|mut stream| async move {
        let _ = read_request_head(&mut stream).await;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await;
        let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
        for _ in 0..10_000 {
            if stream.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await;
    let drip = RawServer::start(|mut stream| async move {
        let _ = read_request_head(&mut stream).await;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 1000\r\n\r\n<rss")
            .await;
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_secs(3)).await;
            if stream.write_all(b" ").await.is_err() {
                return;
            }
        }
    })
    .await;
    let liar = RawServer::start(|mut stream| async move {
        let _ = read_request_head(&mut stream).await;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 5000\r\n\r\n<rss version=\"2.0\"><channel>")
            .await;
        // Then hang up, far short of the promised length.
    })
    .await;
    let good = MockServer::start().await;
    serve(&good, "/good.xml", feed_200()).await;
    let sandbox = Sandbox::new(
        &[
            ("endless", endless.url("/feed")),
            ("drip", drip.url("/feed")),
            ("liar", liar.url("/feed")),
            ("good", format!("{}/good.xml", good.uri())),
        ],
        "[fetch]\nmax_body_bytes = 2097152\nread_timeout_secs = 1\ntimeout_secs = 20\n",
    );
    let started = std::time::Instant::now();
    let output = sandbox.run_async(&["fetch"]).await;
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{out}{}", stderr(&output));
    assert!(
        out.contains("endless: failed: body larger than 2097152 bytes"),
        "{out}"
    );
    assert!(out.contains("drip: failed: timed out"), "{out}");
    assert!(out.contains("liar: failed:"), "{out}");
    assert!(out.contains("good: 2 new"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the stall was cut by the read timeout"
    );
}
