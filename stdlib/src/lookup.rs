//! Lookup key forms and the default lookup orders.
//!
//! A lookup order lists the keys tried for one table use, in order; the
//! first hit wins. The defaults are Postfix's documented orders, so an
//! administrator coming from Postfix gets what they know. Forms that only
//! make sense for local domains (`user+ext`, `user` in an address table)
//! are skipped by the engine for other domains, as Postfix does.

/// A key form: how a key is made from an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyForm {
    /// As written in a lookup order.
    pub word: &'static str,
    /// What the key looks like for `Joe+news@Sub.Example.com`.
    pub example: &'static str,
}

/// Every key form.
pub const FORMS: &[KeyForm] = &[
    KeyForm { word: "user+ext@domain", example: "joe+news@sub.example.com" },
    KeyForm { word: "user@domain", example: "joe@sub.example.com" },
    KeyForm { word: "user+ext", example: "joe+news (local domains only)" },
    KeyForm { word: "user", example: "joe (local domains only)" },
    KeyForm { word: "@domain", example: "@sub.example.com" },
    KeyForm { word: "user@", example: "joe@" },
    KeyForm { word: "domain", example: "sub.example.com" },
    KeyForm { word: ".domain", example: ".example.com, .com (parent domains)" },
];

/// The forms a table with this key kind can be looked up with.
pub fn forms_for(key_kind: &str) -> &'static [&'static str] {
    match key_kind {
        "address" => &["user+ext@domain", "user@domain", "user+ext", "user", "@domain", "user@", "domain", ".domain"],
        "local" => &["user+ext", "user"],
        "domain" => &["domain", ".domain"],
        _ => &[],
    }
}

/// What a table use is for; each has a default order per key kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// `expand` (virtual(5), aliases(5)), `require`, `relocated`, `canonical`, `bcc`.
    Address,
    /// `route` (transport(5)).
    Route,
    /// `check` and `in` on an address (access(5)).
    Access,
    /// `check` and `in` on a domain.
    Domain,
}

/// The default lookup order for a use of a table with `key_kind`.
pub fn default_order(use_: Use, key_kind: &str) -> &'static [&'static str] {
    match (use_, key_kind) {
        // virtual(5), canonical(5), relocated(5): user@domain, user (local
        // domains), @domain; with a delimiter the extension is tried first.
        (Use::Address, "address") => &["user+ext@domain", "user@domain", "user+ext", "user", "@domain"],
        // aliases(5): the local part, extension first.
        (Use::Address | Use::Access, "local") => &["user+ext", "user"],
        // transport(5): user+extension@domain, user@domain, domain, .domain.
        (Use::Route, "address") => &["user+ext@domain", "user@domain", "domain", ".domain"],
        (Use::Route | Use::Domain | Use::Address | Use::Access, "domain") => &["domain", ".domain"],
        // access(5): user@domain, domain, parent domains, user@.
        (Use::Access, "address") => &["user+ext@domain", "user@domain", "domain", ".domain", "user@"],
        (Use::Domain, "address") => &["domain", ".domain"],
        _ => &[],
    }
}
