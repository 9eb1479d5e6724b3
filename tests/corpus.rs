//! Reality check: every real feed of the shared corpus (beside this checkout, as in CI)
//! served over HTTP and fetched in one run. Every feed yields articles or fails with a
//! specific message, nothing panics, and every article loads with a strict YAML parser and
//! renders as CommonMark with only absolute http(s) links and no raw HTML; Hugo builds
//! them all without a warning.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{Sandbox, shared, stderr, stdout};
use pulldown_cmark::{Event, Parser, Tag};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The corpus files whose failure is expected, with the reason the message must give.
const EXPECTED_FAILURES: &[(&str, &str)] = &[
    (
        "reuters_invalid.rss",
        "cut off before its first complete entry",
    ),
    ("document_moved_html.rss", "not a feed"),
];

fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next() {
        Some("json") => "application/json",
        Some("atom") => "application/atom+xml",
        Some("rdf") => "application/rdf+xml",
        _ => "application/rss+xml",
    }
}

/// The links and images of a markdown body, and whether it holds raw HTML.
fn markdown_facts(markdown: &str) -> (Vec<String>, Vec<String>) {
    let mut urls = Vec::new();
    let mut raw_html = Vec::new();
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::Link { dest_url, .. })
            | Event::Start(Tag::Image { dest_url, .. }) => {
                urls.push(dest_url.to_string());
            }
            Event::Html(html) | Event::InlineHtml(html) => raw_html.push(html.to_string()),
            _ => {}
        }
    }
    (urls, raw_html)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_corpus_is_fetched_cleanly() {
    let server = MockServer::start().await;
    let mut config = String::from(
        "[output]\ndir = \"site/content/posts\"\n[fetch]\nconcurrency = 8\nper_host = 8\n",
    );
    let mut names = BTreeMap::new();
    for (file, bytes) in corpus_files() {
        let file = file.as_str();
        let mut template = ResponseTemplate::new(200)
            .set_body_raw(bytes, content_type(file.trim_end_matches(".gz")));
        if file.ends_with(".gz") {
            template = template.insert_header("Content-Encoding", "gzip");
        }
        Mock::given(method("GET"))
            .and(path(format!("/{file}")))
            .respond_with(template)
            .mount(&server)
            .await;
        let name: String = file
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        config.push_str(&format!(
            "[[feeds]]\nname = \"{name}\"\nurl = \"{}/{file}\"\n",
            server.uri()
        ));
        names.insert(name, file.to_string());
    }
    let sandbox = Sandbox::with_config_text(&config);
    let output = sandbox.run_async(&["fetch"]).await;
    let out = stdout(&output);
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
    assert_eq!(
        output.status.code(),
        Some(1),
        "three corpus files cannot be read: {out}"
    );

    let mut failed = Vec::new();
    for line in out.lines().filter(|l| l.contains(": failed: ")) {
        let (name, reason) = line.split_once(": failed: ").expect("failure line");
        let file = &names[name];
        let expected = EXPECTED_FAILURES.iter().find(|(f, _)| f == file);
        assert!(
            expected.is_some_and(|(_, why)| reason.contains(why)),
            "{file} failed unexpectedly: {reason}"
        );
        failed.push(file.clone());
    }
    assert_eq!(failed.len(), EXPECTED_FAILURES.len(), "{out}");
    // No silent zero: every feed that did not fail yields articles (new ones, or stories
    // another feed of the corpus wrote first).
    let report_lines = || {
        out.lines()
            .filter(|l| l.contains(" new, ") && !l.starts_with("total:"))
    };
    for line in report_lines() {
        let (name, counts) = line.split_once(": ").expect("report line");
        let numbers: Vec<usize> = counts
            .split(", ")
            .filter_map(|part| part.split(' ').next()?.parse().ok())
            .collect();
        let (new, duplicates) = (numbers[0], numbers[3]);
        assert!(
            new + duplicates > 0,
            "{} yields nothing: {line}",
            names[name]
        );
    }
    assert_eq!(report_lines().count() + failed.len(), names.len(), "{out}");

    let articles_dir = sandbox.dir.path().join("site/content/posts");
    let mut articles = BTreeMap::new();
    let mut stack = vec![articles_dir.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                articles.insert(path.clone(), std::fs::read_to_string(&path).expect("utf-8"));
            }
        }
    }
    let mut with_links = 0;
    for (path, text) in &articles {
        let rest = text.strip_prefix("---\n").expect("front matter");
        let end = rest.find("\n---\n").expect("closing ---");
        let yaml: serde_json::Value = serde_saphyr::from_str(&rest[..end + 1])
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            yaml["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{}",
            path.display()
        );
        let body = &rest[end + 5..];
        let (urls, raw_html) = markdown_facts(body);
        assert!(
            raw_html.is_empty(),
            "{}: raw HTML {raw_html:?}",
            path.display()
        );
        for url in &urls {
            assert!(
                url.starts_with("https://") || url.starts_with("http://"),
                "{}: {url}",
                path.display()
            );
        }
        with_links += usize::from(!urls.is_empty());
        // Outside code: no runs of blank lines, no line that is only a backslash (a hard
        // break with nothing after it, which Hugo prints), no control characters, no
        // escaped shortcode inside code.
        let mut in_fence = false;
        let mut blank_run = 0;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_fence = !in_fence;
            }
            assert!(!line.ends_with(' '), "{}: trailing space", path.display());
            assert!(
                !line.chars().any(|c| c.is_control() && c != '\t'),
                "{}: control character in {line:?}",
                path.display()
            );
            if in_fence {
                assert!(!line.contains("{{&lt;"), "{}: {line}", path.display());
                continue;
            }
            blank_run = if line.is_empty() { blank_run + 1 } else { 0 };
            assert!(blank_run < 2, "{}: blank lines", path.display());
            assert!(line.trim() != "\\", "{}: a lone backslash", path.display());
        }
    }
    eprintln!(
        "corpus: {} feeds, {} failed ({failed:?}), {} articles, {with_links} with links",
        names.len(),
        failed.len(),
        articles.len()
    );
    assert!(articles.len() > 1500);

    if Command::new("hugo")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let site = sandbox.dir.path().join("site");
        for file in [
            "hugo.toml",
            "layouts/_default/single.html",
            "layouts/_default/list.html",
        ] {
            let from = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/hugo-site")
                .join(file);
            std::fs::create_dir_all(site.join(file).parent().expect("parent")).expect("mkdir");
            std::fs::copy(from, site.join(file)).expect("copy");
        }
        let build = Command::new("hugo")
            .arg("--source")
            .arg(&site)
            .output()
            .expect("hugo");
        let log = format!("{}{}", stdout(&build), stderr(&build));
        assert!(
            build.status.success() && !log.contains("WARN") && !log.contains("ERROR"),
            "{log}"
        );
    } else {
        panic!("this test needs Hugo: apt-get install hugo");
    }
}

