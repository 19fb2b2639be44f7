//! The sandbox's errors, with messages that say what to do.

use std::time::Duration;

use std::sync::Arc;

use ownership_runtime::background::BackgroundError;
use ownership_runtime::{ActorId, Callers, OwnershipError};
use sqlx::migrate::MigrateError;

use crate::reach::Unreachable;
use crate::url::UrlProblem;

/// The sandbox's mode, as errors show it.
///
/// ```
/// use ownership_runtime::Actor;
/// use sandbox_sqlx::SandboxMode;
///
/// assert_eq!(SandboxMode::Manual.to_string(), "manual");
/// assert_eq!(SandboxMode::Auto.to_string(), "auto");
/// let test = Actor::named("tests::reports");
/// let shared = SandboxMode::Shared(test.id()).to_string();
/// assert_eq!(shared, format!("shared (owner: {})", test.id()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    /// Connections are checked out explicitly; an actor without one gets an error.
    Manual,
    /// The first query of an actor without a connection checks one out for it.
    Auto,
    /// Every actor uses the connection of this owner.
    Shared(ActorId),
}

impl std::fmt::Display for SandboxMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SandboxMode::Manual => f.write_str("manual"),
            SandboxMode::Auto => f.write_str("auto"),
            SandboxMode::Shared(owner) => write!(f, "shared (owner: {owner})"),
        }
    }
}

/// Which of a checkout's hooks (see [`CheckoutOptions`](crate::CheckoutOptions)).
///
/// ```
/// use sandbox_sqlx::HookKind;
///
/// assert_eq!(
///     HookKind::PostCheckout.to_string(),
///     "post-checkout hook (`CheckoutOptions::post_checkout`)"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// Runs on the connection right after checkout, inside the sandbox's transaction.
    PostCheckout,
    /// Runs on the connection at checkin, before the rollback.
    PreCheckin,
}

impl std::fmt::Display for HookKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HookKind::PostCheckout => "post-checkout hook (`CheckoutOptions::post_checkout`)",
            HookKind::PreCheckin => "pre-checkin hook (`CheckoutOptions::pre_checkin`)",
        })
    }
}

/// Why [`Sandbox::set_mode`](crate::Sandbox::set_mode) refused to make an actor the
/// shared owner (DBConnection's `:not_found`, `:not_owner` and `:already_shared`).
///
/// ```
/// use ownership_runtime::Actor;
/// use sandbox_sqlx::SharedModeRefusal;
///
/// let other = Actor::named("tests::other_shared_test");
/// let reason = SharedModeRefusal::AlreadyShared { shared_owner: other.id() };
/// assert!(reason.to_string().contains("is the shared owner already"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SharedModeRefusal {
    /// The actor has no connection to share.
    NoConnection,
    /// The actor only uses a connection another owner let it use.
    OnlyAllowed {
        /// The owner of that connection.
        connection_owner: ActorId,
    },
    /// Another actor, still alive, is the shared owner.
    AlreadyShared {
        /// The current shared owner.
        shared_owner: ActorId,
    },
    /// The actor has ended.
    OwnerEnded,
}

impl std::fmt::Display for SharedModeRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SharedModeRefusal::NoConnection => f.write_str(
                "it has no connection to share. Check one out for it first \
                 (`SANDBOX.checkout().await`), then switch to shared mode",
            ),
            SharedModeRefusal::OnlyAllowed { connection_owner } => write!(
                f,
                "it only uses the connection of {connection_owner}, which let it. Make the \
                 owner of the connection the shared owner instead"
            ),
            SharedModeRefusal::AlreadyShared { shared_owner } => write!(
                f,
                "{shared_owner} is the shared owner already, and still runs. One test at a time \
                 shares a sandbox: `#[owned_test(shared)]` runs shared tests alone"
            ),
            SharedModeRefusal::OwnerEnded => f.write_str(
                "it has ended. Switch to shared mode from a live actor, usually the test itself",
            ),
        }
    }
}

