//! [`SandboxTransaction`]: an app's transaction, a savepoint inside the test's.

use std::fmt;
use std::ops::{Deref, DerefMut};

use sqlx::Transaction;
use sqlx_core::transaction::TransactionManager;

use crate::backend::SandboxDatabase;
use crate::conn::Held;
use crate::connection::{held_connection, held_connection_mut};
use crate::fence::slot_connection;

/// A transaction begun by [`SandboxPool::begin`]. Use it like `sqlx::Transaction`: run
/// statements on `&mut *tx`, then `commit()` or `rollback()`; dropping it rolls back.
///
/// ```no_run
/// # use sandbox_sqlx::SandboxPool;
/// # use sqlx::Postgres;
/// # async fn example(db: SandboxPool<Postgres>) -> sqlx::Result<()> {
/// let count = "SELECT count(*) FROM orders";
/// let before: i64 = sqlx::query_scalar(count).fetch_one(&db).await?;
/// {
///     let mut tx = db.begin().await?;
///     sqlx::query("INSERT INTO orders DEFAULT VALUES").execute(&mut *tx).await?;
///     // Dropped here, neither committed nor rolled back: it rolls back.
/// }
/// let after: i64 = sqlx::query_scalar(count).fetch_one(&db).await?;
/// assert_eq!(after, before);
/// # Ok(()) }
/// ```
pub struct SandboxTransaction<DB: SandboxDatabase> {
    pub(crate) inner: TransactionInner<DB>,
}

pub(crate) enum TransactionInner<DB: SandboxDatabase> {
    /// A real transaction on the pool (production); `None` once ended.
    Pool(Option<Transaction<'static, DB>>),
    /// A savepoint in the test's sandbox transaction.
    Sandboxed {
        /// The test's connection, held by this task until the transaction ends.
        slot: Held<DB>,
        /// Whether the savepoint is still open.
        open: bool,
    },
}

impl<DB: SandboxDatabase> SandboxTransaction<DB> {
    /// Commits the transaction (inside a sandbox: releases its savepoint).
    ///
    /// # Errors
    ///
    /// The database's.
    ///
    /// ```no_run
    /// # use sandbox_sqlx::SandboxPool;
    /// # use sqlx::Postgres;
    /// # async fn example(db: SandboxPool<Postgres>) -> sqlx::Result<()> {
    /// let mut tx = db.begin().await?;
    /// sqlx::query("INSERT INTO customers (name) VALUES ('Ada')")
    ///     .execute(&mut *tx)
    ///     .await?;
    /// tx.commit().await?;
    /// // Committed: visible to the rest of the test (and rolled back with it at its end).
    /// let found: i64 = sqlx::query_scalar("SELECT count(*) FROM customers WHERE name = 'Ada'")
    ///     .fetch_one(&db)
    ///     .await?;
    /// assert_eq!(found, 1);
    /// # Ok(()) }
    /// ```
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        match &mut self.inner {
            TransactionInner::Pool(transaction) => match transaction.take() {
                Some(transaction) => transaction.commit().await,
                None => Ok(()),
            },
            TransactionInner::Sandboxed { slot, open, .. } => {
                DB::TransactionManager::commit(slot_connection(slot)?).await?;
                *open = false;
                Ok(())
            }
        }
    }

    /// Rolls the transaction back (inside a sandbox: to its savepoint).
    ///
    /// # Errors
    ///
    /// The database's.
    ///
    /// ```no_run
    /// # use sandbox_sqlx::SandboxPool;
    /// # use sqlx::Postgres;
    /// # async fn example(db: SandboxPool<Postgres>) -> sqlx::Result<()> {
    /// let mut tx = db.begin().await?;
    /// let failed = sqlx::query("SELECT 1 / 0").execute(&mut *tx).await;
    /// assert!(failed.is_err()); // PostgreSQL has aborted the transaction
    /// tx.rollback().await?;
    /// // Rolled back to its savepoint: the test's connection works again.
    /// let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&db).await?;
    /// assert_eq!(one, 1);
    /// # Ok(()) }
    /// ```
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        match &mut self.inner {
            TransactionInner::Pool(transaction) => match transaction.take() {
                Some(transaction) => transaction.rollback().await,
                None => Ok(()),
            },
            TransactionInner::Sandboxed { slot, open, .. } => {
                DB::TransactionManager::rollback(slot_connection(slot)?).await?;
                *open = false;
                Ok(())
            }
        }
    }
}

impl<DB: SandboxDatabase> Drop for SandboxTransaction<DB> {
    fn drop(&mut self) {
        if let TransactionInner::Sandboxed {
            slot, open: true, ..
        } = &mut self.inner
            && let Some(connection) = slot.connection.as_deref_mut()
        {
            // Queued: runs before the connection's next statement, as sqlx does.
            DB::TransactionManager::start_rollback(connection);
        }
    }
}

impl<DB: SandboxDatabase> Deref for SandboxTransaction<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        match &self.inner {
            TransactionInner::Pool(transaction) => ended(transaction.as_deref()),
            TransactionInner::Sandboxed { slot, .. } => held_connection(slot),
        }
    }
}

impl<DB: SandboxDatabase> DerefMut for SandboxTransaction<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match &mut self.inner {
            TransactionInner::Pool(transaction) => ended(transaction.as_deref_mut()),
            TransactionInner::Sandboxed { slot, .. } => held_connection_mut(slot),
        }
    }
}

impl<DB: SandboxDatabase> fmt::Debug for SandboxTransaction<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            TransactionInner::Pool(_) => f.write_str("SandboxTransaction(pool)"),
            TransactionInner::Sandboxed { .. } => f.write_str("SandboxTransaction(savepoint)"),
        }
    }
}

// A production transaction is only taken out by `commit` and `rollback`, which consume
// the `SandboxTransaction`: no deref can see it gone.
#[expect(
    clippy::expect_used,
    reason = "only commit and rollback end it, consuming the wrapper"
)]
fn ended<T>(transaction: Option<T>) -> T {
    transaction.expect("a transaction is only ended by commit or rollback")
}
