//! The sandbox: a pool whose connections are checked out by tests, each inside a
//! transaction that is rolled back at checkin, and owned through an
//! [`Ownership`](ownership_runtime::Ownership) server.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use futures_core::future::BoxFuture;
use ownership_runtime::harness::TestResource;
use ownership_runtime::runwide::{RunWide, RunWideError};
use ownership_runtime::{ActorId, Found, Mode, Ownership, OwnershipError, callers};
use sqlx::migrate::Migrator;
use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::{Database, Executor, Pool};
use tokio::sync::OnceCell;

use crate::backend::{IsolationLevel, SandboxDatabase};
use crate::conn::{
    OwnedConnection, PendingBegin, Taken, release_in_background, rollback_and_release,
};
use crate::error::{AllowRefusal, HookKind, SandboxError, SandboxMode, SharedModeRefusal};
use crate::handle::{SandboxPool, settle};
use crate::migrations::{MIGRATIONS_WAIT, Migrations};
use crate::reach::{AcquireError, Reach};
use crate::template;
use crate::timeouts::Timeouts;
use crate::turns::Turns;
use crate::url::{DatabaseUrl, UrlProblem};

/// The default [`CheckoutOptions::ownership_timeout`].
///
/// ```
/// use std::time::Duration;
/// use sandbox_sqlx::{CheckoutOptions, DEFAULT_OWNERSHIP_TIMEOUT};
/// use sqlx::Postgres;
///
/// assert_eq!(DEFAULT_OWNERSHIP_TIMEOUT, Duration::from_secs(120));
/// // A slow suite's checkouts may hold their connection five times as long.
/// let patient = CheckoutOptions::<Postgres>::default()
///     .ownership_timeout(DEFAULT_OWNERSHIP_TIMEOUT * 5);
/// assert!(format!("{patient:?}").contains("ownership_timeout: 600s"));
/// ```
pub const DEFAULT_OWNERSHIP_TIMEOUT: Duration = Duration::from_secs(120);

/// A function run on a test's connection by the sandbox: see
/// [`CheckoutOptions::post_checkout`] and [`CheckoutOptions::pre_checkin`].
///
/// ```
/// use std::sync::Arc;
/// use futures_core::future::BoxFuture;
/// use sandbox_sqlx::{CheckoutOptions, ConnectionHook};
/// use sqlx::{Executor, PgConnection, Postgres};
///
/// fn seed(connection: &mut PgConnection) -> BoxFuture<'_, Result<(), sqlx::Error>> {
///     Box::pin(async move {
///         connection.execute("INSERT INTO plans (name) VALUES ('basic')").await?;
///         Ok(())
///     })
/// }
///
/// // One hook, kept to be shared by several sets of options.
/// let hook: ConnectionHook<Postgres> = Arc::new(seed);
/// let shared = hook.clone();
/// let options = CheckoutOptions::<Postgres>::default().post_checkout(move |c| shared(c));
/// assert!(format!("{options:?}").contains("post_checkout: true"));
/// ```
pub type ConnectionHook<DB> = Arc<
    dyn for<'c> Fn(&'c mut <DB as Database>::Connection) -> BoxFuture<'c, Result<(), sqlx::Error>>
        + Send
        + Sync,
>;

/// How a connection is checked out.
///
/// ```
/// use std::time::Duration;
/// use sandbox_sqlx::{CheckoutOptions, IsolationLevel};
/// use sqlx::{Executor, Postgres};
///
/// let options = CheckoutOptions::<Postgres>::default()
///     .isolation(IsolationLevel::ReadCommitted)
///     .ownership_timeout(Duration::from_secs(300))
///     .post_checkout(|connection| {
///         Box::pin(async move {
///             connection.execute("SET LOCAL statement_timeout = '5s'").await?;
///             Ok(())
///         })
///     });
/// assert!(options.is_sandboxed());
/// ```
pub struct CheckoutOptions<DB: Database> {
    sandboxed: bool,
    isolation: Option<IsolationLevel>,
    ownership_timeout: Duration,
    pub(crate) post_checkout: Option<ConnectionHook<DB>>,
    pub(crate) pre_checkin: Option<ConnectionHook<DB>>,
}

impl<DB: Database> Default for CheckoutOptions<DB> {
    fn default() -> Self {
        CheckoutOptions {
            sandboxed: true,
            isolation: None,
            ownership_timeout: DEFAULT_OWNERSHIP_TIMEOUT,
            post_checkout: None,
            pre_checkin: None,
        }
    }
}

impl<DB: Database> Clone for CheckoutOptions<DB> {
    fn clone(&self) -> Self {
        CheckoutOptions {
            sandboxed: self.sandboxed,
            isolation: self.isolation,
            ownership_timeout: self.ownership_timeout,
            post_checkout: self.post_checkout.clone(),
            pre_checkin: self.pre_checkin.clone(),
        }
    }
}

impl<DB: Database> fmt::Debug for CheckoutOptions<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckoutOptions")
            .field("sandboxed", &self.sandboxed)
            .field("isolation", &self.isolation)
            .field("ownership_timeout", &self.ownership_timeout)
            .field("post_checkout", &self.post_checkout.is_some())
            .field("pre_checkin", &self.pre_checkin.is_some())
            .finish()
    }
}

impl<DB: Database> CheckoutOptions<DB> {
    /// `false`: no wrapping transaction; the test commits for real. Such a test must clean
    /// up what it wrote itself (delete its rows, or truncate its tables, at its end: a
    /// [`pre_checkin`](CheckoutOptions::pre_checkin) hook is a good place), and should not
    /// run beside tests that read the same tables. Has no effect on SQLite, where each
    /// test's database is deleted whole.
    ///
    /// ```
    /// use sandbox_sqlx::CheckoutOptions;
    /// use sqlx::MySql;
    ///
    /// let committing = CheckoutOptions::<MySql>::default().sandbox(false);
    /// assert!(!committing.is_sandboxed());
    /// ```
    pub fn sandbox(mut self, sandboxed: bool) -> Self {
        self.sandboxed = sandboxed;
        self
    }

    /// The isolation level of the sandbox's transaction (the database's default if unset;
    /// on MySQL/MariaDB the sandbox's default is `READ COMMITTED`, see the crate docs).
    ///
    /// ```
    /// use sandbox_sqlx::{CheckoutOptions, IsolationLevel};
    /// use sqlx::MySql;
    ///
    /// // Back to InnoDB's own default, for a test of gap locking.
    /// let options = CheckoutOptions::<MySql>::default().isolation(IsolationLevel::RepeatableRead);
    /// assert!(format!("{options:?}").contains("isolation: Some(RepeatableRead)"));
    /// ```
    pub fn isolation(mut self, level: IsolationLevel) -> Self {
        self.isolation = Some(level);
        self
    }

    /// How long an owner may keep the connection: past it, the connection is taken back
    /// and rolled back, and the owner's next query fails naming the timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sandbox_sqlx::CheckoutOptions;
    /// use sqlx::Sqlite;
    ///
    /// let quick = CheckoutOptions::<Sqlite>::default().ownership_timeout(Duration::from_secs(10));
    /// assert!(format!("{quick:?}").contains("ownership_timeout: 10s"));
    /// ```
    pub fn ownership_timeout(mut self, timeout: Duration) -> Self {
        self.ownership_timeout = timeout;
        self
    }

