//! The wall clock that stamps orders, behind a facade so that tests can fix the time.

use std::time::{SystemTime, UNIX_EPOCH};

use mockall_bridge::facade;

/// A source of the current wall-clock time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock: the default of [`CLOCK`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

facade!(
    /// The clock the app reads; the system clock unless a test installed its own.
    pub static CLOCK: dyn Clock = SystemClock
);

/// The current time in whole seconds since the Unix epoch, as the database stores it
/// (0 for a clock set before 1970).
pub fn now_unix() -> i64 {
    unix_seconds(CLOCK.get().now())
}

/// `time` in whole seconds since the Unix epoch (0 before it).
pub fn unix_seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
    })
}
