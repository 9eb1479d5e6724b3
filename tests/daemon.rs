//! `tidings run` as a real process against a local server, with second-level schedules:
//! scheduling, backoff, signals and systemd notifications.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Sandbox, fixture, stderr, stdout};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Fast schedules and no spreading, so tests see the plan within seconds.
const FAST: &str = "[daemon]\nstartup_spread_secs = 0\njitter_secs = 0\ngrace_secs = 10\n";

fn feed_toml(name: &str, url: &str, schedule: &str) -> String {
    format!("[[feeds]]\nname = \"{name}\"\nurl = \"{url}\"\nschedule = \"{schedule}\"\n\n")
}

/// The daemon as a child process, killed when dropped if still running.
struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(sandbox: &Sandbox, env: &[(&str, &str)]) -> Daemon {
        // Through `sh … exec` so the daemon keeps the shell's PID, which systemd's
        // WATCHDOG_PID must name.
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg("WATCHDOG_PID=$$; export WATCHDOG_PID; exec \"$0\" \"$@\"")
            .arg(assert_cmd::cargo::cargo_bin!("tidings"))
            .arg("--config")
            .arg(sandbox.config_path())
            .arg("run")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        Daemon {
            child: command.spawn().expect("start daemon"),
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `limit`; its exit code and how long it took.
    fn wait_exit(&mut self, limit: Duration) -> (Option<i32>, Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status.code(), start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("daemon did not exit within {limit:?}");
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Answers every GET of `at` with the feed `body`.
async fn serve_rss(server: &MockServer, at: &str, body: &str) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/rss+xml"),
        )
        .mount(server)
        .await;
}

/// Polls `condition` every 50 ms until it holds or `limit` passes.
async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    condition()
}

