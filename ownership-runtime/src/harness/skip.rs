//! Tests skipped because a service they need can't be reached: what a resource asks for
//! with [`Failure::unavailable`](super::Failure::unavailable) (a sandbox built with
//! `skip_if_unreachable`, say).
//!
//! A skipped test passes without running its body (libtest has no "skipped" outcome), and
//! says so on the process's standard error, past the test harness's output capture:
//! `skipped <test>: <why>`. When the test binary exits, one line sums the skips up: how
//! many, and why. Under `CI=true`, where every service must be up, the test fails instead.
//!
//! nextest shows the standard error of passing tests only when asked
//! (`--success-output immediate`, or `final`).

use std::io::Write;
use std::sync::{Mutex, PoisonError};

use super::failure::Failure;
use crate::error::error_chain;

/// The tests this process skipped: how many, and the distinct reasons.
struct Skipped {
    count: usize,
    reasons: Vec<String>,
    /// Whether the summary at exit is registered.
    summary: bool,
}

static SKIPPED: Mutex<Skipped> = Mutex::new(Skipped {
    count: 0,
    reasons: Vec::new(),
    summary: false,
});

/// Whether this run must not skip anything: `CI=true`.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|ci| ci.eq_ignore_ascii_case("true") || ci == "1")
}

/// Skips `test` because `resource` is unavailable (`failure`), or, under `CI=true`,
/// returns why the test fails instead.
pub(super) fn skip(test: &str, resource: &str, failure: &Failure) -> Result<(), Failure> {
    if in_ci() {
        return Err(Failure::new(format!(
            "{} (CI=true: a test whose service can't be reached fails instead of being \
             skipped; start the service before the tests)",
            error_chain(failure)
        )));
    }
    let reason = &format!("{resource}: {}", error_chain(failure));
    let _ = writeln!(std::io::stderr(), "skipped {test}: {reason}");
    let mut skipped = SKIPPED.lock().unwrap_or_else(PoisonError::into_inner);
    skipped.count += 1;
    if !skipped.reasons.iter().any(|known| known == reason) {
        skipped.reasons.push(reason.to_owned());
    }
    if !skipped.summary {
        skipped.summary = shutdown_hooks::add_shutdown_hook(summarize);
    }
    Ok(())
}

/// The summary line, printed when the process exits. Never panics (it runs at exit).
extern "C" fn summarize() {
    let skipped = SKIPPED.lock().unwrap_or_else(PoisonError::into_inner);
    if skipped.count == 0 {
        return;
    }
    let tests = if skipped.count == 1 { "test" } else { "tests" };
    let reasons = match skipped.reasons.as_slice() {
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} (and {} other reasons)", rest.len()),
        [] => String::new(),
    };
    let _ = writeln!(
        std::io::stderr(),
        "\nnote: {} {tests} of this binary were skipped, their service unreachable: {reasons}. \
         Run with CI=true to fail them instead.",
        skipped.count
    );
}
