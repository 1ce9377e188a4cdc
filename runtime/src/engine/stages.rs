//! SMTP stages: the restriction lists of `connect` ... `end_of_data`.
//!
//! Rationale. A stage's rules are read top to bottom: the first rule
//! whose condition holds and whose action decides ends the stage (accept
//! passes it; reject and defer refuse); `continue` and `warn` go on. With
//! `delay_reject` (the default, Postfix's smtpd_delay_reject) the client,
//! helo and sender stages are evaluated at RCPT time, in session order, so
//! their refusal names the recipient; then `rcpt`, then the recipient
//! rules. Without an `on rcpt` block Postfix's smtpd_relay_restrictions
//! apply. A DNS answer that does not come (temporary failure) defers, as
//! Postfix's unknown_address_tempfail_action does.

use mailc_artifact::graph::{self as g, Action, Expr, RestrictionKind, SetOperand};
use mailc_artifact::tables::{in_ranges, ip_bits};
use mailc_stdlib::lookup::{default_order, Use};

use super::address::{self, Recipient};
use super::dns::{Answer, Query, Resolver};
use super::resolve::{form_keys, Reply, Resolution};
use super::{parents, Context, Engine, Trace, TraceStep};

/// Counters and events of the session the conditions may test.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Recipients accepted so far in this transaction.
    pub recipient_count: u64,
    /// Message size (SIZE parameter until the end of data).
    pub message_size: u64,
    /// Header size (end of data).
    pub header_size: u64,
    /// Connections from this client in the rule's window.
    pub connection_rate: u64,
    /// Messages from this client in the rule's window.
    pub message_rate: u64,
    /// Recipients from this client in the rule's window.
    pub recipient_rate: u64,
    /// Sessions this client has open.
    pub concurrency: u64,
    /// The client sent before the greeting.
    pub talked_early: bool,
    /// The client pipelined without being offered PIPELINING.
    pub pipelined_early: bool,
}

/// A stage's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Passed.
    Pass,
    /// Passed; the message goes on hold.
    Hold,
    /// Passed; the message is thrown away.
    Discard,
    /// Refused permanently.
    Reject(Reply),
    /// Refused for now.
    Defer(Reply),
}

struct TempFail;

type Truth = Result<bool, TempFail>;

fn reply(code: u16, enhanced: &str, text: &str) -> Reply {
    Reply { code, enhanced: enhanced.to_string(), text: text.to_string() }
}

impl Engine {
    /// Evaluates one stage's rules. `recipient` is known from `rcpt` on.
    pub fn stage(
        &self,
        stage: &str,
        ctx: &Context,
        facts: &Facts,
        recipient: Option<&str>,
        dns: &dyn Resolver,
        mut trace: Option<&mut Trace>,
    ) -> Verdict {
        let r = recipient.and_then(|a| address::parse(a, &self.delimiters).ok());
        let Some(block) = self.graph().stages.iter().find(|s| s.stage == stage) else {
            if stage == "rcpt" {
                return self.standard_relay_rules(ctx, r.as_ref(), trace);
            }
            return Verdict::Pass;
        };
        for rule in &block.rules {
            let (action, condition, check) = match &rule.kind {
                RestrictionKind::Rule { action, condition } => (Some(action), condition.as_ref(), None),
                RestrictionKind::Default(action) => (Some(action), None, None),
                RestrictionKind::Check { lookup, subject, condition } => {
                    (None, condition.as_ref(), Some((lookup, subject)))
                }
            };
            let holds = match condition.map(|c| self.eval(c, ctx, facts, r.as_ref(), dns)) {
                None => Ok(true),
                Some(t) => t,
            };
            let holds = match holds {
                Ok(h) => h,
                Err(TempFail) => {
                    let rep = reply(450, "4.7.1", "temporary DNS failure, try again later");
                    self.note_stage(&mut trace, &rule.origin, "a DNS answer did not come: deferred");
                    return Verdict::Defer(rep);
                }
            };
            if !holds {
                self.note_stage(&mut trace, &rule.origin, "does not apply");
                continue;
            }
            let action = match (action, check) {
                (Some(a), _) => a.clone(),
                (None, Some((lookup, subject))) => match self.check(lookup, subject, ctx, r.as_ref(), dns) {
                    Some((key, value)) => {
                        self.note_stage(&mut trace, &rule.origin, &format!("table hit for `{key}`: `{value}`"));
                        access_action(&value)
                    }
                    None => {
                        self.note_stage(&mut trace, &rule.origin, "no table entry");
                        continue;
                    }
                },
                (None, None) => continue,
            };
            let verdict = match action {
                Action::Accept => Verdict::Pass,
                Action::Continue | Action::Warn(_) => {
                    self.note_stage(&mut trace, &rule.origin, "applies: continue");
                    continue;
                }
                Action::Hold(_) => Verdict::Hold,
                Action::Discard(_) => Verdict::Discard,
                Action::Reject(rep) => {
                    Verdict::Reject(self.stage_reply(rep.as_ref(), 554, "5.7.1", "Access denied", ctx, r.as_ref()))
                }
                Action::Defer(rep) => {
                    Verdict::Defer(self.stage_reply(rep.as_ref(), 450, "4.7.1", "Try again later", ctx, r.as_ref()))
                }
            };
            self.note_stage(&mut trace, &rule.origin, &format!("decides: {}", describe(&verdict)));
            return verdict;
        }
        Verdict::Pass
    }

