//! Declarations: networks, domain sets, tables, transports, replies and
//! block lists, each checked and its data loaded.
//!
//! Table data is read once here, keys normalised the way the engine will
//! look them up (lowercase, A-labels, no trailing dot), values split and
//! validated against the declared value type, and duplicate keys found.
//! Every entry keeps the span of its line so later passes (cycles,
//! duplicates, the relay proof) can cite file:line.

use std::collections::HashMap;

use mailc_lang::ast::{self, Item, SetSource, TableSource, ValueKind};
use mailc_lang::Span;
use mailc_stdlib::address::{check_local, normalize_domain, parse_address};
use mailc_stdlib::transports::{self, OptionType, Target};
use mailc_stdlib::{DOMAIN_CLASSES, KEY_KINDS, VALUE_TYPES};

use super::literal::{check_reply, Cidr};
use super::{Checker, Want};
use crate::diag::{did_you_mean, Code, Diagnostic};
use crate::files::read_text;
use crate::load::resolve_relative;
use crate::tables::{self, Format, RawEntry};

/// What a declared name is, with its data.
#[derive(Debug)]
pub enum DeclKind {
    /// Collected but not yet checked (or its declaration was broken).
    Pending,
    /// `network`
    Network(Network),
    /// `domains`
    Domains(DomainSet),
    /// `table`
    Table(Table),
    /// `transport`
    Transport(Transport),
    /// `reply`
    Reply(ast::Reply),
    /// `dnsbl`
    Dnsbl(String),
}

impl DeclKind {
    pub(crate) fn is(&self, want: Want) -> bool {
        matches!(
            (self, want),
            (DeclKind::Network(_), Want::Network)
                | (DeclKind::Domains(_), Want::Domains)
                | (DeclKind::Table(_), Want::Table)
                | (DeclKind::Transport(_), Want::Transport)
                | (DeclKind::Reply(_), Want::Reply)
        )
    }

    pub(crate) fn is_pending(&self) -> bool {
        matches!(self, DeclKind::Pending)
    }

    pub(crate) fn describe(&self) -> &'static str {
        match self {
            DeclKind::Pending => "a declaration",
            DeclKind::Network(_) => "a `network`",
            DeclKind::Domains(_) => "a `domains` set",
            DeclKind::Table(_) => "a `table`",
            DeclKind::Transport(_) => "a `transport`",
            DeclKind::Reply(_) => "a `reply`",
            DeclKind::Dnsbl(_) => "a `dnsbl`",
        }
    }

    pub(crate) fn describe_short(&self) -> &'static str {
        match self {
            DeclKind::Pending => "declaration",
            DeclKind::Network(_) => "network",
            DeclKind::Domains(_) => "domain set",
            DeclKind::Table(_) => "table",
            DeclKind::Transport(_) => "transport",
            DeclKind::Reply(_) => "reply",
            DeclKind::Dnsbl(_) => "block list",
        }
    }
}

/// A network's members.
#[derive(Debug, Default)]
pub struct Network {
    /// Each network with the span it was written at.
    pub members: Vec<(Cidr, Span)>,
}

/// A domain set.
#[derive(Debug, Default)]
pub struct DomainSet {
    /// `local`, `virtual_alias`, `virtual_mailbox`, `relay`.
    pub class: Option<String>,
    /// Normalised members; `.example.com` matches every subdomain.
    pub members: Vec<(String, Span)>,
}

impl DomainSet {
    /// Whether a normalised domain is in the set.
    pub fn contains(&self, domain: &str) -> bool {
        self.members.iter().any(|(m, _)| domain_matches(m, domain))
    }
}

/// Whether set member `member` matches `domain` (both normalised).
pub fn domain_matches(member: &str, domain: &str) -> bool {
    match member.strip_prefix('.') {
        Some(parent) => domain.len() > parent.len() && domain.ends_with(parent) && domain.ends_with(member),
        None => member == domain,
    }
}

/// One table entry after checking.
#[derive(Debug, Clone)]
pub struct TableEntry {
    /// The key, normalised for lookup.
    pub key: String,
    /// Where the key is written.
    pub key_span: Span,
    /// The values, split if the type is a list, with their spans.
    pub values: Vec<(String, Span)>,
}

/// A table's type and data.
#[derive(Debug, Default)]
pub struct Table {
    /// `address`, `local`, `domain`, `cidr`, `regexp`.
    pub key: String,
    /// The value type word; `None` for a set.
    pub value: Option<String>,
    /// `[type]`.
    pub list: bool,
    /// Entries in source order, duplicates removed.
    pub entries: Vec<TableEntry>,
    /// Key -> index into `entries`.
    pub index: HashMap<String, usize>,
}

/// A transport's kind.
#[derive(Debug)]
pub struct Transport {
    /// `maildir`, `smtp`, ...
    pub kind: String,
}

