//! The documented decisions (installing twice, from an allowed actor, outside a test,
//! calling after the test ended), the text of an unowned call, and when verification
//! happens: at the end of the test, on its thread, without waiting for threads that still
//! run for it.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, mpsc};
use std::thread;
use std::time::Duration;

use mockall::automock;
use mockall_bridge::{CallError, Facade, FacadeError, Guard, installable};
use ownership_runtime::harness::{
    Failure, Flavor, TestConfig, TestContext, TestResource, register_resource, run_async, run_sync,
};
use ownership_runtime::{Actor, callers};

#[automock]
pub trait Source: Send + Sync {
    fn value(&self) -> u64;
}
installable!(dyn Source);

struct Real;
impl Source for Real {
    fn value(&self) -> u64 {
        0
    }
}

fn mock_returning(value: u64) -> MockSource {
    let mut mock = MockSource::new();
    mock.expect_value().return_const(value);
    mock
}

// ---- the decisions ----

#[test]
fn installing_twice_in_one_test_is_refused_and_names_the_first_install() {
    static TWICE: Facade<dyn Source> = Facade::new("decisions::TWICE");
    run_async(TestConfig::new("decisions::twice"), || async {
        let first_line = line!() + 1;
        TWICE.install(mock_returning(1)).unwrap();
        let error = TWICE.install(mock_returning(2)).unwrap_err();
        let FacadeError::AlreadyInstalled { owner, first, .. } = &error else {
            panic!("expected AlreadyInstalled, got {error}");
        };
        assert_eq!(*owner, callers()[0]);
        assert_eq!(first.line(), first_line);
        assert!(first.file().ends_with("decisions.rs"), "{first}");
        let message = error.to_string();
        assert!(message.contains("already has a mock installed in facade `decisions::TWICE`"));
        assert!(message.contains("call `uninstall()` first"), "{message}");
        // The first mock stays in place.
        assert_eq!(TWICE.get().value(), 1);
    });
}

#[test]
fn uninstall_verifies_the_mock_and_lets_the_test_install_the_next_one() {
    static PHASES: Facade<dyn Source> = Facade::new("decisions::PHASES");
    run_async(TestConfig::new("decisions::phases"), || async {
        let mut first = MockSource::new();
        first.expect_value().times(2).return_const(1_u64);
        PHASES.install(first).unwrap();
        assert_eq!(PHASES.get().value(), 1);
        // One call short: uninstall reports mockall's verdict, and removes the mock anyway.
        let error = PHASES.uninstall().unwrap_err();
        let FacadeError::Unsatisfied { verdict, .. } = &error else {
            panic!("expected Unsatisfied, got {error}");
        };
        assert!(
            verdict.contains("called 1 time(s) which is fewer than expected 2"),
            "{verdict}"
        );
        match PHASES.try_get().map(|_| ()) {
            Err(CallError::Uninstalled { owner, .. }) => assert_eq!(owner, callers()[0]),
            other => panic!("expected Uninstalled, got {other:?}"),
        }
        // Nothing to uninstall twice.
        assert!(matches!(
            PHASES.uninstall(),
            Err(FacadeError::NothingInstalled { .. })
        ));
        // The next phase.
        PHASES.install(mock_returning(2)).unwrap();
        assert_eq!(PHASES.get().value(), 2);
        PHASES.uninstall().unwrap();
    });
}

#[test]
fn an_allowed_actor_cannot_install_expectations_belong_to_the_owner() {
    static ALLOWED: Facade<dyn Source> = Facade::new("decisions::ALLOWED");
    run_async(TestConfig::new("decisions::from_allowed"), || async {
        ALLOWED.install(mock_returning(1)).unwrap();
        let worker = Actor::named("decisions::worker");
        ALLOWED.allow(worker.id()).unwrap();
        let _as_worker = worker.enter();
        let error = ALLOWED.install(mock_returning(2)).unwrap_err();
        match &error {
            FacadeError::InstallFromAllowedActor { actor, owner, .. } => {
                assert_eq!(*actor, worker.id());
                assert_eq!(Some(owner), callers().get(1));
            }
            other => panic!("expected InstallFromAllowedActor, got {other}"),
        }
        assert!(
            error
                .to_string()
                .contains("expectations belong to the owner")
        );
        // The worker still uses the test's mock.
        assert_eq!(ALLOWED.get().value(), 1);
    });
}

