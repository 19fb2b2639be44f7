//! The drop-in's speed: the same 100 tests of the tracker app (`dropin/app.rs`, code typed
//! `&PgPool`), on the five migrations of `bench-suites/sandbox/migrations-5` (copied
//! unchanged from the project's shared benchmark data), written with `#[sqlx::test]`
//! (`dropin/sqlx_suite.rs`: a database created and migrated per test) and converted by
//! changing only the attribute and its import (`dropin/owned_suite.rs`: a transaction per
//! test on a pooled connection, rolled back).
//!
//! Each suite runs as `cargo test` runs a test binary (one process, the machine's
//! threads; the binary's time) and under `cargo nextest run` (one process per test, as
//! many at once as the machine has cores; the run's time from nextest's summary),
//! interleaved round by round so that the server's drifts hit both alike. It prints the
//! medians and their ratios, against the targets: at least 50x under `cargo test` and
//! 20x under nextest.
//!
//! Where `PGBOUNCER_URL` (default `postgres://root@127.0.0.1:6432/test`, as `.ci/run`
//! starts it) reaches PostgreSQL through a pooler, each round also runs the converted
//! suite under nextest through it, with the relay on and off (and on plain PostgreSQL
//! with the relay off, for what the relay does there), and after the rounds the
//! `#[sqlx::test]` suite once through it: each of its tests waits PostgreSQL's 5 s for
//! its `DROP DATABASE` (PgBouncer keeps an idle server connection on the database) and
//! leaves the database behind (dropped after). It prints their ratios beside plain
//! PostgreSQL's.
//!
//! Run it with `cargo bench -p ownership-e2e --bench dropin` against the PostgreSQL
//! server at `DATABASE_URL` (default `postgres://root@127.0.0.1:5432/test`).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use support::{build_suites, median, under_nextest};

/// Rounds of each measurement, for the medians.
const ROUNDS: usize = 3;
/// The tests of each suite.
const TESTS: usize = 100;
/// The two suites: `#[sqlx::test]` and its conversion.
const SUITES: [&str; 2] = ["dropin_sqlx", "dropin_owned"];

/// The converted suite's runs under nextest through PgBouncer and beside it, per round.
#[derive(Default)]
struct PooledRuns {
    relay_on: Vec<Duration>,
    relay_off: Vec<Duration>,
    plain_relay_off: Vec<Duration>,
}

