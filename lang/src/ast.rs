//! The abstract syntax tree of a policy file.
//!
//! The AST mirrors the grammar (`policy.pest`) one to one and keeps a
//! [`Span`] on every node a diagnostic may point at. It says nothing about
//! meaning: names are unresolved, words (classes, formats, transport
//! kinds, setting names) are unchecked, literals are kept as written
//! where the compiler needs the text for a precise error (CIDRs). The
//! compiler turns it into checked IR; the formatter prints it back.

use crate::source::Span;

/// An identifier with its span: a declared name, a reference, or a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// The identifier as written.
    pub text: String,
    /// Where it was written.
    pub span: Span,
}

/// A literal or reference in value position.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// What was written.
    pub kind: ValueKind,
    /// Where it was written.
    pub span: Span,
}

/// The kinds of values.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// `"text"` with escapes resolved.
    Str(String),
    /// `1000`
    Number(u64),
    /// `10MB`, in bytes.
    Size(u64),
    /// `5d`, `1h30m`, in seconds.
    Duration(u64),
    /// `30 per 1m`
    Rate {
        /// Events allowed.
        count: u64,
        /// Per this many seconds.
        seconds: u64,
    },
    /// `yes` / `no`
    Bool(bool),
    /// `10.0.0.0/8`, `::1/128`, as written.
    Cidr(String),
    /// `192.0.2.1`, `::1`, as written.
    Ip(String),
    /// `550 5.7.1 "text"`
    Reply(Reply),
    /// `[a, b]`
    List(Vec<Value>),
    /// `{ k -> v, k2 }`
    Map(Vec<Entry>),
    /// A reference to something declared, or a bare word.
    Name(Ident),
}

/// A number literal that did not fit.
pub const OVERFLOW: u64 = u64::MAX;

/// One entry of an inline map or set: `key -> value` or `key`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: Value,
    /// The value; absent in a set.
    pub value: Option<Value>,
}

/// An SMTP reply: three-digit code, optional RFC 3463 enhanced code, text.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// `550`
    pub code: u16,
    /// `5.7.1`
    pub enhanced: Option<String>,
    /// The text template.
    pub text: Option<String>,
    /// Where the reply was written.
    pub span: Span,
}

/// A whole policy file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Policy {
    /// Top-level items in source order.
    pub items: Vec<Item>,
}

/// A top-level item.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `include "file"`
    Include(Include),
    /// `hostname "mx.example.com"`
    Setting(Setting),
    /// `network trusted = [...]`
    Network(SetDecl),
    /// `domains local : local = [...]`
    Domains(DomainsDecl),
    /// `table t : address -> address = ...`
    Table(TableDecl),
    /// `transport out = smtp { mx }`
    Transport(TransportDecl),
    /// `reply denied = 554 5.7.1 "no"`
    Reply(ReplyDecl),
    /// `dnsbl spamhaus = "zen.spamhaus.org"`
    Dnsbl(DnsblDecl),
    /// `rewrite { ... }`
    Rewrite(RewriteBlock),
    /// `recipient { ... }`
    Recipient(RecipientBlock),
    /// `copy { ... }`
    Copy(CopyBlock),
    /// `on rcpt { ... }`
    Stage(StageBlock),
    /// `test "name" { ... }`
    Test(TestBlock),
}

impl Item {
    /// The span of the whole item.
    pub fn span(&self) -> Span {
        match self {
            Item::Include(x) => x.span,
            Item::Setting(x) => x.span,
            Item::Network(x) => x.span,
            Item::Domains(x) => x.span,
            Item::Table(x) => x.span,
            Item::Transport(x) => x.span,
            Item::Reply(x) => x.span,
            Item::Dnsbl(x) => x.span,
            Item::Rewrite(x) => x.span,
            Item::Recipient(x) => x.span,
            Item::Copy(x) => x.span,
            Item::Stage(x) => x.span,
            Item::Test(x) => x.span,
        }
    }
}

