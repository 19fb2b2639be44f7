//! The guide to errors (`docs/errors.md`, part `mockall-bridge`) shows the messages this
//! crate renders: every facade and call error, and the report lines of a mock that fails
//! its verification, made here for real through the public API (two that can't be made to
//! happen on purpose are built from their public fields) and compared with their sections'
//! blocks. `UPDATE_ERROR_GUIDE=1 cargo test -p mockall-bridge --test error_guide` rewrites
//! the blocks.

#[path = "../../ownership-runtime/tests/support/error_guide.rs"]
mod error_guide;

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use mockall::automock;
use mockall_bridge::{Facade, FacadeError, installable};
use ownership_runtime::harness::{TestConfig, run_async};
use ownership_runtime::{Actor, Ownership, error_chain};

#[automock]
pub trait Clock: Send + Sync {
    fn now(&self) -> u64;
}
installable!(dyn Clock);

/// A clock that always says the same.
struct Fixed(u64);

impl Clock for Fixed {
    fn now(&self) -> u64 {
        self.0
    }
}

/// The message of a `Result`'s error, with its causes.
fn chain_of<T, E: std::error::Error + 'static>(result: Result<T, E>) -> String {
    match result {
        Ok(_) => panic!("the call succeeds, but the guide shows its error"),
        Err(error) => error_chain(&error).to_string(),
    }
}

/// The errors of installing, allowing and uninstalling, each on a facade of its own.
fn facade_errors() -> Vec<(&'static str, String)> {
    static NO_ACTOR: Facade<dyn Clock> = Facade::new("app::CLOCK");
    static TWICE: Facade<dyn Clock> = Facade::new("app::CLOCK");
    static FROM_ALLOWED: Facade<dyn Clock> = Facade::new("app::CLOCK");
    static NOTHING: Facade<dyn Clock> = Facade::new("app::CLOCK");
    static TWO_OWNERS: Facade<dyn Clock> = Facade::new("app::CLOCK");
    static OWNS_ONE: Facade<dyn Clock> = Facade::new("app::CLOCK");
    static ENDED: Facade<dyn Clock> = Facade::new("app::CLOCK");
    static UNMET: Facade<dyn Clock> = Facade::new("app::CLOCK");
    static DEFAULT: Facade<dyn Clock> = Facade::with_default("app::CLOCK", || Box::new(Fixed(0)));

    let test = Actor::named("tests::checkout");
    let other_test = Actor::named("tests::refund");
    let worker = Actor::named("worker");
    let mut errors = vec![("FacadeError::NoActor", chain_of(NO_ACTOR.install(Fixed(1))))];
    // Each actor runs on its own (its chain holds it alone): `as_test` for the test.
    let as_test = |f: &mut dyn FnMut()| test.chain().in_scope(f);
    let mut twice = None;
    as_test(&mut || {
        TWICE.install(Fixed(1)).unwrap();
        twice = Some(chain_of(TWICE.install(Fixed(2))));
        FROM_ALLOWED.install(Fixed(1)).unwrap();
        FROM_ALLOWED.allow(worker.id()).unwrap();
        TWO_OWNERS.install(Fixed(1)).unwrap();
        TWO_OWNERS.allow(worker.id()).unwrap();
    });
    errors.push(("FacadeError::AlreadyInstalled", twice.unwrap()));
    let from_worker = worker.chain().in_scope(|| FROM_ALLOWED.install(Fixed(2)));
    errors.push((
        "FacadeError::InstallFromAllowedActor",
        chain_of(from_worker),
    ));
    let nothing = test.chain().in_scope(|| NOTHING.allow(worker.id()));
    errors.push(("FacadeError::NothingInstalled", chain_of(nothing)));
    let from_other = other_test.chain().in_scope(|| {
        TWO_OWNERS.install(Fixed(2)).unwrap();
        TWO_OWNERS.allow(worker.id())
    });
    errors.push(("FacadeError::AlreadyAllowed", chain_of(from_other)));
    other_test
        .chain()
        .in_scope(|| OWNS_ONE.install(Fixed(2)))
        .unwrap();
    let owns_one = test.chain().in_scope(|| {
        OWNS_ONE.install(Fixed(1)).unwrap();
        OWNS_ONE.allow(other_test.id())
    });
    errors.push(("FacadeError::AlreadyAnOwner", chain_of(owns_one)));
    let finished = Actor::named("tests::finished").id();
    let ended = test.chain().in_scope(|| {
        ENDED.install(Fixed(1)).unwrap();
        ENDED.allow(finished)
    });
    errors.push(("FacadeError::ActorEnded", chain_of(ended)));
    let unmet = test.chain().in_scope(|| {
        let mut clock = MockClock::new();
        clock.expect_now().times(1).return_const(7_u64);
        UNMET.install(clock).unwrap();
        UNMET.uninstall()
    });
    errors.push(("FacadeError::Unsatisfied", chain_of(unmet)));
    let _ = DEFAULT.get().now();
    errors.push((
        "FacadeError::DefaultAlreadySet",
        chain_of(DEFAULT.set_default(Box::new(Fixed(1)))),
    ));
    // Neither happens on purpose: a call that holds the mock for 2 s, a refusal that the
    // facade's own checks leave to its server. Built from real values.
    let busy = FacadeError::Busy {
        facade: "app::CLOCK",
        owner: test.id(),
        waited_ms: 2000,
    };
    errors.push(("FacadeError::Busy", error_chain(&busy).to_string()));
    let server: Ownership<(), ()> = Ownership::new();
    let stranger = Actor::named("stranger");
    let refused = server
        .allow(stranger.id(), Actor::named("helper").id(), ())
        .unwrap_err();
    let ownership = FacadeError::Ownership {
        facade: "app::CLOCK",
        source: refused,
    };
    errors.push((
        "FacadeError::Ownership",
        error_chain(&ownership).to_string(),
    ));
    errors.push(("FacadeError::NotSharedOwner", not_shared_owner()));
    errors
}

