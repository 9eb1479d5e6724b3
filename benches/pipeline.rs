//! End-to-end benchmark of the real pipeline against a loopback farm of feeds.
//!
//!     cargo bench --bench pipeline                      # 1000 feeds x 50 items
//!     cargo bench --bench pipeline -- --quick           # 100 feeds x 20 items
//!     cargo bench --bench pipeline -- --feeds 200 --items 50
//!     cargo bench --bench pipeline -- --feeds 200 --items 50 --rounds 5
//!
//! The farm runs in a child process (this binary with `--serve`), so the CPU time and
//! peak memory reported are the pipeline's alone. Each round: newsboat's cold
//! `-x reload` of the farm when `newsboat` is on the PATH (Debian package `newsboat`),
//! tidings' cold pass (empty database and output), then the stage floors on the same
//! bytes in a child process (this binary with `--floors`): fetch only (tidings' client,
//! 16 in flight), parse only, convert only, render only (the built-in layout), write
//! only, SQLite only; then the same floors in two children at once, so that both cores are
//! busy as they are through a pass (the figure beside the one-core floors says how much
//! of the pass's CPU is the two cores slowing each other). Rounds: 3, or `--rounds N`;
//! 1 with `--quick`. Every round's
//! ratios (wall against newsboat, CPU against the floors' sum) are printed and their
//! medians are the figures: this machine's speed swings by up to 2x from one minute to
//! the next, so only figures taken in the same round compare. After the rounds: warm
//! (every feed answers 304) and new (every feed gained 2 entries). CPU is shown as
//! user + sys for every pass.

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

// ---- the feed farm -------------------------------------------------------------------

/// About 5.7 KB of WordPress-style article HTML: paragraphs with links, a figure with
/// srcset, a block quote and a list.
fn article_html(feed: usize, item: usize) -> String {
    let mut html = String::with_capacity(6000);
    for p in 0..6 {
        html.push_str(&format!(
            "<p>Paragraph {p} of story {item} in feed {feed}. The <a href=\"https://example.com/{feed}/{item}/{p}?utm_source=rss&amp;utm_medium=feed\">linked report</a> says the market grew by {p}% this quarter, while <strong>analysts</strong> expected a <em>smaller</em> change; the company declined to comment on what comes next &#8211; as usual.</p>\n"
        ));
        if p == 1 {
            html.push_str(&format!(
                "<figure class=\"wp-block-image\"><img loading=\"lazy\" width=\"1024\" height=\"683\" src=\"https://cdn.example.com/{feed}/{item}.jpg?w=1024\" srcset=\"https://cdn.example.com/{feed}/{item}.jpg?w=300 300w, https://cdn.example.com/{feed}/{item}.jpg?w=768 768w, https://cdn.example.com/{feed}/{item}.jpg?w=1024 1024w\" sizes=\"(max-width: 1024px) 100vw, 1024px\" alt=\"Photo {item}\"><figcaption>Image credit: Example Photo Agency</figcaption></figure>\n"
            ));
        }
        if p == 3 {
            html.push_str("<blockquote class=\"wp-block-quote\"><p>We are very happy with the results, and we expect the next quarter to be even better for all of our customers.</p><cite>A spokesperson</cite></blockquote>\n");
            html.push_str("<ul><li>First point, with <a href=\"https://example.org/a\">a link</a></li><li>Second point</li><li>Third point, longer than the others by a few words</li></ul>\n");
        }
    }
    html
}

