//! `mailc test addr` traces of the reference example's interesting
//! addresses, as snapshots (reviewed by reading), and the batch and JSON
//! forms.

use std::process::Command;

fn mailc(args: &[&str], stdin: Option<&str>) -> (i32, String) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/reference");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailc"));
    cmd.current_dir(dir).args(args).env("NO_COLOR", "1");
    let out = if let Some(input) = stdin {
        use std::io::Write;
        let mut child = cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    } else {
        cmd.output().unwrap()
    };
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn reference_traces() {
    for (name, address) in [
        ("virtual_fan_out", "info@virt.test"),
        ("alias_with_extension", "Postmaster+Urgent@Example.TEST"),
        ("unknown_virtual_user", "nobody@virt.test"),
        ("discarded", "null@virt.test"),
        ("relay_trick", "alice%elsewhere.test@example.test"),
        ("not_ours", "someone@elsewhere.test"),
    ] {
        let (code, out) = mailc(&["test", "addr", "policy.mailc", address], None);
        assert_eq!(code, 0, "{out}");
        insta::assert_snapshot!(format!("trace_{name}"), out);
    }
}

#[test]
fn batch_mode_prints_one_line_per_address() {
    let (code, out) = mailc(
        &["test", "addr", "policy.mailc", "-"],
        Some("alice@example.test\n\nroot@example.test\nx@elsewhere.test\n"),
    );
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "alice@example.test\talice@example.test: deliver by `mailbox` (mbox)",
            "root@example.test\talice@example.test: deliver by `mailbox` (mbox)",
            "x@elsewhere.test\treject 554 5.7.1 <x@elsewhere.test>: Relay access denied",
        ]
    );
}

#[test]
fn json_names_transport_next_hop_and_origin() {
    let (code, out) = mailc(&["test", "addr", "--format", "json", "policy.mailc", "info@virt.test"], None);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["result"], "accept");
    let recipients = v["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 2);
    assert_eq!(recipients[1]["recipient"], "sink@relay.test");
    assert_eq!(recipients[1]["transport"], "sink");
    assert_eq!(recipients[1]["expanded_from"][0], "info@virt.test");
    assert!(v["trace"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["rule"].as_str().is_some_and(|r| r.starts_with("policy.mailc:"))));
    assert_eq!(v["artifact"].as_str().unwrap().len(), 64);
}

#[test]
fn an_artifact_answers_like_its_policy() {
    let out_path = std::env::temp_dir().join(format!("mailc-trace-{}.mca", std::process::id()));
    let out_arg = out_path.to_str().unwrap();
    let (code, _) = mailc(&["compile", "policy.mailc", "-o", out_arg], None);
    assert_eq!(code, 0);
    let from_policy = mailc(&["test", "addr", "policy.mailc", "info@virt.test"], None);
    let from_artifact = mailc(&["test", "addr", out_arg, "info@virt.test"], None);
    std::fs::remove_file(&out_path).unwrap();
    assert_eq!(from_policy, from_artifact);
}

#[test]
fn a_simulated_session_gives_each_stage_reply() {
    let (code, out) = mailc(
        &[
            "test",
            "addr",
            "--session",
            "--client",
            "203.0.113.5",
            "--from",
            "bob@remote.test",
            "policy.mailc",
            "alice@example.test",
            "x@elsewhere.test",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}");
    let replies: Vec<&str> = out.lines().filter(|l| l.starts_with("S: ")).collect();
    assert_eq!(
        replies,
        [
            "S: 220 mx.example.test ESMTP mailc",
            "S: 250 mx.example.test",
            "S: 250 2.1.0 Ok",
            "S: 250 2.1.5 Ok",
            "S: 554 5.7.1 <x@elsewhere.test>: Relay access denied",
            "S: 354 End data with <CR><LF>.<CR><LF>",
            "S: 250 2.0.0 Ok: queued",
            "S: 221 2.0.0 Bye",
        ]
    );
    assert!(out.contains("policy.mailc:49: reject relay_denied if not recipient.final"), "{out}");
}

/// `mailc test addr` in another example's directory.
fn mailc_in(example: &str, args: &[&str]) -> (i32, String) {
    let dir = format!("{}/examples/{example}", env!("CARGO_MANIFEST_DIR"));
    let out =
        Command::new(env!("CARGO_BIN_EXE_mailc")).current_dir(dir).args(args).env("NO_COLOR", "1").output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn example_traces() {
    for (example, name, address) in [
        ("small-office", "staff_list", "staff@office.example.com"),
        ("small-office", "unknown_user_to_the_front_desk", "stranger@office.example.com"),
        ("virtual-hosting", "qmail_catch_all", "Newsletter@joe.test"),
        ("virtual-hosting", "relocated", "dave@example.com"),
        ("virtual-hosting", "routed_domain", "someone@example.net"),
        ("backup-mx", "relay_recipient_with_extension", "Alice+News@Example.COM"),
        ("backup-mx", "unknown_relay_recipient", "nobody@example.com"),
        ("null-client", "everything_to_the_relay", "customer@example.net"),
        ("public-mx", "hosted_user", "Alice+Orders@Example.COM"),
    ] {
        let (code, out) = mailc_in(example, &["test", "addr", "policy.mailc", address]);
        assert_eq!(code, 0, "{example}: {out}");
        insta::assert_snapshot!(format!("trace_{}_{name}", example.replace('-', "_")), out);
    }
}
