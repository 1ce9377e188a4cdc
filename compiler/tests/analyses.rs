//! The whole-policy analyses on small policies: the open-relay proof,
//! expansion cycles, fan-out and depth, domain classes. Each case says
//! which codes the checker must report, so a case that stops finding its
//! problem (or starts finding one that is not there) fails.

use std::path::{Path, PathBuf};

use mailc_compiler::{check_text, Code};

/// A scratch directory with the given files.
fn dir_with(files: &[(&str, &str)]) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("mailc-analyses-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

fn codes(dir: &Path, policy: &str) -> Vec<Code> {
    let checked = check_text(&dir.join("policy.mailc"), policy);
    let mut codes: Vec<Code> = checked.diagnostics.iter().map(|d| d.code).collect();
    codes.dedup();
    codes
}

const HEAD: &str = r#"
hostname "mx.example.test"
trusted_networks trusted
network trusted = [192.0.2.0/24]
domains example : local = ["example.test"]
transport mailbox = maildir "{state}/mail/{local}/"
transport out = smtp { mx }
recipient {
  domain example => deliver mailbox
  default => deliver out
}
"#;

fn relay(rules: &str) -> Vec<Code> {
    let dir = dir_with(&[]);
    codes(&dir, &format!("{HEAD}\non rcpt {{\n{rules}\n}}\n"))
}

#[test]
fn the_standard_relay_rules_are_safe() {
    let safe = "accept if client in trusted or authenticated\n\
                reject 554 5.7.1 \"relay access denied\" if not recipient.final\n\
                default accept";
    assert_eq!(relay(safe), vec![]);
}

#[test]
fn accepting_before_the_destination_check_is_an_open_relay() {
    let open = "accept if sender.domain in [\"example.test\"]\n\
                reject 554 5.7.1 \"relay access denied\" if not recipient.final\n\
                default accept";
    assert_eq!(relay(open), vec![Code::OpenRelay]);
}

#[test]
fn a_default_accept_without_a_destination_check_is_an_open_relay() {
    assert_eq!(relay("accept if client in trusted\ndefault accept"), vec![Code::OpenRelay]);
}

#[test]
fn trusting_a_network_outside_trusted_networks_is_an_open_relay() {
    let open = "accept if client in [0.0.0.0/0]\n\
                reject 554 5.7.1 \"relay access denied\" if not recipient.final\n\
                default accept";
    assert_eq!(relay(open), vec![Code::OpenRelay]);
    // A subnet of the trusted networks is still trusted.
    let safe = "accept if client in [192.0.2.128/25]\n\
                reject 554 5.7.1 \"relay access denied\" if not recipient.final\n\
                default accept";
    assert_eq!(relay(safe), vec![]);
}

#[test]
fn accepting_only_final_domains_is_safe() {
    let safe = "accept if recipient.domain in example\ndefault reject 554 5.7.1 \"relay access denied\"";
    assert_eq!(relay(safe), vec![]);
}

#[test]
fn an_access_table_that_accepts_a_foreign_domain_opens_a_relay() {
    let dir = dir_with(&[("access", "elsewhere.test OK\nexample.test OK\n")]);
    let policy = format!(
        "{HEAD}\ntable access : domain -> action = postfix \"access\"\n\
         on rcpt {{\n  check access for recipient.domain\n  \
         reject 554 5.7.1 \"relay access denied\" if not recipient.final\n  default accept\n}}\n"
    );
    assert_eq!(codes(&dir, &policy), vec![Code::OpenRelay]);
    let dir = dir_with(&[("access", "example.test OK\n")]);
    assert_eq!(codes(&dir, &policy), vec![]);
}

#[test]
fn the_opt_out_turns_the_error_into_a_warning() {
    let dir = dir_with(&[]);
    let policy = format!("allow_open_relay \"test rig\"\n{HEAD}\non rcpt {{\n  default accept\n}}\n");
    assert_eq!(codes(&dir, &policy), vec![Code::OpenRelayAllowed]);
}

#[test]
fn an_earlier_stage_that_refuses_untrusted_clients_closes_the_relay() {
    let dir = dir_with(&[]);
    let policy = format!(
        "{HEAD}\non connect {{\n  accept if client in trusted\n  default reject 554 5.7.1 \"go away\"\n}}\n\
         on rcpt {{\n  default accept\n}}\n"
    );
    assert_eq!(codes(&dir, &policy), vec![]);
}

fn virtual_policy(lookup: &str) -> String {
    format!(
        "hostname \"mx.example.test\"\nrecipient_delimiter \"+\"\n\
         domains example : local = [\"example.test\"]\n\
         domains virt : virtual_alias = [\"a.test\", \"b.test\"]\n\
         table virtual : address -> [address] = postfix \"virtual\"\n\
         transport mailbox = maildir \"{{state}}/mail/{{local}}/\"\n\
         recipient {{\n  domain virt => expand virtual {lookup} else reject 550 5.1.1 \"unknown\"\n  \
         domain example => deliver mailbox\n  default => reject 554 5.7.1 \"relay access denied\"\n}}\n"
    )
}

fn expand_codes(table: &str) -> Vec<Code> {
    let dir = dir_with(&[("virtual", table)]);
    codes(&dir, &virtual_policy(""))
}

#[test]
fn a_cycle_through_two_addresses_is_an_error() {
    assert_eq!(expand_codes("x@a.test y@b.test\ny@b.test x@a.test\n"), vec![Code::ExpansionCycle]);
}

#[test]
fn an_address_that_expands_to_itself_is_delivered_not_a_cycle() {
    assert_eq!(expand_codes("x@a.test x@a.test, alice@example.test\n"), vec![]);
    // A catch-all whose target falls into the same catch-all: delivered.
    assert_eq!(expand_codes("@a.test joe@a.test\n"), vec![]);
}

#[test]
fn cycles_through_catch_alls_are_found() {
    assert_eq!(expand_codes("@a.test x@b.test\n@b.test y@a.test\n"), vec![Code::ExpansionCycle]);
}

#[test]
fn cycles_follow_the_lookup_order_through_extensions() {
    // `x+tag@a.test` is looked up as itself first, then as `x@a.test`.
    assert_eq!(expand_codes("x@a.test y@b.test\ny@b.test x+tag@a.test\n"), vec![Code::ExpansionCycle]);
}

#[test]
fn the_cycle_is_shown_hop_by_hop_across_two_files() {
    let dir = dir_with(&[("v1", "x@a.test y@b.test\n"), ("v2", "y@b.test z@a.test\nz@a.test x@a.test\n")]);
    let policy = virtual_policy("").replace(
        "table virtual : address -> [address] = postfix \"virtual\"",
        "table virtual : address -> [address] = postfix directory \"vdir\"",
    );
    std::fs::create_dir(dir.join("vdir")).unwrap();
    std::fs::rename(dir.join("v1"), dir.join("vdir/v1")).unwrap();
    std::fs::rename(dir.join("v2"), dir.join("vdir/v2")).unwrap();
    let checked = check_text(&dir.join("policy.mailc"), &policy);
    let cycle = checked.diagnostics.iter().find(|d| d.code == Code::ExpansionCycle).expect("a cycle");
    let hops: Vec<String> = cycle
        .labels
        .iter()
        .filter(|l| l.text.starts_with("hop"))
        .map(|l| format!("{} {}", checked.sources.location(l.span).rsplit('/').next().unwrap(), l.text))
        .collect();
    assert_eq!(
        hops,
        vec![
            "v1:1:10 hop 1: `x@a.test` expands to `y@b.test`",
            "v2:1:10 hop 2: `y@b.test` expands to `z@a.test`",
            "v2:2:10 hop 3: `z@a.test` expands to `x@a.test`",
        ]
    );
}

#[test]
fn fan_out_and_depth_limits_are_enforced_over_data() {
    let mut table = String::from("big@a.test ");
    table.push_str(&(0..5).map(|i| format!("u{i}@example.test")).collect::<Vec<_>>().join(", "));
    table.push('\n');
    let dir = dir_with(&[("virtual", &table)]);
    let limited = format!("expansion_fanout 4\n{}", virtual_policy(""));
    assert_eq!(codes(&dir, &limited), vec![Code::FanoutExceeded]);
    // Duplicates do not count twice.
    let dir = dir_with(&[("virtual", "big@a.test u@example.test, U@example.test, u@example.test\n")]);
    let limited = format!("expansion_fanout 1\n{}", virtual_policy(""));
    assert_eq!(codes(&dir, &limited), vec![]);
    let chain = "a1@a.test a2@a.test\na2@a.test a3@a.test\na3@a.test a4@a.test\na4@a.test end@example.test\n";
    let dir = dir_with(&[("virtual", chain)]);
    let shallow = format!("expansion_depth 3\n{}", virtual_policy(""));
    assert_eq!(codes(&dir, &shallow), vec![Code::DepthExceeded]);
}

#[test]
fn a_domain_in_two_classes_is_an_error_with_both_places() {
    let dir = dir_with(&[("hosted", "example.test\n")]);
    let policy = "domains a : local = [\"example.test\"]\ndomains b : virtual_mailbox = file \"hosted\"\n\
                  transport t = discard\nrecipient {\n  default => deliver t\n}\n";
    let checked = check_text(&dir.join("policy.mailc"), policy);
    let d = checked.diagnostics.iter().find(|d| d.code == Code::DomainClasses).expect("two classes");
    assert_eq!(checked.sources.location(d.primary.span).rsplit('/').next().unwrap(), "hosted:1:1");
    assert_eq!(checked.sources.location(d.labels[0].span).rsplit('/').next().unwrap(), "policy.mailc:1:22");
}

#[test]
fn trusted_networks_that_together_hold_everyone_are_an_open_relay() {
    let dir = dir_with(&[]);
    let policy = HEAD.replace("[192.0.2.0/24]", "[0.0.0.0/1, 128.0.0.0/1]")
        + "on rcpt {\n  accept if client in trusted\n  reject 554 5.7.1 \"no\" if not recipient.final\n  default accept\n}\n";
    assert_eq!(codes(&dir, &policy), vec![Code::OpenRelay]);
    let halves_of_v4_only = HEAD.replace("[192.0.2.0/24]", "[0.0.0.0/1, 192.0.2.0/24]")
        + "on rcpt {\n  accept if client in trusted\n  reject 554 5.7.1 \"no\" if not recipient.final\n  default accept\n}\n";
    assert_eq!(codes(&dir, &halves_of_v4_only), vec![]);
}

#[test]
fn an_access_table_that_holds_mail_for_anyone_opens_a_relay() {
    let dir = dir_with(&[]);
    let policy = format!(
        "{HEAD}\ntable s : address -> action = {{ \"friend@example.net\" -> \"hold\" }}\n\
         on rcpt {{\n  check s for sender\n  reject 554 5.7.1 \"relay access denied\" if not recipient.final\n  \
         default accept\n}}\n"
    );
    assert_eq!(codes(&dir, &policy), vec![Code::OpenRelay]);
}

#[test]
fn sender_mx_is_tested_by_name_or_by_address() {
    let dir = dir_with(&[("mx.cidr", "10.0.0.0/8 REJECT\n")]);
    let policy = format!(
        "{HEAD}\nnetwork bogons = [10.0.0.0/8]\ntable mx_nets : cidr -> action = cidr \"mx.cidr\"\n\
         on mail {{\n  reject 550 5.7.1 \"bogus MX\" if sender.mx in bogons or sender.mx in [192.168.0.0/16]\n  \
         check mx_nets for sender.mx\n  default accept\n}}\n"
    );
    assert_eq!(codes(&dir, &policy), vec![]);
    // Other domain subjects still cannot be in a network.
    let wrong = format!("{HEAD}\nnetwork bogons = [10.0.0.0/8]\non mail {{\n  reject if sender.domain in bogons\n  default accept\n}}\n");
    assert_eq!(codes(&dir, &wrong), vec![Code::TypeMismatch]);
}

#[test]
fn masquerade_exceptions_by_domain_are_checked() {
    let dir = dir_with(&[]);
    let ok = format!("{HEAD}\nrewrite {{\n  masquerade [\"!dev.example.test\", \"example.test\"]\n}}\n");
    assert_eq!(codes(&dir, &ok), vec![]);
    let bad = format!("{HEAD}\nrewrite {{\n  masquerade [\"!dev..example.test\", \"example.test\"]\n}}\n");
    assert_eq!(codes(&dir, &bad), vec![Code::InvalidLiteral]);
}
