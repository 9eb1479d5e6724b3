//! The tree html5ever builds, built directly for the HTML most entries are written in.
//!
//! Entry bodies are nearly always tidy fragments: paragraphs, links, emphasis, lists,
//! images, headings, quotes and code, every element closed where it opened. For those the
//! HTML parsing algorithm reduces to a stack: html5ever's tokenizer and tree builder spent
//! a sixth of the CPU of a cold fetch reaching the same tree. [`tidy_fragment_tree`]
//! builds that tree (the same `markup5ever_rcdom` nodes: document, `html`, `head`, `body`,
//! then the content) and gives up, returning `None`, at the first thing whose handling
//! by the HTML standard is more than a stack push or pop: misnested or implied
//! formatting, tables, forms, raw-text elements (`script`, `style`, `iframe`,
//! `textarea`), foreign content (`svg`, `math`), doctypes, `<html>`/`<body>` tags,
//! character references without their semicolon, NUL characters. The caller then parses
//! with html5ever. The corpus test holds the two to the same output for every entry of
//! every feed in the shared corpus.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use html5ever::tendril::StrTendril;
use html5ever::{Attribute, LocalName, QualName, ns};
use markup5ever_rcdom::{Handle, Node, NodeData};

use super::markdown::{MAX_PARSE_DEPTH, append, element};

// The element classes below are `match`es rather than lists searched in turn: every
// start and end tag of every article asks them (the lists' string compares were 1% of a
// cold fetch).

/// Elements written as a start tag alone.
fn is_void(name: &str) -> bool {
    matches!(name, "br" | "img" | "hr" | "wbr" | "source")
}

/// Start tags that close an open `<p>` (HTML: "close a p element").
fn closes_p(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "center"
            | "details"
            | "dir"
            | "div"
            | "dl"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "header"
            | "hgroup"
            | "main"
            | "menu"
            | "nav"
            | "ol"
            | "p"
            | "section"
            | "summary"
            | "ul"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "pre"
            | "listing"
            | "li"
            | "dd"
            | "dt"
            | "hr"
    )
}

/// Formatting elements: their end tag runs the adoption agency, which is a pop only when
/// the element is the current node.
fn is_formatting(name: &str) -> bool {
    matches!(
        name,
        "a" | "b"
            | "big"
            | "code"
            | "em"
            | "font"
            | "i"
            | "s"
            | "small"
            | "strike"
            | "strong"
            | "tt"
            | "u"
    )
}

/// Other elements whose start tag is a plain insertion.
fn is_ordinary(name: &str) -> bool {
    matches!(
        name,
        "span"
            | "sup"
            | "sub"
            | "cite"
            | "q"
            | "abbr"
            | "mark"
            | "del"
            | "ins"
            | "time"
            | "kbd"
            | "samp"
            | "var"
            | "dfn"
            | "bdi"
            | "bdo"
            | "data"
            | "label"
            | "picture"
            | "video"
            | "audio"
    )
}

/// Elements the parser closes by itself before the end tag of an element around them.
fn has_implied_end(name: &str) -> bool {
    matches!(name, "p" | "li" | "dd" | "dt")
}

fn is_heading(name: &str) -> bool {
    matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

/// HTML's ASCII white space (carriage returns are gone after preprocessing).
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\x0c')
}

