//! Asking the brokers directly, through `flame-kafka-cluster` and raw protocol
//! requests rather than through the client under test: create a topic, find a
//! group's coordinator, read the offsets a group has committed, fetch a partition's
//! batches from its leader. One place for each of these questions, so that every
//! test binary asks them the same way.
//!
//! What a test does about a failure (panic at once, retry, count it) is its own
//! business: the lookups answer `Result`s, except where every caller panicked
//! anyway (connecting, creating a topic, records that do not decode).

use std::collections::BTreeMap;
use std::fmt;

use flame_kafka_cluster::{BrokerId, Cluster, ClusterConfig, ClusterError, Purpose};
use flame_kafka_codec::messages::fetch_request::{FetchPartition, FetchTopic};
use flame_kafka_codec::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use flame_kafka_codec::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use flame_kafka_codec::messages::{
    BrokerId as BrokerIdWire, FetchRequest, FindCoordinatorRequest, GroupId, ListOffsetsRequest,
    OffsetFetchRequest, TopicName,
};
use flame_kafka_codec::protocol::StrBytes;
use flame_kafka_codec::record_batch::{decode_batches, DecodeLimits, RecordBatch};
use flame_kafka_codec::KafkaCode;

use crate::{bootstrap, unique_name};

/// Connects to the single test broker (`FLAME_KAFKA_BOOTSTRAP`) with a default
/// configuration; panics if it cannot.
pub async fn connect() -> Cluster {
    Cluster::connect(ClusterConfig::new(bootstrap()))
        .await
        .unwrap_or_else(|e| panic!("connect to FLAME_KAFKA_BOOTSTRAP: {e}"))
}

/// Creates a fresh topic, named [`unique_name`]`(prefix)`, with `partitions`
/// partitions and replication factor `replication`; returns its name.
/// [`Cluster::create_topics`] returns once every partition's leader serves it, so
/// even an acks=0 write to the new topic lands. Panics if the brokers refuse it.
pub async fn create_topic(
    cluster: &Cluster,
    prefix: &str,
    partitions: i32,
    replication: i16,
) -> String {
    let topic = unique_name(prefix);
    cluster
        .create_topics(&[(topic.as_str(), partitions, replication)])
        .await
        .unwrap_or_else(|e| panic!("create topic {topic}: {e}"));
    topic
}

/// The log end offset of a partition, asked of its leader with ListOffsets.
/// `Err` (a description) when the leader is unknown, the request fails, or the
/// partition answers with an error code.
pub async fn latest_offset(cluster: &Cluster, topic: &str, partition: i32) -> Result<i64, String> {
    let (leader, _) = cluster
        .leader(topic, partition)
        .await
        .map_err(|e| format!("leader: {e}"))?;
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerIdWire(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(-1)])]);
    let (response, _) = cluster
        .send(leader, Purpose::Fetch, &request)
        .await
        .map_err(|e| format!("list offsets: {e}"))?;
    let data = response
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or_else(|| "list offsets: no partition in the answer".to_owned())?;
    match KafkaCode::from_code(data.error_code) {
        None => Ok(data.offset),
        Some(code) => Err(format!("list offsets: {code:?}")),
    }
}

/// [`create_topic`] on the single test broker (replication factor 1), through a
/// connection of its own.
pub async fn single_broker_topic(prefix: &str, partitions: i32) -> String {
    create_topic(&connect().await, prefix, partitions, 1).await
}

/// Why a question to the brokers got no usable answer. Each names the request.
#[derive(Debug)]
pub enum AskError {
    /// The request failed: no broker known, no connection, a timeout...
    Request(&'static str, ClusterError),
    /// The answer carried an error code.
    Code(&'static str, KafkaCode),
    /// The answer lacked a part it must have (named).
    Malformed(&'static str, &'static str),
}

impl fmt::Display for AskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AskError::Request(what, e) => write!(f, "{what}: {e}"),
            AskError::Code(what, code) => write!(f, "{what}: {code:?}"),
            AskError::Malformed(what, missing) => write!(f, "{what}: no {missing} in the answer"),
        }
    }
}

impl std::error::Error for AskError {}

/// `Err(AskError::Code)` for a non-zero error code.
fn check(what: &'static str, code: i16) -> Result<(), AskError> {
    match KafkaCode::from_code(code) {
        None => Ok(()),
        Some(code) => Err(AskError::Code(what, code)),
    }
}

