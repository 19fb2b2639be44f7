//! What a test function takes, as `#[sqlx::test]` gives it: `pool: PgPool`,
//! `conn: PoolConnection<DB>`, `pool: SandboxPool<DB>`, or `(PoolOptions<DB>,
//! ConnectOptions)`; made for each test before its body, and ended after it.
//!
//! `#[owned_test]` on a function with arguments makes one [`TestArgs`] `static` for it,
//! names it as the test's first resource, and calls the body with
//! [`TestArgs::take`]. Which database, migrations and fixtures: the test's options
//! (`sandbox = DB`, `migrations = ".."`, `migrator = ".."`, `fixtures(..)`), else
//! `DATABASE_URL` and the crate's `migrations/` folder.
//!
//! | Argument | What the test gets | Ended after the test |
//! |---|---|---|
//! | `Pool<DB>` (`PgPool`, `MySqlPool`, `SqlitePool`) | a pool of one connection, in a transaction the sandbox began; `begin()` makes savepoints | rolled back, closed |
//! | `PoolConnection<DB>` | that pool's connection | rolled back, closed |
//! | [`SandboxPool<DB>`] | the sandbox's pool, with a connection checked out for the test | checked in (rolled back) |
//! | `(PoolOptions<DB>, ConnectOptions)` | options to connect to a database of the test's own, made from the migrated template (PostgreSQL, SQLite) or made and migrated for the test (MySQL, which has no templates); nothing to roll back: the test may commit. The options have no idle timeout and no lifetime, so that a pool the test makes runs no task past it | dropped |
//!
//! On SQLite, each test has its own copy of the migrated template, thrown away after
//! the test: the pool, the connection and the `SandboxPool` are on a copy in memory (the
//! template's file is read once per process; each test's database lives in its one
//! connection, and nothing is written to disk), the pool options and connect options on
//! a copy in a file beside the template (the connections the test opens reach it by its
//! path), deleted after the test.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};

use futures_core::future::BoxFuture;
use ownership_runtime::harness::{Failure, TestContext, TestResource};
use ownership_runtime::{ActorId, Mode, SharedOwnerDown};
use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::{Executor, Pool};

use crate::backend::SandboxDatabase;
use crate::default_sandbox::{TestMigrations, default_sandbox, skip_if_unreachable};
use crate::error::SandboxError;
use crate::fixtures::{TestFixture, apply};
use crate::handle::SandboxPool;
#[cfg(feature = "mysql")]
use crate::mysql_database::OwnDatabase;
use crate::resource::failure_of;
use crate::sandbox::Sandbox;
use crate::spare_pools::set_shared_owner;
use crate::template::Place;
use crate::test_pool::TestPool;

/// The arguments of one test function, made for each of its runs: the `static` that
/// `#[owned_test]` makes for a test that takes arguments, and names as its first
/// resource. `A` is the tuple of the argument types.
///
/// ```no_run
/// use ownership_runtime::harness::{run_async, TestConfig, TestResource};
/// use sandbox_sqlx::{TestArgs, TestMigrations};
/// use sqlx::PgPool;
///
/// // What `#[owned_test] async fn counts_users(pool: PgPool)` expands to, roughly.
/// async fn counts_users(pool: PgPool) {
///     let users: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_user")
///         .fetch_one(&pool)
///         .await
///         .unwrap();
///     assert!(users > 0);
/// }
/// static ARGS: TestArgs<(PgPool,)> = TestArgs::new(TestMigrations::None, &[]);
/// static RESOURCES: [&dyn TestResource; 1] = [&ARGS];
/// run_async(TestConfig::new("docs::counts_users").resources(&RESOURCES), || {
///     let (pool,) = ARGS.take();
///     counts_users(pool)
/// });
/// ```
pub struct TestArgs<A: TestArgList> {
    migrations: TestMigrations,
    fixtures: &'static [TestFixture],
    sandbox: Option<fn() -> &'static Sandbox<A::Database>>,
    /// What each running test was given, and what ends it.
    prepared: Mutex<Vec<Prepared<A>>>,
    _arguments: PhantomData<fn() -> A>,
}

/// One test's arguments, until its body takes them, and what ends them.
struct Prepared<A: TestArgList> {
    test: ActorId,
    arguments: Option<A>,
    held: Held<A::Database>,
    label: Arc<str>,
}

/// What a test's arguments hold, to end after the test (opaque: made by
/// [`TestArgList::make`]).
pub struct Held<DB: SandboxDatabase>(Holding<DB>);

