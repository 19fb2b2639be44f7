//! What the benchmark drivers share: building test suites in release mode and timing runs
//! of their executables.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Builds the `ownership-e2e` test targets `suites` in release mode and returns each one's
/// executable.
pub fn build_suites(suites: &[&str]) -> Result<HashMap<String, PathBuf>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.args([
        "test",
        "-p",
        "ownership-e2e",
        "--release",
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
