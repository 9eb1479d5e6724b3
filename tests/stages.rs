//! The stages tested directly through the library, values in and values out, without
//! HTTP: parse and normalise, output paths, the store's claims, leases and history, and
//! the pipeline from a fetched document to files. Only the store and the output touch
//! anything real (a SQLite file and files in a temporary folder).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tidings::config::{self, FrontMatter};
use tidings::{
    Article, ArticlePaths, ClaimOptions, Document, FeedContext, FetchRecord, FolderLookups,
    PathProbe, PathTemplate, Pipeline, RenderSettings, Source, Store, Validators, identify_entries,
    lease_holder_name, normalise, parse_feed, render_article,
};

const FEED_URL: &str = "https://blog.example.com/feed.xml";

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test time")
        .with_timezone(&Utc)
}

fn rss(items: &str) -> String {
    format!(
        "<rss version=\"2.0\"><channel><title>Blog</title><link>https://blog.example.com/</link><language>de-DE</language>{items}</channel></rss>"
    )
}

fn config(dir: &Path, extra: &str) -> config::Config {
    let text = format!("{extra}\n[[feeds]]\nname = \"blog\"\nurl = \"{FEED_URL}\"\n");
    config::parse(&text, &dir.join("tidings.toml"), dir).expect("valid config")
}

/// Every article of `xml` as `normalise` makes it.
fn articles_of(xml: &str, feed: &config::FeedConfig) -> Vec<Article> {
    let base = url::Url::parse(FEED_URL).expect("url");
    let parsed = parse_feed(&Source {
        bytes: xml.as_bytes(),
        http_charset: None,
        content_type: Some("application/rss+xml"),
        base_url: FEED_URL,
        zone: chrono_tz::Tz::UTC,
        max_bytes: 1 << 24,
    })
    .expect("a feed");
    let context = FeedContext::from_feed(&parsed, &base);
    let identities = identify_entries(&parsed.entries, &context);
    parsed
        .entries
        .iter()
        .zip(identities)
        .map(|(entry, identity)| normalise(entry, identity, &context, feed, 320))
        .collect()
}

#[test]
fn an_rss_item_becomes_an_article_with_plain_title_summary_and_markdown_body() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), "");
    let xml = rss(
        "<item><title>Caf&amp;eacute; &lt;b&gt;news&lt;/b&gt;</title>\
         <link>/2024/cafe?utm_source=rss</link>\
         <pubDate>Tue, 09 Jul 2024 18:30:00 +0200</pubDate>\
         <description>&lt;p&gt;First &lt;em&gt;part&lt;/em&gt;. Read more […]&lt;/p&gt;</description>\
         <content:encoded xmlns:content=\"http://purl.org/rss/1.0/modules/content/\"><![CDATA[<p>Hello <a href=\"/x?fbclid=1\">there</a>.</p><script>evil()</script><img src=\"/i.jpg\" alt=\"I\">]]></content:encoded>\
         <category>Food</category></item>",
    );
    let articles = articles_of(&xml, &config.feeds[0]);
    assert_eq!(articles.len(), 1);
    let article = &articles[0];
    assert_eq!(article.title, "Café news");
    assert_eq!(article.summary, "First part.");
    assert_eq!(
        article.body,
        "Hello [there](https://blog.example.com/x).\n\n![I](https://blog.example.com/i.jpg)"
    );
    assert_eq!(
        article.link.as_deref(),
        Some("https://blog.example.com/2024/cafe")
    );
    // No guid: the canonical link is the entry's identity.
    assert_eq!(article.key, "https://blog.example.com/2024/cafe");
    assert_eq!(article.published, Some(time("2024-07-09T16:30:00Z")));
    assert_eq!(article.lang, "de");
    assert_eq!(article.entry_categories, ["Food"]);
    assert_eq!(article.categories, ["blog"]);
}

