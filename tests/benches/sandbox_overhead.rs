//! What the sandbox adds to a test, in one process: 100-test batches of an owned sandboxed
//! test (one insert and one select, on the five migrations in
//! `bench-suites/sandbox/migrations-5`, copied unchanged from the project's shared
//! benchmark data) against its body alone on a plain connection, round after round, with
//! the `BEGIN`/`ROLLBACK` floor that any sandbox by rollback pays, an empty owned test and
//! one with a checkout and checkin and no query. The whole suites (`#[sqlx::test]`, the
//! sandbox, the drop-in, `TemplateDatabase`, a hand-rolled baseline, on three databases,
//! under `cargo test` and nextest) are the `speed` benchmark's.
//!
//! Run it with `cargo bench -p ownership-e2e --bench sandbox_overhead` against the
//! PostgreSQL server at `DATABASE_URL` (default `postgres://root@127.0.0.1:5432/test`).
//! It makes the database `sandbox_bench_5`.

mod support;

use std::time::{Duration, Instant};

use ownership_runtime::harness::{TestConfig, TestResource, run_async};
use sandbox_sqlx::Sandbox;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Postgres};
use support::median;

/// The database of the sandbox, made by the benchmark.
const BENCH_DATABASES: [&str; 1] = ["sandbox_bench_5"];
/// Rounds of the in-process overhead measurement.
const ROUNDS: usize = 10;
/// Owned tests (and bodies) in each round.
const BATCH: usize = 100;

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

/// `url` with its database replaced by `database`.
fn url_of(url: &str, database: &str) -> String {
    let base = url.split('?').next().unwrap_or(url);
    let cut = base.rfind('/').map_or(base.len(), |slash| slash);
    format!("{}/{database}", &base[..cut])
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())
}

/// Vacuums the sandbox's database (every rolled-back insert leaves a dead row, and the
/// server may run without autovacuum), then checkpoints, so that one run's leftover work
/// isn't timed in the next.
fn settle(url: &str) -> Result<(), String> {
    runtime()?.block_on(async {
        let mut admin = PgConnection::connect(url)
            .await
            .map_err(|error| error.to_string())?;
        for database in BENCH_DATABASES {
            let mut connection = PgConnection::connect(&url_of(url, database))
                .await
                .map_err(|error| error.to_string())?;
            connection
                .execute("VACUUM")
                .await
                .map_err(|error| error.to_string())?;
            let _ = connection.close().await;
        }
        admin
            .execute("CHECKPOINT")
            .await
            .map_err(|error| error.to_string())?;
        Ok(())
    })
}

/// Makes the databases of the sandbox if they don't exist.
fn make_databases(url: &str) -> Result<(), String> {
    runtime()?.block_on(async {
        let mut admin = PgConnection::connect(url)
            .await
            .map_err(|error| format!("no PostgreSQL at {url}: {error}"))?;
        for database in BENCH_DATABASES {
            let exists: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                    .bind(database)
                    .fetch_optional(&mut admin)
                    .await
                    .map_err(|error| error.to_string())?;
            if exists.is_none() {
                sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {database}")))
                    .execute(&mut admin)
                    .await
                    .map_err(|error| error.to_string())?;
            }
        }
        Ok(())
    })
}

/// What one test costs in process, in milliseconds, as the median over the rounds.
struct Overhead {
    /// An owned sandboxed test.
    owned: f64,
    /// Its body alone, on a plain connection.
    plain: f64,
    /// The two, subtracted round by round.
    overhead: f64,
    /// A `BEGIN` and a `ROLLBACK` on the plain connection: what no sandbox by rollback
    /// can do without, and this machine's unit of round trips.
    floor: f64,
    /// An empty owned test.
    empty: f64,
    /// An owned test with a checkout and checkin and no query.
    checkout: f64,
}

