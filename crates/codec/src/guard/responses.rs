//! The response schemas of every API in [`crate::versions::CLIENT_VERSIONS`], over
//! exactly the versions listed there, transcribed from Kafka's message definitions
//! (`clients/src/main/resources/common/message/*Response.json`).
//!
//! Fields that exist only outside the client's version ranges are left out. A field's
//! `since`/`until` is the version range of the JSON schema; a nested struct's fields
//! carry their own ranges even where the parent field already implies them.

use kafka_protocol::messages::ApiKey;

use super::schema::{
    array, field, inline, nullable, structs, Schema, Struct, BOOL, BYTES, INT16, INT32, INT64,
    INT8, NEVER, RECORDS, STRING, UUID,
};

/// Every response schema the guard knows.
pub(crate) const SCHEMAS: &[Schema] = &[
    schema(ApiKey::Produce, 3, 12, 9, &PRODUCE),
    schema(ApiKey::Fetch, 4, 12, 12, &FETCH),
    schema(ApiKey::ListOffsets, 1, 9, 6, &LIST_OFFSETS),
    schema(ApiKey::Metadata, 1, 12, 9, &METADATA),
    schema(ApiKey::OffsetCommit, 2, 9, 8, &OFFSET_COMMIT),
    schema(ApiKey::OffsetFetch, 1, 9, 6, &OFFSET_FETCH),
    schema(ApiKey::FindCoordinator, 0, 4, 3, &FIND_COORDINATOR),
    schema(ApiKey::JoinGroup, 0, 9, 6, &JOIN_GROUP),
    schema(ApiKey::Heartbeat, 0, 4, 4, &HEARTBEAT),
    schema(ApiKey::LeaveGroup, 0, 5, 4, &LEAVE_GROUP),
    schema(ApiKey::SyncGroup, 0, 5, 4, &SYNC_GROUP),
    schema(ApiKey::DescribeGroups, 0, 5, 5, &DESCRIBE_GROUPS),
    schema(ApiKey::SaslHandshake, 0, 1, NEVER, &SASL_HANDSHAKE),
    schema(ApiKey::ApiVersions, 0, 3, 3, &API_VERSIONS),
    schema(ApiKey::CreateTopics, 2, 7, 5, &CREATE_TOPICS),
    schema(ApiKey::DeleteTopics, 1, 6, 4, &DELETE_TOPICS),
    schema(ApiKey::InitProducerId, 0, 5, 2, &INIT_PRODUCER_ID),
    schema(ApiKey::SaslAuthenticate, 0, 2, 2, &SASL_AUTHENTICATE),
    schema(
        ApiKey::ConsumerGroupHeartbeat,
        0,
        1,
        0,
        &CONSUMER_GROUP_HEARTBEAT,
    ),
];

const fn schema(
    api: ApiKey,
    min: i16,
    max: i16,
    flexible_from: i16,
    body: &'static Struct,
) -> Schema {
    Schema {
        api,
        min,
        max,
        flexible_from,
        body,
    }
}

// ---- Produce -------------------------------------------------------------------

const PRODUCE: Struct = Struct {
    name: "ProduceResponse",
    fields: &[
        field("responses", structs(&TOPIC_PRODUCE_RESPONSE)),
        field("throttle_time_ms", INT32),
        field("node_endpoints", structs(&PRODUCE_NODE_ENDPOINT))
            .since(10)
            .tagged(0),
    ],
};

const TOPIC_PRODUCE_RESPONSE: Struct = Struct {
    name: "TopicProduceResponse",
    fields: &[
        field("name", STRING).until(12),
        field("partition_responses", structs(&PARTITION_PRODUCE_RESPONSE)),
    ],
};

const PARTITION_PRODUCE_RESPONSE: Struct = Struct {
    name: "PartitionProduceResponse",
    fields: &[
        field("index", INT32),
        field("error_code", INT16),
        field("base_offset", INT64),
        field("log_append_time_ms", INT64),
        field("log_start_offset", INT64).since(5),
        field("record_errors", structs(&BATCH_INDEX_AND_ERROR_MESSAGE)).since(8),
        field("error_message", STRING).since(8),
        field("current_leader", inline(&PRODUCE_LEADER_ID_AND_EPOCH))
            .since(10)
            .tagged(0),
    ],
};

