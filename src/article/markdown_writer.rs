//! Markdown written from the sanitised tree by htmd's rules, for the elements entry bodies
//! are nearly always made of.
//!
//! htmd's walk was a third of conversion's samples in a cold fetch (6.3% of the fetch),
//! much of it in looking up each element's handler (a perfect-hash set and a SipHash map
//! per element), dynamic dispatch, and a walk up the parents of every element to ask
//! whether it is inside a `<pre>`. [`tree_to_markdown`] writes the same bytes for the
//! subset of HTML it knows (text, paragraphs and other blocks, links, images, emphasis,
//! lists, quotes, headings, line breaks, rules, and inline elements written as their
//! content) and declines,
//! returning `None`, at the first element whose handling is more (`pre`, `code`,
//! tables, math spans); the caller then converts with htmd. The rules below are htmd
//! 0.5's (its `dom_walker` and element handlers, MIT or Apache-2.0) with the options
//! tidings sets (dashes for bullets, one space after markers, backslash line breaks,
//! `- - -` rules, inline links); the corpus and fuzz tests hold the two to the same
//! output for every entry this writes.

use std::borrow::Cow;

use html5ever::Attribute;
use markup5ever_rcdom::{Handle, Node, NodeData};

use super::markdown::element_name;

thread_local! {
    /// Strings given back after their content was copied into their parent's: each
    /// element's markdown is built in a string of its own (as htmd builds it), and taking
    /// them from here spares a malloc and the reallocations of its growth (57 a body).
    static BUFFERS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Strings kept for reuse per thread, and the largest kept.
const KEPT_BUFFERS: usize = 32;
const KEPT_CAPACITY: usize = 64 * 1024;

/// An empty string with room for `capacity` bytes, reused when one was given back.
fn buffer(capacity: usize) -> String {
    let mut buffer = BUFFERS
        .with(|buffers| buffers.borrow_mut().pop())
        .unwrap_or_default();
    buffer.reserve(capacity);
    buffer
}

/// Gives `used` back for reuse.
fn recycle(mut used: String) {
    if used.capacity() == 0 || used.capacity() > KEPT_CAPACITY {
        return;
    }
    used.clear();
    BUFFERS.with(|buffers| {
        let mut buffers = buffers.borrow_mut();
        if buffers.len() < KEPT_BUFFERS {
            buffers.push(used);
        }
    });
}

/// The writer met an element it leaves to htmd.
struct Declined;

type Written<T> = Result<T, Declined>;

/// The markdown htmd writes for `tree` (a document), or `None` when the tree holds an
/// element this writer leaves to htmd. Merges adjacent identical inline elements in the
/// tree as htmd does (which htmd, given the tree after a decline, does again to the same
/// effect).
pub(super) fn tree_to_markdown(tree: &Handle) -> Option<String> {
    let mut output = String::new();
    walk_node(tree, &mut output, true).ok()?;
    trim_newlines(&mut output);
    Some(output)
}

fn walk_node(node: &Handle, output: &mut String, trim_leading_spaces: bool) -> Written<()> {
    match &node.data {
        NodeData::Document => {
            walk_children(node, output, true)?;
            let end = output.trim_end_matches(is_document_whitespace).len();
            output.truncate(end);
        }
        NodeData::Text { contents } => write_text(&contents.borrow(), output, trim_leading_spaces),
        NodeData::Element { name, attrs, .. } => {
            if let Some(content) = element_markdown(node, &name.local, &attrs.borrow())? {
                append_normalized_content(output, content);
            }
        }
        NodeData::Comment { .. } | NodeData::Doctype { .. } => {}
        NodeData::ProcessingInstruction { .. } => return Err(Declined),
    }
    Ok(())
}

/// What an element contributes, before it is joined to what came before it.
fn element_markdown(node: &Handle, tag: &str, attrs: &[Attribute]) -> Written<Option<String>> {
    Ok(match tag {
        "span" => {
            if is_math_span(attrs) {
                return Err(Declined);
            }
            let mut content = children_markdown(node, false)?;
            trim_newlines(&mut content);
            Some(content)
        }
        "img" => image(attrs),
        "a" => Some(anchor(node, attrs)?),
        "ol" | "ul" => list(node, tag, attrs)?,
        "li" => Some(list_item(node)?),
        "blockquote" => Some(blockquote(node)?),
        "strong" | "b" => emphasis(node, "**")?,
        "i" | "em" => emphasis(node, "*")?,
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => Some(heading(node, tag)?),
        "br" => Some("\\\n".to_string()),
        "hr" => Some("\n\n- - -\n\n".to_string()),
        "code" | "pre" | "table" | "td" | "th" | "tr" | "tbody" | "thead" | "caption" => {
            return Err(Declined);
        }
        // `p`, `html`, `head`, `body` and htmd's other block elements.
        _ if is_block_element(tag) => {
            let content = children_markdown(node, true)?;
            let block = wrap(content.trim_matches('\n'), "\n\n");
            recycle(content);
            Some(block)
        }
        // An element htmd has no handler for is written as its content.
        _ => Some(children_markdown(node, false)?),
    })
}

/// The markdown of `node`'s children on their own (htmd's `Handlers::walk_children`).
fn children_markdown(node: &Handle, is_block: bool) -> Written<String> {
    let mut output = buffer(0);
    walk_children(node, &mut output, is_block)?;
    Ok(output)
}

fn walk_children(node: &Handle, output: &mut String, is_parent_block: bool) -> Written<()> {
    combine_adjacent_inline_elements(node);
    // Leading spaces of the first thing in a block are dropped, and of the first thing
    // after a block.
    let mut trim_leading_spaces = is_parent_block;
    for child in node.children.borrow().iter() {
        let is_block = element_name(child).is_some_and(is_block_element);
        if is_block {
            let end = output.trim_end_matches(' ').len();
            output.truncate(end);
        }
        let before = output.len();
        walk_node(child, output, trim_leading_spaces)?;
        if output.len() > before {
            trim_leading_spaces = is_block;
        }
    }
    Ok(())
}

fn write_text(text: &str, output: &mut String, trim_leading_spaces: bool) {
    let last_ends_with_space = output.ends_with(' ');
    if is_plain_text(text) {
        let text = if trim_leading_spaces || (text.starts_with(' ') && last_ends_with_space) {
            text.trim_start_matches(' ')
        } else {
            text
        };
        output.push_str(text);
        return;
    }
    let escaped = escape_if_needed(Cow::Borrowed(text));
    let text = compress_whitespace(&escaped);
    let text = if trim_leading_spaces || (text.starts_with(' ') && last_ends_with_space) {
        text.trim_start_matches(' ')
    } else {
        &text
    };
    output.push_str(text);
}

/// Joins `content` to `output`: at most two newlines between them, and one space where
/// both have one.
fn append_normalized_content(output: &mut String, content: String) {
    if output.is_empty() {
        recycle(std::mem::replace(output, content));
        return;
    }
    let last_newlines = output.len() - output.trim_end_matches('\n').len();
    let content_newlines = content.len() - content.trim_start_matches('\n').len();
    let owned = content;
    let mut content: &str = &owned;
    let total_newlines = last_newlines + content_newlines;
    if total_newlines > 2 {
        content = &content[(total_newlines - 2).min(content_newlines)..];
    }
    if last_newlines == 0
        && content_newlines == 0
        && output.ends_with(' ')
        && content.starts_with(' ')
    {
        content = &content[1..];
    }
    output.push_str(content);
    recycle(owned);
}

/// `content` between two `edge`s.
fn wrap(content: &str, edge: &str) -> String {
    let mut wrapped = buffer(content.len() + 2 * edge.len());
    wrapped.push_str(edge);
    wrapped.push_str(content);
    wrapped.push_str(edge);
    wrapped
}

/// Adjacent inline elements of one kind (`i` and `em`, `b` and `strong` counting as
/// one) with the same attributes, each holding only text, become one (htmd's
/// `can_combine`); links are not combined.
fn combine_adjacent_inline_elements(node: &Handle) {
    let mut children = node.children.borrow_mut();
    let mut index = 1;
    while index < children.len() {
        if let Some(text) = combinable_text(&children[index - 1], &children[index]) {
            children.remove(index);
            index -= 1;
            if let Some(NodeData::Text { contents }) = children[index]
                .children
                .borrow()
                .first()
                .map(|first| &first.data)
            {
                contents.borrow_mut().push_tendril(&text);
            }
        }
        index += 1;
    }
}

/// The text of `second` when it is to be merged into `first`.
fn combinable_text(first: &Node, second: &Node) -> Option<html5ever::tendril::StrTendril> {
    let (
        NodeData::Element {
            name: name1,
            attrs: attrs1,
            template_contents: template1,
            mathml_annotation_xml_integration_point: point1,
        },
        NodeData::Element {
            name: name2,
            attrs: attrs2,
            template_contents: template2,
            mathml_annotation_xml_integration_point: point2,
        },
    ) = (&first.data, &second.data)
    else {
        return None;
    };
    if is_block_element(&name1.local) || &*name1.local == "a" {
        return None;
    }
    let same_kind = name1 == name2
        || matches!(
            (&*name1.local, &*name2.local),
            ("i", "em") | ("em", "i") | ("b", "strong") | ("strong", "b")
        );
    if !same_kind {
        return None;
    }
    let (children1, children2) = (first.children.borrow(), second.children.borrow());
    let ([only1], [only2]) = (children1.as_slice(), children2.as_slice()) else {
        return None;
    };
    let (NodeData::Text { .. }, NodeData::Text { contents }) = (&only1.data, &only2.data) else {
        return None;
    };
    let same = template1.borrow().is_none()
        && template2.borrow().is_none()
        && attrs1 == attrs2
        && point1 == point2;
    same.then(|| contents.borrow().clone())
}

/// The tag of the node's parent as htmd reads it (the document reads as `html`).
fn parent_tag_is(node: &Node, tag: &str) -> bool {
    let parent = node.parent.take();
    let is = parent
        .as_ref()
        .and_then(std::rc::Weak::upgrade)
        .is_some_and(|parent| match &parent.data {
            NodeData::Document => tag == "html",
            NodeData::Element { name, .. } => &*name.local == tag,
            _ => false,
        });
    node.parent.set(parent);
    is
}

fn is_math_span(attrs: &[Attribute]) -> bool {
    matches!(attrs, [only] if &*only.name.local == "class"
        && matches!(&*only.value, "math math-inline" | "math math-display"))
}

fn image(attrs: &[Attribute]) -> Option<String> {
    let (mut link, mut alt, mut title) = (None, None, None);
    for attr in attrs {
        match &*attr.name.local {
            "href" | "src" => link = Some(&*attr.value),
            "alt" => alt = Some(&*attr.value),
            "title" => title = Some(&*attr.value),
            _ => {}
        }
    }
    let link = link?;
    let alt = alt.map(quoted_text).unwrap_or_default();
    let mut md = buffer(link.len() + alt.len() + 8);
    md.push_str("![");
    md.push_str(&alt);
    md.push(']');
    push_destination(&mut md, link, title.map(quoted_text).as_deref());
    Some(md)
}

/// The `(link "title")` of a link or an image: parentheses in the link escaped, a link
/// with spaces in `<>`.
fn push_destination(md: &mut String, link: &str, title: Option<&str>) {
    let spaced = link.contains(' ');
    md.push('(');
    if spaced {
        md.push('<');
    }
    if link.contains(['(', ')']) {
        for ch in link.chars() {
            if matches!(ch, '(' | ')') {
                md.push('\\');
            }
            md.push(ch);
        }
    } else {
        md.push_str(link);
    }
    if spaced {
        md.push('>');
    }
    if let Some(title) = title {
        md.push_str(" \"");
        md.push_str(title);
        md.push('"');
    }
    md.push(')');
}

/// An image's alt text or a title: lines trimmed, blank ones dropped, quotes escaped.
fn quoted_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = line.trim_matches(is_document_whitespace);
        if line.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        for ch in line.chars() {
            if ch == '"' {
                out.push('\\');
            }
            out.push(ch);
        }
    }
    out
}