fn feed_document(feed: usize, items: usize, generation: usize) -> String {
    let newest = items + 2 * generation;
    let atom = feed.is_multiple_of(10);
    let mut doc = String::with_capacity(items * 6200);
    if atom {
        doc.push_str(&format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Feed {feed}</title><link href=\"https://example.com/{feed}/\"/><id>urn:feed:{feed}</id><updated>2025-02-12T00:00:00Z</updated>"));
    } else {
        doc.push_str(&format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\" xmlns:content=\"http://purl.org/rss/1.0/modules/content/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel><title>Feed {feed}</title><link>https://example.com/{feed}/</link><description>Farm feed</description><language>en-US</language>"));
    }
    for item in (newest - items..newest).rev() {
        let html = article_html(feed, item);
        let minute = item % 60;
        let hour = (item / 60) % 24;
        if atom {
            doc.push_str(&format!("<entry><title>Story {item} of feed {feed}</title><link href=\"https://example.com/{feed}/{item}/\"/><id>urn:entry:{feed}:{item}</id><published>2025-02-11T{hour:02}:{minute:02}:00Z</published><summary>Summary of story {item}.</summary><content type=\"html\"><![CDATA[{html}]]></content></entry>"));
        } else {
            doc.push_str(&format!("<item><title>Story {item} of feed {feed}</title><link>https://example.com/{feed}/{item}/</link><dc:creator><![CDATA[Author {feed}]]></dc:creator><pubDate>Tue, 11 Feb 2025 {hour:02}:{minute:02}:00 +0000</pubDate><category><![CDATA[News]]></category><guid isPermaLink=\"false\">https://example.com/?p={feed}{item:05}</guid><description><![CDATA[Summary of story {item} in feed {feed}, a short excerpt [&#8230;]]]></description><content:encoded><![CDATA[{html}]]></content:encoded></item>"));
        }
    }
    doc.push_str(if atom { "</feed>" } else { "</channel></rss>" });
    doc
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// The current generation of the farm and its gzipped documents, one per feed.
type Generation = (usize, Vec<Arc<Vec<u8>>>);

/// The farm: answers `GET /f/<n>.xml` with the gzipped feed (or 304 for a matching
/// If-None-Match) and `GET /generation/<g>` by switching every feed to generation `g`.
fn serve(feeds: usize, items: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("{}", listener.local_addr().expect("addr").port());
        let documents: Arc<std::sync::RwLock<Generation>> = Arc::new(std::sync::RwLock::new((0, Vec::new())));
        let build = move |generation: usize| (0..feeds).map(|f| Arc::new(gzip(feed_document(f, items, generation).as_bytes()))).collect::<Vec<_>>();
        *documents.write().expect("lock") = (0, build(0));
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let documents = Arc::clone(&documents);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut reader = tokio::io::BufReader::new(read);
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut if_none_match = None;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((_, value)) = line
                            .split_once(':')
                            .filter(|(name, _)| name.eq_ignore_ascii_case("if-none-match"))
                        {
                            if_none_match = Some(value.trim().to_string());
                        }
                    }
                    let target = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let response: Vec<u8> = if let Some(g) = target.strip_prefix("/generation/") {
                        let generation: usize = g.parse().unwrap_or(0);
                        let built = build(generation);
                        *documents.write().expect("lock") = (generation, built);
                        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()
                    } else {
                        let feed: usize = target.trim_start_matches("/f/").trim_end_matches(".xml").parse().unwrap_or(usize::MAX);
                        let (generation, body) = {
                            let guard = documents.read().expect("lock");
                            (guard.0, guard.1.get(feed).cloned())
                        };
                        let etag = format!("\"g{generation}-{feed}\"");
                        match body {
                            None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                            Some(_) if if_none_match.as_deref() == Some(etag.as_str()) => {
                                format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n").into_bytes()
                            }
                            Some(body) => {
                                let mut out = format!("HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\nContent-Encoding: gzip\r\nETag: {etag}\r\nLast-Modified: Wed, 12 Feb 2025 00:00:00 GMT\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
                                out.extend_from_slice(&body);
                                out
                            }
                        }
                    };
                    if write.write_all(&response).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

// ---- measuring -------------------------------------------------------------------------

/// CPU seconds in user space and in the kernel, and the peak RSS (KiB), of this process.
fn self_usage() -> (f64, f64, u64) {
    // SAFETY: rusage is plain integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own and reads nothing else.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    (
        seconds(usage.ru_utime),
        seconds(usage.ru_stime),
        usage.ru_maxrss as u64,
    )
}

fn seconds(time: libc::timeval) -> f64 {
    time.tv_sec as f64 + time.tv_usec as f64 / 1e6
}

struct Measured {
    name: &'static str,
    wall: Duration,
    cpu: f64,
    user: f64,
    sys: f64,
    peak_kib: u64,
    articles: usize,
}

