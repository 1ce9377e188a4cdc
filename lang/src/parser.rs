//! Text -> AST.
//!
//! pest does the recognising (grammar in `policy.pest`); this module
//! lowers pest's pairs into the AST and turns pest's errors into a
//! [`SyntaxError`] that names what was expected in the language's own
//! words, never in grammar rule names.
//!
//! Vocabulary, after Gleam's parser: `lower_x` turns a pair that the
//! grammar guarantees to be an `x` into its node. The grammar is the
//! contract: a pair of an unexpected rule here is a bug in this file, and
//! the lowering never panics on user input because pest has already
//! rejected anything that does not fit.

use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::Parser as _;

use crate::ast::*;
use crate::source::{FileId, Span};

#[derive(pest_derive::Parser)]
#[grammar = "policy.pest"]
struct Grammar;

/// A policy that does not fit the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub span: Span,
    /// What went wrong, in the language's words.
    pub message: String,
    /// What would have been accepted there.
    pub expected: Vec<String>,
}

/// Parses one policy file; the first syntax error ends it.
pub fn parse(file: FileId, text: &str) -> Result<Policy, SyntaxError> {
    parse_at(file, text, 0)
}

/// Parses one policy file and recovers from syntax errors: when the whole
/// text does not parse, each top-level item is parsed on its own, so one
/// broken item costs only itself and every broken item is reported.
///
/// Items start on a line that begins in column 0 with a letter while no
/// bracket is open, or with a top-level keyword whatever is open (an
/// unclosed block then ends where the next item starts).
pub fn parse_recovering(file: FileId, text: &str) -> (Policy, Vec<SyntaxError>) {
    match parse(file, text) {
        Ok(policy) => (policy, Vec::new()),
        Err(_) => {
            let mut items = Vec::new();
            let mut errors = Vec::new();
            let starts = item_starts(text);
            for (i, &start) in starts.iter().enumerate() {
                let end = starts.get(i + 1).copied().unwrap_or(text.len());
                match parse_at(file, &text[start..end], start) {
                    Ok(p) => items.extend(p.items),
                    Err(mut e) if e.message == "unexpected end of file" && end < text.len() => {
                        // The item ran into the next one: name what follows.
                        let word: String = text[end..].chars().take_while(|c| !c.is_whitespace()).collect();
                        e.message = format!("unexpected `{word}`: the item before it is not finished");
                        e.span = Span::new(file, end, end + word.len());
                        errors.push(e);
                    }
                    Err(e) => errors.push(e),
                }
            }
            (Policy { items }, errors)
        }
    }
}

/// The words that start top-level items: the first twelve reserved words.
const ITEM_KEYWORDS: &[&str] = RESERVED.split_at(12).0;

/// What a byte of policy text is part of, for the scans that run before
/// (or instead of) the parser: code, a string literal (quotes included),
/// or a comment. A string ends at its closing quote or at the end of the
/// line; a comment at the end of the line (the newline is code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lexical {
    Code,
    Str,
    Comment,
}

/// Every byte of `text` with its [`Lexical`] class.
fn lexical(text: &str) -> impl Iterator<Item = (usize, u8, Lexical)> + '_ {
    let mut state = Lexical::Code;
    let mut escaped = false;
    text.bytes().enumerate().map(move |(i, b)| {
        let class = match state {
            Lexical::Str => {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"' | b'\n') => state = Lexical::Code,
                    _ => {}
                }
                Lexical::Str
            }
            Lexical::Comment if b == b'\n' => {
                state = Lexical::Code;
                Lexical::Code
            }
            Lexical::Comment => Lexical::Comment,
            Lexical::Code => match b {
                b'"' => {
                    state = Lexical::Str;
                    Lexical::Str
                }
                b'#' => {
                    state = Lexical::Comment;
                    Lexical::Comment
                }
                _ => Lexical::Code,
            },
        };
        (i, b, class)
    })
}