fn anchor(node: &Handle, attrs: &[Attribute]) -> Written<String> {
    let (mut link, mut title) = (None, None);
    for attr in attrs {
        match &*attr.name.local {
            "href" => link = Some(&*attr.value),
            "title" => title = Some(&*attr.value),
            _ => {}
        }
    }
    let owned = children_markdown(node, false)?;
    let Some(link) = link else {
        return Ok(owned);
    };
    let content = owned.trim_start_matches(is_document_whitespace);
    let trimmed = content.trim_end_matches(is_document_whitespace);
    let trailing = &content[trimmed.len()..];
    let mut md = buffer(trimmed.len() + link.len() + trailing.len() + 8);
    md.push('[');
    md.push_str(trimmed);
    md.push(']');
    push_destination(&mut md, link, title.map(quoted_text).as_deref());
    md.push_str(trailing);
    recycle(owned);
    Ok(md)
}

fn list(node: &Handle, tag: &str, attrs: &[Attribute]) -> Written<Option<String>> {
    let content = if tag == "ol" {
        ordered_items(node, attrs)?
    } else {
        children_markdown(node, true)?
    };
    let trimmed = content.trim_matches('\n');
    if trimmed.is_empty() {
        recycle(content);
        return Ok(None);
    }
    let edge = if parent_tag_is(node, "li") {
        "\n"
    } else {
        "\n\n"
    };
    let md = wrap(trimmed, edge);
    recycle(content);
    Ok(Some(md))
}

