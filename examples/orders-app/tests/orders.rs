//! The order service under test: every test gets its own SQLite database (a copy of the
//! migrated template, deleted when the test ends) and installs its own mocks of the
//! payment gateway, the mailer and the clock. Tests run at once and never see each
//! other's rows or mocks; tasks the app spawns work for the test that caused them.

use std::future::ready;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mockall::mock;
use mockall_bridge::Guard;
use orders_app::clock::CLOCK;
use orders_app::mailer::{MAILER, MailFuture};
use orders_app::payments::{ChargeFuture, GATEWAY};
use orders_app::{
    Charge, ChargeRequest, Clock, Confirmation, CustomerId, LineItem, MIGRATOR, Mailer, OrderError,
    OrderLine, OrderService, OrderStatus, PAYMENT_TIMEOUT, PaymentError, PaymentGateway, Product,
};
use ownership_runtime::harness::{TestConfig, TestResource, run_async};
use ownership_runtime::{Worker, allow_all, callers, owned_test};
use sandbox_sqlx::Sandbox;
use sqlx::Sqlite;

mock! {
    pub Gateway {}
    impl PaymentGateway for Gateway {
        fn charge(&self, request: ChargeRequest) -> ChargeFuture;
    }
}

mock! {
    pub Mailer {}
    impl Mailer for Mailer {
        fn send_confirmation(&self, confirmation: Confirmation) -> MailFuture;
    }
}

mock! {
    pub Clock {}
    impl Clock for Clock {
        fn now(&self) -> SystemTime;
    }
}

/// The app's database: a template migrated once per run (across nextest's processes
/// too), of which every test gets a copy of its own.
static DB: LazyLock<Sandbox<Sqlite>> = LazyLock::new(|| {
    let template = Path::new(env!("CARGO_TARGET_TMPDIR")).join("orders-app.db");
    Sandbox::builder("orders-app", format!("sqlite://{}", template.display()))
        .migrations(&MIGRATOR)
        .build()
        .expect("the sandbox's URL is valid")
});

/// For tests run through the harness's API rather than `#[owned_test(sandbox = DB)]`.
static WITH_DB: [&dyn TestResource; 1] = [&DB];

/// 2026-01-01 12:00:00 UTC.
const NOON: i64 = 1_767_268_800;

const TEA_CENTS: i64 = 1_250;
const MUG_CENTS: i64 = 499;

fn at(unix_seconds: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix_seconds.unsigned_abs())
}

/// A shop with one customer, Ada, and two products: 10 teas and 3 mugs.
struct Shop {
    service: OrderService,
    ada: CustomerId,
}

async fn shop() -> Shop {
    let service = OrderService::new(DB.pool());
    let ada = service
        .add_customer("Ada", "ada@example.com")
        .await
        .unwrap();
    for (sku, name, price_cents, stock) in [
        ("TEA-01", "Assam tea", TEA_CENTS, 10),
        ("MUG-02", "Mug", MUG_CENTS, 3),
    ] {
        let product = Product {
            sku: sku.to_owned(),
            name: name.to_owned(),
            price_cents,
            stock,
        };
        service.add_product(&product).await.unwrap();
    }
    Shop { service, ada }
}

fn charged(id: String) -> ChargeFuture {
    Box::pin(ready(Ok(Charge { id })))
}

/// A gateway that accepts exactly `times` charges, as `ch_<order id>`.
fn gateway_accepting(times: usize) -> MockGateway {
    let mut gateway = MockGateway::new();
    gateway
        .expect_charge()
        .times(times)
        .returning(|request| charged(format!("ch_{}", request.order.0)));
    gateway
}

/// A gateway that declines the one charge it expects.
fn gateway_declining() -> MockGateway {
    let mut gateway = MockGateway::new();
    gateway.expect_charge().times(1).returning(|_| {
        Box::pin(ready(Err(PaymentError::Declined {
            reason: "insufficient funds".to_owned(),
        })))
    });
    gateway
}

/// A mailer that expects exactly `times` confirmations, and sends them.
fn mailer_expecting(times: usize) -> MockMailer {
    let mut mailer = MockMailer::new();
    mailer
        .expect_send_confirmation()
        .times(times)
        .returning(|_| Box::pin(ready(Ok(()))));
    mailer
}

fn clock_at(unix_seconds: i64) -> MockClock {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(at(unix_seconds));
    clock
}

/// A count of rows in the test's database.
async fn count(sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&DB.pool()).await.unwrap()
}

