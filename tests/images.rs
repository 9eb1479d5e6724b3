//! Images kept with the article (`output.images = "local"`): page bundles built by a real
//! Hugo, one file for an image many articles use, and what is refused (HTML posing as an
//! image, SVG, oversized files) keeping its remote link. Feed and images are served on
//! 127.0.0.1.

mod common;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use common::{Sandbox, copy_dir, serve_body, stderr, stdout};
use wiremock::MockServer;

/// A 1×1 PNG.
fn png() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
        .expect("png")
}

/// A feed whose items show the images at these paths of `base`.
fn feed(base: &str, items: &[(&str, &str, &[&str])]) -> Vec<u8> {
    let mut xml = String::from(
        "<rss version=\"2.0\"><channel><title>Pictures</title><link>https://pictures.example/</link>",
    );
    for (guid, title, images) in items {
        let imgs: String = images
            .iter()
            .map(|p| format!("<p><img src=\"{base}{p}\" alt=\"{p}\"></p>"))
            .collect();
        xml.push_str(&format!(
            "<item><guid>{guid}</guid><title>{title}</title><link>https://pictures.example/{guid}</link><pubDate>Tue, 09 Jul 2024 18:30:00 +0000</pubDate><description><![CDATA[<p>Look.</p>{imgs}]]></description></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

fn image_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("!["))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_image_used_by_two_articles_is_one_file_linked_from_each() {
    let server = MockServer::start().await;
    serve_body(&server, "/a.png", png(), "image/png").await;
    let body = feed(
        &server.uri(),
        &[("1", "First", &["/a.png"]), ("2", "Second", &["/a.png"])],
    );
    serve_body(&server, "/feed.xml", body, "application/rss+xml").await;
    let sandbox = Sandbox::new(
        &[("pics", format!("{}/feed.xml", server.uri()))],
        "[output]\nimages = \"local\"\n",
    );
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let files = sandbox.articles_dir().join("images");
    let kept: Vec<_> = std::fs::read_dir(&files).expect("images folder").collect();
    assert_eq!(kept.len(), 1, "stored once");
    for (path, text) in sandbox.articles() {
        if !path.ends_with(".md") {
            continue;
        }
        let lines = image_lines(&text);
        assert_eq!(lines.len(), 1, "{text}");
        let link = lines[0]
            .split("](")
            .nth(1)
            .and_then(|l| l.strip_suffix(')'))
            .expect("link");
        assert!(
            link.starts_with("../../images/") && link.ends_with(".png"),
            "{link}"
        );
        let article_dir = sandbox.articles_dir().join(&path);
        let resolved = article_dir.parent().expect("folder").join(link);
        assert_eq!(std::fs::read(&resolved).expect("the link resolves"), png());
    }
    // Rendering again without the network keeps the local links.
    let before = sandbox.articles();
    drop(server);
    let render = sandbox.run_async(&["render"]).await;
    assert!(render.status.success(), "{}", stderr(&render));
    assert_eq!(sandbox.articles(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn html_svg_and_oversized_images_keep_their_remote_links_and_are_counted() {
    let server = MockServer::start().await;
    serve_body(&server, "/ok.png", png(), "image/png").await;
    serve_body(
        &server,
        "/login.png",
        b"<!DOCTYPE html><html><body>Sign in</body></html>".to_vec(),
        "image/png",
    )
    .await;
    serve_body(
        &server,
        "/x.svg",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>".to_vec(),
        "image/svg+xml",
    )
    .await;
    let mut big = png();
    big.resize(300_000, 0);
    serve_body(&server, "/big.png", big, "image/png").await;
    let body = feed(
        &server.uri(),
        &[(
            "1",
            "Mixed",
            &["/ok.png", "/login.png", "/x.svg", "/big.png"],
        )],
    );
    serve_body(&server, "/feed.xml", body, "application/rss+xml").await;
    let sandbox = Sandbox::new(
        &[("pics", format!("{}/feed.xml", server.uri()))],
        "[output]\nimages = \"local\"\nimages_max_bytes = 100000\n",
    );
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("3 image(s) left remote"),
        "{}",
        stdout(&output)
    );
    let articles = sandbox.articles();
    let text = articles
        .iter()
        .find(|(k, _)| k.ends_with(".md"))
        .map(|(_, v)| v.clone())
        .expect("article");
    let lines = image_lines(&text);
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].contains("](../../images/"), "{text}");
    for (line, remote) in lines[1..].iter().zip(["/login.png", "/x.svg", "/big.png"]) {
        assert!(
            line.contains(&format!("]({}{remote})", server.uri())),
            "{line}"
        );
    }
    let kept: Vec<_> = std::fs::read_dir(sandbox.articles_dir().join("images"))
        .expect("folder")
        .collect();
    assert_eq!(kept.len(), 1, "only the real image is kept");
    let status = sandbox.run_async(&["status", "--json"]).await;
    let statuses: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(statuses[0]["images_failed"], 3, "{statuses}");
}

#[tokio::test(flavor = "multi_thread")]
async fn hugo_builds_page_bundles_with_their_images_without_a_warning() {
    let server = MockServer::start().await;
    serve_body(&server, "/a.png", png(), "image/png").await;
    let body = feed(
        &server.uri(),
        &[
            ("1", "First picture", &["/a.png"]),
            ("2", "Second picture", &["/a.png"]),
        ],
    );
    serve_body(&server, "/feed.xml", body, "application/rss+xml").await;
    let sandbox = Sandbox::new(
        &[("pics", format!("{}/feed.xml", server.uri()))],
        "[output]\ndir = \"site/content/posts\"\npath = \"{feed}/{slug}/index.md\"\nimages = \"local\"\n",
    );
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hugo-site"),
        &sandbox.dir.path().join("site"),
    );
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let site = sandbox.dir.path().join("site");
    let build = Command::new("hugo")
        .arg("--source")
        .arg(&site)
        .arg("--destination")
        .arg(site.join("public"))
        .output()
        .expect("run hugo (apt-get install hugo)");
    let log = format!("{}{}", stdout(&build), stderr(&build));
    assert!(build.status.success(), "{log}");
    assert!(
        !log.contains("WARN") && !log.contains("ERROR"),
        "Hugo complained:\n{log}"
    );
    for slug in ["first-picture", "second-picture"] {
        let bundle = site.join("content/posts/pics").join(slug);
        let text = std::fs::read_to_string(bundle.join("index.md")).expect("bundle");
        let lines = image_lines(&text);
        let file = lines[0]
            .split("](")
            .nth(1)
            .and_then(|l| l.strip_suffix(')'))
            .expect("link");
        assert!(!file.contains('/'), "beside index.md: {file}");
        assert_eq!(
            std::fs::read(bundle.join(file)).expect("image in the bundle"),
            png()
        );
        // Hugo publishes the bundle's image beside the page, where the link points.
        let page = site.join("public/posts/pics").join(slug);
        let html = std::fs::read_to_string(page.join("index.html")).expect("page");
        assert!(html.contains(&format!("src=\"{file}\"")), "{html}");
        assert_eq!(
            std::fs::read(page.join(file)).expect("published image"),
            png()
        );
    }
}
