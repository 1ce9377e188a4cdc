//! The machine formats and exit codes of `mailc check`, and the error
//! index (docs/diagnostics.md) as an executable document.
//!
//! Every fenced example of the index is checked by its info string:
//! `mailc,fails` must report its section's error, `mailc,warns` its
//! section's warning and no error, a plain `mailc` block (the fix) nothing
//! at all. Each is written as `policy.mailc` into a fresh copy of
//! docs/examples/diagnostics/ (the table and include files the examples
//! name); a `text,file=NAME` block must show `NAME` from that directory as
//! it is. The JSON, GitHub and SARIF outputs are checked for structure and
//! for positions that agree with the human output of the same corpus
//! directory (tests/bad/), and the exit codes for each outcome.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use mailc_compiler::diag::{Code, Severity};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mailc-formats-{}-{label}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create directory");
    for entry in fs::read_dir(from).expect("read directory") {
        let entry = entry.expect("read entry");
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&src, &dst);
        } else {
            fs::copy(&src, &dst).expect("copy file");
        }
    }
}

// ------------------------------------------------------------ the index

/// What a fenced example claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    Fails,
    Warns,
    Clean,
}

/// One fenced block of the index.
struct Example {
    /// The section's code, `None` before the first code heading.
    code: Option<Code>,
    /// 1-based line of the opening fence.
    line: usize,
    /// The info string after the fence.
    info: String,
    text: String,
}

fn index_text() -> String {
    fs::read_to_string(root().join("docs/diagnostics.md")).expect("docs/diagnostics.md exists")
}

/// The code a `## E0101 undefined-name` heading introduces, or `None`
/// for other headings. Panics on a heading that looks like a code but is
/// not one of `Code::ALL` with its slug.
fn heading_code(line: &str) -> Option<Code> {
    let rest = line.strip_prefix("## ")?;
    let word = rest.split_whitespace().next()?;
    let b = word.as_bytes();
    if !(b.len() == 5 && matches!(b[0], b'E' | b'W') && b[1..].iter().all(u8::is_ascii_digit)) {
        return None;
    }
    let code =
        Code::ALL.iter().copied().find(|c| c.as_str() == word).unwrap_or_else(|| panic!("`{line}`: no such code"));
    assert_eq!(rest, format!("{} {}", code.as_str(), code.slug()), "the heading must be `## CODE slug`");
    Some(code)
}

/// Every fenced block, with the code of the section it is in.
fn examples(text: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut code = None;
    let mut open: Option<Example> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(ex) = open.as_mut() {
            if line.trim_end() == "```" {
                out.extend(open.take());
            } else {
                ex.text.push_str(line);
                ex.text.push('\n');
            }
        } else if let Some(info) = line.strip_prefix("```") {
            open = Some(Example { code, line: i + 1, info: info.trim().to_string(), text: String::new() });
        } else if line.starts_with("## ") {
            code = heading_code(line);
        }
    }
    assert!(open.is_none(), "docs/diagnostics.md: a fence is never closed");
    out
}

fn claim(info: &str) -> Option<Claim> {
    match info {
        "mailc,fails" => Some(Claim::Fails),
        "mailc,warns" => Some(Claim::Warns),
        "mailc" => Some(Claim::Clean),
        _ => None,
    }
}

/// Checks one example in a fresh copy of docs/examples/diagnostics/;
/// returns a problem, if any.
fn check_example(ex: &Example, claim: Claim) -> Option<String> {
    let at = format!("docs/diagnostics.md:{}", ex.line);
    let Some(code) = ex.code else {
        return Some(format!("{at}: an example outside a code's section"));
    };
    let dir = TempDir::new(&code.as_str().to_lowercase());
    copy_dir(&root().join("docs/examples/diagnostics"), &dir.0);
    let policy = dir.0.join("policy.mailc");
    fs::write(&policy, &ex.text).expect("write example");
    let checked = match mailc_compiler::check_file(&policy) {
        Ok(checked) => checked,
        Err(e) => return Some(format!("{at}: {e}")),
    };
    let found: Vec<String> = checked
        .diagnostics
        .iter()
        .map(|d| format!("{} {} ({})", d.code.as_str(), d.message, checked.sources.location(d.primary.span)))
        .collect();
    let has = checked.diagnostics.iter().any(|d| d.code == code);
    let errors = checked.diagnostics.iter().any(|d| d.severity() == Severity::Error);
    let ok = match claim {
        Claim::Fails => code.severity() == Severity::Error && has,
        Claim::Warns => code.severity() == Severity::Warning && has && !errors,
        Claim::Clean => checked.diagnostics.is_empty(),
    };
    (!ok).then(|| format!("{at}: a `{}` example of {} reports {found:#?}", ex.info, code.as_str()))
}

