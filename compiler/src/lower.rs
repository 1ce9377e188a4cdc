//! Lowering: a checked policy -> the artifact's bytes.
//!
//! Only a policy without errors is lowered, so every name resolves and
//! every literal parses; where the AST could still surprise us (a name of
//! the wrong kind), lowering returns a [`LowerError`] rather than guess.
//! Tables become fst maps (keys as normalised by the checker), cidr
//! tables ranges in table order, regexp tables patterns in table order,
//! networks merged ranges, domain sets fst sets; values go to one arena
//! per table. Every rule keeps its origin. Iteration is always in source
//! or sorted order and the graph uses no hash maps, so the same sources
//! give the same bytes.

use std::collections::HashMap;

use mailc_artifact::container::{ContainerWriter, SectionKind};
use mailc_artifact::graph::{self as g, Origin};
use mailc_artifact::tables::{self as t, Range};
use mailc_lang::ast::{self, Item, ValueKind};
use mailc_lang::Span;
use mailc_stdlib::lookup::{default_order, Use};
use mailc_stdlib::settings::{SettingType, SETTINGS};
use sha2::{Digest, Sha256};

use crate::check::literal::Cidr;
use crate::check::{Checked, DeclKind};

/// Why a policy could not be lowered.
#[derive(Debug, thiserror::Error)]
pub enum LowerError {
    /// The policy has errors; lowering needs a clean check.
    #[error("the policy has errors; run `mailc check` to see them")]
    HasErrors,
    /// Something the checker should have refused.
    #[error("cannot lower `{0}`: {1}")]
    Unexpected(String, String),
}

/// The compiler's version, as recorded in artifacts.
pub const COMPILER: &str = concat!("mailc ", env!("CARGO_PKG_VERSION"));

/// Lowers a checked policy into artifact bytes.
pub fn compile(checked: &Checked) -> Result<Vec<u8>, LowerError> {
    if checked.has_errors() {
        return Err(LowerError::HasErrors);
    }
    let mut cx = Lower::new(checked);
    cx.declarations()?;
    let mut policy = g::Policy {
        files: checked.sources.files().map(|(_, f)| relative_name(checked, &f.path)).collect(),
        settings: cx.settings(),
        ..g::Policy::default()
    };
    for item in &checked.items {
        match item {
            Item::Rewrite(b) => policy.rewrite = b.stmts.iter().map(|s| cx.rewrite(s)).collect::<Result<_, _>>()?,
            Item::Recipient(b) => {
                policy.recipient = b.rules.iter().map(|r| cx.recipient_rule(r)).collect::<Result<_, _>>()?
            }
            Item::Copy(b) => policy.copies = b.stmts.iter().map(|s| cx.copy(s)).collect::<Result<_, _>>()?,
            Item::Stage(b) => {
                let rules = b.rules.iter().map(|r| cx.restriction(r)).collect::<Result<_, _>>()?;
                policy.stages.push(g::Stage { stage: b.stage.text.clone(), rules });
            }
            Item::Test(b) => policy.tests.push(cx.test(b)?),
            _ => {}
        }
    }
    policy.stages.sort_by_key(|s| mailc_stdlib::stage_index(&s.stage));
    let mut includes: Vec<(&(mailc_lang::FileId, String), &Vec<String>)> = checked.includes.iter().collect();
    includes.sort();
    for ((_, target), addresses) in includes {
        if !policy.includes.iter().any(|i| i.target == *target) {
            policy.includes.push(g::IncludeList { target: target.clone(), addresses: addresses.clone() });
        }
    }
    policy.includes.sort_by(|a, b| a.target.cmp(&b.target));
    policy.declarations = checked.decls.iter().map(|d| (d.name.clone(), cx.origin(d.span))).collect();
    // The declarations go in last: rules were lowered against them.
    policy.networks = std::mem::take(&mut cx.networks);
    policy.domain_sets = std::mem::take(&mut cx.domain_sets);
    policy.tables = std::mem::take(&mut cx.tables);
    policy.transports = std::mem::take(&mut cx.transports);
    policy.dnsbls = std::mem::take(&mut cx.dnsbls);
    let mut writer = ContainerWriter::new();
    writer.add(SectionKind::Graph, policy.encode());
    for (kind, bytes) in cx.sections {
        writer.add(kind, bytes);
    }
    Ok(writer.finish(COMPILER, source_hash(checked)))
}

