//! The bad-configuration corpus: one broken policy per directory of
//! `tests/bad/`, with the exact human output of `mailc check` beside it.
//!
//! A directory holds `policy.mailc`, the files it names, and `expected`:
//! what `mailc check policy.mailc` prints run in that directory with
//! `NO_COLOR=1` and stdout not a terminal (no colour, width 100). What git
//! cannot hold is made by a `setup` file, one step a line (`fifo NAME`,
//! `sparse NAME BYTES`); such a directory is copied to a temporary one and
//! run there. `UPDATE_EXPECT=1` rewrites `expected` from the current output:
//! read every file it changes before committing it, since the point is that
//! a person has read what mailc says. The corpus must cover every code of
//! `Code::ALL`, and one small directory per code, chosen in
//! `SNAPSHOT_CASES`, is that code's rendered snapshot
//! (`tests/snapshots/bad__e0101.snap`); review those with
//! `INSTA_FORCE_PASS=1 INSTA_UPDATE=new`, reading each `.snap.new`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mailc_compiler::diag::{Code, Severity};

/// The corpus must not shrink below this.
const MIN_CASES: usize = 45;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("bad")
}

/// One corpus directory.
struct Case {
    name: String,
    dir: PathBuf,
}

impl Case {
    fn expected_path(&self) -> PathBuf {
        self.dir.join("expected")
    }

    fn expected(&self) -> String {
        fs::read_to_string(self.expected_path())
            .unwrap_or_else(|e| panic!("{}: cannot read `expected` ({e}); run with UPDATE_EXPECT=1", self.name))
    }

    fn setup(&self) -> Option<String> {
        fs::read_to_string(self.dir.join("setup")).ok()
    }

    /// Runs `mailc check [extra] policy.mailc` in the directory (or in a
    /// prepared copy of it); `None` when this platform cannot prepare it.
    fn run(&self, extra: &[&str]) -> Option<Output> {
        let copy = match self.setup() {
            Some(steps) => Some(Prepared::new(self, &steps)?),
            None => None,
        };
        let dir = copy.as_ref().map_or(self.dir.as_path(), |c| c.0.as_path());
        let output = Command::new(env!("CARGO_BIN_EXE_mailc"))
            .current_dir(dir)
            .arg("check")
            .args(extra)
            .arg("policy.mailc")
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|e| panic!("{}: cannot run mailc: {e}", self.name));
        Some(output)
    }
}

/// Every corpus directory, sorted by name.
fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = fs::read_dir(corpus_root())
        .expect("tests/bad exists")
        .map(|e| e.expect("readable tests/bad").path())
        .filter(|p| p.is_dir())
        .map(|dir| Case { name: dir.file_name().unwrap().to_string_lossy().into_owned(), dir })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// A temporary copy of a case with its `setup` steps applied; removed on
/// drop.
struct Prepared(PathBuf);

impl Prepared {
    fn new(case: &Case, steps: &str) -> Option<Prepared> {
        let dir = std::env::temp_dir().join(format!("mailc-bad-{}-{}", std::process::id(), case.name));
        let _ = fs::remove_dir_all(&dir);
        copy_dir(&case.dir, &dir);
        let prepared = Prepared(dir);
        for line in steps.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["fifo", name] => match Command::new("mkfifo").arg(prepared.0.join(name)).status() {
                    Ok(status) => assert!(status.success(), "{}: mkfifo {name} failed", case.name),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        eprintln!("{}: skipped, no mkfifo here", case.name);
                        return None;
                    }
                    Err(e) => panic!("{}: mkfifo: {e}", case.name),
                },
                ["sparse", name, bytes] => {
                    let bytes: u64 = bytes.parse().unwrap_or_else(|_| panic!("{}: bad size in setup", case.name));
                    let file = fs::File::create(prepared.0.join(name)).expect("create sparse file");
                    file.set_len(bytes).expect("extend sparse file");
                }
                _ => panic!("{}: unknown setup step `{line}`", case.name),
            }
        }
        Some(prepared)
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Copies a directory tree, keeping symbolic links as links.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create temporary directory");
    for entry in fs::read_dir(from).expect("read corpus directory") {
        let entry = entry.expect("read corpus entry");
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let ty = entry.file_type().expect("file type");
        if ty.is_symlink() {
            let target = fs::read_link(&src).expect("read link");
            #[cfg(unix)]
            std::os::unix::fs::symlink(&target, &dst).expect("copy link");
            #[cfg(not(unix))]
            let _ = (target, dst);
        } else if ty.is_dir() {
            copy_dir(&src, &dst);
        } else {
            fs::copy(&src, &dst).expect("copy file");
        }
    }
}

