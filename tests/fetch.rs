//! `tidings fetch` end to end: the real binary, a real HTTP server on 127.0.0.1, a real
//! SQLite file and real files in a temporary folder.

mod common;

use std::path::Path;
use std::time::SystemTime;

use common::{Sandbox, fixture, serve_body, shared, stderr, stdout};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Serves rss2.xml at `at` with an ETag and a Last-Modified date, and answers 304 to a
/// request that sends that ETag back.
async fn serve_with_validators(server: &MockServer, at: &str) {
    Mock::given(method("GET"))
        .and(path(at))
        .and(header("if-none-match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("rss2.xml"), "application/rss+xml")
                .insert_header("ETag", "\"v1\"")
                .insert_header("Last-Modified", "Tue, 09 Jul 2024 18:30:00 GMT"),
        )
        .with_priority(2)
        .mount(server)
        .await;
}

/// Files written for the project's own fixtures, one feed per format, compared with the
/// expected files under tests/golden/. `TIDINGS_UPDATE_GOLDEN=1` rewrites them (then read
/// the diff before committing).
#[tokio::test(flavor = "multi_thread")]
async fn every_format_is_written_as_its_golden_files() {
    let server = MockServer::start().await;
    serve_body(
        &server,
        "/rss2.xml",
        fixture("rss2.xml"),
        "application/rss+xml",
    )
    .await;
    serve_body(
        &server,
        "/atom.xml",
        fixture("atom.xml"),
        "application/atom+xml; charset=utf-8",
    )
    .await;
    serve_body(
        &server,
        "/feed.json",
        fixture("feed.json"),
        "application/feed+json",
    )
    .await;
    // No charset in the header: the XML declaration (ISO-8859-1) must decide.
    serve_body(
        &server,
        "/rss1.rdf",
        fixture("rss1.rdf"),
        "application/rdf+xml",
    )
    .await;
    let sandbox = Sandbox::new(
        &[
            ("notes", format!("{}/rss2.xml", server.uri())),
            ("werkstatt", format!("{}/atom.xml", server.uri())),
            ("radio", format!("{}/feed.json", server.uri())),
            ("journal", format!("{}/rss1.rdf", server.uri())),
        ],
        "",
    );
    let output = sandbox.run_async(&["fetch"]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );

    let written = sandbox.articles();
    let golden_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    if std::env::var_os("TIDINGS_UPDATE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(&golden_dir);
        for (relative, text) in &written {
            let target = golden_dir.join(relative);
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::write(target, text).expect("write golden");
        }
    }
    let mut expected = std::collections::BTreeMap::new();
    collect(&golden_dir, &golden_dir, &mut expected);
    assert_eq!(
        written.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the set of written files differs from tests/golden"
    );
    for (relative, text) in &written {
        assert_eq!(
            text, &expected[relative],
            "{relative} differs from its golden file"
        );
    }
}

fn collect(root: &Path, dir: &Path, into: &mut std::collections::BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).expect("golden dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect(root, &path, into);
        } else {
            let relative = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            into.insert(
                relative,
                std::fs::read_to_string(&path).expect("golden text"),
            );
        }
    }
}

