//! The canonical formatter behind `mailc fmt`.
//!
//! Parses a policy and prints the AST back in one layout (2-space indent,
//! one item, rule, restriction, map entry or test case per line). The
//! parser drops comments, so they are scanned from the source and put back
//! by position: before the output line whose source range they precede or
//! sit inside (hoisted above it), or after the line whose code they trail.
//!
//! Must not: change meaning (the output's AST equals the input's, spans
//! aside), lose or duplicate a comment, rewrite literals (numbers, sizes,
//! durations, rates, addresses are copied as written), panic on any input.
//!
//! Invariants: `format(format(x)) == format(x)`; one final newline, no
//! trailing whitespace. Node spans may cover the whitespace and comments
//! after the node, so every end goes through `Printer::end`.

use crate::ast::*;
use crate::parser::escape;
use crate::source::{FileId, Span};
use crate::SyntaxError;

/// Columns a line may take before lists and recipient rules break.
const WIDTH: usize = 100;
/// One level of indentation.
const INDENT: usize = 2;
/// Extra indentation of the continuation steps of a broken recipient rule.
const STEP_INDENT: usize = 4;

/// Formats a policy file's text in canonical layout, keeping every comment.
///
/// Fails only when `text` does not parse; the error is the parser's.
pub fn format(text: &str) -> Result<String, SyntaxError> {
    let policy = crate::parse(FileId(0), text)?;
    let mut printer = Printer::new(text);
    printer.policy(&policy);
    Ok(printer.finish())
}

/// A `#` comment in the source: byte range (trailing whitespace excluded).
struct Comment {
    start: usize,
    end: usize,
}

/// Every comment of `src`, in order: a `#` outside a string literal, up
/// to the end of its line.
fn scan_comments(src: &str) -> Vec<Comment> {
    let bytes = src.as_bytes();
    let mut comments = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
            }
            b'#' => {
                let line_end = src[i..].find('\n').map_or(src.len(), |n| i + n);
                let end = i + src[i..line_end].trim_end().len();
                comments.push(Comment { start: i, end });
                i = line_end;
            }
            _ => i += 1,
        }
    }
    comments
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\u{feff}')
}

fn width(text: &str) -> usize {
    text.chars().count()
}

/// A string literal, escaped so that it reads back as `text`.
fn quote(text: &str) -> String {
    format!("\"{}\"", escape(text))
}

/// One output line and the source range of the code printed on it.
struct Line {
    /// Indentation of the code.
    indent: usize,
    /// Indentation of comments hoisted above the line.
    comment_indent: usize,
    /// The code, without indentation.
    text: String,
    /// Source offset of the first token printed on the line.
    start: usize,
    /// Source offset just after the last token printed on the line.
    end: usize,
    /// A blank line the user wrote before it is kept.
    entry: bool,
    /// Opens a block: no blank line may follow.
    opens: bool,
}

impl Line {
    fn new(indent: usize, text: String, start: usize, end: usize) -> Line {
        Line { indent, comment_indent: indent, text, start, end, entry: true, opens: false }
    }
}

