//! Blocks that use names: rewriting, recipient resolution, copies, the
//! SMTP stages and tests.
//!
//! Each use is checked against what it needs (a table with the right key
//! and value types, a transport, a reply of the right class), and each
//! rule list against its shape: a visible default at the end, nothing
//! after it, no rule shadowed by an earlier one, and every matched
//! recipient rule ending in a decision. The recipient rules are returned
//! in resolved form for the expansion analysis.

use std::collections::HashMap;

use mailc_lang::ast::{self, ActionKind, ExprKind, Item, Matcher, RestrictionKind, SetRef, StepKind, ValueKind};
use mailc_lang::Span;
use mailc_stdlib::lookup::{default_order, forms_for, Use};
use mailc_stdlib::subjects::{self, SubjectType};
use mailc_stdlib::{stage_index, STAGES};

use super::decls::{DeclKind, Table};
use super::literal::{check_reply, Cidr};
use super::{Checker, Want};
use crate::diag::{did_you_mean, Code, Diagnostic};

/// A recipient rule after resolution, for the expansion analysis.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedRule {
    /// Which recipients the rule applies to.
    pub matcher: RuleMatch,
    /// `expand` steps in order: table index and lookup order.
    pub expansions: Vec<(usize, Vec<String>, Span)>,
}

/// The left side of a resolved rule.
#[derive(Debug, Clone)]
pub(crate) enum RuleMatch {
    /// No matcher: every recipient passes through.
    All,
    /// `default`
    Default,
    /// `domain set`: the set's index, or an inline list of domains.
    Domains(Vec<String>),
    /// `address in table`: can't be decided from data alone.
    Address,
}

/// What the blocks pass hands on.
#[derive(Debug, Default)]
pub(crate) struct Blocks {
    pub recipient: Vec<ResolvedRule>,
}

pub(crate) fn check_blocks(cx: &mut Checker, items: &[Item]) -> Blocks {
    let mut blocks = Blocks::default();
    let mut seen: HashMap<String, Span> = HashMap::new();
    let mut once = |cx: &mut Checker, key: String, span: Span, what: &str| {
        if let Some(prev) = seen.insert(key, span) {
            cx.push(
                Diagnostic::new(Code::DuplicateBlock, span, format!("{what} appears twice"), "second block")
                    .label(prev, "first block")
                    .help("merge the two blocks into one; rules are read top to bottom"),
            );
            false
        } else {
            true
        }
    };
    for item in items {
        match item {
            // A second block is reported and still checked, so that its
            // own problems are not hidden behind the duplicate.
            Item::Rewrite(b) => {
                once(cx, "rewrite".into(), b.span, "`rewrite`");
                rewrite(cx, b);
            }
            Item::Recipient(b) => {
                let rules = recipient(cx, b);
                if once(cx, "recipient".into(), b.span, "`recipient`") {
                    blocks.recipient = rules;
                }
            }
            Item::Copy(b) => {
                once(cx, "copy".into(), b.span, "`copy`");
                copy(cx, b);
            }
            Item::Stage(b) => {
                let Some(stage) = stage_index(&b.stage.text) else {
                    let mut d = Diagnostic::new(
                        Code::UnknownWord,
                        b.stage.span,
                        format!("`{}` is not an SMTP stage", b.stage.text),
                        "unknown stage",
                    );
                    d = match did_you_mean(&b.stage.text, STAGES.iter().copied()) {
                        Some(c) => d.help(format!("did you mean `{c}`?")),
                        None => d.help("stages are `connect`, `helo`, `mail`, `rcpt`, `data` and `end_of_data`"),
                    };
                    cx.push(d);
                    // Check the rules as if at the last stage, where every
                    // subject is known, so their own problems still show.
                    stage_rules(cx, STAGES.len() - 1, b);
                    continue;
                };
                once(cx, format!("on {}", b.stage.text), b.span, &format!("`on {}`", b.stage.text));
                stage_rules(cx, stage, b);
            }
            Item::Test(t) => test_block(cx, t),
            _ => {}
        }
    }
    if !items.iter().any(|i| matches!(i, Item::Recipient(_))) && cx.root_parsed {
        // Without the block, what happens to a recipient is a hidden default.
        let root = mailc_lang::FileId(0);
        let span = items.iter().map(|i| i.span()).find(|s| s.file == root).unwrap_or_default();
        cx.push(
            Diagnostic::new(
                Code::MissingDefault,
                span,
                "the policy has no `recipient` block",
                "the policy starts here",
            )
            .help("say where mail goes, at least `recipient { default => reject 554 5.7.1 \"no mail here\" }`"),
        );
    }
    blocks
}

// ------------------------------------------------------------ table uses

/// Checks that a table fits a use; returns its index.
fn table_use(cx: &mut Checker, name: &ast::Ident, use_: &str, keys: &[&str], values: &[&str]) -> Option<usize> {
    let i = cx.resolve(name, Want::Table)?;
    let DeclKind::Table(t) = &cx.decls[i].kind else { return None };
    let key_ok = keys.contains(&t.key.as_str());
    let value_ok = match &t.value {
        None => values.contains(&"set"),
        Some(v) => values.iter().any(|w| {
            let (list, word) = match w.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
                Some(inner) => (true, inner),
                None => (false, *w),
            };
            word == "any" || (word == v && list == t.list)
        }),
    };
    if !key_ok || !value_ok {
        let actual = describe_table_type(t);
        let span = cx.decls[i].span;
        let expected_keys = join_or(keys.iter().map(|k| format!("`{k}`")));
        let expected_values = join_or(values.iter().filter(|v| **v != "any").map(|v| {
            if *v == "set" {
                "no value (a set)".to_string()
            } else {
                format!("`{v}`")
            }
        }));
        let label = if key_ok {
            format!("`{use_}` needs values {expected_values}")
        } else {
            format!("`{use_}` needs keys {expected_keys}")
        };
        let help = match (key_ok, value_ok) {
            (false, true) => format!("declare `{}` with keys {expected_keys}", name.text),
            (true, false) => format!("declare `{}` with values {expected_values}", name.text),
            _ => format!("`{use_}` needs keys {expected_keys} and values {expected_values}"),
        };
        cx.push(
            Diagnostic::new(
                Code::TypeMismatch,
                name.span,
                format!("`{}` has type `{actual}`, which `{use_}` cannot use", name.text),
                label,
            )
            .label(span, format!("`{}` is declared here", name.text))
            .help(help),
        );
        return None;
    }
    Some(i)
}

