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
    TRACKING_PARAMETERS
        .iter()
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

/// Where a click-tracking redirect (Google's `/url?url=…` of Alerts and search results)
/// leads: the address the reader means, not the counter in front of it.
fn redirect_target(url: &Url) -> Option<Url> {
    let host = url.host_str()?.trim_start_matches("www.");
    let is_google = host == "google.com" || host.starts_with("google.");
    if !(is_google && url.path() == "/url") {
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
    if !url
        .query_pairs()
        .any(|(name, _)| is_tracking_parameter(&name))
    {
        return;
    }
    // Keep each kept pair exactly as written rather than re-encoding it.
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or(pair);
            let decoded = percent_decode(name);
            !pair.is_empty() && !is_tracking_parameter(&decoded)
        })
        .collect();
    let new_query = kept.join("&");
    url.set_query(if new_query.is_empty() {
        None
    } else {
        Some(&new_query)
    });
}

fn percent_decode(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['%', '+']) {
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
