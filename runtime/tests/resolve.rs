//! Recipient resolution, one semantic rule per test, each with the Postfix
//! behaviour it mirrors. Policies are compiled by the real compiler into a
//! real artifact; the engine sees only the artifact.

use mailc_runtime::engine::{Context, Disposition, Engine, Resolution};

/// Compiles `policy` (with `files` beside it) and loads it.
fn engine(policy: &str, files: &[(&str, &str)]) -> Engine {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("mailc-resolve-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let checked = mailc_compiler::check_text(&dir.join("policy.mailc"), policy);
    let errors: Vec<_> =
        checked.diagnostics.iter().filter(|d| d.severity() == mailc_compiler::Severity::Error).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let bytes = mailc_compiler::lower::compile(&checked).unwrap();
    Engine::load(mailc_artifact::Artifact::from_bytes(bytes).unwrap()).unwrap()
}

/// Final recipients as `address -> transport`, sorted.
fn finals(e: &Engine, rcpt: &str) -> Vec<String> {
    match e.resolve(&Context::default(), rcpt, None) {
        Resolution::Accepted(list) => {
            let mut out: Vec<String> = list
                .iter()
                .map(|f| match &f.disposition {
                    Disposition::Deliver { transport, .. } => {
                        format!("{} -> {}", f.recipient, e.transport_name(*transport))
                    }
                    other => format!("{} -> {other:?}", f.recipient),
                })
                .collect();
            out.sort();
            out
        }
        Resolution::Rejected(r) => vec![format!("reject {} {}", r.code, r.enhanced)],
        Resolution::Deferred(r) => vec![format!("defer {} {}", r.code, r.enhanced)],
    }
}

const BASE: &str = r#"
hostname "mx.example.test"
recipient_delimiter "+"
domains example : local = ["example.test"]
domains virt : virtual_alias = ["virt.test"]
transport mailbox = maildir "{state}/mail/{local}/"
transport relay = smtp "[192.0.2.25]:25"
"#;

fn virt(table: &str, extra_steps: &str) -> Engine {
    let policy = format!(
        "{BASE}table virtual : address -> [address] = postfix \"virtual\"\n\
         recipient {{\n  domain virt => expand virtual {extra_steps} else reject 550 5.1.1 \"unknown\"\n  \
         domain example => deliver mailbox\n  default => deliver relay\n}}\n"
    );
    engine(&policy, &[("virtual", table)])
}

/// Postfix compares domains case-insensitively, in A-label form, without a
/// trailing dot (ADDRESS_REWRITING_README, SMTPUTF8_README); local parts are
/// looked up in lowercase but delivered as written.
#[test]
fn case_idna_and_trailing_dots() {
    let e = virt("alice@virt.test alice@example.test\n", "");
    assert_eq!(finals(&e, "ALICE@Virt.TEST."), ["alice@example.test -> mailbox"]);
    assert_eq!(finals(&e, "Bob@Example.Test"), ["Bob@example.test -> mailbox"]);
    let e = virt("joe@xn--bcher-kva.test joe@example.test\n", "");
    let policy_has_idn = finals(&e, "joe@bücher.test");
    assert_eq!(policy_has_idn, ["joe@bücher.test -> relay"].map(|s| s.replace("bücher", "xn--bcher-kva")));
}

/// virtual(5): with a recipient delimiter, `user+ext@domain` is looked up
/// as itself, then as `user@domain`, then `@domain`; an unmatched extension
/// is appended to the result (propagate_unmatched_extensions).
#[test]
fn delimiter_lookup_order_and_extension_propagation() {
    let e = virt(
        "joe+list@virt.test list@example.test\njoe@virt.test joe@example.test\n@virt.test catch@example.test\n",
        "",
    );
    assert_eq!(finals(&e, "joe+list@virt.test"), ["list@example.test -> mailbox"]);
    assert_eq!(finals(&e, "joe+news@virt.test"), ["joe+news@example.test -> mailbox"]);
    assert_eq!(finals(&e, "other@virt.test"), ["catch@example.test -> mailbox"]);
    let no_propagation = virt("joe@virt.test joe@example.test\n", "extension drop");
    assert_eq!(finals(&no_propagation, "joe+news@virt.test"), ["joe@example.test -> mailbox"]);
}

/// The seed's qmail-style catch-all: `@virtual.test -> joe` sends
/// `anything@virtual.test` to `joe+anything`.
#[test]
fn qmail_style_catch_all_keeps_the_local_part() {
    let e = virt("@virt.test joe@example.test\n", "catchall keep_local");
    assert_eq!(finals(&e, "anything@virt.test"), ["joe+anything@example.test -> mailbox"]);
}

/// virtual(5): an address that expands to itself is delivered, not
/// expanded again; duplicates are removed.
#[test]
fn self_expansion_and_duplicates() {
    let e = virt("a@virt.test a@virt.test, b@example.test, B@Example.test\n", "");
    // `a@virt.test` goes on past the expansion; in a virtual alias domain
    // that ends in the rule's refusal, so it bounces on its own.
    let out = finals(&e, "a@virt.test");
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out.contains(&"b@example.test -> mailbox".to_string()), "{out:?}");
    assert!(out.iter().any(|f| f.starts_with("a@virt.test -> Bounce")), "{out:?}");
}

