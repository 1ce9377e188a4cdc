//! The checker: loaded AST -> symbols, table data and diagnostics.
//!
//! Passes, in order: collect declarations (names are global across
//! includes, declared once); check settings; check each declaration and
//! load its data (`decls`); check the blocks that use names (`rules`);
//! then the whole-policy analyses that need everything at once: domain
//! classes, expansion cycles and fan-out (`expand`), the open-relay proof
//! (`relay`) and unused names. Every pass records problems and goes on, so
//! one run reports everything; a pass never assumes an earlier one found
//! nothing wrong (a declaration with a bad type is still a declaration).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use mailc_lang::ast::{self, Item};
use mailc_lang::{SourceMap, Span};
use mailc_stdlib::settings::{self, SettingType};

use crate::diag::{did_you_mean, Code, Diagnostic};
use crate::load::{self, Loaded};

mod decls;
mod expand;
pub mod literal;
mod relay;
mod rules;

pub use decls::{normalize_key, DeclKind, DomainSet, Network, Table, Transport};
use literal::Cidr;

/// A declared name.
#[derive(Debug)]
pub struct Decl {
    /// The name.
    pub name: String,
    /// Where the name is declared.
    pub span: Span,
    /// What it is, with its data.
    pub kind: DeclKind,
}

/// A setting as given.
#[derive(Debug, Clone)]
pub struct SettingValue {
    /// The value.
    pub value: ast::Value,
    /// Where the setting is.
    pub span: Span,
}

/// The result of checking a policy.
#[derive(Debug)]
pub struct Checked {
    /// Every file read.
    pub sources: SourceMap,
    /// Every problem, in source order.
    pub diagnostics: Vec<crate::diag::Diagnostic>,
    /// Declarations in source order.
    pub decls: Vec<Decl>,
    /// Settings given.
    pub settings: HashMap<String, SettingValue>,
    /// The parsed files.
    pub policies: Vec<(mailc_lang::FileId, ast::Policy)>,
    /// Every item of every file, in include order.
    pub items: Vec<Item>,
    /// The addresses of each `:include:` list, by the file naming it and
    /// the value as written.
    pub includes: HashMap<(mailc_lang::FileId, String), Vec<String>>,
}

impl Checked {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity() == crate::diag::Severity::Error)
    }
}

/// Checks the policy at `path`.
pub fn check_file(path: &Path) -> Result<Checked, load::LoadError> {
    Ok(check_loaded(load::load(path)?))
}

/// Checks a policy whose root text is given (tests, stdin).
pub fn check_text(path: &Path, text: &str) -> Checked {
    check_loaded(load::load_text(path, text))
}

/// Runs every pass over a loaded policy.
pub fn check_loaded(loaded: Loaded) -> Checked {
    let items: Vec<Item> = loaded.items().into_iter().cloned().collect();
    let Loaded { sources, policies, diagnostics } = loaded;
    let parse_failed = diagnostics.iter().any(|d| d.code == Code::Syntax);
    let mut cx = Checker {
        sources,
        diags: diagnostics,
        decls: Vec::new(),
        index: HashMap::new(),
        used: HashSet::new(),
        settings: HashMap::new(),
        delimiters: String::new(),
        classed: HashSet::new(),
        root_parsed: !parse_failed,
        includes: HashMap::new(),
    };
    let mut clock = Clock::new();
    cx.collect(&items);
    cx.check_settings(&items);
    for item in &items {
        cx.check_decl(item);
    }
    clock.lap("declarations and table data");
    cx.check_domain_classes();
    cx.check_includes();
    let blocks = rules::check_blocks(&mut cx, &items);
    clock.lap("rules");
    if !parse_failed {
        expand::check_expansions(&mut cx, &blocks);
        clock.lap("expansion analysis");
        relay::check_open_relay(&mut cx, &items);
    }
    // With a syntax error, a use may sit in the unreadable item: saying its
    // name is unused would be a false alarm.
    if !parse_failed {
        cx.check_unused();
    }
    let mut diags = cx.diags;
    diags.sort_by_key(|d| (d.primary.span.file, d.primary.span.start));
    diags.dedup();
    Checked {
        sources: cx.sources,
        diagnostics: diags,
        decls: cx.decls,
        settings: cx.settings,
        policies,
        items,
        includes: cx.includes,
    }
}

