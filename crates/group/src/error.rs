//! Errors of the sans-IO group machines.

use flame_kafka_codec::KafkaCode;

use crate::protocol::ProtocolError;

/// Why a group operation (membership, a commit, an offset lookup) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The coordinator refused with this error code.
    #[error("group coordinator refused: {0}")]
    Kafka(KafkaCode),
    /// The operation kept failing with retriable errors until its deadline
    /// (`default.api.timeout.ms`); `last` is the last error code seen, if any
    /// (none: the requests themselves failed or the coordinator was unreachable).
    #[error("group operation timed out (last error: {last:?})")]
    Timeout {
        /// The last Kafka error seen.
        last: Option<KafkaCode>,
    },
    /// The leader's assignment (or a member's subscription) could not be read.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The group agreed on an assignor this client does not implement.
    #[error("the group chose assignor {0:?}, which this client does not implement")]
    UnsupportedAssignor(String),
    /// `group.protocol=consumer` was configured but the broker does not implement
    /// the KIP-848 consumer group protocol (ConsumerGroupHeartbeat): use
    /// `group.protocol=classic`, or a broker with it enabled (Kafka 4.0+).
    #[error(
        "the broker does not support group.protocol=consumer (KIP-848); use group.protocol=classic"
    )]
    ConsumerProtocolUnsupported,
    /// The consumer left its group (closed), so the operation cannot run.
    #[error("the consumer has left its group")]
    Closed,
}

impl GroupError {
    /// Whether the same operation may succeed later: retriable Kafka errors, errors
    /// that a rejoin resolves (a rebalance, a stale generation), and timeouts.
    pub fn is_retriable(&self) -> bool {
        match self {
            GroupError::Kafka(code) => code.is_retriable() || rejoin_resolves(*code),
            GroupError::Timeout { .. } => true,
            _ => false,
        }
    }

    /// Whether this ends the consumer (it cannot continue in its group at all).
    pub fn is_fatal(&self) -> bool {
        match self {
            GroupError::Kafka(code) => is_fatal_code(*code),
            GroupError::Timeout { .. } | GroupError::Closed => false,
            _ => true,
        }
    }
}

/// Errors after which rejoining the group is the cure.
pub(crate) fn rejoin_resolves(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::RebalanceInProgress
            | KafkaCode::UnknownMemberId
            | KafkaCode::IllegalGeneration
            | KafkaCode::FencedMemberEpoch
            | KafkaCode::StaleMemberEpoch
    )
}

/// Codes that end membership for good: the configuration or the permissions are
/// wrong, or another instance took over our static identity.
pub(crate) fn is_fatal_code(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::FencedInstanceId
            | KafkaCode::GroupAuthorizationFailed
            | KafkaCode::InvalidGroupId
            | KafkaCode::InconsistentGroupProtocol
            | KafkaCode::InvalidSessionTimeout
            | KafkaCode::GroupMaxSizeReached
            | KafkaCode::UnsupportedVersion
            | KafkaCode::UnsupportedAssignor
            | KafkaCode::UnreleasedInstanceId
            | KafkaCode::InvalidRequest
            | KafkaCode::ClusterAuthorizationFailed
    )
}

/// Why a consumer operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// Group membership failed, or a commit or offset lookup could not complete.
    #[error(transparent)]
    Group(#[from] GroupError),
    /// Talking to the cluster failed for good (authentication, TLS, configuration).
    #[error(transparent)]
    Cluster(#[from] flame_kafka_cluster::ClusterError),
    /// A partition could not be consumed (see [`FetchError`](crate::FetchError)).
    #[error(transparent)]
    Fetch(#[from] crate::FetchError),
    /// The coordinator refused to commit this partition's offset.
    #[error("commit of {tp} refused: {code}")]
    Commit {
        /// The partition.
        tp: crate::TopicPartition,
        /// The error.
        code: KafkaCode,
    },
    /// A commit named a partition this consumer does not own (any more): a
    /// rebalance gave it to another member, whose progress a commit from here
    /// could overwrite. Nothing was sent.
    #[error("commit of {tp} not sent: the partition is not assigned to this consumer")]
    NotAssigned {
        /// The partition.
        tp: crate::TopicPartition,
    },
    /// The application did not poll within `max.poll.interval.ms`; the member left
    /// the group and lost its partitions, and is rejoining.
    #[error("max.poll.interval.ms exceeded: left the group, rejoining")]
    PollIntervalExceeded,
    /// A setting cannot work.
    #[error("invalid configuration `{key}`: {reason}")]
    Config {
        /// The librdkafka name of the setting.
        key: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `Consumer::new` was called outside a tokio runtime.
    #[error("the consumer needs a tokio runtime")]
    NoRuntime,
    /// The consumer was closed (or failed earlier with a fatal error, returned then).
    #[error("the consumer is closed")]
    Closed,
}

impl ConsumeError {
    /// Whether trying again (polling again, committing again) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            ConsumeError::Group(e) => e.is_retriable(),
            ConsumeError::Cluster(e) => e.is_retriable(),
            ConsumeError::Fetch(e) => matches!(e, crate::FetchError::Corrupt { .. }),
            ConsumeError::Commit { code, .. } => code.is_retriable() || rejoin_resolves(*code),
            ConsumeError::PollIntervalExceeded => true,
            ConsumeError::NotAssigned { .. }
            | ConsumeError::Config { .. }
            | ConsumeError::NoRuntime
            | ConsumeError::Closed => false,
        }
    }

    /// Whether the consumer has stopped: every later call fails.
    pub fn is_fatal(&self) -> bool {
        match self {
            ConsumeError::Group(e) => e.is_fatal(),
            ConsumeError::Cluster(e) => !e.is_retriable(),
            ConsumeError::Config { .. } | ConsumeError::NoRuntime | ConsumeError::Closed => true,
            _ => false,
        }
    }
}
