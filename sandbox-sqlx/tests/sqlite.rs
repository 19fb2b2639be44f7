//! The sandbox on SQLite (embedded: no server needed): the shared behaviour suite
//! (`behaviour/mod.rs`), where every test gets its own copy of a template database
//! migrated once per run, and what only SQLite does: the copy is in memory (nothing on
//! disk, writes private to the test, gone when the test ends, however it ends), the
//! template never holds a test's rows; a template a migration put in WAL mode still
//! copies; tests that connect by themselves get a file copy, which runs sharing a folder
//! (in other pid namespaces, or on this machine) never delete, nor the template it
//! copies; a read-only folder is said to be one.

mod behaviour;
mod test_args_support;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use behaviour::{Backend, Suite, behaviour_suite, failure_of, runtime};
use ownership_e2e::runs::{self, Place, Run, Runs};
use ownership_runtime::harness::{Flavor, TestConfig, run_async};
use ownership_runtime::{Actor, InCallers};
use sandbox_sqlx::{
    Checkin, Checkout, CheckoutOptions, Sandbox, SandboxBuilder, TestArgs, TestMigrations,
};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::pool::PoolOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Connection, SqlSafeStr, Sqlite, SqliteConnection, SqlitePool};
use test_args_support::run;

/// SQLite, for the behaviour suite.
struct SqliteBackend;

static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    behaviour::migrator(
        "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE)",
        "_sqlx_migrations",
    )
});

/// The template's file; each test's copy is made from it.
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

// SQLite checkouts copy the template in memory, at most `max_connections` copies at once.
behaviour_suite!(SqliteBackend);

type SqliteSuite = Suite<SqliteBackend>;

/// The file of the database a query through `db` runs on: `""` in memory.
async fn database_file<'e>(db: impl sqlx::Executor<'e, Database = Sqlite>) -> String {
    sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .fetch_one(db)
        .await
        .unwrap()
}

/// A folder of a test's own for the template of its sandboxes, `app.db`, where nothing
/// else should ever be.
struct Scratch {
    folder: PathBuf,
}

