//! The whole front end (load, parse, every check) on arbitrary text. The
//! policy "lives" in an empty directory, so any include or table file it
//! names is missing and must come back as a diagnostic, never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// `$TMPDIR/mailc-fuzz-empty/policy.mailc`; the directory is created
/// empty and nothing is ever written into it.
fn policy_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join("mailc-fuzz-empty");
        std::fs::create_dir_all(&dir).expect("create the empty policy directory");
        dir.join("policy.mailc")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = mailc_compiler::check_text(policy_path(), text);
});
