//! Stopping a test's runtime, and what the test left running on it.
//!
//! Whether a task outlived its test must not depend on the machine's speed, so the
//! harness doesn't count tasks after a fixed number of polls. Once the body has ended it
//! waits, in real time, up to the test's grace ([`TestConfig::grace`], never past its
//! timeout) for the tasks on the runtime to end, and goes on the moment none is left:
//!
//! 1. it lets the tasks that are ready run, a few rounds, without sleeping: most tasks
//!    that outlive the body by a little end here;
//! 2. if some are still alive, it waits for ticks of a clock thread of its own, so the
//!    runtime runs its tasks, its I/O and its timers meanwhile, and a paused clock
//!    (`start_paused`) advances as usual while the grace is counted on the real one; a
//!    multi-thread runtime counts a finished task out on its worker, a little after it
//!    ended, and the next tick sees it;
//! 3. it shuts the runtime down, cancelling the tasks still alive, and waits for the
//!    runtime's threads to stop, for the rest of the grace and at least [`STOP_WAIT`]:
//!    a `spawn_blocking` closure gets the grace to return too, and a thread still busy
//!    after that (a blocking closure, or a task that blocks its thread instead of
//!    awaiting) is left running, since tokio can't cancel it.
//!
//! What is still running then is the test's [`Leftovers`]: the tasks alive at the end of
//! the grace and the threads still busy after it. A task that ends within the grace passes
//! on any machine that runs it within the grace; one that never ends is a leftover on
//! every machine.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, RuntimeMetrics};

use super::config::TestConfig;
use super::report::Problem;
use crate::callers::Callers;
use crate::propagate::{CallersRuntime, build_counting_threads};

/// How long the runtime's own threads get to stop once it shuts down, when the grace has
/// less left: its workers end as soon as they have dropped their tasks.
const STOP_WAIT: Duration = Duration::from_millis(500);

/// How many times the harness lets the ready tasks run before it starts waiting.
const YIELD_ROUNDS: usize = 16;

/// The pause between two looks at the task count for the first [`SHORT_PAUSES_FOR`] of
/// the wait; then it doubles up to [`LONGEST_PAUSE`]. Most waits are for a task that is
/// about to end (a pool connection going back to its pool, a round trip or two): short
/// looks end them within this pause of it, instead of a doubling pause after it.
const FIRST_PAUSE: Duration = Duration::from_micros(100);

/// How long the looks at the task count come every [`FIRST_PAUSE`].
const SHORT_PAUSES_FOR: Duration = Duration::from_millis(2);

/// The longest pause between two looks at the task count while waiting.
const LONGEST_PAUSE: Duration = Duration::from_millis(10);

/// A test's runtime, counting its threads, and when it was built (just before the body
/// started).
pub(crate) struct TestRuntime {
    runtime: CallersRuntime,
    running_threads: Arc<AtomicUsize>,
    built: Instant,
}

impl TestRuntime {
    /// Builds the runtime `builder` describes, every thread of which runs for `chain`.
    pub(crate) fn build(builder: &mut Builder, chain: Callers) -> std::io::Result<TestRuntime> {
        let running_threads = Arc::new(AtomicUsize::new(0));
        let runtime = build_counting_threads(builder, chain, running_threads.clone())?;
        Ok(TestRuntime {
            runtime,
            running_threads,
            built: Instant::now(),
        })
    }

    /// Runs `future` to completion on the runtime (see [`CallersRuntime::block_on`]).
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Waits up to the test's grace for what it left running, shuts the runtime down and
    /// returns what was still running, as the [module docs](self) describe.
    pub(crate) fn stop(self, config: &TestConfig) -> Leftovers {
        let grace = match config.timeout {
            Some(timeout) => config
                .grace()
                .min(timeout.saturating_sub(self.built.elapsed())),
            None => config.grace(),
        };
        let deadline = Instant::now() + grace;
        let tasks = self.runtime.block_on(async {
            let metrics = tokio::runtime::Handle::current().metrics();
            wait_for_tasks(&metrics, deadline).await
        });
        let rest = deadline.saturating_duration_since(Instant::now());
        self.runtime.shutdown_timeout(rest.max(STOP_WAIT));
        Leftovers {
            tasks,
            threads: self.running_threads.load(Ordering::SeqCst),
            grace,
        }
    }
}