/// The document html5ever would build from `html`, or `None` when `html` needs more of
/// the HTML parsing algorithm than a stack of open elements.
pub fn tidy_fragment_tree(html: &str) -> Option<Handle> {
    // One scan for both bytes (`str::contains` twice was 4% of conversion).
    let has_nul_or_cr = memchr::memchr2(b'\0', b'\r', html.as_bytes()).is_some();
    if has_nul_or_cr && html.contains('\0') {
        return None;
    }
    // The input stream's preprocessing: every CR LF and lone CR becomes LF.
    let normalised;
    let html = if has_nul_or_cr && html.contains('\r') {
        normalised = html.replace("\r\n", "\n").replace('\r', "\n");
        normalised.as_str()
    } else {
        html
    };
    let mut builder = Builder::new();
    let bytes = html.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let Some(offset) = memchr::memchr2(b'<', b'&', &bytes[at..]) else {
            builder.text(&html[at..]);
            break;
        };
        if offset > 0 {
            builder.text(&html[at..at + offset]);
            at += offset;
        }
        if bytes[at] == b'&' {
            if builder.after_pre {
                // Whether a reference to a line feed counts as the one after `<pre>`.
                return None;
            }
            let (decoded, used) = character_reference(&html[at + 1..])?;
            match decoded {
                Some(decoded) => builder.text(decoded.encode(&mut [0; 8])),
                None => builder.text("&"),
            }
            at += 1 + used;
            continue;
        }
        at = builder.markup(html, at)?;
    }
    Some(builder.finish())
}

