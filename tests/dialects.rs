//! Every dialect read, every entry kept, titles whole: one small fixture per dialect and
//! per title form, read through the library (parse, identify, normalise) and checked for
//! the titles, links and dates a reader would see. A document whose entries cannot be read
//! is an error, never an empty feed.

use chrono::{DateTime, Utc};
use tidings::config;
use tidings::{
    Article, FeedContext, ParseError, Source, identify_entries, normalise, parse_document,
};

const BASE: &str = "https://feeds.example.org/feed";

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dialects")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read(bytes: &[u8], content_type: &str) -> Result<Vec<Article>, ParseError> {
    let dir = std::path::Path::new("/nowhere");
    let config = config::parse(
        &format!("[[feeds]]\nname = \"f\"\nurl = \"{BASE}\"\n"),
        &dir.join("t.toml"),
        dir,
    )
    .expect("config");
    let parsed = parse_document(
        &Source {
            bytes,
            http_charset: None,
            content_type: Some(content_type),
            base_url: BASE,
            zone: chrono_tz::Tz::UTC,
            max_bytes: 1 << 24,
        },
        None,
    )?;
    assert!(
        parsed.entry_elements <= parsed.feed.entries.len(),
        "{} entry elements, {} entries read",
        parsed.entry_elements,
        parsed.feed.entries.len()
    );
    let context = FeedContext::from_feed(&parsed.feed, &url::Url::parse(BASE).expect("url"));
    let identities = identify_entries(&parsed.feed.entries, &context);
    Ok(parsed
        .feed
        .entries
        .iter()
        .zip(identities)
        .map(|(entry, identity)| normalise(entry, identity, &context, &config.feeds[0], 320))
        .collect())
}

fn articles(name: &str) -> Vec<Article> {
    let content_type = if name.ends_with(".json") {
        "application/feed+json"
    } else {
        "application/xml"
    };
    read(&fixture(name), content_type).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn titles(articles: &[Article]) -> Vec<&str> {
    articles.iter().map(|a| a.title.as_str()).collect()
}

fn links(articles: &[Article]) -> Vec<&str> {
    articles.iter().filter_map(|a| a.link.as_deref()).collect()
}

fn date(text: &str) -> Option<DateTime<Utc>> {
    Some(
        DateTime::parse_from_rfc3339(text)
            .expect("test date")
            .with_timezone(&Utc),
    )
}

#[test]
fn rss_090_in_netscapes_namespace_is_read() {
    let read = articles("rss090.rdf");
    assert_eq!(
        titles(&read),
        ["Linux 2.6 freigegeben", "Neue Firefox-Version"]
    );
    assert_eq!(
        links(&read),
        [
            "https://www.heise.de/newsticker/meldung/1",
            "https://www.heise.de/newsticker/meldung/2"
        ]
    );
}

#[test]
fn rss_091_092_and_094_are_read() {
    let read = articles("rss091.xml");
    assert_eq!(titles(&read), ["Giving the world a pluggable Gnutella"]);
    assert_eq!(links(&read), ["http://writetheweb.com/read.php?item=24"]);
    let read = articles("rss094.xml");
    assert_eq!(titles(&read), ["Ninety-four"]);
    assert_eq!(read[0].published, date("2004-01-05T10:00:00Z"));
}

#[test]
fn rss_092_items_with_only_a_description_are_all_kept() {
    let read = articles("rss092.xml");
    assert_eq!(read.len(), 3, "{:?}", titles(&read));
    let keys: std::collections::HashSet<&str> = read.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys.len(), 3, "each entry has its own key");
    assert!(
        read[0].title.starts_with("It's been a few days"),
        "{}",
        read[0].title
    );
    assert!(
        read[2].body.contains(
            "Audio: [shakedownStreet.mp3, 6.2 MB](http://www.scripting.com/mp3s/shakedownStreet.mp3)"
        ),
        "{}",
        read[2].body
    );
}

#[test]
fn rss_2_in_userlands_default_namespace_is_read() {
    let read = articles("rss2-userland-namespace.xml");
    assert_eq!(titles(&read), ["Первая новость", "Вторая новость"]);
    assert_eq!(
        links(&read),
        ["https://news.example.ru/1", "https://news.example.ru/2"]
    );
    assert_eq!(read[0].published, date("2024-07-09T15:30:00Z"));
}

