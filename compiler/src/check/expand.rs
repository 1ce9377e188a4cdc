//! Expansion analysis over the data of alias and virtual tables: cycles,
//! fan-out and depth.
//!
//! Rationale. The engine expands a recipient by the first recipient rule
//! that matches its domain, trying that rule's `expand` tables in their
//! lookup order; each result is resolved again from the top. So the data
//! forms a graph whose nodes are table entries: entry N has an edge to
//! entry M when one of N's values, resolved as the engine would, hits M
//! first. An edge from an entry to itself is harmless (an address that
//! expands to itself is delivered); a strongly connected component of two
//! or more entries is a loop that never ends, so it is an error shown hop
//! by hop. Resolution of a value uses hash lookups only, and Tarjan's
//! algorithm (iterative, no recursion) finds the components, so the pass
//! is linear in the size of the tables. Fan-out and depth are then summed
//! over the acyclic part in the order Tarjan emits it, capped at the
//! limits so that numbers never overflow.

use std::collections::{HashMap, HashSet};

use mailc_lang::Span;
use mailc_stdlib::address::{push_domain, push_lower, split_extension};

use super::decls::{DeclKind, Table};
use super::rules::{Blocks, RuleMatch};
use super::Checker;
use crate::diag::{Code, Diagnostic};

/// A node: (table declaration index, entry index).
type Node = (usize, usize);

/// A rule's matcher with its expansions: (table, lookup order).
type RuleExpansions<'a> = (&'a RuleMatch, Vec<(usize, Vec<String>)>);

/// Out-degrees of a run of nodes and their edges (target, value index).
type EdgeChunk = (Vec<usize>, Vec<(usize, usize)>);

/// A table entry's key, key span and values.
type EntryView = (String, Span, Vec<(String, Span)>);

struct Graph<'a> {
    tables: Vec<(usize, &'a Table)>,
    /// First node id of each table in `tables`.
    base: Vec<usize>,
    /// Exact domain -> first matching rule.
    exact: HashMap<&'a str, usize>,
    /// Parent pattern `.example.com` -> first matching rule.
    parents: HashMap<&'a str, usize>,
    /// Rules without a domain matcher that apply to everything (filters)
    /// or to whatever is left (default), by position.
    rules: Vec<RuleExpansions<'a>>,
    local_domains: HashSet<&'a str>,
    default_local: Option<&'a str>,
    delimiters: &'a str,
}

impl<'a> Graph<'a> {
    fn node_id(&self, n: Node) -> usize {
        let pos = self.tables.iter().position(|(d, _)| *d == n.0).unwrap_or(0);
        self.base[pos] + n.1
    }

    fn node_of(&self, id: usize) -> Node {
        let pos = match self.base.binary_search(&id) {
            Ok(p) => p,
            Err(p) => p - 1,
        };
        (self.tables[pos].0, id - self.base[pos])
    }

    fn table(&self, decl: usize) -> Option<&'a Table> {
        self.tables.iter().find(|(d, _)| *d == decl).map(|(_, t)| *t)
    }

    /// The rule index a domain falls to first (by position in `rules`).
    fn rule_for(&self, domain: &str) -> Option<usize> {
        let mut best = self.exact.get(domain).copied();
        let mut rest = domain;
        while let Some(dot) = rest.find('.') {
            let parent = &rest[dot..];
            if let Some(&r) = self.parents.get(parent) {
                best = Some(best.map_or(r, |b| b.min(r)));
            }
            rest = &rest[dot + 1..];
        }
        // A default or filter rule before the domain's rule comes first.
        let first_general = self.rules.iter().position(|(m, _)| matches!(m, RuleMatch::Default));
        match (best, first_general) {
            (Some(b), Some(g)) => Some(b.min(g)),
            (b, g) => b.or(g),
        }
    }

    /// The node an address (as written in a value) expands through, if
    /// any. `buf` is scratch space, reused so that no lookup allocates.
    fn resolve(&self, value: &str, buf: &mut String) -> Option<Node> {
        if value.starts_with('|') || value.starts_with('/') || value.starts_with(':') {
            return None;
        }
        // buf = "local@domain", normalised; keys are slices or suffixes of it.
        buf.clear();
        let (local, domain) = match value.rfind('@') {
            Some(at) => (&value[..at], &value[at + 1..]),
            None => (value, self.default_local?),
        };
        push_lower(buf, local);
        let at = buf.len();
        buf.push('@');
        push_domain(buf, domain).ok()?;
        let (full, domain) = (buf.as_str(), &buf[at + 1..]);
        let local = &full[..at];
        let (user, ext) = split_extension(local, self.delimiters);
        let is_local = self.local_domains.contains(domain);
        let stop = self.rule_for(domain);
        let mut key = String::with_capacity(full.len());
        for (i, (m, expansions)) in self.rules.iter().enumerate() {
            let applies = match m {
                RuleMatch::All => true,
                _ => Some(i) == stop,
            };
            if !applies {
                continue;
            }
            for (decl, order) in expansions {
                let Some(table) = self.table(*decl) else { continue };
                for form in order {
                    let probe: &str = match form.as_str() {
                        "user+ext@domain" if ext.is_some() => full,
                        "user@domain" => {
                            key.clear();
                            key.push_str(user);
                            key.push_str(&full[at..]);
                            &key
                        }
                        "user+ext" if ext.is_some() && (is_local || table.key == "local") => local,
                        "user" if is_local || table.key == "local" => user,
                        "@domain" => &full[at..],
                        _ => continue,
                    };
                    if let Some(e) = table.find(probe) {
                        return Some((*decl, e));
                    }
                }
            }
            if !matches!(m, RuleMatch::All) {
                break;
            }
        }
        None
    }
}

