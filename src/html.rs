//! The one hand-written HTML tag scanner, for the places where building a DOM would cost
//! more than the answer is worth: plain text of a title or summary, the nesting depth of
//! an article before it goes to the real parser, and feed links in a page's head.
//!
//! It recognises `<name …>`, `</name>`, `<!…>` and `<?…?>` and honours quoted attribute
//! values that contain `>`. Text that only looks like a tag (`a < b`) is not a tag. Pure
//! functions over `&str`; every scan is linear in the text it reads.

/// One tag found in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag<'a> {
    /// The name as written (`a`, `IMG`, `dc:date`, `!DOCTYPE`).
    pub name: &'a str,
    /// `</name>`.
    pub closing: bool,
    /// `<name … />`.
    pub self_closing: bool,
    /// What follows the name up to (not including) the closing `>`.
    pub attributes: &'a str,
    /// Bytes from `<` to and including `>` (to the end of the text for a tag cut off there).
    pub len: usize,
}

impl<'a> Tag<'a> {
    /// The name without its prefix (`dc:date` → `date`). A byte loop: names are a few
    /// bytes long, and `rsplit(':')` (a `memrchr` and an iterator per tag) was a quarter
    /// of the entry layout's instructions.
    pub fn local_name(&self) -> &'a str {
        let name = self.name;
        match name.bytes().rposition(|b| b == b':') {
            Some(colon) => &name[colon + 1..],
            None => name,
        }
    }

    /// Whether the tag's name is `name`, whatever its case.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The value of attribute `name` (entities left as written), if the tag has it.
    pub fn attribute(&self, name: &str) -> Option<&'a str> {
        attributes(self.attributes)
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// Reads the tag at the start of `text` (which must begin with `<`). `None` when the `<`
/// starts no tag. A tag cut off by the end of the text (a publisher's truncated excerpt)
/// counts as a tag when it has begun its attributes, so the fragment is not shown as text.
pub fn tag_at(text: &str) -> Option<Tag<'_>> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'<') {
        return None;
    }
    let mut i = 1;
    let closing = bytes.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let first = *bytes.get(i)?;
    if !(first.is_ascii_alphabetic() || (!closing && (first == b'!' || first == b'?'))) {
        return None;
    }
    let name_start = i;
    while i < bytes.len()
        && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'-' | b':' | b'!' | b'?'))
    {
        i += 1;
    }
    let name = &text[name_start..i];
    let attributes_start = i;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => {
                let attributes = &text[attributes_start..i];
                return Some(Tag {
                    name,
                    closing,
                    self_closing: attributes.ends_with('/'),
                    attributes,
                    len: i + 1,
                });
            }
            None => {}
        }
        i += 1;
    }
    let has_attributes = bytes
        .get(attributes_start)
        .is_some_and(u8::is_ascii_whitespace);
    (first.is_ascii_alphabetic() && has_attributes).then_some(Tag {
        name,
        closing,
        self_closing: false,
        attributes: &text[attributes_start..],
        len: text.len(),
    })
}

/// A tag cut off by the end of `text`, which holds no `>`: `<name` followed by white space
/// (its attributes had begun). Reads only the name.
fn cut_off_tag(text: &str) -> Option<Tag<'_>> {
    let bytes = text.as_bytes();
    let closing = bytes.get(1) == Some(&b'/');
    let name_start = if closing { 2 } else { 1 };
    if !bytes.get(name_start)?.is_ascii_alphabetic() {
        return None;
    }
    let name_end = bytes[name_start..]
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b':' | b'!' | b'?')))
        .map_or(bytes.len(), |p| name_start + p);
    bytes
        .get(name_end)
        .is_some_and(u8::is_ascii_whitespace)
        .then_some(Tag {
            name: &text[name_start..name_end],
            closing,
            self_closing: false,
            attributes: &text[name_end..],
            len: text.len(),
        })
}

