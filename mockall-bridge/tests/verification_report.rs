//! Unmet expectations fail the test that set them, with mockall's verdict in the test's
//! report, read from real test runs.
//!
//! The `fixture_*` tests fail on purpose (all but one) and are `#[ignore]`d, so they never
//! run on their own; the `report_*` tests run them by starting this test binary again as a
//! subprocess, one fixture per process as nextest does, and all in one process as
//! `cargo test` does, and read what it printed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mockall::automock;
use mockall_bridge::{Facade, installable};
use ownership_e2e::fixtures::{assert_in_order, run_fixture, run_this_binary};
use ownership_runtime::owned_test;

#[automock]
pub trait Greeter: Send + Sync {
    fn greet(&self, name: &str) -> String;
}
installable!(dyn Greeter);

#[automock]
pub trait Clock: Send + Sync {
    fn now(&self) -> u64;
}
installable!(dyn Clock);

static GREETER: Facade<dyn Greeter> = Facade::new("report::GREETER");
static CLOCK: Facade<dyn Clock> = Facade::new("report::CLOCK");

fn greeter_expecting(times: usize) -> MockGreeter {
    let mut greeter = MockGreeter::new();
    greeter
        .expect_greet()
        .times(times)
        .returning(|name| format!("hello {name}"));
    greeter
}

// ---- fixtures ----

#[owned_test]
#[ignore = "fixture: run by the report tests in a subprocess"]
async fn fixture_greets_once_of_twice() {
    GREETER.install(greeter_expecting(2)).unwrap();
    let greeting = tokio::spawn(async { GREETER.get().greet("ada") })
        .await
        .unwrap();
    assert_eq!(greeting, "hello ada");
}

#[owned_test]
#[ignore = "fixture: run by the report tests in a subprocess"]
fn fixture_sync_test_never_greets() {
    GREETER.install(greeter_expecting(1)).unwrap();
}

#[owned_test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fixture: run by the report tests in a subprocess"]
async fn fixture_body_panics_with_two_facades() {
    GREETER.install(greeter_expecting(1)).unwrap();
    let mut clock = MockClock::new();
    clock.expect_now().times(1).return_const(7_u64);
    CLOCK.install(clock).unwrap();
    assert_eq!(tokio::spawn(async { CLOCK.get().now() }).await.unwrap(), 7);
    panic!("the body broke");
}

#[owned_test]
#[ignore = "fixture: run by the report tests in a subprocess"]
async fn fixture_a_thread_still_calls_when_the_test_ends() {
    let mut greeter = MockGreeter::new();
    greeter
        .expect_greet()
        .times(1_000_000)
        .returning(|name| format!("hello {name}"));
    GREETER.install(greeter).unwrap();
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    // Runs for the test, and keeps calling until its calls fail.
    ownership_runtime::thread::spawn(|| {
        while let Ok(greeter) = GREETER.try_get() {
            greeter.greet("bob");
            drop(greeter);
            CALLS.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(1));
        }
        println!("event: the thread's call failed after the test ended");
    });
    while CALLS.load(Ordering::SeqCst) < 3 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[owned_test]
#[ignore = "fixture: run by the report tests in a subprocess"]
async fn fixture_satisfied() {
    GREETER.install(greeter_expecting(1)).unwrap();
    assert_eq!(GREETER.get().greet("eve"), "hello eve");
}

// ---- the report tests ----

const INSTALLED_HERE: &str = "the mock installed at mockall-bridge/tests/verification_report.rs:";

const GREETS_ONCE_OF_TWICE: &[&str] = &[
    "owned test `verification_report::fixture_greets_once_of_twice` failed:",
    "1. facade `report::GREETER` (after the test): ",
    INSTALLED_HERE,
    " was not satisfied: MockGreeter::greet: Expectation(<anything>) called 1 time(s) which is \
     fewer than expected 2",
];

const SYNC_NEVER_GREETS: &[&str] = &[
    "owned test `verification_report::fixture_sync_test_never_greets` failed:",
    "1. facade `report::GREETER` (after the test): ",
    INSTALLED_HERE,
    " was not satisfied: MockGreeter::greet: Expectation(<anything>) called 0 time(s) which is \
     fewer than expected 1",
];

const BODY_PANICS: &[&str] = &[
    "owned test `verification_report::fixture_body_panics_with_two_facades` failed:",
    "1. the test panicked at mockall-bridge/tests/verification_report.rs:",
    ": the body broke",
    "2. facade `report::GREETER` (after the test): ",
    "called 0 time(s) which is fewer than expected 1",
];

const THREAD_STILL_CALLS: &[&str] = &[
    "owned test `verification_report::fixture_a_thread_still_calls_when_the_test_ends` failed:",
    "1. facade `report::GREETER` (after the test): ",
    "which is fewer than expected 1000000",
];

#[test]
fn report_names_the_facade_where_the_mock_was_installed_and_mockalls_verdict() {
    let printed = run_fixture("fixture_greets_once_of_twice");
    assert_in_order(&printed, GREETS_ONCE_OF_TWICE);
    // One problem only.
    assert!(!printed.contains("  2. "), "{printed}");
}

#[test]
fn report_of_a_sync_test_has_the_verdict_too() {
    let printed = run_fixture("fixture_sync_test_never_greets");
    assert_in_order(&printed, SYNC_NEVER_GREETS);
}

#[test]
fn report_lists_the_bodys_panic_first_and_only_the_facade_whose_expectations_failed() {
    let printed = run_fixture("fixture_body_panics_with_two_facades");
    assert_in_order(&printed, BODY_PANICS);
    assert!(!printed.contains("report::CLOCK"), "{printed}");
}

#[test]
fn report_comes_at_the_end_of_the_test_although_a_thread_still_calls_for_it() {
    let printed = run_fixture("fixture_a_thread_still_calls_when_the_test_ends");
    assert_in_order(&printed, THREAD_STILL_CALLS);
}

#[test]
fn a_satisfied_mock_passes() {
    let (passed, printed) = run_this_binary(&[
        "--ignored",
        "--exact",
        "fixture_satisfied",
        "--test-threads=1",
    ]);
    assert!(passed, "{printed}");
    assert!(printed.contains("1 passed; 0 failed"), "{printed}");
}

#[test]
fn the_fixtures_fail_the_same_way_when_run_together_in_one_process() {
    let (passed, printed) = run_this_binary(&["--ignored", "fixture_", "--test-threads=4"]);
    assert!(!passed, "{printed}");
    assert!(printed.contains("1 passed; 4 failed"), "{printed}");
    for fixture in [
        GREETS_ONCE_OF_TWICE,
        SYNC_NEVER_GREETS,
        BODY_PANICS,
        THREAD_STILL_CALLS,
    ] {
        assert_in_order(&printed, fixture);
    }
}