#[test]
fn an_edit_changes_the_raw_digest_and_a_repeat_does_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), "");
    let item = |text: &str| {
        rss(&format!(
            "<item><guid>g1</guid><title>T</title><description>{text}</description></item>"
        ))
    };
    let first = &articles_of(&item("one"), &config.feeds[0])[0];
    let again = &articles_of(&item("one"), &config.feeds[0])[0];
    let edited = &articles_of(&item("two"), &config.feeds[0])[0];
    assert_eq!(first.raw_hash, again.raw_hash);
    assert_eq!(first.key, edited.key);
    assert_ne!(first.raw_hash, edited.raw_hash);
    assert_ne!(first.content_hash(), edited.content_hash());
}

#[test]
fn rendering_puts_entry_tags_and_the_entry_thumbnail_in_when_asked() {
    let mut article = Article {
        key: "k".into(),
        guid: None,
        raw_hash: String::new(),
        legacy_key: None,
        canonical_link: None,
        title: "T".into(),
        published: None,
        summary: "S".into(),
        body: "Body.".into(),
        link: Some("https://example.com/a b".into()),
        lang: "en".into(),
        categories: vec!["blog".into()],
        tags: vec!["blog".into()],
        entry_categories: vec!["Rust".into(), "BLOG".into()],
        thumbnail: Some("https://example.com/t.jpg".into()),
        author: None,
        updated: None,
        enclosures: Vec::new(),
        full_text: None,
    };
    let front_matter = FrontMatter::default();
    let settings = RenderSettings {
        feed_name: "blog",
        timezone: chrono_tz::Tz::Europe__Berlin,
        front_matter: &front_matter,
        entry_tags: true,
        auto_thumbnail: true,
        template: tidings::ArticleTemplate::builtin(),
        feed_title: None,
        feed_url: "https://example.org/feed",
        first_seen: None,
    };
    let text = render_article(&article, time("2024-01-01T12:00:00Z"), &settings).expect("renders");
    assert!(text.contains("date: \"2024-01-01 13:00:00\"\n"), "{text}");
    assert!(
        text.contains("tags:\n  - \"blog\"\n  - \"Rust\"\nmenu"),
        "{text}"
    );
    assert!(
        text.contains("thumbnail: \"https://example.com/t.jpg\""),
        "{text}"
    );
    assert!(
        text.ends_with("Body.\n\n[blog](<https://example.com/a%20b>)\n"),
        "{text}"
    );
    article.body.clear();
    article.link = None;
    let plain = RenderSettings {
        entry_tags: false,
        auto_thumbnail: false,
        ..settings
    };
    let text = render_article(&article, time("2024-01-01T12:00:00Z"), &plain).expect("renders");
    assert!(text.contains("tags:\n  - \"blog\"\nmenu"), "{text}");
    assert!(text.contains("thumbnail: \"\""), "{text}");
    assert!(text.ends_with("widgets:\n  - \"search\"\n  - \"recent\"\n  - \"taglist\"\n---\n"));
}

