//! Benchmark suite (a), 50 migrations: 100 `#[sqlx::test]`s, one insert and one select each.
include!("suite.rs");
use sqlx::PgPool;
hundred_tests!(sqlx::test(migrations = "bench-suites/sandbox/migrations-50"), (pool: PgPool), {
    crate::insert_and_select(&pool).await;
});