/// Wall and CPU time of `work` in this process, and the process's peak RSS after it.
fn measure(name: &'static str, articles: usize, work: impl FnOnce()) -> Measured {
    let (user_before, sys_before, _) = self_usage();
    let started = Instant::now();
    work();
    let wall = started.elapsed();
    let (user_after, sys_after, peak_kib) = self_usage();
    let (user, sys) = (user_after - user_before, sys_after - sys_before);
    Measured {
        name,
        wall,
        cpu: user + sys,
        user,
        sys,
        peak_kib,
        articles,
    }
}

fn print(m: &Measured) {
    let rate = if m.wall.as_secs_f64() > 0.0 {
        m.articles as f64 / m.wall.as_secs_f64()
    } else {
        0.0
    };
    println!(
        "{:<16} wall {:>7.2} s   cpu {:>6.2} s (user {:>5.2} + sys {:>5.2})   peak rss {:>6.1} MiB   {:>6} articles   {:>8.0} articles/s",
        m.name,
        m.wall.as_secs_f64(),
        m.cpu,
        m.user,
        m.sys,
        m.peak_kib as f64 / 1024.0,
        m.articles,
        rate
    );
}

// ---- the run ---------------------------------------------------------------------------

struct Farm {
    child: Child,
    port: u16,
}

