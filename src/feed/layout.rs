//! Where a feed's entry elements lie in its text, found with the tag scanner and no
//! parse: how many there are (a document with entries that yields none is an error), and
//! the text of each outermost one, so that entries a feed repeats byte for byte can be
//! left out before the XML parser reads the document (a feed of 50 entries with 2 new
//! ones is then parsed as a feed of 2).
//!
//! What an entry's text means depends on more than its own bytes: the namespaces,
//! `xml:base` and `xml:lang` of the elements around it, entities of the document type,
//! the address relative links resolve against, and the zone given to dates without one.
//! All of that is folded into one digest, the *frame*; a digest of an entry's text says
//! "the same entry" only next to an equal frame.

use std::ops::Range;

use xxhash_rust::xxh3::Xxh3;

use crate::html::{Token, tokens};

/// The entry elements of a document's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryLayout {
    /// `item` (RSS) or `entry` (Atom), whichever the text has more of.
    pub element: &'static str,
    /// How many of them (with any prefix, not empty, nested ones included).
    pub found: usize,
    /// Where each outermost one lies, when every one is closed and all share one parent
    /// (the layout of every real feed); `None` for anything else.
    pub spans: Option<EntrySpans>,
    /// Whether an element the dialect rewrites escape when it holds markup (a title,
    /// description, summary or `encoded`, any prefix) holds a tag, a `<` that starts
    /// none, or a `<` in its start tag's attributes. When none does, those rewrites would
    /// change nothing, and the four scans of the whole text they make are left out.
    pub markup_in_text_elements: bool,
}

/// The local names of the elements [`EntryLayout::markup_in_text_elements`] is about:
/// those `dialect::normalise_dialect` escapes naked markup in.
const TEXT_ELEMENTS: [&str; 4] = ["title", "description", "summary", "encoded"];

/// The outermost entry elements of a text and what surrounds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySpans {
    /// The text before the root element ends its start tag (declaration, document type,
    /// root) and the start tags of the entries' other ancestors: what an entry inherits.
    pub frame: u128,
    /// Each entry element, start tag to end tag, in document order.
    pub ranges: Vec<Range<usize>>,
}

/// Facts from outside the text that change what an entry means.
#[derive(Debug, Clone, Copy)]
pub struct FrameFacts<'a> {
    /// The address relative links resolve against.
    pub base_url: &'a str,
    /// The zone of dates that name none.
    pub zone: &'a str,
}

