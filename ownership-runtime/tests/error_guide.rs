//! The guide to errors (`docs/errors.md`, part `ownership-runtime`) shows the messages
//! this crate renders: every error is made here for real, through the public API, and its
//! message (with its causes, as [`error_chain`] shows them) compared with its section's
//! block. `UPDATE_ERROR_GUIDE=1 cargo test -p ownership-runtime --test error_guide`
//! rewrites the blocks.

#[path = "support/error_guide.rs"]
mod error_guide;

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ownership_runtime::background::{self, BackgroundError};
use ownership_runtime::flight::{LoadError, SingleFlight};
use ownership_runtime::harness::{
    Failure, Flavor, TestConfig, TestContext, TestResource, register_resource, run_async, run_sync,
};
use ownership_runtime::runwide::{RunWide, RunWideError};
use ownership_runtime::{
    Actor, ActorId, Mode, Ownership, Worker, WorkerError, allow_all, callers, error_chain,
};

/// The message of a `Result`'s error, with its causes.
fn chain_of<T: std::fmt::Debug, E: std::error::Error + 'static>(result: Result<T, E>) -> String {
    error_chain(&result.expect_err("the call fails")).to_string()
}

/// Each refusal of the ownership server.
fn ownership_errors() -> Vec<(&'static str, String)> {
    let server: Ownership<&str, u32> = Ownership::new();
    let test = Actor::named("tests::checkout");
    let other_test = Actor::named("tests::refund");
    let worker = Actor::named("worker");
    let stranger = Actor::named("stranger");
    server.get_and_update(test.id(), "db", |_| ((), 1)).unwrap();
    server
        .get_and_update(other_test.id(), "db", |_| ((), 2))
        .unwrap();
    server.allow(test.id(), worker.id(), "db").unwrap();
    let mut errors = vec![
        (
            "OwnershipError::NotAllowed",
            chain_of(server.allow(stranger.id(), Actor::named("helper").id(), "db")),
        ),
        (
            "OwnershipError::AlreadyAllowed",
            chain_of(server.allow(other_test.id(), worker.id(), "db")),
        ),
        (
            "OwnershipError::AlreadyAnOwner",
            chain_of(server.allow(test.id(), other_test.id(), "db")),
        ),
        (
            "OwnershipError::ReentrantUpdate",
            chain_of(
                server
                    .get_and_update(test.id(), "db", |_| {
                        let again = server.get_and_update(test.id(), "db", |_| ((), 3));
                        (again, 3)
                    })
                    .unwrap(),
            ),
        ),
    ];
    let ended = Actor::named("tests::finished").id();
    errors.push((
        "OwnershipError::ActorDown",
        chain_of(server.get_and_update(ended, "db", |_| ((), 4))),
    ));
    errors.push((
        "SharedOwnerDown",
        chain_of(server.set_mode(Mode::Shared(ended))),
    ));
    let shared = Actor::named("tests::global_worker");
    server.set_mode(Mode::Shared(shared.id())).unwrap();
    errors.push((
        "OwnershipError::CantAllowInSharedMode",
        chain_of(server.allow(shared.id(), worker.id(), "db")),
    ));
    errors.push((
        "OwnershipError::NotSharedOwner",
        chain_of(server.get_and_update(test.id(), "cache", |_| ((), 5))),
    ));
    errors
}

/// Each failure of run-wide locks and setups. Where the real value names this machine (a
/// temporary folder, a process id, how long it waited), the field is set to a fixed one.
fn runwide_errors(runtime: &tokio::runtime::Runtime) -> Vec<(&'static str, String)> {
    let dir = std::env::temp_dir().join(format!("error-guide-{}", std::process::id()));
    let run_wide = RunWide::file_in(&dir).with_run_id("ci-4711");
    runtime.block_on(async {
        let held = run_wide.lock("mail-server").await.unwrap();
        let waiting = run_wide.clone().timeout(Duration::from_millis(20));
        let mut timeout = waiting.lock("mail-server").await.unwrap_err();
        held.release().await;
        if let RunWideError::Timeout {
            place,
            holder,
            waited,
            ..
        } = &mut timeout
        {
            *place = "target/ownership-runwide/mail-server.lock".to_owned();
            *holder = ", held by process 4242 of run ci-4711".to_owned();
            *waited = Duration::from_secs(600);
        }
        let setup = run_wide
            .once("fixtures", || async {
                Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "fixtures/orders.sql not found",
                ))
            })
            .await;
        let backend = RunWide::file_in("/dev/null/locks")
            .lock("mail-server")
            .await;
        let _ = std::fs::remove_dir_all(&dir);
        vec![
            ("RunWideError::Timeout", error_chain(&timeout).to_string()),
            ("RunWideError::SetupFailed", chain_of(setup)),
            ("RunWideError::Backend", chain_of(backend)),
        ]
    })
}