impl Drop for Farm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_farm(feeds: usize, items: usize) -> Farm {
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .args([
            "--serve",
            "--feeds",
            &feeds.to_string(),
            "--items",
            &items.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the farm");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("farm stdout"))
        .read_line(&mut line)
        .expect("farm port");
    Farm {
        port: line.trim().parse().expect("port number"),
        child,
    }
}

/// Writes every dirty page of the machine to disk before a measured run, outside its
/// measure: newsboat leaves its 40 MiB database unflushed when it exits, and the flushes of
/// the tidings pass run right after it wrote that out too (the whole file system's dirty
/// data is what `syncfs` waits for, and the kernel's writeback threads share the two
/// cores). Every run starts from a disk with nothing left to write.
fn settle_disk() {
    // SAFETY: sync takes no arguments and touches no memory of ours.
    unsafe { libc::sync() };
}

/// How the floors' child ends its output: this tag, then the floors' CPU sum in seconds.
const FLOORS_TOTAL: &str = "stage floors total";

/// The stage floors measured in a child process (this binary with `--floors`): prints
/// its lines and returns the sum of the floors' CPU seconds.
fn run_stage_floors(dir: &Path, port: u16, feeds: usize, items: usize) -> f64 {
    let text = floors_child(&dir.join("floors"), port, feeds, items)
        .wait_with_output()
        .expect("run the stage floors");
    let (lines, total) = floors_output(&text);
    for line in lines {
        println!("  {line}");
    }
    total
}

/// The stage floors run twice at the same moment, in two children: the floors' CPU sum
/// when both cores are busy, as they are through a cold pass (this machine's two cores
/// slow each other: one copy of the convert floor took 0.22 s alone and 0.28-0.37 s
/// beside another). The mean of the two sums.
fn run_stage_floors_paired(dir: &Path, port: u16, feeds: usize, items: usize) -> f64 {
    let children: Vec<Child> = ["floors-a", "floors-b"]
        .iter()
        .map(|name| floors_child(&dir.join(name), port, feeds, items))
        .collect();
    let totals: Vec<f64> = children
        .into_iter()
        .map(|child| floors_output(&child.wait_with_output().expect("run the stage floors")).1)
        .collect();
    println!(
        "  stage floors, two copies at once: {}",
        totals
            .iter()
            .map(|total| format!("{total:.2} s"))
            .collect::<Vec<_>>()
            .join(" and ")
    );
    totals.iter().sum::<f64>() / totals.len() as f64
}

fn floors_child(floors_dir: &Path, port: u16, feeds: usize, items: usize) -> Child {
    std::fs::create_dir_all(floors_dir).expect("floors folder");
    Command::new(std::env::current_exe().expect("own path"))
        .arg("--floors")
        .arg(floors_dir)
        .args([
            "--port",
            &port.to_string(),
            "--feeds",
            &feeds.to_string(),
            "--items",
            &items.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the stage floors")
}

/// A floors child's lines (all but the last) and the CPU sum its last line gives.
fn floors_output(output: &std::process::Output) -> (Vec<String>, f64) {
    assert!(output.status.success(), "the stage floors ran");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut total = None;
    let mut lines = Vec::new();
    for line in text.lines() {
        match line.strip_prefix(FLOORS_TOTAL) {
            Some(sum) => total = sum.trim().parse().ok(),
            None => lines.push(line.to_string()),
        }
    }
    (lines, total.expect("the floors' CPU sum"))
}

fn config_text(dir: &Path, port: u16, feeds: usize) -> String {
    let mut text = format!(
        "[storage]\ndatabase = \"{}/state/tidings.db\"\n[output]\ndir = \"{}/articles\"\n[fetch]\nconcurrency = 16\nper_host = 16\n# The farm listens on 127.0.0.1, which tidings refuses by default.\nallow_private_networks = true\n",
        dir.display(),
        dir.display()
    );
    for f in 0..feeds {
        text.push_str(&format!(
            "[[feeds]]\nname = \"f{f}\"\nurl = \"http://127.0.0.1:{port}/f/{f}.xml\"\n"
        ));
    }
    text
}

/// newsboat's cold reload of the same farm (`newsboat -x reload`, 8 reload threads, an
/// empty cache), when `newsboat` is on the PATH: measured from its process's usage.
fn run_newsboat(dir: &Path, port: u16, feeds: usize, items: usize) -> Option<Measured> {
    let available = Command::new("newsboat")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        println!("newsboat: not on the PATH (apt-get install newsboat for the side-by-side run)");
        return None;
    }
    let home = dir.join("newsboat");
    std::fs::create_dir_all(&home).expect("newsboat folder");
    let urls: String = (0..feeds)
        .map(|f| format!("http://127.0.0.1:{port}/f/{f}.xml\n"))
        .collect();
    std::fs::write(home.join("urls"), urls).expect("urls");
    std::fs::write(home.join("config"), "reload-threads 8\n").expect("config");
    let started = Instant::now();
    let child = Command::new("newsboat")
        .args(["-x", "reload", "-u"])
        .arg(home.join("urls"))
        .arg("-c")
        .arg(home.join("cache.db"))
        .arg("-C")
        .arg(home.join("config"))
        .env("HOME", &home)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        println!("newsboat: could not start; no side-by-side figure");
        return None;
    };
    // wait4 gives this one child's usage: RUSAGE_CHILDREN's peak RSS would be the
    // largest of every child so far (the floors' child among them).
    let mut status = 0;
    // SAFETY: rusage is plain integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 writes the child's status and usage into the two values we own, and
    // reaps only the child we started.
    let waited = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    if waited <= 0 || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        println!("newsboat: the reload failed; no side-by-side figure");
        return None;
    }
    let (user, sys) = (seconds(usage.ru_utime), seconds(usage.ru_stime));
    let measured = Measured {
        name: "newsboat cold",
        wall,
        cpu: user + sys,
        user,
        sys,
        peak_kib: usage.ru_maxrss as u64,
        articles: feeds * items,
    };
    Some(measured)
}

fn run_pass(runtime: &tokio::runtime::Runtime, config: &tidings::config::Config) -> usize {
    let pipeline = tidings::Pipeline::open(config.clone()).expect("database and client");
    let reports =
        runtime.block_on(pipeline.run_feeds(&config.feeds, tidings::PassMode::Force, |_| {}));
    let totals = tidings::Totals::of(&reports);
    assert_eq!(totals.failed, 0, "a feed failed: {reports:?}");
    totals.new
}

/// This thread's CPU set, when the system tells it.
fn thread_cpus() -> Option<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is a plain bit array, for which all zeroes is a valid value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: sched_getaffinity writes at most size_of::<cpu_set_t>() bytes into the set
    // we own; pid 0 is the calling thread.
    let asked = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    (asked == 0).then_some(set)
}

