//! The guide to errors (`docs/errors.md`, part `sandbox-sqlx`) shows the messages this
//! crate renders: every error, and the report lines of a failing owned test for a sandbox,
//! made here for real against the test servers (PostgreSQL at `DATABASE_URL`, or
//! 127.0.0.1:5432) and SQLite files under `target/`, through the public API, and compared
//! with their sections' blocks. The few that can't be made to happen on purpose here are
//! built from their public fields, each saying why. `UPDATE_ERROR_GUIDE=1 cargo test -p
//! sandbox-sqlx --test error_guide` rewrites the blocks.

#[path = "../../ownership-runtime/tests/support/error_guide.rs"]
mod error_guide;

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use ownership_e2e::postgres_url;
use ownership_runtime::background::BackgroundError;
use ownership_runtime::harness::{TestConfig, TestResource, run_async};
use ownership_runtime::{Actor, OwnershipError, callers, error_chain};
use sandbox_sqlx::{
    CheckoutOptions, MigrationsProblem, Sandbox, SandboxError, SandboxMode, SandboxPool,
    SharedModeRefusal, TestArgList, TestArgs, TestFixture, TestMigrations,
};
use sqlx::migrate::MigrateError;
use sqlx::{Executor, Postgres, Sqlite};

/// The message of a `Result`'s error, with its causes.
fn chain_of<T, E: std::error::Error + 'static>(result: Result<T, E>) -> String {
    match result {
        Ok(_) => panic!("the call succeeds, but the guide shows its error"),
        Err(error) => error_chain(&error).to_string(),
    }
}

/// The message of an error that reached app code through sqlx.
fn sqlx_chain_of<T>(result: Result<T, sqlx::Error>) -> String {
    match result {
        Ok(_) => panic!("the query succeeds, but the guide shows its error"),
        Err(error) => {
            assert!(
                SandboxError::of(&error).is_some(),
                "a sandbox's error: {error}"
            );
            error.to_string()
        }
    }
}

/// A PostgreSQL sandbox of this label on the test server.
fn postgres(label: &str) -> Sandbox<Postgres> {
    Sandbox::builder(label, postgres_url()).build().unwrap()
}

/// What `body` returns, run as the owned test `name`.
fn in_test<T: Send + 'static>(
    name: &'static str,
    body: impl AsyncFnOnce() -> T + Send + 'static,
) -> T {
    let slot = Arc::new(Mutex::new(None));
    let out = slot.clone();
    run_async(TestConfig::new(name), move || async move {
        let value = body().await;
        *out.lock().unwrap() = Some(value);
    });
    slot.lock().unwrap().take().expect("the test ran")
}

/// The report of a test run that fails.
fn report_of(run: impl FnOnce() + Send + 'static) -> String {
    let failed = std::thread::spawn(move || panic::catch_unwind(AssertUnwindSafe(run)))
        .join()
        .unwrap();
    match failed.expect_err("the test fails").downcast::<String>() {
        Ok(report) => *report,
        Err(_) => panic!("the harness panics with its report, a String"),
    }
}

