//! The behaviour suite that every backend passes against its real database: each backend's
//! test file (`postgres.rs`, `mysql.rs`, `sqlite.rs`) implements [`Backend`] and expands
//! [`behaviour_suite!`] into one `#[test]` per behaviour of [`Suite`], beside its own
//! backend-specific tests.
//!
//! Rust has no trait aliases, and the bounds that make a database usable through sqlx's
//! generic API (`&mut Connection: Executor`, strings bind, `i64` decodes) are not implied by
//! a trait bound; so the behaviours are the methods of one `impl` of [`Suite`], which states
//! those bounds once.

use std::any::Any;
use std::collections::HashSet;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use ownership_runtime::harness::{Flavor, TestConfig, TestResource, run_async};
use ownership_runtime::{Actor, ActorId, InCallers, callers, error_chain};
use sandbox_sqlx::{
    AllowOptions, AllowRefusal, Checkin, Checkout, CheckoutOptions, HookKind, Sandbox,
    SandboxBuilder, SandboxDatabase, SandboxError, SandboxMode, SandboxPool, SharedModeRefusal,
};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{
    AssertSqlSafe, ColumnIndex, Connection, Database, Decode, Either, Encode, Executor,
    IntoArguments, Pool, Row, SqlSafeStr, Statement, Type,
};
use tokio::sync::oneshot;

/// One database the suite runs on.
pub trait Backend: 'static {
    /// The sqlx database.
    type DB: SandboxDatabase;
    /// The backend's name: the prefix of its sandboxes' labels and its tests' names.
    const NAME: &'static str;
    /// The suite's table on this backend: `token` is a unique text column.
    const TABLE: &'static str;
    /// The first bind parameter as this database spells it (`$1`, `?`).
    const PARAMETER: &'static str;
    /// SQL whose last row's first column (an `i64`) identifies the connection it ran on.
    const CONNECTION_ID: &'static str;

    /// The database the sandboxes run on.
    fn url() -> String;

    /// The database that production handles (`SandboxPool::from(pool)`) write to.
    fn production_url() -> String {
        Self::url()
    }

    /// Whether the backend's server answers; if not, reports `test` as skipped (a failure
    /// under `CI=true`).
    fn available(test: &str) -> bool;

    /// The migrations that make [`Backend::TABLE`].
    fn migrator() -> &'static Migrator;

    /// Whether a sandbox runs its tests one at a time unless told otherwise
    /// (`SandboxBuilder::serialize_tests`).
    const SERIALIZED: bool = false;
}

/// A migrator of one migration, `ddl`, that records itself in `migrations_table` (on a
/// server, the suite's own, so that other suites' migrations there don't meet it).
pub fn migrator(ddl: &'static str, migrations_table: &'static str) -> Migrator {
    let mut migrator = Migrator::with_migrations(vec![Migration::new(
        1,
        "sandbox orders".into(),
        MigrationType::Simple,
        AssertSqlSafe(ddl).into_sql_str(),
        false,
    )]);
    migrator.dangerous_set_table_name(migrations_table);
    migrator
}

/// A way a test's first use of the sandbox reaches its connection: each begins the
/// sandbox's transaction (or, unsandboxed, sends the first statement) its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstUse {
    /// A statement on the pool (on PostgreSQL, fenced).
    Statement,
    /// An app transaction: `pool.begin()`.
    Begin,
    /// An acquired connection: `pool.acquire()`.
    Acquire,
    /// A prepared statement: `pool.prepare(..)`.
    Prepare,
    /// A statement on an unsandboxed checkout (`CheckoutOptions::sandbox(false)`): it only
    /// reads, as it would commit.
    Unsandboxed,
}

impl FirstUse {
    /// Every way.
    pub const ALL: [FirstUse; 5] = [
        FirstUse::Statement,
        FirstUse::Begin,
        FirstUse::Acquire,
        FirstUse::Prepare,
        FirstUse::Unsandboxed,
    ];
}

/// The server sessions a test used (see [`Suite::test_first_use`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Used {
    /// The test's connection.
    pub connection: i64,
    /// The connection that held the lock of serialized tests in the test's turn (`None`
    /// for an unsandboxed test, which takes no turn).
    pub locking: Option<i64>,
}

/// SQL that ends a server's sessions behind the sandbox's back: `{id}` is a session's id as
/// [`Backend::CONNECTION_ID`] gives it.
#[derive(Debug, Clone, Copy)]
pub struct Sessions {
    /// Ends the session `{id}`.
    pub kill: &'static str,
    /// Counts the sessions whose id is `{id}` (0 once it has ended).
    pub alive: &'static str,
    /// The id of the session that holds the lock of serialized tests.
    pub lock_holder: &'static str,
    /// Counts the locks of serialized tests that session `{id}` holds.
    pub holds_lock: &'static str,
}

/// Waits, at most thirty seconds, until `done` answers `true`, checking every 50 ms; then
/// fails naming `what` it waited for.
pub async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "waited thirty seconds for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `url` with the query parameter `parameter` (`name=value`) added.
#[allow(
    dead_code,
    reason = "for the backends with a server (PostgreSQL, MySQL); SQLite has none"
)]
pub fn with_parameter(url: &str, parameter: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{parameter}")
}

/// A future polled by hand, and polled again by its waker the moment it is woken, on the
/// thread that wakes it: in the middle of whatever woke it (a lock's release, say), to
/// force an interleaving.
struct PolledOnWake<T> {
    future: Mutex<Option<futures_core::future::BoxFuture<'static, T>>>,
    /// Woken since its last poll began.
    woken: std::sync::atomic::AtomicBool,
    output: Mutex<Option<T>>,
    done: tokio::sync::Notify,
}

impl<T: Send + 'static> PolledOnWake<T> {
    fn new(future: impl Future<Output = T> + Send + 'static) -> Arc<Self> {
        Arc::new(PolledOnWake {
            future: Mutex::new(Some(Box::pin(future))),
            woken: std::sync::atomic::AtomicBool::new(false),
            output: Mutex::new(None),
            done: tokio::sync::Notify::new(),
        })
    }

    /// Polls the future until it is done or waits; a wake during a poll (from its own
    /// thread or another) makes that poll's thread poll again.
    fn poll(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        while let Ok(mut future) = self.future.try_lock() {
            if !self.woken.swap(false, Ordering::SeqCst) {
                return;
            }
            let waker = std::task::Waker::from(self.clone());
            let Some(running) = future.as_mut() else {
                return;
            };
            if let std::task::Poll::Ready(output) = running
                .as_mut()
                .poll(&mut std::task::Context::from_waker(&waker))
            {
                *future = None;
                *self.output.lock().unwrap() = Some(output);
                self.done.notify_one();
                return;
            }
        }
    }

    /// Whether the future is done.
    fn is_done(&self) -> bool {
        self.output.lock().unwrap().is_some()
    }

    /// The future's output, once it is done (waiting at most thirty seconds).
    async fn output(&self) -> T {
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Some(output) = self.output.lock().unwrap().take() {
                    return output;
                }
                self.done.notified().await;
            }
        })
        .await
        .expect("the future polled on wake to end")
    }
}

impl<T: Send + 'static> std::task::Wake for PolledOnWake<T> {
    fn wake(self: Arc<Self>) {
        self.poll();
    }
}

/// A token no other test or run uses.
pub fn token(test: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{test}-{}-{nanos}-{number}", std::process::id())
}

/// A runtime for work outside any test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// How an owned test ended: `Err` holds its failure report.
pub fn outcome_of(config: TestConfig, body: impl AsyncFnOnce()) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_async(config, || body())
    }))
    .map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default()
    })
}

/// The failure report of a test that must fail.
pub fn failure_of(config: TestConfig, body: impl AsyncFnOnce()) -> String {
    outcome_of(config, body).expect_err("the test should have failed")
}

/// A statement that fails on every backend: its table doesn't exist, and every
/// database's error names it.
const MISSING_TABLE: &str = "sandbox_no_such_table";

/// Asserts that `error` is the failure of the `kind` hook of `owner`'s connection, which
/// ran [`MISSING_TABLE`]'s statement, and that its message says so.
fn assert_hook_failed(error: &SandboxError, kind: HookKind, owner: ActorId) {
    let SandboxError::Hook {
        hook,
        owner: hooked,
        source,
        ..
    } = error
    else {
        panic!("expected a hook failure: {error:?}");
    };
    assert_eq!((*hook, *hooked), (kind, owner), "{error:?}");
    assert!(
        source
            .as_database_error()
            .is_some_and(|source| source.message().contains(MISSING_TABLE)),
        "the hook's own error: {source:?}"
    );
    assert_hook_reported(&error_chain(error).to_string(), kind);
}

/// Asserts that `message` (with the error's causes) reports the failure of the `kind` hook (see
/// [`assert_hook_failed`]).
fn assert_hook_reported(message: &str, kind: HookKind) {
    for expected in [
        kind.to_string().as_str(),
        "failed",
        MISSING_TABLE,
        "the connection was rolled back and returned to the pool",
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
}

/// Runs `work` as `actor` on a plain thread of its own, whose callers are the actor
/// alone (a long-lived worker that serves whichever test allows it).
fn as_worker<T: Send>(actor: &Actor, work: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| runtime().block_on(actor.scope(work)))
            .join()
            .unwrap()
    })
}

/// The sandbox's error inside an sqlx error (see `SandboxError::of`).
pub fn sandbox_error(error: &sqlx::Error) -> &SandboxError {
    SandboxError::of(error).unwrap_or_else(|| panic!("not a sandbox error: {error}"))
}

/// Asserts that a statement failed on a unique constraint.
fn assert_unique_violation(outcome: sqlx::Result<()>) {
    let error = outcome.expect_err("a duplicate key");
    assert!(
        error
            .as_database_error()
            .is_some_and(|error| error.is_unique_violation()),
        "{error}"
    );
}

/// Where the fixture of [`Suite::serialized_processes_take_turns_through_the_server`]
/// records (a directory): set only in the process that runs it.
const TURNS_FIXTURE: &str = "SANDBOX_TURNS_FIXTURE";
/// The token that fixture inserts.
const TURNS_FIXTURE_TOKEN: &str = "SANDBOX_TURNS_FIXTURE_TOKEN";
/// The file the first test of that pair writes at its end.
const FIRST_ENDED: &str = "first-ended";
/// The file the fixture's test writes when its first statement has run: whether the
/// first test had ended by then.
const SECOND_BEGAN: &str = "second-began";

