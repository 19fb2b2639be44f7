//! The plain `sqlx::Pool` a test takes as an argument (`async fn t(pool: PgPool)`): a pool
//! of one connection, opened for the test, whose transaction the sandbox began, so that
//! everything the app does through the pool (its `begin()`s become savepoints, by sqlx's
//! own transaction depth) is rolled back when the test ends.
//!
//! - **One connection.** Every clone of the pool, in every task of the test, uses the
//!   test's one connection, one at a time. Two tasks that each wait for the other's
//!   connection (a transaction held while the same test queries the pool) get sqlx's
//!   `PoolTimedOut` after [`ACQUIRE_TIMEOUT`], not a hang.
//! - **Statement fences** (PostgreSQL, where a failing statement aborts the transaction):
//!   the connection holds a savepoint whenever it sits in the pool; each time it comes
//!   back, the savepoint is released and set again in one round trip, or, if a statement
//!   failed, rolled back to. A statement that fails through `&pool` (a unique violation
//!   the test provokes) therefore doesn't poison the rest of the test. Statements on a
//!   connection the test holds (`pool.acquire()`, a `PoolConnection` argument) share one
//!   fence: after one fails, PostgreSQL refuses the others until the connection goes
//!   back to the pool.
//! - **A transaction ended behind the sandbox's back** (a raw `COMMIT` or `ROLLBACK`,
//!   MySQL's implicit commit on DDL) is noticed when the connection comes back (on
//!   PostgreSQL) or when the test ends, and fails the test; on PostgreSQL the sandbox
//!   begins again at once, so that only what came before the `COMMIT` was committed.
//! - **A lost connection** (the server went away) is not replaced: a new connection
//!   would not see what the test wrote. The pool's next acquire fails, saying so.
//! - On SQLite, the pool is on the test's own copy of the migrated template, deleted when
//!   the test ends: nothing to roll back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ownership_runtime::{ActorId, background};
use sqlx::pool::PoolOptions;
use sqlx::{AssertSqlSafe, Executor, Pool, SqlSafeStr};
use sqlx_core::transaction::TransactionManager;

use crate::backend::{FENCE, FENCE_AGAIN, FENCE_ROLLBACK, SandboxDatabase};
use crate::closed::sqlstate;
use crate::error::SandboxError;
use crate::reach::AcquireError;
use crate::state::State;
use crate::template::{self, TestCopy};

/// How long a task of the test waits for the test's one connection before sqlx's
/// `PoolTimedOut`: long enough for any statement of a test, short enough that two tasks
/// that wait on each other fail the test quickly.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the end of a test waits for the pool's connection to come back (from a task
/// of the test that returns it as it ends) before reporting it still in use.
const RETURN_WAIT: Duration = Duration::from_secs(2);

/// What the pool's hooks saw, for the report at the end of the test.
#[derive(Default)]
struct Watch {
    /// The pool opened its connection (a second one is refused).
    connected: AtomicBool,
    /// A release found the sandbox's transaction ended.
    ended: AtomicBool,
}

/// A test's own pool, and what it takes to end it.
pub(crate) struct TestPool<DB: SandboxDatabase> {
    pool: Pool<DB>,
    watch: Arc<Watch>,
    /// SQLite: the test's copy of the template (deleted when dropped).
    copy: Option<TestCopy<DB>>,
}

impl<DB: SandboxDatabase> TestPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Opens a test's pool on the sandbox's database (migrated first, once per run), on
    /// the background runtime, which drives the pool's connection.
    pub(crate) async fn open(state: &Arc<State<DB>>) -> Result<TestPool<DB>, SandboxError> {
        state.migrate().await?;
        let label = state.label.to_string();
        let watch = Arc::new(Watch::default());
        if DB::PER_TEST_DATABASE {
            let template = template::template_file(state.url.as_str());
            let (copies, wait) = (state.copies.clone(), ACQUIRE_TIMEOUT);
            let copy = background::run(async move {
                template::copy_template::<DB>(&template, copies, wait, one_connection()).await
            })
            .await
            .map_err(|source| SandboxError::Background {
                label: label.clone(),
                source,
            })?
            .map_err(|source| SandboxError::Database {
                label,
                context: "could not copy the template for the test",
                source,
            })?;
            return Ok(TestPool {
                pool: copy.pool().clone(),
                watch,
                copy: Some(copy),
            });
        }
        let options = with_sandbox_hooks(one_connection(), &watch, state);
        let connect = (*state.pool.connect_options()).clone();
        let (reach, url) = (state.reach.clone(), state.url.clone());
        let opened = background::run(async move {
            let opened = options.connect_with(connect).await;
            reach.record::<DB, _>(opened, &url)
        })
        .await
        .map_err(|source| SandboxError::Background {
            label: label.clone(),
            source,
        })?;
        match opened {
            Ok(pool) => Ok(TestPool {
                pool,
                watch,
                copy: None,
            }),
            Err(AcquireError::Unreachable(failure)) => {
                Err(SandboxError::Unreachable { label, failure })
            }
            Err(AcquireError::Pool(source)) => Err(SandboxError::Database {
                label,
                context: "could not open the test's pool",
                source,
            }),
        }
    }

    /// The pool, for the test.
    pub(crate) fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// Ends the test's pool: checks that the sandbox's transaction was still open, rolls
    /// it back and closes the connection (a SQLite copy is deleted). Returns what went
    /// wrong, for the test's report.
    pub(crate) async fn close(self, label: &str, test: ActorId) -> Vec<SandboxError> {
        let TestPool { pool, watch, copy } = self;
        let label = label.to_owned();
        let closed = background::run(async move {
            let mut problems = Vec::new();
            if copy.is_none() {
                problems.extend(roll_back(&pool, &watch, &label, test).await);
            }
            if tokio::time::timeout(RETURN_WAIT, pool.close())
                .await
                .is_err()
            {
                problems.push(SandboxError::TestConnectionInUse {
                    label: label.clone(),
                });
            }
            drop(copy);
            problems
        })
        .await;
        closed.unwrap_or_else(|source| {
            vec![SandboxError::Background {
                label: String::new(),
                source,
            }]
        })
    }
}