/// The sandbox's overhead per test: owned sandboxed tests against their bodies alone.
/// Each round times a batch of each, back to back, so that the server's drifts (its
/// background work, another process's load) hit both alike; the medians over the
/// rounds are reported.
fn overhead_per_test(url: &str) -> Result<Overhead, String> {
    static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("bench-suites/sandbox/migrations-5");
    let database = url_of(url, "sandbox_bench_5");
    let sandbox: &'static Sandbox<Postgres> = Box::leak(Box::new(
        Sandbox::builder("bench-overhead", database.clone())
            .migrations(&MIGRATOR)
            .build()
            .map_err(|error| error.to_string())?,
    ));
    let resources: &'static [&'static dyn TestResource] =
        Box::leak(Box::new([sandbox as &dyn TestResource]));
    let owned_batch = |name: &'static str, round: usize| {
        let started = Instant::now();
        for index in 0..BATCH {
            run_async(TestConfig::new(name).resources(resources), || async move {
                let db = sandbox.pool();
                let slug = format!("owned-{round}-{index}");
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO organizations (name, slug) VALUES ($1, $1) RETURNING id",
                )
                .bind(&slug)
                .fetch_one(&db)
                .await
                .expect("insert");
                let _: String = sqlx::query_scalar("SELECT slug FROM organizations WHERE id = $1")
                    .bind(id)
                    .fetch_one(&db)
                    .await
                    .expect("select");
            });
        }
        started.elapsed() / BATCH as u32
    };
    // The body alone, on a plain connection (autocommit); its rows are removed at the end.
    // Its commits don't wait for the disk: that makes the body cheaper than it is in
    // production (so the overhead measured is, if anything, too high) and keeps the
    // disk's noise out of the comparison.
    let plain_runtime = runtime()?;
    let mut connection = plain_runtime
        .block_on(async {
            let mut connection = PgConnection::connect(&database).await?;
            connection.execute("SET synchronous_commit = off").await?;
            Ok::<_, sqlx::Error>(connection)
        })
        .map_err(|error| error.to_string())?;
    let run = std::process::id();
    let mut plain_batch = |round: usize| {
        plain_runtime.block_on(async {
            let started = Instant::now();
            for index in 0..BATCH {
                let slug = format!("plain-{run}-{round}-{index}");
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO organizations (name, slug) VALUES ($1, $1) RETURNING id",
                )
                .bind(&slug)
                .fetch_one(&mut connection)
                .await
                .map_err(|error| error.to_string())?;
                let _: String = sqlx::query_scalar("SELECT slug FROM organizations WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut connection)
                    .await
                    .map_err(|error| error.to_string())?;
            }
            let body = started.elapsed() / BATCH as u32;
            // The floor: the `BEGIN` and `ROLLBACK` that any sandbox by rollback needs.
            let started = Instant::now();
            for _ in 0..BATCH {
                for statement in ["BEGIN", "ROLLBACK"] {
                    connection
                        .execute(statement)
                        .await
                        .map_err(|error| error.to_string())?;
                }
            }
            Ok::<_, String>((body, started.elapsed() / BATCH as u32))
        })
    };
    // Warm up: migrations, the pool's first connections, prepared statements.
    owned_batch("bench::warm_up", ROUNDS);
    plain_batch(ROUNDS)?;
    let (mut owned, mut plain, mut overhead, mut floor) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let owned_here = owned_batch("bench::owned", round);
        let (plain_here, floor_here) = plain_batch(round)?;
        owned.push(owned_here);
        plain.push(plain_here);
        overhead.push(owned_here.saturating_sub(plain_here));
        floor.push(floor_here);
    }
    plain_runtime
        .block_on(
            sqlx::query("DELETE FROM organizations WHERE slug LIKE $1")
                .bind(format!("plain-{run}-%"))
                .execute(&mut connection),
        )
        .map_err(|error| error.to_string())?;
    // Where the time goes: the harness alone, and a checkout and checkin with no query.
    let timed = |name: &'static str, resources: &'static [&'static dyn TestResource]| {
        let started = Instant::now();
        for _ in 0..BATCH * ROUNDS {
            run_async(TestConfig::new(name).resources(resources), || async {});
        }
        ms(started.elapsed() / (BATCH * ROUNDS) as u32)
    };
    let empty = timed("bench::empty", &[]);
    let checkout = timed("bench::checkout", resources);
    Ok(Overhead {
        owned: ms(median(owned)),
        plain: ms(median(plain)),
        overhead: ms(median(overhead)),
        floor: ms(median(floor)),
        empty,
        checkout,
    })
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn main() -> Result<(), String> {
    let url = database_url();
    make_databases(&url)?;
    print_overhead(&url)
}

fn print_overhead(url: &str) -> Result<(), String> {
    settle(url)?;
    let Overhead {
        owned,
        plain,
        overhead,
        floor,
        empty,
        checkout,
    } = overhead_per_test(url)?;
    println!(
        "in one process, {ROUNDS} rounds of {BATCH} tests, medians: owned sandboxed test {owned:.3} ms, its body alone {plain:.3} ms: overhead {overhead:.3} ms per test"
    );
    // The target, 0.15 ms where the floor is 0.05 ms, as a ratio that holds on any machine.
    println!(
        "  the BEGIN/ROLLBACK floor {floor:.3} ms: overhead / floor {:.2}x (target <= 3x: 0.15 ms over a 0.05 ms floor)",
        overhead / floor
    );
    println!("  (an empty owned test {empty:.3} ms; with a checkout and checkin {checkout:.3} ms)");
    Ok(())
}
