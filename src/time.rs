//! Time as the engine sees it: milliseconds since the daemon's own epoch.
//!
//! The engine never reads a clock; the driver (or a test) passes `now` in. Milliseconds are
//! the resolution of every protocol timer, and a `u64` of them never wraps in practice.

use std::fmt;
use std::ops::{Add, Sub};
pub use std::time::Duration;

/// A point in time, in milliseconds since an arbitrary epoch chosen by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    pub const ZERO: Instant = Instant(0);

    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms)
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time elapsed since `earlier`, zero if `earlier` is in the future.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(millis(rhs)))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_sub(millis(rhs)))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

/// `interval` scaled by a factor drawn uniformly from [3/4, 5/4), babeld's habit, so that a
/// mesh of identical routers does not synchronise. `random` is any uniformly distributed u32.
pub fn jittered(interval: Duration, random: u32) -> Duration {
    let base = millis(interval);
    let spread = base / 2;
    let offset = if spread == 0 {
        0
    } else {
        u64::from(random) % spread
    };
    Duration::from_millis(base - base / 4 + offset)
}

impl crate::slot_map::SlotKey for Instant {
    const WIDTH: usize = 8;
    fn write(&self, out: &mut [u8]) {
        self.0.write(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(5);
        assert_eq!(t - Duration::from_millis(10), Instant::ZERO);
        assert_eq!(
            Instant::from_millis(u64::MAX) + Duration::from_secs(1),
            Instant::from_millis(u64::MAX)
        );
        assert_eq!(t.saturating_since(Instant::from_millis(9)), Duration::ZERO);
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        let base = Duration::from_secs(300);
        for r in [0, 1, 12345, u32::MAX] {
            let j = jittered(base, r);
            assert!(
                j >= Duration::from_secs(225) && j < Duration::from_secs(375),
                "{j:?}"
            );
        }
    }
}