/// A source's name relative to the root policy's directory, so that the
/// same policy compiled from anywhere gives the same bytes.
fn relative_name(checked: &Checked, path: &std::path::Path) -> String {
    let root = checked.sources.files().next().map(|(_, f)| f.path.clone()).unwrap_or_default();
    let dir: std::path::PathBuf = root.parent().map(|d| d.components().collect()).unwrap_or_default();
    let path: std::path::PathBuf = path.components().collect();
    path.strip_prefix(&dir).unwrap_or(&path).display().to_string()
}

/// SHA-256 over every source file (policy files and table files), in the
/// order they were read: path, a NUL, the text, a NUL.
pub fn source_hash(checked: &Checked) -> [u8; 32] {
    let mut h = Sha256::new();
    for (_, f) in checked.sources.files() {
        h.update(relative_name(checked, &f.path).as_bytes());
        h.update([0]);
        h.update(f.text.as_bytes());
        h.update([0]);
    }
    let mut out = [0; 32];
    out.copy_from_slice(&h.finalize());
    out
}

struct Lower<'a> {
    checked: &'a Checked,
    /// Sections after the graph (section index = position + 1).
    sections: Vec<(SectionKind, Vec<u8>)>,
    /// Name -> index, per kind.
    index: HashMap<(&'static str, String), u32>,
    networks: Vec<g::Network>,
    domain_sets: Vec<g::DomainSet>,
    tables: Vec<g::Table>,
    transports: Vec<g::Transport>,
    dnsbls: Vec<g::Dnsbl>,
    replies: HashMap<String, g::Reply>,
}

fn unexpected(what: &str, why: &str) -> LowerError {
    LowerError::Unexpected(what.to_string(), why.to_string())
}

