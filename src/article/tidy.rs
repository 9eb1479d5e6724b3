//! The last pass over written markdown, line by line and aware of code: what a reader
//! would see as a blemish is fixed at the text level, after the tree walk.
//!
//! - trailing spaces and runs of blank lines go (outside code blocks);
//! - a hard break (`\`) with nothing after it in its paragraph goes: CommonMark and Hugo
//!   print it as a literal backslash;
//! - control characters go;
//! - Hugo shortcodes are neutralised so Hugo shows them instead of running them: in text
//!   as `{{&lt;`, in code with Hugo's own escape `{{</* x */>}}` (code shows text as
//!   written, so an entity would show too);
//! - `<!--more-->` in text is written so Hugo does not take it for its summary divider;
//! - escapes the converter adds where CommonMark needs none (`file\_name`, a lone `\[`)
//!   are taken out, so the text reads like its source.

use std::borrow::Cow;

/// Tidies the converter's output. Lines that need nothing are copied as they are: this
/// runs on every article.
pub fn tidy_markdown(markdown: &str) -> String {
    let may_hold_controls = may_hold_controls(markdown);
    let lines: Vec<Cow<'_, str>> = markdown
        .lines()
        .map(|line| {
            let line = line.trim_end();
            if may_hold_controls {
                without_controls(line)
            } else {
                Cow::Borrowed(line)
            }
        })
        .collect();
    let mut out = String::with_capacity(markdown.len());
    let mut fence: Option<String> = None;
    let mut blank_run = 0;
    for (index, line) in lines.iter().enumerate() {
        if let Some(marker) = &fence {
            if is_fence_close(line, marker) {
                fence = None;
            }
            out.push_str(&in_code(line));
            out.push('\n');
            continue;
        }
        if let Some(marker) = fence_open(line) {
            fence = Some(marker);
            blank_run = 0;
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut line: &str = if line.trim() == "\\" { "" } else { line };
        let paragraph_ends = lines
            .get(index + 1)
            .is_none_or(|next| next.trim().is_empty() || next.trim() == "\\");
        if paragraph_ends && ends_with_hard_break(line) {
            line = line[..line.len() - 1].trim_end();
        }
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(&in_text(line));
        out.push('\n');
    }
    out.truncate(out.trim_end().len());
    out
}

/// A line ending in an odd run of backslashes ends in a hard break (an even run is
/// escaped backslashes).
fn ends_with_hard_break(line: &str) -> bool {
    let run = line.len() - line.trim_end_matches('\\').len();
    run % 2 == 1
}

/// Whether `text` may hold a control character other than tab and line feed, looked for
/// byte by byte (decoding every character of every article cost a twentieth of its
/// conversion): C0 controls and DEL are single bytes, C1 controls (U+0080 to U+009F) all
/// start with the byte 0xC2, which no other control does.
fn may_hold_controls(text: &str) -> bool {
    crate::feed::scan::any_byte(text.as_bytes(), |b| {
        ((b < b' ') & (b != b'\t') & (b != b'\n')) | (b == 0x7f) | (b == 0xc2)
    })
}

fn without_controls(line: &str) -> Cow<'_, str> {
    let control = |c: char| c != '\t' && c.is_control();
    if line.contains(control) {
        Cow::Owned(line.chars().filter(|c| !control(*c)).collect())
    } else {
        Cow::Borrowed(line)
    }
}

/// The marker of a code fence this line opens (three or more backticks or tildes).
fn fence_open(line: &str) -> Option<String> {
    let trimmed = line.trim_start();
    let marker_char = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let run = trimmed.chars().take_while(|c| *c == marker_char).count();
    (run >= 3).then(|| marker_char.to_string().repeat(run))
}

fn is_fence_close(line: &str, marker: &str) -> bool {
    let trimmed = line.trim();
    trimmed.starts_with(marker) && trimmed.chars().all(|c| marker.starts_with(c))
}

/// A line of text: inline code spans get the code rules, the rest the text rules.
fn in_text(line: &str) -> Cow<'_, str> {
    let bytes = line.as_bytes();
    if memchr::memchr3(b'`', b'{', b'<', bytes).is_none() && memchr::memchr(b'\\', bytes).is_none()
    {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 8);
    let mut rest = line;
    while let Some(open) = rest.find('`') {
        let run = rest[open..].chars().take_while(|c| *c == '`').count();
        let ticks = &rest[open..open + run];
        let after = &rest[open + run..];
        match find_closing_run(after, run) {
            Some(close) => {
                out.push_str(&text_rules(&rest[..open]));
                out.push_str(ticks);
                out.push_str(&in_code(&after[..close]));
                out.push_str(ticks);
                rest = &after[close + run..];
            }
            None => {
                out.push_str(&text_rules(&rest[..open + run]));
                rest = after;
            }
        }
    }
    out.push_str(&text_rules(rest));
    Cow::Owned(out)
}

