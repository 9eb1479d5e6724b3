//! Substring search over whole documents. The repairs and dialect rewrites look for tags
//! in every fetched document several times over; `str::find` with a string needle is a
//! Two-Way search without SIMD, which made those scans a fifth of the CPU of a fetch whose
//! entries were all known. `memchr`'s `memmem` (already built for regex and quick-xml) does
//! the same search with SIMD.
//!
//! A match of a needle that is valid UTF-8 always starts on a character boundary of a
//! valid UTF-8 haystack, so the offsets can slice the haystack.

use std::cell::RefCell;
use std::sync::LazyLock;

use memchr::memmem::Finder;

/// The byte offset of the first `needle` in `haystack`.
pub fn find(haystack: &str, needle: &str) -> Option<usize> {
    find_bytes(haystack.as_bytes(), needle)
}

/// The byte offset of the first `needle` in `haystack` at or after `from`.
pub fn find_from(haystack: &str, needle: &str, from: usize) -> Option<usize> {
    let rest = haystack.as_bytes().get(from..)?;
    find_bytes(rest, needle).map(|at| from + at)
}

fn find_bytes(haystack: &[u8], needle: &str) -> Option<usize> {
    if let Some(finder) = prebuilt(needle) {
        return finder.find(haystack);
    }
    FINDERS.with(|finders| {
        // Never borrowed twice (nothing here calls back), but a search must not fail.
        let Ok(mut finders) = finders.try_borrow_mut() else {
            return memchr::memmem::find(haystack, needle.as_bytes());
        };
        // A short list, compared by length first: cheaper than hashing each needle.
        if let Some(finder) = finders
            .iter()
            .find(|finder| finder.needle() == needle.as_bytes())
        {
            return finder.find(haystack);
        }
        let finder = Finder::new(needle.as_bytes()).into_owned();
        let found = finder.find(haystack);
        if finders.len() < CACHED_FINDERS {
            finders.push(finder);
        }
        found
    })
}

/// Whether any byte of `bytes` `matches`: for the checks that run over every byte of every
/// document or body. In blocks of 64 bytes without a branch inside a block, which the
/// compiler turns into vector compares; a loop that stopped at each byte to ask was 2% of
/// a cold fetch's instructions (three per byte of every document).
pub fn any_byte(bytes: &[u8], matches: impl Fn(u8) -> bool) -> bool {
    let mut blocks = bytes.chunks_exact(64);
    let in_blocks = blocks
        .by_ref()
        .any(|block| block.iter().fold(false, |found, &b| found | matches(b)));
    in_blocks || blocks.remainder().iter().any(|&b| matches(b))
}

/// Finders for the needles each document is searched for many times over (once per entry
/// or per CDATA section). `memmem::find` builds its searcher at every call, and that cost
/// more than many of the short searches it served (1% of a cold fetch's instructions).
fn prebuilt(needle: &str) -> Option<&'static Finder<'static>> {
    static CDATA_OPEN: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("<![CDATA["));
    static CDATA_CLOSE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("]]>"));
    static COMMENT_OPEN: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("<!--"));
    static COMMENT_CLOSE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("-->"));
    static ITEM_CLOSE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("</item>"));
    static ENTRY_CLOSE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("</entry>"));
    let finder = match needle {
        "<![CDATA[" => &CDATA_OPEN,
        "]]>" => &CDATA_CLOSE,
        "<!--" => &COMMENT_OPEN,
        "-->" => &COMMENT_CLOSE,
        "</item>" => &ITEM_CLOSE,
        "</entry>" => &ENTRY_CLOSE,
        _ => return None,
    };
    Some(LazyLock::force(finder))
}

/// How many other needles a thread keeps a finder for. They are tag names and end tags,
/// some taken from the documents (an element's own end tag, with its prefix), so the
/// list is bounded; past it, a finder is built for the call.
const CACHED_FINDERS: usize = 32;

thread_local! {
    /// Finders built once per thread for the other needles the dialect rewrites search
    /// every document for again and again (a tag name once per entry, an element's end
    /// tag once per element): building one per call was a fifth of the rewrites' time
    /// (135,000 searchers for the benchmark's 200 documents).
    static FINDERS: RefCell<Vec<Finder<'static>>> = const { RefCell::new(Vec::new()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_byte_offsets_on_character_boundaries() {
        let text = "é<item>ü</item><item>";
        assert_eq!(find(text, "<item>"), Some(2));
        assert_eq!(find_from(text, "<item>", 3), Some(17));
        assert_eq!(find_from(text, "<item>", 100), None);
        assert_eq!(&text[find(text, "ü").expect("found")..][..2], "ü");
        // A finder kept from an earlier search finds what a new one would, and needles
        // past the cache's bound are still found.
        let document = "<a><![CDATA[x]]><!-- c --></item></entry><![CDATA[y]]><tag-70>";
        let many: Vec<String> = (0..CACHED_FINDERS + 8)
            .map(|n| format!("<tag-{n}>"))
            .collect();
        let needles = ["<![CDATA[", "]]>", "<!--", "-->", "</item>", "</entry>"]
            .into_iter()
            .chain(many.iter().map(String::as_str));
        for needle in needles {
            for _ in 0..2 {
                for from in 0..document.len() {
                    assert_eq!(
                        find_from(document, needle, from),
                        document
                            .get(from..)
                            .and_then(|rest| rest.find(needle).map(|at| from + at)),
                        "{needle} from {from}"
                    );
                }
            }
        }
        FINDERS.with(|finders| assert_eq!(finders.borrow().len(), CACHED_FINDERS));
    }
}
