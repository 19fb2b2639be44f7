//! The sandbox on SQLite (embedded: no server needed): every test gets its own copy of a
//! template database migrated once per run, deleted when the test ends.

use std::path::PathBuf;
use std::sync::LazyLock;

use ownership_runtime::harness::{Flavor, TestConfig, run_async};
use sandbox_sqlx::{Sandbox, SandboxPool};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, Connection, Executor, SqlSafeStr, Sqlite, SqliteConnection};

static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    Migrator::with_migrations(vec![Migration::new(
        1,
        "orders".into(),
        MigrationType::Simple,
        AssertSqlSafe("CREATE TABLE orders (id INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE)")
            .into_sql_str(),
        false,
    )])
});

fn template() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sandbox-sqlite-suite.db")
}

static DB: LazyLock<Sandbox<Sqlite>> = LazyLock::new(|| {
    Sandbox::builder(
        "orders-sqlite",
        format!("sqlite://{}", template().display()),
    )
    .migrations(&MIGRATOR)
    .auto()
    .build()
    .unwrap()
});

async fn insert(db: &SandboxPool<Sqlite>, token: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO orders (token) VALUES (?)")
        .bind(token)
        .execute(db)
        .await
        .map(|_| ())
}

async fn count(db: &SandboxPool<Sqlite>, token: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM orders WHERE token = ?")
        .bind(token)
        .fetch_one(db)
        .await
        .unwrap()
}

/// The copies of the template that exist now.
fn copies() -> Vec<PathBuf> {
    let prefix = "sandbox-sqlite-suite.test-";
    std::fs::read_dir(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(prefix))
        })
        .collect()
}

#[test]
fn each_test_has_its_own_database_and_it_is_deleted_after() {
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        let db = DB.pool();
        let seen_file: std::sync::Arc<std::sync::Mutex<Vec<PathBuf>>> = Default::default();
        let seen = seen_file.clone();
        run_async(
            TestConfig::new("sqlite::own_database").flavor(flavor),
            || async move {
                insert(&db, "first").await.unwrap();
                let (db2,) = (db.clone(),);
                let inside_task = tokio::spawn(async move { count(&db2, "first").await })
                    .await
                    .unwrap();
                assert_eq!(inside_task, 1);
                let file: String =
                    sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                        .fetch_one(&db)
                        .await
                        .unwrap();
                seen.lock().unwrap().push(PathBuf::from(file));
            },
        );
        let file = seen_file.lock().unwrap()[0].clone();
        assert!(
            file.to_string_lossy()
                .contains("sandbox-sqlite-suite.test-"),
            "{}",
            file.display()
        );
        assert!(!file.exists(), "the test's copy is deleted after it");
    }
    // The template itself holds no test's rows.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rows: i64 = runtime.block_on(async {
        let mut connection =
            SqliteConnection::connect(&format!("sqlite://{}", template().display()))
                .await
                .unwrap();
        sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(&mut connection)
            .await
            .unwrap()
    });
    assert_eq!(rows, 0);
}

#[test]
fn concurrent_tests_write_at_once_without_seeing_each_other() {
    std::thread::scope(|scope| {
        for index in 0..8 {
            let db = DB.pool();
            scope.spawn(move || {
                run_async(TestConfig::new("sqlite::concurrent"), || async move {
                    // The same unique key in every test: each database is its own.
                    insert(&db, "same-key").await.unwrap();
                    insert(&db, &format!("mine-{index}")).await.unwrap();
                    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
                        .fetch_one(&db)
                        .await
                        .unwrap();
                    assert_eq!(total, 2);
                });
            });
        }
    });
}

#[test]
fn app_transactions_and_one_connection_per_test() {
    let db = DB.pool();
    run_async(TestConfig::new("sqlite::transactions"), || async move {
        let mut tx = db.begin().await.unwrap();
        sqlx::query("INSERT INTO orders (token) VALUES ('kept')")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = db.begin().await.unwrap();
        sqlx::query("INSERT INTO orders (token) VALUES ('undone')")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(count(&db, "kept").await, 1);
        assert_eq!(count(&db, "undone").await, 0);
        // A temporary table lives on one connection: another task of the test sees it.
        db.execute("CREATE TEMP TABLE scratch (x INTEGER)")
            .await
            .unwrap();
        let db2 = db.clone();
        tokio::spawn(async move { db2.execute("INSERT INTO scratch VALUES (1)").await.unwrap() })
            .await
            .unwrap();
    });
}

#[test]
fn no_copy_is_left_behind() {
    // Runs several tests one after another, then checks that none of their copies is
    // left (other tests of this binary may be running: only count our own).
    let before = copies().len();
    for _ in 0..5 {
        let db = DB.pool();
        run_async(TestConfig::new("sqlite::leftovers"), || async move {
            insert(&db, "x").await.unwrap();
        });
    }
    assert!(copies().len() <= before, "copies were left behind");
}
