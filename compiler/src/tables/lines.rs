//! Physical and logical lines of a table file, shared by the readers.
//!
//! Lines end at `\n`; one trailing `\r` is not content (CRLF files work).
//! Blank lines and lines whose first non-whitespace character is `#` are
//! skipped. With continuation on, a line starting with whitespace joins
//! the previous logical line with one space (postmap(1), "INPUT FILE
//! FORMAT"); comment and blank lines between do not end the logical line.
//! Whitespace is C's `isspace` on ASCII bytes, so every offset this module
//! returns is a char boundary. A single-line logical line borrows the file
//! text; only joined lines use a (reused) buffer, so reading allocates
//! nothing per line. Nothing here panics on any input.

use mailc_lang::{FileId, Span};

use super::Parsed;
use crate::diag::{Code, Diagnostic};

/// C's `isspace` for ASCII: the whitespace that separates fields.
pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c)
}

/// Offsets of `s[from..to]` without surrounding whitespace (`start == end`
/// when it is all whitespace).
pub(super) fn trim(s: &str, from: usize, to: usize) -> (usize, usize) {
    let b = s.as_bytes();
    let (mut a, mut z) = (from, to);
    while a < z && is_space(b[a]) {
        a += 1;
    }
    while z > a && is_space(b[z - 1]) {
        z -= 1;
    }
    (a, z)
}

/// A `TableSyntax` diagnostic.
pub(super) fn syntax(span: Span, message: impl Into<String>, label: &str, help: &str) -> Diagnostic {
    Diagnostic::new(Code::TableSyntax, span, message, label).help(help)
}

/// The length of a leading `if` or `endif` word (any case, followed by
/// the end or a non-alphanumeric byte), as regexp_table(5) and
/// cidr_table(5) recognise their block lines.
pub(super) fn block_word(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    [&b"if"[..], &b"endif"[..]].into_iter().find_map(|word| {
        let n = word.len();
        let head = b.get(..n)?;
        let boundary = !b.get(n).is_some_and(u8::is_ascii_alphanumeric);
        (head.eq_ignore_ascii_case(word) && boundary).then_some(n)
    })
}

/// The result of [`scan`].
pub(super) struct Scan {
    /// Where scanning stopped (the stop byte, whitespace or the end).
    pub end: usize,
    /// The opening quote of a `"` that is never closed.
    pub open_quote: Option<usize>,
    /// The first whitespace outside quotes and not escaped (only found
    /// when whitespace does not stop the scan).
    pub bare_space: Option<usize>,
}

/// Scans `s[from..]` up to the first `stop` byte or (with `stop_at_space`)
/// whitespace outside double quotes; a backslash escapes the next byte.
pub(super) fn scan(s: &str, from: usize, stop_at_space: bool, stop: Option<u8>) -> Scan {
    let b = s.as_bytes();
    let mut i = from;
    let mut quote: Option<usize> = None;
    let mut bare_space = None;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            i += 2;
            continue;
        }
        if c == b'"' {
            quote = if quote.is_some() { None } else { Some(i) };
        } else if quote.is_none() {
            if Some(c) == stop {
                break;
            }
            if is_space(c) {
                if stop_at_space {
                    break;
                }
                bare_space = bare_space.or(Some(i));
            }
        }
        i += 1;
    }
    Scan { end: i.min(b.len()), open_quote: quote, bare_space }
}

/// Where a piece of a logical line came from.
#[derive(Debug, Clone, Copy)]
struct Seg {
    /// Offset in the logical line.
    logical: usize,
    /// Offset in the file.
    source: usize,
    /// Length in bytes.
    len: usize,
}

/// One logical line: its text and a map back to file offsets.
pub(super) struct Line<'a> {
    /// The text (continuations joined with one space).
    pub text: &'a str,
    file: FileId,
    /// INVARIANT: at least one segment, sorted by `logical`, the first at 0.
    segs: &'a [Seg],
}

impl Line<'_> {
    fn seg(&self, off: usize) -> Seg {
        let i = self.segs.partition_point(|s| s.logical <= off);
        self.segs[i.saturating_sub(1)]
    }

    /// The file offset of logical offset `off`.
    pub fn src(&self, off: usize) -> usize {
        let seg = self.seg(off);
        seg.source + (off - seg.logical)
    }

    /// The span of logical range `a..b` (across continuations, from the
    /// first byte's place to just after the last byte's place).
    pub fn span(&self, a: usize, b: usize) -> Span {
        let start = self.src(a);
        let end = if b > a { self.src(b - 1) + 1 } else { start };
        Span::new(self.file, start, end)
    }

    /// Like [`Line::span`], but cut at the end of the physical line that
    /// `a` is on.
    pub fn span_first(&self, a: usize, b: usize) -> Span {
        let seg = self.seg(a);
        self.span(a, b.min(seg.logical + seg.len).max(a))
    }
}