/// `a`, `a or b`, `a, b or c`
fn join_or(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    crate::load::join_or(&items)
}

fn describe_table_type(t: &Table) -> String {
    match (&t.value, t.list) {
        (None, _) => t.key.clone(),
        (Some(v), true) => format!("{} -> [{v}]", t.key),
        (Some(v), false) => format!("{} -> {v}", t.key),
    }
}

/// Checks a lookup clause against the table's key kind and returns the
/// effective order.
fn lookup_order(cx: &mut Checker, table: Option<usize>, lookup: Option<&ast::Lookup>, use_: Use) -> Vec<String> {
    let key = match table.map(|i| &cx.decls[i].kind) {
        Some(DeclKind::Table(t)) => t.key.clone(),
        _ => return Vec::new(),
    };
    let Some(lookup) = lookup else {
        return default_order(use_, &key).iter().map(|s| s.to_string()).collect();
    };
    let allowed = forms_for(&key);
    let mut out = Vec::new();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for k in &lookup.keys {
        if !allowed.contains(&k.text.as_str()) {
            let all: Vec<&str> = mailc_stdlib::lookup::FORMS.iter().map(|f| f.word).collect();
            let mut d = if all.contains(&k.text.as_str()) {
                Diagnostic::new(
                    Code::InvalidLookup,
                    k.span,
                    format!("a `{key}` table has no `{}` keys", k.text),
                    "cannot be looked up here",
                )
            } else {
                Diagnostic::new(
                    Code::InvalidLookup,
                    k.span,
                    format!("`{}` is not a key form", k.text),
                    "unknown key form",
                )
            };
            d = if allowed.is_empty() {
                d.help(format!("a `{key}` table is matched as a whole; remove the `lookup` clause"))
            } else {
                d.help(format!(
                    "a `{key}` table can be looked up with {}",
                    allowed.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
                ))
            };
            cx.push(d);
            continue;
        }
        if let Some(prev) = seen.insert(&k.text, k.span) {
            cx.push(
                Diagnostic::new(Code::InvalidLookup, k.span, format!("`{}` is tried twice", k.text), "second time")
                    .label(prev, "first time")
                    .help("the second lookup can never hit; remove it"),
            );
            continue;
        }
        out.push(k.text.clone());
    }
    out
}

fn reply_ref(cx: &mut Checker, r: &ast::ReplyRef, class: u16, action: &str, stage: usize) {
    let (code, enhanced, span, text) = match r {
        ast::ReplyRef::Literal(rep) => (rep.code, rep.enhanced.clone(), rep.span, rep.text.clone()),
        ast::ReplyRef::Named(n) => {
            let Some(i) = cx.resolve(n, Want::Reply) else { return };
            let DeclKind::Reply(rep) = &cx.decls[i].kind else { return };
            let (code, text, decl_span) = (rep.code, rep.text.clone(), rep.span);
            // A named reply's placeholders must have values where it is used.
            if let Some(t) = text {
                let before = cx.diags.len();
                cx.check_template(&t, decl_span, stage);
                for d in &mut cx.diags[before..] {
                    d.labels.push(crate::diag::Label { span: n.span, text: "used here".into() });
                }
            }
            (code, None, n.span, None)
        }
    };
    if let ast::ReplyRef::Literal(_) = r {
        if let Err(e) = check_reply(code, enhanced.as_deref()) {
            cx.push(Diagnostic::new(Code::InvalidLiteral, span, e, "invalid reply"));
            return;
        }
        if let Some(t) = &text {
            cx.check_template(t, span, stage);
        }
    }
    if code / 100 != class {
        cx.push(
            Diagnostic::new(
                Code::ReplyClass,
                span,
                format!("`{action}` needs a {class}xx reply, but this one is {code}"),
                "wrong class of reply",
            )
            .help(if class == 5 {
                "use `defer` for a temporary (4xx) refusal, or a 5xx code with `reject`"
            } else {
                "use `reject` for a permanent (5xx) refusal, or a 4xx code with `defer`"
            }),
        );
    }
}

fn check_address_literal(cx: &mut Checker, text: &str, span: Span, what: &str) {
    let templated = text.contains('{');
    if templated {
        cx.check_template(text, span, stage_index("rcpt").unwrap_or(3));
        return;
    }
    if let Err(e) = mailc_stdlib::address::parse_address(text) {
        cx.push(
            Diagnostic::new(Code::InvalidLiteral, span, format!("{what} {}", e.0), "not an address")
                .help("write a full address like `postmaster@example.com`"),
        );
    }
}

// ------------------------------------------------------------ rewrite

