//! What a test costs with a database: 100 tests, one insert and one select each, on the
//! five migrations in `bench-suites/sandbox/migrations-5` (copied unchanged from the
//! project's shared benchmark data) and on fifty (`migrations-50`: the same five and 45
//! more), as
//!
//! - (a) `#[sqlx::test]`: a database created and migrated per test;
//! - (b) `#[owned_test(sandbox = DB)]`: a transaction per test, rolled back;
//! - (c) owned tests on `TemplateDatabase`: a database per test, copied from a template;
//!
//! run as `cargo test` runs a test binary (one process, the machine's threads; the
//! binary's time), and under `cargo nextest run` (one process per test, as many at once as
//! the machine has cores; the run's time from nextest's summary). Also measured in one
//! process: an owned sandboxed test against its body alone on a plain connection, for the
//! sandbox's overhead per test.
//!
//! Run it with `cargo bench -p ownership-e2e --bench sandbox_overhead` (add
//! `SANDBOX_BENCH=overhead` for the in-process measurement alone, or
//! `SANDBOX_BENCH_SUITES=a5,c5` for some suites alone) against the
//! PostgreSQL server at `DATABASE_URL` (default `postgres://root@127.0.0.1:5432/test`).
//! It makes the databases `sandbox_bench_5` and `sandbox_bench_50` for suite (b).

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use ownership_runtime::harness::{TestConfig, TestResource, run_async};
use sandbox_sqlx::Sandbox;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Postgres};
use support::{build_suites, median, under_nextest};

/// Runs of each suite, whole, for the median.
const WHOLE_RUNS: usize = 3;
/// The databases of suite (b), made by the benchmark.
const BENCH_DATABASES: [&str; 2] = ["sandbox_bench_5", "sandbox_bench_50"];
/// Rounds of the in-process overhead measurement.
const ROUNDS: usize = 10;
/// Owned tests (and bodies) in each round.
const BATCH: usize = 100;

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

/// `url` with its database replaced by `database`.
fn url_of(url: &str, database: &str) -> String {
    let base = url.split('?').next().unwrap_or(url);
    let cut = base.rfind('/').map_or(base.len(), |slash| slash);
    format!("{}/{database}", &base[..cut])
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())
}

/// Lets the server finish what the previous run left it (the per-test databases whose
/// drop the server completes after their process exited), vacuums suite (b)'s databases
/// (every rolled-back insert leaves a dead row, and the server may run without
/// autovacuum), then checkpoints, so that one run's leftover work isn't timed in the next.
fn settle(url: &str) -> Result<(), String> {
    runtime()?.block_on(async {
        let mut admin = PgConnection::connect(url)
            .await
            .map_err(|error| error.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let dropping: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_database WHERE datname LIKE 'sandbox\\_bench%\\_test\\_%'",
            )
            .fetch_one(&mut admin)
            .await
            .map_err(|error| error.to_string())?;
            if dropping == 0 || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for database in BENCH_DATABASES {
            let mut connection = PgConnection::connect(&url_of(url, database))
                .await
                .map_err(|error| error.to_string())?;
            connection
                .execute("VACUUM")
                .await
                .map_err(|error| error.to_string())?;
            let _ = connection.close().await;
        }
        admin
            .execute("CHECKPOINT")
            .await
            .map_err(|error| error.to_string())?;
        Ok(())
    })
}

/// Makes the databases of suite (b) if they don't exist.
fn make_databases(url: &str) -> Result<(), String> {
    runtime()?.block_on(async {
        let mut admin = PgConnection::connect(url)
            .await
            .map_err(|error| format!("no PostgreSQL at {url}: {error}"))?;
        for database in BENCH_DATABASES {
            let exists: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                    .bind(database)
                    .fetch_optional(&mut admin)
                    .await
                    .map_err(|error| error.to_string())?;
            if exists.is_none() {
                sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {database}")))
                    .execute(&mut admin)
                    .await
                    .map_err(|error| error.to_string())?;
            }
        }
        Ok(())
    })
}

