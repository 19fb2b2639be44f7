//! Benchmark suite, SQLite: the `#[sqlx::test]` suite (`sqlite_sqlx.rs`) with only its
//! attribute changed to `#[owned_test]` (the drop-in: `pool: SqlitePool`, a pool of one
//! connection on the test's copy of the template in memory).
include!("suite.rs");
use ownership_runtime::owned_test;
use sqlx::SqlitePool;
hundred_tests!(owned_test(migrations = "bench-suites/sandbox/migrations-sqlite-5"), (pool: SqlitePool), {
    crate::insert_and_select_sqlite(&pool).await;
});
