//! Faults an operator meets: many first starts at once, a lost or damaged database, a
//! server that asks to be left alone, configuration that only fails later. Each through
//! the real binary, against a real server on 127.0.0.1.

mod common;

use common::{Sandbox, serve_fixture, stderr, stdout};
use wiremock::MockServer;

#[tokio::test(flavor = "multi_thread")]
async fn twenty_first_starts_at_once_on_a_new_database_all_succeed() {
    let server = MockServer::start().await;
    serve_fixture(&server, "/feed.xml", "rss2.xml").await;
    let feeds: Vec<(String, String)> = (0..4)
        .map(|i| (format!("f{i}"), format!("{}/feed.xml?{i}", server.uri())))
        .collect();
    let feeds: Vec<(&str, String)> = feeds.iter().map(|(n, u)| (n.as_str(), u.clone())).collect();
    let sandbox = Sandbox::new(
        &feeds,
        "[output]\npath = \"{feed}/{id}.md\"\n[storage]\ndatabase = \"fresh/new.db\"\n",
    );
    let children: Vec<_> = (0..20).map(|_| sandbox.spawn(&["fetch"])).collect();
    let outputs: Vec<_> = tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|child| child.wait_with_output().expect("wait"))
            .collect::<Vec<_>>()
    })
    .await
    .expect("join");
    for output in &outputs {
        assert_eq!(
            output.status.code(),
            Some(0),
            "stdout: {}\nstderr: {}",
            stdout(output),
            stderr(output)
        );
        assert!(!stderr(output).contains("locked"), "{}", stderr(output));
    }
    // Each of the two stories once (the four feeds carry the same ones), whichever
    // process wrote it.
    assert_eq!(sandbox.articles().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_database_is_refused_with_what_to_do() {
    let server = MockServer::start().await;
    serve_fixture(&server, "/feed.xml", "rss2.xml").await;
    let sandbox = Sandbox::new(&[("notes", format!("{}/feed.xml", server.uri()))], "");
    assert_eq!(sandbox.run_async(&["fetch"]).await.status.code(), Some(0));
    // Garbage over the middle of the file (its tables' pages).
    let database = sandbox.database();
    let mut bytes = std::fs::read(&database).expect("database");
    assert!(bytes.len() > 3 * 4096, "{} bytes", bytes.len());
    for byte in &mut bytes[4096..3 * 4096] {
        *byte = 0xA5;
    }
    std::fs::write(&database, bytes).expect("damage");
    for command in ["fetch", "status"] {
        let output = sandbox.run_async(&[command]).await;
        assert_eq!(
            output.status.code(),
            Some(3),
            "{command}: {}",
            stdout(&output)
        );
        let message = stderr(&output);
        assert!(message.contains("is damaged"), "{command}: {message}");
        assert!(message.contains("reindex"), "{command}: {message}");
        assert!(
            !stdout(&output).contains("new"),
            "{command}: no success is reported"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_refuses_a_database_damaged_deep_in_its_articles() {
    let server = MockServer::start().await;
    serve_fixture(&server, "/feed.xml", "rss2.xml").await;
    let sandbox = Sandbox::new(&[("notes", format!("{}/feed.xml", server.uri()))], "");
    assert_eq!(sandbox.run_async(&["fetch"]).await.status.code(), Some(0));
    assert_eq!(sandbox.run_async(&["status"]).await.status.code(), Some(0));
    // Garbage over the last two pages (articles), which a run reads only when it needs
    // them: the check at open looks at the small tables alone, `status` at everything.
    let database = sandbox.database();
    let mut bytes = std::fs::read(&database).expect("database");
    let end = bytes.len();
    assert!(end >= 8 * 4096, "{end} bytes");
    for byte in &mut bytes[end - 2 * 4096..] {
        *byte = 0xA5;
    }
    std::fs::write(&database, bytes).expect("damage");
    let output = sandbox.run_async(&["status"]).await;
    assert_eq!(output.status.code(), Some(3), "{}", stdout(&output));
    let message = stderr(&output);
    assert!(message.contains("is damaged"), "{message}");
    assert!(message.contains("reindex"), "{message}");
    // A fetch checks the small tables only and meets damage elsewhere when it reads
    // those pages; this one would fetch the same document again and read none of them.
}

#[tokio::test(flavor = "multi_thread")]
async fn status_creates_no_database_and_a_foreign_database_is_named() {
    let sandbox = Sandbox::new(&[("notes", "https://feeds.example.org/x".to_string())], "");
    let status = sandbox.run_async(&["status"]).await;
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    assert!(stdout(&status).contains("notes"), "{}", stdout(&status));
    assert!(!sandbox.database().exists(), "status created the database");
    assert!(!sandbox.database().parent().expect("folder").exists());

    // Another program's SQLite file where the database should be.
    std::fs::create_dir_all(sandbox.database().parent().expect("folder")).expect("mkdir");
    let other = another_programs_database();
    std::fs::write(sandbox.database(), other).expect("write");
    let fetch = sandbox.run_async(&["fetch"]).await;
    assert_eq!(fetch.status.code(), Some(3), "{}", stdout(&fetch));
    let message = stderr(&fetch);
    assert!(message.contains("another program"), "{message}");
    assert_eq!(message.lines().count(), 1, "said once: {message}");
}

/// A small SQLite database of another program.
fn another_programs_database() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("other.db");
    let connection = rusqlite::Connection::open(&path).expect("sqlite");
    connection
        .execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT);")
        .expect("table");
    drop(connection);
    std::fs::read(path).expect("read")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_fetch_honours_retry_after_unless_forced() {
    let server = MockServer::start().await;
    common::serve(
        &server,
        "/busy.xml",
        wiremock::ResponseTemplate::new(429).insert_header("Retry-After", "3600"),
    )
    .await;
    let sandbox = Sandbox::new(&[("busy", format!("{}/busy.xml", server.uri()))], "");
    let first = sandbox.run_async(&["fetch"]).await;
    assert_eq!(first.status.code(), Some(1), "{}", stdout(&first));
    let second = sandbox.run_async(&["fetch"]).await;
    assert_eq!(second.status.code(), Some(0), "{}", stdout(&second));
    assert!(
        stdout(&second).contains("busy: skipped (the server asked not to be fetched before"),
        "{}",
        stdout(&second)
    );
    let requests = || async { server.received_requests().await.expect("recorded").len() };
    assert_eq!(requests().await, 1, "the second fetch asked nothing");
    let forced = sandbox.run_async(&["fetch", "--force"]).await;
    assert_eq!(forced.status.code(), Some(1), "{}", stdout(&forced));
    assert_eq!(requests().await, 2, "--force asks anyway");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_database_costs_no_twin_files() {
    let server = MockServer::start().await;
    serve_fixture(&server, "/a.xml", "rss2.xml").await;
    serve_fixture(&server, "/b.json", "feed.json").await;
    let sandbox = Sandbox::new(
        &[
            ("notes", format!("{}/a.xml", server.uri())),
            ("radio", format!("{}/b.json", server.uri())),
        ],
        "",
    );
    assert_eq!(sandbox.run_async(&["fetch"]).await.status.code(), Some(0));
    let before = sandbox.articles();
    assert!(before.len() >= 3, "{:?}", before.keys());
    sandbox.lose_database();
    let again = sandbox.run_async(&["fetch"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    let after = sandbox.articles();
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "no twin beside any article"
    );
    let status = sandbox.run_async(&["status"]).await;
    assert!(
        stdout(&status)
            .lines()
            .any(|l| l.starts_with("notes ") && l.contains(" 2 ")),
        "status knows the articles again: {}",
        stdout(&status)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reindex_restores_what_a_lost_database_knew() {
    let server = MockServer::start().await;
    serve_fixture(&server, "/a.xml", "rss2.xml").await;
    let sandbox = Sandbox::new(&[("notes", format!("{}/a.xml", server.uri()))], "");
    assert_eq!(sandbox.run_async(&["fetch"]).await.status.code(), Some(0));
    let before = sandbox.articles();
    sandbox.lose_database();
    let reindex = sandbox.run_async(&["reindex"]).await;
    assert_eq!(reindex.status.code(), Some(0), "{}", stderr(&reindex));
    assert!(
        stdout(&reindex).contains(&format!("{} article(s) recorded", before.len())),
        "{}",
        stdout(&reindex)
    );
    let status = sandbox.run_async(&["status"]).await;
    assert!(
        stdout(&status)
            .lines()
            .any(|l| l.starts_with("notes ") && l.contains(&format!(" {} ", before.len()))),
        "{}",
        stdout(&status)
    );
    let fetch = sandbox.run_async(&["fetch"]).await;
    assert!(
        stdout(&fetch).contains("notes: 0 new"),
        "the stories are known again: {}",
        stdout(&fetch)
    );
    assert_eq!(
        sandbox.articles().keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    let again = sandbox.run_async(&["reindex"]).await;
    assert!(
        stdout(&again).contains("0 article(s) recorded"),
        "{}",
        stdout(&again)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_ends_fetch_with_a_summary_of_what_was_done() {
    let server = MockServer::start().await;
    serve_fixture(&server, "/fast.xml", "rss2.xml").await;
    // A server that accepts and never answers.
    let silent = common::RawServer::start(|stream| async move {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        drop(stream);
    })
    .await;
    let sandbox = Sandbox::new(
        &[
            ("fast", format!("{}/fast.xml", server.uri())),
            ("silent", silent.url("/feed.xml")),
        ],
        "",
    );
    let child = sandbox.spawn(&["fetch"]);
    // Wait until the fast feed's pass is recorded (its result is in the database).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status = sandbox.run_async(&["status"]).await;
        let recorded = stdout(&status)
            .lines()
            .any(|l| l.starts_with("fast ") && l.contains(" ok "));
        let done = recorded && sandbox.articles().len() == 2;
        if done || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The files are there; the flush and the report follow within moments.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let status = std::process::Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
        .await
        .expect("join");
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(130), "{out}");
    assert!(out.contains("fast: 2 new"), "{out}");
    assert!(out.contains("total: 1 feed(s), 2 new"), "{out}");
    assert!(
        out.contains("interrupted: 1 of 2 feed(s) not finished"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_writes_its_metrics_file() {
    let server = MockServer::start().await;
    serve_fixture(&server, "/a.xml", "rss2.xml").await;
    let sandbox = Sandbox::new(&[("notes", format!("{}/a.xml", server.uri()))], "");
    let file = sandbox.dir.path().join("tidings.prom");
    let output = sandbox
        .run_async(&[
            "fetch",
            "--metrics-file",
            file.to_str().expect("utf-8 path"),
        ])
        .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = std::fs::read_to_string(&file).expect("metrics file");
    assert!(text.contains("tidings_articles_written_total 2"), "{text}");
    assert!(
        text.contains("tidings_feed_passes_total{result=\"ok\"} 1"),
        "{text}"
    );
    assert!(text.contains("tidings_pending_articles 0"), "{text}");
}