/// `include "path"`
#[derive(Debug, Clone, PartialEq)]
pub struct Include {
    /// The path, relative to the including file.
    pub path: String,
    /// Span of the path literal.
    pub path_span: Span,
    /// Span of the item.
    pub span: Span,
}

/// `name value`
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The setting's name.
    pub name: Ident,
    /// Its value.
    pub value: Value,
    /// Span of the item.
    pub span: Span,
}

/// Where a set's members come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SetSource {
    /// `[a, b]`
    Inline(Vec<Value>),
    /// `file "path"`: one member per line.
    File {
        /// The path as written.
        path: String,
        /// Span of the path literal.
        span: Span,
    },
}

/// `network name = source`
#[derive(Debug, Clone, PartialEq)]
pub struct SetDecl {
    /// The declared name.
    pub name: Ident,
    /// Members.
    pub source: SetSource,
    /// Span of the item.
    pub span: Span,
}

/// `domains name [: class] = source`
#[derive(Debug, Clone, PartialEq)]
pub struct DomainsDecl {
    /// The declared name.
    pub name: Ident,
    /// `local`, `virtual_alias`, `virtual_mailbox`, `relay`; none for a
    /// plain set.
    pub class: Option<Ident>,
    /// Members.
    pub source: SetSource,
    /// Span of the item.
    pub span: Span,
}

/// The value side of a table type.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueType {
    /// `address`, `target`, `reply`, ...
    pub word: Ident,
    /// `[address]` rather than `address`.
    pub list: bool,
    /// Span of the type.
    pub span: Span,
}

/// Where a table's entries come from.
#[derive(Debug, Clone, PartialEq)]
pub enum TableSource {
    /// `{ k -> v }`
    Inline(Vec<Entry>),
    /// `postfix "path"`, `aliases directory "dir"`
    Format {
        /// `postfix`, `tsv`, `aliases`, `cidr`, `regexp`, `file`.
        format: Ident,
        /// Every file of a directory, in name order.
        directory: bool,
        /// The path as written.
        path: String,
        /// Span of the path literal.
        path_span: Span,
    },
}

/// `table name : key -> value = source`
#[derive(Debug, Clone, PartialEq)]
pub struct TableDecl {
    /// The declared name.
    pub name: Ident,
    /// `address`, `local`, `domain`, `cidr`, `regexp`.
    pub key: Ident,
    /// Absent for a set of keys.
    pub value: Option<ValueType>,
    /// Entries.
    pub source: TableSource,
    /// Span of the item.
    pub span: Span,
}

/// `key value` inside `{ }` after a transport or block list.
#[derive(Debug, Clone, PartialEq)]
pub struct Opt {
    /// The option's name.
    pub name: Ident,
    /// Its value; absent for a flag like `mx`.
    pub value: Option<Value>,
    /// Span of the option.
    pub span: Span,
}

/// `transport name = kind ["target"] [{ options }]`
#[derive(Debug, Clone, PartialEq)]
pub struct TransportDecl {
    /// The declared name.
    pub name: Ident,
    /// `maildir`, `mbox`, `lmtp`, `smtp`, `pipe`, `discard`, `hold`.
    pub kind: Ident,
    /// Path, socket, next hop or command, by kind.
    pub target: Option<(String, Span)>,
    /// Options.
    pub options: Vec<Opt>,
    /// Span of the item.
    pub span: Span,
}

/// `reply name = 550 5.7.1 "text"`
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyDecl {
    /// The declared name.
    pub name: Ident,
    /// The reply.
    pub reply: Reply,
    /// Span of the item.
    pub span: Span,
}

/// `dnsbl name = "zone" [{ options }]`
#[derive(Debug, Clone, PartialEq)]
pub struct DnsblDecl {
    /// The declared name.
    pub name: Ident,
    /// The DNS zone.
    pub zone: String,
    /// Span of the zone literal.
    pub zone_span: Span,
    /// Options.
    pub options: Vec<Opt>,
    /// Span of the item.
    pub span: Span,
}