/// Why [`Sandbox::allow`](crate::Sandbox::allow) refused (DBConnection's `:not_found`
/// and `{:already, :owner | :allowed}`).
///
/// ```
/// use ownership_runtime::Actor;
/// use sandbox_sqlx::AllowRefusal;
///
/// let other_test = Actor::named("tests::other");
/// let reason = AllowRefusal::AlreadyAllowed { owner: other_test.id() };
/// assert!(reason.to_string().contains("unallow_existing"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllowRefusal {
    /// The actor with access neither owns a connection nor is allowed to use one.
    NoConnection,
    /// The actor to allow owns a connection of its own.
    AlreadyOwner,
    /// The actor to allow uses another owner's connection already.
    AlreadyAllowed {
        /// The owner of that connection.
        owner: ActorId,
    },
    /// One of the two actors has ended.
    ActorEnded,
}

impl std::fmt::Display for AllowRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AllowRefusal::NoConnection => f.write_str(
                "the actor with access has no connection: check one out for it first \
                 (`SANDBOX.checkout().await`, or `#[owned_test(sandbox = SANDBOX)]`), then allow",
            ),
            AllowRefusal::AlreadyOwner => f.write_str(
                "it owns a connection of its own, which it would go on using. Check that one in \
                 first (`SANDBOX.checkin()` as that actor), or use another actor",
            ),
            AllowRefusal::AlreadyAllowed { owner } => write!(
                f,
                "it uses the connection of {owner} already. A long-lived worker that moves from \
                 test to test: `allow_with(.., AllowOptions::default().unallow_existing(true))`"
            ),
            AllowRefusal::ActorEnded => {
                f.write_str("one of the two actors has ended (a task or thread outlived its test?)")
            }
        }
    }
}

