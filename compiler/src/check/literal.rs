//! Literals the compiler validates: networks, replies and text templates.
//!
//! The grammar accepts anything shaped like a literal; these functions
//! decide whether it means something (`300.1.1.1/8` is shaped like a
//! network and is not one) and return the parsed value or a message.

use std::net::IpAddr;

use mailc_stdlib::PLACEHOLDERS;

/// An IP network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The network address (host bits cleared).
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `192.0.2.0/24`, `2001:db8::/32`, `[2001:db8::]/32` or a
    /// single address. Host bits must be zero, as Postfix's cidr_table
    /// requires.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')).unwrap_or(addr);
        let addr: IpAddr = addr.parse().map_err(|_| format!("`{text}` is not an IP address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}` has a prefix length that is not between 0 and {max}"))?,
            None => max,
        };
        let cidr = Cidr { addr, prefix };
        if cidr.network() != addr {
            return Err(format!("`{text}` has host bits set; the network is `{}/{prefix}`", cidr.network()));
        }
        Ok(cidr)
    }

    fn bits(addr: IpAddr) -> (u128, u8) {
        match addr {
            IpAddr::V4(a) => (u32::from(a) as u128, 32),
            IpAddr::V6(a) => (u128::from(a), 128),
        }
    }

    fn mask(prefix: u8, width: u8) -> u128 {
        if prefix == 0 {
            0
        } else {
            let all = if width == 32 { u32::MAX as u128 } else { u128::MAX };
            all & !((1u128 << (width - prefix)) - 1).min(all)
        }
    }

    /// The address with host bits cleared.
    pub fn network(&self) -> IpAddr {
        let (bits, width) = Cidr::bits(self.addr);
        let net = bits & Cidr::mask(self.prefix, width);
        match self.addr {
            IpAddr::V4(_) => IpAddr::V4((net as u32).into()),
            IpAddr::V6(_) => IpAddr::V6(net.into()),
        }
    }

    /// Whether `other` lies wholly inside this network.
    pub fn contains(&self, other: &Cidr) -> bool {
        if self.addr.is_ipv4() != other.addr.is_ipv4() || other.prefix < self.prefix {
            return false;
        }
        let (a, width) = Cidr::bits(self.addr);
        let (b, _) = Cidr::bits(other.addr);
        let m = Cidr::mask(self.prefix, width);
        a & m == b & m
    }
}

/// Checks a reply code against the action it is used with: `reject`
/// needs 5xx, `defer` 4xx, and an enhanced code must share the class
/// digit (RFC 3463 section 2).
pub fn check_reply(code: u16, enhanced: Option<&str>) -> Result<(), String> {
    if !(400..600).contains(&code) {
        return Err(format!("`{code}` is not a rejection code; use 4xx for temporary and 5xx for permanent"));
    }
    if let Some(enh) = enhanced {
        let mut parts = enh.split('.');
        let class = parts.next().unwrap_or("");
        let subject: Option<u16> = parts.next().and_then(|p| p.parse().ok());
        let detail: Option<u16> = parts.next().and_then(|p| p.parse().ok());
        if class != (code / 100).to_string() {
            return Err(format!(
                "the enhanced code `{enh}` is of class {class} but the reply code `{code}` is of class {}",
                code / 100
            ));
        }
        // RFC 3463 section 2: subject and detail are 0 to 999 without
        // leading zeros beyond a single 0.
        if subject.is_none() || detail.is_none() {
            return Err(format!("`{enh}` is not an enhanced status code"));
        }
    }
    Ok(())
}

/// A template error: byte offset and length of the bad part, and why.
pub type TemplateError = (usize, usize, String);

/// The placeholders `{name}` in a template, with their byte offsets
/// inside the text, or the offset and message of the first error.
pub fn placeholders(text: &str) -> Result<Vec<(usize, &str)>, TemplateError> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => i += 2,
            b'}' if bytes.get(i + 1) == Some(&b'}') => i += 2,
            b'{' => {
                let end = text[i..].find('}').ok_or((
                    i,
                    1,
                    "`{` is never closed; write `{{` for a literal brace".to_string(),
                ))?;
                let name = &text[i + 1..i + end];
                if !PLACEHOLDERS.iter().any(|(p, _)| *p == name) {
                    return Err((i, end + 1, format!("`{{{name}}}` is not a placeholder")));
                }
                out.push((i, name));
                i += end + 1;
            }
            b'}' => return Err((i, 1, "`}` without `{`; write `}}` for a literal brace".to_string())),
            _ => i += 1,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_and_nest() {
        let net = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(net.contains(&Cidr::parse("10.1.2.3").unwrap()));
        assert!(!net.contains(&Cidr::parse("11.0.0.0/8").unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(&net));
        assert!(Cidr::parse("[2001:db8::]/32").unwrap().contains(&Cidr::parse("2001:db8::1").unwrap()));
        assert!(Cidr::parse("10.0.0.1/8").unwrap_err().contains("host bits"));
        assert!(Cidr::parse("300.0.0.0/8").is_err());
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(!net.contains(&Cidr::parse("::1").unwrap()));
    }

    #[test]
    fn replies_match_their_class() {
        assert!(check_reply(550, Some("5.7.1")).is_ok());
        assert!(check_reply(450, Some("5.7.1")).is_err());
        assert!(check_reply(250, None).is_err());
        assert!(check_reply(550, Some("5.x.1")).is_err());
    }

    #[test]
    fn templates_name_known_placeholders() {
        assert_eq!(placeholders("<{recipient}>: no {{x}}").unwrap(), vec![(1, "recipient")]);
        assert!(placeholders("{nope}").is_err());
        assert!(placeholders("{recipient").is_err());
        assert!(placeholders("a } b").is_err());
    }
}
