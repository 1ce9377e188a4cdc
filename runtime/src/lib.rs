//! mailc runtime: artifact -> decisions -> mail.
//!
//! `engine` is the one evaluator: it loads an artifact and resolves
//! recipients (and, next, evaluates SMTP stages), recording a trace when
//! asked. `mailc test addr`, the policy's tests and the daemon all call
//! it. It has no tokio and no sockets, and never depends on the language
//! or compiler crates: the runtime sees only the artifact. The SMTP
//! server, queue, scheduler and delivery agents come in later issues.

pub mod engine;
