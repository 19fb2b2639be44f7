use ownership_runtime::owned_test;

#[owned_test(sandbox = DB, migrator = "crate::MIGRATOR")]
async fn places_an_order(pool: u32) {}

fn main() {}
