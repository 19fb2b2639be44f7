//! The sandbox's speed, in one table from one run: the same tests (one insert and one
//! select each) on PostgreSQL, MariaDB and SQLite, written
//!
//! - with `#[sqlx::test]`: a database created and migrated per test;
//! - by hand, the baseline a team writes without a library: one runtime and one pool for
//!   the whole process, migrated once, and a `BEGIN` .. `ROLLBACK` around each test;
//! - as `#[owned_test(sandbox = DB)]`: a transaction per test, rolled back (SQLite: an
//!   in-memory copy of the migrated template per test). On MariaDB, whose sandboxed tests
//!   take turns by default, also with `serialize_tests(false)`;
//! - as the drop-in: the `#[sqlx::test]` suite with its attribute changed to
//!   `#[owned_test]`;
//! - on PostgreSQL, as owned tests on `TemplateDatabase`: a database per test, cloned from
//!   a template migrated once per run (from the stock it keeps ahead).
//!
//! Each suite runs as `cargo test` runs a test binary (one process, the machine's threads:
//! the binary's time and its peak memory) and under `cargo nextest run` (one process per
//! test, as many at once as the machine has cores: the run's time from nextest's
//! summary), the suites interleaved round by round so that the machine's drifts hit them
//! alike. It prints the medians, the ratios against `#[sqlx::test]` and against the
//! baseline, with the targets, then how each cost grows from 100 to 1,000 tests and from
//! 5 to 50 migrations, and what memory the SQLite images and the template stock take.
//!
//! `cargo bench -p ownership-e2e --bench speed`, against `DATABASE_URL` (default
//! `postgres://root@127.0.0.1:5432/test`) and `MYSQL_DATABASE_URL` (default
//! `mysql://root@127.0.0.1:3306/test`); a server that doesn't answer is left out, with
//! the reason. It makes the databases `speed_bench_5` and `speed_bench_50` on each, and
//! its SQLite files go to the package's `target/tmp/speed-bench`. Settings:
//! `SPEED_BENCH_ROUNDS` (rounds of the main table, 3 by default), `SPEED_BENCH_GROWTH_ROUNDS`
//! (rounds of the 1,000-test and 50-migration runs, 1 by default; 0 leaves them out),
//! `SPEED_BENCH_DATABASES` (some of `postgres,mariadb,sqlite`).

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, Executor, MySqlConnection, PgConnection};
use support::{build_suites, median, under_nextest_matching};

/// A database the suites run on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Dialect {
    Postgres,
    MariaDb,
    Sqlite,
}

impl Dialect {
    const ALL: [Dialect; 3] = [Dialect::Postgres, Dialect::MariaDb, Dialect::Sqlite];

    fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::MariaDb => "mariadb",
            Dialect::Sqlite => "sqlite",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Dialect::Postgres => "PostgreSQL",
            Dialect::MariaDb => "MariaDB",
            Dialect::Sqlite => "SQLite",
        }
    }

    /// The targets of the sandboxed suites against `#[sqlx::test]`: under `cargo test`,
    /// under nextest.
    fn targets(self) -> (f64, f64) {
        match self {
            Dialect::Postgres => (100.0, 30.0),
            Dialect::MariaDb => (50.0, 10.0),
            Dialect::Sqlite => (30.0, 5.0),
        }
    }
}

/// What a suite measures, for its ratios.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    SqlxTest,
    Baseline,
    Sandboxed,
    Template,
}

/// One suite of the table: a test target of this package, and the environment it adds.
struct Suite {
    target: &'static str,
    dialect: Dialect,
    kind: Kind,
    what: &'static str,
    environment: &'static [(&'static str, &'static str)],
}