/// The tree being built.
struct Builder {
    document: Handle,
    /// `body` once the first content has been met (before it, white space is dropped and
    /// comments go to the document, as in the parser's first insertion modes).
    body: Option<Handle>,
    /// Open elements below `body`, innermost last.
    open: Vec<(Handle, LocalName)>,
    /// Text not yet appended to the current node.
    pending: String,
    /// A `<pre>` just opened: a line feed right after it is dropped.
    after_pre: bool,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            document: Node::new(NodeData::Document),
            body: None,
            open: Vec::new(),
            pending: String::new(),
            after_pre: false,
        }
    }

    /// Creates `html`, `head` and `body` (what the parser does at the first content).
    fn start(&mut self) -> Handle {
        if let Some(body) = &self.body {
            return Rc::clone(body);
        }
        let html = element("html", Vec::new());
        append(&self.document, Rc::clone(&html));
        append(&html, element("head", Vec::new()));
        let body = element("body", Vec::new());
        append(&html, Rc::clone(&body));
        self.body = Some(Rc::clone(&body));
        body
    }

    fn current(&mut self) -> Handle {
        match self.open.last() {
            Some((node, _)) => Rc::clone(node),
            None => self.start(),
        }
    }

    fn top_is(&self, names: &[&str]) -> bool {
        self.top_matches(|name| names.contains(&name))
    }

    fn top_matches(&self, class: impl Fn(&str) -> bool) -> bool {
        self.open.last().is_some_and(|(_, name)| class(name))
    }

    fn is_open(&self, name: &str) -> bool {
        self.open.iter().any(|(_, open)| open.as_ref() == name)
    }

    fn text(&mut self, text: &str) {
        let mut text = text;
        if self.after_pre {
            self.after_pre = false;
            text = text.strip_prefix('\n').unwrap_or(text);
        }
        if self.body.is_none() {
            text = text.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
            if text.is_empty() {
                return;
            }
            self.start();
        }
        self.pending.push_str(text);
    }

    /// Appends the pending text to the current node, merged with a text node it ends in.
    fn flush_text(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let parent = self.current();
        let last = parent.children.borrow().last().cloned();
        if let Some(last) = last
            && let NodeData::Text { contents } = &last.data
        {
            contents.borrow_mut().push_slice(&self.pending);
        } else {
            append(
                &parent,
                Node::new(NodeData::Text {
                    contents: RefCell::new(StrTendril::from_slice(&self.pending)),
                }),
            );
        }
        self.pending.clear();
    }

    /// Reads the markup at `at` (a `<`); the position after it, or `None` to give up.
    fn markup(&mut self, html: &str, at: usize) -> Option<usize> {
        let bytes = html.as_bytes();
        let next = bytes.get(at + 1).copied();
        match next {
            Some(b) if b.is_ascii_alphabetic() => {
                let tag = start_tag(html, at + 1)?;
                self.flush_text();
                self.after_pre = false;
                self.start_element(&tag.name, tag.attributes)?;
                Some(tag.end)
            }
            Some(b'/') => {
                let (name, end) = end_tag(html, at + 2)?;
                self.flush_text();
                self.after_pre = false;
                self.end_element(&name)?;
                Some(end)
            }
            Some(b'!') => {
                let body = html[at..].strip_prefix("<!--")?;
                if body.starts_with('>') || body.starts_with("->") {
                    return None;
                }
                let close = crate::feed::scan::find(body, "-->")?;
                let contents = &body[..close];
                if contents.contains("--!") {
                    return None;
                }
                self.flush_text();
                self.after_pre = false;
                let comment = Node::new(NodeData::Comment {
                    contents: StrTendril::from_slice(contents),
                });
                let parent = match self.body {
                    Some(_) => self.current(),
                    None => Rc::clone(&self.document),
                };
                append(&parent, comment);
                Some(at + 4 + close + 3)
            }
            Some(b'?') => None,
            // `<` before anything else is text.
            _ => {
                self.text("<");
                Some(at + 1)
            }
        }
    }

    fn start_element(&mut self, name: &str, attributes: Vec<Attribute>) -> Option<()> {
        let closes_p = closes_p(name);
        let known = closes_p || is_void(name) || is_formatting(name) || is_ordinary(name);
        if !known {
            return None;
        }
        self.start();
        // An `li` (`dd`, `dt`) closes the one open before it; elsewhere than straight in
        // a list the parser searches the open elements, which is left to html5ever.
        match name {
            "li" if self.top_is(&["li"]) => {
                self.open.pop();
            }
            "li" if !self.top_is(&["ul", "ol", "menu"]) => return None,
            "dd" | "dt" if self.top_is(&["dd", "dt"]) => {
                self.open.pop();
            }
            "dd" | "dt" if !self.top_is(&["dl"]) => return None,
            _ => {}
        }
        if closes_p && self.is_open("p") {
            if !self.top_is(&["p"]) {
                return None;
            }
            self.open.pop();
        }
        if is_heading(name) && self.top_matches(is_heading) {
            return None;
        }
        if name == "a" && self.is_open("a") {
            return None;
        }
        let node = element(name, attributes);
        let parent = self.current();
        append(&parent, Rc::clone(&node));
        if !is_void(name) {
            if self.open.len() == MAX_PARSE_DEPTH {
                // Deeper trees are measured and parsed by the caller's other path.
                return None;
            }
            // The node's own name: a second `LocalName::from` would hash the name again.
            let local = match &node.data {
                NodeData::Element { name, .. } => name.local.clone(),
                _ => LocalName::from(name),
            };
            self.open.push((node, local));
        }
        if matches!(name, "pre" | "listing") {
            self.after_pre = true;
        }
        Some(())
    }

    fn end_element(&mut self, name: &str) -> Option<()> {
        if is_void(name) {
            return None;
        }
        if closes_p(name) && !matches!(name, "p" | "hr") {
            // Block end tags close the implied ends inside them first.
            while self.top_matches(has_implied_end) && !self.top_is(&[name]) {
                self.open.pop();
            }
        }
        if !self.top_is(&[name]) {
            return None;
        }
        self.open.pop();
        Some(())
    }

    fn finish(mut self) -> Handle {
        self.flush_text();
        self.start();
        self.document
    }
}

/// A start tag read: its lowercase name, attributes, and where it ends.
struct StartTag<'a> {
    name: Cow<'a, str>,
    attributes: Vec<Attribute>,
    end: usize,
}

/// The name at `from` (after `<` or `</`): ASCII letters and digits, lowercased.
fn tag_name(html: &str, from: usize) -> Option<(Cow<'_, str>, usize)> {
    let bytes = html.as_bytes();
    let mut at = from;
    while at < bytes.len() && !is_space(bytes[at]) && bytes[at] != b'/' && bytes[at] != b'>' {
        if !bytes[at].is_ascii_alphanumeric() {
            return None;
        }
        at += 1;
    }
    (at > from).then(|| (lowercase(&html[from..at]), at))
}

