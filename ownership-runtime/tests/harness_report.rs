//! The harness's resources and failure reports, read from real test runs.
//!
//! The `fixture_*` tests fail on purpose and are `#[ignore]`d, so they never run on their
//! own; the `report_*` tests run them by starting this test binary again as a subprocess
//! (one fixture per process, as nextest does, and all in one process, as `cargo test`
//! does) and read what it printed.

use std::sync::Mutex;
use std::time::Duration;

use std::sync::LazyLock;

use ownership_e2e::fixtures::{assert_in_order, run_fixture, run_this_binary};

use ownership_runtime::harness::{
    Failure, TestConfig, TestContext, TestResource, register_resource, run_async,
};
use ownership_runtime::{Mode, Ownership, callers, owned_test};

// Three resources. They act only for tests whose name says so, since every test of this
// binary that names them, or runs after one that did, knows them.

/// What the resources did, for tests that run the harness in this process.
static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn event(test: &TestContext, what: &str) {
    if test.name().contains("hook") {
        let line = format!("event: {what}");
        println!("{line}"); // seen by the report tests in the subprocess's output
        EVENTS.lock().unwrap().push(line);
    }
}

/// A resource that records its halves; `adapter-b` finds an unmet expectation after a
/// test named so, `adapter-c` can't prepare for a test named so.
struct Adapter(&'static str);

impl TestResource for Adapter {
    fn name(&self) -> String {
        self.0.to_owned()
    }

    fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
        if self.0 == "adapter-c" && test.name().contains("panics_before") {
            panic!("the pool broke while checking out");
        }
        if self.0 == "adapter-c" && test.name().contains("fails_before") {
            return Err(Failure::new(
                "no database at 127.0.0.1:1; start it or set DATABASE_URL",
            ));
        }
        event(test, &format!("{} before", self.0));
        Ok(())
    }

    fn after_test(&self, test: &TestContext) -> Vec<Failure> {
        event(test, &format!("{} after", self.0));
        if self.0 == "adapter-b" && test.name().contains("fails_in_hook") {
            vec![Failure::new(
                "MockGateway::charge: expected 1 call, got 0; call it, or remove the expectation",
            )]
        } else {
            Vec::new()
        }
    }
}

static ADAPTER_A: Adapter = Adapter("adapter-a");
static ADAPTER_B: Adapter = Adapter("adapter-b");
static ADAPTER_C: Adapter = Adapter("adapter-c");
static ALL_THREE: [&dyn TestResource; 3] = [&ADAPTER_A, &ADAPTER_B, &ADAPTER_C];

/// An adapter's ownership server, registered for shared mode when it is made.
static MOCKS: LazyLock<Ownership<&'static str, u32>> = LazyLock::new(|| {
    let mocks = Ownership::new();
    register_resource(mocks.as_test_resource());
    mocks
});

/// Another, first touched by a shared test, inside its body.
static FIRST_USED_BY_A_SHARED_TEST: LazyLock<Ownership<&'static str, u32>> = LazyLock::new(|| {
    let server = Ownership::new();
    register_resource(server.as_test_resource());
    server
});

#[test]
fn a_shared_test_puts_registered_servers_in_shared_mode_for_its_duration() {
    run_async(
        TestConfig::new("harness_report::shared").shared(true),
        || async {
            let test = callers()[0];
            assert_eq!(MOCKS.mode(), Mode::Shared(test));
        },
    );
    assert_eq!(MOCKS.mode(), Mode::Private);
    run_async(TestConfig::new("harness_report::private"), || async {
        assert_eq!(MOCKS.mode(), Mode::Private);
    });
}

#[test]
fn a_server_first_made_inside_a_shared_test_is_shared_at_once_and_private_after() {
    run_async(
        TestConfig::new("harness_report::shared_first_use").shared(true),
        || async {
            let test = callers()[0];
            assert_eq!(FIRST_USED_BY_A_SHARED_TEST.mode(), Mode::Shared(test));
            // Its tasks, and strangers, find the test as the owner.
            let stranger = ownership_runtime::Actor::named("stranger");
            FIRST_USED_BY_A_SHARED_TEST
                .get_and_update(test, "clock", |_| ((), 7))
                .unwrap();
            assert_eq!(
                FIRST_USED_BY_A_SHARED_TEST.fetch_owner(&[stranger.id()], &"clock"),
                Some(ownership_runtime::Found::SharedOwner(test))
            );
        },
    );
    assert_eq!(FIRST_USED_BY_A_SHARED_TEST.mode(), Mode::Private);
}