/// Byte offsets where top-level items may start (always including 0).
fn item_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    let (mut depth, mut line_start) = (0usize, false);
    for (i, b, class) in lexical(text) {
        if line_start && class == Lexical::Code && b.is_ascii_alphabetic() {
            let word: String =
                text[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
            if depth == 0 || ITEM_KEYWORDS.contains(&word.as_str()) {
                starts.push(i);
                depth = 0;
            }
        }
        line_start = b == b'\n';
        if class == Lexical::Code {
            match b {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    starts
}

/// Parses `text`, which starts at byte `base` of file `file`.
fn parse_at(file: FileId, text: &str, base: usize) -> Result<Policy, SyntaxError> {
    let shift = |mut e: SyntaxError| {
        e.span.start += base as u32;
        e.span.end += base as u32;
        e
    };
    check_nesting(file, text).map_err(shift)?;
    let pairs = Grammar::parse(Rule::policy, text).map_err(|e| shift(syntax_error(file, text, e)))?;
    let mut items = Vec::new();
    let lower = Lower { file, base };
    for pair in pairs.into_iter().next().into_iter().flat_map(|p| kids(p)) {
        if pair.as_rule() != Rule::EOI {
            items.push(lower.item(pair));
        }
    }
    Ok(Policy { items })
}

/// Deepest nesting of `(`, `[` and `{` accepted. pest's recursive descent
/// uses stack space per level, so absurd nesting is refused before it can
/// exhaust the stack; real policies nest a handful of levels.
pub const MAX_NESTING: usize = 32;

fn check_nesting(file: FileId, text: &str) -> Result<(), SyntaxError> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    // `not not not ...` recurses too: count `not`s in a row.
    let mut nots = 0usize;
    let too_deep = |at: usize, len: usize, message: String| SyntaxError {
        span: Span::new(file, at, at + len),
        message,
        expected: Vec::new(),
    };
    for (i, b, class) in lexical(text) {
        if class != Lexical::Code {
            continue;
        }
        let word_start = b.is_ascii_alphabetic() && (i == 0 || !is_word_byte(bytes[i - 1]));
        if word_start {
            let len = bytes[i..].iter().take_while(|c| is_word_byte(**c)).count();
            if &bytes[i..i + len] == b"not" {
                nots += 1;
                if nots > MAX_NESTING {
                    return Err(too_deep(i, len, format!("more than {MAX_NESTING} `not` in a row")));
                }
            } else {
                nots = 0;
            }
        }
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(too_deep(i, 1, format!("nesting deeper than {MAX_NESTING} levels")));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn syntax_error(file: FileId, text: &str, e: pest::error::Error<Rule>) -> SyntaxError {
    let (start, end) = match e.location {
        InputLocation::Pos(p) => (p, p),
        InputLocation::Span((s, e)) => (s, e),
    };
    // Point at the whole offending token, not at a zero-width position.
    let end = if end > start {
        end
    } else {
        let rest = &text[start.min(text.len())..];
        let len = rest
            .char_indices()
            .find(|(i, c)| c.is_whitespace() || (*i > 0 && matches!(c, ',' | ']' | '}' | ')')))
            .map_or(rest.len(), |(i, _)| i);
        start + len.max(rest.chars().next().map_or(0, char::len_utf8))
    };
    let span = Span::new(file, start, end);
    let mut expected: Vec<String> = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.iter().filter_map(|r| describe(*r)).collect(),
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    expected.sort();
    expected.dedup();
    let found = if start >= text.len() {
        "end of file".to_string()
    } else {
        let mut cut = end.min(start + 40);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("`{}`", &text[start..cut])
    };
    let rest = &text[start.min(text.len())..];
    let unterminated = rest.starts_with('"') && !rest[1..].lines().next().unwrap_or("").contains('"');
    let word: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let reserved = RESERVED.contains(&word.as_str())
        && rest[word.len()..].chars().next().is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'));
    let (message, expected) = if unterminated {
        ("unterminated string".to_string(), vec!["a closing `\"` on the same line".to_string()])
    } else if reserved && expected.iter().any(|e| e == "a name") {
        (format!("`{word}` is a reserved word and cannot be a name"), vec!["another name".to_string()])
    } else {
        (format!("unexpected {found}"), expected)
    };
    SyntaxError { span, message, expected }
}

/// The words that cannot be names (the grammar's `reserved` rule).
pub const RESERVED: &[&str] = &[
    "include",
    "network",
    "domains",
    "table",
    "transport",
    "reply",
    "dnsbl",
    "rewrite",
    "recipient",
    "copy",
    "on",
    "test",
    "default",
    "if",
    "else",
    "and",
    "or",
    "not",
    "in",
    "domain",
    "address",
    "for",
    "via",
    "to",
    "lookup",
    "relocated",
    "expand",
    "require",
    "route",
    "deliver",
    "reject",
    "defer",
    "discard",
    "hold",
    "bcc",
    "luser_relay",
    "accept",
    "continue",
    "check",
    "warn",
    "yes",
    "no",
    "archive",
    "canonical",
    "masquerade",
    "except",
    "per",
    "session",
    "rcpt",
    "extension",
    "catchall",
    "file",
    "directory",
];

/// Names grammar rules the way the language reference does.
fn describe(rule: Rule) -> Option<String> {
    let debug = format!("{rule:?}");
    if let Some(word) = debug.strip_prefix("kw_") {
        return Some(format!("`{word}`"));
    }
    let punctuation = match rule {
        Rule::p_arrow => Some("`=>`"),
        Rule::p_maps => Some("`->`"),
        Rule::p_eq => Some("`=`"),
        Rule::p_colon => Some("`:`"),
        Rule::p_lbrace => Some("`{`"),
        Rule::p_rbrace => Some("`}`"),
        Rule::p_lbracket => Some("`[`"),
        Rule::p_rbracket => Some("`]`"),
        Rule::p_lparen => Some("`(`"),
        Rule::p_rparen => Some("`)`"),
        Rule::p_comma => Some("`,`"),
        _ => None,
    };
    if let Some(p) = punctuation {
        return Some(p.to_string());
    }
    Some(
        match rule {
            Rule::EOI => "end of file",
            Rule::include => "`include`",
            Rule::setting => "a setting",
            Rule::network_decl => "`network`",
            Rule::domains_decl => "`domains`",
            Rule::table_decl => "`table`",
            Rule::transport_decl => "`transport`",
            Rule::reply_decl => "`reply`",
            Rule::dnsbl_decl => "`dnsbl`",
            Rule::rewrite_block => "`rewrite`",
            Rule::recipient_block => "`recipient`",
            Rule::copy_block => "`copy`",
            Rule::stage_block => "`on`",
            Rule::test_block => "`test`",
            Rule::name => "a name",
            Rule::word => "a word",
            Rule::path => "a subject like `sender.domain`",
            Rule::string => "a string",
            Rule::number => "a number",
            Rule::size => "a size",
            Rule::duration => "a duration",
            Rule::rate => "a rate",
            Rule::boolean => "`yes` or `no`",
            Rule::cidr => "a network",
            Rule::ip_literal => "an IP address",
            Rule::reply => "a reply",
            Rule::code => "a reply code",
            Rule::enhanced => "an enhanced status code",
            Rule::list => "a list",
            Rule::map => "a map",
            Rule::entry => "a map entry",
            Rule::value_type => "a value type",
            Rule::list_type => "a list type",
            Rule::format_source => "a table source",
            Rule::file_source => "`file`",
            Rule::options => "options",
            Rule::option => "an option",
            Rule::canonical_stmt => "`canonical`",
            Rule::masquerade_stmt => "`masquerade`",
            Rule::lookup_clause => "`lookup`",
            Rule::lookup_key => "a lookup key",
            Rule::recipient_rule => "a recipient rule",
            Rule::matcher | Rule::match_domain => "`domain`",
            Rule::match_address => "`address`",
            Rule::match_default | Rule::default_rule => "`default`",
            Rule::step_relocated => "`relocated`",
            Rule::step_expand => "`expand`",
            Rule::extension_clause => "`extension`",
            Rule::catchall_clause => "`catchall`",
            Rule::step_require => "`require`",
            Rule::step_route => "`route`",
            Rule::step_deliver | Rule::expect_deliver => "`deliver`",
            Rule::step_luser_relay => "`luser_relay`",
            Rule::step_bcc | Rule::copy_bcc => "`bcc`",
            Rule::else_clause => "`else`",
            Rule::action_accept | Rule::expect_accept => "`accept`",
            Rule::action_reject | Rule::expect_reject => "`reject`",
            Rule::action_defer | Rule::expect_defer => "`defer`",
            Rule::action_continue => "`continue`",
            Rule::action_hold | Rule::expect_hold => "`hold`",
            Rule::action_discard | Rule::expect_discard => "`discard`",
            Rule::action_warn => "`warn`",
            Rule::copy_archive => "`archive`",
            Rule::check_rule => "`check`",
            Rule::condition => "`if`",
            Rule::expr | Rule::or_expr | Rule::and_expr | Rule::not_expr => "a condition",
            Rule::negation => "`not`",
            Rule::membership => "`in`",
            Rule::negated_in => "`in`",
            Rule::comparison | Rule::cmp_op => "a comparison",
            Rule::flag => "a condition",
            Rule::rcpt_case => "`rcpt`",
            Rule::session_case => "`session`",
            Rule::context => "a test context (`from`, `client`, `helo`, `authenticated`, `tls`)",
            Rule::ctx_from => "`from`",
            Rule::ctx_client => "`client`",
            Rule::ctx_helo => "`helo`",
            Rule::ctx_auth => "`authenticated`",
            Rule::ctx_tls => "`tls`",
            Rule::exchange => "a dialogue line",
            Rule::exchange_connect => "`connect`",
            Rule::directory_flag => "`directory`",
            _ => return None,
        }
        .to_string(),
    )
}

/// Keyword and punctuation tokens carry no meaning beyond their place.
fn is_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::p_arrow
            | Rule::p_maps
            | Rule::p_eq
            | Rule::p_colon
            | Rule::p_lbrace
            | Rule::p_rbrace
            | Rule::p_lbracket
            | Rule::p_rbracket
            | Rule::p_lparen
            | Rule::p_rparen
            | Rule::p_comma
    ) || format!("{rule:?}").starts_with("kw_")
}

struct Lower {
    file: FileId,
    /// Offset of the parsed text in its file.
    base: usize,
}

impl Lower {
    /// The span of a pair without the whitespace and comments that pest
    /// lets a rule swallow when its optional tail is absent.
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        let text = s.as_str();
        let end = if text.ends_with(|c: char| c.is_whitespace()) { s.start() + code_end(text) } else { s.end() };
        Span::new(self.file, self.base + s.start(), self.base + end)
    }

    fn ident(&self, pair: Pair<Rule>) -> Ident {
        Ident { text: pair.as_str().to_string(), span: self.span(&pair) }
    }

    fn item(&self, pair: Pair<Rule>) -> Item {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = kids(pair);
        match rule {
            Rule::include => {
                let (path, path_span) = self.string(next(&mut inner));
                Item::Include(Include { path, path_span, span })
            }
            Rule::setting => {
                let name = self.ident(next(&mut inner));
                let value = self.value(next(&mut inner));
                Item::Setting(Setting { name, value, span })
            }
            Rule::network_decl => {
                let name = self.ident(next(&mut inner));
                let source = self.set_source(next(&mut inner));
                Item::Network(SetDecl { name, source, span })
            }
            Rule::domains_decl => {
                let name = self.ident(next(&mut inner));
                let mut class = None;
                let mut source = None;
                for p in inner {
                    match p.as_rule() {
                        Rule::word => class = Some(self.ident(p)),
                        _ => source = Some(self.set_source(p)),
                    }
                }
                let source = source.unwrap_or(SetSource::Inline(Vec::new()));
                Item::Domains(DomainsDecl { name, class, source, span })
            }
            Rule::table_decl => self.table(span, inner),
            Rule::transport_decl => {
                let name = self.ident(next(&mut inner));
                let kind = self.ident(next(&mut inner));
                let mut target = None;
                let mut options = Vec::new();
                for p in inner {
                    match p.as_rule() {
                        Rule::string => target = Some(self.string(p)),
                        _ => options = self.options(p),
                    }
                }
                Item::Transport(TransportDecl { name, kind, target, options, span })
            }
            Rule::reply_decl => {
                let name = self.ident(next(&mut inner));
                let reply = self.reply(next(&mut inner));
                Item::Reply(ReplyDecl { name, reply, span })
            }
            Rule::dnsbl_decl => {
                let name = self.ident(next(&mut inner));
                let (zone, zone_span) = self.string(next(&mut inner));
                let options = inner.next().map(|p| self.options(p)).unwrap_or_default();
                Item::Dnsbl(DnsblDecl { name, zone, zone_span, options, span })
            }
            Rule::rewrite_block => {
                let stmts = inner.map(|p| self.rewrite_stmt(p)).collect();
                Item::Rewrite(RewriteBlock { stmts, span })
            }
            Rule::recipient_block => {
                let rules = inner.map(|p| self.recipient_rule(p)).collect();
                Item::Recipient(RecipientBlock { rules, span })
            }
            Rule::copy_block => {
                let stmts = inner.map(|p| self.copy_stmt(p)).collect();
                Item::Copy(CopyBlock { stmts, span })
            }
            Rule::stage_block => {
                let stage = self.ident(next(&mut inner));
                let rules = inner.map(|p| self.restriction(p)).collect();
                Item::Stage(StageBlock { stage, rules, span })
            }
            Rule::test_block => {
                let (name, name_span) = self.string(next(&mut inner));
                let cases = inner.map(|p| self.test_case(p)).collect();
                Item::Test(TestBlock { name, name_span, cases, span })
            }
            other => unreachable!("item rule {other:?}"),
        }
    }

    fn table<'a>(&self, span: Span, mut inner: impl Iterator<Item = Pair<'a, Rule>>) -> Item {
        let name = self.ident(next(&mut inner));
        let key = self.ident(next(&mut inner));
        let mut value = None;
        let mut source = TableSource::Inline(Vec::new());
        for p in inner {
            match p.as_rule() {
                Rule::value_type => {
                    let vspan = self.span(&p);
                    let t = next(&mut kids(p));
                    let list = t.as_rule() == Rule::list_type;
                    let word = if list { self.ident(next(&mut kids(t))) } else { self.ident(t) };
                    value = Some(ValueType { word, list, span: vspan });
                }
                Rule::map => source = TableSource::Inline(self.entries(p)),
                Rule::format_source => {
                    let mut parts = kids(p);
                    let format = self.ident(next(&mut parts));
                    let mut directory = false;
                    let mut path = (String::new(), span);
                    for q in parts {
                        match q.as_rule() {
                            Rule::directory_flag => directory = true,
                            _ => path = self.string(q),
                        }
                    }
                    source = TableSource::Format { format, directory, path: path.0, path_span: path.1 };
                }
                other => unreachable!("table part {other:?}"),
            }
        }
        Item::Table(TableDecl { name, key, value, source, span })
    }

    fn set_source(&self, pair: Pair<Rule>) -> SetSource {
        match pair.as_rule() {
            Rule::list => SetSource::Inline(kids(pair).map(|p| self.value(p)).collect()),
            _ => {
                let (path, span) = self.string(next(&mut kids(pair)));
                SetSource::File { path, span }
            }
        }
    }

    fn set_ref(&self, pair: Pair<Rule>) -> SetRef {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::list => SetRef::Inline(kids(pair).map(|p| self.value(p)).collect(), span),
            _ => SetRef::Named(self.ident(pair)),
        }
    }

    fn options(&self, pair: Pair<Rule>) -> Vec<Opt> {
        kids(pair)
            .map(|p| {
                let span = self.span(&p);
                let mut inner = kids(p);
                let name = self.ident(next(&mut inner));
                let value = inner.next().map(|v| self.value(v));
                Opt { name, value, span }
            })
            .collect()
    }

    fn entries(&self, pair: Pair<Rule>) -> Vec<Entry> {
        kids(pair)
            .map(|p| {
                let mut inner = kids(p);
                let key = self.value(next(&mut inner));
                let value = inner.next().map(|v| self.value(v));
                Entry { key, value }
            })
            .collect()
    }

    fn string(&self, pair: Pair<Rule>) -> (String, Span) {
        let span = self.span(&pair);
        let body = kids(pair).next().map_or("", |p| p.as_str());
        (unescape(body), span)
    }

    fn value(&self, pair: Pair<Rule>) -> Value {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::string => ValueKind::Str(self.string(pair).0),
            Rule::number => ValueKind::Number(pair.as_str().parse().unwrap_or(OVERFLOW)),
            Rule::size => ValueKind::Size(parse_size(pair.as_str())),
            Rule::duration => ValueKind::Duration(parse_duration(pair.as_str())),
            Rule::rate => {
                let mut inner = kids(pair);
                let count = next(&mut inner).as_str().parse().unwrap_or(OVERFLOW);
                let seconds = parse_duration(next(&mut inner).as_str());
                ValueKind::Rate { count, seconds }
            }
            Rule::boolean => ValueKind::Bool(pair.as_str() == "yes"),
            Rule::cidr => ValueKind::Cidr(pair.as_str().to_string()),
            Rule::ip_literal => ValueKind::Ip(pair.as_str().to_string()),
            Rule::reply => ValueKind::Reply(self.reply(pair)),
            Rule::list => ValueKind::List(kids(pair).map(|p| self.value(p)).collect()),
            Rule::map => ValueKind::Map(self.entries(pair)),
            Rule::name | Rule::word => ValueKind::Name(self.ident(pair)),
            other => unreachable!("value rule {other:?}"),
        };
        Value { kind, span }
    }

    fn reply(&self, pair: Pair<Rule>) -> Reply {
        let span = self.span(&pair);
        let mut code = 0;
        let mut enhanced = None;
        let mut text = None;
        for p in kids(pair) {
            match p.as_rule() {
                Rule::code => code = p.as_str().parse().unwrap_or(0),
                Rule::enhanced => enhanced = Some(p.as_str().to_string()),
                _ => text = Some(self.string(p).0),
            }
        }
        Reply { code, enhanced, text, span }
    }

    fn reply_ref(&self, pair: Pair<Rule>) -> ReplyRef {
        match pair.as_rule() {
            Rule::reply => ReplyRef::Literal(self.reply(pair)),
            _ => ReplyRef::Named(self.ident(pair)),
        }
    }

    fn lookup(&self, pair: Pair<Rule>) -> Lookup {
        let span = self.span(&pair);
        Lookup { keys: kids(pair).map(|p| self.ident(p)).collect(), span }
    }

    fn classes(&self, pair: Pair<Rule>) -> Classes {
        let mut classes = Classes::default();
        for p in kids(pair) {
            let role = p.as_rule() == Rule::class_role;
            let ident = self.ident(next(&mut kids(p)));
            if role {
                classes.role = Some(ident);
            } else {
                classes.part = Some(ident);
            }
        }
        classes
    }

    fn rewrite_stmt(&self, pair: Pair<Rule>) -> RewriteStmt {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = kids(pair);
        match rule {
            Rule::canonical_stmt => {
                let table = self.ident(next(&mut inner));
                let classes = self.classes(next(&mut inner));
                let lookup = inner.next().map(|p| self.lookup(p));
                RewriteStmt::Canonical { table, classes, lookup, span }
            }
            _ => {
                let domains = self.set_ref(next(&mut inner));
                let mut except = None;
                let mut classes = Classes::default();
                for p in inner {
                    match p.as_rule() {
                        Rule::classes => classes = self.classes(p),
                        _ => except = Some(self.set_ref(p)),
                    }
                }
                RewriteStmt::Masquerade { domains, except, classes, span }
            }
        }
    }

    fn recipient_rule(&self, pair: Pair<Rule>) -> RecipientRule {
        let span = self.span(&pair);
        let mut matcher = None;
        let mut steps = Vec::new();
        for p in kids(pair) {
            match p.as_rule() {
                Rule::matcher => {
                    let m = next(&mut kids(p));
                    let mspan = self.span(&m);
                    matcher = Some(match m.as_rule() {
                        Rule::match_default => Matcher::Default(mspan),
                        Rule::match_domain => Matcher::Domain(self.set_ref(next(&mut kids(m))), mspan),
                        _ => Matcher::Address(self.ident(next(&mut kids(m))), mspan),
                    });
                }
                _ => steps.push(self.step(p)),
            }
        }
        RecipientRule { matcher, steps, span }
    }

    fn step(&self, pair: Pair<Rule>) -> Step {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = kids(pair);
        let kind = match rule {
            Rule::step_relocated => {
                let table = self.ident(next(&mut inner));
                let lookup = inner.next().map(|p| self.lookup(p));
                StepKind::Relocated { table, lookup }
            }
            Rule::step_expand | Rule::step_require | Rule::step_route => {
                let table = self.ident(next(&mut inner));
                let (mut lookup, mut extension, mut catchall, mut otherwise) = (None, None, None, None);
                for p in inner {
                    match p.as_rule() {
                        Rule::lookup_clause => lookup = Some(self.lookup(p)),
                        Rule::extension_clause => extension = Some(self.ident(next(&mut kids(p)))),
                        Rule::catchall_clause => catchall = Some(self.ident(next(&mut kids(p)))),
                        _ => otherwise = Some(Box::new(self.step(next(&mut kids(p))))),
                    }
                }
                match rule {
                    Rule::step_expand => StepKind::Expand { table, lookup, extension, catchall, otherwise },
                    Rule::step_require => StepKind::Require { table, lookup, otherwise },
                    _ => StepKind::Route { table, lookup, otherwise },
                }
            }
            Rule::step_deliver => {
                let transport = self.ident(next(&mut inner));
                let via = inner.next().map(|p| self.string(p));
                StepKind::Deliver { transport, via }
            }
            Rule::step_luser_relay => {
                let (s, sp) = self.string(next(&mut inner));
                StepKind::LuserRelay(s, sp)
            }
            Rule::step_bcc => {
                let (s, sp) = self.string(next(&mut inner));
                StepKind::Bcc(s, sp)
            }
            Rule::action_reject => StepKind::Reject(inner.next().map(|p| self.reply_ref(p))),
            Rule::action_defer => StepKind::Defer(inner.next().map(|p| self.reply_ref(p))),
            Rule::action_discard => StepKind::Discard(inner.next().map(|p| self.string(p).0)),
            Rule::action_hold => StepKind::Hold(inner.next().map(|p| self.string(p).0)),
            other => unreachable!("step rule {other:?}"),
        };
        Step { kind, span }
    }

    fn copy_stmt(&self, pair: Pair<Rule>) -> CopyStmt {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = kids(pair);
        match rule {
            Rule::copy_bcc => {
                let t = next(&mut inner);
                let target = match t.as_rule() {
                    Rule::string => {
                        let (s, sp) = self.string(t);
                        BccTarget::Address(s, sp)
                    }
                    _ => BccTarget::Table(self.ident(t)),
                };
                let role = inner.next().map(|p| self.ident(p));
                CopyStmt::Bcc { target, role, span }
            }
            _ => CopyStmt::Archive { transport: self.ident(next(&mut inner)), span },
        }
    }

    fn action(&self, pair: Pair<Rule>) -> Action {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = kids(pair);
        let kind = match rule {
            Rule::action_accept => ActionKind::Accept,
            Rule::action_reject => ActionKind::Reject(inner.next().map(|p| self.reply_ref(p))),
            Rule::action_defer => ActionKind::Defer(inner.next().map(|p| self.reply_ref(p))),
            Rule::action_continue => ActionKind::Continue,
            Rule::action_hold => ActionKind::Hold(inner.next().map(|p| self.string(p).0)),
            Rule::action_discard => ActionKind::Discard(inner.next().map(|p| self.string(p).0)),
            Rule::action_warn => ActionKind::Warn(self.string(next(&mut inner)).0),
            other => unreachable!("action rule {other:?}"),
        };
        Action { kind, span }
    }

    fn restriction(&self, pair: Pair<Rule>) -> Restriction {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = kids(pair);
        let kind = match rule {
            Rule::default_rule => RestrictionKind::Default(self.action(next(&mut inner))),
            Rule::check_rule => {
                let table = self.ident(next(&mut inner));
                let subject = self.ident(next(&mut inner));
                let (mut lookup, mut condition) = (None, None);
                for p in inner {
                    match p.as_rule() {
                        Rule::lookup_clause => lookup = Some(self.lookup(p)),
                        _ => condition = Some(self.expr(next(&mut kids(p)))),
                    }
                }
                RestrictionKind::Check { table, subject, lookup, condition }
            }
            _ => {
                let action = self.action(next(&mut inner));
                let condition = inner.next().map(|p| self.expr(next(&mut kids(p))));
                RestrictionKind::Rule { action, condition }
            }
        };
        Restriction { kind, span }
    }

    fn expr(&self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::expr => self.expr(next(&mut kids(pair))),
            Rule::or_expr | Rule::and_expr => {
                let is_or = pair.as_rule() == Rule::or_expr;
                let mut parts: Vec<Expr> = kids(pair).map(|p| self.expr(p)).collect();
                if parts.len() == 1 {
                    parts.remove(0)
                } else {
                    let kind = if is_or { ExprKind::Or(parts) } else { ExprKind::And(parts) };
                    Expr { kind, span }
                }
            }
            Rule::not_expr => self.expr(next(&mut kids(pair))),
            Rule::negation => Expr { kind: ExprKind::Not(Box::new(self.expr(next(&mut kids(pair))))), span },
            Rule::membership => {
                let mut inner = kids(pair);
                let subject = self.ident(next(&mut inner));
                let negated = next(&mut inner).as_str().starts_with("not");
                let operand = self.set_ref(next(&mut inner));
                Expr { kind: ExprKind::In { subject, negated, operand }, span }
            }
            Rule::comparison => {
                let mut inner = kids(pair);
                let subject = self.ident(next(&mut inner));
                let op = next(&mut inner).as_str().to_string();
                let value = self.value(next(&mut inner));
                Expr { kind: ExprKind::Compare { subject, op, value }, span }
            }
            Rule::flag => Expr { kind: ExprKind::Flag(self.ident(pair)), span },
            other => unreachable!("expr rule {other:?}"),
        }
    }

    fn test_case(&self, pair: Pair<Rule>) -> TestCase {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = kids(pair);
        match rule {
            Rule::rcpt_case => {
                let recipient = self.string(next(&mut inner));
                let mut context = Vec::new();
                let mut expect = Vec::new();
                for p in inner {
                    match p.as_rule() {
                        Rule::context => context.push(self.context(p)),
                        _ => expect.push(self.expectation(p)),
                    }
                }
                TestCase::Rcpt { recipient, context, expect, span }
            }
            _ => {
                let mut context = Vec::new();
                let mut exchanges = Vec::new();
                for p in inner {
                    match p.as_rule() {
                        Rule::context => context.push(self.context(p)),
                        _ => exchanges.push(self.exchange(p)),
                    }
                }
                TestCase::Session { context, exchanges, span }
            }
        }
    }

    fn context(&self, pair: Pair<Rule>) -> Context {
        let span = self.span(&pair);
        let c = next(&mut kids(pair));
        let rule = c.as_rule();
        let mut inner = kids(c);
        let kind = match rule {
            Rule::ctx_from => ContextKind::From(self.string(next(&mut inner)).0),
            Rule::ctx_client => {
                let ip = next(&mut inner).as_str().to_string();
                let name = inner.next().map(|p| self.string(p).0);
                ContextKind::Client { ip, name }
            }
            Rule::ctx_helo => ContextKind::Helo(self.string(next(&mut inner)).0),
            Rule::ctx_auth => ContextKind::Authenticated(inner.next().map(|p| self.string(p).0)),
            _ => ContextKind::Tls,
        };
        Context { kind, span }
    }

    fn expectation(&self, pair: Pair<Rule>) -> Expectation {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = kids(pair);
        let code_of = |inner: &mut dyn Iterator<Item = Pair<Rule>>| {
            let mut code = None;
            let mut enhanced = None;
            for p in inner {
                match p.as_rule() {
                    Rule::code => code = p.as_str().parse().ok(),
                    _ => enhanced = Some(p.as_str().to_string()),
                }
            }
            (code, enhanced)
        };
        let kind = match rule {
            Rule::expect_accept => ExpectKind::Accept,
            Rule::expect_reject => {
                let (c, e) = code_of(&mut inner);
                ExpectKind::Reject(c, e)
            }
            Rule::expect_defer => {
                let (c, e) = code_of(&mut inner);
                ExpectKind::Defer(c, e)
            }
            Rule::expect_deliver => {
                let transport = self.ident(next(&mut inner));
                let (mut via, mut to) = (None, None);
                for p in inner {
                    match p.as_rule() {
                        Rule::string => via = Some(self.string(p).0),
                        _ => to = Some(kids(p).map(|v| self.value(v)).collect()),
                    }
                }
                ExpectKind::Deliver { transport, via, to }
            }
            Rule::expect_discard => ExpectKind::Discard,
            _ => ExpectKind::Hold,
        };
        Expectation { kind, span }
    }

    fn exchange(&self, pair: Pair<Rule>) -> Exchange {
        let span = self.span(&pair);
        let mut send = None;
        let mut code = 0;
        let mut enhanced = None;
        for p in kids(pair) {
            match p.as_rule() {
                Rule::string => send = Some(self.string(p).0),
                Rule::code => code = p.as_str().parse().unwrap_or(0),
                Rule::enhanced => enhanced = Some(p.as_str().to_string()),
                _ => {}
            }
        }
        Exchange { send, code, enhanced, span }
    }
}

