//! 100 owned tests at once, each installing into one global facade a mockall mock that
//! returns the test's own number: the test's body, its tasks (nested too), its
//! `spawn_blocking` closures and its propagated threads see only that number. Each mock
//! expects an exact number of calls, so a call that reached another test's mock would also
//! fail that test's verification.
//!
//! Like ownership-runtime's `harness_gate.rs`, one `#[test]` starts 100 threads that each
//! call the harness directly, so the concurrency doesn't depend on the runner's threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mockall::automock;
use mockall_bridge::{CallError, Facade, Guard, installable};
use ownership_runtime::callers;
use ownership_runtime::harness::{Flavor, TestConfig, run_async};

#[automock]
pub trait Source: Send + Sync {
    fn value(&self) -> u64;
}
installable!(dyn Source);

/// No default: a call that finds no mock panics, and fails its test.
static SOURCE: Facade<dyn Source> = Facade::new("isolation::SOURCE");

const TESTS: usize = 100;

/// The calls each test makes: body, task, nested task, blocking closure, propagated thread,
/// and two from the body after the others.
const CALLS: usize = 7;

async fn body(value: u64, installed: &AtomicUsize) {
    let mut mock = MockSource::new();
    mock.expect_value().times(CALLS).return_const(value);
    SOURCE.install(mock).unwrap();

    // Wait until every test has installed its mock, so that all 100 are in place at once.
    installed.fetch_add(1, Ordering::SeqCst);
    let waiting = Instant::now();
    while installed.load(Ordering::SeqCst) < TESTS {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "the other tests never installed their mocks"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    let test = callers()[0];
    let mut seen = vec![SOURCE.get().value()];
    let task = tokio::spawn(async {
        tokio::task::yield_now().await;
        let nested = tokio::spawn(async { SOURCE.get().value() }).await.unwrap();
        (SOURCE.get().value(), nested)
    });
    let blocking = tokio::task::spawn_blocking(|| SOURCE.get().value());
    let thread = ownership_runtime::thread::spawn(|| SOURCE.get().value());
    let (in_task, nested) = task.await.unwrap();
    seen.extend([
        in_task,
        nested,
        blocking.await.unwrap(),
        thread.join().unwrap(),
    ]);
    let guard = SOURCE.get();
    assert_eq!(Guard::owner(&guard), Some(test));
    seen.push(guard.value());
    drop(guard);
    seen.push(SOURCE.get().value());

    assert_eq!(seen.len(), CALLS);
    assert!(
        seen.iter().all(|&seen| seen == value),
        "{test} installed {value} but saw {seen:?}"
    );
}

#[test]
fn a_hundred_concurrent_tests_each_see_only_their_own_mock() {
    let installed = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for index in 0..TESTS {
            let installed = &installed;
            scope.spawn(move || {
                let config = if index % 2 == 0 {
                    TestConfig::new("isolation::current_thread")
                } else {
                    TestConfig::new("isolation::multi_thread")
                        .flavor(Flavor::MultiThread)
                        .worker_threads(2)
                };
                run_async(config, move || body(index as u64 + 1, installed));
            });
        }
    });
    assert_eq!(installed.load(Ordering::SeqCst), TESTS);

    // Every test has ended: nobody owns a mock any more, and this thread (which runs for
    // nobody) has no implementation.
    match SOURCE.try_get() {
        Err(CallError::NotOwned { owners, .. }) => assert!(owners.is_empty(), "{owners:?}"),
        other => panic!("expected NotOwned, got {other:?}"),
    }
}