/// Lets the runtime run until none of its tasks is alive or `deadline` (real time) has
/// passed, and returns how many are alive.
async fn wait_for_tasks(metrics: &RuntimeMetrics, deadline: Instant) -> usize {
    for _ in 0..YIELD_ROUNDS {
        if metrics.num_alive_tasks() == 0 {
            return 0;
        }
        tokio::task::yield_now().await;
    }
    let Some(mut ticks) = Ticks::until(deadline) else {
        return metrics.num_alive_tasks();
    };
    loop {
        let alive = metrics.num_alive_tasks();
        if alive == 0 || !ticks.next().await {
            return alive;
        }
    }
}

/// Ticks of real time from a thread of its own, until a deadline. Waiting for them leaves
/// the runtime free to run its tasks, drive its I/O and timers, and advance a paused
/// clock; the runtime's own timers can't end the wait early or make it last longer.
struct Ticks {
    ticks: tokio::sync::mpsc::Receiver<()>,
    /// Dropped to stop the clock thread at once.
    stop: Option<mpsc::Sender<()>>,
    clock: Option<thread::JoinHandle<()>>,
}

impl Ticks {
    /// Starts the clock thread, or `None` if there is no time left or no thread to be had.
    fn until(deadline: Instant) -> Option<Ticks> {
        if Instant::now() >= deadline {
            return None;
        }
        let (tick, ticks) = tokio::sync::mpsc::channel(1);
        let (stop, stopped) = mpsc::channel::<()>();
        let clock = thread::Builder::new()
            .name("owned-test-grace".to_owned())
            .spawn(move || {
                let (started, mut pause) = (Instant::now(), FIRST_PAUSE);
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return; // dropping `tick` ends the wait
                    }
                    if stopped.recv_timeout(pause.min(left)) != Err(mpsc::RecvTimeoutError::Timeout)
                    {
                        return; // the harness stopped waiting
                    }
                    // A full channel holds a tick not yet seen: one is enough.
                    let _ = tick.try_send(());
                    if started.elapsed() >= SHORT_PAUSES_FOR {
                        pause = (pause * 2).min(LONGEST_PAUSE);
                    }
                }
            })
            .ok()?;
        Some(Ticks {
            ticks,
            stop: Some(stop),
            clock: Some(clock),
        })
    }

    /// Waits for the next tick: `false` once the deadline has passed.
    async fn next(&mut self) -> bool {
        self.ticks.recv().await.is_some()
    }
}

impl Drop for Ticks {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(clock) = self.clock.take() {
            let _ = clock.join();
        }
    }
}

/// What a test left running on its runtime after its grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Leftovers {
    /// Tasks still alive at the end of the grace (then cancelled).
    pub(crate) tasks: usize,
    /// Runtime threads still busy after it (left running).
    pub(crate) threads: usize,
    /// The grace the harness waited for them, at most.
    pub(crate) grace: Duration,
}

impl Leftovers {
    /// Nothing left.
    pub(crate) const NONE: Leftovers = Leftovers {
        tasks: 0,
        threads: 0,
        grace: Duration::ZERO,
    };

    /// The problems they are for the report: none, one or two.
    pub(crate) fn problems(self) -> impl Iterator<Item = Problem> {
        let tasks = (self.tasks > 0).then_some(Problem::TasksOutlived {
            count: self.tasks,
            grace: self.grace,
        });
        let threads = (self.threads > 0).then_some(Problem::ThreadsOutlived {
            count: self.threads,
            grace: self.grace,
        });
        tasks.into_iter().chain(threads)
    }

    /// The note for a test whose leftovers are cancelled, or `None` if it left nothing.
    pub(crate) fn note(self, test: &str) -> Option<String> {
        if self.tasks == 0 && self.threads == 0 {
            return None;
        }
        let mut note = format!("note: owned test `{test}` left ");
        if self.tasks > 0 {
            note.push_str(&format!(
                "{} task(s) running {}; they were cancelled",
                self.tasks,
                after(self.grace)
            ));
        }
        if self.threads > 0 {
            if self.tasks > 0 {
                note.push_str(", and ");
            }
            note.push_str(&format!(
                "{} thread(s) of its runtime busy {} (`spawn_blocking`), left running: tokio can't \
                 cancel them",
                self.threads,
                after(self.grace)
            ));
        }
        note.push_str(" (its option `leftover_tasks = \"cancel\"`)");
        Some(note)
    }
}

/// When leftovers were counted: "when it ended", or "1s after it ended".
pub(crate) fn after(grace: Duration) -> String {
    // Whole milliseconds: a grace cut short by a timeout has an odd length.
    let grace = Duration::from_millis(u64::try_from(grace.as_millis()).unwrap_or(u64::MAX));
    if grace.is_zero() {
        "when it ended".to_owned()
    } else {
        format!("{grace:?} after it ended")
    }
}