/// The refusals of a sandbox's modes, allowances and checkouts.
fn refusals(runtime: &tokio::runtime::Runtime) -> Vec<(&'static str, String)> {
    let manual = postgres("app-db");
    let pool = manual.pool();
    let mut errors = vec![(
        "SandboxError::NoConnection",
        in_test("app::tests::checkout", async move || {
            sqlx_chain_of(pool.execute("SELECT 1").await)
        }),
    )];
    let pool = manual.pool();
    errors.push((
        "SandboxError::NoActor",
        sqlx_chain_of(runtime.block_on(pool.execute("SELECT 1"))),
    ));
    let sandbox = manual.clone();
    errors.extend(in_test("app::tests::shares", async move || {
        let test = callers()[0];
        let no_connection = chain_of(sandbox.set_mode(SandboxMode::Shared(test)).await);
        let worker = Actor::named("worker");
        sandbox.checkout().await.unwrap();
        sandbox.allow(test, worker.id()).unwrap();
        let only_allowed = chain_of(sandbox.set_mode(SandboxMode::Shared(worker.id())).await);
        let other = Actor::named("tests::other_shared_test");
        sandbox
            .checkout_for(other.id(), CheckoutOptions::default())
            .await
            .unwrap();
        sandbox
            .set_mode(SandboxMode::Shared(other.id()))
            .await
            .unwrap();
        let already = chain_of(sandbox.set_mode(SandboxMode::Shared(test)).await);
        sandbox.set_mode(SandboxMode::Manual).await.unwrap();
        other.scope(sandbox.checkin()).await.unwrap();
        vec![
            (
                "SandboxError::SharedModeRefused (no connection)",
                no_connection,
            ),
            (
                "SandboxError::SharedModeRefused (only allowed)",
                only_allowed,
            ),
            ("SandboxError::SharedModeRefused (already shared)", already),
        ]
    }));
    let sandbox = manual.clone();
    errors.extend(in_test("app::tests::allows", async move || {
        let test = callers()[0];
        let worker = Actor::named("worker");
        let no_connection = chain_of(sandbox.allow(test, worker.id()));
        sandbox.checkout().await.unwrap();
        let helper = Actor::named("helper");
        sandbox
            .checkout_for(helper.id(), CheckoutOptions::default())
            .await
            .unwrap();
        let already_owner = chain_of(sandbox.allow(test, helper.id()));
        helper.scope(sandbox.checkin()).await.unwrap();
        let other = Actor::named("tests::other");
        sandbox
            .checkout_for(other.id(), CheckoutOptions::default())
            .await
            .unwrap();
        sandbox.allow(other.id(), worker.id()).unwrap();
        let already_allowed = chain_of(sandbox.allow(test, worker.id()));
        other.scope(sandbox.checkin()).await.unwrap();
        let ended = Actor::named("tests::finished").id();
        let actor_ended = chain_of(sandbox.allow(test, ended));
        let owner_ended = chain_of(
            sandbox
                .checkout_for(ended, CheckoutOptions::default())
                .await,
        );
        vec![
            ("SandboxError::AllowRefused (no connection)", no_connection),
            ("SandboxError::AllowRefused (already owner)", already_owner),
            (
                "SandboxError::AllowRefused (already allowed)",
                already_allowed,
            ),
            ("SandboxError::AllowRefused (actor ended)", actor_ended),
            ("SandboxError::OwnerEnded", owner_ended),
        ]
    }));
    errors
}

/// The failures of a test's connection: taken back, held, exhausted, ended, hooks.
fn connection_errors() -> Vec<(&'static str, String)> {
    let impatient = Sandbox::<Postgres>::builder("app-db", postgres_url())
        .checkout_options(CheckoutOptions::default().ownership_timeout(Duration::from_millis(200)))
        .auto()
        .build()
        .unwrap();
    let pool = impatient.pool();
    let mut errors = vec![(
        "SandboxError::OwnershipTimeout",
        in_test("app::tests::slow", async move || {
            pool.execute("SELECT 1").await.unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
            sqlx_chain_of(pool.execute("SELECT 1").await)
        }),
    )];
    let auto: SandboxPool<Postgres> = Sandbox::builder("app-db", postgres_url())
        .auto()
        .build()
        .unwrap()
        .pool();
    errors.push((
        "SandboxError::HeldByThisTask",
        in_test("app::tests::transfers", async move || {
            let transaction = auto.begin().await.unwrap();
            let nested = tokio::time::timeout(Duration::from_secs(5), auto.execute("SELECT 1"))
                .await
                .expect("refused at once, not waiting for itself");
            drop(transaction);
            sqlx_chain_of(nested)
        }),
    ));
    let tiny = Sandbox::<Postgres>::builder("app-db", postgres_url())
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    errors.push((
        "SandboxError::PoolExhausted",
        in_test("app::tests::crowded", async move || {
            let (first, second) = (Actor::named("first"), Actor::named("second"));
            let checkout =
                |actor: &Actor| tiny.checkout_for(actor.id(), CheckoutOptions::default());
            checkout(&first).await.unwrap();
            let mut exhausted = checkout(&second).await.unwrap_err();
            first.scope(tiny.checkin()).await.unwrap();
            // How long it waited, to the microsecond, changes from run to run.
            if let SandboxError::PoolExhausted { waited, .. } = &mut exhausted {
                *waited = Duration::from_millis(300);
            }
            error_chain(&exhausted).to_string()
        }),
    ));
    let ended = postgres("app-db");
    errors.push((
        "SandboxError::TransactionEnded",
        in_test("app::tests::commits", async move || {
            ended.checkout().await.unwrap();
            ended.pool().execute("COMMIT").await.unwrap();
            chain_of(ended.checkin().await)
        }),
    ));
    let hooked = postgres("app-db");
    errors.push((
        "SandboxError::Hook",
        in_test("app::tests::seeds", async move || {
            let failing = CheckoutOptions::<Postgres>::default().post_checkout(|connection| {
                Box::pin(async move {
                    sqlx::query("SELECT 1 WHERE false")
                        .fetch_one(connection)
                        .await
                        .map(drop)
                })
            });
            chain_of(hooked.checkout_for(callers()[0], failing).await)
        }),
    ));
    errors
}