/// Sets this thread's CPU set (threads it starts afterwards inherit it).
fn set_thread_cpus(set: &libc::cpu_set_t) -> bool {
    // SAFETY: sched_setaffinity only reads the set we own; pid 0 is the calling thread.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(set), set) == 0 }
}

/// The same cold pass with every thread of it on one CPU (this thread, and a runtime
/// built while it is pinned, which sizes itself for one core): what the pass costs when
/// nothing runs beside it. On this machine the two cores slow each other (a cold fetch
/// pinned with `taskset -c 0` used about a quarter less user time than on both cores),
/// so the two-core pass pays for its speed in CPU time; set against the floors (measured
/// one at a time, on one core each), this is the like-for-like figure. `None` when the
/// CPU set cannot be changed.
fn run_pass_on_one_core(config: &tidings::config::Config, articles: usize) -> Option<Measured> {
    let all = thread_cpus()?;
    let first = (0..libc::CPU_SETSIZE as usize).find(|cpu| {
        // SAFETY: CPU_ISSET reads one bit of a set we own, at an index below its size.
        unsafe { libc::CPU_ISSET(*cpu, &all) }
    })?;
    // SAFETY: cpu_set_t is a plain bit array, for which all zeroes is a valid value.
    let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit of a set we own, at an index below its size.
    unsafe { libc::CPU_SET(first, &mut one) };
    if !set_thread_cpus(&one) {
        return None;
    }
    let measured = tidings::build_runtime().ok().map(|runtime| {
        let mut written = 0;
        let measured = measure("cold, one core", articles, || {
            written = run_pass(&runtime, config)
        });
        assert_eq!(written, articles, "every entry written on one core");
        measured
    });
    let restored = set_thread_cpus(&all);
    assert!(restored, "the bench's CPU set restored");
    measured
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) && middle > 0 {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted.get(middle).copied().unwrap_or(0.0)
    }
}

