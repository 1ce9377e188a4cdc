//! The open-relay proof.
//!
//! Rationale. An open relay accepts mail from anyone for anywhere. The
//! proof takes the client that has the least right to relay: not in
//! `trusted_networks`, not authenticated, sending to a domain that is in
//! no domain class (we are neither its final destination nor a declared
//! relay for it). Each condition is evaluated in three-valued logic under
//! those assumptions: definitely true, definitely false, or unknown (it
//! depends on things the compiler cannot know, like the client's address
//! outside the trusted networks). Walking every stage up to `rcpt` in
//! order, a rule that definitely rejects ends the walk (safe); a rule
//! whose condition is not definitely false and that accepts is a path to
//! relaying, and the policy fails with that path shown rule by rule.
//! `check` rules accept where their table holds an accepting action for a
//! key the untrusted client or the foreign domain can match. Without an
//! `on rcpt` block the standard rules apply (Postfix's
//! smtpd_relay_restrictions), which are safe.

use mailc_lang::ast::{self, ActionKind, ExprKind, Item, RestrictionKind, SetRef, ValueKind};
use mailc_lang::Span;

use super::decls::{domain_matches, DeclKind};
use super::literal::Cidr;
use super::Checker;
use crate::diag::{Code, Diagnostic};

/// Three-valued truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        }
    }
}

struct Assumptions {
    trusted: Vec<Cidr>,
    /// Domains in a class (final or relay), normalised.
    final_domains: Vec<String>,
}

impl Assumptions {
    fn is_final(&self, domain: &str) -> bool {
        self.final_domains.iter().any(|m| domain_matches(m, domain) || m == domain)
    }
}

/// The outcome of walking one stage.
enum Walk {
    /// A rule definitely refuses: the path ends safely.
    Refused,
    /// The stage can pass (with the rules on the way).
    Passes,
    /// The stage can accept the recipient outright.
    Accepts(Vec<(Span, String)>, Span, String),
}

pub(crate) fn check_open_relay(cx: &mut Checker, items: &[Item]) {
    let before = cx.diags.len();
    prove(cx, items);
    let found = cx.diags[before..].iter().any(|d| matches!(d.code, Code::OpenRelay | Code::OpenRelayAllowed));
    if let (false, Some(reason)) = (found, cx.settings.get("allow_open_relay")) {
        let span = reason.span;
        cx.push(
            Diagnostic::new(
                Code::NeedlessOptOut,
                span,
                "`allow_open_relay` is set, but the policy is not an open relay",
                "not needed",
            )
            .help("remove it: an opt-out that allows nothing hides the day it starts to allow something"),
        );
    }
}

