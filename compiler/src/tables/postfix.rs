//! The `postfix` table format: postmap(1) source files ("INPUT FILE FORMAT").
//!
//! `key whitespace value`; blank lines and lines whose first non-whitespace
//! character is `#` are ignored (a `#` inside a value is part of it); a
//! line starting with whitespace continues the previous logical line. The
//! key is the first token, split at whitespace outside double quotes (as
//! postmap 3.2+ does) and kept as written, quotes and a trailing `:`
//! included; the value is the rest, trimmed. A key alone is an entry
//! with no value: sets are written that way, and the compiler decides.
//! One pass, no regex; per entry only the key and value `String`s are
//! allocated, so a million-line file reads in well under a second.

use mailc_lang::FileId;

use super::lines::{self, syntax};
use super::{Parsed, RawEntry};

/// Reads one postmap source file.
pub fn read(file: FileId, text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    lines::for_each(file, text, true, &mut parsed, |out, line| {
        let t = line.text;
        let key = lines::scan(t, 0, true, None);
        if let Some(q) = key.open_quote {
            out.diagnostics.push(syntax(
                line.span_first(q, t.len()),
                "key has an unclosed double quote",
                "this quote is never closed",
                "close the quote, or write `\\\"` for a quote inside the key",
            ));
            return;
        }
        let key_span = line.span(0, key.end);
        let (va, vz) = lines::trim(t, key.end, t.len());
        let (value, value_span) =
            if va < vz { (Some(t[va..vz].to_string()), line.span_first(va, vz)) } else { (None, key_span) };
        out.entries.push(RawEntry { key: t[..key.end].to_string(), key_span, flags: None, value, value_span });
    });
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read0(text: &str) -> Parsed {
        read(FileId(0), text)
    }

    #[test]
    fn keys_values_and_spans() {
        let text =
            "a@example.com   b@example.org, c@example.net  \n# comment\n\n   # indented comment\nkey v#not-a-comment\n";
        let p = read0(text);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(p.entries.len(), 2);
        let e = &p.entries[0];
        assert_eq!(e.key, "a@example.com");
        assert_eq!(&text[e.key_span.range()], "a@example.com");
        assert_eq!(e.value.as_deref(), Some("b@example.org, c@example.net"));
        assert_eq!(&text[e.value_span.range()], "b@example.org, c@example.net");
        assert_eq!(e.flags, None);
        assert_eq!(p.entries[1].value.as_deref(), Some("v#not-a-comment"));
    }

    #[test]
    fn key_without_value_is_an_entry() {
        let text = "user@example.com\nother@example.com   \n";
        let p = read0(text);
        assert!(p.diagnostics.is_empty());
        assert_eq!(p.entries.len(), 2);
        assert_eq!(p.entries[1].key, "other@example.com");
        assert_eq!(p.entries[1].value, None);
        assert_eq!(p.entries[1].value_span, p.entries[1].key_span);
    }

    #[test]
    fn continuation_lines_join_with_one_space() {
        let text = "list a@x,  \n\t  b@y,\n# between\n   c@z\nnext 1\nkey\n  value\n";
        let p = read0(text);
        assert!(p.diagnostics.is_empty());
        let e = &p.entries[0];
        assert_eq!(e.value.as_deref(), Some("a@x, b@y, c@z"));
        assert_eq!(&text[e.value_span.range()], "a@x,");
        assert_eq!(p.entries[1].key, "next");
        let e = &p.entries[2];
        assert_eq!((e.key.as_str(), e.value.as_deref()), ("key", Some("value")));
        assert_eq!(&text[e.value_span.range()], "value");
    }

    #[test]
    fn crlf_and_no_final_newline() {
        let text = "a 1\r\nb\t2\r\n\r\n  c\r\nd 4";
        let p = read0(text);
        assert!(p.diagnostics.is_empty());
        let got: Vec<(&str, Option<&str>)> = p.entries.iter().map(|e| (e.key.as_str(), e.value.as_deref())).collect();
        assert_eq!(got, [("a", Some("1")), ("b", Some("2 c")), ("d", Some("4"))]);
        assert_eq!(&text[p.entries[2].value_span.range()], "4");
    }

    #[test]
    fn colons_and_quotes_stay_in_the_key() {
        let text = "user: alias\n\"john smith\"@example.com john\n";
        let p = read0(text);
        assert_eq!(p.entries[0].key, "user:");
        assert_eq!(p.entries[1].key, "\"john smith\"@example.com");
        assert_eq!(p.entries[1].value.as_deref(), Some("john"));
    }

    #[test]
    fn every_bad_line_is_reported() {
        let text = "  orphan\nok 1\n\"open quote value\nfine 2\n\"again\n";
        let p = read0(text);
        assert_eq!(p.entries.len(), 2);
        assert_eq!(p.diagnostics.len(), 3);
        let spans: Vec<&str> = p.diagnostics.iter().map(|d| &text[d.primary.span.range()]).collect();
        assert_eq!(spans, ["orphan", "\"open quote value", "\"again"]);
        assert!(p.diagnostics.iter().all(|d| d.code == crate::diag::Code::TableSyntax && d.help.is_some()));
    }

    #[test]
    fn reads_a_large_file() {
        let mut text = String::with_capacity(200_000 * 40);
        for i in 0..200_000 {
            text.push_str(&format!("user{i}@example.com\tmailbox{i}@example.org\n"));
        }
        let p = read0(&text);
        assert!(p.diagnostics.is_empty());
        assert_eq!(p.entries.len(), 200_000);
        assert_eq!(p.entries[199_999].value.as_deref(), Some("mailbox199999@example.org"));
    }
}
