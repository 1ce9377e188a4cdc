//! mailc-stdlib: what the policy language knows by name.
//!
//! The grammar fixes shapes; this crate fixes vocabulary: every setting
//! with its type, default and Postfix equivalent; every subject and flag a
//! condition may test and the stage from which it is known; every
//! transport kind with its options; the lookup key forms and the default
//! lookup orders (Postfix's documented ones). The compiler checks a policy
//! against these tables and the docs are checked against them too, so a
//! name means the same thing everywhere. This crate depends on nothing: the
//! runtime will use it for the implementations behind the names.

pub mod address;
pub mod lookup;
pub mod settings;
pub mod subjects;
pub mod transports;

/// The SMTP stages a restriction list can be attached to, in session order.
pub const STAGES: &[&str] = &["connect", "helo", "mail", "rcpt", "data", "end_of_data"];

/// Position of a stage in the session; `None` for an unknown word.
pub fn stage_index(word: &str) -> Option<usize> {
    STAGES.iter().position(|s| *s == word)
}

/// The domain classes (Postfix's address classes made explicit).
pub const DOMAIN_CLASSES: &[(&str, &str)] = &[
    ("local", "mailboxes on this host (Postfix: mydestination)"),
    ("virtual_alias", "every address maps elsewhere (virtual_alias_domains)"),
    ("virtual_mailbox", "hosted mailboxes (virtual_mailbox_domains)"),
    ("relay", "we are a backup MX or gateway (relay_domains)"),
];

/// Key kinds of tables.
pub const KEY_KINDS: &[(&str, &str)] = &[
    ("address", "full addresses `user@domain`, catch-alls `@domain`, `user@`, bare local parts and domains"),
    ("local", "local parts `user`, `user+ext`"),
    ("domain", "domains `example.com` and parent-domain patterns `.example.com`"),
    ("cidr", "IP addresses and networks `192.0.2.0/24`"),
    ("regexp", "regular expressions (Postfix regexp_table)"),
];

/// Value types of tables.
pub const VALUE_TYPES: &[(&str, &str)] = &[
    ("address", "one address"),
    ("target", "an alias target: an address, `|command`, `/file` or `:include:/path`"),
    ("domain", "a domain"),
    ("local", "a local part"),
    ("text", "free text"),
    ("reply", "an SMTP reply `550 5.7.1 text`"),
    (
        "action",
        "an access action: `ok`, `reject [reply]`, `defer [reply]`, `dunno`, `hold`, `discard`, or a bare reply",
    ),
    ("route", "a transport name and optional next hop: `name` or `name:nexthop`"),
];

/// Template placeholders and what they stand for.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("local", "the recipient's local part, extension removed, lowercased"),
    ("user", "the recipient's local part as written, extension removed"),
    ("ext", "the recipient's address extension"),
    ("domain", "the recipient's domain"),
    ("sender", "the envelope sender"),
    ("recipient", "the envelope recipient"),
    ("original_recipient", "the recipient before any rewriting or expansion"),
    ("client.ip", "the client's IP address"),
    ("client.name", "the client's verified reverse name, or `unknown`"),
    ("helo", "the name the client gave in HELO/EHLO"),
    ("queue_id", "the message's queue ID"),
    ("days", "the queue lifetime in days"),
    ("hostname", "this host's name (setting `hostname`)"),
    ("state", "the daemon's state directory"),
    ("date", "the current date, YYYY-MM-DD"),
    ("reason", "the reason of a rejection or bounce"),
];

/// The first stage (index into [`STAGES`]) at which a placeholder has a
/// value: `{recipient}` is unknown in a connect-stage reply. Delivery
/// (transport targets, bounces) comes after every stage.
pub fn placeholder_stage(name: &str) -> usize {
    match name {
        "helo" => 1,
        "sender" | "queue_id" => 2,
        "recipient" | "original_recipient" | "local" | "user" | "ext" | "domain" => 3,
        _ => 0,
    }
}

/// The stage index that stands for delivery, after the SMTP session.
pub const DELIVERY: usize = STAGES.len();
