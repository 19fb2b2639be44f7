//! A small process-wide tokio runtime for work that must not belong to any one test.
//!
//! Adapters use it to open, drive in the background and close resources that outlive any
//! one test (a database pool's connections).
//!
//! Each owned test has a runtime of its own that shuts down when the test ends. Work that
//! serves many tests (a shared load, a pool's connections) would be cancelled, or break,
//! if it ran on one of them, so it runs here: one worker thread, started on first use,
//! alive until the process exits.

use std::io;
use std::sync::{Arc, LazyLock};

use tokio::runtime::{Builder, Handle, Runtime};

use crate::error::error_chain;

static BACKGROUND: LazyLock<Result<Runtime, Arc<io::Error>>> = LazyLock::new(|| {
    Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ownership-background")
        .enable_all()
        .build()
        .map_err(Arc::new)
});

/// The background runtime could not start (tokio could not make its thread or its I/O
/// driver); the operating system's error is its [`source`](std::error::Error::source).
///
/// ```
/// use ownership_runtime::background::BackgroundError;
/// use ownership_runtime::error_chain;
///
/// let error = BackgroundError::from_io(std::io::Error::other("no threads left"));
/// assert_eq!(
///     error_chain(&error).to_string(),
///     "could not start the background tokio runtime, which runs the work that outlives \
///      single tests (a pool's connections, shared loads); the process may be out of threads \
///      or file descriptors: no threads left"
/// );
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "could not start the background tokio runtime, which runs the work that outlives single \
     tests (a pool's connections, shared loads); the process may be out of threads or file \
     descriptors"
)]
pub struct BackgroundError {
    #[source]
    source: Arc<io::Error>,
}

impl BackgroundError {
    /// The error tokio's runtime builder gave. Only for showing this error (the guide to
    /// errors, tests of messages): the runtime makes its own when it can't start.
    #[doc(hidden)]
    pub fn from_io(source: io::Error) -> BackgroundError {
        BackgroundError {
            source: Arc::new(source),
        }
    }
}

/// A handle to the background runtime, or why it could not start.
///
/// # Errors
///
/// [`BackgroundError`] if the runtime could not start (the same error for every call).
///
/// ```
/// let handle = ownership_runtime::background::runtime().unwrap();
/// assert_eq!(handle.block_on(async { 1 + 1 }), 2);
/// ```
pub fn runtime() -> Result<&'static Handle, BackgroundError> {
    match &*BACKGROUND {
        Ok(runtime) => Ok(runtime.handle()),
        Err(source) => Err(BackgroundError {
            source: source.clone(),
        }),
    }
}

/// [`runtime`], with its error as a message (the error and its cause, see
/// [`error_chain`](crate::error_chain)): for code that keeps messages rather than errors.
/// Prefer [`runtime`], whose error keeps its cause.
///
/// # Errors
///
/// The message of [`runtime`]'s error.
///
/// ```
/// let handle = ownership_runtime::background::handle().unwrap();
/// assert_eq!(handle.block_on(async { 1 + 1 }), 2);
/// ```
pub fn handle() -> Result<&'static Handle, String> {
    runtime().map_err(|error| error_chain(&error).to_string())
}