/// A `static` per type: Rust has no generic statics, so the suite's sandboxes of every
/// backend live here, found by their type.
fn per_type<T: Any + Send + Sync>(make: impl FnOnce() -> T) -> &'static T {
    static VALUES: Mutex<Vec<&'static (dyn Any + Send + Sync)>> = Mutex::new(Vec::new());
    let mut values = VALUES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(value) = values.iter().find_map(|value| value.downcast_ref::<T>()) {
        return value;
    }
    let value: &'static T = Box::leak(Box::new(make()));
    values.push(value);
    value
}

/// The sandboxes that the suite's tests share, as an app's tests share its `static` ones.
struct Sandboxes<DB: SandboxDatabase> {
    /// Auto mode: a test's first query checks a connection out.
    auto: Sandbox<DB>,
    /// Manual mode: tests check out themselves, or name it in `TestConfig::resources`.
    manual: Sandbox<DB>,
}

/// What `#[owned_test(sandbox = MANUAL)]` puts in the test's config.
struct ManualResource<DB>([&'static dyn TestResource; 1], PhantomData<fn() -> DB>);

/// The behaviours, for the backend `B`: [`behaviour_suite!`] makes each a `#[test]`.
pub struct Suite<B>(PhantomData<fn() -> B>);

impl<B: Backend> Suite<B>
where
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    for<'a> &'a str: Encode<'a, B::DB> + Type<B::DB>,
    i64: for<'r> Decode<'r, B::DB> + Type<B::DB>,
    usize: ColumnIndex<<B::DB as Database>::Row>,
    <B::DB as Database>::Arguments: IntoArguments<B::DB>,
{
    // ---- The backend's sandboxes and SQL ----

    /// A builder for a sandbox of this suite: its label prefixed with the backend's name,
    /// on the backend's database, with its migrations (on SQLite every sandbox of one URL
    /// shares one template, which the first one to check out migrates).
    pub fn builder(label: &str) -> SandboxBuilder<B::DB> {
        Sandbox::builder(format!("{}-{label}", B::NAME), B::url()).migrations(B::migrator())
    }

    fn sandboxes() -> &'static Sandboxes<B::DB> {
        per_type(|| Sandboxes {
            auto: Self::builder("auto")
                .max_connections(8)
                .auto()
                .build()
                .unwrap(),
            manual: Self::builder("manual").max_connections(4).build().unwrap(),
        })
    }

    pub fn auto() -> &'static Sandbox<B::DB> {
        &Self::sandboxes().auto
    }

    pub fn manual() -> &'static Sandbox<B::DB> {
        &Self::sandboxes().manual
    }

    /// The config of an owned test named `<backend>::<test>`.
    pub fn config(test: &str) -> TestConfig {
        TestConfig::new(Box::leak(format!("{}::{test}", B::NAME).into_boxed_str()))
    }

    fn sql(template: &str) -> AssertSqlSafe<String> {
        AssertSqlSafe(
            template
                .replace("{table}", B::TABLE)
                .replace("{parameter}", B::PARAMETER),
        )
    }

    /// Inserts a row on any executor: the pool, a transaction (`&mut *tx`).
    pub async fn insert<'e>(
        db: impl Executor<'e, Database = B::DB>,
        token: &str,
    ) -> sqlx::Result<()> {
        sqlx::query(Self::sql(
            "INSERT INTO {table} (token) VALUES ({parameter})",
        ))
        .bind(token)
        .execute(db)
        .await
        .map(|_| ())
    }

    /// Counts the rows of `token` on any executor.
    pub async fn count_on<'e>(db: impl Executor<'e, Database = B::DB>, token: &str) -> i64 {
        Self::try_count_on(db, token).await.unwrap()
    }

    /// Counts the rows of `token` on any executor, passing on a failure (in a hook).
    async fn try_count_on<'e>(
        db: impl Executor<'e, Database = B::DB>,
        token: &str,
    ) -> sqlx::Result<i64> {
        sqlx::query_scalar(Self::sql(
            "SELECT count(*) FROM {table} WHERE token = {parameter}",
        ))
        .bind(token)
        .fetch_one(db)
        .await
    }

    /// What a failing hook does: inserts `token`, then runs a statement on a table that
    /// doesn't exist ([`MISSING_TABLE`]).
    async fn insert_then_fail(
        connection: &mut <B::DB as Database>::Connection,
        token: &str,
    ) -> sqlx::Result<()> {
        Self::insert(&mut *connection, token).await?;
        let statement = AssertSqlSafe(format!("SELECT count(*) FROM {MISSING_TABLE}"));
        connection.execute(statement).await.map(|_| ())
    }

    /// Deletes the rows of `token` on any executor.
    pub async fn delete_on<'e>(
        db: impl Executor<'e, Database = B::DB>,
        token: &str,
    ) -> sqlx::Result<()> {
        sqlx::query(Self::sql("DELETE FROM {table} WHERE token = {parameter}"))
            .bind(token)
            .execute(db)
            .await
            .map(|_| ())
    }

    pub async fn count(db: &SandboxPool<B::DB>, token: &str) -> i64 {
        Self::count_on(db, token).await
    }

    /// The id of the connection a query through `db` runs on.
    pub async fn connection_id(db: &SandboxPool<B::DB>) -> sqlx::Result<i64> {
        Self::connection_id_on(db).await
    }

    /// The id of the connection a query on any executor runs on.
    async fn connection_id_on<'e>(db: impl Executor<'e, Database = B::DB>) -> sqlx::Result<i64> {
        let rows = sqlx::raw_sql(B::CONNECTION_ID).fetch_all(db).await?;
        rows.last()
            .expect("the connection id query returns a row")
            .try_get(0)
    }

    /// Uses `sandbox` for the first time in the current test, the `way` given (inserting
    /// `token`, but for [`FirstUse::Unsandboxed`], which would commit it), and returns
    /// the id of the connection it ran on.
    async fn first_use(way: FirstUse, sandbox: &Sandbox<B::DB>, token: &str) -> i64 {
        let db = sandbox.pool();
        match way {
            FirstUse::Statement => {
                Self::insert(&db, token).await.unwrap();
            }
            FirstUse::Begin => {
                let mut tx = db.begin().await.unwrap();
                Self::insert(&mut *tx, token).await.unwrap();
                tx.commit().await.unwrap();
            }
            FirstUse::Acquire => {
                let mut connection = db.acquire().await.unwrap();
                Self::insert(&mut *connection, token).await.unwrap();
            }
            FirstUse::Prepare => {
                let insert = Self::sql("INSERT INTO {table} (token) VALUES ({parameter})");
                let statement = (&db).prepare(insert.into_sql_str()).await.unwrap();
                statement.query().bind(token).execute(&db).await.unwrap();
            }
            FirstUse::Unsandboxed => {
                let unsandboxed = CheckoutOptions::default().sandbox(false);
                let checkout = sandbox.checkout_for(callers()[0], unsandboxed).await;
                assert_eq!(checkout.unwrap(), Checkout::Ok);
            }
        }
        let id = Self::connection_id(&db).await.unwrap();
        if way != FirstUse::Unsandboxed {
            assert_eq!(Self::count(&db, token).await, 1, "{way:?}");
        }
        id
    }

    /// Runs a test (of `flavor`, on a runtime of its own that ends with it) whose first use
    /// of `sandbox` is `way` (see [`Suite::first_use`]); with `lock_holder` (SQL giving the
    /// session that holds the lock of serialized tests), reads that session in the test's
    /// turn.
    pub fn test_first_use(
        sandbox: &Sandbox<B::DB>,
        way: FirstUse,
        flavor: Flavor,
        token: &str,
        lock_holder: Option<&'static str>,
    ) -> Used {
        let used = Mutex::new(None);
        run_async(Self::config("first_use").flavor(flavor), || async {
            let connection = Self::first_use(way, sandbox, token).await;
            let locking = match lock_holder {
                Some(holder) if way != FirstUse::Unsandboxed => Some(
                    sqlx::query_scalar(AssertSqlSafe(holder))
                        .fetch_one(&sandbox.pool())
                        .await
                        .unwrap(),
                ),
                _ => None,
            };
            *used.lock().unwrap() = Some(Used {
                connection,
                locking,
            });
        });
        used.into_inner().unwrap().expect("the test ran")
    }

    /// Runs `work` outside any sandbox, on a plain connection of its own to `url`.
    fn outside<T>(
        url: &str,
        work: impl AsyncFnOnce(&mut <B::DB as Database>::Connection) -> T,
    ) -> T {
        runtime().block_on(async {
            let mut connection = <B::DB as Database>::Connection::connect(url).await.unwrap();
            work(&mut connection).await
        })
    }

    /// The rows whose token matches `pattern` (`LIKE`: a token, or `prefix-%`), committed
    /// in the database at `url`, counted outside any sandbox.
    pub fn committed_at(url: &str, pattern: &str) -> i64 {
        Self::outside(url, async |connection| {
            sqlx::query_scalar(Self::sql(
                "SELECT count(*) FROM {table} WHERE token LIKE {parameter}",
            ))
            .bind(pattern)
            .fetch_one(connection)
            .await
            .unwrap()
        })
    }

    /// The rows matching `pattern` committed in the sandboxes' database (see
    /// [`Suite::committed_at`]).
    pub fn committed(pattern: &str) -> i64 {
        Self::committed_at(&B::url(), pattern)
    }

    /// Deletes, outside any sandbox, the row of `token` (by equality: on InnoDB a range
    /// would also lock the neighbouring keys, and wait for the running tests that hold
    /// them).
    pub fn delete_at(url: &str, token: &str) {
        Self::outside(url, async |connection| {
            Self::delete_on(connection, token).await.unwrap();
        });
    }

    /// Asserts that the connection a test got after another (ids `first`, then `second`,
    /// from [`Suite::connection_id`]) was the same one from a pool of one, or, on a
    /// backend with a database per test, a fresh one.
    fn assert_reused(first: i64, second: i64) {
        if <B::DB as SandboxDatabase>::PER_TEST_DATABASE {
            assert_ne!(first, second, "each test has a connection to its own copy");
        } else {
            assert_eq!(first, second, "the pool of one gave the same connection");
        }
    }

    // ---- The behaviours ----

    /// A test sees what it wrote, its plain `tokio::spawn` tasks too, on both runtime
    /// flavors; nothing of it is committed.
    pub fn a_tests_rows_are_visible_to_it_and_rolled_back_after_it() {
        let token = token("rolled-back");
        for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
            let (db, mine) = (Self::auto().pool(), token.clone());
            run_async(Self::config("rolled_back").flavor(flavor), || async move {
                Self::insert(&db, &mine).await.unwrap();
                assert_eq!(Self::count(&db, &mine).await, 1);
                let seen = tokio::spawn(async move { Self::count(&db, &mine).await })
                    .await
                    .unwrap();
                assert_eq!(seen, 1, "a task of the test sees its row");
            });
            // The second flavor inserts the same unique token: it would fail if the first
            // one's row had stayed.
            assert_eq!(Self::committed(&token), 0, "nothing is committed");
        }
    }

    pub fn concurrent_tests_do_not_see_each_others_rows() {
        let tokens: Vec<String> = (0..8).map(|i| token(&format!("isolated-{i}"))).collect();
        std::thread::scope(|scope| {
            for (index, mine) in tokens.iter().enumerate() {
                let others: Vec<String> = tokens.iter().filter(|t| *t != mine).cloned().collect();
                let (db, mine) = (Self::auto().pool(), mine.clone());
                scope.spawn(move || {
                    run_async(Self::config("isolated"), || async move {
                        Self::insert(&db, &mine).await.unwrap();
                        // The others insert meanwhile.
                        tokio::time::sleep(Duration::from_millis(20 + index as u64)).await;
                        assert_eq!(Self::count(&db, &mine).await, 1);
                        for other in &others {
                            assert_eq!(Self::count(&db, other).await, 0, "saw another test's row");
                        }
                    });
                });
            }
        });
        for token in &tokens {
            assert_eq!(Self::committed(token), 0);
        }
    }

    /// `pool.begin()` inside a sandbox is a savepoint: commit keeps its rows for the rest
    /// of the test, rollback and drop undo them, and nested transactions nest.
    pub fn app_transactions_become_savepoints() {
        let prefix = token("savepoints");
        let tokens = [
            "committed",
            "nested-rolled-back",
            "nested-committed",
            "rolled-back",
            "dropped",
        ]
        .map(|name| format!("{prefix}-{name}"));
        let (db, inside) = (Self::auto().pool(), tokens.clone());
        run_async(Self::config("savepoints"), || async move {
            let [
                committed,
                nested_rolled_back,
                nested_committed,
                rolled_back,
                dropped,
            ] = &inside;
            let mut tx = db.begin().await.unwrap();
            Self::insert(&mut *tx, committed).await.unwrap();
            assert_eq!(Self::count_on(&mut *tx, committed).await, 1);
            let mut inner = tx.begin().await.unwrap();
            Self::insert(&mut *inner, nested_rolled_back).await.unwrap();
            inner.rollback().await.unwrap();
            let mut inner = tx.begin().await.unwrap();
            Self::insert(&mut *inner, nested_committed).await.unwrap();
            inner.commit().await.unwrap();
            assert_eq!(Self::count_on(&mut *tx, nested_rolled_back).await, 0);
            tx.commit().await.unwrap();

            let mut tx = db.begin().await.unwrap();
            Self::insert(&mut *tx, rolled_back).await.unwrap();
            tx.rollback().await.unwrap();

            {
                let mut tx = db.begin().await.unwrap();
                Self::insert(&mut *tx, dropped).await.unwrap();
                // Dropped without commit.
            }

            assert_eq!(Self::count(&db, committed).await, 1);
            assert_eq!(Self::count(&db, nested_committed).await, 1);
            assert_eq!(Self::count(&db, nested_rolled_back).await, 0);
            assert_eq!(Self::count(&db, rolled_back).await, 0);
            assert_eq!(Self::count(&db, dropped).await, 0);
        });
        for token in &tokens {
            assert_eq!(Self::committed(token), 0, "the sandbox rolled {token} back");
        }
    }

    /// A unique violation, through the pool or inside an app transaction, leaves the test
    /// able to go on: the next statement works, and what it wrote before is still there.
    pub fn a_unique_violation_leaves_the_test_usable() {
        let db = Self::auto().pool();
        let mine = token("unique");
        let (after, in_transaction) = (format!("{mine}-after"), format!("{mine}-in-transaction"));
        let tokens = [mine.clone(), after.clone(), in_transaction.clone()];
        run_async(Self::config("unique"), || async move {
            Self::insert(&db, &mine).await.unwrap();
            assert_unique_violation(Self::insert(&db, &mine).await);
            assert_eq!(Self::count(&db, &mine).await, 1);
            Self::insert(&db, &after).await.unwrap();

            let mut tx = db.begin().await.unwrap();
            Self::insert(&mut *tx, &in_transaction).await.unwrap();
            assert_unique_violation(Self::insert(&mut *tx, &mine).await);
            tx.rollback().await.unwrap();
            assert_eq!(Self::count(&db, &in_transaction).await, 0);
            assert_eq!(Self::count(&db, &mine).await, 1);
            assert_eq!(Self::count(&db, &after).await, 1);
            Self::insert(&db, &in_transaction).await.unwrap();
        });
        for token in &tokens {
            assert_eq!(Self::committed(token), 0);
        }
    }

    pub fn a_tests_tasks_share_its_one_connection() {
        let db = Self::auto().pool();
        run_async(
            Self::config("one_connection").flavor(Flavor::MultiThread),
            || async move {
                let own = Self::connection_id(&db).await.unwrap();
                let tasks: Vec<_> = (0..10)
                    .map(|_| {
                        let db = db.clone();
                        tokio::spawn(async move { Self::connection_id(&db).await.unwrap() })
                    })
                    .collect();
                let mut ids = HashSet::from([own]);
                for task in tasks {
                    ids.insert(task.await.unwrap());
                }
                assert_eq!(ids.len(), 1, "one connection per test: {ids:?}");
            },
        );
    }

    pub fn manual_mode_without_a_checkout_explains_how_to_fix_it() {
        let (sandbox, db) = (Self::manual(), Self::manual().pool());
        run_async(Self::config("no_checkout"), || async move {
            let error = Self::connection_id(&db).await.unwrap_err();
            assert!(
                matches!(
                    sandbox_error(&error),
                    SandboxError::NoConnection {
                        mode: SandboxMode::Manual,
                        ..
                    }
                ),
                "{error:?}"
            );
            let message = error.to_string();
            let test = callers()[0];
            for expected in [
                format!("sandbox `{}-manual`", B::NAME),
                format!("{test} has no database connection"),
                "manual mode".to_owned(),
                "SANDBOX.checkout().await".to_owned(),
                "SANDBOX.allow(test, actor)".to_owned(),
                "shared mode".to_owned(),
                "ownership_runtime::spawn".to_owned(),
                "a connection is checked in when its owner ends".to_owned(),
            ] {
                assert!(message.contains(&expected), "{expected:?} in {message}");
            }
            // With a checkout it works, and an allowed worker uses the same connection.
            assert_eq!(sandbox.checkout().await.unwrap(), Checkout::Ok);
            assert_eq!(sandbox.checkout().await.unwrap(), Checkout::AlreadyOwner);
            let test_connection = Self::connection_id(&db).await.unwrap();
            let worker = Actor::named(format!("{}::worker", B::NAME));
            sandbox.allow(test, worker.id()).unwrap();
            let worker_connection = worker.scope(Self::connection_id(&db)).await.unwrap();
            assert_eq!(test_connection, worker_connection);
            assert_eq!(sandbox.checkin().await.unwrap(), Checkin::Ok);
            assert_eq!(sandbox.checkin().await.unwrap(), Checkin::NotFound);
            let error = Self::connection_id(&db).await.unwrap_err();
            assert!(
                matches!(sandbox_error(&error), SandboxError::NoConnection { .. }),
                "after checkin: {error:?}"
            );
        });
    }

    pub fn a_task_that_outlives_its_test_gets_a_clear_error() {
        let db = Self::auto().pool();
        let (sender, receiver) = std::sync::mpsc::channel();
        let other = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let handle = other.handle().clone();
        run_async(Self::config("outliving"), || async move {
            Self::connection_id(&db).await.unwrap();
            // A task on a runtime the test doesn't own, carrying the test's callers.
            let leftover = async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = sender.send(Self::connection_id(&db).await);
            };
            handle.spawn(leftover.in_current_callers());
        });
        let late = receiver.recv_timeout(Duration::from_secs(10)).unwrap();
        let error = late.unwrap_err();
        assert!(
            matches!(sandbox_error(&error), SandboxError::OwnerEnded { .. }),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("has ended, so it can't check out a connection")
                && message.contains("outlived the test that started it"),
            "{message}"
        );
        drop(other);
    }

    /// A test that panics inside an app transaction is rolled back whole, and its
    /// connection goes back to the pool clean: the next test gets it (the pool holds one)
    /// and sees nothing of the first. On SQLite the next test gets a fresh copy instead.
    pub fn a_panic_mid_transaction_rolls_back_and_the_connection_is_reused_cleanly() {
        let sandbox = Self::builder("one-connection")
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .auto()
            .build()
            .unwrap();
        let mine = token("panics");
        let first = Arc::new(Mutex::new(None));
        let (db, inside, seen) = (sandbox.pool(), mine.clone(), first.clone());
        let report = failure_of(Self::config("panics"), async move || {
            *seen.lock().unwrap() = Some(Self::connection_id(&db).await.unwrap());
            let mut tx = db.begin().await.unwrap();
            Self::insert(&mut *tx, &inside).await.unwrap();
            let mut nested = tx.begin().await.unwrap();
            Self::insert(&mut *nested, &format!("{inside}-nested"))
                .await
                .unwrap();
            panic!("the test broke mid-transaction");
        });
        assert!(
            report.contains("the test broke mid-transaction"),
            "{report}"
        );
        assert_eq!(Self::committed(&mine), 0);
        let first = first.lock().unwrap().expect("the first test ran");
        let (db, inside) = (sandbox.pool(), mine.clone());
        run_async(Self::config("after_panic"), || async move {
            Self::assert_reused(first, Self::connection_id(&db).await.unwrap());
            assert_eq!(
                Self::count(&db, &inside).await,
                0,
                "the panicked test's row is gone"
            );
            let mut tx = db.begin().await.unwrap();
            Self::insert(&mut *tx, &inside).await.unwrap();
            tx.commit().await.unwrap();
            assert_eq!(Self::count(&db, &inside).await, 1);
        });
        assert_eq!(Self::committed(&mine), 0);
        assert_eq!(Self::committed(&format!("{mine}-nested")), 0);
    }

    /// A checkout that finds every connection taken says how many there are, and how many
    /// other checkouts wait.
    pub fn an_exhausted_pool_says_how_many_connections_and_waiters() {
        let tiny = Self::builder("tiny")
            .max_connections(1)
            .acquire_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        run_async(Self::config("exhausted"), || async move {
            let [first, second, third] = ["first", "second", "third"].map(Actor::named);
            let checkout =
                |actor: &Actor| tiny.checkout_for(actor.id(), CheckoutOptions::default());
            assert_eq!(checkout(&first).await.unwrap(), Checkout::Ok);
            let (second_error, third_error) = tokio::join!(checkout(&second), checkout(&third));
            let mut waiting = Vec::new();
            for error in [second_error.unwrap_err(), third_error.unwrap_err()] {
                let SandboxError::PoolExhausted {
                    max_connections,
                    waiting: others,
                    ..
                } = error
                else {
                    panic!("expected PoolExhausted: {error:?}");
                };
                assert_eq!(max_connections, 1);
                waiting.push(others);
                let message = error.to_string();
                for expected in [
                    format!("sandbox `{}-tiny`", B::NAME),
                    "all 1 connections (`max_connections`) are checked out".to_owned(),
                    format!("{others} test(s) are waiting"),
                    "Raise `max_connections`".to_owned(),
                ] {
                    assert!(message.contains(&expected), "{expected:?} in {message}");
                }
            }
            waiting.sort_unstable();
            assert_eq!(
                waiting,
                [0, 1],
                "the second waited alone, the third beside it"
            );
            // Once the first checks in, the next one gets the connection.
            assert_eq!(first.scope(tiny.checkin()).await.unwrap(), Checkin::Ok);
            assert_eq!(checkout(&second).await.unwrap(), Checkout::Ok);
            assert_eq!(second.scope(tiny.checkin()).await.unwrap(), Checkin::Ok);
        });
    }

    /// A test that keeps its connection past the ownership timeout loses it: its next
    /// query names the timeout, what it wrote is rolled back, and the connection is free
    /// for the next test.
    pub fn the_ownership_timeout_takes_the_connection_back() {
        let impatient = Self::builder("impatient")
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .checkout_options(
                CheckoutOptions::default().ownership_timeout(Duration::from_millis(200)),
            )
            .auto()
            .build()
            .unwrap();
        let mine = token("timeout");
        let (db, inside) = (impatient.pool(), mine.clone());
        let report = failure_of(Self::config("timeout"), async move || {
            Self::insert(&db, &inside).await.unwrap();
            tokio::time::sleep(Duration::from_millis(600)).await;
            let error = Self::connection_id(&db).await.unwrap_err();
            assert!(
                matches!(
                    sandbox_error(&error),
                    SandboxError::OwnershipTimeout { timeout, .. } if *timeout == Duration::from_millis(200)
                ),
                "{error:?}"
            );
            panic!("{error}");
        });
        assert!(
            report.contains("was taken back and rolled back after the ownership timeout of 200ms"),
            "{report}"
        );
        assert!(
            report.contains("CheckoutOptions::ownership_timeout"),
            "{report}"
        );
        assert_eq!(Self::committed(&mine), 0, "rolled back when taken back");
        // The pool of one has its connection back.
        let (db, inside) = (impatient.pool(), mine.clone());
        run_async(Self::config("after_timeout"), || async move {
            assert_eq!(Self::count(&db, &inside).await, 0);
        });
    }

    pub fn shared_mode_gives_every_actor_the_owners_connection() {
        let (sandbox, db) = (Self::manual(), Self::manual().pool());
        run_async(Self::config("shared").shared(true), || async move {
            let test = callers()[0];
            assert_eq!(sandbox.mode(), SandboxMode::Shared(test));
            sandbox.checkout().await.unwrap();
            let mine = Self::connection_id(&db).await.unwrap();
            // A plain thread, running for nobody, uses the test's connection.
            let db = db.clone();
            let theirs = std::thread::spawn(move || runtime().block_on(Self::connection_id(&db)))
                .join()
                .unwrap()
                .unwrap();
            assert_eq!(mine, theirs);
        });
        Self::assert_private_after_shared(Self::manual(), SandboxMode::Manual);
    }

    /// Asserts that `sandbox` is back in `mode` after a shared test, from inside a private
    /// test: outside any, another shared test of the binary may run and share it.
    fn assert_private_after_shared(sandbox: &'static Sandbox<B::DB>, mode: SandboxMode) {
        run_async(Self::config("after_shared"), || async move {
            assert_eq!(sandbox.mode(), mode);
        });
    }

    /// A sandbox a shared test is the first to touch (a `LazyLock` the harness forces
    /// when it checks the test's connection out; under nextest always the case): it is in
    /// shared mode before the body runs, so a plain thread, running for nobody, uses the
    /// test's connection.
    pub fn a_shared_test_that_first_uses_its_sandbox_has_it_shared_before_its_body() {
        fn first_used<B: Backend>() -> Sandbox<B::DB>
        where
            for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
        {
            Sandbox::builder(format!("{}-first-use", B::NAME), B::url())
                .migrations(B::migrator())
                .build()
                .unwrap()
        }
        let lazy: &'static LazyLock<Sandbox<B::DB>> =
            Box::leak(Box::new(LazyLock::new(first_used::<B> as fn() -> _)));
        let resources: &'static [&'static dyn TestResource] = Box::leak(Box::new([lazy as _]));
        let mine = token("first-use");
        let inside = mine.clone();
        run_async(
            Self::config("first_use").shared(true).resources(resources),
            || async move {
                let test = callers()[0];
                assert_eq!(lazy.mode(), SandboxMode::Shared(test));
                Self::insert(&lazy.pool(), &inside).await.unwrap();
                let (db, token) = (lazy.pool(), inside.clone());
                let seen = std::thread::spawn(move || runtime().block_on(Self::count(&db, &token)))
                    .join()
                    .unwrap();
                assert_eq!(seen, 1, "the plain thread used the test's connection");
            },
        );
        Self::assert_private_after_shared(lazy, SandboxMode::Manual);
        assert_eq!(Self::committed(&mine), 0);
    }

    /// A handle made from a plain pool is production's: no sandbox, even inside an owned
    /// test whose sandbox is in manual mode with nothing checked out; its transactions are
    /// real ones, and what it commits stays.
    pub fn production_handles_go_straight_to_the_pool() {
        let url = B::production_url();
        let mine = token("production");
        let [autocommitted, rolled_back, committed] =
            ["autocommitted", "rolled-back", "committed"].map(|name| format!("{mine}-{name}"));
        let (inside, sandboxed) = (
            [
                autocommitted.clone(),
                rolled_back.clone(),
                committed.clone(),
            ],
            Self::manual().pool(),
        );
        let production_url = url.clone();
        run_async(Self::config("production"), || async move {
            let [autocommitted, rolled_back, committed] = inside;
            let pool = Pool::<B::DB>::connect(&production_url).await.unwrap();
            B::migrator().run(&pool).await.unwrap();
            let db = SandboxPool::from(pool);
            assert_eq!(format!("{db:?}"), "SandboxPool(production pool)");
            // The sandbox refuses the test (no checkout): the production handle doesn't ask it.
            assert!(Self::connection_id(&sandboxed).await.is_err());
            Self::insert(&db, &autocommitted).await.unwrap();
            let mut tx = db.begin().await.unwrap();
            Self::insert(&mut *tx, &rolled_back).await.unwrap();
            assert_eq!(Self::count_on(&mut *tx, &rolled_back).await, 1);
            tx.rollback().await.unwrap();
            let mut tx = db.begin().await.unwrap();
            Self::insert(&mut *tx, &committed).await.unwrap();
            tx.commit().await.unwrap();
        });
        assert_eq!(Self::committed_at(&url, &autocommitted), 1);
        assert_eq!(Self::committed_at(&url, &rolled_back), 0);
        assert_eq!(Self::committed_at(&url, &committed), 1);
        for token in [autocommitted, rolled_back, committed] {
            Self::delete_at(&url, &token);
        }
        assert_eq!(Self::committed_at(&url, &format!("{mine}-%")), 0);
    }

    /// Fifty concurrent tests insert the same unique key, and all pass: each sees only its
    /// own row, with the suite's usual pool of eight. On PostgreSQL each insert waits on
    /// the row lock of the test before it until that one rolls back; on MySQL/MariaDB,
    /// whose InnoDB deadlocks such waiters, the sandbox runs tests one at a time (its
    /// default there, `serialize_tests`); on SQLite each test has a database of its own.
    pub fn fifty_concurrent_tests_insert_the_same_unique_key_and_all_pass() {
        let key = token("same-key");
        let sandbox = Self::builder("same-key")
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(120))
            .auto()
            .build()
            .unwrap();
        std::thread::scope(|scope| {
            for _ in 0..50 {
                let (db, key) = (sandbox.pool(), key.clone());
                scope.spawn(move || {
                    run_async(Self::config("same_key"), || async move {
                        Self::insert(&db, &key).await.unwrap();
                        assert_eq!(Self::count(&db, &key).await, 1);
                    });
                });
            }
        });
        assert_eq!(Self::committed(&key), 0);
    }

    /// The pool outlives every test's runtime: many owned tests, both flavors, sequential
    /// and concurrent, share one sandbox without a single failure, and leave no row.
    pub fn one_sandbox_serves_many_per_test_runtimes_without_failures() {
        // SANDBOX_ROUNDS=20 repeats the whole thing (the 20 runs) in one process.
        let rounds: usize = std::env::var("SANDBOX_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(1);
        let prefix = token("many");
        let configs = [Flavor::CurrentThread, Flavor::MultiThread]
            .map(|flavor| Self::config("many").flavor(flavor));
        let one_test = |index: usize, round: usize| {
            let (db, mine) = (Self::auto().pool(), format!("{prefix}-{round}-{index}"));
            run_async(configs[index % 2], || async move {
                Self::insert(&db, &mine).await.unwrap();
                let (db2, mine2) = (db.clone(), mine.clone());
                let seen = tokio::spawn(async move { Self::count(&db2, &mine2).await })
                    .await
                    .unwrap();
                assert_eq!(seen, 1);
            });
        };
        for round in 0..rounds {
            for index in 0..200 {
                one_test(index, round);
            }
            std::thread::scope(|scope| {
                for index in 200..250 {
                    scope.spawn(move || one_test(index, round));
                }
            });
        }
        assert_eq!(
            Self::committed(&format!("{prefix}-%")),
            0,
            "rows written by sandboxed tests were left behind"
        );
    }

    /// No handle lets a test's runtime open a connection that goes back into the sandbox's
    /// pool, where the next test would find it dead with that runtime ("A Tokio 1.x context
    /// was found, but it is being shutdown"), and its checkin would fail: tests in a row,
    /// each on a runtime of its own that ends with it (as under `--test-threads=1`), on
    /// both flavors, use a pool with room for a second connection every way there is
    /// ([`FirstUse`]), from the test and from a task it spawns, and every one passes.
    /// Inside a sandbox the handle gives no pool to query behind its back (`inner()`),
    /// only the pool's settings and statistics.
    pub fn no_tests_runtime_drives_a_connection_that_the_next_test_gets() {
        let sandbox = Self::builder("runtime-each")
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .auto()
            .build()
            .unwrap();
        let db = sandbox.pool();
        assert!(db.inner().is_none(), "no pool behind the sandbox's back");
        assert_eq!(db.options().get_max_connections(), 2);
        let prefix = token("runtime-each");
        for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
            for way in FirstUse::ALL {
                let mine = format!("{prefix}-{flavor:?}-{way:?}");
                Self::test_first_use(&sandbox, way, flavor, &mine, None);
                let (db, spawned) = (sandbox.pool(), format!("{mine}-spawned"));
                run_async(
                    Self::config("runtime_each_task").flavor(flavor),
                    || async move {
                        let task = tokio::spawn(async move {
                            let mut tx = db.begin().await.unwrap();
                            Self::insert(&mut *tx, &spawned).await.unwrap();
                            tx.commit().await.unwrap();
                            let mut connection = db.acquire().await.unwrap();
                            assert_eq!(Self::count_on(&mut *connection, &spawned).await, 1);
                        });
                        task.await.unwrap();
                    },
                );
            }
        }
        assert_eq!(Self::committed(&format!("{prefix}-%")), 0);
    }

    /// A task that holds the test's connection (a transaction, an acquired connection)
    /// and runs a query through the pool gets `HeldByThisTask`, where the query would wait
    /// for itself forever; also when it took the connection over from another task at the
    /// earliest moment: woken, and run, in the middle of the other's release.
    pub fn a_nested_query_of_a_task_that_took_the_connection_over_is_refused() {
        for in_a_transaction in [true, false] {
            let db = Self::auto().pool();
            run_async(Self::config("taken_over"), || async move {
                Self::connection_id(&db).await.unwrap();
                // Another task of the test holds the connection in a transaction.
                let other = db.clone();
                let held = tokio::spawn(async move { other.begin().await.unwrap() });
                let held = held.await.unwrap();
                // The test waits for it, and takes it over the moment it is released.
                let taker = db.clone();
                let taking = PolledOnWake::new(async move {
                    if in_a_transaction {
                        Either::Left(taker.begin().await.unwrap())
                    } else {
                        Either::Right(taker.acquire().await.unwrap())
                    }
                });
                taking.poll();
                assert!(!taking.is_done(), "it waits for the other task");
                drop(held);
                let taken = taking.output().await;
                let nested = futures_util::FutureExt::now_or_never(Self::connection_id(&db));
                let Some(Err(error)) = nested else {
                    panic!(
                        "the nested query must be refused, not wait (begin: {in_a_transaction})"
                    );
                };
                assert!(
                    matches!(sandbox_error(&error), SandboxError::HeldByThisTask { .. }),
                    "{error:?}"
                );
                drop(taken);
                Self::connection_id(&db).await.unwrap();
            });
        }
    }

    /// What `#[owned_test(sandbox = MANUAL)]` expands to: the harness checks a connection
    /// out before the body, and the sandbox's hook checks it in after.
    pub fn a_test_that_names_the_sandbox_gets_a_connection_before_its_body() {
        let sandbox = Self::manual();
        let resources = &per_type(|| ManualResource::<B::DB>([sandbox], PhantomData)).0;
        let db = sandbox.pool();
        let mine = token("named");
        let inside = mine.clone();
        run_async(Self::config("named").resources(resources), || async move {
            // Manual mode, and no checkout in the body: the harness made it.
            Self::insert(&db, &inside).await.unwrap();
            assert_eq!(sandbox.checkout().await.unwrap(), Checkout::AlreadyOwner);
        });
        assert_eq!(Self::committed(&mine), 0);
        assert_eq!(sandbox.mode(), SandboxMode::Manual);
    }

    /// `set_mode` follows DBConnection: setting the mode the sandbox has changes nothing,
    /// and switching between manual and auto leaves every test its connection. (It used to
    /// check in every connection: one test calling `set_mode(Manual)` "to be sure" broke
    /// every test running beside it.)
    pub fn switching_modes_leaves_every_test_its_connection() {
        let switching = Self::builder("switching")
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let mine = token("switching");
        let inside = mine.clone();
        run_async(Self::config("switching"), || async move {
            let db = switching.pool();
            let actors = ["first", "second"].map(Actor::named);
            for (index, actor) in actors.iter().enumerate() {
                let checkout = switching
                    .checkout_for(actor.id(), CheckoutOptions::default())
                    .await;
                assert_eq!(checkout.unwrap(), Checkout::Ok);
                actor
                    .scope(Self::insert(&db, &format!("{inside}-{index}")))
                    .await
                    .unwrap();
            }
            let still_theirs = async || {
                for (index, actor) in actors.iter().enumerate() {
                    let token = format!("{inside}-{index}");
                    assert_eq!(actor.scope(Self::count(&db, &token)).await, 1);
                    let again = switching.checkout_for(actor.id(), CheckoutOptions::default());
                    assert_eq!(again.await.unwrap(), Checkout::AlreadyOwner);
                }
            };
            for mode in [
                SandboxMode::Manual,
                SandboxMode::Manual,
                SandboxMode::Auto,
                SandboxMode::Auto,
                SandboxMode::Manual,
            ] {
                switching.set_mode(mode).await.unwrap();
                assert_eq!(switching.mode(), mode);
                still_theirs().await;
            }
        });
        assert_eq!(Self::committed(&format!("{mine}-%")), 0);
    }

    /// Shared mode is refused, as DBConnection refuses it, for an owner with no
    /// connection, for one only allowed to use another's, and while another shared owner
    /// runs; the owner of a connection gets it, and setting it again changes nothing.
    pub fn shared_mode_needs_an_owner_with_a_connection_and_no_other_shared_owner() {
        let sandbox = Self::builder("shared-rules")
            .max_connections(2)
            .build()
            .unwrap();
        run_async(Self::config("shared_rules"), || async move {
            let test = callers()[0];
            let refusal = |outcome: Result<(), SandboxError>| match outcome {
                Err(SandboxError::SharedModeRefused { reason, .. }) => reason,
                other => panic!("expected a refusal: {other:?}"),
            };
            assert_eq!(
                refusal(sandbox.set_mode(SandboxMode::Shared(test)).await),
                SharedModeRefusal::NoConnection
            );
            sandbox.checkout().await.unwrap();
            let worker = Actor::named("shared-rules-worker");
            sandbox.allow(test, worker.id()).unwrap();
            assert_eq!(
                refusal(sandbox.set_mode(SandboxMode::Shared(worker.id())).await),
                SharedModeRefusal::OnlyAllowed {
                    connection_owner: test
                }
            );
            let message = sandbox
                .set_mode(SandboxMode::Shared(worker.id()))
                .await
                .unwrap_err()
                .to_string();
            assert!(
                message.contains("Make the owner of the connection"),
                "{message}"
            );
            // Another owner, with a connection of its own, can't take over while the
            // test is the shared owner and runs.
            let other = Actor::named("shared-rules-other");
            let options = CheckoutOptions::default();
            sandbox.checkout_for(other.id(), options).await.unwrap();
            sandbox.set_mode(SandboxMode::Shared(test)).await.unwrap();
            sandbox.set_mode(SandboxMode::Shared(test)).await.unwrap();
            assert_eq!(sandbox.mode(), SandboxMode::Shared(test));
            assert_eq!(
                refusal(sandbox.set_mode(SandboxMode::Shared(other.id())).await),
                SharedModeRefusal::AlreadyShared { shared_owner: test }
            );
            sandbox.set_mode(SandboxMode::Manual).await.unwrap();
        });
    }

    /// `allow` says why it refuses: an actor that owns a connection, one that uses
    /// another test's, an actor with access that has none; in shared mode it succeeds and
    /// changes nothing (suite helpers allow in both modes).
    pub fn allow_tells_its_refusals_apart_and_is_a_no_op_in_shared_mode() {
        let sandbox = Self::builder("allow-rules")
            .max_connections(3)
            .build()
            .unwrap();
        run_async(Self::config("allow_rules"), || async move {
            let test = callers()[0];
            let reason = |outcome: Result<(), SandboxError>| match outcome {
                Err(SandboxError::AllowRefused { reason, .. }) => reason,
                other => panic!("expected a refusal: {other:?}"),
            };
            let (worker, owner, other_test) = ["allow-worker", "allow-owner", "allow-other-test"]
                .map(Actor::named)
                .into();
            assert_eq!(
                reason(sandbox.allow(test, worker.id())),
                AllowRefusal::NoConnection
            );
            sandbox.checkout().await.unwrap();
            let options = CheckoutOptions::default();
            sandbox
                .checkout_for(owner.id(), options.clone())
                .await
                .unwrap();
            sandbox
                .checkout_for(other_test.id(), options)
                .await
                .unwrap();
            assert_eq!(
                reason(sandbox.allow(test, owner.id())),
                AllowRefusal::AlreadyOwner
            );
            sandbox.allow(other_test.id(), worker.id()).unwrap();
            sandbox.allow(other_test.id(), worker.id()).unwrap(); // again: where it is
            assert_eq!(
                reason(sandbox.allow(test, worker.id())),
                AllowRefusal::AlreadyAllowed {
                    owner: other_test.id()
                }
            );
            sandbox.set_mode(SandboxMode::Shared(test)).await.unwrap();
            let stranger = Actor::named("allow-stranger");
            sandbox.allow(test, stranger.id()).unwrap();
            sandbox.allow(stranger.id(), worker.id()).unwrap();
            sandbox.set_mode(SandboxMode::Manual).await.unwrap();
            // Nothing changed: the worker still uses the other test's connection.
            assert_eq!(
                reason(sandbox.allow(test, worker.id())),
                AllowRefusal::AlreadyAllowed {
                    owner: other_test.id()
                }
            );
        });
    }

    // ---- Checkout hooks ----

    /// A post-checkout hook (the sandbox's default options) runs on each test's connection
    /// before its first query, inside the sandbox's transaction: the test sees what the
    /// hook wrote, and the next test's hook writes the same unique token again, which
    /// would fail had the first one's row stayed; nothing is committed.
    pub fn a_post_checkout_hook_seeds_each_test_and_is_rolled_back() {
        let seed = token("post-checkout");
        let runs = Arc::new(AtomicU64::new(0));
        let (hook_seed, hook_runs) = (seed.clone(), runs.clone());
        let options = CheckoutOptions::<B::DB>::default().post_checkout(move |connection| {
            let (seed, runs) = (hook_seed.clone(), hook_runs.clone());
            Box::pin(async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Self::insert(connection, &seed).await
            })
        });
        let sandbox = Self::builder("post-checkout")
            .checkout_options(options)
            .auto()
            .build()
            .unwrap();
        for (index, test) in ["post_checkout", "post_checkout_again"].iter().enumerate() {
            let db = sandbox.pool();
            run_async(Self::config(test), || async {
                assert_eq!(
                    Self::count(&db, &seed).await,
                    1,
                    "the hook's row is the test's"
                );
                assert_eq!(
                    runs.load(Ordering::SeqCst),
                    index as u64 + 1,
                    "one run a test"
                );
                let (db, seed) = (db.clone(), seed.clone());
                let seen = tokio::spawn(async move { Self::count(&db, &seed).await });
                assert_eq!(seen.await.unwrap(), 1, "the test's tasks see it too");
            });
            assert_eq!(Self::committed(&seed), 0, "the hook's row was rolled back");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    /// A post-checkout hook that fails fails the checkout (`checkout_for` with options),
    /// naming the hook and its error; the connection goes back to the pool rolled back
    /// (the pool holds one, and the next checkouts get it) and the actor owns nothing.
    pub fn a_failing_post_checkout_hook_fails_the_checkout_and_gives_the_connection_back() {
        let sandbox = Self::builder("post-checkout-fails")
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let seed = token("post-checkout-fails");
        let (db, inside) = (sandbox.pool(), seed.clone());
        run_async(Self::config("post_checkout_fails"), || async move {
            let test = callers()[0];
            let hook_seed = inside.clone();
            let failing = CheckoutOptions::<B::DB>::default().post_checkout(move |connection| {
                let seed = hook_seed.clone();
                Box::pin(async move { Self::insert_then_fail(connection, &seed).await })
            });
            // Twice: the second hook inserts the same unique token, which would fail on a
            // unique violation, not on the missing table, had the first one's row stayed.
            for _ in 0..2 {
                let error = sandbox.checkout_for(test, failing.clone()).await;
                assert_hook_failed(&error.unwrap_err(), HookKind::PostCheckout, test);
            }
            // Nothing was registered: the test checks out anew (not `AlreadyOwner`), from
            // the pool of one, which has its connection back.
            assert_eq!(sandbox.checkout().await.unwrap(), Checkout::Ok);
            assert_eq!(Self::count(&db, &inside).await, 0, "the hook's row is gone");
        });
        assert_eq!(Self::committed(&seed), 0);
    }

    /// A pre-checkin hook (`checkout_for` with options) runs when the test's connection is
    /// checked in (here by the harness, after the test), before the rollback: it sees the
    /// test's rows, and what it writes is rolled back with them (the next test's hook
    /// writes it again).
    pub fn a_pre_checkin_hook_sees_the_tests_rows_and_is_rolled_back() {
        let mine = token("pre-checkin");
        let marker = format!("{mine}-hook");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (hook_mine, hook_marker, hook_seen) = (mine.clone(), marker.clone(), seen.clone());
        let options = CheckoutOptions::<B::DB>::default().pre_checkin(move |connection| {
            let (mine, marker, seen) = (hook_mine.clone(), hook_marker.clone(), hook_seen.clone());
            Box::pin(async move {
                let rows = Self::try_count_on(&mut *connection, &mine).await?;
                seen.lock().unwrap().push(rows);
                Self::insert(connection, &marker).await
            })
        });
        for (index, test) in ["pre_checkin", "pre_checkin_again"].iter().enumerate() {
            let (sandbox, db) = (Self::manual(), Self::manual().pool());
            run_async(Self::config(test), || async {
                let checkout = sandbox.checkout_for(callers()[0], options.clone()).await;
                assert_eq!(checkout.unwrap(), Checkout::Ok);
                Self::insert(&db, &mine).await.unwrap();
                assert_eq!(seen.lock().unwrap().len(), index, "not run before checkin");
            });
            assert_eq!(
                *seen.lock().unwrap(),
                vec![1; index + 1],
                "it saw the test's row"
            );
            assert_eq!(Self::committed(&mine), 0);
            assert_eq!(
                Self::committed(&marker),
                0,
                "the hook's row was rolled back"
            );
        }
    }

    /// A pre-checkin hook that fails: an explicit checkin returns its error, and an owned
    /// test whose connection the harness checks in fails with it. Either way the
    /// connection is still rolled back (the hook's row too) and goes back to the pool of
    /// one, for the next checkout.
    pub fn a_failing_pre_checkin_hook_fails_the_checkin_and_still_rolls_back() {
        let sandbox = Self::builder("pre-checkin-fails")
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let mine = token("pre-checkin-fails");
        let marker = format!("{mine}-hook");
        let hook_marker = marker.clone();
        let failing = CheckoutOptions::<B::DB>::default().pre_checkin(move |connection| {
            let marker = hook_marker.clone();
            Box::pin(async move { Self::insert_then_fail(connection, &marker).await })
        });
        let tokens = [mine.clone(), marker.clone()];
        let check_out_and_insert = async || {
            let checkout = sandbox.checkout_for(callers()[0], failing.clone()).await;
            assert_eq!(checkout.unwrap(), Checkout::Ok);
            Self::insert(&sandbox.pool(), &mine).await.unwrap();
            Self::connection_id(&sandbox.pool()).await.unwrap()
        };
        let rolled_back = async |first: i64| {
            assert_eq!(sandbox.checkout().await.unwrap(), Checkout::Ok);
            Self::assert_reused(first, Self::connection_id(&sandbox.pool()).await.unwrap());
            for token in &tokens {
                assert_eq!(Self::count(&sandbox.pool(), token).await, 0, "{token}");
            }
        };
        // Checked in explicitly.
        run_async(Self::config("pre_checkin_fails"), || async {
            let hooked = check_out_and_insert().await;
            let error = sandbox.checkin().await.unwrap_err();
            assert_hook_failed(&error, HookKind::PreCheckin, callers()[0]);
            rolled_back(hooked).await;
        });
        // Checked in by the harness.
        let hooked = Mutex::new(None);
        let report = failure_of(Self::config("pre_checkin_fails_report"), async || {
            let id = check_out_and_insert().await;
            *hooked.lock().unwrap() = Some(id);
        });
        assert!(
            report.contains("1. sandbox `") && report.contains("` (after the test): "),
            "{report}"
        );
        assert_hook_reported(&report, HookKind::PreCheckin);
        let hooked = hooked.lock().unwrap().expect("the failing test ran");
        run_async(Self::config("after_pre_checkin_fails"), || {
            rolled_back(hooked)
        });
        for token in &tokens {
            assert_eq!(Self::committed(token), 0, "{token}");
        }
    }

    /// `sandbox(false)`: the test commits for real, and its pre-checkin hook cleans up for
    /// real: the row the hook deletes is gone, the row it writes stays. On SQLite, whose
    /// per-test database goes whole, neither reaches the template.
    pub fn an_unsandboxed_tests_pre_checkin_hook_cleans_up_for_real() {
        let per_test_database = <B::DB as SandboxDatabase>::PER_TEST_DATABASE;
        let mine = token("unsandboxed");
        let marker = format!("{mine}-hook");
        let (hook_mine, hook_marker) = (mine.clone(), marker.clone());
        let options = CheckoutOptions::<B::DB>::default()
            .sandbox(false)
            .pre_checkin(move |connection| {
                let (mine, marker) = (hook_mine.clone(), hook_marker.clone());
                Box::pin(async move {
                    Self::delete_on(&mut *connection, &mine).await?;
                    Self::insert(connection, &marker).await
                })
            });
        let (sandbox, db, inside) = (Self::manual(), Self::manual().pool(), mine.clone());
        run_async(Self::config("unsandboxed"), || async move {
            let checkout = sandbox.checkout_for(callers()[0], options).await;
            assert_eq!(checkout.unwrap(), Checkout::Ok);
            Self::insert(&db, &inside).await.unwrap();
            assert_eq!(Self::count(&db, &inside).await, 1);
            let outside = std::thread::scope(|scope| {
                scope.spawn(|| Self::committed(&inside)).join().unwrap()
            });
            assert_eq!(outside, i64::from(!per_test_database), "committed for real");
        });
        assert_eq!(Self::committed(&mine), 0, "the hook deleted the test's row");
        assert_eq!(
            Self::committed(&marker),
            i64::from(!per_test_database),
            "the hook's own row stays"
        );
        Self::delete_at(&B::url(), &marker);
        assert_eq!(Self::committed(&marker), 0);
    }

    // ---- Allowances ----

    /// A worker allowed on one running test's connection stays there when a second test
    /// allows it (`AllowRefusal::AlreadyAllowed`), and moves to the second test's connection with
    /// `unallow_existing`: its queries then see the second test's rows, not the first's.
    /// (The two tests wait for each other: their sandbox runs them at once.)
    pub fn unallow_existing_moves_an_allowed_worker_to_another_tests_connection() {
        let sandbox = Self::builder("unallow")
            .serialize_tests(false)
            .build()
            .unwrap();
        let worker = Actor::named(format!("{}::long_lived_worker", B::NAME));
        let (first_token, second_token) = (token("unallow-first"), token("unallow-second"));
        let (first_ready, first_is_ready) = oneshot::channel::<ActorId>();
        let (moved, has_moved) = oneshot::channel::<()>();
        let (done, is_done) = oneshot::channel::<()>();
        let db = sandbox.pool();
        let worker_count = |token: &str| as_worker(&worker, Self::count(&db, token));
        std::thread::scope(|scope| {
            scope.spawn(|| {
                run_async(Self::config("unallow_first"), || async {
                    let first = callers()[0];
                    assert_eq!(sandbox.checkout().await.unwrap(), Checkout::Ok);
                    Self::insert(&db, &first_token).await.unwrap();
                    sandbox.allow(first, worker.id()).unwrap();
                    assert_eq!(
                        worker_count(&first_token),
                        1,
                        "on the first test's connection"
                    );
                    first_ready.send(first).unwrap();
                    has_moved.await.unwrap();
                    // The worker's queries go to the second test's connection now, from
                    // anywhere, and the first test keeps its own.
                    assert_eq!(worker_count(&second_token), 1);
                    assert_eq!(worker_count(&first_token), 0);
                    assert_eq!(Self::count(&db, &first_token).await, 1);
                    done.send(()).unwrap();
                });
            });
            scope.spawn(|| {
                run_async(Self::config("unallow_second"), || async {
                    let first = first_is_ready.await.unwrap();
                    let second = callers()[0];
                    assert_eq!(sandbox.checkout().await.unwrap(), Checkout::Ok);
                    Self::insert(&db, &second_token).await.unwrap();
                    let refused = sandbox.allow(second, worker.id()).unwrap_err();
                    assert!(
                        matches!(
                            refused,
                            SandboxError::AllowRefused {
                                reason: AllowRefusal::AlreadyAllowed { owner }, ..
                            } if owner == first
                        ),
                        "{refused}"
                    );
                    assert_eq!(worker_count(&second_token), 0, "still on the first's");
                    assert_eq!(worker_count(&first_token), 1);
                    let again = AllowOptions::default().unallow_existing(true);
                    // Allowed again where it is: a no-op.
                    sandbox.allow_with(first, worker.id(), again).unwrap();
                    assert_eq!(worker_count(&first_token), 1, "it stayed");
                    sandbox.allow_with(second, worker.id(), again).unwrap();
                    assert_eq!(worker_count(&second_token), 1, "on the second test's");
                    assert_eq!(worker_count(&first_token), 0);
                    moved.send(()).unwrap();
                    // Until the first test has looked.
                    is_done.await.unwrap();
                });
            });
        });
        for token in [&first_token, &second_token] {
            assert_eq!(Self::committed(token), 0);
        }
    }

    // ---- Serialized tests ----

    /// With `serialize_tests(true)`, a test's own connections (the test's, actors it
    /// checks out for, its tasks, its connection of another sandbox on the same database)
    /// share its turn: none waits for another, with their transactions open at once (a
    /// wait would end in `SerializedWait` after the ownership timeout, a minute here).
    /// Each connection has its own transaction.
    pub fn a_serialized_test_does_not_wait_for_its_own_connections() {
        let options = CheckoutOptions::default().ownership_timeout(Duration::from_secs(60));
        let [sandbox, other] = ["serialized-own", "serialized-own-other"].map(|label| {
            Self::builder(label)
                .serialize_tests(true)
                .max_connections(3)
                .checkout_options(options.clone())
                .build()
                .unwrap()
        });
        let prefix = token("serialized-own");
        let tokens = ["test", "first", "second"].map(|name| format!("{prefix}-{name}"));
        let in_other = format!("{prefix}-other-sandbox");
        let (db, inside) = (sandbox.pool(), tokens.clone());
        run_async(Self::config("serialized_own"), || async {
            let actors = ["first", "second"].map(Actor::named);
            assert_eq!(sandbox.checkout().await.unwrap(), Checkout::Ok);
            Self::insert(&db, &inside[0]).await.unwrap();
            let mut ids = HashSet::from([Self::connection_id(&db).await.unwrap()]);
            for (actor, token) in actors.iter().zip(&inside[1..]) {
                let checkout = sandbox.checkout_for(actor.id(), options.clone()).await;
                assert_eq!(checkout.unwrap(), Checkout::Ok);
                actor.scope(Self::insert(&db, token)).await.unwrap();
                ids.insert(actor.scope(Self::connection_id(&db)).await.unwrap());
            }
            assert_eq!(ids.len(), 3, "three connections: {ids:?}");
            // Every connection sees its own row only; the test's task uses the test's.
            let (task_db, task_tokens) = (db.clone(), inside.clone());
            let in_task = tokio::spawn(async move {
                let mut counts = Vec::new();
                for token in &task_tokens {
                    counts.push(Self::count(&task_db, token).await);
                }
                counts
            });
            assert_eq!(in_task.await.unwrap(), [1, 0, 0]);
            assert_eq!(other.checkout().await.unwrap(), Checkout::Ok);
            Self::insert(&other.pool(), &in_other).await.unwrap();
            assert_eq!(Self::count(&other.pool(), &inside[0]).await, 0);
            assert_eq!(Self::count(&db, &in_other).await, 0);
            for (index, actor) in actors.iter().enumerate() {
                for (other, token) in inside.iter().enumerate() {
                    let rows = actor.scope(Self::count(&db, token)).await;
                    assert_eq!(rows, i64::from(other == index + 1), "{token}");
                }
                assert_eq!(actor.scope(sandbox.checkin()).await.unwrap(), Checkin::Ok);
            }
        });
        for token in tokens.iter().chain([&in_other]) {
            assert_eq!(Self::committed(token), 0);
        }
    }

    /// With `serialize_tests(true)`, a test that queries while another holds the turn
    /// waits for it (see [`Suite::query_while_another_test_runs`]). SQLite tests, each on
    /// a database of its own, never wait.
    pub fn a_serialized_test_waits_while_another_runs() {
        let sandbox = Self::builder("serialized-wait").serialize_tests(true);
        let serialized = !<B::DB as SandboxDatabase>::PER_TEST_DATABASE;
        Self::query_while_another_test_runs(sandbox, serialized);
    }

    /// Tests are serialized by default on MySQL/MariaDB only ([`Backend::SERIALIZED`]):
    /// elsewhere a test queries while another runs.
    pub fn only_mysql_serializes_tests_by_default() {
        Self::query_while_another_test_runs(Self::builder("default-turns"), B::SERIALIZED);
    }

    /// A first test, in its turn (its first query done), keeps it until a second test's
    /// first query has returned. If the sandbox (built from `builder`) is `serialized`,
    /// the second one gives up with `SerializedWait` after its longest wait (its ownership
    /// timeout or the pool's acquire timeout, whichever is longer: one second here);
    /// otherwise its query works at once. A third test, after both, runs.
    fn query_while_another_test_runs(builder: SandboxBuilder<B::DB>, serialized: bool) {
        let sandbox = builder
            .acquire_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let prefix = token("while-another-runs");
        let tokens = ["first", "second"].map(|name| format!("{prefix}-{name}"));
        let (in_turn, is_in_turn) = oneshot::channel::<()>();
        let (answered, has_answered) = oneshot::channel::<()>();
        let db = sandbox.pool();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                run_async(Self::config("while_another_runs_first"), || async {
                    assert_eq!(sandbox.checkout().await.unwrap(), Checkout::Ok);
                    Self::insert(&db, &tokens[0]).await.unwrap();
                    in_turn.send(()).unwrap();
                    has_answered.await.unwrap();
                    assert_eq!(Self::count(&db, &tokens[0]).await, 1);
                });
            });
            scope.spawn(|| {
                run_async(Self::config("while_another_runs_second"), || async {
                    is_in_turn.await.unwrap();
                    let second = callers()[0];
                    let impatient =
                        CheckoutOptions::default().ownership_timeout(Duration::from_secs(1));
                    let checkout = sandbox.checkout_for(second, impatient).await;
                    assert_eq!(checkout.unwrap(), Checkout::Ok);
                    let outcome = Self::insert(&db, &tokens[1]).await;
                    answered.send(()).unwrap();
                    if !serialized {
                        outcome.unwrap();
                        return;
                    }
                    let error = outcome.unwrap_err();
                    assert!(
                        matches!(
                            sandbox_error(&error),
                            SandboxError::SerializedWait { owner, .. } if *owner == second
                        ),
                        "{error:?}"
                    );
                    let message = error.to_string();
                    for expected in ["for its turn and gave up", "serialize_tests"] {
                        assert!(message.contains(expected), "{expected:?} in {message}");
                    }
                });
            });
        });
        let (db, inside) = (sandbox.pool(), tokens.clone());
        run_async(Self::config("while_another_runs_third"), || async move {
            assert_eq!(sandbox.checkout().await.unwrap(), Checkout::Ok);
            for token in &inside {
                Self::insert(&db, token).await.unwrap();
            }
        });
        for token in &tokens {
            assert_eq!(Self::committed(token), 0);
        }
    }

    /// Serialized tests in two processes take turns through the lock on the server: the
    /// first test, in its turn, starts a process that runs the test `fixture` (which
    /// calls [`Suite::serialized_fixture`]), keeps its turn until `waiters` (SQL counting
    /// the sessions that wait for the lock that serializes tests) sees that process wait,
    /// then ends. The fixture's test begins only after the first one ended (it finds the
    /// file the first one wrote at its end).
    #[allow(
        dead_code,
        reason = "for the backends that serialize on a server (PostgreSQL, MySQL); SQLite has none"
    )]
    pub fn serialized_processes_take_turns_through_the_server(
        fixture: &str,
        waiters: &'static str,
    ) {
        let sandbox = Self::builder("turns")
            .serialize_tests(true)
            .auto()
            .build()
            .unwrap();
        let prefix = token("turns");
        let (first, second) = (format!("{prefix}-first"), format!("{prefix}-second"));
        let place = std::env::temp_dir().join(&prefix);
        std::fs::create_dir(&place).unwrap();
        let process = Mutex::new(None);
        run_async(Self::config("turns_first"), || async {
            Self::insert(&sandbox.pool(), &first).await.unwrap();
            // In its turn: the fixture's test waits for it.
            let started = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--ignored", "--exact", fixture, "--quiet"])
                .env(TURNS_FIXTURE, &place)
                .env(TURNS_FIXTURE_TOKEN, &second)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            *process.lock().unwrap() = Some(started);
            Self::until_someone_waits(waiters).await;
            std::fs::write(place.join(FIRST_ENDED), "").unwrap();
        });
        let process = process.lock().unwrap().take().unwrap();
        let output = process.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "the fixture's test failed: {}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let began = std::fs::read_to_string(place.join(SECOND_BEGAN)).unwrap();
        std::fs::remove_dir_all(&place).unwrap();
        assert_eq!(began, "after the first ended");
        for token in [&first, &second] {
            assert_eq!(Self::committed(token), 0);
        }
    }

    /// The test that [`Suite::serialized_processes_take_turns_through_the_server`] runs in
    /// a process of its own: it inserts (its first statement, which waits for the turn),
    /// and records whether the first test had ended by then. Does nothing unless started
    /// so.
    #[allow(
        dead_code,
        reason = "for the backends that serialize on a server (PostgreSQL, MySQL); SQLite has none"
    )]
    pub fn serialized_fixture() {
        let (Ok(place), Ok(mine)) = (
            std::env::var(TURNS_FIXTURE),
            std::env::var(TURNS_FIXTURE_TOKEN),
        ) else {
            return;
        };
        let place = std::path::PathBuf::from(place);
        let sandbox = Self::builder("turns")
            .serialize_tests(true)
            .auto()
            .build()
            .unwrap();
        run_async(Self::config("turns_second"), || async {
            Self::insert(&sandbox.pool(), &mine).await.unwrap();
            let when = if place.join(FIRST_ENDED).exists() {
                "after the first ended"
            } else {
                "while the first ran"
            };
            std::fs::write(place.join(SECOND_BEGAN), when).unwrap();
        });
    }

    /// Waits (at most thirty seconds) until `waiters`, run outside any sandbox, counts a
    /// session that waits for the lock that serializes tests.
    #[allow(
        dead_code,
        reason = "for the backends that serialize on a server (PostgreSQL, MySQL); SQLite has none"
    )]
    async fn until_someone_waits(waiters: &'static str) {
        let mut admin = <B::DB as Database>::Connection::connect(&B::url())
            .await
            .unwrap();
        until(
            "a test to wait for the lock that serializes tests",
            async || Self::count_sessions(&mut admin, waiters, 0).await > 0,
        )
        .await;
    }

    /// Runs `sql` (`{id}` replaced by `id`), which counts something, on `admin`.
    #[allow(
        dead_code,
        reason = "for the backends with a server (PostgreSQL, MySQL); SQLite has none"
    )]
    async fn count_sessions(
        admin: &mut <B::DB as Database>::Connection,
        sql: &str,
        id: i64,
    ) -> i64 {
        let sql = AssertSqlSafe(sql.replace("{id}", &id.to_string()));
        sqlx::query_scalar(sql).fetch_one(admin).await.unwrap()
    }

    /// Ends, as the server would (an idle timeout, an administrator), the sessions a test
    /// left idle: its connection, once back in the sandbox's pool, and the connection
    /// that held the lock of serialized tests, once it released it.
    #[allow(
        dead_code,
        reason = "for the backends with a server (PostgreSQL, MySQL); SQLite has none"
    )]
    fn end_idle_sessions(sandbox: &Sandbox<B::DB>, sessions: &Sessions, used: Used) {
        runtime().block_on(async {
            let mut admin = <B::DB as Database>::Connection::connect(&B::url())
                .await
                .unwrap();
            let pool = sandbox.pool();
            until("the test's connection to be back in the pool", async || {
                pool.num_idle() > 0
            })
            .await;
            if let Some(locking) = used.locking {
                until("the test's turn to release its lock", async || {
                    Self::count_sessions(&mut admin, sessions.holds_lock, locking).await == 0
                })
                .await;
            }
            for id in [Some(used.connection), used.locking].into_iter().flatten() {
                let kill = AssertSqlSafe(sessions.kill.replace("{id}", &id.to_string()));
                sqlx::raw_sql(kill).execute(&mut admin).await.unwrap();
                until("the killed session to end", async || {
                    Self::count_sessions(&mut admin, sessions.alive, id).await == 0
                })
                .await;
            }
        });
    }

    /// A connection the server ended while it sat idle in the sandbox's pool (an idle
    /// timeout, an administrator's kill), and the idle connection that holds the lock of
    /// serialized tests, fail no test: the next test's first round trip, which has sent
    /// nothing of the test's yet, finds its connection closed, and the sandbox goes on,
    /// transparently, on another one from its pool, whichever way the test first uses it
    /// ([`FirstUse`]). A pool of one: each next test gets the connection the server
    /// ended. The sandbox is serialized, on `url` (its own spelling of the database's URL,
    /// so that its lock is held by a connection of its own).
    #[allow(
        dead_code,
        reason = "for the backends with a server (PostgreSQL, MySQL); SQLite has none"
    )]
    pub fn connections_the_server_ended_while_idle_are_replaced(url: String, sessions: &Sessions) {
        let sandbox = Sandbox::builder(format!("{}-ended-idle", B::NAME), url)
            .migrations(B::migrator())
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .serialize_tests(true)
            .auto()
            .build()
            .unwrap();
        let prefix = token("ended-idle");
        let flavor = Flavor::CurrentThread;
        let holder = Some(sessions.lock_holder);
        let first = format!("{prefix}-first");
        let mut used = Self::test_first_use(&sandbox, FirstUse::Statement, flavor, &first, holder);
        for way in FirstUse::ALL {
            Self::end_idle_sessions(&sandbox, sessions, used);
            let mine = format!("{prefix}-{way:?}");
            let next = Self::test_first_use(&sandbox, way, flavor, &mine, holder);
            assert_ne!(
                next.connection, used.connection,
                "{way:?}: a new connection"
            );
            if let (Some(before), Some(now)) = (used.locking, next.locking) {
                assert_ne!(before, now, "{way:?}: a new locking connection");
            }
            used = next;
        }
        assert_eq!(Self::committed(&format!("{prefix}-%")), 0);
    }

    /// Ends the sandbox's transaction behind its back with `statement`: the test fails,
    /// naming `cause`. What the test wrote really was committed: deleted here, with what
    /// `cleanup` (run outside any sandbox) removes.
    #[allow(
        dead_code,
        reason = "for the backends with a sandbox transaction (PostgreSQL, MySQL); SQLite has none"
    )]
    pub fn ending_the_sandbox_transaction_fails_the_test(
        test: &str,
        statement: &str,
        cause: &str,
        cleanup: Option<&str>,
    ) {
        let db = Self::auto().pool();
        let mine = token(test);
        let (inside, statement) = (mine.clone(), AssertSqlSafe(statement.to_owned()));
        let report = failure_of(Self::config(test), async move || {
            Self::insert(&db, &inside).await.unwrap();
            db.execute(statement).await.unwrap();
        });
        for expected in [
            "` (after the test): the test's sandbox transaction had already ended",
            "what the test wrote may have been committed",
            cause,
        ] {
            assert!(report.contains(expected), "{expected:?} in {report}");
        }
        assert_eq!(Self::committed(&mine), 1, "it really was committed");
        Self::delete_at(&B::url(), &mine);
        if let Some(cleanup) = cleanup {
            Self::outside(&B::url(), async |connection| {
                connection
                    .execute(AssertSqlSafe(cleanup.to_owned()))
                    .await
                    .unwrap();
            });
        }
        assert_eq!(Self::committed(&mine), 0);
    }
}

