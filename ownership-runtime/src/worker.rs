//! [`Worker`]: a long-lived actor in one call: a thread of its own, a tokio runtime on it
//! whose every task runs as the actor, and a handle that stops it (and ends the actor).
//!
//! A worker that serves many tests (a mailer, a job queue) is not started by any test, so
//! it must not run for one: it has an [`Actor`] of its own, and a test that wants the
//! worker to use its resources allows it (`Facade::allow`, `Sandbox::allow`, or everything
//! at once with [`allow_all`](crate::allow_all)).

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::actor::Actor;
use crate::actor_id::ActorId;
use crate::harness::{AllowAllError, allow_all, payload_message};
use crate::propagate::build_runtime;

/// A long-lived actor with a thread and a tokio runtime of its own: every task of it (the
/// future it was started with, what that spawns with `tokio::spawn` or
/// `spawn_blocking`) runs as the actor, and no test's callers leak into it.
///
/// [`Worker::stop`] (or dropping the handle) cancels the worker's tasks, shuts its runtime
/// down and ends the actor; [`Worker::join`] waits for the worker's future to end on its
/// own. Both wait for the worker's thread, so that when they return the actor is down.
///
/// ```
/// use ownership_runtime::{Worker, callers};
/// use tokio::sync::{mpsc, oneshot};
///
/// let (requests, mut inbox) = mpsc::unbounded_channel::<oneshot::Sender<String>>();
/// let mailer = Worker::start("app::mailer", async move {
///     while let Some(reply) = inbox.recv().await {
///         // Every task of the worker runs as the worker.
///         let me = tokio::spawn(async { callers()[0] }).await.unwrap();
///         let _ = reply.send(me.to_string());
///     }
/// })
/// .unwrap();
///
/// let (reply, answer) = oneshot::channel();
/// requests.send(reply).unwrap();
/// assert!(answer.blocking_recv().unwrap().contains("(app::mailer)"));
///
/// let id = mailer.id();
/// mailer.stop().unwrap();
/// assert!(!id.is_alive()); // the actor ended with the worker
/// ```
#[must_use = "a worker stops when its handle drops: keep it for as long as it must run"]
pub struct Worker {
    id: ActorId,
    name: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Why a [`Worker`] did not start, or how it ended badly.
///
/// ```
/// use ownership_runtime::{Worker, WorkerError};
///
/// let worker = Worker::start("app::crashes", async { panic!("out of stamps") }).unwrap();
/// let error = worker.join().unwrap_err();
/// assert!(matches!(&error, WorkerError::Panicked { message, .. } if message == "out of stamps"));
/// assert_eq!(error.to_string(), "worker `app::crashes` panicked: out of stamps");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The worker's thread could not be started, or its runtime built (the source says
    /// why: usually the process is out of threads or file descriptors).
    #[error("worker `{worker}` could not start: {stage} failed")]
    Start {
        /// The worker's name.
        worker: String,
        /// What failed: "spawning its thread", "building its runtime".
        stage: &'static str,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// [`Worker::start_allowed`] could not allow the worker on what the test owns; the
    /// worker was stopped before its future ran.
    #[error("worker `{worker}` was not started")]
    NotAllowed {
        /// The worker's name.
        worker: String,
        /// Why `allow_all` refused.
        #[source]
        source: AllowAllError,
    },
    /// The worker's future (or its runtime) panicked; its actor is down.
    #[error("worker `{worker}` panicked: {message}")]
    Panicked {
        /// The worker's name.
        worker: String,
        /// The panic's message.
        message: String,
    },
}

impl Worker {
    /// Starts a worker named `name` (its actor's name too, shown in every message about
    /// it) that runs `future` on a runtime of its own (a current-thread tokio runtime with
    /// I/O and timers, on a new thread), as a new actor.
    ///
    /// # Errors
    ///
    /// [`WorkerError::Start`] if the thread could not be spawned or the runtime built.
    ///
    /// ```
    /// use ownership_runtime::Worker;
    ///
    /// let ticker = Worker::start("app::ticker", async {
    ///     tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    /// })
    /// .unwrap();
    /// assert_eq!(ticker.id().name(), Some("app::ticker"));
    /// ticker.join().unwrap();
    /// ```
    pub fn start<F>(name: impl Into<String>, future: F) -> Result<Worker, WorkerError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Worker::start_then(name.into(), future, |_| Ok(()))
    }

