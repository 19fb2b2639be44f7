//! The server side: [`OwnershipLayer`], a tower layer that runs each request's handler for
//! the test whose token the request carries.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use ::http::{Request, Response, header};
use tower_layer::Layer;
use tower_service::Service;

use super::rejection::Rejection;
use super::session;
use super::token::{Sender, check};
use super::{TOKEN_COOKIE, TOKEN_HEADER};
use crate::actor::Actor;
use crate::callers::{Callers, WithCallers};

/// A tower layer for test servers: each request that carries a token ([`TOKEN_HEADER`],
/// else the [`TOKEN_COOKIE`] cookie) runs its handler for the test that made the token,
/// so the handler (and the tasks it starts with [`spawn`](crate::spawn) or
/// [`spawn_blocking`](crate::spawn_blocking)) finds that test's database sandbox, mocks
/// and other resources.
///
/// - It applies per request, never per connection: a keep-alive connection that the next
///   test reuses carries nothing of the previous test over.
/// - A request with no token runs as it would in production.
/// - A token that is malformed, forged or tampered with, from another run, or whose test
///   has ended is rejected: the request gets a 4xx status and a body that says why
///   ([`Rejection`]), and the rejection is logged through `tracing`.
///
/// A token of a test in another process of the run (a server started once for the run)
/// is checked the same way; its request runs as an actor of its own for the length of
/// the request, since that test's resources live in its own process.
///
/// Run a server that serves many tests on a runtime that works for nobody (a thread of
/// its own with a plain tokio runtime), not on one test's runtime: otherwise its
/// requests also run for that test.
///
/// ```
/// use ownership_runtime::{Actor, callers};
/// use ownership_runtime::http::{OwnershipLayer, TOKEN_HEADER, token};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // A handler that says whom it runs for.
/// let app = service_fn(|_: ::http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(::http::Response::new(format!("{}", callers())))
/// });
/// let server = ServiceBuilder::new().layer(OwnershipLayer::new()).service(app);
///
/// let test = Actor::named("tests::checkout");
/// let token = test.scope(async { token() }).await.unwrap();
/// let request = ::http::Request::get("/").header(TOKEN_HEADER, token.as_str()).body(()).unwrap();
/// let response = server.clone().oneshot(request).await.unwrap();
/// assert!(response.body().contains("tests::checkout"));
///
/// drop(test); // the test ends: its token is stale
/// let request = ::http::Request::get("/").header(TOKEN_HEADER, token.as_str()).body(()).unwrap();
/// let response = server.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), ::http::StatusCode::GONE);
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct OwnershipLayer {
    session_route: bool,
}

impl OwnershipLayer {
    /// The layer, without the session route.
    ///
    /// ```
    /// let layer = ownership_runtime::http::OwnershipLayer::new();
    /// # let _ = layer;
    /// ```
    pub fn new() -> OwnershipLayer {
        OwnershipLayer::default()
    }

    /// Also serves the test-only [`SESSION_ROUTE`](super::SESSION_ROUTE), through which a
    /// browser gets its test's token as a cookie (see
    /// [`session_path`](super::session_path)).
    ///
    /// ```
    /// let layer = ownership_runtime::http::OwnershipLayer::new().with_session_route();
    /// # let _ = layer;
    /// ```
    pub fn with_session_route(self) -> OwnershipLayer {
        OwnershipLayer {
            session_route: true,
        }
    }
}

impl<S> Layer<S> for OwnershipLayer {
    type Service = OwnershipService<S>;

    fn layer(&self, inner: S) -> OwnershipService<S> {
        OwnershipService {
            inner,
            session_route: self.session_route,
        }
    }
}

/// The service [`OwnershipLayer`] makes around a server's service.
///
/// ```
/// use ownership_runtime::http::{OwnershipLayer, OwnershipService};
/// use tower::Layer;
///
/// let app = tower::service_fn(|_: ::http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(::http::Response::new(String::new()))
/// });
/// let server: OwnershipService<_> = OwnershipLayer::new().layer(app);
/// # let _ = server;
/// ```
#[derive(Debug, Clone)]
pub struct OwnershipService<S> {
    inner: S,
    session_route: bool,
}

