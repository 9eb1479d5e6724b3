//! The one rule for elements a reader never sees: screen-reader text, hidden elements,
//! `display:none`. Used by the markdown body and by plain-text summaries alike, so "Read
//! More" meant for screen readers leaks into neither.

/// Class names that mean "for screen readers only" or "hidden" (WordPress, Bootstrap,
/// Tailwind, HTML5 Boilerplate, Drupal).
const HIDDEN_CLASSES: &[&str] = &[
    "screen-reader-text",
    "screen-reader-only",
    "sr-only",
    "visually-hidden",
    "visuallyhidden",
    "element-invisible",
    "hidden",
    "hide",
];

/// A cheap first look at a tag's attribute text: false when none of the attributes
/// [`is_hidden`] reads can say "hidden" (most tags), so they need not be parsed.
pub fn might_be_hidden(attribute_text: &str) -> bool {
    [
        "hid",
        "sr-only",
        "screen-reader",
        "invisible",
        "display",
        "visibility",
    ]
    .iter()
    .any(|needle| attribute_text.contains(needle))
}

/// Whether an element with these attributes is meant to be invisible. `attribute` gives an
/// attribute's value by (lowercase) name.
pub fn is_hidden<'a>(attribute: impl Fn(&str) -> Option<&'a str>) -> bool {
    if attribute("hidden").is_some() {
        return true;
    }
    if attribute("aria-hidden").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return true;
    }
    if attribute("class").is_some_and(|classes| {
        classes
            .split_ascii_whitespace()
            .any(|class| HIDDEN_CLASSES.iter().any(|h| class.eq_ignore_ascii_case(h)))
    }) {
        return true;
    }
    attribute("style").is_some_and(|style| {
        let style: String = style
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        style.contains("display:none") || style.contains("visibility:hidden")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hidden(attrs: &[(&str, &'static str)]) -> bool {
        is_hidden(|name| attrs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
    }

    #[test]
    fn screen_reader_and_hidden_elements_are_recognised() {
        assert!(hidden(&[("class", "more-link screen-reader-text")]));
        assert!(hidden(&[("class", "sr-only")]));
        assert!(hidden(&[("hidden", "")]));
        assert!(hidden(&[("aria-hidden", "true")]));
        assert!(hidden(&[("style", "color: red; DISPLAY : none")]));
        assert!(!hidden(&[("class", "hidden-xs-up entry")]));
        assert!(!hidden(&[
            ("aria-hidden", "false"),
            ("style", "display:block")
        ]));
    }
}