#[test]
fn article_paths_take_a_suffix_when_the_store_or_the_disk_has_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let template = PathTemplate::parse("{feed}/{year}/{date}-{slug}.md").expect("template");
    let paths = ArticlePaths {
        dir: dir.path(),
        template: &template,
        timezone: chrono_tz::Tz::Asia__Tokyo,
        feed: "blog",
    };
    // 20:00 UTC is the next day in Tokyo.
    let date = time("2024-12-31T20:00:00Z");
    let free = paths
        .choose(
            "Hello, World!",
            "abc",
            date,
            |_| Ok::<_, ()>(false),
            |_| false,
        )
        .expect("path");
    assert_eq!(free, PathBuf::from("blog/2025/2025-01-01-hello-world.md"));
    let in_store = paths
        .choose(
            "Hello, World!",
            "abc",
            date,
            |p| Ok::<_, ()>(p == Path::new("blog/2025/2025-01-01-hello-world.md")),
            |_| false,
        )
        .expect("path");
    assert_eq!(
        in_store,
        PathBuf::from("blog/2025/2025-01-01-hello-world-2.md")
    );
    std::fs::create_dir_all(dir.path().join("blog/2025")).expect("mkdir");
    for taken in ["hello-world", "hello-world-2"] {
        std::fs::write(
            dir.path().join(format!("blog/2025/2025-01-01-{taken}.md")),
            "someone else's",
        )
        .expect("write");
    }
    let on_disk = paths
        .choose(
            "Hello, World!",
            "abc",
            date,
            |_| Ok::<_, ()>(false),
            |_| false,
        )
        .expect("path");
    assert_eq!(
        on_disk,
        PathBuf::from("blog/2025/2025-01-01-hello-world-3.md")
    );
    // A file that is this article (written before the database was lost) is adopted.
    let adopted = paths
        .choose(
            "Hello, World!",
            "abc",
            date,
            |_| Ok::<_, ()>(false),
            |text| text == "someone else's",
        )
        .expect("path");
    assert_eq!(
        adopted,
        PathBuf::from("blog/2025/2025-01-01-hello-world.md")
    );
    // A title without letters or digits is named by its id.
    let untitled = paths
        .choose("!!!", "abc", date, |_| Ok::<_, ()>(false), |_| false)
        .expect("path");
    assert_eq!(untitled, PathBuf::from("blog/2025/2025-01-01-abc.md"));
}

/// The paths of `feed`'s articles under `dir` by `template`, dated in UTC.
fn utc_paths<'a>(dir: &'a Path, template: &'a PathTemplate, feed: &'a str) -> ArticlePaths<'a> {
    ArticlePaths {
        dir,
        template,
        timezone: chrono_tz::Tz::UTC,
        feed,
    }
}

#[test]
fn a_batch_of_probes_sees_the_files_in_folders_that_are_there() {
    let dir = tempfile::tempdir().expect("temp dir");
    let template = PathTemplate::parse("{feed}/{slug}.md").expect("template");
    let paths = utc_paths(dir.path(), &template, "blog");
    let date = time("2025-03-01T08:00:00Z");
    let free = |probe: &PathProbe| {
        paths
            .choose_after(probe, |_| Ok::<_, ()>(false), |_| false)
            .expect("path")
    };
    // No folder yet: every article of the batch has its preferred path.
    let mut folders = FolderLookups::default();
    let first = paths.probe_in("Hello", "abc", date, &mut folders);
    let second = paths.probe_in("World", "def", date, &mut folders);
    assert_eq!(free(&first), PathBuf::from("blog/hello.md"));
    assert_eq!(free(&second), PathBuf::from("blog/world.md"));
    // Someone else's file in a folder that is there: a later batch sees it, for every
    // article of the batch, as a probe of its own would.
    std::fs::create_dir_all(dir.path().join("blog")).expect("mkdir");
    std::fs::write(dir.path().join("blog/world.md"), "someone else's").expect("write");
    let mut folders = FolderLookups::default();
    let first = paths.probe_in("Hello", "abc", date, &mut folders);
    let second = paths.probe_in("World", "def", date, &mut folders);
    assert_eq!(free(&first), PathBuf::from("blog/hello.md"));
    assert_eq!(free(&second), PathBuf::from("blog/world-2.md"));
    assert_eq!(free(&paths.probe("World", "def", date)), free(&second));
}

