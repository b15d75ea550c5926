//! The producer's error type, [`ProduceError`], and what `flush`/`close` report,
//! [`FlushError`].

use std::fmt;
use std::time::Duration;

use flame_kafka_codec::{CodecError, KafkaCode};

use crate::config::ConfigError;
use crate::ClusterError;

/// Why a record was not delivered (or could not be queued). Every variant that
/// concerns a record names its topic, and its partition once one was chosen.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// The partition leader refused the batch holding the record (the error code
    /// of the partition in the Produce response, e.g. `TOPIC_AUTHORIZATION_FAILED`,
    /// `INVALID_RECORD`), once retries could not help. A batch refused as too large
    /// is split instead; a record too large on its own is
    /// [`ProduceError::RecordTooLargeForBroker`].
    #[error("{topic}[{partition}]: broker refused the batch: {code:?} ({}){}", code.name(), fmt_message(message))]
    Broker {
        /// The record's topic.
        topic: String,
        /// The record's partition.
        partition: i32,
        /// The error code.
        code: KafkaCode,
        /// The broker's error message, when it sent one.
        message: Option<String>,
    },
    /// The topic's metadata carries an error other than "unknown topic" (e.g.
    /// `TOPIC_AUTHORIZATION_FAILED`, `INVALID_TOPIC_EXCEPTION`), so no partition can
    /// be chosen.
    #[error("topic `{topic}`: metadata error {code:?} ({})", code.name())]
    TopicMetadata {
        /// The topic.
        topic: String,
        /// The error code the metadata carried.
        code: KafkaCode,
    },
    /// Talking to the cluster failed (connection lost, request timed out, no broker
    /// reachable), once retries could not help.
    #[error("{}: {source}", fmt_context(topic.as_deref(), *partition))]
    Cluster {
        /// The record's topic, when the failure concerns records.
        topic: Option<String>,
        /// The record's partition, when known.
        partition: Option<i32>,
        /// What the cluster layer reported.
        #[source]
        source: Box<ClusterError>,
    },
    /// The batch could not be encoded (compression failed).
    #[error("{topic}[{partition}]: cannot encode the batch: {source}")]
    Codec {
        /// The record's topic.
        topic: String,
        /// The record's partition.
        partition: i32,
        /// What the codec reported.
        #[source]
        source: CodecError,
    },
    /// The topic does not exist: the brokers kept saying so for
    /// `topic.metadata.propagation.max.ms`.
    #[error("topic `{topic}` does not exist")]
    UnknownTopic {
        /// The topic.
        topic: String,
    },
    /// The record names a partition the topic does not have.
    #[error("topic `{topic}` has no partition {partition} (it has {partition_count})")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// How many partitions the topic has.
        partition_count: i32,
    },
    /// The record is larger than `message.max.bytes` (or than the whole queue,
    /// `queue.buffering.max.kbytes`), so no batch can hold it.
    #[error("record for `{topic}` of {size} bytes exceeds the maximum of {max} bytes (message.max.bytes)")]
    RecordTooLarge {
        /// The topic.
        topic: String,
        /// The record's encoded size (an upper bound).
        size: usize,
        /// The limit in force.
        max: usize,
    },
    /// The partition leader refused the record as too large even in a batch of its
    /// own (`MESSAGE_TOO_LARGE`: larger than the topic's `max.message.bytes` or the
    /// broker's `message.max.bytes`; `RECORD_LIST_TOO_LARGE`: larger than the
    /// topic's `segment.bytes`). Batches of several records refused so are split
    /// and sent again; only a single record ends here.
    #[error("{topic}[{partition}]: the broker refused the record as too large: {code:?} ({}); record {record_size} bytes, batch of this one record {batch_size} bytes as sent (the topic's max.message.bytes or the broker's message.max.bytes is smaller){}", code.name(), fmt_message(message))]
    RecordTooLargeForBroker {
        /// The record's topic.
        topic: String,
        /// The record's partition.
        partition: i32,
        /// The record's encoded size (an upper bound, before compression).
        record_size: usize,
        /// The size of the batch holding only this record, as sent (batch header
        /// included, after compression): what the broker compared with its limit.
        batch_size: usize,
        /// `MESSAGE_TOO_LARGE` or `RECORD_LIST_TOO_LARGE`.
        code: KafkaCode,
        /// The broker's error message, when it sent one.
        message: Option<String>,
    },
    /// The record was not delivered within `message.timeout.ms`.
    #[error("{}: not delivered within {timeout:?} (message.timeout.ms){}", fmt_context(Some(topic), *partition), fmt_last(last_error.as_deref()))]
    Timeout {
        /// The record's topic.
        topic: String,
        /// The record's partition, once one was chosen.
        partition: Option<i32>,
        /// The timeout in force.
        timeout: Duration,
        /// The error of the last failed attempt, if the record was sent and failed.
        last_error: Option<Box<ProduceError>>,
    },
    /// `send` waited `message.timeout.ms` for room in the queue
    /// (`queue.buffering.max.messages` / `queue.buffering.max.kbytes`) in vain.
    #[error("queue full: no room for a record for `{topic}` within {waited:?}")]
    QueueFull {
        /// The topic of the record that could not be queued.
        topic: String,
        /// How long `send` waited.
        waited: Duration,
    },
    /// The broker refused to give this producer an id (InitProducerId), so an
    /// idempotent producer cannot send (e.g. `CLUSTER_AUTHORIZATION_FAILED`, which
    /// means the IdempotentWrite permission is missing).
    #[error("InitProducerId failed: {code:?} ({})", code.name())]
    ProducerId {
        /// The error code of the InitProducerId response.
        code: KafkaCode,
    },
    /// The settings are invalid.
    #[error("invalid producer configuration: {0}")]
    Config(#[from] ConfigError),
    /// The producer was closed (or its driver task ended) before the record was
    /// delivered.
    #[error("the producer is closed")]
    Closed,
    /// `Producer::new` was called outside a tokio runtime.
    #[error("the producer needs a tokio runtime (Producer::new was called outside one)")]
    NoRuntime,
    /// The broker's Produce response did not mention the record's partition.
    #[error("{topic}[{partition}]: the produce response did not mention this partition")]
    MissingPartitionResponse {
        /// The record's topic.
        topic: String,
        /// The record's partition.
        partition: i32,
    },
}