/// Every file the corpus manifest lists, with its bytes.
fn corpus_files() -> Vec<(String, Vec<u8>)> {
    let manifest = String::from_utf8(shared("corpus/MANIFEST.tsv")).expect("utf-8 manifest");
    manifest
        .lines()
        .skip(1)
        .map(|line| {
            let file = line.split('\t').next().unwrap_or_default().to_string();
            let bytes = shared(&format!("corpus/{file}"));
            (file, bytes)
        })
        .collect()
}

/// A corpus file as the parser is given it.
fn corpus_source<'a>(file: &str, bytes: &'a [u8]) -> tidings::Source<'a> {
    tidings::Source {
        bytes,
        http_charset: None,
        content_type: Some(content_type(file.trim_end_matches(".gz"))),
        base_url: "https://corpus.example/feed",
        zone: chrono_tz::Tz::UTC,
        max_bytes: 1 << 26,
    }
}

/// The HTML bodies (content, then summary) of every entry of every corpus feed that
/// parses, each with its file's name.
fn corpus_entry_bodies() -> Vec<(String, String)> {
    let mut bodies = Vec::new();
    for (file, bytes) in corpus_files() {
        let Ok(document) = tidings::parse_document(&corpus_source(&file, &bytes), None) else {
            continue;
        };
        for entry in &document.feed.entries {
            let content = entry.content.as_ref().and_then(|c| c.body.clone());
            let summary = entry.summary.as_ref().map(|s| s.content.clone());
            bodies.extend(
                content
                    .into_iter()
                    .chain(summary)
                    .map(|html| (file.clone(), html)),
            );
        }
    }
    bodies
}

