//! The shop over HTTP: one server per process ([`common::shared_server`], on a thread and
//! runtime that work for no test) serves every test; each request carries its test's
//! ownership token (reqwest's `.with_ownership()`, or `OwnershipClientLayer` around the
//! router for in-process `oneshot` calls), so its handler, and the task and blocking job
//! a handler starts, use that test's database and mocks.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{
    DB, MockClock, MockGateway, NO_BODY, NOON, SharedServer, TEA_CENTS, Via, WITH_DB, client,
    clock_at, gateway_accepting, gateway_declining, json, request, request_json, shared_server,
    stock_shop, test_shop,
};
use ownership_runtime::harness::{TestConfig, run_async};
use ownership_runtime::http::{self, TOKEN_COOKIE, WithOwnership};
use ownership_runtime::owned_test;
use serde_json::json;
use shop::clock::CLOCK;
use shop::payments::GATEWAY;
use shop::web::{ErrorBody, Health, IssuedReceipt};
use shop::{LineItem, NewProduct, Order, OrderStatus, PlaceOrder, Product};

const ADA: &str = "ada@example.com";

fn order_of(sku: &str, quantity: u32) -> PlaceOrder {
    PlaceOrder::new(ADA, [LineItem::new(sku, quantity)])
}

#[owned_test(sandbox = DB)]
async fn get_shop_serves_the_order_page() {
    let server = shared_server();
    let response = server
        .send(client().get(server.url("/shop")).with_ownership())
        .await;

    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = response.text().await.unwrap();
    assert!(page.contains(">Place order</button>"), "{page}");
    assert!(page.contains("fetch('/orders', {"), "{page}");
    assert!(page.contains("credentials: 'same-origin'"), "{page}");
    assert!(page.contains(r#"<p id="result""#), "{page}");
}

/// Places an order through `via` and checks that the handler used this test's database,
/// gateway and clock.
async fn place_an_order_via(via: Via) {
    GATEWAY.install(gateway_accepting(1, "ch")).unwrap();
    CLOCK.install(clock_at(NOON)).unwrap();
    let tea = NewProduct::new("TEA-HTTP", "Assam tea", TEA_CENTS, 10);
    let (status, added): (_, Product) = request_json(via, "POST", "/products", Some(&tea)).await;
    assert_eq!(status, 201);

    let (status, placed): (_, Order) =
        request_json(via, "POST", "/orders", Some(&order_of("TEA-HTTP", 2))).await;

    assert_eq!(status, 201);
    assert_eq!(placed.status, OrderStatus::Paid);
    assert_eq!(placed.total_cents, 2 * TEA_CENTS);
    assert_eq!(placed.payment_id, Some(format!("ch_{}", placed.id)));
    assert_eq!(placed.created_at, NOON);
    // Written to this test's database, as the test sees it without HTTP.
    let shop = test_shop();
    assert_eq!(shop.order(placed.id).await.unwrap(), Some(placed));
    let stock = shop.product("TEA-HTTP").await.unwrap().unwrap();
    assert_eq!((stock.id, stock.stock), (added.id, 8));
}

#[owned_test(sandbox = DB)]
async fn an_order_placed_over_tcp_uses_the_tests_database_and_mocks() {
    place_an_order_via(Via::Tcp).await;
}

#[owned_test(sandbox = DB)]
async fn an_order_placed_in_process_uses_the_tests_database_and_mocks() {
    place_an_order_via(Via::InProcess).await;
}

#[owned_test(sandbox = DB)]
async fn a_declined_payment_is_402_and_names_the_failed_order() {
    let shop = test_shop();
    let (tea, _) = stock_shop(&shop, "1").await;
    GATEWAY.install(gateway_declining("card expired")).unwrap();

    let (status, body): (_, ErrorBody) =
        request_json(Via::InProcess, "POST", "/orders", Some(&order_of(&tea, 1))).await;

    assert_eq!(status, 402);
    let order = body.order.expect("the failed order's id");
    assert_eq!(
        body.error,
        format!("the payment for order {order} failed: the payment was declined: card expired")
    );
    let failed = shop.order(order).await.unwrap().unwrap();
    assert_eq!(failed.status, OrderStatus::Failed);
}

#[owned_test(sandbox = DB)]
async fn bad_orders_are_4xx_and_charge_nothing() {
    let shop = test_shop();
    let (tea, mug) = stock_shop(&shop, "1").await;
    let mut gateway = MockGateway::new();
    gateway.expect_charge().never();
    GATEWAY.install(gateway).unwrap();

    let cases = [
        (
            order_of(&mug, 4),
            409,
            format!("only 3 of {mug} in stock, 4 ordered"),
        ),
        (
            order_of("NOPE", 1),
            422,
            "there is no product NOPE".to_owned(),
        ),
        (
            order_of(&tea, 0),
            422,
            format!("the line for {tea} asks for no items"),
        ),
        (
            PlaceOrder::new("nobody", [LineItem::new(&tea, 1)]),
            422,
            "`nobody` is not an email address".to_owned(),
        ),
    ];
    for (order, expected_status, expected_error) in cases {
        let (status, body): (_, ErrorBody) =
            request_json(Via::InProcess, "POST", "/orders", Some(&order)).await;
        assert_eq!((status, body.error), (expected_status, expected_error));
    }
    // A body that isn't an order is axum's to refuse.
    let (status, _) = request(Via::InProcess, "POST", "/orders", Some(&json!({"sku": 1}))).await;
    assert_eq!(status, 422);
    assert_eq!(common::count(&shop, "SELECT count(*) FROM orders").await, 0);
}

#[owned_test(sandbox = DB)]
async fn a_sku_already_there_is_409_over_tcp() {
    let tea = NewProduct::new("TEA-DUP", "Assam tea", TEA_CENTS, 10);
    let (status, _) = request(Via::Tcp, "POST", "/products", Some(&tea)).await;
    assert_eq!(status, 201);

    let (status, body): (_, ErrorBody) =
        request_json(Via::Tcp, "POST", "/products", Some(&tea)).await;

    assert_eq!(status, 409);
    assert_eq!(
        body.error,
        "a product with SKU TEA-DUP is already in the catalogue"
    );
}

/// Issues a receipt through `via`: the handler renders it with `spawn_blocking` and writes
/// its audit entry from a task of its own (`ownership_runtime::spawn`); both must read this
/// test's clock and write to this test's database.
async fn issue_a_receipt_via(via: Via) {
    let shop = test_shop();
    let (tea, _) = stock_shop(&shop, "1").await;
    GATEWAY.install(gateway_accepting(1, "ch")).unwrap();
    let mut clock = MockClock::new();
    // Read three times: the order's stamp, the receipt's (on the blocking pool), the
    // audit entry's (in the spawned task). The system clock would not say noon.
    clock.expect_now().times(3).return_const(common::at(NOON));
    CLOCK.install(clock).unwrap();
    let placed = shop.place_order(&order_of(&tea, 2)).await.unwrap();

    let path = format!("/orders/{}/receipt", placed.id);
    let (status, issued): (_, IssuedReceipt) = request_json(via, "POST", &path, NO_BODY).await;

    assert_eq!(status, 200);
    let receipt = issued.receipt;
    assert_eq!((receipt.order, receipt.issued_at), (placed.id, NOON));
    assert!(
        receipt.text.contains(&format!("Issued at {NOON}\n")),
        "{}",
        receipt.text
    );
    assert!(
        receipt.text.contains(&format!("2 x {tea} @ 12.50 = 25.00")),
        "{}",
        receipt.text
    );
    let entry = issued.audit_entry;
    assert_eq!(
        (entry.order_id, entry.event.as_str(), entry.at),
        (placed.id, "receipt issued", NOON)
    );
    // The task wrote to this test's database.
    assert_eq!(shop.audit_log(placed.id).await.unwrap(), [entry]);
}

#[owned_test(sandbox = DB)]
async fn the_receipt_handlers_task_and_blocking_job_work_for_the_test_over_tcp() {
    issue_a_receipt_via(Via::Tcp).await;
}

#[owned_test(sandbox = DB, flavor = "multi_thread", worker_threads = 2)]
async fn the_receipt_handlers_task_and_blocking_job_work_for_the_test_in_process() {
    issue_a_receipt_via(Via::InProcess).await;
}

#[owned_test(sandbox = DB)]
async fn a_receipt_for_an_order_that_isnt_there_is_404() {
    let (status, body): (_, ErrorBody) =
        request_json(Via::Tcp, "POST", "/orders/999999/receipt", NO_BODY).await;
    assert_eq!(
        (status, body.error.as_str()),
        (404, "there is no order 999999")
    );
}

#[owned_test(sandbox = DB)]
async fn a_request_without_a_token_runs_as_in_production() {
    CLOCK.install(clock_at(NOON)).unwrap();
    let server = shared_server();

    let with_token: Health = json(
        server
            .send(client().get(server.url("/health")).with_ownership())
            .await,
    )
    .await;
    let before = shop::clock::unix_seconds(SystemTime::now());
    let without: Health = json(server.send(client().get(server.url("/health"))).await).await;

    assert_eq!(with_token.time, NOON);
    // No token: nobody's request, on the system clock.
    assert!(without.time >= before, "{without:?}");
}

#[owned_test(sandbox = DB)]
async fn the_session_route_hands_the_test_to_a_browser_as_a_cookie() {
    let shop = test_shop();
    let (tea, _) = stock_shop(&shop, "1").await;
    GATEWAY.install(gateway_accepting(1, "ch")).unwrap();
    CLOCK.install(clock_at(NOON)).unwrap();
    let server = shared_server();

    // What a browser test opens first: the session route, then the page it redirects to.
    let session = http::session_path("/shop").unwrap();
    let answer = server.send(client().get(server.url(&session))).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/shop");
    let cookie = answer.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let token = cookie
        .split(';')
        .next()
        .and_then(|pair| pair.strip_prefix(&format!("{TOKEN_COOKIE}=")))
        .expect("the cookie holds the token");
    assert_eq!(token, http::token().unwrap().as_str());

    // The page's fetch sends the cookie (credentials: 'same-origin'), not the header.
    let post = client()
        .post(server.url("/orders"))
        .header("cookie", format!("{TOKEN_COOKIE}={token}"))
        .json(&order_of(&tea, 1));
    let placed: Order = json(server.send(post).await).await;

    assert_eq!(
        (placed.status, placed.created_at),
        (OrderStatus::Paid, NOON)
    );
    assert_eq!(shop.order(placed.id).await.unwrap().unwrap().lines.len(), 1);
}

/// Twenty owned tests at once (also under nextest: they run in this one test's process)
/// against the one server of the process, each with its own product, gateway mock and
/// clock mock: each places two orders (one over TCP, one in process), waits for all the
/// others to have placed theirs, and sees only its own rows, paid by its own gateway and
/// stamped by its own clock.
#[test]
fn twenty_concurrent_tests_share_one_server_and_each_sees_only_its_own() {
    const TESTS: i64 = 20;
    let written = Arc::new(tokio::sync::Barrier::new(20));
    std::thread::scope(|scope| {
        let tests: Vec<_> = (1..=TESTS)
            .map(|n| {
                let written = written.clone();
                scope.spawn(move || {
                    let name = format!("http::twenty_at_once::shop_{n:02}");
                    let config = TestConfig::new(Box::leak(name.into_boxed_str()))
                        .resources(&WITH_DB)
                        .timeout(Duration::from_secs(120));
                    run_async(config, || one_of_twenty(n, written));
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

async fn one_of_twenty(n: i64, written: Arc<tokio::sync::Barrier>) {
    let sku = format!("CONC-{n:02}");
    let payments = Box::leak(format!("pay{n:02}").into_boxed_str());
    GATEWAY.install(gateway_accepting(2, payments)).unwrap();
    CLOCK.install(clock_at(NOON + n)).unwrap();
    let product = NewProduct::new(&sku, &format!("Tea no. {n}"), n * 100, 10);
    let (status, _) = request(Via::Tcp, "POST", "/products", Some(&product)).await;
    assert_eq!(status, 201);
    for via in [Via::Tcp, Via::InProcess] {
        let order = PlaceOrder::new(&format!("shop{n}@example.com"), [LineItem::new(&sku, 1)]);
        let (status, placed): (_, Order) = request_json(via, "POST", "/orders", Some(&order)).await;
        assert_eq!((status, placed.status), (201, OrderStatus::Paid));
    }
    // Everyone has written: now each reads.
    written.wait().await;

    for via in [Via::Tcp, Via::InProcess] {
        let (_, products): (_, Vec<Product>) = request_json(via, "GET", "/products", NO_BODY).await;
        assert_eq!(products.len(), 1, "{products:?}");
        assert_eq!(
            (products[0].sku.as_str(), products[0].stock),
            (sku.as_str(), 8)
        );
        let (_, orders): (_, Vec<Order>) = request_json(via, "GET", "/orders", NO_BODY).await;
        assert_eq!(orders.len(), 2, "{orders:?}");
        for order in orders {
            assert_eq!(order.customer_email, format!("shop{n}@example.com"));
            assert_eq!(order.created_at, NOON + n);
            assert_eq!(order.total_cents, n * 100);
            assert_eq!(order.payment_id, Some(format!("{payments}_{}", order.id)));
        }
        let (_, health): (_, Health) = request_json(via, "GET", "/health", NO_BODY).await;
        assert_eq!(health.time, NOON + n);
    }
}

/// One reqwest client, whose one keep-alive connection two tests use in turn: the second
/// test's requests run for it alone, see none of the first's rows or mocks, and the
/// first's token, sent again on that connection, is refused.
#[test]
fn a_keep_alive_connection_carries_nothing_from_one_test_to_the_next() {
    // A server of its own, to count the connections this client opens.
    let server = &SharedServer::start();
    let client = &reqwest::Client::new();
    let mut first_token = String::new();

    let first = TestConfig::new("http::keep_alive::first").resources(&WITH_DB);
    let kept = &mut first_token;
    run_async(first, || async move {
        CLOCK.install(clock_at(NOON)).unwrap();
        let product = NewProduct::new("KEEP-ALIVE", "Kept tea", 100, 1);
        let post = client.post(server.url("/products")).json(&product);
        assert_eq!(server.send(post.with_ownership()).await.status(), 201);
        let get = client.get(server.url("/health")).with_ownership();
        let health: Health = json(server.send(get).await).await;
        assert_eq!(health.time, NOON);
        *kept = http::token().unwrap().to_string();
    });

    let second = TestConfig::new("http::keep_alive::second").resources(&WITH_DB);
    let first_token = first_token.as_str();
    let mut ran = false;
    let second_ran = &mut ran;
    run_async(second, || async move {
        let get = client.get(server.url("/products")).with_ownership();
        let products: Vec<Product> = json(server.send(get).await).await;
        assert_eq!(products, []);
        // This test installed no clock: the system's, not the first test's noon.
        let before = shop::clock::unix_seconds(SystemTime::now());
        let get = client.get(server.url("/health")).with_ownership();
        let health: Health = json(server.send(get).await).await;
        assert!(health.time >= before, "{health:?}");
        // The first test's token, on the same connection: that test has ended.
        let stale = client
            .get(server.url("/products"))
            .header(http::TOKEN_HEADER, first_token);
        assert_eq!(server.send(stale).await.status(), 410);
        *second_ran = true;
    });

    // (Both tests are skipped, saying why, when the database server is down.)
    if ran {
        assert_eq!(server.connections(), 1, "one connection, reused");
    }
}
