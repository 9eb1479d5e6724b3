//! Entry HTML -> CommonMark body.
//!
//! The HTML is parsed once (html5ever, through htmd). One walk over that tree sanitises
//! it (drops scripts, styles, forms, embeds, event handlers and non-web URLs), resolves
//! relative URLs, removes tracking parameters and tracking pixels, and picks real image
//! URLs from lazy-loading attributes; htmd then writes markdown from the same tree.

use std::cell::RefCell;
use std::rc::Rc;

use htmd::HtmlToMarkdown;
use htmd::options::{BrStyle, BulletListMarker, HrStyle, Options};
use html5ever::tendril::StrTendril;
use html5ever::{Attribute, LocalName, QualName, ns};
use markup5ever_rcdom::{Handle, Node, NodeData};
use url::Url;

use super::tidy::tidy_markdown;
use super::visibility::is_hidden;
use crate::html::{Token, tokens};
use crate::links::{CleanedUrl, clean_url, clean_url_text};

/// Elements removed with everything inside them: active content, forms, and page chrome
/// that carries no article text. A `match` rather than a list searched in turn: this is
/// asked of every element of every article.
fn is_dropped_element(tag: &str) -> bool {
    matches!(
        tag,
        "script"
            | "style"
            | "noscript"
            | "template"
            | "object"
            | "embed"
            | "applet"
            | "form"
            | "input"
            | "button"
            | "select"
            | "textarea"
            | "option"
            | "link"
            | "meta"
            | "base"
            | "head"
            | "title"
            | "svg"
            | "canvas"
            | "param"
            | "dialog"
            | "frameset"
            | "frame"
    )
}

/// Elements that embed another page or a media file: each becomes a plain link to what it
/// embeds, so the reader can still follow it.
fn is_embed_element(tag: &str) -> bool {
    matches!(tag, "iframe" | "video" | "audio")
}

/// Attributes that hold the real image URL on lazy-loading pages, in order of preference.
const LAZY_SRC_ATTRIBUTES: &[&str] = &[
    "data-src",
    "data-lazy-src",
    "data-original",
    "data-orig-file",
    "data-url",
];

/// Deeper nesting than this is flattened to its text: no article needs it, and it keeps
/// hostile input from exhausting the stack.
const MAX_DEPTH: usize = 200;

/// Nesting deeper than this (by a quick count of tags) is not given to the HTML parser.
pub(super) const MAX_PARSE_DEPTH: usize = 1_000;

/// Elements that never hold others, or that the parser closes by itself when the next one
/// opens: they do not deepen the tree however many there are.
const NON_NESTING_ELEMENTS: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "p", "li", "dt", "dd", "option", "tr", "td", "th",
];

/// A conservative estimate of whether `html` nests elements deeper than `limit`.
fn nesting_depth_exceeds(html: &str, limit: usize) -> bool {
    let mut depth: usize = 0;
    for token in tokens(html) {
        let Token::Tag(tag) = token else { continue };
        // Doctypes and processing instructions nest nothing.
        if !tag.name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let name = tag.name.to_ascii_lowercase();
        if NON_NESTING_ELEMENTS.contains(&name.as_str()) {
            continue;
        }
        if tag.closing {
            depth = depth.saturating_sub(1);
        } else if !tag.self_closing {
            depth += 1;
            if depth > limit {
                return true;
            }
        }
    }
    false
}

/// Converts an entry's HTML into a markdown body. `base` resolves relative URLs.
pub fn html_to_markdown(html: &str, base: Option<&Url>) -> String {
    convert_html(html, base).markdown
}

/// A converted body and what conversion noticed on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Converted {
    pub markdown: String,
    /// The first image kept in the body (a thumbnail candidate).
    pub first_image: Option<Url>,
}

/// Converts an entry's HTML into a markdown body; `base` resolves relative URLs.
pub fn convert_html(html: &str, base: Option<&Url>) -> Converted {
    // The stack builder bounds the depth of what it builds itself (and builds in linear
    // time); only what it leaves to html5ever is measured first.
    if let Some(tree) = super::html_tree::tidy_fragment_tree(html) {
        return convert_tree(&tree, base);
    }
    if nesting_depth_exceeds(html, MAX_PARSE_DEPTH) {
        // html5ever's tree building is quadratic in nesting depth; no real article nests
        // this deep, so such input keeps its text and loses its markup.
        return Converted {
            markdown: text_to_markdown(&super::text::html_to_plain_text(html)),
            first_image: None,
        };
    }
    convert_parsed(html, base, Parser::Html5ever)
}

