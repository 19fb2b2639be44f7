//! The HTTP ownership layer end to end through tower services: each request runs for the
//! test whose token it carries; forged, tampered, malformed, stale and other runs' tokens
//! are rejected; browsers get the token through the session route; a test of another
//! process of the run is recognised, and its end too.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ::http::{Request, Response, StatusCode, header};
use ownership_runtime::http::{
    OwnershipClientLayer, OwnershipLayer, SESSION_ROUTE, TOKEN_COOKIE, TOKEN_HEADER, session_path,
    token,
};
use ownership_runtime::{Actor, Callers, callers, spawn, spawn_blocking};
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt, service_fn};

type Server = BoxCloneService<Request<String>, Response<String>, Infallible>;

/// A server whose handler answers with the chains it and the work it starts run for.
fn server() -> Server {
    let app = service_fn(|_: Request<String>| async {
        let handler = callers();
        let task = spawn(async { callers() }).await.unwrap_or_default();
        let blocking = spawn_blocking(callers).await.unwrap_or_default();
        let body = format!("handler={handler} task={task} blocking={blocking}");
        Ok::<_, Infallible>(Response::new(body))
    });
    BoxCloneService::new(
        ServiceBuilder::new()
            .layer(OwnershipLayer::new().with_session_route())
            .service(app),
    )
}

fn get(path: &str) -> ::http::request::Builder {
    Request::get(path)
}

async fn send(request: ::http::request::Builder) -> Response<String> {
    let request = request.body(String::new()).unwrap();
    server().oneshot(request).await.unwrap()
}

fn with_token(token: &str) -> ::http::request::Builder {
    get("/orders").header(TOKEN_HEADER, token)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `test`'s token.
fn token_of(test: &Actor) -> String {
    test.chain().in_scope(token).unwrap().as_str().to_owned()
}

#[test]
fn a_request_with_a_token_runs_for_its_test_and_so_does_the_work_it_starts() {
    runtime().block_on(async {
        let test = Actor::named("tests::http::places_an_order");
        let response = send(with_token(&token_of(&test))).await;
        assert_eq!(response.status(), StatusCode::OK);
        let chain = Callers::empty().pushed_front(test.id()).to_string();
        assert_eq!(
            response.body(),
            &format!("handler={chain} task={chain} blocking={chain}")
        );
    });
}

#[test]
fn a_request_without_a_token_runs_as_in_production() {
    runtime().block_on(async {
        let response = send(get("/orders")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), "handler=[] task=[] blocking=[]");
    });
}

#[test]
fn tokens_are_checked_per_request_so_the_next_test_inherits_nothing() {
    runtime().block_on(async {
        let server = server();
        let first = Actor::named("tests::http::first");
        let second = Actor::named("tests::http::second");
        for (test, other) in [(&first, &second), (&second, &first)] {
            let request = with_token(&token_of(test)).body(String::new()).unwrap();
            let body = server.clone().oneshot(request).await.unwrap().into_body();
            assert!(body.contains(&test.id().to_string()), "{body}");
            assert!(!body.contains(&other.id().to_string()), "{body}");
        }
        let request = get("/orders").body(String::new()).unwrap();
        let body = server.oneshot(request).await.unwrap().into_body();
        assert_eq!(body, "handler=[] task=[] blocking=[]");
    });
}

/// Sends `token` and checks the rejection: its status and the start of its reason.
async fn assert_rejected(token: &str, status: StatusCode, reason: &str) {
    let response = send(with_token(token)).await;
    assert_eq!(response.status(), status, "{}", response.body());
    let body = response.body();
    assert!(
        body.starts_with(&format!("ownership token rejected: {reason}")),
        "{body}"
    );
}

#[test]
fn a_forged_token_is_rejected() {
    runtime().block_on(async {
        let test = Actor::named("tests::http::forged");
        let genuine = token_of(&test);
        let (claims, _signature) = genuine.rsplit_once('.').unwrap();
        let forged = format!("{claims}.{}", "ab".repeat(32));
        assert_rejected(
            &forged,
            StatusCode::FORBIDDEN,
            "the token's signature doesn't match",
        )
        .await;
    });
}

