//! The sandbox on the local PostgreSQL server (`DATABASE_URL`): isolation, rollback,
//! savepoints, fences, sharing one connection, and the errors. Skipped, with a notice,
//! when the server is unreachable (and failed under `CI=true`).

use std::sync::LazyLock;
use std::time::Duration;

use ownership_e2e::{postgres_available, postgres_url};
use ownership_runtime::harness::{Flavor, TestConfig, run_async};
use ownership_runtime::{Actor, Propagate, callers};
use sandbox_sqlx::{
    Checkin, Checkout, CheckoutOptions, Sandbox, SandboxError, SandboxMode, SandboxPool,
};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Postgres, SqlSafeStr};

/// This suite's table, and its own migrations table so that other suites' migrations
/// against the same database don't meet it.
static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    let mut migrator = Migrator::with_migrations(vec![Migration::new(
        1,
        "sandbox orders".into(),
        MigrationType::Simple,
        AssertSqlSafe(
            "CREATE TABLE IF NOT EXISTS sandbox_orders (\
                 id bigserial PRIMARY KEY, \
                 token text NOT NULL UNIQUE, \
                 placed_at timestamptz NOT NULL DEFAULT now())",
        )
        .into_sql_str(),
        false,
    )]);
    migrator.dangerous_set_table_name("_sandbox_sqlx_postgres_suite");
    migrator
});

static AUTO: LazyLock<Sandbox<Postgres>> = LazyLock::new(|| {
    Sandbox::builder("orders-db", postgres_url())
        .max_connections(8)
        .migrations(&MIGRATOR)
        .auto()
        .build()
        .unwrap()
});

static MANUAL: LazyLock<Sandbox<Postgres>> = LazyLock::new(|| {
    Sandbox::builder("manual-db", postgres_url())
        .max_connections(4)
        .migrations(&MIGRATOR)
        .build()
        .unwrap()
});

/// A token no other test or run uses.
fn token(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{test}-{}-{nanos}", std::process::id())
}

async fn insert(db: &SandboxPool<Postgres>, token: &str) -> sqlx::Result<()> {
    insert_on(db, token).await
}

/// Inserts an order on any executor: the pool, a transaction (`&mut *tx`).
async fn insert_on<'e>(
    db: impl Executor<'e, Database = Postgres>,
    token: &str,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO sandbox_orders (token) VALUES ($1)")
        .bind(token)
        .execute(db)
        .await
        .map(|_| ())
}

async fn count(db: &SandboxPool<Postgres>, token: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sandbox_orders WHERE token = $1")
        .bind(token)
        .fetch_one(db)
        .await
        .unwrap()
}

/// Counts rows outside any sandbox, on a connection of its own.
fn committed(token: &str) -> i64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut connection = PgConnection::connect(&postgres_url()).await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM sandbox_orders WHERE token = $1")
            .bind(token)
            .fetch_one(&mut connection)
            .await
            .unwrap()
    })
}

/// The failure report of a test that must fail.
fn failure_of(config: TestConfig, body: impl AsyncFnOnce()) -> String {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_async(config, || body())
    }));
    let payload = outcome.expect_err("the test should have failed");
    payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_tests_rows_are_visible_to_it_and_rolled_back_after_it() {
    if !postgres_available("a_tests_rows_are_visible_to_it_and_rolled_back_after_it") {
        return;
    }
    let token = token("rolled-back");
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        let (db, mine) = (AUTO.pool(), token.clone());
        run_async(
            TestConfig::new("postgres::rolled_back").flavor(flavor),
            || async move {
                insert(&db, &mine).await.unwrap();
                assert_eq!(count(&db, &mine).await, 1);
                // A plain tokio::spawn inside the test uses the same connection.
                let (db2, mine2) = (db.clone(), mine.clone());
                let seen = tokio::spawn(async move { count(&db2, &mine2).await })
                    .await
                    .unwrap();
                assert_eq!(seen, 1);
            },
        );
        assert_eq!(committed(&token), 0, "nothing is committed");
    }
}