impl Checker {
    pub(super) fn check_decl(&mut self, _position: usize, item: &Item) {
        let (name, kind) = match item {
            Item::Network(d) => (&d.name, DeclKind::Network(self.network(d))),
            Item::Domains(d) => (&d.name, DeclKind::Domains(self.domains(d))),
            Item::Table(d) => (&d.name, self.table(d).map_or(DeclKind::Pending, DeclKind::Table)),
            Item::Transport(d) => (&d.name, self.transport(d).map_or(DeclKind::Pending, DeclKind::Transport)),
            Item::Reply(d) => {
                if let Err(e) = check_reply(d.reply.code, d.reply.enhanced.as_deref()) {
                    self.push(Diagnostic::new(Code::InvalidLiteral, d.reply.span, e, "invalid reply"));
                }
                if let Some(t) = &d.reply.text {
                    self.check_template(t, d.reply.span);
                }
                (&d.name, DeclKind::Reply(d.reply.clone()))
            }
            Item::Dnsbl(d) => {
                if let Err(e) = normalize_domain(&d.zone) {
                    self.push(Diagnostic::new(Code::InvalidLiteral, d.zone_span, e.0, "not a DNS zone"));
                }
                for o in &d.options {
                    self.dnsbl_option(o);
                }
                (&d.name, DeclKind::Dnsbl(d.zone.to_ascii_lowercase()))
            }
            _ => return,
        };
        // Only the first declaration of a name owns it.
        if let Some(&i) = self.index.get(&name.text) {
            if self.decls[i].span == name.span {
                self.decls[i].kind = kind;
            }
        }
    }

    fn dnsbl_option(&mut self, o: &ast::Opt) {
        match (o.name.text.as_str(), o.value.as_ref().map(|v| &v.kind)) {
            ("answers", Some(ValueKind::List(items))) => {
                for v in items {
                    match &v.kind {
                        ValueKind::Ip(t) | ValueKind::Cidr(t) => {
                            if let Err(e) = Cidr::parse(t) {
                                self.push(Diagnostic::new(Code::InvalidLiteral, v.span, e, "not an address"));
                            }
                        }
                        _ => self.push(Diagnostic::new(
                            Code::InvalidLiteral,
                            v.span,
                            "expected an answer address like `127.0.0.2`",
                            "not an address",
                        )),
                    }
                }
            }
            ("reply", Some(ValueKind::Reply(_))) => {}
            _ => self.push(
                Diagnostic::new(
                    Code::UnknownOption,
                    o.span,
                    format!("`{}` is not an option of `dnsbl`", o.name.text),
                    "unknown option",
                )
                .help("`dnsbl` takes `answers [127.0.0.2, 127.0.0.4/30]` (which A records count as listed)"),
            ),
        }
    }

    /// Reads a set or table file, reporting an unreadable one.
    fn read_source(&mut self, from: Span, path: &str, span: Span) -> Option<(mailc_lang::FileId, std::sync::Arc<str>)> {
        let base = self.sources.file(from.file).path.clone();
        let full = resolve_relative(&base, path);
        if let Some(id) = self.sources.find(&full) {
            return Some((id, self.sources.file(id).text.clone()));
        }
        match read_text(&full) {
            Ok(text) => {
                let id = self.sources.add(full, text);
                Some((id, self.sources.file(id).text.clone()))
            }
            Err(e) => {
                self.push(
                    Diagnostic::new(
                        Code::UnreadableFile,
                        span,
                        format!("cannot read `{}`: {e}", full.display()),
                        "named here",
                    )
                    .help("paths are relative to the policy file that names them"),
                );
                None
            }
        }
    }

    /// The entries of a `file` set source, or of an inline list.
    fn set_members(&mut self, source: &SetSource, item_span: Span) -> Vec<(String, Span)> {
        match source {
            SetSource::Inline(values) => values
                .iter()
                .filter_map(|v| match &v.kind {
                    ValueKind::Str(s) | ValueKind::Cidr(s) | ValueKind::Ip(s) => Some((s.clone(), v.span)),
                    ValueKind::Name(n) => Some((format!("\u{0}{}", n.text), n.span)),
                    _ => {
                        self.push(Diagnostic::new(
                            Code::InvalidLiteral,
                            v.span,
                            "expected a quoted entry",
                            "not an entry here",
                        ));
                        None
                    }
                })
                .collect(),
            SetSource::File { path, span } => {
                let Some((id, text)) = self.read_source(item_span, path, *span) else { return Vec::new() };
                let parsed = tables::read(Format::List, id, &text);
                self.diags.extend(parsed.diagnostics);
                parsed.entries.into_iter().map(|e| (e.key, e.key_span)).collect()
            }
        }
    }

