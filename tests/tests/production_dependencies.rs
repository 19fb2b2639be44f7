//! What an app's production build links: the crates an app depends on in its normal
//! dependencies (sandbox-sqlx for `SandboxPool`, mockall-bridge for its facades, as the
//! example app does) must not turn on test-only features, tokio's `test-util` (a paused
//! clock) first of all, nor features that rule out others in the user's build, such as
//! parking_lot's `send_guard` (which can't be combined with its `deadlock_detection`).
//! Each database backend of sandbox-sqlx is a feature, and an app links only the drivers
//! it picks. Read from `cargo tree`, as a user would check it.

use std::process::Command;

/// The features `cargo tree` shows for the normal (production) dependencies of the
/// packages `selection` names (`-p NAME`, or `--workspace`).
fn production_tree(selection: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace");
    let output = Command::new(cargo)
        .current_dir(workspace)
        .args(["tree", "--offline", "-e", "normal,features"])
        .args(selection)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree {selection:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn production_builds_of_the_adapters_and_the_example_app_have_no_tokio_test_util() {
    for package in ["sandbox-sqlx", "mockall-bridge", "shop"] {
        let tree = production_tree(&["-p", package]);
        assert!(tree.contains("tokio feature \"rt\""), "{package}: {tree}");
        assert!(
            !tree.contains("tokio feature \"test-util\""),
            "{package}'s production build turns on tokio's test-util:\n{tree}"
        );
    }
}

#[test]
fn the_web_example_links_no_test_side_of_ownership_over_http() {
    // The shop's tests put its router behind `OwnershipLayer`; its production build
    // (`[dependencies]`) must not link the layer, its clients, nor the attribute. (HMAC
    // itself is there: PostgreSQL's SCRAM login uses it.)
    let tree = production_tree(&["-p", "shop"]);
    assert!(tree.contains("ownership-runtime v"), "{tree}");
    for test_only in [
        "ownership-runtime feature \"http\"",
        "ownership-runtime feature \"reqwest\"",
        "ownership-runtime feature \"macros\"",
    ] {
        assert!(
            !tree.contains(test_only),
            "the shop's production build links {test_only}:\n{tree}"
        );
    }
}

#[test]
fn no_crate_of_the_workspace_turns_on_parking_lots_send_guard() {
    // With every member's normal dependencies resolved together, a feature any of them
    // enables shows up once, under the dependency that has it.
    let tree = production_tree(&["--workspace"]);
    assert!(tree.contains("ownership-runtime v"), "{tree}");
    assert!(
        !tree.contains("parking_lot feature \"send_guard\""),
        "a production dependency turns on parking_lot's send_guard, which rules out \
         parking_lot's deadlock_detection in every build that links it (see who enables it \
         with `cargo tree --workspace -e normal,features -i parking_lot`):\n{tree}"
    );
}

/// The database drivers (and SQLite's C library) in a production tree.
fn drivers(tree: &str) -> Vec<&'static str> {
    [
        "sqlx-postgres v",
        "sqlx-mysql v",
        "sqlx-sqlite v",
        "libsqlite3-sys v",
    ]
    .into_iter()
    .filter(|driver| tree.contains(driver))
    .collect()
}

#[test]
fn each_backend_of_sandbox_sqlx_is_a_feature_that_brings_its_driver_alone() {
    let cases: [(&str, &[&str]); 4] = [
        ("", &[]),
        ("postgres", &["sqlx-postgres v"]),
        ("mysql", &["sqlx-mysql v"]),
        ("sqlite", &["sqlx-sqlite v", "libsqlite3-sys v"]),
    ];
    for (feature, expected) in cases {
        let mut selection = vec!["-p", "sandbox-sqlx", "--no-default-features"];
        if !feature.is_empty() {
            selection.extend(["--features", feature]);
        }
        let tree = production_tree(&selection);
        assert_eq!(
            drivers(&tree),
            expected,
            "sandbox-sqlx with the features [{feature}] links other drivers:\n{tree}"
        );
    }
    // With its default features, the crate links no driver at all: an app picks its own.
    assert_eq!(
        drivers(&production_tree(&["-p", "sandbox-sqlx"])),
        Vec::<&str>::new()
    );
}

#[test]
fn the_example_app_links_only_the_drivers_it_picks() {
    // The shop runs on SQLite or PostgreSQL: no MySQL driver.
    let tree = production_tree(&["-p", "shop"]);
    assert_eq!(
        drivers(&tree),
        ["sqlx-postgres v", "sqlx-sqlite v", "libsqlite3-sys v"],
        "{tree}"
    );
}
