//! The `speed` benchmark's suite `baseline` on postgres (see `baseline.rs`).
include!("postgres.rs");
include!("suite.rs");
include!("baseline.rs");
