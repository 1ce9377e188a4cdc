//! `mailc compile`: turn a policy into its artifact.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::report;

/// Compile a policy into one artifact file: fst-indexed tables plus the
/// decision graph the daemon executes.
///
/// The policy is checked first; with errors nothing is written and the
/// problems are printed as `mailc check` prints them. The same sources
/// always give the same bytes. The file is written next to its final name
/// and renamed into place, so a running daemon never maps a half-written
/// artifact. Exit status: 0 written, 1 the policy has errors, 2 I/O or
/// usage problems.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  mailc compile policy.mailc                 # writes policy.mca\n  mailc compile policy.mailc -o /var/lib/mailc/policy.mca"
)]
pub struct Args {
    /// Where to write the artifact (default: the policy's path with the
    /// extension `.mca`).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The policy to compile.
    policy: PathBuf,
}

pub fn run(args: Args) -> u8 {
    let checked = match mailc_compiler::check_file(&args.policy) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if checked.has_errors() {
        print!("{}", report::human(&checked));
        return 1;
    }
    let bytes = match mailc_compiler::lower::compile(&checked) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let output = args.output.unwrap_or_else(|| args.policy.with_extension("mca"));
    if let Err(e) = write_atomically(&output, &bytes) {
        eprintln!("error: cannot write `{}`: {e}", output.display());
        return 2;
    }
    let warnings = checked.diagnostics.len();
    if warnings > 0 {
        eprint!("{}", report::human(&checked));
    }
    println!("wrote {} ({} bytes)", output.display(), bytes.len());
    0
}

/// Writes to a temporary file in the same directory, syncs it, and
/// renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