/// Phase timings on stderr when `MAILC_TIMINGS` is set, for benchmarks.
pub(crate) struct Clock {
    start: Option<std::time::Instant>,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock { start: std::env::var_os("MAILC_TIMINGS").map(|_| std::time::Instant::now()) }
    }

    pub(crate) fn lap(&mut self, what: &str) {
        if let Some(start) = self.start {
            eprintln!("timing: {what}: {:.3} s", start.elapsed().as_secs_f64());
            self.start = Some(std::time::Instant::now());
        }
    }
}

/// State shared by the passes.
pub(crate) struct Checker {
    pub sources: SourceMap,
    pub diags: Vec<Diagnostic>,
    pub decls: Vec<Decl>,
    pub index: HashMap<String, usize>,
    pub used: HashSet<String>,
    pub settings: HashMap<String, SettingValue>,
    pub delimiters: String,
    /// Domain sets declared with a class word, valid or not.
    pub classed: HashSet<String>,
    /// The root file parsed without a syntax error (so a missing block is
    /// really missing, not lost in a broken item).
    pub root_parsed: bool,
    /// The addresses of every `:include:` list, by the file that names
    /// it and the value as written.
    pub includes: HashMap<(mailc_lang::FileId, String), Vec<String>>,
}

/// What a use site needs a name to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Network,
    Domains,
    Table,
    Transport,
    Reply,
}

impl Want {
    fn describe(self) -> &'static str {
        match self {
            Want::Network => "a `network`",
            Want::Domains => "a `domains` set",
            Want::Table => "a `table`",
            Want::Transport => "a `transport`",
            Want::Reply => "a `reply`",
        }
    }
}

impl Checker {
    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn collect(&mut self, items: &[Item]) {
        for item in items {
            let name = match item {
                Item::Network(d) => &d.name,
                Item::Domains(d) => &d.name,
                Item::Table(d) => &d.name,
                Item::Transport(d) => &d.name,
                Item::Reply(d) => &d.name,
                Item::Dnsbl(d) => &d.name,
                _ => continue,
            };
            if let Some(&prev) = self.index.get(&name.text) {
                let first = self.decls[prev].span;
                self.push(
                    Diagnostic::new(
                        Code::DuplicateName,
                        name.span,
                        format!("`{}` is declared twice", name.text),
                        "declared again here",
                    )
                    .label(first, "first declared here")
                    .help("every name is global across included files; rename one of them"),
                );
                continue;
            }
            self.index.insert(name.text.clone(), self.decls.len());
            self.decls.push(Decl { name: name.text.clone(), span: name.span, kind: DeclKind::Pending });
        }
    }

    /// Resolves a reference: marks it used, reports undefined names and
    /// names of the wrong kind. Returns the declaration's index.
    pub(crate) fn resolve(&mut self, name: &ast::Ident, want: Want) -> Option<usize> {
        let Some(&i) = self.index.get(&name.text) else {
            let candidates: Vec<String> =
                self.decls.iter().filter(|d| d.kind.is(want) || d.kind.is_pending()).map(|d| d.name.clone()).collect();
            let mut d = Diagnostic::new(
                Code::UndefinedName,
                name.span,
                format!("`{}` is not declared", name.text),
                format!("expected {} here", want.describe()),
            );
            d = match did_you_mean(&name.text, candidates.iter().map(String::as_str)) {
                Some(c) => {
                    // The misspelled use was meant for `c`: do not also
                    // call `c` unused.
                    self.used.insert(c.to_string());
                    d.help(format!("did you mean `{c}`?"))
                }
                None => d.help(format!("declare {} called `{}`", want.describe(), name.text)),
            };
            self.push(d);
            return None;
        };
        self.used.insert(name.text.clone());
        let decl = &self.decls[i];
        if !decl.kind.is(want) && !decl.kind.is_pending() {
            let (what, span) = (decl.kind.describe(), decl.span);
            self.push(
                Diagnostic::new(
                    Code::WrongKind,
                    name.span,
                    format!("`{}` is {what}, not {}", name.text, want.describe()),
                    format!("{} is needed here", want.describe()),
                )
                .label(span, format!("`{}` is declared here", name.text))
                .help(format!("use the name of {}", want.describe())),
            );
            return None;
        }
        Some(i)
    }