fn rewrite(cx: &mut Checker, b: &ast::RewriteBlock) {
    for stmt in &b.stmts {
        match stmt {
            ast::RewriteStmt::Canonical { table, classes, lookup, .. } => {
                let t = table_use(cx, table, "canonical", &["address", "local", "regexp"], &["address"]);
                lookup_order(cx, t, lookup.as_ref(), Use::Address);
                check_classes(cx, classes);
            }
            ast::RewriteStmt::Masquerade { domains, except, classes, .. } => {
                masquerade_domains(cx, domains);
                if let Some(SetRef::Inline(values, _)) = except {
                    for v in values {
                        match &v.kind {
                            ValueKind::Str(s) if mailc_stdlib::address::check_local(s).is_ok() => {}
                            _ => cx.push(Diagnostic::new(
                                Code::InvalidLiteral,
                                v.span,
                                "expected a local part in quotes",
                                "not a local part",
                            )),
                        }
                    }
                } else if let Some(SetRef::Named(n)) = except {
                    table_use(cx, n, "masquerade ... except", &["local"], &["set", "any"]);
                }
                check_classes(cx, classes);
            }
        }
    }
}

fn check_classes(cx: &mut Checker, c: &ast::Classes) {
    if let Some(r) = &c.role {
        if !["sender", "recipient"].contains(&r.text.as_str()) {
            cx.push(
                Diagnostic::new(
                    Code::UnknownWord,
                    r.span,
                    format!("`{}` is not an address role", r.text),
                    "unknown role",
                )
                .help("write `for sender` or `for recipient`; leave it out for both"),
            );
        }
    }
    if let Some(p) = &c.part {
        if !["envelope", "header"].contains(&p.text.as_str()) {
            cx.push(
                Diagnostic::new(
                    Code::UnknownWord,
                    p.span,
                    format!("`{}` is not a message part", p.text),
                    "unknown part",
                )
                .help("write `in envelope` or `in header`; leave it out for both"),
            );
        }
    }
}

/// A domain list: a `domains` set, or inline domains. Returns members.
fn domain_list(cx: &mut Checker, r: &SetRef) -> Vec<String> {
    match r {
        SetRef::Named(n) => {
            let Some(i) = cx.resolve(n, Want::Domains) else { return Vec::new() };
            match &cx.decls[i].kind {
                DeclKind::Domains(d) => d.members.iter().map(|(m, _)| m.clone()).collect(),
                _ => Vec::new(),
            }
        }
        SetRef::Inline(values, _) => {
            let mut out = Vec::new();
            for v in values {
                match &v.kind {
                    ValueKind::Str(s) => {
                        let (dot, bare) = s.strip_prefix('.').map_or(("", s.as_str()), |r| (".", r));
                        match mailc_stdlib::address::normalize_domain(bare) {
                            Ok(d) => out.push(format!("{dot}{d}")),
                            Err(e) => cx.push(Diagnostic::new(Code::InvalidLiteral, v.span, e.0, "not a domain")),
                        }
                    }
                    _ => cx.push(Diagnostic::new(
                        Code::InvalidLiteral,
                        v.span,
                        "expected a domain in quotes",
                        "not a domain",
                    )),
                }
            }
            out
        }
    }
}

/// The domains of a `masquerade`: like [`domain_list`], and an inline
/// entry `"!host.example.com"` is an exception (Postfix's
/// `masquerade_domains = !host.example.com, example.com`).
fn masquerade_domains(cx: &mut Checker, r: &SetRef) {
    let SetRef::Inline(values, span) = r else {
        domain_list(cx, r);
        return;
    };
    let mut plain = Vec::new();
    for v in values {
        match &v.kind {
            ValueKind::Str(s) if s.starts_with('!') => {
                if let Err(e) = mailc_stdlib::address::check_domain(&s[1..]) {
                    cx.push(Diagnostic::new(Code::InvalidLiteral, v.span, e.0, "not a domain"));
                }
            }
            _ => plain.push(v.clone()),
        }
    }
    domain_list(cx, &SetRef::Inline(plain, *span));
}

// ------------------------------------------------------------ recipients