    fn network(&mut self, d: &ast::SetDecl) -> Network {
        let mut net = Network::default();
        for (text, span) in self.set_members(&d.source, d.span) {
            if let Some(name) = text.strip_prefix('\u{0}') {
                // A reference to another network: its members join.
                let ident = ast::Ident { text: name.to_string(), span };
                if let Some(i) = self.resolve(&ident, Want::Network) {
                    if let DeclKind::Network(other) = &self.decls[i].kind {
                        let members = other.members.clone();
                        net.members.extend(members);
                    } else if self.decls[i].kind.is_pending() {
                        self.push(
                            Diagnostic::new(
                                Code::UndefinedName,
                                span,
                                format!("`{name}` must be declared before it is used in a network"),
                                "declared later",
                            )
                            .help("move this network below the one it includes"),
                        );
                    }
                }
                continue;
            }
            match Cidr::parse(&text) {
                Ok(c) => net.members.push((c, span)),
                Err(e) => self.push(
                    Diagnostic::new(Code::InvalidLiteral, span, e, "not a network")
                        .help("write networks like `192.0.2.0/24` or `2001:db8::/32`"),
                ),
            }
        }
        if net.members.is_empty() && matches!(d.source, SetSource::Inline(ref v) if v.is_empty()) {
            self.push(
                Diagnostic::new(
                    Code::EmptySet,
                    d.name.span,
                    format!("network `{}` is empty", d.name.text),
                    "no members",
                )
                .help("add networks or remove it"),
            );
        }
        net
    }

    fn domains(&mut self, d: &ast::DomainsDecl) -> DomainSet {
        let mut set = DomainSet::default();
        if let Some(class) = &d.class {
            if DOMAIN_CLASSES.iter().any(|(c, _)| *c == class.text) {
                set.class = Some(class.text.clone());
            } else {
                let mut diag = Diagnostic::new(
                    Code::UnknownWord,
                    class.span,
                    format!("`{}` is not a domain class", class.text),
                    "unknown class",
                );
                diag = match did_you_mean(&class.text, DOMAIN_CLASSES.iter().map(|(c, _)| *c)) {
                    Some(c) => diag.help(format!("did you mean `{c}`?")),
                    None => diag.help("the classes are `local`, `virtual_alias`, `virtual_mailbox` and `relay`; leave the class out for a plain set"),
                };
                self.push(diag);
            }
        }
        let mut seen: HashMap<String, Span> = HashMap::new();
        for (text, span) in self.set_members(&d.source, d.span) {
            if text.starts_with('\u{0}') {
                self.push(
                    Diagnostic::new(Code::InvalidLiteral, span, "expected a quoted domain", "not a domain")
                        .help("write domains in quotes: `\"example.com\"`"),
                );
                continue;
            }
            let (dot, bare) = match text.strip_prefix('.') {
                Some(rest) => (".", rest),
                None => ("", text.as_str()),
            };
            match normalize_domain(bare) {
                Ok(n) => {
                    let n = format!("{dot}{n}");
                    if let Some(prev) = seen.get(&n) {
                        let prev = *prev;
                        self.push(
                            Diagnostic::new(
                                Code::DuplicateKey,
                                span,
                                format!("`{n}` is listed twice"),
                                "listed again here",
                            )
                            .label(prev, "first listed here")
                            .help("remove one of them"),
                        );
                        continue;
                    }
                    seen.insert(n.clone(), span);
                    set.members.push((n, span));
                }
                Err(e) => self.push(Diagnostic::new(Code::InvalidLiteral, span, e.0, "not a domain")),
            }
        }
        set
    }