#[test]
fn error_index_examples_behave_as_documented() {
    let text = index_text();
    let examples = examples(&text);
    let mut problems = Vec::new();
    let (mut failing, mut fixed): (BTreeSet<&str>, BTreeSet<&str>) = Default::default();
    for ex in &examples {
        if let Some(name) = ex.info.strip_prefix("text,file=") {
            let path = root().join("docs/examples/diagnostics").join(name);
            match fs::read_to_string(&path) {
                Ok(file) if file == ex.text => {}
                Ok(_) => problems.push(format!("docs/diagnostics.md:{}: differs from {}", ex.line, path.display())),
                Err(e) => problems.push(format!("docs/diagnostics.md:{}: {}: {e}", ex.line, path.display())),
            }
            continue;
        }
        let Some(claim) = claim(&ex.info) else { continue };
        let code = ex.code.map_or("", |c| c.as_str());
        match claim {
            Claim::Fails | Claim::Warns => failing.insert(code),
            Claim::Clean => fixed.insert(code),
        };
        problems.extend(check_example(ex, claim));
    }
    for code in Code::ALL {
        let c = code.as_str();
        if !failing.contains(c) || !fixed.contains(c) {
            problems.push(format!("{c}: needs a failing example and its fix in docs/diagnostics.md"));
        }
    }
    assert!(problems.is_empty(), "{} problems in the error index:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn error_index_has_every_code_once_in_order() {
    let text = index_text();
    let headings: Vec<Code> = text.lines().filter_map(heading_code).collect();
    assert_eq!(headings, Code::ALL, "one `## CODE slug` section per code, in the order of Code::ALL");
    // SARIF's rule help points at `docs/diagnostics.md#e0101`: each heading
    // has that anchor right above it.
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if let Some(code) = heading_code(line) {
            let anchor = format!("<a id=\"{}\"></a>", code.as_str().to_lowercase());
            assert_eq!(i.checked_sub(1).map(|p| lines[p]), Some(anchor.as_str()), "above `{line}`");
        }
    }
}

// ------------------------------------------------------------ the formats

/// The corpus directory the format tests run on: several problems, in
/// four files, with labels in other files.
const MANY: &str = "tests/bad/multi-problems-across-files";

fn mailc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailc"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run mailc")
}

