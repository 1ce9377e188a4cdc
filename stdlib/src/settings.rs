//! The settings a policy may give, with their types, defaults and the
//! Postfix parameter each one translates.
//!
//! A setting absent from the policy has its default; the compiler refuses
//! unknown names (with a "did you mean") and values of the wrong type.

/// The type of a setting's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingType {
    /// A domain name.
    Domain,
    /// Text with `{placeholders}`.
    Template,
    /// Plain text.
    Text,
    /// A file path.
    Path,
    /// A byte count (`10240000`, `10MB`).
    Size,
    /// A count.
    Number,
    /// A duration (`5d`, `300s`).
    Duration,
    /// `yes` / `no`.
    Bool,
    /// The name of a declared `network`.
    Network,
    /// A list of IP addresses.
    Addresses,
    /// Recipient delimiter characters.
    Delimiters,
    /// `host:port` of a DNS resolver.
    HostPort,
}

impl SettingType {
    /// How the type is described in diagnostics.
    pub fn describe(self) -> &'static str {
        match self {
            SettingType::Domain => "a domain name in quotes",
            SettingType::Template => "a text in quotes",
            SettingType::Text => "a text in quotes",
            SettingType::Path => "a file path in quotes",
            SettingType::Size => "a size like `10240000` or `10MB`",
            SettingType::Number => "a number",
            SettingType::Duration => "a duration like `5d` or `300s`",
            SettingType::Bool => "`yes` or `no`",
            SettingType::Network => "the name of a `network`",
            SettingType::Addresses => "a list of IP addresses",
            SettingType::Delimiters => "one or more delimiter characters in quotes, like `\"+\"`",
            SettingType::HostPort => "an address and port in quotes, like `\"127.0.0.1:53\"`",
        }
    }
}

/// One known setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Its name in a policy.
    pub name: &'static str,
    /// The type of its value.
    pub ty: SettingType,
    /// Its default, as written in a policy, or `None` when unset by default.
    pub default: Option<&'static str>,
    /// The Postfix parameter it translates, if any.
    pub postfix: Option<&'static str>,
    /// What it does.
    pub doc: &'static str,
}

const fn s(
    name: &'static str,
    ty: SettingType,
    default: Option<&'static str>,
    postfix: Option<&'static str>,
    doc: &'static str,
) -> Setting {
    Setting { name, ty, default, postfix, doc }
}

use SettingType::*;

/// Every setting, in the order the reference documents them.
pub const SETTINGS: &[Setting] = &[
    s("hostname", Domain, None, Some("myhostname"), "this host's fully qualified name"),
    s(
        "origin",
        Domain,
        None,
        Some("myorigin"),
        "domain added to bare local names submitted on this host (default: `hostname`)",
    ),
    s("banner", Template, Some("\"{hostname} ESMTP mailc\""), Some("smtpd_banner"), "text after 220 in the greeting"),
    s(
        "recipient_delimiter",
        Delimiters,
        None,
        Some("recipient_delimiter"),
        "characters that separate a local part from its extension",
    ),
    s(
        "propagate_extension",
        Bool,
        Some("yes"),
        Some("propagate_unmatched_extensions"),
        "append an unmatched extension to expansion results",
    ),
    s("message_size_limit", Size, Some("10240000"), Some("message_size_limit"), "largest message accepted, in bytes"),
    s("recipient_limit", Number, Some("1000"), Some("smtpd_recipient_limit"), "most recipients per message"),
    s(
        "queue_lifetime",
        Duration,
        Some("5d"),
        Some("maximal_queue_lifetime"),
        "how long a message may stay deferred before it bounces",
    ),
    s(
        "bounce_queue_lifetime",
        Duration,
        Some("5d"),
        Some("bounce_queue_lifetime"),
        "how long a bounce may stay deferred",
    ),
    s(
        "bounce_template",
        Path,
        None,
        Some("bounce_template_file"),
        "file with the texts of delivery status notifications",
    ),
    s("expansion_depth", Number, Some("1000"), None, "deepest nesting of alias and virtual expansion"),
    s("expansion_fanout", Number, Some("1000"), None, "most recipients one address may expand to"),
    s(
        "delay_reject",
        Bool,
        Some("yes"),
        Some("smtpd_delay_reject"),
        "take client, helo and sender decisions at RCPT time",
    ),
    s(
        "trusted_networks",
        Network,
        None,
        Some("mynetworks"),
        "clients trusted to relay (the open-relay proof assumes others are not)",
    ),
    s(
        "allow_open_relay",
        Text,
        None,
        None,
        "the reason this host may relay for anyone; without it an open relay does not compile",
    ),
    s(
        "our_addresses",
        Addresses,
        None,
        Some("inet_interfaces, proxy_interfaces"),
        "addresses that are this host, for address literals and MX checks",
    ),
    s("default_privs", Text, Some("\"nobody\""), Some("default_privs"), "user that alias commands and files run as"),
    s("vrfy", Bool, Some("no"), Some("disable_vrfy_command"), "answer VRFY with the real result instead of 252"),
    s("line_length_limit", Size, Some("2048"), Some("line_length_limit"), "longest SMTP command line accepted"),
    s("header_size_limit", Size, Some("102400"), Some("header_size_limit"), "largest message header accepted"),
    s("idle_timeout", Duration, Some("300s"), Some("smtpd_timeout"), "how long a client may stay silent"),
    s("soft_error_limit", Number, Some("10"), Some("smtpd_soft_error_limit"), "errors after which replies are delayed"),
    s(
        "hard_error_limit",
        Number,
        Some("20"),
        Some("smtpd_hard_error_limit"),
        "errors after which the client is disconnected with 421",
    ),
    s(
        "client_connection_limit",
        Number,
        Some("50"),
        Some("smtpd_client_connection_count_limit"),
        "simultaneous sessions from one client address",
    ),
    s("session_limit", Number, Some("100"), Some("default_process_limit"), "simultaneous SMTP sessions in total"),
    s("tls_certificate", Path, None, Some("smtpd_tls_cert_file"), "certificate chain offered with STARTTLS"),
    s("tls_key", Path, None, Some("smtpd_tls_key_file"), "private key of the certificate"),
    s("resolver", HostPort, None, None, "DNS server to ask instead of the system's (tests use a local one)"),
    s(
        "initial_destination_concurrency",
        Number,
        Some("5"),
        Some("initial_destination_concurrency"),
        "parallel deliveries to a destination at first",
    ),
    s(
        "destination_concurrency_limit",
        Number,
        Some("20"),
        Some("default_destination_concurrency_limit"),
        "most parallel deliveries to one destination",
    ),
    s(
        "destination_recipient_limit",
        Number,
        Some("50"),
        Some("default_destination_recipient_limit"),
        "most recipients in one delivery transaction",
    ),
    s(
        "minimal_backoff",
        Duration,
        Some("300s"),
        Some("minimal_backoff_time"),
        "shortest wait before retrying a deferred message",
    ),
    s(
        "maximal_backoff",
        Duration,
        Some("4000s"),
        Some("maximal_backoff_time"),
        "longest wait before retrying a deferred message",
    ),
    s("deferred_ratio", Number, Some("4"), None, "new messages taken for each deferred one when both wait"),
];

/// The setting called `name`.
pub fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}
