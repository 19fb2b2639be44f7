//! The settlement worker: started once per process ([`common::SETTLER`], an
//! `ownership_runtime::Worker` with a thread, a runtime and an actor of its own), it works
//! for no test until one allows it on its database and clock; then it settles that test's
//! paid orders, stamped by that test's clock. A shared test needs no allowance.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use common::{
    DB, MockClock, MockGateway, NOON, SETTLER, SettlerTurn, at, clock_at, gateway_accepting,
    stock_shop, test_shop,
};
use ownership_runtime::{Worker, callers, owned_test};
use shop::clock::CLOCK;
use shop::payments::GATEWAY;
use shop::settlement::{self, SettleError};
use shop::{LineItem, Order, OrderStatus, Payment, PaymentError, PlaceOrder, Shop, ShopError};

/// A clock the test moves: it says what `now` holds.
fn movable_clock(now: &Arc<AtomicI64>) -> MockClock {
    let now = now.clone();
    let mut clock = MockClock::new();
    clock
        .expect_now()
        .returning(move || at(now.load(Ordering::SeqCst)));
    clock
}

/// Places one order for a tea, by `email`.
async fn order_tea(shop: &Shop, tea: &str, email: &str) -> Result<Order, ShopError> {
    shop.place_order(&PlaceOrder::new(email, [LineItem::new(tea, 1)]))
        .await
}

#[owned_test(sandbox = DB)]
async fn the_worker_allowed_with_allow_all_settles_the_tests_paid_orders_by_its_clock() {
    let shop = test_shop();
    let (tea, _) = stock_shop(&shop, "1").await;
    let now = Arc::new(AtomicI64::new(NOON));
    CLOCK.install(movable_clock(&now)).unwrap();
    let mut gateway = MockGateway::new();
    gateway
        .expect_charge()
        .withf(|request| request.customer_email == "ada@example.com")
        .times(1)
        .returning(|request| {
            Ok(Payment {
                id: format!("ch_{}", request.order),
            })
        });
    gateway
        .expect_charge()
        .withf(|request| request.customer_email == "bob@example.com")
        .times(1)
        .returning(|_| {
            Err(PaymentError::Declined {
                reason: "card expired".to_owned(),
            })
        });
    GATEWAY.install(gateway).unwrap();
    let paid = order_tea(&shop, &tea, "ada@example.com").await.unwrap();
    let failed = order_tea(&shop, &tea, "bob@example.com").await.unwrap_err();
    let ShopError::PaymentFailed { order: failed, .. } = failed else {
        panic!("{failed:?}");
    };

    // One call: the worker may use this test's database and its clock (and gateway).
    let settler = SettlerTurn::allow_all().await;
    now.store(NOON + 3_600, Ordering::SeqCst);
    assert_eq!(settler.settle_now().await, [paid.id]);

    let settled = shop.order(paid.id).await.unwrap().unwrap();
    assert_eq!(settled.status, OrderStatus::Settled);
    assert_eq!(settled.settled_at, Some(NOON + 3_600));
    assert_eq!(settled.created_at, NOON);
    let still_failed = shop.order(failed).await.unwrap().unwrap();
    assert_eq!(
        (still_failed.status, still_failed.settled_at),
        (OrderStatus::Failed, None)
    );
    // Nothing left to settle.
    assert_eq!(settler.settle_now().await, []);
}

#[owned_test(sandbox = DB)]
async fn the_worker_allowed_by_the_sandbox_and_the_clock_facade_one_by_one() {
    let shop = test_shop();
    let (tea, _) = stock_shop(&shop, "1").await;
    CLOCK.install(clock_at(NOON)).unwrap();
    GATEWAY.install(gateway_accepting(2, "ch")).unwrap();
    let first = order_tea(&shop, &tea, "ada@example.com").await.unwrap();
    let second = order_tea(&shop, &tea, "ada@example.com").await.unwrap();

    let test = callers()[0];
    let settler = SettlerTurn::take(|worker| {
        DB.allow(test, worker).map_err(|error| error.to_string())?;
        CLOCK.allow(worker).map_err(|error| error.to_string())
    })
    .await;

    assert_eq!(settler.settle_now().await, [first.id, second.id]);
    for id in [first.id, second.id] {
        let order = shop.order(id).await.unwrap().unwrap();
        assert_eq!(
            (order.status, order.settled_at),
            (OrderStatus::Settled, Some(NOON))
        );
    }
}

