//! Every test owns its resources.
//!
//! `ownership-runtime` brings Elixir's ownership model (Ecto's SQL sandbox, Mox,
//! NimbleOwnership) to async Rust tests: a resource (a database connection, a mock) is
//! owned by one test; the tasks and threads the test starts use it automatically; other
//! actors must be allowed explicitly; when the test ends, everything it owned is
//! released. Concurrent tests never see each other's resources, so suites that share a
//! database or process-wide globals can run in parallel.
//!
//! The pieces, bottom up:
//!
//! - [`Actor`] and [`ActorId`]: identities, and the guard whose drop (also by a panic)
//!   tells every ownership server that the actor is down;
//! - [`callers()`]: the chain of actors the running code works for, innermost first, with
//!   [`Actor::scope`] / [`Actor::enter`] to run as an actor;
//! - propagation: [`spawn`], [`spawn_blocking`], [`thread::spawn`],
//!   [`InCallers::in_current_callers`], and [`build_runtime`] for a tokio runtime whose
//!   every thread runs for a chain;
//! - [`Ownership<K, M>`]: the ownership server (owners, allowances, modes, cleanup);
//! - [`owned_test`] and the [`harness`] it expands to: each test runs as its own actor on
//!   its own runtime, shared tests run alone, resources take part ([`harness::TestResource`]), and one report lists
//!   everything that went wrong.
//!
//! # Example
//!
//! A "clock" that tests replace, each with its own value, concurrently:
//!
//! ```
//! use std::sync::LazyLock;
//! use ownership_runtime::{build_runtime, callers, Actor, Ownership};
//!
//! // One server for the process: key = which global, metadata = the test's fake.
//! static CLOCKS: LazyLock<Ownership<&'static str, u64>> = LazyLock::new(Ownership::new);
//!
//! // App code: asks who it works for, and uses that test's clock (or the real one).
//! fn now() -> u64 {
//!     match CLOCKS.fetch_owner(&callers(), &"clock") {
//!         Some(owner) => CLOCKS.get_owned(owner.id())["clock"],
//!         None => 1_700_000_000, // production: the real clock
//!     }
//! }
//!
//! // Two "tests" at once, each on its own runtime whose threads run for it.
//! let tests: Vec<_> = [1_u64, 2].into_iter().map(|fake_now| {
//!     std::thread::spawn(move || {
//!         let test = Actor::named(format!("tests::clock_{fake_now}"));
//!         CLOCKS.get_and_update(test.id(), "clock", |_| ((), fake_now)).unwrap();
//!         let mut builder = tokio::runtime::Builder::new_multi_thread();
//!         builder.worker_threads(2);
//!         let runtime = build_runtime(&mut builder, test.chain()).unwrap();
//!         // A plain tokio::spawn inside sees the test's clock.
//!         let seen = runtime.block_on(async { tokio::spawn(async { now() }).await.unwrap() });
//!         assert_eq!(seen, fake_now);
//!         // `test` drops here: its clock is released.
//!     })
//! }).collect();
//! for test in tests {
//!     test.join().unwrap();
//! }
//! assert_eq!(now(), 1_700_000_000);
//! assert!(CLOCKS.snapshot().owned.is_empty());
//! ```
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod actor;
mod actor_id;
pub mod background;
mod callers;
mod error;
pub mod flight;
pub mod harness;
#[cfg(feature = "http")]
pub mod http;
pub(crate) mod monitor;
mod ownership;
mod propagate;
pub mod runwide;
mod thread_safety;
mod worker;

pub use actor::Actor;
pub use actor_id::ActorId;
pub use callers::{Callers, Entered, EnteredChain, WithCallers, callers};
pub use error::{ErrorChain, OwnershipError, SharedOwnerDown, error_chain};
pub use harness::allow_all;
pub use ownership::{Found, LazyResolver, Mode, Ownership, Snapshot, ToAllow};
/// The `#[owned_test]` attribute (feature `macros`, on by default).
#[cfg(feature = "macros")]
pub use ownership_macros::owned_test;
pub use propagate::{CallersRuntime, InCallers, build_runtime, spawn, spawn_blocking, thread};
pub use worker::{Worker, WorkerError};
