//! Facades of traits whose methods are `async`: through `#[async_trait]` (with real
//! `#[automock]` mocks) and through a method that returns a boxed future. A call reads like
//! a call, `GATEWAY.get().charge(cents).await`: the guard lives across the `.await`, in the
//! test's body and in tasks spawned on a multi-thread runtime. The mock is still verified
//! when the test ends, at once, also when one of the test's tasks is still awaiting a call
//! (holding its guard) as the test ends: the harness cancels the test's tasks (their guards
//! drop) before it verifies. A `trait_variant` trait's facade holds its `#[async_trait]`
//! twin (`mod variant`).

use std::future::{Future, pending};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mockall::automock;
use mockall_bridge::{Guard, facade};
use ownership_runtime::harness::{Flavor, LeftoverTasks, TestConfig, run_async};

#[automock]
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    async fn charge(&self, cents: u64) -> Result<String, String>;
}

pub struct Stripe;

#[async_trait]
impl PaymentGateway for Stripe {
    async fn charge(&self, cents: u64) -> Result<String, String> {
        tokio::task::yield_now().await;
        Ok(format!("ch_live_{cents}"))
    }
}

facade!(pub static GATEWAY: dyn PaymentGateway = Stripe);

/// App code: one line, the guard held across the `.await`.
async fn checkout(cents: u64) -> Result<String, String> {
    GATEWAY.get().charge(cents).await
}

/// A hand-written gateway whose calls take a while: the guard really waits across awaits.
struct Slow;

#[async_trait]
impl PaymentGateway for Slow {
    async fn charge(&self, cents: u64) -> Result<String, String> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        tokio::task::yield_now().await;
        Ok(format!("ch_slow_{cents}"))
    }
}

facade!(static SLOW_GATEWAY: dyn PaymentGateway + Send + Sync);

/// A boxed future the caller awaits: the other way to make an async method a trait object.
pub type Approval = Pin<Box<dyn Future<Output = bool> + Send>>;

#[automock]
pub trait Approvals: Send + Sync {
    fn approve(&self, order: u64) -> Approval;
}

facade!(static APPROVALS: dyn Approvals);

/// What a failed owned test panicked with: its report.
fn report_of(run: impl FnOnce()) -> String {
    let payload = panic::catch_unwind(AssertUnwindSafe(run)).unwrap_err();
    match payload.downcast::<String>() {
        Ok(report) => *report,
        Err(_) => panic!("the test's report is a string"),
    }
}

#[test]
fn an_async_trait_mock_is_called_through_the_facade_and_awaited_in_one_expression() {
    run_async(
        TestConfig::new("async_facades::charges").flavor(Flavor::MultiThread),
        || async {
            let mut gateway = MockPaymentGateway::new();
            gateway
                .expect_charge()
                .times(3)
                .returning(|cents| Ok(format!("ch_test_{cents}")));
            GATEWAY.install(gateway).unwrap();

            assert_eq!(checkout(1).await.unwrap(), "ch_test_1");
            let tasks: Vec<_> = [2, 3]
                .into_iter()
                .map(|cents| tokio::spawn(checkout(cents)))
                .collect();
            for (task, cents) in tasks.into_iter().zip([2, 3]) {
                assert_eq!(task.await.unwrap().unwrap(), format!("ch_test_{cents}"));
            }
        },
    );
    // Outside the test: the default, awaited the same way.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(checkout(4)).unwrap(), "ch_live_4");
}

#[test]
fn a_guard_held_across_awaits_moves_between_threads_in_a_spawned_task() {
    run_async(
        TestConfig::new("async_facades::slow")
            .flavor(Flavor::MultiThread)
            .worker_threads(2),
        || async {
            SLOW_GATEWAY.install(Slow).unwrap();
            let tasks: Vec<_> = (0..8_u64)
                .map(|cents| {
                    tokio::spawn(async move {
                        let gateway = SLOW_GATEWAY.get();
                        let charged = gateway.charge(cents).await;
                        // Still the test's fake after the awaits, on whichever thread.
                        (charged, Guard::owner(&gateway).is_some())
                    })
                })
                .collect();
            for (cents, task) in tasks.into_iter().enumerate() {
                let (charged, is_the_tests) = task.await.unwrap();
                assert_eq!(charged.unwrap(), format!("ch_slow_{cents}"));
                assert!(is_the_tests);
            }
        },
    );
}