/// The failures to reach the server, one per cause that can be made here.
fn unreachable_errors(runtime: &tokio::runtime::Runtime) -> Vec<(&'static str, String)> {
    let failure_at = |url: String| {
        let sandbox = Sandbox::<Postgres>::builder("app-db", url)
            .acquire_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let message = in_test("app::tests::checkout", async move || {
            chain_of(sandbox.checkout().await)
        });
        without_server_lines(&message)
    };
    let server = postgres_url();
    let (base, _) = server.rsplit_once('/').unwrap();
    let (_, host) = base.split_once('@').unwrap();
    // A server that accepts connections and never answers.
    let silent = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let holder = held.clone();
    runtime.spawn(async move {
        while let Ok((stream, _)) = silent.accept().await {
            holder.lock().unwrap().push(stream);
        }
    });
    let mut no_answer = failure_at(format!("postgres://root@127.0.0.1:{silent_port}/test"));
    no_answer = no_answer.replace(&format!(":{silent_port}/"), ":6432/");
    vec![
        (
            "SandboxError::Unreachable",
            failure_at("postgres://app:secret@127.0.0.1:1/app".to_owned()),
        ),
        (
            "UnreachableCause::UnknownHost",
            failure_at("postgres://root@db.invalid/test".to_owned()),
        ),
        (
            "UnreachableCause::Authentication",
            failure_at(format!("postgres://sandbox_no_such_role@{host}/test")),
        ),
        (
            "UnreachableCause::UnknownDatabase",
            failure_at(format!("{base}/sandbox_no_such_database")),
        ),
        ("UnreachableCause::NoAnswer", no_answer),
    ]
}

