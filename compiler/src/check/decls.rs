//! Declarations: networks, domain sets, tables, transports, replies and
//! block lists, each checked and its data loaded.
//!
//! Table data is read once here, keys normalised the way the engine will
//! look them up (lowercase, A-labels, no trailing dot), values split and
//! validated against the declared value type, and duplicate keys found.
//! Every entry keeps the span of its line so later passes (cycles,
//! duplicates, the relay proof) can cite file:line.

use std::collections::HashMap;
use std::hash::BuildHasher;

use mailc_lang::ast::{self, Item, SetSource, TableSource, ValueKind};
use mailc_lang::Span;
use mailc_stdlib::address::{check_address, check_domain, check_local, normalize_domain, push_domain, push_lower};
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

/// One entry: ranges into its table's arenas.
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: (u32, u32),
    key_span: Span,
    /// First value item and count.
    values: (u32, u32),
}

/// One value of an entry: a range of the value arena and its span.
#[derive(Debug, Clone, Copy)]
struct ValueItem {
    range: (u32, u32),
    span: Span,
}

/// A table's type and data.
///
/// Keys and values live in two arenas (one string each) and entries are
/// ranges into them, with a hash index of entry numbers: a million-line
/// table is a handful of allocations, not millions. Keys are normalised
/// for lookup; values are split if the type is a list.
#[derive(Default)]
pub struct Table {
    /// `address`, `local`, `domain`, `cidr`, `regexp`.
    pub key: String,
    /// The value type word; `None` for a set.
    pub value: Option<String>,
    /// `[type]`.
    pub list: bool,
    keys: String,
    values: String,
    entries: Vec<Entry>,
    items: Vec<ValueItem>,
    /// Regexp flags per entry (regexp tables only).
    flags: Vec<String>,
    index: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("key", &self.key)
            .field("value", &self.value)
            .field("entries", &self.len())
            .finish()
    }
}

fn arena(text: &str, (start, end): (u32, u32)) -> &str {
    text.get(start as usize..end as usize).unwrap_or("")
}

impl Table {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The normalised key of entry `i`.
    pub fn key(&self, i: usize) -> &str {
        arena(&self.keys, self.entries[i].key)
    }

    /// Where entry `i`'s key is written.
    pub fn key_span(&self, i: usize) -> Span {
        self.entries[i].key_span
    }

    /// The values of entry `i` with their spans.
    pub fn values(&self, i: usize) -> impl Iterator<Item = (&str, Span)> + '_ {
        let (first, count) = self.entries[i].values;
        self.items[first as usize..(first + count) as usize].iter().map(|v| (arena(&self.values, v.range), v.span))
    }

    /// The regexp flags of entry `i` (empty for other tables).
    pub fn flags(&self, i: usize) -> &str {
        self.flags.get(i).map_or("", String::as_str)
    }

    /// How many values entry `i` has.
    pub fn value_count(&self, i: usize) -> usize {
        self.entries[i].values.1 as usize
    }

    /// The entry with this normalised key.
    pub fn find(&self, key: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(key);
        self.index.find(hash, |&j| arena(&self.keys, self.entries[j as usize].key) == key).map(|&j| j as usize)
    }
}

/// A transport's kind.
#[derive(Debug)]
pub struct Transport {
    /// `maildir`, `smtp`, ...
    pub kind: String,
}

impl Checker {
    pub(super) fn check_decl(&mut self, item: &Item) {
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
                    self.check_template(t, d.reply.span, mailc_stdlib::DELIVERY);
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
        self.read_path(resolve_relative(&base, path), span)
    }

