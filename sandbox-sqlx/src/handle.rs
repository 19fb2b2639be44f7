//! The handle app code holds: [`SandboxPool`], an `sqlx::Executor` that is the real pool
//! in production and the test's connection under a sandbox.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use ownership_runtime::{Found, callers};
use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::{
    AssertSqlSafe, Database, Either, Execute, Executor, Pool, SqlSafeStr, SqlStr, Transaction,
};
use sqlx_core::transaction::TransactionManager;

use crate::backend::{FENCE, FENCE_AGAIN, FENCE_RELEASE, FENCE_ROLLBACK, SandboxDatabase};
use crate::conn::{Held, OwnedConnection, Slot};
use crate::error::SandboxError;
use crate::reconnect;
use crate::sandbox::{Driven, State};

/// A cheap, cloneable handle to a database pool that app code queries through
/// (`query.execute(&pool)`, `pool.begin()`, `pool.acquire()`).
///
/// Made from a plain `sqlx::Pool` (production: every call goes straight to the pool), or
/// by [`Sandbox::pool`](crate::Sandbox::pool) (tests: every call runs on the connection
/// owned by the caller's test, inside its sandbox transaction).
///
/// ```no_run
/// use sandbox_sqlx::SandboxPool;
/// use sqlx::{PgPool, Postgres};
///
/// async fn count_orders(db: &SandboxPool<Postgres>) -> sqlx::Result<i64> {
///     sqlx::query_scalar("SELECT count(*) FROM orders").fetch_one(db).await
/// }
///
/// # async fn production() -> sqlx::Result<()> {
/// let db = SandboxPool::from(PgPool::connect("postgres://root@127.0.0.1/test").await?);
/// count_orders(&db).await?;
/// # Ok(()) }
/// ```
pub struct SandboxPool<DB: SandboxDatabase> {
    route: Route<DB>,
}

enum Route<DB: SandboxDatabase> {
    Pool(Pool<DB>),
    Sandbox(Arc<State<DB>>),
}

impl<DB: SandboxDatabase> Clone for SandboxPool<DB> {
    fn clone(&self) -> Self {
        SandboxPool {
            route: match &self.route {
                Route::Pool(pool) => Route::Pool(pool.clone()),
                Route::Sandbox(state) => Route::Sandbox(state.clone()),
            },
        }
    }
}

impl<DB: SandboxDatabase> fmt::Debug for SandboxPool<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.route {
            Route::Pool(_) => f.write_str("SandboxPool(production pool)"),
            Route::Sandbox(state) => write!(f, "SandboxPool(sandbox `{}`)", state.label),
        }
    }
}

impl<DB: SandboxDatabase> From<Pool<DB>> for SandboxPool<DB> {
    fn from(pool: Pool<DB>) -> Self {
        SandboxPool {
            route: Route::Pool(pool),
        }
    }
}

