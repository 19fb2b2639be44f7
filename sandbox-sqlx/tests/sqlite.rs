//! The sandbox on SQLite (embedded: no server needed): the shared behaviour suite
//! (`behaviour/mod.rs`), where every test gets its own copy of a template database
//! migrated once per run, and what only SQLite does: the copy is deleted when the test
//! ends, however it ends, and the template never holds a test's rows; runs sharing a
//! folder (in other pid namespaces, or on this machine) never delete another's copy or
//! the template it copies; a read-only folder is said to be one.

mod behaviour;

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use behaviour::{Backend, Suite, behaviour_suite, failure_of, runtime, token};
use ownership_e2e::runs::{self, Place, Run, Runs};
use ownership_runtime::harness::{Flavor, TestConfig, run_async};
use ownership_runtime::{Actor, InCallers};
use sandbox_sqlx::{Checkin, Checkout, CheckoutOptions, Sandbox, SandboxPool};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, Connection, SqlSafeStr, Sqlite, SqliteConnection};

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

// Runs that share a folder: this binary's fixtures below, started by the tests after them
// as separate runs (processes of their own, each with its own run id, so each makes the
// template anew).

/// The migrations of the runs: a gate (the test may lock the database `gate.db`, which
/// stops a run inside its migrations, where it makes its template: it first counts
/// itself in `arrived.db`), then a table.
static GATED: LazyLock<Migrator> = LazyLock::new(|| {
    let dir = PathBuf::from(std::env::var("RUNS_DIR").expect("set by the test"));
    let gate = format!(
        "PRAGMA busy_timeout = {};
         ATTACH DATABASE '{}' AS arrived;
         CREATE TABLE IF NOT EXISTS arrived.runs (arrived INTEGER);
         INSERT INTO arrived.runs VALUES (1);
         DETACH DATABASE arrived;
         ATTACH DATABASE '{}' AS gate;
         CREATE TABLE IF NOT EXISTS gate.passed (passed INTEGER);
         DETACH DATABASE gate;",
        runs::WAIT.as_millis(),
        dir.join("arrived.db").display(),
        dir.join("gate.db").display(),
    );
    let orders = "CREATE TABLE orders (id INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE)";
    Migrator::with_migrations(vec![
        // `ATTACH` can't run in a transaction.
        Migration::new(
            1,
            "gate".into(),
            MigrationType::Simple,
            AssertSqlSafe(gate).into_sql_str(),
            true,
        ),
        Migration::new(
            2,
            "orders".into(),
            MigrationType::Simple,
            AssertSqlSafe(orders).into_sql_str(),
            false,
        ),
    ])
});

/// The runs' sandbox, on the template the test names.
static RUN_SANDBOX: LazyLock<Sandbox<Sqlite>> = LazyLock::new(|| {
    let url = std::env::var("RUNS_SQLITE_URL").expect("set by the test");
    Sandbox::builder("runs", url)
        .migrations(&GATED)
        .auto()
        .build()
        .unwrap()
});

/// The file of the test's copy, once it has checked one out and seen it migrated; or
/// why it couldn't.
async fn run_copy() -> Result<PathBuf, String> {
    let db = RUN_SANDBOX.pool();
    let rows: Result<i64, _> = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&db)
        .await;
    rows.map_err(|error| error.to_string())?;
    Ok(database_file(&db).await)
}

const HOLDING: &str = "run_holding_its_copy";
const DYING: &str = "run_dying_with_its_copy";
const MAKING: &str = "run_making_a_copy";
const REFUSED: &str = "run_in_a_read_only_folder";

