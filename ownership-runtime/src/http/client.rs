//! The client side: [`OwnershipClientLayer`], a tower layer that adds the current test's
//! token to every request.

use std::task::{Context, Poll};

use ::http::Request;
use tower_layer::Layer;
use tower_service::Service;

use super::TOKEN_HEADER;
use super::token::{TokenError, token};

/// A tower layer for clients: every request made inside a test gets the test's token in
/// [`TOKEN_HEADER`] (one the request already has is kept); outside any test nothing is
/// added. Put it around an axum `Router` you call with `oneshot`, or around a hyper
/// client.
///
/// The token is made when the request is sent (`call`), from the chain of the code that
/// sends it, so one client serves every test.
///
/// ```
/// use std::convert::Infallible;
/// use ownership_runtime::Actor;
/// use ownership_runtime::http::{OwnershipClientLayer, TOKEN_HEADER};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // A "server" that answers with the token it received.
/// let echo = service_fn(|request: ::http::Request<()>| async move {
///     let token = request.headers().get(TOKEN_HEADER).map(|v| v.to_str().unwrap().to_owned());
///     Ok::<_, Infallible>(token)
/// });
/// let client = ServiceBuilder::new().layer(OwnershipClientLayer::new()).service(echo);
///
/// let test = Actor::named("tests::checkout");
/// let request = ::http::Request::get("/orders").body(()).unwrap();
/// let sent = test.scope(client.clone().oneshot(request)).await.unwrap();
/// assert!(sent.unwrap().starts_with("ot1."));
///
/// // Outside any test: no token.
/// let request = ::http::Request::get("/orders").body(()).unwrap();
/// assert_eq!(client.oneshot(request).await.unwrap(), None);
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct OwnershipClientLayer {
    _private: (),
}

impl OwnershipClientLayer {
    /// The layer.
    ///
    /// ```
    /// let layer = ownership_runtime::http::OwnershipClientLayer::new();
    /// # let _ = layer;
    /// ```
    pub fn new() -> OwnershipClientLayer {
        OwnershipClientLayer::default()
    }
}

impl<S> Layer<S> for OwnershipClientLayer {
    type Service = AddOwnership<S>;

    fn layer(&self, inner: S) -> AddOwnership<S> {
        AddOwnership { inner }
    }
}

/// The client service [`OwnershipClientLayer`] makes: `inner`, with the test's token
/// added to each request.
///
/// ```
/// use ownership_runtime::http::{AddOwnership, OwnershipClientLayer};
/// use tower::Layer;
///
/// let client: AddOwnership<_> = OwnershipClientLayer::new().layer(tower::service_fn(
///     |_: ::http::Request<()>| async { Ok::<_, std::convert::Infallible>(()) },
/// ));
/// # let _ = client;
/// ```
#[derive(Debug, Clone)]
pub struct AddOwnership<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for AddOwnership<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> S::Future {
        add_token(request.headers_mut());
        self.inner.call(request)
    }
}

/// Adds the current test's token to `headers`, unless they have one.
pub(super) fn add_token(headers: &mut ::http::HeaderMap) {
    if headers.contains_key(TOKEN_HEADER) {
        return;
    }
    match token() {
        Ok(token) => {
            headers.insert(TOKEN_HEADER, token.header_value());
        }
        Err(TokenError::NoTest) => {}
        Err(error) => {
            tracing::error!(%error, "the request goes without its test's ownership token");
        }
    }
}
