//! Shared mode: in an `#[owned_test(shared)]` test every actor, known or not, uses the
//! test's mocks; facades return to private mode after it.
//!
//! A binary of its own: a shared test switches every facade of its process, so calls from
//! plain threads are made only inside owned tests, where the harness's gate keeps shared
//! tests apart from the others.

use mockall::automock;
use mockall_bridge::{CallError, Facade, FacadeError, installable};
use ownership_runtime::harness::{TestConfig, run_async};
use ownership_runtime::{Actor, owned_test};

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

static SOURCE: Facade<dyn Source> = Facade::with_default("shared::SOURCE", || Box::new(Real));
/// First installed inside a shared test: it must start in shared mode.
static LATE: Facade<dyn Source> = Facade::new("shared::LATE");
/// Registered (installed into by a private test), but not installed into by the shared
/// test: everyone gets its default then.
static UNTOUCHED: Facade<dyn Source> = Facade::with_default("shared::UNTOUCHED", || Box::new(Real));

fn mock_returning(value: u64) -> MockSource {
    let mut mock = MockSource::new();
    mock.expect_value().return_const(value);
    mock
}

#[test]
fn in_shared_mode_an_unknown_thread_sees_the_tests_mock() {
    // Private first, so that SOURCE is registered before the shared test starts.
    run_async(TestConfig::new("shared::private_before"), || async {
        SOURCE.install(mock_returning(1)).unwrap();
        UNTOUCHED.install(mock_returning(1)).unwrap();
        assert_eq!(SOURCE.get().value(), 1);
        assert_eq!(
            std::thread::spawn(|| SOURCE.get().value()).join().unwrap(),
            0
        );
    });

    run_async(TestConfig::new("shared::shared").shared(true), || async {
        SOURCE.install(mock_returning(42)).unwrap();
        LATE.install(mock_returning(43)).unwrap();
        // A plain thread runs for nobody: shared mode sends it to the test's mocks.
        let seen = std::thread::spawn(|| (SOURCE.get().value(), LATE.get().value()))
            .join()
            .unwrap();
        assert_eq!(seen, (42, 43));
        // So does an actor the test never heard of.
        let stranger = Actor::named("shared::stranger");
        let seen = std::thread::spawn(move || {
            let _as_stranger = stranger.enter();
            SOURCE.get().value()
        })
        .join()
        .unwrap();
        assert_eq!(seen, 42);
        // A facade the shared test installed nothing into: its default, for everyone,
        // and without waiting for an install (10,000 calls take about a millisecond).
        let started = std::time::Instant::now();
        let defaults =
            std::thread::spawn(|| (0..10_000).map(|_| UNTOUCHED.get().value()).sum::<u64>())
                .join()
                .unwrap();
        assert_eq!(defaults, 0);
        assert_eq!(UNTOUCHED.get().value(), 0);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "calls to a facade the shared test didn't install into took {:?}",
            started.elapsed()
        );
        // Allowing succeeds and changes nothing: everyone sees the test's mock already
        // (suite helpers allow in both modes).
        let worker = Actor::named("shared::worker");
        SOURCE.allow(worker.id()).unwrap();
        let seen = std::thread::spawn(move || {
            let _as_worker = worker.enter();
            SOURCE.get().value()
        })
        .join()
        .unwrap();
        assert_eq!(seen, 42);
        // Only the shared test installs.
        let error = std::thread::spawn(|| {
            let stranger = Actor::named("shared::installer");
            let _as_stranger = stranger.enter();
            SOURCE.install(mock_returning(9)).unwrap_err()
        })
        .join()
        .unwrap();
        assert!(
            matches!(error, FacadeError::NotSharedOwner { .. }),
            "{error}"
        );
    });

    // Private again: a plain thread gets the default, or no implementation. (Checked
    // inside a private test, so that the harness's gate keeps the other shared test of
    // this binary from running meanwhile.)
    run_async(TestConfig::new("shared::private_after"), || async {
        let (source, late) = std::thread::spawn(|| {
            (
                SOURCE.get().value(),
                LATE.try_get().map(|_| ()).unwrap_err(),
            )
        })
        .join()
        .unwrap();
        assert_eq!(source, 0);
        assert!(matches!(late, CallError::NotOwned { .. }), "{late}");
    });
}

#[owned_test(shared)]
async fn a_shared_owned_test_shares_its_mock_with_threads_it_did_not_start() {
    SOURCE.install(mock_returning(11)).unwrap();
    let seen = std::thread::spawn(|| SOURCE.get().value()).join().unwrap();
    assert_eq!(seen, 11);
}

#[owned_test]
async fn a_private_owned_test_next_to_them_sees_its_own() {
    SOURCE.install(mock_returning(12)).unwrap();
    assert_eq!(SOURCE.get().value(), 12);
    assert_eq!(
        tokio::spawn(async { SOURCE.get().value() }).await.unwrap(),
        12
    );
}
