//! The decision graph: a checked policy, resolved, in the form the engine
//! executes.
//!
//! Names are gone: every reference is an index into one of the policy's
//! lists, and tables point at their sections. Each rule, step and test
//! keeps its [`Origin`] (file, line, column, and the rule's text) so that
//! a trace cites the policy, not the graph. The graph holds no table data:
//! that stays in the mapped sections. Subjects, flags, lookup forms and
//! transport kinds are kept as the stdlib's words; the engine maps them to
//! its own types once, at load.

use serde::{Deserialize, Serialize};

/// Where something was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Origin {
    /// Index into [`Policy::files`].
    pub file: u32,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// The text of the rule or step, shortened to one line.
    pub text: String,
}

/// A whole policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Policy {
    /// Source files, as named (for origins).
    pub files: Vec<String>,
    /// Every setting, defaults filled in, as `(name, value as written)`,
    /// sorted by name.
    pub settings: Vec<(String, Value)>,
    /// `network` declarations.
    pub networks: Vec<Network>,
    /// `domains` declarations.
    pub domain_sets: Vec<DomainSet>,
    /// `table` declarations.
    pub tables: Vec<Table>,
    /// `transport` declarations.
    pub transports: Vec<Transport>,
    /// `dnsbl` declarations.
    pub dnsbls: Vec<Dnsbl>,
    /// The `rewrite` block.
    pub rewrite: Vec<Rewrite>,
    /// The `recipient` block.
    pub recipient: Vec<RecipientRule>,
    /// The `copy` block.
    pub copies: Vec<Copy>,
    /// `on` blocks, in stage order.
    pub stages: Vec<Stage>,
    /// `test` blocks.
    pub tests: Vec<Test>,
    /// `:include:` lists of alias tables, read at compile time, sorted by
    /// the target as written.
    pub includes: Vec<IncludeList>,
    /// Where each declared name was declared, in source order.
    pub declarations: Vec<(String, Origin)>,
}

/// The addresses of one `:include:` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncludeList {
    /// The alias target as written (`:include:/etc/mail/staff`).
    pub target: String,
    /// Its addresses.
    pub addresses: Vec<String>,
}

/// A setting's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// Text (domains, templates, paths, delimiters).
    Text(String),
    /// A count or a size in bytes.
    Number(u64),
    /// Seconds.
    Duration(u64),
    /// yes / no.
    Bool(bool),
    /// A network, by index.
    Network(u32),
    /// IP addresses.
    Addresses(Vec<String>),
}

/// A network: merged address ranges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Its name.
    pub name: String,
    /// Section of merged ranges.
    pub ranges: u32,
}

/// A domain set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainSet {
    /// Its name.
    pub name: String,
    /// `local`, `virtual_alias`, `virtual_mailbox`, `relay`, or none.
    pub class: Option<String>,
    /// Section of the fst set; `.example.com` members match subdomains.
    pub members: u32,
    /// Number of members.
    pub len: u64,
}

/// How a table's entries are stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Storage {
    /// An fst map of normalised keys to value offsets.
    Map {
        /// The fst map section.
        keys: u32,
    },
    /// Address ranges in table order (first match wins, like cidr_table).
    Cidr {
        /// The ranges section.
        ranges: u32,
    },
    /// Patterns in table order (first match wins, like regexp_table).
    Regexp {
        /// The patterns section.
        patterns: u32,
    },
}

/// A table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// Its name.
    pub name: String,
    /// `address`, `local`, `domain`, `cidr`, `regexp`.
    pub key: String,
    /// The value type; none for a set.
    pub value: Option<String>,
    /// `[type]`.
    pub list: bool,
    /// Where the keys are.
    pub storage: Storage,
    /// The value arena section.
    pub values: u32,
    /// Number of entries.
    pub len: u64,
}

/// One regexp table entry (the patterns section is a postcard `Vec` of these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pattern {
    /// The expression as written.
    pub pattern: String,
    /// Flags as written (`i`, `x`, `m`, leading `!` for negation).
    pub flags: String,
    /// Value offset.
    pub value: u64,
}

/// A transport.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transport {
    /// Its name.
    pub name: String,
    /// `maildir`, `mbox`, `lmtp`, `smtp`, `pipe`, `discard`, `hold`.
    pub kind: String,
    /// The target template, if any.
    pub target: Option<String>,
    /// Options as `(name, value)`; flags have [`OptionValue::Flag`].
    pub options: Vec<(String, OptionValue)>,
}

