//! Feeds come from strangers: by default tidings reaches no loopback, private or
//! link-local address, whether a URL names it, a name resolves to it or a redirect leads
//! there. The tests' own servers listen on 127.0.0.1, so these tests say
//! `allow_private_networks` themselves (false, or true for one feed).

mod common;

use common::{Sandbox, fixture, serve, serve_body, stderr, stdout};
use wiremock::{MockServer, ResponseTemplate};

fn feeds(entries: &[(&str, String, Option<bool>)], global: bool) -> String {
    let mut text = format!("[fetch]\nallow_private_networks = {global}\n");
    for (name, url, allow) in entries {
        text.push_str(&format!("[[feeds]]\nname = \"{name}\"\nurl = \"{url}\"\n"));
        if let Some(allow) = allow {
            text.push_str(&format!("allow_private_networks = {allow}\n"));
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn loopback_is_refused_by_default_and_reached_with_the_key() {
    let server = MockServer::start().await;
    serve_body(
        &server,
        "/feed.xml",
        fixture("rss2.xml"),
        "application/rss+xml",
    )
    .await;
    let port = server.address().port();
    let sandbox = Sandbox::with_config_text(&feeds(
        &[
            ("literal", format!("http://127.0.0.1:{port}/feed.xml"), None),
            (
                "decimal",
                format!("http://2130706433:{port}/feed.xml"),
                None,
            ),
            ("ipv6", format!("http://[::1]:{port}/feed.xml"), None),
            ("named", format!("http://localhost:{port}/feed.xml"), None),
            (
                "intranet",
                format!("http://127.0.0.1:{port}/feed.xml?x"),
                Some(true),
            ),
        ],
        false,
    ));
    let output = sandbox.run_async(&["fetch"]).await;
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    for name in ["literal", "decimal", "ipv6", "named"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("{name} reported: {out}"));
        assert!(
            line.contains("failed: refused:") && line.contains("allow_private_networks"),
            "{line}"
        );
    }
    assert!(
        out.contains("named: failed: refused: localhost is 127.0.0.1")
            || out.contains("named: failed: refused: localhost is ::1"),
        "{out}"
    );
    assert!(
        out.contains("intranet: 2 new"),
        "the feed that may is fetched: {out}"
    );
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(
        requests.len(),
        1,
        "only the allowed feed reached the server"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_to_another_scheme_is_refused_by_name() {
    let server = MockServer::start().await;
    serve(
        &server,
        "/feed.xml",
        ResponseTemplate::new(302).insert_header("Location", "file:///etc/passwd"),
    )
    .await;
    let sandbox = Sandbox::with_config_text(&feeds(
        &[("odd", format!("{}/feed.xml", server.uri()), None)],
        true,
    ));
    let output = sandbox.run_async(&["fetch"]).await;
    assert!(
        stdout(&output).contains("odd: failed: redirect to a file: URL refused"),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
}

#[test]
fn credentials_in_feed_urls_are_not_shown() {
    let sandbox = Sandbox::with_config_text(&feeds(
        &[(
            "private",
            "https://reader:s3cret@feeds.example.org/x".to_string(),
            None,
        )],
        false,
    ));
    let check = sandbox.run(&["check"]);
    assert!(!stdout(&check).contains("s3cret"), "{}", stdout(&check));
    assert!(
        stdout(&check).contains("reader:***@feeds.example.org"),
        "{}",
        stdout(&check)
    );
    for args in [&["status"][..], &["status", "--json"][..]] {
        let status = sandbox.run(args);
        assert!(!stdout(&status).contains("s3cret"), "{}", stdout(&status));
    }
}
