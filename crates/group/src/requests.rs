//! What the group machines ask their driver to send, and the answers they take back:
//! plain data, independent of protocol versions. The driver turns these into
//! kafka-protocol messages at the negotiated version and back.

use std::sync::Arc;

use bytes::Bytes;
use flame_kafka_codec::KafkaCode;
use uuid::Uuid;

use crate::{CommitOffset, NodeId, RequestId, TopicPartition};

/// Where a request must go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Any broker (FindCoordinator).
    AnyBroker,
    /// The group coordinator.
    Coordinator(NodeId),
}

/// A request for the driver to send, tagged for matching its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Pass back to `handle_response` / `handle_failure`.
    pub id: RequestId,
    /// Where to send it.
    pub target: Target,
    /// What to send.
    pub request: GroupRequest,
}

/// Who a member is in its group: what commits and heartbeats carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Classic: the generation id; next-generation protocol: the member epoch.
    pub generation: i32,
    /// The member id ("" before the first join).
    pub member_id: Arc<str>,
    /// `group.instance.id` of a static member.
    pub instance_id: Option<Arc<str>>,
}

/// A group-coordinator request, version-independent.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum GroupRequest {
    /// FindCoordinator for the group.
    FindCoordinator {
        /// The group id.
        group_id: Arc<str>,
    },
    /// JoinGroup.
    JoinGroup {
        /// The group id.
        group_id: Arc<str>,
        /// Who we are ("" member id on the first join).
        identity: Identity,
        /// `session.timeout.ms`.
        session_timeout_ms: i32,
        /// `max.poll.interval.ms`: how long the coordinator waits for members to rejoin.
        rebalance_timeout_ms: i32,
        /// `(assignor name, subscription metadata)` in preference order.
        protocols: Vec<(String, Bytes)>,
        /// Why we (re)join, for the broker log (v8+).
        reason: &'static str,
    },
    /// SyncGroup (the leader sends the assignments).
    SyncGroup {
        /// The group id.
        group_id: Arc<str>,
        /// Who we are.
        identity: Identity,
        /// The agreed assignor.
        protocol_name: String,
        /// `(member id, encoded assignment)`; empty from followers.
        assignments: Vec<(String, Bytes)>,
    },
    /// Heartbeat.
    Heartbeat {
        /// The group id.
        group_id: Arc<str>,
        /// Who we are.
        identity: Identity,
    },
    /// LeaveGroup.
    LeaveGroup {
        /// The group id.
        group_id: Arc<str>,
        /// Who we are.
        identity: Identity,
        /// Why we leave (v5+).
        reason: &'static str,
    },
    /// OffsetCommit.
    OffsetCommit {
        /// The group id.
        group_id: Arc<str>,
        /// Who we are (generation, or member epoch).
        identity: Identity,
        /// What to commit.
        offsets: Vec<(TopicPartition, CommitOffset)>,
    },
    /// OffsetFetch (committed offsets), with `require_stable`.
    OffsetFetch {
        /// The group id.
        group_id: Arc<str>,
        /// Who we are (v9+ checks it for next-generation groups).
        identity: Identity,
        /// The partitions to look up.
        partitions: Vec<TopicPartition>,
    },
    /// ConsumerGroupHeartbeat (KIP-848).
    ConsumerGroupHeartbeat(ConsumerHeartbeat),
}

/// A ConsumerGroupHeartbeat request. `None` fields are "unchanged since the last
/// heartbeat" and sent as null.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerHeartbeat {
    /// The group id.
    pub group_id: Arc<str>,
    /// Member id (client-generated for v1; "" on a v0 first join).
    pub member_id: Arc<str>,
    /// 0 to join, -1 to leave, -2 for a static member's temporary leave.
    pub member_epoch: i32,
    /// `group.instance.id`.
    pub instance_id: Option<Arc<str>>,
    /// `client.rack`.
    pub rack_id: Option<Arc<str>>,
    /// `max.poll.interval.ms`, or -1 when unchanged.
    pub rebalance_timeout_ms: i32,
    /// Subscribed topics, when changed.
    pub subscribed_topic_names: Option<Vec<Arc<str>>>,
    /// `group.remote.assignor`, when changed.
    pub server_assignor: Option<Arc<str>>,
    /// Owned partitions by topic id, when changed.
    pub topic_partitions: Option<Vec<(Uuid, Vec<i32>)>>,
}

/// A coordinator's answer, version-independent. Errors are Kafka error codes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum GroupResponse {
    /// FindCoordinator: the coordinator's node id.
    FindCoordinator(Result<NodeId, KafkaCode>),
    /// JoinGroup.
    JoinGroup(JoinOutcome),
    /// SyncGroup: the protocol name (v5+) and this member's encoded assignment.
    SyncGroup(Result<(Option<String>, Bytes), KafkaCode>),
    /// Heartbeat.
    Heartbeat(Result<(), KafkaCode>),
    /// LeaveGroup (top-level or our member's error).
    LeaveGroup(Result<(), KafkaCode>),
    /// OffsetCommit: per-partition error (None = committed).
    OffsetCommit(Vec<(TopicPartition, Option<KafkaCode>)>),
    /// OffsetFetch: a group-level error, or per partition the committed offset
    /// (None = nothing committed) or that partition's error.
    OffsetFetch(Result<Vec<(TopicPartition, Committed)>, KafkaCode>),
    /// ConsumerGroupHeartbeat.
    ConsumerGroupHeartbeat(Result<ConsumerHeartbeatOk, KafkaCode>),
}

/// One partition's committed offset (`None`: nothing committed), or its error.
pub type Committed = Result<Option<CommitOffset>, KafkaCode>;

/// A JoinGroup answer: success, or an error that may carry the member id to use
/// (MEMBER_ID_REQUIRED).
#[derive(Debug, Clone, PartialEq)]
pub struct JoinOutcome {
    /// The error, if any.
    pub error: Option<KafkaCode>,
    /// The generation joined.
    pub generation: i32,
    /// The assignor the group agreed on.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// v9: a static leader rejoining need not assign again.
    pub skip_assignment: bool,
    /// Our member id.
    pub member_id: String,
    /// Every member's `(member id, instance id, metadata)`; only the leader gets them.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

/// A successful ConsumerGroupHeartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerHeartbeatOk {
    /// The member id the coordinator knows us by (v0 assigns it).
    pub member_id: Option<String>,
    /// Our member epoch now.
    pub member_epoch: i32,
    /// How often to heartbeat.
    pub heartbeat_interval_ms: i32,
    /// A new target assignment, when it changed: partitions by topic id.
    pub assignment: Option<Vec<(Uuid, Vec<i32>)>>,
}
