//! Migrations of rollback sandboxes against the real servers (PostgreSQL, MySQL/MariaDB),
//! each on a fresh database of its own: several sandboxes, labels and processes migrate
//! one database once; a migration that failed half-way or was changed fails every later
//! checkout, naming the migration and the fix; a failed migration leaves no lock behind;
//! a wait for another process's migrations is bounded and names the holder. Skipped, with
//! a notice, when a server is unreachable (and failed under `CI=true`).

use std::process::{Command, Stdio};
use std::time::Duration;

use ownership_e2e::{mysql_available, mysql_url, postgres_available, postgres_url};
use ownership_runtime::error_chain;
use ownership_runtime::harness::{TestConfig, run_async};
use sandbox_sqlx::{MigrationsProblem, Sandbox, SandboxDatabase, SandboxError};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, Connection, Database, Executor, MySql, Postgres, SqlSafeStr};

/// The table the migrations of this file record themselves in.
const TABLE: &str = "_sandbox_migrations_suite";

/// A server the tests make fresh databases on.
trait Server: 'static {
    type DB: SandboxDatabase;
    const NAME: &'static str;
    /// The server's URL (its `test` database).
    fn url() -> String;
    fn available(test: &str) -> bool;
    /// `DROP DATABASE` of `name`, ending its sessions where the server can.
    fn drop_database(name: &str) -> String;
    /// The migrations: a table, another, an index.
    fn migrations() -> [&'static str; 3];
    /// Runs `sql` on the database at `url`.
    fn execute(url: &str, sql: String);
    /// The rows of [`TABLE`] in the database at `url`: (version, success).
    fn recorded(url: &str) -> Vec<(i64, bool)>;
}

/// Runs `sql` on a connection of its own to `url`.
fn execute_on<C: Connection>(url: &str, sql: String)
where
    for<'c> &'c mut C: Executor<'c>,
{
    runtime().block_on(async {
        let mut connection = C::connect(url).await.unwrap();
        (&mut connection).execute(AssertSqlSafe(sql)).await.unwrap();
    });
}

/// The rows of [`TABLE`] at `url`, on a connection of its own.
fn recorded_on<DB: Database>(url: &str) -> Vec<(i64, bool)>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'r> (i64, bool): sqlx::FromRow<'r, DB::Row>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    runtime().block_on(async {
        let mut connection = DB::Connection::connect(url).await.unwrap();
        sqlx::query_as(AssertSqlSafe(format!(
            "SELECT version, success FROM {TABLE} ORDER BY version"
        )))
        .fetch_all(&mut connection)
        .await
        .unwrap()
    })
}

struct Pg;
struct My;

impl Server for Pg {
    type DB = Postgres;
    const NAME: &'static str = "postgres";
    fn url() -> String {
        postgres_url()
    }
    fn available(test: &str) -> bool {
        postgres_available(test)
    }
    fn drop_database(name: &str) -> String {
        format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")
    }
    fn migrations() -> [&'static str; 3] {
        [
            "CREATE TABLE widgets (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE)",
            "CREATE TABLE gadgets (id bigserial PRIMARY KEY, widget bigint REFERENCES widgets)",
            "CREATE INDEX gadgets_widget ON gadgets (widget)",
        ]
    }
    fn execute(url: &str, sql: String) {
        execute_on::<sqlx::PgConnection>(url, sql);
    }
    fn recorded(url: &str) -> Vec<(i64, bool)> {
        recorded_on::<Postgres>(url)
    }
}

impl Server for My {
    type DB = MySql;
    const NAME: &'static str = "mysql";
    fn url() -> String {
        mysql_url()
    }
    fn available(test: &str) -> bool {
        mysql_available(test)
    }
    fn drop_database(name: &str) -> String {
        format!("DROP DATABASE IF EXISTS `{name}`")
    }
    fn migrations() -> [&'static str; 3] {
        [
            "CREATE TABLE widgets (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL UNIQUE)",
            "CREATE TABLE gadgets (id BIGINT AUTO_INCREMENT PRIMARY KEY, widget BIGINT)",
            "CREATE INDEX gadgets_widget ON gadgets (widget)",
        ]
    }
    fn execute(url: &str, sql: String) {
        execute_on::<sqlx::MySqlConnection>(url, sql);
    }
    fn recorded(url: &str) -> Vec<(i64, bool)> {
        recorded_on::<MySql>(url)
    }
}

