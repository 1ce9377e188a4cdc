//! Recipient resolution: one address in, final recipients or a refusal out.
//!
//! Rationale. The recipient rules are read top to bottom. A rule without
//! a matcher is a filter: its steps run, and when none decides the
//! recipient goes on to the next rule. The first rule whose matcher holds
//! decides: its steps run in order; a lookup that hits either decides
//! (relocated, route) or expands (expand), and each expansion result is
//! resolved again from the top, one level deeper. An address that expands
//! to itself is not expanded again: it goes on to the rule's next step
//! (Postfix: "an address that expands to itself is delivered"). Final
//! recipients are collected once each; the depth and the number of final
//! recipients are bounded by the policy's limits. A refusal of the
//! recipient itself is the answer; a refusal of an address it expanded to
//! becomes a bounce for that address only, as at delivery time.

use std::borrow::Cow;
use std::collections::HashSet;

use mailc_artifact::graph::{self as g, Lookup, Matcher, StepKind};

use super::address::{self, Recipient};
use super::rewrite::{Part, Role};
use super::{parents, Context, Engine, Trace, TraceStep};

/// An SMTP reply with its text filled in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reply {
    /// Three-digit code.
    pub code: u16,
    /// RFC 3463 enhanced code.
    pub enhanced: String,
    /// The text.
    pub text: String,
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.code, self.enhanced, self.text)
    }
}

/// What happens to a final recipient.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// Delivered by a transport, maybe via a next hop.
    Deliver {
        /// Transport index.
        transport: u32,
        /// Next hop.
        nexthop: Option<String>,
    },
    /// Thrown away.
    Discard,
    /// Kept on hold.
    Hold,
    /// An alias `|command`.
    Command(String),
    /// An alias `/file`.
    File(String),
    /// An alias `:include:` list, read at delivery.
    Include(String),
    /// Returned to the sender with this reply.
    Bounce(Reply),
    /// Tried again later.
    Defer(Reply),
}

/// One final recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Final {
    /// The address delivered to (local part as written).
    pub recipient: String,
    /// The recipient as the client gave it.
    pub original: String,
    /// What happens to it.
    pub disposition: Disposition,
    /// The addresses it was expanded through, first to last.
    pub chain: Vec<String>,
}

/// The answer for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Accepted, with its final recipients.
    Accepted(Vec<Final>),
    /// Refused permanently.
    Rejected(Reply),
    /// Refused for now.
    Deferred(Reply),
}

enum Refusal {
    Reject(Reply),
    Defer(Reply),
}

enum Flow {
    Pass,
    /// Passed on, and an expansion included the address itself: what
    /// happens to it from here on is that copy's fate, not a refusal of
    /// the recipient.
    PassItself,
    Done,
}

struct Walk<'a> {
    original: String,
    finals: Vec<Final>,
    seen: HashSet<(String, Disposition)>,
    trace: Option<&'a mut Trace>,
    ctx: &'a Context,
    too_many: bool,
    /// Scratch space for lookup keys.
    buf: String,
}

fn reply(code: u16, enhanced: &str, text: String) -> Reply {
    Reply { code, enhanced: enhanced.to_string(), text }
}

impl Engine {
    /// Resolves one recipient; fills `trace` when given.
    pub fn resolve(&self, ctx: &Context, recipient: &str, mut trace: Option<&mut Trace>) -> Resolution {
        // Canonical mapping and masquerading of the envelope recipient come
        // first, as in Postfix's cleanup; the rules see the result.
        let rewritten = self.rewrite(Role::Recipient, Part::Envelope, recipient, trace.as_deref_mut());
        let mut w = Walk {
            original: recipient.to_string(),
            finals: Vec::new(),
            seen: HashSet::new(),
            trace,
            ctx,
            too_many: false,
            buf: String::new(),
        };
        let outcome = self.address(&rewritten, 0, &mut Vec::new(), &mut w);
        match outcome {
            Err(Refusal::Reject(r)) => Resolution::Rejected(r),
            Err(Refusal::Defer(r)) => Resolution::Deferred(r),
            Ok(()) if w.too_many => Resolution::Rejected(reply(
                554,
                "5.4.6",
                format!("<{recipient}>: expands to more than {} recipients", self.fanout_limit),
            )),
            Ok(()) => Resolution::Accepted(w.finals),
        }
    }