fn check(format: &str) -> (String, Option<i32>) {
    let out = mailc(&root().join(MANY), &["check", "--format", format, "policy.mailc"]);
    assert!(out.stderr.is_empty(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8(out.stdout).expect("UTF-8 output"), out.status.code())
}

/// `(code, file, line, column)` of each diagnostic in the human output:
/// the code header, then the first `╭─[file:line:col]` after it.
fn human_positions() -> Vec<(String, String, u64, u64)> {
    let human = fs::read_to_string(root().join(MANY).join("expected")).expect("expected output");
    let mut out = Vec::new();
    let mut code: Option<String> = None;
    for line in human.lines() {
        let b = line.as_bytes();
        if b.len() > 6 && matches!(b[0], b'E' | b'W') && b[5] == b'(' {
            code = Some(line[..5].to_string());
        } else if let Some(at) = line.split_once("╭─[").map(|(_, rest)| rest.trim_end_matches(']')) {
            if let Some(code) = code.take() {
                let mut parts = at.rsplitn(3, ':');
                let col = parts.next().and_then(|c| c.parse().ok()).expect("column");
                let line = parts.next().and_then(|l| l.parse().ok()).expect("line");
                out.push((code, parts.next().expect("file").to_string(), line, col));
            }
        }
    }
    out
}

fn num(v: &Value, field: &str) -> u64 {
    v[field].as_u64().unwrap_or_else(|| panic!("`{field}` is not a number in {v}"))
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_else(|| panic!("`{field}` is not a string in {v}"))
}

/// Checks the position fields shared by diagnostics and labels.
fn check_position(v: &Value) {
    assert!(!text(v, "file").is_empty());
    let (line, column, end_line, end_column) =
        (num(v, "line"), num(v, "column"), num(v, "end_line"), num(v, "end_column"));
    assert!(line >= 1 && column >= 1 && end_line >= 1 && end_column >= 1, "positions are 1-based: {v}");
    assert!((end_line, end_column) >= (line, column), "the end is not before the start: {v}");
}

fn json_diagnostics() -> Vec<Value> {
    let (out, status) = check("json");
    assert_eq!(status, Some(1), "errors exit with 1 in every format");
    let doc: Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(doc["version"], 1);
    let diags = doc["diagnostics"].as_array().expect("`diagnostics` is an array").clone();
    let errors = diags.iter().filter(|d| d["severity"] == "error").count() as u64;
    assert_eq!(num(&doc["summary"], "errors"), errors);
    assert_eq!(num(&doc["summary"], "warnings"), diags.len() as u64 - errors);
    diags
}

#[test]
fn json_has_the_documented_fields_and_human_positions() {
    let diags = json_diagnostics();
    assert!(diags.len() >= 5, "the case shows several problems");
    for d in &diags {
        let code = Code::ALL.iter().find(|c| c.as_str() == text(d, "code")).expect("a known code");
        assert_eq!(text(d, "name"), code.slug());
        let severity = if code.severity() == Severity::Error { "error" } else { "warning" };
        assert_eq!(text(d, "severity"), severity);
        assert!(!text(d, "message").is_empty());
        assert!(d["help"].is_string() || d["help"].is_null(), "`help` is a string or null: {d}");
        check_position(d);
        let labels = d["labels"].as_array().expect("`labels` is an array");
        assert_eq!(labels[0]["primary"], true, "the first label is the primary one: {d}");
        assert!(labels[1..].iter().all(|l| l["primary"] == false), "only the first label is primary: {d}");
        for l in labels {
            check_position(l);
            assert!(l["message"].is_string());
        }
        for field in ["file", "line", "column", "end_line", "end_column"] {
            assert_eq!(labels[0][field], d[field], "the primary label is where the diagnostic is");
        }
    }
    assert!(diags.iter().any(|d| d["labels"].as_array().is_some_and(|l| l.len() > 1)), "some have more labels");
    let from_json: Vec<(String, String, u64, u64)> = diags
        .iter()
        .map(|d| (text(d, "code").to_string(), text(d, "file").to_string(), num(d, "line"), num(d, "column")))
        .collect();
    assert_eq!(from_json, human_positions(), "JSON and human output agree on codes, files, lines and columns");
}

#[test]
fn json_lists_what_the_human_output_leaves_out() {
    // The human output shows 50 diagnostics of one code; JSON shows all.
    let dir = root().join("tests/bad/e0203-more-than-fifty-bad-lines");
    let human = fs::read_to_string(dir.join("expected")).expect("expected output");
    assert_eq!(human.lines().filter(|l| l.starts_with("E0203(")).count(), 50);
    assert!(human.contains("... and 2 more E0203 (table-syntax) not shown; use --format json for all"));
    let out = mailc(&dir, &["check", "--format", "json", "policy.mailc"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(doc["diagnostics"].as_array().map(Vec::len), Some(52));
    assert_eq!(doc["summary"]["errors"], 52);
    assert_eq!(doc["diagnostics"][51]["line"], 52);
}

#[test]
fn sarif_is_2_1_0_with_a_result_per_diagnostic() {
    let diags = json_diagnostics();
    let (out, status) = check("sarif");
    assert_eq!(status, Some(1));
    let doc: Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(doc["version"], "2.1.0");
    assert!(text(&doc, "$schema").contains("sarif"));
    let run = &doc["runs"][0];
    assert_eq!(doc["runs"].as_array().map(Vec::len), Some(1), "one run");
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "mailc");
    let rules = driver["rules"].as_array().expect("rules");
    let ids: Vec<&str> = rules.iter().map(|r| text(r, "id")).collect();
    assert_eq!(ids, Code::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(), "a rule per code");
    for (rule, code) in rules.iter().zip(Code::ALL) {
        assert_eq!(text(rule, "name"), code.slug());
        let help = rule["help"]["text"].as_str().expect("help text");
        assert!(help.contains(&format!("diagnostics.md#{}", code.as_str().to_lowercase())), "{help}");
    }
    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len(), diags.len());
    for (r, d) in results.iter().zip(&diags) {
        assert_eq!(r["ruleId"], d["code"]);
        let index = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], d["code"], "ruleIndex points at the rule");
        assert_eq!(r["level"], d["severity"]);
        assert!(text(&r["message"], "text").starts_with(text(d, "message")));
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert_eq!(text(&r["locations"][0]["physicalLocation"]["artifactLocation"], "uri"), text(d, "file"));
        for (sarif, json) in
            [("startLine", "line"), ("startColumn", "column"), ("endLine", "end_line"), ("endColumn", "end_column")]
        {
            assert_eq!(region[sarif], d[json], "{sarif} of {}", d["code"]);
        }
        let labels = d["labels"].as_array().expect("labels");
        let related = r["relatedLocations"].as_array().expect("`relatedLocations` is an array");
        assert_eq!(related.len(), labels.len() - 1, "a related location per secondary label");
        for (rel, label) in related.iter().zip(&labels[1..]) {
            assert_eq!(rel["message"]["text"], label["message"]);
            assert_eq!(rel["physicalLocation"]["region"]["startLine"], label["line"]);
            assert_eq!(rel["physicalLocation"]["artifactLocation"]["uri"], label["file"]);
        }
    }
    assert!(results.iter().any(|r| r["relatedLocations"].as_array().is_some_and(|l| !l.is_empty())));
}