const BATCH_INDEX_AND_ERROR_MESSAGE: Struct = Struct {
    name: "BatchIndexAndErrorMessage",
    fields: &[
        field("batch_index", INT32).since(8),
        field("batch_index_error_message", STRING).since(8),
    ],
};

const PRODUCE_LEADER_ID_AND_EPOCH: Struct = Struct {
    name: "LeaderIdAndEpoch",
    fields: &[
        field("leader_id", INT32).since(10),
        field("leader_epoch", INT32).since(10),
    ],
};

const PRODUCE_NODE_ENDPOINT: Struct = Struct {
    name: "NodeEndpoint",
    fields: &[
        field("node_id", INT32).since(10),
        field("host", STRING).since(10),
        field("port", INT32).since(10),
        field("rack", STRING).since(10),
    ],
};

// ---- Fetch ---------------------------------------------------------------------

const FETCH: Struct = Struct {
    name: "FetchResponse",
    fields: &[
        field("throttle_time_ms", INT32),
        field("error_code", INT16).since(7),
        field("session_id", INT32).since(7),
        field("responses", structs(&FETCHABLE_TOPIC_RESPONSE)),
    ],
};

const FETCHABLE_TOPIC_RESPONSE: Struct = Struct {
    name: "FetchableTopicResponse",
    fields: &[
        field("topic", STRING).until(12),
        field("partitions", structs(&FETCH_PARTITION_DATA)),
    ],
};

const FETCH_PARTITION_DATA: Struct = Struct {
    name: "PartitionData",
    fields: &[
        field("partition_index", INT32),
        field("error_code", INT16),
        field("high_watermark", INT64),
        field("last_stable_offset", INT64),
        field("log_start_offset", INT64).since(5),
        field("diverging_epoch", inline(&FETCH_EPOCH_END_OFFSET))
            .since(12)
            .tagged(0),
        field("current_leader", inline(&FETCH_LEADER_ID_AND_EPOCH))
            .since(12)
            .tagged(1),
        field("snapshot_id", inline(&FETCH_SNAPSHOT_ID))
            .since(12)
            .tagged(2),
        field("aborted_transactions", structs(&FETCH_ABORTED_TRANSACTION)),
        field("preferred_read_replica", INT32).since(11),
        field("records", RECORDS),
    ],
};

const FETCH_EPOCH_END_OFFSET: Struct = Struct {
    name: "EpochEndOffset",
    fields: &[
        field("epoch", INT32).since(12),
        field("end_offset", INT64).since(12),
    ],
};

const FETCH_LEADER_ID_AND_EPOCH: Struct = Struct {
    name: "LeaderIdAndEpoch",
    fields: &[
        field("leader_id", INT32).since(12),
        field("leader_epoch", INT32).since(12),
    ],
};

const FETCH_SNAPSHOT_ID: Struct = Struct {
    name: "SnapshotId",
    fields: &[field("end_offset", INT64), field("epoch", INT32)],
};

const FETCH_ABORTED_TRANSACTION: Struct = Struct {
    name: "AbortedTransaction",
    fields: &[field("producer_id", INT64), field("first_offset", INT64)],
};

// ---- ListOffsets ---------------------------------------------------------------

const LIST_OFFSETS: Struct = Struct {
    name: "ListOffsetsResponse",
    fields: &[
        field("throttle_time_ms", INT32).since(2),
        field("topics", structs(&LIST_OFFSETS_TOPIC)),
    ],
};

const LIST_OFFSETS_TOPIC: Struct = Struct {
    name: "ListOffsetsTopicResponse",
    fields: &[
        field("name", STRING),
        field("partitions", structs(&LIST_OFFSETS_PARTITION)),
    ],
};

const LIST_OFFSETS_PARTITION: Struct = Struct {
    name: "ListOffsetsPartitionResponse",
    fields: &[
        field("partition_index", INT32),
        field("error_code", INT16),
        field("timestamp", INT64).since(1),
        field("offset", INT64).since(1),
        field("leader_epoch", INT32).since(4),
    ],
};

// ---- Metadata ------------------------------------------------------------------

const METADATA: Struct = Struct {
    name: "MetadataResponse",
    fields: &[
        field("throttle_time_ms", INT32).since(3),
        field("brokers", structs(&METADATA_BROKER)),
        field("cluster_id", STRING).since(2),
        field("controller_id", INT32).since(1),
        field("topics", structs(&METADATA_TOPIC)),
        field("cluster_authorized_operations", INT32)
            .since(8)
            .until(10),
    ],
};