    /// Runs `hook` on the connection right after checkout, inside the sandbox's
    /// transaction (so what it writes is rolled back with the test's rows): session
    /// settings, `SET LOCAL`, seed rows. If it fails, the checkout fails with
    /// [`SandboxError::Hook`](crate::SandboxError::Hook) and the connection goes back.
    ///
    /// ```
    /// use sandbox_sqlx::CheckoutOptions;
    /// use sqlx::{Executor, Sqlite};
    ///
    /// let options = CheckoutOptions::<Sqlite>::default().post_checkout(|connection| {
    ///     Box::pin(async move {
    ///         connection.execute("PRAGMA foreign_keys = ON").await?;
    ///         Ok(())
    ///     })
    /// });
    /// assert!(format!("{options:?}").contains("post_checkout: true"));
    /// ```
    pub fn post_checkout<F>(mut self, hook: F) -> Self
    where
        F: for<'c> Fn(&'c mut DB::Connection) -> BoxFuture<'c, Result<(), sqlx::Error>>
            + Send
            + Sync
            + 'static,
    {
        self.post_checkout = Some(Arc::new(hook));
        self
    }

    /// Runs `hook` on the connection when it is checked in (the test ended, an explicit
    /// checkin, a mode switch), before the rollback: clean up after an unsandboxed test,
    /// check an invariant of the data. Not run when the ownership timeout takes the
    /// connection back, nor on a connection the server closed. If it fails, the
    /// connection is still rolled back, and checkin reports
    /// [`SandboxError::Hook`](crate::SandboxError::Hook) (failing the test).
    ///
    /// ```
    /// use sandbox_sqlx::CheckoutOptions;
    /// use sqlx::Postgres;
    ///
    /// // Fails the test if it left order lines without an order.
    /// let options = CheckoutOptions::<Postgres>::default().pre_checkin(|connection| {
    ///     Box::pin(async move {
    ///         let orphans: i64 = sqlx::query_scalar(
    ///             "SELECT count(*) FROM lines WHERE order_id NOT IN (SELECT id FROM orders)",
    ///         )
    ///         .fetch_one(&mut *connection)
    ///         .await?;
    ///         match orphans {
    ///             0 => Ok(()),
    ///             n => Err(sqlx::Error::Protocol(format!("{n} order lines have no order"))),
    ///         }
    ///     })
    /// });
    /// assert!(format!("{options:?}").contains("pre_checkin: true"));
    /// ```
    pub fn pre_checkin<F>(mut self, hook: F) -> Self
    where
        F: for<'c> Fn(&'c mut DB::Connection) -> BoxFuture<'c, Result<(), sqlx::Error>>
            + Send
            + Sync
            + 'static,
    {
        self.pre_checkin = Some(Arc::new(hook));
        self
    }

    /// Whether the connection is wrapped in a transaction that is rolled back.
    ///
    /// ```
    /// use sandbox_sqlx::CheckoutOptions;
    /// use sqlx::Postgres;
    ///
    /// fn fate<DB: sqlx::Database>(options: &CheckoutOptions<DB>) -> &'static str {
    ///     if options.is_sandboxed() { "rolled back" } else { "committed" }
    /// }
    /// assert_eq!(fate(&CheckoutOptions::<Postgres>::default()), "rolled back");
    /// ```
    pub fn is_sandboxed(&self) -> bool {
        self.sandboxed
    }
}

/// What [`Sandbox::checkout`] did.
///
/// ```no_run
/// # use sandbox_sqlx::{Checkout, CheckoutOptions, Sandbox, SandboxError};
/// # use sqlx::Postgres;
/// use ownership_runtime::{Actor, callers};
///
/// # async fn example(sandbox: Sandbox<Postgres>) -> Result<(), SandboxError> {
/// sandbox.checkout().await?;
/// let worker = Actor::named("mailer");
/// sandbox.allow(callers()[0], worker.id())?;
/// // The worker uses the test's connection: it gets none of its own.
/// let outcome = sandbox.checkout_for(worker.id(), CheckoutOptions::default()).await?;
/// assert_eq!(outcome, Checkout::AlreadyAllowed);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkout {
    /// A connection was checked out for the actor.
    Ok,
    /// The actor already owns a connection.
    AlreadyOwner,
    /// The actor is already allowed to use another owner's connection.
    AlreadyAllowed,
}

/// What [`Sandbox::checkin`] did.
///
/// ```no_run
/// # use sandbox_sqlx::{Checkin, Sandbox, SandboxError};
/// # use sqlx::Postgres;
/// use ownership_runtime::{Actor, callers};
///
/// # async fn example(sandbox: Sandbox<Postgres>) -> Result<(), SandboxError> {
/// sandbox.checkout().await?;
/// let worker = Actor::named("mailer");
/// sandbox.allow(callers()[0], worker.id())?;
/// // Only the owner checks in: the allowed worker can't.
/// assert_eq!(worker.scope(sandbox.checkin()).await?, Checkin::NotOwner);
/// assert_eq!(sandbox.checkin().await?, Checkin::Ok);
/// assert_eq!(sandbox.checkin().await?, Checkin::NotFound); // nothing left to check in
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkin {
    /// The connection was rolled back and returned to the pool.
    Ok,
    /// The actor only uses a connection it was allowed to: only the owner checks in.
    NotOwner,
    /// The actor has no connection.
    NotFound,
}

/// How [`Sandbox::allow_with`] allows.
///
/// ```
/// use sandbox_sqlx::AllowOptions;
///
/// let options = AllowOptions::default().unallow_existing(true);
/// assert!(options.unallows_existing());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllowOptions {
    unallow_existing: bool,
}

impl AllowOptions {
    /// Whether an allowance the actor has to another owner's connection is taken back
    /// first, instead of the call failing with [`AllowRefusal::AlreadyAllowed`].
    ///
    /// ```
    /// use sandbox_sqlx::AllowOptions;
    ///
    /// let moving = AllowOptions::default().unallow_existing(true);
    /// assert_ne!(moving, AllowOptions::default());
    /// assert_eq!(moving.unallow_existing(false), AllowOptions::default());
    /// ```
    pub fn unallow_existing(mut self, unallow: bool) -> Self {
        self.unallow_existing = unallow;
        self
    }

    /// Whether [`AllowOptions::unallow_existing`] is set.
    ///
    /// ```
    /// use sandbox_sqlx::AllowOptions;
    ///
    /// // By default an actor allowed elsewhere stays where it is.
    /// assert!(!AllowOptions::default().unallows_existing());
    /// ```
    pub fn unallows_existing(&self) -> bool {
        self.unallow_existing
    }
}

/// The mode [`Sandbox::set_mode`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checkouts {
    Manual,
    Auto,
}

