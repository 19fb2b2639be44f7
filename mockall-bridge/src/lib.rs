//! Global mock facades whose expectations are owned per test: Elixir's Mox for mockall.
//!
//! A Rust test that must replace a global dependency (a clock, an HTTP client, a payment
//! gateway called deep inside the app) usually reaches for mockall's static-method
//! contexts, which are one global per process, so those tests must run one at a time.
//! Here the global is a [`Facade`]: app code calls through it like a trait object, and each
//! test installs its own implementation into it, owned by the test through
//! [`ownership_runtime::Ownership`]:
//!
//! - **who sees a mock**: the test that installed it, its tasks and threads (anything
//!   whose [callers chain](ownership_runtime::callers()) leads to the test: plain
//!   `tokio::spawn` and `spawn_blocking` on the test's runtime, and
//!   `ownership_runtime::spawn` / `thread::spawn` / `.in_current_callers()` elsewhere), the
//!   actors it [allowed](Facade::allow) (lazily too), and in an `#[owned_test(shared)]`
//!   test, everyone. Concurrent tests each see their own.
//! - **everyone else** gets the facade's default implementation (production, a plain
//!   `#[test]`, a test that installed nothing) at the cost of two atomic loads until a
//!   mock is first installed; without a default, the call panics with a message that
//!   names the facade, the caller and its chain, who owns mocks, and the ways to fix it.
//! - **verification**: when an owned test ends, the harness (each facade is a test
//!   resource, registered at its first install) takes each mock the test installed out of its facade and drops it on the
//!   test's own thread, after the body and before the test's resources are released.
//!   mockall checks expectations on drop; unmet ones fail that test, listed in its report
//!   as ``facade `NAME` (after the test): ...`` with mockall's own message.
//!   Calls only ever borrow a mock, so verification never waits for a task that still
//!   runs for the test.
//!
//! # Decisions
//!
//! - **Installing twice** in one test is an error ([`FacadeError::AlreadyInstalled`],
//!   naming where the first was installed): the first mock's expectations would otherwise
//!   be lost without being checked. To replace a mock, [`uninstall`](Facade::uninstall)
//!   it (which verifies it) and install the next.
//! - **Installing from an allowed actor** is an error
//!   ([`FacadeError::InstallFromAllowedActor`]): as in Mox, expectations belong to the
//!   owner. The owner of a mock is the innermost actor of the calling chain; in a test's
//!   body and its tasks that is the test.
//! - **Installing outside any owned test** (code that runs for no actor) is an error
//!   ([`FacadeError::NoActor`]). Code running as a plain [`Actor`](ownership_runtime::Actor)
//!   may install: the actor owns the mock, which is dropped (and so verified, by a panic
//!   from the actor's drop) when the actor ends.
//! - **Calling after the test has ended** gets [`CallError::Ended`] (a panic from
//!   [`Facade::get`]): never another test's mock, and not the default implementation
//!   either, since a leftover task of a test must not reach the real payment gateway.
//! - A refused implementation is leaked rather than dropped, so that a mockall mock that
//!   was never installed doesn't panic about its expectations.
//!
//! # Example
//!
//! A payment gateway that app code calls deep inside `checkout`, replaced by a mockall
//! mock in one test while the real one serves everyone else:
//!
//! ```
//! use mockall::automock;
//! use mockall_bridge::{Facade, installable};
//! use ownership_runtime::harness::{TestConfig, run_async};
//!
//! // The app: a trait, its real implementation, and the facade the app calls through.
//! #[automock]
//! pub trait PaymentGateway: Send + Sync {
//!     fn charge(&self, cents: u64) -> Result<String, String>;
//! }
//! installable!(dyn PaymentGateway); // so that `install(mock)` takes the mock as is
//!
//! struct Stripe;
//! impl PaymentGateway for Stripe {
//!     fn charge(&self, cents: u64) -> Result<String, String> {
//!         Ok(format!("ch_live_{cents}"))
//!     }
//! }
//!
//! pub static GATEWAY: Facade<dyn PaymentGateway> =
//!     Facade::with_default("shop::GATEWAY", || Box::new(Stripe));
//!
//! fn checkout(cents: u64) -> Result<String, String> {
//!     GATEWAY.get().charge(cents)
//! }
//!
//! fn main() {
//!     // Production, or a plain #[test]: the real gateway.
//!     assert_eq!(checkout(500).unwrap(), "ch_live_500");
//!
//!     // An owned test (this is what `#[owned_test] async fn ..` expands to): the test
//!     // installs its mock; its tasks use it; concurrent tests would each see their own.
//!     run_async(TestConfig::new("shop::tests::checkout_charges_once"), || async {
//!         let mut gateway = MockPaymentGateway::new();
//!         gateway
//!             .expect_charge()
//!             .withf(|&cents| cents == 500)
//!             .times(1)
//!             .returning(|_| Ok("ch_test".to_owned()));
//!         GATEWAY.install(gateway).unwrap();
//!
//!         let charged = tokio::spawn(async { checkout(500) }).await.unwrap();
//!         assert_eq!(charged.unwrap(), "ch_test");
//!         // A thread that does not carry the test's callers gets the real gateway.
//!         assert_eq!(std::thread::spawn(|| checkout(1)).join().unwrap().unwrap(), "ch_live_1");
//!     });
//!
//!     // A test whose expectations are not met fails, with mockall's verdict in its report.
//!     let failed = std::panic::catch_unwind(|| {
//!         run_async(TestConfig::new("shop::tests::forgets_to_charge"), || async {
//!             let mut gateway = MockPaymentGateway::new();
//!             gateway.expect_charge().times(1).returning(|_| Ok("ch_test".to_owned()));
//!             GATEWAY.install(gateway).unwrap();
//!         })
//!     });
//!     let report = *failed.unwrap_err().downcast::<String>().unwrap();
//!     assert!(report.contains("owned test `shop::tests::forgets_to_charge` failed:"));
//!     assert!(report.contains("1. facade `shop::GATEWAY` (after the test): "));
//!     assert!(report.contains(
//!         "MockPaymentGateway::charge: Expectation(<anything>) called 0 time(s) which is \
//!          fewer than expected 1"
//!     ));
//! }
//! ```
//!
//! # Async dependencies
//!
//! A facade holds a trait object, and a trait with a plain `async fn` (or a return-position
//! `impl Future`, which is what `#[trait_variant::make(Send)]` writes) can't be one. Two
//! ways work:
//!
//! - `#[async_trait]` on the trait (and `#[automock]` above it, for a mockall mock): its
//!   methods return boxed futures, and `dyn Trait` is a trait object;
//! - or a method that returns a boxed future, `Pin<Box<dyn Future<Output = ..> + Send>>`,
//!   written by hand (the mock returns a ready future, or one that waits, to test timeouts).
//!
//! A trait made with `#[trait_variant::make(Send)]` (or written with `-> impl Future + Send`)
//! stays as it is for generic code, and the facade holds its twin: the same methods under
//! `#[async_trait]`, implemented for every implementation of the trait by one blanket impl,
//! so that the trait's own mockall mock installs as it is (see
//! [the twin](#a-trait_variant-trait-through-its-twin) below).
//!
//! A call reads like a call: `GATEWAY.get().charge(cents).await`. The guard lives across
//! the `.await` (it is `Send`, and holds no lock), also in tasks that move between threads.
//! Verification doesn't wait for such calls: when the test ends, the harness stops the
//! test's runtime, which cancels the tasks that still await a call (their guards drop), and
//! then verifies. Only a guard held by a thread or runtime that the test doesn't own (an
//! allowed worker that is in the middle of a call) is waited for, 2 s at most.
//!
//! ```
//! use async_trait::async_trait;
//! use mockall::automock;
//! use mockall_bridge::facade;
//! use ownership_runtime::harness::{TestConfig, run_async};
//!
//! #[automock] // above `#[async_trait]`
//! #[async_trait]
//! pub trait PaymentGateway: Send + Sync {
//!     async fn charge(&self, cents: u64) -> Result<String, String>;
//! }
//!
//! pub struct Stripe;
//! #[async_trait]
//! impl PaymentGateway for Stripe {
//!     async fn charge(&self, cents: u64) -> Result<String, String> {
//!         Ok(format!("ch_live_{cents}"))
//!     }
//! }
//!
//! facade!(pub static GATEWAY: dyn PaymentGateway = Stripe);
//!
//! async fn checkout(cents: u64) -> Result<String, String> {
//!     GATEWAY.get().charge(cents).await
//! }
//!
//! fn main() {
//!     run_async(TestConfig::new("shop::tests::async_charge"), || async {
//!         let mut gateway = MockPaymentGateway::new();
//!         gateway
//!             .expect_charge()
//!             .times(2)
//!             .returning(|cents| Ok(format!("ch_{cents}")));
//!         GATEWAY.install(gateway).unwrap();
//!         assert_eq!(checkout(250).await.unwrap(), "ch_250");
//!         let task = tokio::spawn(checkout(300));
//!         assert_eq!(task.await.unwrap().unwrap(), "ch_300");
//!     });
//! }
//! ```
//!
//! ## A `trait_variant` trait, through its twin
//!
//! `dyn PaymentGateway` can't be named for a trait whose methods return `impl Future`:
//!
//! ```compile_fail,E0038
//! #[trait_variant::make(Send)]
//! pub trait PaymentGateway: Sync {
//!     async fn charge(&self, cents: u64) -> Result<String, String>;
//! }
//! static GATEWAY: mockall_bridge::Facade<dyn PaymentGateway> = mockall_bridge::Facade::new("x");
//! ```
//!
//! Its twin can, and every implementation of the trait is one (mockall's mock too:
//! `#[automock]` goes above `#[trait_variant::make]`):
//!
//! ```
//! use async_trait::async_trait;
//! use mockall::automock;
//! use mockall_bridge::facade;
//! use ownership_runtime::harness::{TestConfig, run_async};
//!
//! #[automock]
//! #[trait_variant::make(Send)]
//! pub trait PaymentGateway: Sync {
//!     async fn charge(&self, cents: u64) -> Result<String, String>;
//! }
//!
//! /// The facade's trait: `PaymentGateway` with boxed futures.
//! #[async_trait]
//! pub trait DynPaymentGateway: Send + Sync {
//!     async fn charge(&self, cents: u64) -> Result<String, String>;
//! }
//! #[async_trait]
//! impl<G: PaymentGateway + Send> DynPaymentGateway for G {
//!     async fn charge(&self, cents: u64) -> Result<String, String> {
//!         PaymentGateway::charge(self, cents).await
//!     }
//! }
//!
//! facade!(pub static GATEWAY: dyn DynPaymentGateway);
//!
//! fn main() {
//!     run_async(TestConfig::new("shop::tests::twin"), || async {
//!         let mut gateway = MockPaymentGateway::new(); // the trait's own mock
//!         gateway.expect_charge().times(1).returning(|cents| Ok(format!("ch_{cents}")));
//!         GATEWAY.install(gateway).unwrap();
//!         assert_eq!(GATEWAY.get().charge(250).await.unwrap(), "ch_250");
//!     });
//! }
//! ```
//!
//! The boxed future by hand, with a mock whose future never ends (a timeout test):
//!
//! ```
//! use std::future::{Future, pending};
//! use std::pin::Pin;
//! use std::time::Duration;
//!
//! use mockall::automock;
//! use mockall_bridge::facade;
//! use ownership_runtime::harness::{TestConfig, run_async};
//!
//! /// What `charge` returns: a future the caller awaits.
//! pub type ChargeFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;
//!
//! #[automock]
//! pub trait PaymentGateway: Send + Sync {
//!     fn charge(&self, cents: u64) -> ChargeFuture;
//! }
//!
//! facade!(pub static GATEWAY: dyn PaymentGateway);
//!
//! async fn checkout(cents: u64) -> Result<String, String> {
//!     match tokio::time::timeout(Duration::from_secs(30), GATEWAY.get().charge(cents)).await {
//!         Ok(charged) => charged,
//!         Err(_) => Err("the gateway timed out".to_owned()),
//!     }
//! }
//!
//! fn main() {
//!     // The test's clock starts paused: the 30 s pass at once.
//!     run_async(TestConfig::new("shop::tests::gateway_hangs").start_paused(true), || async {
//!         let mut gateway = MockPaymentGateway::new();
//!         gateway.expect_charge().times(1).returning(|_| Box::pin(pending()));
//!         GATEWAY.install(gateway).unwrap();
//!         assert_eq!(checkout(250).await.unwrap_err(), "the gateway timed out");
//!     });
//! }
//! ```
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod call_site;
mod declare;
mod error;
mod facade;
mod mocks;
mod resource;
mod slot;
mod thread_safety;
mod verify;

pub use error::{CallError, FacadeError};
pub use facade::{Facade, Guard, Installable};