/// Why the sandbox refused or failed. Every variant names the sandbox (its
/// [`label`](SandboxError::label)); a cause is only reachable through
/// [`source()`](std::error::Error::source), so show the error with
/// [`error_chain`](ownership_runtime::error_chain) to see it.
///
/// Inside `sqlx` calls (queries through a [`SandboxPool`](crate::SandboxPool)) it arrives
/// as an `sqlx::Error::Database`, whose message is this error's with its causes (sqlx shows
/// it as `error returned from database: sandbox `app-db`: ...`);
/// [`SandboxError::of`] finds it there.
///
/// ```
/// use sandbox_sqlx::{Sandbox, SandboxError};
/// use sqlx::Postgres;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1/test").build()?;
/// // A plain thread runs for no test: the sandbox refuses before connecting anywhere.
/// let Err(error) = sqlx::query("SELECT 1").execute(&sandbox.pool()).await else {
///     panic!("a query outside any test must fail");
/// };
/// assert!(error.to_string().starts_with("error returned from database: sandbox `app-db`: "));
/// let refusal = SandboxError::of(&error);
/// assert!(matches!(refusal, Some(SandboxError::NoActor { label }) if label == "app-db"));
/// # Ok::<(), SandboxError>(())
/// # })?;
/// # Ok::<(), SandboxError>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// Code ran a query for an actor that has no connection, in manual mode.
    #[error(
        "sandbox `{label}`: {actor} has no database connection, and the sandbox is in {mode} \
         mode. It ran for the callers {callers}. In manual mode every actor that queries must \
         own a connection or be allowed to use one. Fix it one of these ways:\n\
         - check a connection out for the test: `SANDBOX.checkout().await` at its start, or put \
           the sandbox in auto mode;\n\
         - allow this actor to use the test's connection: `SANDBOX.allow(test, actor)`;\n\
         - run the test in shared mode (`#[owned_test(shared)]`), where every actor uses its \
           connection;\n\
         - if this code runs in a task or thread the test started, carry the test's callers into \
           it: `ownership_runtime::spawn`, `.in_current_callers()` or \
           `ownership_runtime::thread::spawn`.\n\
         Note that a connection is checked in when its owner ends: a task that outlived its test \
         gets this error too."
    )]
    NoConnection {
        /// The sandbox's label.
        label: String,
        /// The actor that queried (the innermost caller).
        actor: ActorId,
        /// Its callers chain.
        callers: Box<Callers>,
        /// The sandbox's mode.
        mode: SandboxMode,
    },

    /// Code ran a query with no actor at all (a plain thread, outside any test).
    #[error(
        "sandbox `{label}`: a query ran for no actor at all (a plain thread or a task outside \
         any owned test), so no connection can be found for it. Run it inside an \
         `#[owned_test]`, carry the callers into the thread or task that runs it \
         (`ownership_runtime::spawn`, `.in_current_callers()`, `ownership_runtime::thread::spawn`), \
         or put the sandbox in shared mode."
    )]
    NoActor {
        /// The sandbox's label.
        label: String,
    },

    /// `set_mode(Shared(owner))` was refused.
    #[error("sandbox `{label}`: {owner} can't become the shared owner: {reason}.")]
    SharedModeRefused {
        /// The sandbox's label.
        label: String,
        /// The actor asked to become the shared owner.
        owner: ActorId,
        /// Why not.
        reason: SharedModeRefusal,
    },

    /// `allow` was refused.
    #[error(
        "sandbox `{label}`: {actor} can't be allowed to use the connection of \
         {owner_or_allowed}: {reason}."
    )]
    AllowRefused {
        /// The sandbox's label.
        label: String,
        /// The actor that was to be allowed.
        actor: ActorId,
        /// The actor whose connection it was to use.
        owner_or_allowed: ActorId,
        /// Why not.
        reason: AllowRefusal,
    },

    /// The owner of the connection has ended.
    #[error(
        "sandbox `{label}`: {actor} has ended, so it can't check out a connection. A task or \
         thread outlived the test that started it: await it before the test ends."
    )]
    OwnerEnded {
        /// The sandbox's label.
        label: String,
        /// The actor that has ended.
        actor: ActorId,
    },

    /// The connection was taken back after the ownership timeout.
    #[error(
        "sandbox `{label}`: the connection of {owner} was taken back and rolled back after the \
         ownership timeout of {timeout:?}. Raise it with `CheckoutOptions::ownership_timeout` \
         for long tests, or find what keeps the test from ending."
    )]
    OwnershipTimeout {
        /// The sandbox's label.
        label: String,
        /// The owner that held it.
        owner: ActorId,
        /// The timeout.
        timeout: Duration,
    },

    /// The connection was checked in while code still used it.
    #[error(
        "sandbox `{label}`: the connection of {owner} was checked in (its test ended, or it \
         checked in explicitly), and this code still tried to use it. Await the tasks that use \
         the database before the test ends."
    )]
    CheckedIn {
        /// The sandbox's label.
        label: String,
        /// The owner that held it.
        owner: ActorId,
    },

    /// The test's connection was found closed at its first round trip (the server ended it
    /// while it sat idle in the pool, or restarted), and no other one could be had.
    #[error(
        "sandbox `{label}`: the connection of {owner} was found closed by the server at its \
         first statement (the server ended it while it sat idle in the pool, or restarted), and \
         no other connection could be had (check that the database server is up and accepts \
         connections at the sandbox's URL)"
    )]
    ConnectionLost {
        /// The sandbox's label.
        label: String,
        /// The owner of the connection.
        owner: ActorId,
        /// Why no other connection could be had: the pool's `sqlx::Error`, or the
        /// [`BackgroundError`] of the runtime that was to get one. Shared by every later
        /// statement of the test, which gets this error again.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },

    /// A query would wait for a connection the same task holds.
    #[error(
        "sandbox `{label}`: this task holds the connection of {owner} in a transaction or an \
         acquired connection, and ran a query through the pool, which would wait for itself \
         forever (inside a sandbox, a test has one connection). Run the query on the \
         transaction (`&mut *tx`) or the acquired connection instead."
    )]
    HeldByThisTask {
        /// The sandbox's label.
        label: String,
        /// The owner of the connection.
        owner: ActorId,
    },

    /// A serialized test waited too long for its turn.
    #[error(
        "sandbox `{label}`: {owner} waited {waited:?} for its turn and gave up. Sandboxed tests \
         on this database run one at a time (`SandboxBuilder::serialize_tests`, the default on \
         MySQL/MariaDB), and another test kept the turn all that time. A test that checks out a \
         second connection for another actor while its first is in use waits for itself: allow \
         that actor to use the test's connection instead (`SANDBOX.allow(test, actor)`). \
         Otherwise raise `CheckoutOptions::ownership_timeout` or the pool's `acquire_timeout` \
         (a test waits for the longer of the two), or run tests at once with \
         `serialize_tests(false)`, accepting that InnoDB deadlocks tests that write the same \
         unique keys at once."
    )]
    SerializedWait {
        /// The sandbox's label.
        label: String,
        /// The actor whose connection waited.
        owner: ActorId,
        /// How long it waited.
        waited: Duration,
    },

    /// No connection came free in time.
    #[error(
        "sandbox `{label}`: no database connection came free within {waited:?}: all \
         {max_connections} connections (`max_connections`) are checked out by running tests, and \
         {waiting} test(s) are waiting for one. Raise `max_connections`, run fewer tests at once \
         (`--test-threads`), or check connections in sooner (long tests hold theirs)."
    )]
    PoolExhausted {
        /// The sandbox's label.
        label: String,
        /// The pool's `max_connections`.
        max_connections: u32,
        /// How many checkouts were waiting.
        waiting: usize,
        /// How long this one waited.
        waited: Duration,
    },

    /// The sandbox's transaction was found ended at checkin.
    #[error(
        "sandbox `{label}`: the test's sandbox transaction had already ended when {owner} checked \
         in, so what the test wrote may have been committed. {cause}"
    )]
    TransactionEnded {
        /// The sandbox's label.
        label: String,
        /// The owner.
        owner: ActorId,
        /// What likely ended it, and what to do.
        cause: &'static str,
    },

    /// A post-checkout or pre-checkin hook failed.
    #[error(
        "sandbox `{label}`: the {hook} of {owner} failed (the connection was rolled back and \
         returned to the pool)"
    )]
    Hook {
        /// The sandbox's label.
        label: String,
        /// The actor the connection was checked out for.
        owner: ActorId,
        /// Which hook.
        hook: HookKind,
        /// The hook's error.
        #[source]
        source: sqlx::Error,
    },

    /// The database failed.
    #[error("sandbox `{label}`: {context}")]
    Database {
        /// The sandbox's label.
        label: String,
        /// What the sandbox was doing.
        context: &'static str,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },

    /// The sandbox could not reach its database server (now, or at its first connection in
    /// this process: then every later checkout fails at once with the same error).
    #[error("sandbox `{label}`: its database server can't be reached")]
    Unreachable {
        /// The sandbox's label.
        label: String,
        /// What was tried, why it failed, and how to fix it.
        #[source]
        failure: Arc<Unreachable>,
    },

    /// The sandbox's URL doesn't fit its database (told by `build()`).
    #[error("sandbox `{label}`: the database URL {url} {problem} ({advice})")]
    Url {
        /// The sandbox's label.
        label: String,
        /// The URL (its password hidden), and where it came from.
        url: String,
        /// What is wrong with it.
        problem: UrlProblem,
        /// What a URL of the sandbox's database looks like, and where to put it.
        advice: String,
        /// sqlx's reason, for a URL it can't read ([`UrlProblem::Unparsable`]).
        #[source]
        source: Option<Box<sqlx::Error>>,
    },

    /// The migrations of a rollback sandbox's database can't be applied, or are broken.
    #[error("sandbox `{label}`: the migrations of {database}")]
    Migrate {
        /// The sandbox's label.
        label: String,
        /// The database (its URL, the password hidden).
        database: String,
        /// What is wrong, and the fix.
        #[source]
        problem: MigrationsProblem,
    },

    /// A template could not be made or found (SQLite's template file, the template
    /// database of [`TemplateDatabase`](crate::TemplateDatabase)): its folder, its
    /// migrations, the run-wide lock around them.
    #[error("sandbox `{label}`: {message}")]
    Template {
        /// The sandbox's label.
        label: String,
        /// What failed, and how to fix it (its cause is the source).
        message: String,
        /// Why: the error of the template's setup (a file, the database, a migration), or
        /// of the run-wide lock around it.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// A fixture (`#[owned_test(fixtures("users"))]`) failed in the test's transaction.
    #[error(
        "sandbox `{label}`: the fixture {fixture} failed{}; fix the fixture, or the \
         migrations it expects",
        fixture_statement(*.number, .statement)
    )]
    Fixture {
        /// The sandbox's label.
        label: String,
        /// The fixture's file, as the test names it (`fixtures/users.sql`).
        fixture: &'static str,
        /// Which of its statements failed, from 1 (0: the script failed as a whole, but
        /// none of its statements alone).
        number: usize,
        /// The failing statement (its first line, shortened), or the script's.
        statement: String,
        /// The database's error.
        #[source]
        source: Box<sqlx::Error>,
    },

    /// The migrations folder a test names (`migrations = "path"`, or the crate's
    /// `migrations/`) could not be read.
    #[error(
        "sandbox `{label}`: could not read the migrations in {folder} (each file is \
         `<VERSION>_<DESCRIPTION>.sql`, as `sqlx migrate add` makes them; or say \
         `migrations = false` if the test needs none)"
    )]
    MigrationsFolder {
        /// The sandbox's label.
        label: String,
        /// The folder.
        folder: String,
        /// sqlx's reason.
        #[source]
        source: MigrateError,
    },

    /// The connection of a test's own pool (`async fn t(pool: PgPool)`) was still in use
    /// when the test ended: something the test left behind holds it (a `PoolConnection`
    /// or a transaction kept in a `static`, a task that outlived the test).
    #[error(
        "sandbox `{label}`: the connection of the test's pool was still in use after the test; \
         something the test left behind holds a `PoolConnection` or a transaction of it (a \
         `static`, a leaked task). Drop them before the test ends; the connection's \
         transaction is rolled back when its holder drops it"
    )]
    TestConnectionInUse {
        /// The sandbox's label.
        label: String,
    },

    /// Code running for another actor used a test's own pool (`async fn t(pool: PgPool)`):
    /// a clone of a pool that outlived its test (kept in a `static`, or by a worker that
    /// runs longer than the test), or a worker the test did not allow. It ran inside the
    /// test's transaction; the pool is closed, so that it serves no other test.
    #[error(
        "sandbox `{label}`: {user} used the pool of test {owner}, which is not theirs: a clone \
         of a test's pool outlived its test (kept in a `static`, a `OnceLock`, or by a worker \
         that runs longer than the test), or a worker uses it that the test did not allow. \
         Give each test's pool to the app the test builds, or allow the worker during the \
         test with `ownership_runtime::allow_all(worker.id())`"
    )]
    TestPoolUsedByAnother {
        /// The sandbox's label.
        label: String,
        /// The test whose pool it is.
        owner: ActorId,
        /// The first actor that used it.
        user: ActorId,
    },

    /// The background runtime that drives the sandbox's connections could not run the
    /// sandbox's work (it could not start, or the work panicked).
    #[error("sandbox `{label}`: its work on the background runtime failed")]
    Background {
        /// The sandbox's label.
        label: String,
        /// Why.
        #[source]
        source: BackgroundError,
    },

    /// The ownership server refused a request the sandbox made of it: a bug in
    /// sandbox-sqlx, which the sandbox checks for before asking.
    #[error(
        "sandbox `{label}`: its ownership server refused a request (a bug in sandbox-sqlx: please report it)"
    )]
    Ownership {
        /// The sandbox's label.
        label: String,
        /// The refusal.
        #[source]
        source: OwnershipError<()>,
    },

    /// A connection the sandbox held was gone when it was used: a bug in sandbox-sqlx.
    #[error("the connection was gone when it was used (a bug in sandbox-sqlx: please report it)")]
    ConnectionGone,
}

