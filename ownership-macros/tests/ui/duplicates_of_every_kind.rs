// One duplicate of each kind of option; each error points at the second use.
use ownership_runtime::owned_test;

#[owned_test(shared, shared = false)]
async fn a_flag() {}

#[owned_test(start_paused = false, start_paused = true)]
async fn a_bool() {}

#[owned_test(flavor = "multi_thread", worker_threads = 2, worker_threads = 4)]
async fn a_number() {}

#[owned_test(leftover_tasks = "cancel", leftover_tasks = "fail")]
async fn a_choice() {}

#[owned_test(timeout = "1s", leftover_grace = "0ms", timeout = "2s")]
async fn a_duration() {}

#[owned_test(sandbox = ORDERS, sandbox = [ORDERS, STOCK])]
async fn paths() {}

#[owned_test(crate = "ownership_runtime", crate = "ownership_runtime")]
async fn the_crate() {}

fn main() {}
