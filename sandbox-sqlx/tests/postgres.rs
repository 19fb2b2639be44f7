//! The sandbox on the local PostgreSQL server (`DATABASE_URL`): the shared behaviour suite
//! (`behaviour/mod.rs`), and what only PostgreSQL does: a failing statement is fenced by a
//! savepoint so that it doesn't abort the sandbox's transaction, a connection the server
//! kills fails its test only, a raw `COMMIT` fails the test, and serialized sandboxes take
//! turns through an advisory lock. Skipped, with a notice, when the server is unreachable
//! (and failed under `CI=true`).

mod behaviour;

use std::sync::LazyLock;

use behaviour::{Backend, Suite, behaviour_suite, failure_of, token};
use futures_util::TryStreamExt;
use ownership_e2e::{postgres_available, postgres_url};
use ownership_runtime::harness::run_async;
use sqlx::migrate::Migrator;
use sqlx::{Connection, PgConnection, Postgres};

/// PostgreSQL, for the behaviour suite.
struct Pg;

static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    behaviour::migrator(
        "CREATE TABLE IF NOT EXISTS sandbox_orders (\
             id bigserial PRIMARY KEY, \
             token text NOT NULL UNIQUE, \
             placed_at timestamptz NOT NULL DEFAULT now())",
        "_sandbox_sqlx_postgres_suite",
    )
});

impl Backend for Pg {
    type DB = Postgres;
    const NAME: &'static str = "postgres";
    const TABLE: &'static str = "sandbox_orders";
    const PARAMETER: &'static str = "$1";
    const CONNECTION_ID: &'static str = "SELECT pg_backend_pid()::bigint";

    fn url() -> String {
        postgres_url()
    }

    fn available(test: &str) -> bool {
        postgres_available(test)
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }
}

behaviour_suite!(Pg);

type PgSuite = Suite<Pg>;

/// The SQLSTATE of a database error.
fn code(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|error| error.code())
        .map(|code| code.into_owned())
}

/// Outside an app transaction, a statement that fails would abort the sandbox's
/// transaction ("current transaction is aborted", where production's autocommit would
/// harm nothing): the sandbox fences each one with a savepoint. Inside an app transaction
/// the failure aborts that transaction, as in production, until it rolls back.
#[test]
fn a_failing_statement_does_not_poison_the_sandbox_transaction() {
    if !postgres_available("postgres::a_failing_statement_does_not_poison_the_sandbox_transaction")
    {
        return;
    }
    let db = PgSuite::auto().pool();
    let mine = token("fenced");
    let after = format!("{mine}-after");
    let tokens = [mine.clone(), after.clone()];
    run_async(PgSuite::config("fenced"), || async move {
        PgSuite::insert(&db, &mine).await.unwrap();
        let duplicate = PgSuite::insert(&db, &mine).await.unwrap_err();
        assert_eq!(code(&duplicate).as_deref(), Some("23505"), "{duplicate}");
        assert_eq!(PgSuite::count(&db, &mine).await, 1);
        // Failing after some rows were sent, and failing to parse.
        for (statement, expected) in [
            (
                "SELECT 1 / (3 - g) FROM generate_series(1, 5) AS g",
                "22012",
            ),
            ("SELEC 1", "42601"),
        ] {
            let error = sqlx::query(statement).fetch_all(&db).await.unwrap_err();
            assert_eq!(code(&error).as_deref(), Some(expected), "{error}");
            assert_eq!(PgSuite::count(&db, &mine).await, 1, "after {statement}");
        }
        // A stream dropped before its end leaves its fence open: the next statements
        // release it, and still fence.
        {
            let mut rows = sqlx::query("SELECT g FROM generate_series(1, 1000) AS g").fetch(&db);
            rows.try_next().await.unwrap().unwrap();
        }
        let duplicate = PgSuite::insert(&db, &mine).await.unwrap_err();
        assert_eq!(code(&duplicate).as_deref(), Some("23505"), "{duplicate}");
        assert_eq!(PgSuite::count(&db, &mine).await, 1);

        let mut tx = db.begin().await.unwrap();
        let duplicate = PgSuite::insert(&mut *tx, &mine).await.unwrap_err();
        assert_eq!(code(&duplicate).as_deref(), Some("23505"), "{duplicate}");
        let aborted = sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap_err();
        assert_eq!(code(&aborted).as_deref(), Some("25P02"), "{aborted}");
        tx.rollback().await.unwrap();
        PgSuite::insert(&db, &after).await.unwrap();
        assert_eq!(PgSuite::count(&db, &after).await, 1);
    });
    for token in &tokens {
        assert_eq!(PgSuite::committed(token), 0);
    }
}

#[test]
fn a_connection_killed_by_the_server_fails_its_test_and_the_next_test_gets_a_fresh_one() {
    if !postgres_available(
        "postgres::a_connection_killed_by_the_server_fails_its_test_and_the_next_test_gets_a_fresh_one",
    ) {
        return;
    }
    let db = PgSuite::auto().pool();
    let killed = db.clone();
    let report = failure_of(PgSuite::config("killed"), async move || {
        let pid = PgSuite::connection_id(&killed).await.unwrap();
        let mut admin = PgConnection::connect(&postgres_url()).await.unwrap();
        let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1::int)")
            .bind(pid)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        assert!(terminated);
        let error = PgSuite::connection_id(&killed).await.unwrap_err();
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
    run_async(PgSuite::config("after_kill"), || async move {
        PgSuite::connection_id(&db).await.unwrap();
    });
}

#[test]
fn committing_the_sandbox_transaction_fails_the_test() {
    if !postgres_available("postgres::committing_the_sandbox_transaction_fails_the_test") {
        return;
    }
    PgSuite::ending_the_sandbox_transaction_fails_the_test(
        "raw_commit",
        "COMMIT",
        "A `COMMIT`, `ROLLBACK` or `END` statement run by the test",
        None,
    );
}

/// Serialized tests (`serialize_tests(true)`) in different processes take turns through
/// an advisory lock on the server.
#[test]
fn serialized_processes_take_turns_through_the_server() {
    if !postgres_available("postgres::serialized_processes_take_turns_through_the_server") {
        return;
    }
    // `pg_advisory_lock(key)` shows the key's low 32 bits as `objid`.
    PgSuite::serialized_processes_take_turns_through_the_server(
        "turns_fixture",
        "SELECT count(*) FROM pg_locks \
         WHERE locktype = 'advisory' AND NOT granted \
         AND objid::bigint = \
             (hashtext('sandbox-sqlx tests of ' || current_database())::bigint & 4294967295)",
    );
}

/// The second test of the one above, which runs it in a process of its own.
#[test]
#[ignore = "fixture: run in a process of its own by serialized_processes_take_turns_through_the_server"]
fn turns_fixture() {
    PgSuite::serialized_fixture();
}
