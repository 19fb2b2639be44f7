//! The sandbox on the local PostgreSQL server (`DATABASE_URL`): the shared behaviour suite
//! (`behaviour/mod.rs`), and what only PostgreSQL does: a failing statement is fenced by a
//! savepoint so that it doesn't abort the sandbox's transaction, a connection the server
//! kills fails its test only, a raw `COMMIT` fails the test, and serialized sandboxes take
//! turns through an advisory lock. Skipped, with a notice, when the server is unreachable
//! (and failed under `CI=true`).

mod behaviour;

use std::sync::LazyLock;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use behaviour::{
    Backend, FirstUse, Sessions, Suite, behaviour_suite, failure_of, sandbox_error, token,
};
use futures_util::TryStreamExt;
use ownership_e2e::{postgres_available, postgres_url, skip};
use ownership_runtime::harness::{Flavor, run_async};
use sandbox_sqlx::{Sandbox, SandboxError};
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

/// How a test ends PostgreSQL sessions (`pg_terminate_backend`), and finds the one that
/// holds the lock of serialized tests.
const SESSIONS: Sessions = Sessions {
    kill: "SELECT pg_terminate_backend({id}::int)",
    alive: "SELECT count(*) FROM pg_stat_activity WHERE pid = {id}",
    lock_holder: "SELECT pid::bigint FROM pg_locks \
         WHERE locktype = 'advisory' AND granted AND objid::bigint = \
             (hashtext('sandbox-sqlx tests of ' || current_database())::bigint & 4294967295)",
    holds_lock: "SELECT count(*) FROM pg_locks \
         WHERE locktype = 'advisory' AND granted AND pid = {id} AND objid::bigint = \
             (hashtext('sandbox-sqlx tests of ' || current_database())::bigint & 4294967295)",
};

/// `pg_terminate_backend` of the sandbox's idle connections between tests fails none of
/// the tests after (see the behaviour).
#[test]
fn connections_the_server_ended_while_idle_are_replaced() {
    if !postgres_available("postgres::connections_the_server_ended_while_idle_are_replaced") {
        return;
    }
    let url = behaviour::with_parameter(&postgres_url(), "application_name=sandbox-ended-idle");
    PgSuite::connections_the_server_ended_while_idle_are_replaced(url, &SESSIONS);
}

/// A PostgreSQL server of the test's own (`initdb` and `pg_ctl`, in a temporary folder, on
/// a free port), which it may restart; stopped and deleted when dropped. `initdb` refuses
/// to run as root: as root, the programs run as the `postgres` user.
struct OwnServer {
    folder: PathBuf,
    port: u16,
}

