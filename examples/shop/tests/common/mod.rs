//! What the shop's test files share: the test database (a sandbox on SQLite, or on
//! PostgreSQL when `DATABASE_URL` says so), the mocks of the payment gateway and the
//! clock, the settlement worker started once per process, and the HTTP server started
//! once per process ([`shared_server`]) that every test's requests go to.
#![allow(dead_code, reason = "each test file uses its own part of the helpers")]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::Router;
use axum::serve::ListenerExt;
use mockall::mock;
use ownership_runtime::harness::{Failure, ResourceKey, TestContext, TestResource};
use ownership_runtime::http::{OwnershipClientLayer, OwnershipLayer, WithOwnership};
use ownership_runtime::{ActorId, Mode, SharedOwnerDown, Worker, allow_all};
use sandbox_sqlx::Sandbox;
use serde::Serialize;
use serde::de::DeserializeOwned;
use shop::db::{Backend, Db, POSTGRES_MIGRATOR, SQLITE_MIGRATOR};
use shop::settlement::{self, SettlerHandle};
use shop::{
    ChargeRequest, Clock, NewProduct, OrderId, Payment, PaymentError, PaymentGateway, Shop,
};
use sqlx::{Postgres, Sqlite};
use tower::{ServiceBuilder, ServiceExt};

mock! {
    pub Gateway {}
    #[async_trait]
    impl PaymentGateway for Gateway {
        async fn charge(&self, request: ChargeRequest) -> Result<Payment, PaymentError>;
    }
}

mock! {
    pub Clock {}
    impl Clock for Clock {
        fn now(&self) -> SystemTime;
    }
}

/// 2026-01-01 12:00:00 UTC.
pub const NOON: i64 = 1_767_268_800;

/// The catalogue most tests start from: tea and mugs.
pub const TEA_CENTS: i64 = 1_250;
/// A mug's price.
pub const MUG_CENTS: i64 = 499;

/// `unix_seconds` as a `SystemTime`.
pub fn at(unix_seconds: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix_seconds.unsigned_abs())
}

/// A clock that always says `unix_seconds`.
pub fn clock_at(unix_seconds: i64) -> MockClock {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(at(unix_seconds));
    clock
}

/// A gateway that accepts exactly `times` charges, paid as `<prefix>_<order id>`.
pub fn gateway_accepting(times: usize, prefix: &'static str) -> MockGateway {
    let mut gateway = MockGateway::new();
    gateway
        .expect_charge()
        .times(times)
        .returning(move |request| {
            Ok(Payment {
                id: format!("{prefix}_{}", request.order),
            })
        });
    gateway
}

/// A gateway that declines the one charge it expects.
pub fn gateway_declining(reason: &'static str) -> MockGateway {
    let mut gateway = MockGateway::new();
    gateway.expect_charge().times(1).returning(move |_| {
        Err(PaymentError::Declined {
            reason: reason.to_owned(),
        })
    });
    gateway
}

/// The test database: one sandbox, on the backend `DATABASE_URL` names (SQLite, with no
/// server, when it is unset), decided when the process first uses it. As a test
/// resource it is the sandbox it holds (`#[owned_test(sandbox = DB)]`).
pub enum TestDb {
    /// A copy of a migrated template per test.
    Sqlite(Sandbox<Sqlite>),
    /// A transaction per test, rolled back at its end.
    Postgres(Sandbox<Postgres>),
}

/// The test database of the process.
pub static DB: LazyLock<TestDb> = LazyLock::new(TestDb::from_env);

/// For tests run through the harness's API (`run_async`) rather than `#[owned_test]`.
pub static WITH_DB: [&dyn TestResource; 1] = [&DB];

/// Where the SQLite template lives: under the target folder, made once per run.
fn sqlite_template() -> String {
    let template = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shop.db");
    format!("sqlite://{}", template.display())
}

