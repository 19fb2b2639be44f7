//! Benchmark suite, SQLite: 100 owned tests in a sandbox (`#[owned_test(sandbox = DB)]`),
//! one insert and one select each, on `migrations-sqlite-5`: the template migrated once per
//! run, each test on a copy of it in memory.
include!("suite.rs");
use ownership_runtime::owned_test;
use sandbox_sqlx::Sandbox;
use sqlx::Sqlite;
use std::sync::LazyLock;

static MIGRATOR: sqlx::migrate::Migrator =
    sqlx::migrate!("bench-suites/sandbox/migrations-sqlite-5");

/// The template the driver names (`SANDBOX_BENCH_SQLITE_URL`).
pub static DB: LazyLock<Sandbox<Sqlite>> = LazyLock::new(|| {
    let url =
        std::env::var("SANDBOX_BENCH_SQLITE_URL").expect("run by the sqlite_overhead benchmark");
    Sandbox::builder("bench-sqlite", url)
        .migrations(&MIGRATOR)
        .build()
        .expect("the sandbox")
});

hundred_tests!(owned_test(sandbox = crate::DB), (), {
    crate::insert_and_select_sqlite(&crate::DB.pool()).await;
});
