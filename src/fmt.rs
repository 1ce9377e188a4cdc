//! `mailc fmt`: print policies in canonical layout.

use std::path::PathBuf;

/// Format policy files in place, in canonical layout.
///
/// Comments are kept, the meaning never changes, and formatting twice
/// gives the same text. With --check nothing is written: the files that
/// would change are listed and the exit status is 1 if there are any.
/// Exit status 2 means a file could not be read or does not parse.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  mailc fmt policy.mailc\n  mailc fmt --check examples/*/policy.mailc")]
pub struct Args {
    /// Only report files that are not formatted; change nothing.
    #[arg(long)]
    check: bool,
    /// Policy files to format.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub fn run(args: Args) -> u8 {
    let mut status = 0;
    for path in &args.files {
        let text = match mailc_compiler::files::read_text(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", path.display());
                status = 2;
                continue;
            }
        };
        let formatted = match mailc_lang::fmt::format(&text) {
            Ok(f) => f,
            Err(e) => {
                let mut sources = mailc_lang::SourceMap::new();
                let id = sources.add(path, text.as_str());
                let span = mailc_lang::Span { file: id, ..e.span };
                eprintln!("error: `{}` does not parse at {}: {}", path.display(), sources.location(span), e.message);
                status = 2;
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        if args.check {
            println!("{}", path.display());
            status = status.max(1);
        } else if let Err(e) = std::fs::write(path, formatted) {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            status = 2;
        }
    }
    status
}
