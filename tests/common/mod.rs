//! Shared set-up for the integration tests: a temporary folder with a config file, the
//! real `tidings` binary, and helpers to read what it wrote.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use tempfile::TempDir;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Answers every GET of `at` with `template`.
pub async fn serve(server: &MockServer, at: &str, template: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(template)
        .mount(server)
        .await;
}

/// Answers every GET of `at` with 200 and `body` as `content_type`.
pub async fn serve_body(server: &MockServer, at: &str, body: Vec<u8>, content_type: &str) {
    serve(
        server,
        at,
        ResponseTemplate::new(200).set_body_raw(body, content_type),
    )
    .await;
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// Answers every GET of `at` with the fixture `name`, typed by its extension.
pub async fn serve_fixture(server: &MockServer, at: &str, name: &str) {
    let content_type = if name.ends_with(".json") {
        "application/feed+json"
    } else {
        "application/rss+xml"
    };
    serve_body(server, at, fixture(name), content_type).await;
}

/// A file of the design folder that sits beside the checkout (`../shared/…`: the golden
/// pair, the corpus). CI always has it, so a missing file fails the test loudly rather
/// than letting it pass without checking anything.
pub fn shared(relative: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(relative);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{} is needed by this test and is missing ({e}); ../shared must sit beside the checkout, as it does in CI",
            path.display()
        )
    })
}

/// `config` with `fetch.allow_private_networks = true`: the tests' servers listen on
/// 127.0.0.1, which tidings refuses by default.
pub fn allowing_loopback(config: &str) -> String {
    if config.contains("allow_private_networks") {
        config.to_string()
    } else if config.contains("[fetch]\n") {
        config.replacen("[fetch]\n", "[fetch]\nallow_private_networks = true\n", 1)
    } else {
        // At the end, so line numbers in error messages stay those of the test's text.
        format!("{config}\n[fetch]\nallow_private_networks = true\n")
    }
}

/// A throw-away tidings installation: config, database and output in one temp folder.
pub struct Sandbox {
    pub dir: TempDir,
}

impl Sandbox {
    /// `feeds` are `(name, url)` pairs; `extra` is more TOML placed before them.
    pub fn new(feeds: &[(&str, String)], extra: &str) -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = String::from(extra);
        config.push('\n');
        for (name, url) in feeds {
            config.push_str(&format!(
                "[[feeds]]\nname = \"{name}\"\nurl = \"{url}\"\n\n"
            ));
        }
        std::fs::write(dir.path().join("tidings.toml"), allowing_loopback(&config))
            .expect("write config");
        Sandbox { dir }
    }

    pub fn with_config_text(text: &str) -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("tidings.toml"), allowing_loopback(text))
            .expect("write config");
        Sandbox { dir }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("tidings.toml")
    }

    pub fn articles_dir(&self) -> PathBuf {
        self.dir.path().join("articles")
    }

    pub fn database(&self) -> PathBuf {
        self.dir.path().join("state/tidings.db")
    }

    /// Runs `tidings --config <sandbox config> ARGS…` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::cargo_bin("tidings").expect("binary");
        command
            .arg("--config")
            .arg(self.config_path())
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("TIDINGS_CONFIG");
        command.output().expect("run tidings")
    }

    /// Starts `tidings --config <sandbox config> ARGS…` without waiting for it, output
    /// captured: for several processes at once.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin!("tidings"))
            .arg("--config")
            .arg(self.config_path())
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("TIDINGS_CONFIG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start tidings")
    }

    /// Runs the binary from a blocking thread, for use inside async tests.
    pub async fn run_async(&self, args: &[&str]) -> Output {
        let config = self.config_path();
        let cwd = self.dir.path().to_path_buf();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let mut command = Command::cargo_bin("tidings").expect("binary");
            command
                .arg("--config")
                .arg(config)
                .args(&args)
                .current_dir(cwd)
                .env_remove("RUST_LOG")
                .env_remove("TIDINGS_CONFIG");
            command.output().expect("run tidings")
        })
        .await
        .expect("join")
    }

    /// Deletes the database and its WAL files, as a lost disk or a careless hand would.
    pub fn lose_database(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = self.database().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }

    /// The `title` of every article written, sorted.
    pub fn titles(&self) -> Vec<String> {
        let mut titles: Vec<String> = self
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

    /// Every file under the output folder, whatever it is: relative paths (with `/`).
    pub fn all_files(&self) -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![self.articles_dir()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(relative) = path.strip_prefix(self.articles_dir()) {
                    found.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        found.sort();
        found
    }

    /// Every markdown file under the output folder: relative path (with `/`) -> contents.
    pub fn articles(&self) -> BTreeMap<String, String> {
        let mut files = BTreeMap::new();
        collect_files(&self.articles_dir(), &self.articles_dir(), &mut files);
        files
    }
}

fn collect_files(root: &Path, dir: &Path, into: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect_files(root, &path, into);
        } else if path.extension().is_some_and(|e| e == "md") {
            let relative = path
                .strip_prefix(root)
                .expect("under root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            into.insert(
                relative,
                std::fs::read_to_string(&path).expect("utf-8 article"),
            );
        }
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A bare TCP server on 127.0.0.1 for what an HTTP mock cannot do: slow drips, endless
/// bodies, lying headers, and counting connections. `handler` gets each accepted stream.
pub struct RawServer {
    pub port: u16,
}

impl RawServer {
    pub async fn start<F, Fut>(handler: F) -> RawServer
    where
        F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let handler = std::sync::Arc::new(handler);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = std::sync::Arc::clone(&handler);
                tokio::spawn(async move { handler(stream).await });
            }
        });
        RawServer { port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Reads an HTTP request head from `stream` (up to the blank line).
pub async fn read_request_head(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Copies the folder `from` (recursively) to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}
