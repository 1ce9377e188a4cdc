//! The `tsv` table format: `key<TAB>value`, one entry per line.
//!
//! Blank lines and lines whose first non-whitespace character is `#` are
//! ignored; there are no continuation lines. The key is the text before
//! the first tab, the value everything after it (later tabs included);
//! both are trimmed of surrounding whitespace. A line without a tab, or
//! with nothing after it, is a key-only entry (the compiler decides
//! whether the table allows that); a line with nothing before its tab is
//! an error. Not a Postfix format: this is the plain export format of
//! spreadsheets and databases. Linear, one allocation per key and value.

use mailc_lang::FileId;

use super::lines::{self, syntax};
use super::{Parsed, RawEntry};

/// Reads one tab-separated file.
pub fn read(file: FileId, text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    lines::for_each(file, text, false, &mut parsed, |out, line| {
        let t = line.text;
        let tab = t.as_bytes().iter().position(|&b| b == b'\t');
        let (ka, kz) = lines::trim(t, 0, tab.unwrap_or(t.len()));
        let (va, vz) = match tab {
            Some(tab) => lines::trim(t, tab + 1, t.len()),
            None => (t.len(), t.len()),
        };
        if ka == kz {
            out.diagnostics.push(syntax(
                line.span(va, vz),
                "line has a value but no key",
                "expected a key before the tab in front of this value",
                "write `key<TAB>value`, one entry per line",
            ));
            return;
        }
        let key_span = line.span(ka, kz);
        let (value, value_span) =
            if va < vz { (Some(t[va..vz].to_string()), line.span(va, vz)) } else { (None, key_span) };
        out.entries.push(RawEntry { key: t[ka..kz].to_string(), key_span, flags: None, value, value_span });
    });
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &Parsed) -> Vec<(&str, Option<&str>)> {
        p.entries.iter().map(|e| (e.key.as_str(), e.value.as_deref())).collect()
    }

    #[test]
    fn keys_values_and_spans() {
        let text = " alice@x \t a b \t c \r\n# comment\n\nbob@x\nkey only\ncarol@x\t\n";
        let p = read(FileId(0), text);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(pairs(&p), [("alice@x", Some("a b \t c")), ("bob@x", None), ("key only", None), ("carol@x", None)]);
        let e = &p.entries[0];
        assert_eq!(&text[e.key_span.range()], "alice@x");
        assert_eq!(&text[e.value_span.range()], "a b \t c");
        assert_eq!(p.entries[1].value_span, p.entries[1].key_span);
    }

    #[test]
    fn indented_lines_do_not_continue() {
        let p = read(FileId(0), "a\t1\n  b\t2");
        assert_eq!(pairs(&p), [("a", Some("1")), ("b", Some("2"))]);
    }

    #[test]
    fn every_bad_line_is_reported() {
        let text = "\tno key\nok\t1\n  \tagain\n";
        let p = read(FileId(0), text);
        assert_eq!(pairs(&p), [("ok", Some("1"))]);
        let spans: Vec<&str> = p.diagnostics.iter().map(|d| &text[d.primary.span.range()]).collect();
        assert_eq!(spans, ["no key", "again"]);
    }
}