impl ProduceError {
    /// Whether sending the record again may succeed: Kafka's retriable codes,
    /// transport failures, timeouts and a full queue. The producer has already
    /// retried within `message.timeout.ms` when it reports an error.
    pub fn is_retriable(&self) -> bool {
        match self {
            ProduceError::Broker { code, .. }
            | ProduceError::TopicMetadata { code, .. }
            | ProduceError::ProducerId { code } => code.is_retriable(),
            ProduceError::RecordTooLargeForBroker { .. } => false,
            ProduceError::Cluster { source, .. } => source.is_retriable(),
            ProduceError::Codec { source, .. } => source.is_retriable(),
            ProduceError::Timeout { .. }
            | ProduceError::QueueFull { .. }
            | ProduceError::MissingPartitionResponse { .. } => true,
            ProduceError::UnknownTopic { .. }
            | ProduceError::UnknownPartition { .. }
            | ProduceError::RecordTooLarge { .. }
            | ProduceError::Config(_)
            | ProduceError::Closed
            | ProduceError::NoRuntime => false,
        }
    }

    /// The Kafka error code behind this error, if a broker sent one.
    pub fn kafka_code(&self) -> Option<KafkaCode> {
        match self {
            ProduceError::Broker { code, .. }
            | ProduceError::RecordTooLargeForBroker { code, .. }
            | ProduceError::TopicMetadata { code, .. }
            | ProduceError::ProducerId { code } => Some(*code),
            ProduceError::Timeout { last_error, .. } => last_error.as_ref()?.kafka_code(),
            _ => None,
        }
    }

    /// The topic the error concerns, if it concerns records.
    pub fn topic(&self) -> Option<&str> {
        match self {
            ProduceError::Broker { topic, .. }
            | ProduceError::RecordTooLargeForBroker { topic, .. }
            | ProduceError::TopicMetadata { topic, .. }
            | ProduceError::Codec { topic, .. }
            | ProduceError::UnknownTopic { topic }
            | ProduceError::UnknownPartition { topic, .. }
            | ProduceError::RecordTooLarge { topic, .. }
            | ProduceError::Timeout { topic, .. }
            | ProduceError::QueueFull { topic, .. }
            | ProduceError::MissingPartitionResponse { topic, .. } => Some(topic),
            ProduceError::Cluster { topic, .. } => topic.as_deref(),
            ProduceError::ProducerId { .. }
            | ProduceError::Config(_)
            | ProduceError::Closed
            | ProduceError::NoRuntime => None,
        }
    }

