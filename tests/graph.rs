//! `mailc graph`: the decision graph as Graphviz DOT. The reference
//! example's picture is a snapshot (reviewed by reading it and by
//! rendering it with `dot`); every example's output is well-formed (braces
//! balance outside quoted strings, every edge joins declared nodes), the
//! same twice, and the same from the policy and from its artifact but for
//! the declarations' origins (which an artifact does not keep).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn mailc(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_mailc")).current_dir(dir).args(args).env("NO_COLOR", "1").output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn examples() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("policy.mailc").exists())
        .collect();
    out.sort();
    assert!(out.len() >= 6, "examples missing");
    out
}

/// The text outside double-quoted strings (escapes inside them honoured).
fn unquoted(dot: &str) -> String {
    let mut out = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in dot.chars() {
        if quoted {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => {}
            }
        } else if c == '"' {
            quoted = true;
        } else {
            out.push(c);
        }
    }
    assert!(!quoted, "an unterminated string");
    out
}

/// Checks the DOT text's structure; returns (nodes, edges).
fn check_structure(dot: &str) -> (BTreeSet<String>, Vec<(String, String)>) {
    assert!(dot.starts_with("digraph policy {\n") && dot.ends_with("}\n"), "{dot}");
    let bare = unquoted(dot);
    let mut depth = 0i32;
    for c in bare.chars() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                assert!(depth >= 0, "a `}}` closes nothing");
            }
            _ => {}
        }
    }
    assert_eq!(depth, 0, "braces do not balance");
    let ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let (mut nodes, mut edges) = (BTreeSet::new(), Vec::new());
    for line in bare.lines().map(str::trim) {
        if let Some((from, rest)) = line.split_once(" -> ") {
            let to = rest.split([' ', ';']).next().unwrap();
            assert!(ident(from) && ident(to), "odd edge `{line}`");
            edges.push((from.to_string(), to.to_string()));
        } else if let Some((id, _)) = line.split_once(" [") {
            if !["graph", "node", "edge"].contains(&id) {
                assert!(ident(id), "odd node `{line}`");
                assert!(nodes.insert(id.to_string()), "node `{id}` declared twice");
            }
        }
    }
    for (from, to) in &edges {
        assert!(nodes.contains(from), "edge from undeclared node `{from}`");
        assert!(nodes.contains(to), "edge to undeclared node `{to}`");
    }
    (nodes, edges)
}

#[test]
fn the_reference_policy_as_a_picture() {
    let dir = root().join("examples/reference");
    let (code, dot, err) = mailc(&dir, &["graph", "policy.mailc"]);
    assert_eq!(code, 0, "{err}");
    check_structure(&dot);
    insta::assert_snapshot!("graph_reference", dot);
}

#[test]
fn every_example_gives_a_well_formed_deterministic_graph_from_policy_or_artifact() {
    for dir in examples() {
        let (code, dot, err) = mailc(&dir, &["graph", "policy.mailc"]);
        assert_eq!(code, 0, "{}: {err}", dir.display());
        let (nodes, edges) = check_structure(&dot);
        assert!(nodes.contains("recipient_start"), "{}", dir.display());
        // Every rule and step cites its line.
        for line in dot.lines().filter(|l| l.contains("recipient_") && l.contains(" [label=") && !l.contains("->")) {
            if !line.contains("recipient_start") && !line.contains("shape=") {
                assert!(line.contains("policy.mailc:"), "{}: no origin in `{line}`", dir.display());
            }
        }
        assert_eq!(mailc(&dir, &["graph", "policy.mailc"]).1, dot, "{}: not deterministic", dir.display());

        let artifact = std::env::temp_dir().join(format!(
            "mailc-graph-test-{}-{}.mca",
            std::process::id(),
            dir.file_name().unwrap().to_string_lossy()
        ));
        let (code, _, err) = mailc(&dir, &["compile", "policy.mailc", "-o", artifact.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let (code, from_artifact, err) = mailc(&dir, &["graph", artifact.to_str().unwrap()]);
        std::fs::remove_file(&artifact).unwrap();
        assert_eq!(code, 0, "{err}");
        let (a_nodes, a_edges) = check_structure(&from_artifact);
        assert_eq!((a_nodes, a_edges), (nodes, edges), "{}: the artifact draws another graph", dir.display());
    }
}

#[test]
fn a_policy_with_errors_is_reported_not_drawn() {
    let dir = std::env::temp_dir().join(format!("mailc-graph-test-{}-broken", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.mailc"), "recipient {\n  default => deliver nowhere\n}\n").unwrap();
    let (code, out, _) = mailc(&dir, &["graph", "policy.mailc"]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 1);
    assert!(out.contains("E0101(undefined-name)"), "{out}");
    assert!(!out.contains("digraph"), "{out}");
}

#[test]
fn help_explains_with_examples() {
    let (code, out, _) = mailc(&root(), &["graph", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Graphviz DOT") && out.contains("Examples:") && out.contains("dot -Tsvg"), "{out}");
}
