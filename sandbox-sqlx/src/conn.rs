//! A checked-out connection: owned by one actor, shared by its tasks one statement (or
//! one transaction) at a time, and rolled back when it goes back to the pool.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ownership_runtime::ActorId;
use sqlx::pool::PoolConnection;
use sqlx::{Database, Executor, Pool};
use sqlx_core::transaction::TransactionManager;
use tokio::sync::OwnedMutexGuard;

use crate::backend::{IsolationLevel, SandboxDatabase};
use crate::error::SandboxError;
use crate::options::ConnectionHook;
use crate::template::TestCopy;
use crate::turns::{TakeTurn, TurnGuard};

/// Who holds a connection across statements (a transaction, an acquired connection), to
/// turn a query that would wait for itself into an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holder {
    Task(tokio::task::Id),
    Thread(std::thread::ThreadId),
}

impl Holder {
    pub(crate) fn current() -> Holder {
        match tokio::task::try_id() {
            Some(task) => Holder::Task(task),
            None => Holder::Thread(std::thread::current().id()),
        }
    }
}

/// Where a checkout's connection came from, to replace it (see the module docs).
pub(crate) struct Replacement<DB: Database> {
    /// The sandbox's pool.
    pub(crate) pool: Pool<DB>,
    /// The sandbox's label, for the error if no other connection can be had.
    pub(crate) label: Arc<str>,
    /// The connection's owner, for that error.
    pub(crate) owner: ActorId,
}

/// What sits behind the connection's lock.
pub(crate) struct Slot<DB: Database> {
    /// The connection; `None` once checked in or taken back.
    pub(crate) connection: Option<PoolConnection<DB>>,
    /// Why the connection is gone, when it was taken back.
    pub(crate) revoked: Option<Duration>,
    /// Whether the sandbox wrapped the connection in a transaction.
    pub(crate) sandboxed: bool,
    /// Whether a statement fence (savepoint) is open: each fenced statement leaves its
    /// own open, for the next one to release in the same round trip.
    pub(crate) fence_open: bool,
    /// The sandbox's transaction, while it is still to begin: it begins with the first
    /// statement (in the same round trip as that statement's fence, where there is one),
    /// so a checkout costs no round trip, and a test that never queries none at checkin.
    pub(crate) pending_begin: Option<PendingBegin>,
    /// The connection's part in its test's turn, for serialized tests.
    pub(crate) turn: Option<TurnGuard>,
    /// Whether something may have ended the sandbox's transaction behind the sandbox's
    /// back (a statement that could, code given the raw connection, a failed fence), so
    /// that checkin asks the server; otherwise checkin costs no round trip.
    pub(crate) may_have_ended: bool,
    /// Until the connection's first round trip for this checkout: where to get another
    /// one if it turns out closed (the server ended it while it sat idle in the pool).
    pub(crate) replacement: Option<Replacement<DB>>,
    /// Why the connection is gone, when it was found closed and no other one could be had.
    pub(crate) lost: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

/// A sandbox transaction still to begin.
#[derive(Clone)]
pub(crate) struct PendingBegin {
    /// Its isolation level (the sandbox's default for the database if `None`).
    pub(crate) isolation: Option<IsolationLevel>,
    /// For serialized tests: takes the test's turn, before the transaction begins.
    pub(crate) take_turn: Option<TakeTurn>,
}

impl<DB: Database> Drop for Slot<DB> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            release_in_background(connection, self.sandboxed);
        }
    }
}

/// Returns a connection to its pool from code that can't wait: its transaction is rolled
/// back by the pool before anyone else uses it. Runs inside the background runtime, which
/// returning a connection needs.
pub(crate) fn release_in_background<DB: Database>(
    mut connection: PoolConnection<DB>,
    sandboxed: bool,
) {
    // Queued: the pool sends them with the ping it runs before taking the connection
    // back, and no one gets the connection before they are done.
    while sandboxed && DB::TransactionManager::get_transaction_depth(&connection) > 0 {
        DB::TransactionManager::start_rollback(&mut connection);
    }
    if let Err(mut connection) = ownership_runtime::background::drop_inside(connection) {
        // Without a runtime the pool can't take it back: close it instead.
        connection.close_on_drop();
    }
}

/// Rolls a taken connection's transaction back and returns it to the pool, then leaves
/// its test's turn; a connection that can't be rolled back is closed instead.
pub(crate) async fn rollback_and_release<DB: SandboxDatabase>(taken: Taken<DB>)
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let Taken {
        mut connection,
        sandboxed,
        turn,
        ..
    } = taken;
    if sandboxed {
        while DB::TransactionManager::get_transaction_depth(&connection) > 0 {
            if DB::TransactionManager::rollback(&mut connection)
                .await
                .is_err()
            {
                connection.close_on_drop();
                break;
            }
        }
    }
    release_in_background(connection, false);
    drop(turn);
}

