//! The `speed` benchmark's suite `sqlx_test` on postgres (see `sqlx_test.rs`).
include!("postgres.rs");
include!("suite.rs");
include!("sqlx_test.rs");