pub(crate) struct State<DB: SandboxDatabase> {
    pub(crate) label: Arc<str>,
    pub(crate) pool: Pool<DB>,
    url: DatabaseUrl,
    /// Whether the server was reached, and the failure to reach it if not.
    reach: Arc<Reach>,
    pub(crate) owners: Ownership<(), Arc<OwnedConnection<DB>>>,
    checkouts: RwLock<Checkouts>,
    defaults: CheckoutOptions<DB>,
    migrator: Option<&'static Migrator>,
    /// How long to wait for another process's migrations.
    migrations_wait: Duration,
    /// Whether tests that name the sandbox are skipped when its server can't be reached.
    pub(crate) skip_if_unreachable: bool,
    migrated: OnceCell<()>,
    /// Checkouts waiting for a free connection.
    waiting: AtomicUsize,
    /// The ownership timeouts of checked-out connections.
    timeouts: Timeouts<DB>,
    /// How many per-test databases may exist at once (`max_connections`), for backends
    /// that copy a template per test.
    copies: Arc<tokio::sync::Semaphore>,
    /// A connection the migrations check left for the first checkout, so that a process
    /// that runs one test (nextest) opens one connection, not two.
    spare: Arc<Mutex<Option<PoolConnection<DB>>>>,
    /// The turns of serialized tests (see [`SandboxBuilder::serialize_tests`]); `None`
    /// when tests run at once.
    turns: Option<Turns<DB>>,
}

impl<DB: SandboxDatabase> Drop for State<DB> {
    fn drop(&mut self) {
        // A pooled connection goes back to its pool inside the background runtime, which
        // a sandbox dropped outside any runtime (a local one, in a plain test) lacks.
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(connection) = spare {
            release_in_background(connection, false);
        }
    }
}

/// A database sandbox (see the [crate docs](crate)). Cheap to clone: clones share it.
///
/// ```no_run
/// use std::sync::LazyLock;
/// use sandbox_sqlx::Sandbox;
/// use sqlx::Sqlite;
///
/// static DB: LazyLock<Sandbox<Sqlite>> = LazyLock::new(|| {
///     Sandbox::builder("app-db", "sqlite://target/app.db").build().expect("a valid URL")
/// });
///
/// # async fn test() -> Result<(), Box<dyn std::error::Error>> {
/// // In an owned test (`#[owned_test(sandbox = DB)]` checks out for it):
/// DB.checkout().await?;
/// let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&DB.pool()).await?;
/// assert_eq!(one, 1);
/// # Ok(()) }
/// ```
pub struct Sandbox<DB: SandboxDatabase> {
    pub(crate) state: Arc<State<DB>>,
}

impl<DB: SandboxDatabase> Clone for Sandbox<DB> {
    fn clone(&self) -> Self {
        Sandbox {
            state: self.state.clone(),
        }
    }
}

impl<DB: SandboxDatabase> Sandbox<DB> {
    /// The sandbox's label.
    ///
    /// ```
    /// use sandbox_sqlx::Sandbox;
    /// use sqlx::Postgres;
    ///
    /// let sandbox = Sandbox::<Postgres>::builder("billing-db", "postgres://root@127.0.0.1/test")
    ///     .build()?;
    /// assert_eq!(sandbox.label(), "billing-db");
    /// assert_eq!(sandbox.clone().label(), "billing-db"); // clones share the sandbox
    /// # Ok::<(), sandbox_sqlx::SandboxError>(())
    /// ```
    pub fn label(&self) -> &str {
        &self.state.label
    }

    /// The sandbox's mode.
    ///
    /// ```
    /// use sandbox_sqlx::{Sandbox, SandboxMode};
    /// use sqlx::MySql;
    ///
    /// let sandbox = Sandbox::<MySql>::builder("app-db", "mysql://root@127.0.0.1:3306/test")
    ///     .build()?;
    /// assert_eq!(sandbox.mode(), SandboxMode::Manual);
    /// assert_eq!(format!("in {} mode", sandbox.mode()), "in manual mode");
    /// # Ok::<(), sandbox_sqlx::SandboxError>(())
    /// ```
    pub fn mode(&self) -> SandboxMode {
        self.state.mode()
    }
}

impl<DB: SandboxDatabase> fmt::Debug for Sandbox<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("label", &self.state.label)
            .field("mode", &self.mode())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Sandbox`].
///
/// ```no_run
/// use sandbox_sqlx::Sandbox;
/// use sqlx::Postgres;
///
/// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1/test")
///     .max_connections(8)
///     .auto()
///     .build()
///     .unwrap();
/// # let _ = sandbox;
/// ```
pub struct SandboxBuilder<DB: SandboxDatabase> {
    label: String,
    url: DatabaseUrl,
    options: PoolOptions<DB>,
    checkouts: Checkouts,
    defaults: CheckoutOptions<DB>,
    migrator: Option<&'static Migrator>,
    migrations_wait: Duration,
    serialize: bool,
    skip_if_unreachable: bool,
}