#[test]
fn a_probe_taken_before_the_claim_decides_like_choose() {
    let dir = tempfile::tempdir().expect("temp dir");
    let template = PathTemplate::parse("{feed}/{slug}.md").expect("template");
    let paths = utc_paths(dir.path(), &template, "blog");
    let date = time("2025-03-01T08:00:00Z");
    let free = paths.probe("Hello", "abc", date);
    assert!(free.is_for(date));
    assert!(!free.is_for(time("2025-03-02T08:00:00Z")));
    // Free on disk when probed: the store alone decides.
    let chosen = paths
        .choose_after(&free, |_| Ok::<_, ()>(false), |_| false)
        .expect("path");
    assert_eq!(chosen, PathBuf::from("blog/hello.md"));
    let in_store = paths
        .choose_after(
            &free,
            |p| Ok::<_, ()>(p == Path::new("blog/hello.md")),
            |_| false,
        )
        .expect("path");
    assert_eq!(in_store, PathBuf::from("blog/hello-2.md"));
    // Someone else's file there when probed: a twin, as `choose` gives.
    std::fs::create_dir_all(dir.path().join("blog")).expect("mkdir");
    std::fs::write(dir.path().join("blog/hello.md"), "someone else's").expect("write");
    let held = paths.probe("Hello", "abc", date);
    let chosen = paths
        .choose_after(&held, |_| Ok::<_, ()>(false), |_| false)
        .expect("path");
    assert_eq!(chosen, PathBuf::from("blog/hello-2.md"));
    assert_eq!(
        chosen,
        paths
            .choose("Hello", "abc", date, |_| Ok::<_, ()>(false), |_| false)
            .expect("path")
    );
    // And this article's own file (a lost database) is still adopted.
    let adopted = paths
        .choose_after(
            &held,
            |_| Ok::<_, ()>(false),
            |text| text == "someone else's",
        )
        .expect("path");
    assert_eq!(adopted, PathBuf::from("blog/hello.md"));
}

fn claim(
    store: &mut Store,
    dir: &Path,
    feed: &str,
    articles: &[Article],
    now: DateTime<Utc>,
) -> tidings::ClaimReport {
    claim_for_writing(store, dir, feed, articles, now).report
}

fn claim_for_writing(
    store: &mut Store,
    dir: &Path,
    feed: &str,
    articles: &[Article],
    now: DateTime<Utc>,
) -> tidings::Claimed {
    let template = PathTemplate::parse("{feed}/{slug}.md").expect("template");
    let paths = utc_paths(dir, &template, feed);
    let options = ClaimOptions {
        rewrite_updates: true,
        cross_feed_dedup: true,
    };
    let encoded: Vec<tidings::EncodedArticle<'_>> = articles
        .iter()
        .map(|article| tidings::EncodedArticle::new(article).expect("encoded"))
        .collect();
    store
        .claim_for_writing(feed, &encoded, &[], options, now, &paths, None)
        .expect("claim")
}

#[test]
fn a_claim_hands_over_its_new_entries_as_stored_only_when_they_are_all_that_is_pending() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), "");
    let mut store = Store::open(&dir.path().join("state/tidings.db")).expect("store");
    // A fraction of a second, which the store does not keep: the undated entry's date
    // and every first-seen time must come back in whole seconds either way.
    let now = time("2024-07-10T00:00:00.750Z");
    let items = |guids: &[&str]| {
        let items: String = guids
            .iter()
            .map(|guid| format!("<item><guid>{guid}</guid><title>Story {guid}</title><description>About <b>{guid}</b> &amp; more</description></item>"))
            .collect();
        articles_of(&rss(&items), &config.feeds[0])
    };
    let first = claim_for_writing(&mut store, dir.path(), "blog", &items(&["a", "b"]), now);
    let handed = first
        .to_write
        .expect("the claim's entries are all that is pending");
    assert_eq!(first.report.new, 2);
    assert_eq!(handed, store.pending(Some("blog")).expect("pending"));
    assert_eq!(handed[0].date, time("2024-07-10T00:00:00Z"));

    // Claimed while those are still pending: all of them are written together, from the
    // store.
    let second = claim_for_writing(&mut store, dir.path(), "blog", &items(&["c"]), now);
    assert_eq!(second.report.new, 1);
    assert!(second.to_write.is_none());
    assert_eq!(store.pending(Some("blog")).expect("pending").len(), 3);
    let ids: Vec<i64> = store
        .pending(None)
        .expect("pending")
        .iter()
        .map(|entry| entry.id)
        .collect();
    store.mark_written(&ids, now, &[]).expect("mark written");

    // An edit makes its entry pending again without an insert: read from the store.
    let mut edited = items(&["a"]);
    edited[0].body.push_str("\n\nAn update.");
    let third = claim_for_writing(&mut store, dir.path(), "blog", &edited, now);
    assert_eq!(third.report.updated, 1);
    assert!(third.to_write.is_none());
    store
        .mark_written(&[handed[0].id], now, &[])
        .expect("mark written");

    // Another feed's pending entries do not count.
    claim(&mut store, dir.path(), "other", &items(&["x"]), now);
    let fourth = claim_for_writing(&mut store, dir.path(), "blog", &items(&["d"]), now);
    let handed = fourth
        .to_write
        .expect("nothing else of this feed is pending");
    assert_eq!(handed, store.pending(Some("blog")).expect("pending"));
    assert_eq!(handed.len(), 1);
}