/// The trees html5ever and the stack builder make of `html`, as text; `None` when the
/// stack builder leaves it to html5ever.
#[doc(hidden)]
pub fn both_trees(html: &str) -> Option<(String, String)> {
    let quick = super::html_tree::tidy_fragment_tree(html)?;
    let full = CONVERTER
        .with(|converter| converter.html_to_tree(html))
        .ok()?;
    Some((
        super::html_tree::tree_text(&full),
        super::html_tree::tree_text(&quick),
    ))
}

/// Which HTML parser builds the tree.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parser {
    /// The stack builder for tidy fragments, html5ever for the rest.
    Fastest,
    /// html5ever for everything (the tests compare the two).
    Html5ever,
}

/// [`convert_html`] with the parser chosen: the corpus test holds both to one output.
#[doc(hidden)]
pub fn convert_parsed(html: &str, base: Option<&Url>, parser: Parser) -> Converted {
    match parse_tree(html, parser) {
        Some(tree) => convert_tree(&tree, base),
        None => Converted::default(),
    }
}

/// The tree of `html` by the parser chosen (the stack builder, when chosen, falling back
/// to html5ever).
fn parse_tree(html: &str, parser: Parser) -> Option<Handle> {
    let quick = match parser {
        Parser::Fastest => super::html_tree::tidy_fragment_tree(html),
        Parser::Html5ever => None,
    };
    quick.or_else(|| {
        CONVERTER
            .with(|converter| converter.html_to_tree(html))
            .ok()
    })
}

/// A parsed document sanitised and written as markdown.
fn convert_tree(tree: &Handle, base: Option<&Url>) -> Converted {
    let sanitizer = sanitise(tree, base);
    let markdown = tidy_markdown(&tree_markdown(tree, Writer::Fastest));
    Converted {
        markdown: with_math(&markdown, &sanitizer.math),
        first_image: sanitizer.first_image,
    }
}

/// Sanitises `tree` in place; the sanitiser keeps what it noticed.
fn sanitise<'a>(tree: &Handle, base: Option<&'a Url>) -> Sanitizer<'a> {
    let mut sanitizer = Sanitizer {
        base,
        first_image: None,
        math: Vec::new(),
    };
    sanitizer.clean_children(tree, 0);
    sanitizer
}

/// Which writer turns the sanitised tree into markdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writer {
    /// tidings' own writer for the elements it knows, htmd for the rest.
    Fastest,
    /// htmd for everything (the tests compare the two).
    Htmd,
}

/// The sanitised tree as markdown, by the writer chosen.
fn tree_markdown(tree: &Handle, writer: Writer) -> String {
    let own = match writer {
        Writer::Fastest => super::markdown_writer::tree_to_markdown(tree),
        Writer::Htmd => None,
    };
    own.unwrap_or_else(|| CONVERTER.with(|converter| converter.tree_to_markdown(tree)))
}

/// The markdown both writers make of `html` (parsed and sanitised once for each), before
/// tidying; `None` when tidings' writer leaves it to htmd.
#[doc(hidden)]
pub fn both_writers(html: &str, base: Option<&Url>) -> Option<(String, String)> {
    let sanitised = || {
        let tree = parse_tree(html, Parser::Fastest)?;
        sanitise(&tree, base);
        Some(tree)
    };
    let own = super::markdown_writer::tree_to_markdown(&sanitised()?)?;
    Some((tree_markdown(&sanitised()?, Writer::Htmd), own))
}