/// Rolls the test's transaction back on the pool's connection, once it is back in the
/// pool, and closes it; reports a transaction found ended.
async fn roll_back<DB: SandboxDatabase>(
    pool: &Pool<DB>,
    watch: &Watch,
    label: &str,
    test: ActorId,
) -> Option<SandboxError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let connection = if pool.size() == 0 {
        None // lost, or never opened: nothing is open on the server
    } else {
        tokio::time::timeout(RETURN_WAIT, pool.acquire()).await.ok()
    };
    let mut ended = watch.ended.load(Ordering::SeqCst);
    if let Some(Ok(connection)) = connection {
        let mut connection = connection.detach();
        // A broken connection can't tell; closing it rolls back what is left.
        if let Ok(open) = DB::in_transaction(&mut connection).await {
            ended |= !open;
        }
        let _ = (&mut connection).execute("ROLLBACK").await;
        let _ = sqlx::Connection::close(connection).await;
    }
    ended.then(|| SandboxError::TransactionEnded {
        label: label.to_owned(),
        owner: test,
        cause: DB::ENDED_BY,
    })
}

/// A pool of one connection that stays open for the whole test.
fn one_connection<DB: SandboxDatabase>() -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
}

/// The hooks that make the pool the test's sandbox: its connection begins the sandbox's
/// transaction (after the tests' turn, where tests are serialized), and a second
/// connection is refused; on PostgreSQL, each release renews the statement fence.
fn with_sandbox_hooks<DB: SandboxDatabase>(
    options: PoolOptions<DB>,
    watch: &Arc<Watch>,
    state: &State<DB>,
) -> PoolOptions<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let connected = watch.clone();
    let (isolation, serialize) = (state.defaults.isolation, state.turns.is_some());
    let wait = state.pool.options().get_acquire_timeout();
    let options = options.after_connect(move |connection, _| {
        let watch = connected.clone();
        Box::pin(async move {
            if watch.connected.swap(true, Ordering::SeqCst) {
                return Err(sqlx::Error::Configuration(LOST.into()));
            }
            if serialize && !DB::lock_tests(connection, wait).await? {
                return Err(sqlx::Error::PoolTimedOut);
            }
            let begin = DB::begin_statement(isolation);
            let begin = if DB::FENCE_STATEMENTS {
                let begin = begin.as_ref().map_or("BEGIN", |sql| sql.as_str());
                Some(AssertSqlSafe(format!("{begin}; {FENCE}")).into_sql_str())
            } else {
                begin
            };
            DB::TransactionManager::begin(connection, begin).await
        })
    });
    if !DB::FENCE_STATEMENTS {
        return options;
    }
    let released = watch.clone();
    options.after_release(move |connection, _| {
        let watch = released.clone();
        Box::pin(async move {
            renew_fence::<DB>(connection, &watch).await?;
            Ok(true)
        })
    })
}

/// Why the pool refuses a second connection.
const LOST: &str = "sandbox-sqlx: the test's connection to the database was lost (the server \
     closed it, or a query was cancelled mid-flight), and with it the test's transaction: a \
     new connection would not see what the test wrote, so the test's pool opens no other. \
     Find what closed it (a server restart, `pg_terminate_backend`, a dropped future)";

/// Releases the statement fence and sets it again; after a failed statement, rolls back
/// to it; after the sandbox's transaction ended, notes it and begins again.
async fn renew_fence<DB: SandboxDatabase>(
    connection: &mut DB::Connection,
    watch: &Watch,
) -> Result<(), sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let Err(error) = connection.execute(sqlx::raw_sql(FENCE_AGAIN)).await else {
        return Ok(());
    };
    match sqlstate(&error).as_deref() {
        // A statement failed: back to the fence, which stays set.
        Some("25P02") => connection
            .execute(sqlx::raw_sql(FENCE_ROLLBACK))
            .await
            .map(|_| ()),
        // No transaction (a raw `COMMIT`/`ROLLBACK`), or no fence (a `ROLLBACK` to an
        // earlier savepoint of the app's): begin again, fenced.
        Some("25P01" | "3B001") => {
            watch.ended.store(true, Ordering::SeqCst);
            connection
                .execute(sqlx::raw_sql(AssertSqlSafe(format!("BEGIN; {FENCE}"))))
                .await
                .map(|_| ())
        }
        _ => Err(error),
    }
}
