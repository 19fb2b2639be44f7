//! The shared-mode gate: 20 owned tests start at once, one of them shared; the recorded
//! intervals prove that the shared one ran alone while the private ones overlapped.

use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use ownership_runtime::harness::{TestConfig, run_async};

/// When each test's body ran.
static INTERVALS: Mutex<Vec<(bool, Instant, Instant)>> = Mutex::new(Vec::new());

async fn body(shared: bool) {
    let start = Instant::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    INTERVALS
        .lock()
        .unwrap()
        .push((shared, start, Instant::now()));
}

#[test]
fn a_shared_test_never_overlaps_another_owned_test() {
    const TESTS: usize = 20;
    const SHARED: usize = 7;
    let start_together = Barrier::new(TESTS);
    std::thread::scope(|scope| {
        for index in 0..TESTS {
            let start_together = &start_together;
            scope.spawn(move || {
                let shared = index == SHARED;
                start_together.wait();
                // Stagger a little, so that private tests are running when the shared
                // one arrives, and others arrive while it runs.
                std::thread::sleep(Duration::from_millis(index as u64 * 5));
                let config = TestConfig::new("harness_gate::body").shared(shared);
                run_async(config, move || body(shared));
            });
        }
    });

    let intervals = INTERVALS.lock().unwrap().clone();
    assert_eq!(intervals.len(), TESTS);
    let (_, shared_start, shared_end) = *intervals.iter().find(|(shared, ..)| *shared).unwrap();
    for &(shared, start, end) in &intervals {
        if !shared {
            assert!(
                end <= shared_start || start >= shared_end,
                "a private test ran while the shared test did"
            );
        }
    }
    // The private tests did run concurrently with each other: the gate serializes only
    // the shared test.
    let private: Vec<_> = intervals.iter().filter(|(shared, ..)| !shared).collect();
    let overlapping = private
        .iter()
        .enumerate()
        .any(|(i, a)| private[i + 1..].iter().any(|b| a.1 < b.2 && b.1 < a.2));
    assert!(overlapping, "private tests should overlap each other");
}