/// Where a fixture failed, for [`SandboxError::Fixture`]'s message.
fn fixture_statement(number: usize, statement: &str) -> String {
    match number {
        0 => format!(" (`{statement}`)"),
        number => format!(" at its statement {number} (`{statement}`)"),
    }
}

/// What is wrong with a sandbox's migrations (see [`SandboxError::Migrate`]).
///
/// ```
/// use sandbox_sqlx::MigrationsProblem;
///
/// let problem = MigrationsProblem::PartiallyApplied {
///     version: 3,
///     description: "add orders".to_owned(),
///     table: "_sqlx_migrations".to_owned(),
/// };
/// let message = problem.to_string();
/// assert!(message.contains("migration 3 (add orders)"));
/// assert!(message.contains("DELETE FROM _sqlx_migrations WHERE version = 3"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationsProblem {
    /// A migration is marked unfinished: it failed half-way in an earlier run.
    #[error(
        "migration {version} ({description}) is marked unfinished in `{table}` \
         (`success = false`): it failed half-way in an earlier run, and as MySQL and MariaDB \
         commit each DDL statement as it runs, some of its changes may be in the database. \
         Undo them by hand (or recreate the test database), delete its row \
         (`DELETE FROM {table} WHERE version = {version}`), fix the migration, and run the \
         tests again"
    )]
    PartiallyApplied {
        /// The migration's version.
        version: i64,
        /// Its description.
        description: String,
        /// The migrations table.
        table: String,
    },
    /// A migration was changed after it was applied to the database.
    #[error(
        "migration {version} ({description}) was changed after it was applied to this \
         database (its checksum in `{table}` differs). Restore the migration as it was \
         applied and add the change as a new migration; or, for a test database, recreate \
         it (drop and create it, or `sqlx database reset`) so that it is migrated afresh"
    )]
    Changed {
        /// The migration's version.
        version: i64,
        /// Its description.
        description: String,
        /// The migrations table.
        table: String,
    },
    /// Another process held the migrations lock too long.
    #[error(
        "waited {waited:?} for another process's migrations of this database{holder}, and \
         gave up. That process may hang in a migration (waiting for a lock a running test \
         holds, say): look at it"
    )]
    LockTimeout {
        /// How long this process waited.
        waited: Duration,
        /// Who held the lock, as the server tells it (`", held by ..."`), if known.
        holder: String,
    },
    /// sqlx's migrator failed.
    #[error(transparent)]
    Failed(MigrateError),
    /// The database failed while the migrations were checked or locked.
    #[error("{context}")]
    Database {
        /// What was being done.
        context: &'static str,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },
}

