//! The producer's typed settings. Each field names the librdkafka property it
//! matches and its default; parsing librdkafka-style strings into this struct is the
//! `flame-kafka` crate's job.

use std::time::Duration;

use flame_kafka_codec::Compression;

use crate::partitioner::Partitioner;

/// How many replicas must have a batch before the broker answers (`acks`, alias
/// `request.required.acks`; default `all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Acks {
    /// `acks=0`: no answer at all; a record counts as delivered once written to the
    /// socket, and its offset is reported as -1.
    None,
    /// `acks=1`: the partition leader has written it.
    Leader,
    /// `acks=all` (`-1`): every in-sync replica has it.
    #[default]
    All,
}

impl Acks {
    /// The value of the `acks` field of a Produce request.
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// A setting, or a combination of settings, the producer cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `enable.idempotence=true` was set explicitly together with `acks` other than
    /// `all`.
    #[error("enable.idempotence=true requires acks=all (acks is {acks:?})")]
    IdempotenceNeedsAcksAll {
        /// The `acks` setting in force.
        acks: Acks,
    },
    /// `enable.idempotence=true` was set explicitly together with more than 5
    /// requests in flight per connection (brokers remember 5 batches per producer).
    #[error("enable.idempotence=true requires max.in.flight.requests.per.connection <= 5 (it is {max_in_flight})")]
    IdempotenceMaxInFlight {
        /// The `max.in.flight.requests.per.connection` setting in force.
        max_in_flight: usize,
    },
    /// `enable.idempotence=true` was set explicitly together with `retries=0`.
    #[error("enable.idempotence=true requires retries > 0")]
    IdempotenceNeedsRetries,
    /// A numeric setting is outside the range the producer accepts.
    #[error("`{key}` is {value}, outside {min}..={max}")]
    OutOfRange {
        /// The librdkafka name of the setting.
        key: &'static str,
        /// The value given.
        value: u64,
        /// The smallest value accepted.
        min: u64,
        /// The largest value accepted.
        max: u64,
    },
}

