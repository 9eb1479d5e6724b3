//! Full text: the time to extract and convert one article page (dom_smoothie's Readability
//! pass and the sanitising markdown conversion), on the test fixtures' pages grown to a
//! realistic size.
//!
//!     cargo bench --bench extract              # 200 rounds
//!     cargo bench --bench extract -- --quick   # 20 rounds
//!
//! Prints the median and the 90th percentile per page. The target is ≤ 20 ms median.

use std::time::Instant;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 20 } else { 200 };
    // Forty extra paragraphs (a long story, ~11 KB), and a heavy page: four hundred and
    // 60 KB of inline script and styles, as real news pages carry (~110 KB).
    measure(rounds, 40, 0);
    measure(rounds / 2, 400, 60 * 1024);
}

fn measure(rounds: usize, paragraphs: usize, script_bytes: usize) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pages");
    let url = url::Url::parse("https://news.example/2024/07/story.html").expect("url");
    let mut pages = Vec::new();
    for name in ["news", "blog", "cookie", "german", "lazy"] {
        let html = std::fs::read_to_string(dir.join(format!("{name}.html"))).expect("fixture");
        let grown = html.replacen(
            "<p>",
            &"<p>Another paragraph of the story, with a <a href=\"/x\">link</a> and some more words to read.</p>\n<p>".repeat(paragraphs),
            1,
        );
        let script = format!(
            "<script>var data = \"{}\";</script>",
            "x".repeat(script_bytes)
        );
        let grown = grown.replacen("</head>", &format!("{script}</head>"), 1);
        pages.push((name, grown));
    }
    let mut times = Vec::with_capacity(rounds * pages.len());
    let mut chars = 0;
    for _ in 0..rounds {
        for (name, html) in &pages {
            let started = Instant::now();
            let markdown = tidings::extract_markdown(html, &url, None)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            times.push(started.elapsed());
            chars += markdown.len();
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    let p90 = times[times.len() * 9 / 10];
    let size: usize = pages.iter().map(|(_, h)| h.len()).sum::<usize>() / pages.len();
    println!(
        "extract + convert: {} pages of ~{} KB, median {:.2} ms, p90 {:.2} ms, max {:.2} ms ({} bytes of markdown a round)",
        times.len(),
        size / 1024,
        median.as_secs_f64() * 1000.0,
        p90.as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
        chars / rounds
    );
}
