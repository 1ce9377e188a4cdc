//! `mailc graph`: the decision graph as Graphviz DOT, a picture of the
//! policy.
//!
//! Layout of the picture: one cluster per SMTP stage (`on connect` ...
//! `on end_of_data`) with its rules in order, dashed "no match" edges from
//! each rule to the next and labelled edges from each rule to the stage's
//! outcomes (passed, refused); the stages chained in session order. The
//! recipient rules form one cluster: each rule, by its matcher, leads to
//! its steps (expand, require, route, deliver, reject...), which lead on to
//! the next step, to an outcome, to a transport, or back to the start (an
//! expansion's results are resolved again). Rewriting and copies have
//! their own clusters. Declarations (tables, domain sets, networks, block
//! lists, transports) are nodes outside the clusters, linked from the
//! rules that use them. Every node's label ends with the `file:line` it
//! was written at (the artifact keeps the origins of rules, steps and
//! declarations).
//! Output is deterministic: everything is written in policy order.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use mailc_artifact::graph::{self as g, Action, Expr, Lookup, Matcher, RestrictionKind, SetOperand, StepKind};
use mailc_artifact::Artifact;

/// Write the decision graph as Graphviz DOT on standard output: a picture
/// of the policy.
///
/// Each SMTP stage is a cluster with its rules in order (dashed "no match"
/// edges to the next rule, labelled edges for what a rule does); the
/// recipient rules are a chain with their steps (expand, require, route,
/// deliver, reject...) and edges to the transports they deliver by; tables,
/// domain sets, networks and block lists are nodes linked from the rules
/// that use them. Every node carries the `file:line` it was written at.
///
/// POLICY may be a policy (checked and compiled in memory; with errors
/// they are printed as `mailc check` prints them) or an artifact. The
/// output is the same for the same input. Exit status: 0 written, 1 the
/// policy has errors or the artifact is damaged, 2 usage or I/O problems.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  mailc graph policy.mailc | dot -Tsvg > policy.svg\n  mailc graph /var/lib/mailc/policy.mca | dot -Tpng > policy.png\n  mailc graph policy.mailc > policy.dot && xdot policy.dot"
)]
pub struct Args {
    /// The policy or artifact to draw.
    policy: PathBuf,
}