/// Everything the producer can be told. `Default` gives librdkafka's defaults
/// (except `enable.idempotence`, which defaults to on as in the Java client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    /// `acks` (alias `request.required.acks`): default [`Acks::All`].
    pub acks: Acks,
    /// `enable.idempotence`: producer id plus per-partition sequence numbers, so a
    /// retried batch is never written twice. `None` (the default) means on unless
    /// other settings conflict (`acks` other than all,
    /// `max.in.flight.requests.per.connection` above 5, `retries=0`), in which case it
    /// is quietly off, as in the Java client. `Some(true)` with a conflict is a
    /// [`ConfigError`].
    pub enable_idempotence: Option<bool>,
    /// `linger.ms` (alias `queue.buffering.max.ms`): how long a partition's first
    /// queued record waits for more before its batch is sent. Default 5 ms.
    pub linger: Duration,
    /// `batch.size`: largest batch in bytes (before compression). Default 1,000,000.
    pub batch_size: usize,
    /// `batch.num.messages`: largest batch in records. Default 10,000.
    pub batch_num_messages: usize,
    /// `queue.buffering.max.messages`: most records held by the producer (queued,
    /// batched or in flight); `send` waits while full. Default 100,000.
    pub queue_buffering_max_messages: usize,
    /// `queue.buffering.max.kbytes` (Java: `buffer.memory`): most kilobytes held by
    /// the producer; `send` waits while full. Default 1,048,576 (1 GiB).
    pub queue_buffering_max_kbytes: usize,
    /// `compression.type` (alias `compression.codec`): default none.
    pub compression: Compression,
    /// `compression.level`: `None` (librdkafka's `-1`) is the codec's default.
    /// Only gzip has levels here (0–9).
    pub compression_level: Option<u32>,
    /// `message.timeout.ms` (Java: `delivery.timeout.ms`): time from `send` to the
    /// delivery report, retries and waiting for room included; then the record fails
    /// with a timeout. `Duration::ZERO` means no limit (as in librdkafka). Default
    /// 300 s.
    pub message_timeout: Duration,
    /// `retries` (alias `message.send.max.retries`): how often a failed batch is sent
    /// again, within `message.timeout.ms`. Default `i32::MAX`.
    pub retries: u32,
    /// `retry.backoff.ms`: the wait before the first retry of a batch; it doubles per
    /// retry up to `retry_backoff_max`. Default 100 ms.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`: upper bound of the retry backoff. Default 1000 ms.
    pub retry_backoff_max: Duration,
    /// `max.in.flight.requests.per.connection` (alias `max.in.flight`): Produce
    /// requests awaiting an answer per broker. Default 5.
    pub max_in_flight: usize,
    /// `message.max.bytes` (Java: `max.request.size`): largest record, and largest
    /// batch, in bytes. Default 1,000,000.
    pub message_max_bytes: usize,
    /// Largest Produce request, in bytes of batches (uncompressed estimate); one
    /// batch is always allowed. No librdkafka property (librdkafka sends one
    /// partition per request). Default 10 MiB.
    pub request_max_bytes: usize,
    /// `request.timeout.ms`: how long the broker may wait for replicas before
    /// answering a Produce request (its `timeout_ms` field). Default 30 s.
    pub request_timeout: Duration,
    /// `partitioner`: default [`Partitioner::ConsistentRandom`] (librdkafka's).
    pub partitioner: Partitioner,
    /// `sticky.partitioning.linger.ms`: how long records without a key stick to one
    /// random partition under the librdkafka partitioners (0: a random partition per
    /// record). The [`Partitioner::Java`] partitioner sticks per batch instead.
    /// Default 10 ms.
    pub sticky_partitioning_linger: Duration,
    /// `topic.metadata.propagation.max.ms`: how long a topic the brokers call unknown
    /// is waited for (new topics take a moment to reach every broker) before its
    /// records fail with an unknown-topic error. Default 30 s.
    pub topic_metadata_propagation_max: Duration,
    /// `flame.flush.timeout.ms`: when the last handle is dropped without `close`,
    /// how long the driver keeps delivering what is queued. Default 10 s.
    pub drop_flush_timeout: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            acks: Acks::All,
            enable_idempotence: None,
            linger: Duration::from_millis(5),
            batch_size: 1_000_000,
            batch_num_messages: 10_000,
            queue_buffering_max_messages: 100_000,
            queue_buffering_max_kbytes: 1_048_576,
            compression: Compression::None,
            compression_level: None,
            message_timeout: Duration::from_secs(300),
            retries: i32::MAX as u32,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
            max_in_flight: 5,
            message_max_bytes: 1_000_000,
            request_max_bytes: 10 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            partitioner: Partitioner::ConsistentRandom,
            sticky_partitioning_linger: Duration::from_millis(10),
            topic_metadata_propagation_max: Duration::from_secs(30),
            drop_flush_timeout: Duration::from_secs(10),
        }
    }
}

/// The most requests in flight per broker an idempotent producer may have: brokers
/// remember the last 5 batches of each producer and partition.
pub const IDEMPOTENT_MAX_IN_FLIGHT: usize = 5;

impl ProducerConfig {
    /// Checks the settings and decides whether the producer is idempotent.
    ///
    /// # Errors
    /// [`ConfigError`] when idempotence was asked for explicitly but other settings
    /// forbid it, or a number is out of range.
    pub fn idempotence(&self) -> Result<bool, ConfigError> {
        self.check_ranges()?;
        let conflict = if self.acks != Acks::All {
            Some(ConfigError::IdempotenceNeedsAcksAll { acks: self.acks })
        } else if self.max_in_flight > IDEMPOTENT_MAX_IN_FLIGHT {
            Some(ConfigError::IdempotenceMaxInFlight {
                max_in_flight: self.max_in_flight,
            })
        } else if self.retries == 0 {
            Some(ConfigError::IdempotenceNeedsRetries)
        } else {
            None
        };
        match (self.enable_idempotence, conflict) {
            (Some(false), _) => Ok(false),
            (Some(true), Some(conflict)) => Err(conflict),
            (None, Some(_)) => Ok(false),
            (Some(true) | None, None) => Ok(true),
        }
    }

    /// The largest batch in bytes: `batch.size` capped by `message.max.bytes`.
    pub(crate) fn max_batch_bytes(&self) -> usize {
        self.batch_size.min(self.message_max_bytes)
    }

    /// `queue.buffering.max.kbytes` in bytes.
    pub(crate) fn max_queued_bytes(&self) -> usize {
        self.queue_buffering_max_kbytes.saturating_mul(1024)
    }

