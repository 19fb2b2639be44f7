//! Bad URLs and servers that can't be reached: `build()` refuses a URL that doesn't fit
//! the sandbox's database; a sandbox that can't reach its server says why (refused,
//! unknown host, authentication, unknown database), naming the URL (password hidden) and
//! the variable it came from, at its first checkout; every later test of the process
//! fails at once with the same error. The refusals need no server; the others are skipped
//! (with a notice) when the server is unreachable.

use std::sync::Arc;

use ownership_e2e::{mysql_available, mysql_url, postgres_available, postgres_url};
use ownership_runtime::error_chain;
use ownership_runtime::harness::{TestConfig, TestResource, run_async};
use sandbox_sqlx::{Sandbox, SandboxDatabase, SandboxError, UnreachableCause, UrlProblem};
use sqlx::migrate::Migrator;
use sqlx::{Executor, MySql, Postgres, Sqlite};

/// The failure of one checkout, in an owned test.
fn checkout<DB: SandboxDatabase>(sandbox: &Sandbox<DB>) -> Result<(), SandboxError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let mut outcome = Ok(());
    let slot = &mut outcome;
    run_async(TestConfig::new("unreachable::checkout"), || async move {
        *slot = sandbox.checkout().await.map(drop);
    });
    outcome
}

/// The failure to reach the server of a checkout that must fail with one, and the error's
/// message with its causes.
fn unreachable_of(outcome: Result<(), SandboxError>) -> (Arc<sandbox_sqlx::Unreachable>, String) {
    let error = outcome.expect_err("the checkout fails");
    let message = error_chain(&error).to_string();
    match error {
        SandboxError::Unreachable { failure, .. } => (failure, message),
        other => panic!("expected an unreachable server, got {other:?}"),
    }
}

static NO_MIGRATIONS: Migrator = Migrator::DEFAULT;

/// Nothing listens on port 1: the first checkout says so, with the URL (its password
/// hidden), the cause and the fix, and is not called a migration failure; every later
/// checkout fails at once with the very same failure (no retry, no 30 s wait).
fn a_refused_connection_fails_every_checkout_with_one_clear_error<DB: SandboxDatabase>(
    url: &str,
    server: &str,
) where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let sandbox = Sandbox::<DB>::builder("no-server-db", url)
        .migrations(&NO_MIGRATIONS)
        .build()
        .unwrap();
    let (first, message) = unreachable_of(checkout(&sandbox));
    assert_eq!(first.cause(), UnreachableCause::Refused, "{message}");
    for expected in [
        "sandbox `no-server-db`: its database server can't be reached: could not connect to",
        server,
        "127.0.0.1:1",
        "the connection was refused: no server listens there",
        &format!("start {server}"),
        "DATABASE_URL",
        "every later test of this process",
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
    assert!(
        !message.contains("secret"),
        "the password leaked: {message}"
    );
    assert!(
        !message.contains("migrations"),
        "not a migration failure: {message}"
    );
    assert_eq!(message.matches("no-server-db").count(), 1, "{message}");
    for _ in 0..10 {
        let (again, _) = unreachable_of(checkout(&sandbox));
        assert!(Arc::ptr_eq(&first, &again), "remembered, not tried again");
    }
}

#[test]
fn postgres_a_refused_connection_fails_every_checkout_with_one_clear_error() {
    a_refused_connection_fails_every_checkout_with_one_clear_error::<Postgres>(
        "postgres://app:secret@127.0.0.1:1/app",
        "PostgreSQL",
    );
}

/// MySQL keeps its cause too (it used to be only "pool timed out").
#[test]
fn mysql_a_refused_connection_fails_every_checkout_with_one_clear_error() {
    a_refused_connection_fails_every_checkout_with_one_clear_error::<MySql>(
        "mysql://app:secret@127.0.0.1:1/app",
        "MySQL/MariaDB",
    );
}