    /// The decision for one recipient at RCPT time: the delayed stages,
    /// `rcpt`, then the recipient rules.
    pub fn rcpt(
        &self,
        ctx: &Context,
        facts: &Facts,
        recipient: &str,
        dns: &dyn Resolver,
        mut trace: Option<&mut Trace>,
    ) -> (Resolution, Verdict) {
        let delay = !matches!(self.graph().setting("delay_reject"), Some(g::Value::Bool(false)));
        let stages: &[&str] = if delay { &["connect", "helo", "mail", "rcpt"] } else { &["rcpt"] };
        let mut kept = Verdict::Pass;
        for stage in stages {
            match self.stage(stage, ctx, facts, Some(recipient), dns, trace.as_deref_mut()) {
                Verdict::Reject(r) => return (Resolution::Rejected(r.clone()), Verdict::Reject(r)),
                Verdict::Defer(r) => return (Resolution::Deferred(r.clone()), Verdict::Defer(r)),
                v @ (Verdict::Hold | Verdict::Discard) => kept = v,
                Verdict::Pass => {}
            }
        }
        (self.resolve(ctx, recipient, trace), kept)
    }

    fn note_stage(&self, trace: &mut Option<&mut Trace>, origin: &g::Origin, event: &str) {
        if let Some(t) = trace.as_deref_mut() {
            t.steps.push(TraceStep { depth: 0, origin: Some(self.cite(origin)), event: event.to_string() });
        }
    }

    /// Postfix's smtpd_relay_restrictions: permit_mynetworks,
    /// permit_sasl_authenticated, reject_unauth_destination.
    fn standard_relay_rules(&self, ctx: &Context, r: Option<&Recipient>, trace: Option<&mut Trace>) -> Verdict {
        let trusted = match self.graph().setting("trusted_networks") {
            Some(g::Value::Network(n)) => ctx.client_ip.as_deref().is_some_and(|ip| self.in_network(*n, ip)),
            _ => false,
        };
        let final_domain = r.is_some_and(|r| self.domain_class(&r.domain).is_some());
        let verdict = if trusted || ctx.authenticated.is_some() || final_domain {
            Verdict::Pass
        } else {
            let to = r.map(|r| r.address()).unwrap_or_default();
            Verdict::Reject(reply(554, "5.7.1", &format!("<{to}>: Relay access denied")))
        };
        if let Some(t) = trace {
            t.steps.push(TraceStep {
                depth: 0,
                origin: None,
                event: format!("no `on rcpt` block: the standard relay rules decide: {}", describe(&verdict)),
            });
        }
        verdict
    }

    fn stage_reply(
        &self,
        rep: Option<&g::Reply>,
        code: u16,
        enhanced: &str,
        text: &str,
        ctx: &Context,
        r: Option<&Recipient>,
    ) -> Reply {
        match rep {
            Some(rep) => Reply {
                code: rep.code,
                enhanced: rep.enhanced.clone().unwrap_or_else(|| format!("{}.0.0", rep.code / 100)),
                text: rep.text.as_deref().map_or_else(|| text.to_string(), |t| self.fill(t, r, ctx)),
            },
            None => reply(code, enhanced, text),
        }
    }

