//! The sandbox on the local MySQL/MariaDB server (`MYSQL_DATABASE_URL`): the shared
//! behaviour suite (`behaviour/mod.rs`), and what only MySQL does: DDL and raw `COMMIT`
//! end the sandbox's transaction, which fails the test; InnoDB deadlocks tests that wait
//! on the same unique key when its holder rolls back (which is why tests run one at a
//! time by default here, taking turns through a lock on the server), and, at `REPEATABLE
//! READ`, tests that delete then insert missing keys (which is why the sandbox's
//! transactions are `READ COMMITTED` by default). Skipped, with a notice, when the server
//! is unreachable (and failed under `CI=true`).

mod behaviour;

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use behaviour::{Backend, Sessions, Suite, behaviour_suite, outcome_of, token};
use ownership_e2e::{mysql_available, mysql_url};
use ownership_runtime::harness::run_async;
use sandbox_sqlx::{CheckoutOptions, IsolationLevel};
use sqlx::migrate::Migrator;
use sqlx::mysql::MySqlDatabaseError;
use sqlx::{Connection, MySql, MySqlConnection};

/// MySQL/MariaDB, for the behaviour suite.
struct MySqlBackend;

static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    behaviour::migrator(
        "CREATE TABLE IF NOT EXISTS sandbox_mysql_orders (\
             id BIGINT AUTO_INCREMENT PRIMARY KEY, \
             token VARCHAR(191) NOT NULL UNIQUE)",
        "_sandbox_sqlx_mysql_suite",
    )
});

impl Backend for MySqlBackend {
    type DB = MySql;
    const NAME: &'static str = "mysql";
    const TABLE: &'static str = "sandbox_mysql_orders";
    const PARAMETER: &'static str = "?";
    const CONNECTION_ID: &'static str = "SELECT CAST(CONNECTION_ID() AS SIGNED)";

    fn url() -> String {
        mysql_url()
    }

    fn available(test: &str) -> bool {
        mysql_available(test)
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    /// InnoDB deadlocks tests that insert the same unique key at once.
    const SERIALIZED: bool = true;
}

behaviour_suite!(MySqlBackend);

type MySqlSuite = Suite<MySqlBackend>;

/// The cause every "transaction ended" report gives on MySQL.
const IMPLICIT_COMMITS: &str = "MySQL and MariaDB commit implicitly before and after DDL";

#[test]
fn ddl_that_commits_implicitly_fails_the_test() {
    if !mysql_available("mysql::ddl_that_commits_implicitly_fails_the_test") {
        return;
    }
    let table = format!("sandbox_ddl_{}", std::process::id());
    MySqlSuite::ending_the_sandbox_transaction_fails_the_test(
        "ddl",
        &format!("CREATE TABLE {table} (id INT)"),
        IMPLICIT_COMMITS,
        Some(&format!("DROP TABLE {table}")),
    );
}

#[test]
fn a_raw_commit_fails_the_test() {
    if !mysql_available("mysql::a_raw_commit_fails_the_test") {
        return;
    }
    MySqlSuite::ending_the_sandbox_transaction_fails_the_test(
        "raw_commit",
        "COMMIT",
        IMPLICIT_COMMITS,
        None,
    );
}

/// Waits until the transactions of the connections `ids` all wait for a lock.
async fn until_waiting_for_a_lock(ids: [i64; 2]) {
    let mut admin = MySqlConnection::connect(&mysql_url()).await.unwrap();
    let started = Instant::now();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.innodb_trx \
             WHERE trx_mysql_thread_id IN (?, ?) AND trx_state = 'LOCK WAIT'",
        )
        .bind(ids[0])
        .bind(ids[1])
        .fetch_one(&mut admin)
        .await
        .unwrap();
        if waiting == 2 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the waiters never waited"
        );
        // InnoDB refreshes what `innodb_trx` shows only when it was last read 0.1 s ago
        // or more.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// The InnoDB deadlock that serialized tests (`serialize_tests`, the default here) avoid,