#[test]
fn installing_outside_any_owned_test_is_refused() {
    static OUTSIDE: Facade<dyn Source> = Facade::new("decisions::OUTSIDE");
    let mut mock = MockSource::new();
    // Expectations that will never be met: the refused mock must not panic on drop.
    mock.expect_value().times(3).return_const(1_u64);
    let error = OUTSIDE.install(mock).unwrap_err();
    assert!(matches!(
        error,
        FacadeError::NoActor {
            facade: "decisions::OUTSIDE",
            ..
        }
    ));
    assert!(
        error.to_string().contains(
            "cannot install a mock into facade `decisions::OUTSIDE` here: the calling code runs \
             for no actor"
        ),
        "{error}"
    );
    assert!(OUTSIDE.try_get().is_err());
}

#[test]
fn a_call_after_the_test_ended_is_an_error_never_another_tests_mock_nor_the_default() {
    static LATE: Facade<dyn Source> = Facade::with_default("decisions::LATE", || Box::new(Real));
    let (go, wait_for_go) = mpsc::channel::<()>();
    let (leftover_sender, leftover) = mpsc::channel();
    run_async(TestConfig::new("decisions::ended"), || async move {
        LATE.install(mock_returning(1)).unwrap();
        // A thread that runs for the test and outlives it.
        let handle = ownership_runtime::thread::spawn(move || {
            wait_for_go.recv().unwrap();
            LATE.try_get().map(|source| source.value())
        });
        leftover_sender.send(handle).unwrap();
    });
    // Another test is running now, with its own mock, when the leftover thread calls.
    run_async(TestConfig::new("decisions::next"), || async move {
        LATE.install(mock_returning(2)).unwrap();
        go.send(()).unwrap();
        let late = leftover.recv().unwrap().join().unwrap();
        match late {
            Err(CallError::Ended { actor, .. }) => {
                assert_eq!(actor.name(), Some("decisions::ended"));
            }
            other => panic!("expected Ended, got {other:?}"),
        }
        assert_eq!(LATE.get().value(), 2);
    });
}

static WINDOW: Facade<dyn Source> = Facade::new("decisions::WINDOW");

/// What a call made between verification and the end of the test's actor got.
static WINDOW_CALL: std::sync::Mutex<Option<Result<u64, CallError>>> = std::sync::Mutex::new(None);

/// A resource that runs its after half right after the facade's (after halves run newest
/// first, and it registers before the facade's first install), still as the test (whose
/// actor is alive), once the test's mocks were verified.
struct ProbeAfterVerification;

impl TestResource for ProbeAfterVerification {
    fn name(&self) -> String {
        "a probe after mockall-bridge".to_owned()
    }

    fn after_test(&self, test: &TestContext) -> Vec<Failure> {
        if test.name() == "decisions::window" {
            let call = WINDOW.try_get().map(|source| source.value());
            *WINDOW_CALL.lock().unwrap() = Some(call);
        }
        Vec::new()
    }
}

static PROBE: LazyLock<Arc<dyn TestResource>> = LazyLock::new(|| {
    let probe: Arc<dyn TestResource> = Arc::new(ProbeAfterVerification);
    register_resource(Arc::downgrade(&probe));
    probe
});

#[test]
fn a_call_between_verification_and_the_end_of_the_test_is_an_error() {
    LazyLock::force(&PROBE);
    run_async(TestConfig::new("decisions::window"), || async {
        WINDOW.install(mock_returning(1)).unwrap();
        assert_eq!(WINDOW.get().value(), 1);
    });
    let call = WINDOW_CALL.lock().unwrap().take().unwrap();
    match call {
        Err(CallError::Ended { actor, .. }) => assert_eq!(actor.name(), Some("decisions::window")),
        other => panic!("expected Ended, got {other:?}"),
    }
}

// ---- the error text of an unowned call ----