/// One `#[test]` per behaviour of [`Suite`] for the backend `$backend`, each skipped with
/// a notice when its server is unreachable (a failure under `CI=true`).
/// A behaviour missing from this list is a method of `Suite` never used: the compiler
/// warns.
macro_rules! behaviour_suite {
    ($backend:ty) => {
        $crate::behaviour::behaviour_suite!(@test $backend, a_tests_rows_are_visible_to_it_and_rolled_back_after_it);
        $crate::behaviour::behaviour_suite!(@test $backend, concurrent_tests_do_not_see_each_others_rows);
        $crate::behaviour::behaviour_suite!(@test $backend, app_transactions_become_savepoints);
        $crate::behaviour::behaviour_suite!(@test $backend, a_unique_violation_leaves_the_test_usable);
        $crate::behaviour::behaviour_suite!(@test $backend, a_tests_tasks_share_its_one_connection);
        $crate::behaviour::behaviour_suite!(@test $backend, manual_mode_without_a_checkout_explains_how_to_fix_it);
        $crate::behaviour::behaviour_suite!(@test $backend, a_task_that_outlives_its_test_gets_a_clear_error);
        $crate::behaviour::behaviour_suite!(@test $backend, a_panic_mid_transaction_rolls_back_and_the_connection_is_reused_cleanly);
        $crate::behaviour::behaviour_suite!(@test $backend, an_exhausted_pool_says_how_many_connections_and_waiters);
        $crate::behaviour::behaviour_suite!(@test $backend, the_ownership_timeout_takes_the_connection_back);
        $crate::behaviour::behaviour_suite!(@test $backend, shared_mode_gives_every_actor_the_owners_connection);
        $crate::behaviour::behaviour_suite!(@test $backend, a_shared_test_that_first_uses_its_sandbox_has_it_shared_before_its_body);
        $crate::behaviour::behaviour_suite!(@test $backend, production_handles_go_straight_to_the_pool);
        $crate::behaviour::behaviour_suite!(@test $backend, fifty_concurrent_tests_insert_the_same_unique_key_and_all_pass);
        $crate::behaviour::behaviour_suite!(@test $backend, one_sandbox_serves_many_per_test_runtimes_without_failures);
        $crate::behaviour::behaviour_suite!(@test $backend, no_tests_runtime_drives_a_connection_that_the_next_test_gets);
        $crate::behaviour::behaviour_suite!(@test $backend, a_nested_query_of_a_task_that_took_the_connection_over_is_refused);
        $crate::behaviour::behaviour_suite!(@test $backend, a_test_that_names_the_sandbox_gets_a_connection_before_its_body);
        $crate::behaviour::behaviour_suite!(@test $backend, switching_modes_leaves_every_test_its_connection);
        $crate::behaviour::behaviour_suite!(@test $backend, shared_mode_needs_an_owner_with_a_connection_and_no_other_shared_owner);
        $crate::behaviour::behaviour_suite!(@test $backend, allow_tells_its_refusals_apart_and_is_a_no_op_in_shared_mode);
        $crate::behaviour::behaviour_suite!(@test $backend, a_post_checkout_hook_seeds_each_test_and_is_rolled_back);
        $crate::behaviour::behaviour_suite!(@test $backend, a_failing_post_checkout_hook_fails_the_checkout_and_gives_the_connection_back);
        $crate::behaviour::behaviour_suite!(@test $backend, a_pre_checkin_hook_sees_the_tests_rows_and_is_rolled_back);
        $crate::behaviour::behaviour_suite!(@test $backend, a_failing_pre_checkin_hook_fails_the_checkin_and_still_rolls_back);
        $crate::behaviour::behaviour_suite!(@test $backend, an_unsandboxed_tests_pre_checkin_hook_cleans_up_for_real);
        $crate::behaviour::behaviour_suite!(@test $backend, unallow_existing_moves_an_allowed_worker_to_another_tests_connection);
        $crate::behaviour::behaviour_suite!(@test $backend, a_serialized_test_does_not_wait_for_its_own_connections);
        $crate::behaviour::behaviour_suite!(@test $backend, a_serialized_test_waits_while_another_runs);
        $crate::behaviour::behaviour_suite!(@test $backend, only_mysql_serializes_tests_by_default);
    };
    (@test $backend:ty, $behaviour:ident) => {
        #[test]
        fn $behaviour() {
            let test = concat!(module_path!(), "::", stringify!($behaviour));
            if <$backend as $crate::behaviour::Backend>::available(test) {
                $crate::behaviour::Suite::<$backend>::$behaviour();
            }
        }
    };
}
pub(crate) use behaviour_suite;