impl<DB: SandboxDatabase> SandboxPool<DB> {
    /// The production pool this handle was made from (`SandboxPool::from(pool)`); `None`
    /// inside a sandbox.
    ///
    /// A sandbox's connections belong to its background runtime, which outlives every
    /// test's. A test that queried the sandbox's pool itself would open connections on its
    /// own runtime and hand them back to the pool, where they die with that runtime: the
    /// next test to get one would fail ("A Tokio 1.x context was found, but it is being
    /// shutdown"), and so would its checkin. So inside a sandbox there is no pool to
    /// query: query through the handle (`&db`, [`begin`](SandboxPool::begin),
    /// [`acquire`](SandboxPool::acquire)), and read the pool's settings and statistics with
    /// [`options`](SandboxPool::options), [`size`](SandboxPool::size) and
    /// [`num_idle`](SandboxPool::num_idle). Code under test that needs a concrete
    /// `&PgPool` can't run in a sandbox: give each of its tests a database of its own with
    /// [`TemplateDatabase`](crate::TemplateDatabase), whose pool belongs to the test.
    ///
    /// ```
    /// use sandbox_sqlx::{Sandbox, SandboxPool};
    /// use sqlx::Postgres;
    /// use sqlx::postgres::PgPoolOptions;
    ///
    /// # tokio::runtime::Builder::new_current_thread()
    /// #     .enable_all().build().unwrap().block_on(async {
    /// let pool = PgPoolOptions::new().connect_lazy("postgres://root@127.0.0.1/test")?;
    /// let production = SandboxPool::from(pool);
    /// // In production, the pool itself (to close it at shutdown, say).
    /// assert!(production.inner().is_some_and(|pool| !pool.is_closed()));
    ///
    /// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1/test")
    ///     .build()?;
    /// assert!(sandbox.pool().inner().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn inner(&self) -> Option<&Pool<DB>> {
        match &self.route {
            Route::Pool(pool) => Some(pool),
            Route::Sandbox(_) => None,
        }
    }

    /// The pool's options (size, timeouts): the production pool's, or the sandbox's.
    ///
    /// ```
    /// use sandbox_sqlx::SandboxPool;
    /// use sqlx::postgres::PgPoolOptions;
    ///
    /// # tokio::runtime::Builder::new_current_thread()
    /// #     .enable_all().build().unwrap().block_on(async {
    /// let pool = PgPoolOptions::new()
    ///     .max_connections(3)
    ///     .connect_lazy("postgres://root@127.0.0.1/test")?;
    /// let db = SandboxPool::from(pool);
    /// assert_eq!(db.options().get_max_connections(), 3);
    /// # Ok::<(), sqlx::Error>(())
    /// # })?;
    /// # Ok::<(), sqlx::Error>(())
    /// ```
    pub fn options(&self) -> &PoolOptions<DB> {
        self.pool().options()
    }

    /// How many connections the pool holds now, in use and idle.
    ///
    /// ```
    /// use sandbox_sqlx::Sandbox;
    /// use sqlx::Postgres;
    ///
    /// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1/test")
    ///     .build()?;
    /// assert_eq!(sandbox.pool().size(), 0); // connections open at the first checkout
    /// # Ok::<(), sandbox_sqlx::SandboxError>(())
    /// ```
    pub fn size(&self) -> u32 {
        self.pool().size()
    }

    /// How many of the pool's connections are idle: none is checked out or in use.
    ///
    /// ```
    /// use sandbox_sqlx::Sandbox;
    /// use sqlx::MySql;
    ///
    /// let sandbox = Sandbox::<MySql>::builder("app-db", "mysql://root@127.0.0.1:3306/test")
    ///     .build()?;
    /// let db = sandbox.pool();
    /// assert!(db.num_idle() <= db.size() as usize);
    /// # Ok::<(), sandbox_sqlx::SandboxError>(())
    /// ```
    pub fn num_idle(&self) -> usize {
        self.pool().num_idle()
    }

    fn pool(&self) -> &Pool<DB> {
        match &self.route {
            Route::Pool(pool) => pool,
            Route::Sandbox(state) => &state.pool,
        }
    }
}