#[test]
fn concurrent_tests_do_not_see_each_others_rows() {
    if !postgres_available("concurrent_tests_do_not_see_each_others_rows") {
        return;
    }
    let tokens: Vec<String> = (0..8).map(|i| token(&format!("isolated-{i}"))).collect();
    std::thread::scope(|scope| {
        for (index, mine) in tokens.iter().enumerate() {
            let others: Vec<String> = tokens.iter().filter(|t| *t != mine).cloned().collect();
            let (db, mine) = (AUTO.pool(), mine.clone());
            scope.spawn(move || {
                run_async(TestConfig::new("postgres::isolated"), || async move {
                    insert(&db, &mine).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(20 + index as u64)).await;
                    assert_eq!(count(&db, &mine).await, 1);
                    for other in &others {
                        assert_eq!(count(&db, other).await, 0, "saw another test's row");
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
fn app_transactions_become_savepoints() {
    if !postgres_available("app_transactions_become_savepoints") {
        return;
    }
    let token = token("savepoints");
    let db = AUTO.pool();
    let mine = token.clone();
    run_async(TestConfig::new("postgres::savepoints"), || async move {
        let committed_one = format!("{mine}-committed");
        let rolled_back = format!("{mine}-rolled-back");
        let dropped = format!("{mine}-dropped");
        let nested = format!("{mine}-nested");

        let mut tx = db.begin().await.unwrap();
        insert_on(&mut *tx, &committed_one).await.unwrap();
        // Nested: a savepoint in the savepoint.
        let mut inner = tx.begin().await.unwrap();
        insert_on(&mut *inner, &nested).await.unwrap();
        inner.rollback().await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = db.begin().await.unwrap();
        insert_on(&mut *tx, &rolled_back).await.unwrap();
        tx.rollback().await.unwrap();

        {
            let mut tx = db.begin().await.unwrap();
            insert_on(&mut *tx, &dropped).await.unwrap();
            // Dropped without commit.
        }

        assert_eq!(count(&db, &committed_one).await, 1);
        assert_eq!(count(&db, &nested).await, 0);
        assert_eq!(count(&db, &rolled_back).await, 0);
        assert_eq!(count(&db, &dropped).await, 0);
    });
    assert_eq!(
        committed(&format!("{token}-committed")),
        0,
        "the sandbox rolled it back"
    );
}

#[test]
fn a_failing_statement_does_not_poison_the_test() {
    if !postgres_available("a_failing_statement_does_not_poison_the_test") {
        return;
    }
    let db = AUTO.pool();
    let mine = token("unique");
    run_async(TestConfig::new("postgres::unique"), || async move {
        insert(&db, &mine).await.unwrap();
        let duplicate = insert(&db, &mine).await.unwrap_err();
        let code = duplicate
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.to_string());
        assert_eq!(code.as_deref(), Some("23505"), "{duplicate}");
        // The next statement works, and the first row is still there.
        assert_eq!(count(&db, &mine).await, 1);
        insert(&db, &format!("{mine}-after")).await.unwrap();
    });
}

#[test]
fn a_tests_tasks_share_its_one_connection() {
    if !postgres_available("a_tests_tasks_share_its_one_connection") {
        return;
    }
    let db = AUTO.pool();
    run_async(
        TestConfig::new("postgres::shared_connection").flavor(Flavor::MultiThread),
        || async move {
            let tasks: Vec<_> = (0..10)
                .map(|_| {
                    let db = db.clone();
                    tokio::spawn(async move {
                        sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()")
                            .fetch_one(&db)
                            .await
                            .unwrap()
                    })
                })
                .collect();
            let mut pids = std::collections::HashSet::new();
            for task in tasks {
                pids.insert(task.await.unwrap());
            }
            assert_eq!(pids.len(), 1, "one connection per test");
        },
    );
}

#[test]
fn manual_mode_without_a_checkout_explains_how_to_fix_it() {
    if !postgres_available("manual_mode_without_a_checkout_explains_how_to_fix_it") {
        return;
    }
    let db = MANUAL.pool();
    run_async(TestConfig::new("postgres::no_checkout"), || async move {
        let error = count_result(&db).await.unwrap_err();
        let message = error.to_string();
        let test = callers()[0];
        for expected in [
            "sandbox `manual-db`".to_owned(),
            format!("{test} has no database connection"),
            "manual mode".to_owned(),
            "SANDBOX.checkout().await".to_owned(),
            "SANDBOX.allow(test, actor)".to_owned(),
            "shared mode".to_owned(),
            "ownership_runtime::spawn".to_owned(),
            "a connection is checked in when its owner ends".to_owned(),
        ] {
            assert!(message.contains(&expected), "{expected:?} in {message}");
        }
        // With a checkout it works, and an allowed worker uses the same connection.
        assert_eq!(MANUAL.checkout().await.unwrap(), Checkout::Ok);
        assert_eq!(MANUAL.checkout().await.unwrap(), Checkout::AlreadyOwner);
        count_result(&db).await.unwrap();
        let worker = Actor::named("postgres::worker");
        assert_eq!(MANUAL.allow(test, worker.id()), sandbox_sqlx::Allow::Ok);
        let pid_of = |db: SandboxPool<Postgres>| async move {
            sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()")
                .fetch_one(&db)
                .await
                .unwrap()
        };
        let test_pid = pid_of(db.clone()).await;
        let worker_pid = worker.scope(pid_of(db.clone())).await;
        assert_eq!(test_pid, worker_pid);
        assert_eq!(MANUAL.checkin().await.unwrap(), Checkin::Ok);
        assert_eq!(MANUAL.checkin().await.unwrap(), Checkin::NotFound);
    });
}

async fn count_result(db: &SandboxPool<Postgres>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM sandbox_orders")
        .fetch_one(db)
        .await
}

#[test]
fn a_task_that_outlives_its_test_gets_a_clear_error() {
    if !postgres_available("a_task_that_outlives_its_test_gets_a_clear_error") {
        return;
    }
    let db = AUTO.pool();
    let (sender, receiver) = std::sync::mpsc::channel();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let handle = runtime.handle().clone();
    run_async(TestConfig::new("postgres::outliving"), || async move {
        count_result(&db).await.unwrap();
        // A task on a runtime the test doesn't own, carrying the test's callers.
        let leftover = async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = sender.send(count_result(&db).await);
        };
        handle.spawn(leftover.in_current_callers());
    });
    let late = receiver.recv_timeout(Duration::from_secs(10)).unwrap();
    let message = late.unwrap_err().to_string();
    assert!(
        message.contains("has ended") || message.contains("was checked in"),
        "{message}"
    );
    drop(runtime);
}

#[test]
fn committing_the_sandbox_transaction_fails_the_test() {
    if !postgres_available("committing_the_sandbox_transaction_fails_the_test") {
        return;
    }
    let db = AUTO.pool();
    let mine = token("raw-commit");
    let cleanup = mine.clone();
    let report = failure_of(TestConfig::new("postgres::raw_commit"), async move || {
        insert(&db, &mine).await.unwrap();
        db.execute("COMMIT").await.unwrap();
    });
    assert!(report.contains("sandbox-sqlx (after the test)"), "{report}");
    assert!(
        report.contains("the test's sandbox transaction had already ended"),
        "{report}"
    );
    assert!(report.contains("`COMMIT`, `ROLLBACK` or `END`"), "{report}");
    // It really was committed: clean it up.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut connection = PgConnection::connect(&postgres_url()).await.unwrap();
        sqlx::query("DELETE FROM sandbox_orders WHERE token = $1")
            .bind(&cleanup)
            .execute(&mut connection)
            .await
            .unwrap();
    });
}

#[test]
fn a_panic_mid_transaction_rolls_back_and_the_connection_is_reused_cleanly() {
    if !postgres_available(
        "a_panic_mid_transaction_rolls_back_and_the_connection_is_reused_cleanly",
    ) {
        return;
    }
    let db = AUTO.pool();
    let mine = token("panics");
    let (db2, mine2) = (db.clone(), mine.clone());
    let report = failure_of(TestConfig::new("postgres::panics"), async move || {
        let mut tx = db2.begin().await.unwrap();
        insert_on(&mut *tx, &mine2).await.unwrap();
        panic!("the test broke mid-transaction");
    });
    assert!(
        report.contains("the test broke mid-transaction"),
        "{report}"
    );
    assert_eq!(committed(&mine), 0);
    run_async(TestConfig::new("postgres::after_panic"), || async move {
        assert_eq!(count(&db, &mine).await, 0);
        insert(&db, &mine).await.unwrap();
    });
    assert_eq!(committed(&token("panics")), 0);
}

#[test]
fn an_exhausted_pool_says_how_many_connections_and_waiters() {
    if !postgres_available("an_exhausted_pool_says_how_many_connections_and_waiters") {
        return;
    }
    let tiny = Sandbox::<Postgres>::builder("tiny-db", postgres_url())
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (first, second) = (Actor::named("first"), Actor::named("second"));
        assert_eq!(
            tiny.checkout_for(first.id(), CheckoutOptions::default())
                .await
                .unwrap(),
            Checkout::Ok
        );
        let error = tiny
            .checkout_for(second.id(), CheckoutOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                SandboxError::PoolExhausted {
                    max_connections: 1,
                    ..
                }
            ),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("all 1 connections (`max_connections`)"),
            "{message}"
        );
        assert!(message.contains("Raise `max_connections`"), "{message}");
    });
}

#[test]
fn the_ownership_timeout_takes_the_connection_back() {
    if !postgres_available("the_ownership_timeout_takes_the_connection_back") {
        return;
    }
    let impatient = Sandbox::<Postgres>::builder("impatient-db", postgres_url())
        .max_connections(2)
        .checkout_options(CheckoutOptions::default().ownership_timeout(Duration::from_millis(200)))
        .auto()
        .build()
        .unwrap();
    let db = impatient.pool();
    let report = failure_of(TestConfig::new("postgres::timeout"), async move || {
        count_result(&db).await.unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        let error = count_result(&db).await.unwrap_err();
        panic!("{error}");
    });
    assert!(
        report.contains("was taken back and rolled back after the ownership timeout of 200ms"),
        "{report}"
    );
}

#[test]
fn shared_mode_gives_every_actor_the_owners_connection() {
    if !postgres_available("shared_mode_gives_every_actor_the_owners_connection") {
        return;
    }
    let db = MANUAL.pool();
    run_async(
        TestConfig::new("postgres::shared").shared(true),
        || async move {
            let test = callers()[0];
            assert_eq!(MANUAL.mode(), SandboxMode::Shared(test));
            MANUAL.checkout().await.unwrap();
            let mine: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&db)
                .await
                .unwrap();
            // A plain thread, running for nobody, uses the test's connection.
            let db = db.clone();
            let theirs = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()")
                        .fetch_one(&db)
                        .await
                })
            })
            .join()
            .unwrap()
            .unwrap();
            assert_eq!(mine, theirs);
        },
    );
    assert_eq!(MANUAL.mode(), SandboxMode::Manual);
}

