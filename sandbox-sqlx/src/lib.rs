//! Per-test database sandboxes for sqlx: Ecto's SQL sandbox for Rust.
//!
//! Each test checks out one connection, inside a transaction that is rolled back when the
//! test ends; the test's tasks (and actors it allows) run their queries on it. Tests run
//! concurrently against one database, migrated once per run, and leave nothing behind.
//!
//! - [`Sandbox`]: the pool of test connections, its [modes](SandboxMode) (manual, auto,
//!   shared), and checkout, checkin and allow;
//! - [`SandboxPool`]: what app code queries through, an `sqlx::Executor`: the real pool in
//!   production, the test's connection under a sandbox. Transactions the app begins become
//!   savepoints inside the test's transaction; on PostgreSQL a failing statement is fenced
//!   by a savepoint so it doesn't abort the rest of the test.
//!
//! Each sandbox is a test resource of the harness
//! ([`TestResource`](ownership_runtime::harness::TestResource)): when a test ends, the
//! sandbox checks its connection in, and reports a sandbox transaction that app code ended.
//!
//! A checkout costs no round trip: the sandbox's `BEGIN` goes with the test's first
//! statement (on PostgreSQL, in one round trip with that statement's fence), and a
//! checkin one (the check that the transaction is still open; the rollback is queued and
//! sent before the connection is used again). [`CheckoutOptions`] add an isolation level,
//! an ownership timeout, unsandboxed checkouts, and post-checkout / pre-checkin hooks.
//!
//! A connection the server closed while it sat idle in the pool (an idle timeout, an
//! administrator's kill, a restart) fails no test: the test's first round trip, which
//! has sent nothing of the test's yet, finds it closed, and the sandbox goes on, once, on
//! another connection from its pool. All of a sandbox's connections are opened and driven
//! by a runtime of its own that outlives every test's, so no test's runtime ever leaves
//! one behind for the next test.
//!
//! ## MySQL and MariaDB
//!
//! InnoDB locks more than PostgreSQL, and concurrent tests meet its locks:
//! - at its default `REPEATABLE READ`, gap and next-key locks make tests that touch
//!   *different* rows deadlock or wait (two tests that each delete a missing row, then
//!   insert one; an update through an unindexed column). Sandbox transactions therefore
//!   run at `READ COMMITTED`, which takes no gap locks (choose another level with
//!   [`CheckoutOptions::isolation`]);
//! - tests that insert the *same* unique key at once deadlock at any level (each waiter
//!   holds a shared lock on the duplicate; when the first test rolls back, all want it
//!   exclusively), where PostgreSQL makes them wait. So sandboxed tests on MySQL run their
//!   transactions one test at a time, across processes (nextest) and machines, through a
//!   lock on the server ([`SandboxBuilder::serialize_tests`], on by default there). A
//!   test's other work, and tests that never query, still run at once. Turn it off for
//!   suites whose tests never write the same keys.
//!
//! Backends: PostgreSQL and MySQL/MariaDB by transaction rollback; SQLite (embedded, no
//! server) by a per-test copy of a migrated template database ([below](#sqlite)).
//!
//! ## SQLite
//!
//! SQLite has no server and one writer per file, so each test gets a database of its own:
//! a copy of a template migrated once per run (under a run-wide file lock, so that
//! nextest's processes agree), which is kept beside the file the sandbox's URL names.
//! Where the copy lives depends on how the test reaches it:
//!
//! | The test takes | Its database |
//! |---|---|
//! | a [`SandboxPool`] (`#[owned_test(sandbox = DB)]`, `DB.pool()`), `pool: SqlitePool`, `conn: PoolConnection<Sqlite>` | **in memory**, in the test's one connection |
//! | `(SqlitePoolOptions, SqliteConnectOptions)` | **a file** beside the template, deleted after the test: the connections the test opens reach it by its path |
//!
//! In memory, the template's file is read once per process, and its image kept for the
//! process's life (one per template, however many tests run). Each test's connection
//! opens a private in-memory database and loads a copy of the image into it
//! (`sqlite3_deserialize`). It writes to that copy alone, and frees it when the test ends:
//! nothing is written to disk, and concurrent tests never wait for each other's locks.
//! The test's tasks share its one connection, one statement or transaction at a time, as
//! on a server. Its pool (`pool: SqlitePool`, a pool of one connection) never opens
//! another connection, since a new one would be an empty database: a test that closes or
//! detaches its connection can't go on with its database, and fails, saying so. A test
//! that needs its database by path (to open connections of its own, attach it, hand it
//! to a tool) takes `(SqlitePoolOptions, SqliteConnectOptions)`.
//!
//! Memory stays bounded whatever the number of tests: a process holds one image per
//! template (the size of the template's file: 80 KiB for the `speed` benchmark's five
//! migrations), and each running test one copy of it, freed when the test ends. The
//! benchmark prints both sizes, and a test process's peak memory at 100 and at 1,000
//! tests.
//!
//! ```
//! use std::sync::LazyLock;
//! use ownership_runtime::harness::{run_async, TestConfig, TestResource};
//! use sandbox_sqlx::{Sandbox, TestArgs, TestMigrations};
//! use sqlx::Sqlite;
//! use sqlx::pool::PoolOptions;
//! use sqlx::sqlite::SqliteConnectOptions;
//!
//! static DB: LazyLock<Sandbox<Sqlite>> = LazyLock::new(|| {
//!     let template = std::env::temp_dir().join("doc-crate-sqlite.db");
//!     Sandbox::builder("app-db", format!("sqlite://{}", template.display())).build().unwrap()
//! });
//! async fn main_file(pool: &sqlx::SqlitePool) -> String {
//!     sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
//!         .fetch_one(pool)
//!         .await
//!         .unwrap()
//! }
//!
//! // What `#[owned_test(sandbox = DB)] async fn t(pool: SqlitePool)` runs: its database
//! // is in memory, in the pool's one connection.
//! static IN_MEMORY: TestArgs<(sqlx::SqlitePool,)> =
//!     TestArgs::new(TestMigrations::None, &[]).sandbox(|| &DB);
//! static MEMORY_TEST: [&dyn TestResource; 1] = [&IN_MEMORY];
//! run_async(TestConfig::new("docs::in_memory").resources(&MEMORY_TEST), || {
//!     let (pool,) = IN_MEMORY.take();
//!     async move {
//!         sqlx::query("CREATE TABLE notes (body TEXT)").execute(&pool).await.unwrap();
//!         assert_eq!(main_file(&pool).await, "", "no file");
//!     }
//! });
//!
//! // `async fn t(options: SqlitePoolOptions, connect: SqliteConnectOptions)`: a file,
//! // which the connections the test opens reach.
//! static IN_A_FILE: TestArgs<(PoolOptions<Sqlite>, SqliteConnectOptions)> =
//!     TestArgs::new(TestMigrations::None, &[]).sandbox(|| &DB);
//! static FILE_TEST: [&dyn TestResource; 1] = [&IN_A_FILE];
//! run_async(TestConfig::new("docs::in_a_file").resources(&FILE_TEST), || {
//!     let (options, connect) = IN_A_FILE.take();
//!     async move {
//!         let pool = options.max_connections(2).connect_with(connect).await.unwrap();
//!         assert!(main_file(&pool).await.contains("doc-crate-sqlite.test-"));
//!         pool.close().await;
//!     }
//! });
//! ```
//!
//! ## Tests written for `#[sqlx::test]`
//!
//! App code typed `&PgPool` needs no `SandboxPool`: the test takes its database as an
//! argument, as a `#[sqlx::test]` does, and only the attribute changes ([`TestArgs`] is
//! what `#[owned_test]` expands to; the test crate depends on `ownership-runtime` and on
//! this crate with its backend's feature):
//!
//! ```no_run
//! use ownership_runtime::owned_test;
//! use sqlx::PgPool;
//!
//! // The database is made beside `DATABASE_URL`'s and migrated once per run (from the
//! // crate's `migrations/`, `migrations = "path"`, or none); the fixture (here a file of
//! // this crate's tests; `fixtures("users")` is `fixtures/users.sql` beside the test
//! // file) runs in the test's transaction.
//! #[owned_test(migrations = false, fixtures(path = "../tests/test_args_data/fixtures", scripts("notes")))]
//! async fn counts_notes(pool: PgPool) -> sqlx::Result<()> {
//!     let notes: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
//!         .fetch_one(&pool)
//!         .await?;
//!     assert_eq!(notes, 2);
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! The test's pool is its own: one connection in a transaction rolled back at its end,
//! which then serves the next test of the process (under nextest, whose processes run
//! one test each, the relay below keeps the server's backends warm instead). [`TemplateDatabase`] (or a test that takes
//! `(PgPoolOptions, PgConnectOptions)`) gives a test a database of its own instead, for
//! what can't run in a transaction.
//!
//! ## Under nextest: the run's relay of warm backends
//!
//! nextest runs every test in a process of its own, and a new connection makes
//! PostgreSQL start a backend (a fork, the login, the catalogs read again): most of a
//! sandboxed test's time. So, for tests that take a pool of their own (`pool: PgPool`),
//! the first test process of a run starts a *relay*: the test executable run again,
//! detached, serving a Unix socket under the cargo target directory (`ownership-runwide/
//! relay-*/`, this user's only). Later processes of the run connect through it and get a
//! backend an earlier test used, after the relay rolled it back and ran `DISCARD ALL`
//! (no prepared statement, setting, temporary table or advisory lock of another test
//! is left; nothing a test wrote is committed, even if its process was killed). The
//! relay exits a few seconds after the last test process of its run.
//!
//! - It is used in nextest's process-per-test mode (`NEXTEST_EXECUTION_MODE`), for a
//!   PostgreSQL URL over TCP that doesn't require TLS, unless a pooler is behind it
//!   ([below](#through-pgbouncer)). `SANDBOX_SQLX_RELAY=0` turns it
//!   off; `SANDBOX_SQLX_RELAY=1` turns it on under `cargo test` too.
//! - A process that finds no relay yet, or whose relay fails it, connects directly, as
//!   it would without one: a relay that dies costs speed, not tests (a test connected
//!   through it when it dies loses its connection, as when a server restarts).
//! - The relay logs in with the first test's own login (it forwards the password
//!   exchange), and later tests with the same user, database and options skip it: only
//!   this user can reach its socket.
//!
//! ## Through PgBouncer
//!
//! PgBouncer in **session** mode keeps backends warm for every client of the server, not
//! one run's test processes: use it where the relay can't serve (runs on several machines
//! or containers that share a server, a runner other than nextest that starts a process
//! per test), or where one stands in front of the server already. Sandboxes work through
//! it as against the server: in session mode a client connection keeps one server
//! connection, so the sandbox's session advisory locks (migrations, serialized tests,
//! [`RunWide::postgres`](ownership_runtime::runwide::RunWide::postgres)) and sqlx's
//! prepared statements stay with it; when a client goes, PgBouncer's reset (`DISCARD
//! ALL`) drops what it left. A test process rolls its sandbox transaction back before it
//! exits, so that PgBouncer keeps its server connection for the next one (it closes one
//! left inside a transaction). `tests/pgbouncer.rs` runs sandboxed tests through the one
//! `.ci/run` starts.
//!
//! - Configure `pool_mode = session`, a `*` entry under `[databases]` (tests' databases
//!   are made beside `DATABASE_URL`'s), `ignore_startup_parameters = extra_float_digits`
//!   (sqlx sends it at login), and keep `server_reset_query = DISCARD ALL` (an empty one
//!   hands a client the last one's statements: "prepared statement sqlx_s_1 already
//!   exists"). Not transaction or statement mode: statements then run on whichever server
//!   connection is free, and prepared statements and session locks go astray.
//! - Under nextest, the run's relay steps aside once it finds PgBouncer behind it (a
//!   pooler answers cancels itself, so the server process a connection's greeting names
//!   is not the one that answers it): its idle backends would hold PgBouncer's server
//!   connections from every other client (tests waited for PgBouncer's pool), for a hop
//!   more. `SANDBOX_SQLX_RELAY=0` spares the run's first processes the relay too. The
//!   drop-in's 100 tests ran 15.7x faster than `#[sqlx::test]` on plain PostgreSQL
//!   through PgBouncer, beside 14.4x on plain PostgreSQL with the relay and 12.1x without
//!   (`cargo bench -p ownership-e2e --bench dropin`, a 2-core machine).
//! - [`TemplateDatabase`] works through it. `#[sqlx::test]` barely does: each test's `DROP
//!   DATABASE` waits 5 s for PgBouncer's idle server connection on it, fails, and leaves
//!   the database behind.
//!
//! ## Runs that share a server or a folder
//!
//! CI machines, containers and checkouts may share one PostgreSQL server or one SQLite
//! folder. What a run makes there (`TemplateDatabase`'s per-test databases and
//! templates, SQLite's templates and file copies) is named after its maker: a host identity
//! (a hash of the machine's boot id and the pid namespace, so two containers of one
//! machine are two hosts), the process id and its start time. Sweeps of leftovers remove
//! only what a process of their own host left when it died, as `/proc` tells; where it
//! can't (no `/proc`, as on macOS; a `/proc` of another pid namespace) they remove
//! nothing. A template is built aside under a fresh name and renamed into place, never
//! deleted or rebuilt where another run may be copying it. See [`TemplateDatabase`] for
//! what stays on a shared server, and
//! [`TemplateDatabase::sweep_all`] for removing it.
//!
//! ## Features
//!
//! Each backend is a feature, and none is on by default (as in sqlx): `postgres`
//! (sandboxes and [`TemplateDatabase`]), `mysql` (MySQL and MariaDB), `sqlite` (SQLite's C
//! library built in) or `sqlite-unbundled` (the system's `libsqlite3`). A sandbox of a
//! backend whose feature is off does not compile, and the error names the feature.
#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod backend;
mod builder;
mod checkin;
mod checkout;
mod closed;
mod conn;
mod connection;
mod default_sandbox;
mod driven;
mod error;
mod executor;
mod fence;
mod fixtures;
mod handle;

