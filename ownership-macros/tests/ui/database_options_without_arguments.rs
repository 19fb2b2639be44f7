use ownership_runtime::owned_test;

#[owned_test(sandbox, migrations = false, fixtures("users"))]
async fn places_an_order() {}

fn main() {}