enum Holding<DB: SandboxDatabase> {
    /// The test's own pool.
    Pool(TestPool<DB>),
    /// The test's own MySQL database, dropped after the test.
    #[cfg(feature = "mysql")]
    Database(Box<OwnDatabase>),
    /// Nothing: the sandbox or the template database ends what it gave.
    Nothing,
}

impl<A: TestArgList> TestArgs<A> {
    /// The arguments of a test whose migrations are `migrations` and whose fixtures are
    /// `fixtures` (run in order in the test's transaction, before its body).
    ///
    /// ```
    /// use sandbox_sqlx::{TestArgs, TestFixture, TestMigrations};
    /// use sqlx::SqlitePool;
    ///
    /// static SEEDED: TestArgs<(SqlitePool,)> = TestArgs::new(
    ///     TestMigrations::None,
    ///     &[TestFixture::new("fixtures/users.sql", "CREATE TABLE users (name TEXT);")],
    /// );
    /// # let _ = &SEEDED;
    /// ```
    pub const fn new(migrations: TestMigrations, fixtures: &'static [TestFixture]) -> Self {
        TestArgs {
            migrations,
            fixtures,
            sandbox: None,
            prepared: Mutex::new(Vec::new()),
            _arguments: PhantomData,
        }
    }

    /// Takes the database (its URL and migrations) from `sandbox` instead of
    /// `DATABASE_URL` (`#[owned_test(sandbox = DB)]`); `migrations` are then the
    /// sandbox's own.
    ///
    /// ```
    /// use std::sync::LazyLock;
    /// use sandbox_sqlx::{Sandbox, TestArgs, TestMigrations};
    /// use sqlx::{Sqlite, SqlitePool};
    ///
    /// static DB: LazyLock<Sandbox<Sqlite>> = LazyLock::new(|| {
    ///     Sandbox::builder("app-db", "sqlite://target/doc-args.db").build().unwrap()
    /// });
    /// static ARGS: TestArgs<(SqlitePool,)> =
    ///     TestArgs::new(TestMigrations::None, &[]).sandbox(|| &DB);
    /// # let _ = &ARGS;
    /// ```
    pub const fn sandbox(mut self, sandbox: fn() -> &'static Sandbox<A::Database>) -> Self {
        self.sandbox = Some(sandbox);
        self
    }

    /// The current test's arguments, made before its body: what the body is called with.
    ///
    /// # Panics
    ///
    /// Outside a test that names these arguments as a resource (the harness makes them
    /// before the body), or a second time in one test.
    pub fn take(&self) -> A {
        let chain = ownership_runtime::callers();
        let mut prepared = self.prepared.lock().unwrap_or_else(PoisonError::into_inner);
        let found = prepared
            .iter_mut()
            .find(|prepared| chain.contains(&prepared.test))
            .and_then(|prepared| prepared.arguments.take());
        match found {
            Some(arguments) => arguments,
            None => panic!(
                "sandbox-sqlx: this test's database arguments were not made for it: \
                 `TestArgs::take` runs in the body of a test that names the `TestArgs` as a \
                 resource (as `#[owned_test]` does), once"
            ),
        }
    }
}