fn rss(items: &[(&str, &str)]) -> String {
    let items: String = items
        .iter()
        .map(|(id, title)| {
            format!(
                "<item><title>{title}</title><guid>{id}</guid><link>https://example.org/{id}</link><pubDate>Tue, 09 Jul 2024 18:30:00 +0000</pubDate><description>About {title}.</description></item>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title><link>https://example.org/</link>{items}</channel></rss>"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn new_entries_appear_within_two_periods() {
    let server = MockServer::start().await;
    serve_rss(&server, "/feed.xml", &rss(&[("a1", "First")])).await;
    let config = format!(
        "{FAST}{}",
        feed_toml(
            "live",
            &format!("{}/feed.xml", server.uri()),
            "*/1 * * * * *"
        )
    );
    let sandbox = Sandbox::with_config_text(&config);
    let _daemon = Daemon::start(&sandbox, &[]);
    assert!(
        eventually(Duration::from_secs(10), || sandbox.articles().len() == 1).await,
        "first article"
    );

    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            rss(&[("a2", "Second"), ("a1", "First")]),
            "application/rss+xml",
        ))
        .mount(&server)
        .await;
    let published = Instant::now();
    assert!(
        eventually(Duration::from_secs(2), || sandbox.articles().len() == 2).await,
        "the new entry is written within two 1-second periods"
    );
    assert!(published.elapsed() <= Duration::from_millis(2500));
}

/// Answers 500 to the first `failures` requests, then the feed; notes when each came.
struct FlakyFeed {
    failures: usize,
    seen: Arc<Mutex<Vec<Instant>>>,
}

impl Respond for FlakyFeed {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut seen = self.seen.lock().expect("lock");
        seen.push(Instant::now());
        if seen.len() <= self.failures {
            ResponseTemplate::new(500)
        } else {
            ResponseTemplate::new(200).set_body_raw(rss(&[("b1", "Back")]), "application/rss+xml")
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_feed_backs_off_and_recovers() {
    let server = MockServer::start().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("GET"))
        .and(path("/flaky.xml"))
        .respond_with(FlakyFeed {
            failures: 3,
            seen: Arc::clone(&seen),
        })
        .mount(&server)
        .await;
    let config = format!(
        "{FAST}{}",
        feed_toml(
            "flaky",
            &format!("{}/flaky.xml", server.uri()),
            "*/1 * * * * *"
        )
    );
    let sandbox = Sandbox::with_config_text(&config);
    let _daemon = Daemon::start(&sandbox, &[]);
    assert!(
        eventually(Duration::from_secs(25), || sandbox.articles().len() == 1).await,
        "the feed recovers and its article is written"
    );
    let times = seen.lock().expect("lock").clone();
    assert!(times.len() >= 4, "{} requests", times.len());
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // With a 1 s interval: about 2 s, 4 s, 8 s after the 1st, 2nd and 3rd failure.
    assert!(gaps[0] >= Duration::from_millis(1500), "{gaps:?}");
    assert!(gaps[1] >= gaps[0] + Duration::from_millis(1500), "{gaps:?}");
    assert!(gaps[2] >= gaps[1] + Duration::from_millis(3000), "{gaps:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_adds_a_feed_and_a_broken_config_is_not_taken() {
    let server = MockServer::start().await;
    serve_rss(&server, "/a.xml", &rss(&[("a1", "From A")])).await;
    serve_rss(&server, "/b.xml", &rss(&[("b1", "From B")])).await;
    let feed_a = feed_toml("a", &format!("{}/a.xml", server.uri()), "*/1 * * * * *");
    let sandbox = Sandbox::with_config_text(&format!("{FAST}{feed_a}"));
    let mut daemon = Daemon::start(&sandbox, &[]);
    assert!(eventually(Duration::from_secs(10), || sandbox.articles().len() == 1).await);

    // A broken file: logged, the old configuration keeps running.
    std::fs::write(sandbox.config_path(), "[[feeds]\nbroken").expect("write");
    daemon.signal("HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(daemon.is_running(), "a bad reload must not stop the daemon");

    // Valid TOML with an invalid filter rule: not taken either (feed b is not fetched).
    let feed_b = feed_toml("b", &format!("{}/b.xml", server.uri()), "*/1 * * * * *");
    std::fs::write(
        sandbox.config_path(),
        common::allowing_loopback(&format!(
            "{FAST}[filters]\nblock = [\"title:(unclosed\"]\n{feed_a}{feed_b}"
        )),
    )
    .expect("write");
    daemon.signal("HUP");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(daemon.is_running(), "a bad rule must not stop the daemon");
    assert!(
        !sandbox.articles().keys().any(|k| k.starts_with("b/")),
        "a configuration with a bad rule is not taken"
    );

    std::fs::write(
        sandbox.config_path(),
        common::allowing_loopback(&format!("{FAST}{feed_a}{feed_b}")),
    )
    .expect("write");
    daemon.signal("HUP");
    assert!(
        eventually(Duration::from_secs(10), || sandbox
            .articles()
            .keys()
            .any(|k| k.starts_with("b/")))
        .await,
        "the added feed is fetched"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_the_fetch_in_flight_finish_and_exits_0() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/slow.xml"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(rss(&[("s1", "Slow")]), "application/rss+xml")
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&server)
        .await;
    let config = format!(
        "{FAST}{}",
        feed_toml(
            "slow",
            &format!("{}/slow.xml", server.uri()),
            "*/1 * * * * *"
        )
    );
    let sandbox = Sandbox::with_config_text(&config);
    let mut daemon = Daemon::start(&sandbox, &[]);
    let requested = eventually(Duration::from_secs(10), || {
        futures_lite_block_on_requests(&server) > 0
    })
    .await;
    assert!(requested, "the fetch started");
    daemon.signal("TERM");
    let (code, took) = daemon.wait_exit(Duration::from_secs(15));
    assert_eq!(code, Some(0));
    assert!(
        took < Duration::from_secs(10),
        "within the grace period: {took:?}"
    );
    assert_eq!(
        sandbox.articles().len(),
        1,
        "the in-flight fetch was finished and written"
    );
}

/// The number of requests the server has seen, from synchronous code.
fn futures_lite_block_on_requests(server: &MockServer) -> usize {
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current()
            .block_on(async { server.received_requests().await.map_or(0, |r| r.len()) })
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn systemd_hears_ready_status_watchdog_and_stopping() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(fixture("rss2.xml"), "application/rss+xml"),
        )
        .mount(&server)
        .await;
    let config = format!(
        "{FAST}{}",
        feed_toml(
            "notes",
            &format!("{}/feed.xml", server.uri()),
            "*/1 * * * * *"
        )
    );
    let sandbox = Sandbox::with_config_text(&config);
    let socket_path = sandbox.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut daemon = Daemon::start(
        &sandbox,
        &[
            ("NOTIFY_SOCKET", path_str(&socket_path)),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );

    let mut heard = String::new();
    let mut buffer = [0u8; 4096];
    let start = Instant::now();
    while !(heard.contains("READY=1") && heard.contains("STATUS=") && heard.contains("WATCHDOG=1"))
        && start.elapsed() < Duration::from_secs(10)
    {
        let n = socket.recv(&mut buffer).expect("a notification");
        heard.push_str(&String::from_utf8_lossy(&buffer[..n]));
        heard.push('\n');
    }
    assert!(heard.contains("READY=1"), "{heard}");
    assert!(heard.contains("STATUS="), "{heard}");
    assert!(heard.contains("WATCHDOG=1"), "{heard}");

    daemon.signal("TERM");
    let start = Instant::now();
    while !heard.contains("STOPPING=1") && start.elapsed() < Duration::from_secs(10) {
        let n = socket.recv(&mut buffer).expect("a notification");
        heard.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    assert!(heard.contains("STOPPING=1"), "{heard}");
    assert_eq!(daemon.wait_exit(Duration::from_secs(15)).0, Some(0));
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

#[tokio::test(flavor = "multi_thread")]
async fn server_timing_hints_delay_the_next_fetch() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cached.xml"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(rss(&[("c1", "Cached")]), "application/rss+xml")
                .insert_header("Cache-Control", "max-age=3600"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/limited.xml"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .mount(&server)
        .await;
    serve_rss(&server, "/plain.xml", &rss(&[("p1", "Plain")])).await;
    let config = format!(
        "{FAST}{}{}{}",
        feed_toml(
            "cached",
            &format!("{}/cached.xml", server.uri()),
            "*/1 * * * * *"
        ),
        feed_toml(
            "limited",
            &format!("{}/limited.xml", server.uri()),
            "*/1 * * * * *"
        ),
        feed_toml(
            "plain",
            &format!("{}/plain.xml", server.uri()),
            "*/1 * * * * *"
        ),
    );
    let sandbox = Sandbox::with_config_text(&config);
    let _daemon = Daemon::start(&sandbox, &[]);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let requests = server.received_requests().await.expect("recording");
    let count = |p: &str| requests.iter().filter(|r| r.url.path() == p).count();
    assert!(
        count("/plain.xml") >= 3,
        "the control feed follows its 1 s schedule"
    );
    assert_eq!(
        count("/cached.xml"),
        1,
        "max-age=3600 holds the next fetch back"
    );
    assert_eq!(
        count("/limited.xml"),
        1,
        "Retry-After: 3600 holds the retry back"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_daemon_on_one_database_refuses_to_start() {
    let server = MockServer::start().await;
    serve_rss(&server, "/feed.xml", &rss(&[("a", "A")])).await;
    let sandbox = Sandbox::with_config_text(&feed_toml(
        "f",
        &format!("{}/feed.xml", server.uri()),
        "@hourly",
    ));
    let mut first = Daemon::start(&sandbox, &[]);
    let lock = sandbox.database().with_extension("db.daemon.lock");
    assert!(
        eventually(Duration::from_secs(10), || lock.exists()).await,
        "the first daemon took its lock"
    );
    let second = sandbox.spawn(&["run"]);
    let output = tokio::task::spawn_blocking(move || second.wait_with_output().expect("wait"))
        .await
        .expect("join");
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("another tidings daemon") && message.contains("is running"),
        "{message}"
    );
    assert!(first.is_running(), "the first daemon goes on");
    // Hand-run fetches beside the daemon stay allowed.
    let fetch = sandbox.run_async(&["fetch"]).await;
    assert!(matches!(fetch.status.code(), Some(0)), "{}", stdout(&fetch));
    first.signal("TERM");
    assert_eq!(first.wait_exit(Duration::from_secs(15)).0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_start_up_spread_is_capped_by_the_feeds_interval() {
    let server = MockServer::start().await;
    serve_rss(&server, "/feed.xml", &rss(&[("a", "A")])).await;
    // A minute of start-up spread, a feed due every two seconds.
    let sandbox = Sandbox::with_config_text(&format!(
        "[daemon]\nstartup_spread_secs = 60\njitter_secs = 0\n{}",
        feed_toml(
            "fast",
            &format!("{}/feed.xml", server.uri()),
            "*/2 * * * * *"
        )
    ));
    let started = Instant::now();
    let mut daemon = Daemon::start(&sandbox, &[]);
    let articles = sandbox.articles_dir();
    let fetched = eventually(Duration::from_secs(15), || articles.join("fast").exists()).await;
    assert!(fetched, "no fetch within 15 s");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "first fetch after {:?}, more than the feed's 2 s interval allows",
        started.elapsed()
    );
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(15)).0, Some(0));
}

/// `GET path` on 127.0.0.1:port: status code and body, or `None` when nothing answers.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

#[tokio::test(flavor = "multi_thread")]
async fn health_readiness_and_metrics_are_served_and_counters_move() {
    let server = MockServer::start().await;
    serve_rss(&server, "/feed.xml", &rss(&[("a", "A"), ("b", "B")])).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let sandbox = Sandbox::with_config_text(&format!(
        "[daemon]\nstartup_spread_secs = 0\njitter_secs = 0\nlisten = \"127.0.0.1:{port}\"\n{}",
        feed_toml("f", &format!("{}/feed.xml", server.uri()), "@hourly")
    ));
    let mut daemon = Daemon::start(&sandbox, &[]);
    let counted = eventually(Duration::from_secs(15), || {
        http_get(port, "/metrics").is_some_and(|(_, body)| {
            body.contains("tidings_articles_written_total 2")
                && body.contains("tidings_feed_passes_total{result=\"ok\"} 1")
        })
    })
    .await;
    let metrics = http_get(port, "/metrics")
        .map(|(_, body)| body)
        .unwrap_or_default();
    assert!(counted, "counters moved after the pass: {metrics}");
    assert!(
        metrics.contains("tidings_feed_next_due_timestamp_seconds{feed=\"f\"}"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("tidings_fetched_bytes_total 0\n"),
        "bytes were fetched: {metrics}"
    );
    assert_eq!(http_get(port, "/healthz").map(|(s, _)| s), Some(200));
    assert_eq!(http_get(port, "/readyz").map(|(s, _)| s), Some(200));
    assert_eq!(http_get(port, "/nope").map(|(s, _)| s), Some(404));
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(15)).0, Some(0));
}