fn ordered_items(node: &Handle, attrs: &[Attribute]) -> Written<String> {
    let start = attrs
        .iter()
        .find(|attr| &*attr.name.local == "start")
        .map_or(1, |attr| {
            attr.value.parse::<i32>().unwrap_or(1).max(1) as usize
        });
    let mut parts: Vec<(String, bool)> = Vec::new();
    for child in node.children.borrow().iter() {
        let mut output = String::new();
        walk_node(child, &mut output, true)?;
        parts.push((output, element_name(child) == Some("li")));
    }
    let items = parts.iter().filter(|(_, is_item)| *is_item).count();
    let highest = start + items - 1;
    let mut number = start - 1;
    let parts: Vec<String> = parts
        .into_iter()
        .map(|(text, is_item)| {
            if !is_item {
                return text;
            }
            number += 1;
            let number_text = number.to_string();
            let spacing = " ".repeat((1 + digits(highest)).saturating_sub(number_text.len()));
            let content = text.trim_start_matches('\n');
            let content = indent_except_first_line(content, number_text.len() + 1 + spacing.len());
            let mut item = String::with_capacity(content.len() + number_text.len() + 4);
            item.push('\n');
            item.push_str(&number_text);
            item.push('.');
            item.push_str(&spacing);
            item.push_str(&content);
            item
        })
        .collect();
    Ok(join_blocks(&parts))
}

