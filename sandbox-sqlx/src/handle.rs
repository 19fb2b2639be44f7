//! The handle app code holds: [`SandboxPool`], the real pool in production and the
//! test's connection under a sandbox; its `Executor` impl is in `executor.rs`.

use std::fmt;
use std::sync::Arc;

use ownership_runtime::{Found, callers};
use sqlx::pool::PoolOptions;
use sqlx::{Executor, Pool};
use sqlx_core::transaction::TransactionManager;

use crate::backend::SandboxDatabase;
use crate::conn::OwnedConnection;
use crate::connection::{ConnectionInner, SandboxConnection};
use crate::driven::Driven;
use crate::error::SandboxError;
use crate::fence::{settle, slot_connection};
use crate::state::State;
use crate::transaction::{SandboxTransaction, TransactionInner};

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
    pub(crate) route: Route<DB>,
}

pub(crate) enum Route<DB: SandboxDatabase> {
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
    /// `&PgPool` takes the test's own pool instead: `#[owned_test] async fn t(pool:
    /// PgPool)` (see [`TestArgs`](crate::TestArgs)), a pool of one connection in the
    /// test's transaction.
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
pub(crate) async fn connection_for_caller<DB: SandboxDatabase>(
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
