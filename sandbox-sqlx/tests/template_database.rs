//! `TemplateDatabase` on the local PostgreSQL server: each test gets a migrated database
//! of its own, dropped when the test ends; runs that share the server (in other pid
//! namespaces, or on this machine) never drop or rebuild what another uses, and what a
//! dead process of a run's own host left is swept. Skipped, with a notice, when the
//! server is unreachable (and failed under `CI=true`).

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use ownership_e2e::runs::{self, Place, Run, Runs};
use ownership_e2e::{postgres_available, postgres_url};
use ownership_runtime::harness::{TestConfig, run_async};
use sandbox_sqlx::TemplateDatabase;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, SqlSafeStr};

static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    Migrator::with_migrations(vec![Migration::new(
        1,
        "orders".into(),
        MigrationType::Simple,
        AssertSqlSafe("CREATE TABLE orders (id bigserial PRIMARY KEY, token text NOT NULL UNIQUE)")
            .into_sql_str(),
        false,
    )])
});

static DATABASES: LazyLock<TemplateDatabase> =
    LazyLock::new(|| TemplateDatabase::new("template-suite", postgres_url()).migrations(&MIGRATOR));

/// Runs `work` on a connection of its own to the server's default database.
fn as_admin<T>(work: impl AsyncFnOnce(&mut PgConnection) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut admin = PgConnection::connect(&postgres_url()).await.unwrap();
        work(&mut admin).await
    })
}

fn databases_named(pattern: &str) -> Vec<String> {
    as_admin(async |admin| {
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname = $1")
            .bind(pattern)
            .fetch_all(admin)
            .await
            .unwrap()
    })
}

