//! The shared-mode gate: a shared test never overlaps another owned test of its process.
//!
//! Private tests hold the gate shared, shared tests hold it exclusively. Under `cargo test`
//! (many tests, one process, several threads) this runs a shared test alone, and the
//! private tests around it wait; users never mark tests serial by hand. Under nextest
//! (one process per test) the gate is never contended and costs one uncontended lock.
//!
//! The standard library's `RwLock` on Linux lets a waiting writer go before new readers,
//! so a shared test is not starved by a stream of private ones.

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

static GATE: RwLock<()> = RwLock::new(());

/// Held for the whole of one owned test.
pub(crate) enum GatePass {
    /// A private test's pass: other private tests may run at the same time.
    Private(#[expect(dead_code, reason = "held only for its drop")] RwLockReadGuard<'static, ()>),
    /// A shared test's pass: no other owned test runs meanwhile.
    Shared(#[expect(dead_code, reason = "held only for its drop")] RwLockWriteGuard<'static, ()>),
}

/// Waits for the gate: shared for a private test, exclusive for a shared one. A test that
/// panicked while holding it (which the harness prevents) does not block the others.
pub(crate) fn enter(shared: bool) -> GatePass {
    if shared {
        GatePass::Shared(GATE.write().unwrap_or_else(PoisonError::into_inner))
    } else {
        GatePass::Private(GATE.read().unwrap_or_else(PoisonError::into_inner))
    }
}