#[test]
fn a_body_is_stored_as_it_is_and_one_stored_inside_the_json_before_still_reads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), "");
    let database = dir.path().join("state/tidings.db");
    let mut store = Store::open(&database).expect("store");
    let now = time("2024-07-10T00:00:00Z");
    let xml = rss(
        "<item><guid>a</guid><title>A</title><description>Quotes \" and <b>bold</b> \\ text</description></item>",
    );
    let articles = articles_of(&xml, &config.feeds[0]);
    assert!(
        articles[0].body.contains("**bold**"),
        "{:?}",
        articles[0].body
    );
    claim(&mut store, dir.path(), "blog", &articles, now);
    let pending = store.pending(Some("blog")).expect("pending");
    assert_eq!(
        pending[0].article, articles[0],
        "the article reads back whole"
    );

    let sql = rusqlite::Connection::open(&database).expect("sqlite");
    let (json, body): (String, Option<String>) = sql
        .query_row("SELECT article, body FROM articles", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .expect("row");
    assert_eq!(body.as_deref(), Some(articles[0].body.as_str()));
    assert!(
        !json.contains("\"body\""),
        "the body is not in the JSON: {json}"
    );

    // A row as stored before the body had its column: the body inside the JSON.
    sql.execute(
        "UPDATE articles SET article = json_set(article, '$.body', 'The old body'), body = NULL",
        [],
    )
    .expect("old row");
    let pending = store.pending(Some("blog")).expect("pending");
    assert_eq!(pending[0].article.body, "The old body");
    assert_eq!(pending[0].article.title, articles[0].title);
}

#[test]
fn marking_some_entries_written_leaves_the_ones_between_them_pending() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), "");
    let mut store = Store::open(&dir.path().join("state/tidings.db")).expect("store");
    let now = time("2024-07-10T00:00:00Z");
    let items: String = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|guid| format!("<item><guid>{guid}</guid><title>Story {guid}</title><description>{guid}</description></item>"))
        .collect();
    let articles = articles_of(&rss(&items), &config.feeds[0]);
    assert_eq!(claim(&mut store, dir.path(), "blog", &articles, now).new, 5);
    let pending = store.pending(Some("blog")).expect("pending");
    let id_of = |title: &str| {
        pending
            .iter()
            .find(|entry| entry.article.title == title)
            .map(|entry| entry.id)
            .expect("claimed")
    };
    // Written out of order and with gaps: a, c, d and e, but not b.
    let written = [
        id_of("Story d"),
        id_of("Story a"),
        id_of("Story c"),
        id_of("Story e"),
    ];
    store
        .mark_written(&written, now, &[])
        .expect("mark written");
    let left: Vec<String> = store
        .pending(Some("blog"))
        .expect("pending")
        .into_iter()
        .map(|entry| entry.article.title)
        .collect();
    assert_eq!(left, ["Story b"]);
}