#[test]
fn a_tampered_token_is_rejected() {
    runtime().block_on(async {
        let (test, other) = (Actor::new(), Actor::new());
        let genuine = token_of(&test);
        // The same signature, over the claims of another (live) test.
        let (number, other_number) = (test.id().as_u64(), other.id().as_u64());
        let tampered = genuine.replacen(&format!(".{number}."), &format!(".{other_number}."), 1);
        assert_ne!(tampered, genuine);
        assert_rejected(
            &tampered,
            StatusCode::FORBIDDEN,
            "the token's signature doesn't match",
        )
        .await;
    });
}

#[test]
fn text_that_is_no_token_is_rejected_as_malformed() {
    runtime().block_on(async {
        for text in ["", "hello", "ot2.a.b.c.d.e", "ot1.a.b.c.d"] {
            assert_rejected(
                text,
                StatusCode::BAD_REQUEST,
                "the token is not an ownership token",
            )
            .await;
        }
    });
}

#[test]
fn the_token_of_a_test_that_has_ended_is_rejected() {
    runtime().block_on(async {
        let test = Actor::named("tests::http::ended");
        let stale = token_of(&test);
        let number = test.id().as_u64();
        drop(test);
        let response = send(with_token(&stale)).await;
        assert_eq!(response.status(), StatusCode::GONE);
        assert!(
            response
                .body()
                .contains(&format!("(actor#{number}) has ended")),
            "{}",
            response.body()
        );
    });
}

#[test]
fn the_client_layer_adds_the_token_of_the_test_that_sends() {
    runtime().block_on(async {
        let client = ServiceBuilder::new()
            .layer(OwnershipClientLayer::new())
            .service(server());
        let test = Actor::named("tests::http::client");
        let request = get("/orders").body(String::new()).unwrap();
        let body = test
            .scope(client.clone().oneshot(request))
            .await
            .unwrap()
            .into_body();
        assert!(
            body.starts_with(&format!("handler=[{}]", test.id())),
            "{body}"
        );
        // Outside any test: nothing is added.
        let request = get("/orders").body(String::new()).unwrap();
        let body = client.oneshot(request).await.unwrap().into_body();
        assert!(body.starts_with("handler=[]"), "{body}");
    });
}

#[test]
fn a_browser_gets_the_token_as_a_cookie_and_its_requests_run_for_the_test() {
    runtime().block_on(async {
        let test = Actor::named("tests::http::browser");
        let path = test.chain().in_scope(|| session_path("/shop")).unwrap();
        let response = send(get(&path)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[header::LOCATION], "/shop");
        let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
        assert!(
            cookie.starts_with(&format!("{TOKEN_COOKIE}=ot1.")),
            "{cookie}"
        );
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("Path=/"),
            "{cookie}"
        );
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");

        // The browser sends the cookie back (with others of the site's).
        let pair = cookie.split(';').next().unwrap();
        let request = get("/shop").header(header::COOKIE, format!("theme=dark; {pair}"));
        let body = send(request).await.into_body();
        assert!(
            body.starts_with(&format!("handler=[{}]", test.id())),
            "{body}"
        );

        // Once the test has ended, its cookie is refused, never used, and the browser is
        // told to forget it.
        drop(test);
        let response = send(get("/shop").header(header::COOKIE, pair)).await;
        assert_eq!(response.status(), StatusCode::GONE);
        let cleared = response.headers()[header::SET_COOKIE].to_str().unwrap();
        assert!(
            cleared.starts_with(&format!("{TOKEN_COOKIE}=; Max-Age=0")),
            "{cleared}"
        );
    });
}

