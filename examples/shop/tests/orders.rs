//! The shop's service (no HTTP): placing orders on the test's own database, with the
//! test's own payment-gateway and clock mocks, and what the sandbox guarantees: a test's
//! writes are rolled back, invisible outside it and to the next test, and concurrent
//! tests may insert the same unique data.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    DB, MUG_CENTS, MockGateway, NOON, TEA_CENTS, WITH_DB, clock_at, count, gateway_accepting,
    gateway_declining, stock_shop, test_shop,
};
use ownership_runtime::harness::{TestConfig, run_async};
use ownership_runtime::owned_test;
use shop::clock::CLOCK;
use shop::payments::{GATEWAY, PAYMENT_TIMEOUT};
use shop::{
    LineItem, NewProduct, Order, OrderLine, OrderStatus, Payment, PaymentError, PlaceOrder, Shop,
    ShopError,
};

const ADA: &str = "ada@example.com";

/// Asserts that the test's database holds no order and its stock is untouched.
async fn assert_nothing_ordered(shop: &Shop, tea: &str, mug: &str) {
    assert_eq!(count(shop, "SELECT count(*) FROM orders").await, 0);
    assert_eq!(count(shop, "SELECT count(*) FROM order_lines").await, 0);
    assert_eq!(shop.product(tea).await.unwrap().unwrap().stock, 10);
    assert_eq!(shop.product(mug).await.unwrap().unwrap().stock, 3);
}

#[owned_test(sandbox = DB)]
async fn placing_an_order_reserves_stock_charges_its_total_and_marks_it_paid() {
    let shop = test_shop();
    let (tea, mug) = stock_shop(&shop, "1").await;
    let mut gateway = MockGateway::new();
    gateway
        .expect_charge()
        .withf(|request| {
            request.customer_email == ADA
                && request.amount_cents == 2 * TEA_CENTS + MUG_CENTS
                && request.idempotency_key == format!("order-{}", request.order)
        })
        .times(1)
        .returning(|request| {
            Ok(Payment {
                id: format!("ch_{}", request.order),
            })
        });
    GATEWAY.install(gateway).unwrap();
    CLOCK.install(clock_at(NOON)).unwrap();

    let order = PlaceOrder::new(ADA, [LineItem::new(&tea, 2), LineItem::new(&mug, 1)]);
    let placed = shop.place_order(&order).await.unwrap();

    assert_eq!(placed.status, OrderStatus::Paid);
    assert_eq!(placed.total_cents, 2 * TEA_CENTS + MUG_CENTS);
    assert_eq!(placed.payment_id, Some(format!("ch_{}", placed.id)));
    assert_eq!(placed.created_at, NOON);
    let lines = vec![
        OrderLine {
            sku: tea.clone(),
            quantity: 2,
            unit_price_cents: TEA_CENTS,
        },
        OrderLine {
            sku: mug.clone(),
            quantity: 1,
            unit_price_cents: MUG_CENTS,
        },
    ];
    assert_eq!(placed.lines, lines);
    // What was written is what was returned.
    assert_eq!(shop.order(placed.id).await.unwrap(), Some(placed));
    assert_eq!(shop.product(&tea).await.unwrap().unwrap().stock, 8);
    assert_eq!(shop.product(&mug).await.unwrap().unwrap().stock, 2);
}

#[owned_test(sandbox = DB)]
async fn a_declined_payment_marks_the_order_failed_and_puts_the_stock_back() {
    let shop = test_shop();
    let (tea, mug) = stock_shop(&shop, "1").await;
    GATEWAY
        .install(gateway_declining("insufficient funds"))
        .unwrap();
    CLOCK.install(clock_at(NOON)).unwrap();

    let order = PlaceOrder::new(ADA, [LineItem::new(&tea, 2), LineItem::new(&mug, 3)]);
    let error = shop.place_order(&order).await.unwrap_err();

    let ShopError::PaymentFailed { order, source } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(
        source,
        &PaymentError::Declined {
            reason: "insufficient funds".to_owned()
        }
    );
    assert_eq!(
        ownership_runtime::error_chain(&error).to_string(),
        format!(
            "the payment for order {order} failed: the payment was declined: insufficient funds"
        )
    );
    let failed = shop.order(*order).await.unwrap().unwrap();
    assert_eq!(failed.status, OrderStatus::Failed);
    assert_eq!(failed.payment_id, None);
    assert_eq!(shop.product(&tea).await.unwrap().unwrap().stock, 10);
    assert_eq!(shop.product(&mug).await.unwrap().unwrap().stock, 3);
}