impl<DB: SandboxDatabase> SandboxPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    pub(crate) fn sandboxed(state: Arc<State<DB>>) -> Self {
        SandboxPool {
            route: Route::Sandbox(state),
        }
    }

    /// Begins a transaction: a real one in production; inside a sandbox, a savepoint in
    /// the test's transaction (commit releases it, rollback or drop rolls back to it).
    ///
    /// # Errors
    ///
    /// The database's, or the sandbox's (no connection for this actor, ...).
    ///
    /// ```no_run
    /// use sandbox_sqlx::SandboxPool;
    /// use sqlx::Postgres;
    ///
    /// // Both updates or neither; inside a test, the commit only releases a savepoint.
    /// async fn transfer(db: &SandboxPool<Postgres>, from: i64, to: i64) -> sqlx::Result<()> {
    ///     let mut tx = db.begin().await?;
    ///     let debit = "UPDATE accounts SET balance = balance - 10 WHERE id = $1";
    ///     sqlx::query(debit).bind(from).execute(&mut *tx).await?;
    ///     let credit = "UPDATE accounts SET balance = balance + 10 WHERE id = $1";
    ///     sqlx::query(credit).bind(to).execute(&mut *tx).await?;
    ///     tx.commit().await
    /// }
    /// # let _ = transfer;
    /// ```
    pub async fn begin(&self) -> Result<SandboxTransaction<DB>, sqlx::Error> {
        match &self.route {
            Route::Pool(pool) => Ok(SandboxTransaction {
                inner: TransactionInner::Pool(Some(pool.begin().await?)),
            }),
            Route::Sandbox(state) => {
                let owned = connection_for_caller(state).await?;
                let mut slot = owned.hold().await?;
                settle(&mut slot).await?;
                let connection = slot_connection(&mut slot)?;
                DB::TransactionManager::begin(connection, None).await?;
                Ok(SandboxTransaction {
                    inner: TransactionInner::Sandboxed { slot, open: true },
                })
            }
        }
    }

    /// A connection for several statements in a row: from the pool in production; inside
    /// a sandbox, the test's connection, which the test's other tasks wait for meanwhile.
    ///
    /// # Errors
    ///
    /// As [`SandboxPool::begin`].
    ///
    /// ```no_run
    /// # use sandbox_sqlx::SandboxPool;
    /// # use sqlx::Postgres;
    /// # async fn example(db: SandboxPool<Postgres>) -> sqlx::Result<()> {
    /// // A session setting holds for the statements that follow on the same connection.
    /// let mut connection = db.acquire().await?;
    /// sqlx::query("SELECT set_config('app.user', 'ada', false)")
    ///     .execute(&mut *connection)
    ///     .await?;
    /// let user: String = sqlx::query_scalar("SELECT current_setting('app.user')")
    ///     .fetch_one(&mut *connection)
    ///     .await?;
    /// assert_eq!(user, "ada");
    /// # Ok(()) }
    /// ```
    pub async fn acquire(&self) -> Result<SandboxConnection<DB>, sqlx::Error> {
        match &self.route {
            Route::Pool(pool) => Ok(SandboxConnection {
                inner: ConnectionInner::Pool(pool.acquire().await?),
            }),
            Route::Sandbox(state) => {
                let owned = connection_for_caller(state).await?;
                let mut slot = owned.hold().await?;
                settle(&mut slot).await?;
                slot_connection(&mut slot)?;
                Ok(SandboxConnection {
                    inner: ConnectionInner::Sandboxed { slot },
                })
            }
        }
    }
}

/// The connection the current callers chain uses: its owner's, or a new one in auto mode.
async fn connection_for_caller<DB: SandboxDatabase>(
    state: &Arc<State<DB>>,
) -> Result<Arc<OwnedConnection<DB>>, SandboxError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let chain = callers();
    let found = state.owners.fetch_owner(&chain, &());
    if let Some(found) = found
        && let Some(owned) = state.owners.metadata(found.id(), &())
    {
        return Ok(owned);
    }
    let actor = match found {
        Some(Found::SharedOwner(owner)) => owner,
        _ => *chain.first().ok_or_else(|| SandboxError::NoActor {
            label: state.label.to_string(),
        })?,
    };
    if state.is_auto() {
        return state
            .checkout(actor, state.defaults(), Driven::Spawned)
            .await;
    }
    Err(SandboxError::NoConnection {
        label: state.label.to_string(),
        actor,
        callers: Box::new(chain),
        mode: state.mode(),
    })
}

fn slot_connection<DB: Database>(slot: &mut Slot<DB>) -> Result<&mut DB::Connection, SandboxError> {
    // `OwnedConnection::lock` only hands out slots that hold a connection.
    slot.connection
        .as_deref_mut()
        .ok_or_else(|| SandboxError::Runtime {
            label: String::new(),
            message: "the connection is gone".to_owned(),
        })
}

