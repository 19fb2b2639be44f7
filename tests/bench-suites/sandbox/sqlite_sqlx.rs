//! Benchmark suite, SQLite: 100 `#[sqlx::test]`s, one insert and one select each, on
//! `migrations-sqlite-5` (the five benchmark migrations in SQLite's dialect): a database
//! file created and migrated per test.
include!("suite.rs");
use sqlx::SqlitePool;
hundred_tests!(sqlx::test(migrations = "bench-suites/sandbox/migrations-sqlite-5"), (pool: SqlitePool), {
    crate::insert_and_select_sqlite(&pool).await;
});