/// on a sandbox that runs tests at once: one test holds a key, two tests insert it too
/// and wait; when the holder rolls back, InnoDB picks one of the two as a deadlock victim
/// and rolls back its whole transaction (the sandbox's), which fails that test, reporting
/// the ended transaction. The other passes; nothing stays. (`READ COMMITTED` doesn't
/// help: the waiters' locks are on the duplicate key itself.)
#[test]
fn tests_waiting_on_a_key_that_another_test_holds_deadlock_when_it_rolls_back() {
    if !mysql_available(
        "mysql::tests_waiting_on_a_key_that_another_test_holds_deadlock_when_it_rolls_back",
    ) {
        return;
    }
    let sandbox = MySqlSuite::builder("deadlock")
        .serialize_tests(false)
        .max_connections(3)
        .auto()
        .build()
        .unwrap();
    let key = token("deadlock");
    let (waiting, waiters) = std::sync::mpsc::channel();
    let (held, holding) = std::sync::mpsc::channel();
    let timeout = Duration::from_secs(10);
    let outcomes: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let (db, mine) = (sandbox.pool(), key.clone());
        scope.spawn(move || {
            run_async(MySqlSuite::config("deadlock_holder"), || async move {
                MySqlSuite::insert(&db, &mine).await.unwrap();
                held.send(()).unwrap();
                let ids = [(); 2].map(|()| waiters.recv_timeout(timeout).unwrap());
                until_waiting_for_a_lock(ids).await;
                // The test ends: its transaction rolls back.
            });
        });
        holding.recv_timeout(timeout).unwrap();
        let outcomes: Vec<_> = (0..2)
            .map(|_| {
                let (db, key, waiting) = (sandbox.pool(), key.clone(), waiting.clone());
                scope.spawn(move || {
                    outcome_of(MySqlSuite::config("deadlock_waiter"), async move || {
                        let id = MySqlSuite::connection_id(&db).await.unwrap();
                        waiting.send(id).unwrap();
                        // Waits for the holder's row lock.
                        MySqlSuite::insert(&db, &key).await.unwrap();
                        assert_eq!(MySqlSuite::count(&db, &key).await, 1);
                    })
                })
            })
            .collect();
        outcomes
            .into_iter()
            .map(|outcome| outcome.join().unwrap())
            .collect()
    });
    let reports: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert_eq!(reports.len(), 1, "one deadlock victim: {outcomes:?}");
    for expected in [
        "Deadlock found when trying to get lock",
        "the test's sandbox transaction had already ended",
    ] {
        assert!(
            reports[0].contains(expected),
            "{expected:?} in {}",
            reports[0]
        );
    }
    assert_eq!(MySqlSuite::committed(&key), 0);
}

/// The MySQL error number of a database error (0 for any other error).
fn error_number(error: &sqlx::Error) -> u16 {
    error
        .as_database_error()
        .and_then(|error| error.try_downcast_ref::<MySqlDatabaseError>())
        .map_or(0, MySqlDatabaseError::number)
}

/// How one test of [`delete_then_insert`] went: its insert (the MySQL error number if it
/// failed), and the test (its failure report).
type Raced = (Result<(), u16>, Result<(), String>);

/// Two concurrent tests on a sandbox that runs them at once (`serialize_tests(false)`),
/// whose checkouts use `options`: each deletes its own key, which no row has, then, once
/// both have deleted (a barrier), inserts it, and checks that it sees its row and not the
/// other's. The keys are neighbours (no other test's key sorts between them): at
/// `REPEATABLE READ` each delete locks the gap where both would go, and each insert waits
/// for the other's gap lock, a deadlock. Nothing stays either way.
fn delete_then_insert(test: &'static str, options: CheckoutOptions<MySql>) -> [Raced; 2] {
    let sandbox = MySqlSuite::builder(test)
        .serialize_tests(false)
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .checkout_options(options)
        .auto()
        .build()
        .unwrap();
    let key = token(test);
    let keys = ["a", "b"].map(|side| format!("{key}-{side}"));
    let both_deleted = tokio::sync::Barrier::new(2);
    let raced = std::thread::scope(|scope| {
        [0, 1]
            .map(|index| {
                let (db, keys, both_deleted) = (sandbox.pool(), &keys, &both_deleted);
                scope.spawn(move || {
                    let (mine, other) = (&keys[index], &keys[1 - index]);
                    let mut inserted = Ok(());
                    let outcome = outcome_of(MySqlSuite::config(test), async || {
                        MySqlSuite::delete_on(&db, mine).await.unwrap();
                        both_deleted.wait().await;
                        let insert = MySqlSuite::insert(&db, mine).await;
                        inserted = insert.as_ref().map(|_| ()).map_err(error_number);
                        insert.unwrap();
                        assert_eq!(MySqlSuite::count(&db, mine).await, 1);
                        assert_eq!(MySqlSuite::count(&db, other).await, 0);
                    });
                    (inserted, outcome)
                })
            })
            .map(|test| test.join().unwrap())
    });
    for key in &keys {
        assert_eq!(MySqlSuite::committed(key), 0);
    }
    raced
}

