//! The ownership token: what a request carries to name the test that sent it, signed so
//! that a server can trust it.
//!
//! A token is one line of visible ASCII, safe in a header and in a cookie:
//!
//! ```text
//! ot1.<run>.<pid>.<start>.<chain>.<signature>
//! ```
//!
//! - `ot1`: the format's version;
//! - `<run>`: 16 hex digits, a hash of the test run's id
//!   ([`current_run_id`](crate::runwide::current_run_id));
//! - `<pid>`, `<start>`: the process that made it (its id, and its start time where the
//!   system says it, else 0): a server in that process runs the request for the test
//!   itself, a server elsewhere knows the test is not its own;
//! - `<chain>`: the numbers of the callers chain it was made for, innermost first,
//!   joined by `-` ([`ActorId::as_u64`](crate::ActorId::as_u64));
//! - `<signature>`: 64 hex digits, HMAC-SHA256 of everything before it under the run's key
//!   ([`super::run_key`]).

use std::fmt;
use std::sync::LazyLock;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::liveness;
use super::rejection::Rejection;
use super::run_key::{self, RunKey};
use crate::callers::{Callers, callers};
use crate::monitor;
use crate::runwide::{current_run_id, process_start_time, stable_hash};

/// The first field of every token of this format.
const VERSION: &str = "ot1";

type HmacSha256 = Hmac<Sha256>;

/// A signed token naming the test (the callers chain) that made it, for one request or
/// a browser's cookie. Made by [`token()`]; servers behind
/// [`OwnershipLayer`](super::OwnershipLayer) check it.
///
/// ```
/// use ownership_runtime::Actor;
/// use ownership_runtime::http::{self, TOKEN_HEADER};
///
/// let test = Actor::named("tests::checkout");
/// let _running = test.enter();
/// let token = http::token().unwrap();
/// assert!(token.as_str().starts_with("ot1."));
/// let request = ::http::Request::get("/orders")
///     .header(TOKEN_HEADER, token.header_value())
///     .body(())
///     .unwrap();
/// assert_eq!(request.headers()[TOKEN_HEADER], token.as_str());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct OwnershipToken {
    text: String,
}

impl OwnershipToken {
    /// The token's text, as it goes in the header or the cookie.
    ///
    /// ```
    /// let test = ownership_runtime::Actor::new();
    /// let token = test.chain().in_scope(ownership_runtime::http::token).unwrap();
    /// assert_eq!(token.as_str().split('.').count(), 6);
    /// ```
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The token as a header value, for [`TOKEN_HEADER`](super::TOKEN_HEADER).
    ///
    /// ```
    /// let test = ownership_runtime::Actor::new();
    /// let token = test.chain().in_scope(ownership_runtime::http::token).unwrap();
    /// assert_eq!(token.header_value().to_str().unwrap(), token.as_str());
    /// ```
    pub fn header_value(&self) -> ::http::HeaderValue {
        // The text is hex digits, digits, dots and dashes: always a valid header value.
        ::http::HeaderValue::from_str(&self.text)
            .unwrap_or_else(|_| ::http::HeaderValue::from_static(""))
    }
}

impl fmt::Display for OwnershipToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for OwnershipToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The signature is a credential of the run: not for logs.
        let shown = self.text.rsplit_once('.').map_or("", |(claims, _)| claims);
        write!(f, "OwnershipToken({shown}.…)")
    }
}

/// Why no token could be made.
///
/// ```
/// use ownership_runtime::http::{self, TokenError};
///
/// // Outside any test (and any actor), there is nobody to name.
/// let error = http::token().unwrap_err();
/// assert!(matches!(error, TokenError::NoTest));
/// assert!(error.to_string().contains("#[owned_test]"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The code runs for nobody: the callers chain is empty.
    #[error(
        "no ownership token outside a test: the callers chain is empty. Make the token inside \
         an #[owned_test] (or a task it started with ownership_runtime::spawn), or run the \
         code as an actor (`Actor::scope`)"
    )]
    NoTest,
    /// The run's signing key could not be made (the system's random source failed).
    #[error("no ownership token: the run's signing key could not be made")]
    NoKey {
        /// The random source's error.
        #[source]
        source: std::io::Error,
    },
}

/// Makes the token for the current [`callers()`]: the test the running code works for.
/// Send it in [`TOKEN_HEADER`](super::TOKEN_HEADER) (the client adapters do), or hand it
/// to a browser through [`session_path`](super::session_path).
///
/// # Errors
///
/// [`TokenError::NoTest`] outside any test; [`TokenError::NoKey`] when the run's key
/// could not be made.
///
/// ```
/// use ownership_runtime::{Actor, http};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let test = Actor::named("tests::checkout");
/// let token = test.scope(async { http::token() }).await.unwrap();
/// assert!(token.as_str().contains(&format!(".{}.", test.id().as_u64())));
/// # });
/// ```
pub fn token() -> Result<OwnershipToken, TokenError> {
    token_for(&callers())
}