    /// Reads a file by its resolved path (once per compilation).
    pub(crate) fn read_path(
        &mut self,
        full: std::path::PathBuf,
        span: Span,
    ) -> Option<(mailc_lang::FileId, std::sync::Arc<str>)> {
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
                    .help("paths are relative to the file that names them"),
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
        if d.class.is_some() {
            self.classed.insert(d.name.text.clone());
        }
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
        if set.members.is_empty() && matches!(d.source, SetSource::Inline(ref v) if v.is_empty()) {
            self.push(
                Diagnostic::new(
                    Code::EmptySet,
                    d.name.span,
                    format!("domain set `{}` is empty", d.name.text),
                    "no members",
                )
                .help("add domains or remove it"),
            );
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
        let spec =
            Spec { key: table.key.clone(), value: table.value.clone(), list: table.list, name: d.name.text.clone() };
        let parts = match &d.source {
            TableSource::Inline(entries) => {
                let raw = self.inline_entries(entries);
                vec![build_part(&spec, raw, None)]
            }
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
                let files = self.read_table_files(*directory, path, *path_span, d.span);
                if !ok {
                    return None;
                }
                let mut clock = super::Clock::new();
                let parts = files.iter().flat_map(|(id, text)| read_parts(fmt, *id, text, &spec)).collect();
                clock.lap("table files parsed and normalised");
                parts
            }
        };
        if !ok {
            return None;
        }
        let mut clock = super::Clock::new();
        let diags = merge_parts(&mut table, parts);
        self.diags.extend(diags);
        clock.lap("table indexed");
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
        directory: bool,
        path: &str,
        path_span: Span,
        item: Span,
    ) -> Vec<(mailc_lang::FileId, std::sync::Arc<str>)> {
        let base = self.sources.file(item.file).path.clone();
        let paths = if directory {
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
            vec![resolve_relative(&base, path)]
        };
        paths.into_iter().filter_map(|p| self.read_path(p, path_span)).collect()
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
                self.check_template(t, *span, mailc_stdlib::DELIVERY);
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
                    .label(prev, "first here")
                    .help("give each option once; the first one would win"),
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
                Diagnostic::new(Code::InvalidOptionValue, o.span, format!("`{name}` needs {expected}"), "wrong value")
                    .help(format!("write `{name}` with {expected}")),
            );
        }
    }

    fn word_in(&self, n: &ast::Ident, words: &[&str]) -> bool {
        words.contains(&n.text.as_str())
    }

    /// Reads every `:include:` list named by an alias table, checks its
    /// addresses and keeps them for the expansion analysis. Postfix wants
    /// an absolute path; mailc also takes a path relative to the aliases
    /// file, so a policy directory can carry its lists.
    pub(super) fn check_includes(&mut self) {
        let mut wanted: Vec<(mailc_lang::FileId, String, Span)> = Vec::new();
        for decl in &self.decls {
            let DeclKind::Table(t) = &decl.kind else { continue };
            if t.value.as_deref() != Some("target") {
                continue;
            }
            for e in 0..t.len() {
                for (v, span) in t.values(e) {
                    if v.starts_with(":include:") && !wanted.iter().any(|(f, w, _)| *f == span.file && w == v) {
                        wanted.push((span.file, v.to_string(), span));
                    }
                }
            }
        }
        for (file, value, span) in wanted {
            let path = value.trim_start_matches(":include:").trim();
            if path.is_empty() {
                self.push(
                    Diagnostic::new(Code::InvalidTableValue, span, "`:include:` names no file", "empty include")
                        .help("write `:include:/path/to/list`"),
                );
                continue;
            }
            let base = self.sources.file(file).path.clone();
            let Some((id, text)) = self.read_path(resolve_relative(&base, path), span) else { continue };
            let mut addresses = Vec::new();
            let mut offset = 0;
            for line in text.split_inclusive('\n') {
                let content = line.split('#').next().unwrap_or("");
                for item in split_list(content) {
                    let start = offset + (item.as_ptr() as usize - line.as_ptr() as usize);
                    let item_span = Span::new(id, start, start + item.len());
                    match check_value("target", item) {
                        Ok(()) if item.starts_with(":include:") => self.push(
                            Diagnostic::new(
                                Code::InvalidTableValue,
                                item_span,
                                "an include list cannot include another",
                                "nested include",
                            )
                            .help("list the addresses here, or name both lists in the alias"),
                        ),
                        Ok(()) => addresses.push(item.to_string()),
                        Err(msg) => self.push(
                            Diagnostic::new(
                                Code::InvalidTableValue,
                                item_span,
                                format!("`{item}` is not a valid address: {msg}"),
                                "invalid entry",
                            )
                            .label(span, "included from here")
                            .help("an include list holds addresses, separated by commas or newlines"),
                        ),
                    }
                }
                offset += line.len();
            }
            self.includes.insert((file, value), addresses);
        }
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

/// What a table's entries must be, for the workers that check them.
struct Spec {
    key: String,
    value: Option<String>,
    list: bool,
    name: String,
}

/// Entries of one chunk of a table source, checked and normalised but
/// not yet indexed.
#[derive(Default)]
struct Part {
    keys: String,
    values: String,
    entries: Vec<Entry>,
    items: Vec<ValueItem>,
    flags: Vec<String>,
    diags: Vec<Diagnostic>,
}

/// Files larger than this are read by several threads.
const PARALLEL_BYTES: usize = 1 << 20;
/// The size of a chunk of a large file.
const CHUNK_BYTES: usize = 8 << 20;

/// Reads one table file into parts: large files in the line-oriented
/// formats are cut at entry boundaries and read on several threads.
fn read_parts(fmt: Format, id: mailc_lang::FileId, text: &str, spec: &Spec) -> Vec<Part> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    // Large files are cut into chunks of about CHUNK_BYTES that the threads
    // take in turn, so the work stays balanced and progress can be shown.
    let chunks = if text.len() >= PARALLEL_BYTES && matches!(fmt, Format::Postfix | Format::Tsv | Format::List) {
        split_at_entries(text, text.len().div_ceil(CHUNK_BYTES))
    } else {
        vec![(0, text)]
    };
    let work = |(offset, chunk): (usize, &str)| {
        let parsed = tables::read(fmt, id, chunk);
        let mut entries = parsed.entries;
        let mut diags = parsed.diagnostics;
        if offset > 0 {
            let shift = |s: &mut Span| {
                s.start += offset as u32;
                s.end += offset as u32;
            };
            for e in &mut entries {
                shift(&mut e.key_span);
                shift(&mut e.value_span);
            }
            for d in &mut diags {
                shift(&mut d.primary.span);
                d.labels.iter_mut().for_each(|l| shift(&mut l.span));
            }
        }
        let mut part = build_part(spec, entries, Some(text));
        diags.append(&mut part.diags);
        part.diags = diags;
        part
    };
    if chunks.len() == 1 {
        return chunks.into_iter().map(work).collect();
    }
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let (bytes_done, rows_done) = (AtomicU64::new(0), AtomicU64::new(0));
    let slots: Vec<std::sync::Mutex<Option<Part>>> = chunks.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.min(chunks.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&chunk) = chunks.get(i) else { break };
                let part = work(chunk);
                let done = bytes_done.fetch_add(chunk.1.len() as u64, Ordering::Relaxed) + chunk.1.len() as u64;
                let rows =
                    rows_done.fetch_add(part.entries.len() as u64, Ordering::Relaxed) + part.entries.len() as u64;
                crate::progress::table(&spec.name, done, text.len() as u64, rows);
                if let Ok(mut slot) = slots[i].lock() {
                    *slot = Some(part);
                }
            });
        }
    });
    // Parts in file order, so entries keep their order.
    slots.into_iter().filter_map(|s| s.into_inner().ok().flatten()).collect()
}

