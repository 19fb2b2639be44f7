//! The test harness that `#[owned_test]` expands to: one call of [`run_async`] or
//! [`run_sync`] per test.
//!
//! For each test the harness:
//!
//! 1. takes the process-wide shared-mode gate: shared for a private test, exclusive for
//!    a shared one, so a shared test never overlaps another owned test of its process;
//! 2. creates the test's [`Actor`], named after the test (module path and function name);
//! 3. for a shared test, switches every [`TestResource`] registered with
//!    [`register_resource`] to shared mode, owned by the test; a resource registered later
//!    (one the test is the first to use) is switched as it registers, so every resource a
//!    shared test uses is shared before its body runs;
//! 4. prepares the resources the test names (`sandbox = ...`), in order, as the test
//!    ([`TestResource::before_test`]);
//! 5. runs the body as the test: an `async fn` on a fresh tokio runtime built with
//!    [`build_runtime`](crate::build_runtime), so plain `tokio::spawn` and
//!    `spawn_blocking` inside are the test's children; a plain `fn` on a thread of its own
//!    that runs for the test (threads it starts with [`crate::thread::spawn`] do too);
//! 6. enforces the timeout, if any, in wall-clock time;
//! 7. for an `async fn`, gives what the body left running on the runtime a grace to end:
//!    it waits up to [`TestConfig::leftover_grace`] ([`DEFAULT_LEFTOVER_GRACE`] unless
//!    set) in real time, also under `start_paused`, and never past the timeout, and goes
//!    on the moment no task is left, so a passing test doesn't wait; then it shuts the
//!    runtime down, cancelling the tasks still alive, and gives `spawn_blocking` closures
//!    the rest of the grace to return. What is still running then outlived the test:
//!    whether a task outlived its test doesn't depend on the machine's speed, only on
//!    whether it ended within the grace. That fails the test unless it says
//!    `leftover_tasks = "cancel"` ([`LeftoverTasks::Cancel`], for a test that leaves a
//!    server or a poller running): then the harness prints a note on standard error naming
//!    the test and how many it cancelled;
//! 8. verifies and releases, for every known resource, newest first, what the test holds
//!    of it ([`TestResource::after_test`]; also when the body panicked);
//! 9. switches shared resources back to private mode, ends the test's actor (releasing
//!    everything it owned) and leaves the gate;
//! 10. fails the test once, with one message listing in order: the body's panic (message
//!     and location), its `Err` or its timeout; each resource's failure (its name and text); the
//!     panics of its tasks and threads, awaited or not; the tasks that outlived it, and
//!     the runtime threads still busy after it (blocking closures, left running).
//!
//! Results are the same under `cargo test` (tests on threads of one process) and
//! `cargo nextest run` (one process per test): everything the harness keeps is per test,
//! and the gate only matters when tests share a process.
//!
//! Every panic in a test's tasks and threads fails the test, also one the body observed
//! through a `JoinHandle`: a test that expects a task to panic should catch the panic
//! inside that task (`std::panic::catch_unwind`, `FutureExt::catch_unwind`).

mod allow;
mod config;
mod context;
mod failure;
mod gate;
mod leftovers;
mod panics;
mod registry;
mod report;
mod resource;
mod skip;

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread::{self, ThreadId};
use std::time::Duration;

use tokio::runtime::Builder;

use self::leftovers::{Leftovers, TestRuntime};
use self::report::{Problem, Report, SetupProblem};
use crate::actor::Actor;

pub use self::allow::{AllowAllError, Refusals, allow_all};
pub use self::config::{DEFAULT_LEFTOVER_GRACE, Flavor, LeftoverTasks, TestConfig};
pub use self::context::TestContext;
pub use self::failure::Failure;
pub(crate) use self::panics::payload_message;
pub use self::registry::register_resource;
pub use self::resource::{ResourceKey, TestResource};