mod leftovers;
mod migrations;
#[cfg(feature = "mysql")]
mod mysql_database;
mod once_per_run;
mod options;
mod outcome;
mod process_mode;
mod reach;
mod reconnect;
#[cfg(feature = "postgres")]
mod relay;
mod resource;
mod sandbox;
mod spare_pools;
mod state;
mod template;
#[cfg(feature = "postgres")]
mod template_database;
#[cfg(feature = "postgres")]
mod template_stock;
mod test_args;
mod test_pool;
mod timeouts;
mod transaction;
mod turns;
mod url;

pub use backend::{IsolationLevel, SandboxDatabase};
pub use builder::SandboxBuilder;
pub use connection::SandboxConnection;
pub use default_sandbox::TestMigrations;
pub use error::{
    AllowRefusal, HookKind, MigrationsProblem, SandboxError, SandboxMode, SharedModeRefusal,
};
pub use fixtures::TestFixture;
pub use handle::SandboxPool;
pub use migrations::MIGRATIONS_WAIT;
pub use options::{AllowOptions, CheckoutOptions, ConnectionHook, DEFAULT_OWNERSHIP_TIMEOUT};
pub use outcome::{Checkin, Checkout};
pub use reach::{Unreachable, UnreachableCause};
pub use sandbox::Sandbox;
#[cfg(feature = "postgres")]
pub use template_database::TemplateDatabase;
pub use test_args::{Held, Made, Source, TestArgList, TestArgs};
pub use transaction::SandboxTransaction;
pub use url::UrlProblem;
