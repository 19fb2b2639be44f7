//! The `speed` benchmark's suite `sandbox` on sqlite (see `sandbox.rs`).
include!("sqlite.rs");
include!("suite.rs");
include!("sandbox.rs");
