//! A facade for a trait made with `#[trait_variant::make(Send)]`, whose methods return
//! `impl Future + Send`: such a trait is not dyn-compatible, so the facade holds its
//! `#[async_trait]` twin, which every implementation of the trait implements through one
//! blanket impl. The trait's mockall mock (`#[automock]` above `#[trait_variant::make]`)
//! is installed as it is; generic code keeps the trait, app code calls the facade in one
//! expression, `GATEWAY.get().charge(cents).await`, and the mock is verified when the test
//! ends.

use std::panic::{self, AssertUnwindSafe};

use async_trait::async_trait;
use mockall::automock;
use mockall_bridge::{Guard, facade};
use ownership_runtime::harness::{Flavor, TestConfig, run_async};

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

fn report_of(run: impl FnOnce()) -> String {
    let payload = panic::catch_unwind(AssertUnwindSafe(run)).unwrap_err();
    match payload.downcast::<String>() {
        Ok(report) => *report,
        Err(_) => panic!("the test's report is a string"),
    }
}

#[test]
fn the_trait_variant_mock_is_installed_into_its_twins_facade_and_called_in_one_expression() {
    run_async(
        TestConfig::new("trait_variant::charges").flavor(Flavor::MultiThread),
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
        run_async(TestConfig::new("trait_variant::never_charges"), || async {
            let mut gateway = MockPaymentGateway::new();
            gateway
                .expect_charge()
                .times(1)
                .returning(|_| Ok("ch_1".to_owned()));
            GATEWAY.install(gateway).unwrap();
        })
    });
    assert!(
        report.contains("facade `trait_variant::GATEWAY` (after the test): "),
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
