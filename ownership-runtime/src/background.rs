//! A small process-wide tokio runtime for work that must not belong to any one test.
//!
//! Adapters use it to open, drive in the background and close resources that outlive any
//! one test (a database pool's connections).
//!
//! Each owned test has a runtime of its own that shuts down when the test ends. Work that
//! serves many tests (a shared load, a pool's connections) would be cancelled, or break,
//! if it ran on one of them, so it runs here: one worker thread, started on first use,
//! alive until the process exits.

use std::sync::LazyLock;

use tokio::runtime::{Builder, Handle, Runtime};

static BACKGROUND: LazyLock<Result<Runtime, String>> = LazyLock::new(|| {
    Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ownership-background")
        .enable_all()
        .build()
        .map_err(|error| error.to_string())
});

/// A handle to the background runtime, or why it could not start.
///
/// ```
/// let handle = ownership_runtime::background::handle().unwrap();
/// assert_eq!(handle.block_on(async { 1 + 1 }), 2);
/// ```
pub fn handle() -> Result<&'static Handle, String> {
    BACKGROUND
        .as_ref()
        .map(Runtime::handle)
        .map_err(|error| format!("could not start the background tokio runtime: {error}"))
}