#[test]
fn an_unmet_async_expectation_fails_the_test_with_mockalls_verdict() {
    let report = report_of(|| {
        run_async(TestConfig::new("async_facades::unmet"), || async {
            let mut gateway = MockPaymentGateway::new();
            gateway
                .expect_charge()
                .times(2)
                .returning(|_| Ok("ch".to_owned()));
            GATEWAY.install(gateway).unwrap();
            checkout(1).await.unwrap();
        });
    });
    assert!(
        report.contains("facade `async_facades::GATEWAY` (after the test)"),
        "{report}"
    );
    assert!(
        report.contains("MockPaymentGateway::charge: Expectation(<anything>) called 1 time(s) which is fewer than expected 2"),
        "{report}"
    );
}

/// A test that ends while its task still awaits a call (its guard held): returns the
/// report, if the test failed, and how long the test took.
fn run_with_a_call_in_flight(
    times: usize,
    leftover_tasks: LeftoverTasks,
) -> (Option<String>, Duration) {
    let started = Instant::now();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        run_async(
            TestConfig::new("async_facades::in_flight")
                .leftover_tasks(leftover_tasks)
                .leftover_grace(Duration::from_millis(50)),
            move || async move {
                let mut approvals = MockApprovals::new();
                approvals
                    .expect_approve()
                    .times(times)
                    .returning(|_| Box::pin(pending()));
                APPROVALS.install(approvals).unwrap();
                let (called, was_called) = tokio::sync::oneshot::channel();
                tokio::spawn(async move {
                    let approval = APPROVALS.get().approve(7);
                    let _ = called.send(());
                    // Never ready: the guard of this call is still out when the test ends.
                    approval.await
                });
                was_called.await.unwrap();
            },
        );
    }));
    let report = outcome
        .err()
        .map(|payload| match payload.downcast::<String>() {
            Ok(report) => *report,
            Err(_) => panic!("the test's report is a string"),
        });
    (report, started.elapsed())
}

/// Much less than the 2 s a verification would wait for a guard.
const AT_ONCE: Duration = Duration::from_millis(1500);

#[test]
fn a_task_still_awaiting_a_call_at_the_end_does_not_delay_verification() {
    let (report, took) = run_with_a_call_in_flight(1, LeftoverTasks::Cancel);
    assert_eq!(report, None);
    assert!(took < AT_ONCE, "the test took {took:?}");
}

#[test]
fn a_task_still_awaiting_a_call_at_the_end_leaves_the_verdict_to_the_test() {
    let (report, took) = run_with_a_call_in_flight(2, LeftoverTasks::Cancel);
    let report = report.expect("the mock was called once of twice");
    assert!(took < AT_ONCE, "the test took {took:?}");
    assert!(
        report.contains("MockApprovals::approve: Expectation(<anything>) called 1 time(s) which is fewer than expected 2"),
        "{report}"
    );
    assert!(!report.contains("could not be verified"), "{report}");

    // With the default policy, the left-over task fails the test too, and the mock is
    // verified all the same.
    let (report, took) = run_with_a_call_in_flight(1, LeftoverTasks::Fail);
    let report = report.expect("a task outlived the test");
    assert!(took < AT_ONCE, "the test took {took:?}");
    assert!(!report.contains("facade `"), "{report}");
}

/// A trait made with `#[trait_variant::make(Send)]`, whose methods return
/// `impl Future + Send`, is not dyn-compatible: its facade holds its `#[async_trait]` twin,
/// which every implementation of the trait is through one blanket impl. The trait's own
/// mockall mock (`#[automock]` above `#[trait_variant::make]`) is installed as it is;
/// generic code keeps the trait.
mod variant {
    use async_trait::async_trait;
    use mockall::automock;
    use mockall_bridge::{Guard, facade};
    use ownership_runtime::harness::{Flavor, TestConfig, run_async};

