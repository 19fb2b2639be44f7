// The `speed` benchmark's drop-in suites: the `#[sqlx::test]` suite with only its
// attribute changed to `#[owned_test]`: `pool: PgPool` (or MySqlPool, SqlitePool) in the
// test's transaction on the default sandbox of `DATABASE_URL` (SQLite: on a copy of the
// template in memory).
use ownership_runtime::owned_test;

/// Every test's body (one function, so that 1,000 tests compile it once).
async fn body(pool: crate::Pool) {
    insert_and_select!(&pool);
}

macro_rules! one_test {
    ($name:ident) => {
        #[owned_test(migrator = "crate::MIGRATOR")]
        async fn $name(pool: crate::Pool) {
            crate::body(pool).await;
        }
    };
}
thousand_tests!(one_test);