    fn table(&mut self, d: &ast::TableDecl) -> Option<Table> {
        let mut ok = true;
        if !KEY_KINDS.iter().any(|(k, _)| *k == d.key.text) {
            let mut diag = Diagnostic::new(
                Code::UnknownWord,
                d.key.span,
                format!("`{}` is not a key kind", d.key.text),
                "unknown key kind",
            );
            diag = match did_you_mean(&d.key.text, KEY_KINDS.iter().map(|(k, _)| *k)) {
                Some(c) => diag.help(format!("did you mean `{c}`?")),
                None => diag.help("key kinds are `address`, `local`, `domain`, `cidr` and `regexp`"),
            };
            self.push(diag);
            ok = false;
        }
        if let Some(v) = &d.value {
            if !VALUE_TYPES.iter().any(|(t, _)| *t == v.word.text) {
                let mut diag = Diagnostic::new(
                    Code::UnknownWord,
                    v.word.span,
                    format!("`{}` is not a value type", v.word.text),
                    "unknown value type",
                );
                diag = match did_you_mean(&v.word.text, VALUE_TYPES.iter().map(|(t, _)| *t)) {
                    Some(c) => diag.help(format!("did you mean `{c}`?")),
                    None => diag.help(format!(
                        "value types are {}",
                        VALUE_TYPES.iter().map(|(t, _)| format!("`{t}`")).collect::<Vec<_>>().join(", ")
                    )),
                };
                self.push(diag);
                ok = false;
            }
        }
        let mut table = Table {
            key: d.key.text.clone(),
            value: d.value.as_ref().map(|v| v.word.text.clone()),
            list: d.value.as_ref().is_some_and(|v| v.list),
            ..Table::default()
        };
        let raw = match &d.source {
            TableSource::Inline(entries) => self.inline_entries(entries),
            TableSource::Format { format, directory, path, path_span } => {
                let Some(fmt) = Format::from_word(&format.text) else {
                    let mut diag = Diagnostic::new(
                        Code::UnknownWord,
                        format.span,
                        format!("`{}` is not a table format", format.text),
                        "unknown format",
                    );
                    diag = match did_you_mean(&format.text, Format::WORDS.iter().copied()) {
                        Some(c) => diag.help(format!("did you mean `{c}`?")),
                        None => diag.help("formats are `postfix`, `tsv`, `aliases`, `cidr`, `regexp` and `file`"),
                    };
                    self.push(diag);
                    return None;
                };
                self.check_format_fits(fmt, d, format.span);
                self.read_table_files(fmt, *directory, path, *path_span, d.span)
            }
        };
        if !ok {
            return None;
        }
        self.fill_table(&mut table, raw, d);
        if table.entries.is_empty() && matches!(d.source, TableSource::Inline(ref e) if e.is_empty()) {
            self.push(
                Diagnostic::new(Code::EmptySet, d.name.span, format!("table `{}` is empty", d.name.text), "no entries")
                    .help("add entries or remove it"),
            );
        }
        Some(table)
    }

    fn check_format_fits(&mut self, fmt: Format, d: &ast::TableDecl, span: Span) {
        let key = d.key.text.as_str();
        let problem = match fmt {
            Format::Cidr if key != "cidr" => Some("a `cidr` file needs key kind `cidr`"),
            Format::Regexp if key != "regexp" => Some("a `regexp` file needs key kind `regexp`"),
            Format::Aliases if key != "local" => Some("an `aliases` file needs key kind `local`"),
            Format::List if d.value.is_some() => Some("a `file` source lists keys only; the table cannot have values"),
            _ if key == "cidr" && !matches!(fmt, Format::Cidr | Format::List) => {
                Some("key kind `cidr` needs a `cidr` file or an inline map")
            }
            _ if key == "regexp" && fmt != Format::Regexp => {
                Some("key kind `regexp` needs a `regexp` file or an inline map")
            }
            _ => None,
        };
        if let Some(p) = problem {
            self.push(
                Diagnostic::new(Code::TypeMismatch, span, p, "format and type disagree")
                    .label(d.key.span, "the key kind"),
            );
        }
    }

    fn read_table_files(
        &mut self,
        fmt: Format,
        directory: bool,
        path: &str,
        path_span: Span,
        item: Span,
    ) -> Vec<RawEntry> {
        let paths = if directory {
            let base = self.sources.file(item.file).path.clone();
            let dir = resolve_relative(&base, path);
            match crate::files::read_dir_sorted(&dir) {
                Ok(files) => files,
                Err(e) => {
                    self.push(Diagnostic::new(
                        Code::UnreadableFile,
                        path_span,
                        format!("cannot read directory `{}`: {e}", dir.display()),
                        "named here",
                    ));
                    return Vec::new();
                }
            }
        } else {
            vec![std::path::PathBuf::from(path)]
        };
        let mut out = Vec::new();
        for p in paths {
            let Some((id, text)) = self.read_source(item, &p.to_string_lossy(), path_span) else { continue };
            let parsed = tables::read(fmt, id, &text);
            self.diags.extend(parsed.diagnostics);
            out.extend(parsed.entries);
        }
        out
    }

