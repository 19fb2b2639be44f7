//! Global mock facades whose expectations are owned per test.
//!
//! Status: not built yet. It will be Elixir's Mox for mockall, built on
//! [`ownership_runtime::Ownership`]: a process-wide facade that app code calls like a
//! trait object, into which each test installs its own mock; concurrent tests each see
//! their own, and unmet expectations fail the test that set them. Until then this crate
//! exports nothing.
#![deny(missing_docs)]
