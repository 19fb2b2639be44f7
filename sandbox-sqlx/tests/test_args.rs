//! Tests that take their database as an argument, through the harness as
//! `#[owned_test]` expands them (one `TestArgs` static per test function): a plain
//! `PgPool` that is the test's own and rolled back, `PoolConnection`, `SandboxPool` and
//! `(PgPoolOptions, PgConnectOptions)`, the default database beside `DATABASE_URL`'s,
//! and fixtures. Against the local PostgreSQL server; skipped (failed under `CI=true`)
//! when it is down.

mod test_args_support;

use ownership_e2e::{postgres_available, postgres_url};
use ownership_runtime::{Worker, allow_all};
use sandbox_sqlx::{SandboxPool, TestArgs, TestFixture, TestMigrations};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use test_args_support::run;

const MIGRATIONS: TestMigrations = TestMigrations::Folder(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/test_args_data/postgres"
));

const NOTES: TestFixture = TestFixture::new(
    "test_args_data/fixtures/notes.sql",
    include_str!("test_args_data/fixtures/notes.sql"),
);

const BROKEN: TestFixture = TestFixture::new(
    "test_args_data/fixtures/broken.sql",
    include_str!("test_args_data/fixtures/broken.sql"),
);

/// The notes whose body is `body`, seen from outside every test.
fn committed_notes(database: &str, body: &str) -> i64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = postgres_url();
        let url = format!("{}/{database}", url.rsplit_once('/').unwrap().0);
        let mut connection = PgConnection::connect(&url).await.unwrap();
        let count = sqlx::query_scalar("SELECT count(*) FROM notes WHERE body = $1")
            .bind(body)
            .fetch_one(&mut connection)
            .await
            .unwrap();
        connection.close().await.unwrap();
        count
    })
}