/// The number of digits htmd counts for a list's highest number (through `f32`, as it
/// does).
fn digits(number: usize) -> usize {
    if number == 0 {
        return 1;
    }
    ((number + 1) as f32).log10().ceil() as usize
}

/// Joins list parts with the larger of the newline runs at each seam, at most two.
fn join_blocks(parts: &[String]) -> String {
    let mut result = String::with_capacity(parts.iter().map(String::len).sum());
    for part in parts {
        if part.is_empty() {
            continue;
        }
        let left = result.trim_end_matches('\n').len();
        let right = part.trim_start_matches('\n');
        let newlines = (result.len() - left).max(part.len() - right.len()).min(2);
        result.truncate(left);
        for _ in 0..newlines {
            result.push('\n');
        }
        result.push_str(right);
    }
    result
}

fn list_item(node: &Handle) -> Written<String> {
    let owned = children_markdown(node, true)?;
    let content = owned.trim_start_matches(is_document_whitespace);
    let mut item;
    if parent_tag_is(node, "ol") {
        // The list writes the number.
        item = wrap(content, "\n");
    } else {
        let content = indent_except_first_line(content, 2);
        item = buffer(content.len() + 3);
        item.push_str("\n- ");
        item.push_str(&content);
    }
    recycle(owned);
    Ok(item)
}

/// Every line but the first indented by `indent` spaces (blank lines left empty),
/// trailing white space of each line removed.
fn indent_except_first_line(text: &str, indent: usize) -> String {
    let mut result = String::with_capacity(text.len() + 16);
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end_matches(is_document_whitespace);
        if index > 0 {
            result.push('\n');
            if !line.is_empty() {
                result.extend(std::iter::repeat_n(' ', indent));
            }
        }
        result.push_str(line);
    }
    result
}

fn blockquote(node: &Handle) -> Written<String> {
    let owned = children_markdown(node, true)?;
    let content = owned
        .trim_start_matches('\n')
        .trim_end_matches(is_document_whitespace);
    let mut md = buffer(content.len() + 16);
    md.push_str("\n\n");
    for (index, line) in content.lines().enumerate() {
        if index > 0 {
            md.push('\n');
        }
        md.push_str("> ");
        md.push_str(line);
    }
    md.push_str("\n\n");
    recycle(owned);
    Ok(md)
}

fn heading(node: &Handle, tag: &str) -> Written<String> {
    let level = usize::from(tag.as_bytes()[1] - b'0');
    let owned = children_markdown(node, true)?;
    let content = owned
        .trim_matches(is_document_whitespace)
        .trim_matches('\n');
    let mut md = buffer(content.len() + level + 5);
    md.push_str("\n\n");
    md.extend(std::iter::repeat_n('#', level));
    md.push(' ');
    md.push_str(content);
    md.push_str("\n\n");
    recycle(owned);
    Ok(md)
}