#[owned_test(sandbox = DB)]
async fn invalid_orders_write_nothing_and_charge_nothing() {
    let shop = test_shop();
    let (tea, mug) = stock_shop(&shop, "1").await;
    let mut gateway = MockGateway::new();
    gateway.expect_charge().never();
    GATEWAY.install(gateway).unwrap();

    let not_an_address = PlaceOrder::new("ada", [LineItem::new(&tea, 1)]);
    let error = shop.place_order(&not_an_address).await.unwrap_err();
    assert!(
        matches!(&error, ShopError::InvalidEmail(email) if email == "ada"),
        "{error:?}"
    );

    let empty = PlaceOrder::new(ADA, []);
    let error = shop.place_order(&empty).await.unwrap_err();
    assert!(matches!(error, ShopError::EmptyOrder), "{error:?}");

    let zero = PlaceOrder::new(ADA, [LineItem::new(&tea, 0)]);
    let error = shop.place_order(&zero).await.unwrap_err();
    assert!(
        matches!(&error, ShopError::ZeroQuantity { sku } if *sku == tea),
        "{error:?}"
    );

    // The tea was taken out of stock before the unknown product failed: rolled back too.
    let unknown = PlaceOrder::new(ADA, [LineItem::new(&tea, 2), LineItem::new("CUP-99", 1)]);
    let error = shop.place_order(&unknown).await.unwrap_err();
    assert!(
        matches!(&error, ShopError::UnknownProduct(sku) if sku == "CUP-99"),
        "{error:?}"
    );

    let too_many = PlaceOrder::new(ADA, [LineItem::new(&tea, 2), LineItem::new(&mug, 5)]);
    let error = shop.place_order(&too_many).await.unwrap_err();
    assert!(
        matches!(
            &error,
            ShopError::OutOfStock { sku, requested: 5, available: 3 } if *sku == mug
        ),
        "{error:?}"
    );

    assert_nothing_ordered(&shop, &tea, &mug).await;
}