    fn note(&self, w: &mut Walk, depth: usize, origin: Option<&g::Origin>, event: impl FnOnce() -> String) {
        if let Some(t) = w.trace.as_deref_mut() {
            let origin = origin.map(|o| self.cite(o));
            t.steps.push(TraceStep { depth, origin, event: event() });
        }
    }

    fn add_final(&self, w: &mut Walk, r: &Recipient, chain: &[String], disposition: Disposition) {
        if w.finals.len() >= self.fanout_limit {
            w.too_many = true;
            return;
        }
        if w.seen.insert((r.key(), disposition.clone())) {
            w.finals.push(Final {
                recipient: r.address(),
                original: w.original.clone(),
                disposition,
                chain: chain.to_vec(),
            });
        }
    }

    /// Resolves one address at `depth`; `chain` holds the addresses that
    /// led here.
    fn address(&self, text: &str, depth: usize, chain: &mut Vec<String>, w: &mut Walk) -> Result<(), Refusal> {
        let r = match address::parse(text, &self.delimiters) {
            Ok(r) => r,
            Err(e) => {
                let rep = reply(501, "5.1.3", format!("<{text}>: Recipient address rejected: {e}"));
                self.note(w, depth, None, || format!("`{text}` is not a valid address: {e}"));
                return self.refuse_or_bounce(depth, text, chain, w, Refusal::Reject(rep));
            }
        };
        if depth > self.depth_limit {
            let rep =
                reply(554, "5.4.6", format!("<{}>: mail forwarding loop: expansion nested too deep", r.address()));
            return self.refuse_or_bounce(depth, text, chain, w, Refusal::Reject(rep));
        }
        // Which domain sets hold the domain, asked once for the class and
        // for every `domain SET =>` rule.
        let sets = self.graph().domain_sets.len();
        let mut member: Vec<Option<bool>> = vec![None; sets];
        let mut in_set = |s: u32| *member[s as usize].get_or_insert_with(|| self.set_contains(s, &r.domain));
        let class = if r.domain.starts_with('[') {
            self.domain_class(&r.domain)
        } else {
            let g = self.graph();
            (0..sets as u32)
                .find(|&i| g.domain_sets[i as usize].class.is_some() && in_set(i))
                .and_then(|i| g.domain_sets[i as usize].class.as_deref())
        };
        // The depth at which a refusal counts: deeper once the address has
        // expanded to itself (see `Flow::PassItself`).
        let mut fate = depth;
        self.note(w, depth, None, || match class {
            Some(c) => format!("`{}`: domain `{}` is {c}", r.address(), r.domain),
            None => format!("`{}`: domain `{}` is in no domain class", r.address(), r.domain),
        });
        for rule in &self.graph().recipient {
            let applies = match &rule.matcher {
                Matcher::All | Matcher::Default => true,
                Matcher::DomainSet(s) if (*s as usize) < sets => in_set(*s),
                Matcher::DomainSet(_) => false,
                Matcher::Domains(list) => {
                    list.iter().any(|d| *d == r.domain || parents(&r.domain).any(|p| p == d.as_str()))
                }
                Matcher::Address(t) => self.tables.get(*t as usize).is_some_and(|tab| tab.contains(&r.key())),
            };
            if !applies {
                continue;
            }
            self.note(w, depth, Some(&rule.origin), || "rule matches:".to_string());
            let flow = self.steps(&rule.steps, &r, class, fate, chain, w);
            match flow? {
                Flow::Done => return Ok(()),
                Flow::PassItself => fate = depth + 1,
                Flow::Pass => {}
            }
            if !matches!(rule.matcher, Matcher::All) {
                break;
            }
        }
        // A matched rule that decided nothing (the checker prevents it), or
        // no rule at all: the recipient is unknown.
        let rep = reply(550, "5.1.1", format!("<{}>: Recipient address rejected: User unknown", r.address()));
        self.refuse_or_bounce(fate, text, chain, w, Refusal::Reject(rep))
    }