/// Finds the entry elements of `text` (see the module documentation).
pub fn entry_layout(text: &str, facts: FrameFacts<'_>) -> EntryLayout {
    let (mut items, mut entries) = (0, 0);
    // Open elements outside any entry: (start, length of the start tag, name).
    let mut open: Vec<(usize, usize, &str)> = Vec::new();
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut spans_hold = true;
    // The entry being read: its name as written, how deep in same-named elements, start.
    let mut inside: Option<(&str, usize, usize)> = None;
    // The ancestors of the first entry (their start offsets), which every other shares,
    // and the frame they make.
    let mut first_parents: Option<(Vec<usize>, u128)> = None;
    // The text element being read (its name as written), and whether one held markup.
    let mut text_element: Option<&str> = None;
    let mut markup_in_text_elements = false;
    let mut scanner = tokens(text);
    loop {
        let at = scanner.offset();
        let Some(token) = scanner.next() else { break };
        let tag = match token {
            Token::Tag(tag) => tag,
            Token::Text(inside) if text_element.is_some() => {
                markup_in_text_elements |= inside.contains('<');
                continue;
            }
            _ => continue,
        };
        let local = tag.local_name();
        if !markup_in_text_elements {
            match text_element {
                Some(name) if tag.closing && tag.name == name => text_element = None,
                Some(_) => markup_in_text_elements = true,
                None if !tag.closing && !tag.self_closing && TEXT_ELEMENTS.contains(&local) => {
                    text_element = Some(tag.name);
                    markup_in_text_elements = tag.attributes.contains('<');
                }
                None => {}
            }
        }
        if !tag.name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        // `<item/>` holds nothing (feeds nest empty ones inside real items).
        if !tag.closing && !tag.self_closing {
            match local {
                "item" => items += 1,
                "entry" => entries += 1,
                _ => {}
            }
        }
        if let Some((name, depth, start)) = inside.as_mut() {
            if tag.name == *name && !tag.self_closing {
                if tag.closing {
                    *depth -= 1;
                    if *depth == 0 {
                        ranges.push(*start..at + tag.len);
                        inside = None;
                    }
                } else {
                    *depth += 1;
                }
            }
            continue;
        }
        if tag.closing {
            match open.pop() {
                Some((_, _, name)) if name == tag.name => {}
                _ => spans_hold = false,
            }
        } else if tag.self_closing {
        } else if matches!(local, "item" | "entry") {
            let chain: Vec<usize> = open.iter().map(|(start, _, _)| *start).collect();
            match &first_parents {
                None => first_parents = Some((chain, frame_digest(text, &open, at, facts))),
                Some((first, _)) if *first == chain => {}
                Some(_) => spans_hold = false,
            }
            inside = Some((tag.name, 1, at));
        } else {
            open.push((at, tag.len, tag.name));
        }
    }
    let element = if entries > items { "entry" } else { "item" };
    let spans = match first_parents {
        Some((_, frame)) if spans_hold && inside.is_none() => {
            let one_kind = ranges.iter().all(|range| {
                crate::html::tag_at(&text[range.clone()])
                    .is_some_and(|tag| tag.local_name() == element)
            });
            one_kind.then_some(EntrySpans { frame, ranges })
        }
        _ => None,
    };
    EntryLayout {
        element,
        found: if element == "entry" { entries } else { items },
        spans,
        markup_in_text_elements,
    }
}

/// The text of `text` without the entry elements at `ranges` that `leave_out` names:
/// the same document with fewer entries.
pub fn without_entries(
    text: &str,
    ranges: &[Range<usize>],
    mut leave_out: impl FnMut(usize) -> bool,
) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut from = 0;
    for (index, range) in ranges.iter().enumerate() {
        if leave_out(index) {
            kept.push_str(&text[from..range.start]);
            from = range.end;
        }
    }
    kept.push_str(&text[from..]);
    kept
}

/// The digest of an entry element's text.
pub fn entry_digest(text: &str, range: &Range<usize>) -> u128 {
    xxhash_rust::xxh3::xxh3_128(text[range.clone()].as_bytes())
}

