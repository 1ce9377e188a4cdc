//! What a condition can test: subjects (with `in` or a comparison) and
//! flags (true or false on their own), with the stage from which each is
//! known. Postfix's restriction names are given for translation.

/// What a subject's value is, which decides what it can be `in`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectType {
    /// An IP address: `in` a network, a cidr table, a dnsbl.
    Ip,
    /// A domain: `in` a domain set, a domain table, a dnsbl (RHSBL).
    Domain,
    /// An address: `in` an address table.
    Address,
    /// A local part or extension: `in` a local table or a list.
    Local,
    /// A count or size, compared with numbers.
    Number,
    /// An event rate, compared with `N per DURATION`.
    Rate,
}

/// A subject of `in` or a comparison.
#[derive(Debug, Clone, Copy)]
pub struct Subject {
    /// `sender.domain`
    pub path: &'static str,
    /// What it is.
    pub ty: SubjectType,
    /// First stage (index into [`crate::STAGES`]) at which it is known.
    pub from_stage: usize,
    /// The Postfix restriction it translates, if any.
    pub postfix: Option<&'static str>,
    /// What it is, for the reference.
    pub doc: &'static str,
}

/// A flag: a condition on its own.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// `sender.has_at`
    pub path: &'static str,
    /// First stage at which it is known.
    pub from_stage: usize,
    /// Needs a DNS lookup.
    pub dns: bool,
    /// The Postfix restriction it translates (negated where that rejects).
    pub postfix: Option<&'static str>,
    /// What it means when true.
    pub doc: &'static str,
}

const CONNECT: usize = 0;
const HELO: usize = 1;
const MAIL: usize = 2;
const RCPT: usize = 3;
const END: usize = 5;

const fn sub(
    path: &'static str,
    ty: SubjectType,
    from_stage: usize,
    postfix: Option<&'static str>,
    doc: &'static str,
) -> Subject {
    Subject { path, ty, from_stage, postfix, doc }
}

const fn flag(
    path: &'static str,
    from_stage: usize,
    dns: bool,
    postfix: Option<&'static str>,
    doc: &'static str,
) -> Flag {
    Flag { path, from_stage, dns, postfix, doc }
}

use SubjectType::*;

/// Every subject.
pub const SUBJECTS: &[Subject] = &[
    sub(
        "client",
        Ip,
        CONNECT,
        Some("check_client_access, permit_mynetworks, reject_rbl_client"),
        "the client's IP address",
    ),
    sub(
        "client.name",
        Domain,
        CONNECT,
        Some("check_client_access, reject_rhsbl_reverse_client"),
        "the client's verified reverse name (`unknown` when it has none)",
    ),
    sub(
        "client.connection_rate",
        Rate,
        CONNECT,
        Some("smtpd_client_connection_rate_limit"),
        "connections from this client",
    ),
    sub("client.message_rate", Rate, MAIL, Some("smtpd_client_message_rate_limit"), "messages from this client"),
    sub("client.recipient_rate", Rate, RCPT, Some("smtpd_client_recipient_rate_limit"), "recipients from this client"),
    sub(
        "client.concurrency",
        Number,
        CONNECT,
        Some("smtpd_client_connection_count_limit"),
        "sessions this client has open now",
    ),
    sub("helo", Domain, HELO, Some("check_helo_access, reject_rhsbl_helo"), "the name given in HELO/EHLO"),
    sub("sender", Address, MAIL, Some("check_sender_access"), "the envelope sender"),
    sub("sender.local", Local, MAIL, None, "the sender's local part without extension"),
    sub("sender.ext", Local, MAIL, None, "the sender's address extension"),
    sub("sender.domain", Domain, MAIL, Some("check_sender_access, reject_rhsbl_sender"), "the sender's domain"),
    sub("sender.mx", Domain, MAIL, Some("check_sender_mx_access"), "the MX hosts of the sender's domain, by name (domain sets and tables) or by address (networks and cidr tables)"),
    sub("recipient", Address, RCPT, Some("check_recipient_access"), "the envelope recipient"),
    sub("recipient.local", Local, RCPT, None, "the recipient's local part without extension"),
    sub("recipient.ext", Local, RCPT, None, "the recipient's address extension (the seed's suffix block)"),
    sub(
        "recipient.domain",
        Domain,
        RCPT,
        Some("check_recipient_access, reject_rhsbl_recipient"),
        "the recipient's domain",
    ),
    sub("recipient.count", Number, RCPT, None, "recipients accepted so far in this transaction"),
    sub(
        "message.size",
        Number,
        MAIL,
        Some("message_size_limit"),
        "the message size (the SIZE parameter until end of data)",
    ),
    sub("message.header_size", Number, END, Some("header_size_limit"), "the size of the message header"),
];