    fn eval(&self, e: &Expr, ctx: &Context, facts: &Facts, r: Option<&Recipient>, dns: &dyn Resolver) -> Truth {
        Ok(match e {
            Expr::Or(parts) => {
                for p in parts {
                    if self.eval(p, ctx, facts, r, dns)? {
                        return Ok(true);
                    }
                }
                false
            }
            Expr::And(parts) => {
                for p in parts {
                    if !self.eval(p, ctx, facts, r, dns)? {
                        return Ok(false);
                    }
                }
                true
            }
            Expr::Not(x) => !self.eval(x, ctx, facts, r, dns)?,
            Expr::Flag(f) => self.flag(f, ctx, facts, r, dns)?,
            Expr::Compare { subject, op, value, .. } => {
                let have = match subject.as_str() {
                    "recipient.count" => facts.recipient_count,
                    "message.size" => facts.message_size,
                    "message.header_size" => facts.header_size,
                    "client.connection_rate" => facts.connection_rate,
                    "client.message_rate" => facts.message_rate,
                    "client.recipient_rate" => facts.recipient_rate,
                    "client.concurrency" => facts.concurrency,
                    _ => 0,
                };
                match op.as_str() {
                    ">" => have > *value,
                    ">=" => have >= *value,
                    "<" => have < *value,
                    "<=" => have <= *value,
                    "==" => have == *value,
                    _ => have != *value,
                }
            }
            Expr::In { subject, negated, set } => self.member(subject, set, ctx, r, dns)? != *negated,
        })
    }

    fn flag(&self, f: &str, ctx: &Context, facts: &Facts, r: Option<&Recipient>, dns: &dyn Resolver) -> Truth {
        let sender = &ctx.sender;
        let sender_domain = sender.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
        Ok(match f {
            "authenticated" => ctx.authenticated.is_some(),
            "tls" => ctx.tls,
            "client.name_known" => ctx.client_name.is_some(),
            "client.name_verified" => match (&ctx.client_name, &ctx.client_ip) {
                (Some(name), Some(ip)) => records(dns, Query::Addresses(name.clone()))?.iter().any(|a| a == ip),
                _ => false,
            },
            "client.parent_mx_is_us" => match ctx.client_name.as_deref().and_then(|n| n.split_once('.')) {
                Some((_, parent)) => self.mx_is_us(parent, dns)?,
                None => false,
            },
            "client.talked_early" => facts.talked_early,
            "client.pipelined_early" => facts.pipelined_early,
            "helo.given" => ctx.helo.is_some(),
            "helo.valid" => ctx.helo.as_deref().is_some_and(valid_host),
            "helo.fqdn" => ctx
                .helo
                .as_deref()
                .is_some_and(|h| h.starts_with('[') && valid_host(h) || (h.contains('.') && valid_host(h))),
            "helo.resolves" => match &ctx.helo {
                Some(h) => has_records(dns, h)?,
                None => false,
            },
            // Postfix skips these checks for the null sender.
            "sender.null" => sender.is_empty(),
            "sender.has_at" => sender.is_empty() || sender.contains('@'),
            "sender.fqdn" => sender.is_empty() || sender_domain.as_deref().is_some_and(|d| d.contains('.')),
            "sender.domain_resolves" => match &sender_domain {
                _ if sender.is_empty() => true,
                Some(d) => has_records(dns, d)?,
                None => false,
            },
            "sender.mx_is_us" => match &sender_domain {
                Some(d) => self.mx_is_us(d, dns)?,
                None => false,
            },
            "recipient.has_at" => r.is_some(),
            "recipient.fqdn" => r.is_some_and(|r| r.domain.contains('.') || r.domain.starts_with('[')),
            "recipient.final" => r.is_some_and(|r| self.domain_class(&r.domain).is_some()),
            "recipient.known" => {
                r.is_some_and(|r| matches!(self.resolve(ctx, &r.address(), None), Resolution::Accepted(_)))
            }
            _ => false,
        })
    }

