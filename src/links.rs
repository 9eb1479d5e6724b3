//! URLs found in feeds: resolved against a base, restricted to http(s), and stripped of
//! tracking parameters. Pure functions.

use url::Url;

/// Query parameters that only identify a campaign or a click and never change what the
/// page is. Entries ending in `*` are prefixes.
const TRACKING_PARAMETERS: &[&str] = &[
    "utm_*",
    "mtm_*",
    "pk_*",
    "piwik_*",
    "matomo_*",
    "fbclid",
    "gclid",
    "gclsrc",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "twclid",
    "ttclid",
    "li_fat_id",
    "igshid",
    "yclid",
    "mc_cid",
    "mc_eid",
    "_hsenc",
    "_hsmi",
    "__hstc",
    "__hssc",
    "__hsfp",
    "hsctatracking",
    "mkt_tok",
    "oly_anon_id",
    "oly_enc_id",
    "vero_conv",
    "vero_id",
    "wickedid",
    "rb_clickid",
    "s_cid",
    "ncid",
    "cmpid",
    "sr_share",
    "ref_src",
    "ref_url",
];

fn is_tracking_parameter(name: &str) -> bool {
    // Compared without a lowercased copy: this runs for every parameter of every link.
    // Every pattern starts with a lowercase ASCII letter or `_`, so most names are told
    // apart by their first byte, before the pattern's other bytes are looked at.
    let Some(first) = name.bytes().next().map(|b| b.to_ascii_lowercase()) else {
        return false;
    };
    TRACKING_PARAMETERS
        .iter()
        .filter(|pattern| pattern.as_bytes().first() == Some(&first))
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => name
                .get(..prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(prefix)),
            None => name.eq_ignore_ascii_case(pattern),
        })
}

/// Resolves `raw` against `base` (when relative) and returns it without tracking
/// parameters; `None` when it is not an http or https URL (`javascript:`, `data:`,
/// unparsable text).
pub fn clean_url(raw: &str, base: Option<&Url>) -> Option<Url> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let mut url = match Url::parse(raw) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => base?.join(raw).ok()?,
        Err(_) => return None,
    };
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    if let Some(target) = redirect_target(&url) {
        url = target;
    }
    strip_tracking(&mut url);
    Some(url)
}

/// A URL as [`clean_url`] leaves it, with its host and path at hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanedUrl<'a> {
    /// Text already in the form the URL parser writes (tracking parameters taken out of
    /// it as text).
    Text {
        /// The URL.
        text: std::borrow::Cow<'a, str>,
        /// Where its host is.
        host: std::ops::Range<usize>,
        /// Where its path is.
        path: std::ops::Range<usize>,
    },
    /// What the URL parser made of the rest.
    Parsed(Url),
}

impl CleanedUrl<'_> {
    /// The whole URL.
    pub fn as_str(&self) -> &str {
        match self {
            CleanedUrl::Text { text, .. } => text,
            CleanedUrl::Parsed(url) => url.as_str(),
        }
    }

    /// Its host, as the parser writes it.
    pub fn host(&self) -> &str {
        match self {
            CleanedUrl::Text { text, host, .. } => &text[host.clone()],
            CleanedUrl::Parsed(url) => url.host_str().unwrap_or_default(),
        }
    }

    /// Its path, from the `/` after the host.
    pub fn path(&self) -> &str {
        match self {
            CleanedUrl::Text { text, path, .. } => &text[path.clone()],
            CleanedUrl::Parsed(url) => url.path(),
        }
    }
}

/// [`clean_url`] without parsing links already written the way the parser would write
/// them: most links in articles are, and parsing each one was a tenth of converting an
/// article. Anything the check is unsure of goes to the parser.
pub fn clean_url_text<'a>(raw: &'a str, base: Option<&Url>) -> Option<CleanedUrl<'a>> {
    let raw = raw.trim();
    let Some(parts) = written_as_parsed(raw) else {
        return clean_url(raw, base).map(CleanedUrl::Parsed);
    };
    let text = match parts.query.clone() {
        Some(query) if has_tracking_parameter(&raw[query.clone()]) => {
            let kept = without_tracking(&raw[query.clone()]);
            let mut text = String::with_capacity(raw.len());
            text.push_str(&raw[..query.start - 1]);
            if !kept.is_empty() {
                text.push('?');
                text.push_str(&kept);
            }
            text.push_str(&raw[query.end..]);
            std::borrow::Cow::Owned(text)
        }
        _ => std::borrow::Cow::Borrowed(raw),
    };
    Some(CleanedUrl::Text {
        text,
        host: parts.host,
        path: parts.path,
    })
}