impl<A: TestArgList> TestResource for TestArgs<A>
where
    for<'c> &'c mut <A::Database as sqlx::Database>::Connection:
        Executor<'c, Database = A::Database>,
{
    /// The sandbox's name ("sandbox `app-db`") with `sandbox = DB`, else "the test's
    /// database".
    fn name(&self) -> String {
        match self.sandbox {
            Some(sandbox) => sandbox().state.name(),
            None => crate::default_sandbox::LABEL.to_owned(),
        }
    }

    /// Makes the test's arguments: the sandbox (and its database, migrated once per run),
    /// then the arguments, then the fixtures in the test's transaction.
    fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
        let runtime = ownership_runtime::background::handle().map_err(Failure::from_error)?;
        // On the harness's thread, as the test (the fixtures of a `SandboxPool` run as it).
        let made = runtime.block_on(async {
            let sandbox = match self.sandbox {
                Some(sandbox) => sandbox(),
                None => default_sandbox::<A::Database>(&self.migrations)
                    .await
                    .map_err(|error| (None, error))?,
            };
            let source = Source {
                sandbox,
                fixtures: self.fixtures,
                test: test.actor(),
            };
            match A::make(source).await {
                Ok((arguments, held)) => Ok((arguments, held, sandbox)),
                Err(error) => Err((Some(sandbox), error)),
            }
        });
        match made {
            Ok((arguments, held, sandbox)) => {
                self.prepared
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Prepared {
                        test: test.actor(),
                        arguments: Some(arguments),
                        held,
                        label: sandbox.state.label.clone(),
                    });
                Ok(())
            }
            Err((Some(sandbox), error)) => Err(sandbox.state.failure(error)),
            Err((None, error)) => Err(failure_of(
                crate::default_sandbox::LABEL,
                skip_if_unreachable(),
                error,
            )),
        }
    }

    /// Lets `actor` use the pool `owner`'s arguments hold (`allow_all`).
    fn allow(&self, owner: ActorId, actor: ActorId) -> Result<(), Failure> {
        let prepared = self.prepared.lock().unwrap_or_else(PoisonError::into_inner);
        for held in prepared.iter() {
            if let Holding::Pool(pool) = &held.held.0 {
                pool.allow(owner, actor);
            }
        }
        Ok(())
    }

    /// A shared test's pool may be used by every actor.
    fn switch_mode(&self, mode: Mode) -> Result<(), SharedOwnerDown> {
        set_shared_owner(match mode {
            Mode::Shared(owner) => Some(owner),
            Mode::Private => None,
        });
        Ok(())
    }

    /// Ends what the test's arguments hold: rolls its pool back and closes it.
    fn after_test(&self, test: &TestContext) -> Vec<Failure> {
        let mine = {
            let mut prepared = self.prepared.lock().unwrap_or_else(PoisonError::into_inner);
            let index = prepared.iter().position(|held| held.test == test.actor());
            index.map(|index| prepared.swap_remove(index))
        };
        let Some(Prepared {
            arguments,
            held,
            label,
            test: owner,
        }) = mine
        else {
            return Vec::new();
        };
        drop(arguments); // never taken: the body didn't run
        match held.0 {
            Holding::Nothing => Vec::new(),
            #[cfg(feature = "mysql")]
            Holding::Database(database) => match ownership_runtime::background::handle() {
                Ok(runtime) => runtime
                    .block_on((*database).drop_now())
                    .err()
                    .into_iter()
                    .map(|error| failure_of(&label, false, error))
                    .collect(),
                Err(error) => vec![Failure::from_error(error)],
            },
            Holding::Pool(pool) => match ownership_runtime::background::handle() {
                Ok(runtime) => runtime
                    .block_on(pool.close(&label, owner))
                    .into_iter()
                    .map(|error| failure_of(&label, false, error))
                    .collect(),
                Err(error) => vec![Failure::from_error(error)],
            },
        }
    }
}

/// What making a test's arguments starts from (opaque: made by [`TestArgs`]).
pub struct Source<DB: SandboxDatabase> {
    sandbox: &'static Sandbox<DB>,
    fixtures: &'static [TestFixture],
    test: ActorId,
}

/// The arguments a test function can take, as a tuple of their types: `(PgPool,)`,
/// `(PoolConnection<Postgres>,)`, `(SandboxPool<Postgres>,)`, `(PgPoolOptions,
/// PgConnectOptions)`, and the same for MySQL and SQLite.
#[diagnostic::on_unimplemented(
    message = "an `#[owned_test]` can't take `{Self}`",
    label = "not arguments the sandbox can make",
    note = "a test takes what `#[sqlx::test]` gives: `pool: PgPool` (any `sqlx::Pool<DB>`), \
            `conn: PoolConnection<DB>`, `pool: SandboxPool<DB>`, or `(PgPoolOptions, \
            PgConnectOptions)` (and the same of MySQL or SQLite); and the backend's feature of \
            sandbox-sqlx must be on"
)]
pub trait TestArgList: Sized + Send + 'static {
    /// The database the arguments are of.
    type Database: SandboxDatabase;

    /// Makes the arguments for the test, and what ends them.
    #[doc(hidden)]
    fn make(source: Source<Self::Database>) -> Made<Self>;
}

/// The arguments `A`, being made, and what ends them.
pub type Made<A> =
    BoxFuture<'static, Result<(A, Held<<A as TestArgList>::Database>), SandboxError>>;

/// The pool options a test that takes `(PoolOptions<DB>, ConnectOptions)` gets: sqlx's
/// defaults, but for the idle timeout and the lifetime of connections, which sqlx
/// enforces with a task that runs as long as the pool: a pool the test makes and drops
/// without closing would leave it running past the test (a leftover task). A test that
/// wants them sets them again.
fn test_pool_options<DB: sqlx::Database>() -> PoolOptions<DB> {
    PoolOptions::new().idle_timeout(None).max_lifetime(None)
}