/// A connection checked out by one owner.
pub(crate) struct OwnedConnection<DB: Database> {
    pub(crate) owner: ActorId,
    pub(crate) label: Arc<str>,
    slot: Arc<tokio::sync::Mutex<Slot<DB>>>,
    /// Held across statements by a transaction or an acquired connection.
    holder: Arc<Mutex<Option<Mark>>>,
    /// The test's own database, for backends that copy a template per test.
    pub(crate) database: Mutex<Option<TestCopy<DB>>>,
    /// Runs on the connection at checkin, before the rollback.
    pub(crate) pre_checkin: Option<ConnectionHook<DB>>,
}

impl<DB: Database> OwnedConnection<DB> {
    /// `connection`, checked out for `owner`; `pool` is the one it came from, if another
    /// one may come from there should it turn out closed at its first round trip (see
    /// [`crate::reconnect`]).
    pub(crate) fn new(
        owner: ActorId,
        label: Arc<str>,
        connection: PoolConnection<DB>,
        sandboxed: bool,
        pending_begin: Option<PendingBegin>,
        pool: Option<Pool<DB>>,
    ) -> Self {
        let replacement = pool.map(|pool| Replacement {
            pool,
            label: label.clone(),
            owner,
        });
        OwnedConnection {
            owner,
            label,
            slot: Arc::new(tokio::sync::Mutex::new(Slot {
                connection: Some(connection),
                revoked: None,
                sandboxed,
                fence_open: false,
                pending_begin,
                turn: None,
                may_have_ended: false,
                replacement,
                lost: None,
            })),
            holder: Arc::new(Mutex::new(None)),
            database: Mutex::new(None),
            pre_checkin: None,
        }
    }

    /// Waits for the connection, for one statement.
    pub(crate) async fn lock(&self) -> Result<OwnedMutexGuard<Slot<DB>>, SandboxError> {
        self.refuse_self_wait()?;
        let slot = self.slot.clone().lock_owned().await;
        self.usable(slot)
    }

    /// Waits for the connection, for a transaction or an acquired connection that the
    /// current task keeps across statements.
    pub(crate) async fn hold(&self) -> Result<Held<DB>, SandboxError> {
        let mut slot = self.lock().await?;
        // The holder runs statements the sandbox doesn't see.
        slot.may_have_ended = true;
        let mark = Mark::current();
        *self.holder.lock().unwrap_or_else(PoisonError::into_inner) = Some(mark);
        Ok(Held {
            _mark: HeldBy {
                holder: self.holder.clone(),
                mark,
            },
            slot,
        })
    }

    /// Takes the connection out for checkin; later users get an error.
    pub(crate) async fn take(&self) -> Option<Taken<DB>> {
        let mut slot = self.slot.clone().lock_owned().await;
        Taken::from_slot(&mut slot)
    }

    /// Takes the connection back after the ownership timeout.
    pub(crate) async fn revoke(&self, timeout: Duration) -> Option<Taken<DB>> {
        let mut slot = self.slot.clone().lock_owned().await;
        slot.revoked = Some(timeout);
        Taken::from_slot(&mut slot)
    }

    fn refuse_self_wait(&self) -> Result<(), SandboxError> {
        let mark = *self.holder.lock().unwrap_or_else(PoisonError::into_inner);
        if mark.is_some_and(|mark| mark.holder == Holder::current()) {
            return Err(SandboxError::HeldByThisTask {
                label: self.label.to_string(),
                owner: self.owner,
            });
        }
        Ok(())
    }

    fn usable(
        &self,
        slot: OwnedMutexGuard<Slot<DB>>,
    ) -> Result<OwnedMutexGuard<Slot<DB>>, SandboxError> {
        if slot.connection.is_some() {
            return Ok(slot);
        }
        Err(match (slot.revoked, &slot.lost) {
            (Some(timeout), _) => SandboxError::OwnershipTimeout {
                label: self.label.to_string(),
                owner: self.owner,
                timeout,
            },
            (None, Some(cause)) => SandboxError::ConnectionLost {
                label: self.label.to_string(),
                owner: self.owner,
                source: cause.clone(),
            },
            (None, None) => SandboxError::CheckedIn {
                label: self.label.to_string(),
                owner: self.owner,
            },
        })
    }
}

/// A connection taken out of its slot, at checkin or by the ownership timeout.
pub(crate) struct Taken<DB: Database> {
    pub(crate) connection: PoolConnection<DB>,
    /// Whether the sandbox wrapped it in a transaction.
    pub(crate) sandboxed: bool,
    /// Whether that transaction began (the test queried).
    pub(crate) begun: bool,
    /// Its part in its test's turn: dropped once the rollback is queued.
    pub(crate) turn: Option<TurnGuard>,
    /// Whether checkin must ask the server whether the transaction is still open.
    pub(crate) may_have_ended: bool,
}

impl<DB: Database> Taken<DB> {
    fn from_slot(slot: &mut Slot<DB>) -> Option<Self> {
        let connection = slot.connection.take()?;
        Some(Taken {
            connection,
            sandboxed: slot.sandboxed,
            begun: slot.pending_begin.is_none(),
            turn: slot.turn.take(),
            may_have_ended: slot.may_have_ended,
        })
    }
}

/// One hold of a connection: who holds it, and which of its holds this is, so that the
/// end of a hold clears its own mark and never the next holder's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    holder: Holder,
    hold: u64,
}

