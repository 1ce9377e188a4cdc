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
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        mailc_compiler::progress::set(Box::new(Bar::new()));
    }
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

/// A progress bar on standard error for large tables, redrawn at most ten
/// times a second.
struct Bar {
    start: std::time::Instant,
    last: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Bar {
    fn new() -> Bar {
        Bar { start: std::time::Instant::now(), last: std::sync::Mutex::new(None) }
    }
}

impl mailc_compiler::progress::Progress for Bar {
    fn table(&self, table: &str, done: u64, total: u64, rows: u64) {
        let Ok(mut last) = self.last.lock() else { return };
        let now = std::time::Instant::now();
        let finished = done >= total;
        if !finished && last.is_some_and(|l| now.duration_since(l).as_millis() < 100) {
            return;
        }
        *last = Some(now);
        let line = render(table, done, total, rows, now.duration_since(self.start).as_secs_f64());
        eprint!("\r{line}{}", if finished { "\n" } else { "" });
    }
}

/// `table virtual: [#########...........]  45%  450,000 rows  1,200,000 rows/s`
fn render(table: &str, done: u64, total: u64, rows: u64, seconds: f64) -> String {
    let pct = (done.min(total) * 100).checked_div(total).unwrap_or(100) as usize;
    let filled = pct / 5;
    let rate = if seconds > 0.0 { (rows as f64 / seconds) as u64 } else { 0 };
    format!(
        "table {table}: [{}{}] {pct:>3}%  {} rows  {} rows/s",
        "#".repeat(filled),
        ".".repeat(20 - filled),
        thousands(rows),
        thousands(rate)
    )
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_shows_share_rows_and_rate() {
        assert_eq!(
            render("virtual", 450, 1000, 450_000, 0.375),
            "table virtual: [#########...........]  45%  450,000 rows  1,200,000 rows/s"
        );
        assert_eq!(render("t", 10, 10, 7, 0.0), "table t: [####################] 100%  7 rows  0 rows/s");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
