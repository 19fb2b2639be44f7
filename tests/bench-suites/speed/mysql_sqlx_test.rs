//! The `speed` benchmark's suite `sqlx_test` on mysql (see `sqlx_test.rs`).
include!("mysql.rs");
include!("suite.rs");
include!("sqlx_test.rs");