/// Each failure of a single-flight load.
fn flight_errors(runtime: &tokio::runtime::Runtime) -> Vec<(&'static str, String)> {
    let schemas: SingleFlight<&str, u32> = SingleFlight::new();
    runtime.block_on(async {
        let failed = schemas
            .fetch("schema", || async {
                Err::<u32, _>(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    "connection refused",
                ))
            })
            .await;
        let panicked = schemas
            .fetch("schema", || async {
                panic!("migration 7 is broken") as Result<u32, String>
            })
            .await;
        // Can't be made to happen here: the background runtime runs.
        let not_run = LoadError::NotRun {
            key: "\"schema\"".to_owned(),
            source: None,
        };
        vec![
            ("LoadError::Failed", chain_of(failed)),
            ("LoadError::Panicked", chain_of(panicked)),
            ("LoadError::NotRun", error_chain(&not_run).to_string()),
        ]
    })
}

/// Each failure of the background runtime: a panic for real; the runtime that can't start
/// and the process that exits can't be made to happen here, so those are built.
fn background_errors() -> Vec<(&'static str, String)> {
    let panicked = background::block_on(async {
        panic!("the pool's driver broke");
    });
    let unavailable = BackgroundError::Unavailable {
        source: Arc::new(io::Error::new(
            io::ErrorKind::WouldBlock,
            "Resource temporarily unavailable (os error 11)",
        )),
    };
    vec![
        (
            "BackgroundError::Unavailable",
            error_chain(&unavailable).to_string(),
        ),
        ("BackgroundError::Panicked", chain_of(panicked)),
        (
            "BackgroundError::Cancelled",
            error_chain(&BackgroundError::Cancelled).to_string(),
        ),
    ]
}

/// A resource that refuses to allow anyone: a queue whose consumer is taken.
struct Refuser;

impl TestResource for Refuser {
    fn name(&self) -> String {
        "queue `orders`".to_owned()
    }

    fn allow(&self, _owner: ActorId, _actor: ActorId) -> Result<(), Failure> {
        Err(Failure::new(
            "its one consumer is taken by another actor; stop that one first",
        ))
    }
}

static REFUSER: std::sync::LazyLock<Arc<dyn TestResource>> = std::sync::LazyLock::new(|| {
    let refuser: Arc<dyn TestResource> = Arc::new(Refuser);
    register_resource(Arc::downgrade(&refuser));
    refuser
});

/// A worker that panics, one started allowed outside a test, and `allow_all` from no actor and refused by a resource: all for
/// real. A worker that can't start (out of threads) is built.
fn worker_and_allow_errors() -> Vec<(&'static str, String)> {
    let worker = Worker::start("mailer", async { panic!("the outbox is corrupt") })
        .expect("the worker starts");
    let panicked = worker.join().expect_err("the worker panicked");
    let cannot_start = WorkerError::Start {
        worker: "mailer".to_owned(),
        stage: "spawning its thread",
        source: io::Error::new(
            io::ErrorKind::WouldBlock,
            "Resource temporarily unavailable (os error 11)",
        ),
    };
    let not_allowed =
        Worker::start_allowed("mailer", async {}).expect_err("no test to allow it on");
    let helper = Actor::named("mailer");
    let no_actor = allow_all(helper.id()).expect_err("no caller");
    std::sync::LazyLock::force(&REFUSER);
    let test = Actor::named("tests::checkout");
    let refused = {
        let _entered = test.enter();
        allow_all(helper.id()).expect_err("the queue refuses")
    };
    vec![
        ("WorkerError::Start", error_chain(&cannot_start).to_string()),
        (
            "WorkerError::NotAllowed",
            error_chain(&not_allowed).to_string(),
        ),
        ("WorkerError::Panicked", error_chain(&panicked).to_string()),
        ("AllowAllError::NoActor", error_chain(&no_actor).to_string()),
        ("AllowAllError::Refused", error_chain(&refused).to_string()),
    ]
}