/// Asserts that the test's database holds no order and the stock is untouched.
async fn assert_nothing_written(service: &OrderService) {
    assert_eq!(count("SELECT count(*) FROM orders").await, 0);
    assert_eq!(count("SELECT count(*) FROM order_lines").await, 0);
    assert_eq!(service.stock("TEA-01").await.unwrap(), Some(10));
    assert_eq!(service.stock("MUG-02").await.unwrap(), Some(3));
}

#[owned_test(sandbox = DB)]
async fn placing_an_order_charges_its_total_and_writes_it_with_its_lines() {
    let Shop { service, ada } = shop().await;
    let mut gateway = MockGateway::new();
    gateway
        .expect_charge()
        .withf(move |request| {
            request.customer == ada
                && request.amount_cents == 2 * TEA_CENTS + MUG_CENTS
                && request.idempotency_key == format!("order-{}", request.order.0)
        })
        .times(1)
        .returning(|request| charged(format!("ch_{}", request.order.0)));
    GATEWAY.install(gateway).unwrap();
    CLOCK.install(clock_at(NOON)).unwrap();
    MAILER.install(mailer_expecting(1)).unwrap();

    let items = [LineItem::new("TEA-01", 2), LineItem::new("MUG-02", 1)];
    let placed = service.place_order(ada, &items).await.unwrap();

    assert_eq!(placed.status, OrderStatus::Paid);
    assert_eq!(placed.total_cents, 2 * TEA_CENTS + MUG_CENTS);
    assert_eq!(placed.charge_id, Some(format!("ch_{}", placed.id.0)));
    assert_eq!(placed.placed_at, NOON);
    let tea = OrderLine {
        sku: "TEA-01".to_owned(),
        quantity: 2,
        unit_price_cents: TEA_CENTS,
    };
    let mug = OrderLine {
        sku: "MUG-02".to_owned(),
        quantity: 1,
        unit_price_cents: MUG_CENTS,
    };
    assert_eq!(placed.lines, [tea, mug]);

    assert_eq!(service.flush_confirmations().await.unwrap(), 1);
    let stored = service.order(placed.id).await.unwrap().unwrap();
    let confirmed = orders_app::Order {
        status: OrderStatus::Confirmed,
        confirmed_at: Some(NOON),
        ..placed
    };
    assert_eq!(stored, confirmed);
    assert_eq!(service.stock("TEA-01").await.unwrap(), Some(8));
    assert_eq!(service.stock("MUG-02").await.unwrap(), Some(2));
}

#[owned_test(sandbox = DB)]
async fn a_declined_payment_rolls_the_whole_order_back() {
    let Shop { service, ada } = shop().await;
    GATEWAY.install(gateway_declining()).unwrap();
    // No expectation: any confirmation would fail the test.
    MAILER.install(MockMailer::new()).unwrap();

    let items = [LineItem::new("TEA-01", 2), LineItem::new("MUG-02", 1)];
    let error = service.place_order(ada, &items).await.unwrap_err();

    assert!(
        matches!(
            &error,
            OrderError::Payment(PaymentError::Declined { reason }) if reason == "insufficient funds"
        ),
        "{error:?}"
    );
    // The order, its lines and the stock it took were all in the rolled-back transaction.
    assert_nothing_written(&service).await;
    assert_eq!(service.flush_confirmations().await.unwrap(), 0);
}

#[owned_test(sandbox = DB)]
async fn invalid_orders_write_nothing_and_charge_nothing() {
    let Shop { service, ada } = shop().await;
    let mut gateway = MockGateway::new();
    gateway.expect_charge().never();
    GATEWAY.install(gateway).unwrap();

    let error = service.place_order(ada, &[]).await.unwrap_err();
    assert!(matches!(error, OrderError::Empty), "{error:?}");

    let zero = [LineItem::new("TEA-01", 0)];
    let error = service.place_order(ada, &zero).await.unwrap_err();
    assert!(
        matches!(&error, OrderError::ZeroQuantity { sku } if sku == "TEA-01"),
        "{error:?}"
    );

    let stranger = CustomerId(ada.0 + 1);
    let tea = [LineItem::new("TEA-01", 1)];
    let error = service.place_order(stranger, &tea).await.unwrap_err();
    assert!(
        matches!(error, OrderError::UnknownCustomer(id) if id == stranger),
        "{error:?}"
    );

    // The first line was taken out of stock before the second failed: rolled back too.
    let unknown = [LineItem::new("TEA-01", 2), LineItem::new("CUP-99", 1)];
    let error = service.place_order(ada, &unknown).await.unwrap_err();
    assert!(
        matches!(&error, OrderError::UnknownProduct(sku) if sku == "CUP-99"),
        "{error:?}"
    );

    let too_many = [LineItem::new("TEA-01", 2), LineItem::new("MUG-02", 5)];
    let error = service.place_order(ada, &too_many).await.unwrap_err();
    assert!(
        matches!(
            &error,
            OrderError::OutOfStock { sku, requested: 5, available: 3 } if sku == "MUG-02"
        ),
        "{error:?}"
    );

    assert_nothing_written(&service).await;
}