#[test]
fn each_test_gets_a_migrated_database_of_its_own_dropped_after_it() {
    if !postgres_available("each_test_gets_a_migrated_database_of_its_own_dropped_after_it") {
        return;
    }
    let names: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let names = names.clone();
            scope.spawn(move || {
                run_async(TestConfig::new("template::own"), || async move {
                    let pool = DATABASES.pool().await.unwrap();
                    // The same key in every test: the databases are separate.
                    sqlx::query("INSERT INTO orders (token) VALUES ('same')")
                        .execute(&pool)
                        .await
                        .unwrap();
                    let again = DATABASES.pool().await.unwrap();
                    let name: String = sqlx::query_scalar("SELECT current_database()")
                        .fetch_one(&again)
                        .await
                        .unwrap();
                    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
                        .fetch_one(&again)
                        .await
                        .unwrap();
                    assert_eq!(rows, 1);
                    names.lock().unwrap().push(name);
                });
            });
        }
    });
    let names = names.lock().unwrap().clone();
    assert_eq!(names.len(), 4);
    assert!(
        names
            .iter()
            .all(|name| name.starts_with("sandbox_template_suite_test_"))
    );
    // Dropped in the background once each test ended.
    let deadline = Instant::now() + Duration::from_secs(20);
    for name in &names {
        while !databases_named(name).is_empty() {
            assert!(Instant::now() < deadline, "{name} was not dropped");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The databases of the stock of `template`: oid and name.
fn stock_of(template: &str) -> Vec<(i64, String)> {
    as_admin(async |admin| {
        sqlx::query_as(
            "SELECT oid::int8, datname::text FROM pg_database \
             WHERE starts_with(datname, $1) ORDER BY datname",
        )
        .bind(format!("{template}_"))
        .fetch_all(admin)
        .await
        .unwrap()
    })
}

/// Waits (bounded) until `template`'s stock holds `size` databases: none is being made.
fn wait_for_stock(template: &str, size: usize) -> Vec<(i64, String)> {
    // Bounded, and long: under a whole suite's load the server queues each `CREATE
    // DATABASE` behind the checkpoints of other tests' drops.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let stock = stock_of(template);
        if stock.len() >= size {
            return stock;
        }
        assert!(
            Instant::now() < deadline,
            "the stock of {template} was never made"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The stock's size here: one more than the machine's cores (the variable that changes it
/// is unset in these tests).
fn stock_size() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |cores| cores.get() + 1)
        .min(8)
}

/// The name of `label`'s template.
fn template_of(label: &str) -> String {
    as_admin(async |admin| {
        sqlx::query_scalar::<_, String>("SELECT datname::text FROM pg_database WHERE datname ~ $1")
            .bind(format!("^sandbox_{label}_template_[0-9a-f]{{16}}$"))
            .fetch_one(admin)
            .await
            .unwrap()
    })
}

/// `rounds` times: waits for `template`'s stock to be full, runs a test (`run`, which
/// returns the oid of the test's database) and checks that its database came from the
/// stock; then that the stock is full again, and never more; then sweeps it all.
fn assert_tests_claim_the_stock(
    label: &str,
    template: &str,
    rounds: usize,
    mut run: impl FnMut() -> i64,
) {
    let size = stock_size();
    for round in 0..rounds {
        let ready = wait_for_stock(template, size);
        let oid = run();
        assert!(
            ready.iter().any(|(stock, _)| *stock == oid),
            "round {round}: the test's database (oid {oid}) is not of the stock {ready:?}"
        );
    }
    // Each test's replacement is on the way: the stock is full again, never more.
    assert_eq!(wait_for_stock(template, size).len(), size);
    // `sweep_all` drops the stock with the rest of the label's databases.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let databases = TemplateDatabase::new(label, postgres_url()).migrations(&MIGRATOR);
    runtime.block_on(databases.sweep_all()).unwrap();
    assert!(stock_of(template).is_empty());
}

#[test]
fn tests_claim_databases_made_ahead_and_the_stock_stays_bounded() {
    if !postgres_available("tests_claim_databases_made_ahead_and_the_stock_stays_bounded") {
        return;
    }
    let label = format!("stock{}", std::process::id());
    let databases = TemplateDatabase::new(&label, postgres_url()).migrations(&MIGRATOR);
    let test = |name: &'static str| {
        let databases = &databases;
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    run_async(TestConfig::new(name), || async move {
                        let pool = databases.pool().await.unwrap();
                        let oid: i64 = sqlx::query_scalar(
                            "SELECT oid::int8 FROM pg_database WHERE datname = current_database()",
                        )
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                        // Migrated, as a database cloned for the test would be.
                        sqlx::query("INSERT INTO orders (token) VALUES ('t')")
                            .execute(&pool)
                            .await
                            .unwrap();
                        *OID.lock().unwrap() = oid;
                    })
                })
                .join()
                .unwrap();
        });
        *OID.lock().unwrap()
    };
    static OID: std::sync::Mutex<i64> = std::sync::Mutex::new(0);
    // The first test finds no stock: it makes its database, and fills the stock.
    test("stock::first");
    let template = template_of(&label);
    assert_tests_claim_the_stock(&label, &template, 4, || test("stock::later"));
}

