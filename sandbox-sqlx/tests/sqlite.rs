//! The sandbox on SQLite (embedded: no server needed): the shared behaviour suite
//! (`behaviour/mod.rs`), where every test gets its own copy of a template database
//! migrated once per run, and what only SQLite does: the copy is deleted when the test
//! ends, however it ends, and the template never holds a test's rows.

mod behaviour;

use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use behaviour::{Backend, Suite, behaviour_suite, failure_of, runtime, token};
use ownership_runtime::harness::{Flavor, run_async};
use ownership_runtime::{Actor, Propagate};
use sandbox_sqlx::{Checkin, Checkout, CheckoutOptions, SandboxPool};
use sqlx::migrate::Migrator;
use sqlx::{Connection, Sqlite, SqliteConnection};

/// SQLite, for the behaviour suite.
struct SqliteBackend;

static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    behaviour::migrator(
        "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE)",
        "_sqlx_migrations",
    )
});

/// The template's file; each test's copy is made beside it.
fn template() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sandbox-sqlite-suite.db")
}

impl Backend for SqliteBackend {
    type DB = Sqlite;
    const NAME: &'static str = "sqlite";
    const TABLE: &'static str = "orders";
    const PARAMETER: &'static str = "?";
    /// A temporary table lives on one connection: a random id kept in one tells the
    /// connections apart.
    const CONNECTION_ID: &'static str = "CREATE TEMP TABLE IF NOT EXISTS suite_connection AS \
         SELECT random() AS id; SELECT id FROM suite_connection";

    fn url() -> String {
        format!("sqlite://{}", template().display())
    }

    /// A database of its own: production handles commit for real, and the template must
    /// not change under the tests that copy it.
    fn production_url() -> String {
        let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sandbox-sqlite-production.db");
        format!("sqlite://{}?mode=rwc", file.display())
    }

    fn available(_: &str) -> bool {
        true
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }
}

// SQLite checkouts copy the template, at most `max_connections` copies open at once.
behaviour_suite!(SqliteBackend);

type SqliteSuite = Suite<SqliteBackend>;

/// The file of the database a query through `db` runs on.
async fn database_file(db: &SandboxPool<Sqlite>) -> PathBuf {
    let file: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(db)
            .await
            .unwrap();
    PathBuf::from(file)
}

/// Where tests record the file of their copy.
type Files = Arc<Mutex<Vec<PathBuf>>>;

/// Where tests record how they ended, and the file of their copy.
type Endings = Arc<Mutex<Vec<(&'static str, PathBuf)>>>;

#[test]
fn each_test_has_a_copy_of_the_template_deleted_after_it() {
    let files = Files::default();
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        let (db, seen, mine) = (SqliteSuite::auto().pool(), files.clone(), token("own"));
        run_async(
            SqliteSuite::config("own_database").flavor(flavor),
            || async move {
                SqliteSuite::insert(&db, &mine).await.unwrap();
                let file = database_file(&db).await;
                assert!(file.exists(), "{}", file.display());
                let db2 = db.clone();
                let in_task = tokio::spawn(async move { database_file(&db2).await })
                    .await
                    .unwrap();
                assert_eq!(in_task, file, "the test's tasks use its copy");
                seen.lock().unwrap().push(file);
            },
        );
    }
    let files = files.lock().unwrap();
    assert_eq!(files.len(), 2);
    assert_ne!(files[0], files[1], "each test has its own copy");
    for file in files.iter() {
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(
            name.starts_with("sandbox-sqlite-suite.test-"),
            "beside the template: {}",
            file.display()
        );
        assert!(!file.exists(), "the test's copy is deleted after it");
    }
    // No test writes to the template: it holds no row at all.
    let rows: i64 = runtime().block_on(async {
        let mut connection = SqliteConnection::connect(&SqliteBackend::url())
            .await
            .unwrap();
        sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(&mut connection)
            .await
            .unwrap()
    });
    assert_eq!(rows, 0);
}