/// The codes in a human rendering: the header lines like `E0101(...)`.
fn codes_in(output: &str) -> BTreeSet<String> {
    output
        .lines()
        .filter(|l| {
            let b = l.as_bytes();
            b.len() > 6
                && matches!(b[0], b'E' | b'W')
                && b[1..5].iter().all(u8::is_ascii_digit)
                && b[5] == b'('
                && l.ends_with(')')
        })
        .map(|l| l[..5].to_string())
        .collect()
}

/// The error and warning counts of the summary line (`2 errors, 1 warning`).
fn counts(output: &str) -> Option<(usize, usize)> {
    let last = output.lines().last()?;
    let (e, w) = last.split_once(", ")?;
    let number = |s: &str, word: &str| -> Option<usize> {
        let (n, rest) = s.split_once(' ')?;
        if rest.trim_end_matches('s') == word {
            n.parse().ok()
        } else {
            None
        }
    };
    Some((number(e, "error")?, number(w, "warning")?))
}

/// A line diff of `expected` and `actual`, with three lines of context.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    // Longest common subsequence, by dynamic programming from the end.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let near = |k: usize| ops[k.saturating_sub(3)..(k + 4).min(ops.len())].iter().any(|(c, _)| *c != ' ');
    let mut out = String::from("--- expected\n+++ actual\n");
    let mut skipped = false;
    for (k, (c, line)) in ops.iter().enumerate() {
        if near(k) {
            out.push_str(&format!("{c}{line}\n"));
            skipped = false;
        } else if !skipped {
            out.push_str("@@\n");
            skipped = true;
        }
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out.push_str("(the final newline differs)\n");
    }
    out
}

