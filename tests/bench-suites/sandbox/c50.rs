//! Benchmark suite (c), 50 migrations: 100 owned tests, each on a database of its own made
//! by `TemplateDatabase`, one insert and one select each.
include!("suite.rs");
use ownership_runtime::owned_test;
use sandbox_sqlx::TemplateDatabase;
use std::sync::LazyLock;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("bench-suites/sandbox/migrations-50");

/// Per-test databases from a template migrated once per run.
pub static DATABASES: LazyLock<TemplateDatabase> = LazyLock::new(|| {
    let url = std::env::var("DATABASE_URL").expect("run by the sandbox_overhead benchmark");
    TemplateDatabase::new("bench-50", url).migrations(&MIGRATOR)
});

hundred_tests!(owned_test, (), {
    let pool = crate::DATABASES.pool().await.expect("a database");
    crate::insert_and_select(&pool).await;
});