/// The start tag whose name begins at `from`.
fn start_tag(html: &str, from: usize) -> Option<StartTag<'_>> {
    let bytes = html.as_bytes();
    let (name, mut at) = tag_name(html, from)?;
    let mut attributes: Vec<Attribute> = Vec::new();
    loop {
        while at < bytes.len() && is_space(bytes[at]) {
            at += 1;
        }
        match bytes.get(at)? {
            b'>' => {
                return Some(StartTag {
                    name,
                    attributes,
                    end: at + 1,
                });
            }
            b'/' => {
                at += 1;
                continue;
            }
            b'=' => return None,
            _ => {}
        }
        let name_start = at;
        while at < bytes.len() && !is_space(bytes[at]) && !matches!(bytes[at], b'/' | b'>' | b'=') {
            if matches!(bytes[at], b'"' | b'\'' | b'<') {
                return None;
            }
            at += 1;
        }
        let attribute_name = lowercase(&html[name_start..at]);
        while at < bytes.len() && is_space(bytes[at]) {
            at += 1;
        }
        let mut value = Cow::Borrowed("");
        if bytes.get(at) == Some(&b'=') {
            at += 1;
            while at < bytes.len() && is_space(bytes[at]) {
                at += 1;
            }
            let raw = match bytes.get(at)? {
                quote @ (b'"' | b'\'') => {
                    let close = memchr::memchr(*quote, &bytes[at + 1..])?;
                    let raw = &html[at + 1..at + 1 + close];
                    at += close + 2;
                    raw
                }
                b'>' => return None,
                _ => {
                    let start = at;
                    while at < bytes.len() && !is_space(bytes[at]) && bytes[at] != b'>' {
                        if matches!(bytes[at], b'"' | b'\'' | b'<' | b'=' | b'`') {
                            return None;
                        }
                        at += 1;
                    }
                    &html[start..at]
                }
            };
            value = attribute_value(raw)?;
        }
        // The first of two attributes of one name wins.
        if !attributes
            .iter()
            .any(|a| a.name.local.as_ref() == attribute_name)
        {
            attributes.push(Attribute {
                name: QualName::new(None, ns!(), LocalName::from(attribute_name.as_ref())),
                value: StrTendril::from_slice(&value),
            });
        }
    }
}

/// An attribute value with its character references decoded.
fn attribute_value(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.contains('&') {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let (decoded, used) = character_reference(&rest[amp + 1..])?;
        match decoded {
            Some(decoded) => out.push_str(decoded.encode(&mut [0; 8])),
            None => out.push('&'),
        }
        rest = &rest[amp + 1 + used..];
    }
    out.push_str(rest);
    Some(Cow::Owned(out))
}