/// Gets the connection ready for work that is not one fenced statement (an app
/// transaction, an acquired connection, a prepare): begins the sandbox's transaction if
/// it hasn't begun, and releases an open statement fence.
pub(crate) async fn settle<DB: SandboxDatabase>(slot: &mut Slot<DB>) -> Result<(), sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    begin_pending(slot, false).await?;
    if slot.fence_open {
        slot_connection(slot)?.execute(FENCE_RELEASE).await?;
        slot.fence_open = false;
    }
    Ok(())
}

/// Gets the connection ready for one statement, and says whether the statement is
/// fenced: if it needs a fence, sets one in one round trip (with the `BEGIN` of the
/// sandbox's transaction, or the release of the previous fence); otherwise as [`settle`].
async fn fence<DB: SandboxDatabase>(slot: &mut Slot<DB>) -> Result<bool, sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    if !needs_fence(slot) {
        settle(slot).await?;
        return Ok(false);
    }
    if !begin_pending(slot, true).await? {
        let fence = if slot.fence_open { FENCE_AGAIN } else { FENCE };
        slot_connection(slot)?.execute(fence).await?;
    }
    slot.fence_open = true;
    Ok(true)
}

/// Begins the sandbox's transaction if it is still to begin (after taking the tests'
/// lock, for serialized tests), setting a statement fence in the same round trip if
/// `fenced`. Returns whether it began.
async fn begin_pending<DB: SandboxDatabase>(
    slot: &mut Slot<DB>,
    fenced: bool,
) -> Result<bool, sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let Some(pending) = slot.pending_begin.clone() else {
        reconnect::check_unsandboxed(slot).await?;
        return Ok(false);
    };
    if let Some(take_turn) = &pending.take_turn
        && slot.turn.is_none()
    {
        slot.turn = Some(take_turn().await?);
    }
    let begin = DB::begin_statement(pending.isolation);
    let begin = if fenced {
        let begin = begin.as_ref().map_or("BEGIN", SqlStr::as_str);
        Some(AssertSqlSafe(format!("{begin}; {FENCE}")).into_sql_str())
    } else {
        begin
    };
    // The checkout's first round trip: a connection found closed is replaced, once.
    let begun = DB::TransactionManager::begin(slot_connection(slot)?, begin.clone()).await;
    if let Err(error) = begun {
        reconnect::replace_closed(slot, error).await?;
        DB::TransactionManager::begin(slot_connection(slot)?, begin).await?;
    }
    slot.replacement = None;
    slot.pending_begin = None;
    Ok(true)
}

/// Whether statements on this connection need a fence: the database needs it, the
/// connection is sandboxed, and no app transaction is open (at depth 1, a production
/// connection would be in autocommit mode, where a failed statement harms nothing).
fn needs_fence<DB: SandboxDatabase>(slot: &Slot<DB>) -> bool {
    DB::FENCE_STATEMENTS
        && slot.sandboxed
        && (slot.pending_begin.is_some()
            || slot.connection.as_deref().is_some_and(|connection| {
                DB::TransactionManager::get_transaction_depth(connection) == 1
            }))
}