fn recipient(cx: &mut Checker, b: &ast::RecipientBlock) -> Vec<ResolvedRule> {
    let mut out = Vec::new();
    let mut default_at: Option<Span> = None;
    let mut matched_domains: HashMap<String, Span> = HashMap::new();
    for rule in &b.rules {
        if let Some(d) = default_at {
            cx.push(
                Diagnostic::new(
                    Code::UnreachableRule,
                    rule.span,
                    "this rule comes after `default` and is never used",
                    "unreachable",
                )
                .label(d, "every recipient stops here")
                .help("move it above the `default` rule"),
            );
        }
        let matcher = match &rule.matcher {
            None => RuleMatch::All,
            Some(Matcher::Default(span)) => {
                default_at.get_or_insert(*span);
                RuleMatch::Default
            }
            Some(Matcher::Domain(set, span)) => {
                let members = domain_list(cx, set);
                let key = match set {
                    SetRef::Named(n) => n.text.clone(),
                    SetRef::Inline(..) => members.join(","),
                };
                if let Some(prev) = matched_domains.get(&key) {
                    if default_at.is_none() {
                        cx.push(
                            Diagnostic::new(
                                Code::ShadowedRule,
                                *span,
                                "these domains are already matched by an earlier rule",
                                "never reached",
                            )
                            .label(*prev, "this rule matches them first")
                            .help("merge the two rules into one"),
                        );
                    }
                }
                matched_domains.insert(key, *span);
                RuleMatch::Domains(members)
            }
            Some(Matcher::Address(t, _)) => {
                table_use(cx, t, "address in", &["address", "regexp"], &["set", "any"]);
                RuleMatch::Address
            }
        };
        let mut expansions = Vec::new();
        let mut decided: Option<Span> = None;
        for step in &rule.steps {
            if let Some(d) = decided {
                cx.push(
                    Diagnostic::new(
                        Code::UnreachableRule,
                        step.span,
                        "this step comes after a decision and is never used",
                        "unreachable",
                    )
                    .label(d, "every recipient is decided here")
                    .help("remove it, or move it before the decision"),
                );
            }
            if step_decides(cx, step, &mut expansions) {
                decided.get_or_insert(step.span);
            }
        }
        if rule.matcher.is_some() && decided.is_none() {
            let last_step = rule.steps.last();
            let last = last_step.map_or(rule.span, |s| s.span);
            let help = match last_step.map(|s| &s.kind) {
                Some(StepKind::Require { .. }) => {
                    "`require` lets found recipients through to the next step: add `deliver ...` after it"
                }
                Some(StepKind::Relocated { .. } | StepKind::Bcc(..)) => {
                    "this step lets most recipients through: end the rule with `deliver`, `reject` or `defer`"
                }
                _ => "end the rule with `deliver`, `reject` or `defer`, or give the last lookup an `else`",
            };
            cx.push(
                Diagnostic::new(
                    Code::NoDecision,
                    last,
                    "a recipient can reach the end of this rule without a decision",
                    "can end here undecided",
                )
                .label(rule.matcher.as_ref().map_or(rule.span, |m| m.span()), "for recipients matched here")
                .help(help),
            );
        }
        out.push(ResolvedRule { matcher, expansions });
    }
    if default_at.is_none() {
        cx.push(
            Diagnostic::new(Code::MissingDefault, b.span, "the recipient rules have no `default`", "no visible default")
                .help("end the block with `default => deliver ...` or `default => reject ...`, so that every recipient has a visible fate"),
        );
    }
    out
}

/// Checks one step; returns whether it always decides.
fn step_decides(cx: &mut Checker, step: &ast::Step, expansions: &mut Vec<(usize, Vec<String>, Span)>) -> bool {
    match &step.kind {
        StepKind::Relocated { table, lookup } => {
            let t = table_use(cx, table, "relocated", &["address", "local", "domain"], &["address", "text"]);
            lookup_order(cx, t, lookup.as_ref(), Use::Address);
            false
        }
        StepKind::Expand { table, lookup, extension, catchall, otherwise } => {
            let t = table_use(
                cx,
                table,
                "expand",
                &["address", "local", "regexp"],
                &["address", "[address]", "target", "[target]"],
            );
            let order = lookup_order(cx, t, lookup.as_ref(), Use::Address);
            if let Some(e) = extension {
                if !["propagate", "drop"].contains(&e.text.as_str()) {
                    cx.push(
                        Diagnostic::new(
                            Code::UnknownWord,
                            e.span,
                            format!("`{}` is not an extension mode", e.text),
                            "unknown mode",
                        )
                        .help("write `extension propagate` or `extension drop`"),
                    );
                }
            }
            if let Some(c) = catchall {
                if !["replace", "keep_local"].contains(&c.text.as_str()) {
                    cx.push(Diagnostic::new(Code::UnknownWord, c.span, format!("`{}` is not a catch-all mode", c.text), "unknown mode").help("write `catchall replace` or `catchall keep_local` (qmail-style: the unmatched local part becomes the target's extension)"));
                } else if c.text == "keep_local" && cx.delimiters.is_empty() {
                    cx.push(
                        Diagnostic::new(
                            Code::MissingOption,
                            c.span,
                            "`catchall keep_local` needs a recipient delimiter",
                            "no delimiter to join with",
                        )
                        .help("set `recipient_delimiter \"+\"`"),
                    );
                }
            }
            if let Some(i) = t {
                expansions.push((i, order, step.span));
            }
            otherwise.as_ref().is_some_and(|o| step_decides(cx, o, expansions))
        }
        StepKind::Require { table, lookup, otherwise } => {
            let t = table_use(cx, table, "require", &["address", "local", "regexp"], &["set", "any"]);
            lookup_order(cx, t, lookup.as_ref(), Use::Address);
            if let Some(o) = otherwise {
                step_decides(cx, o, expansions);
            }
            false
        }
        StepKind::Route { table, lookup, otherwise } => {
            let t = table_use(cx, table, "route", &["address", "domain"], &["route"]);
            lookup_order(cx, t, lookup.as_ref(), Use::Route);
            if let Some(i) = t {
                check_routes(cx, i);
            }
            otherwise.as_ref().is_some_and(|o| step_decides(cx, o, expansions))
        }
        StepKind::Deliver { transport, via } => {
            let kind = cx.resolve(transport, Want::Transport).and_then(|i| match &cx.decls[i].kind {
                DeclKind::Transport(t) => Some(t.kind.clone()),
                _ => None,
            });
            if let Some((v, span)) = via {
                match kind.as_deref() {
                    Some(k) if !["smtp", "lmtp"].contains(&k) => cx.push(
                        Diagnostic::new(
                            Code::UnknownOption,
                            *span,
                            format!("a `{k}` transport has no next hop"),
                            "`via` does not apply here",
                        )
                        .label(transport.span, format!("`{}` is a `{k}` transport", transport.text))
                        .help("`via` names the next hop of an `smtp` or `lmtp` transport; remove it"),
                    ),
                    _ => check_nexthop(cx, v, *span),
                }
            }
            true
        }
        StepKind::LuserRelay(addr, span) => {
            check_address_literal(cx, addr, *span, "the luser relay");
            true
        }
        StepKind::Bcc(addr, span) => {
            check_address_literal(cx, addr, *span, "the bcc address");
            false
        }
        StepKind::Reject(r) => {
            if let Some(r) = r {
                reply_ref(cx, r, 5, "reject", stage_index("rcpt").unwrap_or(3));
            }
            true
        }
        StepKind::Defer(r) => {
            if let Some(r) = r {
                reply_ref(cx, r, 4, "defer", stage_index("rcpt").unwrap_or(3));
            }
            true
        }
        StepKind::Discard(_) | StepKind::Hold(_) => true,
    }
}

