//! Running this test binary's own `#[ignore]`d fixture tests in a process of their own, to
//! read the failure reports they print: how the workspace tests what a failing test says.

use std::process::Command;

/// Runs the current test binary again with `args` (libtest's: `--ignored`, `--exact`,
/// a filter, ...). Returns whether it succeeded, and everything it printed.
///
/// # Panics
///
/// If the binary can't be started.
pub fn run_this_binary(args: &[&str]) -> (bool, String) {
    run_this_binary_with(args, &[])
}

/// [`run_this_binary`], with environment variables set for the run (a test can't set
/// them in its own process: that is `unsafe`).
///
/// # Panics
///
/// If the binary can't be started.
pub fn run_this_binary_with(args: &[&str], variables: &[(&str, &str)]) -> (bool, String) {
    let executable = std::env::current_exe().expect("the test binary's path");
    let output = Command::new(executable)
        .args(args)
        .envs(variables.iter().copied())
        .output()
        .expect("the test binary starts again");
    let printed = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

/// Runs the ignored fixture `name` alone in a process of its own, as nextest does, and
/// returns what it printed.
///
/// # Panics
///
/// Unless the fixture failed (fixtures fail on purpose).
pub fn run_fixture(name: &str) -> String {
    let (passed, printed) = run_this_binary(&["--ignored", "--exact", name, "--test-threads=1"]);
    assert!(!passed, "the fixture must fail:\n{printed}");
    assert!(printed.contains("1 failed"), "{printed}");
    printed
}

/// Asserts that `parts` appear in `text` in this order.
///
/// ```
/// ownership_e2e::fixtures::assert_in_order("1. a, 2. b", &["1.", "2."]);
/// ```
///
/// # Panics
///
/// If one is missing, or out of order.
pub fn assert_in_order(text: &str, parts: &[&str]) {
    let mut rest = text;
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => panic!("expected {part:?} (in this order: {parts:?}) in:\n{text}"),
        }
    }
}
