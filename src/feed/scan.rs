//! Substring search over whole documents. The repairs and dialect rewrites look for tags
//! in every fetched document several times over; `str::find` with a string needle is a
//! Two-Way search without SIMD, which made those scans a fifth of the CPU of a fetch whose
//! entries were all known. `memchr`'s `memmem` (already built for regex and quick-xml) does
//! the same search with SIMD.
//!
//! A match of a needle that is valid UTF-8 always starts on a character boundary of a
//! valid UTF-8 haystack, so the offsets can slice the haystack.

/// The byte offset of the first `needle` in `haystack`.
pub fn find(haystack: &str, needle: &str) -> Option<usize> {
    memchr::memmem::find(haystack.as_bytes(), needle.as_bytes())
}

/// The byte offset of the first `needle` in `haystack` at or after `from`.
pub fn find_from(haystack: &str, needle: &str, from: usize) -> Option<usize> {
    let rest = haystack.as_bytes().get(from..)?;
    memchr::memmem::find(rest, needle.as_bytes()).map(|at| from + at)
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
    }
}
