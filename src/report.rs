//! Rendering diagnostics: human (miette), JSON, GitHub annotations, SARIF.
//!
//! The JSON schema is documented in docs/diagnostics.md and is stable:
//! fields are only ever added. Positions are 1-based lines and columns
//! counted in characters; `end_column` is exclusive. Human output has no
//! colour when stdout is not a terminal or when `NO_COLOR` is set, and
//! shows at most `HUMAN_LIMIT` diagnostics per code (a million-line table
//! with a bad format should not print a million snippets).

use std::collections::HashMap;
use std::fmt;
use std::io::IsTerminal;
use std::sync::Arc;

use mailc_compiler::diag::{Code, Diagnostic, Label, Severity};
use mailc_compiler::Checked;
use mailc_lang::{SourceMap, Span};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use serde_json::{json, Value};

const HUMAN_LIMIT: usize = 50;

/// Where a span is, in lines and columns.
struct Position {
    file: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
}

fn position(sources: &SourceMap, span: Span) -> Position {
    let file = sources.file(span.file);
    let (line, column) = file.line_col(span.start as usize);
    let (end_line, end_column) = file.line_col(span.end as usize);
    Position { file: file.path.display().to_string(), line, column, end_line, end_column }
}

// ------------------------------------------------------------------ human

/// One report for miette: a diagnostic's labels in one file.
#[derive(Debug)]
struct Rendered {
    message: String,
    code: Option<String>,
    severity: miette::Severity,
    help: Option<String>,
    source: NamedSource<Arc<str>>,
    labels: Vec<LabeledSpan>,
    related: Vec<Rendered>,
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Rendered {}

impl miette::Diagnostic for Rendered {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.code.as_ref().map(|c| Box::new(c) as Box<dyn fmt::Display>)
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic)))
        }
    }
}

fn source_of(sources: &SourceMap, span: Span) -> NamedSource<Arc<str>> {
    let file = sources.file(span.file);
    NamedSource::new(file.path.display().to_string(), file.text.clone())
}

fn labeled(label: &Label, primary: bool) -> LabeledSpan {
    let span = SourceSpan::new((label.span.start as usize).into(), (label.span.end - label.span.start) as usize);
    if primary {
        LabeledSpan::new_primary_with_span(Some(label.text.clone()), span)
    } else {
        LabeledSpan::new_with_span(Some(label.text.clone()), span)
    }
}

fn to_rendered(sources: &SourceMap, d: &Diagnostic) -> Rendered {
    let home = d.primary.span.file;
    let mut labels = vec![labeled(&d.primary, true)];
    // Labels in other files become one note per file, with that file's
    // snippet, in the order the files first appear among the labels.
    let mut related: Vec<Rendered> = Vec::new();
    let mut files: Vec<mailc_lang::FileId> = Vec::new();
    for l in &d.labels {
        if l.span.file == home {
            labels.push(labeled(l, false));
        } else if !files.contains(&l.span.file) {
            files.push(l.span.file);
        }
    }
    for file in files {
        let here: Vec<&Label> = d.labels.iter().filter(|l| l.span.file == file).collect();
        let first = here[0].span;
        let message = match here.as_slice() {
            [one] => format!("{} ({})", one.text, sources.location(first)),
            _ => format!("also in {}", sources.location(first)),
        };
        related.push(Rendered {
            message,
            code: None,
            severity: miette::Severity::Advice,
            help: None,
            source: source_of(sources, first),
            labels: here.into_iter().map(|l| labeled(l, false)).collect(),
            related: Vec::new(),
        });
    }
    Rendered {
        message: d.message.clone(),
        code: Some(format!("{}({})", d.code.as_str(), d.code.slug())),
        severity: match d.severity() {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        },
        help: d.help.clone(),
        source: source_of(sources, d.primary.span),
        labels,
        related,
    }
}

/// Whether human output may use colour.
fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// Renders diagnostics as miette reports with source snippets.
pub fn human(checked: &Checked) -> String {
    render_human(&checked.sources, &checked.diagnostics, colour(), 100)
}

