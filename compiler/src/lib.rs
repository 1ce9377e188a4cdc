//! mailc-compiler: AST -> diagnostics (and, later, the artifact).
//!
//! Loads a policy and everything it names (includes, table files), then
//! resolves names, checks types and runs every lint, collecting all
//! problems as [`diag::Diagnostic`]s instead of stopping at the first.

pub mod diag;
pub mod files;
pub mod tables;
