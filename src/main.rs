//! `mailc`: the command-line interface.
//!
//! One small module per subcommand; each parses its arguments with clap,
//! calls into the library crates and maps the outcome to an exit code
//! that scripts can rely on: 0 success, 1 the input has problems (errors,
//! unformatted files), 2 usage or I/O problems. Rendering of diagnostics
//! lives in `report`, and only here.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod compile;
mod fmt;
mod graph;
mod inspect;
mod report;
mod table;
mod test_addr;
mod test_run;

/// A mail transfer agent whose whole behaviour is written in one policy.
///
/// Write a policy (see docs/language.md), check it with `mailc check`,
/// compile it with `mailc compile`, look inside with `mailc inspect`,
/// trace addresses through it with `mailc test addr`, and keep it tidy with
/// `mailc fmt`.
#[derive(Parser)]
#[command(name = "mailc", version, about, long_about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Check(check::Args),
    Compile(compile::Args),
    Inspect(inspect::Args),
    Fmt(fmt::Args),
    Test(TestArgs),
    Table(table::Args),
    Graph(graph::Args),
}

/// Run a policy's tests (`mailc test POLICY`), or trace addresses through
/// it (`mailc test addr POLICY ADDRESS...`).
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct TestArgs {
    #[command(subcommand)]
    command: Option<TestCommand>,
    #[command(flatten)]
    run: Option<test_run::Args>,
}

#[derive(Subcommand)]
enum TestCommand {
    Addr(test_addr::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Compile(args) => compile::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Fmt(args) => fmt::run(args),
        Command::Table(args) => table::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Test(TestArgs { command: Some(TestCommand::Addr(args)), .. }) => test_addr::run(args),
        Command::Test(TestArgs { run: Some(args), .. }) => test_run::run(args),
        Command::Test(_) => {
            eprintln!("error: give a policy to test, or `addr`; see `mailc test --help`");
            2
        }
    };
    ExitCode::from(code)
}