/// The markdown with each math placeholder replaced by its formula.
fn with_math(markdown: &str, formulas: &[String]) -> String {
    if formulas.is_empty() {
        return markdown.to_string();
    }
    let mut out = String::with_capacity(markdown.len() + 64);
    let mut rest = markdown;
    while let Some(open) = rest.find(MATH_OPEN) {
        out.push_str(&rest[..open]);
        let after = &rest[open + MATH_OPEN.len_utf8()..];
        let Some(close) = after.find(MATH_CLOSE) else {
            rest = after;
            continue;
        };
        if let Some(formula) = after[..close]
            .parse::<usize>()
            .ok()
            .and_then(|i| formulas.get(i))
        {
            out.push_str(formula);
        }
        rest = &after[close + MATH_CLOSE.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// The TeX a MathML element carries in `<annotation encoding="application/x-tex">`.
fn tex_annotation(node: &Handle) -> Option<String> {
    let mut stack = vec![node.clone()];
    while let Some(current) = stack.pop() {
        if let NodeData::Element { name, attrs, .. } = &current.data
            && name.local.as_ref().eq_ignore_ascii_case("annotation")
            && attr(&attrs.borrow(), "encoding")
                .is_some_and(|e| e.to_ascii_lowercase().contains("tex"))
        {
            let tex = text_content(&current);
            if !tex.trim().is_empty() {
                return Some(tex.trim().to_string());
            }
        }
        stack.extend(current.children.borrow().iter().cloned());
    }
    None
}

/// The text a MathML element shows (its annotations are not shown).
fn math_text(node: &Handle) -> String {
    let mut out = String::new();
    let mut stack = vec![node.clone()];
    while let Some(current) = stack.pop() {
        match &current.data {
            NodeData::Text { contents } => out.push_str(&contents.borrow()),
            NodeData::Element { name, .. } if name.local.as_ref().starts_with("annotation") => {
                continue;
            }
            _ => {}
        }
        stack.extend(current.children.borrow().iter().rev().cloned());
    }
    super::text::collapse_whitespace(&out)
}

/// Plain text as a markdown body: paragraphs kept, markdown syntax escaped.
pub fn text_to_markdown(text: &str) -> String {
    let escaped = html_escape::encode_text(text);
    let html: String = escaped
        .split("\n\n")
        .map(|para| format!("<p>{}</p>", para.replace('\n', "<br>")))
        .collect();
    html_to_markdown(&html, None)
}

thread_local! {
    /// One converter per thread: building htmd's table of element handlers cost 2% of a
    /// cold fetch when it was built per article.
    static CONVERTER: HtmlToMarkdown = converter();
}

fn converter() -> HtmlToMarkdown {
    HtmlToMarkdown::builder()
        .options(Options {
            bullet_list_marker: BulletListMarker::Dash,
            ul_bullet_spacing: 1,
            ol_number_spacing: 1,
            hr_style: HrStyle::Dashes,
            br_style: BrStyle::Backslash,
            ..Options::default()
        })
        .build()
}

pub(super) fn element_name(node: &Node) -> Option<&str> {
    match &node.data {
        NodeData::Element { name, .. } => Some(&name.local),
        _ => None,
    }
}

/// Whether a `<pre>` holds one `<code>` and nothing else but white space.
fn holds_only_code(pre: &Handle) -> bool {
    let children = pre.children.borrow();
    let mut codes = 0;
    for child in children.iter() {
        match &child.data {
            NodeData::Element { name, .. } if &*name.local == "code" => codes += 1,
            NodeData::Text { contents } if contents.borrow().trim().is_empty() => {}
            _ => return false,
        }
    }
    codes == 1
}

/// One walk over the parsed tree that leaves only what markdown should show.
struct Sanitizer<'a> {
    base: Option<&'a Url>,
    first_image: Option<Url>,
    /// Formulas as they are written into the markdown, each standing in the tree as a
    /// placeholder (the converter would escape TeX's `_` and `*`).
    math: Vec<String>,
}

/// Brackets a math placeholder: private-use characters no text carries.
const MATH_OPEN: char = '\u{E000}';
const MATH_CLOSE: char = '\u{E001}';

/// Whether an element is meant to be invisible (screen-reader text, `hidden`, …).
fn element_is_hidden(node: &Handle) -> bool {
    let NodeData::Element { attrs, .. } = &node.data else {
        return false;
    };
    let attrs = attrs.borrow();
    is_hidden(|name| {
        attrs
            .iter()
            .find(|a| a.name.local.as_ref().eq_ignore_ascii_case(name))
            .map(|a| a.value.as_ref())
    })
}

impl Sanitizer<'_> {
    /// A `<math>` element as what stands for it in the tree: its TeX annotation as `$…$`
    /// (`$$…$$` in a paragraph of its own for `display="block"`), which a Hugo site with
    /// goldmark's passthrough extension and MathJax or KaTeX renders as math; without TeX,
    /// the MathML's own text.
    fn math(&mut self, node: &Handle) -> Handle {
        let block = matches!(&node.data, NodeData::Element { attrs, .. }
            if attr(&attrs.borrow(), "display").is_some_and(|d| d.eq_ignore_ascii_case("block")));
        let Some(tex) = tex_annotation(node) else {
            return text_node(&math_text(node));
        };
        let tex = tex
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace('$', "\\$")
            .replace('<', "\\lt ")
            .replace('>', "\\gt ");
        let formula = if block {
            format!("$${tex}$$")
        } else {
            format!("${tex}$")
        };
        let placeholder = format!("{MATH_OPEN}{}{MATH_CLOSE}", self.math.len());
        self.math.push(formula);
        if block {
            let paragraph = element("p", Vec::new());
            append(&paragraph, text_node(&placeholder));
            paragraph
        } else {
            text_node(&placeholder)
        }
    }

    /// Sanitises the children of `node` in place.
    fn clean_children(&mut self, node: &Handle, depth: usize) {
        // Taken out rather than copied: nothing below reads `node`'s own children. What is
        // kept is written back into the same list (every child gives at most one node), so
        // cleaning a node allocates no list of its own.
        let mut children: Vec<Handle> = std::mem::take(&mut *node.children.borrow_mut());
        let mut kept = Kept {
            list: &mut children,
            len: 0,
        };
        for index in 0..kept.list.len() {
            let child = Rc::clone(&kept.list[index]);
            match &child.data {
                NodeData::Element { name, .. } => {
                    // HTML names come lowercase from either parser; foreign (SVG) ones
                    // may not.
                    let tag = super::html_tree::lowercase(&name.local);
                    let tag = tag.as_ref();
                    if is_dropped_element(tag) || element_is_hidden(&child) {
                        continue;
                    }
                    if tag == "math" {
                        kept.push(self.math(&child));
                        continue;
                    }
                    if is_embed_element(tag) {
                        kept.extend(embed_link(&child, self.base));
                        continue;
                    }
                    if depth >= MAX_DEPTH {
                        kept.push(text_node(&text_content(&child)));
                        continue;
                    }
                    if !self.clean_element(&child, tag) {
                        continue;
                    }
                    self.clean_children(&child, depth + 1);
                    kept.push(restructure(Rc::clone(&child), tag));
                }
                NodeData::Text { .. } => kept.push(child),
                // Comments, doctypes and processing instructions carry no article text.
                _ => {}
            }
        }
        let len = kept.len;
        children.truncate(len);
        for child in &children {
            child.parent.set(Some(Rc::downgrade(node)));
        }
        *node.children.borrow_mut() = children;
    }

    /// Cleans one element's attributes; false when the element should go (an image with
    /// no usable source, a tracking pixel, a share button).
    fn clean_element(&mut self, node: &Handle, tag: &str) -> bool {
        let keep = sanitize_element(node, tag, self.base);
        if let (true, "img", None, NodeData::Element { attrs, .. }) =
            (keep, tag, &self.first_image, &node.data)
        {
            self.first_image = attr(&attrs.borrow(), "src").and_then(|s| Url::parse(&s).ok());
        }
        keep
    }
}

/// The children a node keeps, written over the front of its own list: the `len` first
/// are kept, the rest are the children not yet read or dropped.
struct Kept<'a> {
    list: &'a mut Vec<Handle>,
    len: usize,
}

