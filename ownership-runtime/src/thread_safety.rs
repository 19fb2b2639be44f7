//! Compile-time checks that the public types users keep in statics (a `LazyLock` server, a
//! `const` test config, a worker's actor) or hand to other threads and tasks stay `Send`
//! and `Sync` (and the futures `Send`), so that a change that loses it fails this crate's
//! build rather than a user's.

use std::future::Ready;
use std::sync::Arc;

use crate::flight::{Fetched, LoadError, SingleFlight};
use crate::harness::{Failure, ResourceKey, TestConfig, TestContext};
use crate::runwide::{Once, RunWide, RunWideError, RunWideLock};
use crate::{
    Actor, ActorId, Callers, CallersRuntime, Found, LazyResolver, Mode, Ownership, OwnershipError,
    SharedOwnerDown, Snapshot, ToAllow, WithCallers,
};

const fn assert_send_sync<T: ?Sized + Send + Sync>() {}

const fn assert_send<T: ?Sized + Send>() {}

const _: () = {
    // Identities and chains.
    assert_send_sync::<Actor>();
    assert_send_sync::<ActorId>();
    assert_send_sync::<Callers>();
    assert_send::<WithCallers<Ready<()>>>();
    assert_send_sync::<CallersRuntime>();
    // The ownership server, kept in a static by every adapter.
    assert_send_sync::<Ownership<String, Arc<str>>>();
    assert_send_sync::<Snapshot<String>>();
    assert_send_sync::<ToAllow>();
    assert_send_sync::<LazyResolver>();
    assert_send_sync::<Found>();
    assert_send_sync::<Mode>();
    assert_send_sync::<OwnershipError<String>>();
    assert_send_sync::<SharedOwnerDown>();
    // The harness: configs in `const`s, hooks in `inventory`'s statics.
    assert_send_sync::<TestConfig>();
    assert_send_sync::<ResourceKey>();
    assert_send_sync::<TestContext>();
    assert_send_sync::<Failure>();
    // Shared loads and run-wide setups, kept in statics.
    assert_send_sync::<SingleFlight<String, Arc<str>>>();
    assert_send_sync::<Fetched<String>>();
    assert_send_sync::<LoadError>();
    assert_send_sync::<RunWide>();
    assert_send_sync::<RunWideLock>();
    assert_send_sync::<Once>();
    assert_send_sync::<RunWideError>();
};