/// A test that names an unreachable sandbox fails before its body, with the same error.
#[test]
fn a_test_that_names_an_unreachable_sandbox_fails_before_its_body() {
    static SANDBOX: std::sync::LazyLock<Sandbox<Postgres>> = std::sync::LazyLock::new(|| {
        Sandbox::builder("named-no-server", "postgres://root@127.0.0.1:1/test")
            .build()
            .unwrap()
    });
    static RESOURCES: [&dyn TestResource; 1] = [&SANDBOX];
    for _ in 0..3 {
        let report = std::panic::catch_unwind(|| {
            run_async(
                TestConfig::new("unreachable::named").resources(&RESOURCES),
                || async { unreachable_body() },
            );
        })
        .expect_err("the test fails")
        .downcast::<String>()
        .unwrap();
        assert!(!report.contains("the body ran"), "{report}");
        assert!(report.contains("the connection was refused"), "{report}");
    }
}

/// The other causes, each with its own fix.
#[test]
fn unknown_databases_users_and_hosts_are_told_apart() {
    let cause_at = |url: &str| {
        let sandbox = Sandbox::<Postgres>::builder("causes", url).build().unwrap();
        let (failure, message) = unreachable_of(checkout(&sandbox));
        (failure.cause(), message)
    };
    let (cause, message) = cause_at("postgres://root@no-such-host.invalid/test");
    assert_eq!(cause, UnreachableCause::UnknownHost, "{message}");
    assert!(
        message.contains("fix the host in DATABASE_URL"),
        "{message}"
    );
    if !postgres_available("unreachable::unknown_databases_users_and_hosts_are_told_apart") {
        return;
    }
    let server = postgres_url();
    let (base, _) = server.rsplit_once('/').unwrap();
    let (cause, message) = cause_at(&format!("{base}/sandbox_no_such_database"));
    assert_eq!(cause, UnreachableCause::UnknownDatabase, "{message}");
    assert!(message.contains("create the database"), "{message}");
    let (_, host) = base.split_once('@').unwrap();
    let (cause, message) = cause_at(&format!("postgres://sandbox_no_such_role@{host}/test"));
    assert_eq!(cause, UnreachableCause::Authentication, "{message}");
    assert!(
        message.contains("a user (and password) the server accepts"),
        "{message}"
    );
}

#[test]
fn mysql_a_wrong_password_is_an_authentication_failure() {
    if !mysql_available("unreachable::mysql_a_wrong_password_is_an_authentication_failure") {
        return;
    }
    let server = mysql_url();
    let (_, host_and_database) = server.split_once('@').unwrap();
    let url = format!("mysql://sandbox_no_such_user:wrong@{host_and_database}");
    let sandbox = Sandbox::<MySql>::builder("mysql-causes", &url)
        .build()
        .unwrap();
    let (failure, message) = unreachable_of(checkout(&sandbox));
    assert_eq!(
        failure.cause(),
        UnreachableCause::Authentication,
        "{message}"
    );
    assert!(message.contains("sandbox_no_such_user:***@"), "{message}");
}

