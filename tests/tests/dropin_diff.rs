//! The drop-in proof's two halves (`dropin/sqlx_suite.rs`, `dropin/owned_suite.rs`) are
//! one suite: they differ only in the test attribute (`#[sqlx::test(..)]` becomes
//! `#[owned_test(..)]`, options unchanged) and the attribute's import.

use std::path::Path;

fn lines_of(file: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("dropin")
        .join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("could not read {}: {error}", path.display()))
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_converted_suite_differs_only_in_the_attribute_and_its_import() {
    let (original, converted) = (lines_of("sqlx_suite.rs"), lines_of("owned_suite.rs"));
    let import = "use ownership_runtime::owned_test;";
    let without_import: Vec<&String> = converted.iter().filter(|line| *line != import).collect();
    assert_eq!(
        converted.len() - without_import.len(),
        1,
        "the converted suite imports the attribute once"
    );
    assert_eq!(
        original.len(),
        without_import.len(),
        "the same lines, but the import"
    );
    let mut attributes = 0;
    for (number, (before, after)) in original.iter().zip(without_import).enumerate() {
        if before == after {
            continue;
        }
        let options = before
            .strip_prefix("#[sqlx::test")
            .unwrap_or_else(|| panic!("line {}: {before:?} became {after:?}", number + 1));
        assert_eq!(
            after.strip_prefix("#[owned_test"),
            Some(options),
            "line {}: the attribute keeps its options",
            number + 1
        );
        attributes += 1;
    }
    assert_eq!(attributes, 100, "every one of the 100 tests is converted");
    let tests = original
        .iter()
        .filter(|line| line.starts_with("async fn "))
        .count();
    assert_eq!(tests, 100);
}