const SUITES: [Suite; 14] = [
    suite(
        "speed_pg_sqlx_test",
        Dialect::Postgres,
        Kind::SqlxTest,
        "#[sqlx::test]",
    ),
    suite(
        "speed_pg_baseline",
        Dialect::Postgres,
        Kind::Baseline,
        "hand-rolled BEGIN..ROLLBACK",
    ),
    suite(
        "speed_pg_sandbox",
        Dialect::Postgres,
        Kind::Sandboxed,
        "owned, sandbox = DB",
    ),
    suite(
        "speed_pg_dropin",
        Dialect::Postgres,
        Kind::Sandboxed,
        "owned, pool: PgPool",
    ),
    suite(
        "speed_pg_template",
        Dialect::Postgres,
        Kind::Template,
        "owned, TemplateDatabase",
    ),
    suite(
        "speed_mysql_sqlx_test",
        Dialect::MariaDb,
        Kind::SqlxTest,
        "#[sqlx::test]",
    ),
    suite(
        "speed_mysql_baseline",
        Dialect::MariaDb,
        Kind::Baseline,
        "hand-rolled BEGIN..ROLLBACK",
    ),
    suite(
        "speed_mysql_sandbox",
        Dialect::MariaDb,
        Kind::Sandboxed,
        "owned, sandbox = DB",
    ),
    Suite {
        environment: &[("SPEED_BENCH_SERIALIZE", "0")],
        ..suite(
            "speed_mysql_sandbox",
            Dialect::MariaDb,
            Kind::Sandboxed,
            "owned, sandbox, not serialized",
        )
    },
    suite(
        "speed_mysql_dropin",
        Dialect::MariaDb,
        Kind::Sandboxed,
        "owned, pool: MySqlPool",
    ),
    suite(
        "speed_sqlite_sqlx_test",
        Dialect::Sqlite,
        Kind::SqlxTest,
        "#[sqlx::test]",
    ),
    suite(
        "speed_sqlite_baseline",
        Dialect::Sqlite,
        Kind::Baseline,
        "hand-rolled BEGIN..ROLLBACK",
    ),
    suite(
        "speed_sqlite_sandbox",
        Dialect::Sqlite,
        Kind::Sandboxed,
        "owned, sandbox = DB",
    ),
    suite(
        "speed_sqlite_dropin",
        Dialect::Sqlite,
        Kind::Sandboxed,
        "owned, pool: SqlitePool",
    ),
];

const fn suite(target: &'static str, dialect: Dialect, kind: Kind, what: &'static str) -> Suite {
    Suite {
        target,
        dialect,
        kind,
        what,
        environment: &[],
    }
}

/// How many tests and migrations a measurement runs with.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Size {
    tests: usize,
    migrations: usize,
}

/// The main table's size, and the two it grows to.
const MAIN: Size = Size {
    tests: 100,
    migrations: 5,
};
const MORE_TESTS: Size = Size {
    tests: 1000,
    migrations: 5,
};
const MORE_MIGRATIONS: Size = Size {
    tests: 100,
    migrations: 50,
};

/// One run of a suite: how long it took, and (under `cargo test`) its peak memory in KiB.
#[derive(Clone, Copy)]
struct Run {
    time: Duration,
    peak_kib: u64,
}

/// The runs of each suite (by its index in [`SUITES`]), size and mode (`true`: nextest).
type Runs = HashMap<(usize, Size, bool), Vec<Run>>;

/// The servers and files the suites use.
struct Places {
    postgres: String,
    mariadb: String,
    sqlite: PathBuf,
}

impl Places {
    /// The environment of `dialect`'s suites at `size`.
    fn environment(&self, dialect: Dialect, size: Size) -> Vec<(&'static str, String)> {
        let migrations = size.migrations;
        let own = |url: &str| url_of(url, &format!("speed_bench_{migrations}"));
        let mut environment = vec![("SPEED_BENCH_MIGRATIONS", migrations.to_string())];
        match dialect {
            Dialect::Postgres => environment.extend([
                ("DATABASE_URL", self.postgres.clone()),
                ("SPEED_BENCH_URL", own(&self.postgres)),
                ("SPEED_BENCH_BASELINE_URL", own(&self.postgres)),
            ]),
            Dialect::MariaDb => environment.extend([
                ("DATABASE_URL", self.mariadb.clone()),
                ("MYSQL_DATABASE_URL", self.mariadb.clone()),
                ("SPEED_BENCH_URL", own(&self.mariadb)),
                ("SPEED_BENCH_BASELINE_URL", own(&self.mariadb)),
            ]),
            Dialect::Sqlite => {
                let file = |name: String| self.sqlite.join(name).display().to_string();
                environment.extend([
                    (
                        "DATABASE_URL",
                        format!("sqlite://{}", file("app.db".into())),
                    ),
                    (
                        "SPEED_BENCH_URL",
                        format!("sqlite://{}", file(format!("sandbox-{migrations}.db"))),
                    ),
                    (
                        "SPEED_BENCH_BASELINE_URL",
                        format!(
                            "sqlite://{}?mode=rwc",
                            file(format!("baseline-{migrations}.db"))
                        ),
                    ),
                ]);
            }
        }
        environment
    }
}

