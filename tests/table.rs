//! `mailc table build` and `mailc table query`: postmap's jobs. Table files
//! are built into artifacts, keys are normalised as the table stores them
//! and looked up exactly (`postmap -q`), `-` reads keys from stdin and
//! prints `key<TAB>value`, and the exit status says whether every key was
//! found (0), some were not (1), or the question could not be answered (2).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn mailc(dir: &Path, args: &[&str], stdin: Option<&str>) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailc"));
    cmd.current_dir(dir).args(args).env("NO_COLOR", "1").stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = match stdin {
        Some(input) => {
            let mut child = cmd.stdin(Stdio::piped()).spawn().unwrap();
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            child.wait_with_output().unwrap()
        }
        None => cmd.stdin(Stdio::null()).output().unwrap(),
    };
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fresh directory for one test, removed when dropped.
struct Dir(PathBuf);

impl std::ops::Deref for Dir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh directory for one test, with these files in it.
fn dir(name: &str, files: &[(&str, &str)]) -> Dir {
    let d = std::env::temp_dir().join(format!("mailc-table-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    for (f, text) in files {
        std::fs::write(d.join(f), text).unwrap();
    }
    Dir(d)
}

const VIRTUAL: &str = "\
# virtual_alias_maps, postmap style
Alice@Example.COM      alice@mail.test
bob@example.com        bob@mail.test,
    carol@mail.test
@example.org           catchall@mail.test
Dave@Bücher.Example.   dave@mail.test
";

#[test]
fn a_postfix_file_builds_and_answers_like_postmap() {
    let d = dir("postfix", &[("virtual", VIRTUAL)]);
    let out = mailc(&d, &["table", "build", "virtual"], None);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.starts_with("wrote virtual.mca (table `virtual`, 4 entries,"), "{}", out.stdout);
    assert!(d.join("virtual.mca").exists());

    // Keys normalised as stored: case, trailing dot, IDNA; exact lookups
    // (no lookup order: `alice+x@...` and `x@example.org` are not found,
    // though the engine would find them through extensions and @domain).
    let out = mailc(
        &d,
        &[
            "table",
            "query",
            "virtual.mca",
            "alice@EXAMPLE.com.",
            "BOB@example.com",
            "dave@bücher.example",
            "@Example.ORG",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout, "alice@mail.test\nbob@mail.test, carol@mail.test\ndave@mail.test\ncatchall@mail.test\n",
        "continuation lines join the value"
    );
    let out = mailc(&d, &["table", "query", "virtual.mca", "alice+x@example.com", "alice@example.com"], None);
    assert_eq!(out.code, 1, "a missing key is exit 1");
    assert_eq!(out.stdout, "alice@mail.test\n", "found keys are still printed");
    let out = mailc(&d, &["table", "query", "virtual.mca", "x@example.org"], None);
    assert_eq!((out.code, out.stdout.as_str()), (1, ""));

    // The source itself answers the same (built in memory).
    let out = mailc(&d, &["table", "query", "virtual", "ALICE@example.com"], None);
    assert_eq!((out.code, out.stdout.as_str()), (0, "alice@mail.test\n"));
}

#[test]
fn keys_from_stdin_print_key_tab_value_for_found_keys_only() {
    let d = dir("stdin", &[("virtual", VIRTUAL)]);
    assert_eq!(mailc(&d, &["table", "build", "virtual", "-o", "v.mca"], None).code, 0);
    let input = "Alice@Example.com\nnobody@example.com\n\n  bob@example.com  \r\n@example.org\n";
    let out = mailc(&d, &["table", "query", "v.mca", "-"], Some(input));
    assert_eq!(out.code, 1, "nobody@ is missing");
    assert_eq!(
        out.stdout,
        "Alice@Example.com\talice@mail.test\nbob@example.com\tbob@mail.test, carol@mail.test\n@example.org\tcatchall@mail.test\n"
    );
    let out = mailc(&d, &["table", "query", "v.mca", "-"], Some("alice@example.com\n"));
    assert_eq!((out.code, out.stdout.as_str()), (0, "alice@example.com\talice@mail.test\n"));
}

#[test]
fn an_aliases_file_has_local_keys_and_target_lists() {
    let d =
        dir("aliases", &[("aliases", "postmaster: root\nroot: alice, \"|/usr/bin/logger\"\n  , bob\nAbuse: root\n")]);
    let out = mailc(&d, &["table", "build", "--type", "aliases", "aliases"], None);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let out = mailc(&d, &["table", "query", "aliases.mca", "ROOT", "abuse", "Postmaster"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "alice, |/usr/bin/logger, bob\nroot\nroot\n");
    let out = mailc(&d, &["table", "query", "aliases.mca", "root@example.com"], None);
    assert_eq!(out.code, 1, "a local table has no addresses");
}

#[test]
fn a_cidr_table_answers_with_the_first_network_holding_the_address() {
    let d = dir(
        "cidr",
        &[("access.cidr", "192.0.2.0/24   REJECT first\n192.0.2.1      OK never reached\n2001:db8::/32  DUNNO\n")],
    );
    let out = mailc(&d, &["table", "query", "--type", "cidr", "access.cidr", "192.0.2.1", "2001:DB8::5"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "REJECT first\nDUNNO\n");
    let out = mailc(&d, &["table", "query", "--type", "cidr", "access.cidr", "198.51.100.1", "not-an-ip"], None);
    assert_eq!((out.code, out.stdout.as_str()), (1, ""));
    assert!(out.stderr.contains("`not-an-ip` is not a valid cidr key"), "{}", out.stderr);
}

#[test]
fn a_regexp_table_answers_with_the_first_matching_pattern() {
    let d = dir(
        "regexp",
        &[(
            "checks",
            "/^(.*)@spam\\.test$/   REJECT $1 sends spam\n/^Admin@/i             case-sensitive\n/^admin@/              any case\n!/@example\\.test$/     FOREIGN\n",
        )],
    );
    let out = mailc(
        &d,
        &[
            "table",
            "query",
            "--type",
            "regexp",
            "checks",
            "Joe@SPAM.test",
            "Admin@example.test",
            "ADMIN@example.test",
            "x@other.test",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "REJECT Joe sends spam\ncase-sensitive\nany case\nFOREIGN\n");
    let out = mailc(&d, &["table", "query", "--type", "regexp", "checks", "user@example.test"], None);
    assert_eq!(out.code, 1);
}

#[test]
fn an_example_artifact_is_queried_by_table_name() {
    let reference = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/reference/policy.mailc");
    let d = dir("artifact", &[]);
    let out = mailc(&d, &["compile", reference, "-o", "reference.mca"], None);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let out = mailc(&d, &["table", "query", "--table", "virtual", "reference.mca", "Info@Virt.TEST"], None);
    assert_eq!((out.code, out.stdout.as_str()), (0, "alice@example.test, sink@relay.test\n"), "{}", out.stderr);
    // A set prints the key as stored.
    let out = mailc(&d, &["table", "query", "--table", "users", "reference.mca", "Alice"], None);
    assert_eq!((out.code, out.stdout.as_str()), (0, "alice\n"));

    let out = mailc(&d, &["table", "query", "reference.mca", "info@virt.test"], None);
    assert_eq!(out.code, 2);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("`reference.mca` has 3 tables; choose one with --table: `users`, `aliases`, `virtual`"),
        "{}",
        out.stderr
    );
    let out = mailc(&d, &["table", "query", "--table", "virtal", "reference.mca", "x"], None);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("has no table `virtal`"), "{}", out.stderr);
}

#[test]
fn a_table_file_with_a_syntax_error_is_reported_with_file_and_line() {
    let d = dir("broken", &[("virtual", "ok@example.com  a@mail.test\n\"unclosed@example.com  b@mail.test\n")]);
    let out = mailc(&d, &["table", "build", "virtual"], None);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("E0203(table-syntax)"), "{}", out.stdout);
    assert!(out.stdout.contains("key has an unclosed double quote"), "{}", out.stdout);
    assert!(out.stdout.contains("[virtual:2:1]"), "{}", out.stdout);
    assert!(out.stdout.contains("1 error, 0 warnings"), "{}", out.stdout);
    assert!(!out.stdout.contains("(table build)"), "the synthetic policy is never shown: {}", out.stdout);
    assert!(!d.join("virtual.mca").exists(), "nothing is written");

    // An invalid key is a diagnostic too; a query cannot answer (exit 2).
    let d = dir("badkey", &[("virtual", "bad..dots@example.com  x@mail.test\n")]);
    let out = mailc(&d, &["table", "query", "virtual", "x@example.com"], None);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("not a valid address key"), "{}", out.stderr);
}

#[test]
fn usage_problems_are_exit_2() {
    let d = dir("usage", &[("aliases", "root: alice\n")]);
    let out = mailc(&d, &["table", "build", "--type", "aliases", "--key", "address", "aliases"], None);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("an `aliases` file needs key kind `local`"), "{}", out.stderr);
    let out = mailc(&d, &["table", "build", "missing"], None);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("cannot read `missing`: does not exist"), "{}", out.stderr);
}

#[test]
fn help_explains_with_examples() {
    let d = dir("help", &[]);
    for sub in ["build", "query"] {
        let out = mailc(&d, &["table", sub, "--help"], None);
        assert_eq!(out.code, 0);
        assert!(out.stdout.contains("Examples:"), "{}", out.stdout);
        assert!(out.stdout.contains("Exit status"), "{}", out.stdout);
    }
}
