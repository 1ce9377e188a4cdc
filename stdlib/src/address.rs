//! Addresses and domains as mailc compares them.
//!
//! Domain matching is case-insensitive, IDNA domains are compared in
//! their A-label form and a trailing dot is removed; local parts are
//! compared case-insensitively for lookups but kept as written for
//! delivery. One implementation serves the compiler (normalising table
//! keys) and the runtime (normalising what a client sends), so the two
//! can never disagree. Nothing here touches DNS.

/// Why a text is not a valid domain, address or local part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

/// Normalises a domain: lowercase, A-labels, no trailing dot. Address
/// literals (`[192.0.2.1]`, `[IPv6:2001:db8::1]`) are checked and
/// lowercased.
pub fn normalize_domain(text: &str) -> Result<String, Invalid> {
    let mut out = String::with_capacity(text.len());
    push_domain(&mut out, text)?;
    Ok(out)
}

/// Appends the normalised form of a domain to `out`; on error `out` is
/// left as it was. ASCII domains (nearly all) take a path that does not
/// allocate.
pub fn push_domain(out: &mut String, text: &str) -> Result<(), Invalid> {
    let text = text.strip_suffix('.').unwrap_or(text);
    if text.is_empty() {
        return Err(Invalid("the domain is empty".into()));
    }
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(|| Invalid("an address literal must end with `]`".into()))?;
        let ip = match inner.get(..5) {
            Some(p) if p.eq_ignore_ascii_case("ipv6:") => inner[5..].parse::<std::net::Ipv6Addr>().is_ok(),
            _ => inner.parse::<std::net::Ipv4Addr>().is_ok(),
        };
        if !ip {
            return Err(Invalid(format!("`{text}` is not a valid address literal")));
        }
        out.extend(text.chars().map(|c| c.to_ascii_lowercase()));
        return Ok(());
    }
    if text.is_ascii() {
        check_ascii_domain(text, text)?;
        out.extend(text.bytes().map(|b| b.to_ascii_lowercase() as char));
        return Ok(());
    }
    let ascii = idna::domain_to_ascii(text)
        .map_err(|_| Invalid(format!("`{text}` is not a valid internationalised domain")))?;
    check_ascii_domain(&ascii, text)?;
    out.push_str(&ascii);
    Ok(())
}

/// Checks a domain's syntax without normalising it.
pub fn check_domain(text: &str) -> Result<(), Invalid> {
    let bare = text.strip_suffix('.').unwrap_or(text);
    if bare.is_ascii() && !bare.is_empty() && !bare.starts_with('[') {
        return check_ascii_domain(bare, text);
    }
    normalize_domain(text).map(|_| ())
}

/// RFC 1035 / RFC 5321 host syntax (with `_`, which real zones use).
fn check_ascii_domain(ascii: &str, shown: &str) -> Result<(), Invalid> {
    if ascii.len() > 253 {
        return Err(Invalid(format!("`{shown}` is longer than 253 characters")));
    }
    for label in ascii.split('.') {
        let b = label.as_bytes();
        if b.is_empty() {
            return Err(Invalid(format!("`{shown}` has an empty label")));
        }
        if b.len() > 63 {
            return Err(Invalid(format!("`{shown}` has a label longer than 63 characters")));
        }
        if !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_') {
            return Err(Invalid(format!("`{shown}` has characters a domain cannot have")));
        }
        if b[0] == b'-' || b[b.len() - 1] == b'-' {
            return Err(Invalid(format!("`{shown}` has a label that starts or ends with `-`")));
        }
    }
    Ok(())
}

/// RFC 5322 atext, for ASCII bytes.
const fn atext_table() -> [bool; 128] {
    let mut t = [false; 128];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric();
        c += 1;
    }
    let specials = b"!#$%&'*+-/=?^_`{|}~";
    let mut i = 0;
    while i < specials.len() {
        t[specials[i] as usize] = true;
        i += 1;
    }
    t
}

const ATEXT: [bool; 128] = atext_table();

/// Checks a local part (dot-atom or quoted string, RFC 5321 4.1.2; UTF-8
/// letters allowed, RFC 6531) and returns it unchanged.
pub fn check_local(local: &str) -> Result<(), Invalid> {
    if local.is_empty() {
        return Err(Invalid("the local part is empty".into()));
    }
    // RFC 5321 4.5.3.1.1: at most 64 octets.
    if local.len() > 64 {
        return Err(Invalid(format!("`{local}` is longer than 64 characters")));
    }
    if local.starts_with('"') {
        return if local.len() >= 2 && local.ends_with('"') {
            Ok(())
        } else {
            Err(Invalid(format!("`{local}` has an unterminated quote")))
        };
    }
    let valid = local.split('.').all(|atom| {
        !atom.is_empty() && atom.chars().all(|c| if c.is_ascii() { ATEXT[c as usize] } else { c.is_alphanumeric() })
    });
    if !valid {
        return Err(Invalid(format!("`{local}` is not a valid local part")));
    }
    Ok(())
}