/// The sandbox's default isolation here, `READ COMMITTED`, takes no gap locks: tests that
/// delete, then insert, missing keys at once both pass.
#[test]
fn at_read_committed_tests_that_delete_then_insert_missing_keys_both_pass() {
    if !mysql_available(
        "mysql::at_read_committed_tests_that_delete_then_insert_missing_keys_both_pass",
    ) {
        return;
    }
    let raced = delete_then_insert("gap-read-committed", CheckoutOptions::default());
    assert!(
        raced.iter().all(|raced| *raced == (Ok(()), Ok(()))),
        "{raced:?}"
    );
}

/// The same tests at InnoDB's default `REPEATABLE READ`
/// (`CheckoutOptions::isolation`): their gap locks deadlock, and InnoDB rolls back the
/// victim's whole transaction (error 1213), which fails that test; the other passes.
#[test]
fn at_repeatable_read_the_same_tests_deadlock_on_gap_locks() {
    if !mysql_available("mysql::at_repeatable_read_the_same_tests_deadlock_on_gap_locks") {
        return;
    }
    let repeatable_read = CheckoutOptions::default().isolation(IsolationLevel::RepeatableRead);
    let raced = delete_then_insert("gap-repeatable-read", repeatable_read);
    let (victims, survivors): (Vec<&Raced>, Vec<&Raced>) =
        raced.iter().partition(|(inserted, _)| inserted.is_err());
    assert_eq!((victims.len(), survivors.len()), (1, 1), "{raced:?}");
    assert_eq!(*survivors[0], (Ok(()), Ok(())), "{raced:?}");
    let (inserted, report) = victims[0];
    assert_eq!(*inserted, Err(1213), "a deadlock: {raced:?}");
    let report = report.as_ref().expect_err("the victim's test fails");
    for expected in [
        "Deadlock found when trying to get lock",
        "the test's sandbox transaction had already ended",
    ] {
        assert!(report.contains(expected), "{expected:?} in {report}");
    }
}

/// Serialized tests (`serialize_tests(true)`) in different processes take turns through
/// `GET_LOCK` on the server.
#[test]
fn serialized_processes_take_turns_through_the_server() {
    if !mysql_available("mysql::serialized_processes_take_turns_through_the_server") {
        return;
    }
    MySqlSuite::serialized_processes_take_turns_through_the_server(
        "turns_fixture",
        "SELECT count(*) FROM information_schema.processlist \
         WHERE state = 'User lock' AND info LIKE '%sandbox-sqlx tests of%'",
    );
}

/// The second test of the one above, which runs it in a process of its own.
#[test]
#[ignore = "fixture: run in a process of its own by serialized_processes_take_turns_through_the_server"]
fn turns_fixture() {
    MySqlSuite::serialized_fixture();
}

/// How a test ends MySQL/MariaDB sessions (`KILL`), and finds the one that holds the lock
/// of serialized tests.
const SESSIONS: Sessions = Sessions {
    kill: "KILL {id}",
    alive: "SELECT count(*) FROM information_schema.processlist WHERE id = {id}",
    lock_holder: "SELECT CAST(IS_USED_LOCK(CONCAT('sandbox-sqlx tests of ', DATABASE())) AS SIGNED)",
    holds_lock: "SELECT count(*) FROM (SELECT 1) AS one \
         WHERE IS_USED_LOCK(CONCAT('sandbox-sqlx tests of ', DATABASE())) = {id}",
};

/// `KILL` of the sandbox's idle connections between tests fails none of the tests after
/// (see the behaviour).
#[test]
fn connections_the_server_ended_while_idle_are_replaced() {
    if !mysql_available("mysql::connections_the_server_ended_while_idle_are_replaced") {
        return;
    }
    // Its own spelling of the URL: a lock of serialized tests held by a connection of its
    // own (an option sqlx reads, set to its default).
    let url = behaviour::with_parameter(&mysql_url(), "statement-cache-capacity=100");
    MySqlSuite::connections_the_server_ended_while_idle_are_replaced(url, &SESSIONS);
}
