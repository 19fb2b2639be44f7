// A `crate` path that names nothing: the error points at the string.
use ownership_runtime::owned_test;

#[owned_test(crate = "ownership_runtme")]
async fn places_an_order() -> Result<(), String> {
    Ok(())
}

fn main() {}
