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
//! - **Kept for the next test.** A pool whose test ended cleanly is rolled back, begins
//!   again and waits for the next test of the process (see `spare_pools.rs`): its
//!   connection and the statements prepared on it serve test after test. Code of
//!   another actor that uses it (a clone kept past its test) fails the test whose pool
//!   it used. Where tests are serialized (MySQL's default), each test opens its own; a
//!   process that runs one test (nextest) keeps none.
//! - On SQLite, the pool is on the test's own copy of the migrated template, thrown away
//!   when the test ends: nothing to roll back. The copy is in memory (its one connection
//!   holds it: the pool opens no other, and a test that closed or detached it fails,
//!   saying so), or, for a test that connects by itself (`(SqlitePoolOptions,
//!   SqliteConnectOptions)`), a file beside the template, deleted after the test.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ownership_runtime::{ActorId, background};
use sqlx::pool::PoolOptions;
use sqlx::{AssertSqlSafe, Executor, Pool, SqlSafeStr};
use sqlx_core::transaction::TransactionManager;

use crate::backend::{FENCE, FENCE_AGAIN, FENCE_ROLLBACK, IsolationLevel, SandboxDatabase};
use crate::closed::sqlstate;
use crate::error::SandboxError;
use crate::process_mode::process_per_test;
use crate::reach::AcquireError;
use crate::spare_pools::{PoolWatch, SparePool};
use crate::state::State;
use crate::template::{self, Place, TestCopy};

/// How long a task of the test waits for the test's one connection before sqlx's
/// `PoolTimedOut`: long enough for any statement of a test, short enough that two tasks
/// that wait on each other fail the test quickly.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a test waits for its connection through the run's relay before it connects
/// directly: a live relay answers in milliseconds (sqlx would retry a dead one's socket
/// until the pool's acquire timeout).
const RELAY_WAIT: Duration = Duration::from_secs(1);

/// How long the end of a test waits for the pool's connection to come back (from a task
/// of the test that returns it as it ends) before reporting it still in use.
const RETURN_WAIT: Duration = Duration::from_secs(2);

/// A test's own pool, and what it takes to end it.
pub(crate) struct TestPool<DB: SandboxDatabase> {
    pool: Pool<DB>,
    watch: Arc<PoolWatch>,
    /// SQLite: the test's copy of the template (deleted when dropped).
    copy: Option<TestCopy<DB>>,
    /// The sandbox, whose spare pools take this one back after a clean test (`None`
    /// where each test opens its own).
    spares: Option<Arc<State<DB>>>,
}

