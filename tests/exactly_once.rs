//! Each story written once, at one path, never lost: identity, cross-feed duplicates,
//! edits, history, re-rendering, SIGKILL at random moments, and two processes at once.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Sandbox, stderr, stdout};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn item(guid: Option<&str>, title: &str, link: &str, body: &str) -> String {
    let guid = guid
        .map(|g| format!("<guid isPermaLink=\"false\">{g}</guid>"))
        .unwrap_or_default();
    format!(
        "<item><title>{title}</title>{guid}<link>{link}</link><pubDate>Tue, 09 Jul 2024 18:30:00 +0000</pubDate><description>{body}</description></item>"
    )
}

fn rss(items: &[String]) -> String {
    format!(
        "<rss version=\"2.0\"><channel><title>t</title><link>https://example.org/</link>{}</channel></rss>",
        items.concat()
    )
}

/// Serves successive bodies on each request to `at` (the last one from then on).
async fn serve_sequence(server: &MockServer, at: &str, bodies: &[String]) {
    for (index, body) in bodies.iter().enumerate() {
        let mock = Mock::given(method("GET"))
            .and(path(at))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(body.clone(), "application/rss+xml"),
            )
            .with_priority((index + 1) as u8);
        let mock = if index + 1 < bodies.len() {
            mock.up_to_n_times(1)
        } else {
            mock
        };
        mock.mount(server).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guid_repeated_on_every_item_loses_no_item() {
    let server = MockServer::start().await;
    let first = rss(&[
        item(Some("same"), "One", "https://example.org/1", "a"),
        item(Some("same"), "Two", "https://example.org/2", "b"),
        item(Some("same"), "Three", "https://example.org/3", "c"),
    ]);
    let second = rss(&[
        item(Some("same"), "Four", "https://example.org/4", "d"),
        item(Some("same"), "One", "https://example.org/1", "a"),
        item(Some("same"), "Two", "https://example.org/2", "b"),
    ]);
    serve_sequence(&server, "/feed.xml", &[first, second]).await;
    let sandbox = Sandbox::new(&[("dupes", format!("{}/feed.xml", server.uri()))], "");
    let run1 = sandbox.run_async(&["fetch"]).await;
    assert!(stdout(&run1).contains("dupes: 3 new"), "{}", stdout(&run1));
    let run2 = sandbox.run_async(&["fetch"]).await;
    assert!(
        stdout(&run2).contains("dupes: 1 new, 0 updated, 2 unchanged"),
        "{}",
        stdout(&run2)
    );
    assert_eq!(sandbox.articles().len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_repeated_byte_for_byte_stay_unchanged_and_edits_and_new_ones_are_read() {
    let server = MockServer::start().await;
    let entries = |second_body: &str| {
        [
            item(Some("e1"), "One", "https://example.org/1", "one"),
            item(Some("e2"), "Two", "https://example.org/2", second_body),
            item(Some("e3"), "Three", "https://example.org/3", "three"),
        ]
    };
    let first = rss(&entries("two"));
    let mut next = vec![item(Some("e4"), "Four", "https://example.org/4", "four")];
    next.extend(entries("two, edited"));
    let then = vec![
        item(Some("e5"), "Five", "https://example.org/5", "five"),
        next[1].clone(),
    ];
    serve_sequence(&server, "/feed.xml", &[first, rss(&next), rss(&then)]).await;
    let sandbox = Sandbox::new(&[("f", format!("{}/feed.xml", server.uri()))], "");
    sandbox.run_async(&["fetch"]).await;
    let run2 = sandbox.run_async(&["fetch"]).await;
    assert!(
        stdout(&run2).contains("f: 1 new, 1 updated, 2 unchanged"),
        "{}",
        stdout(&run2)
    );
    let run3 = sandbox.run_async(&["fetch"]).await;
    assert!(
        stdout(&run3).contains("f: 1 new, 0 updated, 1 unchanged"),
        "{}",
        stdout(&run3)
    );
    let articles = sandbox.articles();
    assert_eq!(articles.len(), 5);
    assert!(articles.values().any(|text| text.contains("two, edited")));
    assert!(articles.values().any(|text| text.contains("five")));
}

/// Feeds whose lease some process still holds.
fn leases_held(database: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(database).expect("open database");
    let mut statement = conn
        .prepare("SELECT name FROM feeds WHERE lease_holder IS NOT NULL ORDER BY name")
        .expect("prepare");
    statement
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("names")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_way_a_pass_ends_gives_the_feed_back_to_other_processes() {
    let server = MockServer::start().await;
    let story = rss(&[item(Some("a"), "A", "https://example.org/a", "a")]);
    // new entries, then the same bytes; a document with nothing new; a failure; a 304
    serve_sequence(&server, "/new.xml", &[story]).await;
    let repeated = rss(&[
        item(Some("b"), "B", "https://example.org/b", "b"),
        item(Some("c"), "C", "https://example.org/c", "c"),
    ]);
    let reordered = rss(&[
        item(Some("c"), "C", "https://example.org/c", "c"),
        item(Some("b"), "B", "https://example.org/b", "b"),
    ]);
    serve_sequence(&server, "/known.xml", &[repeated, reordered]).await;
    Mock::given(method("GET"))
        .and(path("/broken.xml"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cached.xml"))
        .and(wiremock::matchers::header_exists("if-none-match"))
        .respond_with(ResponseTemplate::new(304))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cached.xml"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", "\"v1\"")
                .set_body_raw(
                    rss(&[item(Some("d"), "D", "https://example.org/d", "d")]),
                    "application/rss+xml",
                ),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    let sandbox = Sandbox::new(
        &[
            ("new", format!("{}/new.xml", server.uri())),
            ("known", format!("{}/known.xml", server.uri())),
            ("broken", format!("{}/broken.xml", server.uri())),
            ("cached", format!("{}/cached.xml", server.uri())),
        ],
        "",
    );
    let first = sandbox.run_async(&["fetch"]).await;
    assert!(stdout(&first).contains("new: 1 new"), "{}", stdout(&first));
    assert_eq!(leases_held(&sandbox.database()), Vec::<String>::new());
    let second = sandbox.run_async(&["fetch"]).await;
    let report = stdout(&second);
    assert!(report.contains("new: unchanged (same content)"), "{report}");
    assert!(
        report.contains("known: 0 new, 0 updated, 2 unchanged"),
        "{report}"
    );
    assert!(
        report.contains("cached: unchanged (not modified)"),
        "{report}"
    );
    assert_eq!(second.status.code(), Some(1), "the broken feed fails");
    assert_eq!(leases_held(&sandbox.database()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_entry_with_the_guid_of_a_known_one_overwrites_nothing() {
    let server = MockServer::start().await;
    let known = item(
        Some("same"),
        "Known",
        "https://example.org/known",
        "known text",
    );
    let newcomer = item(
        Some("same"),
        "Newcomer",
        "https://example.org/new",
        "new text",
    );
    serve_sequence(
        &server,
        "/feed.xml",
        &[rss(std::slice::from_ref(&known)), rss(&[newcomer, known])],
    )
    .await;
    let sandbox = Sandbox::new(&[("f", format!("{}/feed.xml", server.uri()))], "");
    sandbox.run_async(&["fetch"]).await;
    let run2 = sandbox.run_async(&["fetch"]).await;
    assert!(
        stdout(&run2).contains("f: 1 new, 0 updated, 1 unchanged"),
        "{}",
        stdout(&run2)
    );
    let articles = sandbox.articles();
    assert_eq!(articles.len(), 2, "{articles:?}");
    assert!(articles.values().any(|text| text.contains("known text")));
    assert!(articles.values().any(|text| text.contains("new text")));
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_forgotten_by_prune_are_written_again_while_the_feed_carries_them() {
    let server = MockServer::start().await;
    let old = [
        item(Some("o1"), "Old one", "https://example.org/o1", "old one"),
        item(Some("o2"), "Old two", "https://example.org/o2", "old two"),
    ];
    let mut next = vec![item(Some("n1"), "New", "https://example.org/n1", "new")];
    next.extend(old.clone());
    serve_sequence(&server, "/feed.xml", &[rss(&old), rss(&next)]).await;
    let sandbox = Sandbox::new(&[("f", format!("{}/feed.xml", server.uri()))], "");
    sandbox.run_async(&["fetch"]).await;
    std::fs::remove_dir_all(sandbox.articles_dir()).expect("remove the articles");
    let prune = sandbox.run_async(&["prune", "--older-than", "0"]).await;
    assert!(
        stdout(&prune).contains("forgot 2 entries"),
        "{}",
        stdout(&prune)
    );
    let run2 = sandbox.run_async(&["fetch"]).await;
    assert!(stdout(&run2).contains("f: 3 new"), "{}", stdout(&run2));
    assert_eq!(sandbox.articles().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn links_that_differ_only_by_tracking_parameters_are_one_entry() {
    let server = MockServer::start().await;
    let first = rss(&[item(
        None,
        "Story",
        "https://example.org/story?utm_source=rss&amp;id=7",
        "x",
    )]);
    let second = rss(&[item(
        None,
        "Story",
        "https://example.org/story?id=7&amp;utm_source=twitter&amp;fbclid=abc",
        "x",
    )]);
    serve_sequence(&server, "/feed.xml", &[first, second]).await;
    let sandbox = Sandbox::new(&[("tracked", format!("{}/feed.xml", server.uri()))], "");
    sandbox.run_async(&["fetch"]).await;
    let run2 = sandbox.run_async(&["fetch"]).await;
    assert!(
        stdout(&run2).contains("tracked: 0 new"),
        "{}",
        stdout(&run2)
    );
    assert_eq!(sandbox.articles().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_story_in_two_feeds_is_written_once_unless_a_feed_opts_out() {
    let server = MockServer::start().await;
    let story = |guid: &str| {
        rss(&[item(
            Some(guid),
            "Shared story",
            "https://news.example.org/shared#top",
            "same story",
        )])
    };
    serve_sequence(&server, "/a.xml", &[story("a-1")]).await;
    serve_sequence(&server, "/b.xml", &[story("b-1")]).await;
    serve_sequence(&server, "/c.xml", &[story("c-1")]).await;
    let config = format!(
        "[fetch]\nconcurrency = 1\n[[feeds]]\nname = \"a\"\nurl = \"{0}/a.xml\"\n[[feeds]]\nname = \"b\"\nurl = \"{0}/b.xml\"\n[[feeds]]\nname = \"c\"\nurl = \"{0}/c.xml\"\ndedup = \"feed\"\n",
        server.uri()
    );
    let sandbox = Sandbox::with_config_text(&config);
    let output = sandbox.run_async(&["fetch"]).await;
    let out = stdout(&output);
    assert!(out.contains("a: 1 new"), "{out}");
    assert!(
        out.contains("b: 0 new, 0 updated, 0 unchanged, 1 duplicates"),
        "{out}"
    );
    assert!(
        out.contains("c: 1 new"),
        "dedup = \"feed\" writes its own copy: {out}"
    );
    assert!(out.contains("1 duplicates"), "{out}");
    let folders: Vec<String> = sandbox
        .articles()
        .keys()
        .map(|k| k.split('/').next().unwrap_or("").to_string())
        .collect();
    assert_eq!(folders, ["a", "c"]);
    // The duplicate is remembered: not counted again.
    let again = sandbox.run_async(&["fetch", "b"]).await;
    assert!(
        stdout(&again).contains("b: unchanged (same content)"),
        "{}",
        stdout(&again)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_update_ignore_leaves_the_first_version() {
    let server = MockServer::start().await;
    let v1 = rss(&[item(
        Some("e1"),
        "Title",
        "https://example.org/e1",
        "first version",
    )]);
    let v2 = rss(&[item(
        Some("e1"),
        "Title",
        "https://example.org/e1",
        "second version",
    )]);
    serve_sequence(&server, "/feed.xml", &[v1, v2]).await;
    let config = format!(
        "[output]\non_update = \"ignore\"\n[[feeds]]\nname = \"f\"\nurl = \"{}/feed.xml\"\n",
        server.uri()
    );
    let sandbox = Sandbox::with_config_text(&config);
    sandbox.run_async(&["fetch"]).await;
    let run2 = sandbox.run_async(&["fetch"]).await;
    assert!(
        stdout(&run2).contains("f: 0 new, 0 updated, 1 unchanged"),
        "{}",
        stdout(&run2)
    );
    assert!(
        sandbox
            .articles()
            .values()
            .all(|t| t.contains("first version"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn render_rewrites_from_the_database_and_prune_forgets() {
    let server = MockServer::start().await;
    let body = rss(&[
        item(Some("r1"), "Kept", "https://example.org/r1", "one"),
        item(Some("r2"), "Deleted", "https://example.org/r2", "two"),
    ]);
    serve_sequence(&server, "/feed.xml", &[body]).await;
    let feed = format!(
        "[[feeds]]\nname = \"f\"\nurl = \"{}/feed.xml\"\n",
        server.uri()
    );
    let sandbox = Sandbox::with_config_text(&feed);
    sandbox.run_async(&["fetch"]).await;
    let files = sandbox.articles();
    let deleted = files
        .iter()
        .find(|(_, t)| t.contains("Deleted"))
        .map(|(k, _)| k.clone())
        .expect("article");
    std::fs::remove_file(sandbox.articles_dir().join(&deleted)).expect("delete");

    // Nothing changed: nothing is rewritten.
    let same = sandbox.run_async(&["render"]).await;
    assert!(
        stdout(&same).contains("0 rewritten, 1 unchanged, 1 deleted downstream"),
        "{}",
        stdout(&same)
    );

    std::fs::write(
        sandbox.config_path(),
        common::allowing_loopback(&format!("[front_matter]\nsidebar = \"left\"\n{feed}")),
    )
    .expect("config");
    let requests_before = server.received_requests().await.map_or(0, |r| r.len());
    let render = sandbox.run_async(&["render"]).await;
    assert_eq!(render.status.code(), Some(0), "{}", stderr(&render));
    assert!(
        stdout(&render).contains("1 rewritten, 0 unchanged, 1 deleted downstream"),
        "{}",
        stdout(&render)
    );
    let after = sandbox.articles();
    assert_eq!(after.len(), 1, "the deleted file stays deleted");
    assert!(after.values().all(|t| t.contains("sidebar: \"left\"")));
    assert_eq!(
        server.received_requests().await.map_or(0, |r| r.len()),
        requests_before,
        "render fetches nothing"
    );

    let prune = sandbox.run_async(&["prune", "--older-than", "0"]).await;
    assert!(
        stdout(&prune).contains("forgot 2 entries"),
        "{}",
        stdout(&prune)
    );
    assert!(
        stderr(&prune).contains("writes it again"),
        "{}",
        stderr(&prune)
    );
}

/// A feed of `items` entries for any `/f/<n>.xml`, each entry naming its guid in its text.
struct FeedFarm {
    items: usize,
}

impl Respond for FeedFarm {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let feed = request
            .url
            .path()
            .trim_start_matches("/f/")
            .trim_end_matches(".xml")
            .to_string();
        let items: Vec<String> = (0..self.items)
            .map(|i| {
                let guid = format!("g-{feed}-{i}");
                format!(
                    "<item><title>Feed {feed} story {i}</title><guid>{guid}</guid><link>https://example.org/{feed}/{i}</link><pubDate>Tue, 09 Jul 2024 {:02}:{:02}:00 +0000</pubDate><description>&lt;p&gt;Marker {guid} end. Some &lt;b&gt;text&lt;/b&gt; to convert.&lt;/p&gt;</description></item>",
                    i / 60 % 24,
                    i % 60
                )
            })
            .collect();
        ResponseTemplate::new(200).set_body_raw(
            format!("<rss version=\"2.0\"><channel><title>{feed}</title><link>https://example.org/{feed}</link>{}</channel></rss>", items.concat()),
            "application/rss+xml",
        )
    }
}

fn farm_config(server: &MockServer, feeds: usize, extra: &str) -> String {
    let mut config = format!("{extra}\n[fetch]\nconcurrency = 16\nper_host = 16\n");
    for n in 0..feeds {
        config.push_str(&format!(
            "[[feeds]]\nname = \"f{n}\"\nurl = \"{}/f/{n}.xml\"\nschedule = \"*/1 * * * * *\"\n",
            server.uri()
        ));
    }
    config
}

/// Every guid of the farm, with how many written files carry its marker.
fn marker_counts(sandbox: &Sandbox) -> (BTreeMap<String, usize>, usize) {
    let files = sandbox.articles();
    let mut counts = BTreeMap::new();
    for text in files.values() {
        let marker = text
            .split("Marker ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or("none");
        *counts.entry(marker.to_string()).or_insert(0) += 1;
    }
    (counts, files.len())
}

fn database_facts(database: &Path) -> (String, i64, i64) {
    let conn = rusqlite::Connection::open(database).expect("open database");
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    let written: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM entries WHERE state = 'written'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    let pending: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM entries WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    (integrity, written, pending)
}

/// A tiny deterministic generator for kill delays (the seed is printed for reruns).
struct Lcg(u64);

impl Lcg {
    fn next_millis(&mut self, max: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % max
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_moments_loses_nothing_and_writes_nothing_twice() {
    const FEEDS: usize = 200;
    const ITEMS: usize = 20;
    const KILLS: usize = 25;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("^/f/\\d+\\.xml$"))
        .respond_with(FeedFarm { items: ITEMS })
        .mount(&server)
        .await;
    let sandbox = Sandbox::with_config_text(&farm_config(&server, FEEDS, ""));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    eprintln!("kill test seed: {seed}");
    let mut random = Lcg(seed);
    let binary = assert_cmd::cargo::cargo_bin!("tidings");
    // Kills are drawn from the first half of a whole cold run of the same farm, timed
    // here in a sandbox of its own: fixed delays stopped reaching a run in progress once
    // the cold run got faster than most of them (the runs after it resume less work).
    let reference = Sandbox::with_config_text(&farm_config(&server, FEEDS, ""));
    let started = std::time::Instant::now();
    let whole = reference.run_async(&["fetch"]).await;
    assert_eq!(whole.status.code(), Some(0), "{}", stderr(&whole));
    let window = (started.elapsed().as_millis() as u64 / 2).max(10);
    eprintln!("kill window: {window} ms (half a whole cold run)");
    let mut killed_mid_run = 0;
    for _ in 0..KILLS {
        let mut child = Command::new(binary)
            .arg("--config")
            .arg(sandbox.config_path())
            .arg("fetch")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fetch");
        tokio::time::sleep(Duration::from_millis(5 + random.next_millis(window))).await;
        if child.try_wait().expect("try_wait").is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    // Then runs that are left to finish.
    let finish = sandbox.run_async(&["fetch"]).await;
    assert!(!stderr(&finish).contains("locked"), "{}", stderr(&finish));
    let finish = sandbox.run_async(&["fetch"]).await;
    assert_eq!(
        finish.status.code(),
        Some(0),
        "{}{}",
        stdout(&finish),
        stderr(&finish)
    );

    let (counts, files) = marker_counts(&sandbox);
    let (integrity, written, pending) = database_facts(&sandbox.database());
    eprintln!(
        "kill test: {KILLS} kills ({killed_mid_run} mid-run), {FEEDS} feeds, {} entries, {files} files, {} markers written more than once, {} missing",
        FEEDS * ITEMS,
        counts.values().filter(|c| **c > 1).count(),
        FEEDS * ITEMS - counts.len()
    );
    assert_eq!(integrity, "ok");
    assert_eq!(pending, 0);
    assert_eq!(
        written as usize,
        FEEDS * ITEMS,
        "every entry is recorded as written"
    );
    assert_eq!(files, FEEDS * ITEMS, "one file per entry");
    assert_eq!(counts.len(), FEEDS * ITEMS, "no entry is missing");
    assert!(
        counts.values().all(|c| *c == 1),
        "no entry is written twice"
    );
    let leftovers: Vec<String> = sandbox
        .all_files()
        .into_iter()
        .filter(|f| f.contains("tidings-tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary file is left: {leftovers:?}"
    );
    assert!(
        killed_mid_run > 0,
        "at least one kill hit a run in progress"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_and_hand_run_fetches_share_one_database_safely() {
    const FEEDS: usize = 40;
    const ITEMS: usize = 25;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("^/f/\\d+\\.xml$"))
        .respond_with(FeedFarm { items: ITEMS })
        .mount(&server)
        .await;
    let extra = "[daemon]\nstartup_spread_secs = 0\njitter_secs = 0\n";
    let sandbox = Sandbox::with_config_text(&farm_config(&server, FEEDS, extra));
    let binary = assert_cmd::cargo::cargo_bin!("tidings");
    let log = sandbox.dir.path().join("daemon.log");
    let mut daemon = Command::new(binary)
        .arg("--config")
        .arg(sandbox.config_path())
        .arg("run")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start daemon");
    // Three hand-run fetches at once, while the daemon fetches every second.
    let started = Instant::now();
    let runs: Vec<_> = (0..3)
        .map(|_| {
            Command::new(binary)
                .arg("--config")
                .arg(sandbox.config_path())
                .arg("fetch")
                .output()
        })
        .collect();
    let _ = started;
    let mut busy_skips = 0;
    for run in runs {
        let run = run.expect("fetch ran");
        assert_eq!(
            run.status.code(),
            Some(0),
            "{}{}",
            stdout(&run),
            stderr(&run)
        );
        assert!(!stderr(&run).contains("locked"), "{}", stderr(&run));
        busy_skips += stdout(&run).matches("another tidings process").count();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.id().to_string())
        .status();
    let status = daemon.wait().expect("daemon exit");
    assert_eq!(status.code(), Some(0));
    let daemon_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!daemon_log.contains("locked"), "{daemon_log}");

    let (counts, files) = marker_counts(&sandbox);
    let (integrity, written, pending) = database_facts(&sandbox.database());
    eprintln!(
        "two-process test: {FEEDS} feeds x {ITEMS} entries, 3 concurrent fetches + daemon, {busy_skips} feed passes skipped as busy, {files} files, {} written twice",
        counts.values().filter(|c| **c > 1).count()
    );
    assert_eq!(integrity, "ok");
    assert_eq!(pending, 0);
    assert_eq!(written as usize, FEEDS * ITEMS);
    assert_eq!(files, FEEDS * ITEMS);
    assert!(counts.values().all(|c| *c == 1), "no file written twice");
}