/// `name` in ASCII lowercase, copied only when it is not already (tags and attributes in
/// entry HTML nearly always are: a copy per tag was a tenth of conversion's allocations).
pub(super) fn lowercase(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// The end tag whose name begins at `from` (after `</`): its name and where it ends.
fn end_tag(html: &str, from: usize) -> Option<(Cow<'_, str>, usize)> {
    let bytes = html.as_bytes();
    if !bytes.get(from)?.is_ascii_alphabetic() {
        return None;
    }
    let (name, mut at) = tag_name(html, from)?;
    while at < bytes.len() && is_space(bytes[at]) {
        at += 1;
    }
    (bytes.get(at) == Some(&b'>')).then_some((name, at + 1))
}

/// The character reference after an `&`, as html5ever's tokenizer reads it: what it
/// stands for (`None`: the `&` is text) and how many bytes after the `&` it used; `None`
/// overall for the cases not followed here (numbers without `;` or outside the plain
/// range, names whose match lacks its `;`, which text and attributes read differently).
fn character_reference(after: &str) -> Option<(Option<Decoded>, usize)> {
    let bytes = after.as_bytes();
    match bytes.first() {
        Some(b'#') => numeric_reference(after),
        Some(b) if b.is_ascii_alphanumeric() => named_reference(after),
        _ => Some((None, 0)),
    }
}

fn numeric_reference(after: &str) -> Option<(Option<Decoded>, usize)> {
    let bytes = after.as_bytes();
    let (radix, digits_from) = match bytes.get(1) {
        Some(b'x' | b'X') => (16, 2),
        _ => (10, 1),
    };
    let digits = bytes[digits_from..]
        .iter()
        .take_while(|b| (**b as char).is_digit(radix))
        .count();
    if digits == 0 || digits > 6 || bytes.get(digits_from + digits) != Some(&b';') {
        return None;
    }
    let number = u32::from_str_radix(&after[digits_from..digits_from + digits], radix).ok()?;
    let plain = matches!(number, 0x09 | 0x0A | 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFDCF | 0xFDF0..=0xFFFD)
        || (0x10000..=0x10FFFF).contains(&number) && number & 0xFFFE != 0xFFFE;
    if !plain {
        return None;
    }
    let character = char::from_u32(number)?;
    Some((Some(Decoded::one(character)), digits_from + digits + 1))
}

/// The names most entry HTML uses (`&amp;` in every link with a query), each with its
/// `;`: no longer name begins with one of them, so they are the longest match the table
/// walk below would find, without its hash lookup per character.
const COMMON_NAMES: [(&str, char); 6] = [
    ("amp;", '&'),
    ("lt;", '<'),
    ("gt;", '>'),
    ("quot;", '"'),
    ("nbsp;", '\u{a0}'),
    ("apos;", '\''),
];

fn named_reference(after: &str) -> Option<(Option<Decoded>, usize)> {
    if let Some((name, character)) = COMMON_NAMES
        .iter()
        .find(|(name, _)| after.starts_with(name))
    {
        return Some((Some(Decoded::one(*character)), name.len()));
    }
    let entities = &html5ever::data::NAMED_ENTITIES;
    // The longest full match among the names the text runs through (the table holds
    // every prefix of every name, with (0, 0) for a prefix that is no name itself).
    let mut matched: Option<(usize, (u32, u32))> = None;
    for (index, character) in after.char_indices() {
        let end = index + character.len_utf8();
        match entities.get(&after[..end]) {
            Some(&value) => {
                if value.0 != 0 {
                    matched = Some((end, value));
                }
            }
            None => break,
        }
    }
    let Some((length, (first, second))) = matched else {
        return Some((None, 0));
    };
    if !after[..length].ends_with(';') {
        // Legacy names without their `;` follow rules this builder leaves to html5ever.
        return None;
    }
    let second = match second {
        0 => None,
        code => Some(char::from_u32(code)?),
    };
    let decoded = Decoded {
        first: char::from_u32(first)?,
        second,
    };
    Some((Some(decoded), length))
}

/// What a character reference stands for: one character, or two for a few named ones.
/// Kept inline (a reference was a heap-allocated `String` each, in every link's query).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Decoded {
    first: char,
    second: Option<char>,
}

impl Decoded {
    fn one(character: char) -> Decoded {
        Decoded {
            first: character,
            second: None,
        }
    }

    /// The characters as UTF-8 in `buffer` (two characters take at most 8 bytes).
    fn encode(self, buffer: &mut [u8; 8]) -> &str {
        let first = self.first.len_utf8();
        self.first.encode_utf8(&mut buffer[..first]);
        let end = match self.second {
            Some(second) => first + second.encode_utf8(&mut buffer[first..]).len(),
            None => first,
        };
        std::str::from_utf8(&buffer[..end]).unwrap_or_default()
    }
}

