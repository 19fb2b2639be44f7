//! The `speed` benchmark's suite `dropin` on sqlite (see `dropin.rs`).
include!("sqlite.rs");
include!("suite.rs");
include!("dropin.rs");
