//! Carrying the callers chain into spawned tasks, blocking closures, threads and runtimes.
//!
//! Tokio's task-locals are not inherited by `tokio::spawn` (tokio#6659), and a new thread
//! starts with empty thread-locals, so the chain must be carried across on purpose:
//!
//! - explicitly, by [`spawn`], [`spawn_blocking`], [`thread::spawn`] and
//!   [`InCallers::in_current_callers`], which capture the chain where they are called and
//!   restore it in the child;
//! - automatically, by [`build_runtime`], which gives every thread of a tokio runtime a
//!   chain, so that plain `tokio::spawn` and `tokio::task::spawn_blocking` on that
//!   runtime run for it. The test harness builds each test's runtime this way.
//!
//! A plain [`std::thread::spawn`] carries nothing: the new thread works for nobody until
//! it enters a chain ([`Callers::enter`]).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::JoinHandle;

use crate::callers::{Callers, WithCallers, callers, set_thread_chain};

/// Spawns `future` on the current tokio runtime, running for the chain current here.
///
/// The same as `tokio::spawn(future.in_current_callers())`; use it where the runtime was
/// not built with [`build_runtime`] or the task may end up on another runtime's threads.
///
/// # Panics
///
/// Like `tokio::spawn`, when called outside a tokio runtime.
///
/// ```
/// use ownership_runtime::{callers, Actor};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let test = Actor::named("test");
/// let seen = test
///     .scope(async { ownership_runtime::spawn(async { callers() }).await.unwrap() })
///     .await;
/// assert_eq!(seen.first(), Some(&test.id()));
/// # });
/// ```
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_callers())
}

/// Runs `f` on tokio's blocking pool, with the chain current here as its thread's chain.
///
/// # Panics
///
/// Like `tokio::task::spawn_blocking`, when called outside a tokio runtime.
///
/// ```
/// use ownership_runtime::{callers, Actor};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let test = Actor::named("test");
/// let _test = test.enter();
/// let seen = ownership_runtime::spawn_blocking(callers).await.unwrap();
/// assert_eq!(seen.first(), Some(&test.id()));
/// # });
/// ```
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let chain = callers();
    tokio::task::spawn_blocking(move || chain.in_scope(f))
}

/// Threads that run for the chain that started them.
pub mod thread {
    use crate::callers::callers;

    /// Spawns an OS thread that runs `f` with the chain current here as its chain (unlike
    /// [`std::thread::spawn`], whose thread works for nobody).
    ///
    /// # Panics
    ///
    /// Like [`std::thread::spawn`], if the OS cannot create a thread.
    ///
    /// ```
    /// use ownership_runtime::{callers, Actor};
    ///
    /// let test = Actor::named("test");
    /// let _test = test.enter();
    /// let seen = ownership_runtime::thread::spawn(callers).join().unwrap();
    /// assert_eq!(seen.first(), Some(&test.id()));
    ///
    /// let unseen = std::thread::spawn(callers).join().unwrap();
    /// assert!(unseen.is_empty());
    /// ```
    pub fn spawn<F, T>(f: F) -> std::thread::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let chain = callers();
        std::thread::spawn(move || chain.in_scope(f))
    }
}

/// Runs a future in a callers chain: the one current where it is wrapped
/// ([`in_current_callers`](InCallers::in_current_callers)) or a given one
/// ([`with_callers`](InCallers::with_callers)), in the spirit of `tracing::Instrument`.
/// Implemented for every future.
///
/// ```
/// use ownership_runtime::{callers, Actor, InCallers};
///
/// let test = Actor::named("test");
/// let _test = test.enter();
/// // A runtime that knows nothing of the test:
/// let other = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
/// let seen = other
///     .block_on(other.spawn(async { callers() }.in_current_callers()))
///     .unwrap();
/// assert_eq!(seen.first(), Some(&test.id()));
/// ```
pub trait InCallers: Future + Sized {
    /// Runs this future with the chain current where `in_current_callers` is called.
    fn in_current_callers(self) -> WithCallers<Self> {
        WithCallers::new(self, callers())
    }

    /// Runs this future with `chain` as its task's chain.
    ///
    /// ```
    /// use ownership_runtime::{callers, Actor, InCallers};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let worker = Actor::new();
    /// let seen = async { callers() }.with_callers(worker.chain()).await;
    /// assert_eq!(seen.first(), Some(&worker.id()));
    /// # });
    /// ```
    fn with_callers(self, chain: Callers) -> WithCallers<Self> {
        WithCallers::new(self, chain)
    }
}

impl<F: Future> InCallers for F {}