/// Where a run of exactly `run` backticks starts in `text`.
fn find_closing_run(text: &str, run: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'`' {
            let len = bytes[i..].iter().take_while(|b| **b == b'`').count();
            if len == run {
                return Some(i);
            }
            i += len;
        } else {
            i += 1;
        }
    }
    None
}

fn text_rules(text: &str) -> Cow<'_, str> {
    let mut text = Cow::Borrowed(text);
    if text.contains("{{") {
        text = Cow::Owned(text.replace("{{<", "{{&lt;").replace("{{%", "{{&#37;"));
    }
    if text.contains("<!--more-->") {
        text = Cow::Owned(
            text.replace("\\<!--more-->", "\\<!\\-\\-more\\-\\->")
                .replace("<!--more-->", "\\<!\\-\\-more\\-\\->"),
        );
    }
    if text.contains("\\_") || text.contains("\\[") {
        text = Cow::Owned(without_needless_escapes(&text));
    }
    text
}

/// `\_` inside a word (CommonMark never takes an intraword `_` for emphasis) and `\[`
/// with no `]` after it (no link can start there) written plainly.
fn without_needless_escapes(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            let escaped = chars[i + 1];
            let preceding_backslashes = chars[..i].iter().rev().take_while(|c| **c == '\\').count();
            let is_escape = preceding_backslashes % 2 == 0;
            let intraword_underscore = escaped == '_'
                && i > 0
                && chars[i - 1].is_alphanumeric()
                && chars.get(i + 2).is_some_and(|c| c.is_alphanumeric());
            let lone_bracket = escaped == '[' && !chars[i + 2..].contains(&']');
            if is_escape && (intraword_underscore || lone_bracket) {
                out.push(escaped);
                i += 2;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Code shows its text as written: Hugo's own escape for a shortcode, a zero-width space
/// between `{{` and `<` or `%` where no shortcode closes (Hugo would fail on it).
fn in_code(code: &str) -> Cow<'_, str> {
    if !code.contains("{{<") && !code.contains("{{%") {
        return Cow::Borrowed(code);
    }
    let mut out = String::with_capacity(code.len() + 16);
    let mut rest = code;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(kind) = after.chars().next().filter(|c| *c == '<' || *c == '%') else {
            out.push_str("{{");
            rest = after;
            continue;
        };
        let closing_kind = if kind == '<' { '>' } else { '%' };
        let close = format!("{closing_kind}}}}}");
        match after[1..].find(&close) {
            Some(end) => {
                let inner = &after[1..1 + end];
                out.push_str(&format!("{{{{{kind}/*{inner}*/{closing_kind}}}}}"));
                rest = &after[1 + end + close.len()..];
            }
            None => {
                out.push_str("{{\u{200B}");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hard_break_at_the_end_of_a_paragraph_goes() {
        assert_eq!(tidy_markdown("Share this\\\n\nNext"), "Share this\n\nNext");
        assert_eq!(tidy_markdown("a\\\nb\\\n\\\n\nc"), "a\\\nb\n\nc");
        assert_eq!(tidy_markdown("end\\"), "end");
        // An escaped backslash stays.
        assert_eq!(tidy_markdown("C:\\\\\n\nx"), "C:\\\\\n\nx");
        // Code keeps its backslashes.
        assert_eq!(tidy_markdown("```\n\\\n```"), "```\n\\\n```");
    }

    #[test]
    fn shortcodes_are_neutralised_in_text_and_escaped_in_code() {
        assert_eq!(
            tidy_markdown("{{< x >}} and `{{< y >}}`\n\n```\n{{% z %}} {{< open\n```"),
            "{{&lt; x >}} and `{{</* y */>}}`\n\n```\n{{%/* z */%}} {{\u{200B}< open\n```"
        );
    }

    #[test]
    fn more_dividers_and_needless_escapes_and_controls() {
        assert_eq!(
            tidy_markdown("a \\<!--more--> b"),
            "a \\<!\\-\\-more\\-\\-> b"
        );
        assert_eq!(
            tidy_markdown("file\\_name.txt \\_em\\_ \\[a\\](b)"),
            "file_name.txt \\_em\\_ \\[a\\](b)"
        );
        assert_eq!(tidy_markdown("\\[1 of 3"), "[1 of 3");
        assert_eq!(tidy_markdown("bell\u{7}here"), "bellhere");
        // C1 controls, DEL and a lone CR go; a character sharing the C1 lead byte stays.
        assert_eq!(tidy_markdown("a\u{85}b\u{7f}c\rd £5\u{9f}"), "abcd £5");
        assert_eq!(tidy_markdown("£5 ÿ é"), "£5 ÿ é");
    }
}
