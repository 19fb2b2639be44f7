//! Serialized tests (see `SandboxBuilder::serialize_tests`): one test at a time runs
//! sandbox transactions on the database, across the processes and machines that share
//! it.
//!
//! Within a process, tests take turns: a turn belongs to a test (the root of the callers
//! chain that checked the connection out), so every connection of one test (an actor it
//! checked out for, a task it started) runs in the same turn and never waits for the
//! test itself. Across processes, the process holds a session lock on the server while
//! one of its tests has the turn, on a connection of its own kept for that; a process
//! that dies releases it with its session.

use std::any::Any;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use futures_core::future::BoxFuture;
use ownership_runtime::{ActorId, background};
use sqlx::{Connection, Executor, Pool};
use tokio::sync::Notify;

use crate::backend::SandboxDatabase;
use crate::closed;
use crate::error::SandboxError;

/// The turns of one sandbox's tests.
pub(crate) struct Turns<DB: SandboxDatabase> {
    inner: Arc<Inner<DB>>,
}

struct Inner<DB: SandboxDatabase> {
    label: Arc<str>,
    /// Who has the turn, and how many of its connections are in it.
    turn: Mutex<Turn>,
    /// Signalled when the turn ends.
    ended: Notify,
    /// The connection that holds the server's lock for this process: one of its own,
    /// outside the pool (tests waiting for their turn may hold every pooled one), opened
    /// on the background runtime, which outlives every test's.
    locking: tokio::sync::Mutex<Option<DB::Connection>>,
}

impl<DB: SandboxDatabase> Drop for Inner<DB> {
    fn drop(&mut self) {
        // Closing the connection releases the lock if a turn still held it.
        if let Some(connection) = self.locking.get_mut().take() {
            close(connection);
        }
    }
}

/// Closes a locking connection, inside the background runtime, whose socket it is.
fn close<C>(connection: C) {
    // Without the runtime, dropped here: the server ends the session anyway.
    let _ = background::drop_inside(connection);
}

#[derive(Default)]
struct Turn {
    /// The test that has the turn.
    holder: Option<ActorId>,
    /// Its connections in the turn.
    members: usize,
}

/// One connection's part in its test's turn; leaving it when dropped ends the turn with
/// the test's last connection.
pub(crate) struct TurnTaken<DB: SandboxDatabase> {
    inner: Weak<Inner<DB>>,
}

/// A connection's part in a turn, whatever the database: dropped, it leaves the turn.
pub(crate) type TurnGuard = Box<dyn Send + Sync>;

/// Takes a connection's part in its test's turn (see [`Turns::take`]).
pub(crate) type TakeTurn =
    Arc<dyn Fn() -> BoxFuture<'static, Result<TurnGuard, SandboxError>> + Send + Sync>;

impl<DB: SandboxDatabase> Clone for Turns<DB> {
    fn clone(&self) -> Self {
        Turns {
            inner: self.inner.clone(),
        }
    }
}