#[test]
fn the_session_route_sends_browsers_only_to_paths_of_the_server() {
    runtime().block_on(async {
        let test = Actor::new();
        let path = test
            .chain()
            .in_scope(|| session_path("//evil.example/"))
            .unwrap();
        let response = send(get(&path)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.body().contains("must be a path of this server"));
        // A tab that a browser would drop, to make `//evil.example/`.
        let path = test
            .chain()
            .in_scope(|| session_path("/\t/evil.example/"))
            .unwrap();
        let response = send(get(&path)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get(header::LOCATION).is_none());
        // With no token at all, the route says what it needs.
        let response = send(get(&format!("{SESSION_ROUTE}?then=/"))).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(
            response.body().contains("needs the test's token"),
            "{}",
            response.body()
        );
        // And gives no cookie for a token that doesn't check out.
        let response = send(get(&format!("{SESSION_ROUTE}?token=ot1.x&then=/"))).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get(header::SET_COOKIE).is_none());
    });
}

#[test]
fn the_session_route_is_served_only_when_asked_for() {
    runtime().block_on(async {
        let app = service_fn(|_: Request<String>| async {
            Ok::<_, Infallible>(Response::new("the app's own route".to_owned()))
        });
        let plain = ServiceBuilder::new()
            .layer(OwnershipLayer::new())
            .service(app);
        let test = Actor::new();
        let path = test.chain().in_scope(|| session_path("/")).unwrap();
        let request = get(&path).body(String::new()).unwrap();
        let response = plain.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), "the app's own route");
    });
}

// ---- tokens made in another process ----

const CHILD_RUN: &str = "OWNERSHIP_HTTP_TEST_CHILD";

/// A process of this binary that runs the fixture `fixture` with `run_id`, talking over
/// its standard streams.
struct Fixture {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Fixture {
    fn start(fixture: &str, run_id: &str) -> Fixture {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                fixture,
                "--nocapture",
                "--test-threads=1",
            ])
            .env("OWNERSHIP_RUN_ID", run_id)
            .env(CHILD_RUN, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        Fixture {
            child,
            stdin,
            lines,
        }
    }

    /// The value of the next `<label> <value>` the child prints (bounded wait).
    fn wait_for(&self, label: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("the child never printed `{label}`"));
            // libtest may print the test's name on the same line first.
            if let Some((_, value)) = line.split_once(&format!("{label} ")) {
                return value.to_owned();
            }
        }
    }

    fn tell(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's side: prints a test's token, ends the test when told, and exits when told.
#[test]
#[ignore = "a fixture: run by the tests below in a process of its own"]
fn fixture_prints_a_token_then_ends_its_test() {
    if std::env::var_os(CHILD_RUN).is_none() {
        return;
    }
    let test = Actor::named("tests::http::in_another_process");
    println!("TOKEN {}", token_of(&test));
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    drop(test);
    println!("ENDED {}", line.trim());
    std::io::stdin().read_line(&mut line).unwrap();
}

#[test]
fn a_token_of_another_run_is_rejected() {
    let child = Fixture::start("fixture_prints_a_token_then_ends_its_test", "another-run");
    let other_runs = child.wait_for("TOKEN");
    runtime().block_on(assert_rejected(
        &other_runs,
        StatusCode::FORBIDDEN,
        "the token was made by another test run",
    ));
}

#[test]
fn a_test_of_another_process_of_the_run_is_served_while_it_runs() {
    let run_id = ownership_runtime::runwide::current_run_id();
    let mut child = Fixture::start("fixture_prints_a_token_then_ends_its_test", &run_id);
    let remote = child.wait_for("TOKEN");
    runtime().block_on(async {
        // Its resources live in its process: the request runs as a stand-in actor.
        let body = send(with_token(&remote)).await.into_body();
        assert!(
            body.starts_with("handler=[")
                && body.contains("(ownership_runtime::http::remote_test)"),
            "{body}"
        );
    });
    child.tell("end");
    assert_eq!(child.wait_for("ENDED"), "end");
    runtime().block_on(async {
        let response = send(with_token(&remote)).await;
        assert_eq!(response.status(), StatusCode::GONE, "{}", response.body());
        assert!(
            response.body().contains("of process"),
            "{}",
            response.body()
        );
    });
    child.tell("exit");
}
