//! Per-test database sandboxes for sqlx, on PostgreSQL, MySQL/MariaDB and SQLite.
//!
//! Status: not built yet. It will be Ecto's SQL sandbox rebuilt on sqlx and on
//! [`ownership_runtime::Ownership`]: each test checks out one connection inside a
//! transaction that is rolled back when the test ends, so tests run concurrently against
//! one database migrated once and leave nothing behind. Until then this crate exports
//! nothing.
#![deny(missing_docs)]