/// The environment the suites run with.
type Environment = [(&'static str, String); 3];

/// A command that runs `program` with the suites' environment.
fn command(program: impl AsRef<std::ffi::OsStr>, environment: &Environment) -> Command {
    let mut command = Command::new(program);
    command.envs(
        environment
            .iter()
            .map(|(key, value)| (*key, value.as_str())),
    );
    command
}

/// What one test costs in process, in milliseconds, as the median over the rounds.
struct Overhead {
    /// An owned sandboxed test.
    owned: f64,
    /// Its body alone, on a plain connection.
    plain: f64,
    /// The two, subtracted round by round.
    overhead: f64,
    /// A `BEGIN` and a `ROLLBACK` on the plain connection: what no sandbox by rollback
    /// can do without, and this machine's unit of round trips.
    floor: f64,
    /// An empty owned test.
    empty: f64,
    /// An owned test with a checkout and checkin and no query.
    checkout: f64,
}

/// The sandbox's overhead per test: owned sandboxed tests against their bodies alone.
/// Each round times a batch of each, back to back, so that the server's drifts (its
/// background work, another process's load) hit both alike; the medians over the
/// rounds are reported.
fn overhead_per_test(url: &str) -> Result<Overhead, String> {
    static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("bench-suites/sandbox/migrations-5");
    let database = url_of(url, "sandbox_bench_5");
    let sandbox: &'static Sandbox<Postgres> = Box::leak(Box::new(
        Sandbox::builder("bench-overhead", database.clone())
            .migrations(&MIGRATOR)
            .build()
            .map_err(|error| error.to_string())?,
    ));
    let resources: &'static [&'static dyn TestResource] =
        Box::leak(Box::new([sandbox as &dyn TestResource]));
    let owned_batch = |name: &'static str, round: usize| {
        let started = Instant::now();
        for index in 0..BATCH {
            run_async(TestConfig::new(name).resources(resources), || async move {
                let db = sandbox.pool();
                let slug = format!("owned-{round}-{index}");
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO organizations (name, slug) VALUES ($1, $1) RETURNING id",
                )
                .bind(&slug)
                .fetch_one(&db)
                .await
                .expect("insert");
                let _: String = sqlx::query_scalar("SELECT slug FROM organizations WHERE id = $1")
                    .bind(id)
                    .fetch_one(&db)
                    .await
                    .expect("select");
            });
        }
        started.elapsed() / BATCH as u32
    };
    // The body alone, on a plain connection (autocommit); its rows are removed at the end.
    // Its commits don't wait for the disk: that makes the body cheaper than it is in
    // production (so the overhead measured is, if anything, too high) and keeps the
    // disk's noise out of the comparison.
    let plain_runtime = runtime()?;
    let mut connection = plain_runtime
        .block_on(async {
            let mut connection = PgConnection::connect(&database).await?;
            connection.execute("SET synchronous_commit = off").await?;
            Ok::<_, sqlx::Error>(connection)
        })
        .map_err(|error| error.to_string())?;
    let run = std::process::id();
    let mut plain_batch = |round: usize| {
        plain_runtime.block_on(async {
            let started = Instant::now();
            for index in 0..BATCH {
                let slug = format!("plain-{run}-{round}-{index}");
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO organizations (name, slug) VALUES ($1, $1) RETURNING id",
                )
                .bind(&slug)
                .fetch_one(&mut connection)
                .await
                .map_err(|error| error.to_string())?;
                let _: String = sqlx::query_scalar("SELECT slug FROM organizations WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut connection)
                    .await
                    .map_err(|error| error.to_string())?;
            }
            let body = started.elapsed() / BATCH as u32;
            // The floor: the `BEGIN` and `ROLLBACK` that any sandbox by rollback needs.
            let started = Instant::now();
            for _ in 0..BATCH {
                for statement in ["BEGIN", "ROLLBACK"] {
                    connection
                        .execute(statement)
                        .await
                        .map_err(|error| error.to_string())?;
                }
            }
            Ok::<_, String>((body, started.elapsed() / BATCH as u32))
        })
    };
    // Warm up: migrations, the pool's first connections, prepared statements.
    owned_batch("bench::warm_up", ROUNDS);
    plain_batch(ROUNDS)?;
    let (mut owned, mut plain, mut overhead, mut floor) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let owned_here = owned_batch("bench::owned", round);
        let (plain_here, floor_here) = plain_batch(round)?;
        owned.push(owned_here);
        plain.push(plain_here);
        overhead.push(owned_here.saturating_sub(plain_here));
        floor.push(floor_here);
    }
    plain_runtime
        .block_on(
            sqlx::query("DELETE FROM organizations WHERE slug LIKE $1")
                .bind(format!("plain-{run}-%"))
                .execute(&mut connection),
        )
        .map_err(|error| error.to_string())?;
    // Where the time goes: the harness alone, and a checkout and checkin with no query.
    let timed = |name: &'static str, resources: &'static [&'static dyn TestResource]| {
        let started = Instant::now();
        for _ in 0..BATCH * ROUNDS {
            run_async(TestConfig::new(name).resources(resources), || async {});
        }
        ms(started.elapsed() / (BATCH * ROUNDS) as u32)
    };
    let empty = timed("bench::empty", &[]);
    let checkout = timed("bench::checkout", resources);
    Ok(Overhead {
        owned: ms(median(owned)),
        plain: ms(median(plain)),
        overhead: ms(median(overhead)),
        floor: ms(median(floor)),
        empty,
        checkout,
    })
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn main() -> Result<(), String> {
    let url = database_url();
    make_databases(&url)?;
    if std::env::var("SANDBOX_BENCH").as_deref() == Ok("overhead") {
        // Only the in-process measurement (seconds instead of minutes).
        return print_overhead(&url);
    }
    let suites = ["5", "50"]
        .iter()
        .flat_map(|migrations| {
            ["a", "b", "c"].map(|kind| format!("bench_sandbox_{kind}{migrations}"))
        })
        .filter(|suite| chosen(suite))
        .collect::<Vec<_>>();
    let names: Vec<&str> = suites.iter().map(String::as_str).collect();
    let executables = build_suites(&names)?;
    let environment: Environment = [
        ("DATABASE_URL", url.clone()),
        ("SANDBOX_BENCH_URL_5", url_of(&url, "sandbox_bench_5")),
        ("SANDBOX_BENCH_URL_50", url_of(&url, "sandbox_bench_50")),
    ];
    let mut whole = std::collections::HashMap::new();
    let mut per_process = std::collections::HashMap::new();
    for suite in &suites {
        let executable: &PathBuf = &executables[suite];
        let run_whole = || -> Result<Duration, String> {
            let started = Instant::now();
            let output = command(executable, &environment)
                .arg("--quiet")
                .output()
                .map_err(|error| error.to_string())?;
            if !output.status.success()
                || !String::from_utf8_lossy(&output.stdout).contains("100 passed")
            {
                return Err(format!(
                    "{suite} failed:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            Ok(started.elapsed())
        };
        run_whole()?; // warm-up: templates, migrations
        let times = (0..WHOLE_RUNS)
            .map(|_| settle(&url).and_then(|()| run_whole()))
            .collect::<Result<Vec<_>, _>>()?;
        whole.insert(suite.clone(), median(times));
        let times = (0..WHOLE_RUNS)
            .map(|_| settle(&url).and_then(|()| under_nextest(suite, 100, &environment)))
            .collect::<Result<Vec<_>, _>>()?;
        per_process.insert(suite.clone(), median(times));
    }
    println!("100 tests, one insert and one select each, PostgreSQL at {url}");
    println!(
        "{:<44} {:>12} {:>16}",
        "", "cargo test (ms)", "nextest (ms)"
    );
    for migrations in ["5", "50"] {
        for (kind, what) in [
            ("a", "#[sqlx::test]"),
            ("b", "owned + sandbox"),
            ("c", "owned + TemplateDatabase"),
        ] {
            let suite = format!("bench_sandbox_{kind}{migrations}");
            if !whole.contains_key(&suite) {
                continue;
            }
            println!(
                "  ({kind}) {what:<26} {migrations:>2} migrations {:>12.0} {:>16.0}",
                ms(whole[&suite]),
                ms(per_process[&suite])
            );
        }
    }
    if suites.len() < 6 {
        // Ratios need every suite.
        return Ok(());
    }
    let ratio = |a: &str, b: &str, table: &std::collections::HashMap<String, Duration>| {
        table[a].as_secs_f64() / table[b].as_secs_f64()
    };
    println!("ratios:");
    for migrations in ["5", "50"] {
        let (a, b, c) = (
            format!("bench_sandbox_a{migrations}"),
            format!("bench_sandbox_b{migrations}"),
            format!("bench_sandbox_c{migrations}"),
        );
        println!(
            "  {migrations:>2} migrations: (a)/(b) cargo test {:.1}x (target >= 100x), nextest {:.1}x (target >= 15x); (a)/(c) cargo test {:.1}x, nextest {:.1}x (target > 1x)",
            ratio(&a, &b, &whole),
            ratio(&a, &b, &per_process),
            ratio(&a, &c, &whole),
            ratio(&a, &c, &per_process),
        );
    }
    println!(
        "  growth from 5 to 50 migrations: (a) {:.2}x, (b) {:.2}x, (c) {:.2}x (target: (c) flat)",
        ratio("bench_sandbox_a50", "bench_sandbox_a5", &whole),
        ratio("bench_sandbox_b50", "bench_sandbox_b5", &whole),
        ratio("bench_sandbox_c50", "bench_sandbox_c5", &whole),
    );
    print_overhead(&url)
}

/// Whether `SANDBOX_BENCH_SUITES` (e.g. `a5,c5`; all when unset) chooses `suite`.
fn chosen(suite: &str) -> bool {
    let Ok(chosen) = std::env::var("SANDBOX_BENCH_SUITES") else {
        return true;
    };
    chosen
        .split(',')
        .any(|short| suite == format!("bench_sandbox_{}", short.trim()))
}

fn print_overhead(url: &str) -> Result<(), String> {
    settle(url)?;
    let Overhead {
        owned,
        plain,
        overhead,
        floor,
        empty,
        checkout,
    } = overhead_per_test(url)?;
    println!(
        "in one process, {ROUNDS} rounds of {BATCH} tests, medians: owned sandboxed test {owned:.3} ms, its body alone {plain:.3} ms: overhead {overhead:.3} ms per test"
    );
    // The target, 0.15 ms where the floor is 0.05 ms, as a ratio that holds on any machine.
    println!(
        "  the BEGIN/ROLLBACK floor {floor:.3} ms: overhead / floor {:.2}x (target <= 3x: 0.15 ms over a 0.05 ms floor)",
        overhead / floor
    );
    println!("  (an empty owned test {empty:.3} ms; with a checkout and checkin {checkout:.3} ms)");
    Ok(())
}