#[owned_test(sandbox = DB)]
async fn a_worker_allowed_on_the_database_only_reads_the_real_clock() {
    let shop = test_shop();
    let (tea, _) = stock_shop(&shop, "1").await;
    CLOCK.install(clock_at(NOON)).unwrap();
    GATEWAY.install(gateway_accepting(1, "ch")).unwrap();
    let paid = order_tea(&shop, &tea, "ada@example.com").await.unwrap();

    let test = callers()[0];
    let settler =
        SettlerTurn::take(|worker| DB.allow(test, worker).map_err(|error| error.to_string())).await;
    let before = shop::clock::unix_seconds(std::time::SystemTime::now());
    assert_eq!(settler.settle_now().await, [paid.id]);

    // Allowances are per resource: the worker wrote to this test's database, and read the
    // clock's default (the system clock), not this test's mock.
    let settled = shop.order(paid.id).await.unwrap().unwrap();
    assert_eq!(settled.created_at, NOON);
    let settled_at = settled.settled_at.unwrap();
    assert!(settled_at >= before && settled_at > NOON, "{settled_at}");
}

#[owned_test(sandbox = DB)]
async fn a_worker_nobody_allowed_cannot_reach_the_tests_database() {
    let shop = test_shop();
    stock_shop(&shop, "1").await;
    // A settlement worker of its own, that no test allows.
    let (handle, settling) = settlement::settler(shop.clone(), None);
    let worker = Worker::start("settlement::unallowed_worker", settling).unwrap();

    let error = handle.settle_now().await.unwrap_err();

    let SettleError::Failed(ShopError::Database(cause)) = &error else {
        panic!("{error:?}");
    };
    let chain = ownership_runtime::error_chain(&error).to_string();
    assert!(chain.contains("sandbox `shop-db`"), "{chain}");
    assert!(chain.contains("settlement::unallowed_worker"), "{chain}");
    assert!(sandbox_sqlx::SandboxError::of(cause).is_some(), "{cause:?}");
    drop(handle);
    worker.join().unwrap();
}

#[owned_test(shared, sandbox = DB)]
async fn in_shared_mode_the_process_worker_needs_no_allowance() {
    let shop = test_shop();
    let (tea, _) = stock_shop(&shop, "1").await;
    CLOCK.install(clock_at(NOON)).unwrap();
    GATEWAY.install(gateway_accepting(1, "ch")).unwrap();
    let paid = order_tea(&shop, &tea, "ada@example.com").await.unwrap();

    // A shared test runs alone, and every actor uses its resources: the process's worker
    // settles with this test's database and clock, unallowed.
    assert_eq!(SETTLER.settle_now().await.unwrap(), [paid.id]);

    let settled = shop.order(paid.id).await.unwrap().unwrap();
    assert_eq!(
        (settled.status, settled.settled_at),
        (OrderStatus::Settled, Some(NOON))
    );
}

#[owned_test(sandbox = DB, start_paused = true, timeout = "60s")]
async fn the_settler_also_settles_on_its_own_every_interval() {
    let shop = test_shop();
    let (tea, _) = stock_shop(&shop, "1").await;
    CLOCK.install(clock_at(NOON)).unwrap();
    GATEWAY.install(gateway_accepting(1, "ch")).unwrap();
    let paid = order_tea(&shop, &tea, "ada@example.com").await.unwrap();

    // As production runs it: a task on the app's runtime (here the test's), ticking.
    let every = Duration::from_secs(60);
    let (handle, settling) = settlement::settler(shop.clone(), Some(every));
    let running = tokio::spawn(settling);
    // The paused clock jumps to the first tick.
    tokio::time::sleep(every + Duration::from_secs(1)).await;
    // Asked after the tick, the worker has nothing left: the tick settled it.
    assert_eq!(handle.settle_now().await.unwrap(), []);
    let settled = shop.order(paid.id).await.unwrap().unwrap();
    assert_eq!(
        (settled.status, settled.settled_at),
        (OrderStatus::Settled, Some(NOON))
    );

    // The worker ends with its last handle.
    drop(handle);
    running.await.unwrap();
}
