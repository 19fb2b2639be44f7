// The `speed` benchmark's MariaDB/MySQL suites: the dialect.
#[allow(dead_code, reason = "the sandbox's suite alone uses it")]
type Db = sqlx::MySql;
#[allow(dead_code, reason = "the suites that take a pool use it")]
type Pool = sqlx::MySqlPool;
const INSERT: &str = "INSERT INTO organizations (name, slug) VALUES (?, ?) RETURNING id";
const SELECT: &str = "SELECT slug FROM organizations WHERE id = ?";

/// The benchmark migrations in MySQL's dialect, five or fifty.
static MIGRATOR: std::sync::LazyLock<sqlx::migrate::Migrator> =
    std::sync::LazyLock::new(|| match crate::migrations() {
        50 => sqlx::migrate!("bench-suites/sandbox/migrations-mysql-50"),
        _ => sqlx::migrate!("bench-suites/sandbox/migrations-mysql-5"),
    });