#[test]
fn the_claim_takes_new_entries_once_rewrites_edits_and_skips_repeats() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), "");
    let mut store = Store::open(&dir.path().join("state/tidings.db")).expect("store");
    let now = time("2024-07-10T00:00:00Z");
    let xml = rss(
        "<item><guid>a</guid><title>Alpha</title><description>one</description><pubDate>Tue, 09 Jul 2024 18:30:00 +0000</pubDate></item>\
         <item><guid>b</guid><title>Beta</title><description>two</description><pubDate>Fri, 09 Jul 2100 18:30:00 +0000</pubDate></item>\
         <item><guid>a</guid><title>Alpha</title><description>one</description></item>",
    );
    let articles = articles_of(&xml, &config.feeds[0]);
    let first = claim(&mut store, dir.path(), "blog", &articles, now);
    assert_eq!((first.new, first.updated, first.unchanged), (2, 0, 0));
    let pending = store.pending(Some("blog")).expect("pending");
    let paths: Vec<_> = pending.iter().map(|e| e.path.clone()).collect();
    assert_eq!(
        paths,
        [
            PathBuf::from("blog/alpha.md"),
            PathBuf::from("blog/beta.md")
        ]
    );
    // A date after the entry was first seen becomes the first-seen time.
    assert_eq!(pending[1].date, now);
    store
        .mark_written(&pending.iter().map(|e| e.id).collect::<Vec<_>>(), now, &[])
        .expect("mark written");
    assert!(store.pending(None).expect("pending").is_empty());

    let edited = articles_of(
        &rss(
            "<item><guid>a</guid><title>Alpha</title><description>one, edited</description></item><item><guid>b</guid><title>Beta</title><description>two</description><pubDate>Fri, 09 Jul 2100 18:30:00 +0000</pubDate></item>",
        ),
        &config.feeds[0],
    );
    let second = claim(&mut store, dir.path(), "blog", &edited, now);
    assert_eq!((second.new, second.updated, second.unchanged), (0, 1, 1));
    let rewrite = store.pending(Some("blog")).expect("pending");
    assert_eq!(rewrite.len(), 1);
    assert_eq!(rewrite[0].path, PathBuf::from("blog/alpha.md"));
    assert!(rewrite[0].article.summary.contains("edited"));
    assert_eq!(store.integrity_check().expect("check"), "ok");
}

#[test]
fn a_story_another_feed_wrote_is_a_duplicate_and_prune_forgets_old_entries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), "");
    let mut store = Store::open(&dir.path().join("tidings.db")).expect("store");
    let story = articles_of(
        &rss(
            "<item><title>Story</title><link>https://news.example.org/s?utm_medium=x</link></item>",
        ),
        &config.feeds[0],
    );
    let then = time("2024-01-01T00:00:00Z");
    assert_eq!(claim(&mut store, dir.path(), "one", &story, then).new, 1);
    let other = claim(&mut store, dir.path(), "two", &story, then);
    assert_eq!((other.new, other.duplicates), (0, 1));
    let again = claim(&mut store, dir.path(), "two", &story, then);
    assert_eq!((again.new, again.unchanged), (0, 1));

    let ids: Vec<i64> = store
        .pending(None)
        .expect("pending")
        .iter()
        .map(|e| e.id)
        .collect();
    store.mark_written(&ids, then, &[]).expect("written");
    assert_eq!(store.prune(time("2023-12-31T00:00:00Z")).expect("prune"), 0);
    assert_eq!(store.prune(time("2024-06-01T00:00:00Z")).expect("prune"), 2);
    assert!(store.written(None).expect("written").is_empty());
    // Forgotten: the story is new again.
    assert_eq!(claim(&mut store, dir.path(), "one", &story, then).new, 1);
}