impl<DB: SandboxDatabase> Turns<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// What a connection of `test` calls to take its part in the test's turn: waits at
    /// most `wait`.
    pub(crate) fn for_test(&self, test: ActorId, pool: Pool<DB>, wait: Duration) -> TakeTurn {
        let turns = self.clone();
        Arc::new(move || {
            let (turns, pool) = (turns.clone(), pool.clone());
            Box::pin(async move {
                let taken = turns.take(test, &pool, wait).await?;
                Ok(Box::new(taken) as TurnGuard)
            })
        })
    }

    /// The turns of the tests on the database at `url`: one set per database in the
    /// process, shared by every sandbox on it, so that a test using two sandboxes on one
    /// database doesn't wait for itself.
    pub(crate) fn of_database(label: Arc<str>, url: &str) -> Self {
        static DATABASES: Mutex<Vec<(String, Weak<dyn Any + Send + Sync>)>> =
            Mutex::new(Vec::new());
        let mut databases = DATABASES.lock().unwrap_or_else(PoisonError::into_inner);
        databases.retain(|(_, turns)| turns.strong_count() > 0);
        let found = databases
            .iter()
            .filter(|(database, _)| database == url)
            .find_map(|(_, turns)| turns.upgrade()?.downcast::<Inner<DB>>().ok());
        if let Some(inner) = found {
            return Turns { inner };
        }
        let inner = Arc::new(Inner {
            label,
            turn: Mutex::new(Turn::default()),
            ended: Notify::new(),
            locking: tokio::sync::Mutex::new(None),
        });
        let erased: Arc<dyn Any + Send + Sync> = inner.clone();
        databases.push((url.to_owned(), Arc::downgrade(&erased)));
        Turns { inner }
    }

    /// Waits, at most `wait`, for `test`'s turn (joining it if the test has it already),
    /// taking the server's lock when the turn starts.
    ///
    /// # Errors
    ///
    /// [`SandboxError::SerializedWait`] past `wait`; the database's.
    async fn take(
        &self,
        test: ActorId,
        pool: &Pool<DB>,
        wait: Duration,
    ) -> Result<TurnTaken<DB>, SandboxError> {
        let started = Instant::now();
        let waited_too_long = |owner| SandboxError::SerializedWait {
            label: self.inner.label.to_string(),
            owner,
            waited: started.elapsed(),
        };
        loop {
            let ended = self.inner.ended.notified();
            {
                let mut turn = self
                    .inner
                    .turn
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                match turn.holder {
                    Some(holder) if holder == test => {
                        turn.members += 1;
                        return Ok(self.taken());
                    }
                    Some(_) => {}
                    None => {
                        *turn = Turn {
                            holder: Some(test),
                            members: 1,
                        };
                        break;
                    }
                }
            }
            let left = wait.saturating_sub(started.elapsed());
            if tokio::time::timeout(left, ended).await.is_err() {
                return Err(waited_too_long(test));
            }
        }
        // The turn is ours from here: the guard ends it if taking the lock fails.
        let taken = self.taken();
        let left = wait.saturating_sub(started.elapsed());
        let mut locking = self.inner.locking.lock().await;
        let mut connection = match locking.take() {
            Some(connection) => connection,
            None => self.connect(pool).await?,
        };
        let mut locked = DB::lock_tests(&mut connection, left).await;
        if let Err(error) = &locked
            && closed::is_closed(error)
        {
            // The server closed it (while it sat idle between turns, say): a session's lock
            // ends with it, so taking the lock again, once, on a new one is safe.
            close(connection);
            connection = self.connect(pool).await?;
            let left = wait.saturating_sub(started.elapsed());
            locked = DB::lock_tests(&mut connection, left).await;
        }
        *locking = Some(connection);
        match locked {
            Ok(true) => Ok(taken),
            Ok(false) => Err(waited_too_long(test)),
            Err(source) => Err(SandboxError::Database {
                label: self.inner.label.to_string(),
                context: "could not take the lock that serializes tests",
                source,
            }),
        }
    }

    /// Opens the connection that holds the server's lock, on the background runtime.
    async fn connect(&self, pool: &Pool<DB>) -> Result<DB::Connection, SandboxError> {
        let label = self.inner.label.to_string();
        let options = pool.connect_options();
        let opened =
            background::run(async move { DB::Connection::connect_with(&options).await }).await;
        match opened {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(source)) => Err(SandboxError::Database {
                label,
                context: "could not open the connection that serializes tests",
                source,
            }),
            Err(source) => Err(SandboxError::Background { label, source }),
        }
    }

    fn taken(&self) -> TurnTaken<DB> {
        TurnTaken {
            inner: Arc::downgrade(&self.inner),
        }
    }
}

impl<DB: SandboxDatabase> Drop for TurnTaken<DB> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let mut turn = inner.turn.lock().unwrap_or_else(PoisonError::into_inner);
        turn.members = turn.members.saturating_sub(1);
        if turn.members > 0 {
            return;
        }
        *turn = Turn::default();
        drop(turn);
        // The server's lock goes in the background; a turn that starts meanwhile waits
        // for it on the same connection, which counts its takes, so the order is free.
        let released = inner.clone();
        background::spawn_detached(async move {
            let mut locking = released.locking.lock().await;
            if let Some(connection) = locking.as_mut()
                && DB::unlock_tests(connection).await.is_err()
            {
                // A broken connection: dropping it (closing it) releases the lock.
                locking.take();
            }
        });
        inner.ended.notify_waiters();
    }
}
