//! A call that finds no mock says which call it was: the method, as the caller's source
//! reads (`GATEWAY.get().charge(..)`), where it was made, who made it, and what to do. Made
//! for real: an `#[owned_test]` that awaits an `#[async_trait]` mock it never installed,
//! run in a process of its own, fails with that message in its report; a `Worker` that
//! the test didn't allow panics with it.

use async_trait::async_trait;
use mockall::automock;
use mockall_bridge::facade;
use ownership_e2e::fixtures::{assert_in_order, run_fixture};
use ownership_runtime::harness::{TestConfig, run_async};
use ownership_runtime::{Worker, WorkerError, callers, owned_test};

#[automock]
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    async fn charge(&self, cents: u64) -> Result<String, String>;
}

facade!(pub static GATEWAY: dyn PaymentGateway);

/// The line of `checkout`'s call (three below).
const CALL_LINE: u32 = line!() + 3;
/// App code, as an app writes it.
async fn checkout(cents: u64) -> Result<String, String> {
    GATEWAY.get().charge(cents).await
}

/// Where `checkout` calls `get`, as `#[track_caller]` says it.
fn call_site() -> String {
    format!("{}:{CALL_LINE}:{}", file!(), "    GATEWAY.".len() + 1)
}

// ---- fixtures ----

#[owned_test]
#[ignore = "fixture: run by the tests below in a subprocess"]
async fn fixture_checks_out_without_a_mock() {
    let _ = checkout(500).await;
}

// ---- the tests ----

#[test]
fn a_test_that_calls_a_facade_it_gave_no_mock_fails_naming_the_method_and_what_to_do() {
    let printed = run_fixture("fixture_checks_out_without_a_mock");
    let panicked = format!("1. the test panicked at {}: ", call_site());
    let call = format!(
        "facade `missing_mock::GATEWAY` has no mock for `GATEWAY.get().charge(..)` at {}, \
         called by actor#",
        call_site()
    );
    assert_in_order(
        &printed,
        &[
            "owned test `missing_mock::fixture_checks_out_without_a_mock` failed:",
            &panicked,
            &call,
            " (missing_mock::fixture_checks_out_without_a_mock), which neither owns a mock in it \
             nor is allowed to use one. It has no default implementation either.",
            "No actor owns a mock in it right now: if this call works for a test, install one in \
             that test first (`GATEWAY.install(mock)`).",
            "or allow the calling actor from the test: `GATEWAY.allow(worker.id())`",
        ],
    );
}

#[test]
fn a_worker_the_test_did_not_allow_panics_naming_the_call_the_worker_and_the_owner() {
    run_async(TestConfig::new("missing_mock::owner"), || async {
        let mut gateway = MockPaymentGateway::new();
        gateway
            .expect_charge()
            .times(1)
            .returning(|cents| Ok(format!("ch_{cents}")));
        GATEWAY.install(gateway).unwrap();
        assert_eq!(checkout(5).await.unwrap(), "ch_5");

        // A worker of its own, not allowed: it finds no mock for its call.
        let worker = Worker::start("missing_mock::billing", async {
            let _ = checkout(7).await;
        })
        .unwrap();
        let worker_id = worker.id();
        let Err(WorkerError::Panicked { message, .. }) = worker.join() else {
            panic!("the worker's call panics");
        };
        let test = callers()[0];
        for expected in [
            format!(
                "facade `missing_mock::GATEWAY` has no mock for `GATEWAY.get().charge(..)` at {}",
                call_site()
            ),
            format!(
                ", called by {worker_id}, which neither owns a mock in it nor is allowed to use \
                 one."
            ),
            format!("Mocks in it are owned right now by {test};"),
            "`GATEWAY.allow(worker.id())`".to_owned(),
            "`ownership_runtime::allow_all(worker.id())` for everything the test owns".to_owned(),
        ] {
            assert!(message.contains(&expected), "{expected:?} in:\n{message}");
        }
    });
}
