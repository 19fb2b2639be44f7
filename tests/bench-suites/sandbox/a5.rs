//! Benchmark suite (a), 5 migrations: 100 `#[sqlx::test]`s, one insert and one select each.
include!("suite.rs");
use sqlx::PgPool;
hundred_tests!(sqlx::test(migrations = "bench-suites/sandbox/migrations-5"), (pool: PgPool), {
    crate::insert_and_select(&pool).await;
});
