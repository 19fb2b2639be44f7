//! The `speed` benchmark's suite `sqlx_test` on sqlite (see `sqlx_test.rs`).
include!("sqlite.rs");
include!("suite.rs");
include!("sqlx_test.rs");