const METADATA_BROKER: Struct = Struct {
    name: "MetadataResponseBroker",
    fields: &[
        field("node_id", INT32),
        field("host", STRING),
        field("port", INT32),
        field("rack", STRING).since(1),
    ],
};

const METADATA_TOPIC: Struct = Struct {
    name: "MetadataResponseTopic",
    fields: &[
        field("error_code", INT16),
        field("name", STRING),
        field("topic_id", UUID).since(10),
        field("is_internal", BOOL).since(1),
        field("partitions", structs(&METADATA_PARTITION)),
        field("topic_authorized_operations", INT32).since(8),
    ],
};

const METADATA_PARTITION: Struct = Struct {
    name: "MetadataResponsePartition",
    fields: &[
        field("error_code", INT16),
        field("partition_index", INT32),
        field("leader_id", INT32),
        field("leader_epoch", INT32).since(7),
        field("replica_nodes", array(&INT32)),
        field("isr_nodes", array(&INT32)),
        field("offline_replicas", array(&INT32)).since(5),
    ],
};

// ---- OffsetCommit --------------------------------------------------------------

const OFFSET_COMMIT: Struct = Struct {
    name: "OffsetCommitResponse",
    fields: &[
        field("throttle_time_ms", INT32).since(3),
        field("topics", structs(&OFFSET_COMMIT_TOPIC)),
    ],
};

const OFFSET_COMMIT_TOPIC: Struct = Struct {
    name: "OffsetCommitResponseTopic",
    fields: &[
        field("name", STRING).until(9),
        field("partitions", structs(&OFFSET_COMMIT_PARTITION)),
    ],
};

const OFFSET_COMMIT_PARTITION: Struct = Struct {
    name: "OffsetCommitResponsePartition",
    fields: &[field("partition_index", INT32), field("error_code", INT16)],
};

// ---- OffsetFetch ---------------------------------------------------------------

const OFFSET_FETCH: Struct = Struct {
    name: "OffsetFetchResponse",
    fields: &[
        field("throttle_time_ms", INT32).since(3),
        field("topics", structs(&OFFSET_FETCH_TOPIC)).until(7),
        field("error_code", INT16).since(2).until(7),
        field("groups", structs(&OFFSET_FETCH_GROUP)).since(8),
    ],
};

const OFFSET_FETCH_TOPIC: Struct = Struct {
    name: "OffsetFetchResponseTopic",
    fields: &[
        field("name", STRING).until(7),
        field("partitions", structs(&OFFSET_FETCH_PARTITION)).until(7),
    ],
};

const OFFSET_FETCH_PARTITION: Struct = Struct {
    name: "OffsetFetchResponsePartition",
    fields: &[
        field("partition_index", INT32).until(7),
        field("committed_offset", INT64).until(7),
        field("committed_leader_epoch", INT32).since(5).until(7),
        field("metadata", STRING).until(7),
        field("error_code", INT16).until(7),
    ],
};

const OFFSET_FETCH_GROUP: Struct = Struct {
    name: "OffsetFetchResponseGroup",
    fields: &[
        field("group_id", STRING).since(8),
        field("topics", structs(&OFFSET_FETCH_TOPICS)).since(8),
        field("error_code", INT16).since(8),
    ],
};

const OFFSET_FETCH_TOPICS: Struct = Struct {
    name: "OffsetFetchResponseTopics",
    fields: &[
        field("name", STRING).since(8).until(9),
        field("partitions", structs(&OFFSET_FETCH_PARTITIONS)).since(8),
    ],
};

const OFFSET_FETCH_PARTITIONS: Struct = Struct {
    name: "OffsetFetchResponsePartitions",
    fields: &[
        field("partition_index", INT32).since(8),
        field("committed_offset", INT64).since(8),
        field("committed_leader_epoch", INT32).since(8),
        field("metadata", STRING).since(8),
        field("error_code", INT16).since(8),
    ],
};

// ---- FindCoordinator -----------------------------------------------------------

