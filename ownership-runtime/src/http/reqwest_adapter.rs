//! The reqwest adapter (feature `reqwest`): [`WithOwnership`] adds the current test's
//! token to a request.

use super::client::add_token;

/// Adds the current test's token ([`TOKEN_HEADER`](super::TOKEN_HEADER)) to a reqwest request made inside a
/// test, in place of any token set on it before (to send a token of your own, set the
/// header and don't call this); outside any test it adds nothing, so app code that
/// builds requests can call it unconditionally.
///
/// The token is made per request, so a client may be reused by several tests in turn.
/// But reqwest runs each connection as a task on the runtime that opened it: a client
/// made in one test and kept for the next leaves that task on the first test's runtime
/// (which the harness reports as a task still running when the test ended). Make a
/// client per test, or send from a runtime that works for nobody.
///
/// ```no_run
/// use ownership_runtime::http::WithOwnership;
///
/// # async fn call(base: &str) -> Result<(), reqwest::Error> {
/// let client = reqwest::Client::new(); // the test's own client
/// let response = client.get(format!("{base}/orders")).with_ownership().send().await?;
/// assert!(response.status().is_success());
/// # Ok(()) }
/// ```
pub trait WithOwnership {
    /// This request, with the current test's token.
    fn with_ownership(self) -> Self;
}

impl WithOwnership for reqwest::RequestBuilder {
    fn with_ownership(self) -> reqwest::RequestBuilder {
        let mut token = ::http::HeaderMap::new();
        add_token(&mut token);
        if token.is_empty() {
            return self;
        }
        // `headers` replaces the values of the names it is given: one token header.
        self.headers(token)
    }
}