/// What a scan over HTML meets, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// Text between tags, entities not decoded.
    Text(&'a str),
    /// A tag.
    Tag(Tag<'a>),
    /// The inside of `<![CDATA[…]]>`: text.
    CData(&'a str),
    /// A `<!-- … -->` comment (its inside).
    Comment(&'a str),
}

/// The tokens of `html`, left to right. Each byte is read a bounded number of times: once
/// no `>` is left, the rest is text without looking for more tags.
pub fn tokens(html: &str) -> Tokens<'_> {
    Tokens {
        rest: html,
        last_gt: html.rfind('>'),
        consumed: 0,
    }
}

/// The iterator of [`tokens`].
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    rest: &'a str,
    /// Where the text's last `>` is (from its start), so a `<` after it is known to be
    /// text without scanning to the end again.
    last_gt: Option<usize>,
    consumed: usize,
}

impl<'a> Tokens<'a> {
    /// Where the next token starts, in bytes from the start of the text.
    pub fn offset(&self) -> usize {
        self.consumed
    }

    fn advance(&mut self, by: usize) -> &'a str {
        let (head, tail) = self.rest.split_at(by);
        self.rest = tail;
        self.consumed += by;
        head
    }

    /// Skips the rest of an element named `name` whose start tag was just read, nested
    /// elements of the same name included (`<div hidden><div>…</div>…</div>`).
    pub fn skip_element(&mut self, name: &str) {
        let mut depth = 1usize;
        for token in self.by_ref() {
            if let Token::Tag(tag) = token
                && tag.is(name)
            {
                if tag.closing {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                } else if !tag.self_closing {
                    depth += 1;
                }
            }
        }
    }

    /// Skips past the closing tag of `name` (for elements whose content is never shown).
    pub fn skip_past_closing(&mut self, name: &str) {
        let bytes = self.rest.as_bytes();
        let mut search_from = 0;
        while let Some(offset) = self.rest[search_from..].find("</") {
            let at = search_from + offset;
            let candidate = &bytes[at + 2..];
            if candidate.len() >= name.len()
                && candidate[..name.len()].eq_ignore_ascii_case(name.as_bytes())
            {
                let end = self.rest[at..]
                    .find('>')
                    .map_or(self.rest.len(), |gt| at + gt + 1);
                self.advance(end);
                return;
            }
            search_from = at + 2;
        }
        self.advance(self.rest.len());
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        // Text up to the next `<` that starts something.
        let Some(lt) = self.rest.find('<') else {
            return Some(Token::Text(self.advance(self.rest.len())));
        };
        if lt > 0 {
            return Some(Token::Text(self.advance(lt)));
        }
        let here = self.rest;
        // memchr's SIMD substring search: a feed's CDATA sections are most of its text,
        // and `str::find` of a three-byte needle was 2% of a pass over known entries.
        if let Some(body) = here.strip_prefix("<!--") {
            let close = crate::feed::scan::find(body, "-->");
            let end = close.map_or(here.len(), |e| 4 + e + 3);
            let inside = &body[..close.unwrap_or(body.len())];
            self.advance(end);
            return Some(Token::Comment(inside));
        }
        if let Some(body) = here.strip_prefix("<![CDATA[") {
            let close = crate::feed::scan::find(body, "]]>").unwrap_or(body.len());
            let end = (9 + close + 3).min(here.len());
            self.advance(end);
            return Some(Token::CData(&body[..close]));
        }
        let gt_ahead = self.last_gt.is_some_and(|gt| gt > self.consumed);
        if let Some(tag) = gt_ahead.then(|| tag_at(here)).flatten() {
            self.advance(tag.len);
            return Some(Token::Tag(tag));
        }
        if !gt_ahead {
            // No `>` is left, so only a tag cut off by the end of the text can start
            // here; it is recognised without scanning the rest again for each `<`.
            if let Some(tag) = cut_off_tag(here) {
                self.advance(tag.len);
                return Some(Token::Tag(tag));
            }
        }
        // Not a tag: the `<` is text, together with what follows up to the next `<`.
        let next = here[1..].find('<').map_or(here.len(), |n| n + 1);
        Some(Token::Text(self.advance(next)))
    }
}

/// `name="value"`, `name='value'` and `name=value` pairs of a tag's attribute text (names
/// as written, values without their quotes).
pub fn attributes(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
            if rest.is_empty() {
                return None;
            }
            let name_end = rest
                .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
                .unwrap_or(rest.len());
            let name = &rest[..name_end];
            rest = rest[name_end..].trim_start();
            let value = if let Some(after) = rest.strip_prefix('=') {
                let after = after.trim_start();
                let (value, remaining) = match after.chars().next() {
                    Some(quote @ ('"' | '\'')) => {
                        let body = &after[1..];
                        let close = body.find(quote).unwrap_or(body.len());
                        (&body[..close], body.get(close + 1..).unwrap_or(""))
                    }
                    _ => {
                        let close = after.find(char::is_whitespace).unwrap_or(after.len());
                        (&after[..close], &after[close..])
                    }
                };
                rest = remaining;
                value
            } else {
                ""
            };
            if !name.is_empty() {
                return Some((name, value));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_honour_quoted_greater_than() {
        let tag = tag_at(r#"<a title="x>y" href="/">link</a>"#).expect("tag");
        assert_eq!(tag.name, "a");
        assert_eq!(tag.attribute("href"), Some("/"));
        assert_eq!(tag.attribute("TITLE"), Some("x>y"));
        assert_eq!(tag.len, 24);
    }

    #[test]
    fn lone_less_than_is_text() {
        let all: Vec<Token<'_>> = tokens("a < b and c<d").collect();
        let text: String = all
            .iter()
            .map(|t| match t {
                Token::Text(t) => *t,
                _ => "",
            })
            .collect();
        assert_eq!(text, "a < b and c<d");
    }

    #[test]
    fn comments_and_cdata_are_their_own_tokens() {
        let all: Vec<Token<'_>> = tokens("x<!-- c --><![CDATA[d & e]]><br/>").collect();
        assert_eq!(all[0], Token::Text("x"));
        assert_eq!(all[1], Token::Comment(" c "));
        assert_eq!(all[2], Token::CData("d & e"));
        assert!(matches!(all[3], Token::Tag(t) if t.is("BR") && t.self_closing));
    }

    #[test]
    fn many_unclosed_tags_are_text() {
        // Each `<a` used to be scanned to the end of the text: quadratic, minutes for this.
        let hostile = "<a".repeat(200_000);
        let text: String = tokens(&hostile)
            .map(|t| match t {
                Token::Text(t) => t,
                _ => "",
            })
            .collect();
        assert_eq!(text, hostile);
    }

    #[test]
    fn a_tag_cut_off_at_the_end_is_still_a_tag() {
        let all: Vec<Token<'_>> = tokens("1 2 <span class=\"li").collect();
        assert_eq!(all[0], Token::Text("1 2 "));
        assert!(matches!(all[1], Token::Tag(t) if t.is("span")));
    }

    #[test]
    fn attribute_forms_are_all_read() {
        let found: Vec<(&str, &str)> =
            attributes(r#" rel='alternate' type="application/atom+xml" hidden href=/f.xml /"#)
                .collect();
        assert_eq!(
            found,
            [
                ("rel", "alternate"),
                ("type", "application/atom+xml"),
                ("hidden", ""),
                ("href", "/f.xml")
            ]
        );
    }
}