impl<DB: SandboxDatabase> SandboxBuilder<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// The pool's options (size, timeouts); the default is sqlx's, with at most 10
    /// connections and no ping before each checkout (`test_before_acquire(false)`: a
    /// round trip per test saved; a connection the server closed while idle is replaced
    /// at the test's first statement, and one found broken at checkin is closed, not
    /// returned).
    ///
    /// ```
    /// use std::time::Duration;
    /// use sandbox_sqlx::Sandbox;
    /// use sqlx::postgres::PgPoolOptions;
    ///
    /// let options = PgPoolOptions::new()
    ///     .max_connections(20)
    ///     .idle_timeout(Duration::from_secs(30));
    /// let sandbox = Sandbox::builder("app-db", "postgres://root@127.0.0.1/test")
    ///     .pool_options(options)
    ///     .build()?;
    /// let pool = sandbox.pool();
    /// assert_eq!(pool.options().get_idle_timeout(), Some(Duration::from_secs(30)));
    /// # Ok::<(), sandbox_sqlx::SandboxError>(())
    /// ```
    pub fn pool_options(mut self, options: PoolOptions<DB>) -> Self {
        self.options = options;
        self
    }

    /// The pool's `max_connections`: how many tests can hold a connection at once.
    ///
    /// ```
    /// use sandbox_sqlx::Sandbox;
    /// use sqlx::Postgres;
    ///
    /// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1/test")
    ///     .max_connections(16)
    ///     .build()?;
    /// assert_eq!(sandbox.pool().options().get_max_connections(), 16);
    /// # Ok::<(), sandbox_sqlx::SandboxError>(())
    /// ```
    pub fn max_connections(mut self, max: u32) -> Self {
        self.options = self.options.max_connections(max);
        self
    }

    /// How long a checkout waits for a free connection.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sandbox_sqlx::Sandbox;
    /// use sqlx::MySql;
    ///
    /// let sandbox = Sandbox::<MySql>::builder("app-db", "mysql://root@127.0.0.1:3306/test")
    ///     .acquire_timeout(Duration::from_secs(5))
    ///     .build()?;
    /// let waits = sandbox.pool().options().get_acquire_timeout();
    /// assert_eq!(waits, Duration::from_secs(5));
    /// # Ok::<(), sandbox_sqlx::SandboxError>(())
    /// ```
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.options = self.options.acquire_timeout(timeout);
        self
    }

    /// Migrations to apply once per test run (across processes) before the first checkout.
    ///
    /// What a process does about them, the first time it checks a connection out:
    /// - if an earlier process of this run, on this machine, saw them all applied, nothing
    ///   (under nextest, whose `NEXTEST_RUN_ID` names the run: see
    ///   [`RunWide::note_done`](ownership_runtime::runwide::RunWide::note_done));
    /// - else it reads the migrations table on the connection its first checkout then
    ///   takes, and if every migration is applied, unchanged and finished, it is done;
    /// - else it applies them on a connection of its own, under a lock on the server named
    ///   after the database and the migrations table (so other sandboxes, binaries,
    ///   checkouts and machines on the same database take turns), waiting at most
    ///   [`migrations_wait`](SandboxBuilder::migrations_wait).
    ///
    /// A migration marked unfinished (it failed half-way on MySQL/MariaDB, which commit
    /// DDL as they go) or changed since it was applied fails the checkout, naming the
    /// migration and the fix. A database reset in the middle of a nextest run is not
    /// migrated again until the next run.
    ///
    /// ```no_run
    /// use sandbox_sqlx::Sandbox;
    /// use sqlx::{Postgres, migrate::Migrator};
    ///
    /// // In an app, `sqlx::migrate!()`: its `migrations/` folder, built in.
    /// static MIGRATOR: Migrator = Migrator::DEFAULT;
    /// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1/test")
    ///     .migrations(&MIGRATOR)
    ///     .build()?;
    /// # Ok::<(), sandbox_sqlx::SandboxError>(())
    /// ```
    pub fn migrations(mut self, migrator: &'static Migrator) -> Self {
        self.migrator = Some(migrator);
        self
    }

    /// How long a process waits for another one's migrations of the same database
    /// ([`MIGRATIONS_WAIT`], 10 minutes, unless set) before failing with
    /// [`MigrationsProblem::LockTimeout`](crate::MigrationsProblem::LockTimeout), which
    /// names the holder.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sandbox_sqlx::Sandbox;
    /// use sqlx::Postgres;
    ///
    /// // A suite whose migrations take seconds: a minute's wait means something hangs.
    /// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1/test")
    ///     .migrations_wait(Duration::from_secs(60))
    ///     .build()?;
    /// # let _ = sandbox;
    /// # Ok::<(), sandbox_sqlx::SandboxError>(())
    /// ```
    pub fn migrations_wait(mut self, wait: Duration) -> Self {
        self.migrations_wait = wait;
        self
    }

    /// Skips the tests that name this sandbox (`#[owned_test(sandbox = DB)]`) when its
    /// server can't be reached, instead of failing them: each such test passes without
    /// running its body, says `skipped <test>: <why>` on standard error, and the test
    /// binary sums the skips up in one line when it exits. Under `CI=true` they fail, with
    /// the same message: in CI every server must be up. Off by default.
    ///
    /// For suites that developers run with or without a database at hand; tests that only
    /// query the sandbox in their body (auto mode, no `sandbox = DB`) are not skipped.
    ///
    /// ```
    /// use ownership_runtime::harness::{TestConfig, TestResource, run_async};
    /// use sandbox_sqlx::Sandbox;
    /// use sqlx::Postgres;
    /// use std::sync::LazyLock;
    ///
    /// // No server listens on port 1.
    /// static DB: LazyLock<Sandbox<Postgres>> = LazyLock::new(|| {
    ///     Sandbox::builder("app-db", "postgres://root@127.0.0.1:1/test")
    ///         .skip_if_unreachable(true)
    ///         .build()
    ///         .unwrap()
    /// });
    /// static NAMED: [&dyn TestResource; 1] = [&DB];
    /// # if std::env::var("CI").as_deref() != Ok("true") {
    /// // What `#[owned_test(sandbox = DB)]` runs: skipped, so it passes.
    /// run_async(TestConfig::new("docs::places_an_order").resources(&NAMED), || async {
    ///     let ran = true;
    ///     assert!(!ran, "the body doesn't run");
    /// });
    /// # }
    /// ```
    pub fn skip_if_unreachable(mut self, skip: bool) -> Self {
        self.skip_if_unreachable = skip;
        self
    }

    /// Auto mode: an actor's first query checks a connection out for it (the default is
    /// manual).
    ///
    /// The connection is checked out for the innermost caller, unless an actor of its
    /// callers chain has one already, which it then uses. So the tasks and threads a test
    /// starts (plain `tokio::spawn`, [`ownership_runtime::spawn`]) use
    /// the test's connection, like in manual mode, and see what the test wrote. This
    /// differs from DBConnection's auto mode, where every process gets a connection of its
    /// own: in Rust a test's tasks are its children, and a test whose tasks each ran in a
    /// transaction of their own would not see its own rows. An actor with a connection of
    /// its own needs an explicit [`Sandbox::checkout_for`].
    ///
    /// ```
    /// use sandbox_sqlx::{Sandbox, SandboxMode};
    /// use sqlx::Sqlite;
    ///
    /// let sandbox = Sandbox::<Sqlite>::builder("app-db", "sqlite://target/app.db")
    ///     .auto()
    ///     .build()?;
    /// assert_eq!(sandbox.mode(), SandboxMode::Auto);
    /// # Ok::<(), sandbox_sqlx::SandboxError>(())
    /// ```
    pub fn auto(mut self) -> Self {
        self.checkouts = Checkouts::Auto;
        self
    }

    /// Whether sandboxed tests on this database run their transactions one at a time,
    /// across processes and machines (a session lock on the server, taken at a test's
    /// first statement and released at its checkin; a test that never queries doesn't
    /// wait). Only sandboxed checkouts take part; SQLite tests, each on a database of
    /// its own, never wait.
    ///
    /// On by default on MySQL/MariaDB, where InnoDB deadlocks concurrent tests that
    /// insert the same unique key (at `READ COMMITTED`, the sandbox's default level
    /// there, different keys don't conflict: no gap locks). Off by default on
    /// PostgreSQL, where such tests wait for each other instead.
    ///
    /// A test never waits for itself: its turn covers every connection it checks out
    /// (for itself, for actors it starts) on every sandbox of the process with the same
    /// URL, spelled the same way. A test waits at most the longer of its
    /// [`ownership_timeout`](CheckoutOptions::ownership_timeout) and the pool's
    /// `acquire_timeout`, then fails with
    /// [`SandboxError::SerializedWait`](crate::SandboxError::SerializedWait).
    ///
    /// ```
    /// use sandbox_sqlx::Sandbox;
    /// use sqlx::MySql;
    ///
    /// // A suite whose tests never write the same unique keys: let them run at once.
    /// let sandbox = Sandbox::<MySql>::builder("app-db", "mysql://root@127.0.0.1:3306/test")
    ///     .serialize_tests(false)
    ///     .build()?;
    /// # let _ = sandbox;
    /// # Ok::<(), sandbox_sqlx::SandboxError>(())
    /// ```
    pub fn serialize_tests(mut self, serialize: bool) -> Self {
        self.serialize = serialize;
        self
    }

    /// The options of checkouts that don't give their own (implicit ones, in auto mode).
    ///
    /// ```
    /// use sandbox_sqlx::{CheckoutOptions, IsolationLevel, Sandbox, SandboxMode};
    /// use sqlx::Postgres;
    ///
    /// // Every connection auto mode checks out runs at `SERIALIZABLE`.
    /// let serializable = CheckoutOptions::default().isolation(IsolationLevel::Serializable);
    /// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1/test")
    ///     .auto()
    ///     .checkout_options(serializable)
    ///     .build()?;
    /// assert_eq!(sandbox.mode(), SandboxMode::Auto);
    /// # Ok::<(), sandbox_sqlx::SandboxError>(())
    /// ```
    pub fn checkout_options(mut self, options: CheckoutOptions<DB>) -> Self {
        self.defaults = options;
        self
    }

    /// Builds the sandbox. Connects nothing yet: connections open at the first checkout.
    ///
    /// # Errors
    ///
    /// [`SandboxError::Url`] when the URL doesn't fit the database (its scheme is
    /// another database's, or missing: `postgresql:/x`), can't be parsed, or comes from an
    /// environment variable that is not set; when the background runtime can't start.
    ///
    /// ```
    /// use sandbox_sqlx::{Sandbox, SandboxError};
    /// use sqlx::Postgres;
    ///
    /// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1/test")
    ///     .build()?;
    /// assert_eq!(sandbox.pool().size(), 0); // no connection opened yet
    ///
    /// let typo = Sandbox::<Postgres>::builder("typo-db", "mysql://root@127.0.0.1/test").build();
    /// assert!(matches!(typo, Err(SandboxError::Url { .. })));
    /// # Ok::<(), SandboxError>(())
    /// ```
    pub fn build(self) -> Result<Sandbox<DB>, SandboxError> {
        let label: Arc<str> = self.label.into();
        let refused = |problem| SandboxError::Url {
            label: label.to_string(),
            url: self.url.shown(),
            problem,
            advice: format!(
                "A {} URL looks like {}; set {} to one",
                DB::SERVER,
                DB::URL_EXAMPLE,
                self.url.variable_to_set()
            ),
        };
        self.url.check(DB::URL_SCHEMES).map_err(refused)?;
        let runtime =
            ownership_runtime::background::handle().map_err(|message| SandboxError::Runtime {
                label: label.to_string(),
                message,
            })?;
        // The pool's maintenance tasks and connections belong to the background runtime,
        // which outlives every test's.
        let pool = {
            let _entered = runtime.enter();
            self.options.connect_lazy(self.url.as_str())
        }
        .map_err(|source| {
            refused(UrlProblem::Unparsable {
                reason: source.to_string(),
            })
        })?;
        let copies = pool.options().get_max_connections() as usize;
        let turns = self
            .serialize
            .then(|| Turns::of_database(label.clone(), self.url.as_str()));
        let state = Arc::new(State {
            label: label.clone(),
            pool,
            url: self.url,
            reach: Arc::default(),
            owners: Ownership::new(),
            checkouts: RwLock::new(self.checkouts),
            defaults: self.defaults,
            migrator: self.migrator,
            migrations_wait: self.migrations_wait,
            skip_if_unreachable: self.skip_if_unreachable,
            migrated: OnceCell::new(),
            waiting: AtomicUsize::new(0),
            timeouts: Timeouts::new(),
            turns,
            spare: Arc::new(Mutex::new(None)),
            copies: Arc::new(tokio::sync::Semaphore::new(copies)),
        });
        let registered: Arc<dyn TestResource> = state.clone();
        ownership_runtime::harness::register_resource(Arc::downgrade(&registered));
        Ok(Sandbox { state })
    }
}