impl<DB: SandboxDatabase> TestPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Opens a test's pool on the sandbox's database (migrated first, once per run), on
    /// the background runtime, which drives the pool's connection. On a per-test database
    /// (SQLite), `place` says where the test's copy goes.
    pub(crate) async fn open(
        state: &Arc<State<DB>>,
        test: ActorId,
        place: Place,
    ) -> Result<TestPool<DB>, SandboxError> {
        state.migrate().await?;
        let label = state.label.to_string();
        let reused = state.turns.is_none() && !DB::PER_TEST_DATABASE && !process_per_test();
        if reused && let Some(SparePool { pool, watch }) = state.spare_pools.take() {
            watch.serve(test);
            return Ok(TestPool {
                pool,
                watch,
                copy: None,
                spares: Some(state.clone()),
            });
        }
        let watch = Arc::new(PoolWatch::default());
        watch.serve(test);
        if DB::PER_TEST_DATABASE {
            let template = template::template_file(state.url.as_str());
            let (copies, wait) = (state.copies.clone(), ACQUIRE_TIMEOUT);
            let copy = background::run(async move {
                let opened =
                    template::copy_template::<DB>(&template, copies, wait, one_connection(), place)
                        .await;
                // Back to the pool, for the test.
                opened.map(|(copy, _connection)| copy)
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
                spares: None,
            });
        }
        let options = with_sandbox_hooks(one_connection(), &watch, state);
        let connect = (*state.pool.connect_options()).clone();
        let (reach, url) = (state.reach.clone(), state.url.clone());
        // Where tests are serialized, the test's turn is the tests lock on its own
        // connection, waited for as long as the sandbox's checkouts wait for theirs.
        let turn_wait = state
            .turns
            .as_ref()
            .map(|_| state.pool.options().get_acquire_timeout());
        // Through the run's relay of warm backends where there is one (PostgreSQL under
        // nextest), directly if there is none or it fails.
        let relayed = DB::relayed(&connect);
        let relay_watch = watch.clone();
        let opened = background::run(async move {
            let opened = match relayed {
                Some(relayed) => {
                    match tokio::time::timeout(RELAY_WAIT, options.clone().connect_with(relayed))
                        .await
                    {
                        Ok(Ok(pool)) => {
                            relay_watch.relayed.store(true, Ordering::SeqCst);
                            Ok(pool)
                        }
                        // The server's refusal (or its pooler's), which the relay passed
                        // on: a direct attempt would be refused too, and PgBouncer holds a
                        // login retried that soon for its `server_login_retry` (15 s).
                        Ok(Err(refused @ sqlx::Error::Database(_))) => Err(refused),
                        _ => {
                            DB::relay_failed(&connect);
                            options.connect_with(connect).await
                        }
                    }
                }
                None => options.connect_with(connect).await,
            };
            let pool = reach
                .record::<DB, _>(opened, &url)
                .map_err(Opening::Failed)?;
            if let Some(wait) = turn_wait {
                let taken = match pool.acquire().await {
                    Ok(mut connection) => DB::lock_tests(&mut connection, wait).await,
                    Err(error) => Err(error),
                };
                if !matches!(taken, Ok(true)) {
                    pool.close().await;
                    return Err(taken.map_or_else(
                        |error| Opening::Failed(AcquireError::Pool(error)),
                        |_| Opening::NoTurn(wait),
                    ));
                }
            }
            Ok(pool)
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
                spares: reused.then(|| state.clone()),
            }),
            Err(Opening::NoTurn(waited)) => Err(SandboxError::SerializedWait {
                label,
                owner: test,
                waited,
            }),
            Err(Opening::Failed(AcquireError::Unreachable(failure))) => {
                Err(SandboxError::Unreachable { label, failure })
            }
            Err(Opening::Failed(AcquireError::Pool(source))) => Err(SandboxError::Database {
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

    /// Lets `actor` use the pool of `test` (`allow_all`); `false` if it isn't `test`'s.
    pub(crate) fn allow(&self, test: ActorId, actor: ActorId) -> bool {
        self.watch.allow(test, actor)
    }

    /// Ends the test's pool: checks that the sandbox's transaction was still open and
    /// that no other actor used the pool, and rolls the transaction back. After a clean
    /// test, the pool begins again and is kept for the next test; otherwise its
    /// connection is closed (a SQLite copy is deleted). Returns what went wrong, for the
    /// test's report.
    pub(crate) async fn close(self, label: &str, test: ActorId) -> Vec<SandboxError> {
        let TestPool {
            pool,
            watch,
            copy,
            spares,
        } = self;
        let label = label.to_owned();
        let closed = background::run(async move {
            let mut problems = Vec::new();
            if let Some(intruder) = watch.intruder() {
                problems.push(SandboxError::TestPoolUsedByAnother {
                    label: label.clone(),
                    owner: test,
                    user: intruder,
                });
            }
            if copy.is_none() {
                let restart = spares
                    .as_ref()
                    .map(|state| restart::<DB>(state.defaults.isolation));
                let kept = roll_back(&pool, &watch, &label, test, restart, &mut problems).await;
                if let (true, Some(state)) = (kept && problems.is_empty(), spares) {
                    state.spare_pools.put(SparePool { pool, watch });
                    return problems;
                }
            }
            if tokio::time::timeout(RETURN_WAIT, pool.close())
                .await
                .is_err()
            {
                problems.push(SandboxError::TestConnectionInUse {
                    label: label.clone(),
                });
            }
            if copy.as_ref().is_some_and(TestCopy::lost) {
                problems.push(SandboxError::Database {
                    label: label.clone(),
                    context: "the test's pool lost its in-memory database",
                    source: template::lost_error(),
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
/// pool, and, with `restart`, begins the next one on it; reports a transaction found
/// ended. Returns whether the connection began again and is back in the pool: only then
/// can the pool serve another test; otherwise its connection is closed.
async fn roll_back<DB: SandboxDatabase>(
    pool: &Pool<DB>,
    watch: &PoolWatch,
    label: &str,
    test: ActorId,
    restart: Option<sqlx::RawSql>,
    problems: &mut Vec<SandboxError>,
) -> bool
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let connection = if pool.size() == 0 {
        None // lost, or never opened: nothing is open on the server
    } else {
        tokio::time::timeout(RETURN_WAIT, pool.acquire()).await.ok()
    };
    let mut ended = watch.ended.load(Ordering::SeqCst);
    let mut kept = false;
    if let Some(Ok(mut connection)) = connection {
        // PostgreSQL's fences saw an ended transaction as the connection came back.
        if !DB::FENCE_STATEMENTS
            && let Ok(open) = DB::in_transaction(&mut *connection).await
        {
            ended |= !open;
        }
        // Only a transaction of the sandbox's own (no savepoint of the app's left open)
        // can begin again as the next test's.
        let clean = !ended && DB::TransactionManager::get_transaction_depth(&*connection) == 1;
        let restarted = match restart {
            Some(restart) if clean => (&mut *connection).execute(restart).await.is_ok(),
            _ => false,
        };
        if restarted {
            kept = true;
        } else {
            let mut connection = connection.detach();
            // Closing the connection rolls back what is left, through the relay by the
            // relay: on PostgreSQL, whose fences told already whether the transaction was
            // still open, that is all it takes there. Elsewhere, for a broken connection
            // that can't tell, and for a direct connection, the rollback is sent first: a
            // pooler in front of the server (PgBouncer) closes a server connection that its
            // client left inside a transaction, instead of keeping it, warm, for the next
            // test process.
            if !DB::FENCE_STATEMENTS || ended || !watch.relayed.load(Ordering::SeqCst) {
                let _ = (&mut connection).execute("ROLLBACK").await;
            }
            let _ = sqlx::Connection::close(connection).await;
        }
    }
    if ended {
        problems.push(SandboxError::TransactionEnded {
            label: label.to_owned(),
            owner: test,
            cause: DB::ENDED_BY,
        });
    }
    kept
}

/// Rolls the sandbox's transaction back, clears what the session keeps past it, and
/// begins the next transaction at `isolation`, in one round trip (with its fence, on
/// PostgreSQL).
fn restart<DB: SandboxDatabase>(isolation: Option<IsolationLevel>) -> sqlx::RawSql {
    let begin = DB::begin_statement(isolation);
    let begin = begin.as_ref().map_or("BEGIN", |sql| sql.as_str());
    let mut sql = String::from("ROLLBACK; ");
    if let Some(reset) = DB::SESSION_RESET {
        sql.push_str(reset);
        sql.push_str("; ");
    }
    sql.push_str(begin);
    if DB::FENCE_STATEMENTS {
        sql.push_str("; ");
        sql.push_str(FENCE);
    }
    sqlx::raw_sql(AssertSqlSafe(sql))
}

/// Why a test's pool could not be opened.
enum Opening {
    Failed(AcquireError),
    /// The test's turn did not come within this wait.
    NoTurn(Duration),
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
/// transaction, and a second connection is refused; each acquire checks who acquires;
/// on PostgreSQL, each release renews the statement fence.
fn with_sandbox_hooks<DB: SandboxDatabase>(
    options: PoolOptions<DB>,
    watch: &Arc<PoolWatch>,
    state: &State<DB>,
) -> PoolOptions<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let connected = watch.clone();
    let isolation = state.defaults.isolation;
    let options = options.after_connect(move |connection, _| {
        let watch = connected.clone();
        Box::pin(async move {
            if watch.connected.load(Ordering::SeqCst) {
                return Err(sqlx::Error::Configuration(LOST.into()));
            }
            let begin = DB::begin_statement(isolation);
            let begin = if DB::FENCE_STATEMENTS {
                let begin = begin.as_ref().map_or("BEGIN", |sql| sql.as_str());
                Some(AssertSqlSafe(format!("{begin}; {FENCE}")).into_sql_str())
            } else {
                begin
            };
            DB::TransactionManager::begin(connection, begin).await?;
            // Only a connection that began the test's transaction counts: sqlx may try
            // again after a failed attempt.
            watch.connected.store(true, Ordering::SeqCst);
            Ok(())
        })
    });
    let acquiring = watch.clone();
    let options = options.before_acquire(move |_, _| {
        acquiring.check_caller();
        Box::pin(async { Ok(true) })
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
    watch: &PoolWatch,
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