fn prove(cx: &mut Checker, items: &[Item]) {
    let (trusted_name, trusted) = cx.trusted();
    // A trusted network that holds every address leaves no untrusted
    // client: everyone may relay.
    if let Some(everyone) = covers_everything(&trusted) {
        let span = cx.settings.get("trusted_networks").map(|s| s.span).unwrap_or_default();
        let why = format!("`trusted_networks` holds {everyone}, so anyone may relay");
        report(cx, trusted_name.as_deref(), Vec::new(), span, why);
        return;
    }
    let final_domains = cx
        .decls
        .iter()
        .filter_map(|d| match &d.kind {
            DeclKind::Domains(set) if set.class.is_some() => Some(set.members.iter().map(|(m, _)| m.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    let a = Assumptions { trusted, final_domains };
    let stages: Vec<&ast::StageBlock> = items
        .iter()
        .filter_map(|i| match i {
            Item::Stage(s) => Some(s),
            _ => None,
        })
        .collect();
    let mut path: Vec<(Span, String)> = Vec::new();
    for name in ["connect", "helo", "mail", "rcpt"] {
        let Some(stage) = stages.iter().find(|s| s.stage.text == name) else {
            if name == "rcpt" {
                return; // the standard relay rules apply, and they are safe
            }
            continue;
        };
        match walk(cx, &a, stage) {
            Walk::Refused => return,
            // Earlier stages only have to let the client through; the path
            // shown is the one through the `rcpt` rules.
            Walk::Passes => {}
            Walk::Accepts(p, span, why) => {
                if name != "rcpt" {
                    continue;
                }
                path.extend(p);
                report(cx, trusted_name.as_deref(), path, span, why);
                return;
            }
        }
    }
}

/// Whether networks together hold every IPv4 or every IPv6 address.
fn covers_everything(nets: &[Cidr]) -> Option<&'static str> {
    for (v4, what, width) in [(true, "every IPv4 address", 32u32), (false, "every IPv6 address", 128)] {
        let mut ranges: Vec<(u128, u128)> = nets
            .iter()
            .filter(|c| c.addr.is_ipv4() == v4)
            .map(|c| {
                let start = match c.network() {
                    std::net::IpAddr::V4(a) => u32::from(a) as u128,
                    std::net::IpAddr::V6(a) => u128::from(a),
                };
                let size_bits = width - c.prefix as u32;
                let last = if size_bits >= 128 { u128::MAX } else { start + ((1u128 << size_bits) - 1) };
                (start, last)
            })
            .collect();
        ranges.sort();
        let max = if v4 { u32::MAX as u128 } else { u128::MAX };
        let mut next: Option<u128> = Some(0); // first address not yet covered
        for (start, last) in ranges {
            match next {
                Some(n) if start <= n => next = if last >= max { None } else { Some(n.max(last + 1)) },
                _ => break,
            }
        }
        if next.is_none() {
            return Some(what);
        }
    }
    None
}

fn report(cx: &mut Checker, trusted: Option<&str>, path: Vec<(Span, String)>, span: Span, why: String) {
    if let Some(reason) = cx.settings.get("allow_open_relay") {
        let at = reason.span;
        cx.push(
            Diagnostic::new(Code::OpenRelayAllowed, at, "this policy is an open relay, and says so", "open relay allowed here")
                .label(span, why)
                .help("anyone on the internet can send mail through this host; remove `allow_open_relay` unless that is really intended"),
        );
        return;
    }
    let mut d = Diagnostic::new(Code::OpenRelay, span, "an untrusted client can relay mail to any domain", why);
    // The rules the client slips past, nearest first, a few at most.
    const SHOWN: usize = 8;
    let skipped = path.len().saturating_sub(SHOWN);
    for (i, (s, text)) in path.into_iter().skip(skipped).enumerate() {
        let text = if i == 0 && skipped > 0 { format!("{text} (and {skipped} rules before it)") } else { text };
        d = d.label(s, text);
    }
    let trust = match trusted {
        Some(t) => format!("add the client to `{t}` (the `trusted_networks`)"),
        None => "set `trusted_networks` to the networks allowed to relay".to_string(),
    };
    d = d.help(format!(
        "reject recipients outside your domains before this rule (`reject 554 5.7.1 \"relay access denied\" if not recipient.final`), or {trust}; to run an open relay on purpose, set `allow_open_relay \"why\"`"
    ));
    cx.push(d);
}

fn walk(cx: &Checker, a: &Assumptions, stage: &ast::StageBlock) -> Walk {
    let mut path = Vec::new();
    for rule in &stage.rules {
        match &rule.kind {
            RestrictionKind::Default(action) => {
                return match action.kind {
                    ActionKind::Accept | ActionKind::Hold(_) | ActionKind::Continue | ActionKind::Warn(_) => {
                        Walk::Accepts(path, rule.span, "the default accepts it".into())
                    }
                    _ => Walk::Refused,
                };
            }
            RestrictionKind::Rule { action, condition } => {
                let t = condition.as_ref().map_or(Truth::True, |c| eval(cx, a, c));
                if t == Truth::False {
                    continue;
                }
                match action.kind {
                    ActionKind::Accept | ActionKind::Hold(_) => {
                        let why = if t == Truth::True {
                            "this rule accepts it".to_string()
                        } else {
                            "this rule may accept it: its condition can hold for an untrusted client".to_string()
                        };
                        return Walk::Accepts(path, rule.span, why);
                    }
                    ActionKind::Reject(_) | ActionKind::Defer(_) | ActionKind::Discard(_) if t == Truth::True => {
                        return Walk::Refused;
                    }
                    ActionKind::Reject(_) | ActionKind::Defer(_) | ActionKind::Discard(_) => {
                        path.push((rule.span, "this rule may not apply".to_string()));
                    }
                    ActionKind::Continue | ActionKind::Warn(_) => {}
                }
            }
            RestrictionKind::Check { table, subject, condition, .. } => {
                let t = condition.as_ref().map_or(Truth::True, |c| eval(cx, a, c));
                if t == Truth::False {
                    continue;
                }
                if let Some(key) = check_accepts(cx, a, table, subject) {
                    return Walk::Accepts(
                        path,
                        rule.span,
                        format!("this table accepts `{key}`, which an untrusted client or a foreign domain can match"),
                    );
                }
                path.push((rule.span, "this lookup may not hit".to_string()));
            }
        }
    }
    // A list without a default passes (its problem is reported elsewhere).
    Walk::Passes
}

/// A key of an access table that accepts and that the worst-case client
/// can match, if any.
fn check_accepts(cx: &Checker, a: &Assumptions, table: &ast::Ident, subject: &ast::Ident) -> Option<String> {
    let &i = cx.index.get(&table.text)?;
    let DeclKind::Table(t) = &cx.decls[i].kind else { return None };
    for e in 0..t.len() {
        let key = t.key(e);
        let accepts = t.values(e).any(|(v, _)| {
            let w = v.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
            // HOLD accepts the message too (it is released later).
            matches!(w.as_str(), "ok" | "accept" | "permit" | "hold")
        });
        if !accepts {
            continue;
        }
        let matchable = match subject.text.as_str() {
            "client" => match Cidr::parse(key) {
                Ok(c) => !a.trusted.iter().any(|t| t.contains(&c)),
                Err(_) => true,
            },
            "recipient.domain" => !a.is_final(key.trim_start_matches('.')),
            "recipient" => match key.rsplit_once('@') {
                Some((_, d)) if !d.is_empty() => !a.is_final(d),
                _ => true,
            },
            // Sender, helo and client name are the client's to choose.
            _ => true,
        };
        if matchable {
            return Some(key.to_string());
        }
    }
    None
}

fn eval(cx: &Checker, a: &Assumptions, e: &ast::Expr) -> Truth {
    match &e.kind {
        ExprKind::Or(parts) => {
            let mut out = Truth::False;
            for p in parts {
                match eval(cx, a, p) {
                    Truth::True => return Truth::True,
                    Truth::Unknown => out = Truth::Unknown,
                    Truth::False => {}
                }
            }
            out
        }
        ExprKind::And(parts) => {
            let mut out = Truth::True;
            for p in parts {
                match eval(cx, a, p) {
                    Truth::False => return Truth::False,
                    Truth::Unknown => out = Truth::Unknown,
                    Truth::True => {}
                }
            }
            out
        }
        ExprKind::Not(inner) => eval(cx, a, inner).not(),
        ExprKind::Flag(f) => match f.text.as_str() {
            "authenticated" | "recipient.final" => Truth::False,
            _ => Truth::Unknown,
        },
        ExprKind::In { subject, negated, operand } => {
            let t = membership(cx, a, &subject.text, operand);
            if *negated {
                t.not()
            } else {
                t
            }
        }
        ExprKind::Compare { .. } => Truth::Unknown,
    }
}

fn membership(cx: &Checker, a: &Assumptions, subject: &str, operand: &SetRef) -> Truth {
    match subject {
        "client" => {
            let nets: Vec<Cidr> = match operand {
                SetRef::Inline(values, _) => values
                    .iter()
                    .filter_map(|v| match &v.kind {
                        ValueKind::Cidr(t) | ValueKind::Ip(t) | ValueKind::Str(t) => Cidr::parse(t).ok(),
                        _ => None,
                    })
                    .collect(),
                SetRef::Named(n) => match cx.index.get(&n.text).map(|&i| &cx.decls[i].kind) {
                    Some(DeclKind::Network(net)) => net.members.iter().map(|(c, _)| *c).collect(),
                    Some(DeclKind::Table(t)) if t.key == "cidr" => {
                        (0..t.len()).filter_map(|e| Cidr::parse(t.key(e)).ok()).collect()
                    }
                    _ => return Truth::Unknown,
                },
            };
            if nets.iter().all(|n| a.trusted.iter().any(|t| t.contains(n))) {
                Truth::False
            } else {
                Truth::Unknown
            }
        }
        "recipient.domain" => {
            let domains: Vec<String> = match operand {
                SetRef::Inline(values, _) => inline_texts(values),
                SetRef::Named(n) => match cx.index.get(&n.text).map(|&i| &cx.decls[i].kind) {
                    Some(DeclKind::Domains(d)) => d.members.iter().map(|(m, _)| m.clone()).collect(),
                    Some(DeclKind::Table(t)) if t.key == "domain" => {
                        (0..t.len()).map(|e| t.key(e).to_string()).collect()
                    }
                    _ => return Truth::Unknown,
                },
            };
            if domains.iter().all(|d| a.is_final(d.trim_start_matches('.'))) {
                Truth::False
            } else {
                Truth::Unknown
            }
        }
        "recipient" => {
            let addresses: Vec<String> = match operand {
                SetRef::Inline(values, _) => inline_texts(values),
                SetRef::Named(n) => match cx.index.get(&n.text).map(|&i| &cx.decls[i].kind) {
                    Some(DeclKind::Table(t)) if t.key == "address" => {
                        (0..t.len()).map(|e| t.key(e).to_string()).collect()
                    }
                    _ => return Truth::Unknown,
                },
            };
            let all_final = addresses.iter().all(|addr| match addr.rsplit_once('@') {
                Some((_, d)) if !d.is_empty() => a.is_final(d),
                _ => false,
            });
            if all_final {
                Truth::False
            } else {
                Truth::Unknown
            }
        }
        _ => Truth::Unknown,
    }
}

/// The quoted entries of an inline list, lowercased.
fn inline_texts(values: &[ast::Value]) -> Vec<String> {
    values
        .iter()
        .filter_map(|v| match &v.kind {
            ValueKind::Str(s) => Some(s.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}