fn main() -> Result<(), String> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned());
    let environment = [("DATABASE_URL", url.clone())];
    let pgbouncer = match ownership_e2e::pgbouncer_problem() {
        None => Some(ownership_e2e::pgbouncer_url()),
        Some(reason) => {
            println!("PgBouncer not measured: {reason}");
            None
        }
    };
    let through = |relay: &str| {
        let pgbouncer = pgbouncer.clone().unwrap_or_default();
        [
            ("DATABASE_URL", pgbouncer),
            ("SANDBOX_SQLX_RELAY", relay.to_owned()),
        ]
    };
    let plain_relay_off = [
        ("DATABASE_URL", url.clone()),
        ("SANDBOX_SQLX_RELAY", "0".to_owned()),
    ];
    let executables = build_suites(&SUITES)?;
    let run_binary = |suite: &str| -> Result<Duration, String> {
        let started = Instant::now();
        let output = Command::new(&executables[suite])
            .env("DATABASE_URL", &url)
            .arg("--quiet")
            .output()
            .map_err(|error| error.to_string())?;
        let printed = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() || !printed.contains(&format!("{TESTS} passed")) {
            return Err(format!(
                "{suite} failed:\n{printed}\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(started.elapsed())
    };
    // Warm-up: the sandbox's database and its migrations, made once per run.
    for suite in SUITES {
        run_binary(suite)?;
    }
    let mut in_process: [Vec<Duration>; 2] = Default::default();
    let mut per_process: [Vec<Duration>; 2] = Default::default();
    let mut pooled = PooledRuns::default();
    for _ in 0..ROUNDS {
        for (index, suite) in SUITES.iter().enumerate() {
            in_process[index].push(run_binary(suite)?);
            per_process[index].push(under_nextest(suite, TESTS, &environment)?);
        }
        if pgbouncer.is_some() {
            let owned = SUITES[1];
            pooled
                .relay_on
                .push(under_nextest(owned, TESTS, &through("1"))?);
            pooled
                .relay_off
                .push(under_nextest(owned, TESTS, &through("0"))?);
            pooled
                .plain_relay_off
                .push(under_nextest(owned, TESTS, &plain_relay_off)?);
        }
    }
    let [sqlx_whole, owned_whole] = in_process.map(median);
    let [sqlx_nextest, owned_nextest] = per_process.map(median);
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "{TESTS} tests of the tracker app, 5 migrations, PostgreSQL at {url}; medians of {ROUNDS} rounds"
    );
    println!(
        "{:<34} {:>16} {:>14}",
        "", "cargo test (ms)", "nextest (ms)"
    );
    println!(
        "  {:<32} {:>16.0} {:>14.0}",
        "#[sqlx::test]",
        ms(sqlx_whole),
        ms(sqlx_nextest)
    );
    println!(
        "  {:<32} {:>16.0} {:>14.0}",
        "#[owned_test] (the drop-in)",
        ms(owned_whole),
        ms(owned_nextest)
    );
    println!(
        "ratios: cargo test {:.1}x (target >= 50x), nextest {:.1}x (target >= 20x)",
        ratio(sqlx_whole, owned_whole),
        ratio(sqlx_nextest, owned_nextest)
    );
    let Some(pgbouncer) = pgbouncer.as_deref() else {
        return Ok(());
    };
    // Last, and once: its time is mostly PostgreSQL's fixed wait, and the databases it
    // leaves would slow the `#[sqlx::test]` runs after it.
    let sqlx_through = under_nextest(SUITES[0], TESTS, &through("1"));
    let swept = drop_sqlx_test_databases(&url);
    let sqlx_through = sqlx_through?;
    swept?;
    let (on, off, plain_off) = (
        median(pooled.relay_on),
        median(pooled.relay_off),
        median(pooled.plain_relay_off),
    );
    println!(
        "under nextest, on plain PostgreSQL and through PgBouncer at {pgbouncer}; medians of \
         {ROUNDS} rounds"
    );
    println!("{:<34} {:>16} {:>14}", "", "plain (ms)", "PgBouncer (ms)");
    println!(
        "  {:<32} {:>16.0} {:>14.0}  (one round)",
        "#[sqlx::test]",
        ms(sqlx_nextest),
        ms(sqlx_through)
    );
    for (what, plain, pooled) in [
        ("#[owned_test], relay on", owned_nextest, on),
        ("#[owned_test], relay off", plain_off, off),
    ] {
        println!("  {what:<32} {:>16.0} {:>14.0}", ms(plain), ms(pooled));
    }
    println!(
        "ratios against #[sqlx::test] on plain PostgreSQL: relay on {:.1}x plain, {:.1}x \
         through PgBouncer; relay off {:.1}x plain, {:.1}x through PgBouncer",
        ratio(sqlx_nextest, owned_nextest),
        ratio(sqlx_nextest, on),
        ratio(sqlx_nextest, plain_off),
        ratio(sqlx_nextest, off)
    );
    println!(
        "against #[sqlx::test] through PgBouncer: {:.1}x relay on, {:.1}x relay off",
        ratio(sqlx_through, on),
        ratio(sqlx_through, off)
    );
    Ok(())
}

/// Drops the databases that `#[sqlx::test]` left through PgBouncer (those of its
/// register, `_sqlx_test.databases`), ending PgBouncer's idle sessions on them, on the
/// server at `url` itself.
fn drop_sqlx_test_databases(url: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    let failed = |error: sqlx::Error| format!("could not drop #[sqlx::test]'s databases: {error}");
    runtime.block_on(async {
        let mut connection = PgConnection::connect(url).await.map_err(failed)?;
        let names: Vec<String> = sqlx::query_scalar("SELECT db_name FROM _sqlx_test.databases")
            .fetch_all(&mut connection)
            .await
            .map_err(failed)?;
        for name in names {
            let drop = format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                name.replace('"', "\"\"")
            );
            sqlx::query(AssertSqlSafe(drop))
                .execute(&mut connection)
                .await
                .map_err(failed)?;
            sqlx::query("DELETE FROM _sqlx_test.databases WHERE db_name = $1")
                .bind(&name)
                .execute(&mut connection)
                .await
                .map_err(failed)?;
        }
        connection.close().await.map_err(failed)
    })
}