#[test]
fn corpus_output_matches_expected() {
    let update = std::env::var("UPDATE_EXPECT").is_ok_and(|v| v == "1");
    let cases = cases();
    assert!(cases.len() >= MIN_CASES, "the corpus has {} directories, fewer than {MIN_CASES}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        assert!(case.dir.join("policy.mailc").exists(), "{}: no policy.mailc", case.name);
        let Some(out) = case.run(&[]) else { continue };
        let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if update && fs::read_to_string(case.expected_path()).ok().as_deref() != Some(stdout.as_str()) {
            fs::write(case.expected_path(), &stdout).expect("write expected");
            eprintln!("updated tests/bad/{}/expected: review it", case.name);
        }
        let expected = case.expected();
        if stdout != expected {
            failures.push(format!("{}: output differs\n{}", case.name, diff(&expected, &stdout)));
            continue;
        }
        if !stderr.is_empty() {
            failures.push(format!("{}: unexpected stderr:\n{stderr}", case.name));
        }
        let Some((errors, warnings)) = counts(&stdout) else {
            failures.push(format!("{}: no `N errors, M warnings` line; a corpus policy must be broken", case.name));
            continue;
        };
        let status = out.status.code();
        if errors > 0 {
            if status != Some(1) {
                failures.push(format!("{}: {errors} errors but exit status {status:?}, not 1", case.name));
            }
        } else {
            assert!(warnings > 0, "{}: reports nothing", case.name);
            if status != Some(0) {
                failures.push(format!("{}: only warnings but exit status {status:?}, not 0", case.name));
            }
            let denied = case.run(&["--deny-warnings"]).expect("prepared before").status.code();
            if denied != Some(1) {
                failures.push(format!("{}: --deny-warnings gives exit status {denied:?}, not 1", case.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus directories fail:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_covers_every_code() {
    let mut seen = BTreeSet::new();
    for case in cases() {
        seen.extend(codes_in(&case.expected()));
    }
    let missing: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).filter(|c| !seen.contains(*c)).collect();
    assert!(missing.is_empty(), "no corpus directory shows {missing:?}");
    let known: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    let unknown: Vec<&String> = seen.iter().filter(|c| !known.contains(c.as_str())).collect();
    assert!(unknown.is_empty(), "the corpus shows codes that do not exist: {unknown:?}");
}

#[test]
fn corpus_names_match_their_codes() {
    // A directory named after a code must show that code; an error code's
    // directory must fail and a warning's must not need errors to show it.
    for case in cases() {
        let Some(code) = Code::ALL.iter().find(|c| case.name.starts_with(&format!("{}-", c.as_str().to_lowercase())))
        else {
            assert!(
                case.name.starts_with("multi-"),
                "{}: name it after a code (`e0101-...`) or `multi-...`",
                case.name
            );
            continue;
        };
        let expected = case.expected();
        assert!(codes_in(&expected).contains(code.as_str()), "{}: does not show {}", case.name, code.as_str());
        if code.severity() == Severity::Warning {
            assert_eq!(counts(&expected).map(|c| c.0), Some(0), "{}: a warning case should have no errors", case.name);
        }
    }
}

/// The corpus directory whose rendering is each code's snapshot: a small
/// case whose spans and help are right, chosen by a person.
const SNAPSHOT_CASES: &[(&str, &str)] = &[
    ("E0001", "e0001-reserved-word-as-name"),
    ("E0002", "e0002-missing-include"),
    ("E0003", "e0003-include-cycle-through-three-files"),
    ("E0101", "e0101-undefined-transport"),
    ("E0102", "e0102-duplicate-name-across-include"),
    ("E0103", "e0103-transport-used-as-table"),
    ("E0104", "e0104-network-as-sender-set"),
    ("E0105", "e0105-misspelled-setting"),
    ("E0106", "e0106-setting-values-of-the-wrong-type"),
    ("E0107", "e0107-setting-given-twice"),
    ("E0108", "e0108-network-with-host-bits"),
    ("E0109", "e0109-unknown-placeholder"),
    ("E0110", "e0110-unknown-stage"),
    ("E0111", "e0111-unknown-transport-option"),
    ("E0112", "e0112-pipe-without-user"),
    ("E0113", "e0113-unknown-subject-and-flag"),
    ("E0114", "e0114-sender-tested-at-connect"),
    ("E0115", "e0115-address-form-in-local-table-lookup"),
    ("E0116", "e0116-invalid-regexp-in-table-file"),
    ("E0117", "e0117-reject-with-a-4xx-reply"),
    ("E0118", "e0118-option-values-of-the-wrong-kind"),
    ("E0201", "e0201-domain-in-two-classes"),
    ("E0202", "e0202-conflicting-keys"),
    ("E0203", "e0203-cidr-file-syntax"),
    ("E0204", "e0204-list-in-single-value-table"),
    ("E0301", "e0301-alias-loop"),
    ("E0302", "e0302-fanout-exceeded"),
    ("E0303", "e0303-open-relay-check-table"),
    ("E0304", "e0304-missing-default"),
    ("E0305", "e0305-expand-without-else"),
    ("E0306", "e0306-duplicate-block"),
    ("E0307", "e0307-depth-exceeded"),
    ("W0001", "w0001-unused-table"),
    ("W0002", "w0002-unused-transport"),
    ("W0003", "w0003-unreachable-rules"),
    ("W0004", "w0004-shadowed-rules"),
    ("W0005", "w0005-duplicate-key"),
    ("W0006", "w0006-open-relay-allowed"),
    ("W0007", "w0007-empty-sets"),
    ("W0008", "w0008-needless-opt-out"),
];

#[test]
fn rendered_snapshot_per_code() {
    let cases = cases();
    for code in Code::ALL {
        let dir = SNAPSHOT_CASES
            .iter()
            .find(|(c, _)| *c == code.as_str())
            .map(|(_, dir)| *dir)
            .unwrap_or_else(|| panic!("{}: choose its snapshot case in SNAPSHOT_CASES", code.as_str()));
        let case = cases.iter().find(|c| c.name == dir).unwrap_or_else(|| panic!("no tests/bad/{dir}"));
        assert!(case.setup().is_none(), "{dir}: a snapshot case needs no setup");
        let out = case.run(&[]).expect("no setup needed");
        let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
        assert_eq!(
            codes_in(&stdout).into_iter().collect::<Vec<_>>(),
            [code.as_str()],
            "{dir}: a snapshot case shows its code and no other"
        );
        insta::with_settings!({
            description => format!("mailc check policy.mailc, in tests/bad/{dir}"),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(code.as_str().to_lowercase(), stdout);
        });
    }
    assert_eq!(SNAPSHOT_CASES.len(), Code::ALL.len(), "SNAPSHOT_CASES names a code that does not exist");
}

#[test]
fn helpers_parse_what_they_should() {
    assert_eq!(counts("x\n2 errors, 1 warning\n"), Some((2, 1)));
    assert_eq!(counts("0 errors, 3 warnings\n"), Some((0, 3)));
    assert_eq!(counts("ok: no problems found\n"), None);
    let codes = codes_in("E0101(undefined-name)\n\n  help: see E0102(x)\nW0001(unused-name)\n");
    assert_eq!(codes.into_iter().collect::<Vec<_>>(), ["E0101", "W0001"]);
    assert!(diff("a\nb\nc\n", "a\nB\nc\n").contains("-b\n+B\n"));
}
