//! The failure report: everything that went wrong in one test, in one message.

//!
//! Every error in it is shown with its causes, by [`error_chain`]: the one place where the
//! harness turns an error into text.

use std::fmt;
use std::time::Duration;

use super::failure::Failure;
use super::leftovers::after;
use super::panics::CapturedPanic;
use crate::error::{SharedOwnerDown, error_chain};

/// Why the harness could not set a test up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupProblem {
    /// `worker_threads` on a current-thread runtime, or zero.
    #[error(
        "`worker_threads = {threads}` needs `flavor = \"multi_thread\"` and at least one thread"
    )]
    WorkerThreads { threads: usize },
    /// `start_paused` on a multi-thread runtime.
    #[error(
        "`start_paused` needs `flavor = \"current_thread\"` (tokio can only pause the clock of \
         a current-thread runtime)"
    )]
    PausedMultiThread,
    /// `start_paused` without the `start-paused` feature.
    #[cfg_attr(feature = "start-paused", allow(dead_code))]
    #[error(
        "`start_paused` needs the `start-paused` feature of ownership-runtime (on by default; \
         a crate that depends on it with `default-features = false` must turn it on in its \
         dev-dependencies)"
    )]
    PausedWithoutFeature,
    /// tokio could not build the test's runtime.
    #[error("could not build the test's tokio runtime")]
    Runtime(#[source] std::io::Error),
    /// The body's thread could not start.
    #[error("could not start the test's thread")]
    Thread(#[source] std::io::Error),
    /// A resource could not be switched to or from shared mode.
    #[error("{resource} could not switch modes for the shared test")]
    SharedMode {
        resource: String,
        #[source]
        source: SharedOwnerDown,
    },
}

/// One thing that went wrong, in the order the report lists them.
#[derive(Debug)]
pub(crate) enum Problem {
    /// The harness could not set the test up (its runtime, shared mode).
    Setup(SetupProblem),
    /// The body panicked.
    BodyPanicked {
        message: String,
        location: Option<String>,
    },
    /// The body returned `Err`.
    BodyFailed(String),
    /// The body ran past its timeout.
    TimedOut(Duration),
    /// A resource failed to prepare for the test, or found something wrong after it (or
    /// panicked doing so).
    Resource {
        resource: String,
        stage: &'static str,
        failure: Failure,
    },
    /// A task or thread of the test panicked.
    TaskPanicked(CapturedPanic),
    /// Tasks were still running after the test's grace, and were cancelled.
    TasksOutlived { count: usize, grace: Duration },
    /// Runtime threads were still busy after the test's grace, and were left running.
    ThreadsOutlived { count: usize, grace: Duration },
    /// Releasing the test's resources (its actor going down) panicked.
    Release(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Setup(problem) => {
                write!(f, "the test could not be set up: {}", error_chain(problem))
            }
            Problem::BodyPanicked { message, location } => {
                f.write_str("the test panicked")?;
                if let Some(location) = location {
                    write!(f, " at {location}")?;
                }
                write!(f, ": {message}")
            }
            Problem::BodyFailed(error) => write!(f, "the test returned an error: {error}"),
            Problem::TimedOut(timeout) => write!(
                f,
                "the test timed out after {timeout:?} (its `timeout` option) and was cancelled; \
                 raise the timeout, or find what it waits for (a lock, a connection, a task \
                 that never ends)"
            ),
            Problem::Resource {
                resource,
                stage,
                failure,
            } => write!(f, "{resource} ({stage}): {}", error_chain(failure)),
            Problem::TaskPanicked(panic) => {
                let place = if panic.in_task { "a task" } else { "a thread" };
                write!(f, "{place} of the test panicked")?;
                if let Some(name) = &panic.thread_name {
                    write!(f, " (on thread `{name}`)")?;
                }
                if let Some(location) = &panic.location {
                    write!(f, " at {location}")?;
                }
                write!(f, ": {}", panic.message)
            }
            Problem::TasksOutlived { count, grace } => write!(
                f,
                "{count} task(s) spawned on the test's runtime (by the test or the code it called) \
                 were still running {}, and were cancelled; await them (or abort them through \
                 their `JoinHandle`) before the test returns, or give the code under test a way \
                 to wait for its background work. A test that leaves a server or a poller \
                 running on purpose can say so with `leftover_tasks = \"cancel\"`; one whose \
                 tasks need longer to end, with a longer `leftover_grace`",
                after(*grace)
            ),
            Problem::ThreadsOutlived { count, grace } => write!(
                f,
                "{count} thread(s) of the test's runtime were still busy {} (a `spawn_blocking` \
                 closure, or a task that blocks its thread instead of awaiting), and were left \
                 running: tokio can't cancel them. Make them return (a stop flag, a closed \
                 channel) and await their `JoinHandle` before the test returns",
                after(*grace)
            ),
            Problem::Release(message) => {
                write!(f, "releasing the test's resources panicked: {message}")
            }
        }
    }
}

/// Everything that went wrong in one test.
#[derive(Debug)]
pub(crate) struct Report {
    test: &'static str,
    problems: Vec<Problem>,
}

impl Report {
    pub(crate) fn new(test: &'static str) -> Report {
        Report {
            test,
            problems: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    pub(crate) fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "owned test `{}` failed:", self.test)?;
        for (number, problem) in self.problems.iter().enumerate() {
            write!(f, "\n  {}. {problem}", number + 1)?;
        }
        Ok(())
    }
}
