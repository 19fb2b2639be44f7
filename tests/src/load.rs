//! Keeping every core of the machine busy while a test runs, to show that what the test
//! checks doesn't depend on the machine's speed.

use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a load thread spins at most, whatever `keep_busy` says: no test waits for it
/// longer than that.
const LONGEST_LOAD: Duration = Duration::from_secs(60);

/// How long a load thread spins between two looks at `keep_busy`.
const SPIN: Duration = Duration::from_millis(1);

/// Starts one thread per core that spins, never sleeping, while `keep_busy` returns
/// `true` (it is asked about every millisecond) and for at most a minute. Returns the
/// threads, to join if the caller wants to wait for them.
///
/// The threads run for nobody (plain threads), so the test's harness doesn't count them as
/// the test's.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// let busy = Arc::new(AtomicBool::new(true));
/// let flag = busy.clone();
/// let load = ownership_e2e::load::busy_every_core_while(move || flag.load(Ordering::Relaxed));
/// assert!(!load.is_empty());
/// busy.store(false, Ordering::Relaxed);
/// for thread in load {
///     thread.join().unwrap();
/// }
/// ```
pub fn busy_every_core_while<F>(keep_busy: F) -> Vec<JoinHandle<()>>
where
    F: Fn() -> bool + Clone + Send + 'static,
{
    let cores = thread::available_parallelism().map_or(2, usize::from);
    (0..cores)
        .map(|_| {
            let keep_busy = keep_busy.clone();
            thread::spawn(move || {
                let started = Instant::now();
                let mut spun: u64 = 0;
                while keep_busy() && started.elapsed() < LONGEST_LOAD {
                    let round = Instant::now();
                    while round.elapsed() < SPIN {
                        spun = std::hint::black_box(spun.wrapping_mul(31).wrapping_add(7));
                    }
                }
            })
        })
        .collect()
}