fn emphasis(node: &Handle, marker: &str) -> Written<Option<String>> {
    let content = children_markdown(node, false)?;
    // White space in Unicode's sense here, as CommonMark's emphasis rules have it.
    let inner = content.trim_start();
    let leading = &content[..content.len() - inner.len()];
    let trimmed = inner.trim_end();
    let trailing = &inner[trimmed.len()..];
    if trimmed.is_empty() {
        recycle(content);
        return Ok(None);
    }
    let mut md = buffer(content.len() + 2 * marker.len());
    md.push_str(leading);
    md.push_str(marker);
    md.push_str(trimmed);
    md.push_str(marker);
    md.push_str(trailing);
    recycle(content);
    Ok(Some(md))
}

fn trim_newlines(content: &mut String) {
    let end = content.trim_end_matches('\n').len();
    content.truncate(end);
    let start = content.len() - content.trim_start_matches('\n').len();
    content.drain(..start);
}

fn is_document_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' ')
}

/// CommonMark's HTML block elements, as htmd lists them.
fn is_block_element(tag: &str) -> bool {
    matches!(
        tag,
        "address"
            | "article"
            | "aside"
            | "base"
            | "basefont"
            | "blockquote"
            | "body"
            | "caption"
            | "center"
            | "col"
            | "colgroup"
            | "dd"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "frame"
            | "frameset"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "head"
            | "header"
            | "hr"
            | "html"
            | "iframe"
            | "legend"
            | "li"
            | "link"
            | "main"
            | "menu"
            | "menuitem"
            | "nav"
            | "noframes"
            | "ol"
            | "optgroup"
            | "option"
            | "p"
            | "param"
            | "pre"
            | "script"
            | "search"
            | "section"
            | "style"
            | "summary"
            | "table"
            | "tbody"
            | "td"
            | "textarea"
            | "tfoot"
            | "th"
            | "thead"
            | "title"
            | "tr"
            | "track"
            | "ul"
    )
}

// ---- text escapes (htmd's) ----------------------------------------------------------

/// Whether `byte` makes text more than plain: markdown's specials (`\\ * _ ` [ ] <`) and
/// white space other than the space. Comparisons rather than a table or a `match`, so a
/// loop of them compiles to vector instructions.
fn is_special(byte: u8) -> bool {
    (byte.wrapping_sub(b'\t') < 5) // \t \n \x0b \x0c \r
        | (byte == b'*')
        | (byte == b'<')
        | (byte.wrapping_sub(b'[') < 3) // [ \\ ]
        | (byte.wrapping_sub(b'_') < 2) // _ `
}

/// Text that needs no escape and no white-space folding. Every text of every article is
/// scanned here, so the scan has no branch per byte (a table lookup and an early exit per
/// byte were 5% of conversion's instructions): specials and double spaces are gathered
/// over the whole text, which is nearly always plain.
fn is_plain_text(text: &str) -> bool {
    let bytes = text.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return true;
    };
    if matches!(first, b'=' | b'~' | b'>' | b'-' | b'+' | b'#' | b'0'..=b'9') {
        return false;
    }
    let mut found = is_special(first);
    for (&previous, &byte) in bytes.iter().zip(rest) {
        found |= is_special(byte) | ((previous == b' ') & (byte == b' '));
    }
    !found
}

