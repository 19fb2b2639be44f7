//! What an app's production build links: the crates an app depends on in its normal
//! dependencies (sandbox-sqlx for `SandboxPool`, mockall-bridge for its facades, as the
//! example app does) must not turn on test-only features, tokio's `test-util` (a paused
//! clock) first of all. Read from `cargo tree`, as a user would check it.

use std::process::Command;

/// The features `cargo tree` shows for `package`'s normal (production) dependencies.
fn production_tree(package: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace");
    let output = Command::new(cargo)
        .current_dir(workspace)
        .args(["tree", "--offline", "-e", "normal,features", "-p", package])
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn production_builds_of_the_adapters_and_the_example_app_have_no_tokio_test_util() {
    for package in ["sandbox-sqlx", "mockall-bridge", "orders-app"] {
        let tree = production_tree(package);
        assert!(tree.contains("tokio feature \"rt\""), "{package}: {tree}");
        assert!(
            !tree.contains("tokio feature \"test-util\""),
            "{package}'s production build turns on tokio's test-util:\n{tree}"
        );
    }
}