impl TestDb {
    fn from_env() -> TestDb {
        let url = std::env::var("DATABASE_URL").unwrap_or_default();
        let backend = if url.is_empty() {
            Backend::Sqlite
        } else {
            Backend::of_url(&url).expect("DATABASE_URL names a database the shop runs on")
        };
        match backend {
            Backend::Postgres => TestDb::Postgres(
                Sandbox::from_env("shop-db", "DATABASE_URL")
                    .migrations(&POSTGRES_MIGRATOR)
                    // The 20 concurrent tests of tests/http.rs, and the others beside them.
                    .max_connections(32)
                    // No server: skipped with a note (failed under CI=true).
                    .skip_if_unreachable(true)
                    .build()
                    .expect("DATABASE_URL is a PostgreSQL URL"),
            ),
            Backend::Sqlite => {
                let url = if url.is_empty() {
                    sqlite_template()
                } else {
                    url
                };
                TestDb::Sqlite(
                    Sandbox::builder("shop-db", url)
                        .migrations(&SQLITE_MIGRATOR)
                        .max_connections(32)
                        .build()
                        .expect("the SQLite template's URL is valid"),
                )
            }
        }
    }

    /// The handle app code queries through: the calling test's own database.
    pub fn pool(&self) -> Db {
        match self {
            TestDb::Sqlite(sandbox) => sandbox.pool().into(),
            TestDb::Postgres(sandbox) => sandbox.pool().into(),
        }
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        match self {
            TestDb::Sqlite(_) => Backend::Sqlite,
            TestDb::Postgres(_) => Backend::Postgres,
        }
    }

    /// Allows `actor` on the connection of `owner` (the calling test).
    pub fn allow(&self, owner: ActorId, actor: ActorId) -> Result<(), sandbox_sqlx::SandboxError> {
        match self {
            TestDb::Sqlite(sandbox) => sandbox.allow(owner, actor),
            TestDb::Postgres(sandbox) => sandbox.allow(owner, actor),
        }
    }

    /// A plain connection to the same database, outside every sandbox: what another
    /// process, or production, would see there (on SQLite: the migrated template every
    /// test's copy starts from, read-only).
    pub async fn outside(&self) -> Db {
        let url = match self {
            TestDb::Sqlite(_) => {
                let template = match std::env::var("DATABASE_URL") {
                    Ok(url) if !url.is_empty() => url,
                    _ => sqlite_template(),
                };
                format!("{template}?mode=ro")
            }
            TestDb::Postgres(_) => std::env::var("DATABASE_URL").expect("DATABASE_URL is set"),
        };
        Db::connect(&url)
            .await
            .expect("the test database is reachable outside the sandbox")
    }

    fn resource(&self) -> &dyn TestResource {
        match self {
            TestDb::Sqlite(sandbox) => sandbox,
            TestDb::Postgres(sandbox) => sandbox,
        }
    }
}

/// The sandbox it holds, in every part it takes in a test.
impl TestResource for TestDb {
    fn name(&self) -> String {
        self.resource().name()
    }

    fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
        self.resource().before_test(test)
    }

    fn after_test(&self, test: &TestContext) -> Vec<Failure> {
        self.resource().after_test(test)
    }

    fn switch_mode(&self, mode: Mode) -> Result<(), SharedOwnerDown> {
        self.resource().switch_mode(mode)
    }

    fn allow(&self, owner: ActorId, actor: ActorId) -> Result<(), Failure> {
        self.resource().allow(owner, actor)
    }

    fn key(&self) -> ResourceKey {
        self.resource().key()
    }
}

/// The shop, on the calling test's database.
pub fn test_shop() -> Shop {
    Shop::new(DB.pool())
}