/// `url` with its database replaced by `database`.
fn url_of(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(base, query)| (base, Some(query)));
    let cut = base
        .rfind('/')
        .filter(|slash| *slash > "postgres://".len())
        .unwrap_or(base.len());
    let query = query.map(|query| format!("?{query}")).unwrap_or_default();
    format!("{}/{database}{query}", &base[..cut])
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())
}

fn failed(error: impl std::fmt::Display) -> String {
    error.to_string()
}

/// Makes the databases `speed_bench_5` and `speed_bench_50` on the server of `dialect` at
/// `url`; `Err` says why the server can't be measured.
fn make_databases(dialect: Dialect, url: &str) -> Result<(), String> {
    let unreachable = |error: sqlx::Error| format!("no server at {url}: {error}");
    runtime()?.block_on(async {
        for migrations in [5, 50] {
            let name = format!("speed_bench_{migrations}");
            match dialect {
                Dialect::Postgres => {
                    let mut admin = PgConnection::connect(url).await.map_err(unreachable)?;
                    let exists: Option<i32> =
                        sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                            .bind(&name)
                            .fetch_optional(&mut admin)
                            .await
                            .map_err(failed)?;
                    if exists.is_none() {
                        admin
                            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                            .await
                            .map_err(failed)?;
                    }
                    admin.close().await.map_err(failed)?;
                }
                Dialect::MariaDb => {
                    let mut admin = MySqlConnection::connect(url).await.map_err(unreachable)?;
                    admin
                        .execute(AssertSqlSafe(format!(
                            "CREATE DATABASE IF NOT EXISTS {name}"
                        )))
                        .await
                        .map_err(failed)?;
                    admin.close().await.map_err(failed)?;
                }
                Dialect::Sqlite => {}
            }
        }
        Ok(())
    })
}

/// Lets PostgreSQL finish what the previous run left it (the per-test databases whose drop
/// it completes after their process exited), vacuums the sandbox's databases (every
/// rolled-back insert leaves a dead row) and checkpoints, so that one run's leftover work
/// isn't timed in the next. Nothing for the other databases.
fn settle(dialect: Dialect, places: &Places) -> Result<(), String> {
    if dialect != Dialect::Postgres {
        return Ok(());
    }
    let url = &places.postgres;
    runtime()?.block_on(async {
        let mut admin = PgConnection::connect(url).await.map_err(failed)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let dropping: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_database WHERE datname LIKE 'sandbox\\_speed\\_%\\_test\\_%'",
            )
            .fetch_one(&mut admin)
            .await
            .map_err(failed)?;
            if dropping == 0 || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for migrations in [5, 50] {
            let database = url_of(url, &format!("speed_bench_{migrations}"));
            let mut connection = PgConnection::connect(&database).await.map_err(failed)?;
            connection.execute("VACUUM").await.map_err(failed)?;
            connection.close().await.map_err(failed)?;
        }
        admin.execute("CHECKPOINT").await.map_err(failed)?;
        admin.close().await.map_err(failed)
    })
}

/// The filter (a test-name prefix) that chooses `tests` of a suite's 1,000.
fn prefix(tests: usize) -> Option<&'static str> {
    (tests == 100).then_some("m0::")
}

