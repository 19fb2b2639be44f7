//! The `speed` benchmark's suite `dropin` on mysql (see `dropin.rs`).
include!("mysql.rs");
include!("suite.rs");
include!("dropin.rs");