/// What a test body returns: `()` or `Result<(), E>` with `E: Debug`.
///
/// ```
/// use ownership_runtime::harness::TestOutcome;
///
/// assert_eq!(().failure(), None);
/// assert_eq!(Ok::<(), String>(()).failure(), None);
/// assert_eq!(Err::<(), _>("no stock").failure(), Some("\"no stock\"".to_owned()));
/// ```
#[diagnostic::on_unimplemented(
    message = "an `#[owned_test]` function must return `()` or `Result<(), E>` where `E: Debug`, not `{Self}`",
    label = "this test's return type"
)]
pub trait TestOutcome {
    /// The failure this outcome stands for, if any.
    ///
    /// ```
    /// use std::num::ParseIntError;
    /// use ownership_runtime::harness::TestOutcome;
    ///
    /// let body = || -> Result<(), ParseIntError> { "12x".parse::<u8>().map(drop) };
    /// let failure = body().failure();
    /// assert_eq!(failure.as_deref(), Some("ParseIntError { kind: InvalidDigit }"));
    /// ```
    fn failure(self) -> Option<String>;
}

impl TestOutcome for () {
    fn failure(self) -> Option<String> {
        None
    }
}

impl<E: fmt::Debug> TestOutcome for Result<(), E> {
    fn failure(self) -> Option<String> {
        self.err().map(|error| format!("{error:?}"))
    }
}

/// Runs an `async` test body as described in the [module docs](self), and panics with
/// the report if anything failed. This is what `#[owned_test]` on an `async fn` expands
/// to.
///
/// ```
/// use ownership_runtime::harness::{run_async, TestConfig};
/// use ownership_runtime::callers;
///
/// async fn body() {
///     // Plain tokio::spawn runs for the test.
///     let chain = tokio::spawn(async { callers() }).await.unwrap();
///     assert_eq!(chain.first().and_then(|actor| actor.name()), Some("docs::body"));
/// }
/// run_async(TestConfig::new("docs::body"), body);
/// ```
#[track_caller]
pub fn run_async<F, Fut>(config: TestConfig, body: F)
where
    F: FnOnce() -> Fut,
    Fut: Future,
    Fut::Output: TestOutcome,
{
    let mut run = TestRun::start(config);
    if run.ready {
        match run.runtime() {
            Ok(runtime) => {
                let body_thread = thread::current().id();
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                    runtime.block_on(with_timeout(config.timeout, async {
                        body().await.failure()
                    }))
                }));
                run.body_ended(outcome, body_thread);
                run.stop_runtime(runtime);
            }
            Err(problem) => run.report.push(problem),
        }
    }
    if let Some(report) = run.finish() {
        panic!("{report}");
    }
}

/// Runs a plain (not `async`) test body as described in the [module docs](self), on a
/// thread of its own that runs for the test, and panics with the report if anything
/// failed. This is what `#[owned_test]` on a plain `fn` expands to.
///
/// ```
/// use ownership_runtime::harness::{run_sync, TestConfig};
/// use ownership_runtime::callers;
///
/// fn body() -> Result<(), String> {
///     let chain = ownership_runtime::thread::spawn(callers).join().unwrap();
///     match chain.first().and_then(|actor| actor.name()) {
///         Some("docs::sync_body") => Ok(()),
///         other => Err(format!("ran for {other:?}")),
///     }
/// }
/// run_sync(TestConfig::new("docs::sync_body"), body);
/// ```
#[track_caller]
pub fn run_sync<F, T>(config: TestConfig, body: F)
where
    F: FnOnce() -> T + Send + 'static,
    T: TestOutcome + Send + 'static,
{
    let mut run = TestRun::start(config);
    if run.ready {
        let chain = run.actor.chain();
        let (sender, receiver) = mpsc::channel();
        let spawned = thread::Builder::new()
            .name(config.name.to_owned())
            .spawn(move || {
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| chain.in_scope(body)))
                    .map(|outcome| outcome.failure());
                // The harness may have stopped waiting (timeout): nobody to tell then.
                let _ = sender.send(outcome);
            });
        match spawned {
            Ok(handle) => {
                let body_thread = handle.thread().id();
                let outcome = match config.timeout {
                    Some(timeout) => receiver.recv_timeout(timeout).ok(),
                    None => receiver.recv().ok(),
                };
                match outcome {
                    Some(outcome) => run.body_ended(outcome.map(Some), body_thread),
                    // Timed out: the thread can't be stopped; it is left behind.
                    None => run.body_ended(Ok(None), body_thread),
                }
            }
            Err(error) => run.report.push(Problem::Setup(SetupProblem::Thread(error))),
        }
    }
    if let Some(report) = run.finish() {
        panic!("{report}");
    }
}

