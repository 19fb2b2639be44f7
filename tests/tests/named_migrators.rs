//! `#[owned_test(migrator = "..")]` names a migrator as `#[sqlx::test]` does: a `static`
//! `Migrator` (`sqlx::migrate!`), or one behind a `LazyLock` (migrations chosen or built
//! when the tests run), which a `static` can't borrow from at compile time. Each test's
//! database has the migrator's schema. On SQLite: no server needed.

use std::sync::LazyLock;

use ownership_runtime::owned_test;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr, SqlitePool};

/// The benchmark's five migrations, embedded at compile time.
static EMBEDDED: Migrator = sqlx::migrate!("bench-suites/sandbox/migrations-sqlite-5");

/// One migration, built when the first test needs it.
static BUILT: LazyLock<Migrator> = LazyLock::new(|| {
    Migrator::with_migrations(vec![Migration::new(
        1,
        "built at run time".into(),
        MigrationType::Simple,
        AssertSqlSafe("CREATE TABLE built_notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
            .into_sql_str(),
        false,
    )])
});

/// The tables of the test's database.
async fn tables(pool: &SqlitePool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' \
         ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .expect("the tables")
}

#[owned_test(migrator = "crate::EMBEDDED")]
async fn a_static_migrator_migrates_the_tests_database(pool: SqlitePool) {
    let tables = tables(&pool).await;
    for table in ["organizations", "projects", "tags", "tasks", "users"] {
        assert!(
            tables.iter().any(|name| name == table),
            "{table} in {tables:?}"
        );
    }
    assert!(
        !tables.iter().any(|name| name == "built_notes"),
        "{tables:?}"
    );
}

#[owned_test(migrator = "crate::BUILT")]
async fn a_lazily_built_migrator_migrates_the_tests_database(pool: SqlitePool) {
    assert_eq!(tables(&pool).await, ["built_notes"]);
    sqlx::query("INSERT INTO built_notes (body) VALUES ('kept to this test')")
        .execute(&pool)
        .await
        .expect("insert");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM built_notes")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 1, "the test sees its own row, and only it");
}