/// Runs `executable` as `cargo test` runs it, the tests of `size`, with `environment`;
/// checks that they all passed; returns its time and its peak memory (read from
/// `/proc` while it runs: 0 where there is none).
fn run_binary(
    executable: &Path,
    size: Size,
    environment: &[(&str, String)],
) -> Result<Run, String> {
    let started = Instant::now();
    let mut command = Command::new(executable);
    command
        .envs(
            environment
                .iter()
                .map(|(key, value)| (*key, value.as_str())),
        )
        .arg("--quiet")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(prefix) = prefix(size.tests) {
        command.arg(prefix);
    }
    let child = command.spawn().map_err(failed)?;
    let status = PathBuf::from(format!("/proc/{}/status", child.id()));
    let waited = std::thread::spawn(move || child.wait_with_output());
    let mut peak_kib = 0;
    while !waited.is_finished() {
        // VmHWM: the process's peak resident memory so far (gone once it has exited).
        if let Some(kib) = std::fs::read_to_string(&status).ok().and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        }) {
            peak_kib = kib;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = waited
        .join()
        .map_err(|_| "the wait panicked".to_owned())?
        .map_err(failed)?;
    let time = started.elapsed();
    let printed = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !printed.contains(&format!("{} passed", size.tests)) {
        // The end of what it printed: the summary, and the last failure.
        let tail = |text: &str| {
            let start = (text.len().saturating_sub(3000)..text.len())
                .find(|index| text.is_char_boundary(*index))
                .unwrap_or(0);
            text[start..].to_owned()
        };
        return Err(format!(
            "{} failed:\n{}\n{}",
            executable.display(),
            tail(&printed),
            tail(&String::from_utf8_lossy(&output.stderr))
        ));
    }
    Ok(Run { time, peak_kib })
}

/// Removes the folders `#[sqlx::test]` made its SQLite databases in, under the package's
/// folder (where `cargo test` and nextest run the suites): it deletes each database after
/// its test, but not the folders, nor the `target/sqlx/test-dbs` and `target` above them,
/// which are removed if nothing else is there.
fn remove_sqlx_test_databases() {
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    let databases = target.join("sqlx").join("test-dbs");
    let _ = std::fs::remove_dir_all(databases.join("speed_sqlite_sqlx_test"));
    for empty in [databases.clone(), target.join("sqlx"), target] {
        let _ = std::fs::remove_dir(empty);
    }
}

/// A setting from the environment, or its default.
fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The dialects to measure: those `SPEED_BENCH_DATABASES` names (all by default) whose
/// server answers.
fn dialects(places: &Places) -> Vec<Dialect> {
    let chosen = std::env::var("SPEED_BENCH_DATABASES").unwrap_or_default();
    Dialect::ALL
        .into_iter()
        .filter(|dialect| {
            chosen.is_empty() || chosen.split(',').any(|name| name.trim() == dialect.name())
        })
        .filter(|dialect| {
            let url = match dialect {
                Dialect::Postgres => &places.postgres,
                Dialect::MariaDb => &places.mariadb,
                Dialect::Sqlite => return true,
            };
            match make_databases(*dialect, url) {
                Ok(()) => true,
                Err(reason) => {
                    println!("{} not measured: {reason}", dialect.title());
                    false
                }
            }
        })
        .collect()
}

/// Runs every chosen suite at `size`, `rounds` times, interleaved, into `runs`.
fn measure(
    chosen: &[usize],
    executables: &HashMap<String, PathBuf>,
    places: &Places,
    size: Size,
    rounds: usize,
    runs: &mut Runs,
) -> Result<(), String> {
    for round in 0..rounds {
        eprintln!(
            "{} tests, {} migrations: round {}/{rounds}",
            size.tests,
            size.migrations,
            round + 1
        );
        for &index in chosen {
            let suite = &SUITES[index];
            let mut environment = places.environment(suite.dialect, size);
            environment.extend(
                suite
                    .environment
                    .iter()
                    .map(|(key, value)| (*key, (*value).to_owned())),
            );
            settle(suite.dialect, places)?;
            let run = run_binary(&executables[suite.target], size, &environment)?;
            runs.entry((index, size, false)).or_default().push(run);
            settle(suite.dialect, places)?;
            let filter = prefix(size.tests).map(|prefix| format!("test(/^{prefix}/)"));
            let time =
                under_nextest_matching(suite.target, size.tests, filter.as_deref(), &environment)?;
            runs.entry((index, size, true))
                .or_default()
                .push(Run { time, peak_kib: 0 });
        }
    }
    Ok(())
}

