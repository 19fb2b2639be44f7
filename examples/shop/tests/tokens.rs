//! Requests whose ownership token can't be trusted never reach a handler: the server's
//! `OwnershipLayer` answers them with a 4xx status and a body that says why. A forged
//! token, one tampered with, one whose test has ended (stale), another run's (made by
//! this binary run again as a process of its own, with another `OWNERSHIP_RUN_ID`), and
//! text that is no token at all.

mod common;

use common::{DB, MockGateway, client, shared_server, stock_shop, test_shop};
use ownership_e2e::fixtures::run_this_binary_with;
use ownership_runtime::http::{self, OwnershipToken, TOKEN_COOKIE, TOKEN_HEADER};
use ownership_runtime::{Actor, owned_test};
use shop::payments::GATEWAY;
use shop::{LineItem, PlaceOrder};

/// The prefix of every rejection's body.
const REJECTED: &str = "ownership token rejected: ";

/// POSTs an order for the test's tea over TCP with `token` as the request's token, after
/// installing a gateway that must never be charged: the status and the body.
async fn order_with_token(token: &str) -> (u16, String) {
    let shop = test_shop();
    let (tea, _) = stock_shop(&shop, "1").await;
    let mut gateway = MockGateway::new();
    gateway.expect_charge().never();
    GATEWAY.install(gateway).unwrap();
    let server = shared_server();
    let order = PlaceOrder::new("mallory@example.com", [LineItem::new(&tea, 1)]);
    let request = client()
        .post(server.url("/orders"))
        .header(TOKEN_HEADER, token)
        .json(&order);
    let response = server.send(request).await;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    // Rejected before the handler: no order was written for anyone.
    assert_eq!(common::count(&shop, "SELECT count(*) FROM orders").await, 0);
    (status, body)
}

/// The token's fields: `ot1.<run>.<pid>.<start>.<chain>.<signature>`.
fn fields(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

#[owned_test(sandbox = DB)]
async fn a_forged_token_is_403() {
    // Every claim of a real token, under a signature made without the run's key.
    let mut forged = fields(http::token().unwrap().as_str());
    *forged.last_mut().unwrap() = "5a".repeat(32);

    let (status, body) = order_with_token(&forged.join(".")).await;

    assert_eq!(status, 403, "{body}");
    assert!(body.starts_with(REJECTED), "{body}");
    assert!(
        body.contains("signature doesn't match this run's key"),
        "{body}"
    );
    assert!(body.contains("forged or changed"), "{body}");
}

#[owned_test(sandbox = DB)]
async fn a_tampered_token_is_403() {
    // A real token, changed to name another test of this process (still running) as its
    // sender, to use that test's database and mocks.
    let victim = Actor::named("tokens::the_victim");
    let mut tampered = fields(http::token().unwrap().as_str());
    tampered[4] = victim.id().as_u64().to_string();

    let (status, body) = order_with_token(&tampered.join(".")).await;

    assert_eq!(status, 403, "{body}");
    assert!(body.starts_with(REJECTED), "{body}");
    assert!(body.contains("forged or changed on the way"), "{body}");
}

/// What a test that has ended left behind: its token, its number, and the session path
/// a browser of it was sent to. Made on a thread of its own, where the actor is a test of
/// its own (made in this test, its chain would be the actor, then this test: a token
/// that still runs for this test once the actor ends).
fn left_by_an_ended_test(name: &'static str) -> (OwnershipToken, u64, String) {
    std::thread::spawn(move || {
        let ended = Actor::named(name);
        let chain = ended.chain();
        let token = chain.in_scope(http::token).unwrap();
        let session = chain.in_scope(|| http::session_path("/shop")).unwrap();
        (token, ended.id().as_u64(), session)
        // `ended` drops here: its test is over.
    })
    .join()
    .unwrap()
}

#[owned_test(sandbox = DB)]
async fn a_stale_token_of_an_ended_test_is_410() {
    // Signed right, by a test of this run, but stale.
    let (stale, number, _) = left_by_an_ended_test("tokens::an_earlier_test");

    let (status, body) = order_with_token(stale.as_str()).await;

    assert_eq!(status, 410, "{body}");
    assert!(body.starts_with(REJECTED), "{body}");
    assert!(
        body.contains(&format!(
            "the test that made the token (actor#{number}) has ended"
        )),
        "{body}"
    );
}

#[owned_test(sandbox = DB)]
async fn a_stale_cookie_is_410_at_the_session_route_and_after_it() {
    let (stale, _, session) = left_by_an_ended_test("tokens::an_earlier_browser_test");
    let server = shared_server();

    // A browser sent to the session route of an ended test gets no cookie.
    let answer = server.send(client().get(server.url(&session))).await;
    assert_eq!(answer.status(), 410);
    assert!(answer.headers().get("set-cookie").is_none());
    // A cookie kept from it is refused, not used.
    let kept = client()
        .get(server.url("/products"))
        .header("cookie", format!("{TOKEN_COOKIE}={stale}"));
    let answer = server.send(kept).await;
    assert_eq!(answer.status(), 410);
    let body = answer.text().await.unwrap();
    assert!(
        body.starts_with(REJECTED) && body.contains("has ended"),
        "{body}"
    );
}

#[owned_test(sandbox = DB)]
async fn text_that_is_no_token_is_400() {
    let (status, body) = order_with_token("let-me-in").await;

    assert_eq!(status, 400, "{body}");
    assert!(body.starts_with(REJECTED), "{body}");
    assert!(body.contains("is not an ownership token"), "{body}");
}

/// What the fixture below prints before its token.
const PRINTED: &str = "OWNERSHIP_TOKEN=";

/// Run by `another_runs_token_is_403` in a process of its own, as another test run: prints
/// a token of its own run.
#[owned_test]
#[ignore = "a fixture: another_runs_token_is_403 runs it as another test run"]
async fn fixture_prints_a_token_of_its_run() {
    println!("{PRINTED}{}", http::token().unwrap());
}

#[owned_test(sandbox = DB)]
async fn another_runs_token_is_403() {
    let other_run = format!("shop-tokens-other-run-{}", std::process::id());
    let (passed, printed) = run_this_binary_with(
        &[
            "--ignored",
            "--exact",
            "fixture_prints_a_token_of_its_run",
            "--nocapture",
            "--test-threads=1",
        ],
        &[("OWNERSHIP_RUN_ID", &other_run)],
    );
    assert!(passed, "{printed}");
    // libtest prints the test's name on the same line, before it.
    let token = printed
        .split_whitespace()
        .find_map(|word| word.strip_prefix(PRINTED))
        .unwrap_or_else(|| panic!("the fixture printed no token:\n{printed}"));

    let (status, body) = order_with_token(token).await;

    assert_eq!(status, 403, "{body}");
    assert!(body.starts_with(REJECTED), "{body}");
    assert!(body.contains("made by another test run"), "{body}");
}
