//! The shop's page in a real browser: headless Chromium, driven through chromedriver,
//! opens the session route of the server every test shares ([`shared_server`]), which
//! gives it the test's ownership token as a cookie and redirects it to `/shop`; the
//! page's own JavaScript then places the order (`fetch` with the cookie). The order is
//! written to the test's own database and charged through the test's own gateway mock,
//! and no one else sees it: not a test running at the same time, and not a connection
//! outside the sandbox.
//!
//! Skipped, with the reason printed, where Chromium or chromedriver isn't installed
//! (Debian's `chromium` and `chromium-driver`); failed instead under `CI=true`.

mod browser_support;
mod common;

use std::sync::Arc;
use std::time::Duration;

use browser_support::{Browser, CHROMIUM};
use common::{DB, count, gateway_accepting, shared_server, stock_shop, test_shop};
use ownership_runtime::harness::{TestConfig, TestResource, run_async};
use ownership_runtime::http::{TOKEN_COOKIE, session_path, token};
use ownership_runtime::owned_test;
use shop::payments::GATEWAY;
use shop::{OrderStatus, Shop};

/// How long the page may take to show how the order went.
const RESULT_TIMEOUT: Duration = Duration::from_secs(15);

/// What the page shows while the order is on its way (`#result`).
const PLACING: &str = "placing the order...";

/// For the tests run through the harness's API: the database, and the skip without
/// Chromium.
static WITH_BROWSER: [&dyn TestResource; 2] = [&DB, &CHROMIUM];

/// Starts a browser, gives it the calling test's cookie through the session route, and
/// orders `quantity` of `sku` as `email` on the shop's page; returns what the page
/// shows in `#result` once the order is through.
async fn order_in_browser(email: &str, sku: &str, quantity: u32) -> String {
    let server = shared_server();
    let browser = Browser::start().await.unwrap();

    // The session route sets the token cookie and redirects (303) to the page.
    let path = session_path("/shop").unwrap();
    browser.goto(&server.url(&path)).await.unwrap();
    assert_eq!(browser.current_url().await.unwrap(), server.url("/shop"));
    let cookies = browser.cookies().await.unwrap();
    let cookie = cookies
        .iter()
        .find(|cookie| cookie.name() == TOKEN_COOKIE)
        .unwrap_or_else(|| panic!("no `{TOKEN_COOKIE}` cookie in {cookies:?}"));
    assert_eq!(cookie.value(), token().unwrap().as_str());
    assert_eq!(cookie.http_only(), Some(true), "{cookie:?}");
    assert_eq!(cookie.path(), Some("/"), "{cookie:?}");
    assert_eq!(
        cookie.same_site().map(|same_site| same_site.to_string()),
        Some("Lax".to_owned()),
        "{cookie:?}"
    );

    browser.fill("#email", email).await.unwrap();
    browser.fill("#sku", sku).await.unwrap();
    browser
        .fill("#quantity", &quantity.to_string())
        .await
        .unwrap();
    browser.click("#place-order").await.unwrap();
    browser
        .wait_for_text("#result", RESULT_TIMEOUT, |shown| {
            !shown.is_empty() && shown != PLACING
        })
        .await
        .unwrap()
}

/// The test's orders: exactly one, placed by `email`, paid through the gateway mock
/// that names payments `<prefix>_<order id>`, for `quantity` of `sku`; and what the page
/// showed for it.
async fn assert_only_order(shop: &Shop, email: &str, prefix: &str, sku: &str, quantity: u32) {
    let orders = shop.orders().await.unwrap();
    let [order] = orders.as_slice() else {
        panic!("the test's database holds one order, not {orders:?}");
    };
    assert_eq!(order.customer_email, email);
    assert_eq!(order.status, OrderStatus::Paid);
    assert_eq!(order.payment_id, Some(format!("{prefix}_{}", order.id)));
    let [line] = order.lines.as_slice() else {
        panic!("the order has one line, not {:?}", order.lines);
    };
    assert_eq!(
        (line.sku.as_str(), line.quantity),
        (sku, i64::from(quantity))
    );
    assert_eq!(count(shop, "SELECT count(*) FROM order_lines").await, 1);
}

/// Orders of `email` that a plain connection, outside every sandbox, sees.
async fn seen_outside(email: &str) -> i64 {
    let outside = DB.outside().await;
    shop::on_backend!(&outside, |pool| sqlx::query_scalar(
        "SELECT count(*) FROM orders WHERE customer_email = $1"
    )
    .bind(email)
    .fetch_one(pool)
    .await
    .unwrap())
}

#[owned_test(sandbox = [DB, CHROMIUM])]
async fn an_order_placed_in_the_browser_is_the_tests_own() {
    let shop = test_shop();
    let (tea, _) = stock_shop(&shop, "browser").await;
    // One charge expected: the mock fails the test if the page's request didn't reach it.
    GATEWAY.install(gateway_accepting(1, "browser")).unwrap();
    let email = "browser@example.com";

    let shown = order_in_browser(email, &tea, 2).await;

    let orders = shop.orders().await.unwrap();
    let id = orders.first().map(|order| order.id);
    assert_eq!(shown, format!("order {} paid", id.unwrap()), "{orders:?}");
    assert_only_order(&shop, email, "browser", &tea, 2).await;
    assert_eq!(shop.product(&tea).await.unwrap().unwrap().stock, 8);
    // Written in the test's sandbox only: nothing outside it.
    assert_eq!(seen_outside(email).await, 0);
}

/// The browser tests run at once by the test below: each orders a different quantity,
/// as a different customer, through a gateway mock of its own (its payments' prefix).
const SHOPPERS: [(&str, u32, &str); 2] = [
    ("browser::at_once::first", 1, "first"),
    ("browser::at_once::second", 3, "second"),
];

/// Two browser tests at once (whatever the test runner: nextest runs this in one
/// process too): both have placed their order before either looks, and each sees its
/// own order only.
#[test]
fn browser_tests_at_once_each_see_only_their_own_order() {
    let barrier = Arc::new(tokio::sync::Barrier::new(SHOPPERS.len()));
    std::thread::scope(|scope| {
        let runs: Vec<_> = SHOPPERS
            .into_iter()
            .map(|(name, quantity, prefix)| {
                let barrier = barrier.clone();
                let config = TestConfig::new(name)
                    .resources(&WITH_BROWSER)
                    .timeout(Duration::from_secs(90));
                scope.spawn(move || {
                    run_async(config, || async move {
                        let email = format!("{prefix}@example.com");
                        let shop = test_shop();
                        let (tea, _) = stock_shop(&shop, prefix).await;
                        GATEWAY.install(gateway_accepting(1, prefix)).unwrap();

                        let shown = order_in_browser(&email, &tea, quantity).await;
                        assert!(shown.ends_with(" paid"), "{shown}");
                        // Both orders are written: now each looks.
                        barrier.wait().await;

                        assert_only_order(&shop, &email, prefix, &tea, quantity).await;
                        assert_eq!(
                            shop.product(&tea).await.unwrap().unwrap().stock,
                            10 - i64::from(quantity)
                        );
                        assert_eq!(seen_outside(&email).await, 0);
                    });
                })
            })
            .collect();
        for run in runs {
            if let Err(panic) = run.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}