fn frame_digest(
    text: &str,
    ancestors: &[(usize, usize, &str)],
    first_entry: usize,
    facts: FrameFacts<'_>,
) -> u128 {
    let mut digest = Xxh3::new();
    let mut part = |bytes: &[u8]| {
        digest.update(&(bytes.len() as u64).to_le_bytes());
        digest.update(bytes);
    };
    // What this build makes of the same text may differ from what an older one made.
    part(env!("CARGO_PKG_VERSION").as_bytes());
    part(facts.base_url.as_bytes());
    part(facts.zone.as_bytes());
    match ancestors.split_first() {
        Some(((root_start, root_len, _), rest)) => {
            part(&text.as_bytes()[..root_start + root_len]);
            for (start, len, _) in rest {
                part(&text.as_bytes()[*start..start + len]);
            }
        }
        // An entry as the root: everything before it frames it.
        None => part(&text.as_bytes()[..first_entry]),
    }
    digest.digest128()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FACTS: FrameFacts<'static> = FrameFacts {
        base_url: "https://example.com/feed",
        zone: "UTC",
    };

    fn spans(text: &str) -> EntrySpans {
        entry_layout(text, FACTS).spans.expect("spans")
    }

    #[test]
    fn entries_are_found_whole_with_nested_elements_of_their_name() {
        let text = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>\
                    <item><title>a</title><item/></item>\n<item><title><![CDATA[<item>]]></title></item></channel></rss>";
        let layout = entry_layout(text, FACTS);
        assert_eq!((layout.element, layout.found), ("item", 2));
        let texts: Vec<&str> = layout
            .spans
            .expect("spans")
            .ranges
            .iter()
            .map(|r| &text[r.clone()])
            .collect();
        assert_eq!(
            texts,
            [
                "<item><title>a</title><item/></item>",
                "<item><title><![CDATA[<item>]]></title></item>"
            ]
        );
    }

    #[test]
    fn the_frame_changes_with_what_entries_inherit_and_not_with_channel_metadata() {
        let doc = |root: &str, build: &str| {
            format!(
                "{root}<channel><lastBuildDate>{build}</lastBuildDate><item><title>a</title></item></channel></rss>"
            )
        };
        let frame = |text: &str, facts| entry_layout(text, facts).spans.expect("spans").frame;
        let plain = "<rss version=\"2.0\">";
        let base = frame(&doc(plain, "Mon"), FACTS);
        assert_eq!(base, frame(&doc(plain, "Tue"), FACTS));
        let namespaced = "<rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">";
        assert_ne!(base, frame(&doc(namespaced, "Mon"), FACTS));
        let moved = FrameFacts {
            base_url: "https://example.org/feed",
            ..FACTS
        };
        assert_ne!(base, frame(&doc(plain, "Mon"), moved));
        let berlin = FrameFacts {
            zone: "Europe/Berlin",
            ..FACTS
        };
        assert_ne!(base, frame(&doc(plain, "Mon"), berlin));
    }

    #[test]
    fn markup_in_titles_descriptions_summaries_and_encoded_bodies_is_seen() {
        let markup = |inside: &str| {
            let text = format!(
                "<rss><channel><title>t</title><item>{inside}<link>https://a.example/</link></item></channel></rss>"
            );
            entry_layout(&text, FACTS).markup_in_text_elements
        };
        // Markup only inside CDATA sections and comments is the content's own.
        assert!(!markup("<title>Plain &amp; simple</title>"));
        assert!(!markup(
            "<description><![CDATA[<p>HTML <b>in</b> CDATA</p>]]></description>"
        ));
        assert!(!markup(
            "<content:encoded><!-- <b>x</b> --><![CDATA[<p>x</p>]]></content:encoded>"
        ));
        assert!(!markup("<media:title type=\"plain\">a</media:title>"));
        // Elements of other names may hold what they like.
        assert!(!markup("<author><name>A</name></author>"));
        assert!(markup("<title>Exactly <em>this</em></title>"));
        assert!(markup("<description>a <br/> b</description>"));
        assert!(markup("<atom:summary>a</b> c</atom:summary>"));
        assert!(markup("<content:encoded>a <?pi?> b</content:encoded>"));
        assert!(markup("<title>a < b</title>"));
        assert!(markup("<title a=\"<b>\">x</title>"));
        // An element that never closes holds the rest of the text.
        assert!(markup("<title>cut off"));
    }

    #[test]
    fn entries_that_do_not_share_a_parent_or_do_not_close_give_no_spans() {
        let apart = "<rss><channel><item>a</item></channel><channel><item>b</item></channel></rss>";
        assert_eq!(entry_layout(apart, FACTS).spans, None);
        let cut = "<rss><channel><item>a</item><item>b";
        let layout = entry_layout(cut, FACTS);
        assert_eq!((layout.found, layout.spans), (2, None));
    }

    #[test]
    fn leaving_entries_out_keeps_everything_around_them() {
        let text =
            "<feed><title>t</title><entry>1</entry> <entry>2</entry><link/><entry>3</entry></feed>";
        let ranges = spans(text).ranges;
        assert_eq!(
            without_entries(text, &ranges, |i| i != 1),
            "<feed><title>t</title> <entry>2</entry><link/></feed>"
        );
        assert_eq!(without_entries(text, &ranges, |_| false), text);
    }

    #[test]
    fn equal_entry_texts_have_equal_digests() {
        let text = "<feed><entry>1</entry><entry>1</entry><entry>2</entry></feed>";
        let ranges = spans(text).ranges;
        let digests: Vec<u128> = ranges.iter().map(|r| entry_digest(text, r)).collect();
        assert_eq!(digests[0], digests[1]);
        assert_ne!(digests[0], digests[2]);
    }
}