fn check_nexthop(cx: &mut Checker, v: &str, span: Span) {
    let host = match v.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((h, port)) if port.is_empty() || port.strip_prefix(':').is_some_and(|p| p.parse::<u16>().is_ok()) => {
                h.to_string()
            }
            _ => {
                cx.push(
                    Diagnostic::new(Code::InvalidLiteral, span, format!("`{v}` is not a next hop"), "malformed")
                        .help("write `[host]:port`, `[host]` or `host`"),
                );
                return;
            }
        },
        None => v.split(':').next().unwrap_or(v).to_string(),
    };
    let ok = host.parse::<std::net::IpAddr>().is_ok()
        || host
            .strip_prefix("ipv6:")
            .or_else(|| host.strip_prefix("IPv6:"))
            .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
        || mailc_stdlib::address::normalize_domain(&host).is_ok();
    if !ok {
        cx.push(
            Diagnostic::new(Code::InvalidLiteral, span, format!("`{v}` is not a next hop"), "not a host")
                .help("write `[host]:port`, `[host]` or `host`"),
        );
    }
}

/// Route values name transports: check each against the declarations.
fn check_routes(cx: &mut Checker, i: usize) {
    let DeclKind::Table(t) = &cx.decls[i].kind else { return };
    let mut problems = Vec::new();
    let mut used = Vec::new();
    let mut hops = Vec::new();
    for e in 0..t.len() {
        for (v, span) in t.values(e) {
            let (name, hop) = match v.split_once(':') {
                Some((n, h)) => (n, Some(h)),
                None => (v, None),
            };
            match cx.index.get(name).map(|&j| &cx.decls[j].kind) {
                Some(DeclKind::Transport(_)) => used.push(name.to_string()),
                _ => problems.push((name.to_string(), span)),
            }
            if let Some(h) = hop.filter(|h| !h.is_empty()) {
                hops.push((h.to_string(), span));
            }
        }
    }
    cx.used.extend(used);
    for (hop, span) in hops {
        check_nexthop(cx, &hop, span);
    }
    for (name, span) in problems {
        cx.push(
            Diagnostic::new(
                Code::InvalidTableValue,
                span,
                format!("`{name}` is not a declared transport"),
                "unknown transport",
            )
            .help("route values name a `transport` of this policy, optionally followed by `:nexthop`"),
        );
    }
}

// ------------------------------------------------------------ copies

fn copy(cx: &mut Checker, b: &ast::CopyBlock) {
    for stmt in &b.stmts {
        match stmt {
            ast::CopyStmt::Bcc { target, role, span } => match target {
                ast::BccTarget::Address(a, s) => {
                    check_address_literal(cx, a, *s, "the bcc address");
                    if let Some(r) = role {
                        cx.push(
                            Diagnostic::new(
                                Code::UnknownWord,
                                r.span,
                                "a fixed bcc address copies every message",
                                "not needed",
                            )
                            .label(*span, "this statement")
                            .help("remove `for ...`; it selects the lookup key of a bcc table"),
                        );
                    }
                }
                ast::BccTarget::Table(t) => {
                    table_use(cx, t, "bcc", &["address", "regexp"], &["address"]);
                    match role {
                        Some(r) if ["sender", "recipient"].contains(&r.text.as_str()) => {}
                        Some(r) => cx.push(
                            Diagnostic::new(
                                Code::UnknownWord,
                                r.span,
                                format!("`{}` is not an address role", r.text),
                                "unknown role",
                            )
                            .help("write `for sender` or `for recipient`"),
                        ),
                        None => cx.push(
                            Diagnostic::new(
                                Code::MissingOption,
                                *span,
                                "a bcc table needs to say whose address is looked up",
                                "missing `for`",
                            )
                            .help("add `for sender` (sender_bcc_maps) or `for recipient` (recipient_bcc_maps)"),
                        ),
                    }
                }
            },
            ast::CopyStmt::Archive { transport, .. } => {
                cx.resolve(transport, Want::Transport);
            }
        }
    }
}

// ------------------------------------------------------------ stages

