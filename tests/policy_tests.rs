//! `mailc test`: every example's test blocks pass; a wrong expectation
//! fails with what was expected, what happened and the trace; the JSON and
//! JUnit forms carry the same results.

use std::path::{Path, PathBuf};
use std::process::Command;

fn mailc(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mailc")).current_dir(dir).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn examples() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("policy.mailc").exists())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_example_passes_its_own_tests() {
    let mut total = 0;
    for dir in examples() {
        let (code, out) = mailc(&dir, &["test", "policy.mailc"]);
        assert_eq!(code, 0, "{}:\n{out}", dir.display());
        let last = out.lines().last().unwrap_or("");
        assert!(last.ends_with(" passed, 0 failed"), "{}: {last}", dir.display());
        total += last.split(' ').next().unwrap().parse::<usize>().unwrap();
    }
    assert!(total >= 30, "only {total} example tests ran");
}

fn scratch(policy: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mailc-policy-tests-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.mailc"), policy).unwrap();
    dir
}

const POLICY: &str = r#"
hostname "mx.example.test"
domains example : local = ["example.test"]
table aliases : local -> [address] = { "postmaster" -> ["alice"] }
transport mailbox = maildir "{state}/mail/{local}/"

recipient {
  domain example => expand aliases, deliver mailbox
  default => reject 554 5.7.1 "relay access denied"
}

test "right" {
  rcpt "postmaster@example.test" => deliver mailbox to ["alice@example.test"]
  rcpt "x@elsewhere.test" => reject 554 5.7.1
}

test "wrong" {
  rcpt "postmaster@example.test" => deliver mailbox to ["bob@example.test"]
}

test "wrong session" {
  session client 192.0.2.1 {
    connect => 220
    "EHLO client.test" => 250
    "MAIL FROM:<a@remote.test>" => 250
    "RCPT TO:<x@elsewhere.test>" => 250
  }
}
"#;

#[test]
fn a_wrong_expectation_fails_with_expected_actual_and_trace() {
    let dir = scratch(POLICY);
    let (code, out) = mailc(&dir, &["test", "policy.mailc"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("test \"right\" ... ok"), "{out}");
    assert!(out.contains("test \"wrong\" ... FAILED"), "{out}");
    assert!(out.contains("expected: deliver mailbox to [\"bob@example.test\"]"), "{out}");
    assert!(out.contains("actual:   deliver mailbox to [\"alice@example.test\"]"), "{out}");
    assert!(out.contains("table `aliases`: `postmaster` hit"), "{out}");
    assert!(out.contains("test \"wrong session\" ... FAILED"), "{out}");
    assert!(out.contains("S: 554 5.7.1"), "{out}");
    assert_eq!(out.lines().last(), Some("1 passed, 2 failed"));
}

#[test]
fn json_and_junit_carry_the_results() {
    let dir = scratch(POLICY);
    let (code, out) = mailc(&dir, &["test", "--format", "json", "policy.mailc"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["passed"].as_u64(), v["failed"].as_u64()), (Some(1), Some(2)));
    assert_eq!(v["tests"][1]["failures"][0]["expected"], "deliver mailbox to [\"bob@example.test\"]");
    let (_, xml) = mailc(&dir, &["test", "--format", "junit", "policy.mailc"]);
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("<testsuite name=\"mailc\" tests=\"3\" failures=\"2\">"), "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 2, "{xml}");
}