impl SandboxError {
    /// The label of the sandbox that failed (for [`ConnectionGone`](SandboxError::ConnectionGone),
    /// which knows none, `""`).
    ///
    /// ```
    /// use sandbox_sqlx::{Sandbox, SandboxError};
    /// use sqlx::Postgres;
    ///
    /// let typo = Sandbox::<Postgres>::builder("app-db", "mysql://root@127.0.0.1/test").build();
    /// assert_eq!(typo.map(|_| ()).unwrap_err().label(), "app-db");
    /// ```
    pub fn label(&self) -> &str {
        match self {
            SandboxError::NoConnection { label, .. }
            | SandboxError::NoActor { label }
            | SandboxError::SharedModeRefused { label, .. }
            | SandboxError::AllowRefused { label, .. }
            | SandboxError::OwnerEnded { label, .. }
            | SandboxError::OwnershipTimeout { label, .. }
            | SandboxError::CheckedIn { label, .. }
            | SandboxError::ConnectionLost { label, .. }
            | SandboxError::HeldByThisTask { label, .. }
            | SandboxError::SerializedWait { label, .. }
            | SandboxError::PoolExhausted { label, .. }
            | SandboxError::TransactionEnded { label, .. }
            | SandboxError::Hook { label, .. }
            | SandboxError::Database { label, .. }
            | SandboxError::Unreachable { label, .. }
            | SandboxError::Url { label, .. }
            | SandboxError::Migrate { label, .. }
            | SandboxError::Template { label, .. }
            | SandboxError::Fixture { label, .. }
            | SandboxError::MigrationsFolder { label, .. }
            | SandboxError::TestConnectionInUse { label }
            | SandboxError::TestPoolUsedByAnother { label, .. }
            | SandboxError::Background { label, .. }
            | SandboxError::Ownership { label, .. } => label,
            SandboxError::ConnectionGone => "",
        }
    }