impl Kept<'_> {
    /// Keeps `node` after those kept so far. Never past the child being read, since each
    /// child gives at most one node.
    fn push(&mut self, node: Handle) {
        match self.list.get_mut(self.len) {
            Some(slot) => *slot = node,
            None => self.list.push(node),
        }
        self.len += 1;
    }

    fn extend(&mut self, nodes: impl IntoIterator<Item = Handle>) {
        for node in nodes {
            self.push(node);
        }
    }
}

/// Shapes markdown has no form for, rewritten into ones it has: a figure caption becomes an
/// italic paragraph under its image, a definition list bold terms over their definitions.
///
/// Children are taken out of the old node before they move: rcdom's `Drop` empties the
/// children of a dropped node's children, even ones still in use elsewhere.
fn restructure(node: Handle, tag: &str) -> Handle {
    let wrap = |outer: &str, inner: Option<&str>| {
        let children = std::mem::take(&mut *node.children.borrow_mut());
        let outer = element(outer, Vec::new());
        let holder = match inner {
            Some(inner) => {
                let inner = element(inner, Vec::new());
                append(&outer, inner.clone());
                inner
            }
            None => outer.clone(),
        };
        for child in children {
            append(&holder, child);
        }
        outer
    };
    if tag == "pre" {
        breaks_to_newlines(&node);
    }
    match tag {
        "figcaption" if text_content(&node).trim().is_empty() => element("span", Vec::new()),
        "figcaption" => wrap("p", Some("em")),
        "dt" => wrap("p", Some("strong")),
        "dd" => wrap("p", None),
        "pre" if !holds_only_code(&node) => {
            // htmd fences a block only around `<pre><code>`; highlighters often write
            // `<pre><span>…` instead.
            let children = std::mem::take(&mut *node.children.borrow_mut());
            let code = element("code", Vec::new());
            for child in children {
                append(&code, child);
            }
            append(&node, code);
            node
        }
        _ => node,
    }
}