/// Calls `f` with every logical line of `text` (every content line when
/// `continuation` is off, leading whitespace included). A continuation
/// with nothing before it is reported into `out` and skipped.
pub(super) fn for_each(
    file: FileId,
    text: &str,
    continuation: bool,
    out: &mut Parsed,
    mut f: impl FnMut(&mut Parsed, &Line<'_>),
) {
    let bytes = text.as_bytes();
    let mut pending: Option<(usize, usize)> = None;
    let mut conts: Vec<(usize, usize)> = Vec::new();
    let mut buf = String::new();
    let mut segs: Vec<Seg> = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let start = pos;
        let nl = bytes[pos..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| pos + i);
        pos = nl + 1;
        let mut end = nl;
        if end > start && bytes[end - 1] == b'\r' {
            end -= 1;
        }
        let (first, last) = trim(text, start, end);
        if first == last || bytes[first] == b'#' {
            continue;
        }
        if continuation && first > start {
            if pending.is_some() {
                conts.push((first, last));
            } else {
                out.diagnostics.push(syntax(
                    Span::new(file, first, last),
                    "continuation line has no entry to continue",
                    "this line starts with whitespace",
                    "a line starting with whitespace continues the previous entry; \
                     remove the indentation or write the entry first",
                ));
            }
            continue;
        }
        if let Some(p) = pending.take() {
            emit(file, text, p, &conts, &mut buf, &mut segs, out, &mut f);
            conts.clear();
        }
        pending = Some((start, end));
    }
    if let Some(p) = pending {
        emit(file, text, p, &conts, &mut buf, &mut segs, out, &mut f);
    }
}

#[allow(clippy::too_many_arguments)]
fn emit(
    file: FileId,
    text: &str,
    (start, end): (usize, usize),
    conts: &[(usize, usize)],
    buf: &mut String,
    segs: &mut Vec<Seg>,
    out: &mut Parsed,
    f: &mut impl FnMut(&mut Parsed, &Line<'_>),
) {
    segs.clear();
    if conts.is_empty() {
        segs.push(Seg { logical: 0, source: start, len: end - start });
        let line = Line { text: &text[start..end], file, segs };
        f(out, &line);
        return;
    }
    buf.clear();
    let (_, end) = trim(text, start, end);
    buf.push_str(&text[start..end]);
    segs.push(Seg { logical: 0, source: start, len: end - start });
    for &(a, z) in conts {
        buf.push(' ');
        segs.push(Seg { logical: buf.len(), source: a, len: z - a });
        buf.push_str(&text[a..z]);
    }
    let line = Line { text: buf, file, segs };
    f(out, &line);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str, continuation: bool) -> (Vec<(String, Span)>, Parsed) {
        let mut got = Vec::new();
        let mut out = Parsed::default();
        for_each(FileId(0), text, continuation, &mut out, |_, l| {
            got.push((l.text.to_string(), l.span(0, l.text.len())))
        });
        (got, out)
    }

    #[test]
    fn splits_joins_and_skips() {
        let text = "a 1\r\n# c\n\n  \r\nb 2\n  more\n\t# not a continuation\n\tand more\nc";
        let (got, out) = lines(text, true);
        let texts: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["a 1", "b 2 more and more", "c"]);
        assert_eq!(&text[got[1].1.range()], "b 2\n  more\n\t# not a continuation\n\tand more");
        assert!(out.diagnostics.is_empty());
    }

    #[test]
    fn orphan_continuation_is_reported() {
        let (got, out) = lines("  lost\nkey\n", true);
        assert_eq!(got.len(), 1);
        assert_eq!(out.diagnostics.len(), 1);
        assert_eq!(out.diagnostics[0].primary.span.range(), 2..6);
    }

    #[test]
    fn without_continuation_every_line_stands_alone() {
        let (got, out) = lines("a\n  b\n", false);
        let texts: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["a", "  b"]);
        assert!(out.diagnostics.is_empty());
    }

    #[test]
    fn scan_respects_quotes_and_escapes() {
        let s = r#""a b"\ c d"#;
        assert_eq!(scan(s, 0, true, None).end, 8);
        let open = scan("\"ab c", 0, true, None);
        assert_eq!((open.end, open.open_quote), (5, Some(0)));
        let colon = scan("x y\\:z: v", 0, false, Some(b':'));
        assert_eq!((colon.end, colon.bare_space), (6, Some(1)));
        // A trailing backslash never indexes past the end.
        assert_eq!(scan("ab\\", 0, true, None).end, 3);
    }

    /// Every reader on arbitrary text: no panic, and every span is a
    /// valid char-boundary range of the text.
    #[test]
    fn readers_survive_arbitrary_input() {
        use super::super::{read, Format};
        const FORMATS: [Format; 6] =
            [Format::Postfix, Format::Tsv, Format::Aliases, Format::Cidr, Format::Regexp, Format::List];
        const ALPHABET: &[&str] = &[
            "a", "Z", "0", " ", "\t", "\r", "\n", "\r\n", "#", "\"", "\\", ":", "/", "!", "§", "é", "if", "endif",
            "\0", "\x0b",
        ];
        let check = |text: &str| {
            for format in FORMATS {
                let p = read(format, FileId(0), text);
                let spans = p.entries.iter().flat_map(|e| [e.key_span, e.value_span]);
                let spans = spans.chain(p.diagnostics.iter().map(|d| d.primary.span));
                for span in spans {
                    assert!(span.start <= span.end, "{format:?} {text:?}");
                    assert!(text.get(span.range()).is_some(), "{format:?} {text:?} {:?}", span.range());
                }
            }
        };
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let len = (next() % 40) as usize;
            let text: String = (0..len).map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize]).collect();
            check(&text);
        }
        for text in ["", "\n", "\r", "\r\r\n", " ", "\t\n\t", "#", "x", "\u{feff}x y"] {
            check(text);
        }
        let long = format!("{} {}\n", "k".repeat(1 << 20), "v ".repeat(1 << 19));
        check(&long);
        let p = read(Format::Postfix, FileId(0), &long);
        assert_eq!(p.entries[0].key.len(), 1 << 20);
    }
}