#[test]
fn an_unowned_call_panics_with_the_facade_the_caller_the_owners_and_the_fixes() {
    static UNOWNED: Facade<dyn Source> = Facade::new("decisions::UNOWNED");
    let (release, wait) = mpsc::channel::<()>();
    let (installed_sender, installed) = mpsc::channel();
    let owner = thread::spawn(move || {
        run_async(
            TestConfig::new("decisions::owner_elsewhere"),
            || async move {
                UNOWNED.install(mock_returning(1)).unwrap();
                installed_sender.send(callers()[0]).unwrap();
                wait.recv().unwrap();
            },
        );
    });
    let owner_id = installed.recv().unwrap();

    // From a thread that runs for no actor.
    let line = line!() + 1;
    let payload = panic::catch_unwind(|| UNOWNED.get().value()).unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    // The message names the call, as this file reads, and where it was made (`get` is
    // `#[track_caller]`).
    let call_site = format!(
        "facade `decisions::UNOWNED` has no mock for `UNOWNED.get().value(..)` at {}:{line}:",
        file!()
    );
    for expected in [
        call_site.as_str(),
        ", called by code that runs for no actor (`ownership_runtime::callers()` is empty",
        "It has no default implementation either.",
        &format!("Mocks in it are owned right now by {owner_id};"),
        "`ownership_runtime::spawn`, `spawn_blocking` or `thread::spawn`",
        "`.in_current_callers()`",
        "`UNOWNED.allow(worker.id())`",
        "`ToAllow::lazy(..)`",
        "`ownership_runtime::allow_all(worker.id())` for everything the test owns",
        "`#[owned_test(shared)]`",
        "give the facade a default implementation: `Facade::with_default(..)` or \
         `.set_default(..)`",
    ] {
        assert!(message.contains(expected), "{expected:?} in:\n{message}");
    }

    // From an actor running for another: the chain is named.
    let test = Actor::named("decisions::some_test");
    let worker = Actor::named("decisions::unallowed_worker");
    let (_test, _worker) = (test.enter(), worker.enter());
    let line = line!() + 1;
    let error = UNOWNED.try_get().map(|_| ()).unwrap_err();
    assert!(matches!(error, CallError::NotOwned { .. }));
    let message = error.to_string();
    assert!(
        message.contains(&format!(
            "has no mock for the call at {}:{}:{}, called by {}, running for [{}, {}], none of \
             which owns a mock in it or is allowed to use one",
            file!(),
            line,
            "    let error = UNOWNED.".len() + 1,
            worker.id(),
            worker.id(),
            test.id()
        )),
        "{message}"
    );

    release.send(()).unwrap();
    owner.join().unwrap();
    // Nobody owns one now. `try_get()?` gives the implementation: its method is named.
    let read = || -> Result<u64, CallError> { Ok(UNOWNED.try_get()?.value()) };
    let message = read().unwrap_err().to_string();
    for expected in [
        "has no mock for `UNOWNED.try_get()?.value(..)` at ",
        "No actor owns a mock in it right now: if this call works for a test, install one in \
         that test first (`UNOWNED.install(mock)`).",
    ] {
        assert!(message.contains(expected), "{expected:?} in:\n{message}");
    }
}

#[test]
fn a_facade_nobody_installed_into_is_its_default_and_errors_without_one() {
    static PLAIN: Facade<dyn Source> = Facade::with_default("decisions::PLAIN", || Box::new(Real));
    static EMPTY: Facade<dyn Source> = Facade::new("decisions::EMPTY");
    assert_eq!(PLAIN.get().value(), 0);
    assert_eq!(Guard::owner(&PLAIN.get()), None);
    let message = EMPTY.try_get().map(|_| ()).unwrap_err().to_string();
    assert!(message.contains("facade `decisions::EMPTY` has no mock for the call at"));
    // set_default comes too late once the default was built.
    assert!(matches!(
        PLAIN.set_default(Box::new(Real)),
        Err(FacadeError::DefaultAlreadySet { .. })
    ));
}

// ---- when verification happens ----

/// A hand-written fake that counts its drops.
struct Counted {
    value: u64,
    drops: Arc<AtomicUsize>,
    /// Told when a call starts, and how long the call takes.
    slow: Option<(mpsc::Sender<()>, Duration)>,
}

impl Source for Counted {
    fn value(&self) -> u64 {
        if let Some((started, takes)) = &self.slow {
            let _ = started.send(());
            thread::sleep(*takes);
        }
        self.value
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn verification_does_not_wait_for_a_thread_that_still_runs_for_the_test() {
    static BACKGROUND: Facade<dyn Source> = Facade::new("decisions::BACKGROUND");
    let drops = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let (drops_in_test, stop_in_test, calls_in_test) = (drops.clone(), stop.clone(), calls.clone());
    let (handle_sender, handle) = mpsc::channel();
    run_async(
        TestConfig::new("decisions::background"),
        move || async move {
            BACKGROUND
                .install(Counted {
                    value: 3,
                    drops: drops_in_test,
                    slow: None,
                })
                .unwrap();
            // A thread that keeps calling for the test until a call fails, and lives on until
            // told to stop.
            let thread = ownership_runtime::thread::spawn(move || {
                let failed = loop {
                    match BACKGROUND.try_get().map(|source| source.value()) {
                        Ok(value) => assert_eq!(value, 3),
                        Err(error) => break error,
                    }
                    calls_in_test.fetch_add(1, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(1));
                };
                while !stop_in_test.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(1));
                }
                failed
            });
            while calls.load(Ordering::SeqCst) < 3 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            handle_sender.send(thread).unwrap();
        },
    );
    // The test has ended while its thread still runs: the fake was dropped all the same.
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    stop.store(true, Ordering::SeqCst);
    let failed = handle.recv().unwrap().join().unwrap();
    assert!(matches!(failed, CallError::Ended { .. }), "{failed}");
}

