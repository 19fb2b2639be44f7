//! The drop-in suite under nextest, one process per test, as users run it: listed with
//! `cargo nextest list --message-format json` (parsed by `nextest-metadata`), then run
//! with `cargo nextest run` against a server database made for this test alone, so that
//! its sandbox database is new and its migrations are this run's. Every owned test
//! listed must have run and passed, the migrations must have been applied once for the
//! whole run, and no row may be left behind. The `#[sqlx::test]` half, built with the
//! crate's `sqlx-suite` feature, must pass as written.

use std::collections::BTreeSet;
use std::process::Command;

use nextest_metadata::ListCommand;
use ownership_e2e::{postgres_available, postgres_url, skip};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The suite's binary.
const SUITE: &str = "dropin_owned";

/// `url` with its database replaced by `database`.
fn url_of(url: &str, database: &str) -> String {
    let base = url.split('?').next().unwrap_or(url);
    let cut = base.rfind('/').map_or(base.len(), |slash| slash);
    format!("{}/{database}", &base[..cut])
}

fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// Runs `statements`, one by one, on the server's database.
async fn admin(statements: Vec<String>) {
    let mut admin = PgConnection::connect(&postgres_url())
        .await
        .expect("the server");
    for statement in statements {
        sqlx::raw_sql(AssertSqlSafe(statement))
            .execute(&mut admin)
            .await
            .expect("the admin statement");
    }
    admin.close().await.expect("closed");
}

/// The workspace's root, where `cargo nextest` runs.
fn workspace_root() -> String {
    let manifest = env!("CARGO_MANIFEST_DIR");
    std::path::Path::new(manifest)
        .parent()
        .expect("tests/ has a parent")
        .display()
        .to_string()
}

#[test]
fn every_listed_owned_test_passes_under_nextest_with_one_migration_and_no_row_left() {
    let name = "nextest_dropin::every_listed_owned_test_passes";
    if !postgres_available(name) {
        return;
    }
    if Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["nextest", "--version"])
        .output()
        .map_or(true, |output| !output.status.success())
    {
        skip(
            name,
            "cargo-nextest is not installed (`cargo install cargo-nextest`)",
        );
        return;
    }
    // The workspace's own test binaries, built as `--workspace` builds them (so that a
    // run under `cargo test --workspace` or `cargo nextest run --workspace` finds them
    // built), filtered to the drop-in suite.
    let filter = format!("binary({SUITE})");
    let listed = ListCommand::new()
        .current_dir(workspace_root())
        .add_args(["--workspace", "-E", filter.as_str()])
        .exec()
        .expect("cargo nextest list");
    let owned: BTreeSet<String> = listed
        .rust_suites
        .values()
        .filter(|suite| suite.binary.binary_name == SUITE)
        .flat_map(|suite| {
            suite
                .test_cases
                .iter()
                .filter(|(_, case)| case.filter_match.is_match() && !case.ignored)
                .map(|(test, _)| test.as_str().to_owned())
        })
        .collect();
    assert_eq!(
        owned.len(),
        100,
        "the drop-in suite has 100 tests: {owned:?}"
    );

    // A database of this test's own: the suite's sandbox database, made beside it, is
    // new, and its migrations are this run's.
    let base = format!("nextest_dropin_{}", std::process::id());
    block_on(admin(vec![
        format!("DROP DATABASE IF EXISTS {base}"),
        format!("CREATE DATABASE {base}"),
    ]));
    let started: chrono_free::Seconds = block_on(chrono_free::server_now());
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .current_dir(workspace_root())
        .env("DATABASE_URL", url_of(&postgres_url(), &base))
        .args(["nextest", "run", "--workspace", "-E", filter.as_str()])
        .args([
            "--no-fail-fast",
            "--color",
            "never",
            "--status-level",
            "pass",
        ])
        .output()
        .expect("cargo nextest run");
    let report = String::from_utf8_lossy(&output.stderr);
    let passed: BTreeSet<String> = report
        .lines()
        .filter(|line| line.trim_start().starts_with("PASS"))
        .filter_map(|line| line.split_whitespace().last().map(str::to_owned))
        .collect();
    let missing: Vec<&String> = owned.difference(&passed).collect();
    assert!(
        output.status.success() && missing.is_empty(),
        "tests listed but not passed: {missing:?}\n{report}"
    );

    let (sandboxes, migrations, rows) = block_on(async {
        let mut admin = PgConnection::connect(&postgres_url())
            .await
            .expect("the server");
        let sandboxes: Vec<String> =
            sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE $1")
                .bind(format!("{base}\\_sandbox\\_%"))
                .fetch_all(&mut admin)
                .await
                .expect("the databases");
        admin.close().await.expect("closed");
        let [sandbox] = &sandboxes[..] else {
            return (sandboxes, Vec::new(), -1);
        };
        let mut connection = PgConnection::connect(&url_of(&postgres_url(), sandbox))
            .await
            .expect("the sandbox database");
        let migrations: Vec<(i64, bool, f64)> = sqlx::query_as(
            "SELECT version, success, extract(epoch FROM installed_on)::float8 \
             FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(&mut connection)
        .await
        .expect("the migrations");
        let rows: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum((xpath('/row/n/text()', \
             query_to_xml(format('SELECT count(*) AS n FROM %I.%I', schemaname, tablename), \
             false, true, '')))[1]::text::bigint), 0)::bigint \
             FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations'",
        )
        .fetch_one(&mut connection)
        .await
        .expect("the rows");
        connection.close().await.expect("closed");
        (sandboxes, migrations, rows)
    });
    let mut cleanup: Vec<String> = sandboxes
        .iter()
        .map(|sandbox| format!("DROP DATABASE IF EXISTS {sandbox} WITH (FORCE)"))
        .collect();
    cleanup.push(format!("DROP DATABASE IF EXISTS {base} WITH (FORCE)"));
    block_on(admin(cleanup));
    assert_eq!(
        sandboxes.len(),
        1,
        "one sandbox database for the run: {sandboxes:?}"
    );
    assert_eq!(migrations.len(), 5, "the five migrations: {migrations:?}");
    for (version, success, installed) in &migrations {
        assert!(success, "migration {version} finished");
        assert!(
            *installed >= started.0,
            "migration {version} was applied in this run"
        );
    }
    assert_eq!(rows, 0, "no row left behind");
}

/// The server's clock, so that "applied in this run" compares times of one clock.
mod chrono_free {
    use sqlx::{Connection, PgConnection};

    /// Seconds since the epoch, on the server's clock.
    pub struct Seconds(pub f64);

    pub async fn server_now() -> Seconds {
        let mut admin = PgConnection::connect(&ownership_e2e::postgres_url())
            .await
            .expect("the server");
        let now: f64 = sqlx::query_scalar("SELECT extract(epoch FROM clock_timestamp())::float8")
            .fetch_one(&mut admin)
            .await
            .expect("the server's clock");
        admin.close().await.expect("closed");
        Seconds(now)
    }
}

#[test]
fn the_sqlx_test_half_passes_as_written() {
    let name = "nextest_dropin::the_sqlx_test_half_passes_as_written";
    if !postgres_available(name) {
        return;
    }
    // Built as `--workspace` builds the other test binaries, with the feature that adds
    // this one (so only this crate is compiled again).
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .current_dir(workspace_root())
        .args([
            "test",
            "--workspace",
            "--features",
            "ownership-e2e/sqlx-suite",
        ])
        .args(["--test", "dropin_sqlx", "--", "--quiet"])
        .output()
        .expect("cargo test");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && printed.contains("100 passed"),
        "{printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