/// Appends the lookup key of `local@domain` (local part lowercased,
/// domain normalised) to `out`; on error `out` is left as it was.
pub fn push_address_key(out: &mut String, text: &str) -> Result<(), Invalid> {
    let at = text.rfind('@').ok_or_else(|| Invalid(format!("`{text}` has no `@`")))?;
    let (local, domain) = (&text[..at], &text[at + 1..]);
    check_local(local)?;
    let mark = out.len();
    push_lower(out, local);
    out.push('@');
    if let Err(e) = push_domain(out, domain) {
        out.truncate(mark);
        return Err(e);
    }
    Ok(())
}

/// Checks `local@domain` without normalising it.
pub fn check_address(text: &str) -> Result<(), Invalid> {
    let at = text.rfind('@').ok_or_else(|| Invalid(format!("`{text}` has no `@`")))?;
    check_local(&text[..at])?;
    check_domain(&text[at + 1..])
}

/// Appends `text` lowercased (ASCII without allocating).
pub fn push_lower(out: &mut String, text: &str) {
    if text.is_ascii() {
        out.extend(text.bytes().map(|b| b.to_ascii_lowercase() as char));
    } else {
        out.push_str(&text.to_lowercase());
    }
}

/// An address split at its last `@`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The local part, as written.
    pub local: String,
    /// The domain, normalised.
    pub domain: String,
}

impl Address {
    /// The address with its local part lowercased: the lookup form.
    pub fn key(&self) -> String {
        format!("{}@{}", self.local.to_lowercase(), self.domain)
    }
}

/// Parses and normalises `local@domain`.
pub fn parse_address(text: &str) -> Result<Address, Invalid> {
    let at = text.rfind('@').ok_or_else(|| Invalid(format!("`{text}` has no `@`")))?;
    let (local, domain) = (&text[..at], &text[at + 1..]);
    check_local(local)?;
    let domain = normalize_domain(domain)?;
    Ok(Address { local: local.to_string(), domain })
}

/// Splits a local part at the first recipient delimiter: `(user, ext)`.
pub fn split_extension<'a>(local: &'a str, delimiters: &str) -> (&'a str, Option<&'a str>) {
    if delimiters.is_empty() || local.starts_with('"') {
        return (local, None);
    }
    match local.char_indices().find(|(i, c)| *i > 0 && delimiters.contains(*c)) {
        Some((i, c)) => (&local[..i], Some(&local[i + c.len_utf8()..])),
        None => (local, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_compare_in_lowercase_a_labels_without_trailing_dot() {
        assert_eq!(normalize_domain("Example.COM.").unwrap(), "example.com");
        assert_eq!(normalize_domain("bücher.example").unwrap(), "xn--bcher-kva.example");
        assert_eq!(normalize_domain("[192.0.2.1]").unwrap(), "[192.0.2.1]");
        assert_eq!(normalize_domain("[IPv6:2001:DB8::1]").unwrap(), "[ipv6:2001:db8::1]");
        assert!(normalize_domain("a..b").is_err());
        assert!(normalize_domain("-a.b").is_err());
        assert!(normalize_domain("[300.1.1.1]").is_err());
        assert!(normalize_domain("a b.c").is_err());
    }

    #[test]
    fn addresses_keep_the_local_part_and_normalise_the_domain() {
        let a = parse_address("Joe.Bloggs@Example.COM").unwrap();
        assert_eq!(a.local, "Joe.Bloggs");
        assert_eq!(a.domain, "example.com");
        assert_eq!(a.key(), "joe.bloggs@example.com");
        assert!(parse_address("\"odd user\"@example.com").is_ok());
        assert!(parse_address("no-at-sign").is_err());
        assert!(parse_address("a..b@example.com").is_err());
        assert!(parse_address("@example.com").is_err());
    }

    #[test]
    fn the_first_delimiter_splits_off_the_extension() {
        assert_eq!(split_extension("joe+news", "+"), ("joe", Some("news")));
        assert_eq!(split_extension("joe-a+b", "+-"), ("joe", Some("a+b")));
        assert_eq!(split_extension("joe", "+"), ("joe", None));
        assert_eq!(split_extension("+joe", "+"), ("+joe", None));
        assert_eq!(split_extension("joe+x", ""), ("joe+x", None));
    }
}