/// The reference pair of the article format, read from the shared design folder that sits
/// beside the repository (as it does in CI).
#[tokio::test(flavor = "multi_thread")]
async fn techcrunch_reference_feed_is_written_byte_for_byte() {
    let feed = shared("format/techcrunch-feed.xml");
    let expected = String::from_utf8(shared("format/techcrunch-expected.md")).expect("utf-8");
    let server = MockServer::start().await;
    serve_body(
        &server,
        "/feed/",
        feed,
        "application/rss+xml; charset=UTF-8",
    )
    .await;
    let sandbox = Sandbox::new(&[("techcrunch", format!("{}/feed/", server.uri()))], "");
    let output = sandbox.run_async(&["fetch"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let written = sandbox.articles();
    assert_eq!(written.len(), 1, "{:?}", written.keys());
    let (_, text) = written.iter().next().expect("one article");
    assert_eq!(text, &expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn rerun_of_unchanged_feed_sends_validators_and_writes_nothing() {
    let server = MockServer::start().await;
    serve_with_validators(&server, "/feed.xml").await;
    let sandbox = Sandbox::new(&[("notes", format!("{}/feed.xml", server.uri()))], "");

    let first = sandbox.run_async(&["fetch"]).await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("notes: 2 new"),
        "{}",
        stdout(&first)
    );
    let before = modification_times(&sandbox);
    assert_eq!(before.len(), 2);

    let second = sandbox.run_async(&["fetch"]).await;
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(
        stdout(&second).contains("notes: unchanged (not modified)"),
        "{}",
        stdout(&second)
    );
    assert_eq!(
        modification_times(&sandbox),
        before,
        "no file may be touched"
    );

    let requests = server.received_requests().await.expect("recording on");
    assert_eq!(requests.len(), 2);
    let conditional = &requests[1].headers;
    assert_eq!(
        conditional.get("if-none-match").map(|v| v.as_bytes()),
        Some(&b"\"v1\""[..])
    );
    assert_eq!(
        conditional.get("if-modified-since").map(|v| v.as_bytes()),
        Some(&b"Tue, 09 Jul 2024 18:30:00 GMT"[..])
    );
    assert!(requests[0].headers.get("if-none-match").is_none());
    let agent = requests[0]
        .headers
        .get("user-agent")
        .map(|v| v.to_str().unwrap_or("").to_string());
    assert!(agent.is_some_and(|a| a.starts_with("tidings/")));
}

fn modification_times(sandbox: &Sandbox) -> Vec<(String, SystemTime)> {
    sandbox
        .articles()
        .keys()
        .map(|relative| {
            let meta = std::fs::metadata(sandbox.articles_dir().join(relative)).expect("metadata");
            (relative.clone(), meta.modified().expect("mtime"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn same_bytes_without_validators_are_not_parsed_again() {
    let server = MockServer::start().await;
    serve_body(
        &server,
        "/feed.json",
        fixture("feed.json"),
        "application/json",
    )
    .await;
    let sandbox = Sandbox::new(&[("radio", format!("{}/feed.json", server.uri()))], "");
    assert_eq!(sandbox.run_async(&["fetch"]).await.status.code(), Some(0));
    let files = sandbox.articles();
    // Someone deletes an article downstream; its key is remembered, so it stays deleted.
    let first = files.keys().next().expect("an article").clone();
    std::fs::remove_file(sandbox.articles_dir().join(&first)).expect("delete");
    let second = sandbox.run_async(&["fetch"]).await;
    assert!(
        stdout(&second).contains("radio: unchanged (same content)"),
        "{}",
        stdout(&second)
    );
    assert_eq!(sandbox.articles().len(), files.len() - 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_feeds_exit_1_and_the_others_are_still_written() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/gone.xml"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    serve_body(&server, "/broken.xml", b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>x</title><item><title>a</item></channel>".to_vec(), "text/xml").await;
    serve_body(
        &server,
        "/page.html",
        b"<!DOCTYPE html><html><head><title>Hi</title></head><body>No feed</body></html>".to_vec(),
        "text/html",
    )
    .await;
    serve_body(
        &server,
        "/good.xml",
        fixture("rss2.xml"),
        "application/rss+xml",
    )
    .await;
    let sandbox = Sandbox::new(
        &[
            ("gone", format!("{}/gone.xml", server.uri())),
            ("broken", format!("{}/broken.xml", server.uri())),
            ("page", format!("{}/page.html", server.uri())),
            ("good", format!("{}/good.xml", server.uri())),
        ],
        "",
    );
    let output = sandbox.run_async(&["fetch"]).await;
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("gone: failed: HTTP 404"), "{out}");
    assert!(out.contains("broken: failed: malformed feed"), "{out}");
    assert!(out.contains("page: failed: not a feed"), "{out}");
    assert!(out.contains("good: 2 new"), "{out}");
    assert!(out.contains("3 failed"), "{out}");
    let written = sandbox.articles();
    assert_eq!(written.len(), 2, "{:?}", written.keys());
    assert!(written.keys().all(|k| k.starts_with("good/")));
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_server_is_a_failed_feed_not_a_crash() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let sandbox = Sandbox::new(&[("down", format!("http://127.0.0.1:{port}/feed"))], "");
    let output = sandbox.run_async(&["fetch"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("down: failed: connection failed"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_entry_is_rewritten_in_place() {
    let server = MockServer::start().await;
    let original = String::from_utf8(fixture("rss2.xml")).expect("utf-8");
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(original.clone(), "application/rss+xml"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let edited = original.replace("Only a description here", "An edited description here");
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(edited, "application/rss+xml"))
        .with_priority(2)
        .mount(&server)
        .await;
    let sandbox = Sandbox::new(&[("notes", format!("{}/feed.xml", server.uri()))], "");
    assert_eq!(sandbox.run_async(&["fetch"]).await.status.code(), Some(0));
    let before = sandbox.articles();
    let second = sandbox.run_async(&["fetch"]).await;
    assert!(
        stdout(&second).contains("notes: 0 new, 1 updated, 1 unchanged"),
        "{}",
        stdout(&second)
    );
    let after = sandbox.articles();
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "same paths"
    );
    let changed: Vec<_> = after.iter().filter(|(k, v)| before[*k] != **v).collect();
    assert_eq!(changed.len(), 1);
    assert!(changed[0].1.contains("An edited description here"));
}

#[tokio::test(flavor = "multi_thread")]
async fn named_feeds_are_the_only_ones_fetched() {
    let server = MockServer::start().await;
    serve_body(
        &server,
        "/a.xml",
        fixture("rss2.xml"),
        "application/rss+xml",
    )
    .await;
    serve_body(
        &server,
        "/b.json",
        fixture("feed.json"),
        "application/feed+json",
    )
    .await;
    let sandbox = Sandbox::new(
        &[
            ("a", format!("{}/a.xml", server.uri())),
            ("b", format!("{}/b.json", server.uri())),
        ],
        "",
    );
    let output = sandbox.run_async(&["fetch", "b"]).await;
    assert_eq!(output.status.code(), Some(0));
    assert!(!stdout(&output).contains("a:"), "{}", stdout(&output));
    assert!(sandbox.articles().keys().all(|k| k.starts_with("b/")));
    let requests = server.received_requests().await.expect("recording on");
    assert!(requests.iter().all(|r| r.url.path() == "/b.json"));

    let unknown = sandbox.run_async(&["fetch", "nope"]).await;
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("no feed named nope"),
        "{}",
        stderr(&unknown)
    );
}

/// An output folder that cannot be written: the articles stay pending with a clear error,
/// nothing is marked written, and a later run writes them although the feed answers 304.
#[tokio::test(flavor = "multi_thread")]
async fn unwritable_output_keeps_articles_pending_until_a_later_run() {
    let server = MockServer::start().await;
    serve_with_validators(&server, "/feed.xml").await;
    let sandbox = Sandbox::new(&[("notes", format!("{}/feed.xml", server.uri()))], "");
    // A file where the output folder should be: no article can be written under it.
    std::fs::write(sandbox.articles_dir(), b"not a folder").expect("block output");

    let blocked = sandbox.run_async(&["fetch"]).await;
    assert_eq!(blocked.status.code(), Some(1), "{}", stdout(&blocked));
    assert!(
        stdout(&blocked).contains("left pending"),
        "{}",
        stdout(&blocked)
    );

    std::fs::remove_file(sandbox.articles_dir()).expect("unblock output");
    let later = sandbox.run_async(&["fetch"]).await;
    assert_eq!(
        later.status.code(),
        Some(0),
        "{}{}",
        stdout(&later),
        stderr(&later)
    );
    assert!(
        stdout(&later).contains("notes: unchanged (not modified)"),
        "{}",
        stdout(&later)
    );
    assert!(
        stdout(&later).contains("pending: 2 article(s) an earlier run claimed, written now"),
        "what was written is reported: {}",
        stdout(&later)
    );
    assert_eq!(
        sandbox.articles().len(),
        2,
        "the pending articles were written"
    );
}
