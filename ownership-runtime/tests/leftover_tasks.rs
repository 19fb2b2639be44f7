//! Tasks a test leaves running, judged with every core of the machine busy for the whole
//! test (its grace included): a task or blocking closure that ends shortly after the body
//! passes; one that never ends fails the test, or is cancelled with a note under
//! `leftover_tasks = "cancel"`.
//!
//! The `fixture_*` tests fail (or print) on purpose and are `#[ignore]`d; the `report_*`
//! tests run them in a subprocess of this binary and read what they printed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ownership_e2e::fixtures::{assert_in_order, run_fixture, run_this_binary};
use ownership_e2e::load::busy_every_core_while;
use ownership_runtime::harness::{Flavor, TestConfig, run_async};
use ownership_runtime::{callers, owned_test};

/// Keeps every core busy until the running test's actor ends: after its body, its grace
/// and its runtime's shutdown.
fn load_every_core_while_the_test_runs() {
    let test = *callers().first().expect("runs inside an owned test");
    busy_every_core_while(move || test.is_alive());
}

/// Some work for the CPU, the same amount on every machine.
fn some_work() -> u64 {
    (0..2_000_000_u64).fold(0, |sum, step| {
        std::hint::black_box(sum.wrapping_mul(31).wrapping_add(step))
    })
}

/// How long after the body a task "ending shortly after it" ends on an idle machine: much
/// longer than the harness used to wait, much shorter than its grace.
const SHORTLY: Duration = Duration::from_millis(200);

/// Runs a test whose body starts, with every core busy, something that ends a little
/// after the body (`start` spawns it and gives it the flag to set when it is done), and
/// checks that the test passed and that what it started ran to its end, not cancelled.
fn passes_and_its_task_ends(config: TestConfig, start: fn(Arc<AtomicBool>)) {
    let ended = Arc::new(AtomicBool::new(false));
    let flag = ended.clone();
    run_async(config, || async move {
        load_every_core_while_the_test_runs();
        start(flag);
    });
    assert!(
        ended.load(Ordering::SeqCst),
        "the test passed, but what it started was cut short"
    );
}

/// Spawns a task that sleeps for `sleep` (on the runtime's clock), works a little, and
/// sets `ended`.
fn spawn_ending_after(sleep: Duration, ended: Arc<AtomicBool>) {
    tokio::spawn(async move {
        tokio::time::sleep(sleep).await;
        std::hint::black_box(some_work());
        ended.store(true, Ordering::SeqCst);
    });
}

#[test]
fn a_task_that_ends_shortly_after_the_body_passes_with_the_cpus_busy() {
    let config = TestConfig::new("leftover_tasks::ends_shortly");
    passes_and_its_task_ends(config, |ended| {
        spawn_ending_after(SHORTLY, ended);
    });
}

#[test]
fn a_task_that_ends_shortly_after_the_body_passes_on_a_multi_thread_runtime_with_the_cpus_busy() {
    let config = TestConfig::new("leftover_tasks::ends_shortly_on_workers")
        .flavor(Flavor::MultiThread)
        .worker_threads(2);
    passes_and_its_task_ends(config, |ended| {
        for _ in 0..8 {
            tokio::spawn(async { std::hint::black_box(some_work()) });
        }
        spawn_ending_after(SHORTLY, ended);
    });
}

#[test]
fn a_blocking_closure_that_ends_shortly_after_the_body_passes_with_the_cpus_busy() {
    let config = TestConfig::new("leftover_tasks::blocking_ends_shortly");
    passes_and_its_task_ends(config, |ended| {
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(SHORTLY);
            std::hint::black_box(some_work());
            ended.store(true, Ordering::SeqCst);
        });
    });
}

#[test]
fn under_a_paused_clock_the_grace_is_real_time_and_the_paused_clock_still_advances() {
    // An hour of the paused clock passes in no time once the runtime is idle; a grace
    // counted on that clock would have run out first.
    let config = TestConfig::new("leftover_tasks::paused").start_paused(true);
    passes_and_its_task_ends(config, |ended| {
        spawn_ending_after(Duration::from_secs(3600), ended);
    });
}

// ---- fixtures: each fails, or prints a note, on purpose ----

#[owned_test]
#[ignore = "fixture: run by the report tests in a subprocess"]
async fn fixture_a_task_never_ends() {
    load_every_core_while_the_test_runs();
    tokio::spawn(std::future::pending::<()>());
}