#[owned_test(sandbox = DB)]
async fn without_a_mock_the_default_gateway_refuses_and_the_order_fails() {
    let shop = test_shop();
    let (tea, _) = stock_shop(&shop, "1").await;
    // No gateway installed: this test gets the facade's default, never the mock of a test
    // running beside it, and never a real provider.
    let order = PlaceOrder::new(ADA, [LineItem::new(&tea, 1)]);
    let error = shop.place_order(&order).await.unwrap_err();

    assert!(
        matches!(
            error,
            ShopError::PaymentFailed {
                source: PaymentError::NotConfigured,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(shop.product(&tea).await.unwrap().unwrap().stock, 10);
}

#[owned_test(sandbox = DB, start_paused = true, timeout = "60s")]
async fn a_gateway_that_hangs_times_out_in_virtual_time() {
    let shop = test_shop();
    let (tea, _) = stock_shop(&shop, "1").await;
    // A fake rather than a mock: mockall's async methods answer at once, and this
    // gateway never answers. The test's paused clock makes the app's wait free.
    GATEWAY.install(HangingGateway).unwrap();

    let (virtual_start, wall_start) = (tokio::time::Instant::now(), std::time::Instant::now());
    let order = PlaceOrder::new(ADA, [LineItem::new(&tea, 1)]);
    let error = shop.place_order(&order).await.unwrap_err();

    assert!(
        matches!(
            error,
            ShopError::PaymentFailed { source: PaymentError::TimedOut(waited), .. }
                if waited == PAYMENT_TIMEOUT
        ),
        "{error:?}"
    );
    assert!(virtual_start.elapsed() >= PAYMENT_TIMEOUT);
    assert!(wall_start.elapsed() < PAYMENT_TIMEOUT);
    assert_eq!(shop.product(&tea).await.unwrap().unwrap().stock, 10);
}

/// A gateway that never answers.
struct HangingGateway;

#[async_trait::async_trait]
impl shop::PaymentGateway for HangingGateway {
    async fn charge(&self, _request: shop::ChargeRequest) -> Result<Payment, PaymentError> {
        std::future::pending().await
    }
}

#[owned_test(sandbox = DB)]
async fn a_sku_already_in_the_catalogue_is_refused_and_the_test_goes_on() {
    let shop = test_shop();
    let (tea, _) = stock_shop(&shop, "1").await;

    let again = NewProduct::new(&tea, "Another tea", 999, 1);
    let error = shop.add_product(&again).await.unwrap_err();

    assert!(
        matches!(&error, ShopError::DuplicateSku(sku) if *sku == tea),
        "{error:?}"
    );
    // The failed statement didn't spoil the test's transaction (on PostgreSQL, the
    // sandbox fences each statement with a savepoint).
    let kept = shop.product(&tea).await.unwrap().unwrap();
    assert_eq!(
        (kept.name.as_str(), kept.price_cents),
        ("Assam tea", TEA_CENTS)
    );
    assert_eq!(count(&shop, "SELECT count(*) FROM products").await, 2);
}

#[owned_test(sandbox = DB, flavor = "multi_thread", worker_threads = 4)]
async fn orders_placed_at_once_within_a_test_never_oversell() {
    let shop = test_shop();
    let (_, mug) = stock_shop(&shop, "1").await;
    GATEWAY.install(gateway_accepting(3, "ch")).unwrap();

    // Five customers' tasks race for the three mugs; plain tokio::spawn runs for the test,
    // on its one database.
    let attempts: Vec<_> = (0..5)
        .map(|customer| {
            let (shop, mug) = (shop.clone(), mug.clone());
            tokio::spawn(async move {
                let email = format!("customer{customer}@example.com");
                shop.place_order(&PlaceOrder::new(&email, [LineItem::new(&mug, 1)]))
                    .await
            })
        })
        .collect();
    let mut placed = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(order) => {
                assert_eq!(order.status, OrderStatus::Paid);
                placed += 1;
            }
            Err(ShopError::OutOfStock {
                available: 0,
                requested: 1,
                ..
            }) => {}
            Err(error) => panic!("unexpected error: {error:?}"),
        }
    }

    assert_eq!(placed, 3);
    assert_eq!(shop.product(&mug).await.unwrap().unwrap().stock, 0);
    assert_eq!(count(&shop, "SELECT count(*) FROM orders").await, 3);
}

#[owned_test(sandbox = DB)]
async fn a_tests_rows_are_invisible_outside_its_sandbox() {
    let shop = test_shop();
    let (tea, _) = stock_shop(&shop, "INVISIBLE").await;
    GATEWAY.install(gateway_accepting(1, "ch")).unwrap();
    let placed = shop
        .place_order(&PlaceOrder::new(
            "invisible@example.com",
            [LineItem::new(&tea, 1)],
        ))
        .await
        .unwrap();
    assert_eq!(shop.order(placed.id).await.unwrap().unwrap().lines.len(), 1);

    // The same database, through a connection of no sandbox: production's view, or
    // another process's. The test's rows, committed in its app transactions (savepoints
    // of the sandbox's transaction), aren't there.
    let outside = Shop::new(DB.outside().await);
    assert_eq!(outside.product(&tea).await.unwrap(), None);
    let orders: Vec<Order> = outside.orders().await.unwrap();
    assert!(
        orders
            .iter()
            .all(|order| order.customer_email != "invisible@example.com"),
        "{orders:?}"
    );
}

/// What a test that shares a SKU with the tests running beside it writes and reads back.
async fn insert_the_shared_sku(name: &str, price_cents: i64) {
    let shop = test_shop();
    let product = NewProduct::new("SHARED-SKU", name, price_cents, 7);
    let added = shop.add_product(&product).await.unwrap();
    let read = shop.product("SHARED-SKU").await.unwrap().unwrap();
    assert_eq!(read, added);
    assert_eq!((read.name.as_str(), read.price_cents), (name, price_cents));
    assert_eq!(count(&shop, "SELECT count(*) FROM products").await, 1);
}

// Three tests (run at once by `cargo test`) insert the same UNIQUE SKU: each in its own
// sandbox, so all pass. (On PostgreSQL the second waits at the unique index until the
// first rolls back; on SQLite each has a database of its own.)
#[owned_test(sandbox = DB)]
async fn the_same_sku_in_concurrent_tests_a() {
    insert_the_shared_sku("Tea from test a", 100).await;
}

#[owned_test(sandbox = DB)]
async fn the_same_sku_in_concurrent_tests_b() {
    insert_the_shared_sku("Tea from test b", 200).await;
}

#[owned_test(sandbox = DB)]
async fn the_same_sku_in_concurrent_tests_c() {
    insert_the_shared_sku("Tea from test c", 300).await;
}

/// Four owned tests started at once (also under nextest, which runs this test in one
/// process), each inserting the same UNIQUE SKU and placing an order for it: all pass,
/// each with its own product, price and order.
#[test]
fn four_tests_at_once_insert_the_same_sku_and_all_pass() {
    let start = Arc::new(tokio::sync::Barrier::new(4));
    std::thread::scope(|scope| {
        let tests: Vec<_> = (1..=4_i64)
            .map(|n| {
                let start = start.clone();
                scope.spawn(move || {
                    let name = format!("orders::same_sku_at_once::test_{n}");
                    let config = TestConfig::new(Box::leak(name.into_boxed_str()))
                        .resources(&WITH_DB)
                        .timeout(Duration::from_secs(60));
                    run_async(config, || async move {
                        GATEWAY.install(gateway_accepting(1, "ch")).unwrap();
                        start.wait().await;
                        let shop = test_shop();
                        let product = NewProduct::new("SAME-SKU", "Tea", n * 100, 5);
                        shop.add_product(&product).await.unwrap();
                        let order = PlaceOrder::new(ADA, [LineItem::new("SAME-SKU", 1)]);
                        let placed = shop.place_order(&order).await.unwrap();
                        assert_eq!(placed.total_cents, n * 100);
                        assert_eq!(count(&shop, "SELECT count(*) FROM orders").await, 1);
                        assert_eq!(shop.product("SAME-SKU").await.unwrap().unwrap().stock, 4);
                    });
                })
            })
            .collect();
        for test in tests {
            if let Err(panic) = test.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// One test writes products and an order; the next test, on the same sandbox, finds
/// none of it: each test's writes are rolled back when it ends.
#[test]
fn rows_written_by_one_test_are_gone_for_the_next() {
    let writer = TestConfig::new("orders::rolled_back::writer").resources(&WITH_DB);
    run_async(writer, || async {
        let shop = test_shop();
        let (tea, _) = stock_shop(&shop, "ROLLED-BACK").await;
        GATEWAY.install(gateway_accepting(1, "ch")).unwrap();
        let order = PlaceOrder::new("writer@example.com", [LineItem::new(&tea, 1)]);
        shop.place_order(&order).await.unwrap();
        assert_eq!(count(&shop, "SELECT count(*) FROM orders").await, 1);
    });

    let reader = TestConfig::new("orders::rolled_back::reader").resources(&WITH_DB);
    run_async(reader, || async {
        let shop = test_shop();
        assert_eq!(shop.product("TEA-ROLLED-BACK").await.unwrap(), None);
        assert_eq!(count(&shop, "SELECT count(*) FROM products").await, 0);
        assert_eq!(count(&shop, "SELECT count(*) FROM orders").await, 0);
        assert_eq!(count(&shop, "SELECT count(*) FROM order_lines").await, 0);
        // The same SKU can be added again: nothing of the writer's is left.
        stock_shop(&shop, "ROLLED-BACK").await;
    });
}

#[owned_test(sandbox = DB)]
async fn the_test_database_is_on_the_backend_database_url_names() {
    let named = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => shop::db::Backend::of_url(&url).unwrap(),
        _ => shop::db::Backend::Sqlite,
    };
    assert_eq!(DB.backend(), named);
    // The server says so too.
    let shop = test_shop();
    let version: String = shop::on_backend!(shop.db(), |pool| {
        let sql = match named {
            shop::db::Backend::Sqlite => "SELECT 'SQLite ' || sqlite_version()",
            shop::db::Backend::Postgres => "SELECT version()",
        };
        sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
    });
    let expected = match named {
        shop::db::Backend::Sqlite => "SQLite 3.",
        shop::db::Backend::Postgres => "PostgreSQL ",
    };
    assert!(version.starts_with(expected), "{version}");
}
