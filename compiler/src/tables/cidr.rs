//! The `cidr` table format: cidr_table(5), `network/prefix result`.
//!
//! The key is the first whitespace-delimited token, kept exactly as
//! written (`192.0.2.0/24`, `2001:db8::/32`, `[2001:db8::]/32`, and a
//! leading `!` for negation): this reader does not validate addresses, the
//! compiler does. The result is the rest of the logical line, trimmed; it
//! is required. Blank lines, `#` comment lines and continuation lines
//! (starting with whitespace) work as cidr_table(5) describes. `if` /
//! `endif` blocks are refused: mailc's cidr tables do not nest. Linear,
//! one allocation per key and value.

use mailc_lang::FileId;

use super::lines::{self, syntax};
use super::{Parsed, RawEntry};

/// Reads one cidr table file.
pub fn read(file: FileId, text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    lines::for_each(file, text, true, &mut parsed, |out, line| {
        let t = line.text;
        if let Some(n) = lines::block_word(t) {
            out.diagnostics.push(syntax(
                line.span(0, n),
                "nested if/endif blocks are not supported",
                "this line belongs to an `if` block",
                "mailc's cidr tables do not nest; write each network on its own line",
            ));
            return;
        }
        let kz = t.bytes().position(lines::is_space).unwrap_or(t.len());
        let key_span = line.span(0, kz);
        let (va, vz) = lines::trim(t, kz, t.len());
        if va == vz {
            out.diagnostics.push(syntax(
                key_span,
                "line has a network but no result",
                "expected a result after this network",
                "write `network/prefix result`, e.g. `192.0.2.0/24 REJECT`; \
                 a line starting with whitespace continues the previous entry",
            ));
            return;
        }
        let value_span = line.span_first(va, vz);
        out.entries.push(RawEntry {
            key: t[..kz].to_string(),
            key_span,
            flags: None,
            value: Some(t[va..vz].to_string()),
            value_span,
        });
    });
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &Parsed) -> Vec<(&str, &str)> {
        p.entries.iter().map(|e| (e.key.as_str(), e.value.as_deref().unwrap_or("-"))).collect()
    }

    #[test]
    fn networks_results_and_spans() {
        let text = "# Rule order matters\n192.168.1.1             OK\r\n192.168.0.0/16\tREJECT go away\n\
                    2001:db8::/32 REJECT\n[2001:db8::]/32 OK\n!10.0.0.0/8 DUNNO\nnot-an-address x";
        let p = read(FileId(0), text);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(
            pairs(&p),
            [
                ("192.168.1.1", "OK"),
                ("192.168.0.0/16", "REJECT go away"),
                ("2001:db8::/32", "REJECT"),
                ("[2001:db8::]/32", "OK"),
                ("!10.0.0.0/8", "DUNNO"),
                ("not-an-address", "x"),
            ]
        );
        let e = &p.entries[1];
        assert_eq!(&text[e.key_span.range()], "192.168.0.0/16");
        assert_eq!(&text[e.value_span.range()], "REJECT go away");
        assert_eq!(&text[p.entries[0].value_span.range()], "OK");
    }

    #[test]
    fn continuation_lines_join() {
        let text = "192.0.2.0/24\n  REJECT\n   blocked\n";
        let p = read(FileId(0), text);
        assert!(p.diagnostics.is_empty());
        assert_eq!(pairs(&p), [("192.0.2.0/24", "REJECT blocked")]);
        assert_eq!(&text[p.entries[0].value_span.range()], "REJECT");
    }

    #[test]
    fn every_bad_line_is_reported() {
        let text = "192.0.2.1\nif 10.0.0.0/8\n10.1.0.0/16 OK\nENDIF\n  orphan\n198.51.100.0/24\n";
        let p = read(FileId(0), text);
        assert_eq!(pairs(&p), [("10.1.0.0/16", "OK")]);
        let got: Vec<&str> = p.diagnostics.iter().map(|d| &text[d.primary.span.range()]).collect();
        assert_eq!(got, ["192.0.2.1", "if", "ENDIF", "198.51.100.0/24"]);
        // "  orphan" continues `ENDIF`, which is refused as a whole.
        assert!(p.diagnostics[1].help.as_deref().is_some_and(|h| h.contains("do not nest")));
    }
}