#[test]
fn production_handles_go_straight_to_the_pool() {
    if !postgres_available("production_handles_go_straight_to_the_pool") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = sqlx::PgPool::connect(&postgres_url()).await.unwrap();
        let db = SandboxPool::from(pool);
        let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&db).await.unwrap();
        assert_eq!(one, 1);
        let mut tx = db.begin().await.unwrap();
        let two: i32 = sqlx::query_scalar("SELECT 2")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(two, 2);
    });
}

#[test]
fn a_connection_killed_by_the_server_fails_its_test_and_the_next_test_gets_a_fresh_one() {
    if !postgres_available(
        "a_connection_killed_by_the_server_fails_its_test_and_the_next_test_gets_a_fresh_one",
    ) {
        return;
    }
    let db = AUTO.pool();
    let killed = db.clone();
    let report = failure_of(TestConfig::new("postgres::killed"), async move || {
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&killed)
            .await
            .unwrap();
        let mut admin = PgConnection::connect(&postgres_url()).await.unwrap();
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&mut admin)
            .await
            .unwrap();
        let error = count_result(&killed).await.unwrap_err();
        panic!("the query after the kill failed: {error}");
    });
    assert!(
        report.contains("the query after the kill failed"),
        "{report}"
    );
    assert!(
        report.contains("could not check the connection in"),
        "{report}"
    );
    run_async(TestConfig::new("postgres::after_kill"), || async move {
        count_result(&db).await.unwrap();
    });
}