/// A lookup order: `lookup [user+ext@domain, user@domain, @domain]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    /// The key forms, in order.
    pub keys: Vec<Ident>,
    /// Span of the clause.
    pub span: Span,
}

/// `for sender in header`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Classes {
    /// `sender` or `recipient`; both when absent.
    pub role: Option<Ident>,
    /// `envelope` or `header`; both when absent.
    pub part: Option<Ident>,
}

/// A set given inline or by name.
#[derive(Debug, Clone, PartialEq)]
pub enum SetRef {
    /// `[a, b]`
    Inline(Vec<Value>, Span),
    /// `name`
    Named(Ident),
}

impl SetRef {
    /// Span of the reference.
    pub fn span(&self) -> Span {
        match self {
            SetRef::Inline(_, span) => *span,
            SetRef::Named(name) => name.span,
        }
    }
}

/// `rewrite { ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct RewriteBlock {
    /// Statements in order.
    pub stmts: Vec<RewriteStmt>,
    /// Span of the block.
    pub span: Span,
}

/// One rewriting statement.
#[derive(Debug, Clone, PartialEq)]
pub enum RewriteStmt {
    /// `canonical table [for role] [in part] [lookup [...]]`
    Canonical {
        /// The table.
        table: Ident,
        /// Address classes it applies to.
        classes: Classes,
        /// Lookup order override.
        lookup: Option<Lookup>,
        /// Span of the statement.
        span: Span,
    },
    /// `masquerade domains [except locals] [for role] [in part]`
    Masquerade {
        /// Domains to strip subdomains down to.
        domains: SetRef,
        /// Local parts never masqueraded.
        except: Option<SetRef>,
        /// Address classes it applies to.
        classes: Classes,
        /// Span of the statement.
        span: Span,
    },
}

impl RewriteStmt {
    /// Span of the statement.
    pub fn span(&self) -> Span {
        match self {
            RewriteStmt::Canonical { span, .. } | RewriteStmt::Masquerade { span, .. } => *span,
        }
    }
}

/// `recipient { rules }`
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientBlock {
    /// Rules in order.
    pub rules: Vec<RecipientRule>,
    /// Span of the block.
    pub span: Span,
}

/// `[matcher =>] step, step, ...`
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientRule {
    /// What the rule applies to; `None` applies to every recipient and
    /// passes on when no step decides.
    pub matcher: Option<Matcher>,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Span of the rule.
    pub span: Span,
}

/// The left side of a recipient rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// `default`
    Default(Span),
    /// `domain set`
    Domain(SetRef, Span),
    /// `address in table`
    Address(Ident, Span),
}

impl Matcher {
    /// Span of the matcher.
    pub fn span(&self) -> Span {
        match self {
            Matcher::Default(s) | Matcher::Domain(_, s) | Matcher::Address(_, s) => *s,
        }
    }
}

/// One step of a recipient rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// What the step does.
    pub kind: StepKind,
    /// Span of the step.
    pub span: Span,
}

/// The kinds of recipient steps.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// `relocated table` (551 with the new address on a hit)
    Relocated {
        /// The table.
        table: Ident,
        /// Lookup order override.
        lookup: Option<Lookup>,
    },
    /// `expand table [lookup] [extension propagate|drop] [catchall replace|keep_local] [else ...]`
    Expand {
        /// The table.
        table: Ident,
        /// Lookup order override.
        lookup: Option<Lookup>,
        /// `extension propagate` / `extension drop`.
        extension: Option<Ident>,
        /// `catchall replace` / `catchall keep_local`.
        catchall: Option<Ident>,
        /// What happens on a miss.
        otherwise: Option<Box<Step>>,
    },
    /// `require table [lookup] [else ...]`
    Require {
        /// The table or set.
        table: Ident,
        /// Lookup order override.
        lookup: Option<Lookup>,
        /// What happens on a miss.
        otherwise: Option<Box<Step>>,
    },
    /// `route table [lookup] [else ...]`
    Route {
        /// The table (key -> route).
        table: Ident,
        /// Lookup order override.
        lookup: Option<Lookup>,
        /// What happens on a miss.
        otherwise: Option<Box<Step>>,
    },
    /// `deliver transport [via "nexthop"]`
    Deliver {
        /// The transport.
        transport: Ident,
        /// Next hop override.
        via: Option<(String, Span)>,
    },
    /// `luser_relay "address"`
    LuserRelay(String, Span),
    /// `bcc "address"`
    Bcc(String, Span),
    /// `reject [reply]`
    Reject(Option<ReplyRef>),
    /// `defer [reply]`
    Defer(Option<ReplyRef>),
    /// `discard ["reason"]`
    Discard(Option<String>),
    /// `hold ["reason"]`
    Hold(Option<String>),
}