const FIND_COORDINATOR: Struct = Struct {
    name: "FindCoordinatorResponse",
    fields: &[
        field("throttle_time_ms", INT32).since(1),
        field("error_code", INT16).until(3),
        field("error_message", STRING).since(1).until(3),
        field("node_id", INT32).until(3),
        field("host", STRING).until(3),
        field("port", INT32).until(3),
        field("coordinators", structs(&COORDINATOR)).since(4),
    ],
};

const COORDINATOR: Struct = Struct {
    name: "Coordinator",
    fields: &[
        field("key", STRING).since(4),
        field("node_id", INT32).since(4),
        field("host", STRING).since(4),
        field("port", INT32).since(4),
        field("error_code", INT16).since(4),
        field("error_message", STRING).since(4),
    ],
};

// ---- JoinGroup -----------------------------------------------------------------

const JOIN_GROUP: Struct = Struct {
    name: "JoinGroupResponse",
    fields: &[
        field("throttle_time_ms", INT32).since(2),
        field("error_code", INT16),
        field("generation_id", INT32),
        field("protocol_type", STRING).since(7),
        field("protocol_name", STRING),
        field("leader", STRING),
        field("skip_assignment", BOOL).since(9),
        field("member_id", STRING),
        field("members", structs(&JOIN_GROUP_MEMBER)),
    ],
};

const JOIN_GROUP_MEMBER: Struct = Struct {
    name: "JoinGroupResponseMember",
    fields: &[
        field("member_id", STRING),
        field("group_instance_id", STRING).since(5),
        field("metadata", BYTES),
    ],
};

// ---- Heartbeat, LeaveGroup, SyncGroup ------------------------------------------

const HEARTBEAT: Struct = Struct {
    name: "HeartbeatResponse",
    fields: &[
        field("throttle_time_ms", INT32).since(1),
        field("error_code", INT16),
    ],
};

const LEAVE_GROUP: Struct = Struct {
    name: "LeaveGroupResponse",
    fields: &[
        field("throttle_time_ms", INT32).since(1),
        field("error_code", INT16),
        field("members", structs(&LEAVE_GROUP_MEMBER)).since(3),
    ],
};

const LEAVE_GROUP_MEMBER: Struct = Struct {
    name: "MemberResponse",
    fields: &[
        field("member_id", STRING).since(3),
        field("group_instance_id", STRING).since(3),
        field("error_code", INT16).since(3),
    ],
};

const SYNC_GROUP: Struct = Struct {
    name: "SyncGroupResponse",
    fields: &[
        field("throttle_time_ms", INT32).since(1),
        field("error_code", INT16),
        field("protocol_type", STRING).since(5),
        field("protocol_name", STRING).since(5),
        field("assignment", BYTES),
    ],
};

// ---- DescribeGroups ------------------------------------------------------------

const DESCRIBE_GROUPS: Struct = Struct {
    name: "DescribeGroupsResponse",
    fields: &[
        field("throttle_time_ms", INT32).since(1),
        field("groups", structs(&DESCRIBED_GROUP)),
    ],
};

const DESCRIBED_GROUP: Struct = Struct {
    name: "DescribedGroup",
    fields: &[
        field("error_code", INT16),
        field("group_id", STRING),
        field("group_state", STRING),
        field("protocol_type", STRING),
        field("protocol_data", STRING),
        field("members", structs(&DESCRIBED_GROUP_MEMBER)),
        field("authorized_operations", INT32).since(3),
    ],
};

const DESCRIBED_GROUP_MEMBER: Struct = Struct {
    name: "DescribedGroupMember",
    fields: &[
        field("member_id", STRING),
        field("group_instance_id", STRING).since(4),
        field("client_id", STRING),
        field("client_host", STRING),
        field("member_metadata", BYTES),
        field("member_assignment", BYTES),
    ],
};

// ---- SASL ----------------------------------------------------------------------

const SASL_HANDSHAKE: Struct = Struct {
    name: "SaslHandshakeResponse",
    fields: &[
        field("error_code", INT16),
        field("mechanisms", array(&STRING)),
    ],
};

const SASL_AUTHENTICATE: Struct = Struct {
    name: "SaslAuthenticateResponse",
    fields: &[
        field("error_code", INT16),
        field("error_message", STRING),
        field("auth_bytes", BYTES),
        field("session_lifetime_ms", INT64).since(1),
    ],
};

// ---- ApiVersions ---------------------------------------------------------------

