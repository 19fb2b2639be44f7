//! A checked-out connection: owned by one actor, shared by its tasks one statement (or
//! one transaction) at a time, and rolled back when it goes back to the pool.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ownership_runtime::ActorId;
use sqlx::Database;
use sqlx::pool::PoolConnection;
use sqlx_core::transaction::TransactionManager;
use tokio::sync::OwnedMutexGuard;
use tokio::task::AbortHandle;

use crate::error::SandboxError;
use crate::template::TestDatabase;

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
    /// Whether a statement fence (savepoint) was left open by a dropped stream.
    pub(crate) fence_open: bool,
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
    if sandboxed && DB::TransactionManager::get_transaction_depth(&connection) > 0 {
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

/// A connection checked out by one owner.
pub(crate) struct OwnedConnection<DB: Database> {
    pub(crate) owner: ActorId,
    pub(crate) label: Arc<str>,
    slot: Arc<tokio::sync::Mutex<Slot<DB>>>,
    /// Held across statements by a transaction or an acquired connection.
    holder: Arc<Mutex<Option<Holder>>>,
    /// The task that takes the connection back after the ownership timeout.
    pub(crate) timeout: Mutex<Option<AbortHandle>>,
    /// The test's own database, for backends that copy a template per test.
    pub(crate) database: Mutex<Option<TestDatabase<DB>>>,
}

impl<DB: Database> OwnedConnection<DB> {
    pub(crate) fn new(
        owner: ActorId,
        label: Arc<str>,
        connection: PoolConnection<DB>,
        sandboxed: bool,
    ) -> Self {
        OwnedConnection {
            owner,
            label,
            slot: Arc::new(tokio::sync::Mutex::new(Slot {
                connection: Some(connection),
                revoked: None,
                sandboxed,
                fence_open: false,
            })),
            holder: Arc::new(Mutex::new(None)),
            timeout: Mutex::new(None),
            database: Mutex::new(None),
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
        let slot = self.lock().await?;
        *self.holder.lock().unwrap_or_else(PoisonError::into_inner) = Some(Holder::current());
        Ok((
            slot,
            HeldBy {
                holder: self.holder.clone(),
            },
        ))
    }

    /// Takes the connection out for checkin; later users get an error.
    pub(crate) async fn take(&self) -> Option<(PoolConnection<DB>, bool)> {
        let mut slot = self.slot.clone().lock_owned().await;
        let sandboxed = slot.sandboxed;
        slot.connection
            .take()
            .map(|connection| (connection, sandboxed))
    }

    /// Takes the connection back after the ownership timeout.
    pub(crate) async fn revoke(&self, timeout: Duration) -> Option<(PoolConnection<DB>, bool)> {
        let mut slot = self.slot.clone().lock_owned().await;
        slot.revoked = Some(timeout);
        let sandboxed = slot.sandboxed;
        slot.connection
            .take()
            .map(|connection| (connection, sandboxed))
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
    pub(crate) fn take_database(&self) -> Option<TestDatabase<DB>> {
        self.database
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl<DB: Database> Drop for OwnedConnection<DB> {
    fn drop(&mut self) {
        if let Some(timeout) = self
            .timeout
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            timeout.abort();
        }
    }
}