/// A transport or block-list option's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OptionValue {
    /// A flag.
    Flag,
    /// A word or text.
    Text(String),
    /// A list of words.
    Words(Vec<String>),
    /// A number.
    Number(u64),
    /// Seconds.
    Duration(u64),
    /// Name/value pairs.
    Env(Vec<(String, String)>),
}

/// A DNS block list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dnsbl {
    /// Its name.
    pub name: String,
    /// The zone.
    pub zone: String,
    /// Answers that count as listed (empty: any 127.0.0.0/8 answer).
    pub answers: Vec<(u128, u128)>,
}

/// An SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// Three-digit code.
    pub code: u16,
    /// Enhanced status code.
    pub enhanced: Option<String>,
    /// Text template.
    pub text: Option<String>,
}

/// A table use with its lookup order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    /// The table.
    pub table: u32,
    /// Key forms in order (`user+ext@domain`, `@domain`, ...).
    pub order: Vec<String>,
}

/// A rewriting statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rewrite {
    /// canonical(5).
    Canonical {
        /// The table and order.
        lookup: Lookup,
        /// `sender`, `recipient`, or both when `None`.
        role: Option<String>,
        /// `envelope`, `header`, or both when `None`.
        part: Option<String>,
        /// Where it was written.
        origin: Origin,
    },
    /// Masquerading.
    Masquerade {
        /// Domains to strip subdomains down to (`!host` entries are exceptions).
        domains: Vec<String>,
        /// Local parts never masqueraded.
        except: Vec<String>,
        /// `sender`, `recipient`, or both when `None`.
        role: Option<String>,
        /// `envelope`, `header`, or both when `None`.
        part: Option<String>,
        /// Where it was written.
        origin: Origin,
    },
}

/// Which recipients a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Matcher {
    /// Every recipient; the rule passes on when no step decides.
    All,
    /// `default`
    Default,
    /// `domain set`
    DomainSet(u32),
    /// `domain [..]`, normalised.
    Domains(Vec<String>),
    /// `address in table`
    Address(u32),
}

/// A recipient rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientRule {
    /// Which recipients.
    pub matcher: Matcher,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Where it was written.
    pub origin: Origin,
}

/// A recipient step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What it does.
    pub kind: StepKind,
    /// Where it was written.
    pub origin: Origin,
}

/// The kinds of recipient steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepKind {
    /// 551 with the new address on a hit.
    Relocated(Lookup),
    /// Expand on a hit; else the `otherwise` step, or pass on.
    Expand {
        /// The table and order.
        lookup: Lookup,
        /// Append an unmatched extension to the results.
        propagate_extension: bool,
        /// qmail-style: a catch-all keeps the local part as extension.
        catchall_keeps_local: bool,
        /// On a miss.
        otherwise: Option<Box<Step>>,
    },
    /// The recipient must be in the table.
    Require {
        /// The table and order.
        lookup: Lookup,
        /// On a miss (default: 550 5.1.1 user unknown).
        otherwise: Option<Box<Step>>,
    },
    /// transport(5): a hit decides transport and next hop.
    Route {
        /// The table and order.
        lookup: Lookup,
        /// On a miss.
        otherwise: Option<Box<Step>>,
    },
    /// Final: this transport, maybe via this next hop.
    Deliver {
        /// The transport.
        transport: u32,
        /// The next hop.
        via: Option<String>,
    },
    /// Unknown local users go here.
    LuserRelay(String),
    /// A copy to this address.
    Bcc(String),
    /// Refuse permanently.
    Reject(Option<Reply>),
    /// Refuse temporarily.
    Defer(Option<Reply>),
    /// Accept and throw away.
    Discard(Option<String>),
    /// Accept and hold.
    Hold(Option<String>),
}

/// A copy statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Copy {
    /// always_bcc.
    Always(String, Origin),
    /// sender_bcc_maps / recipient_bcc_maps.
    Table {
        /// The table and order.
        lookup: Lookup,
        /// `sender` or `recipient`.
        role: String,
        /// Where it was written.
        origin: Origin,
    },
    /// A copy of every message to this transport.
    Archive(u32, Origin),
}

/// An `on` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// `connect` ... `end_of_data`.
    pub stage: String,
    /// Rules in order.
    pub rules: Vec<Restriction>,
}

/// A restriction rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Restriction {
    /// What it is.
    pub kind: RestrictionKind,
    /// Where it was written.
    pub origin: Origin,
}