/// Runs in a process of its own (started by the test below), as nextest runs a test.
#[test]
#[ignore = "fixture: started as a subprocess by the process-per-test test"]
fn fixture_one_test_in_its_own_process() {
    let record = std::env::var("TEMPLATE_RECORD").expect("started by a test");
    let label = std::env::var("TEMPLATE_LABEL").expect("started by a test");
    let databases = TemplateDatabase::new(label, postgres_url()).migrations(&MIGRATOR);
    run_async(TestConfig::new("template::fixture"), || async move {
        let pool = databases.pool().await.unwrap();
        let (name, oid): (String, i64) = sqlx::query_as(
            "SELECT datname::text, oid::int8 FROM pg_database \
             WHERE datname = current_database()",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        std::fs::write(record, format!("{name} {oid}")).unwrap();
    });
}

/// Runs the fixture above in a process of its own, as nextest would, on the databases of
/// `label`: the name and oid of the database it got.
fn one_test_in_its_own_process(label: &str) -> (String, i64) {
    let record = std::env::temp_dir().join(format!(
        "template-record-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "fixture_one_test_in_its_own_process",
            "--quiet",
        ])
        .env("NEXTEST_EXECUTION_MODE", "process-per-test")
        .env("TEMPLATE_RECORD", &record)
        .env("TEMPLATE_LABEL", label)
        .status()
        .unwrap();
    assert!(status.success());
    let recorded = std::fs::read_to_string(&record).unwrap();
    let _ = std::fs::remove_file(&record);
    let (name, oid) = recorded.split_once(' ').unwrap();
    (name.to_owned(), oid.parse().unwrap())
}

#[test]
fn a_process_that_runs_one_test_leaves_no_database() {
    if !postgres_available("a_process_that_runs_one_test_leaves_no_database") {
        return;
    }
    let (name, _) = one_test_in_its_own_process("template-suite");
    assert!(name.starts_with("sandbox_template_suite_test_"), "{name}");
    // The process sent the drop and exited; the server completes it (a checkpoint) on its
    // own, soon after.
    let deadline = Instant::now() + Duration::from_secs(90);
    while !databases_named(&name).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        databases_named(&name).is_empty(),
        "{name} outlived its process by 90 s"
    );
}

#[test]
fn processes_that_run_one_test_each_share_the_stock() {
    if !postgres_available("processes_that_run_one_test_each_share_the_stock") {
        return;
    }
    let label = format!("procstock{}", std::process::id());
    // The first process finds no stock: it makes its own database, sends the `CREATE`s
    // that fill the stock and exits; the server completes them.
    one_test_in_its_own_process(&label);
    let template = template_of(&label);
    assert_tests_claim_the_stock(&label, &template, 3, || {
        one_test_in_its_own_process(&label).1
    });
}

// Runs that share the server: this binary's fixtures below, started by the tests after
// them as separate runs (processes of their own, each with its own run id).

/// The migrations of the runs: a gate (a lock the test may hold, which stops a run inside
/// its migrations, where it builds a template), then a table. The gate is a role's
/// comment: a lock on a role is the server's, where an advisory lock is only its
/// database's, and migrations run in another database than the test's connection.
static GATED: LazyLock<Migrator> = LazyLock::new(|| {
    let gate = std::env::var("RUNS_GATE").expect("set by the test");
    let migration = |version, description: &'static str, sql: String| {
        Migration::new(
            version,
            description.into(),
            MigrationType::Simple,
            AssertSqlSafe(sql).into_sql_str(),
            false,
        )
    };
    Migrator::with_migrations(vec![
        migration(1, "gate", format!("COMMENT ON ROLE \"{gate}\" IS 'passed'")),
        migration(
            2,
            "orders",
            "CREATE TABLE orders (id bigserial PRIMARY KEY, token text NOT NULL UNIQUE)".into(),
        ),
    ])
});

/// The runs' databases: the label is the test's own.
static RUN_DATABASES: LazyLock<TemplateDatabase> = LazyLock::new(|| {
    TemplateDatabase::new(
        std::env::var("RUNS_LABEL").expect("set by the test"),
        postgres_url(),
    )
    .migrations(&GATED)
});

async fn current_database(pool: &PgPool) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
}

/// Whether the database of `pool` is migrated and usable: `ok`, or why not.
async fn usable(pool: Result<PgPool, sandbox_sqlx::SandboxError>) -> String {
    let pool = match pool {
        Ok(pool) => pool,
        Err(error) => return error.to_string(),
    };
    let rows: Result<i64, _> = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&pool)
        .await;
    match rows {
        Ok(_) => "ok".to_owned(),
        Err(error) => error.to_string(),
    }
}

const HOLDING: &str = "run_holding_its_database";
const DYING: &str = "run_dying_with_its_database";
const MAKING: &str = "run_making_a_database";