impl<S, B, R> Service<Request<B>> for OwnershipService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    R: From<String>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = OwnedResponse<S::Future, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if self.session_route && session::is_session_request(&request) {
            return OwnedResponse::answered(session::answer(&request));
        }
        let Some((text, from_cookie)) = token_of(&request) else {
            return OwnedResponse::plain(self.inner.call(request));
        };
        match check(&text) {
            Ok(Sender::Here(chain)) => {
                OwnedResponse::run_for(&mut self.inner, request, chain, None)
            }
            Ok(Sender::Elsewhere { issuer, test }) => {
                tracing::debug!(
                    pid = issuer.pid,
                    test,
                    "request from a test of another process: it runs as an actor of its own"
                );
                let stand_in = Actor::named("ownership_runtime::http::remote_test");
                let chain = stand_in.chain();
                OwnedResponse::run_for(&mut self.inner, request, chain, Some(stand_in))
            }
            Err(rejection) => {
                log_rejection(&request, &rejection);
                let mut response = rejection.response();
                if from_cookie {
                    response
                        .headers_mut()
                        .insert(header::SET_COOKIE, session::clear_cookie());
                }
                OwnedResponse::answered(response)
            }
        }
    }
}

/// Logs a rejected request.
pub(super) fn log_rejection<B>(request: &Request<B>, rejection: &Rejection) {
    tracing::warn!(
        method = %request.method(),
        path = request.uri().path(),
        status = rejection.status().as_u16(),
        "ownership token rejected: {rejection}"
    );
}

/// The request's token (its header, else its cookie), and whether it came from the
/// cookie.
fn token_of<B>(request: &Request<B>) -> Option<(String, bool)> {
    if let Some(value) = request.headers().get(TOKEN_HEADER) {
        // A header that isn't text is checked as the text it isn't: rejected as malformed.
        return Some((value.to_str().unwrap_or("").to_owned(), false));
    }
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .find_map(|cookie| {
            let (name, value) = cookie.trim().split_once('=')?;
            (name == TOKEN_COOKIE).then(|| (value.trim_matches('"').to_owned(), true))
        })
}

pin_project_lite::pin_project! {
    /// The response future of [`OwnershipService`]: the handler's, run for the request's
    /// test, or an answer the layer gave itself (a rejection, the session route's).
    ///
    /// ```
    /// use ownership_runtime::http::{OwnedResponse, OwnershipLayer};
    /// use tower::{Layer, Service};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let app = tower::service_fn(|_: ::http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(::http::Response::new(String::from("hello")))
    /// });
    /// let mut server = OwnershipLayer::new().layer(app);
    /// let future: OwnedResponse<_, String> = server.call(::http::Request::new(()));
    /// assert_eq!(future.await.unwrap().body(), "hello");
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct OwnedResponse<F: Future, R> {
        #[pin]
        state: State<F, R>,
        // The actor a request from another process runs as: it ends with the request.
        stand_in: Option<Actor>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProjection]
    enum State<F: Future, R> {
        Owned { #[pin] future: WithCallers<F> },
        Plain { #[pin] future: F },
        Answered { response: Option<Response<R>> },
    }
}

impl<F: Future, R> OwnedResponse<F, R> {
    fn plain(future: F) -> OwnedResponse<F, R> {
        OwnedResponse {
            state: State::Plain { future },
            stand_in: None,
        }
    }

    fn answered(response: Response<R>) -> OwnedResponse<F, R> {
        OwnedResponse {
            state: State::Answered {
                response: Some(response),
            },
            stand_in: None,
        }
    }

    /// Calls `inner` as `chain` (so that work `call` does before returning runs for it
    /// too), and runs its future for `chain`.
    fn run_for<S, B>(
        inner: &mut S,
        request: Request<B>,
        chain: Callers,
        stand_in: Option<Actor>,
    ) -> OwnedResponse<F, R>
    where
        S: Service<Request<B>, Future = F>,
    {
        let future = chain.in_scope(|| inner.call(request));
        OwnedResponse {
            state: State::Owned {
                future: chain.scope(future),
            },
            stand_in,
        }
    }
}

impl<F, R, E> Future for OwnedResponse<F, R>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Owned { future } => future.poll(cx),
            StateProjection::Plain { future } => future.poll(cx),
            StateProjection::Answered { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending,
            },
        }
    }
}

impl<F: Future, R> std::fmt::Debug for OwnedResponse<F, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedResponse").finish_non_exhaustive()
    }
}