fn stage_rules(cx: &mut Checker, stage: usize, b: &ast::StageBlock) {
    let mut default_at: Option<Span> = None;
    let mut always_at: Option<Span> = None;
    // Conditions of earlier decisive rules, in disjunctive form.
    let mut earlier: Vec<(Vec<Vec<String>>, Span)> = Vec::new();
    for rule in &b.rules {
        if let Some(d) = default_at.or(always_at) {
            cx.push(
                Diagnostic::new(Code::UnreachableRule, rule.span, "this rule can never be reached", "unreachable")
                    .label(d, "every session stops here")
                    .help("move it above, or remove it"),
            );
        }
        match &rule.kind {
            RestrictionKind::Default(action) => {
                check_action(cx, action, stage);
                default_at.get_or_insert(rule.span);
            }
            RestrictionKind::Rule { action, condition } => {
                check_action(cx, action, stage);
                let decisive = !matches!(action.kind, ActionKind::Continue | ActionKind::Warn(_));
                match condition {
                    None if decisive => {
                        always_at.get_or_insert(rule.span);
                    }
                    None => {}
                    Some(c) => {
                        expr(cx, stage, c);
                        let dnf = to_dnf(cx, c);
                        if let Some(span) = shadowing(&earlier, &dnf) {
                            cx.push(
                                Diagnostic::new(
                                    Code::ShadowedRule,
                                    c.span,
                                    "an earlier rule always decides first when this condition holds",
                                    "shadowed",
                                )
                                .label(span, "this rule matches first")
                                .help("remove this rule, or move it above the earlier one"),
                            );
                        }
                        if decisive {
                            earlier.push((dnf, rule.span));
                        }
                    }
                }
            }
            RestrictionKind::Check { table, subject, lookup, condition } => {
                if let Some(c) = condition {
                    expr(cx, stage, c);
                }
                let Some(ty) = subject_type(cx, stage, subject) else { continue };
                let (keys, use_) = keys_for(ty);
                // check_sender_mx_access: MX hosts by name or by address.
                let keys: &[&str] = if subject.text == "sender.mx" { &["domain", "regexp", "cidr"] } else { keys };
                let t = table_use(cx, table, "check", keys, &["action", "reply"]);
                lookup_order(cx, t, lookup.as_ref(), use_);
            }
        }
    }
    if default_at.is_none() && always_at.is_none() {
        cx.push(
            Diagnostic::new(
                Code::MissingDefault,
                b.span,
                format!("the `{}` rules have no `default`", b.stage.text),
                "no visible default",
            )
            .help(
                "end the block with `default accept` or `default reject ...`, so every session has a visible outcome",
            ),
        );
    }
}

fn check_action(cx: &mut Checker, a: &ast::Action, stage: usize) {
    match &a.kind {
        ActionKind::Reject(Some(r)) => reply_ref(cx, r, 5, "reject", stage),
        ActionKind::Defer(Some(r)) => reply_ref(cx, r, 4, "defer", stage),
        ActionKind::Warn(t) | ActionKind::Hold(Some(t)) | ActionKind::Discard(Some(t)) => {
            cx.check_template(t, a.span, stage)
        }
        _ => {}
    }
}

/// Key kinds a subject can be looked up in, and the lookup use.
fn keys_for(ty: SubjectType) -> (&'static [&'static str], Use) {
    match ty {
        SubjectType::Ip => (&["cidr"], Use::Domain),
        SubjectType::Domain => (&["domain", "regexp"], Use::Domain),
        SubjectType::Address => (&["address", "regexp"], Use::Access),
        SubjectType::Local => (&["local", "regexp"], Use::Access),
        SubjectType::Number | SubjectType::Rate => (&[], Use::Access),
    }
}

fn subject_type(cx: &mut Checker, stage: usize, s: &ast::Ident) -> Option<SubjectType> {
    let Some(sub) = subjects::subject(&s.text) else {
        let mut d = Diagnostic::new(
            Code::UnknownSubject,
            s.span,
            format!("`{}` is not something a condition can test", s.text),
            "unknown subject",
        );
        let all = subjects::SUBJECTS.iter().map(|s| s.path);
        d = match did_you_mean(&s.text, all) {
            Some(c) => d.help(format!("did you mean `{c}`?")),
            None if subjects::flag_named(&s.text).is_some() => {
                d.help(format!("`{}` is a flag: test it on its own, without `in`", s.text))
            }
            None => d.help("the subjects are listed in docs/language.md under \"Conditions\""),
        };
        cx.push(d);
        return None;
    };
    check_stage(cx, stage, sub.from_stage, s);
    Some(sub.ty)
}

fn check_stage(cx: &mut Checker, stage: usize, from: usize, s: &ast::Ident) {
    if stage < from {
        cx.push(
            Diagnostic::new(
                Code::StageMismatch,
                s.span,
                format!("`{}` is not known yet at `{}`", s.text, STAGES[stage]),
                format!("known from `{}` on", STAGES[from]),
            )
            .help(format!("move this rule to `on {}` or later", STAGES[from])),
        );
    }
}

fn expr(cx: &mut Checker, stage: usize, e: &ast::Expr) {
    match &e.kind {
        ExprKind::Or(parts) | ExprKind::And(parts) => parts.iter().for_each(|p| expr(cx, stage, p)),
        ExprKind::Not(inner) => expr(cx, stage, inner),
        ExprKind::Flag(f) => match subjects::flag_named(&f.text) {
            Some(flag) => check_stage(cx, stage, flag.from_stage, f),
            None => {
                let mut d = Diagnostic::new(
                    Code::UnknownSubject,
                    f.span,
                    format!("`{}` is not a condition", f.text),
                    "unknown flag",
                );
                d = match did_you_mean(&f.text, subjects::FLAGS.iter().map(|f| f.path)) {
                    Some(c) => d.help(format!("did you mean `{c}`?")),
                    None if subjects::subject(&f.text).is_some() => {
                        d.help(format!("`{}` is a subject: test it with `in` or a comparison", f.text))
                    }
                    None => d.help("the flags are listed in docs/language.md under \"Conditions\""),
                };
                cx.push(d);
            }
        },
        ExprKind::In { subject, operand, .. } => {
            let Some(ty) = subject_type(cx, stage, subject) else { return };
            membership(cx, ty, subject, operand);
        }
        ExprKind::Compare { subject, value, .. } => {
            let Some(ty) = subject_type(cx, stage, subject) else { return };
            let ok = matches!(
                (ty, &value.kind),
                (SubjectType::Number, ValueKind::Number(_) | ValueKind::Size(_))
                    | (SubjectType::Rate, ValueKind::Rate { .. })
            );
            if !ok {
                let (is, expected) = match ty {
                    SubjectType::Number => ("a number", "a number or a size like `10MB`"),
                    SubjectType::Rate => ("a rate", "a rate like `30 per 1m`"),
                    _ => ("not a number", "nothing: test it with `in` instead"),
                };
                cx.push(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        value.span,
                        format!("`{}` is {is}, which cannot be compared with this", subject.text),
                        "wrong kind of value",
                    )
                    .label(subject.span, "this subject")
                    .help(format!("compare `{}` with {expected}", subject.text)),
                );
            }
        }
    }
}