#[owned_test(sandbox = DB)]
async fn without_a_mock_the_default_gateway_refuses_to_charge() {
    let Shop { service, ada } = shop().await;
    // This test installs no gateway: it gets the facade's default, never the mock of a
    // test running beside it, and never the network.
    assert_eq!(Guard::owner(&GATEWAY.get()), None);

    let tea = [LineItem::new("TEA-01", 1)];
    let error = service.place_order(ada, &tea).await.unwrap_err();

    assert!(
        matches!(error, OrderError::Payment(PaymentError::NotConfigured)),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "no payment gateway is configured");
    assert_nothing_written(&service).await;
}

#[owned_test(sandbox = DB, flavor = "multi_thread", worker_threads = 2)]
async fn the_confirmation_task_works_for_the_test_that_placed_the_order() {
    let Shop { service, ada } = shop().await;
    GATEWAY.install(gateway_accepting(1)).unwrap();
    // Each reading of the clock is 90 s after the previous one, from noon on.
    let readings = AtomicU64::new(0);
    let mut clock = MockClock::new();
    clock.expect_now().returning(move || {
        let reading = readings.fetch_add(1, Ordering::SeqCst);
        at(NOON) + Duration::from_secs(90 * reading)
    });
    CLOCK.install(clock).unwrap();
    let (seen, calls) = mpsc::channel();
    let mut mailer = MockMailer::new();
    mailer
        .expect_send_confirmation()
        .withf(|confirmation| {
            confirmation.to == "ada@example.com" && confirmation.total_cents == TEA_CENTS
        })
        .times(1)
        .returning(move |confirmation| {
            // Where the app called from: a task of its own, working for this test.
            let sent = seen.send((confirmation.order, tokio::task::try_id(), callers()));
            Box::pin(ready(sent.map_err(|_| {
                orders_app::NotifyError::Rejected("the test stopped listening".to_owned())
            })))
        });
    MAILER.install(mailer).unwrap();

    let tea = [LineItem::new("TEA-01", 1)];
    let placed = service.place_order(ada, &tea).await.unwrap();
    assert_eq!(service.flush_confirmations().await.unwrap(), 1);

    let (order, task, chain) = calls.try_recv().unwrap();
    assert_eq!(order, placed.id);
    assert!(task.is_some(), "the mailer was called from a spawned task");
    assert_eq!(
        chain.first(),
        callers().first(),
        "the task works for this test"
    );
    // The task read this test's clock, and wrote to this test's database.
    let stored = service.order(placed.id).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::Confirmed);
    assert_eq!(stored.placed_at, NOON);
    assert_eq!(stored.confirmed_at, Some(NOON + 90));
}

#[owned_test(sandbox = DB, flavor = "multi_thread", worker_threads = 4)]
async fn orders_placed_at_once_within_a_test_never_oversell() {
    let Shop { service, ada } = shop().await;
    GATEWAY.install(gateway_accepting(3)).unwrap();
    MAILER.install(mailer_expecting(3)).unwrap();

    // Five customers' tasks race for the three mugs; they all run for this test, on its
    // one database.
    let attempts: Vec<_> = (0..5)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move {
                let mug = [LineItem::new("MUG-02", 1)];
                service.place_order(ada, &mug).await
            })
        })
        .collect();
    let mut placed = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => placed += 1,
            Err(OrderError::OutOfStock {
                available: 0,
                requested: 1,
                ..
            }) => {}
            Err(error) => panic!("unexpected error: {error:?}"),
        }
    }

    assert_eq!(placed, 3);
    assert_eq!(service.stock("MUG-02").await.unwrap(), Some(0));
    assert_eq!(count("SELECT count(*) FROM orders").await, 3);
    assert_eq!(service.flush_confirmations().await.unwrap(), 3);
}

