//! A checked-out connection: owned by one actor, shared by its tasks one statement (or
//! one transaction) at a time, and rolled back when it goes back to the pool.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ownership_runtime::ActorId;
use sqlx::pool::PoolConnection;
use sqlx::{Database, Executor};
use sqlx_core::transaction::TransactionManager;
use tokio::sync::OwnedMutexGuard;

use crate::backend::{IsolationLevel, SandboxDatabase};
use crate::error::SandboxError;
use crate::sandbox::ConnectionHook;
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
    match ownership_runtime::background::handle() {
        Ok(handle) => {
            let _entered = handle.enter();
            drop(connection);
        }
        // Without a runtime the pool can't take it back: close it instead.
        Err(_) => connection.close_on_drop(),
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
    holder: Arc<Mutex<Option<Holder>>>,
    /// The test's own database, for backends that copy a template per test.
    pub(crate) database: Mutex<Option<TestCopy<DB>>>,
    /// Runs on the connection at checkin, before the rollback.
    pub(crate) pre_checkin: Option<ConnectionHook<DB>>,
}

impl<DB: Database> OwnedConnection<DB> {
    pub(crate) fn new(
        owner: ActorId,
        label: Arc<str>,
        connection: PoolConnection<DB>,
        sandboxed: bool,
        pending_begin: Option<PendingBegin>,
    ) -> Self {
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
    pub(crate) async fn hold(&self) -> Result<(OwnedMutexGuard<Slot<DB>>, HeldBy), SandboxError> {
        let mut slot = self.lock().await?;
        // The holder runs statements the sandbox doesn't see.
        slot.may_have_ended = true;
        *self.holder.lock().unwrap_or_else(PoisonError::into_inner) = Some(Holder::current());
        Ok((
            slot,
            HeldBy {
                holder: self.holder.clone(),
            },
        ))
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
        let holder = *self.holder.lock().unwrap_or_else(PoisonError::into_inner);
        if holder == Some(Holder::current()) {
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
        Err(match slot.revoked {
            Some(timeout) => SandboxError::OwnershipTimeout {
                label: self.label.to_string(),
                owner: self.owner,
                timeout,
            },
            None => SandboxError::CheckedIn {
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

/// Marks the current task as the holder of a connection until dropped.
#[derive(Debug)]
pub(crate) struct HeldBy {
    holder: Arc<Mutex<Option<Holder>>>,
}

impl Drop for HeldBy {
    fn drop(&mut self) {
        *self.holder.lock().unwrap_or_else(PoisonError::into_inner) = None;
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