    use super::report_of;

    /// The app's trait, for generic code: its futures are `Send`, with no box.
    #[automock]
    #[trait_variant::make(Send)]
    pub trait PaymentGateway: Sync {
        async fn charge(&self, cents: u64) -> Result<String, String>;
    }

    /// The facade's trait: the same methods, with boxed futures, so that `dyn` works.
    #[async_trait]
    pub trait DynPaymentGateway: Send + Sync {
        async fn charge(&self, cents: u64) -> Result<String, String>;
    }

    /// Every gateway is its twin, the mock too.
    #[async_trait]
    impl<G: PaymentGateway + Send> DynPaymentGateway for G {
        async fn charge(&self, cents: u64) -> Result<String, String> {
            PaymentGateway::charge(self, cents).await
        }
    }

    pub struct Stripe;

    impl PaymentGateway for Stripe {
        async fn charge(&self, cents: u64) -> Result<String, String> {
            tokio::task::yield_now().await;
            Ok(format!("ch_live_{cents}"))
        }
    }

    facade!(pub static GATEWAY: dyn DynPaymentGateway = Stripe);

    /// App code that goes through the facade.
    async fn checkout(cents: u64) -> Result<String, String> {
        GATEWAY.get().charge(cents).await
    }

    /// Generic code that takes the trait itself.
    async fn refund<G: PaymentGateway>(gateway: &G, cents: u64) -> Result<String, String> {
        gateway.charge(cents).await.map(|id| format!("re_{id}"))
    }

    #[test]
    fn the_trait_variant_mock_is_installed_into_its_twins_facade_and_called_in_one_expression() {
        run_async(
            TestConfig::new("async_facades::variant::charges").flavor(Flavor::MultiThread),
            || async {
                let mut gateway = MockPaymentGateway::new();
                gateway
                    .expect_charge()
                    .times(2)
                    .returning(|cents| Ok(format!("ch_{cents}")));
                GATEWAY.install(gateway).unwrap();
                assert!(Guard::owner(&GATEWAY.get()).is_some());
                assert_eq!(checkout(250).await.unwrap(), "ch_250");
                // A task on another worker thread: the guard lives across the await there too.
                let task = tokio::spawn(checkout(300));
                assert_eq!(task.await.unwrap().unwrap(), "ch_300");
            },
        );
        // Outside any test: the real gateway, through the same blanket impl.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(runtime.block_on(checkout(5)).unwrap(), "ch_live_5");
    }

    #[test]
    fn generic_code_keeps_the_trait_and_its_mock() {
        let mut gateway = MockPaymentGateway::new();
        gateway
            .expect_charge()
            .times(1)
            .returning(|cents| Ok(format!("ch_{cents}")));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(runtime.block_on(refund(&gateway, 9)).unwrap(), "re_ch_9");
        assert_eq!(
            runtime.block_on(refund(&Stripe, 9)).unwrap(),
            "re_ch_live_9"
        );
    }

    #[test]
    fn an_unmet_expectation_of_the_trait_variant_mock_fails_its_test() {
        let report = report_of(|| {
            run_async(
                TestConfig::new("async_facades::variant::never_charges"),
                || async {
                    let mut gateway = MockPaymentGateway::new();
                    gateway
                        .expect_charge()
                        .times(1)
                        .returning(|_| Ok("ch_1".to_owned()));
                    GATEWAY.install(gateway).unwrap();
                },
            )
        });
        assert!(
            report.contains("facade `async_facades::variant::GATEWAY` (after the test): "),
            "{report}"
        );
        assert!(
            report.contains(
                "MockPaymentGateway::charge: Expectation(<anything>) called 0 time(s) which is \
                 fewer than expected 1"
            ),
            "{report}"
        );
    }
}