/// What an actor other than the shared test got when it installed, during a shared test.
fn not_shared_owner() -> String {
    static SHARED: Facade<dyn Clock> = Facade::new("app::CLOCK");
    static REFUSED: Mutex<Option<String>> = Mutex::new(None);
    run_async(
        TestConfig::new("tests::global_worker").shared(true),
        || async {
            SHARED.install(Fixed(1)).unwrap();
            let worker = Actor::named("worker");
            let refused = worker.chain().in_scope(|| SHARED.install(Fixed(2)));
            *REFUSED.lock().unwrap() = Some(chain_of(refused));
        },
    );
    REFUSED.lock().unwrap().take().unwrap()
}

/// What a call through a facade panicked with (its message; the panic is expected).
fn panic_of(call: impl FnOnce() -> u64) -> String {
    let payload = panic::catch_unwind(AssertUnwindSafe(call)).expect_err("the call panics");
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(_) => panic!("`get` panics with the error's text, a String"),
    }
}

/// The errors of calls that find no implementation, each made as app code makes them,
/// `CLOCK.get().now()`, on a facade of its own.
fn call_errors() -> Vec<(&'static str, String)> {
    vec![
        ("CallError::NotOwned", not_owned()),
        ("CallError::Ended", ended()),
        ("CallError::Uninstalled", uninstalled()),
    ]
}

/// A worker that the test which owns the mock didn't allow calls.
fn not_owned() -> String {
    static CLOCK: Facade<dyn Clock> = Facade::new("app::CLOCK");
    let test = Actor::named("tests::checkout");
    let worker = Actor::named("app::worker");
    test.chain().in_scope(|| CLOCK.install(Fixed(1))).unwrap();
    worker.chain().in_scope(|| panic_of(|| CLOCK.get().now()))
}

/// A thread of the test calls once the test is over.
fn ended() -> String {
    static CLOCK: Facade<dyn Clock> = Facade::new("app::CLOCK");
    let (go, wait_for_go) = mpsc::channel::<()>();
    let (sender, late) = mpsc::channel();
    run_async(TestConfig::new("tests::notifies"), || async move {
        CLOCK.install(Fixed(1)).unwrap();
        let handle = ownership_runtime::thread::spawn(move || {
            wait_for_go.recv().unwrap();
            panic_of(|| CLOCK.get().now())
        });
        sender.send(handle).unwrap();
    });
    go.send(()).unwrap();
    late.recv().unwrap().join().unwrap()
}

/// The test calls after it uninstalled its mock.
fn uninstalled() -> String {
    static CLOCK: Facade<dyn Clock> = Facade::new("app::CLOCK");
    Actor::named("tests::checkout").chain().in_scope(|| {
        CLOCK.install(Fixed(1)).unwrap();
        CLOCK.uninstall().unwrap();
        panic_of(|| CLOCK.get().now())
    })
}

/// The report of a test run: what the harness panicked with.
fn report_of(run: impl FnOnce()) -> String {
    let payload = panic::catch_unwind(AssertUnwindSafe(run)).expect_err("the test fails");
    match payload.downcast::<String>() {
        Ok(report) => *report,
        Err(_) => panic!("the harness panics with its report, a String"),
    }
}

/// The report lines of a mock that fails its verification after the test.
fn reports() -> Vec<(&'static str, String)> {
    static UNMET: Facade<dyn Clock> = Facade::new("app::CLOCK");
    static HELD: Facade<dyn Clock> = Facade::new("app::CLOCK");

    let not_satisfied = report_of(|| {
        run_async(TestConfig::new("app::tests::stamps_orders"), || async {
            let mut clock = MockClock::new();
            clock.expect_now().times(1).return_const(1_700_000_000_u64);
            UNMET.install(clock).unwrap();
        })
    });
    // A thread of the test holds the mock (a guard from `get()`) past the facade's wait.
    let (release, released) = mpsc::channel::<()>();
    let (holder_sender, holder) = mpsc::channel();
    let busy = report_of(|| {
        run_async(
            TestConfig::new("app::tests::stamps_in_background"),
            || async move {
                HELD.install(Fixed(1)).unwrap();
                let (held, is_held) = mpsc::channel::<()>();
                let thread = ownership_runtime::thread::spawn(move || {
                    let guard = HELD.get();
                    held.send(()).unwrap();
                    let _ = released.recv_timeout(Duration::from_secs(10));
                    drop(guard);
                });
                is_held.recv().unwrap();
                holder_sender.send(thread).unwrap();
            },
        )
    });
    release.send(()).unwrap();
    holder.recv().unwrap().join().unwrap();
    vec![
        ("Report::facade not satisfied", not_satisfied),
        ("Report::facade busy", busy),
    ]
}

#[test]
fn the_guide_shows_every_message_of_mockall_bridge() {
    let mut rendered = facade_errors();
    rendered.extend(call_errors());
    rendered.extend(reports());
    error_guide::check("mockall-bridge", &rendered);
}
