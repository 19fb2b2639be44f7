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
    let reached = connect_within::<C, _>(server, variable, url, |_| async { Ok(()) });
    if let Err(reason) = &reached {
        skip(test, reason);
    }
    reached.is_ok()
}

/// Connects to the server at `url` (given in `variable`) within 5 seconds and runs `check`
/// on the connection; `Err`: why not, in words.
fn connect_within<C: sqlx::Connection, F>(
    server: &str,
    variable: &str,
    url: &str,
    check: impl FnOnce(C) -> F,
) -> Result<(), String>
where
    F: Future<Output = Result<(), String>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("could not start a tokio runtime: {error}"))?;
    runtime.block_on(async {
        match tokio::time::timeout(Duration::from_secs(5), C::connect(url)).await {
            Ok(Ok(connection)) => check(connection).await,
            Ok(Err(error)) => Err(format!("no {server} at {variable} ({url}): {error}")),
            Err(_) => Err(format!(
                "{server} at {variable} ({url}) did not answer in 5 s"
            )),
        }
    })
}

/// PgBouncer's URL, for the tests and the benchmark that go through it: `PGBOUNCER_URL`,
/// or the PgBouncer that `.ci/run` starts (session mode on port 6432, in front of the
/// local PostgreSQL).
///
/// ```
/// assert!(ownership_e2e::pgbouncer_url().starts_with("postgres://"));
/// ```
pub fn pgbouncer_url() -> String {
    std::env::var("PGBOUNCER_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:6432/test".to_owned())
}

/// Why [`pgbouncer_url`] doesn't reach PostgreSQL through a pooler (within 5 seconds;
/// a URL whose port is the server's own, `inet_server_port()`, reaches it directly);
/// `None` when it does.
///
/// ```no_run
/// if let Some(reason) = ownership_e2e::pgbouncer_problem() {
///     eprintln!("PgBouncer not measured: {reason}");
/// }
/// ```
pub fn pgbouncer_problem() -> Option<String> {
    let url = pgbouncer_url();
    let port = url
        .parse::<sqlx::postgres::PgConnectOptions>()
        .map(|options| options.get_port());
    connect_within::<sqlx::PgConnection, _>("PgBouncer", "PGBOUNCER_URL", &url, |mut connection| {
        let url = url.clone();
        async move {
            let server_port: Option<i32> = sqlx::query_scalar("SELECT inet_server_port()")
                .fetch_one(&mut connection)
                .await
                .map_err(|error| format!("PGBOUNCER_URL ({url}) answered, but: {error}"))?;
            let _ = sqlx::Connection::close(connection).await;
            match (server_port, port) {
                (Some(server), Ok(port)) if server == i32::from(port) => Err(format!(
                    "PGBOUNCER_URL ({url}) reaches PostgreSQL itself, not a pooler in front \
                     of it: start PgBouncer as .ci/run does, or point PGBOUNCER_URL at one"
                )),
                _ => Ok(()),
            }
        }
    })
    .err()
}

/// Whether PostgreSQL answers through the pooler at [`pgbouncer_url`] (see
/// [`pgbouncer_problem`]); if not, reports `test` as skipped (see [`skip`]).
///
/// ```no_run
/// if ownership_e2e::pgbouncer_available("pgbouncer::a_test") {
///     // ... connect to ownership_e2e::pgbouncer_url() ...
/// }
/// ```
pub fn pgbouncer_available(test: &str) -> bool {
    let problem = pgbouncer_problem();
    if let Some(reason) = &problem {
        skip(test, reason);
    }
    problem.is_none()
}