#[test]
fn fifty_concurrent_tests_insert_the_same_unique_key_and_all_pass() {
    if !postgres_available("fifty_concurrent_tests_insert_the_same_unique_key_and_all_pass") {
        return;
    }
    let key = token("same-key");
    std::thread::scope(|scope| {
        for _ in 0..50 {
            let (db, key) = (AUTO.pool(), key.clone());
            scope.spawn(move || {
                run_async(TestConfig::new("postgres::same_key"), || async move {
                    // Waits on the row lock of the test before it until that one rolls back.
                    insert(&db, &key).await.unwrap();
                    assert_eq!(count(&db, &key).await, 1);
                });
            });
        }
    });
    assert_eq!(committed(&key), 0);
}

/// The pool outlives every test's runtime: many owned tests, both flavors, sequential and
/// concurrent, share one static sandbox without a single failure, and leave no row.
#[test]
fn one_sandbox_serves_many_per_test_runtimes_without_failures() {
    if !postgres_available("one_sandbox_serves_many_per_test_runtimes_without_failures") {
        return;
    }
    // SANDBOX_ROUNDS=20 repeats the whole thing (the 20 runs) in one process.
    let rounds: usize = std::env::var("SANDBOX_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let prefix = token("many");
    let flavor = |index: usize| {
        if index.is_multiple_of(2) {
            Flavor::CurrentThread
        } else {
            Flavor::MultiThread
        }
    };
    let one_test = |index: usize, round: usize| {
        let (db, mine) = (AUTO.pool(), format!("{prefix}-{round}-{index}"));
        let config = TestConfig::new("postgres::many").flavor(flavor(index));
        run_async(config, || async move {
            insert(&db, &mine).await.unwrap();
            let (db2, mine2) = (db.clone(), mine.clone());
            let seen = tokio::spawn(async move { count(&db2, &mine2).await })
                .await
                .unwrap();
            assert_eq!(seen, 1);
        });
    };
    for round in 0..rounds {
        for index in 0..200 {
            one_test(index, round);
        }
        std::thread::scope(|scope| {
            for index in 0..50 {
                scope.spawn(move || one_test(index, round));
            }
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let left: i64 = runtime.block_on(async {
        let mut connection = PgConnection::connect(&postgres_url()).await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM sandbox_orders WHERE token LIKE $1")
            .bind(format!("{prefix}%"))
            .fetch_one(&mut connection)
            .await
            .unwrap()
    });
    assert_eq!(left, 0, "rows written by sandboxed tests were left behind");
}

/// What `#[owned_test(sandbox = MANUAL)]` expands to: the harness checks a connection out
/// before the body, and the sandbox's hook checks it in after.
#[test]
fn a_test_that_names_the_sandbox_gets_a_connection_before_its_body() {
    if !postgres_available("a_test_that_names_the_sandbox_gets_a_connection_before_its_body") {
        return;
    }
    static RESOURCES: [&'static dyn ownership_runtime::harness::TestResource; 1] = [&MANUAL];
    let db = MANUAL.pool();
    let mine = token("named");
    let inside = mine.clone();
    run_async(
        TestConfig::new("postgres::named").resources(&RESOURCES),
        || async move {
            insert(&db, &inside).await.unwrap();
            assert_eq!(MANUAL.checkout().await.unwrap(), Checkout::AlreadyOwner);
        },
    );
    assert_eq!(committed(&mine), 0);
    // Checked in after the test: nothing is left in the sandbox.
    assert!(MANUAL.mode() == SandboxMode::Manual);
}

#[test]
fn switching_to_manual_or_auto_checks_every_connection_in() {
    if !postgres_available("switching_to_manual_or_auto_checks_every_connection_in") {
        return;
    }
    let switching = Sandbox::<Postgres>::builder("switching-db", postgres_url())
        .max_connections(2)
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (first, second) = (Actor::named("first"), Actor::named("second"));
        for actor in [&first, &second] {
            let checkout = switching
                .checkout_for(actor.id(), CheckoutOptions::default())
                .await;
            assert_eq!(checkout.unwrap(), Checkout::Ok);
        }
        switching.set_mode(SandboxMode::Auto).await.unwrap();
        assert_eq!(switching.mode(), SandboxMode::Auto);
        // Both were checked in: each can check out again, and the pool of two has room.
        for actor in [&first, &second] {
            let checkout = switching
                .checkout_for(actor.id(), CheckoutOptions::default())
                .await;
            assert_eq!(checkout.unwrap(), Checkout::Ok);
        }
        switching.set_mode(SandboxMode::Manual).await.unwrap();
        assert_eq!(switching.mode(), SandboxMode::Manual);
        let checkout = switching
            .checkout_for(first.id(), CheckoutOptions::default())
            .await;
        assert_eq!(checkout.unwrap(), Checkout::Ok);
    });
}
