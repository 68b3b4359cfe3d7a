//! Duration flags: each has an allowed range, checked while the arguments are parsed, so a wrong
//! value is a usage error (exit 2) naming the flag before anything is created.

use std::time::Duration;

/// The range of a per-probe timeout (`--timeout`), the same as a scenario's `timeout`.
pub(crate) const PROBE_TIMEOUT: Range =
    Range::new(crate::scenario::MIN_TIMEOUT, crate::scenario::MAX_TIMEOUT);
/// `--connect-timeout`: long enough for a TLS handshake, short enough to give up on a dead
/// server.
pub(crate) const CONNECT_TIMEOUT: Range = Range::new(ms(100), mins(5));
/// `--settle`: zero means no retries after the policies were applied.
pub(crate) const SETTLE: Range = Range::new(Duration::ZERO, mins(30));
/// `--pod-timeout`: pulling an image may take minutes.
pub(crate) const POD_TIMEOUT: Range = Range::new(Duration::from_secs(1), mins(60));
/// `--namespace-wait`: zero means not waiting for a terminating namespace.
pub(crate) const NAMESPACE_WAIT: Range = Range::new(Duration::ZERO, mins(60));
/// The local cluster's emulated delays (`--policy-delay`, `--namespace-deletion`).
pub(crate) const EMULATED_DELAY: Range = Range::new(Duration::ZERO, mins(10));

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const fn mins(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

/// A duration flag's value that is wrong, as clap shows it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub(crate) enum DurationError {
    #[error("{0}; write a duration such as 2s, 500ms or 1m")]
    Unreadable(humantime::DurationError),
    #[error("out of range: use {0}")]
    OutOfRange(Range),
}

/// The durations a flag accepts, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    min: Duration,
    max: Duration,
}

impl Range {
    const fn new(min: Duration, max: Duration) -> Self {
        Self { min, max }
    }

    /// A clap value parser for this range.
    pub(crate) fn parser(
        self,
    ) -> impl Fn(&str) -> Result<Duration, DurationError> + Clone + Send + Sync + 'static {
        move |text| self.parse(text)
    }

    fn parse(self, text: &str) -> Result<Duration, DurationError> {
        let value = humantime::parse_duration(text.trim()).map_err(DurationError::Unreadable)?;
        if (self.min..=self.max).contains(&value) {
            Ok(value)
        } else {
            Err(DurationError::OutOfRange(self))
        }
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |d: Duration| {
            if d.is_zero() {
                "0s".to_owned()
            } else {
                humantime::format_duration(d).to_string()
            }
        };
        write!(f, "{} to {}", show(self.min), show(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_include_both_ends_and_say_what_they_allow() {
        assert_eq!(PROBE_TIMEOUT.parse("100ms"), Ok(ms(100)));
        assert_eq!(PROBE_TIMEOUT.parse("5m"), Ok(mins(5)));
        assert_eq!(PROBE_TIMEOUT.parse("1500ms"), Ok(ms(1500)));
        assert_eq!(
            PROBE_TIMEOUT.parse("0"),
            Err(DurationError::OutOfRange(PROBE_TIMEOUT))
        );
        assert_eq!(
            PROBE_TIMEOUT.parse("10m"),
            Err(DurationError::OutOfRange(PROBE_TIMEOUT))
        );
        assert_eq!(SETTLE.parse("0s"), Ok(Duration::ZERO));
        assert_eq!(
            POD_TIMEOUT.parse("0s"),
            Err(DurationError::OutOfRange(POD_TIMEOUT))
        );
        assert_eq!(
            POD_TIMEOUT.parse("0s").unwrap_err().to_string(),
            "out of range: use 1s to 1h"
        );
        assert!(SETTLE.parse("soon").is_err_and(|e| {
            e.to_string()
                .contains("; write a duration such as 2s, 500ms or 1m")
        }));
    }

    /// The agent takes exactly the timeouts a scenario and `--timeout` may ask for.
    #[test]
    fn the_probe_agent_accepts_the_whole_probe_timeout_range() {
        assert_eq!(
            PROBE_TIMEOUT.min,
            ms(netverdict_probes::MIN_TIMEOUT_MS.into())
        );
        assert_eq!(
            PROBE_TIMEOUT.max,
            ms(netverdict_probes::MAX_TIMEOUT_MS.into())
        );
    }
}