/// A run whose test holds its database while the test that started it looks: reports
/// `made` (its name), makes another (`clone`, in a second test of the run) when told,
/// and uses its own again when told to `finish`.
#[test]
#[ignore = "fixture: a run started by the tests of runs that share the server"]
fn run_holding_its_database() {
    run_async(TestConfig::new("runs::holding"), || async {
        let pool = RUN_DATABASES.pool().await.unwrap();
        runs::report("made", &current_database(&pool).await.unwrap());
        runs::await_command("clone");
        std::thread::spawn(|| {
            run_async(TestConfig::new("runs::clone"), || async {
                runs::report("cloned", &usable(RUN_DATABASES.pool().await).await);
            });
        })
        .join()
        .unwrap();
        runs::await_command("finish");
        runs::report("still", &usable(Ok(pool)).await);
    });
}

/// A run whose process dies while its test has a database (as a crash does: no
/// destructor, no harness hook, no drop).
#[test]
#[ignore = "fixture: a run started by the tests of runs that share the server"]
fn run_dying_with_its_database() {
    run_async(TestConfig::new("runs::dying"), || async {
        let pool = RUN_DATABASES.pool().await.unwrap();
        runs::report("made", &current_database(&pool).await.unwrap());
        runs::crash();
    });
}

/// A run with one test that makes its database, uses it and ends.
#[test]
#[ignore = "fixture: a run started by the tests of runs that share the server"]
fn run_making_a_database() {
    run_async(TestConfig::new("runs::making"), || async {
        let pool = RUN_DATABASES.pool().await;
        let name = match &pool {
            Ok(pool) => current_database(pool).await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        assert_eq!(usable(pool).await, "ok");
        runs::report("made", &name);
    });
}

/// The label, gate and variables of one test's runs; drops every database of the label
/// when the test ends, passed or failed.
struct Shared {
    label: String,
    /// The role whose comment is the gate.
    gate: String,
    runs: Runs,
}

impl Shared {
    fn new(test: &str) -> Shared {
        let runs = Runs::new(test);
        let label = format!("r{}", runs.unique(10));
        let gate = format!("sandbox_gate_{label}");
        as_admin(async |admin| {
            sqlx::query(AssertSqlSafe(format!("CREATE ROLE \"{gate}\"")))
                .execute(admin)
                .await
                .unwrap();
        });
        Shared { label, gate, runs }
    }

    fn start(&self, place: Place, fixtures: &[&str]) -> Run {
        let env = [
            ("RUNS_LABEL", self.label.clone()),
            ("RUNS_GATE", self.gate.clone()),
        ];
        self.runs.start(place, fixtures, &env)
    }

    /// The label's databases: oid and name.
    fn databases(&self) -> Vec<(i64, String)> {
        let prefix = format!("sandbox_{}_", self.label);
        as_admin(async |admin| {
            sqlx::query_as(
                "SELECT oid::int8, datname::text FROM pg_database \
                 WHERE starts_with(datname, $1) ORDER BY datname",
            )
            .bind(prefix)
            .fetch_all(admin)
            .await
            .unwrap()
        })
    }

    /// The label's templates (not the databases of their stock, `<template>_<stock>`).
    fn templates(&self) -> Vec<(i64, String)> {
        let templates = format!("sandbox_{}_template_", self.label);
        let mut databases = self.databases();
        databases.retain(|(_, name)| {
            name.strip_prefix(&templates)
                .is_some_and(|hash| !hash.contains('_'))
        });
        databases
    }

    fn exists(&self, name: &str) -> bool {
        self.databases()
            .iter()
            .any(|(_, database)| database == name)
    }

    /// Waits until `run` waits at the gate (`true`) or has ended (`false`).
    fn at_gate_or_ended(&self, run: &mut Run) -> bool {
        let started = Instant::now();
        loop {
            if run.has_ended() {
                return false;
            }
            let waiting: i64 = as_admin(async |admin| {
                sqlx::query_scalar(
                    "SELECT count(*) FROM pg_locks JOIN pg_roles ON objid = pg_roles.oid \
                     WHERE locktype = 'object' AND classid = 'pg_authid'::regclass \
                     AND NOT granted AND rolname = $1",
                )
                .bind(&self.gate)
                .fetch_one(admin)
                .await
                .unwrap()
            });
            if waiting > 0 {
                return true;
            }
            assert!(started.elapsed() < runs::WAIT, "{}", run.output());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let databases = TemplateDatabase::new(self.label.clone(), postgres_url());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = runtime.block_on(databases.sweep_all());
        as_admin(async |admin| {
            let drop = format!("DROP ROLE IF EXISTS \"{}\"", self.gate);
            let _ = sqlx::query(AssertSqlSafe(drop)).execute(admin).await;
        });
    }
}

/// The test's hold on the gate of its runs' migrations: a transaction that comments on
/// the gate's role, on a connection of its own.
struct Gate {
    runtime: tokio::runtime::Runtime,
    connection: Option<PgConnection>,
}

impl Gate {
    fn hold(role: &str) -> Gate {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let connection = runtime.block_on(async {
            let mut connection = PgConnection::connect(&postgres_url()).await.unwrap();
            let hold = format!("BEGIN; COMMENT ON ROLE \"{role}\" IS 'held'");
            sqlx::raw_sql(AssertSqlSafe(hold))
                .execute(&mut connection)
                .await
                .unwrap();
            connection
        });
        Gate {
            runtime,
            connection: Some(connection),
        }
    }

    fn release(mut self) {
        if let Some(connection) = self.connection.take() {
            self.runtime.block_on(connection.close()).unwrap();
        }
    }
}

/// Two runs in pid namespaces of their own (as two containers sharing the server): the
/// second neither drops the first's database, which its test is using, nor rebuilds
/// the template; it does sweep what a dead process of its own namespace left. The first
/// run's process has pid 40000 in its namespace, which runs nothing in the second.
#[test]
fn runs_in_other_pid_namespaces_keep_their_databases_and_the_template() {
    if !postgres_available("runs_in_other_pid_namespaces_keep_their_databases_and_the_template") {
        return;
    }
    let shared = Shared::new("pg-namespaces");
    let mut holding = shared.start(Place::OwnPidNamespace { first_pid: 40_000 }, &[HOLDING]);
    let held = holding.wait_for(HOLDING, "made");
    let template = shared.templates();
    assert_eq!(template.len(), 1, "{template:?}");

    let mut others = shared.start(Place::OwnPidNamespace { first_pid: 300 }, &[DYING, MAKING]);
    let dead = others.wait_for(DYING, "made");
    let made = others.wait_for(MAKING, "made");
    others.finish();
    assert!(
        shared.exists(&held),
        "a run in another pid namespace dropped {held}, which a running test uses"
    );
    assert!(
        !shared.exists(&dead),
        "{dead}, left by a dead process of the namespace, was not swept by its next run"
    );
    assert_eq!(
        shared.templates(),
        template,
        "the template was dropped or rebuilt"
    );
    assert_ne!(made, held);

    holding.tell(HOLDING, "clone");
    assert_eq!(holding.wait_for(HOLDING, "cloned"), "ok");
    holding.let_go(HOLDING);
}

/// The first run that needs the template builds it under a name of its own and renames
/// it into place: while its migrations run (held at the gate), no template is there to
/// clone.
#[test]
fn a_template_is_built_aside_and_renamed_into_place() {
    if !postgres_available("a_template_is_built_aside_and_renamed_into_place") {
        return;
    }
    let shared = Shared::new("pg-built-aside");
    let gate = Gate::hold(&shared.gate);
    let mut making = shared.start(Place::Here, &[MAKING]);
    assert!(
        shared.at_gate_or_ended(&mut making),
        "the run never migrated a template: {}",
        making.output()
    );
    let building = shared.databases();
    let templates = shared.templates();
    gate.release();
    let made = making.wait_for(MAKING, "made");
    making.finish();

    assert!(
        templates.is_empty(),
        "a template was in place while its migrations ran: {templates:?}"
    );
    let build = format!("sandbox_{}_build_", shared.label);
    assert!(
        building.len() == 1 && building[0].1.starts_with(&build),
        "not built under a name of its own: {building:?}"
    );
    let templates = shared.templates();
    assert_eq!(templates.len(), 1, "{templates:?}");
    assert_eq!(templates[0].0, building[0].0, "the build, renamed");
    assert!(made.starts_with(&format!("sandbox_{}_test_", shared.label)));
    let left: Vec<_> = shared
        .databases()
        .into_iter()
        .filter(|(_, name)| name.starts_with(&build))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Two runs on this machine: while one holds its database, a second run starts (its
/// first test would rebuild the template, and waits at the gate if it does) and the first
/// makes another database meanwhile. The template is neither dropped nor rebuilt, both
/// clones work, and the second run sweeps what a dead process of this host left.
#[test]
fn a_concurrent_run_neither_rebuilds_the_template_nor_drops_live_databases() {
    if !postgres_available(
        "a_concurrent_run_neither_rebuilds_the_template_nor_drops_live_databases",
    ) {
        return;
    }
    let shared = Shared::new("pg-concurrent");
    let mut holding = shared.start(Place::Here, &[HOLDING]);
    let held = holding.wait_for(HOLDING, "made");
    let template = shared.templates();
    let mut dying = shared.start(Place::Here, &[DYING]);
    let dead = dying.wait_for(DYING, "made");
    dying.finish();
    assert!(shared.exists(&dead));

    let gate = Gate::hold(&shared.gate);
    let mut making = shared.start(Place::Here, &[MAKING]);
    let rebuilt = shared.at_gate_or_ended(&mut making);
    holding.tell(HOLDING, "clone");
    let cloned = holding.wait_for(HOLDING, "cloned");
    gate.release();
    making.wait_for(MAKING, "made");
    making.finish();

    assert!(
        !rebuilt,
        "the second run migrated a template again, which the first one clones"
    );
    assert_eq!(
        cloned, "ok",
        "a clone made while another run started failed"
    );
    assert_eq!(shared.templates(), template);
    assert!(shared.exists(&held), "{held}, in use, was dropped");
    assert!(!shared.exists(&dead), "{dead} was not swept");
    holding.let_go(HOLDING);
}

/// A sweep drops only names it can parse, of its own host: an earlier version's name,
/// another host's and a stranger's stay (until `sweep_all`, which drops the label's own
/// and leaves the stranger).
#[test]
fn a_sweep_leaves_other_hosts_and_unknown_names_alone() {
    if !postgres_available("a_sweep_leaves_other_hosts_and_unknown_names_alone") {
        return;
    }
    let shared = Shared::new("pg-strangers");
    let prefix = format!("sandbox_{}_", shared.label);
    let earlier = format!("{prefix}test_4000000000_0");
    let other_host = format!("{prefix}test_000000000000_4000000000_1_0");
    let stranger = format!("{prefix}test_someone_elses");
    for name in [&earlier, &other_host, &stranger] {
        as_admin(async |admin| {
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(admin)
                .await
                .unwrap();
        });
    }
    let mut dying = shared.start(Place::Here, &[DYING]);
    let dead = dying.wait_for(DYING, "made");
    dying.finish();
    shared.start(Place::Here, &[MAKING]).finish();

    assert!(!shared.exists(&dead), "{dead} was not swept");
    for name in [&earlier, &other_host, &stranger] {
        assert!(shared.exists(name), "{name} was swept");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let databases = TemplateDatabase::new(shared.label.clone(), postgres_url());
    runtime.block_on(databases.sweep_all()).unwrap();
    let left: Vec<String> = shared
        .databases()
        .into_iter()
        .map(|(_, name)| name)
        .collect();
    assert_eq!(left, std::slice::from_ref(&stranger));
    as_admin(async |admin| {
        sqlx::query(AssertSqlSafe(format!("DROP DATABASE \"{stranger}\"")))
            .execute(admin)
            .await
            .unwrap();
    });
}
