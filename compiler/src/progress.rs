//! Progress of long work (reading large tables), for a progress bar.
//!
//! The compiler reports, the CLI renders: a program that wants a progress
//! bar installs a [`Progress`] once with [`set`]; without one, reporting
//! costs an atomic load. Reports come from worker threads, so a progress
//! sink must be `Send + Sync` and cheap.

use std::sync::OnceLock;

/// Receives progress reports.
pub trait Progress: Send + Sync {
    /// `table` has read `bytes_done` of `bytes_total` bytes of its file and
    /// found `rows` entries so far.
    fn table(&self, table: &str, bytes_done: u64, bytes_total: u64, rows: u64);
}

static SINK: OnceLock<Box<dyn Progress>> = OnceLock::new();

/// Installs the progress sink (once per process; later calls are ignored).
pub fn set(sink: Box<dyn Progress>) {
    let _ = SINK.set(sink);
}

/// Reports table progress to the sink, if any.
pub(crate) fn table(table: &str, bytes_done: u64, bytes_total: u64, rows: u64) {
    if let Some(s) = SINK.get() {
        s.table(table, bytes_done, bytes_total, rows);
    }
}