/// Cuts `text` into about `n` chunks, each starting at the beginning of
/// an entry: a line that starts with neither whitespace nor `#`, so no
/// continuation line is separated from its entry.
fn split_at_entries(text: &str, n: usize) -> Vec<(usize, &str)> {
    let bytes = text.as_bytes();
    let mut cuts = vec![0];
    for k in 1..n {
        let mut at = text.len() * k / n;
        let found = loop {
            match bytes[at..].iter().position(|&b| b == b'\n') {
                Some(p) => {
                    at += p + 1;
                    match bytes.get(at) {
                        Some(b) if !b.is_ascii_whitespace() && *b != b'#' => break Some(at),
                        Some(_) => continue,
                        None => break None,
                    }
                }
                None => break None,
            }
        };
        match found {
            Some(at) if at > *cuts.last().unwrap_or(&0) => cuts.push(at),
            _ => {}
        }
    }
    cuts.iter()
        .enumerate()
        .map(|(i, &start)| {
            let end = cuts.get(i + 1).copied().unwrap_or(text.len());
            (start, &text[start..end])
        })
        .collect()
}

/// Checks and normalises raw entries into a part.
/// `source` is the text the entries' spans point into, when they come
/// from a file: it lets each item of a list value get its own span.
fn build_part(spec: &Spec, raw: Vec<RawEntry>, source: Option<&str>) -> Part {
    let mut part = Part::default();
    part.entries.reserve(raw.len());
    for e in raw {
        let key_mark = part.keys.len();
        if let Err(msg) = push_table_key(&spec.key, &e, &mut part.keys) {
            part.keys.truncate(key_mark);
            let kind = spec.key.as_str();
            let code = if kind == "regexp" { Code::InvalidRegexp } else { Code::InvalidTableValue };
            let help = if e.key.contains(char::is_whitespace) && kind != "regexp" {
                "keys cannot contain spaces; in a `tsv` file, key and value are separated by a TAB".to_string()
            } else {
                key_help(kind).to_string()
            };
            part.diags.push(
                Diagnostic::new(
                    code,
                    e.key_span,
                    format!("`{}` is not a valid {kind} key: {msg}", e.key),
                    "invalid key",
                )
                .help(help),
            );
            continue;
        }
        let key = (key_mark as u32, part.keys.len() as u32);
        let (item_mark, value_mark) = (part.items.len(), part.values.len());
        let ok = match (&spec.value, &e.value) {
            // A set written in Postfix syntax may carry `OK`-style values.
            (None, _) => true,
            (Some(_), None) => {
                part.diags.push(
                    Diagnostic::new(
                        Code::InvalidTableValue,
                        e.key_span,
                        format!("`{}` has no value", e.key),
                        "key without value",
                    )
                    .help(format!("table `{}` maps keys to values; give this key a value", spec.name)),
                );
                false
            }
            (Some(ty), Some(v)) => push_values(spec, ty, v, e.value_span, source, &mut part),
        };
        if !ok {
            part.keys.truncate(key_mark);
            part.items.truncate(item_mark);
            part.values.truncate(value_mark);
            continue;
        }
        part.entries.push(Entry {
            key,
            key_span: e.key_span,
            values: (item_mark as u32, (part.items.len() - item_mark) as u32),
        });
        if spec.key == "regexp" {
            part.flags.push(e.flags.clone().unwrap_or_default());
        }
    }
    part
}

