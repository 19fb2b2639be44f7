//! A test whose payment-gateway mock expects a charge that never comes fails, and its
//! report says which mock and why, with mockall's verdict. The failing test is a fixture
//! (ignored), run here in a process of its own, as nextest would run it, to read what it
//! printed.

mod common;

use common::{DB, MockGateway, Via, request, stock_shop, test_shop};
use ownership_e2e::fixtures::{assert_in_order, run_fixture};
use ownership_runtime::owned_test;
use shop::payments::GATEWAY;
use shop::{LineItem, PlaceOrder};

/// Expects one charge, then sends (over TCP, to the process's server) an order the shop
/// refuses before charging: the expectation is unmet when the test ends.
#[owned_test(sandbox = DB)]
#[ignore = "a fixture that fails on purpose: an_unmet_payment_expectation_fails_its_test runs it"]
async fn fixture_expects_a_charge_that_never_comes() {
    let shop = test_shop();
    let (tea, _) = stock_shop(&shop, "1").await;
    let mut gateway = MockGateway::new();
    gateway.expect_charge().times(1).returning(|request| {
        Ok(shop::Payment {
            id: format!("ch_{}", request.order),
        })
    });
    GATEWAY.install(gateway).unwrap();

    // Not an address: refused with 422 before any charge.
    let order = PlaceOrder::new("not an address", [LineItem::new(&tea, 1)]);
    let (status, _) = request(Via::Tcp, "POST", "/orders", Some(&order)).await;
    assert_eq!(status, 422);
}

// An owned test too, on the database the fixture needs: without its server both are
// skipped, saying why (failed under CI=true).
#[owned_test(sandbox = DB)]
async fn an_unmet_payment_expectation_fails_its_test() {
    let printed =
        tokio::task::spawn_blocking(|| run_fixture("fixture_expects_a_charge_that_never_comes"))
            .await
            .unwrap();

    assert_in_order(
        &printed,
        &[
            "owned test `failures::fixture_expects_a_charge_that_never_comes` failed:\n",
            "  1. facade `shop::payments::GATEWAY` (after the test): the mock installed at \
             examples/shop/tests/failures.rs:",
            "was not satisfied: MockGateway::charge: Expectation(<anything>) called 0 time(s) \
             which is fewer than expected 1",
        ],
    );
    // The body passed (the order was refused as it should be): only the mock is blamed.
    assert!(!printed.contains("  2. "), "{printed}");
    assert!(!printed.contains("the test panicked"), "{printed}");
}
