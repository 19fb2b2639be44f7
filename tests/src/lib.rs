//! Support for the end-to-end tests in `tests/tests/`: finding the database servers,
//! saying which server-backed tests were skipped and why, and loading the machine's CPUs.
#![deny(missing_docs)]

pub mod fixtures;
pub mod load;
pub mod runs;

use std::io::Write;
use std::time::Duration;

/// The PostgreSQL server's URL: `DATABASE_URL`, or the local default.
///
/// ```
/// assert!(ownership_e2e::postgres_url().starts_with("postgres://"));
/// ```
pub fn postgres_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

/// The MySQL/MariaDB server's URL: `MYSQL_DATABASE_URL`, or the local default.
///
/// ```
/// assert!(ownership_e2e::mysql_url().starts_with("mysql://"));
/// ```
pub fn mysql_url() -> String {
    std::env::var("MYSQL_DATABASE_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

/// Says that `test` was skipped, and why, where the person running the tests sees it:
/// straight to the process's standard error, past the test harness's output capture.
///
/// # Panics
///
/// Under `CI=true`, where every server must be up: a skipped test is a failure there.
///
/// ```
/// # if std::env::var("CI").as_deref() != Ok("true") {
/// ownership_e2e::skip("a_test", "no server");
/// # }
/// ```
pub fn skip(test: &str, reason: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{test} needs its server, and CI=true: {reason}. .ci/run starts the servers; see why it didn't"
        );
    }
    let _ = writeln!(std::io::stderr(), "skipped {test}: {reason}");
}

/// Whether the PostgreSQL server at [`postgres_url`] answers within 5 seconds; if not,
/// reports `test` as skipped (see [`skip`]).
pub fn postgres_available(test: &str) -> bool {
    server_available::<sqlx::PgConnection>(test, "PostgreSQL", "DATABASE_URL", &postgres_url())
}

/// Whether the MySQL/MariaDB server at [`mysql_url`] answers within 5 seconds; if not,
/// reports `test` as skipped (see [`skip`]).
pub fn mysql_available(test: &str) -> bool {
    server_available::<sqlx::MySqlConnection>(
        test,
        "MySQL/MariaDB",
        "MYSQL_DATABASE_URL",
        &mysql_url(),
    )
}

fn server_available<C: sqlx::Connection>(
    test: &str,
    server: &str,
    variable: &str,
    url: &str,
) -> bool {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        skip(test, "could not start a tokio runtime");
        return false;
    };
    let reachable = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), C::connect(url)).await });
    match reachable {
        Ok(Ok(_)) => true,
        Ok(Err(error)) => {
            skip(test, &format!("no {server} at {variable} ({url}): {error}"));
            false
        }
        Err(_) => {
            skip(
                test,
                &format!("{server} at {variable} ({url}) did not answer in 5 s"),
            );
            false
        }
    }
}