/// The report of a test run with `config`: what the harness panicked with.
fn report_of(run: impl FnOnce() + Send + 'static) -> String {
    // On a thread of a known name: the report names the thread a task panicked on.
    let failed = std::thread::Builder::new()
        .name("tests::error_guide".to_owned())
        .spawn(move || panic::catch_unwind(AssertUnwindSafe(run)))
        .unwrap()
        .join()
        .unwrap();
    let payload = failed.expect_err("the test fails");
    match payload.downcast::<String>() {
        Ok(report) => *report,
        Err(_) => panic!("the harness panics with its report, a String"),
    }
}

/// A resource whose before and after halves fail as it is told, in the test `test` only
/// (a resource a test names takes part in every later test of the process).
struct Uploads {
    test: &'static str,
    before: fn() -> Result<(), Failure>,
    after: fn() -> Vec<Failure>,
}

impl TestResource for Uploads {
    fn name(&self) -> String {
        "the upload folder".to_owned()
    }

    fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
        if test.name() == self.test {
            (self.before)()
        } else {
            Ok(())
        }
    }

    fn after_test(&self, test: &TestContext) -> Vec<Failure> {
        if test.name() == self.test {
            (self.after)()
        } else {
            Vec::new()
        }
    }
}

static FAILS_BEFORE: Uploads = Uploads {
    test: "app::tests::uploads",
    before: || {
        let denied = io::Error::new(io::ErrorKind::PermissionDenied, "permission denied");
        Err(Failure::new("could not create /srv/uploads/app_tests_uploads").with_source(denied))
    },
    after: Vec::new,
};
static FAILS_BEFORE_LIST: [&dyn TestResource; 1] = [&FAILS_BEFORE];

static FAILS_AFTER: Uploads = Uploads {
    test: "app::tests::leaves_uploads",
    before: || Ok(()),
    after: || {
        vec![Failure::new(
            "2 uploads left behind: delete them in the test",
        )]
    },
};
static FAILS_AFTER_LIST: [&dyn TestResource; 1] = [&FAILS_AFTER];

static PANICS_AFTER: Uploads = Uploads {
    test: "app::tests::unmounts",
    before: || Ok(()),
    after: || panic!("the upload folder's disk is not mounted"),
};
static PANICS_AFTER_LIST: [&dyn TestResource; 1] = [&PANICS_AFTER];

/// Metadata whose drop panics, as a fake's that finds itself misused.
struct PanicsOnRelease;

impl Drop for PanicsOnRelease {
    fn drop(&mut self) {
        panic!("the fake mailer still had 1 unsent mail");
    }
}

static MAILERS: std::sync::LazyLock<Ownership<&'static str, Mutex<Option<PanicsOnRelease>>>> =
    std::sync::LazyLock::new(Ownership::new);