#[owned_test(sandbox = DB, start_paused = true, timeout = "30s")]
async fn a_gateway_that_hangs_times_out_in_virtual_time_and_rolls_back() {
    let Shop { service, ada } = shop().await;
    let mut gateway = MockGateway::new();
    gateway.expect_charge().times(1).returning(|_| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(3_600)).await;
            Ok(Charge {
                id: "ch_too_late".to_owned(),
            })
        })
    });
    GATEWAY.install(gateway).unwrap();

    let (virtual_start, wall_start) = (tokio::time::Instant::now(), std::time::Instant::now());
    let tea = [LineItem::new("TEA-01", 1)];
    let error = service.place_order(ada, &tea).await.unwrap_err();

    assert!(
        matches!(error, OrderError::Payment(PaymentError::TimedOut(waited)) if waited == PAYMENT_TIMEOUT),
        "{error:?}"
    );
    // The runtime's clock is paused: the app waited its full timeout, in no real time.
    let waited = virtual_start.elapsed();
    assert!(
        (PAYMENT_TIMEOUT..Duration::from_secs(3_600)).contains(&waited),
        "{waited:?}"
    );
    assert!(wall_start.elapsed() < PAYMENT_TIMEOUT);
    assert_nothing_written(&service).await;
}

/// A job for the order queue's consumer: the items to order, and where to say how it went
/// (the order and how many confirmations were sent).
type Job = (
    Vec<LineItem>,
    tokio::sync::oneshot::Sender<Result<(orders_app::Order, usize), OrderError>>,
);

#[owned_test(sandbox = DB)]
async fn a_queue_worker_allowed_in_one_call_places_orders_with_the_tests_database_and_mocks() {
    let Shop { service, ada } = shop().await;
    GATEWAY.install(gateway_accepting(1)).unwrap();
    CLOCK.install(clock_at(NOON)).unwrap();
    MAILER.install(mailer_expecting(1)).unwrap();

    // The order queue's consumer serves every test: a long-lived actor with a thread and a
    // runtime of its own, started in one call. It works for no test until one allows it.
    let (queue, mut jobs) = tokio::sync::mpsc::unbounded_channel::<Job>();
    let consumer_service = service.clone();
    let consumer = Worker::start("orders::queue_consumer", async move {
        while let Some((items, reply)) = jobs.recv().await {
            let done = match consumer_service.place_order(ada, &items).await {
                Ok(order) => consumer_service
                    .flush_confirmations()
                    .await
                    .map(|sent| (order, sent)),
                Err(error) => Err(error),
            };
            let _ = reply.send(done);
        }
    })
    .unwrap();
    // One call: the test's database and its three mocks, for the consumer and its tasks
    // (without it, the consumer's first query fails: it has no database connection).
    allow_all(consumer.id()).unwrap();

    let (reply, done) = tokio::sync::oneshot::channel();
    queue
        .send((vec![LineItem::new("TEA-01", 2)], reply))
        .unwrap();
    let (placed, sent) = done.await.unwrap().unwrap();
    drop(queue);
    consumer.join().unwrap();

    assert_eq!(sent, 1);
    assert_eq!(placed.total_cents, 2 * TEA_CENTS);
    assert_eq!(placed.charge_id, Some(format!("ch_{}", placed.id.0)));
    // Written to this test's database, stamped by this test's clock.
    let stored = service.order(placed.id).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::Confirmed);
    assert_eq!((stored.placed_at, stored.confirmed_at), (NOON, Some(NOON)));
    assert_eq!(service.stock("TEA-01").await.unwrap(), Some(8));
}

/// The names of the tests run at once by the test below.
const SHOPS: [&str; 4] = [
    "orders::concurrent::shop_1",
    "orders::concurrent::shop_2",
    "orders::concurrent::shop_3",
    "orders::concurrent::shop_4",
];

/// Four owned tests run at once (whatever the test runner: `cargo nextest` runs this in
/// one process too), each placing a different number of orders through its own gateway
/// mock: each sees its own rows and its own charges only.
#[test]
fn concurrent_tests_each_see_only_their_own_orders() {
    let barrier = Arc::new(tokio::sync::Barrier::new(SHOPS.len()));
    std::thread::scope(|scope| {
        let runs: Vec<_> = (1..)
            .zip(SHOPS)
            .map(|(orders, name)| {
                let barrier = barrier.clone();
                let config = TestConfig::new(name)
                    .resources(&WITH_DB)
                    .timeout(Duration::from_secs(60));
                scope.spawn(move || {
                    run_async(config, || async move {
                        let Shop { service, ada } = shop().await;
                        let mut gateway = MockGateway::new();
                        gateway
                            .expect_charge()
                            .times(orders)
                            .returning(move |request| {
                                charged(format!("ch_shop{orders}_{}", request.order.0))
                            });
                        GATEWAY.install(gateway).unwrap();
                        MAILER.install(mailer_expecting(orders)).unwrap();

                        // Everyone has its database and mocks: all place orders at once.
                        barrier.wait().await;
                        for _ in 0..orders {
                            let tea = [LineItem::new("TEA-01", 1)];
                            service.place_order(ada, &tea).await.unwrap();
                        }
                        assert_eq!(service.flush_confirmations().await.unwrap(), orders);
                        // Everyone has written: now each counts.
                        barrier.wait().await;

                        let orders = i64::try_from(orders).unwrap();
                        assert_eq!(count("SELECT count(*) FROM orders").await, orders);
                        assert_eq!(count("SELECT count(*) FROM customers").await, 1);
                        assert_eq!(service.stock("TEA-01").await.unwrap(), Some(10 - orders));
                        let charges: Vec<String> =
                            sqlx::query_scalar("SELECT charge_id FROM orders")
                                .fetch_all(&DB.pool())
                                .await
                                .unwrap();
                        let mine = format!("ch_shop{orders}_");
                        assert!(
                            charges.iter().all(|charge| charge.starts_with(&mine)),
                            "{charges:?}"
                        );
                    });
                })
            })
            .collect();
        for run in runs {
            if let Err(panic) = run.join() {
                panic::resume_unwind(panic);
            }
        }
    });
}