/// Runs the test's fixtures, if it has any, on the connection `acquire` gives.
async fn seed<DB, C>(
    source: &Source<DB>,
    acquire: impl Future<Output = Result<C, sqlx::Error>>,
) -> Result<(), SandboxError>
where
    DB: SandboxDatabase,
    C: std::ops::DerefMut<Target = DB::Connection>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    if source.fixtures.is_empty() {
        return Ok(());
    }
    let label = source.sandbox.label();
    let mut connection = acquire.await.map_err(|error| SandboxError::Database {
        label: label.to_owned(),
        context: "could not run the test's fixtures",
        source: error,
    })?;
    apply::<DB>(&mut connection, source.fixtures, label).await
}

/// Opens the test's pool (on SQLite, on a copy of the template in `place`) and runs its
/// fixtures on it.
async fn seeded_pool<DB: SandboxDatabase>(
    source: &Source<DB>,
    place: Place,
) -> Result<TestPool<DB>, SandboxError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let pool = TestPool::open(&source.sandbox.state, source.test, place).await?;
    seed(source, pool.pool().acquire()).await?;
    Ok(pool)
}

impl<DB: SandboxDatabase> TestArgList for (Pool<DB>,)
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn make(source: Source<DB>) -> Made<Self> {
        Box::pin(async move {
            let pool = seeded_pool(&source, Place::Memory).await?;
            Ok(((pool.pool().clone(),), Held(Holding::Pool(pool))))
        })
    }
}

impl<DB: SandboxDatabase> TestArgList for (PoolConnection<DB>,)
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn make(source: Source<DB>) -> Made<Self> {
        Box::pin(async move {
            let pool = seeded_pool(&source, Place::Memory).await?;
            let connection =
                pool.pool()
                    .acquire()
                    .await
                    .map_err(|error| SandboxError::Database {
                        label: source.sandbox.label().to_owned(),
                        context: "could not take the test's connection",
                        source: error,
                    })?;
            Ok(((connection,), Held(Holding::Pool(pool))))
        })
    }
}

impl<DB: SandboxDatabase> TestArgList for (SandboxPool<DB>,)
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn make(source: Source<DB>) -> Made<Self> {
        Box::pin(async move {
            let sandbox = source.sandbox;
            sandbox
                .checkout_for(source.test, sandbox.state.defaults())
                .await?;
            let pool = sandbox.pool();
            seed(&source, pool.acquire()).await?;
            Ok(((pool,), Held(Holding::Nothing)))
        })
    }
}

#[cfg(feature = "postgres")]
impl TestArgList
    for (
        PoolOptions<sqlx::Postgres>,
        sqlx::postgres::PgConnectOptions,
    )
{
    type Database = sqlx::Postgres;

    fn make(source: Source<sqlx::Postgres>) -> Made<Self> {
        Box::pin(async move {
            let databases = crate::default_sandbox::template_databases(source.sandbox)?;
            let pool = databases.pool().await?;
            seed(&source, pool.acquire()).await?;
            let options = (*pool.connect_options()).clone();
            Ok(((test_pool_options(), options), Held(Holding::Nothing)))
        })
    }
}

#[cfg(feature = "mysql")]
impl TestArgList for (PoolOptions<sqlx::MySql>, sqlx::mysql::MySqlConnectOptions) {
    type Database = sqlx::MySql;

    fn make(source: Source<sqlx::MySql>) -> Made<Self> {
        Box::pin(async move {
            // MySQL has no templates: a database made and migrated for the test.
            let (database, options) = OwnDatabase::make(&source.sandbox.state).await?;
            let held = Held(Holding::Database(Box::new(database)));
            if !source.fixtures.is_empty() {
                // On the background runtime, where the arguments are made.
                let seeding = PoolOptions::<sqlx::MySql>::new()
                    .max_connections(1)
                    .connect_lazy_with(options.clone());
                let seeded = seed(&source, seeding.acquire()).await;
                seeding.close().await;
                seeded?;
            }
            Ok(((test_pool_options(), options), held))
        })
    }
}

#[cfg(any(feature = "sqlite", feature = "sqlite-unbundled"))]
impl TestArgList
    for (
        PoolOptions<sqlx::Sqlite>,
        sqlx::sqlite::SqliteConnectOptions,
    )
{
    type Database = sqlx::Sqlite;

    fn make(source: Source<sqlx::Sqlite>) -> Made<Self> {
        Box::pin(async move {
            // The test's own copy of the template in a file (an in-memory database can't
            // be reached by the connections the test opens), seeded: the test connects to
            // it as it likes, and it is deleted after the test.
            let copy = seeded_pool(&source, Place::File).await?;
            let options = (*copy.pool().connect_options()).clone();
            Ok(((test_pool_options(), options), Held(Holding::Pool(copy))))
        })
    }
}