    fn inline_entries(&mut self, entries: &[ast::Entry]) -> Vec<RawEntry> {
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let key = match &e.key.kind {
                ValueKind::Str(s) | ValueKind::Cidr(s) | ValueKind::Ip(s) => s.clone(),
                _ => {
                    self.push(Diagnostic::new(
                        Code::InvalidTableValue,
                        e.key.span,
                        "a key must be a quoted text or a network",
                        "not a key",
                    ));
                    continue;
                }
            };
            let value = e.value.as_ref().map(|v| (self.inline_value(v), v.span));
            out.push(RawEntry {
                key,
                key_span: e.key.span,
                flags: None,
                value_span: value.as_ref().map_or(e.key.span, |(_, s)| *s),
                value: value.map(|(v, _)| v),
            });
        }
        out
    }

    /// An inline value in the same text form a table file would have.
    fn inline_value(&mut self, v: &ast::Value) -> String {
        match &v.kind {
            ValueKind::Str(s) => s.clone(),
            ValueKind::List(items) => {
                items.iter().map(|i| self.inline_value(i)).map(|s| quote_if_needed(&s)).collect::<Vec<_>>().join(", ")
            }
            ValueKind::Reply(r) => reply_text(r),
            ValueKind::Name(n) => n.text.clone(),
            _ => self.sources.snippet(v.span).to_string(),
        }
    }

    fn fill_table(&mut self, table: &mut Table, raw: Vec<RawEntry>, d: &ast::TableDecl) {
        table.entries.reserve(raw.len());
        table.index.reserve(raw.len());
        for e in raw {
            let Some(key) = self.table_key(&table.key, &e) else { continue };
            let values = match (&table.value, e.value) {
                (None, None) => Vec::new(),
                // A set written in Postfix syntax may carry `OK`-style values.
                (None, Some(_)) => Vec::new(),
                (Some(_), None) => {
                    self.push(
                        Diagnostic::new(
                            Code::InvalidTableValue,
                            e.key_span,
                            format!("`{}` has no value", e.key),
                            "key without value",
                        )
                        .help(format!("table `{}` maps keys to values; give this key a value", d.name.text)),
                    );
                    continue;
                }
                (Some(ty), Some(v)) => match self.table_values(ty, table.list, &v, e.value_span, d) {
                    Some(vals) => vals,
                    None => continue,
                },
            };
            if let Some(&prev) = table.index.get(&key) {
                let first = &table.entries[prev];
                let same = first.values.iter().map(|(v, _)| v).eq(values.iter().map(|(v, _)| v));
                let (code, msg, help) = if same {
                    (Code::DuplicateKey, format!("`{key}` appears twice with the same value"), "remove the second line")
                } else {
                    (
                        Code::ConflictingKeys,
                        format!("`{key}` appears twice with different values"),
                        "a lookup finds only the first; remove or merge one of them",
                    )
                };
                let first_span = first.key_span;
                self.push(
                    Diagnostic::new(code, e.key_span, msg, "again here").label(first_span, "first here").help(help),
                );
                continue;
            }
            table.index.insert(key.clone(), table.entries.len());
            table.entries.push(TableEntry { key, key_span: e.key_span, values });
        }
    }

    /// The normalised lookup key of an entry, or a diagnostic.
    fn table_key(&mut self, kind: &str, e: &RawEntry) -> Option<String> {
        let k = e.key.as_str();
        let result: Result<String, String> = match kind {
            "address" => normalize_address_key(k),
            "local" => check_local(k).map(|_| k.to_lowercase()).map_err(|e| e.0),
            "domain" => match k.strip_prefix('.') {
                Some(rest) => normalize_domain(rest).map(|d| format!(".{d}")).map_err(|e| e.0),
                None => normalize_domain(k).map_err(|e| e.0),
            },
            "cidr" => Cidr::parse(k).map(|c| format!("{}/{}", c.addr, c.prefix)),
            "regexp" => {
                let flags = e.flags.as_deref().unwrap_or("");
                let ci = !flags.contains('i'); // Postfix: case-insensitive unless `i` toggles it
                let pattern = if ci { format!("(?i){k}") } else { k.to_string() };
                regex::Regex::new(&pattern).map(|_| k.to_string()).map_err(|err| {
                    let msg = err.to_string();
                    msg.lines().last().unwrap_or("invalid regular expression").trim().to_string()
                })
            }
            _ => Ok(k.to_string()),
        };
        match result {
            Ok(key) => Some(key),
            Err(msg) => {
                let code = if kind == "regexp" { Code::InvalidRegexp } else { Code::InvalidTableValue };
                self.push(
                    Diagnostic::new(code, e.key_span, format!("`{k}` is not a valid {kind} key: {msg}"), "invalid key")
                        .help(key_help(kind)),
                );
                None
            }
        }
    }

    fn table_values(
        &mut self,
        ty: &str,
        list: bool,
        v: &str,
        span: Span,
        d: &ast::TableDecl,
    ) -> Option<Vec<(String, Span)>> {
        let parts: Vec<String> = if list { split_list(v) } else { vec![v.trim().to_string()] };
        if !list && ty != "text" && ty != "reply" && ty != "action" && split_list(v).len() > 1 {
            self.push(
                Diagnostic::new(
                    Code::InvalidTableValue,
                    span,
                    format!("`{v}` is a list, but table `{}` has one value per key", d.name.text),
                    "several values",
                )
                .help(format!("declare the value type as `[{ty}]`")),
            );
            return None;
        }
        let mut out = Vec::with_capacity(parts.len());
        for p in parts {
            if let Err(msg) = check_value(ty, &p) {
                self.push(
                    Diagnostic::new(
                        Code::InvalidTableValue,
                        span,
                        format!("`{p}` is not a valid {ty}: {msg}"),
                        "invalid value",
                    )
                    .help(value_help(ty)),
                );
                return None;
            }
            out.push((p, span));
        }
        Some(out)
    }

    fn transport(&mut self, d: &ast::TransportDecl) -> Option<Transport> {
        let Some(kind) = transports::transport(&d.kind.text) else {
            let mut diag = Diagnostic::new(
                Code::UnknownWord,
                d.kind.span,
                format!("`{}` is not a transport kind", d.kind.text),
                "unknown transport kind",
            );
            diag = match did_you_mean(&d.kind.text, transports::TRANSPORTS.iter().map(|t| t.name)) {
                Some(c) => diag.help(format!("did you mean `{c}`?")),
                None => {
                    diag.help("transport kinds are `maildir`, `mbox`, `lmtp`, `smtp`, `pipe`, `discard` and `hold`")
                }
            };
            self.push(diag);
            return None;
        };
        match (kind.target, &d.target) {
            (Target::Required(what), None) => self.push(
                Diagnostic::new(
                    Code::MissingOption,
                    d.kind.span,
                    format!("`{}` needs a target", kind.name),
                    "no target",
                )
                .help(format!("write {what} in quotes after `{}`", kind.name)),
            ),
            (Target::None, Some((_, span))) => self.push(
                Diagnostic::new(Code::UnknownOption, *span, format!("`{}` takes no target", kind.name), "not used")
                    .help("remove it"),
            ),
            (_, Some((t, span))) => {
                self.check_template(t, *span);
                if kind.name == "lmtp" && !(t.starts_with("unix:") || t.starts_with("inet:") || t.contains(':')) {
                    self.push(
                        Diagnostic::new(
                            Code::InvalidLiteral,
                            *span,
                            format!("`{t}` is not an LMTP destination"),
                            "expected a socket or host:port",
                        )
                        .help("write `unix:/path/to/socket` or `host:port`"),
                    );
                }
            }
            _ => {}
        }
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for o in &d.options {
            let Some(spec) = kind.options.iter().find(|s| s.name == o.name.text) else {
                let mut diag = Diagnostic::new(
                    Code::UnknownOption,
                    o.name.span,
                    format!("`{}` is not an option of `{}`", o.name.text, kind.name),
                    "unknown option",
                );
                diag = match did_you_mean(&o.name.text, kind.options.iter().map(|s| s.name)) {
                    Some(c) => diag.help(format!("did you mean `{c}`?")),
                    None if kind.options.is_empty() => diag.help(format!("`{}` takes no options", kind.name)),
                    None => diag.help(format!(
                        "`{}` takes {}",
                        kind.name,
                        kind.options.iter().map(|s| format!("`{}`", s.name)).collect::<Vec<_>>().join(", ")
                    )),
                };
                self.push(diag);
                continue;
            };
            if let Some(prev) = seen.insert(spec.name, o.span) {
                self.push(
                    Diagnostic::new(
                        Code::DuplicateSetting,
                        o.span,
                        format!("`{}` is given twice", spec.name),
                        "again here",
                    )
                    .label(prev, "first here"),
                );
            }
            self.option_value(spec.name, spec.ty, o);
        }
        if kind.name == "pipe" && !d.options.iter().any(|o| o.name.text == "user") {
            self.push(
                Diagnostic::new(
                    Code::MissingOption,
                    d.name.span,
                    "a `pipe` transport needs a `user` to run the command as",
                    "no user",
                )
                .help("add `{ user \"nobody\" }`; commands never run as root"),
            );
        }
        Some(Transport { kind: kind.name.to_string() })
    }

    fn option_value(&mut self, name: &str, ty: OptionType, o: &ast::Opt) {
        let v = o.value.as_ref().map(|v| &v.kind);
        let ok = match (ty, v) {
            (OptionType::Flag, None) => true,
            (OptionType::Word(words), Some(ValueKind::Name(n))) => self.word_in(n, words),
            (OptionType::Words(words), Some(ValueKind::List(items))) => items.iter().all(|i| match &i.kind {
                ValueKind::Name(n) => self.word_in(n, words),
                _ => false,
            }),
            (OptionType::Text, Some(ValueKind::Str(_))) => true,
            (OptionType::Number, Some(ValueKind::Number(n))) => *n > 0 && *n != ast::OVERFLOW,
            (OptionType::Duration, Some(ValueKind::Duration(n))) => *n > 0 && *n != ast::OVERFLOW,
            (OptionType::Env, Some(ValueKind::Map(entries))) => entries.iter().all(|e| {
                matches!(&e.key.kind, ValueKind::Str(k) if !k.is_empty() && !k.contains('='))
                    && matches!(e.value.as_ref().map(|v| &v.kind), Some(ValueKind::Str(_)))
            }),
            _ => false,
        };
        if !ok {
            let expected = match ty {
                OptionType::Flag => "no value".to_string(),
                OptionType::Word(w) => {
                    format!("one of {}", w.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", "))
                }
                OptionType::Words(w) => {
                    format!("a list of {}", w.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", "))
                }
                OptionType::Text => "a text in quotes".into(),
                OptionType::Number => "a number greater than 0".into(),
                OptionType::Duration => "a duration like `30s`".into(),
                OptionType::Env => "a map of names to texts: `{ \"NAME\" -> \"value\" }`".into(),
            };
            self.push(
                Diagnostic::new(Code::UnknownOption, o.span, format!("`{name}` needs {expected}"), "wrong value")
                    .help(format!("write `{name}` with {expected}")),
            );
        }
    }

    fn word_in(&self, n: &ast::Ident, words: &[&str]) -> bool {
        words.contains(&n.text.as_str())
    }

    pub(super) fn check_domain_classes(&mut self) {
        let mut owner: HashMap<&str, (usize, &str, Span)> = HashMap::new();
        let mut found = Vec::new();
        for (i, decl) in self.decls.iter().enumerate() {
            let DeclKind::Domains(set) = &decl.kind else { continue };
            let Some(class) = &set.class else { continue };
            for (m, span) in &set.members {
                match owner.get(m.as_str()) {
                    Some((j, other, first)) if other != class => {
                        found.push((
                            m.clone(),
                            *span,
                            class.clone(),
                            *first,
                            other.to_string(),
                            self.decls[*j].name.clone(),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        owner.insert(m, (i, class, *span));
                    }
                }
            }
        }
        for (domain, span, class, first, other, other_set) in found {
            self.push(
                Diagnostic::new(
                    Code::DomainClasses,
                    span,
                    format!("`{domain}` is in two domain classes"),
                    format!("`{class}` here"),
                )
                .label(first, format!("`{other}` here, in `{other_set}`"))
                .help("a domain belongs to one class only; remove it from one of the sets"),
            );
        }
    }
}

fn normalize_address_key(k: &str) -> Result<String, String> {
    match k.rfind('@') {
        // `@domain`: a catch-all.
        Some(0) => normalize_domain(&k[1..]).map(|d| format!("@{d}")).map_err(|e| e.0),
        // `user@`: any domain (access maps).
        Some(at) if at == k.len() - 1 => check_local(&k[..at]).map(|_| k.to_lowercase()).map_err(|e| e.0),
        Some(_) => parse_address(k).map(|a| a.key()).map_err(|e| e.0),
        // A bare word: a local part (local domains) or a domain (access
        // maps); both are lowercased, and a word with a dot must be a
        // valid domain or a valid local part.
        None => {
            if check_local(k).is_ok() || normalize_domain(k).is_ok() {
                Ok(normalize_domain(k).unwrap_or_else(|_| k.to_lowercase()))
            } else {
                Err("neither a local part nor a domain".into())
            }
        }
    }
}

fn key_help(kind: &str) -> &'static str {
    match kind {
        "address" => "address keys are `user@domain`, `@domain` (catch-all), `user@` or a bare `user` or `domain`",
        "local" => "local keys are local parts like `alice` or `alice+tag`, without `@`",
        "domain" => "domain keys are `example.com`, or `.example.com` for every subdomain",
        "cidr" => "cidr keys are addresses or networks like `192.0.2.0/24`",
        _ => "regular expressions follow the Rust `regex` syntax (like Postfix's PCRE without look-around)",
    }
}