/// `group`'s coordinator, asked once of any broker with FindCoordinator (the
/// batched form from v4 on, the single-key form before). Retrying while the
/// coordinator loads (an [`AskError::Code`]) is the caller's choice.
pub async fn find_coordinator(cluster: &Cluster, group: &str) -> Result<BrokerId, AskError> {
    const WHAT: &str = "FindCoordinator";
    let any = cluster
        .any_broker()
        .await
        .map_err(|e| AskError::Request(WHAT, e))?;
    let key = || StrBytes::from_string(group.to_owned());
    let (response, version) = cluster
        .send_with(any, Purpose::Group, |version| {
            if version >= 4 {
                FindCoordinatorRequest::default()
                    .with_key_type(0)
                    .with_coordinator_keys(vec![key()])
            } else {
                FindCoordinatorRequest::default().with_key(key())
            }
        })
        .await
        .map_err(|e| AskError::Request(WHAT, e))?;
    let (code, node) = if version >= 4 {
        let c = response
            .coordinators
            .first()
            .ok_or(AskError::Malformed(WHAT, "coordinator"))?;
        (c.error_code, c.node_id.0)
    } else {
        (response.error_code, response.node_id.0)
    };
    check(WHAT, code)?;
    Ok(BrokerId(node))
}

/// The offsets `group` has committed for partitions `0..partitions` of `topic`,
/// asked once of its `coordinator` with OffsetFetch (the v8+ form with groups, or
/// the older one): every partition the answer lists, `-1` where nothing is
/// committed. Any error code in the answer (group or partition) is an error.
pub async fn committed_offsets(
    cluster: &Cluster,
    coordinator: BrokerId,
    group: &str,
    topic: &str,
    partitions: i32,
) -> Result<BTreeMap<i32, i64>, AskError> {
    const WHAT: &str = "OffsetFetch";
    let group_id = || GroupId(StrBytes::from_string(group.to_owned()));
    let name = || TopicName(StrBytes::from_string(topic.to_owned()));
    let indexes: Vec<i32> = (0..partitions).collect();
    let (response, version) = cluster
        .send_with(coordinator, Purpose::Group, |version| {
            if version >= 8 {
                OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                    .with_group_id(group_id())
                    .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                        .with_name(name())
                        .with_partition_indexes(indexes)]))])
            } else {
                OffsetFetchRequest::default()
                    .with_group_id(group_id())
                    .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                        .with_name(name())
                        .with_partition_indexes(indexes)]))
            }
        })
        .await
        .map_err(|e| AskError::Request(WHAT, e))?;
    let mut out = BTreeMap::new();
    if version >= 8 {
        let g = response
            .groups
            .first()
            .ok_or(AskError::Malformed(WHAT, "group"))?;
        check(WHAT, g.error_code)?;
        for t in &g.topics {
            for p in &t.partitions {
                check(WHAT, p.error_code)?;
                out.insert(p.partition_index, p.committed_offset);
            }
        }
    } else {
        check(WHAT, response.error_code)?;
        for t in &response.topics {
            for p in &t.partitions {
                check(WHAT, p.error_code)?;
                out.insert(p.partition_index, p.committed_offset);
            }
        }
    }
    Ok(out)
}

/// What a partition's leader answered to one raw Fetch.
#[derive(Debug)]
pub struct Fetched {
    /// The partition's high watermark.
    pub high_watermark: i64,
    /// The record batches returned, decoded, control batches included. The first
    /// may start below the offset asked for.
    pub batches: Vec<RecordBatch>,
}

/// Fetches `topic[partition]` from `offset` with one raw Fetch request (waiting at
/// most 100 ms for at least one byte, at most `max_bytes` in all and for the
/// partition) sent to the partition's current leader. `Err` (a description) when
/// the leader is unknown, the request fails, or the partition answers with an
/// error code; panics if the answer lacks the partition or its records do not
/// decode.
pub async fn fetch_from_leader(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    offset: i64,
    max_bytes: i32,
) -> Result<Fetched, String> {
    let (leader, _) = cluster
        .leader(topic, partition)
        .await
        .map_err(|e| format!("leader: {e}"))?;
    let request = FetchRequest::default()
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(max_bytes)])]);
    let (response, _) = cluster
        .send(leader, Purpose::Fetch, &request)
        .await
        .map_err(|e| format!("fetch: {e}"))?;
    let data = response
        .responses
        .first()
        .and_then(|t| t.partitions.first())
        .unwrap_or_else(|| panic!("fetch {topic}[{partition}]: no partition in the answer"));
    if let Some(code) = KafkaCode::from_code(data.error_code) {
        return Err(format!("fetch error {code:?}"));
    }
    let batches = decode_batches(
        data.records.clone().unwrap_or_default(),
        &DecodeLimits::default(),
    )
    .unwrap_or_else(|e| panic!("{topic}[{partition}]@{offset}: batches do not decode: {e}"));
    Ok(Fetched {
        high_watermark: data.high_watermark,
        batches,
    })
}
