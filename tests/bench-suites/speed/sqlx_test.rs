// The `speed` benchmark's `#[sqlx::test]` suites: a database created and migrated per test
// on the server at `DATABASE_URL` (SQLite: a file under `target/sqlx`).
/// Every test's body (one function, so that 1,000 tests compile it once).
async fn body(pool: crate::Pool) {
    insert_and_select!(&pool);
}

macro_rules! one_test {
    ($name:ident) => {
        #[sqlx::test(migrator = "crate::MIGRATOR")]
        async fn $name(pool: crate::Pool) {
            crate::body(pool).await;
        }
    };
}
thousand_tests!(one_test);
