//! Benchmark suite (b), 50 migrations: 100 owned tests in a sandbox, one insert and one
//! select each.
include!("suite.rs");
use ownership_runtime::owned_test;
use sandbox_sqlx::Sandbox;
use sqlx::Postgres;
use std::sync::LazyLock;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("bench-suites/sandbox/migrations-50");

/// The database the driver made for this suite (`SANDBOX_BENCH_URL_50`).
pub static DB: LazyLock<Sandbox<Postgres>> = LazyLock::new(|| {
    let url = std::env::var("SANDBOX_BENCH_URL_50").expect("run by the sandbox_overhead benchmark");
    Sandbox::builder("bench-50", url)
        .migrations(&MIGRATOR)
        .build()
        .expect("the sandbox")
});

hundred_tests!(owned_test(sandbox = crate::DB), (), {
    crate::insert_and_select(&crate::DB.pool()).await;
});