/// The failure reports of the harness, one problem each.
fn reports() -> Vec<(&'static str, String)> {
    let grace = Duration::from_millis(20);
    vec![
        (
            "Report::BodyPanicked",
            report_of(|| {
                run_sync(TestConfig::new("app::tests::places_an_order"), || {
                    let orders = 1;
                    assert_eq!(orders, 2, "expected 2 orders");
                })
            }),
        ),
        (
            "Report::BodyFailed",
            report_of(|| {
                run_async(TestConfig::new("app::tests::places_an_order"), || async {
                    Err::<(), _>("out of stock")
                })
            }),
        ),
        (
            "Report::TimedOut",
            report_of(|| {
                let config =
                    TestConfig::new("app::tests::hangs").timeout(Duration::from_millis(30));
                run_async(config, || tokio::time::sleep(Duration::from_secs(60)))
            }),
        ),
        (
            "Report::Resource (before the test)",
            report_of(|| {
                let config = TestConfig::new("app::tests::uploads").resources(&FAILS_BEFORE_LIST);
                run_sync(config, || ())
            }),
        ),
        (
            "Report::Resource (after the test)",
            report_of(|| {
                let config =
                    TestConfig::new("app::tests::leaves_uploads").resources(&FAILS_AFTER_LIST);
                run_sync(config, || ())
            }),
        ),
        (
            "Report::Resource (panicked)",
            report_of(|| {
                let config = TestConfig::new("app::tests::unmounts").resources(&PANICS_AFTER_LIST);
                run_sync(config, || ())
            }),
        ),
        (
            "Report::TaskPanicked",
            report_of(|| {
                run_async(TestConfig::new("app::tests::notifies"), || async {
                    let _ = tokio::spawn(async { panic!("the mail queue is closed") }).await;
                })
            }),
        ),
        (
            "Report::TasksOutlived",
            report_of(move || {
                let config = TestConfig::new("app::tests::polls").leftover_grace(grace);
                run_async(config, || async {
                    tokio::spawn(std::future::pending::<()>());
                })
            }),
        ),
        (
            "Report::ThreadsOutlived",
            report_of(move || {
                let config = TestConfig::new("app::tests::compresses").leftover_grace(grace);
                run_async(config, || async {
                    // Busy past the grace and the runtime's own wait for its threads.
                    tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_secs(1)));
                })
            }),
        ),
        (
            "Report::Release",
            report_of(|| {
                run_sync(TestConfig::new("app::tests::mails"), || {
                    let test = *callers().first().expect("runs for the test");
                    MAILERS
                        .get_and_update(test, "mailer", |_| ((), Mutex::new(Some(PanicsOnRelease))))
                        .unwrap();
                })
            }),
        ),
        (
            "Report::Setup (worker_threads)",
            report_of(|| {
                run_async(
                    TestConfig::new("app::tests::heavy").worker_threads(4),
                    || async {},
                )
            }),
        ),
        (
            "Report::Setup (start_paused)",
            report_of(|| {
                let config = TestConfig::new("app::tests::sleeps")
                    .flavor(Flavor::MultiThread)
                    .start_paused(true);
                run_async(config, || async {})
            }),
        ),
    ]
}

/// The body a server behind `OwnershipLayer` answers `token` with (a rejection), the
/// run tags (which change from run to run) read `RUN`.
fn rejection_of(runtime: &tokio::runtime::Runtime, token: &str) -> String {
    use tower::{ServiceBuilder, ServiceExt, service_fn};
    let app = service_fn(|_: ::http::Request<()>| async {
        Ok::<_, std::convert::Infallible>(::http::Response::new(String::from("served")))
    });
    let server = ServiceBuilder::new()
        .layer(ownership_runtime::http::OwnershipLayer::new())
        .service(app);
    let request = ::http::Request::get("/")
        .header(ownership_runtime::http::TOKEN_HEADER, token)
        .body(())
        .expect("a request");
    let response = runtime
        .block_on(server.oneshot(request))
        .expect("the layer answers");
    assert!(response.status().is_client_error(), "{}", response.body());
    let this_run =
        ownership_runtime::runwide::stable_hash(&ownership_runtime::runwide::current_run_id());
    response
        .into_body()
        .trim_end()
        .replace(&format!("{this_run:016x}"), "RUN")
}

/// Each rejection of a token, by a real server, and a token made outside any test.
fn http_errors(runtime: &tokio::runtime::Runtime) -> Vec<(&'static str, String)> {
    let test = Actor::named("tests::checkout");
    let genuine = test
        .chain()
        .in_scope(ownership_runtime::http::token)
        .expect("a token");
    let genuine = genuine.as_str();
    let (claims, _) = genuine.rsplit_once('.').expect("a signature");
    let forged = format!("{claims}.{}", "00".repeat(32));
    let (_, after_version) = claims.split_once('.').expect("a run");
    let (_, rest) = after_version.split_once('.').expect("a process");
    let other_run = format!("ot1.0123456789abcdef.{rest}.{}", "00".repeat(32));
    drop(test);
    vec![
        (
            "TokenError::NoTest",
            chain_of(ownership_runtime::http::token()),
        ),
        ("Rejection::Malformed", rejection_of(runtime, "hello")),
        ("Rejection::OtherRun", rejection_of(runtime, &other_run)),
        ("Rejection::Forged", rejection_of(runtime, &forged)),
        ("Rejection::TestEnded", rejection_of(runtime, genuine)),
    ]
}

#[test]
fn the_guide_shows_every_message_of_ownership_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rendered = ownership_errors();
    rendered.extend(runwide_errors(&runtime));
    rendered.extend(flight_errors(&runtime));
    rendered.extend(background_errors());
    rendered.extend(worker_and_allow_errors());
    rendered.extend(reports());
    rendered.extend(http_errors(&runtime));
    error_guide::check("ownership-runtime", &rendered);
}