impl<DB: SandboxDatabase> Sandbox<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Starts building a sandbox labelled `label` (shown in every error) on the database
    /// at `url`.
    ///
    /// ```
    /// use sandbox_sqlx::Sandbox;
    /// use sqlx::Sqlite;
    ///
    /// let suite = "reports";
    /// let url = format!("sqlite://target/{suite}.db");
    /// let builder = Sandbox::<Sqlite>::builder(format!("{suite}-db"), url);
    /// assert_eq!(builder.build()?.label(), "reports-db");
    /// # Ok::<(), sandbox_sqlx::SandboxError>(())
    /// ```
    pub fn builder(label: impl Into<String>, url: impl Into<String>) -> SandboxBuilder<DB> {
        SandboxBuilder {
            label: label.into(),
            url: DatabaseUrl::given(url.into()),
            options: PoolOptions::new()
                .max_connections(10)
                .test_before_acquire(false),
            checkouts: Checkouts::Manual,
            defaults: CheckoutOptions::default(),
            migrator: None,
            migrations_wait: MIGRATIONS_WAIT,
            serialize: DB::SERIALIZE_TESTS,
            skip_if_unreachable: false,
        }
    }

    /// Starts building a sandbox labelled `label` on the database whose URL is in the
    /// environment variable `variable` (`DATABASE_URL`, as sqlx's tools read it). The
    /// variable is named in the errors about the URL and the server, so that the fix
    /// says what to change. An unset variable fails `build()`.
    ///
    /// ```
    /// use sandbox_sqlx::{Sandbox, SandboxError, UrlProblem};
    /// use sqlx::Postgres;
    ///
    /// let unset = Sandbox::<Postgres>::from_env("app-db", "NO_SUCH_DATABASE_URL").build();
    /// let Err(error) = unset else { panic!("the variable is not set") };
    /// assert!(matches!(error, SandboxError::Url { problem: UrlProblem::VariableNotSet, .. }));
    /// assert!(error.to_string().contains("set NO_SUCH_DATABASE_URL to one"));
    /// ```
    pub fn from_env(label: impl Into<String>, variable: impl Into<String>) -> SandboxBuilder<DB> {
        let mut builder = Sandbox::builder(label, String::new());
        builder.url = DatabaseUrl::from_variable(variable.into());
        builder
    }

    /// The handle app code queries through (see [`SandboxPool`]).
    ///
    /// ```
    /// use sandbox_sqlx::Sandbox;
    /// use sqlx::Postgres;
    ///
    /// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1/test")
    ///     .build()?;
    /// // Hand this to the app: every query on it runs on the caller's test connection.
    /// let db = sandbox.pool();
    /// assert_eq!(format!("{db:?}"), "SandboxPool(sandbox `app-db`)");
    /// # Ok::<(), sandbox_sqlx::SandboxError>(())
    /// ```
    pub fn pool(&self) -> SandboxPool<DB> {
        SandboxPool::sandboxed(self.state.clone())
    }

    /// Switches the sandbox's mode, as DBConnection's `ownership_mode` does:
    /// - to the mode it has: nothing happens (a suite may set it "to be sure");
    /// - to manual or auto: later checkouts follow the new mode; connections checked out
    ///   stay with their owners (no test loses its connection because another switched);
    /// - to shared: every actor then uses `owner`'s connection, which `owner` must have
    ///   checked out itself.
    ///
    /// In a shared test (`#[owned_test(shared)]`) the harness shares every sandbox with
    /// the test on its own: no call needed.
    ///
    /// # Errors
    ///
    /// [`SandboxError::SharedModeRefused`] for shared mode when `owner` holds no
    /// connection, only uses one it was allowed to, has ended, or while another shared
    /// owner still runs.
    ///
    /// ```
    /// use ownership_runtime::Actor;
    /// use sandbox_sqlx::{Sandbox, SandboxError, SandboxMode, SharedModeRefusal};
    /// use sqlx::Postgres;
    ///
    /// # tokio::runtime::Builder::new_current_thread()
    /// #     .enable_all().build().unwrap().block_on(async {
    /// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1/test")
    ///     .build()?;
    /// sandbox.set_mode(SandboxMode::Auto).await?;
    /// sandbox.set_mode(SandboxMode::Auto).await?; // already: nothing happens
    /// assert_eq!(sandbox.mode(), SandboxMode::Auto);
    /// // Shared mode needs an owner with a connection of its own.
    /// let test = Actor::named("tests::talks_to_a_global_worker");
    /// let refused = sandbox.set_mode(SandboxMode::Shared(test.id())).await;
    /// assert!(matches!(
    ///     refused,
    ///     Err(SandboxError::SharedModeRefused { reason: SharedModeRefusal::NoConnection, .. })
    /// ));
    /// # Ok::<(), SandboxError>(())
    /// # })?;
    /// # Ok::<(), SandboxError>(())
    /// ```
    pub async fn set_mode(&self, mode: SandboxMode) -> Result<(), SandboxError> {
        let state = &self.state;
        match mode {
            _ if mode == state.mode() => Ok(()),
            SandboxMode::Shared(owner) => {
                let refused = |reason| SandboxError::SharedModeRefused {
                    label: state.label.to_string(),
                    owner,
                    reason,
                };
                if let Mode::Shared(shared_owner) = state.owners.mode()
                    && shared_owner.is_alive()
                {
                    return Err(refused(SharedModeRefusal::AlreadyShared { shared_owner }));
                }
                if state.owners.metadata(owner, &()).is_none() {
                    return Err(refused(match state.owners.fetch_owner(&[owner], &()) {
                        Some(Found::Owner(connection_owner)) if connection_owner != owner => {
                            SharedModeRefusal::OnlyAllowed { connection_owner }
                        }
                        _ => SharedModeRefusal::NoConnection,
                    }));
                }
                state
                    .owners
                    .set_mode(Mode::Shared(owner))
                    .map_err(|_| refused(SharedModeRefusal::OwnerEnded))
            }
            SandboxMode::Manual | SandboxMode::Auto => {
                *state
                    .checkouts
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = if mode == SandboxMode::Auto {
                    Checkouts::Auto
                } else {
                    Checkouts::Manual
                };
                // Back to private mode, if shared: that can't fail.
                let _ = state.owners.set_mode(Mode::Private);
                Ok(())
            }
        }
    }

    /// Checks a connection out for the current actor (the innermost of
    /// [`callers()`](ownership_runtime::callers())), with the sandbox's default options.
    ///
    /// # Errors
    ///
    /// No actor, an actor that has ended, no free connection, the database failed.
    ///
    /// ```no_run
    /// # use sandbox_sqlx::{Checkout, Sandbox, SandboxError};
    /// # use sqlx::Postgres;
    /// # async fn example(sandbox: Sandbox<Postgres>) -> Result<(), SandboxError> {
    /// // At the start of an owned test (what `#[owned_test(sandbox = ..)]` does for it):
    /// assert_eq!(sandbox.checkout().await?, Checkout::Ok);
    /// assert_eq!(sandbox.checkout().await?, Checkout::AlreadyOwner); // one per actor
    /// # Ok(()) }
    /// ```
    pub async fn checkout(&self) -> Result<Checkout, SandboxError> {
        let actor = self.state.current_actor()?;
        self.checkout_for(actor, self.state.defaults.clone()).await
    }

    /// Checks a connection out for `actor`, with `options`.
    ///
    /// # Errors
    ///
    /// As [`Sandbox::checkout`].
    ///
    /// ```no_run
    /// # use sandbox_sqlx::{Checkout, CheckoutOptions, IsolationLevel, Sandbox, SandboxError};
    /// # use sqlx::Postgres;
    /// use ownership_runtime::Actor;
    ///
    /// # async fn example(sandbox: Sandbox<Postgres>) -> Result<(), SandboxError> {
    /// // A worker with a connection (and a transaction) of its own, next to the test's.
    /// let worker = Actor::named("report-builder");
    /// let options = CheckoutOptions::default().isolation(IsolationLevel::RepeatableRead);
    /// assert_eq!(sandbox.checkout_for(worker.id(), options).await?, Checkout::Ok);
    /// # Ok(()) }
    /// ```
    pub async fn checkout_for(
        &self,
        actor: ActorId,
        options: CheckoutOptions<DB>,
    ) -> Result<Checkout, SandboxError> {
        self.checkout_driven(actor, options, Driven::Spawned).await
    }

    pub(crate) async fn checkout_driven(
        &self,
        actor: ActorId,
        options: CheckoutOptions<DB>,
        driven: Driven,
    ) -> Result<Checkout, SandboxError> {
        if self.state.owners.metadata(actor, &()).is_some() {
            return Ok(Checkout::AlreadyOwner);
        }
        if matches!(self.state.owners.fetch_owner(&[actor], &()), Some(Found::Owner(owner)) if owner != actor)
        {
            return Ok(Checkout::AlreadyAllowed);
        }
        self.state.checkout(actor, options, driven).await?;
        Ok(Checkout::Ok)
    }

    /// Checks the current actor's connection in: rolls its transaction back and returns it
    /// to the pool.
    ///
    /// # Errors
    ///
    /// When the sandbox's transaction had ended before checkin (what the test wrote may
    /// have been committed), or the database failed.
    ///
    /// ```no_run
    /// # use sandbox_sqlx::{Checkin, Sandbox};
    /// # use sqlx::Postgres;
    /// # async fn example(sandbox: Sandbox<Postgres>) -> Result<(), Box<dyn std::error::Error>> {
    /// sandbox.checkout().await?;
    /// sqlx::query("INSERT INTO orders DEFAULT VALUES").execute(&sandbox.pool()).await?;
    /// assert_eq!(sandbox.checkin().await?, Checkin::Ok); // rolled back
    /// // A fresh checkout sees none of it.
    /// sandbox.checkout().await?;
    /// let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
    ///     .fetch_one(&sandbox.pool())
    ///     .await?;
    /// assert_eq!(orders, 0);
    /// # Ok(()) }
    /// ```
    pub async fn checkin(&self) -> Result<Checkin, SandboxError> {
        let actor = self.state.current_actor()?;
        self.state.checkin(actor, Driven::Spawned).await
    }

    /// Allows `actor` to use the connection that `owner_or_allowed` owns or is allowed to
    /// use (allowances are transitive: they point at the connection's owner). Allowing an
    /// actor again to the connection it uses already succeeds. In shared mode it succeeds
    /// and changes nothing: every actor uses the shared owner's connection already (as
    /// with DBConnection and Mox), so suite helpers may call it in both modes.
    ///
    /// An actor already allowed to use another test's connection stays with it (an error);
    /// see [`Sandbox::allow_with`] to move it.
    ///
    /// # Errors
    ///
    /// [`SandboxError::AllowRefused`], saying why: `owner_or_allowed` has no connection,
    /// `actor` owns one of its own, or uses another owner's already, or one of them has
    /// ended.
    ///
    /// ```
    /// use ownership_runtime::Actor;
    /// use sandbox_sqlx::{AllowRefusal, Sandbox, SandboxError};
    /// use sqlx::Postgres;
    ///
    /// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1/test").build()?;
    /// let (test, worker) = (Actor::named("tests::no_checkout"), Actor::named("worker"));
    /// // The test checked nothing out: there is no connection to let the worker use.
    /// let refused = sandbox.allow(test.id(), worker.id());
    /// assert!(matches!(
    ///     refused,
    ///     Err(SandboxError::AllowRefused { reason: AllowRefusal::NoConnection, .. })
    /// ));
    /// # Ok::<(), SandboxError>(())
    /// ```
    pub fn allow(&self, owner_or_allowed: ActorId, actor: ActorId) -> Result<(), SandboxError> {
        self.allow_with(owner_or_allowed, actor, AllowOptions::default())
    }

    /// [`Sandbox::allow`], with options: `unallow_existing` first takes back an allowance
    /// `actor` has to another owner's connection (a long-lived worker moving from one
    /// test to the next).
    ///
    /// # Errors
    ///
    /// As [`Sandbox::allow`].
    ///
    /// ```no_run
    /// # use sandbox_sqlx::{AllowOptions, Sandbox, SandboxError};
    /// # use sqlx::Postgres;
    /// # use ownership_runtime::ActorId;
    /// # fn example(sandbox: Sandbox<Postgres>, previous_test: ActorId, test: ActorId, worker: ActorId) -> Result<(), SandboxError> {
    /// sandbox.allow(previous_test, worker)?;
    /// assert!(sandbox.allow(test, worker).is_err()); // it serves the previous test
    /// sandbox.allow_with(test, worker, AllowOptions::default().unallow_existing(true))?;
    /// # Ok(()) }
    /// ```
    pub fn allow_with(
        &self,
        owner_or_allowed: ActorId,
        actor: ActorId,
        options: AllowOptions,
    ) -> Result<(), SandboxError> {
        let owners = &self.state.owners;
        if matches!(owners.mode(), Mode::Shared(_)) {
            return Ok(());
        }
        if options.unallow_existing
            && let Some(Found::Owner(root)) = owners.fetch_owner(&[owner_or_allowed], &())
            && let Some(Found::Owner(current)) = owners.fetch_owner(&[actor], &())
            && current != actor
            && current != root
        {
            owners.disallow(actor, &());
        }
        let reason = match owners.allow(owner_or_allowed, actor, ()) {
            Ok(()) | Err(OwnershipError::CantAllowInSharedMode { .. }) => return Ok(()),
            Err(OwnershipError::AlreadyAnOwner { .. }) => AllowRefusal::AlreadyOwner,
            Err(OwnershipError::AlreadyAllowed { owner, .. }) => {
                AllowRefusal::AlreadyAllowed { owner }
            }
            Err(OwnershipError::ActorDown { .. }) => AllowRefusal::ActorEnded,
            Err(_) => AllowRefusal::NoConnection,
        };
        Err(SandboxError::AllowRefused {
            label: self.state.label.to_string(),
            actor,
            owner_or_allowed,
            reason,
        })
    }
}