pub(crate) fn check_expansions(cx: &mut Checker, blocks: &Blocks) {
    let mut clock = super::Clock::new();
    let ((offsets, edges), graph_nodes) = {
        let Some(graph) = build(cx, blocks) else { return };
        let total = *graph.base.last().unwrap_or(&0) + graph.tables.last().map_or(0, |(_, t)| t.len());
        // Adjacency in CSR form: offsets into one edge vector. Resolving
        // values is read-only, so the nodes are split between threads.
        let ids: Vec<(usize, usize)> =
            graph.tables.iter().enumerate().flat_map(|(pos, (_, t))| (0..t.len()).map(move |ei| (pos, ei))).collect();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
        let chunk = ids.len().div_ceil(threads).max(1);
        let parts: Vec<EdgeChunk> = std::thread::scope(|scope| {
            let handles: Vec<_> = ids
                .chunks(chunk)
                .map(|part| {
                    let graph = &graph;
                    let includes = &cx.includes;
                    scope.spawn(move || {
                        let mut buf = String::new();
                        let mut lens = Vec::with_capacity(part.len());
                        let mut edges = Vec::new();
                        for &(pos, ei) in part {
                            let before = edges.len();
                            let me = graph.base[pos] + ei;
                            for (vi, (value, span)) in graph.tables[pos].1.values(ei).enumerate() {
                                // An include list expands to each of its addresses.
                                let listed: &[String] = match value.starts_with(":include:") {
                                    true => includes.get(&(span.file, value.to_string())).map_or(&[], Vec::as_slice),
                                    false => &[],
                                };
                                let addresses = listed.iter().map(String::as_str);
                                let direct = (!value.starts_with(":include:")).then_some(value);
                                for address in direct.into_iter().chain(addresses) {
                                    if let Some(target) = graph.resolve(address, &mut buf) {
                                        let t = graph.node_id(target);
                                        if t != me {
                                            edges.push((t, vi));
                                        }
                                    }
                                }
                            }
                            lens.push(edges.len() - before);
                        }
                        (lens, edges)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        });
        let mut offsets = Vec::with_capacity(total + 1);
        // (target node, value index)
        let mut edges: Vec<(usize, usize)> = Vec::with_capacity(parts.iter().map(|p| p.1.len()).sum());
        for (lens, part) in parts {
            let mut at = edges.len();
            for len in lens {
                offsets.push(at);
                at += len;
            }
            edges.extend(part);
        }
        offsets.push(edges.len());
        let nodes: Vec<Node> = (0..total).map(|id| graph.node_of(id)).collect();
        ((offsets, edges), nodes)
    };
    let n = graph_nodes.len();
    clock.lap("expansion edges");
    let sccs = tarjan(n, &offsets, &edges);
    clock.lap("tarjan");
    let mut in_cycle = vec![false; n];
    for scc in &sccs {
        if scc.len() > 1 {
            for &v in scc {
                in_cycle[v] = true;
            }
            report_cycle(cx, scc, &offsets, &edges, &graph_nodes);
        }
    }
    let limit = cx.number_setting("expansion_fanout");
    let depth_limit = cx.number_setting("expansion_depth");
    let mut count = vec![0u64; n];
    let mut depth = vec![0u64; n];
    // Tarjan emits components in reverse topological order: successors
    // first, so their counts are ready.
    for scc in &sccs {
        for &v in scc {
            // Values with an edge count what their target expands to;
            // the others are final recipients and count one each.
            let out = &edges[offsets[v]..offsets[v + 1]];
            let values = entry_values(cx, graph_nodes[v]);
            let mut c: u64 = values.saturating_sub(out.len()) as u64;
            let mut d: u64 = 1;
            for &(t, _) in out {
                if !in_cycle[t] && !in_cycle[v] {
                    c = c.saturating_add(count[t]);
                    d = d.max(depth[t].saturating_add(1));
                } else {
                    c = c.saturating_add(1);
                }
            }
            count[v] = c.min(limit.saturating_add(1));
            depth[v] = d.min(depth_limit.saturating_add(1));
        }
    }
    for v in 0..n {
        if in_cycle[v] {
            continue;
        }
        let (decl, e) = graph_nodes[v];
        if depth[v] > depth_limit {
            if let DeclKind::Table(t) = &cx.decls[decl].kind {
                let d = Diagnostic::new(
                    Code::DepthExceeded,
                    t.key_span(e),
                    format!("`{}` expands through more than {depth_limit} levels", t.key(e)),
                    "expansion starts here",
                )
                .help("shorten the chain of aliases, or raise `expansion_depth`");
                cx.push(d);
            }
        }
        if count[v] > limit && exact_fanout(v, &offsets, &edges, cx, &graph_nodes, limit) > limit {
            if let DeclKind::Table(t) = &cx.decls[decl].kind {
                let d = Diagnostic::new(
                    Code::FanoutExceeded,
                    t.key_span(e),
                    format!("`{}` expands to more than {limit} recipients", t.key(e)),
                    "expansion starts here",
                )
                .help("split the list, use a mailing list manager, or raise `expansion_fanout`");
                cx.push(d);
            }
        }
    }
}

fn entry_values(cx: &Checker, (decl, e): Node) -> usize {
    match &cx.decls[decl].kind {
        DeclKind::Table(t) => t.value_count(e),
        _ => 0,
    }
}

fn build<'a>(cx: &'a Checker, blocks: &'a Blocks) -> Option<Graph<'a>> {
    let mut tables: Vec<(usize, &Table)> = Vec::new();
    let mut rules = Vec::new();
    let mut exact: HashMap<&str, usize> = HashMap::new();
    let mut parents: HashMap<&str, usize> = HashMap::new();
    for (i, rule) in blocks.recipient.iter().enumerate() {
        let mut exps = Vec::new();
        for (decl, order, _) in &rule.expansions {
            if let DeclKind::Table(t) = &cx.decls[*decl].kind {
                if t.key == "regexp" {
                    continue;
                }
                if !tables.iter().any(|(d, _)| d == decl) {
                    tables.push((*decl, t));
                }
                exps.push((*decl, order.clone()));
            }
        }
        if let RuleMatch::Domains(members) = &rule.matcher {
            for m in members {
                if m.starts_with('.') {
                    parents.entry(m.as_str()).or_insert(i);
                } else {
                    exact.entry(m.as_str()).or_insert(i);
                }
            }
        }
        rules.push((&rule.matcher, exps));
    }
    if tables.is_empty() {
        return None;
    }
    let mut base = Vec::with_capacity(tables.len());
    let mut next = 0;
    for (_, t) in &tables {
        base.push(next);
        next += t.len();
    }
    let mut local_domains = HashSet::new();
    let mut default_local = None;
    for decl in &cx.decls {
        if let DeclKind::Domains(d) = &decl.kind {
            if d.class.as_deref() == Some("local") {
                for (m, _) in &d.members {
                    local_domains.insert(m.as_str());
                    default_local.get_or_insert(m.as_str());
                }
            }
        }
    }
    Some(Graph { tables, base, exact, parents, rules, local_domains, default_local, delimiters: &cx.delimiters })
}

/// Tarjan's strongly connected components, iteratively. Components come
/// out in reverse topological order.
fn tarjan(n: usize, offsets: &[usize], edges: &[(usize, usize)]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut sccs = Vec::new();
    let mut next_index = 0;
    // Call stack of (node, next edge position).
    let mut calls: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        calls.push((root, offsets[root]));
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut pos)) = calls.last_mut() {
            if *pos < offsets[v + 1] {
                let w = edges[*pos].0;
                *pos += 1;
                if index[w] == UNSEEN {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, offsets[w]));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut scc = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    scc.push(w);
                    if w == v {
                        break;
                    }
                }
                sccs.push(scc);
            }
        }
    }
    sccs
}

