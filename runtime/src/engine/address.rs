//! Recipient addresses as the engine sees them.
//!
//! An envelope address is split at its last `@` outside quotes, after an
//! RFC 5321 source route (`@relay1,@relay2:user@domain`) is dropped, as
//! Postfix drops it. So the relay tricks (`user%other@us`,
//! `other!user@us`, `"user@other"@us`, `@us:user@other`) all end up with
//! the domain a reader would expect, and a local part no table knows: they
//! are never routed to another host unless the policy says so. The local
//! part is kept as written for delivery and lowercased for lookups.

use mailc_stdlib::address::{check_local, push_domain, push_lower, split_extension};

/// A parsed recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The local part as written.
    pub local: String,
    /// The domain, normalised (lowercase, A-labels, no trailing dot).
    pub domain: String,
    /// The local part, lowercased, for lookups.
    pub key_local: String,
    /// `key_local` without its extension.
    pub user: String,
    /// The extension, lowercased, without the delimiter.
    pub ext: Option<String>,
    /// The extension as written.
    pub ext_as_written: Option<String>,
    /// The delimiter that separated the extension.
    pub delimiter: Option<char>,
}

impl Recipient {
    /// `local@domain` with the local part as written.
    pub fn address(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }

    /// The lookup form `local@domain`.
    pub fn key(&self) -> String {
        format!("{}@{}", self.key_local, self.domain)
    }
}

/// Why an address cannot be a recipient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadAddress(pub String);

/// Parses an envelope recipient.
pub fn parse(text: &str, delimiters: &str) -> Result<Recipient, BadAddress> {
    let text = text.trim();
    if text.is_empty() || text == "<>" {
        return Err(BadAddress("the null address cannot be a recipient".into()));
    }
    // RFC 5321 4.1.1.3: source routes are to be ignored.
    let text = match text.strip_prefix('@') {
        Some(rest) => rest.split_once(':').map_or(text, |(_, addr)| addr),
        None => text,
    };
    let at = last_unquoted_at(text).ok_or_else(|| BadAddress(format!("`{text}` has no domain")))?;
    let (local, domain) = (&text[..at], &text[at + 1..]);
    check_local(local).map_err(|e| BadAddress(e.0))?;
    let mut d = String::with_capacity(domain.len());
    push_domain(&mut d, domain).map_err(|e| BadAddress(e.0))?;
    let mut key_local = String::with_capacity(local.len());
    push_lower(&mut key_local, local);
    let (user, ext) = split_extension(&key_local, delimiters);
    let delimiter = ext.map(|_| key_local[user.len()..].chars().next().unwrap_or('+'));
    let ext_as_written = split_extension(local, delimiters).1.map(str::to_string);
    Ok(Recipient {
        ext_as_written,
        local: local.to_string(),
        domain: d,
        user: user.to_string(),
        ext: ext.map(str::to_string),
        delimiter,
        key_local,
    })
}

/// The byte index of the last `@` that is not inside a quoted string.
fn last_unquoted_at(text: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    let mut last = None;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '@' if !quoted => last = Some(i),
            _ => {}
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    trait ExpectOk {
        fn expect_ok(self) -> Recipient;
    }

    impl ExpectOk for Result<Recipient, BadAddress> {
        fn expect_ok(self) -> Recipient {
            match self {
                Ok(r) => r,
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn case_idna_and_trailing_dots_are_normalised_but_the_local_part_is_kept() {
        let r = parse("Joe+News@Bücher.Example.", "+").expect_ok();
        assert_eq!(r.local, "Joe+News");
        assert_eq!(r.domain, "xn--bcher-kva.example");
        assert_eq!((r.user.as_str(), r.ext.as_deref()), ("joe", Some("news")));
        assert_eq!(r.key(), "joe+news@xn--bcher-kva.example");
    }

    /// Postfix never routes these elsewhere by itself (ADDRESS_REWRITING_README:
    /// "Postfix does not recognize ... these forms of address"): the domain is
    /// ours, the local part is what no table knows.
    #[test]
    fn relay_tricks_keep_our_domain() {
        for (trick, local) in [
            ("user%other.test@example.test", "user%other.test"),
            ("other.test!user@example.test", "other.test!user"),
            ("\"user@other.test\"@example.test", "\"user@other.test\""),
            ("@example.test:user@other.test", "user"),
        ] {
            let r = parse(trick, "+").expect_ok();
            assert_eq!(r.local, local, "{trick}");
        }
        // The source route is dropped: the real destination is other.test,
        // which the relay check then refuses.
        assert_eq!(parse("@example.test:user@other.test", "+").expect_ok().domain, "other.test");
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        assert!(parse("", "+").is_err());
        assert!(parse("<>", "+").is_err());
        assert!(parse(&format!("{}@example.test", "a".repeat(10_000)), "+").is_err());
        assert!(parse("a\u{0}b@example.test", "+").is_err());
        assert!(parse("user@", "+").is_err());
        assert!(parse("\"unterminated@example.test", "+").is_err());
        assert!(parse("@:@", "+").is_err());
        assert!(parse("üser@exämple.test", "+").is_ok());
    }
}