/// Adds tea (10, at [`TEA_CENTS`]) and mugs (3, at [`MUG_CENTS`]) under `TEA-<tag>` and
/// `MUG-<tag>`, and returns their SKUs.
pub async fn stock_shop(shop: &Shop, tag: &str) -> (String, String) {
    let (tea, mug) = (format!("TEA-{tag}"), format!("MUG-{tag}"));
    shop.add_product(&NewProduct::new(&tea, "Assam tea", TEA_CENTS, 10))
        .await
        .expect("the tea is added");
    shop.add_product(&NewProduct::new(&mug, "Mug", MUG_CENTS, 3))
        .await
        .expect("the mug is added");
    (tea, mug)
}

/// A count of rows (`SELECT count(*) ..`) in the shop's database.
pub async fn count(shop: &Shop, sql: &'static str) -> i64 {
    shop::on_backend!(shop.db(), |pool| sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .expect("the count is read"))
}

// ---- the settlement worker ----

/// The settlement worker of the process: started once, on a thread and runtime of its
/// own, as an actor of its own, with the settler of a shop on [`DB`]. It works for no test
/// until one allows it.
pub struct TestSettler {
    worker: Worker,
    handle: SettlerHandle,
}

/// The process's settlement worker.
pub static SETTLER: LazyLock<TestSettler> = LazyLock::new(|| {
    let (handle, settling) = settlement::settler(Shop::new(DB.pool()), None);
    let worker =
        Worker::start("shop::settlement_worker", settling).expect("the settlement worker starts");
    TestSettler { worker, handle }
});

impl TestSettler {
    /// The worker's actor: what a test allows.
    pub fn id(&self) -> ActorId {
        self.worker.id()
    }

    /// Asks the worker to settle now.
    pub async fn settle_now(&self) -> Result<Vec<OrderId>, settlement::SettleError> {
        self.handle.settle_now().await
    }
}

/// One test at a time has the worker (an actor serves one owner at a time: allowing it
/// while another test has it is refused).
static SETTLER_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The calling test's turn with the settlement worker: the worker is allowed on
/// everything the test owns for as long as the test runs. Hold it until the test's end.
pub struct SettlerTurn {
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl SettlerTurn {
    /// Waits for the turn, then allows the worker on what the calling test owns with
    /// `allow` (which calls `allow_all`, or the sandbox's and facades' own `allow`).
    /// The previous test's allowances end with that test, a moment after it let go of the
    /// turn: `allow` is tried again until then.
    pub async fn take(allow: impl Fn(ActorId) -> Result<(), String>) -> SettlerTurn {
        let turn = SETTLER_TURN.lock().await;
        let worker = SETTLER.id();
        let started = Instant::now();
        while let Err(refused) = allow(worker) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the settlement worker could not be allowed: {refused}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        SettlerTurn { _turn: turn }
    }

    /// The turn, with the worker allowed on everything the test owns (`allow_all`).
    pub async fn allow_all() -> SettlerTurn {
        SettlerTurn::take(|worker| {
            allow_all(worker).map_err(|error| ownership_runtime::error_chain(&error).to_string())
        })
        .await
    }

    /// Asks the worker to settle now.
    pub async fn settle_now(&self) -> Vec<OrderId> {
        SETTLER
            .settle_now()
            .await
            .expect("the settlement worker settles")
    }
}

// ---- HTTP ----

/// The shop's routes on the calling test's database, with no ownership layer.
pub fn app_router() -> Router {
    shop::web::router(test_shop())
}

/// An HTTP server of the shop on 127.0.0.1, started on a plain thread with a tokio
/// runtime of its own, which works for no test: each request runs for the test whose
/// token it carries (`OwnershipLayer`), and for nobody without one.
pub struct SharedServer {
    addr: SocketAddr,
    runtime: tokio::runtime::Handle,
    connections: Arc<AtomicUsize>,
}

/// The server of the process, started at its first use and shared by every test.
pub fn shared_server() -> &'static SharedServer {
    static SERVER: LazyLock<SharedServer> = LazyLock::new(SharedServer::start);
    &SERVER
}