/// The human rendering with explicit colour and width (tests use this).
pub fn render_human(sources: &SourceMap, diags: &[Diagnostic], colour: bool, width: usize) -> String {
    let theme = if colour { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(width).with_links(false);
    let mut out = String::new();
    let mut shown: HashMap<Code, usize> = HashMap::new();
    for d in diags {
        let n = shown.entry(d.code).or_default();
        *n += 1;
        if *n > HUMAN_LIMIT {
            continue;
        }
        let rendered = to_rendered(sources, d);
        if handler.render_report(&mut out, &rendered).is_err() {
            out.push_str(&format!("{}: {}\n", d.code.as_str(), d.message));
        }
        out.push('\n');
    }
    for (code, n) in sorted(&shown) {
        if n > HUMAN_LIMIT {
            out.push_str(&format!(
                "... and {} more {} ({}) not shown; use --format json for all\n",
                n - HUMAN_LIMIT,
                code.as_str(),
                code.slug()
            ));
        }
    }
    out.push_str(&summary_line(diags));
    out.push('\n');
    out
}

fn sorted(shown: &HashMap<Code, usize>) -> Vec<(Code, usize)> {
    let mut v: Vec<_> = shown.iter().map(|(c, n)| (*c, *n)).collect();
    v.sort();
    v
}

fn summary_line(diags: &[Diagnostic]) -> String {
    let errors = diags.iter().filter(|d| d.severity() == Severity::Error).count();
    let warnings = diags.len() - errors;
    let plural = |n: usize, w: &str| if n == 1 { format!("1 {w}") } else { format!("{n} {w}s") };
    match (errors, warnings) {
        (0, 0) => "ok: no problems found".to_string(),
        _ => format!("{}, {}", plural(errors, "error"), plural(warnings, "warning")),
    }
}

// ------------------------------------------------------------------ json

fn json_label(sources: &SourceMap, l: &Label, primary: bool) -> Value {
    let p = position(sources, l.span);
    json!({
        "file": p.file, "line": p.line, "column": p.column,
        "end_line": p.end_line, "end_column": p.end_column,
        "message": l.text, "primary": primary,
    })
}

/// The JSON document (schema version 1, see docs/diagnostics.md).
pub fn json(checked: &Checked) -> String {
    let diags: Vec<Value> = checked
        .diagnostics
        .iter()
        .map(|d| {
            let p = position(&checked.sources, d.primary.span);
            let mut labels = vec![json_label(&checked.sources, &d.primary, true)];
            labels.extend(d.labels.iter().map(|l| json_label(&checked.sources, l, false)));
            json!({
                "code": d.code.as_str(),
                "name": d.code.slug(),
                "severity": d.severity(),
                "message": d.message,
                "file": p.file, "line": p.line, "column": p.column,
                "end_line": p.end_line, "end_column": p.end_column,
                "labels": labels,
                "help": d.help,
            })
        })
        .collect();
    let errors = checked.diagnostics.iter().filter(|d| d.severity() == Severity::Error).count();
    let doc = json!({
        "version": 1,
        "diagnostics": diags,
        "summary": { "errors": errors, "warnings": checked.diagnostics.len() - errors },
    });
    format!("{}\n", serde_json::to_string_pretty(&doc).unwrap_or_default())
}

// ------------------------------------------------------------------ github

/// Escapes workflow-command data (GitHub's `escapeData`).
fn gh_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes workflow-command properties (GitHub's `escapeProperty`).
fn gh_prop(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub Actions workflow commands, one annotation per diagnostic.
pub fn github(checked: &Checked) -> String {
    let mut out = String::new();
    for d in &checked.diagnostics {
        let p = position(&checked.sources, d.primary.span);
        let level = match d.severity() {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut message = format!("{} ({})", d.message, d.primary.text);
        for l in &d.labels {
            message.push_str(&format!("\n{}: {}", checked.sources.location(l.span), l.text));
        }
        if let Some(h) = &d.help {
            message.push_str(&format!("\nhelp: {h}"));
        }
        out.push_str(&format!(
            "::{level} file={},line={},col={},endLine={},endColumn={},title={}::{}\n",
            gh_prop(&p.file),
            p.line,
            p.column,
            p.end_line,
            p.end_column,
            gh_prop(&format!("{} {}", d.code.as_str(), d.code.slug())),
            gh_data(&message),
        ));
    }
    out
}

// ------------------------------------------------------------------ sarif

fn sarif_location(sources: &SourceMap, span: Span, message: Option<&str>) -> Value {
    let p = position(sources, span);
    let mut loc = json!({
        "physicalLocation": {
            "artifactLocation": { "uri": p.file.replace('\\', "/") },
            "region": {
                "startLine": p.line, "startColumn": p.column,
                "endLine": p.end_line, "endColumn": p.end_column,
            }
        }
    });
    if let Some(m) = message {
        loc["message"] = json!({ "text": m });
    }
    loc
}

/// A SARIF 2.1.0 log with one run.
pub fn sarif(checked: &Checked) -> String {
    let rules: Vec<Value> = Code::ALL
        .iter()
        .map(|c| {
            json!({
                "id": c.as_str(),
                "name": c.slug(),
                "shortDescription": { "text": c.summary() },
                "defaultConfiguration": { "level": if c.severity() == Severity::Error { "error" } else { "warning" } },
                "help": { "text": format!("{}: see docs/diagnostics.md#{} in the mailc sources", c.summary(), c.as_str().to_lowercase()) },
            })
        })
        .collect();
    let results: Vec<Value> = checked
        .diagnostics
        .iter()
        .map(|d| {
            let mut text = d.message.clone();
            if let Some(h) = &d.help {
                text.push_str(&format!("\nhelp: {h}"));
            }
            json!({
                "ruleId": d.code.as_str(),
                "ruleIndex": Code::ALL.iter().position(|c| *c == d.code),
                "level": if d.severity() == Severity::Error { "error" } else { "warning" },
                "message": { "text": text },
                "locations": [sarif_location(&checked.sources, d.primary.span, Some(&d.primary.text))],
                "relatedLocations": d.labels.iter().enumerate().map(|(i, l)| {
                    let mut loc = sarif_location(&checked.sources, l.span, Some(&l.text));
                    loc["id"] = json!(i);
                    loc
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "mailc",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    });
    format!("{}\n", serde_json::to_string_pretty(&doc).unwrap_or_default())
}
