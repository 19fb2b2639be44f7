//! A small process-wide tokio runtime for work that must not belong to any one test.
//!
//! Adapters use it to open, drive in the background and close resources that outlive any
//! one test (a database pool's connections).
//!
//! Each owned test has a runtime of its own that shuts down when the test ends. Work that
//! serves many tests (a shared load, a pool's connections) would be cancelled, or break,
//! if it ran on one of them, so it runs here: one worker thread, started on first use,
//! alive until the process exits.
//!
//! That one worker drives every connection of every pool opened on it, so nothing run
//! here may block it: file copies, directory sweeps and other blocking work go through
//! [`run_blocking`], which runs them on the runtime's blocking threads.
//!
//! Every function returns a [`BackgroundError`] when the runtime could not start or the
//! task did not finish (it panicked, or the runtime was shutting down), so that callers map
//! one typed error instead of each inventing their own message.

use std::future::Future;
use std::sync::{Arc, LazyLock};

use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::JoinError;

static BACKGROUND: LazyLock<Result<Runtime, Arc<std::io::Error>>> = LazyLock::new(|| {
    Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ownership-background")
        .enable_all()
        .build()
        .map_err(Arc::new)
});

/// Why work could not run, or finish, on the background runtime.
///
/// ```
/// use ownership_runtime::background::{self, BackgroundError};
///
/// let error = background::block_on(async { panic!("the loader broke") }).unwrap_err();
/// assert!(matches!(error, BackgroundError::Panicked { .. }));
/// assert_eq!(
///     error.to_string(),
///     "a task on the background runtime panicked: the loader broke"
/// );
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BackgroundError {
    /// The runtime's thread could not be started (the process is out of threads or memory).
    #[error(
        "could not start the background tokio runtime; the process may have run out of \
         threads or memory (check `ulimit -u` and the test's thread count)"
    )]
    Unavailable {
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The task panicked; its panic message is kept.
    #[error("a task on the background runtime panicked: {message}")]
    Panicked {
        /// The panic's message.
        message: String,
    },
    /// The task was cancelled before it finished: the process is exiting.
    #[error("a task on the background runtime was cancelled: the process is shutting down")]
    Cancelled,
}

impl BackgroundError {
    fn of_join(error: JoinError) -> Self {
        match error.try_into_panic() {
            Ok(payload) => BackgroundError::Panicked {
                message: crate::harness::payload_message(&*payload),
            },
            Err(_) => BackgroundError::Cancelled,
        }
    }
}

/// A handle to the background runtime, or why it could not start.
///
/// ```
/// let handle = ownership_runtime::background::handle().unwrap();
/// assert_eq!(handle.block_on(async { 1 + 1 }), 2);
/// ```
pub fn handle() -> Result<&'static Handle, BackgroundError> {
    match &*BACKGROUND {
        Ok(runtime) => Ok(runtime.handle()),
        Err(source) => Err(BackgroundError::Unavailable {
            source: source.clone(),
        }),
    }
}

/// Runs `future` as a task of the background runtime and waits for its output, from any
/// runtime (a test's, or the background's own).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let two = ownership_runtime::background::run(async { 1 + 1 }).await.unwrap();
/// assert_eq!(two, 2);
/// # }
/// ```
pub async fn run<F>(future: F) -> Result<F::Output, BackgroundError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    handle()?
        .spawn(future)
        .await
        .map_err(BackgroundError::of_join)
}

/// Runs `work`, which blocks (file copies, directory walks), on the background runtime's
/// blocking threads, so that the worker driving every connection goes on meanwhile.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use ownership_runtime::background;
///
/// let listed = background::run_blocking(|| std::fs::read_dir(".").map(|dir| dir.count()))
///     .await
///     .unwrap();
/// assert!(listed.is_ok());
/// # }
/// ```
pub async fn run_blocking<F, T>(work: F) -> Result<T, BackgroundError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    handle()?
        .spawn_blocking(work)
        .await
        .map_err(BackgroundError::of_join)
}

/// Runs `future` on the background runtime from synchronous code, and waits for it.
/// The future runs as a task of that runtime (so its panic is caught), whatever thread
/// calls this; it must not be called from a task of the background runtime itself.
///
/// ```
/// let three = ownership_runtime::background::block_on(async { 1 + 2 }).unwrap();
/// assert_eq!(three, 3);
/// ```
pub fn block_on<F>(future: F) -> Result<F::Output, BackgroundError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handle = handle()?;
    handle
        .block_on(handle.spawn(future))
        .map_err(BackgroundError::of_join)
}

/// Starts `future` on the background runtime without waiting for it: for clean-up that
/// must outlive its caller (closing a connection when its owner drops it). Returns `false`
/// when the runtime is unavailable, so that the caller can fall back (usually to dropping
/// the resource where it is).
///
/// ```
/// let started = ownership_runtime::background::spawn_detached(async { /* close it */ });
/// assert!(started);
/// ```
pub fn spawn_detached<F>(future: F) -> bool
where
    F: Future<Output = ()> + Send + 'static,
{
    match handle() {
        Ok(handle) => {
            // Detached on purpose: the task owns what it cleans up.
            drop(handle.spawn(future));
            true
        }
        Err(_) => false,
    }
}

/// Drops `value` inside the background runtime's context, for values that must go back
/// where they came from (a pool connection returns to its pool, a socket leaves the
/// runtime's reactor) and are dropped where no runtime, or another one, runs. Gives the
/// value back when the runtime is unavailable, so that the caller can release it
/// another way.
///
/// ```
/// let unused = vec![1, 2, 3];
/// assert!(ownership_runtime::background::drop_inside(unused).is_ok());
/// ```
pub fn drop_inside<T>(value: T) -> Result<(), T> {
    match handle() {
        Ok(handle) => {
            let _entered = handle.enter();
            drop(value);
            Ok(())
        }
        Err(_) => Err(value),
    }
}