#[test]
fn resources_prepare_in_the_order_named_and_finish_in_reverse() {
    run_async(
        TestConfig::new("harness_report::hook_order").resources(&ALL_THREE),
        || async {
            EVENTS.lock().unwrap().push("event: body".to_owned());
        },
    );
    let events = EVENTS.lock().unwrap().clone();
    let mine: Vec<&str> = events.iter().map(String::as_str).collect();
    assert_eq!(
        mine,
        [
            "event: adapter-a before",
            "event: adapter-b before",
            "event: adapter-c before",
            "event: body",
            "event: adapter-c after",
            "event: adapter-b after",
            "event: adapter-a after",
        ]
    );
}

// ---- fixtures: each fails on purpose ----

#[owned_test(sandbox = [ADAPTER_A, ADAPTER_B, ADAPTER_C])]
#[ignore = "fixture: run by the report tests in a subprocess"]
async fn fixture_everything_fails_in_hook() {
    // A task nobody awaits panics; another never ends.
    tokio::spawn(async { panic!("the background task broke") });
    tokio::spawn(std::future::pending::<()>());
    tokio::time::sleep(Duration::from_millis(20)).await;
    panic!("the body broke");
}

#[owned_test(timeout = "100ms")]
#[ignore = "fixture: run by the report tests in a subprocess"]
async fn fixture_times_out() {
    tokio::time::sleep(Duration::from_secs(60)).await;
}

#[owned_test(timeout = "100ms")]
#[ignore = "fixture: run by the report tests in a subprocess"]
fn fixture_sync_times_out() {
    std::thread::sleep(Duration::from_secs(10));
}

#[owned_test]
#[ignore = "fixture: run by the report tests in a subprocess"]
async fn fixture_returns_err() -> Result<(), String> {
    Err("the invoice total is negative".to_owned())
}

#[owned_test(sandbox = [ADAPTER_A, ADAPTER_B, ADAPTER_C])]
#[ignore = "fixture: run by the report tests in a subprocess"]
async fn fixture_hook_fails_before() {
    panic!("the body must not run when a resource can't be prepared");
}

#[owned_test(sandbox = [ADAPTER_A, ADAPTER_B, ADAPTER_C])]
#[ignore = "fixture: run by the report tests in a subprocess"]
async fn fixture_hook_panics_before() {
    panic!("the body must not run when a resource panicked preparing");
}

#[owned_test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fixture: run by the report tests in a subprocess"]
async fn fixture_task_panics_on_a_worker() {
    let task = tokio::spawn(async { panic!("a worker task broke") });
    // The body even observes the panic; the report still lists it.
    assert!(task.await.unwrap_err().is_panic());
}

// ---- the report tests ----

const EVERYTHING: &[&str] = &[
    "owned test `harness_report::fixture_everything_fails_in_hook` failed:",
    "1. the test panicked at ownership-runtime/tests/harness_report.rs:",
    ": the body broke",
    "2. adapter-b (after the test): MockGateway::charge: expected 1 call, got 0",
    "3. a task of the test panicked",
    "at ownership-runtime/tests/harness_report.rs:",
    ": the background task broke",
    "4. 1 task(s) spawned on the test's runtime (by the test or the code it called) were still \
     running 1s after it ended, and were cancelled",
];

#[test]
fn report_lists_the_body_the_resources_the_task_panics_and_the_leaked_tasks_in_order() {
    let printed = run_fixture("fixture_everything_fails_in_hook");
    assert_in_order(&printed, EVERYTHING);
    // After halves ran in reverse order, after the body.
    assert_in_order(
        &printed,
        &[
            "event: adapter-a before",
            "event: adapter-b before",
            "event: adapter-c before",
            "event: adapter-c after",
            "event: adapter-b after",
            "event: adapter-a after",
        ],
    );
}

#[test]
fn report_names_the_timeout() {
    let printed = run_fixture("fixture_times_out");
    assert_in_order(
        &printed,
        &[
            "owned test `harness_report::fixture_times_out` failed:",
            "1. the test timed out after 100ms (its `timeout` option) and was cancelled",
        ],
    );
    let printed = run_fixture("fixture_sync_times_out");
    assert!(
        printed.contains("1. the test timed out after 100ms"),
        "{printed}"
    );
}

#[test]
fn report_shows_the_err_a_test_returned() {
    let printed = run_fixture("fixture_returns_err");
    assert!(
        printed.contains("1. the test returned an error: \"the invoice total is negative\""),
        "{printed}"
    );
}