fn membership(cx: &mut Checker, ty: SubjectType, subject: &ast::Ident, operand: &SetRef) {
    match operand {
        SetRef::Inline(values, _) => {
            for v in values {
                let ok = match (ty, &v.kind) {
                    (SubjectType::Ip, ValueKind::Cidr(t) | ValueKind::Ip(t) | ValueKind::Str(t)) => {
                        match Cidr::parse(t) {
                            Ok(_) => true,
                            Err(e) => {
                                cx.push(Diagnostic::new(Code::InvalidLiteral, v.span, e, "not a network"));
                                continue;
                            }
                        }
                    }
                    (SubjectType::Domain, ValueKind::Cidr(t) | ValueKind::Ip(t)) if subject.text == "sender.mx" => {
                        match Cidr::parse(t) {
                            Ok(_) => true,
                            Err(e) => {
                                cx.push(Diagnostic::new(Code::InvalidLiteral, v.span, e, "not a network"));
                                continue;
                            }
                        }
                    }
                    (SubjectType::Domain, ValueKind::Str(s)) => {
                        let bare = s.strip_prefix('.').unwrap_or(s);
                        mailc_stdlib::address::normalize_domain(bare).is_ok()
                    }
                    (SubjectType::Address, ValueKind::Str(s)) => mailc_stdlib::address::parse_address(s).is_ok(),
                    (SubjectType::Local, ValueKind::Str(s)) => !s.is_empty(),
                    _ => false,
                };
                if !ok {
                    cx.push(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            v.span,
                            format!("`{}` cannot be compared with this", subject.text),
                            "wrong kind of entry",
                        )
                        .label(subject.span, "this subject")
                        .help(match ty {
                            SubjectType::Ip => "write networks like `192.0.2.0/24`",
                            SubjectType::Domain => "write domains in quotes",
                            SubjectType::Address => "write addresses in quotes",
                            SubjectType::Local => "write local parts or extensions in quotes",
                            _ => "numbers are compared with `>` or `<`, not `in`",
                        }),
                    );
                }
            }
        }
        SetRef::Named(n) => {
            let Some(&i) = cx.index.get(&n.text) else {
                let want = match ty {
                    SubjectType::Ip => Want::Network,
                    SubjectType::Domain => Want::Domains,
                    _ => Want::Table,
                };
                cx.resolve(n, want);
                return;
            };
            cx.used.insert(n.text.clone());
            let fits = match (&cx.decls[i].kind, ty) {
                (DeclKind::Network(_) | DeclKind::Dnsbl(_), SubjectType::Ip) => true,
                // The MX hosts of the sender's domain, by address.
                (DeclKind::Network(_), _) if subject.text == "sender.mx" => true,
                (DeclKind::Table(t), _) if subject.text == "sender.mx" && t.key == "cidr" => true,
                (DeclKind::Domains(_) | DeclKind::Dnsbl(_), SubjectType::Domain) => true,
                (DeclKind::Table(t), SubjectType::Ip) => t.key == "cidr",
                (DeclKind::Table(t), SubjectType::Domain) => ["domain", "regexp"].contains(&t.key.as_str()),
                (DeclKind::Table(t), SubjectType::Address) => ["address", "regexp"].contains(&t.key.as_str()),
                (DeclKind::Table(t), SubjectType::Local) => ["local", "regexp"].contains(&t.key.as_str()),
                (DeclKind::Pending, _) => true,
                _ => false,
            };
            if !fits {
                let span = cx.decls[i].span;
                let what = match &cx.decls[i].kind {
                    DeclKind::Table(t) => format!("a table keyed by `{}`", t.key),
                    other => other.describe().to_string(),
                };
                let needed = match ty {
                    SubjectType::Ip => "a `network`, a `dnsbl` or a `cidr` table",
                    SubjectType::Domain => "a `domains` set, a `dnsbl` or a `domain` table",
                    SubjectType::Address => "an `address` table",
                    SubjectType::Local => "a `local` table",
                    _ => "nothing: numbers are compared, not looked up",
                };
                cx.push(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        n.span,
                        format!("`{}` is {what}, which `{}` cannot be in", n.text, subject.text),
                        format!("`{}` can be in {needed}", subject.text),
                    )
                    .label(span, format!("`{}` is declared here", n.text))
                    .help(format!("test `{}` against {needed}", subject.text)),
                );
            }
        }
    }
}

/// A condition in disjunctive normal form over atom texts, for the
/// syntactic shadowing check. Negations are kept as atoms.
fn to_dnf(cx: &Checker, e: &ast::Expr) -> Vec<Vec<String>> {
    match &e.kind {
        ExprKind::Or(parts) => parts.iter().flat_map(|p| to_dnf(cx, p)).collect(),
        ExprKind::And(parts) => {
            let mut acc: Vec<Vec<String>> = vec![Vec::new()];
            for p in parts {
                let d = to_dnf(cx, p);
                let mut next = Vec::new();
                for a in &acc {
                    for b in &d {
                        let mut c = a.clone();
                        c.extend(b.iter().cloned());
                        c.sort();
                        c.dedup();
                        next.push(c);
                    }
                }
                acc = next;
                if acc.len() > 64 {
                    // Too large to compare usefully: treat as opaque.
                    return vec![vec![normalize(cx.sources.snippet(e.span))]];
                }
            }
            acc
        }
        _ => vec![vec![normalize(cx.sources.snippet(e.span))]],
    }
}

fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An earlier rule shadows a later one when every way the later
/// condition can hold implies an earlier condition.
fn shadowing(earlier: &[(Vec<Vec<String>>, Span)], later: &[Vec<String>]) -> Option<Span> {
    let mut witness = None;
    for conj in later {
        let hit = earlier.iter().find(|(dnf, _)| dnf.iter().any(|e| e.iter().all(|atom| conj.contains(atom))));
        match hit {
            Some((_, span)) => witness = witness.or(Some(*span)),
            None => return None,
        }
    }
    witness
}

// ------------------------------------------------------------ tests

fn test_block(cx: &mut Checker, t: &ast::TestBlock) {
    if t.cases.is_empty() {
        cx.push(
            Diagnostic::new(Code::EmptySet, t.name_span, format!("test `{}` has no cases", t.name), "empty test")
                .help("add `rcpt \"...\" => ...` or a `session { ... }`"),
        );
    }
    for case in &t.cases {
        let context = match case {
            ast::TestCase::Rcpt { recipient, context, expect, .. } => {
                let (r, span) = recipient;
                if let Err(e) = mailc_stdlib::address::parse_address(r) {
                    cx.push(Diagnostic::new(
                        Code::InvalidLiteral,
                        *span,
                        format!("the test recipient {}", e.0),
                        "not an address",
                    ));
                }
                for x in expect {
                    expectation(cx, x);
                }
                context
            }
            ast::TestCase::Session { context, exchanges, .. } => {
                for x in exchanges {
                    if !(200..600).contains(&x.code) {
                        cx.push(Diagnostic::new(
                            Code::InvalidLiteral,
                            x.span,
                            format!("`{}` is not an SMTP reply code", x.code),
                            "not a reply code",
                        ));
                    }
                    if let Some(e) = &x.enhanced {
                        if !e.starts_with(&(x.code / 100).to_string()) {
                            cx.push(Diagnostic::new(
                                Code::InvalidLiteral,
                                x.span,
                                format!("the enhanced code `{e}` does not match `{}`", x.code),
                                "class differs",
                            ));
                        }
                    }
                }
                context
            }
        };
        for c in context {
            match &c.kind {
                ast::ContextKind::From(s) if !s.is_empty() => {
                    let parsed = if s.contains('@') {
                        mailc_stdlib::address::parse_address(s).map(|_| ())
                    } else {
                        mailc_stdlib::address::check_local(s)
                    };
                    if let Err(e) = parsed {
                        cx.push(
                            Diagnostic::new(
                                Code::InvalidLiteral,
                                c.span,
                                format!("the test sender {}", e.0),
                                "not an address",
                            )
                            .help("use `from \"\"` for the null sender"),
                        );
                    }
                }
                ast::ContextKind::Client { ip, .. } if ip.parse::<std::net::IpAddr>().is_err() => {
                    cx.push(Diagnostic::new(
                        Code::InvalidLiteral,
                        c.span,
                        format!("`{ip}` is not an IP address"),
                        "not an address",
                    ));
                }
                _ => {}
            }
        }
    }
}

fn expectation(cx: &mut Checker, x: &ast::Expectation) {
    match &x.kind {
        ast::ExpectKind::Reject(Some(code), Some(enh)) | ast::ExpectKind::Defer(Some(code), Some(enh))
            if !enh.starts_with(&format!("{}.", code / 100)) =>
        {
            cx.push(
                Diagnostic::new(
                    Code::ReplyClass,
                    x.span,
                    format!("the enhanced code `{enh}` is not of the class of `{code}`"),
                    "classes differ",
                )
                .help(format!("an enhanced code for `{code}` starts with `{}.`", code / 100)),
            );
        }
        ast::ExpectKind::Reject(Some(code), _) if code / 100 != 5 => {
            cx.push(
                Diagnostic::new(
                    Code::ReplyClass,
                    x.span,
                    format!("a rejection has a 5xx code, not {code}"),
                    "wrong class",
                )
                .help("expect `defer` for a 4xx reply"),
            );
        }
        ast::ExpectKind::Defer(Some(code), _) if code / 100 != 4 => {
            cx.push(
                Diagnostic::new(
                    Code::ReplyClass,
                    x.span,
                    format!("a deferral has a 4xx code, not {code}"),
                    "wrong class",
                )
                .help("expect `reject` for a 5xx reply"),
            );
        }
        ast::ExpectKind::Deliver { transport, via, to } => {
            // A test naming a transport does not make it used by the policy.
            let was_used = cx.used.contains(&transport.text);
            cx.resolve(transport, Want::Transport);
            if !was_used {
                cx.used.remove(&transport.text);
            }
            if let Some(v) = via {
                check_nexthop(cx, v, x.span);
            }
            for v in to.iter().flatten() {
                match &v.kind {
                    ValueKind::Str(s) if s.contains('|') || s.starts_with('/') => {}
                    ValueKind::Str(s) => {
                        if let Err(e) = mailc_stdlib::address::parse_address(s) {
                            cx.push(Diagnostic::new(
                                Code::InvalidLiteral,
                                v.span,
                                format!("the expected recipient {}", e.0),
                                "not an address",
                            ));
                        }
                    }
                    _ => cx.push(Diagnostic::new(
                        Code::InvalidLiteral,
                        v.span,
                        "expected an address in quotes",
                        "not an address",
                    )),
                }
            }
        }
        _ => {}
    }
}