fn value_help(ty: &str) -> &'static str {
    match ty {
        "address" => "write addresses as `user@domain`",
        "target" => "alias targets are addresses, `\"|command\"`, `/file/path` or `:include:/path`",
        "domain" => "write a domain like `example.com`",
        "reply" => "write a reply like `550 5.7.1 text`",
        "action" => "actions are `ok`, `reject [reply]`, `defer [reply]`, `dunno`, `hold`, `discard`, or a reply like `550 5.7.1 text`",
        "route" => "write a transport name, optionally with a next hop: `relay` or `relay:[192.0.2.1]:25`",
        _ => "see the value types in docs/language.md",
    }
}

/// Checks one value of a table against its type.
pub(crate) fn check_value(ty: &str, v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("the value is empty".into());
    }
    match ty {
        "address" => parse_address(v).map(|_| ()).or_else(|e| if check_local(v).is_ok() { Ok(()) } else { Err(e.0) }),
        "target" => {
            if v.starts_with('|') || v.starts_with('/') || v.starts_with(":include:") {
                Ok(())
            } else {
                check_value("address", v)
            }
        }
        "domain" => normalize_domain(v).map(|_| ()).map_err(|e| e.0),
        "local" => check_local(v).map_err(|e| e.0),
        "reply" => parse_reply_text(v).map(|_| ()),
        "action" => check_action(v),
        "route" => {
            let name = v.split(':').next().unwrap_or("");
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') {
                Err("expected a transport name".into())
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// `550 5.7.1 text` -> (code, enhanced, text).
pub(crate) fn parse_reply_text(v: &str) -> Result<(u16, Option<String>, String), String> {
    let mut parts = v.splitn(2, char::is_whitespace);
    let code: u16 = parts.next().and_then(|c| c.parse().ok()).ok_or("a reply starts with a three-digit code")?;
    let rest = parts.next().unwrap_or("").trim_start();
    let (enhanced, text) = match rest.split_once(char::is_whitespace) {
        Some((e, t)) if e.split('.').count() == 3 && e.chars().all(|c| c.is_ascii_digit() || c == '.') => {
            (Some(e.to_string()), t.trim())
        }
        _ if rest.split('.').count() == 3
            && rest.chars().all(|c| c.is_ascii_digit() || c == '.')
            && !rest.is_empty() =>
        {
            (Some(rest.to_string()), "")
        }
        _ => (None, rest),
    };
    check_reply(code, enhanced.as_deref())?;
    Ok((code, enhanced, text.to_string()))
}

fn check_action(v: &str) -> Result<(), String> {
    let (word, rest) = v.split_once(char::is_whitespace).unwrap_or((v, ""));
    match word.to_ascii_lowercase().as_str() {
        "ok" | "accept" | "permit" | "dunno" | "continue" => {
            if rest.trim().is_empty() {
                Ok(())
            } else {
                Err(format!("`{word}` takes no text"))
            }
        }
        "hold" | "discard" | "warn" => Ok(()),
        "reject" | "defer" => {
            let rest = rest.trim();
            if rest.is_empty() || !rest.starts_with(|c: char| c.is_ascii_digit()) {
                return Ok(());
            }
            let (code, _, _) = parse_reply_text(rest)?;
            match (word.to_ascii_lowercase().as_str(), code / 100) {
                ("reject", 5) | ("defer", 4) => Ok(()),
                _ => Err(format!("`{word}` cannot use code `{code}`")),
            }
        }
        w if w.starts_with(|c: char| c.is_ascii_digit()) => parse_reply_text(v).map(|_| ()),
        _ => Err(format!("`{word}` is not an action")),
    }
}

/// Splits a Postfix-style list: commas and/or whitespace, with quoted
/// items kept whole (`a@x, "|cmd arg", /file`).
pub(crate) fn split_list(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in v.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => {
                push_item(&mut out, &mut cur);
            }
            c if c.is_whitespace() && !quoted && !cur.starts_with('|') => push_item(&mut out, &mut cur),
            c => cur.push(c),
        }
    }
    push_item(&mut out, &mut cur);
    out
}