/// A run whose test holds its copy while the test that started it looks: reports `made`
/// (the copy's file), copies the template again (`copy`, in a second test of the run)
/// when told, and uses its own copy again when told to `finish`.
#[test]
#[ignore = "fixture: a run started by the tests of runs that share a folder"]
fn run_holding_its_copy() {
    run_async(TestConfig::new("runs::holding"), || async {
        let copy = run_copy().await.unwrap();
        runs::report("made", &copy.display().to_string());
        runs::await_command("copy");
        std::thread::spawn(|| {
            run_async(TestConfig::new("runs::copy"), || async {
                let copied = run_copy().await.map(|_| "ok".to_owned());
                runs::report("copied", &copied.unwrap_or_else(|error| error));
            });
        })
        .join()
        .unwrap();
        runs::await_command("finish");
        let still = match run_copy().await {
            Ok(file) if file == copy && copy.exists() => "ok".to_owned(),
            Ok(file) => format!(
                "{} is gone (the test now has {})",
                copy.display(),
                file.display()
            ),
            Err(error) => error,
        };
        runs::report("still", &still);
    });
}

/// A run whose process dies while its test has a copy (as a crash does).
#[test]
#[ignore = "fixture: a run started by the tests of runs that share a folder"]
fn run_dying_with_its_copy() {
    run_async(TestConfig::new("runs::dying"), || async {
        let copy = run_copy().await.unwrap();
        runs::report("made", &copy.display().to_string());
        runs::crash();
    });
}

/// A run with one test that copies the template, uses the copy and ends.
#[test]
#[ignore = "fixture: a run started by the tests of runs that share a folder"]
fn run_making_a_copy() {
    run_async(TestConfig::new("runs::making"), || async {
        let copy = run_copy().await.unwrap();
        runs::report("made", &copy.display().to_string());
    });
}

/// A run whose test can't check out: reports why (`refused`).
#[test]
#[ignore = "fixture: a run started by the tests of runs that share a folder"]
fn run_in_a_read_only_folder() {
    run_async(TestConfig::new("runs::read_only"), || async {
        let refused = run_copy().await.unwrap_err();
        runs::report("refused", &refused);
    });
}

/// The folder and variables of one test's runs.
struct Folder {
    folder: PathBuf,
    runs: Runs,
}

impl Folder {
    fn new(test: &str) -> Folder {
        let runs = Runs::new(test);
        let folder = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("sqlite-runs-{test}-{}", runs.unique(12)));
        std::fs::create_dir_all(&folder).unwrap();
        Folder { folder, runs }
    }

    fn start(&self, place: Place, fixtures: &[&str]) -> Run {
        let env = [
            ("RUNS_DIR", self.runs.dir().display().to_string()),
            (
                "RUNS_SQLITE_URL",
                format!("sqlite://{}", self.folder.join("app.db").display()),
            ),
        ];
        self.runs.start(place, fixtures, &env)
    }

    /// The files in the folder but the template.
    fn others(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "app.db")
            .collect();
        names.sort();
        names
    }

    /// How many runs have reached the gate.
    fn arrived(&self) -> i64 {
        let arrived = self.runs.dir().join("arrived.db");
        if !arrived.exists() {
            return 0;
        }
        runtime().block_on(async {
            let url = format!("sqlite://{}?mode=ro", arrived.display());
            let mut connection = SqliteConnection::connect(&url).await.unwrap();
            sqlx::query_scalar("SELECT count(*) FROM runs")
                .fetch_one(&mut connection)
                .await
                .unwrap_or(0)
        })
    }

    /// Locks the gate: the runs that reach it wait until the returned connection ends
    /// its transaction.
    fn hold_gate(&self) -> (tokio::runtime::Runtime, SqliteConnection) {
        let runtime = runtime();
        let url = format!(
            "sqlite://{}?mode=rwc",
            self.runs.dir().join("gate.db").display()
        );
        let connection = runtime.block_on(async {
            let mut connection = SqliteConnection::connect(&url).await.unwrap();
            sqlx::raw_sql("BEGIN EXCLUSIVE")
                .execute(&mut connection)
                .await
                .unwrap();
            connection
        });
        (runtime, connection)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.folder);
        }
    }
}

