// The `speed` benchmark's PostgreSQL suites: the dialect.
#[allow(dead_code, reason = "the sandbox's suite alone uses it")]
type Db = sqlx::Postgres;
#[allow(dead_code, reason = "the suites that take a pool use it")]
type Pool = sqlx::PgPool;
const INSERT: &str = "INSERT INTO organizations (name, slug) VALUES ($1, $2) RETURNING id";
const SELECT: &str = "SELECT slug FROM organizations WHERE id = $1";

/// The five benchmark migrations (copied unchanged from the shared data), or the fifty.
static MIGRATOR: std::sync::LazyLock<sqlx::migrate::Migrator> =
    std::sync::LazyLock::new(|| match crate::migrations() {
        50 => sqlx::migrate!("bench-suites/sandbox/migrations-50"),
        _ => sqlx::migrate!("bench-suites/sandbox/migrations-5"),
    });