/// Inside preformatted text a `<br>` is a line break of the code, not a markdown hard
/// break (which would leave a `\` at the end of every line of the code block).
fn breaks_to_newlines(pre: &Handle) {
    let mut stack = vec![pre.clone()];
    while let Some(node) = stack.pop() {
        let mut children = node.children.borrow_mut();
        for child in children.iter_mut() {
            if element_name(child).is_some_and(|n| n.eq_ignore_ascii_case("br")) {
                let newline = text_node("\n");
                newline.parent.set(Some(Rc::downgrade(&node)));
                *child = newline;
            } else {
                stack.push(child.clone());
            }
        }
    }
}

/// Cleans one element's attributes; returns false when the element should go (an image
/// with no usable source, or a tracking pixel).
fn sanitize_element(node: &Handle, tag: &str, base: Option<&Url>) -> bool {
    let NodeData::Element { attrs, .. } = &node.data else {
        return true;
    };
    let mut attrs = attrs.borrow_mut();
    match tag {
        "a" => {
            let href = attr_value(&attrs, "href").and_then(|h| clean_url_text(h, base));
            if href.as_ref().is_some_and(is_share_or_stats) {
                return false;
            }
            let href = href.map(|href| new_attr("href", href.as_str()));
            attrs.retain(|a| matches!(&*a.name.local, "title"));
            attrs.extend(href);
            true
        }
        "img" => {
            let Some(src) = image_source(&attrs, base) else {
                return false;
            };
            if is_tracking_pixel(&attrs) || is_share_or_stats(&src) {
                return false;
            }
            let src = new_attr("src", src.as_str());
            attrs.retain(|a| matches!(&*a.name.local, "alt" | "title"));
            attrs.push(src);
            true
        }
        // The language class on code (`language-rust`) lets htmd keep the fence language.
        "code" | "pre" => {
            attrs.retain(|a| &*a.name.local == "class");
            true
        }
        _ => {
            // No attribute of any other element is needed for markdown; dropping them all
            // drops every event handler and inline style with them.
            attrs.clear();
            true
        }
    }
}

fn attr(attrs: &[Attribute], name: &str) -> Option<String> {
    attr_value(attrs, name).map(str::to_string)
}

/// The value of attribute `name`, unless it is blank.
fn attr_value<'a>(attrs: &'a [Attribute], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|a| a.name.local.as_ref().eq_ignore_ascii_case(name))
        .map(|a| a.value.as_ref())
        .filter(|v| !v.trim().is_empty())
}

fn new_attr(name: &str, value: &str) -> Attribute {
    Attribute {
        name: QualName::new(None, ns!(), LocalName::from(name)),
        value: StrTendril::from_slice(value),
    }
}

/// The real URL of an image: a lazy-loading attribute when `src` is missing or a
/// placeholder, else `src`, else the widest `srcset` candidate.
fn image_source<'a>(attrs: &'a [Attribute], base: Option<&Url>) -> Option<CleanedUrl<'a>> {
    let lazy_or_src = LAZY_SRC_ATTRIBUTES
        .iter()
        .find_map(|name| attr_value(attrs, name))
        .or_else(|| attr_value(attrs, "src").filter(|s| !s.trim_start().starts_with("data:")));
    if let Some(candidate) = lazy_or_src {
        return clean_url_text(candidate, base);
    }
    // The widest candidate is only looked for when there is nothing simpler to take.
    let srcset = attr_value(attrs, "srcset").or_else(|| attr_value(attrs, "data-srcset"))?;
    let widest = widest_srcset_candidate(srcset)?;
    clean_url(&widest, base).map(CleanedUrl::Parsed)
}