fn push_item(out: &mut Vec<String>, cur: &mut String) {
    let t = cur.trim();
    if !t.is_empty() {
        // `"|cmd arg"` is one item; the quotes are not part of it.
        let t = if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') && t[1..].starts_with(['|', '/', ':']) {
            &t[1..t.len() - 1]
        } else {
            t
        };
        out.push(t.to_string());
    }
    cur.clear();
}

fn quote_if_needed(s: &str) -> String {
    if s.contains([' ', ',', '\t']) {
        format!("\"{s}\"")
    } else {
        s.to_string()
    }
}

fn reply_text(r: &ast::Reply) -> String {
    let mut s = r.code.to_string();
    if let Some(e) = &r.enhanced {
        s.push(' ');
        s.push_str(e);
    }
    if let Some(t) = &r.text {
        s.push(' ');
        s.push_str(t);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_like_postfix() {
        assert_eq!(split_list("a@x, b@y c@z"), vec!["a@x", "b@y", "c@z"]);
        assert_eq!(split_list("\"|/bin/prog arg\", /var/file"), vec!["|/bin/prog arg", "/var/file"]);
        assert_eq!(split_list(":include:/etc/list"), vec![":include:/etc/list"]);
    }

    #[test]
    fn actions_follow_access_5() {
        assert!(check_action("OK").is_ok());
        assert!(check_action("REJECT go away").is_ok());
        assert!(check_action("550 5.7.1 go away").is_ok());
        assert!(check_action("reject 450 4.7.1 later").is_err());
        assert!(check_action("frobnicate").is_err());
    }

    #[test]
    fn address_keys_normalise() {
        assert_eq!(normalize_address_key("Joe@Example.COM.").unwrap(), "joe@example.com");
        assert_eq!(normalize_address_key("@Example.com").unwrap(), "@example.com");
        assert_eq!(normalize_address_key("Joe").unwrap(), "joe");
        assert!(normalize_address_key("a b@c").is_err());
    }

    #[test]
    fn subdomain_members_match_only_subdomains() {
        assert!(domain_matches(".example.com", "a.example.com"));
        assert!(!domain_matches(".example.com", "example.com"));
        assert!(!domain_matches(".example.com", "badexample.com"));
        assert!(domain_matches("example.com", "example.com"));
    }
}
