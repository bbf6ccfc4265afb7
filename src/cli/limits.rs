//! The bounds of every duration flag, written once: `cli` takes each flag's default and `--help`
//! text from here and parses with [`DurationFlag::parse`], so a value out of range is refused
//! with the flag and the value before anything connects. The upper bounds keep every deadline
//! the loops compute far from overflow and every lease TTL under etcd's maximum (9e9 s).

use std::time::Duration;

use crate::duration;

/// One duration flag: its name, default and accepted range (both ends included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationFlag {
    pub flag: &'static str,
    pub default: &'static str,
    pub min: Duration,
    pub max: Duration,
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

const HOUR: Duration = secs(3600);

/// `run`/`check` `--ttl`: the agent's lease. At least 2 s (keepalives run at TTL/3), at most an
/// hour (a dead agent's keys linger for the TTL).
pub const TTL: DurationFlag = DurationFlag {
    flag: "--ttl",
    default: "15s",
    min: secs(2),
    max: HOUR,
};

pub const HEALTH_INTERVAL: DurationFlag = DurationFlag {
    flag: "--health-interval",
    default: "5s",
    min: ms(100),
    max: HOUR,
};

/// The deadline of one probe (`run`, `check`) or of one re-check (`lbsync`).
pub const HEALTH_TIMEOUT: DurationFlag = DurationFlag {
    flag: "--health-timeout",
    default: "2s",
    min: ms(10),
    max: secs(60),
};

pub const RESYNC_INTERVAL: DurationFlag = DurationFlag {
    flag: "--resync-interval",
    default: "30s",
    min: secs(1),
    max: secs(24 * 3600),
};

/// lbsync's leadership lease: a standby takes over within about this long.
pub const ELECTION_TTL: DurationFlag = DurationFlag {
    flag: "--election-ttl",
    default: "10s",
    min: secs(2),
    max: HOUR,
};

pub const DEBOUNCE: DurationFlag = DurationFlag {
    flag: "--debounce",
    default: "50ms",
    min: Duration::ZERO,
    max: secs(10),
};

/// Every bounded duration flag (the property tests walk them).
pub const DRAIN_PERIOD: DurationFlag = DurationFlag {
    flag: "--drain-period",
    default: "0s",
    min: Duration::ZERO,
    max: HOUR,
};

pub const ALL: [DurationFlag; 7] = [
    TTL,
    HEALTH_INTERVAL,
    HEALTH_TIMEOUT,
    RESYNC_INTERVAL,
    ELECTION_TTL,
    DEBOUNCE,
    DRAIN_PERIOD,
];

impl DurationFlag {
    /// The accepted range as `--help` and the errors show it, e.g. `2s..=1h`.
    pub fn range(&self) -> String {
        format!(
            "{}..={}",
            duration::format(self.min),
            duration::format(self.max)
        )
    }

    /// `--help` text: `what` followed by the range.
    pub fn help(&self, what: &str) -> String {
        format!("{what} [range: {}]", self.range())
    }

    /// Parses and bounds-checks one value; the error names the value (clap adds the flag).
    pub fn parse(&self, input: &str) -> Result<Duration, String> {
        let d = duration::parse(input).map_err(|e| e.to_string())?;
        self.check(d).map_err(|why| format!("{input:?} is {why}"))
    }

    /// Whether `d` is in range; `Err` says which end it crosses.
    pub fn check(&self, d: Duration) -> Result<Duration, String> {
        if d < self.min {
            Err(format!(
                "below the minimum {} (range {})",
                duration::format(self.min),
                self.range()
            ))
        } else if d > self.max {
            Err(format!(
                "above the maximum {} (range {})",
                duration::format(self.max),
                self.range()
            ))
        } else {
            Ok(d)
        }
    }

    /// The default as a duration (the tests check that every default parses and is in range).
    pub fn default_value(&self) -> Duration {
        duration::parse(self.default).unwrap_or(self.min)
    }

    /// A clap value parser for this flag.
    pub fn parser(
        &'static self,
    ) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync {
        move |s: &str| self.parse(s)
    }
}

#[cfg(test)]
mod tests;