fn exists(file: &str) -> bool {
    Path::new(file).exists()
}

/// Two runs in pid namespaces of their own (as two containers sharing a folder): the
/// second doesn't delete the first's copy, which its test is using, and sweeps what a
/// dead process of its own namespace left. The first run's process has pid 40000 in its
/// namespace, which runs nothing in the second.
#[test]
fn runs_in_other_pid_namespaces_keep_their_copies() {
    let folder = Folder::new("namespaces");
    let mut holding = folder.start(Place::OwnPidNamespace { first_pid: 40_000 }, &[HOLDING]);
    let held = holding.wait_for(HOLDING, "made");
    let mut others = folder.start(Place::OwnPidNamespace { first_pid: 300 }, &[DYING, MAKING]);
    let dead = others.wait_for(DYING, "made");
    others.wait_for(MAKING, "made");
    others.finish();

    assert!(
        exists(&held),
        "a run in another pid namespace deleted {held}, which a running test uses"
    );
    assert!(
        !exists(&dead),
        "{dead}, left by a dead process of the namespace, was not swept by its next run"
    );
    holding.tell(HOLDING, "copy");
    assert_eq!(holding.wait_for(HOLDING, "copied"), "ok");
    holding.let_go(HOLDING);
    assert_eq!(folder.others(), Vec::<String>::new());
}

/// Two runs on this machine: while the second makes its template (held at the gate, in
/// its migrations), the first copies the template, and gets a complete one; the second
/// sweeps what a dead process of this host left, and leaves the first's copy.
#[test]
fn a_template_being_made_by_another_run_never_replaces_a_complete_one_early() {
    let folder = Folder::new("concurrent");
    let mut holding = folder.start(Place::Here, &[HOLDING]);
    let held = holding.wait_for(HOLDING, "made");
    let mut dying = folder.start(Place::Here, &[DYING]);
    let dead = dying.wait_for(DYING, "made");
    dying.finish();
    assert!(exists(&dead));

    let arrived = folder.arrived();
    let (gate_runtime, mut gate) = folder.hold_gate();
    let mut making = folder.start(Place::Here, &[MAKING]);
    let started = Instant::now();
    while folder.arrived() == arrived {
        assert!(!making.has_ended(), "{}", making.output());
        assert!(started.elapsed() < runs::WAIT, "{}", making.output());
        std::thread::sleep(Duration::from_millis(20));
    }
    // The second run is making its template now, and waits.
    let swept = !exists(&dead);
    holding.tell(HOLDING, "copy");
    let copied = holding.wait_for(HOLDING, "copied");
    gate_runtime.block_on(async {
        sqlx::raw_sql("COMMIT").execute(&mut gate).await.unwrap();
    });
    making.wait_for(MAKING, "made");
    making.finish();

    assert_eq!(
        copied, "ok",
        "a copy taken while another run made its template was not a complete template"
    );
    assert!(swept, "{dead} was not swept");
    assert!(exists(&held), "{held}, in use, was deleted");
    holding.let_go(HOLDING);
    assert_eq!(folder.others(), Vec::<String>::new());
}

/// A folder that refuses writes (here a read-only mount, which stops root too) fails the
/// checkout with an error that says so, names the folder and says how to fix it.
#[test]
fn a_read_only_folder_is_reported_as_a_permission_problem() {
    let folder = Folder::new("read-only");
    let mut run = folder.start(
        Place::ReadOnly {
            folder: folder.folder.clone(),
        },
        &[REFUSED],
    );
    let refused = run.wait_for(REFUSED, "refused");
    run.finish();
    let named = format!(
        "the folder {} of the SQLite template",
        folder.folder.display()
    );
    for part in [
        named.as_str(),
        "is not writable",
        "Read-only file system",
        "chmod u+w",
        "mount it read-write",
    ] {
        assert!(
            refused.contains(part),
            "{part:?} is missing from: {refused}"
        );
    }
}