impl OwnServer {
    /// Makes and starts the server; `None`, reported as a skip (a failure under
    /// `CI=true`), where PostgreSQL's programs can't run.
    fn start(test: &str) -> Option<OwnServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let server = OwnServer {
            folder: std::env::temp_dir().join(token("own-postgres")),
            port,
        };
        std::fs::create_dir(&server.folder).unwrap();
        let data = server.data();
        let started = if is_root() {
            run(Command::new("chown").arg("postgres").arg(&server.folder))
        } else {
            Ok(())
        }
        .and_then(|()| {
            server.run(
                "initdb",
                &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
            )
        })
        .and_then(|()| server.pg_ctl_start());
        match started {
            Ok(()) => Some(server),
            Err(why) => {
                skip(
                    test,
                    &format!("could not start a PostgreSQL server of its own: {why}"),
                );
                None
            }
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> String {
        self.folder.join("data").display().to_string()
    }

    /// Restarts the server (`-m fast`: it ends every session, as an administrator's
    /// restart does).
    fn restart(&self) {
        self.pg_ctl(&["-m", "fast", "restart"]).unwrap();
    }

    /// Stops the server, ending every session.
    fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "stop"]).unwrap();
    }

    /// Starts the stopped server again.
    fn start_again(&self) {
        self.pg_ctl_start().unwrap();
    }

    /// Starts the server on its port, its socket in its folder.
    fn pg_ctl_start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.folder.display()
        );
        self.pg_ctl(&["-o", &options, "start"])
    }

    /// Runs `pg_ctl` on the server's data, logging to its folder, waiting for the end.
    fn pg_ctl(&self, arguments: &[&str]) -> Result<(), String> {
        let log = self.folder.join("log").display().to_string();
        let data = self.data();
        let common = ["-D", data.as_str(), "-l", log.as_str(), "-w"];
        self.run("pg_ctl", &[&common[..], arguments].concat())
    }

    /// Runs one of PostgreSQL's programs, as the `postgres` user when this is root.
    fn run(&self, program: &str, arguments: &[&str]) -> Result<(), String> {
        let mut command = if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--", program]);
            command
        } else {
            Command::new(program)
        };
        run(command.args(arguments).current_dir(Path::new("/")))
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// Whether this process runs as root.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// Runs `command` to its end: `Err` says why it failed.
fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|error| format!("{command:?}: {error}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{command:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// A restart of the server fails none of the tests after it. The restart ends every
/// session: the three connections idle in the sandbox's pool (three tests ran at once
/// before it) and the one that holds the lock of serialized tests. The first test after
/// it finds its connection closed at its first round trip, and the others the pool hands
/// out closed too; the sandbox closes each and goes on, transparently, on a new one. Then
/// every way of a test's first use works.
#[test]
fn tests_after_a_server_restart_pass() {
    let test = "postgres::tests_after_a_server_restart_pass";
    let Some(server) = OwnServer::start(test) else {
        return;
    };
    let sandbox = Sandbox::<Postgres>::builder("postgres-restarted", server.url())
        .migrations(&MIGRATOR)
        .max_connections(3)
        .acquire_timeout(Duration::from_secs(10))
        .serialize_tests(true)
        .auto()
        .build()
        .unwrap();
    let prefix = token("restarted");
    let checked_out = tokio::sync::Barrier::new(3);
    std::thread::scope(|scope| {
        for index in 0..3 {
            let (sandbox, checked_out, mine) =
                (&sandbox, &checked_out, format!("{prefix}-before-{index}"));
            scope.spawn(move || {
                run_async(PgSuite::config("before_restart"), || async move {
                    sandbox.checkout().await.unwrap();
                    checked_out.wait().await;
                    PgSuite::insert(&sandbox.pool(), &mine).await.unwrap();
                });
            });
        }
    });
    behaviour::runtime().block_on(behaviour::until(
        "the three connections to be idle in the pool",
        async || sandbox.pool().num_idle() == 3,
    ));
    server.restart();
    for way in FirstUse::ALL {
        let mine = format!("{prefix}-{way:?}");
        PgSuite::test_first_use(&sandbox, way, Flavor::CurrentThread, &mine, None);
    }
    assert_eq!(
        PgSuite::committed_at(&server.url(), &format!("{prefix}-%")),
        0
    );
}

/// When no other connection can be had (the server is down), the test whose connection
/// was found closed fails at its first statement, and at every later one, naming what
/// happened and what to check; once the server is back, the next test passes.
#[test]
fn a_test_whose_connection_was_closed_while_the_server_is_down_says_so() {
    let test = "postgres::a_test_whose_connection_was_closed_while_the_server_is_down_says_so";
    let Some(server) = OwnServer::start(test) else {
        return;
    };
    let sandbox = Sandbox::<Postgres>::builder("postgres-down", server.url())
        .migrations(&MIGRATOR)
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(1))
        .serialize_tests(false)
        .auto()
        .build()
        .unwrap();
    let prefix = token("down");
    let first = format!("{prefix}-first");
    PgSuite::test_first_use(
        &sandbox,
        FirstUse::Statement,
        Flavor::CurrentThread,
        &first,
        None,
    );
    behaviour::runtime().block_on(behaviour::until(
        "the connection to be idle in the pool",
        async || sandbox.pool().num_idle() == 1,
    ));
    server.stop();
    let (db, mine) = (sandbox.pool(), format!("{prefix}-while-down"));
    let report = failure_of(PgSuite::config("server_down"), async move || {
        let error = PgSuite::insert(&db, &mine).await.unwrap_err();
        let again = PgSuite::connection_id(&db).await.unwrap_err();
        for error in [&error, &again] {
            assert!(
                matches!(sandbox_error(error), SandboxError::ConnectionLost { .. }),
                "{error:?}"
            );
        }
        panic!("{error}");
    });
    for expected in [
        "sandbox `postgres-down`",
        "was found closed by the server at its first statement",
        "no other connection could be had",
        "check that the database server is up",
    ] {
        assert!(report.contains(expected), "{expected:?} in {report}");
    }
    server.start_again();
    let after = format!("{prefix}-after");
    PgSuite::test_first_use(
        &sandbox,
        FirstUse::Statement,
        Flavor::CurrentThread,
        &after,
        None,
    );
    assert_eq!(
        PgSuite::committed_at(&server.url(), &format!("{prefix}-%")),
        0
    );
}