/// `Some((level, file, line, col, end_line, end_col, title))` when `line`
/// is a GitHub workflow command of the documented shape.
fn github_annotation(line: &str) -> Option<(String, String, u64, u64, u64, u64, String)> {
    let rest = line.strip_prefix("::")?;
    let (level, rest) = rest.split_once(' ')?;
    if level != "error" && level != "warning" {
        return None;
    }
    let (props, message) = rest.split_once("::")?;
    if message.is_empty() {
        return None;
    }
    let props: Vec<(&str, &str)> = props.split(',').map(|p| p.split_once('=')).collect::<Option<_>>()?;
    let keys: Vec<&str> = props.iter().map(|(k, _)| *k).collect();
    if keys != ["file", "line", "col", "endLine", "endColumn", "title"] {
        return None;
    }
    let n = |i: usize| props[i].1.parse::<u64>().ok();
    Some((level.to_string(), props[0].1.to_string(), n(1)?, n(2)?, n(3)?, n(4)?, props[5].1.to_string()))
}

#[test]
fn github_has_one_annotation_per_diagnostic() {
    let diags = json_diagnostics();
    let (out, status) = check("github");
    assert_eq!(status, Some(1));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), diags.len(), "one line per diagnostic (newlines in messages are escaped)");
    for (line, d) in lines.iter().zip(&diags) {
        let (level, file, l, c, el, ec, title) =
            github_annotation(line).unwrap_or_else(|| panic!("not a workflow command: {line}"));
        assert_eq!(level, text(d, "severity"));
        assert_eq!(file, text(d, "file"));
        assert_eq!((l, c, el, ec), (num(d, "line"), num(d, "column"), num(d, "end_line"), num(d, "end_column")));
        assert_eq!(title, format!("{} {}", text(d, "code"), text(d, "name")));
    }
    assert!(github_annotation("::notice file=a,line=1,col=1,endLine=1,endColumn=2,title=x::m").is_none());
    assert!(github_annotation("::error file=a,line=x,col=1,endLine=1,endColumn=2,title=x::m").is_none());
}

// ------------------------------------------------------------ exit codes

#[test]
fn exit_codes() {
    let code = |dir: &Path, args: &[&str]| mailc(dir, args).status.code();
    let bad = root().join("tests/bad");
    // 2: the policy cannot be read, or the command line is wrong.
    let missing = mailc(&bad, &["check", "no-such-policy.mailc"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(missing.stdout.is_empty());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-policy.mailc"));
    assert_eq!(code(&bad, &["check", "--format", "yaml", "x.mailc"]), Some(2));
    assert_eq!(code(&bad, &["check", "--no-such-flag", "x.mailc"]), Some(2));
    assert_eq!(code(&bad, &["check"]), Some(2));
    // 1: errors, in every format.
    for format in ["human", "json", "github", "sarif"] {
        assert_eq!(
            code(&bad.join("e0101-undefined-transport"), &["check", "--format", format, "policy.mailc"]),
            Some(1)
        );
    }
    // 0: clean; warnings pass unless denied.
    let reference = root().join("examples/reference");
    assert_eq!(code(&reference, &["check", "policy.mailc"]), Some(0));
    assert_eq!(code(&reference, &["check", "--deny-warnings", "policy.mailc"]), Some(0));
    let warns = bad.join("w0001-unused-table");
    assert_eq!(code(&warns, &["check", "policy.mailc"]), Some(0));
    assert_eq!(code(&warns, &["check", "--deny-warnings", "policy.mailc"]), Some(1));
    assert_eq!(code(&warns, &["check", "--format", "json", "--deny-warnings", "policy.mailc"]), Some(1));
}