#[test]
fn a_lease_is_exclusive_until_released_expired_or_its_process_is_gone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(&dir.path().join("tidings.db")).expect("store");
    let me = lease_holder_name();
    let host = me.split_once('@').expect("pid@host").1;
    // PID 1 always runs; no PID is above the kernel's limit of 2^22.
    let alive = format!("1@{host}");
    let gone = format!("4194399@{host}");
    let now = time("2024-01-01T00:00:00Z");
    let ttl = Duration::from_secs(60);
    assert!(
        store
            .try_lease("f", FEED_URL, &alive, now, ttl)
            .expect("lease")
    );
    assert!(
        !store
            .try_lease("f", FEED_URL, &me, now, ttl)
            .expect("lease")
    );
    // The holder itself may take it again.
    assert!(
        store
            .try_lease("f", FEED_URL, &alive, now, ttl)
            .expect("lease")
    );
    let later = now + chrono::Duration::seconds(61);
    assert!(
        store
            .try_lease("f", FEED_URL, &me, later, ttl)
            .expect("expired")
    );
    store
        .release_lease("f", &alive)
        .expect("release by another");
    assert!(
        !store
            .try_lease("f", FEED_URL, &alive, later, ttl)
            .expect("still mine")
    );
    store.release_lease("f", &me).expect("release");
    assert!(
        store
            .try_lease("f", FEED_URL, &gone, later, ttl)
            .expect("free")
    );
    assert!(
        store
            .try_lease("f", FEED_URL, &me, later, ttl)
            .expect("holder gone")
    );
}

#[test]
fn a_fetched_document_is_claimed_and_written_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), "[output]\npath = \"{feed}/{slug}.md\"");
    let feed = config.feeds[0].clone();
    let output = config.output.dir.clone();
    let pipeline = Pipeline::open(config).expect("pipeline");
    let document = || {
        Document {
        body: rss("<item><guid>1</guid><title>First post</title><description>Hi.</description></item><item><guid>2</guid><title>Second post</title><description>Ho.</description></item>").into_bytes(),
        charset: None,
        content_type: Some("application/rss+xml".into()),
        validators: Validators::default(),
        final_url: url::Url::parse(FEED_URL).expect("url"),
    }
    };
    let fetched = || FetchRecord::Fetched {
        validators: Validators::default(),
        body_hash: "digest-1".into(),
        moved_to: None,
        not_before: None,
        document: None,
    };
    pipeline
        .process_document(&feed, &document(), false, fetched())
        .expect("processed");
    // The fetch is recorded with the claim: the feed's body digest is known now.
    let state = pipeline
        .store()
        .feed_state("blog", FEED_URL)
        .expect("feed state");
    assert_eq!(state.body_hash.as_deref(), Some("digest-1"));
    assert_eq!(
        pipeline
            .write_pending(Some("blog"), None)
            .expect("written")
            .len(),
        2
    );
    let first = output.join("blog/first-post.md");
    let text = std::fs::read_to_string(&first).expect("article");
    assert!(text.starts_with("---\ntitle: \"First post\"\n"), "{text}");
    assert!(text.trim_end().ends_with("Hi."), "{text}");
    let modified = std::fs::metadata(&first)
        .expect("meta")
        .modified()
        .expect("mtime");

    pipeline
        .process_document(&feed, &document(), false, fetched())
        .expect("processed again");
    assert_eq!(
        pipeline
            .write_pending(Some("blog"), None)
            .expect("nothing")
            .len(),
        0
    );
    assert_eq!(
        std::fs::metadata(&first)
            .expect("meta")
            .modified()
            .expect("mtime"),
        modified
    );
    let mut stack = vec![output.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("folder").flatten() {
            let path = entry.path();
            assert!(
                !path.to_string_lossy().contains("tidings-tmp"),
                "no temporary file is left: {}",
                path.display()
            );
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
}

#[test]
fn an_entry_stored_under_its_old_title_and_date_key_is_still_known() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), "");
    let mut store = Store::open(&dir.path().join("tidings.db")).expect("store");
    let now = time("2024-01-01T00:00:00Z");
    let current = articles_of(
        &rss("<item><description>A note with no title, link or date.</description></item>"),
        &config.feeds[0],
    );
    let legacy_key = current[0].legacy_key.clone().expect("content-keyed entry");
    assert!(current[0].key.starts_with("content:"), "{}", current[0].key);
    // As an earlier tidings stored it: under the title-and-date key.
    let mut stored = current.clone();
    stored[0].key = legacy_key;
    stored[0].legacy_key = None;
    assert_eq!(claim(&mut store, dir.path(), "blog", &stored, now).new, 1);
    let again = claim(&mut store, dir.path(), "blog", &current, now);
    assert_eq!((again.new, again.unchanged), (0, 1));
    // A different entry that shares the old key (no title, no date) is new.
    let other = articles_of(
        &rss("<item><description>Another note.</description></item>"),
        &config.feeds[0],
    );
    assert_eq!(other[0].legacy_key, current[0].legacy_key);
    assert_eq!(claim(&mut store, dir.path(), "blog", &other, now).new, 1);
}

