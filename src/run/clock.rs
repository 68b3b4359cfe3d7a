//! Milliseconds, as the reports give durations.

use std::time::{Duration, Instant};

/// Milliseconds between successive laps.
pub(super) struct Clock(Instant);

impl Clock {
    pub(super) fn start() -> Clock {
        Clock(Instant::now())
    }

    /// The time since the last lap (or the start), and a new lap.
    pub(super) fn lap(&mut self) -> u64 {
        let now = Instant::now();
        let lap = millis(now - self.0);
        self.0 = now;
        lap
    }
}

/// Whole milliseconds, saturating.
pub(super) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