    /// Starts a worker as [`Worker::start`] does, allowed on everything the calling test
    /// owns ([`allow_all`]) before its future runs: its first statement or mock call
    /// can't come before the allowance. Call it from the test (its body, or a task or
    /// thread it started).
    ///
    /// # Errors
    ///
    /// [`WorkerError::Start`] as [`Worker::start`]; [`WorkerError::NotAllowed`] if
    /// `allow_all` refused (no test calls it, or a resource refused): the worker is
    /// stopped without its future having run.
    ///
    /// ```
    /// use ownership_runtime::harness::{TestConfig, run_async};
    /// use ownership_runtime::{Worker, WorkerError};
    ///
    /// run_async(TestConfig::new("docs::start_allowed"), || async {
    ///     let settler = Worker::start_allowed("app::settler", async {}).unwrap();
    ///     settler.join().unwrap();
    /// });
    /// // Outside a test there is nothing to allow it on: it never runs.
    /// let error = Worker::start_allowed("app::settler", async {}).unwrap_err();
    /// assert!(matches!(error, WorkerError::NotAllowed { .. }), "{error}");
    /// ```
    pub fn start_allowed<F>(name: impl Into<String>, future: F) -> Result<Worker, WorkerError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let name = name.into();
        let worker = name.clone();
        Worker::start_then(name, future, move |id| {
            allow_all(id).map_err(|source| WorkerError::NotAllowed { worker, source })
        })
    }

    /// Starts the worker's thread and runtime, runs `prepare` with its actor (on the
    /// caller's thread), and only then, if `prepare` succeeded, its future.
    fn start_then<F>(
        name: String,
        future: F,
        prepare: impl FnOnce(ActorId) -> Result<(), WorkerError>,
    ) -> Result<Worker, WorkerError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (started, start) = mpsc::channel::<io::Result<ActorId>>();
        let (go, ready) = mpsc::channel::<bool>();
        let (stop, stopped) = oneshot::channel::<()>();
        let actor_name = name.clone();
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let actor = Actor::named(&actor_name);
                let mut builder = tokio::runtime::Builder::new_current_thread();
                builder.enable_all();
                let runtime = match build_runtime(&mut builder, actor.chain()) {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = started.send(Err(error));
                        return;
                    }
                };
                let _ = started.send(Ok(actor.id()));
                if ready.recv() != Ok(true) {
                    drop(runtime);
                    drop(actor);
                    return;
                }
                runtime.block_on(async move {
                    tokio::select! {
                        () = future => {}
                        _ = stopped => {}
                    }
                });
                // The runtime's tasks are cancelled, then the actor goes down.
                drop(runtime);
                drop(actor);
            })
            .map_err(|source| WorkerError::Start {
                worker: name.clone(),
                stage: "spawning its thread",
                source,
            })?;
        let id = match start.recv() {
            Ok(Ok(id)) => id,
            Ok(Err(source)) => {
                let _ = thread.join();
                return Err(WorkerError::Start {
                    worker: name,
                    stage: "building its runtime",
                    source,
                });
            }
            Err(mpsc::RecvError) => {
                // The thread ended before it said: it panicked (making its actor).
                let message = thread.join().err().map_or_else(
                    || "it ended before it started".to_owned(),
                    |payload| payload_message(&*payload),
                );
                return Err(WorkerError::Panicked {
                    worker: name,
                    message,
                });
            }
        };
        if let Err(error) = prepare(id) {
            let _ = go.send(false);
            let _ = thread.join();
            return Err(error);
        }
        let _ = go.send(true);
        Ok(Worker {
            id,
            name,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The worker's actor: allow it to use a test's resources.
    ///
    /// ```
    /// use ownership_runtime::Worker;
    ///
    /// let worker = Worker::start("app::idle", std::future::pending()).unwrap();
    /// assert!(worker.id().is_alive());
    /// ```
    pub fn id(&self) -> ActorId {
        self.id
    }

    /// The worker's name.
    ///
    /// ```
    /// use ownership_runtime::Worker;
    ///
    /// let worker = Worker::start("app::idle", std::future::pending()).unwrap();
    /// assert_eq!(worker.name(), "app::idle");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops the worker: cancels its future and every task of its runtime, and waits until
    /// its thread has ended (so its actor is down when this returns).
    ///
    /// # Errors
    ///
    /// [`WorkerError::Panicked`] if the worker panicked (before or while stopping).
    ///
    /// ```
    /// use ownership_runtime::Worker;
    ///
    /// let worker = Worker::start("app::forever", std::future::pending()).unwrap();
    /// let id = worker.id();
    /// worker.stop().unwrap();
    /// assert!(!id.is_alive());
    /// ```
    pub fn stop(mut self) -> Result<(), WorkerError> {
        self.stop.take();
        self.wait()
    }

    /// Waits until the worker's future ends on its own (a channel it reads was closed, its
    /// work is done), then for its runtime and actor to end.
    ///
    /// # Errors
    ///
    /// [`WorkerError::Panicked`] if the worker panicked.
    ///
    /// ```
    /// use ownership_runtime::Worker;
    ///
    /// let (sender, mut inbox) = tokio::sync::mpsc::unbounded_channel::<u32>();
    /// let summer = Worker::start("app::summer", async move {
    ///     let mut sum = 0;
    ///     while let Some(n) = inbox.recv().await {
    ///         sum += n;
    ///     }
    ///     assert_eq!(sum, 3);
    /// })
    /// .unwrap();
    /// sender.send(1).unwrap();
    /// sender.send(2).unwrap();
    /// drop(sender); // its future ends
    /// summer.join().unwrap();
    /// ```
    pub fn join(mut self) -> Result<(), WorkerError> {
        self.wait()
    }

    fn wait(&mut self) -> Result<(), WorkerError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        thread.join().map_err(|payload| WorkerError::Panicked {
            worker: self.name.clone(),
            message: payload_message(&*payload),
        })
    }
}

impl Drop for Worker {
    /// Stops the worker, as [`Worker::stop`] does; a panic of the worker is not reported
    /// (call `stop` to see it).
    fn drop(&mut self) {
        self.stop.take();
        let _ = self.wait();
    }
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.name)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
