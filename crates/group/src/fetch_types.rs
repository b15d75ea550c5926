//! The fetcher's settings, requests, answers and errors.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flame_kafka_codec::{CodecError, KafkaCode};

use crate::records::AbortedTxn;
use crate::{NodeId, RequestId, TopicPartition};

/// `isolation.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// `read_committed`: only committed transactional records (the default here, as
    /// in librdkafka).
    ReadCommitted,
    /// `read_uncommitted`: everything, aborted transactions included.
    ReadUncommitted,
}

impl Isolation {
    /// The wire value (0 uncommitted, 1 committed).
    pub fn code(self) -> i8 {
        match self {
            Isolation::ReadUncommitted => 0,
            Isolation::ReadCommitted => 1,
        }
    }
}

/// `auto.offset.reset`: where to start without a committed offset, or when the
/// position is out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// `earliest`: the oldest available record.
    Earliest,
    /// `latest`: only records written from now on.
    Latest,
    /// `error`: report [`FetchError::OffsetOutOfRange`] (or
    /// [`FetchError::LogTruncation`]) and stop the partition.
    Error,
}

/// The fetcher's settings (see `ConsumerConfig` for names and defaults).
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// `fetch.min.bytes`.
    pub min_bytes: i32,
    /// `fetch.wait.max.ms`.
    pub max_wait: Duration,
    /// `fetch.max.bytes`.
    pub max_bytes: i32,
    /// `max.partition.fetch.bytes`.
    pub partition_max_bytes: i32,
    /// `queued.max.messages.kbytes` × 1024.
    pub max_buffered_bytes: usize,
    /// `isolation.level`.
    pub isolation: Isolation,
    /// `auto.offset.reset`.
    pub offset_reset: OffsetReset,
    /// `check.crcs`.
    pub check_crcs: bool,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `client.rack`: sent with every Fetch, so that a broker configured with a
    /// `replica.selector.class` can name a replica in this rack to read from
    /// (KIP-392). `None`: always read from the leader.
    pub rack: Option<Arc<str>>,
    /// How long a replica the leader named stays the one to read from before the
    /// leader is asked again (`metadata.max.age.ms`, as the Java client does).
    pub read_replica_ttl: Duration,
}

/// A partition-level problem the application should hear about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// No valid position and `auto.offset.reset=error`; the partition is stopped.
    #[error("{tp}: offset {offset} is out of range (auto.offset.reset=error)")]
    OffsetOutOfRange {
        /// The partition.
        tp: TopicPartition,
        /// The offset that was out of range (-1: there was no committed offset).
        offset: i64,
    },
    /// The broker refused the partition for good (e.g. `TOPIC_AUTHORIZATION_FAILED`);
    /// it is stopped.
    #[error("{tp}: {code}")]
    Partition {
        /// The partition.
        tp: TopicPartition,
        /// The error.
        code: KafkaCode,
    },
    /// The partition's log was truncated below the position (the leader's log
    /// diverged from what was read, after an unclean leader election: KIP-320) and
    /// `auto.offset.reset=error`; the partition is stopped. Records from
    /// `divergence_offset` up to `position` that were read may no longer exist, or
    /// exist with other contents; seeking to `divergence_offset` reads the leader's
    /// log from where it diverged.
    #[error(
        "{tp}: log truncation detected at position {position}: the leader's log diverges \
         from offset {divergence_offset} (leader epoch {divergence_epoch}; \
         auto.offset.reset=error)"
    )]
    LogTruncation {
        /// The partition.
        tp: TopicPartition,
        /// The position (next offset to read) when the truncation was detected.
        position: i64,
        /// The first offset where the leader's log may differ from what was read.
        divergence_offset: i64,
        /// The last leader epoch both logs agree on.
        divergence_epoch: i32,
    },
    /// Fetched data could not be decoded (CRC mismatch, corrupt batch); the fetch
    /// is retried after `retry.backoff.ms`.
    #[error("{tp} at offset {offset}: {error}")]
    Corrupt {
        /// The partition.
        tp: TopicPartition,
        /// The position fetched from.
        offset: i64,
        /// What the decoder said.
        error: CodecError,
    },
}

/// One partition's part of a Fetch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartitionPlan {
    /// The partition.
    pub tp: TopicPartition,
    /// The offset to read from.
    pub offset: i64,
    /// The leader epoch we believe current (-1: unknown).
    pub current_leader_epoch: i32,
    /// The partition leader epoch of the last record batch read before `offset`
    /// (of the committed offset, after a commit was read), sent from Fetch v12 on
    /// so the broker can detect a diverged log (KIP-320); -1: unknown.
    pub last_fetched_epoch: i32,
}

/// A request for the driver to send to `node`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutgoing {
    /// A Fetch.
    Fetch {
        /// Pass back with the answer.
        id: RequestId,
        /// The leader to send to.
        node: NodeId,
        /// The partitions, in order.
        partitions: Vec<FetchPartitionPlan>,
    },
    /// A ListOffsets, per partition `(tp, timestamp, current leader epoch)` where the
    /// timestamp is -2 (earliest) or -1 (latest).
    ListOffsets {
        /// Pass back with the answer.
        id: RequestId,
        /// The leader to send to.
        node: NodeId,
        /// The partitions.
        partitions: Vec<(TopicPartition, i64, i32)>,
    },
}

/// One partition of a Fetch answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPartition {
    /// The partition.
    pub tp: TopicPartition,
    /// Its error, if any.
    pub error: Option<KafkaCode>,
    /// Aborted transactions in the returned range (read_committed).
    pub aborted: Vec<AbortedTxn>,
    /// The record batches.
    pub records: Bytes,
    /// The replica the leader wants this partition read from (KIP-392), if any.
    pub preferred_read_replica: Option<NodeId>,
    /// The leader's log diverges from the `last_fetched_epoch` sent (KIP-320): its
    /// last epoch at or below that one, and where that epoch ends. No records come
    /// with it.
    pub diverging_epoch: Option<DivergingEpoch>,
}

/// A Fetch answer's `diverging_epoch` (Fetch v12+, KIP-320): the largest leader
/// epoch of the leader's log not above the `last_fetched_epoch` sent, and the
/// offset where it ends there (the first offset of the next epoch, or the log end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DivergingEpoch {
    /// The leader epoch.
    pub epoch: i32,
    /// Where that epoch ends in the leader's log (exclusive).
    pub end_offset: i64,
}