/// A reply written out or named.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyRef {
    /// `550 5.7.1 "text"`
    Literal(Reply),
    /// `relay_denied`
    Named(Ident),
}

impl ReplyRef {
    /// Span of the reference.
    pub fn span(&self) -> Span {
        match self {
            ReplyRef::Literal(r) => r.span,
            ReplyRef::Named(n) => n.span,
        }
    }
}

/// `copy { ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct CopyBlock {
    /// Statements in order.
    pub stmts: Vec<CopyStmt>,
    /// Span of the block.
    pub span: Span,
}

/// One statement of a copy block.
#[derive(Debug, Clone, PartialEq)]
pub enum CopyStmt {
    /// `bcc "address"` or `bcc table for sender|recipient`
    Bcc {
        /// The address or table.
        target: BccTarget,
        /// `sender` / `recipient` for table lookups.
        role: Option<Ident>,
        /// Span of the statement.
        span: Span,
    },
    /// `archive transport`
    Archive {
        /// The transport that receives a copy of every message.
        transport: Ident,
        /// Span of the statement.
        span: Span,
    },
}

impl CopyStmt {
    /// Span of the statement.
    pub fn span(&self) -> Span {
        match self {
            CopyStmt::Bcc { span, .. } | CopyStmt::Archive { span, .. } => *span,
        }
    }
}

/// What a bcc statement copies to.
#[derive(Debug, Clone, PartialEq)]
pub enum BccTarget {
    /// A fixed address.
    Address(String, Span),
    /// A table keyed by sender or recipient.
    Table(Ident),
}

/// `on stage { restrictions }`
#[derive(Debug, Clone, PartialEq)]
pub struct StageBlock {
    /// `connect`, `helo`, `mail`, `rcpt`, `data`, `end_of_data`.
    pub stage: Ident,
    /// Rules in order.
    pub rules: Vec<Restriction>,
    /// Span of the block.
    pub span: Span,
}

/// One restriction rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Restriction {
    /// What the rule is.
    pub kind: RestrictionKind,
    /// Span of the rule.
    pub span: Span,
}

/// The kinds of restriction rules.
#[derive(Debug, Clone, PartialEq)]
pub enum RestrictionKind {
    /// `action [if expr]`
    Rule {
        /// What to do.
        action: Action,
        /// When; always when absent.
        condition: Option<Expr>,
    },
    /// `check table for subject [lookup] [if expr]`: the table's value is
    /// the action (Postfix's access maps).
    Check {
        /// The access table.
        table: Ident,
        /// What is looked up: `client`, `sender`, `recipient.domain`, ...
        subject: Ident,
        /// Lookup order override.
        lookup: Option<Lookup>,
        /// When; always when absent.
        condition: Option<Expr>,
    },
    /// `default action`
    Default(Action),
}

/// A restriction action.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// What to do.
    pub kind: ActionKind,
    /// Span of the action.
    pub span: Span,
}

/// The kinds of restriction actions.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    /// Pass this stage.
    Accept,
    /// Permanent refusal.
    Reject(Option<ReplyRef>),
    /// Temporary refusal.
    Defer(Option<ReplyRef>),
    /// Go on with the next rule.
    Continue,
    /// Accept, then put the message on hold.
    Hold(Option<String>),
    /// Accept, then throw the message away.
    Discard(Option<String>),
    /// Log a warning and go on.
    Warn(String),
}