    fn check_settings(&mut self, items: &[Item]) {
        for item in items {
            let Item::Setting(s) = item else { continue };
            let Some(known) = settings::setting(&s.name.text) else {
                let mut d = Diagnostic::new(
                    Code::UnknownSetting,
                    s.name.span,
                    format!("`{}` is not a setting", s.name.text),
                    "unknown setting",
                );
                d = match did_you_mean(&s.name.text, settings::SETTINGS.iter().map(|s| s.name)) {
                    Some(c) => d.help(format!("did you mean `{c}`?")),
                    None => d.help("the settings are listed in docs/language.md under \"Settings\""),
                };
                self.push(d);
                continue;
            };
            if let Some(prev) = self.settings.get(&s.name.text) {
                let prev = prev.span;
                self.push(
                    Diagnostic::new(
                        Code::DuplicateSetting,
                        s.span,
                        format!("`{}` is set twice", s.name.text),
                        "set again here",
                    )
                    .label(prev, "first set here")
                    .help("keep one of them"),
                );
                continue;
            }
            self.check_setting_value(known, s);
            self.settings.insert(s.name.text.clone(), SettingValue { value: s.value.clone(), span: s.span });
        }
    }

    fn check_setting_value(&mut self, known: &settings::Setting, s: &ast::Setting) {
        use ast::ValueKind as V;
        let ok = match (&s.value.kind, known.ty) {
            (V::Str(t), SettingType::Domain) => {
                if let Err(e) = mailc_stdlib::address::normalize_domain(t) {
                    self.push(Diagnostic::new(Code::InvalidSetting, s.value.span, e.0, "not a domain name"));
                }
                true
            }
            (V::Str(t), SettingType::Template) => {
                self.check_template(t, s.value.span, 0);
                true
            }
            (V::Str(_), SettingType::Text | SettingType::Path) => true,
            (V::Str(t), SettingType::Delimiters) => {
                if t.is_empty() || t.chars().any(|c| c.is_alphanumeric() || c.is_whitespace() || c == '@') {
                    self.push(
                        Diagnostic::new(
                            Code::InvalidSetting,
                            s.value.span,
                            format!("`{t}` cannot be a recipient delimiter"),
                            "invalid delimiter",
                        )
                        .help("use punctuation characters that do not occur in user names, like `\"+\"` or `\"+-\"`"),
                    );
                } else {
                    self.delimiters = t.clone();
                }
                true
            }
            (V::Str(t), SettingType::HostPort) => {
                if t.parse::<std::net::SocketAddr>().is_err() {
                    self.push(
                        Diagnostic::new(
                            Code::InvalidSetting,
                            s.value.span,
                            format!("`{t}` is not an address and port"),
                            "expected `address:port`",
                        )
                        .help("write it like `\"127.0.0.1:53\"` or `\"[::1]:53\"`"),
                    );
                }
                true
            }
            (V::Number(n), SettingType::Size | SettingType::Number) | (V::Size(n), SettingType::Size) => {
                if *n == ast::OVERFLOW {
                    self.push(Diagnostic::new(
                        Code::InvalidSetting,
                        s.value.span,
                        "the number is too large",
                        "too large",
                    ));
                } else if *n == 0 && known.ty == SettingType::Number {
                    self.push(
                        Diagnostic::new(
                            Code::InvalidSetting,
                            s.value.span,
                            format!("`{}` cannot be 0", known.name),
                            "must be at least 1",
                        )
                        .help("limits in mailc are never unlimited; choose a large value instead"),
                    );
                }
                true
            }
            (V::Duration(n), SettingType::Duration) => {
                if *n == ast::OVERFLOW {
                    self.push(Diagnostic::new(
                        Code::InvalidSetting,
                        s.value.span,
                        "the duration is too long",
                        "too long",
                    ));
                }
                true
            }
            (V::Bool(_), SettingType::Bool) => true,
            (V::Name(n), SettingType::Network) => {
                self.resolve(n, Want::Network);
                true
            }
            (V::List(items), SettingType::Addresses) => {
                for v in items {
                    match &v.kind {
                        V::Ip(t) | V::Str(t) if t.parse::<std::net::IpAddr>().is_ok() => {}
                        _ => self.push(Diagnostic::new(
                            Code::InvalidSetting,
                            v.span,
                            "expected an IP address",
                            "not an IP address",
                        )),
                    }
                }
                true
            }
            _ => false,
        };
        if !ok {
            self.push(
                Diagnostic::new(
                    Code::InvalidSetting,
                    s.value.span,
                    format!("`{}` needs {}", known.name, known.ty.describe()),
                    "wrong kind of value",
                )
                .help(format!("`{}`: {}", known.name, known.doc)),
            );
        }
    }

