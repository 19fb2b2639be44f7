//! The `speed` benchmark's suite `sandbox` on mysql (see `sandbox.rs`).
include!("mysql.rs");
include!("suite.rs");
include!("sandbox.rs");
