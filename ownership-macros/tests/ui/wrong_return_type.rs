// The error points at the return type. (A test build reports it there through the
// harness call; this non-test build, which leaves `#[test]` functions out, through the
// check the attribute puts beside the test.)
use ownership_runtime::owned_test;

#[owned_test]
async fn places_an_order() -> u32 {
    42
}

#[owned_test]
fn checks_the_stock() -> Result<u32, String> {
    Ok(7)
}

fn main() {}