    /// The partition the error concerns, once one was chosen.
    pub fn partition(&self) -> Option<i32> {
        match self {
            ProduceError::Broker { partition, .. }
            | ProduceError::RecordTooLargeForBroker { partition, .. }
            | ProduceError::Codec { partition, .. }
            | ProduceError::UnknownPartition { partition, .. }
            | ProduceError::MissingPartitionResponse { partition, .. } => Some(*partition),
            ProduceError::Cluster { partition, .. } | ProduceError::Timeout { partition, .. } => {
                *partition
            }
            _ => None,
        }
    }
}

/// What `flush` or `close` could not deliver.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} record(s) failed{}", failures.len(), if *undelivered > 0 { format!(", {undelivered} still undelivered when the wait ended") } else { String::new() })]
pub struct FlushError {
    /// The records that failed while flushing, one error each (each names its topic
    /// and partition); their delivery futures report the same errors.
    pub failures: Vec<ProduceError>,
    /// Records still undelivered when the wait ended (`close` with a timeout; 0 for
    /// `flush`, which waits until every record has an outcome).
    pub undelivered: usize,
}

fn fmt_context(topic: Option<&str>, partition: Option<i32>) -> String {
    match (topic, partition) {
        (Some(t), Some(p)) => format!("{t}[{p}]"),
        (Some(t), None) => format!("`{t}`"),
        (None, _) => "cluster".to_owned(),
    }
}

fn fmt_message(message: &Option<String>) -> String {
    message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

fn fmt_last(last: Option<&ProduceError>) -> impl fmt::Display + '_ {
    struct Last<'a>(Option<&'a ProduceError>);
    impl fmt::Display for Last<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                Some(e) => write!(f, "; last error: {e}"),
                None => Ok(()),
            }
        }
    }
    Last(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_and_context() {
        let e = ProduceError::Broker {
            topic: "t".into(),
            partition: 3,
            code: KafkaCode::NotLeaderOrFollower,
            message: None,
        };
        assert!(e.is_retriable());
        assert_eq!(e.topic(), Some("t"));
        assert_eq!(e.partition(), Some(3));
        assert!(e.to_string().contains("t[3]"), "{e}");
        assert!(e.to_string().contains("NOT_LEADER_OR_FOLLOWER"), "{e}");
        let t = ProduceError::Timeout {
            topic: "t".into(),
            partition: Some(3),
            timeout: Duration::from_secs(1),
            last_error: Some(Box::new(e)),
        };
        assert!(t.is_retriable());
        assert_eq!(t.kafka_code(), Some(KafkaCode::NotLeaderOrFollower));
        assert!(t.to_string().contains("last error"), "{t}");
        let auth = ProduceError::Broker {
            topic: "t".into(),
            partition: 0,
            code: KafkaCode::TopicAuthorizationFailed,
            message: Some("denied".into()),
        };
        assert!(!auth.is_retriable());
        assert!(auth.to_string().ends_with(": denied"), "{auth}");
        assert!(!ProduceError::Closed.is_retriable());
    }

    #[test]
    fn too_large_for_broker_names_partition_and_sizes() {
        let e = ProduceError::RecordTooLargeForBroker {
            topic: "t".into(),
            partition: 2,
            record_size: 5_000,
            batch_size: 5_061,
            code: KafkaCode::MessageTooLarge,
            message: None,
        };
        assert!(!e.is_retriable());
        assert_eq!(e.kafka_code(), Some(KafkaCode::MessageTooLarge));
        assert_eq!((e.topic(), e.partition()), (Some("t"), Some(2)));
        let text = e.to_string();
        for part in ["t[2]", "MESSAGE_TOO_LARGE", "5000 bytes", "5061 bytes"] {
            assert!(text.contains(part), "{text}");
        }
    }

    #[test]
    fn flush_error_counts() {
        let e = FlushError {
            failures: vec![ProduceError::Closed],
            undelivered: 2,
        };
        assert_eq!(
            e.to_string(),
            "1 record(s) failed, 2 still undelivered when the wait ended"
        );
    }
}
