//! mailc runtime: artifact -> decisions -> mail.
//!
//! This crate will hold the engine (artifact format, mmap loading, the one
//! evaluator and its traces), the SMTP server, the durable queue, the
//! scheduler, the delivery agents and bounce generation. It never depends
//! on `mailc-lang` or `mailc-compiler`: the daemon sees only the artifact.
//!
//! Nothing is implemented here yet; see ROADMAP.md (issues 4 to 6).
