//! The `file` (list) format: one key per line, for domain sets, networks
//! and key sets.
//!
//! The key is the first token, split at whitespace outside double quotes
//! (so `"first last"@example.com` is one key) and kept as written. Blank
//! lines, `#` comment lines and a ` # comment` after the key are ignored
//! (a `#` inside the key, as in `a#b`, is part of it). Any other text
//! after the key is an error: one entry per line. There are no
//! continuation lines. Entries have no value. Linear, one allocation per
//! key.

use mailc_lang::FileId;

use super::lines::{self, syntax};
use super::{Parsed, RawEntry};

/// Reads one list file.
pub fn read(file: FileId, text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    lines::for_each(file, text, false, &mut parsed, |out, line| {
        let t = line.text;
        let b = t.as_bytes();
        let (ka, _) = lines::trim(t, 0, t.len());
        let key = lines::scan(t, ka, true, None);
        if let Some(q) = key.open_quote {
            out.diagnostics.push(syntax(
                line.span(q, t.len()),
                "entry has an unclosed double quote",
                "this quote is never closed",
                "close the quote; put each entry on its own line",
            ));
            return;
        }
        let (ra, rz) = lines::trim(t, key.end, t.len());
        if ra < rz && b[ra] != b'#' {
            // The extra text runs to a ` #` comment, if there is one.
            let comment = (ra + 1..rz).find(|&i| b[i] == b'#' && lines::is_space(b[i - 1]));
            let (ea, ez) = lines::trim(t, ra, comment.unwrap_or(rz));
            out.diagnostics.push(syntax(
                line.span(ea, ez),
                "expected one entry per line",
                "a second entry on the same line",
                "put each entry on its own line; `#` after whitespace starts a comment",
            ));
            return;
        }
        let key_span = line.span(ka, key.end);
        out.entries.push(RawEntry {
            key: t[ka..key.end].to_string(),
            key_span,
            flags: None,
            value: None,
            value_span: key_span,
        });
    });
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(p: &Parsed) -> Vec<&str> {
        p.entries.iter().map(|e| e.key.as_str()).collect()
    }

    #[test]
    fn keys_and_spans() {
        let text = "# domains\nexample.com\r\n  example.org   # trailing comment\n\na#b\n\"first last\"@example.net\n192.0.2.0/24";
        let p = read(FileId(0), text);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(keys(&p), ["example.com", "example.org", "a#b", "\"first last\"@example.net", "192.0.2.0/24"]);
        for e in &p.entries {
            assert_eq!(&text[e.key_span.range()], e.key);
            assert_eq!(e.value, None);
            assert_eq!(e.value_span, e.key_span);
        }
    }

    #[test]
    fn every_bad_line_is_reported() {
        let text = "a.example b.example\nok.example\nc.example d e # why\n\"open quote\n";
        let p = read(FileId(0), text);
        assert_eq!(keys(&p), ["ok.example"]);
        let got: Vec<&str> = p.diagnostics.iter().map(|d| &text[d.primary.span.range()]).collect();
        assert_eq!(got, ["b.example", "d e", "\"open quote"]);
        assert!(p
            .diagnostics
            .iter()
            .all(|d| d.message == "expected one entry per line" || d.message.contains("quote")));
    }
}