    /// A refusal of the recipient itself is returned; one of an address
    /// it expanded to becomes that address's bounce.
    fn refuse_or_bounce(
        &self,
        depth: usize,
        text: &str,
        chain: &[String],
        w: &mut Walk,
        refusal: Refusal,
    ) -> Result<(), Refusal> {
        if depth == 0 {
            return Err(refusal);
        }
        let disposition = match refusal {
            Refusal::Reject(r) => Disposition::Bounce(r),
            Refusal::Defer(r) => Disposition::Defer(r),
        };
        let r = address::parse(text, &self.delimiters).unwrap_or(Recipient {
            local: text.to_string(),
            domain: String::new(),
            key_local: text.to_lowercase(),
            user: text.to_lowercase(),
            ext: None,
            ext_as_written: None,
            delimiter: None,
        });
        self.add_final(w, &r, chain, disposition);
        Ok(())
    }

    /// Refuses the address a step is deciding on; the rule is done.
    fn refuse_step(
        &self,
        depth: usize,
        r: &Recipient,
        chain: &[String],
        w: &mut Walk,
        refusal: Refusal,
    ) -> Result<Flow, Refusal> {
        self.refuse_or_bounce(depth, &r.address(), chain, w, refusal)?;
        Ok(Flow::Done)
    }

    fn steps(
        &self,
        steps: &[g::Step],
        r: &Recipient,
        class: Option<&str>,
        depth: usize,
        chain: &mut Vec<String>,
        w: &mut Walk,
    ) -> Result<Flow, Refusal> {
        let mut depth = depth;
        let mut itself = false;
        for step in steps {
            match self.step(step, r, class, depth, chain, w)? {
                Flow::Done => return Ok(Flow::Done),
                Flow::PassItself => {
                    itself = true;
                    depth += 1;
                }
                Flow::Pass => {}
            }
        }
        Ok(if itself { Flow::PassItself } else { Flow::Pass })
    }

