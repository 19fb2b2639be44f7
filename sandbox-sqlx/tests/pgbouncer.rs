//! Sandboxed tests through PgBouncer in session mode, the pooler that keeps PostgreSQL's
//! backends warm across processes: the one at `PGBOUNCER_URL` (by default
//! `postgres://root@127.0.0.1:6432/test`, which `.ci/run` starts in front of the local
//! PostgreSQL). A test's rows are rolled back; concurrent tests insert the same unique
//! key; a run-wide setup runs once (a session advisory lock, which session mode keeps on
//! the client's own server connection); sqlx's prepared statements live on as server
//! connections pass from test to test; a test takes `pool: PgPool`, or a database of its
//! own; and PgBouncer's refusals are told apart. Skipped, with
//! the reason, when no pooler answers there (failed under `CI=true`).

mod test_args_support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, LazyLock};
use std::time::Duration;

use ownership_e2e::{pgbouncer_available, pgbouncer_url};
use ownership_runtime::error_chain;
use ownership_runtime::harness::{TestConfig, run_async};
use ownership_runtime::runwide::{Once, RunWide, RunWideError};
use sandbox_sqlx::{
    Sandbox, SandboxError, TemplateDatabase, TestArgs, TestMigrations, UnreachableCause,
};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Postgres, Row, SqlSafeStr};
use test_args_support::run;

/// The suite's one table, recorded in a migrations table of its own (the database is
/// shared with other suites).
static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    let mut migrator = Migrator::with_migrations(vec![Migration::new(
        1,
        "pgbouncer notes".into(),
        MigrationType::Simple,
        AssertSqlSafe(
            "CREATE TABLE IF NOT EXISTS pgbouncer_notes (\
                 id bigserial PRIMARY KEY, \
                 token text NOT NULL UNIQUE)",
        )
        .into_sql_str(),
        false,
    )]);
    migrator.dangerous_set_table_name("_sandbox_sqlx_pgbouncer_suite");
    migrator
});

/// The sandbox behind PgBouncer: migrated through it (under the sandbox's session
/// advisory lock), and the database of the tests' own pools, which connect through it
/// too (under nextest, through the run's relay in front of it).
static PGBOUNCER: LazyLock<Sandbox<Postgres>> = LazyLock::new(|| {
    Sandbox::builder("pgbouncer", pgbouncer_url())
        .migrations(&MIGRATOR)
        .build()
        .unwrap()
});

/// A test's own pool, on [`PGBOUNCER`]'s database.
type PoolArgs = TestArgs<(PgPool,)>;

const fn pool_args() -> PoolArgs {
    TestArgs::new(TestMigrations::None, &[]).sandbox(|| &PGBOUNCER)
}

/// The port PgBouncer listens on.
fn pgbouncer_port() -> u16 {
    pgbouncer_url()
        .parse::<PgConnectOptions>()
        .unwrap()
        .get_port()
}