/// Where the parts of a URL are, for text the URL parser would write back unchanged.
struct UrlParts {
    host: std::ops::Range<usize>,
    path: std::ops::Range<usize>,
    query: Option<std::ops::Range<usize>>,
}

/// The parts of `raw` when it is an absolute http(s) URL the parser would write back as
/// it is: lowercase scheme and host (letters, digits, `-`, dots between non-empty labels,
/// no IP address, no punycode, no port, no user), a path of plain characters without dot
/// segments, a non-empty query and a fragment of plain characters. `None` means "ask the
/// parser", never "not a URL".
fn written_as_parsed(raw: &str) -> Option<UrlParts> {
    let after_scheme = if raw.starts_with("https://") {
        "https://".len()
    } else if raw.starts_with("http://") {
        "http://".len()
    } else {
        return None;
    };
    let bytes = raw.as_bytes();
    let host_end = after_scheme + raw[after_scheme..].find('/')?;
    let host = &raw[after_scheme..host_end];
    let plain_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with("xn--")
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    // The last label starting with a digit could be read as an IPv4 address; Google's
    // click redirects are followed by the parser's path.
    if !host.split('.').all(plain_label)
        || host
            .rsplit('.')
            .next()
            .is_none_or(|last| last.starts_with(|c: char| c.is_ascii_digit()))
        || is_google_host(host)
    {
        return None;
    }
    let path_end = raw[host_end..]
        .find(['?', '#'])
        .map_or(raw.len(), |at| host_end + at);
    let path = &raw[host_end..path_end];
    if !plain_characters(path, b"/")
        || path
            .as_bytes()
            .split(|&b| b == b'/')
            .any(|segment| segment == b"." || segment == b"..")
    {
        return None;
    }
    let mut query = None;
    let mut rest = path_end;
    if bytes.get(rest) == Some(&b'?') {
        let end = raw[rest..].find('#').map_or(raw.len(), |at| rest + at);
        let text = &raw[rest + 1..end];
        // The parser encodes `'` in the queries of http(s) URLs.
        if text.is_empty() || !plain_characters(text, b"/?") || text.contains('\'') {
            return None;
        }
        query = Some(rest + 1..end);
        rest = end;
    }
    if bytes.get(rest) == Some(&b'#') && !plain_characters(&raw[rest + 1..], b"/?") {
        return None;
    }
    Some(UrlParts {
        host: after_scheme..host_end,
        path: host_end..path_end,
        query,
    })
}

/// Whether `text` holds only characters the URL parser leaves as they are: RFC 3986's
/// unreserved and sub-delimiter characters, `:` and `@`, the `extra` ones, and `%`
/// followed by two hex digits other than an encoded dot (which the parser decodes in
/// paths).
fn plain_characters(text: &str, extra: &[u8]) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().all(|(at, &b)| match b {
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => true,
        b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+'
        | b',' | b';' | b'=' | b':' | b'@' => true,
        b'%' => {
            let hex = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_hexdigit);
            hex(at + 1)
                && hex(at + 2)
                && !(bytes[at + 1] == b'2' && bytes[at + 2].eq_ignore_ascii_case(&b'e'))
        }
        _ => extra.contains(&b),
    })
}

/// The query's pairs that are not tracking parameters, each exactly as written (not
/// re-encoded), in order, empty pairs dropped.
fn without_tracking(query: &str) -> String {
    // Written into one string: a list of the pairs joined afterwards made two allocations
    // more for every link with a query.
    let mut kept = String::with_capacity(query.len());
    for pair in query
        .split('&')
        .filter(|pair| !pair.is_empty() && !is_tracking_pair(pair))
    {
        if !kept.is_empty() {
            kept.push('&');
        }
        kept.push_str(pair);
    }
    kept
}

fn is_tracking_pair(pair: &str) -> bool {
    // Byte searches: a `split` or a `contains` of chars sets up a searcher per call, and
    // this runs for every parameter of every link.
    let name = memchr::memchr(b'=', pair.as_bytes()).map_or(pair, |at| &pair[..at]);
    is_tracking_parameter(&percent_decode(name))
}

fn has_tracking_parameter(query: &str) -> bool {
    query.split('&').any(is_tracking_pair)
}