    fn step(
        &self,
        step: &g::Step,
        r: &Recipient,
        class: Option<&str>,
        depth: usize,
        chain: &mut Vec<String>,
        w: &mut Walk,
    ) -> Result<Flow, Refusal> {
        // The step first, then the keys it tries and what it does.
        self.note(w, depth, Some(&step.origin), String::new);
        let o: Option<&g::Origin> = None;
        let is_local = class == Some("local");
        match &step.kind {
            StepKind::Relocated(l) => {
                let Some((values, _)) = self.lookup(l, r, is_local, depth, w) else { return Ok(Flow::Pass) };
                let new = values.first().map(|v| v.to_string()).unwrap_or_default();
                self.note(w, depth, o, || format!("relocated to `{new}`"));
                // relocated(5), as LANGUAGE.md fixes it: 551 with the new address.
                let rep = reply(
                    551,
                    "5.1.6",
                    format!("<{}>: Recipient address rejected: User has moved to {new}", r.address()),
                );
                self.refuse_step(depth, r, chain, w, Refusal::Reject(rep))
            }
            StepKind::Expand { lookup, propagate_extension, catchall_keeps_local, otherwise } => {
                let Some((values, form)) = self.lookup(lookup, r, is_local, depth, w) else {
                    return match otherwise {
                        Some(s) => self.step(s, r, class, depth, chain, w),
                        None => Ok(Flow::Pass),
                    };
                };
                let mut itself = false;
                chain.push(r.address());
                // An `:include:` list read at compile time expands to its
                // addresses, like the alias's own targets.
                let values: Vec<Cow<'_, str>> = values
                    .into_iter()
                    .flat_map(|v| match self.graph().includes.iter().find(|i| i.target == v) {
                        Some(list) => list.addresses.iter().map(|a| Cow::Borrowed(a.as_str())).collect(),
                        None => vec![v],
                    })
                    .collect();
                for v in &values {
                    let target = self.target(v, r, &form, *propagate_extension, *catchall_keeps_local, is_local);
                    if let Some(special) = special_target(&target) {
                        self.note(w, depth, o, || format!("expands to `{target}`"));
                        self.add_final(w, r, chain, special);
                        continue;
                    }
                    if same_address(&target, r, &self.delimiters) {
                        self.note(w, depth, o, || format!("expands to itself (`{target}`): not expanded again"));
                        itself = true;
                        continue;
                    }
                    self.note(w, depth, o, || format!("expands to `{target}`"));
                    self.address(&target, depth + 1, chain, w)?;
                }
                chain.pop();
                Ok(if itself { Flow::PassItself } else { Flow::Done })
            }
            StepKind::Require { lookup, otherwise } => {
                if self.lookup(lookup, r, is_local, depth, w).is_some() {
                    return Ok(Flow::Pass);
                }
                match otherwise {
                    Some(s) => self.step(s, r, class, depth, chain, w),
                    None => {
                        let rep =
                            reply(550, "5.1.1", format!("<{}>: Recipient address rejected: User unknown", r.address()));
                        self.refuse_step(depth, r, chain, w, Refusal::Reject(rep))
                    }
                }
            }
            StepKind::Route { lookup, otherwise } => {
                let Some((values, _)) = self.lookup(lookup, r, is_local, depth, w) else {
                    return match otherwise {
                        Some(s) => self.step(s, r, class, depth, chain, w),
                        None => Ok(Flow::Pass),
                    };
                };
                let route = values.first().map(|v| v.to_string()).unwrap_or_default();
                let (name, hop) = match route.split_once(':') {
                    Some((n, h)) => (n, Some(h.to_string()).filter(|h| !h.is_empty())),
                    None => (route.as_str(), None),
                };
                match self.transports.get(name) {
                    Some(&transport) => {
                        self.note(w, depth, o, || {
                            format!(
                                "routed to `{name}`{}",
                                hop.as_ref().map(|h| format!(" via {h}")).unwrap_or_default()
                            )
                        });
                        self.add_final(w, r, chain, Disposition::Deliver { transport, nexthop: hop });
                    }
                    None => {
                        let rep = reply(
                            451,
                            "4.3.0",
                            format!("<{}>: unknown transport `{name}` in a route table", r.address()),
                        );
                        self.refuse_or_bounce(depth, &r.address(), chain, w, Refusal::Defer(rep))?;
                    }
                }
                Ok(Flow::Done)
            }
            StepKind::Deliver { transport, via } => {
                self.note(w, depth, o, || {
                    format!(
                        "delivered by `{}`{}",
                        self.transport_name(*transport),
                        via.as_ref().map(|v| format!(" via {v}")).unwrap_or_default()
                    )
                });
                self.add_final(w, r, chain, Disposition::Deliver { transport: *transport, nexthop: via.clone() });
                Ok(Flow::Done)
            }
            StepKind::LuserRelay(to) => {
                self.redirect(to, "unknown user: relayed to", r, depth, chain, w).map(|_| Flow::Done)
            }
            StepKind::Bcc(to) => self.redirect(to, "copy to", r, depth, chain, w).map(|_| Flow::Pass),
            StepKind::Reject(rep) => {
                let rep = self.reply_or(rep.as_ref(), 550, "5.1.1", "Recipient address rejected", r, w.ctx);
                self.note(w, depth, o, || format!("rejected: {rep}"));
                self.refuse_step(depth, r, chain, w, Refusal::Reject(rep))
            }
            StepKind::Defer(rep) => {
                let rep = self.reply_or(rep.as_ref(), 450, "4.3.0", "Recipient address deferred", r, w.ctx);
                self.note(w, depth, o, || format!("deferred: {rep}"));
                self.refuse_step(depth, r, chain, w, Refusal::Defer(rep))
            }
            StepKind::Discard(_) => {
                self.note(w, depth, o, || "discarded".to_string());
                self.add_final(w, r, chain, Disposition::Discard);
                Ok(Flow::Done)
            }
            StepKind::Hold(_) => {
                self.note(w, depth, o, || "held".to_string());
                self.add_final(w, r, chain, Disposition::Hold);
                Ok(Flow::Done)
            }
        }
    }

