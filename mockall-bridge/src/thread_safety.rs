//! Compile-time checks that a facade can be a `static` (`Send + Sync`), that its guard may
//! be held across `.await`s in a spawned task (`Send`, with no lock guard inside: see
//! `slot.rs`), and that its errors go to other threads, so that a change that loses any of
//! it fails this crate's build rather than a user's.

use crate::{CallError, Facade, FacadeError, Guard};

/// A trait object as facades hold them.
type Implementation = dyn Fn() -> u64 + Send + Sync;

const fn assert_send_sync<T: ?Sized + Send + Sync>() {}

const _: () = {
    assert_send_sync::<Facade<Implementation>>();
    assert_send_sync::<Facade<u64>>();
    assert_send_sync::<Guard<'static, Implementation>>();
    assert_send_sync::<Guard<'static, u64>>();
    assert_send_sync::<FacadeError>();
    assert_send_sync::<CallError>();
};