#[owned_test(flavor = "multi_thread", worker_threads = 2, leftover_grace = "300ms")]
#[ignore = "fixture: run by the report tests in a subprocess"]
async fn fixture_two_tasks_never_end_on_workers() {
    load_every_core_while_the_test_runs();
    for _ in 0..2 {
        tokio::spawn(async {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }
}

#[owned_test(start_paused = true)]
#[ignore = "fixture: run by the report tests in a subprocess"]
async fn fixture_a_poller_never_ends_under_a_paused_clock() {
    load_every_core_while_the_test_runs();
    tokio::spawn(async {
        let mut every_second = tokio::time::interval(Duration::from_secs(1));
        loop {
            every_second.tick().await;
        }
    });
}

#[owned_test]
#[ignore = "fixture: run by the report tests in a subprocess"]
async fn fixture_a_blocking_closure_never_ends() {
    load_every_core_while_the_test_runs();
    // Bounded, so that nothing waits for it forever: the process ends long before.
    tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_secs(120)));
}

#[owned_test(timeout = "200ms")]
#[ignore = "fixture: run by the report tests in a subprocess"]
async fn fixture_times_out_with_a_task_running() {
    tokio::spawn(std::future::pending::<()>());
    std::future::pending::<()>().await;
}

#[owned_test(leftover_tasks = "cancel")]
#[ignore = "fixture: run by the report tests in a subprocess"]
async fn fixture_leaves_a_server_and_a_poller_running() {
    load_every_core_while_the_test_runs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((connection, _)) = listener.accept().await {
            drop(connection);
        }
    });
    tokio::spawn(async {
        let mut every_10ms = tokio::time::interval(Duration::from_millis(10));
        loop {
            every_10ms.tick().await;
        }
    });
    // The server serves.
    tokio::net::TcpStream::connect(address).await.unwrap();
}

// ---- the report tests ----

/// Runs `fixture` in a subprocess and checks that its report lists `problems` problems,
/// and no more, with `parts` in this order after its first line.
fn assert_report(fixture: &str, problems: usize, parts: &[&str]) {
    let printed = run_fixture(fixture);
    let first_line = format!("owned test `leftover_tasks::{fixture}` failed:");
    let in_order: Vec<&str> = std::iter::once(first_line.as_str())
        .chain(parts.iter().copied())
        .collect();
    assert_in_order(&printed, &in_order);
    let one_more = format!("  {}. ", problems + 1);
    assert!(!printed.contains(&one_more), "{printed}");
}

#[test]
fn report_a_task_that_never_ends_fails_the_test_after_the_grace_with_the_cpus_busy() {
    assert_report(
        "fixture_a_task_never_ends",
        1,
        &[
            "1. 1 task(s) spawned on the test's runtime (by the test or the code it called) were \
             still running 1s after it ended, and were cancelled; await them",
            "`leftover_tasks = \"cancel\"`",
            "`leftover_grace`",
        ],
    );
}

#[test]
fn report_tasks_that_never_end_on_workers_fail_the_test_after_its_own_grace() {
    assert_report(
        "fixture_two_tasks_never_end_on_workers",
        1,
        &[
            "1. 2 task(s) spawned on the test's runtime",
            "were still running 300ms after it ended, and were cancelled",
        ],
    );
}

#[test]
fn report_a_poller_under_a_paused_clock_fails_the_test_after_a_grace_of_real_time() {
    assert_report(
        "fixture_a_poller_never_ends_under_a_paused_clock",
        1,
        &[
            "1. 1 task(s) spawned on the test's runtime",
            "were still running 1s after it ended, and were cancelled",
        ],
    );
}

#[test]
fn report_a_blocking_closure_that_never_ends_fails_the_test_and_is_left_running() {
    assert_report(
        "fixture_a_blocking_closure_never_ends",
        1,
        &[
            "1. 1 thread(s) of the test's runtime were still busy 1s after it ended (a \
           `spawn_blocking` closure, or a task that blocks its thread instead of awaiting), \
           and were left running: tokio can't cancel them",
        ],
    );
}

#[test]
fn report_the_grace_never_runs_past_the_timeout() {
    assert_report(
        "fixture_times_out_with_a_task_running",
        2,
        &[
            "1. the test timed out after 200ms",
            "2. 1 task(s) spawned on the test's runtime",
            "were still running when it ended, and were cancelled",
        ],
    );
}

#[test]
fn a_test_that_cancels_its_leftover_tasks_passes_and_notes_them_on_stderr() {
    let name = "fixture_leaves_a_server_and_a_poller_running";
    let (passed, printed) = run_this_binary(&[
        "--ignored",
        "--exact",
        name,
        "--nocapture",
        "--test-threads=1",
    ]);
    assert!(passed, "the test must pass:\n{printed}");
    assert!(printed.contains("1 passed"), "{printed}");
    assert!(
        printed.contains(
            "note: owned test `leftover_tasks::fixture_leaves_a_server_and_a_poller_running` left \
             2 task(s) running when it ended; they were cancelled (its option \
             `leftover_tasks = \"cancel\"`)"
        ),
        "{printed}"
    );
}
