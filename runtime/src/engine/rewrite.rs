//! Address rewriting: canonical maps and masquerading.
//!
//! Rationale. Postfix's cleanup rewrites each address once per class
//! (envelope sender, envelope recipient, header sender, header
//! recipient): canonical maps first, then masquerading. A `canonical`
//! statement without `for`/`in` applies to every class; masquerading strips
//! subdomains down to the listed domain (`host.sub.example.com` ->
//! `example.com`), except for the listed local parts and for domains
//! written `!host.example.com`, as masquerade_domains and
//! masquerade_exceptions do. A canonical value `@domain` keeps the local
//! part (canonical(5)). Recipient rewriting happens before resolution, so
//! the recipient rules see the rewritten address.

use mailc_artifact::graph::Rewrite;

use super::address;
use super::resolve::form_keys;
use super::{Engine, Trace, TraceStep};

/// Which address is rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The sender.
    Sender,
    /// A recipient.
    Recipient,
}

/// Where the address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The SMTP envelope.
    Envelope,
    /// A message header.
    Header,
}

impl Engine {
    /// Rewrites one address of a class; records each change in `trace`.
    pub fn rewrite(&self, role: Role, part: Part, address: &str, mut trace: Option<&mut Trace>) -> String {
        let mut current = address.to_string();
        if current.is_empty() {
            return current; // the null sender stays null
        }
        let applies = |r: &Option<String>, p: &Option<String>| {
            let role_ok = r.as_deref().is_none_or(|r| (r == "sender") == (role == Role::Sender));
            let part_ok = p.as_deref().is_none_or(|p| (p == "header") == (part == Part::Header));
            role_ok && part_ok
        };
        // canonical(5) first, then masquerading, as Postfix's cleanup does.
        for stmt in &self.graph().rewrite {
            if let Rewrite::Canonical { lookup, role: r, part: p, origin } = stmt {
                if !applies(r, p) {
                    continue;
                }
                let Ok(parsed) = address::parse(&current, &self.delimiters) else { continue };
                let Some(table) = self.tables.get(lookup.table as usize) else { continue };
                let is_local = self.domain_class(&parsed.domain) == Some("local");
                let meta = &self.graph().tables[lookup.table as usize];
                let hit = if meta.key == "regexp" {
                    table.get(&parsed.key())
                } else {
                    lookup
                        .order
                        .iter()
                        .flat_map(|f| form_keys(f, &parsed, is_local, meta.key == "local"))
                        .find_map(|k| table.get(&k))
                };
                let Some(new) = hit.and_then(|v| v.into_iter().next()) else { continue };
                let new = match new.strip_prefix('@') {
                    Some(domain) => format!("{}@{domain}", parsed.local),
                    None if !new.contains('@') => format!("{new}@{}", parsed.domain),
                    None => new.into_owned(),
                };
                if let Some(t) = trace.as_deref_mut() {
                    t.steps.push(TraceStep {
                        depth: 0,
                        origin: Some(self.cite(origin)),
                        event: format!("rewritten to `{new}`"),
                    });
                }
                current = new;
            }
        }
        for stmt in &self.graph().rewrite {
            if let Rewrite::Masquerade { domains, except, role: r, part: p, origin } = stmt {
                if !applies(r, p) {
                    continue;
                }
                let Ok(parsed) = address::parse(&current, &self.delimiters) else { continue };
                if except.contains(&parsed.user) {
                    continue;
                }
                let exceptions: Vec<&str> = domains.iter().filter_map(|d| d.strip_prefix('!')).collect();
                if exceptions.iter().any(|e| parsed.domain == *e || parsed.domain.ends_with(&format!(".{e}"))) {
                    continue;
                }
                let target = domains
                    .iter()
                    .filter(|d| !d.starts_with('!'))
                    .map(|d| d.trim_start_matches('.'))
                    .find(|d| parsed.domain.len() > d.len() && parsed.domain.ends_with(&format!(".{d}")));
                if let Some(d) = target {
                    let new = format!("{}@{d}", parsed.local);
                    if let Some(t) = trace.as_deref_mut() {
                        t.steps.push(TraceStep {
                            depth: 0,
                            origin: Some(self.cite(origin)),
                            event: format!("masqueraded to `{new}`"),
                        });
                    }
                    current = new;
                }
            }
        }
        current
    }
}

/// A copy of a message the `copy` block asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Copy {
    /// Resolved like any recipient (always_bcc, sender_bcc_maps,
    /// recipient_bcc_maps): the address and where it goes.
    To(String, super::Resolution),
    /// The whole message to an archive transport.
    Archive(u32),
}

impl Engine {
    /// The copies of a message from `sender` to `recipients`, each bcc
    /// address resolved through the recipient rules (Postfix: always_bcc,
    /// sender_bcc_maps, recipient_bcc_maps; each address once).
    pub fn copies(&self, ctx: &super::Context, sender: &str, recipients: &[String]) -> Vec<Copy> {
        let mut out = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        let mut add = |engine: &Engine, to: String, out: &mut Vec<Copy>| {
            let key = to.to_lowercase();
            if !seen.contains(&key) {
                seen.push(key);
                let r = engine.resolve(ctx, &to, None);
                out.push(Copy::To(to, r));
            }
        };
        for stmt in &self.graph().copies {
            match stmt {
                mailc_artifact::graph::Copy::Always(to, _) => add(self, to.clone(), &mut out),
                mailc_artifact::graph::Copy::Table { lookup, role, .. } => {
                    let who: Vec<&str> =
                        if role == "sender" { vec![sender] } else { recipients.iter().map(String::as_str).collect() };
                    for a in who {
                        let Ok(parsed) = address::parse(a, &self.delimiters) else { continue };
                        let Some(table) = self.tables.get(lookup.table as usize) else { continue };
                        let is_local = self.domain_class(&parsed.domain) == Some("local");
                        let local_table = self.graph().tables[lookup.table as usize].key == "local";
                        let hit = lookup
                            .order
                            .iter()
                            .flat_map(|f| form_keys(f, &parsed, is_local, local_table))
                            .find_map(|k| table.get(&k));
                        for to in hit.into_iter().flatten() {
                            add(self, to.into_owned(), &mut out);
                        }
                    }
                }
                mailc_artifact::graph::Copy::Archive(t, _) => out.push(Copy::Archive(*t)),
            }
        }
        out
    }
}
