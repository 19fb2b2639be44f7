//! What `#[owned_test]` costs over `#[tokio::test]`: two test binaries of 1,000 empty
//! tests each, built in release mode and run whole, alternately, several times; prints
//! the median wall time of each and their ratio (target: at most 1.2x).
//!
//! Run it with `cargo bench -p ownership-e2e --bench harness_overhead`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// How many times each suite runs.
const ROUNDS: usize = 15;

/// Builds the two suites and returns their executables: (owned, tokio).
fn build_suites() -> Result<(PathBuf, PathBuf), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "test",
            "-p",
            "ownership-e2e",
            "--release",
            "--no-run",
            "--message-format=json",
            "--test",
            "bench_owned_1000",
            "--test",
            "bench_tokio_1000",
        ])
        .output()
        .map_err(|error| format!("could not run cargo: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the suites failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let mut owned = None;
    let mut tokio = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let name = message["target"]["name"].as_str();
        let executable = message["executable"].as_str().map(PathBuf::from);
        match (name, executable) {
            (Some("bench_owned_1000"), Some(path)) => owned = Some(path),
            (Some("bench_tokio_1000"), Some(path)) => tokio = Some(path),
            _ => {}
        }
    }
    owned
        .zip(tokio)
        .ok_or_else(|| "cargo did not report the suites' executables".to_owned())
}

/// Runs a suite whole, checking that all 1,000 tests passed.
fn run_suite(executable: &PathBuf) -> Result<Duration, String> {
    let started = Instant::now();
    let output = Command::new(executable)
        .arg("--quiet")
        .output()
        .map_err(|error| format!("could not run {}: {error}", executable.display()))?;
    let elapsed = started.elapsed();
    let printed = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !printed.contains("1000 passed") {
        return Err(format!("{} failed:\n{printed}", executable.display()));
    }
    Ok(elapsed)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() -> Result<(), String> {
    // `cargo bench` passes `--bench`; this benchmark takes no options.
    let (owned, tokio) = build_suites()?;
    let (mut owned_times, mut tokio_times) = (Vec::new(), Vec::new());
    // One warm-up run each, then alternate so that machine noise hits both alike.
    run_suite(&owned)?;
    run_suite(&tokio)?;
    for _ in 0..ROUNDS {
        owned_times.push(run_suite(&owned)?);
        tokio_times.push(run_suite(&tokio)?);
    }
    let (owned_median, tokio_median) = (median(owned_times), median(tokio_times));
    println!("1,000 empty tests, run whole, median of {ROUNDS} runs each:");
    println!("  #[tokio::test]: {tokio_median:?}");
    println!("  #[owned_test]:  {owned_median:?}");
    println!(
        "  ratio owned/tokio: {:.3}x (target <= 1.2x)",
        owned_median.as_secs_f64() / tokio_median.as_secs_f64()
    );
    Ok(())
}