/// The kinds of restriction rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RestrictionKind {
    /// `action [if condition]`
    Rule {
        /// What to do.
        action: Action,
        /// When (always when `None`).
        condition: Option<Expr>,
    },
    /// `check table for subject`
    Check {
        /// The table and order.
        lookup: Lookup,
        /// The subject looked up.
        subject: String,
        /// When (always when `None`).
        condition: Option<Expr>,
    },
    /// `default action`
    Default(Action),
}

/// A restriction action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Pass this stage.
    Accept,
    /// Refuse permanently.
    Reject(Option<Reply>),
    /// Refuse temporarily.
    Defer(Option<Reply>),
    /// Next rule.
    Continue,
    /// Accept and hold.
    Hold(Option<String>),
    /// Accept and discard.
    Discard(Option<String>),
    /// Log and go on.
    Warn(String),
}

/// A condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    /// Any holds.
    Or(Vec<Expr>),
    /// All hold.
    And(Vec<Expr>),
    /// Does not hold.
    Not(Box<Expr>),
    /// `subject [not] in set`
    In {
        /// The subject's stdlib name.
        subject: String,
        /// `not in`
        negated: bool,
        /// What it is tested against.
        set: SetOperand,
    },
    /// `subject op value`
    Compare {
        /// The subject's stdlib name.
        subject: String,
        /// `>`, `>=`, `<`, `<=`, `==`, `!=`
        op: String,
        /// A count, size in bytes, or a rate's count.
        value: u64,
        /// A rate's window in seconds (0 for plain numbers).
        per_seconds: u64,
    },
    /// A flag's stdlib name.
    Flag(String),
}

/// What `in` tests against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SetOperand {
    /// A network.
    Network(u32),
    /// A domain set.
    DomainSet(u32),
    /// A table (membership of the key).
    Table(u32),
    /// A block list.
    Dnsbl(u32),
    /// Inline networks, as ranges.
    Ranges(Vec<(u128, u128)>),
    /// Inline texts, normalised for the subject.
    Texts(Vec<String>),
}

/// A test block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Test {
    /// Its name.
    pub name: String,
    /// Cases in order.
    pub cases: Vec<TestCase>,
    /// Where it was written.
    pub origin: Origin,
}

/// What a test case runs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Context {
    /// Envelope sender (`""` is the null sender).
    pub from: Option<String>,
    /// Client address.
    pub client: Option<String>,
    /// Client reverse name.
    pub client_name: Option<String>,
    /// HELO name.
    pub helo: Option<String>,
    /// Authenticated, as this user if given.
    pub authenticated: Option<String>,
    /// Authenticated at all.
    pub is_authenticated: bool,
    /// TLS session.
    pub tls: bool,
}

/// One test case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TestCase {
    /// A recipient and what must happen to it.
    Rcpt {
        /// The recipient.
        recipient: String,
        /// Its context.
        context: Context,
        /// What must happen.
        expect: Vec<Expectation>,
        /// Where it was written.
        origin: Origin,
    },
    /// A dialogue.
    Session {
        /// Its context.
        context: Context,
        /// Lines and expected replies; `None` is the connection (banner).
        exchanges: Vec<(Option<String>, u16, Option<String>)>,
        /// Where it was written.
        origin: Origin,
    },
}

/// What a recipient test expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expectation {
    /// Accepted.
    Accept,
    /// Rejected, maybe with this code and enhanced code.
    Reject(Option<u16>, Option<String>),
    /// Deferred, maybe with this code and enhanced code.
    Defer(Option<u16>, Option<String>),
    /// Delivered by this transport, maybe via, maybe to these.
    Deliver {
        /// The transport.
        transport: u32,
        /// The next hop.
        via: Option<String>,
        /// The final recipients.
        to: Option<Vec<String>>,
    },
    /// Discarded.
    Discard,
    /// Held.
    Hold,
}

impl Policy {
    /// Encodes the graph (postcard).
    pub fn encode(&self) -> Vec<u8> {
        // INVARIANT: postcard serialises these plain data types to a Vec
        // without failing.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes a graph section.
    pub fn decode(bytes: &[u8]) -> Result<Policy, crate::ArtifactError> {
        postcard::from_bytes(bytes).map_err(|e| crate::ArtifactError::Malformed(format!("the decision graph: {e}")))
    }

    /// A setting's value.
    pub fn setting(&self, name: &str) -> Option<&Value> {
        self.settings.binary_search_by(|(n, _)| n.as_str().cmp(name)).ok().map(|i| &self.settings[i].1)
    }
}
