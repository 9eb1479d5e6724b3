//! What feeds contain: encodings, breakage real feeds have, dates, hostile documents.
//! Each document is served over HTTP on 127.0.0.1 and fetched by the real binary.

mod common;

use common::{Sandbox, serve_body, stdout};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn title_of(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("title: \""))
        .map(|t| t.trim_end_matches('"').to_string())
        .unwrap_or_default()
}

fn rss_with_title(declaration: &str, title: &str) -> String {
    format!(
        "{declaration}<rss version=\"2.0\"><channel><title>t</title><link>https://example.org/</link><item><title>{title}</title><guid>1</guid><pubDate>Tue, 09 Jul 2024 18:30:00 +0000</pubDate><description>d</description></item></channel></rss>"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn titles_in_legacy_encodings_come_out_as_the_right_characters() {
    // (feed name, encoding, title, how the encoding is announced)
    let cases: &[(&str, &str, &str, &str)] = &[
        ("latin1", "ISO-8859-1", "Café crème brûlée", "declaration"),
        ("cp1251", "windows-1251", "Новости дня", "http"),
        ("cp1252", "windows-1252", "“Smart” quotes – €5", "nothing"),
        ("gbk", "GBK", "中文新闻标题", "declaration:gb2312"),
        ("sjis", "Shift_JIS", "日本語のニュース", "declaration"),
        ("koi8", "KOI8-R", "Привет мир", "http"),
    ];
    let server = MockServer::start().await;
    let mut feeds = Vec::new();
    for (name, encoding, title, announced) in cases {
        let codec = encoding_rs::Encoding::for_label(encoding.as_bytes()).expect("known encoding");
        let (declaration, content_type) = match *announced {
            "declaration" => (
                format!("<?xml version=\"1.0\" encoding=\"{encoding}\"?>"),
                "text/xml".to_string(),
            ),
            "declaration:gb2312" => (
                "<?xml version=\"1.0\" encoding=\"gb2312\"?>".to_string(),
                "text/xml".to_string(),
            ),
            "http" => (String::new(), format!("text/xml; charset={encoding}")),
            _ => (String::new(), "text/xml".to_string()),
        };
        let text = rss_with_title(&declaration, title);
        let (bytes, _, unmappable) = codec.encode(&text);
        assert!(!unmappable, "{encoding} can hold {title}");
        serve_body(
            &server,
            &format!("/{name}.xml"),
            bytes.into_owned(),
            &content_type,
        )
        .await;
        feeds.push((*name, format!("{}/{name}.xml", server.uri())));
    }
    // UTF-16LE with a byte order mark.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            rss_with_title("<?xml version=\"1.0\" encoding=\"UTF-16\"?>", "Ünïcödé ☃")
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    serve_body(&server, "/utf16.xml", utf16, "application/xml").await;
    feeds.push(("utf16", format!("{}/utf16.xml", server.uri())));
    // UTF-8 mislabelled as Latin-1 stays UTF-8.
    serve_body(
        &server,
        "/mislabelled.xml",
        rss_with_title("", "Ελληνικά").into_bytes(),
        "text/xml; charset=iso-8859-1",
    )
    .await;
    feeds.push(("mislabelled", format!("{}/mislabelled.xml", server.uri())));

    let sandbox = Sandbox::new(&feeds, "");
    let output = sandbox.run_async(&["fetch"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let articles = sandbox.articles();
    let title = |feed: &str| {
        articles
            .iter()
            .find(|(k, _)| k.starts_with(&format!("{feed}/")))
            .map(|(_, text)| title_of(text))
            .unwrap_or_default()
    };
    for (name, _, expected, _) in cases {
        assert_eq!(title(name), *expected, "{name}");
    }
    assert_eq!(title("utf16"), "Ünïcödé ☃");
    assert_eq!(title("mislabelled"), "Ελληνικά");
}

#[tokio::test(flavor = "multi_thread")]
async fn common_breakage_is_repaired() {
    let server = MockServer::start().await;
    let item = |title: &str| {
        format!(
            "<item><title>{title}</title><link>https://example.org/{}</link><pubDate>Tue, 09 Jul 2024 18:30:00 +0000</pubDate></item>",
            title.len() * 100 + title.bytes().map(usize::from).sum::<usize>()
        )
    };
    let documents: Vec<(&str, String)> = vec![
        (
            "amp",
            format!(
                "<rss version=\"2.0\"><channel><title>t</title>{}</channel></rss>",
                item("Salt & Pepper")
            ),
        ),
        (
            "entities",
            format!(
                "<rss version=\"2.0\"><channel><title>t</title>{}</channel></rss>",
                item("A&nbsp;B &mdash; C&hellip;")
            ),
        ),
        (
            "junk",
            format!(
                "\n\n   Warning: something in feed.php\n<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>{}</channel></rss>",
                item("After junk")
            ),
        ),
        (
            "phpxml",
            format!(
                "<?phpxml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel><title>t</title>{}</channel></rss>",
                item("After phpxml")
            ),
        ),
        (
            "truncated",
            format!(
                "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>{}{}<item><title>Cut o",
                item("Complete one"),
                item("Complete two")
            ),
        ),
    ];
    let mut feeds = Vec::new();
    for (name, body) in &documents {
        serve_body(
            &server,
            &format!("/{name}.xml"),
            body.clone().into_bytes(),
            "application/rss+xml",
        )
        .await;
        feeds.push((*name, format!("{}/{name}.xml", server.uri())));
    }
    let sandbox = Sandbox::new(&feeds, "");
    let output = sandbox.run_async(&["fetch"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let titles: Vec<String> = sandbox.articles().values().map(|t| title_of(t)).collect();
    for expected in [
        "Salt & Pepper",
        "A B — C…",
        "After junk",
        "After phpxml",
        "Complete one",
        "Complete two",
    ] {
        assert!(
            titles.iter().any(|t| t == expected),
            "{expected:?} not in {titles:?}"
        );
    }
    assert_eq!(titles.len(), 6, "{titles:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn entity_bombs_and_external_entities_are_not_expanded() {
    let server = MockServer::start().await;
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>t</title><item><title>Laughs &lol9;</title><link>https://example.org/l</link></item></channel></rss>"#;
    let secret = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(secret.path(), "TOP-SECRET-CONTENT").expect("write");
    let external = format!(
        r#"<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{}">]><rss version="2.0"><channel><title>t</title><item><title>Steal &xxe;</title><link>https://example.org/x</link></item></channel></rss>"#,
        secret.path().display()
    );
    serve_body(
        &server,
        "/laughs.xml",
        laughs.as_bytes().to_vec(),
        "application/rss+xml",
    )
    .await;
    serve_body(
        &server,
        "/xxe.xml",
        external.into_bytes(),
        "application/rss+xml",
    )
    .await;
    let sandbox = Sandbox::new(
        &[
            ("laughs", format!("{}/laughs.xml", server.uri())),
            ("xxe", format!("{}/xxe.xml", server.uri())),
        ],
        "",
    );
    let output = sandbox.run_async(&["fetch"]).await;
    let out = stdout(&output);
    // Either the entry is kept with the reference unexpanded or the feed is refused; never
    // a gigabyte of "lol", never the file's contents.
    assert!(out.contains("laughs:") && out.contains("xxe:"), "{out}");
    for text in sandbox.articles().values() {
        assert!(
            !text.contains("lollollol"),
            "expanded: {}",
            &text[..text.len().min(300)]
        );
        assert!(!text.contains("TOP-SECRET"), "external entity read");
        assert!(text.len() < 10_000);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn entry_count_and_field_length_are_bounded() {
    let server = MockServer::start().await;
    let items: String = (0..50)
        .map(|i| format!("<item><title>Item {i}</title><guid>g{i}</guid><pubDate>Tue, 09 Jul 2024 18:{i:02}:00 +0000</pubDate><description>{}</description></item>", "word ".repeat(2000)))
        .collect();
    let body = format!("<rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>");
    serve_body(
        &server,
        "/big.xml",
        body.into_bytes(),
        "application/rss+xml",
    )
    .await;
    let sandbox = Sandbox::new(
        &[("big", format!("{}/big.xml", server.uri()))],
        "[fetch]\nmax_entries = 10\nmax_field_bytes = 2048\n",
    );
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(
        stdout(&output).contains("big: 10 new"),
        "{}",
        stdout(&output)
    );
    assert!(
        stdout(&output).contains("(fetch.max_entries)"),
        "the cut is reported: {}",
        stdout(&output)
    );
    for text in sandbox.articles().values() {
        assert!(text.len() < 2048 + 1500, "{} bytes", text.len());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_without_a_date_keeps_its_first_seen_date() {
    let server = MockServer::start().await;
    let version = |body: &str| {
        format!(
            "<rss version=\"2.0\"><channel><title>t</title><item><title>Undated</title><guid>u1</guid><description>{body}</description></item></channel></rss>"
        )
    };
    Mock::given(method("GET"))
        .and(path("/undated.xml"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(version("first"), "application/rss+xml"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/undated.xml"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(version("edited"), "application/rss+xml"),
        )
        .mount(&server)
        .await;
    let sandbox = Sandbox::new(&[("undated", format!("{}/undated.xml", server.uri()))], "");
    sandbox.run_async(&["fetch"]).await;
    let first = sandbox.articles();
    let date = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("date: "))
            .map(str::to_string)
    };
    let first_date = date(first.values().next().expect("article")).expect("date");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = sandbox.run_async(&["fetch"]).await;
    assert!(stdout(&second).contains("1 updated"), "{}", stdout(&second));
    let after = sandbox.articles();
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        first.keys().collect::<Vec<_>>()
    );
    let text = after.values().next().expect("article");
    assert!(text.contains("edited"));
    assert_eq!(
        date(text).expect("date"),
        first_date,
        "the date never moves"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_feed_whose_entries_cannot_be_read_fails_instead_of_reporting_nothing_new() {
    let server = MockServer::start().await;
    let unreadable = r#"<rss version="2.0"><channel><title>t</title><x:item xmlns:x="urn:x"><title>a</title></x:item><x:item xmlns:x="urn:x"><title>b</title></x:item><x:item xmlns:x="urn:x"><title>c</title></x:item></channel></rss>"#;
    serve_body(
        &server,
        "/odd.xml",
        unreadable.as_bytes().to_vec(),
        "application/rss+xml",
    )
    .await;
    let sandbox = Sandbox::new(&[("odd", format!("{}/odd.xml", server.uri()))], "");
    let output = sandbox.run_async(&["fetch"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let message = "parse: 3 <item> elements but no entries read";
    assert!(
        stdout(&output).contains(&format!("odd: failed: {message}")),
        "{}",
        stdout(&output)
    );
    let status = sandbox.run_async(&["status"]).await;
    assert!(stdout(&status).contains(message), "{}", stdout(&status));
}