pub fn run(args: Args) -> u8 {
    let artifact = match crate::test_addr::load_artifact(&args.policy) {
        Ok((a, _)) => a,
        Err(code) => return code,
    };
    let text = dot(&artifact);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// Escapes a label line for a double-quoted DOT string.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Breaks a long line at spaces, about `width` characters a line.
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in s.split(' ') {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

/// A label from lines (each wrapped), DOT-escaped, joined by `\n`.
fn label(lines: &[String]) -> String {
    lines.iter().flat_map(|l| wrap(l, 44)).map(|l| esc(&l)).collect::<Vec<_>>().join("\\n")
}

fn reply_text(r: Option<&g::Reply>, default: &str) -> String {
    match r {
        Some(r) => match &r.enhanced {
            Some(e) => format!("{} {e}", r.code),
            None => r.code.to_string(),
        },
        None => default.to_string(),
    }
}

/// Route tables with larger value arenas are not read for the picture.
const ROUTE_ARENA_LIMIT: usize = 1 << 20;
const GREEN: &str = "color=\"#2e7d32\", fontcolor=\"#2e7d32\"";
const RED: &str = "color=\"#c62828\", fontcolor=\"#c62828\"";
const BLUE_DASHED: &str = "style=dashed, color=\"#1f6f8b\", fontcolor=\"#1f6f8b\"";
const AGAIN: &str = "style=bold, color=\"#6a1b9a\", fontcolor=\"#6a1b9a\", constraint=false";

/// Builds the DOT text.
struct Dot<'a> {
    p: &'a g::Policy,
    artifact: &'a Artifact,
    out: String,
    /// Edges, written after the clusters so that every node is placed by
    /// its own declaration.
    edges: Vec<String>,
}

/// The DOT text of an artifact's decision graph.
pub fn dot(artifact: &Artifact) -> String {
    let mut d = Dot { p: artifact.graph(), artifact, out: String::new(), edges: Vec::new() };
    d.write();
    d.out
}

impl<'a> Dot<'a> {
    fn origin(&self, o: &g::Origin) -> String {
        let file = self.p.files.get(o.file as usize).map_or("?", String::as_str);
        format!("{file}:{}", o.line)
    }

    fn node(&mut self, indent: &str, id: &str, lines: &[String], attrs: &str) {
        let sep = if attrs.is_empty() { "" } else { ", " };
        let _ = writeln!(self.out, "{indent}{id} [label=\"{}\"{sep}{attrs}];", label(lines));
    }

    fn edge(&mut self, from: &str, to: &str, text: &str, attrs: &str) {
        let mut a = Vec::new();
        if !text.is_empty() {
            a.push(format!("label=\"{}\"", label(&[text.to_string()])));
        }
        if !attrs.is_empty() {
            a.push(attrs.to_string());
        }
        let a = if a.is_empty() { String::new() } else { format!(" [{}]", a.join(", ")) };
        self.edges.push(format!("  {from} -> {to}{a};"));
    }

    fn decl_origin(&self, name: &str) -> Option<String> {
        self.p.declarations.iter().find(|(n, _)| n == name).map(|(_, o)| self.origin(o))
    }

    fn write(&mut self) {
        let title = self.p.files.first().cloned().unwrap_or_default();
        self.out.push_str("digraph policy {\n");
        let _ = writeln!(
            self.out,
            "  graph [label=\"{}\", labelloc=t, fontname=\"Helvetica\", fontsize=12, rankdir=TB, newrank=true, nodesep=0.3, ranksep=0.35];",
            esc(&format!("mailc policy {title}"))
        );
        self.out.push_str("  node [fontname=\"Helvetica\", fontsize=10, shape=box, style=\"rounded\"];\n");
        self.out.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");
        self.rewrite();
        self.stages();
        self.recipient();
        self.copies();
        self.declarations();
        self.out.push('\n');
        for e in std::mem::take(&mut self.edges) {
            self.out.push_str(&e);
            self.out.push('\n');
        }
        self.out.push_str("}\n");
    }

    // ------------------------------------------------------- declarations

    fn declarations(&mut self) {
        let p = self.p;
        let with_origin = |me: &Self, mut lines: Vec<String>, name: &str| {
            if let Some(o) = me.decl_origin(name) {
                lines.push(o);
            }
            lines
        };
        self.out.push_str("\n  // declarations\n");
        for (i, t) in p.tables.iter().enumerate() {
            let ty = match (&t.value, t.list) {
                (None, _) => format!("{} set", t.key),
                (Some(v), true) => format!("{} -> [{v}]", t.key),
                (Some(v), false) => format!("{} -> {v}", t.key),
            };
            let n = if t.len == 1 { "1 entry".to_string() } else { format!("{} entries", t.len) };
            let lines = with_origin(self, vec![format!("table {}", t.name), format!("{ty}, {n}")], &t.name);
            self.node("  ", &format!("table_{i}"), &lines, "shape=cylinder, style=\"\", color=\"#1f6f8b\"");
        }
        for (i, s) in p.domain_sets.iter().enumerate() {
            let head = match &s.class {
                Some(c) => format!("domains {} : {c}", s.name),
                None => format!("domains {}", s.name),
            };
            let n = if s.len == 1 { "1 domain".to_string() } else { format!("{} domains", s.len) };
            let lines = with_origin(self, vec![head, n], &s.name);
            self.node("  ", &format!("domains_{i}"), &lines, "shape=folder, style=\"\", color=\"#1f6f8b\"");
        }
        for (i, n) in p.networks.iter().enumerate() {
            let lines = with_origin(self, vec![format!("network {}", n.name)], &n.name);
            self.node("  ", &format!("network_{i}"), &lines, "shape=folder, style=\"\", color=\"#1f6f8b\"");
        }
        for (i, b) in p.dnsbls.iter().enumerate() {
            let lines = with_origin(self, vec![format!("dnsbl {}", b.name), b.zone.clone()], &b.name);
            self.node("  ", &format!("dnsbl_{i}"), &lines, "shape=hexagon, style=\"\", color=\"#1f6f8b\"");
        }
        for (i, t) in p.transports.iter().enumerate() {
            let kind = match &t.target {
                Some(target) => format!("{} \"{target}\"", t.kind),
                None => t.kind.clone(),
            };
            let lines = with_origin(self, vec![format!("transport {}", t.name), kind], &t.name);
            self.node("  ", &format!("transport_{i}"), &lines, "shape=box3d, style=\"\", color=\"#2e7d32\"");
        }
    }

    /// A dashed edge from a rule or step to the table it looks up, with
    /// the key forms tried.
    fn lookup_edge(&mut self, from: &str, l: &Lookup, what: &str) {
        let text = if l.order.is_empty() { what.to_string() } else { format!("{what}: {}", l.order.join(", ")) };
        self.edge(from, &format!("table_{}", l.table), &text, BLUE_DASHED);
    }

    fn set_edge(&mut self, from: &str, set: &SetOperand, subject: &str) {
        let to = match set {
            SetOperand::Network(i) => format!("network_{i}"),
            SetOperand::DomainSet(i) => format!("domains_{i}"),
            SetOperand::Table(i) => format!("table_{i}"),
            SetOperand::Dnsbl(i) => format!("dnsbl_{i}"),
            SetOperand::Ranges(_) | SetOperand::Texts(_) => return,
        };
        self.edge(from, &to, &format!("tests {subject}"), BLUE_DASHED);
    }

    fn condition_edges(&mut self, from: &str, e: &Expr, seen: &mut Vec<String>) {
        match e {
            Expr::Or(xs) | Expr::And(xs) => xs.iter().for_each(|x| self.condition_edges(from, x, seen)),
            Expr::Not(x) => self.condition_edges(from, x, seen),
            Expr::In { subject, set, .. } => {
                let key = format!("{subject} {set:?}");
                if !seen.contains(&key) {
                    seen.push(key);
                    self.set_edge(from, set, subject);
                }
            }
            Expr::Compare { .. } | Expr::Flag(_) => {}
        }
    }

    // ------------------------------------------------------------- stages

    fn stages(&mut self) {
        let p = self.p;
        let mut previous_pass: Option<String> = None;
        let no_match = "style=dashed, color=\"#888888\", fontcolor=\"#666666\"";
        for stage in &p.stages {
            let s = &stage.stage;
            let _ = writeln!(
                self.out,
                "\n  subgraph cluster_stage_{s} {{\n    label=\"on {}\";\n    style=\"rounded\";\n    color=\"#888888\";",
                esc(s)
            );
            let ids: Vec<String> = (0..stage.rules.len()).map(|i| format!("stage_{s}_{i}")).collect();
            let pass = format!("stage_{s}_pass");
            let refuse = format!("stage_{s}_refuse");
            for (i, r) in stage.rules.iter().enumerate() {
                let lines = vec![r.origin.text.clone(), self.origin(&r.origin)];
                self.node("    ", &ids[i], &lines, "");
            }
            let mark = self.edges.len();
            for (i, r) in stage.rules.iter().enumerate() {
                let here = &ids[i];
                let next = ids.get(i + 1).unwrap_or(&pass).clone();
                match &r.kind {
                    RestrictionKind::Rule { action, condition } => {
                        if let Some(c) = condition {
                            self.edge(here, &next, "no match", no_match);
                            self.condition_edges(here, c, &mut Vec::new());
                        }
                        self.action_edge(here, action, &next, &pass, &refuse);
                    }
                    RestrictionKind::Check { lookup, subject, condition } => {
                        if let Some(c) = condition {
                            self.condition_edges(here, c, &mut Vec::new());
                        }
                        self.lookup_edge(here, lookup, &format!("looks up {subject}"));
                        self.edge(here, &next, "not found, dunno", no_match);
                        self.edge(here, &pass, "table says ok", GREEN);
                        self.edge(here, &refuse, "table says reject, defer", RED);
                    }
                    RestrictionKind::Default(action) => self.action_edge(here, action, &next, &pass, &refuse),
                }
            }
            let passed = format!("{s} passed");
            self.node("    ", &pass, &[passed], "shape=ellipse, style=\"\", color=\"#2e7d32\"");
            if self.targeted(mark, &refuse) {
                self.node("    ", &refuse, &["refused".to_string()], "shape=octagon, style=\"\", color=\"#c62828\"");
            }
            self.out.push_str("  }\n");
            let entry = ids.first().unwrap_or(&pass).clone();
            if let Some(prev) = previous_pass.take() {
                self.edge(&prev, &entry, &format!("on {s}"), "style=bold, color=\"#2e7d32\"");
            }
            if s == "rcpt" && !p.recipient.is_empty() {
                self.edge(&pass, "recipient_start", "resolve", "style=bold, color=\"#2e7d32\"");
            }
            previous_pass = Some(pass);
        }
        if !p.stages.iter().any(|s| s.stage == "rcpt") && !p.recipient.is_empty() {
            self.node(
                "  ",
                "stage_rcpt_default",
                &["no `on rcpt` block:".to_string(), "Postfix's relay restrictions apply".to_string()],
                "shape=note, style=\"\"",
            );
            self.edge("stage_rcpt_default", "recipient_start", "resolve", "style=bold, color=\"#2e7d32\"");
        }
    }

    /// Whether an edge written since `mark` ends at `id`.
    fn targeted(&self, mark: usize, id: &str) -> bool {
        let arrow = format!("-> {id}");
        self.edges[mark..]
            .iter()
            .any(|e| e.find(&arrow).is_some_and(|at| matches!(e[at + arrow.len()..].chars().next(), Some(' ' | ';'))))
    }

    fn action_edge(&mut self, from: &str, a: &Action, next: &str, pass: &str, refuse: &str) {
        match a {
            Action::Accept => self.edge(from, pass, "accept", GREEN),
            Action::Hold(_) => self.edge(from, pass, "hold", GREEN),
            Action::Discard(_) => self.edge(from, pass, "discard", GREEN),
            Action::Reject(r) => {
                self.edge(from, refuse, &format!("reject {}", reply_text(r.as_ref(), "554 5.7.1")), RED)
            }
            Action::Defer(r) => self.edge(from, refuse, &format!("defer {}", reply_text(r.as_ref(), "450 4.7.1")), RED),
            Action::Continue => self.edge(from, next, "continue", ""),
            Action::Warn(_) => self.edge(from, next, "warn", ""),
        }
    }

    // ---------------------------------------------------------- recipient

    fn recipient(&mut self) {
        let p = self.p;
        if p.recipient.is_empty() {
            return;
        }
        self.out.push_str(
            "\n  subgraph cluster_recipient {\n    label=\"recipient\";\n    style=\"rounded\";\n    color=\"#888888\";\n",
        );
        self.node("    ", "recipient_start", &["recipient address".to_string()], "shape=oval, style=\"bold\"");
        let rule_ids: Vec<String> = (0..p.recipient.len()).map(|i| format!("recipient_{i}")).collect();
        for (i, rule) in p.recipient.iter().enumerate() {
            let head = match &rule.matcher {
                Matcher::All => "every recipient (a filter)".to_string(),
                Matcher::Default => "default".to_string(),
                Matcher::DomainSet(s) => {
                    format!("domain in {}", p.domain_sets.get(*s as usize).map_or("?", |d| d.name.as_str()))
                }
                Matcher::Domains(list) => format!("domain [{}]", list.join(", ")),
                Matcher::Address(t) => {
                    format!("address in {}", p.tables.get(*t as usize).map_or("?", |t| t.name.as_str()))
                }
            };
            let lines = [head, self.origin(&rule.origin)];
            self.node("    ", &rule_ids[i], &lines, "style=\"rounded,filled\", fillcolor=\"#eeeeee\"");
            for (j, step) in rule.steps.iter().enumerate() {
                self.step_nodes(&format!("recipient_{i}_{j}"), step);
            }
        }
        let mark = self.edges.len();
        if let Some(first) = rule_ids.first() {
            self.edge("recipient_start", first, "", "style=bold");
        }
        let no_match = "style=dashed, color=\"#888888\", fontcolor=\"#666666\"";
        for (i, rule) in p.recipient.iter().enumerate() {
            let here = rule_ids[i].clone();
            let next = rule_ids.get(i + 1).cloned();
            let matched = !matches!(rule.matcher, Matcher::All | Matcher::Default);
            match &rule.matcher {
                Matcher::DomainSet(s) => self.edge(&here, &format!("domains_{s}"), "domain in", BLUE_DASHED),
                Matcher::Address(t) => self.edge(&here, &format!("table_{t}"), "address in", BLUE_DASHED),
                _ => {}
            }
            if matched {
                match &next {
                    Some(n) => self.edge(&here, n, "no match", no_match),
                    None => self.edge(&here, "recipient_reject", "no match: 550 5.1.1", no_match),
                }
            }
            // Where the last step passes on to: a filter goes on to the
            // next rule; otherwise the recipient is unknown.
            let after = match (&rule.matcher, &next) {
                (Matcher::All, Some(n)) => (n.clone(), "nothing decided".to_string()),
                _ => ("recipient_reject".to_string(), "nothing decided: 550 5.1.1".to_string()),
            };
            let steps: Vec<String> = (0..rule.steps.len()).map(|j| format!("recipient_{i}_{j}")).collect();
            match steps.first() {
                Some(s) => self.edge(&here, s, if matched { "match" } else { "" }, ""),
                None => self.edge(&here, &after.0, &after.1, no_match),
            }
            for (j, step) in rule.steps.iter().enumerate() {
                let then = match steps.get(j + 1) {
                    Some(n) => (n.clone(), String::new()),
                    None => after.clone(),
                };
                self.step_edges(&steps[j], step, &then);
            }
        }
        for (id, text, attrs) in [
            ("recipient_reject", "rejected", "shape=octagon, style=\"\", color=\"#c62828\""),
            ("recipient_defer", "deferred", "shape=octagon, style=\"\", color=\"#c62828\""),
            ("recipient_discard", "discarded", "shape=ellipse, style=\"\", color=\"#2e7d32\""),
            ("recipient_hold", "held", "shape=ellipse, style=\"\", color=\"#2e7d32\""),
            (
                "recipient_routed",
                "delivered by the transport the table names",
                "shape=ellipse, style=\"\", color=\"#2e7d32\"",
            ),
        ] {
            if self.targeted(mark, id) {
                self.node("    ", id, &[text.to_string()], attrs);
            }
        }
        self.out.push_str("  }\n");
    }

    /// The transports a route table names (`transport[:nexthop]` values),
    /// in transport order, read from its value arena; `None` when the arena
    /// is too large to read for a picture or names a transport that does
    /// not exist (the engine defers such a recipient).
    fn routes(&self, table: u32) -> Option<Vec<usize>> {
        let t = self.p.tables.get(table as usize)?;
        let arena = self.artifact.bytes(t.values);
        let arena = arena.as_ref();
        if arena.len() > ROUTE_ARENA_LIMIT {
            return None;
        }
        let mut used = vec![false; self.p.transports.len()];
        let mut at = 0u64;
        while (at as usize) < arena.len() {
            let mut items = mailc_artifact::tables::ValueItems::new(arena, at).ok()?;
            if let Some(route) = items.next_item().ok()? {
                let name = route.split(':').next().unwrap_or(route);
                let i = self.p.transports.iter().position(|t| t.name == name)?;
                used[i] = true;
            }
            while items.next_item().ok()?.is_some() {}
            at = items.offset() as u64;
        }
        Some(used.iter().enumerate().filter(|(_, u)| **u).map(|(i, _)| i).collect())
    }

    /// Declares a step's node (and its `else` step's).
    fn step_nodes(&mut self, id: &str, step: &g::Step) {
        let (attrs, other) = match &step.kind {
            StepKind::Expand { otherwise, .. }
            | StepKind::Require { otherwise, .. }
            | StepKind::Route { otherwise, .. } => ("", otherwise.as_deref()),
            StepKind::Deliver { .. } => ("color=\"#2e7d32\"", None),
            StepKind::Reject(_) | StepKind::Defer(_) => ("color=\"#c62828\"", None),
            _ => ("", None),
        };
        let lines = vec![step_text(step, other), self.origin(&step.origin)];
        self.node("    ", id, &lines, attrs);
        if let Some(o) = other {
            self.step_nodes(&format!("{id}_else"), o);
        }
    }

    /// A step's edges; `then` is where it passes on to, with a label.
    fn step_edges(&mut self, id: &str, step: &g::Step, then: &(String, String)) {
        let pass_label = |what: &str| if then.1.is_empty() { what.to_string() } else { format!("{what}; {}", then.1) };
        let else_id = format!("{id}_else");
        let on_miss = |me: &mut Self, other: &Option<Box<g::Step>>| match other {
            Some(o) => {
                me.edge(id, &else_id, "miss", "");
                me.step_edges(&else_id, o, then);
            }
            None => me.edge(id, &then.0, &pass_label("miss"), ""),
        };
        match &step.kind {
            StepKind::Relocated(l) => {
                self.lookup_edge(id, l, "keys");
                self.edge(id, "recipient_reject", "hit: 551 5.1.6 moved", RED);
                self.edge(id, &then.0, &pass_label("miss"), "");
            }
            StepKind::Expand { lookup, otherwise, .. } => {
                self.lookup_edge(id, lookup, "keys");
                self.edge(id, "recipient_start", "hit: each result again", AGAIN);
                on_miss(self, otherwise);
            }
            StepKind::Require { lookup, otherwise } => {
                self.lookup_edge(id, lookup, "keys");
                self.edge(id, &then.0, &pass_label("hit"), "");
                match otherwise {
                    Some(_) => on_miss(self, otherwise),
                    None => self.edge(id, "recipient_reject", "miss: 550 5.1.1", RED),
                }
            }
            StepKind::Route { lookup, otherwise } => {
                self.lookup_edge(id, lookup, "keys");
                match self.routes(lookup.table) {
                    Some(transports) if !transports.is_empty() => {
                        for t in transports {
                            self.edge(id, &format!("transport_{t}"), "hit: the table names it", GREEN);
                        }
                    }
                    _ => self.edge(id, "recipient_routed", "hit", GREEN),
                }
                on_miss(self, otherwise);
            }
            StepKind::Deliver { transport, via } => {
                let text = match via {
                    Some(v) => format!("deliver via {v}"),
                    None => "deliver".to_string(),
                };
                self.edge(id, &format!("transport_{transport}"), &text, GREEN);
            }
            StepKind::LuserRelay(to) => self.edge(id, "recipient_start", &format!("relay to {to}"), AGAIN),
            StepKind::Bcc(to) => {
                self.edge(id, "recipient_start", &format!("copy to {to}"), AGAIN);
                self.edge(id, &then.0, &then.1, "");
            }
            StepKind::Reject(r) => {
                self.edge(id, "recipient_reject", &format!("reject {}", reply_text(r.as_ref(), "550 5.1.1")), RED)
            }
            StepKind::Defer(r) => {
                self.edge(id, "recipient_defer", &format!("defer {}", reply_text(r.as_ref(), "450 4.3.0")), RED)
            }
            StepKind::Discard(_) => self.edge(id, "recipient_discard", "discard", GREEN),
            StepKind::Hold(_) => self.edge(id, "recipient_hold", "hold", GREEN),
        }
    }

    // ------------------------------------------------- rewrite and copies

    fn rewrite(&mut self) {
        let p = self.p;
        if p.rewrite.is_empty() {
            return;
        }
        self.out.push_str(
            "\n  subgraph cluster_rewrite {\n    label=\"rewrite\";\n    style=\"rounded\";\n    color=\"#888888\";\n",
        );
        for (i, r) in p.rewrite.iter().enumerate() {
            let (g::Rewrite::Canonical { origin, .. } | g::Rewrite::Masquerade { origin, .. }) = r;
            let lines = vec![origin.text.clone(), self.origin(origin)];
            self.node("    ", &format!("rewrite_{i}"), &lines, "");
        }
        self.out.push_str("  }\n");
        for (i, r) in p.rewrite.iter().enumerate() {
            let id = format!("rewrite_{i}");
            if i + 1 < p.rewrite.len() {
                self.edge(&id, &format!("rewrite_{}", i + 1), "then", "");
            }
            if let g::Rewrite::Canonical { lookup, .. } = r {
                self.lookup_edge(&id, lookup, "keys");
            }
        }
    }

    fn copies(&mut self) {
        let p = self.p;
        if p.copies.is_empty() {
            return;
        }
        self.out.push_str(
            "\n  subgraph cluster_copy {\n    label=\"copy\";\n    style=\"rounded\";\n    color=\"#888888\";\n",
        );
        for (i, c) in p.copies.iter().enumerate() {
            let (g::Copy::Always(_, origin) | g::Copy::Table { origin, .. } | g::Copy::Archive(_, origin)) = c;
            let lines = vec![origin.text.clone(), self.origin(origin)];
            self.node("    ", &format!("copy_{i}"), &lines, "");
        }
        self.out.push_str("  }\n");
        for (i, c) in p.copies.iter().enumerate() {
            let id = format!("copy_{i}");
            match c {
                g::Copy::Always(..) => {}
                g::Copy::Table { lookup, .. } => self.lookup_edge(&id, lookup, "keys"),
                g::Copy::Archive(t, _) => self.edge(&id, &format!("transport_{t}"), "archive", GREEN),
            }
        }
    }
}

/// A step's text without its `else` part (drawn as a node of its own).
fn step_text(step: &g::Step, otherwise: Option<&g::Step>) -> String {
    let text = &step.origin.text;
    let Some(o) = otherwise.filter(|o| o.origin.line == step.origin.line && o.origin.column > step.origin.column)
    else {
        return text.clone();
    };
    let keep = (o.origin.column - step.origin.column) as usize;
    let head: String = text.chars().take(keep).collect();
    let head = head.trim_end();
    head.strip_suffix("else").map_or(head, str::trim_end).to_string()
}