/// The median time of some runs.
fn median_time(runs: &Runs, key: (usize, Size, bool)) -> Option<Duration> {
    runs.get(&key)
        .map(|runs| median(runs.iter().map(|run| run.time).collect()))
}

/// The largest peak memory of some runs, in MiB.
fn peak_mib(runs: &Runs, key: (usize, Size, bool)) -> Option<f64> {
    runs.get(&key)
        .and_then(|runs| runs.iter().map(|run| run.peak_kib).max())
        .map(|kib| kib as f64 / 1024.0)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn ratio(a: Option<Duration>, b: Option<Duration>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{:.1}x", a.as_secs_f64() / b.as_secs_f64()),
        _ => "-".to_owned(),
    }
}

/// The index in `chosen` of `dialect`'s suite of `kind` (the first).
fn index_of(chosen: &[usize], dialect: Dialect, kind: Kind) -> Option<usize> {
    chosen
        .iter()
        .copied()
        .find(|index| SUITES[*index].dialect == dialect && SUITES[*index].kind == kind)
}

fn print_table(chosen: &[usize], runs: &Runs, dialect: Dialect, rounds: usize) {
    let (cargo_target, nextest_target) = dialect.targets();
    println!();
    println!(
        "{}: {} tests, {} migrations, medians of {rounds} rounds",
        dialect.title(),
        MAIN.tests,
        MAIN.migrations
    );
    println!(
        "  {:<32} {:>10} {:>10} {:>20} {:>20}",
        "", "cargo test", "nextest", "vs #[sqlx::test]", "vs hand-rolled"
    );
    println!(
        "  {:<32} {:>10} {:>10} {:>20} {:>20}",
        "", "(ms)", "(ms)", "cargo test/nextest", "cargo test/nextest"
    );
    let sqlx_test = index_of(chosen, dialect, Kind::SqlxTest);
    let baseline = index_of(chosen, dialect, Kind::Baseline);
    let time = |index: Option<usize>, nextest: bool| {
        index.and_then(|index| median_time(runs, (index, MAIN, nextest)))
    };
    for &index in chosen
        .iter()
        .filter(|index| SUITES[**index].dialect == dialect)
    {
        let suite = &SUITES[index];
        let (whole, apart) = (time(Some(index), false), time(Some(index), true));
        let against = |other: Option<usize>, reverse: bool| {
            if other == Some(index) {
                return String::new();
            }
            let (cargo, nextest) = if reverse {
                (
                    ratio(whole, time(other, false)),
                    ratio(apart, time(other, true)),
                )
            } else {
                (
                    ratio(time(other, false), whole),
                    ratio(time(other, true), apart),
                )
            };
            format!("{cargo} / {nextest}")
        };
        println!(
            "  {:<32} {:>10.0} {:>10.0} {:>20} {:>20}",
            suite.what,
            whole.map_or(0.0, ms),
            apart.map_or(0.0, ms),
            against(sqlx_test, false),
            if suite.kind == Kind::SqlxTest {
                String::new()
            } else {
                against(baseline, true)
            },
        );
    }
    let template = if dialect == Dialect::Postgres {
        "; TemplateDatabase >= 15x / 5x"
    } else {
        ""
    };
    println!(
        "  targets: the sandboxed suites >= {cargo_target:.0}x / {nextest_target:.0}x faster than #[sqlx::test]{template}; \
         the sandbox <= 2x the hand-rolled baseline's time under cargo test"
    );
}

fn print_growth(chosen: &[usize], runs: &Runs, dialect: Dialect) {
    println!(
        "  growth ({} tests -> {}, {} migrations -> {}): cargo test / nextest time; peak memory under cargo test",
        MAIN.tests, MORE_TESTS.tests, MAIN.migrations, MORE_MIGRATIONS.migrations
    );
    for &index in chosen
        .iter()
        .filter(|index| SUITES[**index].dialect == dialect)
    {
        let grown = |size: Size| {
            format!(
                "{} / {}",
                ratio(
                    median_time(runs, (index, size, false)),
                    median_time(runs, (index, MAIN, false))
                ),
                ratio(
                    median_time(runs, (index, size, true)),
                    median_time(runs, (index, MAIN, true))
                )
            )
        };
        let memory = match (
            peak_mib(runs, (index, MAIN, false)),
            peak_mib(runs, (index, MORE_TESTS, false)),
        ) {
            (Some(few), Some(many)) => format!("{few:.0} MiB -> {many:.0} MiB"),
            _ => "-".to_owned(),
        };
        println!(
            "  {:<32} tests {:>15}  migrations {:>15}  memory {memory}",
            SUITES[index].what,
            grown(MORE_TESTS),
            grown(MORE_MIGRATIONS),
        );
    }
}

