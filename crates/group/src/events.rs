//! What the group machines share with their driver: their settings, the events
//! they emit, and the state they report.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::coordinator::{CommitResult, FetchResult};
use crate::error::GroupError;
use crate::{OpId, Strategy, TopicPartition};

/// What a group machine needs to know; see `ConsumerConfig` for each setting's
/// librdkafka name and default.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    /// `group.id`.
    pub group_id: Arc<str>,
    /// `group.instance.id`: makes this a static member.
    pub instance_id: Option<Arc<str>>,
    /// The topics to consume.
    pub topics: Vec<String>,
    /// `partition.assignment.strategy`, in preference order (classic only).
    pub strategies: Vec<Strategy>,
    /// `group.remote.assignor` (next-generation protocol only).
    pub remote_assignor: Option<Arc<str>>,
    /// `session.timeout.ms` (classic only).
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (classic only; the broker sets it otherwise).
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`; also the rebalance timeout.
    pub max_poll_interval: Duration,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `default.api.timeout.ms`: how long commits and lookups keep retrying.
    pub op_timeout: Duration,
    /// `client.rack`.
    pub rack: Option<Arc<str>>,
}

/// What a group machine tells its driver.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum GroupEvent {
    /// Start consuming these partitions (look up their committed offsets first).
    Assigned(Vec<TopicPartition>),
    /// Stop consuming these partitions; unless `lost`, commit what the application
    /// finished; then call `revoke_done`. Lost partitions may already belong to
    /// another member, so committing them would fail or do harm.
    Revoke {
        /// The partitions to give up.
        partitions: Vec<TopicPartition>,
        /// The membership they were held under is gone.
        lost: bool,
    },
    /// (Classic leader) Look up how many partitions these topics have and call
    /// `handle_partition_counts`.
    NeedPartitionCounts(Vec<String>),
    /// (Next-generation protocol) Look up the names of these topic ids and call
    /// `handle_topic_names`.
    NeedTopicNames(Vec<Uuid>),
    /// A commit finished.
    CommitDone(OpId, CommitResult),
    /// A committed-offset lookup finished.
    OffsetsFetched(OpId, FetchResult),
    /// The application did not poll within `max.poll.interval.ms`: the member left
    /// the group (its partitions are lost) and rejoins at the next poll.
    PollIntervalExceeded,
    /// The member cannot continue; the consumer must stop.
    Fatal(GroupError),
    /// `close` finished: the member left the group.
    Closed,
}

/// Where the membership stands (for observers and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// Looking up the coordinator or joining.
    Joining,
    /// Joined; the leader is computing (or the member awaits) the assignment.
    Syncing,
    /// Member of a generation with an assignment.
    Stable,
    /// Waiting for the driver to finish a revocation.
    Revoking,
    /// Out of the group after `max.poll.interval.ms`; rejoins on the next poll.
    Idle,
    /// Leaving the group (close).
    Leaving,
    /// Left for good.
    Closed,
    /// Failed for good.
    Failed,
}

/// A duration in whole milliseconds as Kafka's i32 fields take them (saturating).
pub(crate) fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}