    /// Resolves the address a luser relay or bcc names (a template), one
    /// level deeper, as expanded from `r`.
    fn redirect(
        &self,
        to: &str,
        what: &str,
        r: &Recipient,
        depth: usize,
        chain: &mut Vec<String>,
        w: &mut Walk,
    ) -> Result<(), Refusal> {
        let to = self.fill(to, Some(r), w.ctx);
        self.note(w, depth, None, || format!("{what} `{to}`"));
        chain.push(r.address());
        let result = self.address(&to, depth + 1, chain, w);
        chain.pop();
        result
    }

    /// Looks `r` up in the order given; returns the values and the form
    /// that hit.
    fn lookup(
        &self,
        l: &Lookup,
        r: &Recipient,
        is_local: bool,
        depth: usize,
        w: &mut Walk,
    ) -> Option<(Vec<Cow<'_, str>>, String)> {
        let table = self.tables.get(l.table as usize)?;
        let meta = self.graph().tables.get(l.table as usize)?;
        let name = meta.name.as_str();
        if meta.key == "regexp" {
            let key = r.key();
            let hit = table.get(&key);
            self.note(w, depth, None, || {
                format!("table `{name}`: `{key}` {}", if hit.is_some() { "hit" } else { "miss" })
            });
            return hit.map(|v| (v, "regexp".to_string()));
        }
        let local_table = meta.key == "local";
        // Keys are built in one reused buffer: a lookup allocates only
        // for what it finds.
        let mut buf = std::mem::take(&mut w.buf);
        let mut found = None;
        for form in &l.order {
            found = probe_form(form, r, is_local, local_table, &mut buf, |key| {
                let hit = table.get(key);
                self.note(w, depth, None, || {
                    format!("table `{name}`: `{key}` {}", if hit.is_some() { "hit" } else { "miss" })
                });
                hit
            })
            .map(|v| (v, form.clone()));
            if found.is_some() {
                break;
            }
        }
        w.buf = buf;
        found
    }

    /// An expansion result as an address: bare names get a domain, an
    /// unmatched extension is appended, a qmail-style catch-all keeps the
    /// local part.
    fn target(&self, v: &str, r: &Recipient, form: &str, propagate: bool, keep_local: bool, is_local: bool) -> String {
        if special_target(v).is_some() {
            return v.to_string();
        }
        let (local, domain) = match v.rsplit_once('@') {
            Some((l, d)) => (l.to_string(), d.to_string()),
            // aliases(5): a bare name is a local user.
            None => (v.to_string(), if is_local { r.domain.clone() } else { self.origin_domain.clone() }),
        };
        let delim = r.delimiter.or_else(|| self.delimiters.chars().next()).unwrap_or('+');
        // Both keep the local part's case as written: it is delivered.
        let local = if keep_local && form == "@domain" {
            format!("{local}{delim}{}", r.local)
        } else {
            match (&r.ext_as_written, propagate, form) {
                // propagate_unmatched_extensions: the key matched without it.
                (Some(ext), true, "user@domain" | "user" | "@domain") => format!("{local}{delim}{ext}"),
                _ => local,
            }
        };
        format!("{local}@{domain}")
    }

    fn reply_or(
        &self,
        rep: Option<&g::Reply>,
        code: u16,
        enhanced: &str,
        text: &str,
        r: &Recipient,
        ctx: &Context,
    ) -> Reply {
        match rep {
            Some(rep) => Reply {
                code: rep.code,
                enhanced: rep.enhanced.clone().unwrap_or_else(|| default_enhanced(rep.code)),
                text: rep.text.as_deref().map_or_else(|| text.to_string(), |t| self.fill(t, Some(r), ctx)),
            },
            None => Reply { code, enhanced: enhanced.to_string(), text: format!("<{}>: {text}", r.address()) },
        }
    }

