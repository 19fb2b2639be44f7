//! Catching the panics of a test's tasks and threads, which would otherwise be lost.
//!
//! A panic in a task the test body never awaits only reaches that task's `JoinHandle`;
//! nobody looks. The harness installs (once per process) a panic hook that asks the
//! panicking code whom it works for ([`callers()`]): if the chain contains a running
//! test, the panic's message and location are recorded for that test's report. The hook
//! then calls the hook that was installed before it, so panics print as usual.
//!
//! A hook installed by the user *after* the first owned test started replaces this one;
//! task panics are then not reported (the body's own panics still are).

use std::collections::HashMap;
use std::panic::{self, PanicHookInfo};
use std::sync::{LazyLock, Mutex, Once, PoisonError};
use std::thread::{self, ThreadId};

use crate::actor_id::ActorId;
use crate::callers::callers;

/// One panic of a test's code.
#[derive(Debug, Clone)]
pub(crate) struct CapturedPanic {
    /// The panic's message.
    pub(crate) message: String,
    /// Where it panicked, as `file:line:column`.
    pub(crate) location: Option<String>,
    /// The thread it panicked on.
    pub(crate) thread: ThreadId,
    /// The thread's name, if any.
    pub(crate) thread_name: Option<String>,
    /// Whether it panicked inside a tokio task (as opposed to a `block_on` body or a
    /// plain thread).
    pub(crate) in_task: bool,
}

/// The panics of each running test, by test actor.
static RUNNING: LazyLock<Mutex<HashMap<ActorId, Vec<CapturedPanic>>>> =
    LazyLock::new(Default::default);

static INSTALL: Once = Once::new();

fn running() -> std::sync::MutexGuard<'static, HashMap<ActorId, Vec<CapturedPanic>>> {
    RUNNING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The text of a panic payload.
pub(crate) fn payload_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "(a panic whose payload is not a string)".to_owned()
    }
}

fn record(info: &PanicHookInfo<'_>) {
    let chain = callers();
    if chain.is_empty() {
        return;
    }
    let mut running = running();
    let Some(test) = chain.iter().find(|actor| running.contains_key(actor)) else {
        return;
    };
    let Some(panics) = running.get_mut(test) else {
        return;
    };
    let current = thread::current();
    panics.push(CapturedPanic {
        message: payload_message(info.payload()),
        location: info.location().map(|location| {
            format!(
                "{}:{}:{}",
                location.file(),
                location.line(),
                location.column()
            )
        }),
        thread: current.id(),
        thread_name: current.name().map(str::to_owned),
        in_task: tokio::task::try_id().is_some(),
    });
}

/// Records the panics of code running for `test` until [`finish`] is called.
pub(crate) fn start(test: ActorId) {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            record(info);
            previous(info);
        }));
    });
    running().insert(test, Vec::new());
}

/// Removes and returns the latest panic recorded for `test` on `thread` outside any task:
/// the panic of a body that ran on that thread.
pub(crate) fn last_outside_tasks(test: ActorId, thread: ThreadId) -> Option<CapturedPanic> {
    let mut running = running();
    let panics = running.get_mut(&test)?;
    let index = panics
        .iter()
        .rposition(|panic| panic.thread == thread && !panic.in_task)?;
    Some(panics.remove(index))
}

/// Stops recording for `test` and returns its panics, oldest first.
pub(crate) fn finish(test: ActorId) -> Vec<CapturedPanic> {
    running().remove(&test).unwrap_or_default()
}
