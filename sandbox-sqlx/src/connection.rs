//! [`SandboxConnection`]: a connection app code acquired, the test's own under a sandbox.

use std::fmt;
use std::ops::{Deref, DerefMut};

use sqlx::Database;
use sqlx::pool::PoolConnection;

use crate::backend::SandboxDatabase;
use crate::conn::{Held, Slot};

/// A connection from [`SandboxPool::acquire`]; derefs to the database's connection.
///
/// ```no_run
/// # use sandbox_sqlx::SandboxPool;
/// # use sqlx::Postgres;
/// use sqlx::Connection;
///
/// # async fn example(db: SandboxPool<Postgres>) -> sqlx::Result<()> {
/// let mut connection = db.acquire().await?;
/// // The methods of `PgConnection`, through `Deref` and `DerefMut`.
/// connection.ping().await?;
/// assert!(connection.server_version_num().is_some_and(|version| version >= 90_000));
/// # Ok(()) }
/// ```
pub struct SandboxConnection<DB: SandboxDatabase> {
    pub(crate) inner: ConnectionInner<DB>,
}

pub(crate) enum ConnectionInner<DB: SandboxDatabase> {
    /// A connection from the pool (production).
    Pool(PoolConnection<DB>),
    /// The test's connection, held until this is dropped.
    Sandboxed {
        /// The test's connection, held by this task.
        slot: Held<DB>,
    },
}

impl<DB: SandboxDatabase> Deref for SandboxConnection<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        match &self.inner {
            ConnectionInner::Pool(connection) => connection,
            ConnectionInner::Sandboxed { slot, .. } => held_connection(slot),
        }
    }
}

impl<DB: SandboxDatabase> DerefMut for SandboxConnection<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match &mut self.inner {
            ConnectionInner::Pool(connection) => connection,
            ConnectionInner::Sandboxed { slot, .. } => held_connection_mut(slot),
        }
    }
}

impl<DB: SandboxDatabase> fmt::Debug for SandboxConnection<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            ConnectionInner::Pool(_) => f.write_str("SandboxConnection(pool)"),
            ConnectionInner::Sandboxed { .. } => f.write_str("SandboxConnection(sandbox)"),
        }
    }
}

// A held slot always has its connection: `hold` checked it, and only checkin or the
// ownership timeout take it, which wait for the lock this guard holds.
#[expect(
    clippy::expect_used,
    reason = "a held slot always holds its connection"
)]
pub(crate) fn held_connection<DB: Database>(slot: &Slot<DB>) -> &DB::Connection {
    slot.connection
        .as_deref()
        .expect("a held slot holds its connection")
}

#[expect(
    clippy::expect_used,
    reason = "a held slot always holds its connection"
)]
pub(crate) fn held_connection_mut<DB: Database>(slot: &mut Slot<DB>) -> &mut DB::Connection {
    slot.connection
        .as_deref_mut()
        .expect("a held slot holds its connection")
}