/// A test whose mock expected a call that never came fails, with mockall's verdict in
/// its report; run through the harness's API to read that report.
#[test]
fn an_unmet_expectation_fails_the_test_that_set_it() {
    let config = TestConfig::new("orders::declined_yet_expects_a_confirmation").resources(&WITH_DB);
    let failed = panic::catch_unwind(AssertUnwindSafe(|| {
        run_async(config, || async {
            let Shop { service, ada } = shop().await;
            GATEWAY.install(gateway_declining()).unwrap();
            // Wrong on purpose: a declined order sends no confirmation.
            MAILER.install(mailer_expecting(1)).unwrap();

            let tea = [LineItem::new("TEA-01", 1)];
            let error = service.place_order(ada, &tea).await.unwrap_err();
            assert!(matches!(
                error,
                OrderError::Payment(PaymentError::Declined { .. })
            ));
            assert_eq!(service.flush_confirmations().await.unwrap(), 0);
        });
    }));

    let report = *failed
        .expect_err("the test must fail")
        .downcast::<String>()
        .unwrap();
    assert!(
        report.starts_with("owned test `orders::declined_yet_expects_a_confirmation` failed:\n"),
        "{report}"
    );
    assert!(
        report.contains(
            "1. facade `orders_app::mailer::MAILER` (after the test): \
             the mock installed at examples/orders-app/tests/orders.rs:"
        ),
        "{report}"
    );
    assert!(
        report.contains(
            "MockMailer::send_confirmation: Expectation(<anything>) called 0 time(s) which is \
             fewer than expected 1"
        ),
        "{report}"
    );
    // The body passed and the gateway got the one charge it expected: nothing else is
    // blamed.
    assert!(!report.contains("  2. "), "{report}");
    assert!(!report.contains("GATEWAY"), "{report}");
}

/// The harness fails a test that ends while a task the app spawned for it still runs
/// (here a confirmation stuck at the mailer), and cancels the task: the service must let
/// callers wait for its background work ([`OrderService::flush_confirmations`]).
#[test]
fn a_confirmation_still_being_sent_when_the_test_ends_fails_it() {
    let config =
        TestConfig::new("orders::returns_before_the_confirmation_is_sent").resources(&WITH_DB);
    let failed = panic::catch_unwind(AssertUnwindSafe(|| {
        run_async(config, || async {
            let Shop { service, ada } = shop().await;
            GATEWAY.install(gateway_accepting(1)).unwrap();
            let calling = Arc::new(tokio::sync::Notify::new());
            let called = calling.clone();
            let mut mailer = MockMailer::new();
            mailer
                .expect_send_confirmation()
                .times(1)
                .returning(move |_| {
                    called.notify_one();
                    Box::pin(std::future::pending())
                });
            MAILER.install(mailer).unwrap();

            let tea = [LineItem::new("TEA-01", 1)];
            service.place_order(ada, &tea).await.unwrap();
            // The confirmation is on its way; the test returns without flushing.
            calling.notified().await;
        });
    }));

    let report = *failed
        .expect_err("the test must fail")
        .downcast::<String>()
        .unwrap();
    assert!(
        report.starts_with(
            "owned test `orders::returns_before_the_confirmation_is_sent` failed:\n  1. 1 \
             task(s) spawned on the test's runtime (by the test or the code it called) were \
             still running 1s after it ended, and were cancelled"
        ),
        "{report}"
    );
    // The mailer was called as expected: only the leftover task is blamed.
    assert!(!report.contains("  2. "), "{report}");
}