#[test]
fn a_resource_that_cant_prepare_skips_the_body_and_every_after_half_still_runs() {
    let printed = run_fixture("fixture_hook_fails_before");
    assert!(
        printed.contains(
            "1. adapter-c (before the test): no database at 127.0.0.1:1; start it or set DATABASE_URL"
        ),
        "{printed}"
    );
    assert!(!printed.contains("the body must not run"), "{printed}");
    assert!(!printed.contains("event: adapter-c before"), "{printed}");
    // Every known resource finishes the test, also the one that failed: what it holds of
    // the test (nothing, here) must never outlive it.
    assert_in_order(
        &printed,
        &[
            "event: adapter-a before",
            "event: adapter-b before",
            "event: adapter-c after",
            "event: adapter-b after",
            "event: adapter-a after",
        ],
    );
}

#[test]
fn a_resource_that_panics_preparing_is_reported_once_with_its_location() {
    let printed = run_fixture("fixture_hook_panics_before");
    assert_in_order(
        &printed,
        &[
            "1. adapter-c (before the test): panicked at ownership-runtime/tests/harness_report.rs:",
            ": the pool broke while checking out",
        ],
    );
    assert_eq!(
        printed.matches("the pool broke while checking out").count(),
        2,
        "{printed}"
    );
    assert!(!printed.contains("2. "), "reported twice:\n{printed}");
    assert!(!printed.contains("the body must not run"), "{printed}");
}

#[test]
fn report_lists_a_task_panic_even_when_the_body_observed_it() {
    let printed = run_fixture("fixture_task_panics_on_a_worker");
    assert_in_order(
        &printed,
        &["1. a task of the test panicked", ": a worker task broke"],
    );
}

#[test]
fn the_fixtures_fail_the_same_way_when_run_together_in_one_process() {
    let (passed, printed) = run_this_binary(&["--ignored", "fixture_", "--test-threads=2"]);
    assert!(!passed, "the fixtures must fail:\n{printed}");
    assert!(printed.contains("0 passed; 7 failed"), "{printed}");
    assert_in_order(&printed, EVERYTHING);
    for expected in [
        "owned test `harness_report::fixture_times_out` failed:",
        "owned test `harness_report::fixture_sync_times_out` failed:",
        "1. the test returned an error: \"the invoice total is negative\"",
        "1. adapter-c (before the test): no database at 127.0.0.1:1",
        ": a worker task broke",
    ] {
        assert!(printed.contains(expected), "{expected:?} in:\n{printed}");
    }
}

/// A resource's state, registered when made; tests name a handle to it.
#[derive(Default)]
struct CountingState {
    before: Mutex<Vec<&'static str>>,
    after: Mutex<Vec<&'static str>>,
}

impl TestResource for CountingState {
    fn name(&self) -> String {
        "counting".to_owned()
    }

    fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
        self.before.lock().unwrap().push(test.name());
        Ok(())
    }

    fn after_test(&self, test: &TestContext) -> Vec<Failure> {
        self.after.lock().unwrap().push(test.name());
        Vec::new()
    }
}

/// What tests name: a handle that stands for the registered state.
struct CountingHandle(std::sync::Arc<CountingState>);

impl TestResource for CountingHandle {
    fn name(&self) -> String {
        self.0.name()
    }

    fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
        self.0.before_test(test)
    }

    fn after_test(&self, test: &TestContext) -> Vec<Failure> {
        self.0.after_test(test)
    }

    fn key(&self) -> ownership_runtime::harness::ResourceKey {
        self.0.key()
    }
}

static COUNTING: LazyLock<CountingHandle> = LazyLock::new(|| {
    let state = std::sync::Arc::new(CountingState::default());
    let registered: std::sync::Arc<dyn TestResource> = state.clone();
    register_resource(std::sync::Arc::downgrade(&registered));
    CountingHandle(state)
});
static NAMES_COUNTING: [&dyn TestResource; 1] = [&COUNTING];

#[test]
fn a_registered_resource_finishes_every_test_once_named_or_not() {
    run_async(
        TestConfig::new("harness_report::names_counting").resources(&NAMES_COUNTING),
        || async {},
    );
    run_async(TestConfig::new("harness_report::names_nothing"), || async {
    });
    let state = &COUNTING.0;
    let mine = |seen: &Mutex<Vec<&'static str>>| -> Vec<&'static str> {
        let seen = seen.lock().unwrap();
        seen.iter()
            .copied()
            .filter(|name| name.contains("names_"))
            .collect()
    };
    // Prepared only for the test that named it; finished after both, each once (the
    // named handle and the registered state are one resource).
    assert_eq!(mine(&state.before), ["harness_report::names_counting"]);
    assert_eq!(
        mine(&state.after),
        [
            "harness_report::names_counting",
            "harness_report::names_nothing"
        ]
    );
}
