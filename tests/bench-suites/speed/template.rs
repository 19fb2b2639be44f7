// The `speed` benchmark's `TemplateDatabase` suite: each owned test on a PostgreSQL
// database of its own, cloned from a template migrated once per run (from the stock the
// template keeps ahead of the tests).
use ownership_runtime::owned_test;

/// Per-test databases on the server at `DATABASE_URL`.
static DATABASES: std::sync::LazyLock<sandbox_sqlx::TemplateDatabase> =
    std::sync::LazyLock::new(|| {
        let label = format!("speed-{}", crate::migrations());
        sandbox_sqlx::TemplateDatabase::new(label, crate::driver_variable("DATABASE_URL"))
            .migrations(&crate::MIGRATOR)
    });

/// Every test's body (one function, so that 1,000 tests compile it once).
async fn body() {
    let pool = DATABASES.pool().await.expect("a database");
    insert_and_select!(&pool);
}

macro_rules! one_test {
    ($name:ident) => {
        #[owned_test]
        async fn $name() {
            crate::body().await;
        }
    };
}
thousand_tests!(one_test);
