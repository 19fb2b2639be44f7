//! The `speed` benchmark's suite `sandbox` on postgres (see `sandbox.rs`).
include!("postgres.rs");
include!("suite.rs");
include!("sandbox.rs");