/// Google's hosts (`google.com`, `www.google.de`, …), whose `/url` path is a redirect.
fn is_google_host(host: &str) -> bool {
    // A loop of `strip_prefix` rather than `trim_start_matches`, which builds a substring
    // searcher on every call (a tenth of the time of checking a link).
    let mut host = host;
    while let Some(rest) = host.strip_prefix("www.") {
        host = rest;
    }
    host == "google.com" || host.starts_with("google.")
}

/// Where a click-tracking redirect (Google's `/url?url=…` of Alerts and search results)
/// leads: the address the reader means, not the counter in front of it.
fn redirect_target(url: &Url) -> Option<Url> {
    if !(is_google_host(url.host_str()?) && url.path() == "/url") {
        return None;
    }
    url.query_pairs()
        .find(|(name, _)| name == "url" || name == "q")
        .and_then(|(_, target)| Url::parse(&target).ok())
        .filter(|target| matches!(target.scheme(), "http" | "https"))
}

/// Removes tracking parameters in place, leaving the order of the others alone and
/// dropping an empty `?`.
pub fn strip_tracking(url: &mut Url) {
    let Some(query) = url.query() else {
        return;
    };
    if !has_tracking_parameter(query) {
        return;
    }
    let new_query = without_tracking(query);
    url.set_query(if new_query.is_empty() {
        None
    } else {
        Some(&new_query)
    });
}

fn percent_decode(text: &str) -> std::borrow::Cow<'_, str> {
    if memchr::memchr2(b'%', b'+', text.as_bytes()).is_none() {
        return std::borrow::Cow::Borrowed(text);
    }
    url::form_urlencoded::parse(format!("{text}=").as_bytes())
        .next()
        .map(|(name, _)| std::borrow::Cow::Owned(name.into_owned()))
        .unwrap_or(std::borrow::Cow::Borrowed(text))
}

/// The form of a link used to recognise one story in two feeds: tracking parameters
/// and fragment dropped (scheme and host are already lowercased by the URL parser).
pub fn canonical_link(url: &Url) -> String {
    let mut canonical = url.clone();
    canonical.set_fragment(None);
    strip_tracking(&mut canonical);
    canonical.to_string()
}

