//! Transport kinds: what each delivers to, the target it needs and the
//! options it takes.

/// What an option's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionType {
    /// No value: the option is a flag (`mx`).
    Flag,
    /// One of the listed words.
    Word(&'static [&'static str]),
    /// A list of the listed words.
    Words(&'static [&'static str]),
    /// Text in quotes.
    Text,
    /// A number.
    Number,
    /// A duration.
    Duration,
    /// A map of text to text (`env { "A" -> "b" }`).
    Env,
}

/// One option of a transport kind.
#[derive(Debug, Clone, Copy)]
pub struct TransportOption {
    /// Its name.
    pub name: &'static str,
    /// Its value.
    pub ty: OptionType,
    /// What it does.
    pub doc: &'static str,
}

/// Whether a kind needs the quoted target after its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Must be given.
    Required(&'static str),
    /// May be given.
    Optional(&'static str),
    /// Must not be given.
    None,
}

/// A transport kind.
#[derive(Debug, Clone, Copy)]
pub struct TransportKind {
    /// `maildir`, `smtp`, ...
    pub name: &'static str,
    /// The target after the kind.
    pub target: Target,
    /// Options it takes.
    pub options: &'static [TransportOption],
    /// The Postfix delivery agent it replaces.
    pub postfix: &'static str,
    /// What it does.
    pub doc: &'static str,
}

const fn opt(name: &'static str, ty: OptionType, doc: &'static str) -> TransportOption {
    TransportOption { name, ty, doc }
}

/// Lock methods for mbox delivery.
pub const LOCKS: &[&str] = &["fcntl", "flock", "dotlock"];
/// TLS policies for SMTP delivery.
pub const TLS: &[&str] = &["none", "opportunistic", "required"];

/// Every transport kind.
pub const TRANSPORTS: &[TransportKind] = &[
    TransportKind {
        name: "maildir",
        target: Target::Required("the maildir path, a template ending in `/`"),
        options: &[],
        postfix: "local(8) / virtual(8) with a maildir path",
        doc: "deliver into a Maildir (tmp/ then new/)",
    },
    TransportKind {
        name: "mbox",
        target: Target::Required("the mailbox file path, a template"),
        options: &[opt(
            "lock",
            OptionType::Words(LOCKS),
            "lock methods, all applied in order (default `[fcntl, dotlock]`)",
        )],
        postfix: "local(8) / virtual(8) with mailbox_command unset",
        doc: "append to an mbox file with a `From ` line and `>From` quoting",
    },
    TransportKind {
        name: "lmtp",
        target: Target::Required("`unix:/path` or `host:port`"),
        options: &[opt("timeout", OptionType::Duration, "how long to wait for each reply")],
        postfix: "lmtp(8)",
        doc: "hand over by LMTP, one reply per recipient (e.g. to Dovecot)",
    },
    TransportKind {
        name: "smtp",
        target: Target::Optional("a next hop: `[host]:port` (no MX lookup) or `host` (MX lookup of host)"),
        options: &[
            opt("mx", OptionType::Flag, "look up the recipient domain's MX records (the default without a target)"),
            opt("tls", OptionType::Word(TLS), "TLS policy (default `opportunistic`)"),
            opt("ca_file", OptionType::Text, "CA certificates to verify the server with (default: the system's)"),
            opt("helo", OptionType::Text, "the name to send in EHLO (default: `hostname`)"),
            opt(
                "auth_file",
                OptionType::Text,
                "file of `host user:password` lines for AUTH to the next hop (Postfix smtp_sasl_password_maps)",
            ),
            opt("timeout", OptionType::Duration, "how long to wait for each reply"),
            opt("concurrency", OptionType::Number, "most parallel connections per destination"),
            opt("recipient_limit", OptionType::Number, "most recipients per transaction"),
        ],
        postfix: "smtp(8)",
        doc: "relay to another mail server by SMTP",
    },
    TransportKind {
        name: "pipe",
        target: Target::Required("the command, a template; run without a shell"),
        options: &[
            opt("user", OptionType::Text, "the user the command runs as"),
            opt("env", OptionType::Env, "extra environment variables"),
            opt("timeout", OptionType::Duration, "how long the command may run (default 1000s)"),
        ],
        postfix: "pipe(8)",
        doc: "run a command with the message on its standard input",
    },
    TransportKind {
        name: "discard",
        target: Target::None,
        options: &[],
        postfix: "discard(8)",
        doc: "accept and throw away",
    },
    TransportKind {
        name: "hold",
        target: Target::None,
        options: &[],
        postfix: "HOLD action",
        doc: "keep in the hold queue for review",
    },
];

/// The kind called `name`.
pub fn transport(name: &str) -> Option<&'static TransportKind> {
    TRANSPORTS.iter().find(|t| t.name == name)
}