/// Expansion is bounded: Postfix's virtual_alias_recursion_limit and
/// virtual_alias_expansion_limit.
#[test]
fn depth_and_fan_out_limits() {
    // Through a regexp table, which the compiler cannot expand ahead of time.
    let policy = format!(
        "expansion_fanout 3\n{BASE}table virtual : regexp -> [address] = regexp \"virtual\"\n\
         recipient {{\n  domain virt => expand virtual else reject 550 5.1.1 \"unknown\"\n  \
         domain example => deliver mailbox\n  default => deliver relay\n}}\n"
    );
    let table =
        "/^big@/ a@example.test, b@example.test, c@example.test, d@example.test\n/^loop(.*)@/ loop${1}x@virt.test\n";
    let e = engine(&policy, &[("virtual", table)]);
    assert_eq!(finals(&e, "big@virt.test"), ["reject 554 5.4.6"]);
    // loop@ -> loopx@ -> loopxx@ ... until the depth limit: the address
    // that is too deep bounces; the recipient itself was accepted.
    let deep = engine(&policy.replace("expansion_fanout 3", "expansion_depth 5"), &[("virtual", table)]);
    match deep.resolve(&Context::default(), "loop@virt.test", None) {
        Resolution::Accepted(list) => {
            assert_eq!(list.len(), 1, "{list:?}");
            assert!(
                matches!(&list[0].disposition, Disposition::Bounce(r) if r.code == 554 && r.enhanced == "5.4.6"),
                "{list:?}"
            );
            assert_eq!(list[0].chain.len(), 6, "{list:?}");
        }
        other => panic!("{other:?}"),
    }
}