const API_VERSIONS: Struct = Struct {
    name: "ApiVersionsResponse",
    fields: &[
        field("error_code", INT16),
        field("api_keys", structs(&API_VERSION)),
        field("throttle_time_ms", INT32).since(1),
        field("supported_features", structs(&SUPPORTED_FEATURE_KEY))
            .since(3)
            .tagged(0),
        field("finalized_features_epoch", INT64).since(3).tagged(1),
        field("finalized_features", structs(&FINALIZED_FEATURE_KEY))
            .since(3)
            .tagged(2),
        field("zk_migration_ready", BOOL).since(3).tagged(3),
    ],
};

const API_VERSION: Struct = Struct {
    name: "ApiVersion",
    fields: &[
        field("api_key", INT16),
        field("min_version", INT16),
        field("max_version", INT16),
    ],
};

const SUPPORTED_FEATURE_KEY: Struct = Struct {
    name: "SupportedFeatureKey",
    fields: &[
        field("name", STRING).since(3),
        field("min_version", INT16).since(3),
        field("max_version", INT16).since(3),
    ],
};

const FINALIZED_FEATURE_KEY: Struct = Struct {
    name: "FinalizedFeatureKey",
    fields: &[
        field("name", STRING).since(3),
        field("max_version_level", INT16).since(3),
        field("min_version_level", INT16).since(3),
    ],
};

// ---- CreateTopics, DeleteTopics ------------------------------------------------

const CREATE_TOPICS: Struct = Struct {
    name: "CreateTopicsResponse",
    fields: &[
        field("throttle_time_ms", INT32),
        field("topics", structs(&CREATABLE_TOPIC_RESULT)),
    ],
};

const CREATABLE_TOPIC_RESULT: Struct = Struct {
    name: "CreatableTopicResult",
    fields: &[
        field("name", STRING),
        field("topic_id", UUID).since(7),
        field("error_code", INT16),
        field("error_message", STRING),
        field("topic_config_error_code", INT16).since(5).tagged(0),
        field("num_partitions", INT32).since(5),
        field("replication_factor", INT16).since(5),
        field("configs", structs(&CREATABLE_TOPIC_CONFIGS)).since(5),
    ],
};

const CREATABLE_TOPIC_CONFIGS: Struct = Struct {
    name: "CreatableTopicConfigs",
    fields: &[
        field("name", STRING).since(5),
        field("value", STRING).since(5),
        field("read_only", BOOL).since(5),
        field("config_source", INT8).since(5),
        field("is_sensitive", BOOL).since(5),
    ],
};

const DELETE_TOPICS: Struct = Struct {
    name: "DeleteTopicsResponse",
    fields: &[
        field("throttle_time_ms", INT32),
        field("responses", structs(&DELETABLE_TOPIC_RESULT)),
    ],
};

const DELETABLE_TOPIC_RESULT: Struct = Struct {
    name: "DeletableTopicResult",
    fields: &[
        field("name", STRING),
        field("topic_id", UUID).since(6),
        field("error_code", INT16),
        field("error_message", STRING).since(5),
    ],
};

// ---- InitProducerId ------------------------------------------------------------

const INIT_PRODUCER_ID: Struct = Struct {
    name: "InitProducerIdResponse",
    fields: &[
        field("throttle_time_ms", INT32),
        field("error_code", INT16),
        field("producer_id", INT64),
        field("producer_epoch", INT16),
    ],
};

// ---- ConsumerGroupHeartbeat (KIP-848) ------------------------------------------

const CONSUMER_GROUP_HEARTBEAT: Struct = Struct {
    name: "ConsumerGroupHeartbeatResponse",
    fields: &[
        field("throttle_time_ms", INT32),
        field("error_code", INT16),
        field("error_message", STRING),
        field("member_id", STRING),
        field("member_epoch", INT32),
        field("heartbeat_interval_ms", INT32),
        field("assignment", nullable(&CONSUMER_GROUP_ASSIGNMENT)),
    ],
};

const CONSUMER_GROUP_ASSIGNMENT: Struct = Struct {
    name: "Assignment",
    fields: &[field(
        "topic_partitions",
        structs(&CONSUMER_GROUP_TOPIC_PARTITIONS),
    )],
};

const CONSUMER_GROUP_TOPIC_PARTITIONS: Struct = Struct {
    name: "TopicPartitions",
    fields: &[field("topic_id", UUID), field("partitions", array(&INT32))],
};