    /// Whether a domain's MX hosts include this host.
    fn mx_is_us(&self, domain: &str, dns: &dyn Resolver) -> Truth {
        for host in records(dns, Query::Mx(domain.to_string()))? {
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            if host == self.origin_domain || self.graph().setting("hostname") == Some(&g::Value::Text(host.clone())) {
                return Ok(true);
            }
            for ip in records(dns, Query::Addresses(host))? {
                if ip.parse().ok().map(ip_bits).is_some_and(|b| self.our_addresses.contains(&b)) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The texts a subject stands for (several for `sender.mx`).
    fn subject_values(
        &self,
        subject: &str,
        ctx: &Context,
        r: Option<&Recipient>,
        dns: &dyn Resolver,
    ) -> Result<Vec<String>, TempFail> {
        let sender = address::parse(&ctx.sender, &self.delimiters).ok();
        let one = |v: Option<String>| Ok(v.into_iter().collect());
        match subject {
            "client" => one(ctx.client_ip.clone()),
            "client.name" => one(Some(ctx.client_name.clone().unwrap_or_else(|| "unknown".into()))),
            "helo" => one(ctx.helo.as_ref().map(|h| h.to_ascii_lowercase())),
            "sender" => {
                one(sender.as_ref().map(Recipient::key).or_else(|| ctx.sender.is_empty().then(|| "<>".to_string())))
            }
            "sender.local" => one(sender.as_ref().map(|s| s.user.clone())),
            "sender.ext" => one(sender.as_ref().and_then(|s| s.ext.clone())),
            "sender.domain" => one(sender.as_ref().map(|s| s.domain.clone())),
            "sender.mx" => match &sender {
                Some(s) => records(dns, Query::Mx(s.domain.clone())),
                None => Ok(Vec::new()),
            },
            "recipient" => one(r.map(Recipient::key)),
            "recipient.local" => one(r.map(|r| r.user.clone())),
            "recipient.ext" => one(r.and_then(|r| r.ext.clone())),
            "recipient.domain" => one(r.map(|r| r.domain.clone())),
            _ => Ok(Vec::new()),
        }
    }

    fn member(
        &self,
        subject: &str,
        set: &SetOperand,
        ctx: &Context,
        r: Option<&Recipient>,
        dns: &dyn Resolver,
    ) -> Truth {
        let values = self.subject_values(subject, ctx, r, dns)?;
        // Networks match addresses; for `sender.mx` the MX hosts' addresses.
        let ips = |values: &[String]| -> Result<Vec<u128>, TempFail> {
            let mut out: Vec<u128> = values.iter().filter_map(|v| v.parse().ok()).map(ip_bits).collect();
            if subject == "sender.mx" {
                for host in values {
                    out.extend(
                        records(dns, Query::Addresses(host.clone()))?
                            .iter()
                            .filter_map(|a| a.parse().ok())
                            .map(ip_bits),
                    );
                }
            }
            Ok(out)
        };
        Ok(match set {
            SetOperand::Network(n) => {
                let ranges = self.networks.get(*n as usize);
                ips(&values)?.iter().any(|ip| ranges.is_some_and(|r| in_ranges(r, *ip)))
            }
            SetOperand::Ranges(list) => ips(&values)?.iter().any(|ip| list.iter().any(|(a, b)| a <= ip && ip <= b)),
            SetOperand::DomainSet(s) => values.iter().any(|v| self.set_contains(*s, v)),
            SetOperand::Texts(list) => {
                values.iter().any(|v| list.iter().any(|t| t == v || (t.starts_with('.') && v.ends_with(t.as_str()))))
            }
            SetOperand::Table(t) => {
                let Some(meta) = self.graph().tables.get(*t as usize) else { return Ok(false) };
                if meta.key == "cidr" {
                    let table = &self.tables[*t as usize];
                    return Ok(values.iter().any(|v| table.contains(v))
                        || (subject == "sender.mx" && ips(&values)?.iter().any(|ip| table.contains(&ip_text(*ip)))));
                }
                let order: Vec<String> = default_order(Use::Access, &meta.key).iter().map(|s| s.to_string()).collect();
                let lookup = g::Lookup { table: *t, order };
                values.iter().any(|v| self.table_get(&lookup, v, r).is_some())
            }
            SetOperand::Dnsbl(i) => {
                let Some(list) = self.graph().dnsbls.get(*i as usize) else { return Ok(false) };
                let mut listed = false;
                for v in &values {
                    let name = match v.parse::<std::net::IpAddr>() {
                        Ok(ip) => format!("{}.{}", reversed(ip), list.zone),
                        Err(_) => format!("{v}.{}", list.zone),
                    };
                    for a in records(dns, Query::Addresses(name))? {
                        let Ok(ip) = a.parse() else { continue };
                        let ip = ip_bits(ip);
                        let counts = if list.answers.is_empty() {
                            // Any 127.0.0.0/8 answer means listed.
                            (ip >> 24) == (0xffff_7f00_0000u128 >> 24)
                        } else {
                            list.answers.iter().any(|(a, b)| *a <= ip && ip <= *b)
                        };
                        listed |= counts;
                    }
                }
                listed
            }
        })
    }

    /// Looks a subject value up in a table with a lookup order.
    fn table_get(&self, lookup: &g::Lookup, value: &str, r: Option<&Recipient>) -> Option<(String, Vec<String>)> {
        let table = self.tables.get(lookup.table as usize)?;
        let meta = self.graph().tables.get(lookup.table as usize)?;
        if meta.key == "regexp" || meta.key == "cidr" {
            return table.get(value).map(|v| (value.to_string(), v.into_iter().map(|c| c.into_owned()).collect()));
        }
        // An address value uses the address forms; a domain or a local
        // part is looked up as itself and, for domains, its parents.
        let as_address = if value.contains('@') { address::parse(value, &self.delimiters).ok() } else { None };
        let keys: Vec<String> = match &as_address {
            Some(a) => {
                let is_local = r.is_some_and(|r| r.key() == a.key()) && self.domain_class(&a.domain) == Some("local");
                lookup.order.iter().flat_map(|f| form_keys(f, a, is_local, meta.key == "local")).collect()
            }
            None => std::iter::once(value.to_string())
                .chain(if meta.key == "domain" { parents(value).map(str::to_string).collect() } else { Vec::new() })
                .collect(),
        };
        keys.into_iter().find_map(|k| table.get(&k).map(|v| (k, v.into_iter().map(|c| c.into_owned()).collect())))
    }

    fn check(
        &self,
        lookup: &g::Lookup,
        subject: &str,
        ctx: &Context,
        r: Option<&Recipient>,
        dns: &dyn Resolver,
    ) -> Option<(String, String)> {
        let values = self.subject_values(subject, ctx, r, dns).ok()?;
        values.iter().find_map(|v| self.table_get(lookup, v, r).map(|(k, vals)| (k, vals.join(" "))))
    }
}

/// An access(5) value as an action.
fn access_action(value: &str) -> Action {
    let (word, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    let rest = rest.trim();
    let with_reply = |code: u16, enhanced: &str, default: &str| {
        let text = if rest.is_empty() { default.to_string() } else { rest.to_string() };
        Some(g::Reply { code, enhanced: Some(enhanced.to_string()), text: Some(text) })
    };
    let coded = |v: &str| -> Option<g::Reply> {
        let mut parts = v.splitn(3, ' ');
        let code: u16 = parts.next()?.parse().ok()?;
        let second = parts.next().unwrap_or("");
        let (enhanced, text) = if second.split('.').count() == 3 {
            (Some(second.to_string()), parts.next().unwrap_or("").to_string())
        } else {
            (None, [second, parts.next().unwrap_or("")].join(" ").trim().to_string())
        };
        Some(g::Reply { code, enhanced, text: Some(text) })
    };
    match word.to_ascii_lowercase().as_str() {
        "ok" | "accept" | "permit" => Action::Accept,
        "reject" => Action::Reject(coded(rest).or_else(|| with_reply(554, "5.7.1", "Access denied"))),
        "defer" => Action::Defer(coded(rest).or_else(|| with_reply(450, "4.7.1", "Try again later"))),
        "hold" => Action::Hold(None),
        "discard" => Action::Discard(None),
        "warn" => Action::Warn(rest.to_string()),
        w if w.starts_with('4') => Action::Defer(coded(value)),
        w if w.starts_with('5') => Action::Reject(coded(value)),
        _ => Action::Continue,
    }
}

fn describe(v: &Verdict) -> String {
    match v {
        Verdict::Pass => "accept".into(),
        Verdict::Hold => "accept and hold".into(),
        Verdict::Discard => "accept and discard".into(),
        Verdict::Reject(r) => format!("reject {r}"),
        Verdict::Defer(r) => format!("defer {r}"),
    }
}

fn records(dns: &dyn Resolver, q: Query) -> Result<Vec<String>, TempFail> {
    match dns.resolve(&q) {
        Answer::Records(r) => Ok(r),
        Answer::None => Ok(Vec::new()),
        Answer::TempFail => Err(TempFail),
    }
}

fn has_records(dns: &dyn Resolver, name: &str) -> Truth {
    Ok(!records(dns, Query::Mx(name.to_string()))?.is_empty()
        || !records(dns, Query::Addresses(name.to_string()))?.is_empty())
}

/// RFC 1123 host names and address literals.
fn valid_host(h: &str) -> bool {
    mailc_stdlib::address::check_domain(h).is_ok()
}

fn reversed(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(a) => a.octets().iter().rev().map(|o| o.to_string()).collect::<Vec<_>>().join("."),
        std::net::IpAddr::V6(a) => {
            let hex: String = a.octets().iter().map(|b| format!("{b:02x}")).collect();
            hex.chars().rev().map(|c| c.to_string()).collect::<Vec<_>>().join(".")
        }
    }
}

fn ip_text(bits: u128) -> String {
    let v6 = std::net::Ipv6Addr::from(bits);
    match v6.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => v6.to_string(),
    }
}
