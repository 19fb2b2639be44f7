//! [`SandboxBuilder`]: a sandbox's options, checked when it is built.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ownership_runtime::Ownership;
use ownership_runtime::harness::TestResource;
use sqlx::Executor;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolOptions;
use tokio::sync::OnceCell;

use crate::backend::SandboxDatabase;
use crate::error::SandboxError;
use crate::migrations::MIGRATIONS_WAIT;
use crate::options::CheckoutOptions;
use crate::sandbox::Sandbox;
use crate::spare_pools::SparePools;
use crate::state::{Checkouts, State};
use crate::timeouts::Timeouts;
use crate::turns::Turns;
use crate::url::{DatabaseUrl, UrlProblem};

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
#[must_use = "a builder makes nothing until `build()` is called"]
pub struct SandboxBuilder<DB: SandboxDatabase> {
    label: String,
    pub(crate) url: DatabaseUrl,
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
        let refused = |problem, source| SandboxError::Url {
            label: label.to_string(),
            url: self.url.shown(),
            problem,
            source,
            advice: format!(
                "a {} URL looks like {}; set {} to one",
                DB::SERVER,
                DB::URL_EXAMPLE,
                self.url.variable_to_set()
            ),
        };
        self.url
            .check(DB::URL_SCHEMES)
            .map_err(|problem| refused(problem, None))?;
        let runtime =
            ownership_runtime::background::handle().map_err(|source| SandboxError::Background {
                label: label.to_string(),
                source,
            })?;
        // The pool's maintenance tasks and connections belong to the background runtime,
        // which outlives every test's.
        let pool = {
            let _entered = runtime.enter();
            self.options.connect_lazy(self.url.as_str())
        }
        .map_err(|source| refused(UrlProblem::Unparsable, Some(Box::new(source))))?;
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
            spare_pools: SparePools::default(),
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
}