/// `url` as it may be shown: a password in it replaced by `***` (feed URLs can carry
/// credentials, and `check` and `status` print them).
pub fn masked(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(raw: &str) -> Option<String> {
        let base = Url::parse("https://example.com/blog/post/").ok();
        clean_url(raw, base.as_ref()).map(|u| u.to_string())
    }

    #[test]
    fn tracking_parameters_are_removed_and_others_kept() {
        assert_eq!(
            clean("https://a.example/x?id=3&utm_source=rss&utm_medium=feed&fbclid=abc&page=2")
                .as_deref(),
            Some("https://a.example/x?id=3&page=2")
        );
        assert_eq!(
            clean("https://a.example/x?utm_source=rss").as_deref(),
            Some("https://a.example/x")
        );
        // Names in any case and percent-encoded; a name that only starts like one stays.
        assert_eq!(
            clean("https://a.example/x?UTM_Source=rss&FBCLID=1&%75tm_term=t&utm=kept&gclid2=kept")
                .as_deref(),
            Some("https://a.example/x?utm=kept&gclid2=kept")
        );
        // Every one of them, in capitals too.
        for pattern in TRACKING_PARAMETERS {
            let name = pattern.replace('*', "x");
            assert!(is_tracking_parameter(&name), "{name}");
            assert!(is_tracking_parameter(&name.to_ascii_uppercase()), "{name}");
        }
        assert!(!is_tracking_parameter(""));
    }

    /// What the quick path gives, beside what the parser gives, for one link.
    fn both_ways(raw: &str) -> (Option<[String; 3]>, Option<[String; 3]>, bool) {
        let base = Url::parse("https://example.com/blog/post/").ok();
        let parts = |u: &CleanedUrl<'_>| [u.as_str(), u.host(), u.path()].map(str::to_string);
        let quick = clean_url_text(raw, base.as_ref());
        let parsed = clean_url(raw, base.as_ref()).map(CleanedUrl::Parsed);
        let as_text = matches!(quick, Some(CleanedUrl::Text { .. }));
        (
            quick.as_ref().map(parts),
            parsed.as_ref().map(parts),
            as_text,
        )
    }

    #[test]
    fn links_taken_as_text_come_out_as_the_parser_writes_them() {
        // Shapes the URL parser rewrites (case, ports, users, IP addresses, punycode, dot
        // segments, characters it encodes, tabs it drops), and plain ones it keeps.
        let links = [
            "https://example.com/a/b.html",
            "https://example.com/a/b.html?id=3&page=2#top",
            "https://example.com/x?id=3&utm_source=rss&utm_medium=feed&&page=2",
            "https://example.com/x?utm_source=rss",
            "https://example.com/x?utm_source=rss#frag",
            "https://example.com/x?%75tm_term=t&a=1",
            "https://example.com/x?utm+source=1&utm_x=2",
            "https://example.com/x?a=1&FBCLID=2",
            "https://example.com/x?",
            "https://example.com/x?a='1'",
            "https://example.com/x#a'b",
            "https://example.com/it's/(1)/a,b;c=d:e@f!$*+~",
            "https://example.com/%E2%82%AC/%zz/%2e%2E/x",
            "https://example.com/a/./b/../c",
            "https://example.com/a/%2e/b",
            "https://example.com/a b",
            "https://example.com/a\tb",
            "https://example.com/a\\b",
            "https://example.com/a\"b<c>`d{e}|f^g[h]",
            "https://example.com/caf\u{e9}",
            "https://Example.com/a",
            "HTTPS://example.com/a",
            "https://example.com:443/a",
            "http://example.com:80/a",
            "https://example.com:8443/a",
            "https://user:pw@example.com/a",
            "https://127.0.0.1/a",
            "https://127.1/a",
            "https://0x7f.1/a",
            "https://example.123/a",
            "https://xn--caf-dma.example/a",
            "https://xn--invalid-.example/a",
            "https://a..b.example/a",
            "https://.example.com/a",
            "https://example.com./a",
            "https://-a.example/a",
            "https://a--b.example/a",
            "https://example.com",
            "https://example.com?x=1",
            "https://example.com#x/y",
            "https:///a",
            "https://www.google.com/url?url=https://target.example/a/&ct=ga",
            "https://news.google.com/articles/1",
            "http://feeds.feedburner.com/~ff/x?a=1",
            "javascript:alert(1)",
            "/relative/path?utm_source=x&a=1",
            "  https://example.com/padded  ",
            "https://example.com/a#b#c",
            "https://example.com/a?b?c=/d",
            "https://example.com/a#%2e",
        ];
        let mut as_text = 0;
        for raw in links {
            let (quick, parsed, text) = both_ways(raw);
            assert_eq!(quick, parsed, "{raw}");
            as_text += usize::from(text);
        }
        // The plain shapes are taken as text (else the check would never be exercised).
        assert!(as_text >= 12, "{as_text}");
        assert!(both_ways("https://example.com/x?id=3&utm_source=rss#top").2);
        assert_eq!(
            both_ways("https://example.com/x?id=3&utm_source=rss#top")
                .0
                .map(|[text, ..]| text),
            Some("https://example.com/x?id=3#top".to_string())
        );
    }

    #[test]
    fn relative_urls_resolve_against_the_base() {
        assert_eq!(
            clean("../img/a.png").as_deref(),
            Some("https://example.com/blog/img/a.png")
        );
        assert_eq!(
            clean("/about").as_deref(),
            Some("https://example.com/about")
        );
    }

    #[test]
    fn google_redirects_lead_to_their_target() {
        assert_eq!(
            clean(
                "https://www.google.com/url?rct=j&sa=t&url=https://mspoweruser.com/a/&ct=ga&usg=X"
            )
            .as_deref(),
            Some("https://mspoweruser.com/a/")
        );
        assert_eq!(
            clean("https://www.google.com/url?q=javascript:alert(1)").as_deref(),
            Some("https://www.google.com/url?q=javascript:alert(1)")
        );
    }

    #[test]
    fn non_web_schemes_are_refused() {
        assert_eq!(clean("javascript:alert(1)"), None);
        assert_eq!(clean("JaVaScRiPt:alert(1)"), None);
        assert_eq!(clean("data:text/html,<b>x</b>"), None);
        assert_eq!(clean("file:///etc/passwd"), None);
    }

    #[test]
    fn canonical_link_drops_fragment_and_lowercases_host() {
        let url = Url::parse("HTTPS://Example.COM/a?utm_campaign=x#comments").expect("url");
        assert_eq!(canonical_link(&url), "https://example.com/a");
    }

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            masked("https://reader:s3cret@example.com/feed"),
            "https://reader:***@example.com/feed"
        );
        assert_eq!(
            masked("https://example.com/feed"),
            "https://example.com/feed"
        );
    }
}