#[test]
fn atom_03_entries_dates_and_content_modes_are_read() {
    let read = articles("atom03.xml");
    assert_eq!(
        titles(&read),
        ["Atom 0.3 snapshot", "Created only", "Base64"]
    );
    assert_eq!(
        links(&read),
        [
            "http://diveintomark.org/2003/12/13/atom03",
            "http://diveintomark.org/2003/12/14/created",
            "http://diveintomark.org/2003/12/15/base64"
        ]
    );
    assert_eq!(read[0].published, date("2003-12-13T12:29:29Z"));
    assert_eq!(read[1].published, date("2003-12-14T10:00:00Z"));
    assert_eq!(read[2].published, date("2003-12-15T10:00:00Z"));
    assert_eq!(read[0].body, "Escaped **HTML** content.");
    assert_eq!(read[1].body, "Inline *XHTML* content.");
    assert_eq!(read[2].body, "Base64 *encoded* content.");
}

#[test]
fn rss_1_items_without_a_link_are_named_by_rdf_about() {
    let read = articles("rss1-about.rdf");
    assert_eq!(
        titles(&read),
        ["Identified by rdf:about", "Dated by dcterms"]
    );
    assert_eq!(
        links(&read),
        ["https://example.org/a", "https://example.org/b"]
    );
    assert_eq!(read[0].key, "https://example.org/a");
    assert_eq!(read[0].published, date("2024-03-01T12:00:00Z"));
    assert_eq!(read[1].published, date("2024-03-02T12:00:00Z"));
}

#[test]
fn titles_keep_the_text_inside_their_markup_in_every_form() {
    assert_eq!(
        titles(&articles("titles.xml")),
        [
            "Escaped Item Title",
            "CDATA Item Title",
            "Naked Item Title",
            "Mixed naked & text"
        ]
    );
    assert_eq!(
        titles(&articles("atom-titles.xml")),
        [
            "Example test",
            "Example test",
            "Example test",
            "Example test"
        ]
    );
}

#[test]
fn rss_items_take_their_date_from_atom_and_dublin_core_and_absurd_dates_are_missing() {
    let read = articles("rss-dates.xml");
    let dates: Vec<_> = read.iter().map(|a| a.published).collect();
    assert_eq!(
        dates,
        [
            date("2024-05-01T10:00:00Z"),
            date("2024-05-02T10:00:00Z"),
            date("2024-05-03T10:00:00Z"),
            date("2024-05-04T10:00:00Z"),
            date("2024-05-05T10:00:00Z"),
            None
        ]
    );
}

#[test]
fn entries_without_guid_link_or_date_each_keep_their_own_identity() {
    let read = articles("keyless.xml");
    assert_eq!(read.len(), 5);
    let keys: std::collections::HashSet<&str> = read.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
    // The `&#0;` reference is dropped, not the feed.
    assert_eq!(read[4].summary, "Fifth note.");
}

#[test]
fn json_feed_with_a_version_string_and_a_cut_off_json_feed_are_read() {
    let read = articles("jsonfeed-version-string.json");
    assert_eq!(titles(&read), ["One", "Two"]);
    assert_eq!(read[1].published, date("2024-02-02T00:00:00Z"));
    let read = articles("jsonfeed-truncated.json");
    assert_eq!(titles(&read), ["Complete one", "Complete two"]);
}

#[test]
fn a_gzip_file_served_without_content_encoding_is_unpacked() {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&fixture("rss094.xml")).expect("compress");
    let packed = encoder.finish().expect("gzip");
    let read = read(&packed, "application/gzip").expect("a feed");
    assert_eq!(titles(&read), ["Ninety-four"]);
}

#[test]
fn a_document_whose_entries_cannot_be_read_is_an_error_naming_them() {
    // Items in a namespace no reader knows.
    let text = r#"<rss version="2.0"><channel><title>t</title><x:item xmlns:x="urn:x"><title>a</title></x:item><x:item xmlns:x="urn:x"><title>b</title></x:item></channel></rss>"#;
    let error = read(text.as_bytes(), "application/rss+xml").expect_err("no silent zero");
    assert_eq!(
        error.to_string(),
        "parse: 2 <item> elements but no entries read (an unsupported dialect or namespace?)"
    );
    // A feed that really has no entries is not an error.
    let empty = r#"<rss version="2.0"><channel><title>t</title></channel></rss>"#;
    assert!(
        read(empty.as_bytes(), "application/rss+xml")
            .expect("empty")
            .is_empty()
    );
}

#[test]
fn feedburner_entries_link_to_their_original_address() {
    let read = articles("feedburner.xml");
    assert_eq!(
        links(&read),
        [
            "https://blog.example.com/2018/post-1?x=1",
            "http://feedproxy.google.com/~r/burned/~3/DeF/post-2"
        ]
    );
    // The story across feeds is the real address; the key stays what it was.
    assert_eq!(
        read[0].canonical_link.as_deref(),
        Some("https://blog.example.com/2018/post-1?x=1")
    );
    assert_eq!(
        read[0].key,
        "http://feedproxy.google.com/~r/burned/~3/AbC/post-1"
    );
}
