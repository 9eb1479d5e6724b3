//! Telling the next tool: the `after_pass` command and the webhook, run by the real
//! binary (`fetch` and the daemon) against feeds and a webhook receiver on 127.0.0.1.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Sandbox, serve_body, stderr, stdout};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn rss(items: &[(&str, &str)]) -> Vec<u8> {
    let items: String = items
        .iter()
        .map(|(guid, title)| {
            format!(
                "<item><guid>{guid}</guid><title>{title}</title><link>https://hooks.example/{guid}</link><pubDate>Tue, 09 Jul 2024 18:30:00 +0000</pubDate><description>{title} text</description></item>"
            )
        })
        .collect();
    format!("<rss version=\"2.0\"><channel><title>Hooked</title><link>https://hooks.example/</link>{items}</channel></rss>").into_bytes()
}

/// A TOML string for `text` (paths of the temp dir inside a shell command).
fn toml_string(text: &str) -> String {
    format!("{text:?}")
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

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

/// `tidings run` with its output discarded (a full pipe must not stall it).
struct Daemon(Child);

impl Daemon {
    fn start(sandbox: &Sandbox) -> Daemon {
        let child = Command::new(assert_cmd::cargo::cargo_bin!("tidings"))
            .arg("--config")
            .arg(sandbox.config_path())
            .arg("run")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start daemon");
        Daemon(child)
    }

    /// SIGTERM, then waits for the exit.
    fn terminate(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.0.wait();
    }

    fn is_running(&mut self) -> bool {
        self.0.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const FAST: &str = "[daemon]\nstartup_spread_secs = 0\njitter_secs = 0\n";

#[tokio::test(flavor = "multi_thread")]
async fn the_hook_gets_the_written_paths_and_counts_and_runs_only_when_files_changed() {
    let server = MockServer::start().await;
    serve_body(
        &server,
        "/feed.xml",
        rss(&[("1", "One"), ("2", "Two")]),
        "application/rss+xml",
    )
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = dir.path().join("paths.txt");
    let runs = dir.path().join("runs.txt");
    let script = format!(
        "cat >> '{}'; echo \"$TIDINGS_NEW $TIDINGS_UPDATED\" >> '{}'",
        paths.display(),
        runs.display()
    );
    let sandbox = Sandbox::new(
        &[("hooked", format!("{}/feed.xml", server.uri()))],
        &format!(
            "[hooks]\nafter_pass = [\"sh\", \"-c\", {}]\n",
            toml_string(&script)
        ),
    );
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let mut expected: Vec<String> = sandbox
        .articles()
        .keys()
        .map(|relative| sandbox.articles_dir().join(relative).display().to_string())
        .collect();
    expected.sort();
    let mut got: Vec<String> = read(&paths).lines().map(str::to_string).collect();
    got.sort();
    assert_eq!(
        got, expected,
        "the hook reads every written file's absolute path"
    );
    assert_eq!(read(&runs), "2 0\n");

    // Nothing new: the hook does not run.
    let again = sandbox.run_async(&["fetch", "--force"]).await;
    assert!(again.status.success());
    assert_eq!(read(&runs), "2 0\n");

    // One entry edited, one new: one run, told 1 new and 1 updated.
    server.reset().await;
    serve_body(
        &server,
        "/feed.xml",
        rss(&[("1", "One, corrected"), ("2", "Two"), ("3", "Three")]),
        "application/rss+xml",
    )
    .await;
    let third = sandbox.run_async(&["fetch", "--force"]).await;
    assert!(third.status.success(), "{}", stderr(&third));
    assert_eq!(read(&runs), "2 0\n1 1\n");
    assert_eq!(read(&paths).lines().count(), 4);

    let status = sandbox.run_async(&["status"]).await;
    assert!(
        stdout(&status).contains("hook after_pass"),
        "{}",
        stdout(&status)
    );
    assert!(
        stdout(&status).contains("ok (2 file(s))"),
        "{}",
        stdout(&status)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_hook_is_reported_and_loses_no_article() {
    let server = MockServer::start().await;
    serve_body(
        &server,
        "/feed.xml",
        rss(&[("1", "One")]),
        "application/rss+xml",
    )
    .await;
    let sandbox = Sandbox::new(
        &[("hooked", format!("{}/feed.xml", server.uri()))],
        "[hooks]\nafter_pass = [\"sh\", \"-c\", \"echo broken index >&2; exit 3\"]\n",
    );
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(
        output.status.success(),
        "a hook's failure is not a feed's: {}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("hook failed"),
        "{}",
        stderr(&output)
    );
    assert_eq!(sandbox.articles().len(), 1);
    let status = sandbox.run_async(&["status"]).await;
    let text = stdout(&status);
    assert!(
        text.contains("FAILED (1 in a row)") && text.contains("broken index"),
        "{text}"
    );

    let missing = Sandbox::new(
        &[("hooked", format!("{}/feed.xml", server.uri()))],
        "[hooks]\nafter_pass = [\"/nonexistent/hook\"]\n",
    );
    let output = missing.run_async(&["fetch"]).await;
    assert!(output.status.success());
    assert!(
        stderr(&output).contains("cannot start \"/nonexistent/hook\""),
        "{}",
        stderr(&output)
    );
    assert_eq!(missing.articles().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_hook_is_killed_at_the_timeout_and_the_daemon_goes_on() {
    let server = MockServer::start().await;
    serve_body(
        &server,
        "/feed.xml",
        rss(&[("1", "One")]),
        "application/rss+xml",
    )
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    // A marker only this test's hook carries, to look for it among the processes.
    let marker = format!("tidings-hang-{}", std::process::id());
    let script = format!("sleep 1000; echo {marker}");
    let sandbox = Sandbox::with_config_text(&format!(
        "{FAST}[hooks]\ntimeout_secs = 3\nafter_pass = [\"sh\", \"-c\", {}]\n[[feeds]]\nname = \"hooked\"\nurl = \"{}/feed.xml\"\nschedule = \"*/1 * * * * *\"\n",
        toml_string(&script),
        server.uri()
    ));
    let mut daemon = Daemon::start(&sandbox);
    assert!(eventually(Duration::from_secs(10), || sandbox.articles().len() == 1).await);
    let running = || {
        Command::new("pgrep")
            .arg("-f")
            .arg(&marker)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    assert!(
        eventually(Duration::from_secs(5), running).await,
        "the hook started"
    );
    assert!(
        eventually(Duration::from_secs(10), || !running()).await,
        "the hook and its children are killed at the timeout"
    );
    let status = sandbox.run_async(&["status"]).await;
    assert!(
        stdout(&status).contains("killed after 3s"),
        "{}",
        stdout(&status)
    );

    // The daemon goes on: a new entry is written.
    server.reset().await;
    serve_body(
        &server,
        "/feed.xml",
        rss(&[("1", "One"), ("2", "Two")]),
        "application/rss+xml",
    )
    .await;
    assert!(eventually(Duration::from_secs(10), || sandbox.articles().len() == 2).await);
    assert!(daemon.is_running());
    // The new file starts the hook again; SIGTERM stops the daemon and the hook with it.
    assert!(
        eventually(Duration::from_secs(5), running).await,
        "the hook ran again"
    );
    daemon.terminate();
    assert!(
        eventually(Duration::from_secs(15), || !running()).await,
        "a stopping daemon leaves no hook behind"
    );
    drop(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn in_the_daemon_one_hook_runs_at_a_time() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = FAST.to_string();
    for n in 0..4 {
        // Four feeds due at the same moment: their passes finish while a hook runs.
        let body = rss(&[(&format!("{n}-a"), "A")]);
        serve_body(&server, &format!("/f{n}.xml"), body, "application/rss+xml").await;
        config.push_str(&format!(
            "[[feeds]]\nname = \"f{n}\"\nurl = \"{}/f{n}.xml\"\nschedule = \"*/1 * * * * *\"\n",
            server.uri()
        ));
    }
    let (lock, overlap, runs) = (
        dir.path().join("lock"),
        dir.path().join("overlap"),
        dir.path().join("runs"),
    );
    let script = format!(
        "if [ -e '{lock}' ]; then touch '{overlap}'; fi; touch '{lock}'; cat >> '{runs}'; echo run >> '{runs}'; sleep 1; rm -f '{lock}'",
        lock = lock.display(),
        overlap = overlap.display(),
        runs = runs.display()
    );
    config.push_str(&format!(
        "[hooks]\nafter_pass = [\"sh\", \"-c\", {}]\n",
        toml_string(&script)
    ));
    let sandbox = Sandbox::with_config_text(&config);
    let _daemon = Daemon::start(&sandbox);
    assert!(eventually(Duration::from_secs(10), || sandbox.articles().len() == 4).await);
    // Every file reaches the hook, in fewer runs than passes when they finish together.
    assert!(
        eventually(Duration::from_secs(10), || {
            let text = read(&runs);
            (0..4).all(|n| text.contains(&format!("/f{n}/")))
        })
        .await,
        "{}",
        read(&runs)
    );
    assert!(!overlap.exists(), "two hooks ran at once");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_webhook_gets_a_signed_post_and_is_retried() {
    let feeds = MockServer::start().await;
    serve_body(
        &feeds,
        "/feed.xml",
        rss(&[("1", "One \"quoted\"")]),
        "application/rss+xml",
    )
    .await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .with_priority(2)
        .mount(&receiver)
        .await;
    let sandbox = Sandbox::new(
        &[("hooked", format!("{}/feed.xml", feeds.uri()))],
        &format!(
            "[hooks]\nwebhook = \"{}/hook\"\nsecret = \"s3cret\"\n",
            receiver.uri()
        ),
    );
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let requests = receiver.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 2, "one 503, then delivered");
    let last = &requests[1];
    let body: serde_json::Value = serde_json::from_slice(&last.body).expect("JSON body");
    let article = &body["articles"][0];
    assert_eq!(article["feed"], "hooked");
    assert_eq!(article["title"], "One \"quoted\"");
    assert_eq!(article["link"], "https://hooks.example/1");
    assert_eq!(article["updated"], false);
    let path = article["path"].as_str().expect("path");
    assert!(std::path::Path::new(path).is_file(), "{path}");
    assert!(
        article["date"]
            .as_str()
            .is_some_and(|d| d.starts_with("2024-07-09"))
    );

    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").expect("key");
    mac.update(&last.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let header = last
        .headers
        .get("x-tidings-signature")
        .and_then(|v| v.to_str().ok())
        .expect("signature header");
    assert_eq!(header, expected);

    let status = sandbox.run_async(&["status"]).await;
    assert!(
        stdout(&status).contains("hook webhook"),
        "{}",
        stdout(&status)
    );
}