    /// The sandbox's error inside an error of an `sqlx` call (a query through a
    /// [`SandboxPool`](crate::SandboxPool), a transaction it began), where it arrives as
    /// `sqlx::Error::Database`; `None` for any other error (the database's own, say).
    ///
    /// ```
    /// use sandbox_sqlx::{Sandbox, SandboxError};
    /// use sqlx::Postgres;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1/test").build()?;
    /// // Outside any test, the sandbox refuses the query.
    /// let error = sqlx::query("SELECT 1").execute(&sandbox.pool()).await.unwrap_err();
    /// match SandboxError::of(&error) {
    ///     Some(SandboxError::NoActor { .. }) => {} // run it inside an owned test
    ///     other => panic!("{other:?}"),
    /// }
    /// assert!(SandboxError::of(&sqlx::Error::RowNotFound).is_none());
    /// # Ok::<(), SandboxError>(())
    /// # })?;
    /// # Ok::<(), SandboxError>(())
    /// ```
    pub fn of(error: &sqlx::Error) -> Option<&SandboxError> {
        // `InSqlx` gives the sandbox's error as its `as_error`.
        error.as_database_error()?.as_error().downcast_ref()
    }
}

/// A [`SandboxError`] as sqlx carries it: an `sqlx::Error::Database`, whose message is the
/// error with its causes (rendered once, when it enters sqlx), so that sqlx's own message
/// (`error returned from database: ...`) tells them. Its `as_error` is the sandbox's error
/// itself, which [`SandboxError::of`] finds.
#[derive(Debug)]
struct InSqlx {
    /// The error and its causes, as [`error_chain`](ownership_runtime::error_chain) shows
    /// them.
    message: String,
    error: SandboxError,
}