/// Every flag.
pub const FLAGS: &[Flag] = &[
    flag("authenticated", MAIL, false, Some("permit_sasl_authenticated"), "the client authenticated with AUTH"),
    flag("tls", CONNECT, false, Some("reject_plaintext_session (negated)"), "the session is encrypted"),
    flag(
        "client.name_known",
        CONNECT,
        true,
        Some("reject_unknown_reverse_client_hostname (negated)"),
        "the client's address has a reverse name",
    ),
    flag(
        "client.name_verified",
        CONNECT,
        true,
        Some("reject_unknown_client_hostname (negated)"),
        "the reverse name resolves back to the client's address",
    ),
    flag("client.parent_mx_is_us", CONNECT, true, None, "the parent domain of the client's name lists this host as MX"),
    flag(
        "client.talked_early",
        CONNECT,
        false,
        Some("postscreen_greet_action"),
        "the client sent data before the greeting",
    ),
    flag(
        "client.pipelined_early",
        HELO,
        false,
        Some("reject_unauth_pipelining"),
        "the client pipelined without being offered PIPELINING",
    ),
    flag("helo.given", HELO, false, Some("smtpd_helo_required"), "the client said HELO or EHLO"),
    flag(
        "helo.fqdn",
        HELO,
        false,
        Some("reject_non_fqdn_helo_hostname (negated)"),
        "the HELO name is a fully qualified domain name",
    ),
    flag(
        "helo.valid",
        HELO,
        false,
        Some("reject_invalid_helo_hostname (negated)"),
        "the HELO name is a syntactically valid host name or address literal",
    ),
    flag(
        "helo.resolves",
        HELO,
        true,
        Some("reject_unknown_helo_hostname (negated)"),
        "the HELO name has an A, AAAA or MX record",
    ),
    flag("sender.null", MAIL, false, None, "the sender is the null sender `<>`"),
    flag("sender.has_at", MAIL, false, None, "the sender address contains `@` (the seed's \"require @\")"),
    flag(
        "sender.fqdn",
        MAIL,
        false,
        Some("reject_non_fqdn_sender (negated)"),
        "the sender's domain is fully qualified",
    ),
    flag(
        "sender.domain_resolves",
        MAIL,
        true,
        Some("reject_unknown_sender_domain (negated)"),
        "the sender's domain has an MX, A or AAAA record",
    ),
    flag("sender.mx_is_us", MAIL, true, None, "the sender's domain lists this host as MX"),
    flag("recipient.has_at", RCPT, false, None, "the recipient address contains `@`"),
    flag(
        "recipient.fqdn",
        RCPT,
        false,
        Some("reject_non_fqdn_recipient (negated)"),
        "the recipient's domain is fully qualified",
    ),
    flag(
        "recipient.final",
        RCPT,
        false,
        Some("reject_unauth_destination (negated)"),
        "the recipient's domain is in a domain class: we are its final destination or a declared relay",
    ),
    flag(
        "recipient.known",
        RCPT,
        false,
        Some("reject_unlisted_recipient (negated)"),
        "recipient resolution accepts the recipient",
    ),
];

/// The subject called `path`.
pub fn subject(path: &str) -> Option<&'static Subject> {
    SUBJECTS.iter().find(|s| s.path == path)
}

/// The flag called `path`.
pub fn flag_named(path: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.path == path)
}