/// relocated(5), with the reply LANGUAGE.md fixes: 551 5.1.6 and the new
/// address.
#[test]
fn relocated_users_get_551_with_the_new_address() {
    let policy = format!(
        "{BASE}table moved : address -> address = {{ \"bob@example.test\" -> \"bob@newco.test\" }}\n\
         recipient {{\n  relocated moved\n  domain example => deliver mailbox\n  default => deliver relay\n}}\n"
    );
    let e = engine(&policy, &[]);
    match e.resolve(&Context::default(), "bob@example.test", None) {
        Resolution::Rejected(r) => {
            assert_eq!((r.code, r.enhanced.as_str()), (551, "5.1.6"));
            assert!(r.text.contains("bob@newco.test"), "{}", r.text);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(finals(&e, "alice@example.test"), ["alice@example.test -> mailbox"]);
}

/// local(8) luser_relay: only recipients that are not local users go to the
/// relay address; aliases still apply first.
#[test]
fn luser_relay_only_for_unknown_local_users() {
    let policy = format!(
        "{BASE}table users : local = {{ \"alice\" }}\ntable aliases : local -> [target] = aliases \"aliases\"\n\
         recipient {{\n  domain example => expand aliases, require users else luser_relay \"frontdesk@example.test\", deliver mailbox\n  \
         default => deliver relay\n}}\n"
    );
    let e = engine(&policy, &[("aliases", "postmaster: alice\nfrontdesk: alice\n")]);
    assert_eq!(finals(&e, "alice@example.test"), ["alice@example.test -> mailbox"]);
    assert_eq!(finals(&e, "postmaster@example.test"), ["alice@example.test -> mailbox"]);
    assert_eq!(finals(&e, "stranger@example.test"), ["alice@example.test -> mailbox"]);
}

/// aliases(5): `|command`, `/file` and `:include:` targets are delivered by
/// the local agent, not resolved as addresses.
#[test]
fn alias_commands_files_and_includes() {
    let policy = format!(
        "{BASE}table aliases : local -> [target] = aliases \"aliases\"\n\
         recipient {{\n  domain example => expand aliases, deliver mailbox\n  default => deliver relay\n}}\n"
    );
    let e = engine(
        &policy,
        &[("aliases", "bugs: \"|/usr/bin/tracker --new\", /var/log/bugs.mbox, :include:team\n"), ("team", "alice\n")],
    );
    let out = finals(&e, "bugs@example.test");
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(out.iter().any(|f| f.contains("Command(\"/usr/bin/tracker --new\")")), "{out:?}");
    assert!(out.iter().any(|f| f.contains("File(\"/var/log/bugs.mbox\")")), "{out:?}");
}

/// Postfix never routes `user%other@us`, `other!user@us`, `"user@other"@us`
/// to `other` by itself (ADDRESS_REWRITING_README, "Address manipulation"):
/// here they stay in our domain and are unknown users.
#[test]
fn relay_tricks_are_not_routed_elsewhere() {
    let policy = format!(
        "{BASE}table users : local = {{ \"alice\" }}\n\
         recipient {{\n  domain example => require users, deliver mailbox\n  default => deliver relay\n}}\n"
    );
    let e = engine(&policy, &[]);
    for trick in ["alice%other.test@example.test", "other.test!alice@example.test", "\"alice@other.test\"@example.test"]
    {
        assert_eq!(finals(&e, trick), ["reject 550 5.1.1"], "{trick}");
    }
}

/// The null address is never a recipient; hostile input is refused, not a
/// panic.
#[test]
fn hostile_recipients_are_refused() {
    let e = virt("a@virt.test a@example.test\n", "");
    for bad in ["", "<>", "no-domain", &format!("{}@example.test", "x".repeat(10_000)), "a\u{0}@example.test", "@"] {
        assert!(matches!(e.resolve(&Context::default(), bad, None), Resolution::Rejected(_)), "{bad:?}");
    }
}

/// A trace names every rule and every key tried.
#[test]
fn the_trace_cites_rules_and_keys() {
    let e = virt("info@virt.test alice@example.test\n", "");
    let mut trace = mailc_runtime::engine::Trace::default();
    e.resolve(&Context::default(), "info@virt.test", Some(&mut trace));
    let text: Vec<String> = trace
        .steps
        .iter()
        .map(|s| format!("{}{}", s.origin.as_deref().map(|o| format!("[{o}] ")).unwrap_or_default(), s.event))
        .collect();
    assert!(text.iter().any(|t| t.contains("policy.mailc:") && t.contains("rule matches")), "{text:#?}");
    assert!(text.iter().any(|t| t.contains("table `virtual`: `info@virt.test` hit")), "{text:#?}");
    assert!(text.iter().any(|t| t.contains("delivered by `mailbox`")), "{text:#?}");
}

/// canonical(5): recipient canonical mapping happens before resolution;
/// `@domain` values keep the local part. Masquerading strips subdomains,
/// except listed users and `!host` domains (masquerade_domains,
/// masquerade_exceptions).
#[test]
fn canonical_and_masquerade_rewriting() {
    use mailc_runtime::engine::rewrite::{Part, Role};
    let policy = format!(
        "{BASE}table renamed : address -> address = {{ \"@old.test\" -> \"@example.test\", \"boss@example.test\" -> \"carol@example.test\" }}\n\
         rewrite {{\n  canonical renamed for recipient\n  masquerade [\"!dev.example.test\", \"example.test\"] except [\"root\"] for sender\n}}\n\
         recipient {{\n  domain example => deliver mailbox\n  default => deliver relay\n}}\n"
    );
    let e = engine(&policy, &[]);
    assert_eq!(finals(&e, "joe@old.test"), ["joe@example.test -> mailbox"]);
    assert_eq!(finals(&e, "boss@example.test"), ["carol@example.test -> mailbox"]);
    assert_eq!(e.rewrite(Role::Sender, Part::Envelope, "alice@host1.office.example.test", None), "alice@example.test");
    assert_eq!(e.rewrite(Role::Sender, Part::Envelope, "root@host1.example.test", None), "root@host1.example.test");
    assert_eq!(e.rewrite(Role::Sender, Part::Envelope, "bob@box.dev.example.test", None), "bob@box.dev.example.test");
    assert_eq!(e.rewrite(Role::Sender, Part::Envelope, "", None), "");
    // Masquerading is for senders here; recipients keep their subdomain.
    assert_eq!(
        e.rewrite(Role::Recipient, Part::Envelope, "alice@host1.example.test", None),
        "alice@host1.example.test"
    );
}

/// always_bcc, sender_bcc_maps, recipient_bcc_maps and an archive
/// transport: each copy once, resolved like a recipient.
#[test]
fn message_copies() {
    use mailc_runtime::engine::rewrite::Copy;
    let policy = format!(
        "{BASE}transport daily = mbox \"{{state}}/archive/{{date}}\"\n\
         table sbcc : address -> address = {{ \"boss@example.test\" -> \"audit@example.test\" }}\n\
         table rbcc : address -> address = {{ \"@virt.test\" -> \"audit@example.test\" }}\n\
         copy {{\n  bcc \"archive@example.test\"\n  bcc sbcc for sender\n  bcc rbcc for recipient\n  archive daily\n}}\n\
         recipient {{\n  domain example => deliver mailbox\n  default => deliver relay\n}}\n"
    );
    let e = engine(&policy, &[]);
    let copies = e.copies(&Context::default(), "boss@example.test", &["a@virt.test".into(), "b@virt.test".into()]);
    let to: Vec<String> = copies
        .iter()
        .map(|c| match c {
            Copy::To(a, _) => a.clone(),
            Copy::Archive(t) => format!("archive:{}", e.transport_name(*t)),
        })
        .collect();
    assert_eq!(to, ["archive@example.test", "audit@example.test", "archive:daily"]);
    assert!(matches!(&copies[0], Copy::To(_, Resolution::Accepted(f)) if f.len() == 1));
}