    /// Fills a template's placeholders.
    pub(crate) fn fill(&self, template: &str, r: Option<&Recipient>, ctx: &Context) -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(i) = rest.find(['{', '}']) {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            if tail.starts_with("{{") || tail.starts_with("}}") {
                out.push(tail.as_bytes()[0] as char);
                rest = &tail[2..];
                continue;
            }
            let Some(end) = tail.find('}').filter(|_| tail.starts_with('{')) else {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
                continue;
            };
            let name = &tail[1..end];
            let value = match (name, r) {
                ("local", Some(r)) => r.user.clone(),
                ("user", Some(r)) => {
                    r.local.split(r.delimiter.unwrap_or('\u{0}')).next().unwrap_or(&r.local).to_string()
                }
                ("ext", Some(r)) => r.ext.clone().unwrap_or_default(),
                ("domain", Some(r)) => r.domain.clone(),
                ("recipient", Some(r)) => r.address(),
                ("local" | "user" | "ext" | "domain" | "recipient", None) => String::new(),
                ("original_recipient", _) => String::new(),
                ("sender", _) => ctx.sender.clone(),
                ("client.ip", _) => ctx.client_ip.clone().unwrap_or_default(),
                ("client.name", _) => ctx.client_name.clone().unwrap_or_else(|| "unknown".into()),
                ("helo", _) => ctx.helo.clone().unwrap_or_default(),
                ("hostname", _) => self.origin_domain.clone(),
                (other, _) => format!("{{{other}}}"),
            };
            out.push_str(&value);
            rest = &tail[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// The keys one lookup form makes of an address. Forms that only apply
/// to local domains (`user+ext`, `user`) are skipped elsewhere, unless the
/// table is keyed by local parts (aliases).
pub(crate) fn form_keys(form: &str, r: &Recipient, is_local: bool, local_table: bool) -> Vec<String> {
    let mut out = Vec::new();
    probe_form(form, r, is_local, local_table, &mut String::new(), |k| {
        out.push(k.to_string());
        None::<()>
    });
    out
}

/// Alias targets that are not addresses.
fn special_target(v: &str) -> Option<Disposition> {
    if let Some(cmd) = v.strip_prefix('|') {
        Some(Disposition::Command(cmd.to_string()))
    } else if let Some(list) = v.strip_prefix(":include:") {
        Some(Disposition::Include(list.to_string()))
    } else if v.starts_with('/') {
        Some(Disposition::File(v.to_string()))
    } else {
        None
    }
}

fn same_address(target: &str, r: &Recipient, delimiters: &str) -> bool {
    // Plain ASCII addresses compare without parsing (the common case).
    if target.is_ascii() && !target.contains(['"', '[']) {
        let t = target.trim_end_matches('.');
        let (local, domain) = t.rsplit_once('@').unwrap_or((t, ""));
        return local.eq_ignore_ascii_case(&r.key_local) && domain.eq_ignore_ascii_case(&r.domain);
    }
    address::parse(target, delimiters).is_ok_and(|t| t.key() == r.key())
}

/// Calls `probe` with each key one lookup form makes of `r`, built in
/// `buf`, until one returns something. Forms that only apply to local
/// domains (`user+ext`, `user`) are skipped elsewhere, unless the table is
/// keyed by local parts (aliases).
pub(crate) fn probe_form<T>(
    form: &str,
    r: &Recipient,
    is_local: bool,
    local_table: bool,
    buf: &mut String,
    mut probe: impl FnMut(&str) -> Option<T>,
) -> Option<T> {
    buf.clear();
    match form {
        "user+ext@domain" if r.ext.is_some() => {
            buf.push_str(&r.key_local);
            buf.push('@');
            buf.push_str(&r.domain);
            probe(buf)
        }
        "user@domain" => {
            buf.push_str(&r.user);
            buf.push('@');
            buf.push_str(&r.domain);
            probe(buf)
        }
        "user+ext" if r.ext.is_some() && (is_local || local_table) => probe(&r.key_local),
        "user" if is_local || local_table => probe(&r.user),
        "@domain" => {
            buf.push('@');
            buf.push_str(&r.domain);
            probe(buf)
        }
        "user@" => {
            buf.push_str(&r.user);
            buf.push('@');
            probe(buf)
        }
        "domain" => probe(&r.domain),
        ".domain" => parents(&r.domain).find_map(probe),
        _ => None,
    }
}

/// The enhanced code a bare reply code implies (RFC 3463: x.0.0).
fn default_enhanced(code: u16) -> String {
    format!("{}.0.0", code / 100)
}
