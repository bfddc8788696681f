//! Settings shared by both backends, validated once at construction.

use std::time::Duration;

use crate::{Error, Result};

#[derive(Clone, Debug)]
pub struct StreamsConfig {
    /// Prefix of every Redis key, so that several deployments can share one
    /// Redis. It must not contain `{` or `}`, because the hash tag after it
    /// decides the Cluster slot.
    pub key_prefix: String,
    /// Time a delivery may stay unacked before another consumer may reclaim
    /// it. It must exceed the longest time a consumer works on one delivery
    /// without calling `Consumer::extend`, such as the SES call timeout.
    pub delivery_lease: Duration,
    /// Deliveries after which reclaiming an entry moves it to the dead
    /// letters instead of handing it out again.
    pub max_deliveries: u32,
    /// Upper bound of the `block` argument of `Consumer::read`; longer waits
    /// are cut to it. Redis blocking connections wait for a reply this long
    /// plus `command_timeout`.
    pub max_block: Duration,
    /// Redis only: response timeout of every non-blocking command.
    pub command_timeout: Duration,
    /// Redis only: time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Redis only: retries after a failed connection attempt, at first and
    /// on reconnect, waiting about 1 s before the first and 2 s before each
    /// later one.
    pub connect_retries: usize,
    /// Redis only: time a promoter holds the due jobs it claimed before
    /// another promoter may claim them again. It only matters when a promoter
    /// dies between claiming jobs and publishing them.
    pub promotion_lease: Duration,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        Self {
            key_prefix: "wraps".to_owned(),
            delivery_lease: Duration::from_secs(60),
            max_deliveries: 5,
            max_block: Duration::from_secs(5),
            command_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            connect_retries: 2,
            promotion_lease: Duration::from_secs(30),
        }
    }
}

impl StreamsConfig {
    /// Rejects settings that would corrupt the key layout or disable leases.
    /// The message names the setting.
    pub fn validate(&self) -> Result<()> {
        if self.key_prefix.is_empty() {
            return invalid("key_prefix must not be empty");
        }
        if self.key_prefix.contains(['{', '}']) {
            return invalid(format!(
                "key_prefix {:?} must not contain '{{' or '}}'",
                self.key_prefix
            ));
        }
        if self.delivery_lease < Duration::from_millis(1) {
            return invalid("delivery_lease must be at least 1 ms");
        }
        if self.max_deliveries == 0 {
            return invalid("max_deliveries must be at least 1");
        }
        if self.command_timeout.is_zero() {
            return invalid("command_timeout must be greater than zero");
        }
        if self.connect_timeout.is_zero() {
            return invalid("connect_timeout must be greater than zero");
        }
        if self.promotion_lease < Duration::from_millis(1) {
            return invalid("promotion_lease must be at least 1 ms");
        }
        Ok(())
    }
}

fn invalid(message: impl Into<String>) -> Result<()> {
    Err(Error::InvalidConfig(message.into()))
}

/// Converts a duration to whole milliseconds for Redis, rounding up so that a
/// short non-zero duration never becomes 0 (which Redis reads as "forever"
/// for BLOCK and rejects for PX).
pub(crate) fn millis_ceil(duration: Duration) -> u64 {
    let millis = duration.as_millis();
    let rounded = if duration.as_nanos() % 1_000_000 == 0 {
        millis
    } else {
        millis + 1
    };
    u64::try_from(rounded).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert!(StreamsConfig::default().validate().is_ok());
    }

    #[test]
    fn prefix_with_brace_is_rejected() {
        let config = StreamsConfig {
            key_prefix: "wr{aps".to_owned(),
            ..StreamsConfig::default()
        };

        let error = config.validate().unwrap_err().to_string();

        assert!(error.contains("key_prefix"), "{error}");
    }

    #[test]
    fn zero_max_deliveries_is_rejected() {
        let config = StreamsConfig {
            max_deliveries: 0,
            ..StreamsConfig::default()
        };

        assert!(config.validate().is_err());
    }

    #[test]
    fn millis_ceil_rounds_partial_millisecond_up() {
        assert_eq!(millis_ceil(Duration::ZERO), 0);
        assert_eq!(millis_ceil(Duration::from_micros(1)), 1);
        assert_eq!(millis_ceil(Duration::from_millis(250)), 250);
        assert_eq!(millis_ceil(Duration::from_micros(250_001)), 251);
    }
}