    /// Checks the placeholders of a template used at `stage` (an index
    /// into the stages, or [`mailc_stdlib::DELIVERY`]). `span` is the
    /// string literal or something that contains it.
    pub(crate) fn check_template(&mut self, text: &str, span: Span, stage: usize) {
        let placeholders = match literal::placeholders(text) {
            Ok(p) => p,
            Err((offset, len, message)) => {
                let at = self.inside_literal(span, text, offset, len);
                self.push(Diagnostic::new(Code::InvalidTemplate, at, message, "in this template").help(format!(
                    "placeholders are {}; write `{{{{` and `}}}}` for literal braces",
                    mailc_stdlib::PLACEHOLDERS.iter().map(|(p, _)| format!("`{{{p}}}`")).collect::<Vec<_>>().join(", ")
                )));
                return;
            }
        };
        for (offset, name) in placeholders {
            let from = mailc_stdlib::placeholder_stage(name);
            if from > stage {
                let at = self.inside_literal(span, text, offset, name.len() + 2);
                let now = mailc_stdlib::STAGES.get(stage).copied().unwrap_or("delivery");
                self.push(
                    Diagnostic::new(
                        Code::InvalidTemplate,
                        at,
                        format!("`{{{name}}}` has no value yet at `{now}`"),
                        format!("known from `{}` on", mailc_stdlib::STAGES[from]),
                    )
                    .help(format!(
                        "use this text at `{}` or later, or leave the placeholder out",
                        mailc_stdlib::STAGES[from]
                    )),
                );
            }
        }
    }

    /// The span of bytes `offset..offset + len` of a template's text inside
    /// its string literal, found in `span`; the whole span when the
    /// literal has escapes (offsets would not match) or is not found.
    fn inside_literal(&self, span: Span, text: &str, offset: usize, len: usize) -> Span {
        let snippet = self.sources.snippet(span);
        let Some(open) = snippet.find('"') else { return span };
        let body = &snippet[open + 1..];
        if body.len() >= text.len() && body[..text.len()] == *text && body[text.len()..].starts_with('"') {
            let start = span.start as usize + open + 1 + offset;
            Span::new(span.file, start, start + len.max(1))
        } else {
            span
        }
    }

    /// The trusted networks, parsed.
    pub(crate) fn trusted(&self) -> (Option<String>, Vec<Cidr>) {
        let Some(SettingValue { value: ast::Value { kind: ast::ValueKind::Name(n), .. }, .. }) =
            self.settings.get("trusted_networks")
        else {
            return (None, Vec::new());
        };
        let nets = match self.index.get(&n.text).map(|&i| &self.decls[i].kind) {
            Some(DeclKind::Network(net)) => net.members.iter().map(|(c, _)| *c).collect(),
            _ => Vec::new(),
        };
        (Some(n.text.clone()), nets)
    }

    /// A numeric setting or its default.
    pub(crate) fn number_setting(&self, name: &str) -> u64 {
        if let Some(SettingValue { value: ast::Value { kind: ast::ValueKind::Number(n), .. }, .. }) =
            self.settings.get(name)
        {
            return *n;
        }
        settings::setting(name).and_then(|s| s.default).and_then(|d| d.parse().ok()).unwrap_or(1000)
    }

    fn check_unused(&mut self) {
        for decl in &self.decls {
            if self.used.contains(&decl.name) || decl.kind.is_pending() {
                continue;
            }
            let (code, what) = match &decl.kind {
                DeclKind::Transport(_) => (Code::UnusedTransport, "transport"),
                // A classed domain set is used by being a class.
                DeclKind::Domains(d) if d.class.is_some() || self.classed.contains(&decl.name) => continue,
                other => (Code::UnusedName, other.describe_short()),
            };
            self.diags.push(
                Diagnostic::new(code, decl.span, format!("{what} `{}` is never used", decl.name), "declared here")
                    .help("remove it, or use it in a rule"),
            );
        }
    }
}