impl std::fmt::Display for InSqlx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// No source: the message tells the causes already.
impl std::error::Error for InSqlx {}

impl sqlx::error::DatabaseError for InSqlx {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        None
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &self.error
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        &mut self.error
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        Box::new(self.error)
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}

impl From<SandboxError> for sqlx::Error {
    /// The sandbox's error as an `sqlx::Error::Database` (see [`SandboxError::of`]).
    fn from(error: SandboxError) -> Self {
        let message = ownership_runtime::error_chain(&error).to_string();
        sqlx::Error::Database(Box::new(InSqlx { message, error }))
    }
}

#[cfg(test)]
mod tests {
    use super::SandboxError;
    use crate::closed::is_closed;

    /// A sandbox's refusal, inside sqlx, is found again, says what it is after sqlx's
    /// prefix, and is never taken for a closed connection (which the sandbox would replace).
    #[test]
    fn a_sandbox_error_inside_sqlx_is_found_and_is_no_closed_connection() {
        let error = sqlx::Error::from(SandboxError::NoActor {
            label: "app-db".to_owned(),
        });
        assert!(matches!(
            SandboxError::of(&error),
            Some(SandboxError::NoActor { label }) if label == "app-db"
        ));
        let message = error.to_string();
        assert!(
            message.starts_with(
                "error returned from database: sandbox `app-db`: a query ran for no actor"
            ),
            "{message}"
        );
        let database = error.as_database_error().unwrap();
        assert_eq!(database.code(), None);
        assert_eq!(database.kind(), sqlx::error::ErrorKind::Other);
        assert!(!is_closed(&error));
    }

    /// Its message carries the causes that its own `Display` leaves to `source()`.
    #[test]
    fn the_message_inside_sqlx_has_the_causes() {
        let error = sqlx::Error::from(SandboxError::Database {
            label: "app-db".to_owned(),
            context: "could not begin the sandbox transaction",
            source: sqlx::Error::PoolClosed,
        });
        assert_eq!(
            error.as_database_error().unwrap().message(),
            "sandbox `app-db`: could not begin the sandbox transaction: attempted to acquire a \
             connection on a closed pool"
        );
        assert!(!is_closed(&error));
    }
}