/// Starts the runtime's clock paused (tokio's `test-util`, through the `start-paused`
/// feature, on by default).
#[cfg(feature = "start-paused")]
fn pause_clock(builder: &mut Builder) -> Result<(), Problem> {
    builder.start_paused(true);
    Ok(())
}

#[cfg(not(feature = "start-paused"))]
fn pause_clock(_: &mut Builder) -> Result<(), Problem> {
    Err(Problem::Setup(SetupProblem::PausedWithoutFeature))
}

/// The failure of a resource whose code panicked (at `location`, when it is known).
fn panicked(payload: &(dyn std::any::Any + Send), location: Option<String>) -> Failure {
    let message = panics::payload_message(payload);
    Failure::new(match location {
        Some(location) => format!("panicked at {location}: {message}"),
        None => format!("panicked: {message}"),
    })
}

/// Runs `body`, or gives up after `timeout` of wall-clock time (`None`).
async fn with_timeout<F: Future>(timeout: Option<Duration>, body: F) -> Option<F::Output> {
    let Some(timeout) = timeout else {
        return Some(body.await);
    };
    // A thread of its own counts real time, so a paused runtime clock can't skip ahead.
    let (expired, expired_signal) = tokio::sync::oneshot::channel::<()>();
    let (done, done_signal) = mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        if done_signal.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout) {
            let _ = expired.send(());
        }
    });
    let outcome = tokio::select! {
        biased;
        outcome = body => Some(outcome),
        _ = expired_signal => None,
    };
    drop(done);
    let _ = watchdog.join();
    outcome
}

/// One test from start to report.
struct TestRun {
    config: TestConfig,
    report: Report,
    /// Whether setup succeeded and the body may run.
    ready: bool,
    /// The thread the body ran on, once it ran.
    body_thread: Option<ThreadId>,
    /// What was still running on the test's runtime after its grace.
    outlived: Leftovers,
    actor: Actor,
    /// Declared last: left after everything else is released.
    _gate: gate::GatePass,
}

impl TestRun {
    fn start(config: TestConfig) -> TestRun {
        let gate = gate::enter(config.shared);
        let actor = Actor::named(config.name);
        panics::start(actor.id());
        let mut run = TestRun {
            config,
            report: Report::new(config.name),
            ready: true,
            body_thread: None,
            outlived: Leftovers::NONE,
            actor,
            _gate: gate,
        };
        if config.shared {
            registry::enter(run.actor.id());
        }
        run.prepare_resources();
        run
    }

    fn context(&self) -> TestContext {
        TestContext {
            name: self.config.name,
            actor: self.actor.id(),
            shared: self.config.shared,
        }
    }

