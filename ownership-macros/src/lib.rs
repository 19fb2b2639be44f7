//! The `#[owned_test]` attribute. Use it through `ownership-runtime`, which re-exports it
//! (`use ownership_runtime::owned_test;`) and holds the harness it expands to.
//!
//! The macro only parses and checks; everything that runs lives in
//! `ownership_runtime::harness`, where it can be tested.
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

mod arguments;
mod config;
mod expand;

use proc_macro::TokenStream;

/// Marks a test whose resources are owned: it runs as an actor named after it, on a
/// fresh tokio runtime whose tasks and threads run for it, and everything it owned is
/// released (and verified by adapters) when it ends.
///
/// It goes on an `async fn` or a plain `fn` that is not generic, has no other `#[test]`
/// attribute, and returns `()` or `Result<(), E>` with `E: Debug` (an `Err` fails the
/// test, printed with `Debug`). Other attributes, such as `#[should_panic]` or
/// `#[ignore]`, apply to the test as usual.
///
/// An `async fn` may take its database as an argument, as a `#[sqlx::test]` does (see
/// [Database arguments](#database-arguments)); a plain `fn` takes no arguments.
///
/// ```
/// use ownership_runtime::owned_test;
///
/// #[owned_test]
/// async fn places_an_order() { /* tokio::spawn inside sees this test's resources */ }
///
/// #[owned_test(shared)]
/// async fn talks_to_a_global_worker() { /* every actor sees this test's resources */ }
///
/// #[owned_test(flavor = "multi_thread", worker_threads = 2, timeout = "30s")]
/// async fn heavy() -> Result<(), String> { Ok(()) }
///
/// #[owned_test(start_paused = true)]
/// async fn waits_an_hour_at_once() {
///     tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
/// }
///
/// #[owned_test]
/// fn sync_body() { /* threads from ownership_runtime::thread::spawn see its resources */ }
///
/// #[owned_test(leftover_tasks = "cancel")]
/// async fn serves() { /* a server spawned here and never stopped is cancelled at the end */ }
///
/// #[owned_test(leftover_grace = "5s", timeout = "1m")]
/// async fn flushes_late() { /* tasks left running get up to 5 s to end */ }
/// # fn main() {}
/// ```
///
/// # Options
///
/// Each option is given at most once; all the errors of one attribute are reported
/// together, each at its token.
///
/// | Option | Values | Default |
/// |---|---|---|
/// | `shared` | `shared`, `shared = true` or `shared = false` | `false` |
/// | `flavor` | `"current_thread"` or `"multi_thread"` | `"current_thread"` |
/// | `worker_threads` | a number, at least 1 (multi_thread only) | tokio's |
/// | `start_paused` | `true` or `false` (current_thread only) | `false` |
/// | `timeout` | a duration: `"500ms"`, `"30s"`, `"2m"`, `"1h"` | none |
/// | `leftover_tasks` | `"fail"` or `"cancel"` | `"fail"` |
/// | `leftover_grace` | a duration, shorter than `timeout`; `"0ms"`: no wait | one second |
/// | `sandbox` | no value, a path to a `static`, or a list: `sandbox`, `sandbox = DB`, `sandbox = [DB, OTHER]` | none |
/// | `migrations` | a folder relative to `Cargo.toml`, or `false` | the crate's `migrations/`, if it has one |
/// | `migrator` | the path of a `static` `Migrator` (or `LazyLock<Migrator>`), in a string: `migrator = "crate::MIGRATOR"` | none |
/// | `fixtures` | names, paths, or a folder and names: `fixtures("users")`, `fixtures("./seed/a.sql")`, `fixtures(path = "seed", scripts("a"))` | none |
/// | `crate` | the path of ownership-runtime, in a string: `crate = "runtime"` | `"::ownership_runtime"` |
///
/// - `shared`: the test runs in shared mode: every actor, also a worker the test did not
///   start, uses its resources; shared tests run alone, one at a time.
/// - `flavor`: the test's tokio runtime: the test's own thread (`"current_thread"`) or
///   `worker_threads` threads (`"multi_thread"`) that all run for the test.
/// - `worker_threads`: the number of worker threads of a `"multi_thread"` runtime; it
///   needs `flavor = "multi_thread"`.
/// - `start_paused`: the runtime's clock starts paused (tokio's `start_paused`; needs
///   ownership-runtime's `start-paused` feature, on by default). Only with the
///   current_thread flavor: tokio can only pause a current-thread runtime's clock.
/// - `timeout`: the test fails if it runs longer (wall-clock time, also when the clock is
///   paused). A duration is a whole number and a unit: `ms`, `s`, `m` or `h`.
/// - `leftover_tasks`: tasks (and `spawn_blocking` closures) still running after the
///   body fail the test (`"fail"`) once they are still running after its grace: the
///   harness waits up to `leftover_grace` of real time for them, and goes on as soon as
///   none is left, so a passing test never waits. With `"cancel"`, for a test that starts
///   a server or a poller and never stops it, they are cancelled as in `#[tokio::test]`
///   (with no wait unless `leftover_grace` is given) and a note on standard error names
///   the test and how many were cancelled.
/// - `leftover_grace`: how long to wait for tasks left running (one second by default,
///   also under `start_paused`). The grace is part of the test's time: it must be shorter
///   than `timeout`.
/// - `sandbox`: resources prepared for the test before its body: statics implementing
///   `ownership_runtime::harness::TestResource`, such as a `sandbox_sqlx::Sandbox`. For a
///   test that takes its database as an argument, the first names the sandbox the
///   argument comes from, and bare `sandbox` (or nothing) means the database at
///   `DATABASE_URL`.
/// - `migrations`, `migrator`, `fixtures`: as in `#[sqlx::test]`, for a test that takes
///   its database as an argument (below).
/// - `crate`: the path through which the expansion names ownership-runtime, for a test
///   crate that depends on it under another name or reaches it through a crate that
///   re-exports it. Any path works (`"runtime"`, `"::runtime"`, `"crate::support::runtime"`);
///   the expansion names nothing else of ownership-runtime.
///
/// ```
/// // Cargo.toml: runtime = { package = "ownership-runtime", version = ".." }
/// # extern crate ownership_runtime as runtime;
/// use runtime::owned_test;
///
/// #[owned_test(crate = "runtime", timeout = "30s")]
/// async fn places_an_order() {
///     assert!(runtime::callers().first().is_some()); // runs as the test's actor
/// }
/// # fn main() {}
/// ```
///
/// # Database arguments
///
/// Change `#[sqlx::test]` to `#[owned_test]` and the test runs in a transaction rolled
/// back at its end, on a pooled connection, instead of a database created and migrated
/// for it. It takes what `#[sqlx::test]` gives (the types of `sqlx` and `sandbox_sqlx`;
/// the test crate depends on `sandbox-sqlx` with its backend's feature):
///
/// | Argument | What the test gets |
/// |---|---|
/// | `pool: PgPool` (any `sqlx::Pool<DB>`) | a pool of its own, every connection of which is in the test's transaction; `pool.begin()` makes a savepoint |
/// | `conn: PoolConnection<DB>` | that pool's one connection |
/// | `pool: SandboxPool<DB>` | the sandbox's handle, checked out for the test |
/// | `(PgPoolOptions, PgConnectOptions)` | a database of its own, copied from a migrated template (PostgreSQL, SQLite), or made and migrated for it (MySQL) |
///
/// With no `sandbox = DB`, the database is one made beside `DATABASE_URL`'s (named
/// after it and a hash of the migrations), migrated once per test run across
/// processes, and left empty by its tests. The migrations are the crate's
/// `migrations/` folder unless `migrations` or `migrator` says otherwise; the fixtures
/// run in the test's transaction, after the migrations, and vanish with it.
///
/// ```ignore
/// use ownership_runtime::owned_test;
/// use sqlx::PgPool;
///
/// #[owned_test(fixtures("users"))]
/// async fn counts_users(pool: PgPool) -> sqlx::Result<()> {
///     let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
///         .fetch_one(&pool)
///         .await?;
///     assert_eq!(users, 2);
///     Ok(())
/// }
/// ```
///
/// (Not compiled here, where `sandbox-sqlx` is not a dependency: sandbox-sqlx's own
/// documentation compiles the same example.)
#[proc_macro_attribute]
pub fn owned_test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::owned_test(args.into(), item.into()).into()
}