/// Splits and checks a value, appending its items to the part.
fn push_values(spec: &Spec, ty: &str, v: &str, span: Span, source: Option<&str>, part: &mut Part) -> bool {
    let parts = split_list(v);
    if !spec.list && ty != "text" && ty != "reply" && ty != "action" && parts.len() > 1 {
        part.diags.push(
            Diagnostic::new(
                Code::InvalidTableValue,
                span,
                format!("`{v}` is a list, but table `{}` has one value per key", spec.name),
                "several values",
            )
            .help(format!("declare the value type as `[{ty}]`")),
        );
        return false;
    }
    let one = [v.trim()];
    let items: &[&str] = if spec.list { &parts } else { &one };
    for p in items {
        // The item's own span when the value is written as read (one
        // line, no quotes removed); otherwise the whole value's.
        let offset = (p.as_ptr() as usize).wrapping_sub(v.as_ptr() as usize);
        let start = span.start as usize + offset;
        let item_span = match source {
            Some(text) if offset <= v.len() && text.get(start..start + p.len()) == Some(*p) => {
                Span::new(span.file, start, start + p.len())
            }
            _ => span,
        };
        let span = item_span;
        if let Err(msg) = check_value(ty, p) {
            // A reply of the wrong class is its own mistake (E0117).
            let (code, help) = if ty == "action" && action_class_mismatch(p) {
                (Code::ReplyClass, "`reject` takes a 5xx code and `defer` a 4xx code")
            } else {
                (Code::InvalidTableValue, value_help(ty))
            };
            part.diags.push(
                Diagnostic::new(code, span, format!("`{p}` is not a valid {ty}: {msg}"), "invalid value").help(help),
            );
            return false;
        }
        let start = part.values.len() as u32;
        part.values.push_str(p);
        part.items.push(ValueItem { range: (start, part.values.len() as u32), span });
    }
    true
}