fn argument(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The stage floors on the bytes the farm serves: each stage alone, one after another,
/// in this process (a child of the benchmark, so the floors' 130 MiB of prepared data
/// stay out of the passes' peak RSS). Prints one line per floor and returns their CPU sum.
/// (The floors' peak RSS column starts at the bench's own when it started the child:
/// Linux keeps the larger of the two across `exec`.)
fn stage_floors(feeds: usize, items: usize, port: u16, dir: &Path) -> f64 {
    let runtime = tidings::build_runtime().expect("runtime");
    let config =
        tidings::config::parse(&config_text(dir, port, feeds), Path::new("bench.toml"), dir)
            .expect("config");
    // The files stay until the bench's own temporary folder goes, after every round: on
    // this machine's journal-less ext4 a new file skips inodes freed in the last minute
    // one by one, so deleting the floors' 10,000 files here slowed the next round's cold
    // pass (its system time grew round after round: 0.57, 0.66, 0.75 s).
    let dir = dir.join("floor-data");
    std::fs::create_dir_all(&dir).expect("floor folder");
    println!("stage floors (same data, one core unless noted):");
    // Fetching: every feed once with tidings' own client (gzip, 16 in flight, both cores).
    let fetcher = tidings::Fetcher::new(&config.fetch).expect("client");
    let urls: Vec<url::Url> = config.feeds.iter().map(|f| f.url.clone()).collect();
    let fetch = measure("fetch only", feeds * items, || {
        runtime.block_on(async {
            let limit = Arc::new(tokio::sync::Semaphore::new(16));
            let mut tasks = tokio::task::JoinSet::new();
            for url in urls {
                let (fetcher, limit) = (fetcher.clone(), Arc::clone(&limit));
                tasks.spawn(async move {
                    let _permit = limit.acquire_owned().await.expect("permit");
                    let request = tidings::FetchRequest {
                        headers: &[],
                        allow_private_networks: true,
                    };
                    let outcome = fetcher
                        .fetch(&url, &tidings::Validators::default(), &request)
                        .await
                        .expect("fetch");
                    matches!(outcome.status, tidings::FetchStatus::Fetched(_))
                });
            }
            while let Some(fetched) = tasks.join_next().await {
                assert!(
                    fetched.expect("task"),
                    "every feed answers with its document"
                );
            }
        })
    });
    print(&fetch);

    let documents: Vec<String> = (0..feeds).map(|f| feed_document(f, items, 0)).collect();
    let parse = measure("parse only", feeds * items, || {
        for doc in &documents {
            let feed = feed_rs::parser::parse(doc.as_bytes()).expect("parse");
            assert_eq!(feed.entries.len(), items);
        }
    });
    print(&parse);
    let html: Vec<String> = (0..feeds)
        .flat_map(|f| (0..items).map(move |i| article_html(f, i)))
        .collect();
    let mut bodies = Vec::with_capacity(html.len());
    let convert = measure("convert only", html.len(), || {
        for h in &html {
            bodies.push(tidings::html_to_markdown(h, None));
        }
    });
    assert!(bodies.iter().all(|b| !b.is_empty()));
    print(&convert);
    // Rendering: the built-in layout over the converted bodies.
    let feed = &config.feeds[0];
    let settings = tidings::RenderSettings {
        feed_name: &feed.name,
        timezone: chrono_tz::Tz::UTC,
        front_matter: &feed.front_matter,
        entry_tags: feed.entry_tags,
        auto_thumbnail: feed.auto_thumbnail,
        template: feed.template(),
        feed_title: Some("Feed 0"),
        feed_url: feed.url.as_str(),
        first_seen: Some(Utc::now()),
    };
    let to_render: Vec<tidings::Article> = bodies
        .into_iter()
        .enumerate()
        .map(|(n, body)| tidings::Article {
            key: format!("k{n}"),
            guid: None,
            raw_hash: String::new(),
            legacy_key: None,
            canonical_link: None,
            title: format!("Story {n}"),
            published: Some(Utc::now()),
            summary: "Summary of the story, a short excerpt".into(),
            body,
            link: Some(format!("https://example.com/{n}/")),
            lang: "en".into(),
            categories: vec![],
            tags: vec![],
            entry_categories: vec!["News".into()],
            thumbnail: None,
            author: Some("Author".into()),
            updated: None,
            enclosures: Vec::new(),
            full_text: None,
        })
        .collect();
    let render = measure("render only", to_render.len(), || {
        for article in &to_render {
            let text = tidings::render_article(article, Utc::now(), &settings).expect("render");
            assert!(text.starts_with("---"));
        }
    });
    print(&render);
    drop(to_render);
    let out = dir.join("floor-files");
    let write = measure("write only", html.len(), || {
        for (n, h) in html.iter().enumerate() {
            let relative = PathBuf::from(format!("f{}/{n}.md", n / items));
            tidings::write_atomic(&out, &relative, h.as_bytes()).expect("write");
        }
        tidings::sync_filesystem(&out).expect("sync");
    });
    print(&write);
    let mut store = tidings::Store::open(&dir.join("floor.db")).expect("database");
    // Paths as the pipeline chooses them, in a folder that stays empty.
    let floor_output = dir.join("floor-output");
    let template = tidings::PathTemplate::parse("{feed}/{id}.md").expect("template");
    let sqlite = measure("sqlite only", html.len(), || {
        for f in 0..feeds {
            let articles: Vec<tidings::Article> = (0..items)
                .map(|i| tidings::Article {
                    key: format!("k{f}-{i}"),
                    guid: None,
                    raw_hash: String::new(),
                    legacy_key: None,
                    canonical_link: Some(format!("https://example.com/{f}/{i}/")),
                    title: format!("Story {i}"),
                    published: None,
                    summary: "Summary".into(),
                    body: html[f * items + i].clone(),
                    link: None,
                    lang: "en".into(),
                    categories: vec![],
                    tags: vec![],
                    entry_categories: vec![],
                    thumbnail: None,
                    author: None,
                    updated: None,
                    enclosures: Vec::new(),
                    full_text: None,
                })
                .collect();
            let options = tidings::ClaimOptions {
                rewrite_updates: true,
                cross_feed_dedup: true,
            };
            let feed = format!("f{f}");
            let paths = tidings::ArticlePaths {
                dir: &floor_output,
                template: &template,
                timezone: chrono_tz::Tz::UTC,
                feed: &feed,
            };
            store
                .claim(&feed, &articles, &[], options, Utc::now(), &paths, None)
                .expect("claim");
        }
    });
    print(&sqlite);
    fetch.cpu + parse.cpu + convert.cpu + render.cpu + write.cpu + sqlite.cpu
}

/// Says which rounds' floors took far longer than the quickest round's: the same work
/// on the same bytes, so the machine was slow then, not the code. On this journal-less
/// ext4 that is what a run started within about five minutes of deleting many files
/// looks like (new files pass over the inodes freed meanwhile one by one): a write floor
/// of 2.7 s of system time against 0.3 s, and that round's ratio means nothing.
fn warn_of_slow_floors(floor_sums: &[f64]) {
    let quickest = floor_sums.iter().copied().fold(f64::INFINITY, f64::min);
    for (round, floors) in floor_sums.iter().enumerate() {
        if *floors > quickest * 1.5 {
            println!(
                "note: round {}'s floors took {floors:.2} s against {quickest:.2} s in the quickest round: the machine was slow in that round (files deleted in the minutes before?), so its ratios say little; leave six minutes between runs",
                round + 1
            );
        }
    }
}

/// Prints a round's cold CPU against a sum of floors; returns the ratio.
fn cpu_against(round: usize, pass: &Measured, floors_named: &str, floors: f64) -> f64 {
    let ratio = pass.cpu / floors;
    println!(
        "round {}: {} CPU {:.2} s vs {floors_named} {floors:.2} s: {ratio:.2}x",
        round + 1,
        pass.name,
        pass.cpu,
    );
    ratio
}

fn print_cpu_medians(pass_named: &str, floors_named: &str, ratios: &[f64]) {
    println!(
        "{pass_named} CPU vs {floors_named}: {:.2}x (median of {} rounds: {})",
        median(ratios),
        ratios.len(),
        listed(ratios)
    );
}

/// Every round's ratio, in order (`4.86x, 4.76x, 5.09x`).
fn listed(ratios: &[f64]) -> String {
    ratios
        .iter()
        .map(|ratio| format!("{ratio:.2}x"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let feeds = argument(&args, "--feeds", if quick { 100 } else { 1000 });
    let items = argument(&args, "--items", if quick { 20 } else { 50 });
    let rounds = argument(&args, "--rounds", if quick { 1 } else { 3 }).max(1);
    if args.iter().any(|a| a == "--serve") {
        serve(feeds, items);
        return;
    }
    // The pipeline's allocator settings, for the floors' child too: the convert floor
    // runs the pass's converter, and without them it took 7% longer (each HTML node just
    // past glibc's default fast-bin size).
    tidings::tune_allocator();
    if let Some(dir) = args
        .iter()
        .position(|a| a == "--floors")
        .and_then(|i| args.get(i + 1))
    {
        let port = u16::try_from(argument(&args, "--port", 0)).expect("port number");
        let floors = stage_floors(feeds, items, port, Path::new(dir));
        println!("{FLOORS_TOTAL} {floors}");
        return;
    }
    let farm = start_farm(feeds, items);
    let dir = tempfile::tempdir_in(
        std::env::var_os("TIDINGS_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
    )
    .expect("temp dir");
    let runtime = tidings::build_runtime().expect("runtime");
    println!(
        "tidings pipeline benchmark: {feeds} feeds x {items} items (10% Atom, gzip, ETag), {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    println!(
        "peak rss before the first pass: {:.1} MiB",
        self_usage().2 as f64 / 1024.0
    );
    // newsboat, tidings and the stage floors take turns, each round on the same farm from
    // the same cold start (an empty cache, database and output folder of the round's own),
    // so every ratio compares one moment of this machine; the median of the rounds is the
    // figure. (This machine's CPU times swing by up to 2x between minutes: a cold pass took
    // 0.65 s of user time in one minute and 1.24 s in another, floors measured once at
    // the end made the CPU ratio swing with them.)
    let mut ratios = Vec::with_capacity(rounds);
    let mut cpu_ratios = Vec::with_capacity(rounds);
    let mut paired_ratios = Vec::with_capacity(rounds);
    let mut floor_sums = Vec::with_capacity(rounds);
    let mut one_core_ratios = Vec::with_capacity(rounds);
    let mut config = None;
    for round in 0..rounds {
        let round_dir = dir.path().join(format!("round-{round}"));
        settle_disk();
        let newsboat = run_newsboat(&round_dir, farm.port, feeds, items);
        if let Some(newsboat) = &newsboat {
            print(newsboat);
        }
        let text = config_text(&round_dir, farm.port, feeds);
        let round_config =
            tidings::config::parse(&text, Path::new("bench.toml"), &round_dir).expect("config");
        let mut written = 0;
        settle_disk();
        let cold = measure("cold", feeds * items, || {
            written = run_pass(&runtime, &round_config)
        });
        assert_eq!(written, feeds * items, "every entry written");
        print(&cold);
        if let Some(newsboat) = &newsboat {
            let ratio = newsboat.wall.as_secs_f64() / cold.wall.as_secs_f64();
            println!(
                "round {}: tidings cold is {ratio:.2}x faster than newsboat (wall), {:.2}x its CPU (user {:.2}x, sys {:.2}x)",
                round + 1,
                cold.cpu / newsboat.cpu,
                cold.user / newsboat.user.max(1e-9),
                cold.sys / newsboat.sys.max(1e-9)
            );
            ratios.push(ratio);
        }
        let one_core_config = tidings::config::parse(
            &config_text(&round_dir.join("one-core"), farm.port, feeds),
            Path::new("bench.toml"),
            &round_dir,
        )
        .expect("config");
        settle_disk();
        let one_core = run_pass_on_one_core(&one_core_config, feeds * items);
        if let Some(one_core) = &one_core {
            print(one_core);
        }
        settle_disk();
        let floors = run_stage_floors(&round_dir, farm.port, feeds, items);
        floor_sums.push(floors);
        cpu_ratios.push(cpu_against(
            round,
            &cold,
            "the sum of the stage floors",
            floors,
        ));
        if let Some(one_core) = &one_core {
            one_core_ratios.push(cpu_against(
                round,
                one_core,
                "the sum of the stage floors",
                floors,
            ));
        }
        settle_disk();
        let paired = run_stage_floors_paired(&round_dir, farm.port, feeds, items);
        paired_ratios.push(cpu_against(
            round,
            &cold,
            "the floors two at a time",
            paired,
        ));
        config = Some(round_config);
    }
    let config = config.expect("at least one round");
    if !ratios.is_empty() {
        println!(
            "side by side: tidings cold is {:.2}x faster than newsboat (wall, median of {} rounds: {})",
            median(&ratios),
            ratios.len(),
            listed(&ratios)
        );
    }
    let mut written = 0;
    settle_disk();
    let warm = measure("warm (304)", 0, || written = run_pass(&runtime, &config));
    assert_eq!(written, 0);
    print(&warm);
    let client = std::net::TcpStream::connect(("127.0.0.1", farm.port)).and_then(|mut s| {
        s.write_all(b"GET /generation/1 HTTP/1.1\r\nHost: farm\r\n\r\n")?;
        let mut reply = String::new();
        BufReader::new(s).read_line(&mut reply)?;
        Ok(reply)
    });
    assert!(
        client.is_ok_and(|r| r.starts_with("HTTP/1.1 200")),
        "farm switched to generation 1"
    );
    settle_disk();
    let new = measure("new (+2/feed)", feeds * 2, || {
        written = run_pass(&runtime, &config)
    });
    assert_eq!(written, feeds * 2);
    print(&new);
    print_cpu_medians("cold", "the sum of the stage floors", &cpu_ratios);
    print_cpu_medians(
        "cold",
        "the floors two at a time (both cores busy)",
        &paired_ratios,
    );
    if !one_core_ratios.is_empty() {
        print_cpu_medians(
            "cold on one core",
            "the sum of the stage floors",
            &one_core_ratios,
        );
    }
    warn_of_slow_floors(&floor_sums);
}