/// Length of `text` up to the end of its last token (not whitespace,
/// not inside a comment).
fn code_end(text: &str) -> usize {
    lexical(text)
        .filter(|(_, b, class)| *class == Lexical::Str || (*class == Lexical::Code && !b.is_ascii_whitespace()))
        .last()
        .map_or(0, |(i, _, _)| i + 1)
}

/// The children of a pair, without keyword tokens.
fn kids(pair: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    pair.into_inner().filter(|p| !is_keyword(p.as_rule()))
}

fn next<'a>(pairs: &mut impl Iterator<Item = Pair<'a, Rule>>) -> Pair<'a, Rule> {
    // INVARIANT: only called where the grammar guarantees another pair.
    pairs.next().expect("grammar guarantees this pair")
}

/// Resolves `\"`, `\\`, `\n`, `\t`; any other escape is kept as written
/// so that regular expressions read naturally (`"^a\.b$"`).
pub fn unescape(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The inverse of [`unescape`] for printing.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\\' => match chars.peek() {
                // A backslash that would read back as an escape is doubled.
                Some('"' | '\\' | 'n' | 't' | '\n' | '\t') | None => out.push_str("\\\\"),
                Some(_) => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

fn parse_size(text: &str) -> u64 {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    let mult: u64 = match unit {
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => 1,
    };
    digits.parse::<u64>().ok().and_then(|n| n.checked_mul(mult)).unwrap_or(OVERFLOW)
}

/// Seconds in a duration like `1h30m`; [`OVERFLOW`] when it does not fit.
pub fn parse_duration(text: &str) -> u64 {
    let mut total: u64 = 0;
    let mut number: u64 = 0;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            number = match number.checked_mul(10).and_then(|n| n.checked_add(d as u64)) {
                Some(n) => n,
                None => return OVERFLOW,
            };
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => 604_800,
        };
        total = match number.checked_mul(unit).and_then(|n| total.checked_add(n)) {
            Some(t) => t,
            None => return OVERFLOW,
        };
        number = 0;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reserved list here must be the grammar's.
    #[test]
    fn reserved_words_match_the_grammar() {
        let grammar = include_str!("policy.pest");
        let start = grammar.find("reserved = @{").expect("reserved rule");
        let body = &grammar[start..start + grammar[start..].find("~ !ident_char").expect("end of rule")];
        let words: Vec<&str> = body.split('"').skip(1).step_by(2).collect();
        assert_eq!(words, RESERVED);
    }

    #[test]
    fn escape_is_the_inverse_of_unescape() {
        for text in ["plain", "a\"b", "back\\slash", "\\n is not a newline", "c\\\nd", "tab\\\t", "^a\\.b$", "end\\"] {
            assert_eq!(unescape(&escape(text)), text, "{text:?} -> {:?}", escape(text));
        }
    }

    #[test]
    fn item_keywords_are_the_words_that_start_items() {
        let grammar = include_str!("policy.pest");
        for word in ITEM_KEYWORDS {
            assert!(grammar.contains(&format!("kw_{word} ~")), "`{word}` starts no item");
        }
        assert!(!ITEM_KEYWORDS.contains(&"default"));
    }

    #[test]
    fn recovery_reports_every_broken_item_and_keeps_the_rest() {
        let text =
            "hostname \"a\"\ndomains d = [\"x\"\ntransport t = discard\nnetwork n = [1.2.3.4\nreply r = 550 \"x\"\n";
        let (policy, errors) = parse_recovering(FileId(0), text);
        assert_eq!(policy.items.len(), 3, "{:?}", policy.items);
        let at: Vec<&str> = errors.iter().map(|e| &text[e.span.range()]).collect();
        assert_eq!(at, ["transport", "reply"]);
        assert!(errors[0].message.contains("not finished"), "{}", errors[0].message);
    }

    #[test]
    fn errors_name_the_missing_punctuation() {
        let e = parse(FileId(0), "recipient {\n  domain d deliver t\n}").unwrap_err();
        assert_eq!(e.expected, ["`=>`"]);
        let e = parse(FileId(0), "table default : local = {}").unwrap_err();
        assert_eq!(e.message, "`default` is a reserved word and cannot be a name");
        let e = parse(FileId(0), "hostname \"mx.example").unwrap_err();
        assert_eq!(e.message, "unterminated string");
    }
}