/// Appends parts to a table in order, building the index; a key seen
/// before is a duplicate (same values) or a conflict (different values).
fn merge_parts(table: &mut Table, parts: Vec<Part>) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let total: usize = parts.iter().map(|p| p.entries.len()).sum();
    table.entries.reserve(total);
    table.index.reserve(total, |_| 0);
    // The arenas grow once, not by doubling across parts.
    table.keys.reserve(parts.iter().map(|p| p.keys.len()).sum());
    table.values.reserve(parts.iter().map(|p| p.values.len()).sum());
    table.items.reserve(parts.iter().map(|p| p.items.len()).sum());
    for mut part in parts {
        diags.append(&mut part.diags);
        let (key_base, value_base, item_base) =
            (table.keys.len() as u32, table.values.len() as u32, table.items.len() as u32);
        table.keys.push_str(&part.keys);
        table.values.push_str(&part.values);
        table.items.extend(
            part.items
                .iter()
                .map(|v| ValueItem { range: (v.range.0 + value_base, v.range.1 + value_base), span: v.span }),
        );
        for (k, e) in part.entries.iter().enumerate() {
            let entry = Entry {
                key: (e.key.0 + key_base, e.key.1 + key_base),
                key_span: e.key_span,
                values: (e.values.0 + item_base, e.values.1),
            };
            let key_text = arena(&table.keys, entry.key);
            let hash = table.hasher.hash_one(key_text);
            let prev =
                table.index.find(hash, |&j| arena(&table.keys, table.entries[j as usize].key) == key_text).copied();
            if let Some(prev) = prev {
                let first = table.entries[prev as usize];
                let old = &table.items[first.values.0 as usize..(first.values.0 + first.values.1) as usize];
                let new = &table.items[entry.values.0 as usize..(entry.values.0 + entry.values.1) as usize];
                let same = old.len() == new.len()
                    && old.iter().zip(new).all(|(a, b)| arena(&table.values, a.range) == arena(&table.values, b.range));
                let (code, msg, help) = if same {
                    (
                        Code::DuplicateKey,
                        format!("`{key_text}` appears twice with the same value"),
                        "remove the second line",
                    )
                } else {
                    (
                        Code::ConflictingKeys,
                        format!("`{key_text}` appears twice with different values"),
                        "a lookup finds only the first; remove or merge one of them",
                    )
                };
                diags.push(
                    Diagnostic::new(code, entry.key_span, msg, "again here")
                        .label(first.key_span, "first here")
                        .help(help),
                );
                continue;
            }
            let idx = table.entries.len() as u32;
            let (keys, entries, hasher) = (&table.keys, &table.entries, &table.hasher);
            table.index.insert_unique(hash, idx, |&j| hasher.hash_one(arena(keys, entries[j as usize].key)));
            table.entries.push(entry);
            if let Some(f) = part.flags.get(k) {
                table.flags.push(f.clone());
            }
        }
    }
    diags
}

/// Appends the lookup form of `key` for a table keyed by `kind` to `out`:
/// the one normalisation of address, local-part and domain keys, shared
/// by the checker (table files) and `mailc table query` (keys asked for).
/// Other kinds are appended as they are.
pub fn normalize_key(kind: &str, k: &str, out: &mut String) -> Result<(), String> {
    match kind {
        "address" => push_address_key(out, k),
        "local" => {
            // A quoted name (`"first last": ...` in an aliases file) arrives
            // unquoted; it is valid when it would be valid quoted.
            check_local(k)
                .or_else(|e| if k.contains('"') { Err(e) } else { check_local(&format!("\"{k}\"")) })
                .map_err(|e| e.0)?;
            push_lower(out, k);
            Ok(())
        }
        "domain" => match k.strip_prefix('.') {
            Some(rest) => {
                out.push('.');
                push_domain(out, rest).map_err(|e| e.0)
            }
            None => push_domain(out, k).map_err(|e| e.0),
        },
        _ => {
            out.push_str(k);
            Ok(())
        }
    }
}

/// Appends the normalised lookup key of an entry to `out`.
fn push_table_key(kind: &str, e: &RawEntry, out: &mut String) -> Result<(), String> {
    let k = e.key.as_str();
    match kind {
        "address" | "local" | "domain" => normalize_key(kind, k, out),
        "cidr" => {
            let c = Cidr::parse(k)?;
            out.push_str(&format!("{}/{}", c.addr, c.prefix));
            Ok(())
        }
        "regexp" => {
            let flags = e.flags.as_deref().unwrap_or("");
            let pattern = mailc_artifact::tables::regexp_pattern(k, flags);
            regex::Regex::new(&pattern).map_err(|err| {
                let text = err.to_string();
                let last = text.lines().last().unwrap_or("invalid regular expression").trim();
                last.strip_prefix("error: ").unwrap_or(last).to_string()
            })?;
            out.push_str(k);
            Ok(())
        }
        _ => {
            out.push_str(k);
            Ok(())
        }
    }
}

