//! The sandbox on the local MySQL/MariaDB server (`MYSQL_DATABASE_URL`). Skipped, with a
//! notice, when the server is unreachable (and failed under `CI=true`).

use std::sync::LazyLock;
use std::time::Duration;

use ownership_e2e::{mysql_available, mysql_url};
use ownership_runtime::harness::{Flavor, TestConfig, run_async};
use sandbox_sqlx::{Sandbox, SandboxPool};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, Connection, Executor, MySql, MySqlConnection, SqlSafeStr};

static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    let mut migrator = Migrator::with_migrations(vec![Migration::new(
        1,
        "sandbox orders".into(),
        MigrationType::Simple,
        AssertSqlSafe(
            "CREATE TABLE IF NOT EXISTS sandbox_mysql_orders (\
                 id BIGINT AUTO_INCREMENT PRIMARY KEY, \
                 token VARCHAR(191) NOT NULL UNIQUE)",
        )
        .into_sql_str(),
        false,
    )]);
    migrator.dangerous_set_table_name("_sandbox_sqlx_mysql_suite");
    migrator
});

static DB: LazyLock<Sandbox<MySql>> = LazyLock::new(|| {
    Sandbox::builder("orders-mysql", mysql_url())
        .max_connections(8)
        .migrations(&MIGRATOR)
        .auto()
        .build()
        .unwrap()
});

fn token(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{test}-{}-{nanos}", std::process::id())
}

async fn insert(db: &SandboxPool<MySql>, token: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO sandbox_mysql_orders (token) VALUES (?)")
        .bind(token)
        .execute(db)
        .await
        .map(|_| ())
}

async fn count(db: &SandboxPool<MySql>, token: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sandbox_mysql_orders WHERE token = ?")
        .bind(token)
        .fetch_one(db)
        .await
        .unwrap()
}

/// Runs `sql` outside any sandbox, on a connection of its own.
fn outside<T: Send + 'static>(work: impl for<'c> AsyncFnOnce(&'c mut MySqlConnection) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut connection = MySqlConnection::connect(&mysql_url()).await.unwrap();
        work(&mut connection).await
    })
}

fn committed(token: &str) -> i64 {
    let token = token.to_owned();
    outside(async move |connection| {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sandbox_mysql_orders WHERE token = ?")
            .bind(&token)
            .fetch_one(connection)
            .await
            .unwrap()
    })
}

#[test]
fn a_tests_rows_are_visible_to_it_and_rolled_back_after_it() {
    if !mysql_available("mysql::a_tests_rows_are_visible_to_it_and_rolled_back_after_it") {
        return;
    }
    let token = token("rolled-back");
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        let (db, mine) = (DB.pool(), token.clone());
        run_async(
            TestConfig::new("mysql::rolled_back").flavor(flavor),
            || async move {
                insert(&db, &mine).await.unwrap();
                let (db2, mine2) = (db.clone(), mine.clone());
                let seen = tokio::spawn(async move { count(&db2, &mine2).await })
                    .await
                    .unwrap();
                assert_eq!(seen, 1);
            },
        );
        assert_eq!(committed(&token), 0);
    }
}

#[test]
fn concurrent_tests_do_not_see_each_others_rows() {
    if !mysql_available("mysql::concurrent_tests_do_not_see_each_others_rows") {
        return;
    }
    let tokens: Vec<String> = (0..8).map(|i| token(&format!("isolated-{i}"))).collect();
    std::thread::scope(|scope| {
        for mine in &tokens {
            let others: Vec<String> = tokens.iter().filter(|t| *t != mine).cloned().collect();
            let (db, mine) = (DB.pool(), mine.clone());
            scope.spawn(move || {
                run_async(TestConfig::new("mysql::isolated"), || async move {
                    insert(&db, &mine).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    assert_eq!(count(&db, &mine).await, 1);
                    for other in &others {
                        assert_eq!(count(&db, other).await, 0);
                    }
                });
            });
        }
    });
    for token in &tokens {
        assert_eq!(committed(token), 0);
    }
}

#[test]
fn app_transactions_become_savepoints_and_errors_do_not_poison() {
    if !mysql_available("mysql::app_transactions_become_savepoints_and_errors_do_not_poison") {
        return;
    }
    let db = DB.pool();
    let mine = token("savepoints");
    run_async(TestConfig::new("mysql::savepoints"), || async move {
        let kept = format!("{mine}-kept");
        let undone = format!("{mine}-undone");
        let mut tx = db.begin().await.unwrap();
        sqlx::query("INSERT INTO sandbox_mysql_orders (token) VALUES (?)")
            .bind(&kept)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = db.begin().await.unwrap();
        sqlx::query("INSERT INTO sandbox_mysql_orders (token) VALUES (?)")
            .bind(&undone)
            .execute(&mut *tx)
            .await
            .unwrap();
        drop(tx);
        assert_eq!(count(&db, &kept).await, 1);
        assert_eq!(count(&db, &undone).await, 0);
        let duplicate = insert(&db, &kept).await.unwrap_err();
        assert!(duplicate.to_string().contains("Duplicate"), "{duplicate}");
        assert_eq!(count(&db, &kept).await, 1);
    });
}

#[test]
fn a_tests_tasks_share_its_one_connection() {
    if !mysql_available("mysql::a_tests_tasks_share_its_one_connection") {
        return;
    }
    let db = DB.pool();
    run_async(
        TestConfig::new("mysql::one_connection").flavor(Flavor::MultiThread),
        || async move {
            let tasks: Vec<_> = (0..10)
                .map(|_| {
                    let db = db.clone();
                    tokio::spawn(async move {
                        sqlx::query_scalar::<_, u64>("SELECT CONNECTION_ID()")
                            .fetch_one(&db)
                            .await
                            .unwrap()
                    })
                })
                .collect();
            let mut ids = std::collections::HashSet::new();
            for task in tasks {
                ids.insert(task.await.unwrap());
            }
            assert_eq!(ids.len(), 1);
        },
    );
}

#[test]
fn ddl_that_commits_implicitly_fails_the_test() {
    if !mysql_available("mysql::ddl_that_commits_implicitly_fails_the_test") {
        return;
    }
    let db = DB.pool();
    let mine = token("ddl");
    let table = format!("sandbox_ddl_{}", std::process::id());
    let (inside, table_inside) = (mine.clone(), table.clone());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_async(TestConfig::new("mysql::ddl"), || async move {
            insert(&db, &inside).await.unwrap();
            db.execute(
                AssertSqlSafe(format!("CREATE TABLE {table_inside} (id INT)")).into_sql_str(),
            )
            .await
            .unwrap();
        })
    }));
    let report = outcome
        .unwrap_err()
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        report.contains("the test's sandbox transaction had already ended"),
        "{report}"
    );
    assert!(
        report.contains("commit implicitly before and after DDL"),
        "{report}"
    );
    // The implicit commit made the row permanent: clean up.
    assert_eq!(committed(&mine), 1);
    outside(async move |connection| {
        sqlx::query("DELETE FROM sandbox_mysql_orders WHERE token = ?")
            .bind(&mine)
            .execute(&mut *connection)
            .await
            .unwrap();
        connection
            .execute(AssertSqlSafe(format!("DROP TABLE {table}")).into_sql_str())
            .await
            .unwrap();
    });
}