/// The variable a URL came from is named where the fix says what to change.
#[test]
fn a_url_from_a_variable_names_the_variable() {
    if std::env::var_os("SANDBOX_UNREACHABLE_URL").is_none() {
        let (passed, printed) = ownership_e2e::fixtures::run_this_binary_with(
            &[
                "--exact",
                "a_url_from_a_variable_names_the_variable",
                "--nocapture",
            ],
            &[(
                "SANDBOX_UNREACHABLE_URL",
                "postgres://root@127.0.0.1:1/test",
            )],
        );
        assert!(passed, "{printed}");
        return;
    }
    let sandbox = Sandbox::<Postgres>::from_env("from-env", "SANDBOX_UNREACHABLE_URL")
        .build()
        .unwrap();
    let (_, message) = unreachable_of(checkout(&sandbox));
    for expected in [
        "127.0.0.1:1/test (from SANDBOX_UNREACHABLE_URL)",
        "or point SANDBOX_UNREACHABLE_URL at a server that runs",
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
}

/// `build()` refuses a URL that doesn't fit the sandbox's database, saying why and what
/// fits (they used to fail at the first query, with "role anonymous does not exist" or
/// "unexpected message: CopyData").
#[test]
fn build_refuses_a_url_of_another_database_or_none() {
    let problem_of = |url: &str| {
        let error = Sandbox::<Postgres>::builder("typo-db", url)
            .build()
            .unwrap_err();
        let message = error.to_string();
        match error {
            SandboxError::Url { problem, .. } => (problem, message),
            other => panic!("{url}: {other:?}"),
        }
    };
    let (problem, message) = problem_of("foo://root@127.0.0.1/test");
    assert!(
        matches!(&problem, UrlProblem::OtherDatabase { scheme } if scheme == "foo"),
        "{message}"
    );
    let (problem, message) = problem_of("mysql://root@127.0.0.1:3306/test");
    assert!(
        matches!(problem, UrlProblem::OtherDatabase { .. }),
        "{message}"
    );
    for expected in [
        "sandbox `typo-db`: the database URL mysql://root@127.0.0.1:3306/test is a `mysql:` URL",
        "(a PostgreSQL URL looks like postgres://",
        "set DATABASE_URL to one",
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
    let (problem, message) = problem_of("postgresql:/x");
    assert_eq!(problem, UrlProblem::NoScheme, "{message}");
    let sqlite =
        Sandbox::<Sqlite>::builder("sqlite-typo", "postgres://root@127.0.0.1/test").build();
    assert!(
        matches!(sqlite, Err(SandboxError::Url { .. })),
        "{sqlite:?}"
    );
    let mysql = Sandbox::<MySql>::builder("mysql-typo", "postgres://root@127.0.0.1/test").build();
    assert!(matches!(mysql, Err(SandboxError::Url { .. })), "{mysql:?}");
}

/// A body that must not run.
fn unreachable_body() {
    panic!("the body ran");
}

// ---- Skipping, opted into with `skip_if_unreachable` ----

static SKIPPING: std::sync::LazyLock<Sandbox<Postgres>> = std::sync::LazyLock::new(|| {
    Sandbox::builder("skipping-db", "postgres://root@127.0.0.1:1/test")
        .skip_if_unreachable(true)
        .build()
        .unwrap()
});
static SKIPPING_RESOURCES: [&dyn TestResource; 1] = [&SKIPPING];

/// Three tests that name a sandbox with no server, which skips them.
#[test]
#[ignore = "fixture: run by tests_of_an_unreachable_sandbox_are_skipped_or_fail_under_ci"]
fn skipped_fixture() {
    for test in [
        "unreachable::first",
        "unreachable::second",
        "unreachable::third",
    ] {
        run_async(
            TestConfig::new(test).resources(&SKIPPING_RESOURCES),
            || async { unreachable_body() },
        );
    }
}

/// Skipped tests pass without running their body, each says so, and the binary sums them
/// up in one line when it exits; under `CI=true` they fail instead.
#[test]
fn tests_of_an_unreachable_sandbox_are_skipped_or_fail_under_ci() {
    let args = ["--ignored", "--exact", "skipped_fixture"];
    let (passed, printed) = ownership_e2e::fixtures::run_this_binary_with(&args, &[("CI", "")]);
    assert!(passed, "{printed}");
    assert!(!printed.contains("the body ran"), "{printed}");
    for expected in [
        "skipped unreachable::first: sandbox `skipping-db`: its database server can't be \
         reached: could not connect to PostgreSQL",
        "skipped unreachable::third",
        "note: 3 tests of this binary were skipped, their service unreachable: sandbox \
         `skipping-db`: its database server can't be reached: could not connect",
        "Run with CI=true to fail them instead.",
    ] {
        assert!(printed.contains(expected), "{expected:?} in {printed}");
    }
    assert_eq!(printed.matches("note: ").count(), 1, "{printed}");
    let (passed, printed) = ownership_e2e::fixtures::run_this_binary_with(&args, &[("CI", "true")]);
    assert!(!passed, "{printed}");
    assert!(
        printed.contains("CI=true: a test whose service can't be reached fails"),
        "{printed}"
    );
    assert!(!printed.contains("the body ran"), "{printed}");
}
