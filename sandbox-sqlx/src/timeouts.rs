//! The ownership timeout: one watcher task per sandbox, on the background runtime, takes
//! connections back from owners that hold them past their timeout.
//!
//! One task and one queue rather than a timer task per checkout: a checkout only pushes
//! a deadline (and wakes the watcher only when that deadline is the earliest), and a
//! checkin does nothing at all; its entry is skipped when its deadline comes.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use sqlx::Executor;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::backend::SandboxDatabase;
use crate::conn::{OwnedConnection, rollback_and_release};

/// The deadlines of a sandbox's checked-out connections, and the watcher that enforces
/// them.
pub(crate) struct Timeouts<DB: SandboxDatabase> {
    /// Deadlines, earliest first.
    queue: Arc<Mutex<BinaryHeap<Reverse<Deadline<DB>>>>>,
    /// Wakes the watcher: a new earliest deadline, or the sandbox going away.
    wake: Arc<Notify>,
    /// Whether the watcher runs.
    watching: Mutex<bool>,
}

/// One connection's deadline.
struct Deadline<DB: SandboxDatabase> {
    at: Instant,
    timeout: Duration,
    connection: Weak<OwnedConnection<DB>>,
}

impl<DB: SandboxDatabase> PartialEq for Deadline<DB> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl<DB: SandboxDatabase> Eq for Deadline<DB> {}

impl<DB: SandboxDatabase> PartialOrd for Deadline<DB> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<DB: SandboxDatabase> Ord for Deadline<DB> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at.cmp(&other.at)
    }
}

impl<DB: SandboxDatabase> Timeouts<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    pub(crate) fn new() -> Self {
        Timeouts {
            queue: Arc::new(Mutex::new(BinaryHeap::new())),
            wake: Arc::new(Notify::new()),
            watching: Mutex::new(false),
        }
    }

    /// Takes `connection` back from its owner once `timeout` has passed, unless it was
    /// checked in (dropped) before.
    pub(crate) fn watch(&self, connection: &Arc<OwnedConnection<DB>>, timeout: Duration) {
        let Some(at) = Instant::now().checked_add(timeout) else {
            return; // never
        };
        let earliest = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let earliest = queue.peek().is_none_or(|Reverse(first)| at < first.at);
            queue.push(Reverse(Deadline {
                at,
                timeout,
                connection: Arc::downgrade(connection),
            }));
            earliest
        };
        self.start_watcher();
        if earliest {
            self.wake.notify_one();
        }
    }

    fn start_watcher(&self) {
        let mut watching = self.watching.lock().unwrap_or_else(PoisonError::into_inner);
        if *watching {
            return;
        }
        let watcher = watch(Arc::downgrade(&self.queue), self.wake.clone());
        *watching = ownership_runtime::background::spawn_detached(watcher);
    }
}

impl<DB: SandboxDatabase> Drop for Timeouts<DB> {
    fn drop(&mut self) {
        // The watcher finds the queue gone and ends.
        self.wake.notify_one();
    }
}

/// The watcher: sleeps until the earliest deadline (or a wake-up), then takes back the
/// connections whose deadline has passed. Ends when the sandbox is gone.
async fn watch<DB: SandboxDatabase>(
    queue: Weak<Mutex<BinaryHeap<Reverse<Deadline<DB>>>>>,
    wake: Arc<Notify>,
) where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    loop {
        let (due, next) = {
            let Some(queue) = queue.upgrade() else {
                return;
            };
            let mut queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let mut due = Vec::new();
            while queue.peek().is_some_and(|Reverse(first)| first.at <= now) {
                if let Some(Reverse(deadline)) = queue.pop() {
                    due.push(deadline);
                }
            }
            (due, queue.peek().map(|Reverse(first)| first.at))
        };
        for deadline in due {
            let Some(connection) = deadline.connection.upgrade() else {
                continue; // checked in
            };
            if let Some(taken) = connection.revoke(deadline.timeout).await {
                rollback_and_release(taken).await;
            }
            // The owner keeps its (now empty) entry, so that its next query names the
            // timeout; the entry goes when the owner ends or checks in.
        }
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}
