//! mailc-compiler: AST -> diagnostics (and, later, the artifact).
//!
//! Loads a policy and everything it names (includes, table files), then
//! resolves names, checks types and runs every lint, collecting all
//! problems as [`diag::Diagnostic`]s instead of stopping at the first.
//! Nothing here prints: rendering is the CLI's job.

pub mod check;
pub mod diag;
pub mod files;
pub mod load;
pub mod lower;
pub mod progress;
pub mod single;
pub mod tables;

pub use check::{check_file, check_text, Checked};
pub use diag::{Code, Diagnostic, Severity};