impl SharedServer {
    /// Starts a server (tests share [`shared_server`]; one that counts its connections
    /// starts its own).
    pub fn start() -> SharedServer {
        let (started, start) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("shop-test-server".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("the server's runtime starts");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("a port on 127.0.0.1");
                    let addr = listener.local_addr().expect("the port is known");
                    let connections = Arc::new(AtomicUsize::new(0));
                    let accepted = connections.clone();
                    let listener = listener.tap_io(move |_| {
                        accepted.fetch_add(1, Ordering::SeqCst);
                    });
                    let handle = tokio::runtime::Handle::current();
                    started
                        .send((addr, handle, connections))
                        .expect("the starting test waits");
                    let app = app_router().layer(OwnershipLayer::new().with_session_route());
                    axum::serve(listener, app)
                        .await
                        .expect("the test server serves");
                });
            })
            .expect("the server's thread starts");
        let (addr, runtime, connections) = start.recv().expect("the server starts");
        SharedServer {
            addr,
            runtime,
            connections,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// How many TCP connections the server has accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Sends `request` from the server's runtime, so that the client's pooled connection
    /// lives on a runtime no test owns: a keep-alive connection then outlives the test
    /// that opened it, for the next test to reuse (on a test's runtime it would die with
    /// the test, or be a task the test left running).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        self.runtime
            .spawn(request.send())
            .await
            .expect("the request's task ran")
            .expect("the request got an answer")
    }
}

/// One HTTP client for the whole process, as an app's would be.
pub fn client() -> &'static reqwest::Client {
    static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the client builds")
    });
    &CLIENT
}

/// Reads a JSON answer.
pub async fn json<T: DeserializeOwned>(response: reqwest::Response) -> T {
    let status = response.status();
    let text = response.text().await.expect("the body is read");
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{status} {text}: {error}"))
}

/// The router as a test calls it in process: the ownership layer around the shop's
/// routes, and the client layer that adds the calling test's token.
pub fn in_process() -> impl tower::Service<
    axum::http::Request<axum::body::Body>,
    Response = axum::http::Response<axum::body::Body>,
    Error = std::convert::Infallible,
> + Clone {
    ServiceBuilder::new()
        .layer(OwnershipClientLayer::new())
        .service(app_router().layer(OwnershipLayer::new()))
}

/// How a test reaches the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Over real TCP to [`shared_server`], with reqwest and `.with_ownership()`.
    Tcp,
    /// In process, through [`in_process`]: `OwnershipClientLayer` and `oneshot`.
    InProcess,
}

/// Sends `method path` (with `body` as JSON) with the calling test's token, and returns
/// the status and the body's text.
pub async fn request(
    via: Via,
    method: &str,
    path: &str,
    body: Option<&impl Serialize>,
) -> (u16, String) {
    match via {
        Via::Tcp => {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
            let server = shared_server();
            let mut builder = client().request(method, server.url(path)).with_ownership();
            if let Some(body) = body {
                builder = builder.json(body);
            }
            let response = server.send(builder).await;
            let status = response.status().as_u16();
            (status, response.text().await.expect("the body is read"))
        }
        Via::InProcess => {
            let builder = axum::http::Request::builder().method(method).uri(path);
            let request =
                match body {
                    Some(body) => builder.header("content-type", "application/json").body(
                        axum::body::Body::from(
                            serde_json::to_vec(body).expect("the body serializes"),
                        ),
                    ),
                    None => builder.body(axum::body::Body::empty()),
                }
                .expect("the request is valid");
            let response = in_process()
                .oneshot(request)
                .await
                .expect("the router answers");
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("the body is read");
            (status, String::from_utf8_lossy(&bytes).into_owned())
        }
    }
}

/// [`request`], reading a JSON answer.
pub async fn request_json<T: DeserializeOwned>(
    via: Via,
    method: &str,
    path: &str,
    body: Option<&impl Serialize>,
) -> (u16, T) {
    let (status, text) = request(via, method, path, body).await;
    let parsed =
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{status} {text}: {error}"));
    (status, parsed)
}

/// No request body.
pub const NO_BODY: Option<&()> = None;