#[test]
fn feeds_ending_together_are_all_marked_written_and_give_their_leases_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let feeds: String = (0..12)
        .map(|n| {
            format!("[[feeds]]\nname = \"f{n}\"\nurl = \"https://f{n}.example.com/feed.xml\"\n")
        })
        .collect();
    let config =
        config::parse(&feeds, &dir.path().join("tidings.toml"), dir.path()).expect("valid config");
    let output = config.output.dir.clone();
    let configs = config.feeds.clone();
    let pipeline = Pipeline::open(config).expect("pipeline");
    let holder = lease_holder_name();
    let now = Utc::now();
    let ttl = Duration::from_secs(600);
    for feed in &configs {
        let items: String = (0..3)
            .map(|i| format!("<item><guid>{i}</guid><title>{} story {i}</title><description>Text {i}.</description></item>", feed.name))
            .collect();
        let document = Document {
            body: rss(&items).into_bytes(),
            charset: None,
            content_type: Some("application/rss+xml".into()),
            validators: Validators::default(),
            final_url: feed.url.clone(),
        };
        let fetched = FetchRecord::Fetched {
            validators: Validators::default(),
            body_hash: format!("digest-{}", feed.name),
            moved_to: None,
            not_before: None,
            document: None,
        };
        assert!(
            pipeline
                .store()
                .try_lease(&feed.name, feed.url.as_str(), &holder, now, ttl)
                .expect("lease")
        );
        pipeline
            .process_document(feed, &document, false, fetched)
            .expect("claimed");
    }
    // Every feed writes its batch at the same moment: the batches share flushes and
    // transactions, and every one of them must end marked, its lease given back.
    let written: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = configs
            .iter()
            .map(|feed| {
                let (pipeline, holder) = (&pipeline, &holder);
                scope.spawn(move || {
                    let lease = tidings::HeldLease {
                        feed: &feed.name,
                        holder,
                    };
                    pipeline
                        .write_pending(Some(&feed.name), Some(lease))
                        .expect("written")
                        .len()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("writer thread"))
            .collect()
    });
    assert_eq!(written, vec![3; 12]);
    assert!(pipeline.store().pending(None).expect("pending").is_empty());
    for feed in &configs {
        assert!(
            pipeline
                .store()
                .try_lease(
                    &feed.name,
                    feed.url.as_str(),
                    "someone-else@elsewhere",
                    now,
                    ttl
                )
                .expect("lease"),
            "{}'s lease was given back",
            feed.name
        );
    }
    let mut files = 0;
    let mut folders = vec![output.clone()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                assert_eq!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("md"),
                    "{}",
                    path.display()
                );
                files += 1;
            }
        }
    }
    assert_eq!(files, 36, "one file per entry, no temporary file left");
}
