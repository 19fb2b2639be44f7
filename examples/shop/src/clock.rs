//! The wall clock that stamps orders, settlements, receipts and audit entries, behind a
//! facade so that each test can fix its own time.

use std::time::{SystemTime, UNIX_EPOCH};

use mockall_bridge::facade;

/// A source of the current wall-clock time.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use shop::clock::Clock;
///
/// struct Fixed;
/// impl Clock for Fixed {
///     fn now(&self) -> SystemTime {
///         UNIX_EPOCH + Duration::from_secs(1_767_268_800)
///     }
/// }
/// assert_eq!(shop::clock::unix_seconds(Fixed.now()), 1_767_268_800);
/// ```
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock: the default of [`CLOCK`].
///
/// ```
/// use shop::clock::{Clock, SystemClock};
///
/// assert!(SystemClock.now() > std::time::UNIX_EPOCH);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

facade!(
    /// The clock the shop reads: the system clock, unless the test the code works for
    /// installed its own.
    ///
    /// ```
    /// // Outside any test: the system clock.
    /// assert!(shop::clock::CLOCK.get().now() > std::time::UNIX_EPOCH);
    /// ```
    pub static CLOCK: dyn Clock = SystemClock
);

/// The current time from [`CLOCK`], in whole seconds since the Unix epoch, as the
/// database stores it.
///
/// ```
/// assert!(shop::clock::now_unix() > 1_700_000_000);
/// ```
pub fn now_unix() -> i64 {
    unix_seconds(CLOCK.get().now())
}

/// `time` in whole seconds since the Unix epoch (0 for a time before it).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
///
/// assert_eq!(shop::clock::unix_seconds(UNIX_EPOCH + Duration::from_millis(2_500)), 2);
/// assert_eq!(shop::clock::unix_seconds(UNIX_EPOCH - Duration::from_secs(1)), 0);
/// ```
pub fn unix_seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
    })
}
