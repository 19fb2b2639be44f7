//! The `#[owned_test]` attribute of `ownership-runtime`.
//!
//! Status: the attribute arrives with the test harness (it expands to one call of the
//! harness in `ownership-runtime`, which re-exports it); this crate holds no macro yet.
//! Depend on `ownership-runtime`, not on this crate.
#![deny(missing_docs)]