impl Mark {
    fn current() -> Mark {
        static HOLDS: AtomicU64 = AtomicU64::new(0);
        Mark {
            holder: Holder::current(),
            hold: HOLDS.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// Marks the current task as the holder of a connection until dropped.
#[derive(Debug)]
struct HeldBy {
    holder: Arc<Mutex<Option<Mark>>>,
    mark: Mark,
}

impl Drop for HeldBy {
    fn drop(&mut self) {
        let mut holder = self.holder.lock().unwrap_or_else(PoisonError::into_inner);
        if *holder == Some(self.mark) {
            *holder = None;
        }
    }
}

/// A connection held across statements by the current task (see
/// [`OwnedConnection::hold`]): its slot, and the mark that turns the task's own query
/// through the pool into an error. Released mark first: the next holder can only take
/// the connection once this task's mark is gone.
pub(crate) struct Held<DB: Database> {
    // Fields drop in declaration order: the mark, then the lock.
    _mark: HeldBy,
    slot: OwnedMutexGuard<Slot<DB>>,
}

impl<DB: Database> Deref for Held<DB> {
    type Target = Slot<DB>;

    fn deref(&self) -> &Slot<DB> {
        &self.slot
    }
}

impl<DB: Database> DerefMut for Held<DB> {
    fn deref_mut(&mut self) -> &mut Slot<DB> {
        &mut self.slot
    }
}

impl<DB: Database> OwnedConnection<DB> {
    /// Takes the test's own database out, to discard it.
    pub(crate) fn take_database(&self) -> Option<TestCopy<DB>> {
        self.database
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Wake, Waker};

    use futures_util::FutureExt;
    use ownership_runtime::Actor;
    use sqlx::{Sqlite, SqlitePool};

    use super::{Held, Mark, OwnedConnection};
    use crate::error::SandboxError;

    /// Runs `test` with a connection (to an in-memory SQLite database) checked out for an
    /// actor, on a current-thread runtime whose own thread is not a task.
    fn with_connection(test: impl AsyncFnOnce(Arc<OwnedConnection<Sqlite>>)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let pool = SqlitePool::connect("sqlite::memory:").await.unwrap();
            let actor = Actor::named("conn::tests::owner");
            let connection = pool.acquire().await.unwrap();
            let owned = OwnedConnection::new(
                actor.id(),
                "conn-tests".into(),
                connection,
                false,
                None,
                None,
            );
            test(Arc::new(owned)).await;
        });
    }

    /// Holds the connection in a task of its own, and hands the hold out.
    async fn hold_in_a_task(owned: &Arc<OwnedConnection<Sqlite>>) -> Held<Sqlite> {
        let owned = owned.clone();
        let held = tokio::spawn(async move { owned.hold().await.ok() });
        held.await.unwrap().expect("a free connection")
    }

    /// A hold whose lock is released before its mark (another task takes the connection
    /// in between) leaves the next holder's mark in place: that holder's own query
    /// through the pool is refused, where it would wait for itself forever.
    #[test]
    fn the_end_of_a_hold_clears_its_own_mark_and_never_the_next_holders() {
        with_connection(async |owned| {
            let Held {
                _mark: first_mark,
                slot: first_slot,
            } = hold_in_a_task(&owned).await;
            drop(first_slot);
            // The runtime's own thread, not the first task, holds it next.
            let second = owned.hold().await.unwrap();
            drop(first_mark);
            let nested = owned.lock().now_or_never();
            assert!(
                matches!(nested, Some(Err(SandboxError::HeldByThisTask { .. }))),
                "the holder's own query must be refused, not wait: {:?}",
                nested.map(|locked| locked.map(|_| "the lock"))
            );
            drop(second);
            assert!(
                owned
                    .lock()
                    .now_or_never()
                    .is_some_and(|locked| locked.is_ok())
            );
        });
    }

    /// What a waiter for the connection sees of the holder's mark when it is woken: the
    /// moment the lock is released.
    struct Woken {
        owned: Arc<OwnedConnection<Sqlite>>,
        mark: Mutex<Option<Option<Mark>>>,
    }

    impl Wake for Woken {
        fn wake(self: Arc<Self>) {
            let mark = *self.owned.holder.lock().unwrap();
            self.mark.lock().unwrap().get_or_insert(mark);
        }
    }

    /// A hold ends mark first: by the time its lock wakes the next waiter (synchronously,
    /// in the middle of the hold's drop), no mark is left that the waiter's own could be
    /// mistaken for or cleared with.
    #[test]
    fn a_hold_clears_its_mark_before_it_releases_the_connection() {
        with_connection(async |owned| {
            let held = hold_in_a_task(&owned).await;
            let woken = Arc::new(Woken {
                owned: owned.clone(),
                mark: Mutex::new(None),
            });
            let waker = Waker::from(woken.clone());
            let mut waiting = Box::pin(owned.lock());
            assert!(
                waiting
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
            drop(held);
            assert_eq!(
                *woken.mark.lock().unwrap(),
                Some(None),
                "woken with no mark left"
            );
            assert!(waiting.now_or_never().is_some_and(|locked| locked.is_ok()));
        });
    }
}