/// Makes the token for `chain`.
pub(super) fn token_for(chain: &Callers) -> Result<OwnershipToken, TokenError> {
    let Some(&test) = chain.last() else {
        return Err(TokenError::NoTest);
    };
    let run = run_tag();
    let key = run_key::current(run).map_err(|source| TokenError::NoKey { source })?;
    liveness::note_live(run, *THIS_PROCESS, test);
    let numbers: Vec<String> = chain.iter().map(|id| id.as_u64().to_string()).collect();
    let issuer = *THIS_PROCESS;
    let claims = format!(
        "{VERSION}.{run}.{}.{}.{}",
        issuer.pid,
        issuer.start,
        numbers.join("-")
    );
    let signature = hex(&sign(&key, &claims));
    Ok(OwnershipToken {
        text: format!("{claims}.{signature}"),
    })
}

/// The process that made a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Issuer {
    /// Its process id.
    pub(super) pid: u32,
    /// Its start time (`/proc/<pid>/stat`), 0 where the system doesn't say.
    pub(super) start: u64,
}

/// This process, as tokens name it.
pub(super) static THIS_PROCESS: LazyLock<Issuer> = LazyLock::new(|| {
    let pid = std::process::id();
    Issuer {
        pid,
        start: process_start_time(pid).unwrap_or(0),
    }
});

/// This run's tag: a hash of its id, as tokens carry it. Read once: a process belongs to
/// one run.
pub(super) fn run_tag() -> &'static str {
    static TAG: LazyLock<String> =
        LazyLock::new(|| format!("{:016x}", stable_hash(&current_run_id())));
    &TAG
}

/// What a token whose signature checked out says.
#[derive(Debug)]
pub(super) struct Claims {
    /// The process that made it.
    pub(super) issuer: Issuer,
    /// The numbers of its callers chain, innermost first.
    pub(super) chain: Vec<u64>,
}

/// Whom a checked token's request runs for.
#[derive(Debug)]
pub(super) enum Sender {
    /// A test of this process that is still running: its live callers.
    Here(Callers),
    /// A test of another process of the run that is still running.
    Elsewhere {
        /// That test's process.
        issuer: Issuer,
        /// That test's number in its process.
        test: u64,
    },
}

/// Checks `text`: its format, its run, its signature, then that its test still runs.
pub(super) fn check(text: &str) -> Result<Sender, Rejection> {
    let claims = verify(text)?;
    let test = claims.chain.last().copied().unwrap_or(0);
    if claims.issuer == *THIS_PROCESS {
        let chain: Callers = claims
            .chain
            .iter()
            .filter_map(|&number| monitor::live_actor(number))
            .collect();
        if chain.is_empty() {
            return Err(Rejection::TestEnded {
                test: format!("actor#{test}"),
            });
        }
        return Ok(Sender::Here(chain));
    }
    if liveness::is_live(run_tag(), claims.issuer, test) {
        Ok(Sender::Elsewhere {
            issuer: claims.issuer,
            test,
        })
    } else {
        Err(Rejection::TestEnded {
            test: format!("actor#{test} of process {}", claims.issuer.pid),
        })
    }
}

/// Checks `text`'s format, run and signature.
fn verify(text: &str) -> Result<Claims, Rejection> {
    let malformed = |reason| Rejection::Malformed { reason };
    let (claims, signature) = text
        .rsplit_once('.')
        .ok_or(malformed("it has no signature"))?;
    let fields: Vec<&str> = claims.split('.').collect();
    let [version, run, pid, start, chain] = fields[..] else {
        return Err(malformed("it doesn't have the six parts of `ot1.` tokens"));
    };
    if version != VERSION {
        return Err(malformed("it doesn't start with `ot1.`"));
    }
    if run != run_tag() {
        return Err(Rejection::OtherRun {
            token_run: run.to_owned(),
            this_run: run_tag().to_owned(),
        });
    }
    let signature = unhex(signature).ok_or(malformed("its signature is not hex"))?;
    let key = run_key::current(run_tag()).map_err(|_| Rejection::Forged)?;
    let mut mac = mac(&key);
    mac.update(claims.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| Rejection::Forged)?;
    let issuer = Issuer {
        pid: pid
            .parse()
            .map_err(|_| malformed("its process is not a number"))?,
        start: start
            .parse()
            .map_err(|_| malformed("its start time is not a number"))?,
    };
    let chain = chain
        .split('-')
        .map(str::parse)
        .collect::<Result<Vec<u64>, _>>()
        .map_err(|_| malformed("its callers are not numbers"))?;
    Ok(Claims { issuer, chain })
}

fn mac(key: &RunKey) -> HmacSha256 {
    // HMAC takes keys of any length: `new_from_slice` can't fail.
    <HmacSha256 as KeyInit>::new_from_slice(key.bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
}

fn sign(key: &RunKey, claims: &str) -> Vec<u8> {
    let mut mac = mac(key);
    mac.update(claims.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Lowercase hex digits of `bytes`.
pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|byte| {
            [
                DIGITS[usize::from(byte >> 4)],
                DIGITS[usize::from(byte & 0xf)],
            ]
        })
        .map(char::from)
        .collect()
}

/// The bytes of hex digits `text` (either case); `None` if it isn't an even number of them.
pub(super) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digits = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(digits, 16).ok()
        })
        .collect()
}