/// `message` without the places in PostgreSQL's source its errors name (` at line 768`),
/// which change from server version to version.
fn without_server_lines(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find(" at line ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + " at line ".len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            out.push_str(" at line ");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// `build()`'s refusals of a URL.
fn url_errors() -> Vec<(&'static str, String)> {
    let build = |url: &str| chain_of(Sandbox::<Postgres>::builder("app-db", url).build());
    vec![
        ("UrlProblem::NoScheme", build("postgresql:/test")),
        (
            "UrlProblem::OtherDatabase",
            build("mysql://root@127.0.0.1:3306/test"),
        ),
        (
            "UrlProblem::VariableNotSet",
            chain_of(Sandbox::<Postgres>::from_env("app-db", "SANDBOX_GUIDE_NOT_SET").build()),
        ),
        (
            "UrlProblem::Unparsable",
            build("postgres://root@127.0.0.1:port/test"),
        ),
    ]
}

/// A SQLite template that can't be made: its folder is a file.
fn template_error() -> (&'static str, String) {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/error-guide");
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join("not-a-folder");
    std::fs::write(&file, "").unwrap();
    let url = format!("sqlite://{}/notes.db", file.display());
    let sandbox = Sandbox::<Sqlite>::builder("notes", url).build().unwrap();
    let message = in_test("app::tests::notes", async move || {
        chain_of(sandbox.checkout().await)
    });
    let shown = std::fs::canonicalize(&folder).unwrap();
    (
        "SandboxError::Template",
        message
            .replace(&format!("{}/", folder.display()), "target/error-guide/")
            .replace(&format!("{}/", shown.display()), "target/error-guide/"),
    )
}

/// The errors that can't be made to happen on purpose here, built from their public
/// fields: each says why.
fn constructed() -> Vec<(&'static str, String)> {
    let test = Actor::named("tests::checkout");
    let owner = test.id();
    let label = || "app-db".to_owned();
    let database = || "postgres://root@127.0.0.1/test".to_owned();
    let migrate = |problem| SandboxError::Migrate {
        label: label(),
        database: database(),
        problem,
    };
    let table = || "_sqlx_migrations".to_owned();
    let errors = [
        // A connection is checked in while a task still holds it only in a race.
        (
            "SandboxError::CheckedIn",
            SandboxError::CheckedIn {
                label: label(),
                owner,
            },
        ),
        // Needs the database server to go down while the connection is idle.
        (
            "SandboxError::ConnectionLost",
            SandboxError::ConnectionLost {
                label: label(),
                owner,
                source: Arc::new(sqlx::Error::PoolTimedOut),
            },
        ),
        // Needs MySQL and two processes that hold the turn.
        (
            "SandboxError::SerializedWait",
            SandboxError::SerializedWait {
                label: label(),
                owner,
                waited: Duration::from_secs(30),
            },
        ),
        // A statement of the sandbox's own failing needs a server that fails under it.
        (
            "SandboxError::Database",
            SandboxError::Database {
                label: label(),
                context: "could not begin the sandbox transaction",
                source: sqlx::Error::PoolClosed,
            },
        ),
        // Broken migrations here would change the test database's migration history,
        // which the other suites share.
        (
            "MigrationsProblem::PartiallyApplied",
            migrate(MigrationsProblem::PartiallyApplied {
                version: 3,
                description: "add orders".to_owned(),
                table: table(),
            }),
        ),
        (
            "MigrationsProblem::Changed",
            migrate(MigrationsProblem::Changed {
                version: 3,
                description: "add orders".to_owned(),
                table: table(),
            }),
        ),
        (
            "MigrationsProblem::LockTimeout",
            migrate(MigrationsProblem::LockTimeout {
                waited: Duration::from_secs(600),
                holder: ", held by process 4242".to_owned(),
            }),
        ),
        (
            "MigrationsProblem::Failed",
            migrate(MigrationsProblem::Failed(MigrateError::VersionMissing(3))),
        ),
        (
            "MigrationsProblem::Database",
            migrate(MigrationsProblem::Database {
                context: "could not read the applied migrations",
                source: sqlx::Error::PoolClosed,
            }),
        ),
        // The background runtime runs, and the sandbox's work on it doesn't panic.
        (
            "SandboxError::Background",
            SandboxError::Background {
                label: label(),
                source: BackgroundError::Panicked {
                    message: "the connection's driver broke".to_owned(),
                },
            },
        ),
        // An actor that has ended has no connection either: that is what it is told.
        (
            "SandboxError::SharedModeRefused (owner ended)",
            SandboxError::SharedModeRefused {
                label: label(),
                owner,
                reason: SharedModeRefusal::OwnerEnded,
            },
        ),
        // Bugs of sandbox-sqlx.
        (
            "SandboxError::Ownership",
            SandboxError::Ownership {
                label: label(),
                source: OwnershipError::ActorDown {
                    key: (),
                    actor: owner,
                },
            },
        ),
        ("SandboxError::ConnectionGone", SandboxError::ConnectionGone),
    ];
    errors
        .into_iter()
        .map(|(heading, error)| (heading, error_chain(&error).to_string()))
        .collect()
}

static NO_SERVER: LazyLock<Sandbox<Postgres>> = LazyLock::new(|| {
    Sandbox::builder("app-db", "postgres://root@127.0.0.1:1/test")
        .build()
        .unwrap()
});
static NO_SERVER_RESOURCES: [&dyn TestResource; 1] = [&NO_SERVER];

static SKIPPING: LazyLock<Sandbox<Postgres>> = LazyLock::new(|| {
    Sandbox::builder("app-db", "postgres://root@127.0.0.1:1/test")
        .skip_if_unreachable(true)
        .build()
        .unwrap()
});
static SKIPPING_RESOURCES: [&dyn TestResource; 1] = [&SKIPPING];

/// The body of a test whose sandbox fails (or skips it) before it runs.
fn body_must_not_run() {
    panic!("the body ran");
}

/// A test that names a sandbox with no server, which skips it.
#[test]
#[ignore = "fixture: run by the_guide_shows_every_message_of_sandbox_sqlx"]
fn skipped_fixture() {
    run_async(
        TestConfig::new("app::tests::checkout").resources(&SKIPPING_RESOURCES),
        || async { body_must_not_run() },
    );
}

/// The report of a test that takes its database as an argument (`args`), run as
/// `#[owned_test]` runs it.
fn argument_report<A: TestArgList>(
    name: &'static str,
    args: &'static TestArgs<A>,
    body: impl FnOnce(A) -> std::pin::Pin<Box<dyn Future<Output = ()>>> + Send + 'static,
) -> String
where
    TestArgs<A>: TestResource,
{
    let resources: &'static [&'static dyn TestResource] =
        Box::leak(Box::new([args as &dyn TestResource]));
    report_of(move || {
        run_async(TestConfig::new(name).resources(resources), || {
            body(args.take())
        })
    })
}

/// The errors of tests that take their database as an argument: a broken fixture, a
/// migrations folder that isn't there, a connection left behind.
fn test_argument_errors() -> Vec<(&'static str, String)> {
    const BROKEN: TestFixture = TestFixture::new(
        "fixtures/users.sql",
        "INSERT INTO users (name) VALUES ('ada');\nINSERT INTO users (name) VALUES ('grace');",
    );
    static FIXTURE: TestArgs<(sqlx::SqlitePool,)> = TestArgs::new(TestMigrations::None, &[BROKEN]);
    static FOLDER: TestArgs<(sqlx::SqlitePool,)> =
        TestArgs::new(TestMigrations::Folder("/no/such/app/migrations"), &[]);
    static LEFT_BEHIND: TestArgs<(sqlx::PgPool,)> = TestArgs::new(TestMigrations::None, &[]);
    static USED_BY_A_WORKER: TestArgs<(sqlx::PgPool,)> = TestArgs::new(TestMigrations::None, &[]);
    static KEPT: Mutex<Option<sqlx::pool::PoolConnection<Postgres>>> = Mutex::new(None);
    let line = |report: String| {
        report
            .lines()
            .find(|line| line.contains("the test's database ("))
            .map(|line| {
                line.split_once(". ")
                    .map_or(line, |(_, rest)| rest)
                    .to_owned()
            })
            .unwrap_or(report)
    };
    vec![
        (
            "SandboxError::Fixture",
            line(argument_report("app::tests::seeded", &FIXTURE, |_| {
                Box::pin(async {})
            })),
        ),
        (
            "SandboxError::MigrationsFolder",
            line(argument_report("app::tests::migrated", &FOLDER, |_| {
                Box::pin(async {})
            })),
        ),
        (
            "SandboxError::TestConnectionInUse",
            line(argument_report(
                "app::tests::keeps",
                &LEFT_BEHIND,
                |(pool,)| {
                    Box::pin(async move {
                        *KEPT.lock().unwrap() = Some(pool.acquire().await.unwrap());
                    })
                },
            )),
        ),
        (
            "SandboxError::TestPoolUsedByAnother",
            line(argument_report(
                "app::tests::settles",
                &USED_BY_A_WORKER,
                |(pool,)| {
                    Box::pin(async move {
                        let (used, done) = tokio::sync::oneshot::channel();
                        let worker = ownership_runtime::Worker::start("app::settler", async move {
                            let _ = used.send(pool.execute("SELECT 1").await.is_ok());
                        })
                        .unwrap();
                        assert!(done.await.unwrap());
                        worker.join().unwrap();
                    })
                },
            )),
        ),
    ]
}

/// The report lines of owned tests that fail (or are skipped) for a sandbox.
fn reports() -> Vec<(&'static str, String)> {
    let before = report_of(|| {
        let config = TestConfig::new("app::tests::checkout").resources(&NO_SERVER_RESOURCES);
        run_async(config, || async { body_must_not_run() })
    });
    // It lives on after the test's body, for its check after the test.
    let sandbox: &'static Sandbox<Postgres> = Box::leak(Box::new(
        Sandbox::builder("app-db", postgres_url())
            .auto()
            .build()
            .unwrap(),
    ));
    let after = report_of(move || {
        run_async(TestConfig::new("app::tests::commits"), || async move {
            sandbox.pool().execute("SELECT 1").await.unwrap();
            sandbox.pool().execute("COMMIT").await.unwrap();
        })
    });
    let (passed, printed) = ownership_e2e::fixtures::run_this_binary_with(
        &["--ignored", "--exact", "skipped_fixture", "--nocapture"],
        &[("CI", "")],
    );
    assert!(passed, "{printed}");
    let skipped = printed
        .lines()
        .find(|line| line.starts_with("skipped app::tests::checkout: "))
        .unwrap_or_else(|| panic!("a skip line in {printed}"))
        .to_owned();
    vec![
        ("Report::sandbox (before the test)", before),
        ("Report::sandbox (after the test)", after),
        ("Report::sandbox skipped", skipped),
    ]
}

#[test]
fn the_guide_shows_every_message_of_sandbox_sqlx() {
    if !ownership_e2e::postgres_available("error_guide::the_guide_shows_every_message") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rendered = refusals(&runtime);
    rendered.extend(connection_errors());
    rendered.extend(unreachable_errors(&runtime));
    rendered.extend(url_errors());
    rendered.push(template_error());
    rendered.extend(constructed());
    rendered.extend(reports());
    rendered.extend(test_argument_errors());
    error_guide::check("sandbox-sqlx", &rendered);
}