/// A migrator of `sql`, one migration per statement, recorded in [`TABLE`].
fn migrator(sql: &[&'static str]) -> Migrator {
    let migrations = sql
        .iter()
        .zip(1..)
        .map(|(sql, version)| {
            Migration::new(
                version,
                format!("step {version}").into(),
                MigrationType::Simple,
                AssertSqlSafe(*sql).into_sql_str(),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name(TABLE);
    migrator
}

fn leak(migrator: Migrator) -> &'static Migrator {
    Box::leak(Box::new(migrator))
}

/// A database made for one test, dropped when it ends.
struct FreshDatabase<S: Server> {
    name: String,
    url: String,
    _server: std::marker::PhantomData<S>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let slash = base.rfind('/').expect("a database in the URL");
    let query = query.map(|query| format!("?{query}")).unwrap_or_default();
    format!("{}/{database}{query}", &base[..slash])
}

impl<S: Server> FreshDatabase<S> {
    fn new(tag: &str) -> Self {
        let name = format!(
            "sandbox_migrations_{tag}_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_micros()
                % 1_000_000_000
        );
        Self::admin(&format!("CREATE DATABASE {}", Self::quoted(&name)));
        FreshDatabase {
            url: with_database(&S::url(), &name),
            name,
            _server: std::marker::PhantomData,
        }
    }

    fn quoted(name: &str) -> String {
        if S::NAME == "postgres" {
            format!("\"{name}\"")
        } else {
            format!("`{name}`")
        }
    }

    /// Runs `sql` on the server's own database.
    fn admin(sql: &str) {
        S::execute(&S::url(), sql.to_owned());
    }

    /// The migrations table's rows: (version, success).
    fn recorded(&self) -> Vec<(i64, bool)> {
        S::recorded(&self.url)
    }
}

impl<S: Server> FreshDatabase<S>
where
    for<'c> &'c mut <S::DB as Database>::Connection: Executor<'c, Database = S::DB>,
{
    /// A sandbox labelled `label` on this database with `migrator`.
    fn sandbox(&self, label: &str, migrator: &'static Migrator) -> Sandbox<S::DB> {
        Sandbox::builder(format!("{}-{label}", S::NAME), &self.url)
            .migrations(migrator)
            .build()
            .unwrap()
    }
}

impl<S: Server> Drop for FreshDatabase<S> {
    fn drop(&mut self) {
        Self::admin(&S::drop_database(&self.name));
    }
}

/// Checks a connection out of `sandbox` in an owned test: its error, if any.
fn checkout_error<DB: SandboxDatabase>(sandbox: &Sandbox<DB>) -> Option<SandboxError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let mut failure = None;
    let slot = &mut failure;
    run_async(TestConfig::new("migrations::checkout"), || async move {
        *slot = sandbox.checkout().await.err();
    });
    failure
}

/// The migrations problem of a checkout that must fail with one, and the error's message
/// with its causes.
fn problem_of(error: Option<SandboxError>) -> (MigrationsProblem, String) {
    let error = error.expect("the checkout fails");
    let message = error_chain(&error).to_string();
    match error {
        SandboxError::Migrate { problem, .. } => (problem, message),
        other => panic!("expected a migrations problem, got {other:?}"),
    }
}

// ---- Once per database, whoever asks first ----

/// The environment variable that tells this binary's fixture which database to migrate.
const FIXTURE_URL: &str = "SANDBOX_MIGRATIONS_FIXTURE_URL";

/// Four sandboxes with four labels, in four threads, then three processes at once (each
/// with a target directory and a run of its own, as checkouts or CI jobs that share the
/// server), migrate one fresh database: every checkout succeeds, and each migration is
/// applied once. (On MariaDB this raced: "Duplicate entry '1' for key 'PRIMARY'".)
fn migrations_run_once_whoever_asks_first<S: Server>(fixture: &str)
where
    for<'c> &'c mut <S::DB as Database>::Connection: Executor<'c, Database = S::DB>,
{
    let migrations = leak(migrator(&S::migrations()));
    let threads = FreshDatabase::<S>::new("threads");
    std::thread::scope(|scope| {
        for label in ["a", "b", "c", "d"] {
            let sandbox = threads.sandbox(label, migrations);
            scope.spawn(move || {
                let error = checkout_error(&sandbox);
                assert!(error.is_none(), "{label}: {error:?}");
            });
        }
    });
    assert_eq!(threads.recorded(), [(1, true), (2, true), (3, true)]);

    let processes = FreshDatabase::<S>::new("processes");
    let scratch = std::env::temp_dir().join(format!("sandbox-migrations-{}", std::process::id()));
    let children: Vec<_> = (0..3)
        .map(|index| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--ignored", "--exact", fixture])
                .env(FIXTURE_URL, &processes.url)
                .env("CARGO_TARGET_DIR", scratch.join(format!("target-{index}")))
                .env("OWNERSHIP_RUN_ID", format!("checkout-{index}"))
                .env_remove("NEXTEST_RUN_ID")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a process failed to migrate:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(processes.recorded(), [(1, true), (2, true), (3, true)]);
    let _ = std::fs::remove_dir_all(scratch);
}

/// What each process of the test above does.
fn migrate_from_a_process<S: Server>()
where
    for<'c> &'c mut <S::DB as Database>::Connection: Executor<'c, Database = S::DB>,
{
    let url = std::env::var(FIXTURE_URL).expect("run by the migrations tests");
    let migrations = leak(migrator(&S::migrations()));
    let sandbox = Sandbox::<S::DB>::builder(format!("process-{}", std::process::id()), url)
        .migrations(migrations)
        .build()
        .unwrap();
    let error = checkout_error(&sandbox);
    assert!(error.is_none(), "{error:?}");
}

#[test]
fn postgres_migrations_run_once_whoever_asks_first() {
    if Pg::available("migrations::postgres_migrations_run_once_whoever_asks_first") {
        migrations_run_once_whoever_asks_first::<Pg>("postgres_migration_fixture");
    }
}

#[test]
fn mysql_migrations_run_once_whoever_asks_first() {
    if My::available("migrations::mysql_migrations_run_once_whoever_asks_first") {
        migrations_run_once_whoever_asks_first::<My>("mysql_migration_fixture");
    }
}

#[test]
#[ignore = "fixture: run in processes of their own by postgres_migrations_run_once_whoever_asks_first"]
fn postgres_migration_fixture() {
    migrate_from_a_process::<Pg>();
}

#[test]
#[ignore = "fixture: run in processes of their own by mysql_migrations_run_once_whoever_asks_first"]
fn mysql_migration_fixture() {
    migrate_from_a_process::<My>();
}

// ---- Broken migrations ----

/// On MySQL a migration that fails half-way has committed its first DDL: sqlx marks it
/// unfinished. Every later checkout, of any sandbox, fails naming it and the fix, instead
/// of passing on a broken schema.
#[test]
fn a_migration_that_failed_half_way_fails_every_later_checkout_naming_it() {
    if !My::available(
        "migrations::a_migration_that_failed_half_way_fails_every_later_checkout_naming_it",
    ) {
        return;
    }
    let database = FreshDatabase::<My>::new("half_way");
    let broken = leak(migrator(&[
        My::migrations()[0],
        "CREATE TABLE half_made (id INT); INSERT INTO no_such_table VALUES (1)",
    ]));
    let (first, message) = problem_of(checkout_error(&database.sandbox("first", broken)));
    assert!(matches!(first, MigrationsProblem::Failed(_)), "{message}");
    assert!(message.contains("no_such_table"), "{message}");
    assert_eq!(database.recorded(), [(1, true), (2, false)]);
    for label in ["second", "third"] {
        let (problem, message) = problem_of(checkout_error(&database.sandbox(label, broken)));
        assert!(
            matches!(
                problem,
                MigrationsProblem::PartiallyApplied { version: 2, .. }
            ),
            "{message}"
        );
        for expected in [
            "migration 2 (step 2)",
            "marked unfinished",
            &format!("DELETE FROM {TABLE} WHERE version = 2"),
            "fix the migration",
        ] {
            assert!(message.contains(expected), "{expected:?} in {message}");
        }
    }
}

/// A migration changed after it was applied fails the checkout, saying how to fix it.
fn a_changed_migration_says_how_to_fix_it<S: Server>()
where
    for<'c> &'c mut <S::DB as Database>::Connection: Executor<'c, Database = S::DB>,
{
    let database = FreshDatabase::<S>::new("changed");
    let original = leak(migrator(&S::migrations()[..1]));
    assert!(checkout_error(&database.sandbox("original", original)).is_none());
    let changed = leak(migrator(&[S::migrations()[1]]));
    let (problem, message) = problem_of(checkout_error(&database.sandbox("changed", changed)));
    assert!(
        matches!(problem, MigrationsProblem::Changed { version: 1, .. }),
        "{message}"
    );
    for expected in [
        "migration 1 (step 1) was changed",
        "Restore the migration",
        "recreate it",
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
}

#[test]
fn postgres_a_changed_migration_says_how_to_fix_it() {
    if Pg::available("migrations::postgres_a_changed_migration_says_how_to_fix_it") {
        a_changed_migration_says_how_to_fix_it::<Pg>();
    }
}

#[test]
fn mysql_a_changed_migration_says_how_to_fix_it() {
    if My::available("migrations::mysql_a_changed_migration_says_how_to_fix_it") {
        a_changed_migration_says_how_to_fix_it::<My>();
    }
}

/// A failed migration leaves no session lock behind on a pooled connection: the next
/// checkout of the same process fails again with the migration's error, at once, instead
/// of waiting forever on sqlx's migrator lock that an idle pooled connection still held.
#[test]
fn a_failed_migration_leaves_no_lock_behind() {
    if !Pg::available("migrations::a_failed_migration_leaves_no_lock_behind") {
        return;
    }
    let database = FreshDatabase::<Pg>::new("no_lock");
    let failing = leak(migrator(&[Pg::migrations()[0], "SELECT 1 / 0"]));
    let sandbox = database.sandbox("failing", failing);
    for attempt in 0..3 {
        // A hang is the defect: a thread that gives up instead of blocking the suite.
        let (sender, receiver) = std::sync::mpsc::channel();
        let sandbox = sandbox.clone();
        std::thread::spawn(move || sender.send(checkout_error(&sandbox)));
        let error = receiver
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("checkout {attempt} hangs"));
        let (problem, message) = problem_of(error);
        assert!(matches!(problem, MigrationsProblem::Failed(_)), "{message}");
        assert!(message.contains("division by zero"), "{message}");
    }
    let held: i64 = runtime().block_on(async {
        let mut connection = sqlx::PgConnection::connect(&postgres_url()).await.unwrap();
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
             WHERE l.locktype = 'advisory' AND d.datname = $1",
        )
        .bind(&database.name)
        .fetch_one(&mut connection)
        .await
        .unwrap()
    });
    assert_eq!(
        held, 0,
        "a session still holds an advisory lock on the database"
    );
}

// ---- Bounded waits ----

/// Another process holds the database's migrations lock (here, a connection of the test):
/// a sandbox waits at most its `migrations_wait`, then fails naming the holder.
fn a_wait_for_another_process_is_bounded_and_names_the_holder<S: Server>(
    hold: &'static str,
    holder: &'static str,
) where
    for<'c> &'c mut <S::DB as Database>::Connection: Executor<'c, Database = S::DB>,
{
    let database = FreshDatabase::<S>::new("held");
    let migrations = leak(migrator(&S::migrations()));
    let url = database.url.clone();
    let held = runtime();
    let holding = held.block_on(async {
        let mut connection = <S::DB as Database>::Connection::connect(&url)
            .await
            .unwrap();
        sqlx::raw_sql(AssertSqlSafe(hold.replace("{table}", TABLE)))
            .execute(&mut connection)
            .await
            .unwrap();
        connection
    });
    let sandbox = Sandbox::<S::DB>::builder(format!("{}-waits", S::NAME), &database.url)
        .migrations(migrations)
        .migrations_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let (problem, message) = problem_of(checkout_error(&sandbox));
    assert!(
        matches!(problem, MigrationsProblem::LockTimeout { .. }),
        "{message}"
    );
    for expected in ["another process's migrations", holder, "gave up"] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
    held.block_on(async { holding.close().await.unwrap() });
    assert!(
        checkout_error(&sandbox).is_none(),
        "migrates once the lock is free"
    );
}

#[test]
fn postgres_a_wait_for_another_process_is_bounded_and_names_the_holder() {
    if Pg::available(
        "migrations::postgres_a_wait_for_another_process_is_bounded_and_names_the_holder",
    ) {
        a_wait_for_another_process_is_bounded_and_names_the_holder::<Pg>(
            "SELECT set_config('application_name', 'the-migrating-holder', false); \
             SELECT pg_advisory_lock(hashtextextended(\
                 'sandbox-sqlx migrations of ' || current_database() || ' in ' || '{table}', 0))",
            "the-migrating-holder",
        );
    }
}

#[test]
fn mysql_a_wait_for_another_process_is_bounded_and_names_the_holder() {
    if My::available("migrations::mysql_a_wait_for_another_process_is_bounded_and_names_the_holder")
    {
        a_wait_for_another_process_is_bounded_and_names_the_holder::<My>(
            "DO GET_LOCK(CONCAT('sandbox-sqlx migrations ', MD5(CONCAT(DATABASE(), ' in ', '{table}'))), 1)",
            "server connection",
        );
    }
}