/// An address-table key: `user@domain`, `@domain` (catch-all), `user@`
/// (any domain, access maps), or a bare domain or local part.
fn push_address_key(out: &mut String, k: &str) -> Result<(), String> {
    match k.rfind('@') {
        Some(0) => {
            out.push('@');
            push_domain(out, &k[1..]).map_err(|e| e.0)
        }
        Some(at) if at == k.len() - 1 => {
            check_local(&k[..at]).map_err(|e| e.0)?;
            push_lower(out, k);
            Ok(())
        }
        Some(_) => mailc_stdlib::address::push_address_key(out, k).map_err(|e| e.0),
        None if k.starts_with('.') => {
            out.push('.');
            push_domain(out, &k[1..]).map_err(|e| e.0)
        }
        None => {
            if k.contains('.') && check_domain(k).is_ok() {
                push_domain(out, k).map_err(|e| e.0)
            } else {
                check_local(k).map_err(|_| "neither a local part nor a domain".to_string())?;
                push_lower(out, k);
                Ok(())
            }
        }
    }
}

fn key_help(kind: &str) -> &'static str {
    match kind {
        "address" => {
            "address keys are `user@domain`, `@domain` (catch-all), `user@`, a bare `user` or `domain`, or `.domain` (subdomains)"
        }
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
        // `user@domain`, a bare local part (local domains), or `@domain`
        // (canonical(5): replace the domain, keep the local part).
        "address" => match v.strip_prefix('@') {
            Some(domain) => check_domain(domain).map_err(|e| e.0),
            None => {
                check_address(v).or_else(|e| if !v.contains('@') && check_local(v).is_ok() { Ok(()) } else { Err(e.0) })
            }
        },
        "target" => {
            if v.starts_with('|') || v.starts_with('/') || v.starts_with(":include:") {
                Ok(())
            } else {
                check_value("address", v)
            }
        }
        "domain" => check_domain(v).map_err(|e| e.0),
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

/// Whether an action value is `reject` or `defer` with a reply code of
/// the other class (`reject 450 ...`).
fn action_class_mismatch(v: &str) -> bool {
    let mut words = v.split_whitespace();
    let (Some(word), Some(code)) = (words.next(), words.next()) else { return false };
    let Ok(code) = code.parse::<u16>() else { return false };
    match word.to_ascii_lowercase().as_str() {
        "reject" => code / 100 != 5,
        "defer" => code / 100 != 4,
        _ => false,
    }
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
/// items kept whole (`a@x, "|cmd arg", /file`); an unquoted `|command`
/// runs to the next comma.
pub(crate) fn split_list(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = v.as_bytes();
    let (mut start, mut quoted) = (0, false);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let split = !quoted && (b == b',' || (b.is_ascii_whitespace() && !v[start..i].trim_start().starts_with('|')));
        if b == b'"' {
            quoted = !quoted;
        } else if split {
            push_item(&mut out, &v[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    push_item(&mut out, &v[start..]);
    out
}

fn push_item<'a>(out: &mut Vec<&'a str>, item: &'a str) {
    let t = item.trim();
    if !t.is_empty() {
        // `"|cmd arg"` is one item; the quotes are not part of it.
        let t = if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') && t[1..].starts_with(['|', '/', ':']) {
            &t[1..t.len() - 1]
        } else {
            t
        };
        out.push(t);
    }
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
        assert!(action_class_mismatch("reject 450 4.7.1 later"));
        assert!(!action_class_mismatch("reject 550 5.7.1 go away"));
        assert!(check_action("frobnicate").is_err());
    }

    #[test]
    fn address_keys_normalise() {
        let key = |k: &str| {
            let mut out = String::new();
            push_address_key(&mut out, k).map(|_| out)
        };
        assert_eq!(key("Joe@Example.COM.").unwrap(), "joe@example.com");
        assert_eq!(key("@Example.com").unwrap(), "@example.com");
        assert_eq!(key("Joe").unwrap(), "joe");
        assert_eq!(key("Joe@").unwrap(), "joe@");
        assert_eq!(key("Example.COM").unwrap(), "example.com");
        assert!(key("a b@c").is_err());
    }

    #[test]
    fn subdomain_members_match_only_subdomains() {
        assert!(domain_matches(".example.com", "a.example.com"));
        assert!(!domain_matches(".example.com", "example.com"));
        assert!(!domain_matches(".example.com", "badexample.com"));
        assert!(domain_matches("example.com", "example.com"));
    }
}
