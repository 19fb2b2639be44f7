//! The `speed` benchmark's suite `baseline` on sqlite (see `baseline.rs`).
include!("sqlite.rs");
include!("suite.rs");
include!("baseline.rs");
