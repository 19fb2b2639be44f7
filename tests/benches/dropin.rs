//! The drop-in's speed: the same 100 tests of the tracker app (`dropin/app.rs`, code typed
//! `&PgPool`), on the five migrations of `bench-suites/sandbox/migrations-5` (copied
//! unchanged from the project's shared benchmark data), written with `#[sqlx::test]`
//! (`dropin/sqlx_suite.rs`: a database created and migrated per test) and converted by
//! changing only the attribute and its import (`dropin/owned_suite.rs`: a transaction per
//! test on a pooled connection, rolled back).
//!
//! Each suite runs as `cargo test` runs a test binary (one process, the machine's
//! threads; the binary's time) and under `cargo nextest run` (one process per test, as
//! many at once as the machine has cores; the run's time from nextest's summary),
//! interleaved round by round so that the server's drifts hit both alike. It prints the
//! medians and their ratios, against the targets: at least 50x under `cargo test` and
//! 20x under nextest.
//!
//! Run it with `cargo bench -p ownership-e2e --bench dropin` against the PostgreSQL
//! server at `DATABASE_URL` (default `postgres://root@127.0.0.1:5432/test`).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{build_suites, median, under_nextest};

/// Rounds of each measurement, for the medians.
const ROUNDS: usize = 3;
/// The tests of each suite.
const TESTS: usize = 100;
/// The two suites: `#[sqlx::test]` and its conversion.
const SUITES: [&str; 2] = ["dropin_sqlx", "dropin_owned"];

fn main() -> Result<(), String> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned());
    let environment = [("DATABASE_URL", url.clone())];
    let executables = build_suites(&SUITES)?;
    let run_binary = |suite: &str| -> Result<Duration, String> {
        let started = Instant::now();
        let output = Command::new(&executables[suite])
            .env("DATABASE_URL", &url)
            .arg("--quiet")
            .output()
            .map_err(|error| error.to_string())?;
        let printed = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() || !printed.contains(&format!("{TESTS} passed")) {
            return Err(format!(
                "{suite} failed:\n{printed}\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(started.elapsed())
    };
    // Warm-up: the sandbox's database and its migrations, made once per run.
    for suite in SUITES {
        run_binary(suite)?;
    }
    let mut in_process: [Vec<Duration>; 2] = Default::default();
    let mut per_process: [Vec<Duration>; 2] = Default::default();
    for _ in 0..ROUNDS {
        for (index, suite) in SUITES.iter().enumerate() {
            in_process[index].push(run_binary(suite)?);
            per_process[index].push(under_nextest(suite, TESTS, &environment)?);
        }
    }
    let [sqlx_whole, owned_whole] = in_process.map(median);
    let [sqlx_nextest, owned_nextest] = per_process.map(median);
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "{TESTS} tests of the tracker app, 5 migrations, PostgreSQL at {url}; medians of {ROUNDS} rounds"
    );
    println!(
        "{:<34} {:>16} {:>14}",
        "", "cargo test (ms)", "nextest (ms)"
    );
    println!(
        "  {:<32} {:>16.0} {:>14.0}",
        "#[sqlx::test]",
        ms(sqlx_whole),
        ms(sqlx_nextest)
    );
    println!(
        "  {:<32} {:>16.0} {:>14.0}",
        "#[owned_test] (the drop-in)",
        ms(owned_whole),
        ms(owned_nextest)
    );
    println!(
        "ratios: cargo test {:.1}x (target >= 50x), nextest {:.1}x (target >= 20x)",
        ratio(sqlx_whole, owned_whole),
        ratio(sqlx_nextest, owned_nextest)
    );
    Ok(())
}