async fn current_database(pool: &PgPool) -> String {
    sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[test]
fn a_pool_is_the_tests_own_and_rolled_back() {
    if !postgres_available("test_args::a_pool_is_the_tests_own_and_rolled_back") {
        return;
    }
    static ARGS: TestArgs<(PgPool,)> = TestArgs::new(MIGRATIONS, &[]);
    let mut database = String::new();
    let seen_in = &mut database;
    run("test_args::rolled_back", &ARGS, |(pool,)| async move {
        *seen_in = current_database(&pool).await;
        // The app's own transaction is a savepoint: its commit commits nothing for real.
        let mut transaction = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO notes (body) VALUES ('rolled back')")
            .execute(&mut *transaction)
            .await
            .unwrap();
        transaction.commit().await.unwrap();
        // A clone in a spawned task sees it: one connection, one transaction.
        let clone = pool.clone();
        let seen: i64 = tokio::spawn(async move {
            sqlx::query_scalar("SELECT count(*) FROM notes WHERE body = 'rolled back'")
                .fetch_one(&clone)
                .await
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(seen, 1);
    })
    .unwrap();
    assert!(database.contains("_sandbox_"), "{database}");
    assert_eq!(committed_notes(&database, "rolled back"), 0);
}

#[test]
fn a_failing_statement_does_not_poison_the_test() {
    if !postgres_available("test_args::a_failing_statement_does_not_poison_the_test") {
        return;
    }
    static ARGS: TestArgs<(PgPool,)> = TestArgs::new(MIGRATIONS, &[]);
    run("test_args::not_poisoned", &ARGS, |(pool,)| async move {
        let insert = "INSERT INTO notes (body) VALUES ('unique')";
        sqlx::query(insert).execute(&pool).await.unwrap();
        let duplicate = sqlx::query(insert).execute(&pool).await.unwrap_err();
        assert_eq!(
            duplicate
                .as_database_error()
                .and_then(|e| e.code())
                .as_deref(),
            Some("23505")
        );
        let notes: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(notes, 1);
    })
    .unwrap();
}

#[test]
fn a_raw_commit_fails_the_test_and_what_follows_is_rolled_back() {
    if !postgres_available("test_args::a_raw_commit_fails_the_test") {
        return;
    }
    static ARGS: TestArgs<(PgPool,)> = TestArgs::new(MIGRATIONS, &[]);
    let mut database = String::new();
    let seen_in = &mut database;
    let token = format!("after commit {}", std::process::id());
    let token_ = token.clone();
    let report = run("test_args::raw_commit", &ARGS, |(pool,)| async move {
        *seen_in = current_database(&pool).await;
        sqlx::query("COMMIT").execute(&pool).await.unwrap();
        sqlx::query("INSERT INTO notes (body) VALUES ($1)")
            .bind(&token_)
            .execute(&pool)
            .await
            .unwrap();
    })
    .unwrap_err();
    assert!(report.contains("had already ended"), "{report}");
    assert_eq!(committed_notes(&database, &token), 0);
}

#[test]
fn two_tasks_waiting_on_each_others_connection_get_an_error() {
    if !postgres_available("test_args::two_tasks_waiting") {
        return;
    }
    static ARGS: TestArgs<(PgPool,)> = TestArgs::new(MIGRATIONS, &[]);
    run(
        "test_args::two_tasks_waiting",
        &ARGS,
        |(pool,)| async move {
            let transaction = pool.begin().await.unwrap();
            let error = sqlx::query("SELECT 1").execute(&pool).await.unwrap_err();
            assert!(matches!(error, sqlx::Error::PoolTimedOut), "{error:?}");
            drop(transaction);
        },
    )
    .unwrap();
}

#[test]
fn fixtures_run_in_the_tests_transaction() {
    if !postgres_available("test_args::fixtures_run_in_the_tests_transaction") {
        return;
    }
    static ARGS: TestArgs<(PgPool,)> = TestArgs::new(MIGRATIONS, &[NOTES]);
    let mut database = String::new();
    let seen_in = &mut database;
    run("test_args::fixtures", &ARGS, |(pool,)| async move {
        *seen_in = current_database(&pool).await;
        let notes: Vec<String> = sqlx::query_scalar("SELECT body FROM notes ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(notes, ["first; of two", "second"]);
    })
    .unwrap();
    assert_eq!(committed_notes(&database, "second"), 0);
}

#[test]
fn a_failing_fixture_names_its_file_and_statement() {
    if !postgres_available("test_args::a_failing_fixture_names_its_file_and_statement") {
        return;
    }
    static ARGS: TestArgs<(PgPool,)> = TestArgs::new(MIGRATIONS, &[BROKEN]);
    let report = run("test_args::broken_fixture", &ARGS, |_| async {
        panic!("the body must not run");
    })
    .unwrap_err();
    assert!(
        report.contains("test_args_data/fixtures/broken.sql"),
        "{report}"
    );
    assert!(report.contains("statement 2"), "{report}");
    assert!(report.contains("no_such_table"), "{report}");
    assert!(!report.contains("the body must not run"), "{report}");
}

#[test]
fn a_pool_connection_is_the_tests_own() {
    if !postgres_available("test_args::a_pool_connection_is_the_tests_own") {
        return;
    }
    static ARGS: TestArgs<(PoolConnection<Postgres>,)> = TestArgs::new(MIGRATIONS, &[NOTES]);
    run(
        "test_args::pool_connection",
        &ARGS,
        |(mut connection,)| async move {
            let notes: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
                .fetch_one(&mut *connection)
                .await
                .unwrap();
            assert_eq!(notes, 2);
            let mut transaction = connection.begin().await.unwrap();
            sqlx::query("DELETE FROM notes")
                .execute(&mut *transaction)
                .await
                .unwrap();
            transaction.commit().await.unwrap();
        },
    )
    .unwrap();
}

#[test]
fn a_sandbox_pool_is_checked_out_for_the_test() {
    if !postgres_available("test_args::a_sandbox_pool_is_checked_out_for_the_test") {
        return;
    }
    static ARGS: TestArgs<(SandboxPool<Postgres>,)> = TestArgs::new(MIGRATIONS, &[NOTES]);
    run("test_args::sandbox_pool", &ARGS, |(pool,)| async move {
        let notes: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(notes, 2);
    })
    .unwrap();
}

#[test]
fn pool_options_reach_a_database_of_the_tests_own() {
    if !postgres_available("test_args::pool_options_reach_a_database_of_the_tests_own") {
        return;
    }
    static ARGS: TestArgs<(PgPoolOptions, PgConnectOptions)> = TestArgs::new(MIGRATIONS, &[NOTES]);
    run(
        "test_args::pool_options",
        &ARGS,
        |(options, connect)| async move {
            let pool = options
                .max_connections(3)
                .connect_with(connect)
                .await
                .unwrap();
            let database = current_database(&pool).await;
            assert!(database.starts_with("sandbox_tests_"), "{database}");
            // A real commit: the database is the test's alone, dropped after it.
            let mut transaction = pool.begin().await.unwrap();
            sqlx::query("DELETE FROM notes")
                .execute(&mut *transaction)
                .await
                .unwrap();
            transaction.commit().await.unwrap();
            pool.close().await;
        },
    )
    .unwrap();
}

/// The server process behind `pool`'s connection, and whether the session's advisory
/// lock and setting the test takes are still there.
async fn session_of(pool: &PgPool) -> (i32, Option<String>, i64) {
    sqlx::query_as(
        "SELECT pg_backend_pid(), current_setting('app.mark', true), \
         (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[test]
fn a_clean_tests_pool_serves_the_next_test_with_nothing_of_it_left() {
    if !postgres_available("test_args::a_clean_tests_pool_serves_the_next_test") {
        return;
    }
    if std::env::var_os("NEXTEST_EXECUTION_MODE").is_some() {
        // Nextest's processes run one test each and keep no pool: the two tests run as
        // `cargo test` runs them, in a process of their own.
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "a_clean_tests_pool_serves_the_next_test_with_nothing_of_it_left",
                "--exact",
            ])
            .env_remove("NEXTEST_EXECUTION_MODE")
            .status()
            .unwrap();
        assert!(status.success(), "the two tests in one process: {status}");
        return;
    }
    // No migrations: a default sandbox of its own, whose one spare pool no other test
    // of this binary takes in between.
    static FIRST: TestArgs<(PgPool,)> = TestArgs::new(TestMigrations::None, &[]);
    static SECOND: TestArgs<(PgPool,)> = TestArgs::new(TestMigrations::None, &[]);
    let mut first = None;
    let seen = &mut first;
    run("test_args::first_user", &FIRST, |(pool,)| async move {
        sqlx::query("SELECT set_config('app.mark', 'first', false), pg_advisory_lock(42)")
            .execute(&pool)
            .await
            .unwrap();
        *seen = Some(session_of(&pool).await);
    })
    .unwrap();
    let (first_pid, mark, locks) = first.unwrap();
    assert_eq!((mark.as_deref(), locks), (Some("first"), 1));
    run("test_args::second_user", &SECOND, |(pool,)| async move {
        let (pid, mark, locks) = session_of(&pool).await;
        assert_eq!(
            pid, first_pid,
            "the second test reuses the first's connection"
        );
        assert!(
            mark.unwrap_or_default().is_empty(),
            "the setting was rolled back"
        );
        assert_eq!(locks, 0, "the session's advisory locks were released");
    })
    .unwrap();
}

/// Runs a test whose pool a worker uses, allowed first (`allow`) or not; `Err`: the
/// report.
fn worker_uses_the_pool(
    name: &'static str,
    args: &'static TestArgs<(PgPool,)>,
    allow: bool,
) -> Result<(), String> {
    run(name, args, move |(pool,)| async move {
        let (go, gone) = tokio::sync::oneshot::channel::<()>();
        let (used, done) = tokio::sync::oneshot::channel();
        let worker = Worker::start("app::settler", async move {
            let _ = gone.await;
            let one: i32 = sqlx::query_scalar("SELECT 1")
                .fetch_one(&pool)
                .await
                .unwrap();
            let _ = used.send(one);
        });
        let worker = worker.unwrap();
        if allow {
            allow_all(worker.id()).unwrap();
        }
        go.send(()).unwrap();
        assert_eq!(done.await.unwrap(), 1);
        worker.join().unwrap();
    })
}

#[test]
fn a_worker_the_test_did_not_allow_fails_the_test_whose_pool_it_used() {
    if !postgres_available("test_args::a_worker_the_test_did_not_allow") {
        return;
    }
    static ARGS: TestArgs<(PgPool,)> = TestArgs::new(MIGRATIONS, &[]);
    let report = worker_uses_the_pool("test_args::unallowed_worker", &ARGS, false).unwrap_err();
    assert!(report.contains("used the pool of test"), "{report}");
    assert!(report.contains("app::settler"), "{report}");
    assert!(report.contains("allow_all"), "{report}");
}

#[test]
fn a_worker_the_test_allowed_uses_its_pool() {
    if !postgres_available("test_args::a_worker_the_test_allowed") {
        return;
    }
    static ARGS: TestArgs<(PgPool,)> = TestArgs::new(MIGRATIONS, &[]);
    worker_uses_the_pool("test_args::allowed_worker", &ARGS, true).unwrap();
}

#[test]
fn a_worker_started_allowed_uses_the_pool_from_its_first_statement() {
    if !postgres_available("test_args::a_worker_started_allowed") {
        return;
    }
    static ARGS: TestArgs<(PgPool,)> = TestArgs::new(MIGRATIONS, &[]);
    run(
        "test_args::worker_started_allowed",
        &ARGS,
        |(pool,)| async move {
            let (used, done) = tokio::sync::oneshot::channel();
            // No signal to wait for: the worker runs only once it is allowed.
            let worker = Worker::start_allowed("app::settler", async move {
                let one: i32 = sqlx::query_scalar("SELECT 1")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                let _ = used.send(one);
            })
            .unwrap();
            assert_eq!(done.await.unwrap(), 1);
            worker.join().unwrap();
        },
    )
    .unwrap();
}