impl<'p, DB: SandboxDatabase> Executor<'p> for &'p SandboxPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let state = match &self.route {
            Route::Pool(pool) => return pool.fetch_many(query),
            Route::Sandbox(state) => state.clone(),
        };
        let query = Inspected::new(query);
        Box::pin(async_stream::try_stream! {
            let owned = connection_for_caller(&state).await?;
            let mut slot = owned.lock().await?;
            // Until the fence is set (and if it fails), whether the transaction is still
            // open is for checkin to ask.
            let ended_before = std::mem::replace(&mut slot.may_have_ended, true);
            let fenced = fence(&mut slot).await?;
            slot.may_have_ended = ended_before || query.may_end_transaction();
            let mut failure = None;
            {
                let connection = slot_connection(&mut slot)?;
                let mut results = connection.fetch_many(query);
                while let Some(result) = results.next().await {
                    match result {
                        Ok(step) => yield step,
                        Err(error) => {
                            failure = Some(error);
                            break;
                        }
                    }
                }
            }
            if fenced && failure.is_some() {
                let ended_before = std::mem::replace(&mut slot.may_have_ended, true);
                slot_connection(&mut slot)?.execute(FENCE_ROLLBACK).await?;
                slot.may_have_ended = ended_before;
            }
            if let Some(error) = failure {
                Err(error)?;
            }
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        if let Route::Pool(pool) = &self.route {
            return pool.fetch_optional(query);
        }
        // Runs the statement to its end (so that a failure rolls back to its fence), keeping the
        // first row.
        let steps = self.fetch_many(query);
        Box::pin(async move {
            let mut steps = steps;
            let mut first = None;
            while let Some(step) = steps.try_next().await? {
                if let (Either::Right(row), None) = (step, &first) {
                    first = Some(row);
                }
            }
            Ok(first)
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, sqlx::Error>>
    where
        'p: 'e,
    {
        let state = match &self.route {
            Route::Pool(pool) => return pool.prepare_with(sql, parameters),
            Route::Sandbox(state) => state.clone(),
        };
        Box::pin(async move {
            let owned = connection_for_caller(&state).await?;
            let mut slot = owned.lock().await?;
            settle(&mut slot).await?;
            slot_connection(&mut slot)?
                .prepare_with(sql, parameters)
                .await
        })
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<DB>, sqlx::Error>>
    where
        'p: 'e,
    {
        let state = match &self.route {
            Route::Pool(pool) => return pool.describe(sql),
            Route::Sandbox(state) => state.clone(),
        };
        Box::pin(async move {
            let owned = connection_for_caller(&state).await?;
            let mut slot = owned.lock().await?;
            settle(&mut slot).await?;
            slot_connection(&mut slot)?.describe(sql).await
        })
    }
}

/// A statement taken apart to read its SQL (which `Execute` only gives up by value),
/// and put back together to run.
struct Inspected<DB: Database> {
    sql: SqlStr,
    statement: Option<DB::Statement>,
    arguments: Option<Result<Option<DB::Arguments>, sqlx::error::BoxDynError>>,
    persistent: bool,
}

impl<DB: SandboxDatabase> Inspected<DB> {
    fn new<'q>(mut query: impl Execute<'q, DB>) -> Self {
        let arguments = Some(query.take_arguments());
        let (statement, persistent) = (query.statement().cloned(), query.persistent());
        Inspected {
            sql: query.sql(),
            statement,
            arguments,
            persistent,
        }
    }

    fn may_end_transaction(&self) -> bool {
        DB::may_end_transaction(self.sql.as_str())
    }
}

impl<DB: Database> Execute<'_, DB> for Inspected<DB> {
    fn sql(self) -> SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&DB::Statement> {
        self.statement.as_ref()
    }

    fn take_arguments(&mut self) -> Result<Option<DB::Arguments>, sqlx::error::BoxDynError> {
        self.arguments.take().unwrap_or(Ok(None))
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}

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
    inner: TransactionInner<DB>,
}

enum TransactionInner<DB: SandboxDatabase> {
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
    inner: ConnectionInner<DB>,
}

enum ConnectionInner<DB: SandboxDatabase> {
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
fn held_connection<DB: Database>(slot: &Slot<DB>) -> &DB::Connection {
    slot.connection
        .as_deref()
        .expect("a held slot holds its connection")
}

#[expect(
    clippy::expect_used,
    reason = "a held slot always holds its connection"
)]
fn held_connection_mut<DB: Database>(slot: &mut Slot<DB>) -> &mut DB::Connection {
    slot.connection
        .as_deref_mut()
        .expect("a held slot holds its connection")
}
