//! The `aliases` table format: aliases(5), as read by postalias(1).
//!
//! `name: value, value, ...`; blank lines and lines whose first
//! non-whitespace character is `#` are ignored; a line starting with
//! whitespace continues the previous entry (joined with one space). The
//! name is the text before the first `:` outside double quotes; quotes and
//! backslash escapes are removed from it (`"first last": x` has the key
//! `first last`). The value is the rest, trimmed and NOT split: the
//! compiler splits `a, "|cmd arg", /file, :include:/path` itself. A line
//! without `:`, an empty name, a name with unquoted whitespace and an
//! empty value are errors. Linear, one allocation per name and value.

use mailc_lang::FileId;

use super::lines::{self, syntax};
use super::{Parsed, RawEntry};

const HELP: &str = "write `name: target, target`; a line starting with whitespace continues the previous entry";

/// Reads one aliases file.
pub fn read(file: FileId, text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    lines::for_each(file, text, true, &mut parsed, |out, line| {
        let t = line.text;
        let name = lines::scan(t, 0, false, Some(b':'));
        if let Some(q) = name.open_quote {
            let span = line.span_first(q, t.len());
            out.diagnostics.push(syntax(
                span,
                "alias name has an unclosed double quote",
                "this quote is never closed",
                HELP,
            ));
            return;
        }
        let colon = name.end;
        if colon >= t.len() {
            let span = line.span_first(0, t.len());
            out.diagnostics.push(syntax(span, "alias line has no `:`", "expected `name: value`", HELP));
            return;
        }
        let (na, nz) = lines::trim(t, 0, colon);
        let raw = &t[na..nz];
        let key = if raw.contains(['"', '\\']) { unquote(raw) } else { raw.to_string() };
        if key.is_empty() {
            let span = line.span(na, colon + 1);
            out.diagnostics.push(syntax(span, "alias has an empty name", "expected a name before `:`", HELP));
            return;
        }
        if name.bare_space.is_some_and(|s| s < nz) {
            out.diagnostics.push(syntax(
                line.span(na, nz),
                format!("alias name `{raw}` contains whitespace"),
                "this name has whitespace outside quotes",
                "quote a name with special characters: `\"first last\": target`",
            ));
            return;
        }
        let (va, vz) = lines::trim(t, colon + 1, t.len());
        if va == vz {
            out.diagnostics.push(syntax(
                line.span(colon, colon + 1),
                format!("alias `{key}` has no value"),
                "expected a target after this `:`",
                HELP,
            ));
            return;
        }
        let quoted = raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"');
        let key_span = if quoted { line.span(na + 1, nz - 1) } else { line.span(na, nz) };
        let value_span = line.span_first(va, vz);
        out.entries.push(RawEntry { key, key_span, flags: None, value: Some(t[va..vz].to_string()), value_span });
    });
    parsed
}

/// `raw` without double quotes, with `\x` read as `x`.
fn unquote(raw: &str) -> String {
    let mut key = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {}
            '\\' => key.extend(chars.next()),
            c => key.push(c),
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &Parsed) -> Vec<(&str, &str)> {
        p.entries.iter().map(|e| (e.key.as_str(), e.value.as_deref().unwrap_or("-"))).collect()
    }

    #[test]
    fn names_values_and_spans() {
        let text = "postmaster: root\r\n# comment\n\nroot :  admin@example.com, \"|/usr/bin/cmd arg\", /var/mail/x, :include:/etc/list\n";
        let p = read(FileId(0), text);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(
            pairs(&p),
            [
                ("postmaster", "root"),
                ("root", "admin@example.com, \"|/usr/bin/cmd arg\", /var/mail/x, :include:/etc/list"),
            ]
        );
        let e = &p.entries[1];
        assert_eq!(&text[e.key_span.range()], "root");
        assert!(text[e.value_span.range()].starts_with("admin@example.com,"));
        assert_eq!(e.flags, None);
    }

    #[test]
    fn quoted_names_lose_their_quotes() {
        let text = "\"first last\": fl\n\"a:b\\\"c\": x\n";
        let p = read(FileId(0), text);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(pairs(&p), [("first last", "fl"), ("a:b\"c", "x")]);
        assert_eq!(&text[p.entries[0].key_span.range()], "first last");
    }

    #[test]
    fn continuations_join_with_one_space() {
        let text = "staff: a,\n    b,\n\t# note\n  c\nnext: d";
        let p = read(FileId(0), text);
        assert!(p.diagnostics.is_empty());
        assert_eq!(pairs(&p), [("staff", "a, b, c"), ("next", "d")]);
        assert_eq!(&text[p.entries[0].value_span.range()], "a,");
    }

    #[test]
    fn every_bad_line_is_reported() {
        let text = "no colon here\n: nameless\nempty:\nfirst last: x\n\"open: y\n  orphan?\nok: fine\n";
        let p = read(FileId(0), text);
        assert_eq!(pairs(&p), [("ok", "fine")]);
        let got: Vec<(&str, &str)> =
            p.diagnostics.iter().map(|d| (d.message.as_str(), &text[d.primary.span.range()])).collect();
        assert_eq!(
            got,
            [
                ("alias line has no `:`", "no colon here"),
                ("alias has an empty name", ":"),
                ("alias `empty` has no value", ":"),
                ("alias name `first last` contains whitespace", "first last"),
                ("alias name has an unclosed double quote", "\"open: y"),
            ]
        );
    }
}
