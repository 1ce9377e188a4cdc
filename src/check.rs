//! `mailc check`: validate a policy and every file it names.

use std::path::PathBuf;

use clap::ValueEnum;
use mailc_compiler::Severity;

use crate::report;

/// Check a policy: syntax, names, types, table files, loops, open relay.
///
/// Every problem is reported, not only the first, each with a stable
/// code (documented in docs/diagnostics.md), the place it is at, and a
/// help line. Exit status: 0 when there are no errors (warnings allowed
/// unless --deny-warnings), 1 when there are, 2 when the policy file
/// cannot be read or the arguments are wrong.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  mailc check /etc/mailc/policy.mailc\n  mailc check --format github --deny-warnings policy.mailc\n  mailc check --format sarif policy.mailc > mailc.sarif"
)]
pub struct Args {
    /// How to print problems: `human` (source snippets), `json` (schema in
    /// docs/diagnostics.md), `github` (workflow annotations) or `sarif`
    /// (SARIF 2.1.0, for code scanning).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Treat warnings as errors (exit 1 when there are any).
    #[arg(long)]
    deny_warnings: bool,
    /// The policy file to check.
    policy: PathBuf,
}

/// Output formats.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// Source snippets with labels, for people.
    Human,
    /// One JSON document, for programs.
    Json,
    /// GitHub Actions workflow commands (annotations on the pull request).
    Github,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
}

pub fn run(args: Args) -> u8 {
    let checked = match mailc_compiler::check_file(&args.policy) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let out = match args.format {
        Format::Human => report::human(&checked),
        Format::Json => report::json(&checked),
        Format::Github => report::github(&checked),
        Format::Sarif => report::sarif(&checked),
    };
    print!("{out}");
    let errors = checked.diagnostics.iter().filter(|d| d.severity() == Severity::Error).count();
    let warnings = checked.diagnostics.len() - errors;
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        1
    } else {
        0
    }
}
