//! The `speed` benchmark's suite `dropin` on postgres (see `dropin.rs`).
include!("postgres.rs");
include!("suite.rs");
include!("dropin.rs");