impl<'a> Lower<'a> {
    fn new(checked: &'a Checked) -> Lower<'a> {
        Lower {
            checked,
            sections: Vec::new(),
            index: HashMap::new(),
            networks: Vec::new(),
            domain_sets: Vec::new(),
            tables: Vec::new(),
            transports: Vec::new(),
            dnsbls: Vec::new(),
            replies: HashMap::new(),
        }
    }

    fn section(&mut self, kind: SectionKind, bytes: Vec<u8>) -> u32 {
        self.sections.push((kind, bytes));
        self.sections.len() as u32
    }

    fn origin(&self, span: Span) -> Origin {
        let file = self.checked.sources.file(span.file);
        let (line, column) = file.line_col(span.start as usize);
        let text = self.checked.sources.snippet(span);
        let first = text.lines().next().unwrap_or("").trim();
        let text = if first.chars().count() > 100 {
            format!("{}...", first.chars().take(97).collect::<String>())
        } else {
            first.to_string()
        };
        Origin { file: span.file.0, line: line as u32, column: column as u32, text }
    }

    fn lookup_index(&self, kind: &'static str, name: &str) -> Result<u32, LowerError> {
        self.index.get(&(kind, name.to_string())).copied().ok_or_else(|| unexpected(name, &format!("not a {kind}")))
    }

    /// Declarations in source order; each kind numbered from 0.
    fn declarations(&mut self) -> Result<(), LowerError> {
        let checked = self.checked;
        for decl in &checked.decls {
            match &decl.kind {
                DeclKind::Network(n) => {
                    let ranges = n
                        .members
                        .iter()
                        .map(|(c, _)| {
                            let (first, last) = t::cidr_range(c.addr, c.prefix);
                            Range { first, last, value: 0 }
                        })
                        .collect();
                    let ranges = self.section(SectionKind::Ranges, t::encode_ranges(&t::merge_ranges(ranges)));
                    self.index.insert(("network", decl.name.clone()), self.networks.len() as u32);
                    self.networks.push(g::Network { name: decl.name.clone(), ranges });
                }
                DeclKind::Domains(d) => {
                    let members: Vec<String> = d.members.iter().map(|(m, _)| m.clone()).collect();
                    let len = members.len() as u64;
                    let members = self.section(SectionKind::FstSet, t::build_set(members));
                    self.index.insert(("domains", decl.name.clone()), self.domain_sets.len() as u32);
                    self.domain_sets.push(g::DomainSet {
                        name: decl.name.clone(),
                        class: d.class.clone(),
                        members,
                        len,
                    });
                }
                DeclKind::Table(tab) => {
                    let mut values = t::ValuesWriter::new();
                    let offsets: Vec<u64> = (0..tab.len())
                        .map(|e| values.add_iter(tab.value_count(e), tab.values(e).map(|(v, _)| v)))
                        .collect();
                    let storage = match tab.key.as_str() {
                        "cidr" => {
                            let mut ranges = Vec::with_capacity(tab.len());
                            for (e, off) in offsets.iter().enumerate() {
                                let c = Cidr::parse(tab.key(e)).map_err(|why| unexpected(tab.key(e), &why))?;
                                let (first, last) = t::cidr_range(c.addr, c.prefix);
                                ranges.push(Range { first, last, value: *off });
                            }
                            g::Storage::Cidr { ranges: self.section(SectionKind::Ranges, t::encode_ranges(&ranges)) }
                        }
                        "regexp" => {
                            let patterns: Vec<g::Pattern> = offsets
                                .iter()
                                .enumerate()
                                .map(|(e, off)| g::Pattern {
                                    pattern: tab.key(e).to_string(),
                                    flags: tab.flags(e).to_string(),
                                    value: *off,
                                })
                                .collect();
                            let bytes = t::encode_patterns(&patterns);
                            g::Storage::Regexp { patterns: self.section(SectionKind::Patterns, bytes) }
                        }
                        _ => {
                            let pairs = offsets.iter().enumerate().map(|(e, off)| (tab.key(e), *off)).collect();
                            g::Storage::Map { keys: self.section(SectionKind::FstMap, t::build_map(pairs)) }
                        }
                    };
                    let values = self.section(SectionKind::Values, values.finish());
                    self.index.insert(("table", decl.name.clone()), self.tables.len() as u32);
                    self.tables.push(g::Table {
                        name: decl.name.clone(),
                        key: tab.key.clone(),
                        value: tab.value.clone(),
                        list: tab.list,
                        storage,
                        values,
                        len: tab.len() as u64,
                    });
                }
                DeclKind::Transport(tr) => {
                    self.index.insert(("transport", decl.name.clone()), self.transports.len() as u32);
                    self.transports.push(g::Transport {
                        name: decl.name.clone(),
                        kind: tr.kind.clone(),
                        target: None,
                        options: Vec::new(),
                    });
                }
                DeclKind::Reply(r) => {
                    self.replies.insert(decl.name.clone(), reply(r));
                }
                DeclKind::Dnsbl(zone) => {
                    self.index.insert(("dnsbl", decl.name.clone()), self.dnsbls.len() as u32);
                    self.dnsbls.push(g::Dnsbl { name: decl.name.clone(), zone: zone.clone(), answers: Vec::new() });
                }
                DeclKind::Pending => return Err(unexpected(&decl.name, "declaration was not checked")),
            }
        }
        // Targets and options come from the declarations' text.
        for item in &checked.items {
            match item {
                Item::Transport(d) => {
                    let i = self.lookup_index("transport", &d.name.text)? as usize;
                    self.transports[i].target = d.target.as_ref().map(|(t, _)| t.clone());
                    self.transports[i].options =
                        d.options.iter().map(|o| (o.name.text.clone(), option_value(o))).collect();
                }
                Item::Dnsbl(d) => {
                    let i = self.lookup_index("dnsbl", &d.name.text)? as usize;
                    for o in &d.options {
                        if let (true, Some(ValueKind::List(items))) =
                            (o.name.text == "answers", o.value.as_ref().map(|v| &v.kind))
                        {
                            for v in items {
                                if let ValueKind::Ip(s) | ValueKind::Cidr(s) = &v.kind {
                                    let c = Cidr::parse(s).map_err(|why| unexpected(s, &why))?;
                                    self.dnsbls[i].answers.push(t::cidr_range(c.addr, c.prefix));
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Every setting, given or default, sorted by name.
    fn settings(&self) -> Vec<(String, g::Value)> {
        let mut out: Vec<(String, g::Value)> = SETTINGS
            .iter()
            .filter_map(|s| {
                let given = self.checked.settings.get(s.name).map(|v| &v.value);
                let value = match given {
                    Some(v) => self.setting_value(s.ty, v)?,
                    None => default_value(s.ty, s.default?)?,
                };
                Some((s.name.to_string(), value))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn setting_value(&self, ty: SettingType, v: &ast::Value) -> Option<g::Value> {
        Some(match (&v.kind, ty) {
            (ValueKind::Str(s), _) => g::Value::Text(s.clone()),
            (ValueKind::Number(n) | ValueKind::Size(n), _) => g::Value::Number(*n),
            (ValueKind::Duration(n), _) => g::Value::Duration(*n),
            (ValueKind::Bool(b), _) => g::Value::Bool(*b),
            (ValueKind::Name(n), SettingType::Network) => {
                g::Value::Network(self.lookup_index("network", &n.text).ok()?)
            }
            (ValueKind::List(items), SettingType::Addresses) => g::Value::Addresses(
                items
                    .iter()
                    .filter_map(|i| match &i.kind {
                        ValueKind::Ip(s) | ValueKind::Str(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => return None,
        })
    }

    fn use_of(&self, table: &ast::Ident, lookup: Option<&ast::Lookup>, use_: Use) -> Result<g::Lookup, LowerError> {
        let i = self.lookup_index("table", &table.text)?;
        let key = &self.tables[i as usize].key;
        let order = match lookup {
            Some(l) => l.keys.iter().map(|k| k.text.clone()).collect(),
            None => default_order(use_, key).iter().map(|s| s.to_string()).collect(),
        };
        Ok(g::Lookup { table: i, order })
    }

    fn reply_ref(&self, r: &ast::ReplyRef) -> Result<g::Reply, LowerError> {
        match r {
            ast::ReplyRef::Literal(rep) => Ok(reply(rep)),
            ast::ReplyRef::Named(n) => {
                self.replies.get(&n.text).cloned().ok_or_else(|| unexpected(&n.text, "not a reply"))
            }
        }
    }

    fn rewrite(&self, s: &ast::RewriteStmt) -> Result<g::Rewrite, LowerError> {
        let classes =
            |c: &ast::Classes| (c.role.as_ref().map(|r| r.text.clone()), c.part.as_ref().map(|p| p.text.clone()));
        Ok(match s {
            ast::RewriteStmt::Canonical { table, classes: c, lookup, span } => {
                let (role, part) = classes(c);
                g::Rewrite::Canonical {
                    lookup: self.use_of(table, lookup.as_ref(), Use::Address)?,
                    role,
                    part,
                    origin: self.origin(*span),
                }
            }
            ast::RewriteStmt::Masquerade { domains, except, classes: c, span } => {
                let (role, part) = classes(c);
                g::Rewrite::Masquerade {
                    domains: self.texts(domains, true),
                    except: except.as_ref().map(|e| self.texts(e, false)).unwrap_or_default(),
                    role,
                    part,
                    origin: self.origin(*span),
                }
            }
        })
    }

    /// The members of an inline list or a named set/table, as text.
    fn texts(&self, r: &ast::SetRef, domains: bool) -> Vec<String> {
        match r {
            ast::SetRef::Inline(values, _) => values
                .iter()
                .filter_map(|v| match &v.kind {
                    ValueKind::Str(s) if domains => Some(normalize_domain_entry(s)),
                    ValueKind::Str(s) => Some(s.to_lowercase()),
                    _ => None,
                })
                .collect(),
            ast::SetRef::Named(n) => {
                let decl = self.checked.decls.iter().find(|d| d.name == n.text);
                match decl.map(|d| &d.kind) {
                    Some(DeclKind::Domains(d)) => d.members.iter().map(|(m, _)| m.clone()).collect(),
                    Some(DeclKind::Table(tab)) => (0..tab.len()).map(|e| tab.key(e).to_string()).collect(),
                    _ => Vec::new(),
                }
            }
        }
    }

    fn recipient_rule(&self, r: &ast::RecipientRule) -> Result<g::RecipientRule, LowerError> {
        let matcher = match &r.matcher {
            None => g::Matcher::All,
            Some(ast::Matcher::Default(_)) => g::Matcher::Default,
            Some(ast::Matcher::Domain(ast::SetRef::Named(n), _)) => {
                g::Matcher::DomainSet(self.lookup_index("domains", &n.text)?)
            }
            Some(ast::Matcher::Domain(set, _)) => g::Matcher::Domains(self.texts(set, true)),
            Some(ast::Matcher::Address(t, _)) => g::Matcher::Address(self.lookup_index("table", &t.text)?),
        };
        let steps = r.steps.iter().map(|s| self.step(s)).collect::<Result<_, _>>()?;
        Ok(g::RecipientRule { matcher, steps, origin: self.origin(r.span) })
    }

    fn step(&self, s: &ast::Step) -> Result<g::Step, LowerError> {
        let otherwise = |o: &Option<Box<ast::Step>>| -> Result<Option<Box<g::Step>>, LowerError> {
            o.as_ref().map(|o| self.step(o).map(Box::new)).transpose()
        };
        let propagate_default = !matches!(
            self.checked.settings.get("propagate_extension").map(|v| &v.value.kind),
            Some(ValueKind::Bool(false))
        );
        let kind = match &s.kind {
            ast::StepKind::Relocated { table, lookup } => {
                g::StepKind::Relocated(self.use_of(table, lookup.as_ref(), Use::Address)?)
            }
            ast::StepKind::Expand { table, lookup, extension, catchall, otherwise: o } => g::StepKind::Expand {
                lookup: self.use_of(table, lookup.as_ref(), Use::Address)?,
                propagate_extension: extension.as_ref().map_or(propagate_default, |e| e.text == "propagate"),
                catchall_keeps_local: catchall.as_ref().is_some_and(|c| c.text == "keep_local"),
                otherwise: otherwise(o)?,
            },
            ast::StepKind::Require { table, lookup, otherwise: o } => g::StepKind::Require {
                lookup: self.use_of(table, lookup.as_ref(), Use::Address)?,
                otherwise: otherwise(o)?,
            },
            ast::StepKind::Route { table, lookup, otherwise: o } => g::StepKind::Route {
                lookup: self.use_of(table, lookup.as_ref(), Use::Route)?,
                otherwise: otherwise(o)?,
            },
            ast::StepKind::Deliver { transport, via } => g::StepKind::Deliver {
                transport: self.lookup_index("transport", &transport.text)?,
                via: via.as_ref().map(|(v, _)| v.clone()),
            },
            ast::StepKind::LuserRelay(a, _) => g::StepKind::LuserRelay(a.clone()),
            ast::StepKind::Bcc(a, _) => g::StepKind::Bcc(a.clone()),
            ast::StepKind::Reject(r) => g::StepKind::Reject(r.as_ref().map(|r| self.reply_ref(r)).transpose()?),
            ast::StepKind::Defer(r) => g::StepKind::Defer(r.as_ref().map(|r| self.reply_ref(r)).transpose()?),
            ast::StepKind::Discard(r) => g::StepKind::Discard(r.clone()),
            ast::StepKind::Hold(r) => g::StepKind::Hold(r.clone()),
        };
        Ok(g::Step { kind, origin: self.origin(s.span) })
    }

    fn copy(&self, s: &ast::CopyStmt) -> Result<g::Copy, LowerError> {
        Ok(match s {
            ast::CopyStmt::Bcc { target: ast::BccTarget::Address(a, _), span, .. } => {
                g::Copy::Always(a.clone(), self.origin(*span))
            }
            ast::CopyStmt::Bcc { target: ast::BccTarget::Table(tab), role, span } => g::Copy::Table {
                lookup: self.use_of(tab, None, Use::Address)?,
                role: role.as_ref().map_or_else(|| "recipient".to_string(), |r| r.text.clone()),
                origin: self.origin(*span),
            },
            ast::CopyStmt::Archive { transport, span } => {
                g::Copy::Archive(self.lookup_index("transport", &transport.text)?, self.origin(*span))
            }
        })
    }

    fn action(&self, a: &ast::Action) -> Result<g::Action, LowerError> {
        Ok(match &a.kind {
            ast::ActionKind::Accept => g::Action::Accept,
            ast::ActionKind::Reject(r) => g::Action::Reject(r.as_ref().map(|r| self.reply_ref(r)).transpose()?),
            ast::ActionKind::Defer(r) => g::Action::Defer(r.as_ref().map(|r| self.reply_ref(r)).transpose()?),
            ast::ActionKind::Continue => g::Action::Continue,
            ast::ActionKind::Hold(r) => g::Action::Hold(r.clone()),
            ast::ActionKind::Discard(r) => g::Action::Discard(r.clone()),
            ast::ActionKind::Warn(t) => g::Action::Warn(t.clone()),
        })
    }

    fn restriction(&self, r: &ast::Restriction) -> Result<g::Restriction, LowerError> {
        let kind = match &r.kind {
            ast::RestrictionKind::Default(a) => g::RestrictionKind::Default(self.action(a)?),
            ast::RestrictionKind::Rule { action, condition } => g::RestrictionKind::Rule {
                action: self.action(action)?,
                condition: condition.as_ref().map(|c| self.expr(c)).transpose()?,
            },
            ast::RestrictionKind::Check { table, subject, lookup, condition } => {
                let key = &self.tables[self.lookup_index("table", &table.text)? as usize].key;
                let use_ = if key == "domain" || subject.text.ends_with("domain") || subject.text == "helo" {
                    Use::Domain
                } else {
                    Use::Access
                };
                g::RestrictionKind::Check {
                    lookup: self.use_of(table, lookup.as_ref(), use_)?,
                    subject: subject.text.clone(),
                    condition: condition.as_ref().map(|c| self.expr(c)).transpose()?,
                }
            }
        };
        Ok(g::Restriction { kind, origin: self.origin(r.span) })
    }

    fn expr(&self, e: &ast::Expr) -> Result<g::Expr, LowerError> {
        Ok(match &e.kind {
            ast::ExprKind::Or(p) => g::Expr::Or(p.iter().map(|x| self.expr(x)).collect::<Result<_, _>>()?),
            ast::ExprKind::And(p) => g::Expr::And(p.iter().map(|x| self.expr(x)).collect::<Result<_, _>>()?),
            ast::ExprKind::Not(x) => g::Expr::Not(Box::new(self.expr(x)?)),
            ast::ExprKind::Flag(f) => g::Expr::Flag(f.text.clone()),
            ast::ExprKind::Compare { subject, op, value } => {
                let (value, per_seconds) = match value.kind {
                    ValueKind::Rate { count, seconds } => (count, seconds),
                    ValueKind::Number(n) | ValueKind::Size(n) | ValueKind::Duration(n) => (n, 0),
                    _ => return Err(unexpected(&subject.text, "compared with something that is not a number")),
                };
                g::Expr::Compare { subject: subject.text.clone(), op: op.clone(), value, per_seconds }
            }
            ast::ExprKind::In { subject, negated, operand } => {
                let set = match operand {
                    ast::SetRef::Named(n) => {
                        let decl = self.checked.decls.iter().find(|d| d.name == n.text).map(|d| &d.kind);
                        match decl {
                            Some(DeclKind::Network(_)) => {
                                g::SetOperand::Network(self.lookup_index("network", &n.text)?)
                            }
                            Some(DeclKind::Domains(_)) => {
                                g::SetOperand::DomainSet(self.lookup_index("domains", &n.text)?)
                            }
                            Some(DeclKind::Table(_)) => g::SetOperand::Table(self.lookup_index("table", &n.text)?),
                            Some(DeclKind::Dnsbl(_)) => g::SetOperand::Dnsbl(self.lookup_index("dnsbl", &n.text)?),
                            _ => return Err(unexpected(&n.text, "not something a condition can test against")),
                        }
                    }
                    ast::SetRef::Inline(values, _) => {
                        let cidrs: Vec<(u128, u128)> = values
                            .iter()
                            .filter_map(|v| match &v.kind {
                                ValueKind::Cidr(s) | ValueKind::Ip(s) => Cidr::parse(s).ok(),
                                ValueKind::Str(s) if subject.text == "client" => Cidr::parse(s).ok(),
                                _ => None,
                            })
                            .map(|c| t::cidr_range(c.addr, c.prefix))
                            .collect();
                        if !cidrs.is_empty() {
                            g::SetOperand::Ranges(cidrs)
                        } else {
                            let domains = subject.text.ends_with("domain")
                                || subject.text == "helo"
                                || subject.text.ends_with("name");
                            g::SetOperand::Texts(self.texts(operand, domains))
                        }
                    }
                };
                g::Expr::In { subject: subject.text.clone(), negated: *negated, set }
            }
        })
    }

    fn test(&self, b: &ast::TestBlock) -> Result<g::Test, LowerError> {
        let context = |ctx: &[ast::Context]| {
            let mut c = g::Context::default();
            for x in ctx {
                match &x.kind {
                    ast::ContextKind::From(s) => c.from = Some(s.clone()),
                    ast::ContextKind::Client { ip, name } => {
                        c.client = Some(ip.clone());
                        c.client_name = name.clone();
                    }
                    ast::ContextKind::Helo(h) => c.helo = Some(h.clone()),
                    ast::ContextKind::Authenticated(u) => {
                        c.is_authenticated = true;
                        c.authenticated = u.clone();
                    }
                    ast::ContextKind::Tls => c.tls = true,
                }
            }
            c
        };
        let mut cases = Vec::new();
        for case in &b.cases {
            cases.push(match case {
                ast::TestCase::Rcpt { recipient, context: ctx, expect, span } => g::TestCase::Rcpt {
                    recipient: recipient.0.clone(),
                    context: context(ctx),
                    expect: expect.iter().map(|x| self.expectation(x)).collect::<Result<_, _>>()?,
                    origin: self.origin(*span),
                },
                ast::TestCase::Session { context: ctx, exchanges, span } => g::TestCase::Session {
                    context: context(ctx),
                    exchanges: exchanges.iter().map(|x| (x.send.clone(), x.code, x.enhanced.clone())).collect(),
                    origin: self.origin(*span),
                },
            });
        }
        Ok(g::Test { name: b.name.clone(), cases, origin: self.origin(b.name_span) })
    }

    fn expectation(&self, x: &ast::Expectation) -> Result<g::Expectation, LowerError> {
        Ok(match &x.kind {
            ast::ExpectKind::Accept => g::Expectation::Accept,
            ast::ExpectKind::Reject(c, e) => g::Expectation::Reject(*c, e.clone()),
            ast::ExpectKind::Defer(c, e) => g::Expectation::Defer(*c, e.clone()),
            ast::ExpectKind::Discard => g::Expectation::Discard,
            ast::ExpectKind::Hold => g::Expectation::Hold,
            ast::ExpectKind::Deliver { transport, via, to } => g::Expectation::Deliver {
                transport: self.lookup_index("transport", &transport.text)?,
                via: via.clone(),
                to: to.as_ref().map(|list| {
                    list.iter()
                        .filter_map(|v| match &v.kind {
                            ValueKind::Str(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect()
                }),
            },
        })
    }
}

fn reply(r: &ast::Reply) -> g::Reply {
    g::Reply { code: r.code, enhanced: r.enhanced.clone(), text: r.text.clone() }
}

fn normalize_domain_entry(s: &str) -> String {
    let (prefix, bare) = match s.strip_prefix('!') {
        Some(rest) => ("!", rest),
        None => ("", s),
    };
    let (dot, bare) = match bare.strip_prefix('.') {
        Some(rest) => (".", rest),
        None => ("", bare),
    };
    let d = mailc_stdlib::address::normalize_domain(bare).unwrap_or_else(|_| bare.to_ascii_lowercase());
    format!("{prefix}{dot}{d}")
}

fn option_value(o: &ast::Opt) -> g::OptionValue {
    match o.value.as_ref().map(|v| &v.kind) {
        None => g::OptionValue::Flag,
        Some(ValueKind::Str(s)) => g::OptionValue::Text(s.clone()),
        Some(ValueKind::Name(n)) => g::OptionValue::Text(n.text.clone()),
        Some(ValueKind::Number(n)) => g::OptionValue::Number(*n),
        Some(ValueKind::Duration(n)) => g::OptionValue::Duration(*n),
        Some(ValueKind::List(items)) => g::OptionValue::Words(
            items
                .iter()
                .filter_map(|i| match &i.kind {
                    ValueKind::Name(n) => Some(n.text.clone()),
                    ValueKind::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
        ),
        Some(ValueKind::Map(entries)) => g::OptionValue::Env(
            entries
                .iter()
                .filter_map(|e| match (&e.key.kind, e.value.as_ref().map(|v| &v.kind)) {
                    (ValueKind::Str(k), Some(ValueKind::Str(v))) => Some((k.clone(), v.clone())),
                    _ => None,
                })
                .collect(),
        ),
        Some(_) => g::OptionValue::Flag,
    }
}

/// A stdlib default, as written in a policy, as a graph value.
fn default_value(ty: SettingType, text: &str) -> Option<g::Value> {
    Some(match ty {
        SettingType::Number | SettingType::Size => g::Value::Number(text.parse().ok()?),
        SettingType::Duration => g::Value::Duration(mailc_lang::parser::parse_duration(text)),
        SettingType::Bool => g::Value::Bool(text == "yes"),
        _ => g::Value::Text(text.trim_matches('"').to_string()),
    })
}
