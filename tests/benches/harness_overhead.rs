//! What `#[owned_test]` costs over `#[tokio::test]`: two test binaries of 1,000 empty
//! tests each, built in release mode and run whole, alternately, several times; prints
//! the median wall time of each and their ratio (target: at most 1.2x).
//!
//! Run it with `cargo bench -p ownership-e2e --bench harness_overhead`.

use std::path::PathBuf;

/// How many times each suite runs.
const ROUNDS: usize = 15;

mod support;

use support::{build_suites, median, timed_run};

fn main() -> Result<(), String> {
    // `cargo bench` passes `--bench`; this benchmark takes no options.
    let suites = build_suites(&["bench_owned_1000", "bench_tokio_1000"])?;
    let (owned, tokio) = (&suites["bench_owned_1000"], &suites["bench_tokio_1000"]);
    let run_suite = |executable: &PathBuf| timed_run(executable, &["--quiet"], "1000 passed");
    let (mut owned_times, mut tokio_times) = (Vec::new(), Vec::new());
    // One warm-up run each, then alternate so that machine noise hits both alike.
    run_suite(owned)?;
    run_suite(tokio)?;
    for _ in 0..ROUNDS {
        owned_times.push(run_suite(owned)?);
        tokio_times.push(run_suite(tokio)?);
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