/// Leaving known entries out before parsing reads every other entry exactly as parsing
/// the whole document does, on every real feed of the corpus.
#[test]
fn entries_left_out_as_known_leave_the_others_read_as_before() {
    use tidings::{KnownEntries, parse_document};
    let (mut feeds, mut shortened) = (0, 0);
    for (file, bytes) in corpus_files() {
        let file = file.as_str();
        let source = corpus_source(file, &bytes);
        let Ok(whole) = parse_document(&source, None) else {
            continue;
        };
        // JSON Feed has no prints: its documents are always read whole.
        let Some(prints) = whole.prints else {
            continue;
        };
        feeds += 1;
        // Every other entry known.
        let digests: std::collections::HashSet<u128> =
            prints.entries.iter().step_by(2).map(|(d, _)| *d).collect();
        let known = KnownEntries {
            frame: prints.frame,
            digests: &digests,
        };
        let shorter = parse_document(&source, Some(known)).expect("parses with entries known");
        let shorter_prints = shorter.prints.expect("prints");
        let left_out: Vec<bool> = shorter_prints.entries.iter().map(|(_, l)| *l).collect();
        let expected: Vec<_> = whole
            .feed
            .entries
            .iter()
            .zip(&left_out)
            .filter(|(_, left_out)| !**left_out)
            .map(|(entry, _)| entry)
            .collect();
        let read: Vec<_> = shorter.feed.entries.iter().collect();
        assert_eq!(read, expected, "{file}");
        if shorter_prints.left_out() > 0 {
            shortened += 1;
            assert_eq!(
                shorter_prints.left_out() + read.len(),
                whole.feed.entries.len(),
                "{file}"
            );
        }
    }
    eprintln!("{shortened} of {feeds} feeds read shorter with every other entry known");
    assert!(feeds > 70, "{feeds}");
    assert_eq!(
        shortened, feeds,
        "every feed with prints can be read shorter"
    );
}

#[test]
fn the_stack_builder_makes_html5evers_tree_of_every_entry_it_takes() {
    use tidings::{HtmlParser, both_trees, convert_parsed};
    let base = url::Url::parse("https://corpus.example/post/").expect("base");
    let (mut bodies, mut taken) = (0, 0);
    for (file, html) in corpus_entry_bodies() {
        bodies += 1;
        if let Some((html5ever, stack)) = both_trees(&html) {
            taken += 1;
            assert_eq!(stack, html5ever, "{file}: {html}");
        }
        assert_eq!(
            convert_parsed(&html, Some(&base), HtmlParser::Fastest),
            convert_parsed(&html, Some(&base), HtmlParser::Html5ever),
            "{file}: {html}"
        );
    }
    eprintln!("the stack builder took {taken} of {bodies} entry bodies");
    assert!(bodies > 2_000, "{bodies}");
    // The speed of conversion rests on most bodies being taken.
    assert!(taken * 2 > bodies, "{taken} of {bodies}");
}

/// tidings' markdown writer writes what htmd writes for every entry body it takes, and
/// takes most of them.
#[test]
fn the_markdown_writer_writes_htmds_markdown_of_every_entry_it_takes() {
    let base = url::Url::parse("https://corpus.example/post/").expect("base");
    let (mut bodies, mut taken) = (0, 0);
    for (file, html) in corpus_entry_bodies() {
        bodies += 1;
        if let Some((htmd, own)) = tidings::both_writers(&html, Some(&base)) {
            taken += 1;
            assert_eq!(own, htmd, "{file}: {html}");
        }
    }
    eprintln!("the markdown writer took {taken} of {bodies} entry bodies");
    assert!(bodies > 2_000, "{bodies}");
    // The speed of conversion rests on most bodies being taken.
    assert!(taken * 2 > bodies, "{taken} of {bodies}");
}

