//! What a test costs on SQLite: 100 tests, one insert and one select each, on the five
//! benchmark migrations in SQLite's dialect (`bench-suites/sandbox/migrations-sqlite-5`,
//! translated from `migrations-5`), as
//!
//! - (a) `#[sqlx::test]` (`sqlite_sqlx.rs`): a database file created and migrated per
//!   test;
//! - (b) `#[owned_test(sandbox = DB)]` (`sqlite_sandbox.rs`): a template migrated once per
//!   run, each test on a copy of it in memory;
//! - (d) the drop-in (`sqlite_dropin.rs`): suite (a) with only its attribute changed to
//!   `#[owned_test]`, `pool: SqlitePool` on a copy in memory;
//!
//! run as `cargo test` runs a test binary (one process, the machine's threads; the
//! binary's time), and under `cargo nextest run` (one process per test, as many at once as
//! the machine has cores; the run's time from nextest's summary), interleaved round by
//! round so that the machine's drifts hit every suite alike. It prints the medians (and
//! the fastest and slowest round) and the ratios against (a), with the targets: at least
//! 30x under `cargo test` and 5x under nextest. No server is needed.
//!
//! Run it with `cargo bench -p ownership-e2e --bench sqlite_overhead` (`SQLITE_BENCH_ROUNDS`
//! sets the rounds, 5 by default). Its files go to the package's `target/tmp/sqlite-bench`.

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{build_suites, median, under_nextest};

/// The tests of each suite.
const TESTS: usize = 100;
/// The suites, and what each measures.
const SUITES: [(&str, &str); 3] = [
    ("bench_sqlite_sqlx", "(a) #[sqlx::test]"),
    ("bench_sqlite_sandbox", "(b) owned + sandbox"),
    ("bench_sqlite_dropin", "(d) owned drop-in (pool)"),
];

/// The folder of the suites' templates (and of `DATABASE_URL`'s file, beside which the
/// drop-in's default sandbox keeps its template).
fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sqlite-bench")
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The median, fastest and slowest of some times, in milliseconds.
fn spread(times: &[Duration]) -> (f64, f64, f64) {
    let fastest = times.iter().min().copied().unwrap_or_default();
    let slowest = times.iter().max().copied().unwrap_or_default();
    (ms(median(times.to_vec())), ms(fastest), ms(slowest))
}

/// Removes the folders `#[sqlx::test]` made its databases in, under the package's
/// folder (where `cargo test` and nextest run the suites): it deletes each database after
/// its test, but not the folders, `target/sqlx/test-dbs/bench_sqlite_sqlx/..`, nor the
/// `target/sqlx/test-dbs` and `target` above them, which are removed if nothing else is
/// there.
fn remove_sqlx_test_databases() {
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    let databases = target.join("sqlx").join("test-dbs");
    let _ = std::fs::remove_dir_all(databases.join(SUITES[0].0));
    for empty in [databases.clone(), target.join("sqlx"), target] {
        let _ = std::fs::remove_dir(empty);
    }
}

fn main() -> Result<(), String> {
    let rounds: usize = std::env::var("SQLITE_BENCH_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(5);
    let folder = folder();
    std::fs::create_dir_all(&folder).map_err(|error| error.to_string())?;
    let environment = [
        (
            "DATABASE_URL",
            format!("sqlite://{}", folder.join("app.db").display()),
        ),
        (
            "SANDBOX_BENCH_SQLITE_URL",
            format!("sqlite://{}", folder.join("sandbox.db").display()),
        ),
    ];
    remove_sqlx_test_databases(); // an interrupted run's
    let names: Vec<&str> = SUITES.iter().map(|(suite, _)| *suite).collect();
    let executables = build_suites(&names)?;
    let run_binary = |suite: &str| -> Result<Duration, String> {
        let started = Instant::now();
        let output = Command::new(&executables[suite])
            .envs(
                environment
                    .iter()
                    .map(|(key, value)| (*key, value.as_str())),
            )
            .arg("--quiet")
            .output()
            .map_err(|error| error.to_string())?;
        let elapsed = started.elapsed();
        let printed = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() || !printed.contains(&format!("{TESTS} passed")) {
            return Err(format!(
                "{suite} failed:\n{printed}\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(elapsed)
    };
    // Warm-up: the templates, made once per run, and the page cache.
    for suite in names.iter().copied() {
        run_binary(suite)?;
    }
    let mut in_process: HashMap<&str, Vec<Duration>> = HashMap::new();
    let mut per_process: HashMap<&str, Vec<Duration>> = HashMap::new();
    for _ in 0..rounds {
        for suite in names.iter().copied() {
            in_process
                .entry(suite)
                .or_default()
                .push(run_binary(suite)?);
            per_process
                .entry(suite)
                .or_default()
                .push(under_nextest(suite, TESTS, &environment)?);
        }
    }
    println!(
        "{TESTS} tests, one insert and one select each, SQLite (5 migrations); medians of {rounds} rounds [fastest-slowest]"
    );
    println!(
        "{:<30} {:>26} {:>26}",
        "", "cargo test (ms)", "nextest (ms)"
    );
    for (suite, what) in SUITES {
        let (whole, whole_min, whole_max) = spread(&in_process[suite]);
        let (nextest, nextest_min, nextest_max) = spread(&per_process[suite]);
        println!(
            "  {what:<28} {whole:>10.0} [{whole_min:>5.0}-{whole_max:>5.0}] {nextest:>12.0} [{nextest_min:>5.0}-{nextest_max:>5.0}]"
        );
    }
    let ratio = |table: &HashMap<&str, Vec<Duration>>, a: &str, b: &str| {
        median(table[a].clone()).as_secs_f64() / median(table[b].clone()).as_secs_f64()
    };
    remove_sqlx_test_databases();
    println!("ratios against (a) #[sqlx::test] on SQLite:");
    for (suite, what) in &SUITES[1..] {
        println!(
            "  (a)/{}: cargo test {:.1}x (target >= 30x), nextest {:.1}x (target >= 5x)",
            &what[..3],
            ratio(&in_process, SUITES[0].0, suite),
            ratio(&per_process, SUITES[0].0, suite),
        );
    }
    Ok(())
}
