//! Crash points for the durability tests. With `THRESH_FAILPOINT=<name>` in the environment,
//! the process aborts (no destructors, no flush: what a kill or a power cut leaves) when it
//! reaches the point of that name. Unset, a point costs one cached comparison.
//!
//! The points: `import-before-samples` (an import chunk's pixels and paths are written and
//! flushed, its samples are not), `commit-before-flush` (a decision is applied in memory, not
//! yet flushed).

use std::sync::OnceLock;

fn armed() -> Option<&'static str> {
    static NAME: OnceLock<Option<String>> = OnceLock::new();
    NAME.get_or_init(|| std::env::var("THRESH_FAILPOINT").ok())
        .as_deref()
}

/// Abort here when the environment names this point; run `before` first (e.g. a flush, to
/// make the writes so far durable as a crash after them would find them).
pub fn crash_here(name: &str, before: impl FnOnce()) {
    if armed() == Some(name) {
        before();
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
