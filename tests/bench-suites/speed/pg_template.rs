//! The `speed` benchmark's suite `template` on postgres (see `template.rs`).
include!("postgres.rs");
include!("suite.rs");
include!("template.rs");
