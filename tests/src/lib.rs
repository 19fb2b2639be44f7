//! End-to-end tests across the workspace's crates live in `tests/tests/`; this library
//! holds nothing but this note.
#![deny(missing_docs)]