impl Scratch {
    fn new(test: &str) -> Scratch {
        let folder = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("sqlite-scratch-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).unwrap();
        Scratch { folder }
    }

    fn template(&self) -> PathBuf {
        self.folder.join("app.db")
    }

    /// A sandbox labelled `label` on the folder's template, with the suite's migrations.
    fn builder(&self, label: &str) -> SandboxBuilder<Sqlite> {
        let url = format!("sqlite://{}", self.template().display());
        Sandbox::builder(format!("sqlite-{label}"), url).migrations(SqliteBackend::migrator())
    }

    /// The names of the files in the folder.
    fn files(&self) -> Vec<String> {
        files_in(&self.folder)
    }

    /// Rows of `orders` in the template, seen from outside every test.
    fn template_rows(&self) -> i64 {
        let url = format!("sqlite://{}?mode=ro", self.template().display());
        runtime().block_on(async {
            let mut connection = SqliteConnection::connect(&url).await.unwrap();
            let rows = sqlx::query_scalar("SELECT count(*) FROM orders")
                .fetch_one(&mut connection)
                .await
                .unwrap();
            connection.close().await.unwrap();
            rows
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.folder);
        }
    }
}

/// The names of the files in `folder`.
fn files_in(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// Each test's database is in memory (no file), migrated, its own (the next test sees
/// none of its rows), shared by its tasks; nothing is written beside the template, which
/// holds no test's rows.
#[test]
fn each_test_has_its_own_database_in_memory() {
    let scratch = Scratch::new("own");
    let db = leak(scratch.builder("own").auto().build().unwrap());
    let folder = leak(scratch.folder.clone());
    for (flavor, name) in [
        (Flavor::CurrentThread, "own_current"),
        (Flavor::MultiThread, "own_multi"),
    ] {
        run_async(SqliteSuite::config(name).flavor(flavor), || async move {
            let pool = db.pool();
            assert_eq!(database_file(&pool).await, "", "in memory");
            assert_eq!(
                SqliteSuite::count(&pool, "%").await,
                0,
                "no earlier test's rows"
            );
            SqliteSuite::insert(&pool, name).await.unwrap();
            let in_task = tokio::spawn(
                async move { SqliteSuite::count(&db.pool(), name).await }.in_current_callers(),
            );
            assert_eq!(
                in_task.await.unwrap(),
                1,
                "the test's tasks use its database"
            );
            assert_eq!(
                files_in(folder),
                ["app.db"],
                "nothing but the template on disk"
            );
        });
    }
    assert_eq!(scratch.template_rows(), 0, "no test writes to the template");
    assert_eq!(scratch.files(), ["app.db"]);
}

/// Tests that write the same unique key at once all pass: each holds its uncommitted row
/// while all the others hold theirs (no test waits for another's lock), then commits it.
#[test]
fn concurrent_tests_write_the_same_unique_key_without_waiting_for_each_other() {
    const TESTS: usize = 8;
    let scratch = Scratch::new("same-key");
    let db = leak(
        scratch
            .builder("same-key")
            .max_connections(TESTS as u32)
            .auto()
            .build()
            .unwrap(),
    );
    let barrier = leak(tokio::sync::Barrier::new(TESTS));
    let threads: Vec<_> = (0..TESTS)
        .map(|_| {
            std::thread::spawn(move || {
                run_async(SqliteSuite::config("same_key"), || async move {
                    let pool = db.pool();
                    let mut transaction = pool.begin().await.unwrap();
                    SqliteSuite::insert(&mut *transaction, "the same key")
                        .await
                        .unwrap();
                    tokio::time::timeout(Duration::from_secs(30), barrier.wait())
                        .await
                        .expect("every test holds its row at once");
                    transaction.commit().await.unwrap();
                    assert_eq!(SqliteSuite::count(&pool, "the same key").await, 1);
                });
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("every test passes");
    }
    assert_eq!(scratch.template_rows(), 0);
    assert_eq!(scratch.files(), ["app.db"]);
}

/// However a test ends (it passes, panics, leaves a task running, checks in by hand, is
/// timed out, or is an actor that ends without checking in) its copy goes: with one copy
/// allowed at a time, the next test gets it at once; and nothing is left on disk.
#[test]
fn no_copy_outlives_its_test_however_it_ends() {
    let scratch = Scratch::new("endings");
    let one = |label: &str| {
        scratch
            .builder(label)
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(2))
    };
    let auto = leak(one("endings-auto").auto().build().unwrap());
    let manual = leak(one("endings-manual").build().unwrap());
    let impatient = leak(
        one("endings-impatient")
            .checkout_options(
                CheckoutOptions::default().ownership_timeout(Duration::from_millis(100)),
            )
            .auto()
            .build()
            .unwrap(),
    );
    let uses_its_copy = async |db: &Sandbox<Sqlite>, test: &str| {
        let pool = db.pool();
        assert_eq!(SqliteSuite::count(&pool, "%").await, 0, "a fresh copy");
        SqliteSuite::insert(&pool, test).await.unwrap();
        assert_eq!(database_file(&pool).await, "");
    };

    run_async(SqliteSuite::config("endings_pass"), || {
        uses_its_copy(auto, "passed")
    });
    let report = failure_of(SqliteSuite::config("endings_panic"), async || {
        uses_its_copy(auto, "panicked").await;
        panic!("the test broke");
    });
    assert!(report.contains("the test broke"), "{report}");

    let (sender, receiver) = std::sync::mpsc::channel();
    let other = tokio::runtime::Runtime::new().unwrap();
    let handle = other.handle().clone();
    run_async(SqliteSuite::config("endings_task"), || async move {
        uses_its_copy(auto, "left a task").await;
        let leftover = async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = sender.send(SqliteSuite::connection_id(&auto.pool()).await);
        };
        handle.spawn(leftover.in_current_callers());
    });
    let late = receiver.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(late.is_err(), "the task outlived the test");

    for round in 0..2 {
        run_async(SqliteSuite::config("endings_by_hand"), || async move {
            assert_eq!(manual.checkout().await.unwrap(), Checkout::Ok);
            uses_its_copy(manual, &format!("by hand {round}")).await;
            assert_eq!(manual.checkin().await.unwrap(), Checkin::Ok);
        });
    }

    for round in 0..2 {
        run_async(SqliteSuite::config("endings_timeout"), || async move {
            uses_its_copy(impatient, &format!("timed out {round}")).await;
            tokio::time::sleep(Duration::from_millis(400)).await;
            let error = SqliteSuite::connection_id(&impatient.pool())
                .await
                .unwrap_err();
            assert!(error.to_string().contains("ownership timeout"), "{error}");
        });
    }

    // An actor that is not a test (no harness hook checks it in) and ends: its copy
    // goes with it, in the background (the next checkout waits for it, up to the
    // sandbox's acquire timeout).
    for round in 0..2 {
        run_async(SqliteSuite::config("endings_actor"), || async move {
            let worker = Actor::named("sqlite::worker");
            let checkout = manual
                .checkout_for(worker.id(), CheckoutOptions::default())
                .await;
            assert_eq!(checkout.unwrap(), Checkout::Ok, "round {round}");
            worker
                .scope(uses_its_copy(manual, &format!("ended actor {round}")))
                .await;
        });
    }

    // Every sandbox's one copy is free again.
    for db in [auto, manual, impatient] {
        run_async(SqliteSuite::config("endings_after"), || async move {
            assert_eq!(db.checkout().await.unwrap(), Checkout::Ok);
            uses_its_copy(db, "after").await;
        });
    }
    assert_eq!(scratch.template_rows(), 0);
    assert_eq!(scratch.files(), ["app.db"], "nothing is left on disk");
}

/// A migration may put the template in WAL mode (SQLite's in-memory databases have
/// none): its copies in memory are still complete, migrated databases.
#[test]
fn a_template_in_wal_mode_copies_in_memory() {
    static WAL: LazyLock<Migrator> = LazyLock::new(|| {
        Migrator::with_migrations(vec![
            // `journal_mode` can't change in a transaction.
            Migration::new(
                1,
                "wal".into(),
                MigrationType::Simple,
                "PRAGMA journal_mode = WAL".into_sql_str(),
                true,
            ),
            Migration::new(
                2,
                "orders".into(),
                MigrationType::Simple,
                "CREATE TABLE orders (id INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE)"
                    .into_sql_str(),
                false,
            ),
        ])
    });
    let scratch = Scratch::new("wal");
    let db = leak(
        scratch
            .builder("wal")
            .migrations(&WAL)
            .auto()
            .build()
            .unwrap(),
    );
    for test in ["wal_first", "wal_second"] {
        run_async(SqliteSuite::config(test), || async move {
            let pool = db.pool();
            assert_eq!(SqliteSuite::count(&pool, "%").await, 0);
            SqliteSuite::insert(&pool, test).await.unwrap();
            assert_eq!(SqliteSuite::count(&pool, test).await, 1);
        });
    }
    let header = std::fs::read(scratch.template()).unwrap();
    assert_eq!(header[18..20], [2, 2], "the template is in WAL mode");
    assert_eq!(scratch.template_rows(), 0);
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

/// What the runs' tests take: a copy of the template in a file, which is what another
/// run's sweep could delete (a copy in memory is out of its reach).
static RUN_FILE: TestArgs<(PoolOptions<Sqlite>, SqliteConnectOptions)> =
    TestArgs::new(TestMigrations::None, &[]).sandbox(|| &RUN_SANDBOX);

/// Connects to a run's test's copy, and sees it migrated; or says why it couldn't.
async fn open_copy(
    options: PoolOptions<Sqlite>,
    connect: SqliteConnectOptions,
) -> Result<SqlitePool, String> {
    let pool = options
        .max_connections(1)
        .connect_with(connect)
        .await
        .map_err(|error| error.to_string())?;
    let rows: Result<i64, _> = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&pool)
        .await;
    rows.map_err(|error| error.to_string())?;
    Ok(pool)
}

/// Runs `body` as the run's test `name`, with its copy's file and a pool on it.
fn with_file_copy<F: Future<Output = ()>>(
    name: &'static str,
    body: impl FnOnce(PathBuf, SqlitePool) -> F,
) {
    run(name, &RUN_FILE, |(options, connect)| async move {
        let file = connect.get_filename().to_owned();
        let pool = open_copy(options, connect).await.unwrap();
        body(file, pool.clone()).await;
        pool.close().await;
    })
    .unwrap();
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
    with_file_copy("runs::holding", |copy, pool| async move {
        runs::report("made", &copy.display().to_string());
        runs::await_command("copy");
        std::thread::spawn(|| {
            let copied = run("runs::copy", &RUN_FILE, |(options, connect)| async move {
                let copied = open_copy(options, connect).await.map(|_| "ok".to_owned());
                runs::report("copied", &copied.unwrap_or_else(|error| error));
            });
            copied.unwrap();
        })
        .join()
        .unwrap();
        runs::await_command("finish");
        let rows: Result<i64, _> = sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(&pool)
            .await;
        let still = match rows {
            Ok(_) if copy.exists() => "ok".to_owned(),
            Ok(_) => format!("{} is gone", copy.display()),
            Err(error) => error.to_string(),
        };
        runs::report("still", &still);
    });
}

/// A run whose process dies while its test has a copy (as a crash does).
#[test]
#[ignore = "fixture: a run started by the tests of runs that share a folder"]
fn run_dying_with_its_copy() {
    with_file_copy("runs::dying", |copy, _pool| async move {
        runs::report("made", &copy.display().to_string());
        runs::crash();
    });
}

/// A run with one test that copies the template, uses the copy and ends.
#[test]
#[ignore = "fixture: a run started by the tests of runs that share a folder"]
fn run_making_a_copy() {
    with_file_copy("runs::making", |copy, _pool| async move {
        runs::report("made", &copy.display().to_string());
    });
}

/// A run whose test can't check out: reports why (`refused`).
#[test]
#[ignore = "fixture: a run started by the tests of runs that share a folder"]
fn run_in_a_read_only_folder() {
    run_async(TestConfig::new("runs::read_only"), || async {
        let rows: Result<i64, _> = sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(&RUN_SANDBOX.pool())
            .await;
        runs::report("refused", &rows.unwrap_err().to_string());
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
