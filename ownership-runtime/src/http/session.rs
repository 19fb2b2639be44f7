//! The session route: how a browser, which runs none of the test's code, gets the test's
//! token, as a cookie (phoenix_ecto's `:at` route, for Rust).
//!
//! The test points the browser at [`session_path`] (`GET /_ownership/session?token=..&then=..`);
//! a server whose layer was built with
//! [`with_session_route`](super::OwnershipLayer::with_session_route) checks the token,
//! sets it as the [`TOKEN_COOKIE`] cookie (`HttpOnly`, `Path=/`, `SameSite=Lax`) and
//! redirects (303) to `then`. From then on the browser's requests carry the cookie, and
//! run for the test; a cookie left from an ended test is rejected (410), never used.

use ::http::{HeaderValue, Method, Request, Response, StatusCode, header};

use super::server::log_rejection;
use super::token::{TokenError, check, token};
use super::{SESSION_ROUTE, TOKEN_COOKIE};

/// The path (with its query) that gives a browser the current test's token as a cookie
/// and then sends it to `then`, a path of the same server (it must start with `/`).
/// Open `base_url + session_path(..)` in the browser before its first page.
///
/// # Errors
///
/// [`TokenError::NoTest`] outside any test (and [`TokenError::NoKey`], as [`token()`]).
///
/// ```
/// use ownership_runtime::{Actor, http};
///
/// let test = Actor::named("tests::browser_checkout");
/// let path = test.chain().in_scope(|| http::session_path("/shop?tab=cart")).unwrap();
/// assert!(path.starts_with("/_ownership/session?token=ot1."));
/// assert!(path.ends_with("&then=%2Fshop%3Ftab%3Dcart"));
/// ```
pub fn session_path(then: &str) -> Result<String, TokenError> {
    let token = token()?;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token.as_str())
        .append_pair("then", then)
        .finish();
    Ok(format!("{SESSION_ROUTE}?{query}"))
}

/// Whether `request` is for the session route.
pub(super) fn is_session_request<B>(request: &Request<B>) -> bool {
    (request.method() == Method::GET || request.method() == Method::HEAD)
        && request.uri().path() == SESSION_ROUTE
}

/// The session route's answer: the cookie and the redirect, or why not.
pub(super) fn answer<B, R: From<String>>(request: &Request<B>) -> Response<R> {
    let query = request.uri().query().unwrap_or("");
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let find = |wanted: &str| {
        pairs
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.as_str())
    };
    let Some(token) = find("token") else {
        return plain(
            StatusCode::BAD_REQUEST,
            format!(
                "the session route needs the test's token (`?token=..`): open the path \
                 ownership_runtime::http::session_path() made, `{SESSION_ROUTE}?token=..&then=..`\n"
            ),
        );
    };
    if let Err(rejection) = check(token) {
        log_rejection(request, &rejection);
        return rejection.response();
    }
    let then = find("then").unwrap_or("/");
    if !is_local_path(then) {
        return plain(
            StatusCode::BAD_REQUEST,
            format!(
                "the session route's `then` ({then:?}) must be a path of this server: starting \
                 with a single `/`, with no `\\`, spaces or control characters, and anything \
                 else outside printable ASCII percent-encoded\n"
            ),
        );
    }
    let mut response = plain(StatusCode::SEE_OTHER, String::new());
    let headers = response.headers_mut();
    // A token is digits, hex, dots and dashes, and `then` printable ASCII: both make
    // valid header values.
    if let (Ok(cookie), Ok(location)) = (
        HeaderValue::from_str(&format!(
            "{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax"
        )),
        HeaderValue::from_str(then),
    ) {
        headers.insert(header::SET_COOKIE, cookie);
        headers.insert(header::LOCATION, location);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The `Set-Cookie` value that removes the token cookie from a browser (sent with the
/// rejection of a cookie's token, so that a browser that outlives its test stops sending
/// it).
pub(super) fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("ownership_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax")
}

/// Whether `then` is a path of this server: `/...`, not `//host/...`, with nothing a
/// browser would drop or rewrite (a tab, a backslash) into another host.
fn is_local_path(then: &str) -> bool {
    then.starts_with('/')
        && !then.starts_with("//")
        && then
            .bytes()
            .all(|byte| byte.is_ascii_graphic() && byte != b'\\')
}

fn plain<R: From<String>>(status: StatusCode, body: String) -> Response<R> {
    let mut response = Response::new(R::from(body));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_the_server_are_followed() {
        assert!(is_local_path("/shop"));
        assert!(is_local_path("/"));
        assert!(!is_local_path("//evil.example/"));
        assert!(!is_local_path("/\\evil.example"));
        assert!(!is_local_path("/\t/evil.example/"));
        assert!(!is_local_path("/caf\u{e9}"));
        assert!(!is_local_path("/a b"));
        assert!(is_local_path("/caf%C3%A9?tab=cart#top"));
        assert!(!is_local_path("https://evil.example/"));
    }
}