#[test]
fn verification_waits_for_a_call_in_progress_and_then_drops_the_fake() {
    static SLOW: Facade<dyn Source> = Facade::new("decisions::SLOW");
    let drops = Arc::new(AtomicUsize::new(0));
    let drops_in_test = drops.clone();
    let (handle_sender, handle) = mpsc::channel();
    run_async(
        TestConfig::new("decisions::in_progress"),
        move || async move {
            let (started, call_started) = mpsc::channel();
            SLOW.install(Counted {
                value: 4,
                drops: drops_in_test,
                slow: Some((started, Duration::from_millis(200))),
            })
            .unwrap();
            let thread = ownership_runtime::thread::spawn(|| SLOW.get().value());
            // The call is in progress when the test ends.
            call_started.recv().unwrap();
            handle_sender.send(thread).unwrap();
        },
    );
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(handle.recv().unwrap().join().unwrap(), 4);
}

#[test]
fn a_sync_test_verifies_too() {
    static SYNC: Facade<dyn Source> = Facade::new("decisions::SYNC");
    let drops = Arc::new(AtomicUsize::new(0));
    let drops_in_test = drops.clone();
    run_sync(TestConfig::new("decisions::sync"), move || {
        SYNC.install(Counted {
            value: 5,
            drops: drops_in_test,
            slow: None,
        })
        .unwrap();
        assert_eq!(SYNC.get().value(), 5);
        let in_thread = ownership_runtime::thread::spawn(|| SYNC.get().value());
        assert_eq!(in_thread.join().unwrap(), 5);
    });
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn unmet_expectations_fail_the_test_with_mockalls_verdict() {
    static UNMET: Facade<dyn Source> = Facade::new("decisions::UNMET");
    let failed = panic::catch_unwind(AssertUnwindSafe(|| {
        run_async(TestConfig::new("decisions::unmet"), || async {
            let mut mock = MockSource::new();
            mock.expect_value().times(2).return_const(1_u64);
            UNMET.install(mock).unwrap();
            UNMET.get().value();
        });
    }));
    let report = *failed.unwrap_err().downcast::<String>().unwrap();
    assert!(
        report.starts_with("owned test `decisions::unmet` failed:\n  1. facade `decisions::UNMET` (after the test): the mock installed at mockall-bridge/tests/decisions.rs:"),
        "{report}"
    );
    assert!(
        report.contains(
            "was not satisfied: MockSource::value: Expectation(<anything>) called 1 time(s) \
             which is fewer than expected 2"
        ),
        "{report}"
    );
}

// ---- calls ----

/// A trait with an `async`-style method: the future it returns borrows nothing, but the
/// guard lives until the end of the statement, across the `.await`.
#[automock]
pub trait Fetcher: Send + Sync {
    fn fetch(&self, key: u64) -> Pin<Box<dyn Future<Output = u64> + Send>>;
}
installable!(dyn Fetcher);

#[test]
fn a_guard_can_be_held_across_an_await_in_a_spawned_task() {
    static FETCHER: Facade<dyn Fetcher> = Facade::new("decisions::FETCHER");
    let config = TestConfig::new("decisions::async_call")
        .flavor(Flavor::MultiThread)
        .worker_threads(2);
    run_async(config, || async {
        let mut mock = MockFetcher::new();
        mock.expect_fetch().times(2).returning(|key| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                key * 10
            })
        });
        FETCHER.install(mock).unwrap();
        // `tokio::spawn` needs a `Send` future: the guard is held across `.await`.
        let in_task = tokio::spawn(async { FETCHER.get().fetch(4).await });
        assert_eq!(FETCHER.get().fetch(3).await, 30);
        assert_eq!(in_task.await.unwrap(), 40);
    });
}

#[test]
fn a_fake_that_calls_its_facade_again_does_not_deadlock() {
    static REENTRANT: Facade<dyn Source> = Facade::new("decisions::REENTRANT");
    struct Recursive;
    impl Source for Recursive {
        fn value(&self) -> u64 {
            // Reads the same slot again, under the first call's guard.
            if callers().len() < 3 {
                let nested = Actor::new();
                let _nested = nested.enter();
                REENTRANT.get().value() + 1
            } else {
                1
            }
        }
    }
    run_async(TestConfig::new("decisions::reentrant"), || async {
        REENTRANT.install(Recursive).unwrap();
        assert_eq!(REENTRANT.get().value(), 3);
    });
}
