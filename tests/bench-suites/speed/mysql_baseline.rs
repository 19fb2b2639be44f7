//! The `speed` benchmark's suite `baseline` on mysql (see `baseline.rs`).
include!("mysql.rs");
include!("suite.rs");
include!("baseline.rs");