/// A text form of a tree (elements with their attributes, text, comments), for comparing
/// two parsers' trees.
pub fn tree_text(node: &Handle) -> String {
    let mut out = String::new();
    write_tree(node, 0, &mut out);
    out
}

fn write_tree(node: &Handle, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    match &node.data {
        NodeData::Document => out.push_str("#document\n"),
        NodeData::Element { name, attrs, .. } => {
            out.push_str(&format!("{indent}<{}", name.local));
            for attribute in attrs.borrow().iter() {
                out.push_str(&format!(
                    " {}={:?}",
                    attribute.name.local, &*attribute.value
                ));
            }
            out.push_str(">\n");
        }
        NodeData::Text { contents } => {
            out.push_str(&format!("{indent}{:?}\n", &**contents.borrow()));
        }
        NodeData::Comment { contents } => {
            out.push_str(&format!("{indent}<!--{:?}-->\n", &**contents));
        }
        other => out.push_str(&format!("{indent}{other:?}\n")),
    }
    for child in node.children.borrow().iter() {
        write_tree(child, depth + 1, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::article::markdown::both_trees;

    /// Taken, and the same tree as html5ever's.
    fn taken(html: &str) {
        let (html5ever, stack) = both_trees(html).unwrap_or_else(|| panic!("not taken: {html:?}"));
        assert_eq!(stack, html5ever, "{html:?}");
    }

    #[test]
    fn the_shapes_of_tidy_entries_are_built_as_html5ever_builds_them() {
        taken("<p>One <a href=\"/a?x=1&amp;y=2&z=3\">link</a> &copy; 2024</p>\r\n<p>Two");
        taken("  <!-- wp:paragraph -->\n<p>a<p>b<ul><li>c<li>d</ul><h2>e</h2>");
        taken("<pre>\ncode\n</pre><dl><dt>t<dd>d</dl><div><p>x</div>");
        taken("<P CLASS=a class=b>AT&T <img src=x alt='&lt;'/><br/></P >");
        taken("");
        taken("text only &#x41;&#65; < 3");
    }

    #[test]
    fn character_references_are_decoded_as_html5ever_decodes_them() {
        // The common names taken without the table walk, in text and in attributes; two
        // characters for one name; names that begin like a common one; numbers.
        taken(
            "<p title=\"&quot;a&quot; &lt;b&gt; &amp;c &nbsp;d &apos;e\">&amp; &lt;&gt; &quot;&nbsp;&apos;</p>",
        );
        taken(
            "<p title=\"&NotEqualTilde; &ltimes;\">&NotEqualTilde; &ltimes; &gtrdot; &amp;amp;</p>",
        );
        taken("<a href=\"/?a=1&amp;b=&#x2603;&#9731;\">&#x1F600; &#169;</a>");
        for (name, character) in COMMON_NAMES {
            let walked = html5ever::data::NAMED_ENTITIES.get(name).copied();
            assert_eq!(walked, Some((u32::from(character), 0)), "{name}");
        }
    }

    #[test]
    fn what_needs_more_than_a_stack_is_left_to_html5ever() {
        for html in [
            "<p><em>a<div>b</div></em></p>",
            "<b><i>a</b></i>",
            "<a href=x><a href=y>",
            "<table><tr><td>a</table>",
            "<script>x<y</script>",
            "&copy 2024",
            "<!DOCTYPE html><p>a",
            "<svg><circle/></svg>",
            "</p>",
            "a\0b",
        ] {
            assert!(tidy_fragment_tree(html).is_none(), "{html:?}");
        }
    }

    #[test]
    fn nesting_deeper_than_the_parse_limit_is_left_to_the_other_path() {
        let nested =
            |depth: usize| format!("{}deep{}", "<div>".repeat(depth), "</div>".repeat(depth));
        taken(&nested(MAX_PARSE_DEPTH));
        assert!(tidy_fragment_tree(&nested(MAX_PARSE_DEPTH + 1)).is_none());
    }
}