/// The elements of a list or map, laid out inline or one per line.
#[derive(Clone, Copy)]
enum Elems<'a> {
    List(&'a [Value]),
    Map(&'a [Entry]),
}

impl<'a> Elems<'a> {
    fn of(value: &'a Value) -> Option<Elems<'a>> {
        match &value.kind {
            ValueKind::List(vs) => Some(Elems::List(vs)),
            ValueKind::Map(es) => Some(Elems::Map(es)),
            _ => None,
        }
    }

    fn is_empty(self) -> bool {
        match self {
            Elems::List(vs) => vs.is_empty(),
            Elems::Map(es) => es.is_empty(),
        }
    }

    /// Maps of more than one entry, and whatever contains one, go one
    /// element per line whatever their width.
    fn must_break(self) -> bool {
        let nested = |v: &Value| Elems::of(v).is_some_and(Elems::must_break);
        match self {
            Elems::List(vs) => vs.iter().any(nested),
            Elems::Map(es) => es.len() > 1 || es.iter().any(|e| e.value.as_ref().is_some_and(nested)),
        }
    }
}

struct Printer<'a> {
    src: &'a str,
    comments: Vec<Comment>,
    /// The first comment not printed yet.
    next: usize,
    lines: Vec<String>,
    /// Source offset after the last thing printed.
    last_end: usize,
    /// Nothing printed yet in this file or block: no blank line.
    fresh: bool,
    /// The next thing printed gets a blank line before it.
    force_blank: bool,
}

impl<'a> Printer<'a> {
    fn new(src: &'a str) -> Printer<'a> {
        Printer {
            src,
            comments: scan_comments(src),
            next: 0,
            lines: Vec::new(),
            last_end: 0,
            fresh: true,
            force_blank: false,
        }
    }

    fn finish(mut self) -> String {
        while self.next < self.comments.len() {
            self.comment(0);
        }
        let mut out = self.lines.join("\n");
        out.push('\n');
        out
    }

    // ------------------------------------------------------------ source

    fn slice(&self, start: usize, end: usize) -> &'a str {
        self.src.get(start..end).unwrap_or("")
    }

    /// Where a node's last token ends: its span minus any whitespace and
    /// comments the span took in after it.
    fn end(&self, span: Span) -> usize {
        let start = span.start as usize;
        let mut end = (span.end as usize).min(self.src.len());
        loop {
            end = start + self.slice(start, end).trim_end_matches(is_space).len();
            match self.comments.binary_search_by_key(&end, |c| c.end) {
                Ok(i) if self.comments[i].start >= start => end = self.comments[i].start,
                _ => return end,
            }
        }
    }

    /// The node's text as written, for literals printed verbatim.
    fn raw(&self, span: Span) -> &'a str {
        self.slice(span.start as usize, self.end(span))
    }

    /// Offset of the first `ch` at or after `from` outside comments and
    /// strings (the bracket after a declaration's name); `from` if none.
    fn find(&self, from: usize, ch: u8) -> usize {
        let bytes = self.src.as_bytes();
        let mut i = from;
        while i < bytes.len() {
            match bytes[i] {
                b if b == ch => return i,
                b'#' => i = self.src[i..].find('\n').map_or(bytes.len(), |n| i + n),
                b'"' => {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                _ => i += 1,
            }
        }
        from
    }

    /// Whether a comment starts in `from..to`.
    fn comment_in(&self, from: usize, to: usize) -> bool {
        let i = self.comments.partition_point(|c| c.start < from);
        self.comments.get(i).is_some_and(|c| c.start < to)
    }

    /// A blank line in the source between `from` and `to`.
    fn has_blank(&self, from: usize, to: usize) -> bool {
        if from >= to {
            return false;
        }
        let gap: Vec<&str> = self.slice(from, to).split('\n').collect();
        gap.len() > 2 && gap[1..gap.len() - 1].iter().any(|l| l.trim_matches(is_space).is_empty())
    }

    // ------------------------------------------------------------ output

    fn blank_before(&mut self, user_blank: bool) {
        if !self.fresh && (self.force_blank || user_blank) {
            self.lines.push(String::new());
        }
        self.force_blank = false;
        self.fresh = false;
    }

    /// Prints the next comment on its own line.
    fn comment(&mut self, indent: usize) {
        let Some(c) = self.comments.get(self.next) else {
            return;
        };
        let (start, end) = (c.start, c.end);
        self.next += 1;
        let blank = self.has_blank(self.last_end, start);
        self.blank_before(blank);
        self.lines.push(format!("{:indent$}{}", "", self.slice(start, end)));
        self.last_end = end;
    }

    /// Prints a line: first the comments before or inside its source
    /// range, then the code, then a comment that trailed that code.
    fn emit(&mut self, line: Line) {
        while self.comments.get(self.next).is_some_and(|c| c.start < line.end) {
            self.comment(line.comment_indent);
        }
        let blank = line.entry && self.has_blank(self.last_end, line.start);
        self.blank_before(blank);
        let mut text = format!("{:indent$}{}", "", line.text, indent = line.indent);
        self.last_end = self.last_end.max(line.end);
        if let Some(c) = self.comments.get(self.next) {
            let gap = self.slice(line.end, c.start);
            if c.start >= line.end && gap.chars().all(|ch| ch != '\n' && (is_space(ch) || ch == ',')) {
                text.push_str("  ");
                text.push_str(self.slice(c.start, c.end));
                self.last_end = c.end;
                self.next += 1;
            }
        }
        self.lines.push(text);
        self.fresh = line.opens;
    }

    fn one(&mut self, indent: usize, text: String, span: Span) {
        let end = self.end(span);
        self.emit(Line::new(indent, text, span.start as usize, end));
    }

    /// `header {`, the body one level in, `}`; `open` is the brace's offset.
    fn block(&mut self, indent: usize, header: String, span: Span, open: usize, body: impl FnOnce(&mut Self)) {
        let start = span.start as usize;
        self.emit(Line { opens: true, ..Line::new(indent, format!("{header} {{"), start, open + 1) });
        body(self);
        let close = self.end(span).saturating_sub(1).max(open + 1);
        self.emit(Line {
            comment_indent: indent + INDENT,
            entry: false,
            ..Line::new(indent, "}".to_string(), close, close + 1)
        });
    }

    // ------------------------------------------------------------ items

    fn policy(&mut self, policy: &Policy) {
        let mut prev: Option<(std::mem::Discriminant<Item>, bool)> = None;
        for item in &policy.items {
            let kind = std::mem::discriminant(item);
            let multiline = self.multiline(item);
            if let Some((prev_kind, prev_multiline)) = prev {
                self.force_blank = prev_kind != kind || prev_multiline || multiline;
            }
            self.item(item);
            prev = Some((kind, multiline));
        }
    }

    fn multiline(&self, item: &Item) -> bool {
        match item {
            Item::Setting(x) => {
                Elems::of(&x.value).is_some_and(|e| self.breaks(0, &format!("{} ", x.name.text), e, ""))
            }
            Item::Network(SetDecl { source: SetSource::Inline(vs), .. })
            | Item::Domains(DomainsDecl { source: SetSource::Inline(vs), .. }) => {
                self.breaks(0, &self.set_prefix(item), Elems::List(vs), "")
            }
            Item::Table(x) => match &x.source {
                TableSource::Inline(es) => self.breaks(0, &self.table_prefix(x), Elems::Map(es), ""),
                TableSource::Format { .. } => false,
            },
            Item::Rewrite(_) | Item::Recipient(_) | Item::Copy(_) | Item::Stage(_) | Item::Test(_) => true,
            _ => false,
        }
    }

    fn set_prefix(&self, item: &Item) -> String {
        match item {
            Item::Network(x) => format!("network {} = ", x.name.text),
            Item::Domains(x) => match &x.class {
                Some(class) => format!("domains {} : {} = ", x.name.text, class.text),
                None => format!("domains {} = ", x.name.text),
            },
            _ => String::new(),
        }
    }

    fn table_prefix(&self, x: &TableDecl) -> String {
        let value = match &x.value {
            Some(v) if v.list => format!(" -> [{}]", v.word.text),
            Some(v) => format!(" -> {}", v.word.text),
            None => String::new(),
        };
        format!("table {} : {}{} = ", x.name.text, x.key.text, value)
    }

    fn item(&mut self, item: &Item) {
        let span = item.span();
        let start = span.start as usize;
        match item {
            Item::Include(x) => self.one(0, format!("include {}", quote(&x.path)), span),
            Item::Setting(x) => self.value_at(0, format!("{} ", x.name.text), start, &x.value, ""),
            Item::Network(SetDecl { name, source, .. }) | Item::Domains(DomainsDecl { name, source, .. }) => {
                let prefix = self.set_prefix(item);
                match source {
                    SetSource::Inline(vs) => {
                        let after = match item {
                            Item::Domains(DomainsDecl { class: Some(c), .. }) => self.end(c.span),
                            _ => self.end(name.span),
                        };
                        let open = self.find(after, b'[');
                        self.container(0, prefix, start, open, self.end(span), Elems::List(vs), "");
                    }
                    SetSource::File { path, .. } => self.one(0, format!("{prefix}file {}", quote(path)), span),
                }
            }
            Item::Table(x) => {
                let prefix = self.table_prefix(x);
                match &x.source {
                    TableSource::Inline(es) => {
                        let after = x.value.as_ref().map_or(x.key.span, |v| v.span);
                        let open = self.find(self.end(after), b'{');
                        self.container(0, prefix, start, open, self.end(span), Elems::Map(es), "");
                    }
                    TableSource::Format { format, directory, path, .. } => {
                        let dir = if *directory { " directory" } else { "" };
                        self.one(0, format!("{prefix}{}{dir} {}", format.text, quote(path)), span);
                    }
                }
            }
            Item::Transport(x) => {
                let mut text = format!("transport {} = {}", x.name.text, x.kind.text);
                if let Some((target, _)) = &x.target {
                    text.push(' ');
                    text.push_str(&quote(target));
                }
                text.push_str(&self.options(&x.options));
                self.one(0, text, span);
            }
            Item::Reply(x) => self.one(0, format!("reply {} = {}", x.name.text, self.reply(&x.reply)), span),
            Item::Dnsbl(x) => {
                let text = format!("dnsbl {} = {}{}", x.name.text, quote(&x.zone), self.options(&x.options));
                self.one(0, text, span);
            }
            Item::Rewrite(x) => {
                let open = self.find(start, b'{');
                self.block(0, "rewrite".into(), span, open, |p| {
                    for stmt in &x.stmts {
                        let text = p.rewrite_stmt(stmt);
                        p.one(INDENT, text, stmt.span());
                    }
                });
            }
            Item::Recipient(x) => {
                let open = self.find(start, b'{');
                self.block(0, "recipient".into(), span, open, |p| {
                    for rule in &x.rules {
                        p.recipient_rule(INDENT, rule);
                    }
                });
            }
            Item::Copy(x) => {
                let open = self.find(start, b'{');
                self.block(0, "copy".into(), span, open, |p| {
                    for stmt in &x.stmts {
                        let text = p.copy_stmt(stmt);
                        p.one(INDENT, text, stmt.span());
                    }
                });
            }
            Item::Stage(x) => {
                let open = self.find(self.end(x.stage.span), b'{');
                self.block(0, format!("on {}", x.stage.text), span, open, |p| {
                    for rule in &x.rules {
                        let text = p.restriction(rule);
                        p.one(INDENT, text, rule.span);
                    }
                });
            }
            Item::Test(x) => {
                let open = self.find(self.end(x.name_span), b'{');
                self.block(0, format!("test {}", quote(&x.name)), span, open, |p| {
                    for case in &x.cases {
                        p.test_case(INDENT, case);
                    }
                });
            }
        }
    }

    // ------------------------------------------------------------ values

    /// Whether a list or map after `prefix` goes one element per line.
    fn breaks(&self, indent: usize, prefix: &str, elems: Elems, suffix: &str) -> bool {
        if elems.is_empty() {
            return false;
        }
        elems.must_break() || indent + width(prefix) + width(&self.elems(elems)) + width(suffix) > WIDTH
    }

    /// `prefix value suffix`, a list or map value broken if need be.
    fn value_at(&mut self, indent: usize, prefix: String, start: usize, value: &Value, suffix: &str) {
        match Elems::of(value) {
            Some(elems) => {
                let (open, end) = (value.span.start as usize, self.end(value.span));
                self.container(indent, prefix, start, open, end, elems, suffix);
            }
            None => {
                let text = format!("{prefix}{}{suffix}", self.value(value));
                self.emit(Line::new(indent, text, start, self.end(value.span)));
            }
        }
    }

    /// `prefix [elems] suffix`, where the brackets are at `open` and
    /// `end - 1` in the source.
    #[allow(clippy::too_many_arguments)]
    fn container(
        &mut self,
        indent: usize,
        prefix: String,
        start: usize,
        open: usize,
        end: usize,
        elems: Elems,
        suffix: &str,
    ) {
        if !self.breaks(indent, &prefix, elems, suffix) {
            let text = format!("{prefix}{}{suffix}", self.elems(elems));
            self.emit(Line::new(indent, text, start, end));
            return;
        }
        let (left, right) = match elems {
            Elems::List(_) => ('[', ']'),
            Elems::Map(_) => ('{', '}'),
        };
        self.emit(Line { opens: true, ..Line::new(indent, format!("{prefix}{left}"), start, open + 1) });
        let inner = indent + INDENT;
        match elems {
            Elems::List(vs) => {
                for v in vs {
                    self.value_at(inner, String::new(), v.span.start as usize, v, ",");
                }
            }
            Elems::Map(es) => {
                for e in es {
                    let key = self.value(&e.key);
                    let key_start = e.key.span.start as usize;
                    match &e.value {
                        Some(v) => self.value_at(inner, format!("{key} -> "), key_start, v, ","),
                        None => self.emit(Line::new(inner, format!("{key},"), key_start, self.end(e.key.span))),
                    }
                }
            }
        }
        let close = end.saturating_sub(1).max(open + 1);
        self.emit(Line {
            comment_indent: inner,
            entry: false,
            ..Line::new(indent, format!("{right}{suffix}"), close, close + 1)
        });
    }

    fn elems(&self, elems: Elems) -> String {
        match elems {
            Elems::List(vs) => self.list(vs),
            Elems::Map([]) => "{}".to_string(),
            Elems::Map(es) => {
                let entries: Vec<String> = es
                    .iter()
                    .map(|e| match &e.value {
                        Some(v) => format!("{} -> {}", self.value(&e.key), self.value(v)),
                        None => self.value(&e.key),
                    })
                    .collect();
                format!("{{ {} }}", entries.join(", "))
            }
        }
    }

    fn list(&self, values: &[Value]) -> String {
        let parts: Vec<String> = values.iter().map(|v| self.value(v)).collect();
        format!("[{}]", parts.join(", "))
    }

    /// A value on one line.
    fn value(&self, value: &Value) -> String {
        match &value.kind {
            ValueKind::Str(s) => quote(s),
            ValueKind::Number(_) | ValueKind::Size(_) | ValueKind::Duration(_) => self.raw(value.span).to_string(),
            ValueKind::Cidr(text) | ValueKind::Ip(text) => text.clone(),
            ValueKind::Rate { .. } => {
                // `30 per 1m`, whatever whitespace or comments were between.
                let raw = self.raw(value.span);
                let count = raw.find(|c: char| !c.is_ascii_digit()).map_or(raw, |i| &raw[..i]);
                let per = raw.rfind(|c: char| !c.is_ascii_alphanumeric()).map_or(raw, |i| &raw[i + 1..]);
                format!("{count} per {per}")
            }
            ValueKind::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
            ValueKind::Reply(r) => self.reply(r),
            ValueKind::List(vs) => self.list(vs),
            ValueKind::Map(es) => self.elems(Elems::Map(es)),
            ValueKind::Name(i) => i.text.clone(),
        }
    }

    fn reply(&self, reply: &Reply) -> String {
        let mut text = format!("{:03}", reply.code);
        if let Some(enhanced) = &reply.enhanced {
            text.push(' ');
            text.push_str(enhanced);
        }
        if let Some(t) = &reply.text {
            text.push(' ');
            text.push_str(&quote(t));
        }
        text
    }

    fn reply_ref(&self, reply: &ReplyRef) -> String {
        match reply {
            ReplyRef::Literal(r) => self.reply(r),
            ReplyRef::Named(n) => n.text.clone(),
        }
    }

    fn options(&self, options: &[Opt]) -> String {
        if options.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = options
            .iter()
            .map(|o| match &o.value {
                Some(v) => format!("{} {}", o.name.text, self.value(v)),
                None => o.name.text.clone(),
            })
            .collect();
        format!(" {{ {} }}", parts.join(", "))
    }

    fn set_ref(&self, set: &SetRef) -> String {
        match set {
            SetRef::Inline(vs, _) => self.list(vs),
            SetRef::Named(n) => n.text.clone(),
        }
    }

    fn lookup(lookup: &Option<Lookup>) -> String {
        match lookup {
            Some(l) => {
                let keys: Vec<&str> = l.keys.iter().map(|k| k.text.as_str()).collect();
                format!(" lookup [{}]", keys.join(", "))
            }
            None => String::new(),
        }
    }

    // ------------------------------------------------------------ statements

    fn rewrite_stmt(&self, stmt: &RewriteStmt) -> String {
        let classes = |c: &Classes| {
            let mut text = String::new();
            if let Some(role) = &c.role {
                text.push_str(&format!(" for {}", role.text));
            }
            if let Some(part) = &c.part {
                text.push_str(&format!(" in {}", part.text));
            }
            text
        };
        match stmt {
            RewriteStmt::Canonical { table, classes: c, lookup, .. } => {
                format!("canonical {}{}{}", table.text, classes(c), Self::lookup(lookup))
            }
            RewriteStmt::Masquerade { domains, except, classes: c, .. } => {
                let except = except.as_ref().map(|e| format!(" except {}", self.set_ref(e))).unwrap_or_default();
                format!("masquerade {}{}{}", self.set_ref(domains), except, classes(c))
            }
        }
    }

    fn copy_stmt(&self, stmt: &CopyStmt) -> String {
        match stmt {
            CopyStmt::Bcc { target, role, .. } => {
                let target = match target {
                    BccTarget::Address(a, _) => quote(a),
                    BccTarget::Table(t) => t.text.clone(),
                };
                let role = role.as_ref().map(|r| format!(" for {}", r.text)).unwrap_or_default();
                format!("bcc {target}{role}")
            }
            CopyStmt::Archive { transport, .. } => format!("archive {}", transport.text),
        }
    }

    /// `matcher => step, step`, broken after each comma when too wide or
    /// when comments sit between steps.
    fn recipient_rule(&mut self, indent: usize, rule: &RecipientRule) {
        let head = match &rule.matcher {
            Some(Matcher::Default(_)) => "default => ".to_string(),
            Some(Matcher::Domain(set, _)) => format!("domain {} => ", self.set_ref(set)),
            Some(Matcher::Address(table, _)) => format!("address in {} => ", table.text),
            None => String::new(),
        };
        let steps: Vec<String> = rule.steps.iter().map(|s| self.step(s)).collect();
        let text = format!("{head}{}", steps.join(", "));
        // A comment between two steps keeps the rule broken, next to its step.
        let commented = rule.steps.windows(2).any(|w| self.comment_in(self.end(w[0].span), w[1].span.start as usize));
        if steps.len() < 2 || (indent + width(&text) <= WIDTH && !commented) {
            self.one(indent, text, rule.span);
            return;
        }
        let last = steps.len() - 1;
        for (i, (step, text)) in rule.steps.iter().zip(steps).enumerate() {
            let comma = if i == last { "" } else { "," };
            let (start, end) = (step.span.start as usize, self.end(step.span));
            if i == 0 {
                self.emit(Line::new(indent, format!("{head}{text}{comma}"), rule.span.start as usize, end));
            } else {
                let step_indent = indent + STEP_INDENT;
                self.emit(Line { entry: false, ..Line::new(step_indent, format!("{text}{comma}"), start, end) });
            }
        }
    }

    fn step(&self, step: &Step) -> String {
        let otherwise = |o: &Option<Box<Step>>| match o {
            Some(s) => format!(" else {}", self.step(s)),
            None => String::new(),
        };
        let optional = |word: &str, s: &Option<String>| match s {
            Some(s) => format!("{word} {}", quote(s)),
            None => word.to_string(),
        };
        match &step.kind {
            StepKind::Relocated { table, lookup } => {
                format!("relocated {}{}", table.text, Self::lookup(lookup))
            }
            StepKind::Expand { table, lookup, extension, catchall, otherwise: o } => {
                let mut text = format!("expand {}{}", table.text, Self::lookup(lookup));
                if let Some(e) = extension {
                    text.push_str(&format!(" extension {}", e.text));
                }
                if let Some(c) = catchall {
                    text.push_str(&format!(" catchall {}", c.text));
                }
                text + &otherwise(o)
            }
            StepKind::Require { table, lookup, otherwise: o } => {
                format!("require {}{}{}", table.text, Self::lookup(lookup), otherwise(o))
            }
            StepKind::Route { table, lookup, otherwise: o } => {
                format!("route {}{}{}", table.text, Self::lookup(lookup), otherwise(o))
            }
            StepKind::Deliver { transport, via } => match via {
                Some((via, _)) => format!("deliver {} via {}", transport.text, quote(via)),
                None => format!("deliver {}", transport.text),
            },
            StepKind::LuserRelay(a, _) => format!("luser_relay {}", quote(a)),
            StepKind::Bcc(a, _) => format!("bcc {}", quote(a)),
            StepKind::Reject(r) => self.refusal("reject", r),
            StepKind::Defer(r) => self.refusal("defer", r),
            StepKind::Discard(s) => optional("discard", s),
            StepKind::Hold(s) => optional("hold", s),
        }
    }

    fn refusal(&self, word: &str, reply: &Option<ReplyRef>) -> String {
        match reply {
            Some(r) => format!("{word} {}", self.reply_ref(r)),
            None => word.to_string(),
        }
    }

    fn action(&self, action: &Action) -> String {
        let optional = |word: &str, s: &Option<String>| match s {
            Some(s) => format!("{word} {}", quote(s)),
            None => word.to_string(),
        };
        match &action.kind {
            ActionKind::Accept => "accept".to_string(),
            ActionKind::Reject(r) => self.refusal("reject", r),
            ActionKind::Defer(r) => self.refusal("defer", r),
            ActionKind::Continue => "continue".to_string(),
            ActionKind::Hold(s) => optional("hold", s),
            ActionKind::Discard(s) => optional("discard", s),
            ActionKind::Warn(s) => format!("warn {}", quote(s)),
        }
    }

    fn restriction(&self, rule: &Restriction) -> String {
        let condition = |c: &Option<Expr>| match c {
            Some(e) => format!(" if {}", self.expr(e)),
            None => String::new(),
        };
        match &rule.kind {
            RestrictionKind::Rule { action, condition: c } => format!("{}{}", self.action(action), condition(c)),
            RestrictionKind::Check { table, subject, lookup, condition: c } => {
                format!("check {} for {}{}{}", table.text, subject.text, Self::lookup(lookup), condition(c))
            }
            RestrictionKind::Default(action) => format!("default {}", self.action(action)),
        }
    }

    /// An expression with the parentheses its AST needs: `or` inside
    /// `and`, `and`/`or` inside `not`, and an `and`/`or` nested in one of
    /// its own kind (flattening it would change the tree).
    fn expr(&self, expr: &Expr) -> String {
        let wrapped = |e: &Expr, wrap: bool| {
            if wrap {
                format!("({})", self.expr(e))
            } else {
                self.expr(e)
            }
        };
        let is_or = |e: &Expr| matches!(e.kind, ExprKind::Or(_));
        let is_and = |e: &Expr| matches!(e.kind, ExprKind::And(_));
        match &expr.kind {
            ExprKind::Or(parts) => {
                let parts: Vec<String> = parts.iter().map(|e| wrapped(e, is_or(e))).collect();
                parts.join(" or ")
            }
            ExprKind::And(parts) => {
                let parts: Vec<String> = parts.iter().map(|e| wrapped(e, is_or(e) || is_and(e))).collect();
                parts.join(" and ")
            }
            ExprKind::Not(e) => format!("not {}", wrapped(e, is_or(e) || is_and(e))),
            ExprKind::In { subject, negated, operand } => {
                let op = if *negated { "not in" } else { "in" };
                format!("{} {op} {}", subject.text, self.set_ref(operand))
            }
            ExprKind::Compare { subject, op, value } => {
                format!("{} {op} {}", subject.text, self.value(value))
            }
            ExprKind::Flag(f) => f.text.clone(),
        }
    }

    // ------------------------------------------------------------ tests

    fn test_case(&mut self, indent: usize, case: &TestCase) {
        match case {
            TestCase::Rcpt { recipient, context, expect, span } => {
                let expect: Vec<String> = expect.iter().map(|e| self.expectation(e)).collect();
                let text =
                    format!("rcpt {}{} => {}", quote(&recipient.0), self.contexts(context), expect.join(" and "));
                self.one(indent, text, *span);
            }
            TestCase::Session { context, exchanges, span } => {
                let after = context.last().map_or(span.start as usize + "session".len(), |c| self.end(c.span));
                let open = self.find(after, b'{');
                let header = format!("session{}", self.contexts(context));
                self.block(indent, header, *span, open, |p| {
                    for x in exchanges {
                        let send = x.send.as_ref().map_or("connect".to_string(), |s| quote(s));
                        let mut text = format!("{send} => {:03}", x.code);
                        if let Some(e) = &x.enhanced {
                            text.push(' ');
                            text.push_str(e);
                        }
                        p.one(indent + INDENT, text, x.span);
                    }
                });
            }
        }
    }

    fn contexts(&self, context: &[Context]) -> String {
        let mut text = String::new();
        for c in context {
            text.push(' ');
            match &c.kind {
                ContextKind::From(s) => text.push_str(&format!("from {}", quote(s))),
                ContextKind::Client { ip, name } => {
                    text.push_str(&format!("client {ip}"));
                    if let Some(n) = name {
                        text.push_str(&format!(" name {}", quote(n)));
                    }
                }
                ContextKind::Helo(s) => text.push_str(&format!("helo {}", quote(s))),
                ContextKind::Authenticated(Some(u)) => text.push_str(&format!("authenticated {}", quote(u))),
                ContextKind::Authenticated(None) => text.push_str("authenticated"),
                ContextKind::Tls => text.push_str("tls"),
            }
        }
        text
    }

    fn expectation(&self, expect: &Expectation) -> String {
        let code = |word: &str, code: &Option<u16>, enhanced: &Option<String>| {
            let mut text = word.to_string();
            if let Some(c) = code {
                text.push_str(&format!(" {c:03}"));
                if let Some(e) = enhanced {
                    text.push(' ');
                    text.push_str(e);
                }
            }
            text
        };
        match &expect.kind {
            ExpectKind::Accept => "accept".to_string(),
            ExpectKind::Reject(c, e) => code("reject", c, e),
            ExpectKind::Defer(c, e) => code("defer", c, e),
            ExpectKind::Deliver { transport, via, to } => {
                let mut text = format!("deliver {}", transport.text);
                if let Some(v) = via {
                    text.push_str(&format!(" via {}", quote(v)));
                }
                if let Some(to) = to {
                    text.push_str(&format!(" to {}", self.list(to)));
                }
                text
            }
            ExpectKind::Discard => "discard".to_string(),
            ExpectKind::Hold => "hold".to_string(),
        }
    }
}
