//! The artifact: every example compiles deterministically, loads, and its
//! tables answer what the policy says; a damaged artifact is refused with
//! the right reason, never a panic.

use std::path::{Path, PathBuf};

use mailc_artifact::graph::Storage;
use mailc_artifact::tables::read_value;
use mailc_artifact::{Artifact, ArtifactError};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn compile(policy: &Path) -> Vec<u8> {
    let checked = mailc_compiler::check_file(policy).expect("policy readable");
    assert!(!checked.has_errors(), "{}: {:?}", policy.display(), checked.diagnostics);
    mailc_compiler::lower::compile(&checked).expect("lowering")
}

fn examples() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path().join("policy.mailc"))
        .filter(|p| p.exists())
        .collect();
    out.sort();
    assert!(out.len() >= 6, "examples missing");
    out
}

#[test]
fn every_example_compiles_to_the_same_bytes_from_anywhere() {
    for policy in examples() {
        let a = compile(&policy);
        let b = compile(&policy);
        assert_eq!(a, b, "{}: two compilations differ", policy.display());
        // The same policy named by another path.
        let dir = policy.parent().unwrap();
        let odd = dir.join(".").join("policy.mailc");
        assert_eq!(a, compile(&odd), "{}: depends on how the path is written", policy.display());
        let loaded = Artifact::from_bytes(a).unwrap_or_else(|e| panic!("{}: {e}", policy.display()));
        assert!(!loaded.graph().recipient.is_empty());
    }
}

#[test]
fn tables_answer_from_the_mapped_file() {
    let bytes = compile(&root().join("examples/reference/policy.mailc"));
    let path = std::env::temp_dir().join(format!("mailc-artifact-test-{}.mca", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let a = Artifact::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let g = a.graph();
    let virtual_table = g.tables.iter().find(|t| t.name == "virtual").expect("virtual table");
    let Storage::Map { keys } = virtual_table.storage else { panic!("a map") };
    let map = a.map(keys).unwrap();
    let offset = map.get("info@virt.test").expect("info@virt.test");
    let arena = a.bytes(virtual_table.values);
    assert_eq!(read_value(arena.as_ref(), offset).unwrap(), ["alice@example.test", "sink@relay.test"]);
    assert_eq!(map.get("nobody@virt.test"), None);
    let example = g.domain_sets.iter().find(|d| d.name == "example").expect("domain set");
    assert_eq!(example.class.as_deref(), Some("local"));
    assert!(a.set(example.members).unwrap().contains("example.test"));
    // Settings carry defaults for what the policy leaves out.
    assert_eq!(g.setting("message_size_limit"), Some(&mailc_artifact::graph::Value::Number(10240000)));
    assert_eq!(g.setting("expansion_depth"), Some(&mailc_artifact::graph::Value::Number(1000)));
    // Rules keep where they came from.
    let first = &g.recipient[0];
    assert_eq!(g.files[first.origin.file as usize], "policy.mailc");
    assert!(first.origin.text.starts_with("domain virt =>"), "{}", first.origin.text);
}

#[test]
fn damaged_artifacts_are_refused_with_the_reason() {
    let good = compile(&root().join("examples/reference/policy.mailc"));
    assert!(Artifact::from_bytes(good.clone()).is_ok());
    let refuse = |bytes: Vec<u8>| Artifact::from_bytes(bytes).expect_err("damaged artifact accepted");
    // Each header field.
    let mut b = good.clone();
    b[..8].copy_from_slice(b"POSTFIX!");
    assert!(matches!(refuse(b), ArtifactError::NotAnArtifact));
    let mut b = good.clone();
    b[8..12].copy_from_slice(&2u32.to_le_bytes());
    assert!(matches!(refuse(b), ArtifactError::Version { found: 2, supported: 1 }));
    let mut b = good.clone();
    b[16..24].copy_from_slice(&(good.len() as u64 + 8).to_le_bytes());
    assert!(matches!(refuse(b), ArtifactError::Truncated { .. }));
    let mut b = good.clone();
    b[24] ^= 1;
    assert!(matches!(refuse(b), ArtifactError::Checksum { .. }));
    let mut b = good.clone();
    b[28] ^= 1; // section count
    assert!(matches!(refuse(b), ArtifactError::Checksum { .. }));
    let mut b = good.clone();
    b[40] ^= 1; // source hash
    assert!(matches!(refuse(b), ArtifactError::Checksum { .. }));
    // Truncation anywhere.
    for len in [0, 7, 63, 64, good.len() / 2, good.len() - 1] {
        assert!(matches!(refuse(good[..len].to_vec()), ArtifactError::Truncated { .. }), "cut at {len}");
    }
    // A flipped byte anywhere, tables included, is caught.
    for i in 0..good.len() {
        let mut b = good.clone();
        b[i] ^= 0x20;
        refuse(b);
    }
    // Not a file at all.
    assert!(matches!(Artifact::open(Path::new("/nonexistent/x.mca")), Err(ArtifactError::Io(_))));
}