/// Finds one cycle inside a component and reports it hop by hop.
fn report_cycle(cx: &mut Checker, scc: &[usize], offsets: &[usize], edges: &[(usize, usize)], nodes: &[Node]) {
    let members: HashSet<usize> = scc.iter().copied().collect();
    let start = *scc.iter().min().unwrap_or(&scc[0]);
    // Breadth-first search for the shortest path back to `start`.
    let mut prev: HashMap<usize, (usize, usize)> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut found = None;
    while let Some(v) = queue.pop_front() {
        for &(w, vi) in &edges[offsets[v]..offsets[v + 1]] {
            if !members.contains(&w) {
                continue;
            }
            if w == start {
                found = Some((v, vi));
                break;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(w) {
                e.insert((v, vi));
                queue.push_back(w);
            }
        }
        if found.is_some() {
            break;
        }
    }
    let Some((last, last_vi)) = found else { return };
    let mut hops = vec![(last, last_vi)];
    let mut cur = last;
    while cur != start {
        let Some(&(p, vi)) = prev.get(&cur) else { break };
        hops.push((p, vi));
        cur = p;
    }
    hops.reverse();
    let entry = |(decl, e): Node| -> Option<EntryView> {
        match &cx.decls[decl].kind {
            DeclKind::Table(t) => {
                Some((t.key(e).to_string(), t.key_span(e), t.values(e).map(|(v, s)| (v.to_string(), s)).collect()))
            }
            _ => None,
        }
    };
    let Some((first_key, first_span, _)) = entry(nodes[start]) else { return };
    let mut chain = vec![format!("`{first_key}`")];
    let mut d = Diagnostic::new(
        Code::ExpansionCycle,
        first_span,
        format!("`{first_key}` expands into a loop through {} addresses", hops.len()),
        "the loop starts here",
    );
    for (i, (v, vi)) in hops.iter().enumerate() {
        let Some((key, _, values)) = entry(nodes[*v]) else { continue };
        let (value, vspan) = values.get(*vi).cloned().unwrap_or_default();
        let next = hops.get(i + 1).map_or(start, |h| h.0);
        let Some((next_key, next_span, _)) = entry(nodes[next]) else { continue };
        d = d.label(vspan, format!("hop {}: `{key}` expands to `{value}`", i + 1));
        if next != start {
            d = d.label(next_span, format!("which is looked up as `{next_key}`"));
        }
        chain.push(format!("`{next_key}`"));
    }
    d = d.help(format!("{}; break the loop by making one of these expand to a final address", chain.join(" -> ")));
    cx.push(d);
}

/// The exact number of distinct final recipients of node `v`, counting
/// up to `limit + 1` only.
fn exact_fanout(
    v: usize,
    offsets: &[usize],
    edges: &[(usize, usize)],
    cx: &Checker,
    nodes: &[Node],
    limit: u64,
) -> u64 {
    let mut finals: HashSet<String> = HashSet::new();
    let mut seen = HashSet::from([v]);
    let mut queue = vec![v];
    while let Some(x) = queue.pop() {
        let (decl, e) = nodes[x];
        let DeclKind::Table(t) = &cx.decls[decl].kind else { continue };
        let mut expanded = vec![false; t.value_count(e)];
        for &(w, vi) in &edges[offsets[x]..offsets[x + 1]] {
            expanded[vi] = true;
            if seen.insert(w) {
                queue.push(w);
            }
        }
        for (vi, (value, _)) in t.values(e).enumerate() {
            if !expanded[vi] {
                finals.insert(value.to_lowercase());
                if finals.len() as u64 > limit {
                    return limit + 1;
                }
            }
        }
    }
    finals.len() as u64
}