/// Runs `work` on a runtime of its own.
fn block_on<T>(work: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

/// The notes with `token`, seen from outside every test (a connection of its own,
/// through PgBouncer).
fn committed(token: &str) -> i64 {
    block_on(async {
        let mut connection = PgConnection::connect(&pgbouncer_url()).await.unwrap();
        let count = sqlx::query_scalar("SELECT count(*) FROM pgbouncer_notes WHERE token = $1")
            .bind(token)
            .fetch_one(&mut connection)
            .await
            .unwrap();
        connection.close().await.unwrap();
        count
    })
}

/// A token no other run of this suite uses.
fn unique(what: &str) -> String {
    format!(
        "{what}-{}-{:?}",
        std::process::id(),
        std::time::Instant::now()
    )
}

async fn insert(pool: &PgPool, token: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO pgbouncer_notes (token) VALUES ($1)")
        .bind(token)
        .execute(pool)
        .await
        .map(drop)
}

async fn count(pool: &PgPool, token: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pgbouncer_notes WHERE token = $1")
        .bind(token)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The drop-in: `pool: PgPool` is the test's own, reaches the server through PgBouncer
/// (the server's port is not the one the URL names), and what the test wrote, also in
/// an app transaction it committed (a savepoint), is rolled back.
#[test]
fn a_pool_argument_is_rolled_back_through_pgbouncer() {
    if !pgbouncer_available("pgbouncer::a_pool_argument_is_rolled_back_through_pgbouncer") {
        return;
    }
    static ARGS: PoolArgs = pool_args();
    let token = unique("rolled-back");
    let inside = token.clone();
    run("pgbouncer::rolled_back", &ARGS, |(pool,)| async move {
        let port: i32 = sqlx::query_scalar("SELECT inet_server_port()")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_ne!(port, i32::from(pgbouncer_port()), "through a pooler");
        let mut transaction = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO pgbouncer_notes (token) VALUES ($1)")
            .bind(&inside)
            .execute(&mut *transaction)
            .await
            .unwrap();
        transaction.commit().await.unwrap();
        // A task of the test sees it: one connection, one transaction.
        let clone = pool.clone();
        let seen = tokio::spawn(async move { count(&clone, &inside).await });
        assert_eq!(seen.await.unwrap(), 1);
    })
    .unwrap();
    assert_eq!(committed(&token), 0, "rolled back");
}

/// Tests that insert the same unique key at once all pass: PostgreSQL makes each wait
/// until the one before rolled back, on server connections that PgBouncer keeps for each
/// test's client connection.
#[test]
fn concurrent_tests_insert_the_same_unique_key_through_pgbouncer() {
    if !pgbouncer_available("pgbouncer::concurrent_tests_insert_the_same_unique_key") {
        return;
    }
    const TESTS: usize = 8;
    static ARGS: PoolArgs = pool_args();
    let token = Arc::new(unique("same-key"));
    let start = Arc::new(Barrier::new(TESTS));
    let tests: Vec<_> = (0..TESTS)
        .map(|index| {
            let (token, start) = (token.clone(), start.clone());
            std::thread::spawn(move || {
                let name: &'static str = Box::leak(format!("pgbouncer::same_key_{index}").into());
                run(name, &ARGS, |(pool,)| async move {
                    start.wait();
                    insert(&pool, &token).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    assert_eq!(count(&pool, &token).await, 1);
                })
            })
        })
        .collect();
    for test in tests {
        test.join().unwrap().unwrap();
    }
    assert_eq!(committed(&token), 0, "every test rolled back");
}

/// The server process behind `connection`.
async fn backend(connection: &mut PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(connection)
        .await
        .unwrap()
}

/// A run-wide setup through PgBouncer runs once while concurrent callers (a connection
/// each) wait: the session advisory lock stays on its holder's server connection, which
/// session mode keeps for the holder. A held lock names its holder; a holder that goes
/// without unlocking (a killed process) frees the lock, as PgBouncer resets the server
/// connection it leaves (`DISCARD ALL`).
#[test]
fn a_run_wide_setup_runs_once_through_pgbouncer() {
    if !pgbouncer_available("pgbouncer::a_run_wide_setup_runs_once_through_pgbouncer") {
        return;
    }
    const CALLERS: usize = 6;
    let run_wide = RunWide::postgres(pgbouncer_url())
        .with_run_id(unique("pgbouncer-run"))
        .timeout(Duration::from_secs(30));
    let ran = Arc::new(AtomicUsize::new(0));
    block_on(async {
        // Session mode: a client's statements all run on its server connection, so the
        // session lock it takes stays its own while another client's statements run
        // (in transaction mode they would run on whichever server connection is free).
        let url = pgbouncer_url();
        let mut holder = PgConnection::connect(&url).await.unwrap();
        let held_on = backend(&mut holder).await;
        sqlx::query("SELECT pg_advisory_lock(hashtext('sandbox-sqlx pgbouncer session'))")
            .execute(&mut holder)
            .await
            .unwrap();
        let mut other = PgConnection::connect(&url).await.unwrap();
        for _ in 0..3 {
            let taken: bool = sqlx::query_scalar(
                "SELECT pg_try_advisory_lock(hashtext('sandbox-sqlx pgbouncer session'))",
            )
            .fetch_one(&mut other)
            .await
            .unwrap();
            assert!(!taken, "another client's statement took the holder's lock");
            assert_eq!(backend(&mut holder).await, held_on);
        }
        other.close().await.unwrap();
        holder.close().await.unwrap();

        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let (run_wide, ran) = (run_wide.clone(), ran.clone());
                tokio::spawn(async move {
                    run_wide
                        .once("pgbouncer-setup", || async move {
                            ran.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            Ok::<_, String>(())
                        })
                        .await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for caller in callers {
            outcomes.push(caller.await.unwrap().unwrap());
        }
        let here = outcomes.iter().filter(|once| once.ran_here()).count();
        assert_eq!(here, 1, "{outcomes:?}");
        assert!(outcomes.contains(&Once::AlreadyDone));
        assert_eq!(ran.load(Ordering::SeqCst), 1, "the setup ran once");

        let held = run_wide.lock("pgbouncer-service").await.unwrap();
        let impatient = run_wide.clone().timeout(Duration::from_millis(300));
        let error = impatient.lock("pgbouncer-service").await.unwrap_err();
        assert!(matches!(error, RunWideError::Timeout { .. }), "{error:?}");
        let message = error.to_string();
        let holder = format!("ownership-runwide process {}", std::process::id());
        assert!(message.contains(&holder), "{message}");
        // Dropped, not released: its client connection closes with the lock held.
        drop(held);
        run_wide
            .clone()
            .timeout(Duration::from_secs(10))
            .lock("pgbouncer-service")
            .await
            .unwrap()
            .release()
            .await;
    });
}

/// Run in a process of its own by the test below, as nextest runs a test (without the
/// relay): prints the server process behind its pool, inside the sandbox's transaction.
#[test]
#[ignore = "fixture: started in a process of its own by a_test_process_leaves_pgbouncer_its_server_connection"]
fn fixture_one_test_in_its_own_process() {
    static ARGS: PoolArgs = pool_args();
    run("pgbouncer::own_process", &ARGS, |(pool,)| async move {
        insert(&pool, &unique("own-process")).await.unwrap();
        let mut connection = pool.acquire().await.unwrap();
        println!("backend {}", backend(&mut connection).await);
    })
    .unwrap();
}

/// A test process ends its sandbox transaction before it goes, so PgBouncer keeps the
/// server connection, warm, for the next process: it closes one that its client left
/// inside a transaction.
#[test]
fn a_test_process_leaves_pgbouncer_its_server_connection() {
    if !pgbouncer_available("pgbouncer::a_test_process_leaves_pgbouncer_its_server_connection") {
        return;
    }
    let (passed, printed) = ownership_e2e::fixtures::run_this_binary_with(
        &[
            "--exact",
            "fixture_one_test_in_its_own_process",
            "--ignored",
            "--nocapture",
        ],
        &[
            ("NEXTEST_EXECUTION_MODE", "process-per-test"),
            ("SANDBOX_SQLX_RELAY", "0"),
        ],
    );
    assert!(passed, "{printed}");
    let server: i32 = printed
        .lines()
        .find_map(|line| line.strip_prefix("backend "))
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or_else(|| panic!("the fixture printed no backend:\n{printed}"));
    block_on(async {
        let mut connection = PgConnection::connect(&pgbouncer_url()).await.unwrap();
        // PgBouncer closes a server connection as soon as its client is gone: one still
        // there a second later was kept.
        for _ in 0..10 {
            let alive: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)")
                    .bind(server)
                    .fetch_one(&mut connection)
                    .await
                    .unwrap();
            assert!(alive, "PgBouncer closed server connection {server}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        connection.close().await.unwrap();
    });
}

/// The server's named prepared statements, counted by a simple query (which prepares
/// none).
async fn prepared_statements(connection: &mut PgConnection, sql: &str) -> i64 {
    let row = sqlx::raw_sql(AssertSqlSafe(format!(
        "SELECT count(*) FROM pg_prepared_statements WHERE statement = '{}'",
        sql.replace('\'', "''")
    )))
    .fetch_one(&mut *connection)
    .await
    .unwrap();
    row.get(0)
}

/// What sqlx prepares (once per connection, then reuses from its cache).
const PREPARED: &str =
    "SELECT $1::bigint + count(*) FROM pg_class WHERE relname = 'pgbouncer_notes'";

/// sqlx prepares a statement once per connection and reuses it from its cache, by a
/// name that every new connection uses again (`sqlx_s_1`, ...). Through PgBouncer:
/// - sandboxed tests one after another each prepare it once and reuse it, on server
///   connections that pass from test to test (in one process, the next test's pool is
///   the same connection, statement and all; a new connection gets a server connection
///   an earlier client used);
/// - fresh client connections one after another get the server connection the one
///   before left (PgBouncer hands back the last one), with none of its statements: the
///   same names are prepared again without a clash. On a database no other test reaches
///   through PgBouncer (`postgres`), so that PgBouncer's pool of it is this test's alone.
#[test]
fn prepared_statements_are_reused_across_tests_on_pooled_server_connections() {
    if !pgbouncer_available("pgbouncer::prepared_statements_are_reused_across_tests") {
        return;
    }
    const TESTS: usize = 6;
    static ARGS: PoolArgs = pool_args();
    for index in 0..TESTS {
        let name: &'static str = Box::leak(format!("pgbouncer::prepared_{index}").into());
        run(name, &ARGS, |(pool,)| async move {
            for round in 0..3_i64 {
                let sum: i64 = sqlx::query_scalar(PREPARED)
                    .bind(round)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                assert_eq!(sum, round + 1);
            }
            let mut connection = pool.acquire().await.unwrap();
            assert_eq!(
                prepared_statements(&mut connection, PREPARED).await,
                1,
                "prepared once on this server connection, then reused"
            );
        })
        .unwrap();
    }

    let options = pgbouncer_url()
        .parse::<PgConnectOptions>()
        .unwrap()
        .database("postgres");
    const CLIENTS: usize = 10;
    let backends: HashSet<i32> = block_on(async {
        let mut backends = HashSet::new();
        for _ in 0..CLIENTS {
            let mut connection = PgConnection::connect_with(&options).await.unwrap();
            assert_eq!(
                prepared_statements(&mut connection, PREPARED).await,
                0,
                "the last client's statements are gone"
            );
            for round in 0..2_i64 {
                let sum: i64 = sqlx::query_scalar(PREPARED)
                    .bind(round)
                    .fetch_one(&mut connection)
                    .await
                    .unwrap();
                assert_eq!(sum, round);
            }
            backends.insert(backend(&mut connection).await);
            connection.close().await.unwrap();
        }
        backends
    });
    assert!(
        backends.len() < CLIENTS,
        "server connections pass from client to client: {} for {CLIENTS} clients",
        backends.len()
    );
}

/// A test of its own database through PgBouncer: `TemplateDatabase` migrates a build
/// database and renames it to the template, which needs the build free of sessions
/// (PgBouncer keeps the migrations' server connection once their pool closed); the test
/// commits for real in its copy. The label's template is swept first, so that this test
/// builds it (`sweep_all`: only this test uses the label).
#[test]
fn a_template_is_built_through_pgbouncer_and_a_test_gets_a_copy() {
    if !pgbouncer_available("pgbouncer::a_template_is_built_through_pgbouncer") {
        return;
    }
    static DATABASES: LazyLock<TemplateDatabase> =
        LazyLock::new(|| TemplateDatabase::new("pgbouncer", pgbouncer_url()).migrations(&MIGRATOR));
    block_on(DATABASES.sweep_all()).unwrap();
    let mut outcome = Ok(String::new());
    let slot = &mut outcome;
    run_async(TestConfig::new("pgbouncer::own_database"), || async move {
        *slot = async {
            let pool = DATABASES.pool().await?;
            let mut transaction = pool.begin().await?;
            sqlx::query("INSERT INTO pgbouncer_notes (token) VALUES ('committed')")
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
            assert_eq!(count(&pool, "committed").await, 1);
            let database: String = sqlx::query_scalar("SELECT current_database()")
                .fetch_one(&pool)
                .await?;
            Ok::<_, Box<dyn std::error::Error>>(database)
        }
        .await
        .map_err(|error| error_chain(&*error).to_string());
    });
    let database = outcome.unwrap();
    assert!(database.starts_with("sandbox_pgbouncer_"), "{database}");
    block_on(DATABASES.sweep_all()).unwrap();
}

/// The cause of a failed checkout through PgBouncer at `url`, and the error's message.
fn cause_at(url: &str) -> (UnreachableCause, String) {
    let sandbox = Sandbox::<Postgres>::builder("pgbouncer-causes", url)
        .build()
        .unwrap();
    let mut outcome = Ok(());
    let slot = &mut outcome;
    run_async(TestConfig::new("pgbouncer::causes"), || async move {
        *slot = sandbox.checkout().await.map(drop);
    });
    let error = outcome.expect_err("the checkout fails");
    let message = error_chain(&error).to_string();
    match error {
        SandboxError::Unreachable { failure, .. } => (failure.cause(), message),
        other => panic!("expected an unreachable server, got {other:?}"),
    }
}

/// PgBouncer refuses every failed login with one code, `protocol_violation`: an unknown
/// database and an unknown user are still told apart, by its words, with their fixes.
#[test]
fn pgbouncers_refusals_are_told_apart() {
    if !pgbouncer_available("pgbouncer::pgbouncers_refusals_are_told_apart") {
        return;
    }
    let url = pgbouncer_url();
    let (base, _) = url.rsplit_once('/').unwrap();
    // A name of its own: PgBouncer answers a login to a pool whose last one failed
    // only after its `server_login_retry`.
    let missing = format!("sandbox_no_such_database_{}", std::process::id());
    let (cause, message) = cause_at(&format!("{base}/{missing}"));
    assert_eq!(cause, UnreachableCause::UnknownDatabase, "{message}");
    assert!(message.contains("create the database"), "{message}");
    let (_, host) = base.split_once('@').unwrap();
    let (cause, message) = cause_at(&format!("postgres://sandbox_no_such_role@{host}/test"));
    assert_eq!(cause, UnreachableCause::Authentication, "{message}");
    assert!(
        message.contains("a user (and password) the server accepts"),
        "{message}"
    );
}
