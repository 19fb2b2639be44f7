//! What the benchmark drivers share: building test suites in release mode and timing runs
//! of their executables.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Builds the `ownership-e2e` test targets `suites` in release mode and returns each one's
/// executable.
#[allow(dead_code, reason = "not every driver uses it")]
pub fn build_suites(suites: &[&str]) -> Result<HashMap<String, PathBuf>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.args([
        "test",
        "-p",
        "ownership-e2e",
        "--release",
        "--features",
        "sqlx-suite",
        "--no-run",
        "--message-format=json",
    ]);
    for suite in suites {
        command.args(["--test", suite]);
    }
    let output = command
        .output()
        .map_err(|error| format!("could not run cargo: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the suites failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let mut executables = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let (Some(name), Some(executable)) = (
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) && suites.contains(&name)
        {
            executables.insert(name.to_owned(), PathBuf::from(executable));
        }
    }
    if executables.len() != suites.len() {
        return Err(format!(
            "cargo reported {} of the {} suites' executables",
            executables.len(),
            suites.len()
        ));
    }
    Ok(executables)
}

#[allow(dead_code, reason = "not every driver uses it")]
/// Runs `executable` with `args`, checking that it printed `expect`; returns how long it
/// took.
pub fn timed_run(executable: &Path, args: &[&str], expect: &str) -> Result<Duration, String> {
    let started = Instant::now();
    let output = Command::new(executable)
        .args(args)
        .output()
        .map_err(|error| format!("could not run {}: {error}", executable.display()))?;
    let elapsed = started.elapsed();
    let printed = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !printed.contains(expect) {
        return Err(format!(
            "{} {args:?} failed:\n{printed}\n{}",
            executable.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(elapsed)
}

/// The median of some durations.
pub fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Runs the `ownership-e2e` test target `suite` (built already: nextest's build step finds
/// nothing to do) under `cargo nextest run --release`, one process per test, as many at
/// once as the machine has cores, with `environment`; checks that its `tests` tests all
/// passed and returns the run's time as nextest reports it in its summary.
#[allow(dead_code, reason = "not every driver uses it")]
pub fn under_nextest(
    suite: &str,
    tests: usize,
    environment: &[(&str, String)],
) -> Result<Duration, String> {
    under_nextest_matching(suite, tests, None, environment)
}

/// [`under_nextest`], for the tests that nextest's filter expression `filter` chooses (all
/// where `None`).
#[allow(dead_code, reason = "not every driver uses it")]
pub fn under_nextest_matching(
    suite: &str,
    tests: usize,
    filter: Option<&str>,
    environment: &[(&str, String)],
) -> Result<Duration, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .envs(
            environment
                .iter()
                .map(|(key, value)| (*key, value.as_str())),
        )
        .args([
            "nextest",
            "run",
            "-p",
            "ownership-e2e",
            "--release",
            "--features",
            "sqlx-suite",
            "--test",
            suite,
        ])
        .args(["--no-fail-fast", "--color", "never"]);
    if let Some(filter) = filter {
        command.args(["-E", filter]);
    }
    let output = command
        .output()
        .map_err(|error| format!("could not run cargo nextest: {error}"))?;
    let report = String::from_utf8_lossy(&output.stderr);
    let passed = format!("{tests} tests run: {tests} passed");
    let summary = report
        .lines()
        .find(|line| line.trim_start().starts_with("Summary ["))
        .filter(|line| line.contains(&passed));
    let seconds = summary
        .and_then(|line| line.split('[').nth(1))
        .and_then(|rest| rest.split(']').next())
        .and_then(|time| time.trim().trim_end_matches('s').parse::<f64>().ok());
    match seconds {
        Some(seconds) if output.status.success() => Ok(Duration::from_secs_f64(seconds)),
        _ => Err(format!("{suite} under nextest failed:\n{report}")),
    }
}