/// Builds a tokio runtime whose every thread runs for `chain`: its worker threads and
/// its `spawn_blocking` threads (through `on_thread_start`, which this replaces), and the
/// thread that calls [`CallersRuntime::block_on`]. Plain `tokio::spawn` and
/// `tokio::task::spawn_blocking` on it need no wrapper.
///
/// Configure the builder as usual (flavor, worker threads, `enable_all`, `start_paused`)
/// before handing it over.
///
/// ```
/// use ownership_runtime::{build_runtime, callers, Actor};
///
/// let test = Actor::named("tests::checkout");
/// let mut builder = tokio::runtime::Builder::new_multi_thread();
/// builder.worker_threads(2).enable_all();
/// let runtime = build_runtime(&mut builder, test.chain()).unwrap();
/// let (in_task, in_blocking) = runtime.block_on(async {
///     let task = tokio::spawn(async { callers() }).await.unwrap();
///     let blocking = tokio::task::spawn_blocking(callers).await.unwrap();
///     (task, blocking)
/// });
/// assert_eq!(in_task.first(), Some(&test.id()));
/// assert_eq!(in_blocking.first(), Some(&test.id()));
/// ```
pub fn build_runtime(builder: &mut Builder, chain: Callers) -> io::Result<CallersRuntime> {
    build_counting_threads(builder, chain, Arc::default())
}

/// [`build_runtime`], also counting in `running` the runtime's threads (workers and
/// `spawn_blocking` threads) that have started and not yet stopped. Once the runtime is
/// shut down, what is left is the threads still busy: tokio calls `on_thread_stop` before
/// a thread signals that it ended.
pub(crate) fn build_counting_threads(
    builder: &mut Builder,
    chain: Callers,
    running: Arc<AtomicUsize>,
) -> io::Result<CallersRuntime> {
    let (for_threads, started) = (chain.clone(), running.clone());
    let runtime = builder
        .on_thread_start(move || {
            started.fetch_add(1, Ordering::SeqCst);
            set_thread_chain(for_threads.clone());
        })
        .on_thread_stop(move || {
            set_thread_chain(Callers::empty());
            running.fetch_sub(1, Ordering::SeqCst);
        })
        .build()?;
    Ok(CallersRuntime { runtime, chain })
}

/// A tokio runtime whose every thread runs for one callers chain (see [`build_runtime`]).
///
/// ```
/// use ownership_runtime::{build_runtime, callers, Actor, CallersRuntime};
///
/// let test = Actor::named("tests::exports");
/// let mut builder = tokio::runtime::Builder::new_current_thread();
/// let runtime: CallersRuntime = build_runtime(&mut builder, test.chain())?;
/// // A blocking task on the runtime's own pool runs for the test too.
/// let seen = runtime.block_on(async { tokio::task::spawn_blocking(callers).await })?;
/// assert_eq!(seen.first(), Some(&test.id()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct CallersRuntime {
    runtime: Runtime,
    chain: Callers,
}

impl CallersRuntime {
    /// Runs `future` to completion on this runtime, with the runtime's chain as the
    /// calling thread's chain meanwhile.
    ///
    /// ```
    /// use ownership_runtime::{build_runtime, callers, Actor};
    ///
    /// let test = Actor::new();
    /// let runtime =
    ///     build_runtime(&mut tokio::runtime::Builder::new_current_thread(), test.chain())
    ///         .unwrap();
    /// assert_eq!(runtime.block_on(async { callers() }), test.chain());
    /// ```
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.chain.in_scope(|| self.runtime.block_on(future))
    }

    /// The chain this runtime's threads run for.
    ///
    /// ```
    /// use ownership_runtime::{build_runtime, Actor};
    ///
    /// let test = Actor::new();
    /// let builder = &mut tokio::runtime::Builder::new_current_thread();
    /// assert_eq!(build_runtime(builder, test.chain()).unwrap().chain(), &test.chain());
    /// ```
    pub fn chain(&self) -> &Callers {
        &self.chain
    }

    /// A handle to the runtime, to spawn on it from elsewhere.
    ///
    /// ```
    /// use ownership_runtime::{build_runtime, Actor};
    ///
    /// let test = Actor::new();
    /// let builder = &mut tokio::runtime::Builder::new_current_thread();
    /// let runtime = build_runtime(builder, test.chain()).unwrap();
    /// let task = runtime.handle().spawn(async { 7 });
    /// assert_eq!(runtime.block_on(task).unwrap(), 7);
    /// ```
    pub fn handle(&self) -> &Handle {
        self.runtime.handle()
    }

    /// Shuts the runtime down, waiting at most `timeout` for its blocking tasks; tasks
    /// still running are cancelled at their next `.await`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ownership_runtime::{build_runtime, Actor};
    ///
    /// let test = Actor::new();
    /// let builder = &mut tokio::runtime::Builder::new_current_thread();
    /// let runtime = build_runtime(builder, test.chain()).unwrap();
    /// runtime.shutdown_timeout(Duration::from_secs(1));
    /// ```
    pub fn shutdown_timeout(self, timeout: Duration) {
        self.runtime.shutdown_timeout(timeout);
    }

    /// The tokio runtime itself. Its `block_on` does not set the calling thread's chain.
    ///
    /// ```
    /// use ownership_runtime::{build_runtime, Actor};
    ///
    /// let test = Actor::new();
    /// let builder = &mut tokio::runtime::Builder::new_current_thread();
    /// let runtime = build_runtime(builder, test.chain()).unwrap().into_inner();
    /// assert_eq!(runtime.block_on(async { 1 + 1 }), 2);
    /// ```
    pub fn into_inner(self) -> Runtime {
        self.runtime
    }
}