/// Tests that pass, panic, leave a task running, or check out and in by hand: none
/// leaves its copy behind. Only the copies these tests made are looked at (the binary's
/// other tests run meanwhile).
#[test]
fn no_copy_is_left_behind() {
    let files = Endings::default();
    let record = |files: &Endings, how: &'static str| {
        let (db, files) = (SqliteSuite::auto().pool(), files.clone());
        async move {
            let file = database_file(&db).await;
            files.lock().unwrap().push((how, file));
        }
    };

    run_async(SqliteSuite::config("leftovers_pass"), || {
        record(&files, "passed")
    });
    let recorded = record(&files, "panicked");
    let report = failure_of(SqliteSuite::config("leftovers_panic"), async move || {
        recorded.await;
        panic!("the test broke");
    });
    assert!(report.contains("the test broke"), "{report}");

    let (db, seen) = (SqliteSuite::auto().pool(), files.clone());
    let (sender, receiver) = std::sync::mpsc::channel();
    let other = tokio::runtime::Runtime::new().unwrap();
    let handle = other.handle().clone();
    run_async(SqliteSuite::config("leftovers_task"), || async move {
        let file = database_file(&db).await;
        seen.lock().unwrap().push(("left a task running", file));
        let leftover = async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = sender.send(SqliteSuite::connection_id(&db).await);
        };
        handle.spawn(leftover.in_current_callers());
    });
    let late = receiver.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(late.is_err(), "the task outlived the test");

    let (manual, seen) = (SqliteSuite::manual(), files.clone());
    run_async(SqliteSuite::config("leftovers_by_hand"), || async move {
        assert_eq!(manual.checkout().await.unwrap(), Checkout::Ok);
        let file = database_file(&manual.pool()).await;
        seen.lock().unwrap().push(("checked in by hand", file));
        assert_eq!(manual.checkin().await.unwrap(), Checkin::Ok);
    });

    let files = files.lock().unwrap();
    assert_eq!(files.len(), 4);
    let left: Vec<_> = files.iter().filter(|(_, file)| file.exists()).collect();
    assert!(left.is_empty(), "copies were left behind: {left:?}");
}

/// A test whose connection the ownership timeout took back: its copy goes too.
#[test]
fn a_test_whose_connection_timed_out_leaves_no_copy() {
    let impatient = SqliteSuite::builder("impatient-leftovers")
        .checkout_options(CheckoutOptions::default().ownership_timeout(Duration::from_millis(100)))
        .auto()
        .build()
        .unwrap();
    let (db, file) = (impatient.pool(), Files::default());
    let seen = file.clone();
    run_async(SqliteSuite::config("leftovers_timeout"), || async move {
        let own = database_file(&db).await;
        seen.lock().unwrap().push(own);
        tokio::time::sleep(Duration::from_millis(400)).await;
        let error = SqliteSuite::connection_id(&db).await.unwrap_err();
        assert!(error.to_string().contains("ownership timeout"), "{error}");
    });
    let file = file.lock().unwrap()[0].clone();
    assert!(!file.exists(), "the copy is left: {}", file.display());
}

/// An actor that is not a test (no harness hook checks it in) checks a copy out and
/// ends: its copy goes with it.
#[test]
fn an_actor_that_ends_without_checking_in_leaves_no_copy() {
    let (manual, db) = (SqliteSuite::manual(), SqliteSuite::manual().pool());
    let file = runtime().block_on(async {
        let worker = Actor::named("sqlite::worker");
        let checkout = manual
            .checkout_for(worker.id(), CheckoutOptions::default())
            .await;
        assert_eq!(checkout.unwrap(), Checkout::Ok);
        let file = worker.scope(database_file(&db)).await;
        assert!(file.exists());
        drop(worker);
        // The sandbox learns of the end asynchronously.
        tokio::time::sleep(Duration::from_millis(200)).await;
        file
    });
    assert!(
        !file.exists(),
        "the ended actor's copy is left: {}",
        file.display()
    );
}