    fn check_ranges(&self) -> Result<(), ConfigError> {
        let checks: [(&'static str, usize, usize, usize); 7] = [
            ("batch.size", self.batch_size, 1, i32::MAX as usize),
            ("batch.num.messages", self.batch_num_messages, 1, 1_000_000),
            (
                "queue.buffering.max.messages",
                self.queue_buffering_max_messages,
                1,
                i32::MAX as usize,
            ),
            (
                "queue.buffering.max.kbytes",
                self.queue_buffering_max_kbytes,
                1,
                i32::MAX as usize,
            ),
            (
                "max.in.flight.requests.per.connection",
                self.max_in_flight,
                1,
                1_000_000,
            ),
            (
                "message.max.bytes",
                self.message_max_bytes,
                1000,
                1_000_000_000,
            ),
            (
                "request_max_bytes",
                self.request_max_bytes,
                1,
                i32::MAX as usize,
            ),
        ];
        for (key, value, min, max) in checks {
            if !(min..=max).contains(&value) {
                return Err(ConfigError::OutOfRange {
                    key,
                    value: value as u64,
                    min: min as u64,
                    max: max as u64,
                });
            }
        }
        let durations: [(&'static str, Duration, u64, u64); 8] = [
            ("linger.ms", self.linger, 0, 900_000),
            (
                "message.timeout.ms",
                self.message_timeout,
                0,
                i32::MAX as u64,
            ),
            ("retry.backoff.ms", self.retry_backoff, 1, 300_000),
            ("retry.backoff.max.ms", self.retry_backoff_max, 1, 300_000),
            (
                "request.timeout.ms",
                self.request_timeout,
                1,
                i32::MAX as u64,
            ),
            (
                "sticky.partitioning.linger.ms",
                self.sticky_partitioning_linger,
                0,
                900_000,
            ),
            (
                "topic.metadata.propagation.max.ms",
                self.topic_metadata_propagation_max,
                0,
                i32::MAX as u64,
            ),
            (
                "flame.flush.timeout.ms",
                self.drop_flush_timeout,
                0,
                i32::MAX as u64,
            ),
        ];
        for (key, value, min, max) in durations {
            let ms = u64::try_from(value.as_millis()).unwrap_or(u64::MAX);
            if !(min..=max).contains(&ms) {
                return Err(ConfigError::OutOfRange {
                    key,
                    value: ms,
                    min,
                    max,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_librdkafkas() {
        let c = ProducerConfig::default();
        assert_eq!(c.idempotence(), Ok(true));
        assert_eq!(c.acks.as_i16(), -1);
        assert_eq!(c.max_batch_bytes(), 1_000_000);
        assert_eq!(c.max_queued_bytes(), 1 << 30);
    }

    #[test]
    fn implicit_idempotence_yields_to_conflicts() {
        let c = ProducerConfig {
            acks: Acks::Leader,
            ..ProducerConfig::default()
        };
        assert_eq!(c.idempotence(), Ok(false));
        let c = ProducerConfig {
            max_in_flight: 6,
            ..ProducerConfig::default()
        };
        assert_eq!(c.idempotence(), Ok(false));
    }

    #[test]
    fn explicit_idempotence_with_conflicts_is_an_error() {
        let c = ProducerConfig {
            acks: Acks::None,
            enable_idempotence: Some(true),
            ..ProducerConfig::default()
        };
        assert_eq!(
            c.idempotence(),
            Err(ConfigError::IdempotenceNeedsAcksAll { acks: Acks::None })
        );
        let c = ProducerConfig {
            retries: 0,
            enable_idempotence: Some(true),
            ..ProducerConfig::default()
        };
        assert_eq!(c.idempotence(), Err(ConfigError::IdempotenceNeedsRetries));
        let c = ProducerConfig {
            enable_idempotence: Some(false),
            ..ProducerConfig::default()
        };
        assert_eq!(c.idempotence(), Ok(false));
    }

    #[test]
    fn durations_are_bounded() {
        let c = ProducerConfig {
            linger: Duration::MAX,
            ..ProducerConfig::default()
        };
        assert!(matches!(
            c.idempotence(),
            Err(ConfigError::OutOfRange {
                key: "linger.ms",
                ..
            })
        ));
    }

    #[test]
    fn ranges_are_checked() {
        let c = ProducerConfig {
            batch_num_messages: 0,
            ..ProducerConfig::default()
        };
        let err = c.idempotence().unwrap_err();
        assert!(err.to_string().contains("batch.num.messages"), "{err}");
    }
}