/// Picks the candidate with the largest width (`800w`) or density (`2x`) descriptor.
fn widest_srcset_candidate(srcset: &str) -> Option<String> {
    srcset
        .split(',')
        .filter_map(|candidate| {
            let mut parts = candidate.split_whitespace();
            let url = parts.next()?;
            let weight = parts
                .next()
                .and_then(|d| {
                    let number = d.trim_end_matches(['w', 'x', 'W', 'X']);
                    number.parse::<f64>().ok()
                })
                .unwrap_or(1.0);
            Some((url.to_string(), weight))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(url, _)| url)
}

/// Share buttons, "feed flare" and statistics beacons that feed services add to every
/// entry: they are not part of the article.
fn is_share_or_stats(url: &CleanedUrl<'_>) -> bool {
    const HOST_PATHS: &[(&str, &str)] = &[
        ("feeds.feedburner.com", "/~ff/"),
        ("feeds.feedburner.com", "/~r/"),
        ("feeds.feedburner.com", "/~a/"),
        ("feedads.g.doubleclick.net", "/"),
        ("feeds.wordpress.com", "/1.0/"),
        ("pixel.wp.com", "/"),
        ("stats.wordpress.com", "/"),
        ("pi.feedsportal.com", "/"),
        ("da.feedsportal.com", "/"),
        ("res3.feedsportal.com", "/"),
        ("api.tweetmeme.com", "/"),
        ("www.facebook.com", "/tr"),
        ("feeds.lavanguardia.com", "/~ff/"),
        ("rss.buysellads.com", "/"),
        ("assets.feedblitz.com", "/"),
        ("www.assoc-amazon.com", "/"),
    ];
    let host = url.host();
    HOST_PATHS
        .iter()
        .any(|(h, prefix)| host.eq_ignore_ascii_case(h) && url.path().starts_with(prefix))
}

fn is_tracking_pixel(attrs: &[Attribute]) -> bool {
    let tiny = |name: &str| {
        attr(attrs, name).is_some_and(|v| {
            v.trim()
                .trim_end_matches("px")
                .parse::<u32>()
                .is_ok_and(|n| n <= 1)
        })
    };
    tiny("width") && tiny("height")
}

/// `<iframe src>`, `<video src>` and friends as a paragraph holding a link to the source.
fn embed_link(node: &Handle, base: Option<&Url>) -> Option<Handle> {
    let NodeData::Element { attrs, .. } = &node.data else {
        return None;
    };
    let src = attr(&attrs.borrow(), "src").or_else(|| {
        node.children
            .borrow()
            .iter()
            .find_map(|child| match &child.data {
                NodeData::Element { name, attrs, .. } if &*name.local == "source" => {
                    attr(&attrs.borrow(), "src")
                }
                _ => None,
            })
    })?;
    // Protocol-relative embeds (`//www.youtube.com/embed/…`) are common; read them as https.
    let src = if src.starts_with("//") {
        format!("https:{src}")
    } else {
        src
    };
    let url = watch_page(clean_url(&src, base)?);
    let anchor = element("a", vec![new_attr("href", url.as_str())]);
    append(&anchor, text_node(url.as_str()));
    let paragraph = element("p", Vec::new());
    append(&paragraph, anchor);
    Some(paragraph)
}

/// The page a reader would open for an embedded player: YouTube's and Vimeo's players
/// become their watch pages; anything else stays as embedded.
fn watch_page(player: Url) -> Url {
    let host = player
        .host_str()
        .unwrap_or_default()
        .trim_start_matches("www.")
        .to_ascii_lowercase();
    let mut segments = player
        .path_segments()
        .map(|s| s.collect::<Vec<_>>())
        .unwrap_or_default();
    segments.retain(|s| !s.is_empty());
    let watch = match (host.as_str(), segments.as_slice()) {
        ("youtube.com" | "youtube-nocookie.com", ["embed", id]) => {
            format!("https://www.youtube.com/watch?v={id}")
        }
        ("player.vimeo.com", ["video", id]) => format!("https://vimeo.com/{id}"),
        _ => return player,
    };
    Url::parse(&watch).unwrap_or(player)
}

pub(super) fn element(tag: &str, attrs: Vec<Attribute>) -> Handle {
    Node::new(NodeData::Element {
        name: QualName::new(None, ns!(html), LocalName::from(tag)),
        attrs: RefCell::new(attrs),
        template_contents: RefCell::new(None),
        mathml_annotation_xml_integration_point: false,
    })
}

fn text_node(text: &str) -> Handle {
    Node::new(NodeData::Text {
        contents: RefCell::new(StrTendril::from_slice(text)),
    })
}

pub(super) fn append(parent: &Handle, child: Handle) {
    child.parent.set(Some(Rc::downgrade(parent)));
    parent.children.borrow_mut().push(child);
}

/// All text below `node`, without recursion (the subtree may be arbitrarily deep).
fn text_content(node: &Handle) -> String {
    let mut out = String::new();
    let mut stack = vec![node.clone()];
    while let Some(current) = stack.pop() {
        if let NodeData::Text { contents } = &current.data {
            out.push_str(&contents.borrow());
        }
        let children = current.children.borrow();
        stack.extend(children.iter().rev().cloned());
    }
    out
}

// ---- CommonMark helpers: every writer of markdown in tidings uses these --------------

/// A link destination that CommonMark reads back as the same URL: angle brackets when it
/// holds spaces or parentheses that would end the link early.
pub fn markdown_link_destination(url: &str) -> String {
    if url.contains([' ', '(', ')', '<', '>']) {
        let escaped = url
            .replace('<', "%3C")
            .replace('>', "%3E")
            .replace(' ', "%20");
        format!("<{escaped}>")
    } else {
        url.to_string()
    }
}

/// Link text that CommonMark reads as plain text.
pub fn escape_link_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '[' | ']' | '*' | '_' | '`' | '\\' | '<') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(html: &str) -> String {
        let base = Url::parse("https://example.com/posts/1/").ok();
        html_to_markdown(html, base.as_ref())
    }

    #[test]
    fn paragraphs_links_and_typography_survive() {
        let out = md(
            "<p>Hello <a href=\"https://a.example/x?utm_source=rss\" target=\"_blank\">world</a> &#8211; it&#8217;s here.</p><p>Second.</p>",
        );
        assert_eq!(
            out,
            "Hello [world](https://a.example/x) – it’s here.\n\nSecond."
        );
    }

    #[test]
    fn scripts_styles_forms_and_handlers_are_removed() {
        let out = md(
            "<p onclick=\"evil()\">Text</p><script>alert(1)</script><style>p{}</style><form><input value=x></form><a href=\"javascript:alert(1)\">bad</a>",
        );
        assert!(!out.contains("alert"), "{out}");
        assert!(!out.contains("evil"), "{out}");
        assert!(!out.contains("javascript"), "{out}");
        assert!(out.contains("Text") && out.contains("bad"), "{out}");
    }

    #[test]
    fn iframes_become_links() {
        let out = md("<p>Watch:</p><iframe src=\"//www.youtube.com/embed/abc\"></iframe>");
        assert!(
            out.contains(
                "[https://www.youtube.com/watch?v=abc](https://www.youtube.com/watch?v=abc)"
            ),
            "{out}"
        );
    }

    #[test]
    fn relative_and_lazy_images_resolve_and_pixels_go() {
        let out = md(
            "<img src=\"data:image/gif;base64,R0l\" data-src=\"/img/real.jpg\" alt=\"Real\"><img src=\"https://t.example/p.gif\" width=\"1\" height=\"1\">",
        );
        assert_eq!(out, "![Real](https://example.com/img/real.jpg)");
    }

    #[test]
    fn figures_keep_their_caption_as_an_italic_line() {
        let out = md(
            "<figure><img src=\"/a.jpg\" alt=\"A\"><figcaption>The <b>caption</b></figcaption></figure><p>Next.</p>",
        );
        assert_eq!(
            out,
            "![A](https://example.com/a.jpg)\n\n*The **caption***\n\nNext."
        );
    }

    #[test]
    fn definition_lists_become_bold_terms_over_definitions() {
        let out = md("<dl><dt>Term</dt><dd>Its meaning.</dd></dl>");
        assert_eq!(out, "**Term**\n\nIts meaning.");
    }

    #[test]
    fn share_buttons_and_stats_beacons_are_dropped() {
        let out = md(
            "<p>Text.</p><p><a href=\"http://feeds.feedburner.com/~ff/Blog?a=x\"><img src=\"http://feeds.feedburner.com/~ff/Blog?d=y\"></a> <img src=\"https://pixel.wp.com/b.gif?host=x\" alt=\"\"><img src=\"https://feeds.feedburner.com/~r/Blog/~4/abc\" height=\"1\" width=\"1\"></p>",
        );
        assert_eq!(out, "Text.");
    }

    #[test]
    fn text_that_looks_like_markdown_is_escaped() {
        let out = md(
            "<p>1. not a list</p><p># not a heading</p><p>- not a bullet</p><p>*not em* and _no_ [link](x)</p>",
        );
        let html_like = out.replace('\\', "");
        assert!(out.contains("1\\. not a list"), "{out}");
        assert!(out.contains("\\# not a heading"), "{out}");
        assert!(out.contains("\\- not a bullet"), "{out}");
        assert!(out.contains("\\*not em\\*"), "{out}");
        assert!(html_like.contains("[link](x)"), "{out}");
    }

    #[test]
    fn highlighted_pre_without_code_is_still_a_code_block() {
        let out = md(
            "<p>Swift:</p><div class=\"code\"><pre><span class=\"k\">class</span> Signal<span>&lt;</span>Value<span>&gt;</span> {\n}</pre></div>",
        );
        assert_eq!(out, "Swift:\n\n```\nclass Signal<Value> {\n}\n```");
    }

    #[test]
    fn srcset_picks_the_widest() {
        let out = md("<img srcset=\"a.jpg 300w, b.jpg 1024w, c.jpg 640w\" alt=\"x\">");
        assert_eq!(out, "![x](https://example.com/posts/1/b.jpg)");
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let html = format!(
            "<p>kept</p>{}deep{}",
            "<div>".repeat(50_000),
            "</div>".repeat(50_000)
        );
        let out = md(&html);
        assert!(out.contains("deep") && out.contains("kept"), "{out}");
        // Just under the parser limit, the markup is still converted (and flattened).
        let html = format!(
            "<p><b>bold</b></p>{}deep{}",
            "<div>".repeat(900),
            "</div>".repeat(900)
        );
        assert!(md(&html).starts_with("**bold**"));
    }

    #[test]
    fn hugo_shortcodes_are_neutralised() {
        let out = md("<p>{{< youtube abc >}} and {{% note %}}</p>");
        assert!(!out.contains("{{<") && !out.contains("{{%"), "{out}");
    }

    #[test]
    fn plain_text_keeps_paragraphs_and_escapes_markup() {
        let out = text_to_markdown("First *not emphasis*\n\nSecond <b>");
        assert!(out.starts_with("First \\*not emphasis\\*"), "{out}");
        assert!(
            out.contains("\n\nSecond \\<b>") || out.contains("\n\nSecond <b>"),
            "{out}"
        );
    }

    #[test]
    fn a_break_at_the_end_of_a_block_leaves_no_backslash() {
        let out = md(
            "<p>Text.<br /></p><p><a href=\"https://t.example/s\">Share</a><br />\n</p><div>Last<br/><br/></div>",
        );
        assert_eq!(out, "Text.\n\n[Share](https://t.example/s)\n\nLast");
        assert_eq!(md("<p>one<br>two</p>"), "one\\\ntwo");
    }

    #[test]
    fn math_keeps_its_tex_or_its_text() {
        let out = md(
            r#"<p>The <math><semantics><mrow><mi>n</mi></mrow><annotation encoding="application/x-tex">n_{1} < 2</annotation></semantics></math>th element.</p><math display="block"><semantics><mi>x</mi><annotation encoding="application/x-tex">x^2</annotation></semantics></math><p>Plain <math><mi>a</mi><mo>+</mo><mi>b</mi></math> here.</p>"#,
        );
        assert_eq!(
            out,
            "The $n_{1} \\lt  2$th element.\n\n$$x^2$$\n\nPlain a+b here."
        );
    }

    #[test]
    fn invisible_elements_are_not_content() {
        let out = md(
            r#"<p>Story. <a href="/more">Read More<span class="screen-reader-text"> Read More</span></a></p><div aria-hidden="true">icon</div><p style="display: none">secret</p><p hidden>gone</p>"#,
        );
        assert_eq!(out, "Story. [Read More](https://example.com/more)");
    }

    #[test]
    fn shortcodes_in_code_use_hugos_escape_and_more_is_not_a_divider() {
        let out = md(
            "<pre><code>{{&lt; youtube abc &gt;}}</code></pre><p>Use <code>{{% note %}}</code> and &lt;!--more--&gt; here.</p>",
        );
        assert_eq!(
            out,
            "```\n{{</* youtube abc */>}}\n```\n\nUse `{{%/* note */%}}` and \\<!\\-\\-more\\-\\-> here."
        );
    }

    #[test]
    fn breaks_inside_preformatted_code_are_newlines() {
        assert_eq!(
            md("<pre><code>let a = 1;<br>let b = 2;<br></code></pre>"),
            "```\nlet a = 1;\nlet b = 2;\n```"
        );
    }
}
