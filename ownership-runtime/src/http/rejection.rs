//! [`Rejection`]: why a server turned a request's token down, and the response it sends.

use ::http::{Response, StatusCode, header};

/// Why [`OwnershipLayer`](super::OwnershipLayer) rejected a request's token. The request
/// gets [`Rejection::status`] and a plain-text body, `ownership token rejected: ` and
/// this error's message; the rejection is also logged (`tracing`, at `warn`).
///
/// ```
/// use ownership_runtime::http::Rejection;
///
/// let rejection = Rejection::Forged;
/// assert_eq!(rejection.status(), ::http::StatusCode::FORBIDDEN);
/// assert!(rejection.to_string().contains("forged or changed"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The text is not a token of this library (400).
    #[error(
        "the token is not an ownership token ({reason}); send the text \
         ownership_runtime::http::token() made, unchanged"
    )]
    Malformed {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The token was made by another test run (403): each run signs with a key of its
    /// own.
    #[error(
        "the token was made by another test run (run {token_run}; this server belongs to run \
         {this_run}). A token is good only in the run that made it: make it in this run, and \
         start the server from the same run (OWNERSHIP_RUN_ID, or nextest's NEXTEST_RUN_ID, \
         names it)"
    )]
    OtherRun {
        /// The tag of the run that made the token.
        token_run: String,
        /// The tag of the server's run.
        this_run: String,
    },
    /// The signature doesn't match the run's key (403): the token was forged, or changed
    /// after it was made.
    #[error(
        "the token's signature doesn't match this run's key: it was forged or changed on the \
         way. Send the token exactly as ownership_runtime::http::token() made it"
    )]
    Forged,
    /// The test that made the token has ended (410).
    #[error(
        "the test that made the token ({test}) has ended. A token is good only while its test \
         runs: a client or a browser kept from an earlier test must send the token of the \
         test it works for now"
    )]
    TestEnded {
        /// The test, as far as the server knows it.
        test: String,
    },
}

impl Rejection {
    /// The status the request gets: 400 for a malformed token, 403 for a forged one or
    /// another run's, 410 (Gone) for an ended test's.
    ///
    /// ```
    /// use ::http::StatusCode;
    /// use ownership_runtime::http::Rejection;
    ///
    /// let ended = Rejection::TestEnded { test: "actor#7".into() };
    /// assert_eq!(ended.status(), StatusCode::GONE);
    /// let malformed = Rejection::Malformed { reason: "it has no signature" };
    /// assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::Malformed { .. } => StatusCode::BAD_REQUEST,
            Rejection::OtherRun { .. } | Rejection::Forged => StatusCode::FORBIDDEN,
            Rejection::TestEnded { .. } => StatusCode::GONE,
        }
    }

    /// The response for this rejection.
    pub(super) fn response<R: From<String>>(&self) -> Response<R> {
        let mut response = Response::new(R::from(format!("ownership token rejected: {self}\n")));
        *response.status_mut() = self.status();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            ::http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}