/// A boolean expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// The expression.
    pub kind: ExprKind,
    /// Span of the expression.
    pub span: Span,
}

/// The kinds of expressions.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// `a or b or c`
    Or(Vec<Expr>),
    /// `a and b`
    And(Vec<Expr>),
    /// `not a`
    Not(Box<Expr>),
    /// `subject [not] in operand`
    In {
        /// `client`, `sender.domain`, ...
        subject: Ident,
        /// `not in`
        negated: bool,
        /// A declared name or an inline list.
        operand: SetRef,
    },
    /// `subject op value`
    Compare {
        /// `message.size`, `client.message_rate`, ...
        subject: Ident,
        /// `>`, `>=`, `<`, `<=`, `==`, `!=`
        op: String,
        /// A number, size, duration or rate.
        value: Value,
    },
    /// `authenticated`, `sender.has_at`, ...
    Flag(Ident),
}

/// `test "name" { cases }`
#[derive(Debug, Clone, PartialEq)]
pub struct TestBlock {
    /// The test's name.
    pub name: String,
    /// Span of the name literal.
    pub name_span: Span,
    /// Cases in order.
    pub cases: Vec<TestCase>,
    /// Span of the block.
    pub span: Span,
}

/// One test case.
#[derive(Debug, Clone, PartialEq)]
pub enum TestCase {
    /// `rcpt "addr" context... => expectation [and expectation]...`
    Rcpt {
        /// The recipient.
        recipient: (String, Span),
        /// Sender, client, helo, auth, tls.
        context: Vec<Context>,
        /// What must happen.
        expect: Vec<Expectation>,
        /// Span of the case.
        span: Span,
    },
    /// `session context... { "line" => code, ... }`
    Session {
        /// Client, helo, auth, tls.
        context: Vec<Context>,
        /// The dialogue.
        exchanges: Vec<Exchange>,
        /// Span of the case.
        span: Span,
    },
}

impl TestCase {
    /// Span of the case.
    pub fn span(&self) -> Span {
        match self {
            TestCase::Rcpt { span, .. } | TestCase::Session { span, .. } => *span,
        }
    }
}

/// What a test case runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// The setting.
    pub kind: ContextKind,
    /// Span of it.
    pub span: Span,
}

/// The kinds of test context.
#[derive(Debug, Clone, PartialEq)]
pub enum ContextKind {
    /// `from "sender"` (`""` is the null sender)
    From(String),
    /// `client 192.0.2.1 [name "host"]`
    Client {
        /// The address as written.
        ip: String,
        /// Its reverse name.
        name: Option<String>,
    },
    /// `helo "name"`
    Helo(String),
    /// `authenticated ["user"]`
    Authenticated(Option<String>),
    /// `tls`
    Tls,
}

/// What a recipient test expects.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// The expectation.
    pub kind: ExpectKind,
    /// Span of it.
    pub span: Span,
}

/// The kinds of expectations.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectKind {
    /// Accepted, wherever it goes.
    Accept,
    /// Rejected, optionally with this code.
    Reject(Option<u16>, Option<String>),
    /// Deferred, optionally with this code.
    Defer(Option<u16>, Option<String>),
    /// Delivered by this transport, maybe via this next hop, to these.
    Deliver {
        /// The transport.
        transport: Ident,
        /// The next hop.
        via: Option<String>,
        /// Final recipients.
        to: Option<Vec<Value>>,
    },
    /// Discarded.
    Discard,
    /// Held.
    Hold,
}

/// One line of a session test and the reply it must get.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// What the client sends; `None` is the connection itself (banner).
    pub send: Option<String>,
    /// The reply code expected.
    pub code: u16,
    /// The enhanced code expected.
    pub enhanced: Option<String>,
    /// Span of the exchange.
    pub span: Span,
}