/// What the SQLite images and the PostgreSQL template stock take, after the runs.
fn print_memory(dialects: &[Dialect], places: &Places) -> Result<(), String> {
    println!();
    if dialects.contains(&Dialect::Sqlite) {
        for migrations in [MAIN.migrations, MORE_MIGRATIONS.migrations] {
            let template = places.sqlite.join(format!("sandbox-{migrations}.db"));
            if let Ok(metadata) = std::fs::metadata(&template) {
                println!(
                    "SQLite, {migrations} migrations: the template's image, held once per test process and \
                     copied into each test's in-memory database, is {} KiB",
                    metadata.len() / 1024
                );
            }
        }
    }
    if !dialects.contains(&Dialect::Postgres) {
        return Ok(());
    }
    runtime()?.block_on(async {
        let mut admin = PgConnection::connect(&places.postgres).await.map_err(failed)?;
        for migrations in [MAIN.migrations, MORE_MIGRATIONS.migrations] {
            let (count, bytes): (i64, Option<i64>) = sqlx::query_as(
                "SELECT count(*), sum(pg_database_size(datname))::bigint FROM pg_database \
                 WHERE datname ~ $1",
            )
            .bind(format!("^sandbox_speed_{migrations}_template_[0-9a-f]{{16}}_[0-9a-f]{{8}}$"))
            .fetch_one(&mut admin)
            .await
            .map_err(failed)?;
            println!(
                "PostgreSQL, {migrations} migrations: TemplateDatabase's stock after the runs, {count} databases \
                 of {} MiB in all (one more than the cores, whatever the number of tests)",
                bytes.unwrap_or(0) / (1024 * 1024)
            );
        }
        admin.close().await.map_err(failed)
    })
}

fn main() -> Result<(), String> {
    let rounds = setting("SPEED_BENCH_ROUNDS", 3).max(1);
    let growth_rounds = setting("SPEED_BENCH_GROWTH_ROUNDS", 1);
    let places = Places {
        postgres: std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned()),
        mariadb: std::env::var("MYSQL_DATABASE_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned()),
        sqlite: PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("speed-bench"),
    };
    std::fs::create_dir_all(&places.sqlite).map_err(failed)?;
    remove_sqlx_test_databases(); // an interrupted run's
    let dialects = dialects(&places);
    let chosen: Vec<usize> = (0..SUITES.len())
        .filter(|index| dialects.contains(&SUITES[*index].dialect))
        .collect();
    let mut targets: Vec<&str> = chosen.iter().map(|index| SUITES[*index].target).collect();
    targets.dedup();
    let executables = build_suites(&targets)?;
    let mut runs = Runs::new();
    let mut sizes = vec![MAIN];
    if growth_rounds > 0 {
        sizes.extend([MORE_TESTS, MORE_MIGRATIONS]);
    }
    // Warm-up, once per migration set: templates, migrations, the page cache.
    for size in sizes.iter().filter(|size| size.tests == MAIN.tests) {
        measure(&chosen, &executables, &places, *size, 1, &mut Runs::new())?;
    }
    measure(&chosen, &executables, &places, MAIN, rounds, &mut runs)?;
    for size in &sizes[1..] {
        measure(
            &chosen,
            &executables,
            &places,
            *size,
            growth_rounds,
            &mut runs,
        )?;
    }
    remove_sqlx_test_databases();
    for dialect in &dialects {
        print_table(&chosen, &runs, *dialect, rounds);
        if growth_rounds > 0 {
            print_growth(&chosen, &runs, *dialect);
        }
    }
    print_memory(&dialects, &places)
}