impl<DB: SandboxDatabase> State<DB> {
    pub(crate) fn mode(&self) -> SandboxMode {
        match self.owners.mode() {
            Mode::Shared(owner) => SandboxMode::Shared(owner),
            Mode::Private => match *self
                .checkouts
                .read()
                .unwrap_or_else(PoisonError::into_inner)
            {
                Checkouts::Manual => SandboxMode::Manual,
                Checkouts::Auto => SandboxMode::Auto,
            },
        }
    }

    pub(crate) fn is_auto(&self) -> bool {
        *self
            .checkouts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            == Checkouts::Auto
    }

    pub(crate) fn defaults(&self) -> CheckoutOptions<DB> {
        self.defaults.clone()
    }

    fn current_actor(&self) -> Result<ActorId, SandboxError> {
        callers()
            .first()
            .copied()
            .ok_or_else(|| SandboxError::NoActor {
                label: self.label.to_string(),
            })
    }
}

impl<DB: SandboxDatabase> State<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Applies the migrations once per run, on the background runtime.
    async fn migrate(self: &Arc<Self>) -> Result<(), SandboxError> {
        if self.migrator.is_none() && !DB::PER_TEST_DATABASE {
            return Ok(());
        }
        let state = self.clone();
        self.migrated
            .get_or_try_init(|| async move {
                let label = state.label.to_string();
                let runtime = background(&label)?;
                let migrator = state.migrator;
                if !DB::PER_TEST_DATABASE {
                    let Some(migrator) = migrator else {
                        return Ok(());
                    };
                    let migrations = Migrations {
                        label: state.label.clone(),
                        pool: state.pool.clone(),
                        url: state.url.clone(),
                        migrator,
                        wait: state.migrations_wait,
                        reach: state.reach.clone(),
                        spare: state.spare.clone(),
                    };
                    return match runtime.spawn(migrations.ensure_applied()).await {
                        Ok(outcome) => outcome,
                        Err(error) => Err(SandboxError::Runtime {
                            label,
                            message: format!("the migrations task failed: {error}"),
                        }),
                    };
                }
                let template = template::template_file(state.url.as_str());
                let made = runtime.spawn(async move {
                    let name = format!("sandbox-sqlx template {}", template.display());
                    // The template's own error says what failed and how to fix it: told
                    // whole, without the run-wide setup's wrapper.
                    RunWide::file()
                        .once(&name, || {
                            template::build_template::<DB>(&template, migrator)
                        })
                        .await
                        .map(|_| ())
                        .map_err(|error| match error {
                            RunWideError::SetupFailed { message, .. } => message,
                            other => other.to_string(),
                        })
                });
                match made.await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(message)) => Err(SandboxError::Template { label, message }),
                    Err(error) => Err(SandboxError::Template {
                        label,
                        message: error.to_string(),
                    }),
                }
            })
            .await
            .map(|_| ())
    }

    /// Opens (or takes from the pool) a connection for `actor` on the background runtime,
    /// starts its transaction, and records `actor` as its owner.
    pub(crate) async fn checkout(
        self: &Arc<Self>,
        actor: ActorId,
        options: CheckoutOptions<DB>,
        driven: Driven,
    ) -> Result<Arc<OwnedConnection<DB>>, SandboxError> {
        if !actor.is_alive() {
            return Err(SandboxError::OwnerEnded {
                label: self.label.to_string(),
                actor,
            });
        }
        if let Some(failure) = self.reach.failure() {
            return Err(SandboxError::Unreachable {
                label: self.label.to_string(),
                failure,
            });
        }
        self.migrate().await?;
        let label = self.label.to_string();
        let runtime = background(&label)?;
        let pool = self.pool.clone();
        let waiting = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        let started = Instant::now();
        let isolation = options.isolation;
        let sandboxed = options.sandboxed;
        let template = template::template_file(self.url.as_str());
        let (copies, wait) = (
            self.copies.clone(),
            self.pool.options().get_acquire_timeout(),
        );
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let (reach, url) = (self.reach.clone(), self.url.clone());
        let opened = driven
            .run(runtime, async move {
                if DB::PER_TEST_DATABASE {
                    let (connection, database) = template::open_copy::<DB>(&template, copies, wait)
                        .await
                        .map_err(AcquireError::Pool)?;
                    return Ok((connection, Some(database)));
                }
                let connection = match spare {
                    Some(connection) => connection,
                    None => reach.acquire(&pool, &url).await?,
                };
                Ok::<_, AcquireError>((connection, None))
            })
            .await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let (connection, database) = match opened {
            Ok(Ok(opened)) => opened,
            Ok(Err(AcquireError::Unreachable(failure))) => {
                return Err(SandboxError::Unreachable { label, failure });
            }
            Ok(Err(AcquireError::Pool(sqlx::Error::PoolTimedOut))) => {
                return Err(SandboxError::PoolExhausted {
                    label,
                    max_connections: self.pool.options().get_max_connections(),
                    waiting: waiting.saturating_sub(1),
                    waited: started.elapsed(),
                });
            }
            Ok(Err(AcquireError::Pool(source))) => {
                return Err(SandboxError::Database {
                    label,
                    context: "could not check out a connection",
                    source,
                });
            }
            Err(error) => {
                return Err(SandboxError::Runtime {
                    label,
                    message: format!("the checkout task failed: {error}"),
                });
            }
        };
        // A per-test database is thrown away whole: no wrapping transaction.
        let sandboxed = sandboxed && !DB::PER_TEST_DATABASE;
        // Serialized tests take turns by test: the root of the callers that check out.
        let test = callers().last().copied().unwrap_or(actor);
        let pending_begin = sandboxed.then(|| PendingBegin {
            isolation,
            take_turn: self.turns.as_ref().map(|turns| {
                // Bounded, to turn a test that waits for itself into an error.
                let wait = options
                    .ownership_timeout
                    .max(self.pool.options().get_acquire_timeout());
                turns.for_test(test, self.pool.clone(), wait)
            }),
        });
        let mut owned = OwnedConnection::new(
            actor,
            self.label.clone(),
            connection,
            sandboxed,
            pending_begin,
            // A pooled connection found closed at its first round trip is replaced.
            (!DB::PER_TEST_DATABASE).then(|| self.pool.clone()),
        );
        owned.pre_checkin = options.pre_checkin.clone();
        *owned
            .database
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = database;
        let owned = Arc::new(owned);
        if let Some(hook) = options.post_checkout.clone() {
            let hooked = driven
                .run(runtime, after_checkout(owned.clone(), hook))
                .await;
            let failure = match hooked {
                Ok(Ok(())) => None,
                Ok(Err(source)) => Some(SandboxError::Hook {
                    label: label.clone(),
                    owner: actor,
                    hook: HookKind::PostCheckout,
                    source,
                }),
                Err(error) => Some(SandboxError::Runtime {
                    label: label.clone(),
                    message: format!("the post-checkout task failed: {error}"),
                }),
            };
            if let Some(failure) = failure {
                // Never registered: give the connection (and its database) back here.
                let database = owned.take_database();
                let taken = owned.take().await;
                driven
                    .run(runtime, async move {
                        if let Some(taken) = taken {
                            rollback_and_release(taken).await;
                        }
                        if let Some(database) = database {
                            template::discard(database).await;
                        }
                    })
                    .await
                    .ok();
                return Err(failure);
            }
        }
        let registered = self
            .owners
            .get_and_update(actor, (), |existing| match existing {
                // Another task of the same actor checked out meanwhile: keep that one.
                Some(existing) => (Err(existing.clone()), existing.clone()),
                None => (Ok(()), owned.clone()),
            });
        match registered {
            Ok(Ok(())) => {}
            Ok(Err(existing)) => return Ok(existing),
            Err(OwnershipError::ActorDown { .. }) => {
                return Err(SandboxError::OwnerEnded { label, actor });
            }
            Err(error) => {
                return Err(SandboxError::Runtime {
                    label,
                    message: error.to_string(),
                });
            }
        }
        self.timeouts.watch(&owned, options.ownership_timeout);
        Ok(owned)
    }

    /// Checks `owner`'s connection in.
    pub(crate) async fn checkin(
        &self,
        owner: ActorId,
        driven: Driven,
    ) -> Result<Checkin, SandboxError> {
        let Some(owned) = self.owners.metadata(owner, &()) else {
            return Ok(match self.owners.fetch_owner(&[owner], &()) {
                Some(Found::Owner(_)) => Checkin::NotOwner,
                _ => Checkin::NotFound,
            });
        };
        self.owners.cleanup_owner(owner);
        let database = owned.take_database();
        let pre_checkin = owned.pre_checkin.clone();
        let Some(taken) = owned.take().await else {
            return Ok(Checkin::Ok); // taken back by the ownership timeout already
        };
        let label = self.label.to_string();
        let runtime = background(&label)?;
        // One task on the background runtime: the hook, check the transaction, queue the
        // rollback (the pool sends it before anyone else gets the connection).
        let checked = driven
            .run(runtime, async move {
                let Taken {
                    mut connection,
                    sandboxed,
                    begun,
                    turn,
                    may_have_ended,
                } = taken;
                let pre_checkin_ran = pre_checkin.is_some();
                let hooked = match pre_checkin {
                    Some(hook) => hook(&mut connection).await,
                    None => Ok(()),
                };
                if let Some(database) = database {
                    release_in_background(connection, false);
                    template::discard(database).await;
                    return hooked.map_err(Closing::Hook).map(|()| true);
                }
                let open = if sandboxed && begun && (may_have_ended || pre_checkin_ran) {
                    match DB::in_transaction(&mut connection).await {
                        Ok(open) => open,
                        Err(error) => {
                            // A broken connection (killed by the server, say) is closed, not
                            // returned: the next test gets a fresh one.
                            connection.close_on_drop();
                            return Err(Closing::Database(error));
                        }
                    }
                } else {
                    true
                };
                release_in_background(connection, sandboxed);
                drop(turn);
                hooked.map_err(Closing::Hook).map(|()| open)
            })
            .await;
        match checked {
            Ok(Ok(true)) => Ok(Checkin::Ok),
            Ok(Ok(false)) => Err(SandboxError::TransactionEnded {
                label,
                owner,
                cause: DB::ENDED_BY,
            }),
            Ok(Err(Closing::Hook(source))) => Err(SandboxError::Hook {
                label,
                owner,
                hook: HookKind::PreCheckin,
                source,
            }),
            Ok(Err(Closing::Database(source))) => Err(SandboxError::Database {
                label,
                context: "could not check the connection in",
                source,
            }),
            Err(error) => Err(SandboxError::Runtime {
                label,
                message: error.to_string(),
            }),
        }
    }
}