/// Markdown's specials escaped, and what would start a block at the start of the text.
fn escape_if_needed(text: Cow<'_, str>) -> Cow<'_, str> {
    let Some(first) = text.chars().next() else {
        return text;
    };
    let needs_escape = matches!(first, '=' | '~' | '>' | '-' | '+' | '#' | '0'..='9')
        || text
            .bytes()
            .any(|b| matches!(b, b'\\' | b'*' | b'_' | b'`' | b'[' | b']'));
    if !needs_escape {
        return escape_html(text);
    }
    let leading_backslash = match first {
        '=' | '~' | '>' => true,
        '-' | '+' => text.chars().nth(1) == Some(' '),
        '#' => is_atx_heading(&text),
        _ => false,
    };
    let mut escaped = String::with_capacity(text.len() + 9);
    if leading_backslash {
        escaped.push('\\');
    }
    for ch in text.chars() {
        match ch {
            '\\' | '*' | '_' | '`' | '[' | ']' => {
                escaped.push('\\');
                escaped.push(ch);
            }
            _ => escaped.push(ch),
        }
    }
    if first.is_ascii_digit()
        && let Some(dot) = ordered_item_dot(&escaped)
    {
        escaped.replace_range(dot..=dot, "\\.");
    }
    escape_html(Cow::Owned(escaped))
}

fn is_atx_heading(text: &str) -> bool {
    let mut previous_was_hash = false;
    for ch in text.chars() {
        match ch {
            '#' => previous_was_hash = true,
            ' ' => return previous_was_hash,
            _ => return false,
        }
    }
    false
}

/// Where the dot of a leading `12. ` is.
fn ordered_item_dot(text: &str) -> Option<usize> {
    let (mut previous_numeric, mut previous_dot, mut dot) = (false, false, 0);
    for (offset, ch) in text.char_indices() {
        if ch.is_numeric() {
            if previous_dot {
                return None;
            }
            previous_numeric = true;
        } else if ch == '.' {
            if !previous_numeric {
                return None;
            }
            dot = offset;
            previous_dot = true;
        } else if ch == ' ' {
            return previous_dot.then_some(dot);
        } else {
            return None;
        }
    }
    None
}

/// `<` escaped where it would open an HTML tag, comment or processing instruction.
fn escape_html(text: Cow<'_, str>) -> Cow<'_, str> {
    if !text.contains('<') {
        return text;
    }
    let source = text.as_ref();
    let mut escaped = String::with_capacity(source.len() + 4);
    let mut copied = 0;
    for (index, _) in source.match_indices('<') {
        if opens_html(&source[index..]) {
            escaped.push_str(&source[copied..index]);
            escaped.push_str("\\<");
            copied = index + 1;
        }
    }
    if copied == 0 {
        return text;
    }
    escaped.push_str(&source[copied..]);
    Cow::Owned(escaped)
}

fn opens_html(fragment: &str) -> bool {
    let mut chars = fragment.chars();
    let _ = chars.next();
    match chars.next() {
        Some('!') => {
            let rest = chars.as_str();
            !(rest.starts_with("[CDATA[") || rest.starts_with("\\[CDATA\\["))
        }
        Some('?') => true,
        Some('/') => chars.next().is_some_and(|c| c.is_ascii_alphabetic()),
        Some(c) => c.is_ascii_alphabetic(),
        None => false,
    }
}

/// Runs of ASCII white space folded to one space.
fn compress_whitespace(input: &str) -> Cow<'_, str> {
    let mut result: Option<String> = None;
    let mut in_whitespace = false;
    for (index, c) in input.char_indices() {
        if c.is_ascii_whitespace() {
            if in_whitespace || c != ' ' {
                let result = result.get_or_insert_with(|| {
                    let mut s = String::with_capacity(input.len());
                    s.push_str(&input[..index]);
                    s
                });
                if !in_whitespace {
                    result.push(' ');
                }
            } else if let Some(result) = &mut result {
                result.push(' ');
            }
            in_whitespace = true;
        } else {
            in_whitespace = false;
            if let Some(result) = &mut result {
                result.push(c);
            }
        }
    }
    result.map_or(Cow::Borrowed(input), Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::is_plain_text;

    /// The definition, byte by byte: no block starter first, none of markdown's specials
    /// or white space but the space, no two spaces in a row.
    fn plain_by_definition(text: &str) -> bool {
        let bytes = text.as_bytes();
        let starts_block = bytes
            .first()
            .is_some_and(|b| b"=~>-+#0123456789".contains(b));
        !starts_block
            && !bytes.iter().any(|b| b"\\*_`[]<\t\n\r\x0c\x0b".contains(b))
            && !bytes.windows(2).any(|pair| pair == b"  ")
    }

    #[test]
    fn plain_text_is_told_apart_from_text_to_escape_or_fold() {
        let mut texts = Vec::new();
        for byte in 0..=127u8 {
            let c = char::from(byte);
            texts.push(format!("{c}"));
            texts.push(format!("a{c}"));
            texts.push(format!(
                "plain words of a long sentence, then {c} and more words after it"
            ));
        }
        texts.extend(
            [
                "",
                " ",
                "  ",
                "a  b",
                "a b ",
                " a",
                "é  ü",
                "naïve – text",
                "x\u{a0}\u{a0}y",
            ]
            .map(String::from),
        );
        for text in &texts {
            assert_eq!(is_plain_text(text), plain_by_definition(text), "{text:?}");
        }
        assert!(is_plain_text(
            "An ordinary sentence, with (parentheses) and 100% sense."
        ));
        assert!(!is_plain_text("two  spaces"));
        assert!(!is_plain_text("an *emphasis*"));
    }
}