/// Every link and image address in the corpus's entries: the quick check of links
/// already written as the URL parser writes them gives what the parser gives, and takes
/// most of them.
#[test]
fn links_taken_as_text_agree_with_the_url_parser_on_every_corpus_link() {
    use tidings::{CleanedUrl, clean_url, clean_url_text};
    let base = url::Url::parse("https://corpus.example/post/").expect("base");
    let attribute =
        regex::Regex::new(r#"(?i)\b(?:href|src|data-src)\s*=\s*(?:"([^"]*)"|'([^']*)')"#)
            .expect("pattern");
    let (mut links, mut as_text) = (0, 0);
    for (file, html) in corpus_entry_bodies() {
        for found in attribute.captures_iter(&html) {
            let Some(value) = found.get(1).or_else(|| found.get(2)) else {
                continue;
            };
            let raw = html_escape::decode_html_entities(value.as_str());
            links += 1;
            let quick = clean_url_text(&raw, Some(&base));
            let parsed = clean_url(&raw, Some(&base));
            as_text += usize::from(matches!(quick, Some(CleanedUrl::Text { .. })));
            assert_eq!(
                quick.as_ref().map(|u| (u.as_str(), u.host(), u.path())),
                parsed
                    .as_ref()
                    .map(|u| (u.as_str(), u.host_str().unwrap_or_default(), u.path())),
                "{file}: {raw}"
            );
        }
    }
    eprintln!("{as_text} of {links} corpus links were taken as text");
    assert!(links > 5_000, "{links}");
    assert!(as_text * 2 > links, "{as_text} of {links}");
}

/// The built-in layout, written without the template engine, is byte for byte what the
/// shipped template renders, for every entry of every real feed.
#[test]
fn the_built_in_layout_renders_every_entry_as_the_template_does() {
    use tidings::config::FrontMatter;
    use tidings::{
        ArticleTemplate, FeedContext, RenderSettings, article_context, identify_entries, normalise,
        parse_document, render_article,
    };
    let dir = std::path::Path::new("/nowhere");
    let config = tidings::config::parse(
        "[[feeds]]\nname = \"corpus\"\nurl = \"https://corpus.example/feed\"\n",
        &dir.join("t.toml"),
        dir,
    )
    .expect("config");
    let shipped = ArticleTemplate::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/article.md.j2"
    )))
    .expect("the shipped template loads");
    let front_matter = FrontMatter {
        widgets: vec!["recent".to_string()],
        comments: true,
        ..FrontMatter::default()
    };
    let settings = RenderSettings {
        feed_name: "corpus",
        timezone: chrono_tz::Tz::America__New_York,
        front_matter: &front_matter,
        entry_tags: true,
        auto_thumbnail: true,
        template: ArticleTemplate::builtin(),
        feed_title: None,
        feed_url: "https://corpus.example/feed",
        first_seen: None,
    };
    let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let mut rendered = 0;
    for (file, bytes) in corpus_files() {
        let file = file.as_str();
        let Ok(parsed) = parse_document(&corpus_source(file, &bytes), None) else {
            continue;
        };
        let base = url::Url::parse("https://corpus.example/feed").expect("url");
        let context = FeedContext::from_feed(&parsed.feed, &base);
        let identities = identify_entries(&parsed.feed.entries, &context);
        for (entry, identity) in parsed.feed.entries.iter().zip(identities) {
            let article = normalise(entry, identity, &context, &config.feeds[0], 320);
            let date = article.date(now);
            let built_in = render_article(&article, date, &settings).expect("renders");
            let through_the_template = shipped
                .render(&article_context(&article, date, &settings))
                .expect("the shipped template renders");
            assert_eq!(built_in, through_the_template, "{file}: {}", article.title);
            rendered += 1;
        }
    }
    eprintln!("{rendered} entries rendered both ways");
    assert!(rendered > 1_800, "{rendered}");
}
