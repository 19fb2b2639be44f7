//! `TemplateDatabase` on the local PostgreSQL server: each test gets a migrated database
//! of its own, dropped when the test ends. Skipped, with a notice, when the server is
//! unreachable (and failed under `CI=true`).

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use ownership_e2e::{postgres_available, postgres_url};
use ownership_runtime::harness::{TestConfig, run_async};
use sandbox_sqlx::TemplateDatabase;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqlSafeStr};

static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    Migrator::with_migrations(vec![Migration::new(
        1,
        "orders".into(),
        MigrationType::Simple,
        AssertSqlSafe("CREATE TABLE orders (id bigserial PRIMARY KEY, token text NOT NULL UNIQUE)")
            .into_sql_str(),
        false,
    )])
});

static DATABASES: LazyLock<TemplateDatabase> =
    LazyLock::new(|| TemplateDatabase::new("template-suite", postgres_url()).migrations(&MIGRATOR));

/// Runs `work` on a connection of its own to the server's default database.
fn as_admin<T>(work: impl AsyncFnOnce(&mut PgConnection) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut admin = PgConnection::connect(&postgres_url()).await.unwrap();
        work(&mut admin).await
    })
}

fn databases_named(pattern: &str) -> Vec<String> {
    as_admin(async |admin| {
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname = $1")
            .bind(pattern)
            .fetch_all(admin)
            .await
            .unwrap()
    })
}

#[test]
fn each_test_gets_a_migrated_database_of_its_own_dropped_after_it() {
    if !postgres_available("each_test_gets_a_migrated_database_of_its_own_dropped_after_it") {
        return;
    }
    let names: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let names = names.clone();
            scope.spawn(move || {
                run_async(TestConfig::new("template::own"), || async move {
                    let pool = DATABASES.pool().await.unwrap();
                    // The same key in every test: the databases are separate.
                    sqlx::query("INSERT INTO orders (token) VALUES ('same')")
                        .execute(&pool)
                        .await
                        .unwrap();
                    let again = DATABASES.pool().await.unwrap();
                    let name: String = sqlx::query_scalar("SELECT current_database()")
                        .fetch_one(&again)
                        .await
                        .unwrap();
                    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
                        .fetch_one(&again)
                        .await
                        .unwrap();
                    assert_eq!(rows, 1);
                    names.lock().unwrap().push(name);
                });
            });
        }
    });
    let names = names.lock().unwrap().clone();
    assert_eq!(names.len(), 4);
    assert!(
        names
            .iter()
            .all(|name| name.starts_with("sandbox_template_suite_test_"))
    );
    // Dropped in the background once each test ended.
    let deadline = Instant::now() + Duration::from_secs(20);
    for name in &names {
        while !databases_named(name).is_empty() {
            assert!(Instant::now() < deadline, "{name} was not dropped");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn leftovers_of_processes_that_are_gone_are_swept() {
    if !postgres_available("leftovers_of_processes_that_are_gone_are_swept") {
        return;
    }
    // A database "left" by a process that no longer runs (no such pid here).
    let leftover = "sandbox_sweep_suite_test_4000000000_0";
    if databases_named(leftover).is_empty() {
        as_admin(async |admin| {
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {leftover}")))
                .execute(admin)
                .await
                .unwrap();
        });
    }
    static SWEEPING: LazyLock<TemplateDatabase> =
        LazyLock::new(|| TemplateDatabase::new("sweep-suite", postgres_url()));
    run_async(TestConfig::new("template::sweeps"), || async {
        SWEEPING.pool().await.unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !databases_named(leftover).is_empty() {
        assert!(Instant::now() < deadline, "the leftover was not swept");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs in a process of its own (started by the test below), as nextest runs a test.
#[test]
#[ignore = "fixture: started as a subprocess by the process-per-test test"]
fn fixture_one_test_in_its_own_process() {
    let record = std::env::var("TEMPLATE_RECORD").expect("started by a test");
    run_async(TestConfig::new("template::fixture"), || async move {
        let pool = DATABASES.pool().await.unwrap();
        let name: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&pool)
            .await
            .unwrap();
        std::fs::write(record, name).unwrap();
    });
}

#[test]
fn a_process_that_runs_one_test_leaves_no_database() {
    if !postgres_available("a_process_that_runs_one_test_leaves_no_database") {
        return;
    }
    let record = std::env::temp_dir().join(format!("template-record-{}", std::process::id()));
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "fixture_one_test_in_its_own_process",
            "--quiet",
        ])
        .env("NEXTEST_EXECUTION_MODE", "process-per-test")
        .env("TEMPLATE_RECORD", &record)
        .status()
        .unwrap();
    assert!(status.success());
    let name = std::fs::read_to_string(&record).unwrap();
    let _ = std::fs::remove_file(&record);
    assert!(name.starts_with("sandbox_template_suite_test_"), "{name}");
    // The process sent the drop and exited; the server completes it (a checkpoint) on its
    // own, soon after.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !databases_named(&name).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        databases_named(&name).is_empty(),
        "{name} outlived its process by 10 s"
    );
}