/// Runs a post-checkout hook on a new connection: begins the sandbox's transaction (the
/// hook runs inside it), then the hook.
async fn after_checkout<DB: SandboxDatabase>(
    owned: Arc<OwnedConnection<DB>>,
    hook: ConnectionHook<DB>,
) -> Result<(), sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let mut slot = owned.lock().await?;
    settle(&mut slot).await?;
    slot.may_have_ended = true; // the hook had the raw connection
    match slot.connection.as_deref_mut() {
        Some(connection) => hook(connection).await,
        None => Ok(()),
    }
}

/// Where a checkout or checkin does its database work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Driven {
    /// In a task of its own on the background runtime, so that the caller's future can
    /// be dropped midway (its test's runtime shutting down, say) without stranding a
    /// connection.
    Spawned,
    /// Right in the caller's future, which a thread blocks on (with the background
    /// runtime's handle) to its end: the harness's hooks. Saves two thread hops.
    Here,
}

impl Driven {
    async fn run<T: Send + 'static>(
        self,
        runtime: &tokio::runtime::Handle,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        match self {
            Driven::Spawned => runtime.spawn(work).await,
            Driven::Here => Ok(work.await),
        }
    }
}

/// Why checking a test's connection in failed.
enum Closing {
    /// The database failed (the connection was closed).
    Database(sqlx::Error),
    /// The pre-checkin hook failed (the connection was still rolled back).
    Hook(sqlx::Error),
}

pub(crate) fn background(label: &str) -> Result<&'static tokio::runtime::Handle, SandboxError> {
    ownership_runtime::background::handle().map_err(|message| SandboxError::Runtime {
        label: label.to_owned(),
        message,
    })
}