    fn prepare_resources(&mut self) {
        let context = self.context();
        let _entered = self.actor.enter();
        for &resource in self.config.resources {
            if !self.ready {
                break;
            }
            registry::name(resource);
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| resource.before_test(&context)));
            let failure = match outcome {
                Ok(Ok(())) => continue,
                Ok(Err(failure)) if failure.is_unavailable() => {
                    self.ready = false;
                    match skip::skip(self.config.name, &resource.name(), &failure) {
                        Ok(()) => break,
                        Err(failure) => failure,
                    }
                }
                Ok(Err(failure)) => failure,
                Err(payload) => {
                    // Reported once, as the resource's failure, not again as a panic of
                    // the test's threads: the panic hook recorded it, with its location.
                    let recorded =
                        panics::last_outside_tasks(self.actor.id(), thread::current().id());
                    panicked(&*payload, recorded.and_then(|panic| panic.location))
                }
            };
            self.report.push(Problem::Resource {
                resource: resource.name(),
                stage: "before the test",
                failure,
            });
            self.ready = false;
        }
    }

    /// Builds the test's runtime, as its options say.
    fn runtime(&self) -> Result<TestRuntime, Problem> {
        let config = &self.config;
        let mut builder = match config.flavor {
            Flavor::CurrentThread => Builder::new_current_thread(),
            Flavor::MultiThread => Builder::new_multi_thread(),
        };
        if let Some(threads) = config.worker_threads {
            if config.flavor == Flavor::CurrentThread || threads == 0 {
                return Err(Problem::Setup(SetupProblem::WorkerThreads { threads }));
            }
            builder.worker_threads(threads);
        }
        if config.start_paused {
            if config.flavor == Flavor::MultiThread {
                return Err(Problem::Setup(SetupProblem::PausedMultiThread));
            }
            pause_clock(&mut builder)?;
        }
        builder.enable_all();
        TestRuntime::build(&mut builder, self.actor.chain())
            .map_err(|error| Problem::Setup(SetupProblem::Runtime(error)))
    }

    /// Records how the body ended: `Ok(None)` is a timeout, `Ok(Some(failure))` a return.
    fn body_ended(
        &mut self,
        outcome: thread::Result<Option<Option<String>>>,
        body_thread: ThreadId,
    ) {
        match outcome {
            Ok(Some(None)) => {}
            Ok(Some(Some(error))) => self.report.push(Problem::BodyFailed(error)),
            Ok(None) => {
                let timeout = self.config.timeout.unwrap_or_default();
                self.report.push(Problem::TimedOut(timeout));
            }
            Err(payload) => {
                // The panic hook has recorded it, with its location.
                let captured = panics::last_outside_tasks(self.actor.id(), body_thread);
                self.report.push(Problem::BodyPanicked {
                    message: panics::payload_message(&*payload),
                    location: captured.and_then(|panic| panic.location),
                });
            }
        }
        self.body_thread = Some(body_thread);
    }

    /// Waits up to the test's grace for what it left running, shuts the runtime down
    /// (cancelling the tasks still alive), and fails the test for what was left, or notes
    /// it (`leftover_tasks = "cancel"`).
    fn stop_runtime(&mut self, runtime: TestRuntime) {
        let leftovers = runtime.stop(&self.config);
        match self.config.leftover_tasks {
            LeftoverTasks::Fail => self.outlived = leftovers,
            LeftoverTasks::Cancel => {
                if let Some(note) = leftovers.note(self.config.name) {
                    eprintln!("{note}");
                }
            }
        }
    }

    /// Finishes every resource for the test, releases everything, and returns the report if anything
    /// failed.
    fn finish(mut self) -> Option<Report> {
        let context = self.context();
        // The test's tasks and threads are done; what panics from here on (an adapter's
        // verification, caught and reported by its hook) is not theirs.
        let task_panics = panics::finish(self.actor.id());
        {
            let _entered = self.actor.enter();
            for resource in registry::newest_first() {
                let outcome =
                    panic::catch_unwind(AssertUnwindSafe(|| resource.after_test(&context)));
                let failures = match outcome {
                    Ok(failures) => failures,
                    Err(payload) => vec![panicked(&*payload, None)],
                };
                for failure in failures {
                    self.report.push(Problem::Resource {
                        resource: resource.name(),
                        stage: "after the test",
                        failure,
                    });
                }
            }
        }
        if self.config.shared {
            for (resource, source) in registry::leave(self.actor.id()) {
                self.report.push(Problem::Setup(SetupProblem::SharedMode {
                    resource,
                    source,
                }));
            }
        }
        for panic in task_panics {
            let the_bodys_own = Some(panic.thread) == self.body_thread && !panic.in_task;
            if !the_bodys_own {
                self.report.push(Problem::TaskPanicked(panic));
            }
        }
        for problem in self.outlived.problems() {
            self.report.push(problem);
        }
        let TestRun {
            actor,
            mut report,
            _gate: gate,
            ..
        } = self;
        // The actor goes down: every server releases what the test owned. Dropping an
        // adapter's metadata may panic (an unverified mock): that fails the test too.
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(actor))) {
            report.push(Problem::Release(panics::payload_message(&*payload)));
        }
        drop(gate);
        report.has_problems().then_some(report)
    }
}
