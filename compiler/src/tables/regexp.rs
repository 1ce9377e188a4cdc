//! The `regexp` table format: regexp_table(5), `/pattern/flags result`.
//!
//! The delimiter is the first character of the line (any character that
//! is neither whitespace, alphanumeric nor `\`); the pattern runs to the
//! next delimiter not escaped by a backslash and is kept as written,
//! escapes included. Flags are the characters directly after it (`i`,
//! `x`, `m`; kept in order, as written); `!/pattern/` negates, recorded
//! as a leading `!` in the flags. Then whitespace and the result, which is
//! required. Blank, `#` comment and continuation lines are as in postmap.
//! `if`/`endif` blocks are refused. The pattern is not compiled here (the
//! compiler does that), so reading never fails on what a pattern means.

use mailc_lang::FileId;

use super::lines::{self, syntax};
use super::{Parsed, RawEntry};

const HELP: &str = "write `/pattern/flags result`; a line starting with whitespace continues the previous entry";

/// Reads one regexp table file.
pub fn read(file: FileId, text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    lines::for_each(file, text, true, &mut parsed, |out, line| {
        let t = line.text;
        let b = t.as_bytes();
        if let Some(n) = lines::block_word(t) {
            out.diagnostics.push(syntax(
                line.span(0, n),
                "nested if/endif blocks are not supported",
                "this line belongs to an `if` block",
                "mailc's regexp tables do not nest; fold the `if` condition into each pattern",
            ));
            return;
        }
        let mut i = 0;
        let mut negated = false;
        while i < b.len() && (b[i] == b'!' || lines::is_space(b[i])) {
            negated ^= b[i] == b'!';
            i += 1;
        }
        let Some(delim) = t[i..].chars().next() else {
            let span = line.span(0, t.len());
            out.diagnostics.push(syntax(
                span,
                "`!` is not followed by a pattern",
                "expected `/pattern/` after this",
                HELP,
            ));
            return;
        };
        let open = i + delim.len_utf8();
        if delim.is_alphanumeric() || delim == '\\' {
            let span = line.span(i, open);
            out.diagnostics.push(syntax(
                span,
                "pattern does not start with a delimiter",
                "expected a delimiter such as `/` here",
                HELP,
            ));
            return;
        }
        let mut close = None;
        let mut rest = t[open..].char_indices();
        while let Some((k, c)) = rest.next() {
            if c == '\\' {
                rest.next();
            } else if c == delim {
                close = Some(open + k);
                break;
            }
        }
        let Some(close) = close else {
            out.diagnostics.push(syntax(
                line.span_first(i, t.len()),
                format!("pattern has no closing `{delim}`"),
                "this pattern is never closed",
                &format!("end the pattern with `{delim}`; write `\\{delim}` for a `{delim}` inside it"),
            ));
            return;
        };
        let fa = close + delim.len_utf8();
        let fz = b[fa..].iter().position(|&c| lines::is_space(c)).map_or(t.len(), |p| fa + p);
        let flags = &t[fa..fz];
        if let Some(bad) = flags.chars().find(|c| !matches!(c, 'i' | 'x' | 'm')) {
            out.diagnostics.push(syntax(
                line.span(fa, fz),
                format!("unknown regexp flag `{bad}`"),
                "the valid flags are `i`, `x` and `m`",
                "write the flags directly after the closing delimiter, then whitespace and the result",
            ));
            return;
        }
        let (va, vz) = lines::trim(t, fz, t.len());
        if va == vz {
            out.diagnostics.push(syntax(
                line.span(i, fz),
                "pattern has no result",
                "expected a result after this pattern",
                HELP,
            ));
            return;
        }
        let flags = match (negated, flags.is_empty()) {
            (false, true) => None,
            (false, false) => Some(flags.to_string()),
            (true, _) => Some(format!("!{flags}")),
        };
        out.entries.push(RawEntry {
            key: t[open..close].to_string(),
            key_span: line.span(open, close),
            flags,
            value: Some(t[va..vz].to_string()),
            value_span: line.span_first(va, vz),
        });
    });
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(p: &Parsed) -> Vec<(&str, Option<&str>, &str)> {
        p.entries.iter().map(|e| (e.key.as_str(), e.flags.as_deref(), e.value.as_deref().unwrap_or("-"))).collect()
    }

    #[test]
    fn patterns_flags_results_and_spans() {
        let text = "# comment\n/^user-(.*)@example\\.com$/i   $1@example.org\r\n\
                    !/a\\/b/ REJECT no slashes\n|x/y|mx   OK\n//\tempty pattern\n!!/double/ DUNNO\n";
        let p = read(FileId(0), text);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(
            rows(&p),
            [
                ("^user-(.*)@example\\.com$", Some("i"), "$1@example.org"),
                ("a\\/b", Some("!"), "REJECT no slashes"),
                ("x/y", Some("mx"), "OK"),
                ("", None, "empty pattern"),
                ("double", None, "DUNNO"),
            ]
        );
        let e = &p.entries[0];
        assert_eq!(&text[e.key_span.range()], "^user-(.*)@example\\.com$");
        assert_eq!(&text[e.value_span.range()], "$1@example.org");
        assert_eq!(&text[p.entries[1].key_span.range()], "a\\/b");
    }

    #[test]
    fn continuation_lines_join() {
        let text = "/^spam/\n   REJECT\n\t  go away\n/x/ OK";
        let p = read(FileId(0), text);
        assert!(p.diagnostics.is_empty());
        assert_eq!(rows(&p), [("^spam", None, "REJECT go away"), ("x", None, "OK")]);
        assert_eq!(&text[p.entries[0].value_span.range()], "REJECT");
    }

    #[test]
    fn every_bad_line_is_reported() {
        let text = "/open\n/a/q OK\n/b/i\nif /c/\n/d/ fine\nendif\nplain OK\n!\n\\x\\ y\n  orphan\n";
        let p = read(FileId(0), text);
        assert_eq!(rows(&p), [("d", None, "fine")]);
        let got: Vec<(&str, &str)> =
            p.diagnostics.iter().map(|d| (d.message.as_str(), &text[d.primary.span.range()])).collect();
        assert_eq!(
            got,
            [
                ("pattern has no closing `/`", "/open"),
                ("unknown regexp flag `q`", "q"),
                ("pattern has no result", "/b/i"),
                ("nested if/endif blocks are not supported", "if"),
                ("nested if/endif blocks are not supported", "endif"),
                ("pattern does not start with a delimiter", "p"),
                ("`!` is not followed by a pattern", "!"),
                ("pattern does not start with a delimiter", "\\"),
            ]
        );
    }

    #[test]
    fn other_delimiters_and_non_ascii() {
        let text = "§ä§i é\n#x#x y\n";
        let p = read(FileId(0), text);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(rows(&p), [("ä", Some("i"), "é")]);
        assert_eq!(&text[p.entries[0].key_span.range()], "ä");
    }
}
