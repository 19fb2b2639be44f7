//! Ownership across HTTP (feature `http`): a test server that serves many tests runs each
//! request's handler for the test that sent it.
//!
//! In integration tests one server often runs for the whole process (or run) and serves
//! every test, so its handlers must run inside the calling test's ownership: the test's
//! database sandbox, its mocks. The test sends a signed *ownership token* with each
//! request; the server's [`OwnershipLayer`] checks it and runs the handler with the
//! test's callers chain.
//!
//! - Server: `router.layer(OwnershipLayer::new())` (add
//!   [`with_session_route`](OwnershipLayer::with_session_route) for browsers).
//! - Clients: [`OwnershipClientLayer`] (tower: `oneshot` on a `Router`, hyper clients),
//!   [`WithOwnership`] (reqwest, feature `reqwest`), or [`token()`] for any other client.
//! - Browsers: [`session_path`] gives the browser the token as a cookie.
//!
//! # The token
//!
//! `x-ownership-token: ot1.<run>.<pid>.<start>.<chain>.<signature>` (the format is in
//! the [`OwnershipToken`] docs' module, `token.rs`): the run, the process and the callers
//! chain it was made for, signed with HMAC-SHA256 under a key made for the test run
//! and shared by its processes through a file in the target directory.
//!
//! A header of our own, not W3C `baggage` or `tracestate`: those are for tracing context
//! that every hop may forward, log and pass to other services; a token that grants a
//! test's database should go to the one server under test, not travel on, and a
//! tracing-aware proxy or middleware must not copy, trim or rewrite it. A header with a
//! name of its own is also easy to strip at a production edge.
//!
//! # What it protects against, and what not
//!
//! A request is rejected ([`Rejection`], 4xx, logged) when its token is forged or
//! changed (the signature), made by another run (a server of an earlier run, a token
//! pasted from a log), or made by a test that has ended (a keep-alive client or a browser
//! cookie kept by the next test). Each request is checked on its own, so a connection
//! that the next test reuses carries nothing over (phoenix_ecto's #192).
//!
//! It is a guard for test runs, not an authentication scheme: anyone who can read the
//! run's key file (the user running the tests) can make tokens, and a token is good for
//! as long as its test runs. Never put the layer in a production build: the feature is
//! for `[dev-dependencies]`.
//!
//! # Example
//!
//! ```
//! use ownership_runtime::{Actor, Ownership, callers};
//! use ownership_runtime::http::{OwnershipClientLayer, OwnershipLayer};
//! use std::sync::LazyLock;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! // A global the tests replace, each with its own value.
//! static GREETING: LazyLock<Ownership<(), &'static str>> = LazyLock::new(Ownership::new);
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let app = service_fn(|_: ::http::Request<()>| async {
//!     let greeting = match GREETING.fetch_owner(&callers(), &()) {
//!         Some(owner) => GREETING.get_owned(owner.id())[&()],
//!         None => "hello from production",
//!     };
//!     Ok::<_, std::convert::Infallible>(::http::Response::new(greeting.to_string()))
//! });
//! // The server, and a client that sends the token of whichever test calls it.
//! let server = ServiceBuilder::new().layer(OwnershipLayer::new()).service(app);
//! let client = ServiceBuilder::new().layer(OwnershipClientLayer::new()).service(server);
//!
//! let test = Actor::named("tests::greets");
//! GREETING.get_and_update(test.id(), (), |_| ((), "hello from the test")).unwrap();
//! let request = ::http::Request::get("/").body(()).unwrap();
//! let response = test.scope(client.clone().oneshot(request)).await.unwrap();
//! assert_eq!(response.body(), "hello from the test");
//!
//! let request = ::http::Request::get("/").body(()).unwrap();
//! assert_eq!(client.oneshot(request).await.unwrap().body(), "hello from production");
//! # });
//! ```

mod client;
mod liveness;
mod rejection;
#[cfg(feature = "reqwest")]
mod reqwest_adapter;
mod run_key;
mod server;
mod session;
mod token;

pub use client::{AddOwnership, OwnershipClientLayer};
pub use rejection::Rejection;
#[cfg(feature = "reqwest")]
pub use reqwest_adapter::WithOwnership;
pub use server::{OwnedResponse, OwnershipLayer, OwnershipService};
pub use session::session_path;
pub use token::{OwnershipToken, TokenError, token};

/// The request header that carries the ownership token.
///
/// ```
/// assert_eq!(ownership_runtime::http::TOKEN_HEADER, "x-ownership-token");
/// ```
pub const TOKEN_HEADER: &str = "x-ownership-token";

/// The cookie that carries the ownership token for browsers (set by the session route).
///
/// ```
/// assert_eq!(ownership_runtime::http::TOKEN_COOKIE, "ownership_token");
/// ```
pub const TOKEN_COOKIE: &str = "ownership_token";

/// The test-only route that sets the token cookie (see [`session_path`]); served only by
/// a layer built with [`OwnershipLayer::with_session_route`].
///
/// ```
/// assert_eq!(ownership_runtime::http::SESSION_ROUTE, "/_ownership/session");
/// ```
pub const SESSION_ROUTE: &str = "/_ownership/session";
