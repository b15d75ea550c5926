//! Version-aware translation between the machines' plain requests and answers
//! ([`crate::requests`], [`crate::fetcher`]) and kafka-protocol messages. Each
//! `*_request` builds the message for the version the cluster negotiated; each
//! `parse_*` reads the fields that version has.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use flame_kafka_codec::messages::{
    consumer_group_heartbeat_request, fetch_request, join_group_request, leave_group_request,
    list_offsets_request, offset_commit_request, offset_fetch_request, sync_group_request,
    BrokerId as WireBrokerId, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
    FetchRequest, FetchResponse, FindCoordinatorRequest, FindCoordinatorResponse, GroupId,
    HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
    SyncGroupRequest, SyncGroupResponse, TopicName,
};
use flame_kafka_codec::protocol::StrBytes;
use flame_kafka_codec::KafkaCode;
use uuid::Uuid;

use crate::fetcher::{DivergingEpoch, FetchPartitionPlan, FetchSettings, FetchedPartition};
use crate::protocol::{group_by_topic, PROTOCOL_TYPE};
use crate::records::AbortedTxn;
use crate::requests::{
    ConsumerHeartbeat, ConsumerHeartbeatOk, GroupResponse, Identity, JoinOutcome,
};
use crate::{CommitOffset, NodeId, TopicPartition};

fn s(value: &str) -> StrBytes {
    StrBytes::from(value.to_owned())
}

fn group(id: &str) -> GroupId {
    GroupId(s(id))
}

fn topic(name: &str) -> TopicName {
    TopicName(s(name))
}

fn code(error_code: i16) -> Option<KafkaCode> {
    KafkaCode::from_code(error_code)
}

fn instance(identity: &Identity) -> Option<StrBytes> {
    identity.instance_id.as_deref().map(s)
}

// ---------------------------------------------------------------- coordinator

pub(crate) fn find_coordinator_request(group_id: &str, version: i16) -> FindCoordinatorRequest {
    let request = FindCoordinatorRequest::default().with_key_type(0);
    if version >= 4 {
        request.with_coordinator_keys(vec![s(group_id)])
    } else {
        request.with_key(s(group_id))
    }
}

pub(crate) fn parse_find_coordinator(r: &FindCoordinatorResponse, version: i16) -> GroupResponse {
    let (error, node) = if version >= 4 {
        match r.coordinators.first() {
            Some(c) => (code(c.error_code), c.node_id.0),
            None => (Some(KafkaCode::CoordinatorNotAvailable), -1),
        }
    } else {
        (code(r.error_code), r.node_id.0)
    };
    GroupResponse::FindCoordinator(match error {
        Some(err) => Err(err),
        None if node < 0 => Err(KafkaCode::CoordinatorNotAvailable),
        None => Ok(NodeId(node)),
    })
}

pub(crate) fn join_group_request(
    group_id: &str,
    identity: &Identity,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    protocols: &[(String, Bytes)],
    reason: &str,
    version: i16,
) -> JoinGroupRequest {
    let mut request = JoinGroupRequest::default()
        .with_group_id(group(group_id))
        .with_session_timeout_ms(session_timeout_ms)
        .with_rebalance_timeout_ms(rebalance_timeout_ms)
        .with_member_id(s(&identity.member_id))
        .with_protocol_type(s(PROTOCOL_TYPE))
        .with_protocols(
            protocols
                .iter()
                .map(|(name, metadata)| {
                    join_group_request::JoinGroupRequestProtocol::default()
                        .with_name(s(name))
                        .with_metadata(metadata.clone())
                })
                .collect(),
        );
    if version >= 5 {
        request = request.with_group_instance_id(instance(identity));
    }
    if version >= 8 {
        request = request.with_reason(Some(s(reason)));
    }
    request
}

pub(crate) fn parse_join_group(r: JoinGroupResponse) -> GroupResponse {
    GroupResponse::JoinGroup(JoinOutcome {
        error: code(r.error_code),
        generation: r.generation_id,
        protocol_name: r.protocol_name.map(|n| n.to_string()),
        leader: r.leader.to_string(),
        skip_assignment: r.skip_assignment,
        member_id: r.member_id.to_string(),
        members: r
            .members
            .into_iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.map(|i| i.to_string()),
                    m.metadata,
                )
            })
            .collect(),
    })
}

pub(crate) fn sync_group_request(
    group_id: &str,
    identity: &Identity,
    protocol_name: &str,
    assignments: &[(String, Bytes)],
    version: i16,
) -> SyncGroupRequest {
    let mut request = SyncGroupRequest::default()
        .with_group_id(group(group_id))
        .with_generation_id(identity.generation)
        .with_member_id(s(&identity.member_id))
        .with_assignments(
            assignments
                .iter()
                .map(|(member, bytes)| {
                    sync_group_request::SyncGroupRequestAssignment::default()
                        .with_member_id(s(member))
                        .with_assignment(bytes.clone())
                })
                .collect(),
        );
    if version >= 3 {
        request = request.with_group_instance_id(instance(identity));
    }
    if version >= 5 {
        request = request
            .with_protocol_type(Some(s(PROTOCOL_TYPE)))
            .with_protocol_name(Some(s(protocol_name)));
    }
    request
}

pub(crate) fn parse_sync_group(r: SyncGroupResponse) -> GroupResponse {
    GroupResponse::SyncGroup(match code(r.error_code) {
        Some(err) => Err(err),
        None => Ok((r.protocol_name.map(|n| n.to_string()), r.assignment)),
    })
}

pub(crate) fn heartbeat_request(
    group_id: &str,
    identity: &Identity,
    version: i16,
) -> HeartbeatRequest {
    let request = HeartbeatRequest::default()
        .with_group_id(group(group_id))
        .with_generation_id(identity.generation)
        .with_member_id(s(&identity.member_id));
    if version >= 3 {
        request.with_group_instance_id(instance(identity))
    } else {
        request
    }
}

pub(crate) fn leave_group_request(
    group_id: &str,
    identity: &Identity,
    reason: &str,
    version: i16,
) -> LeaveGroupRequest {
    let request = LeaveGroupRequest::default().with_group_id(group(group_id));
    if version >= 3 {
        let mut member = leave_group_request::MemberIdentity::default()
            .with_member_id(s(&identity.member_id))
            .with_group_instance_id(instance(identity));
        if version >= 5 {
            member = member.with_reason(Some(s(reason)));
        }
        request.with_members(vec![member])
    } else {
        request.with_member_id(s(&identity.member_id))
    }
}

pub(crate) fn parse_leave_group(r: &LeaveGroupResponse) -> GroupResponse {
    let error = code(r.error_code).or_else(|| r.members.iter().find_map(|m| code(m.error_code)));
    GroupResponse::LeaveGroup(error.map_or(Ok(()), Err))
}

// ---------------------------------------------------------------- offsets

pub(crate) fn offset_commit_request(
    group_id: &str,
    identity: &Identity,
    offsets: &[(TopicPartition, CommitOffset)],
    version: i16,
) -> OffsetCommitRequest {
    let mut by_topic: BTreeMap<Arc<str>, Vec<offset_commit_request::OffsetCommitRequestPartition>> =
        BTreeMap::new();
    for (tp, offset) in offsets {
        let mut partition = offset_commit_request::OffsetCommitRequestPartition::default()
            .with_partition_index(tp.partition)
            .with_committed_offset(offset.offset)
            .with_committed_metadata(Some(StrBytes::default()));
        if version >= 6 {
            partition = partition.with_committed_leader_epoch(offset.leader_epoch);
        }
        by_topic
            .entry(tp.topic.clone())
            .or_default()
            .push(partition);
    }
    let mut request = OffsetCommitRequest::default()
        .with_group_id(group(group_id))
        .with_generation_id_or_member_epoch(identity.generation)
        .with_member_id(s(&identity.member_id))
        .with_topics(
            by_topic
                .into_iter()
                .map(|(name, partitions)| {
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(topic(&name))
                        .with_partitions(partitions)
                })
                .collect(),
        );
    if version >= 7 {
        request = request.with_group_instance_id(instance(identity));
    }
    if version <= 4 {
        request = request.with_retention_time_ms(-1);
    }
    request
}

pub(crate) fn parse_offset_commit(r: &OffsetCommitResponse) -> GroupResponse {
    GroupResponse::OffsetCommit(
        r.topics
            .iter()
            .flat_map(|t| {
                let name: Arc<str> = Arc::from(t.name.0.as_str());
                t.partitions.iter().map(move |p| {
                    (
                        TopicPartition::new(name.clone(), p.partition_index),
                        code(p.error_code),
                    )
                })
            })
            .collect(),
    )
}

/// `identity.generation < 0` means "not a next-generation member": no member
/// fields are sent (v9 checks them only for KIP-848 groups).
pub(crate) fn offset_fetch_request(
    group_id: &str,
    identity: &Identity,
    partitions: &[TopicPartition],
    version: i16,
) -> OffsetFetchRequest {
    let grouped = group_by_topic(partitions);
    if version >= 8 {
        let topics = grouped
            .into_iter()
            .map(|(name, indexes)| {
                offset_fetch_request::OffsetFetchRequestTopics::default()
                    .with_name(topic(&name))
                    .with_partition_indexes(indexes)
            })
            .collect();
        let mut g = offset_fetch_request::OffsetFetchRequestGroup::default()
            .with_group_id(group(group_id))
            .with_topics(Some(topics));
        if version >= 9 && identity.generation >= 0 && !identity.member_id.is_empty() {
            g = g
                .with_member_id(Some(s(&identity.member_id)))
                .with_member_epoch(identity.generation);
        }
        return OffsetFetchRequest::default()
            .with_groups(vec![g])
            .with_require_stable(true);
    }
    let topics = grouped
        .into_iter()
        .map(|(name, indexes)| {
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(topic(&name))
                .with_partition_indexes(indexes)
        })
        .collect();
    let request = OffsetFetchRequest::default()
        .with_group_id(group(group_id))
        .with_topics(Some(topics));
    if version >= 7 {
        request.with_require_stable(true)
    } else {
        request
    }
}

fn committed(
    offset: i64,
    leader_epoch: i32,
    error: i16,
) -> Result<Option<CommitOffset>, KafkaCode> {
    match code(error) {
        Some(err) => Err(err),
        None if offset < 0 => Ok(None),
        None => Ok(Some(CommitOffset {
            offset,
            leader_epoch,
        })),
    }
}

pub(crate) fn parse_offset_fetch(r: &OffsetFetchResponse, version: i16) -> GroupResponse {
    if version >= 8 {
        let Some(g) = r.groups.first() else {
            return GroupResponse::OffsetFetch(Err(KafkaCode::UnknownServerError));
        };
        if let Some(err) = code(g.error_code) {
            return GroupResponse::OffsetFetch(Err(err));
        }
        let list = g
            .topics
            .iter()
            .flat_map(|t| {
                let name: Arc<str> = Arc::from(t.name.0.as_str());
                t.partitions.iter().map(move |p| {
                    let tp = TopicPartition::new(name.clone(), p.partition_index);
                    (
                        tp,
                        committed(p.committed_offset, p.committed_leader_epoch, p.error_code),
                    )
                })
            })
            .collect();
        return GroupResponse::OffsetFetch(Ok(list));
    }
    if let Some(err) = code(r.error_code) {
        return GroupResponse::OffsetFetch(Err(err));
    }
    let list = r
        .topics
        .iter()
        .flat_map(|t| {
            let name: Arc<str> = Arc::from(t.name.0.as_str());
            t.partitions.iter().map(move |p| {
                let tp = TopicPartition::new(name.clone(), p.partition_index);
                (
                    tp,
                    committed(p.committed_offset, p.committed_leader_epoch, p.error_code),
                )
            })
        })
        .collect();
    GroupResponse::OffsetFetch(Ok(list))
}

// ---------------------------------------------------------------- KIP-848

pub(crate) fn consumer_heartbeat_request(
    hb: &ConsumerHeartbeat,
    version: i16,
) -> ConsumerGroupHeartbeatRequest {
    // v0 brokers hand out the member id on the first heartbeat; v1 (KIP-1082)
    // expects the client's own.
    let member_id = if version == 0 && hb.member_epoch == 0 {
        ""
    } else {
        &hb.member_id
    };
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(group(&hb.group_id))
        .with_member_id(s(member_id))
        .with_member_epoch(hb.member_epoch)
        .with_instance_id(hb.instance_id.as_deref().map(s))
        .with_rack_id(hb.rack_id.as_deref().map(s))
        .with_rebalance_timeout_ms(hb.rebalance_timeout_ms)
        .with_subscribed_topic_names(
            hb.subscribed_topic_names
                .as_ref()
                .map(|names| names.iter().map(|n| topic(n)).collect()),
        )
        .with_server_assignor(hb.server_assignor.as_deref().map(s))
        .with_topic_partitions(hb.topic_partitions.as_ref().map(|list| {
            list.iter()
                .map(|(id, partitions)| {
                    consumer_group_heartbeat_request::TopicPartitions::default()
                        .with_topic_id(*id)
                        .with_partitions(partitions.clone())
                })
                .collect()
        }))
}

pub(crate) fn parse_consumer_heartbeat(r: ConsumerGroupHeartbeatResponse) -> GroupResponse {
    GroupResponse::ConsumerGroupHeartbeat(match code(r.error_code) {
        Some(err) => Err(err),
        None => Ok(ConsumerHeartbeatOk {
            member_id: r.member_id.map(|m| m.to_string()),
            member_epoch: r.member_epoch,
            heartbeat_interval_ms: r.heartbeat_interval_ms,
            assignment: r.assignment.map(|a| {
                a.topic_partitions
                    .into_iter()
                    .map(|t| (t.topic_id, t.partitions))
                    .collect()
            }),
        }),
    })
}

/// A Metadata request for every topic (to map topic ids to names).
pub(crate) fn all_topics_metadata_request(_version: i16) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(None)
        .with_allow_auto_topic_creation(false)
}

pub(crate) fn parse_topic_names(r: &MetadataResponse) -> BTreeMap<Uuid, String> {
    r.topics
        .iter()
        .filter(|t| !t.topic_id.is_nil())
        .filter_map(|t| Some((t.topic_id, t.name.as_ref()?.0.to_string())))
        .collect()
}

// ---------------------------------------------------------------- fetching

pub(crate) fn fetch_request(
    settings: &FetchSettings,
    partitions: &[FetchPartitionPlan],
    version: i16,
) -> FetchRequest {
    let mut by_topic: Vec<(Arc<str>, Vec<fetch_request::FetchPartition>)> = Vec::new();
    for plan in partitions {
        let mut p = fetch_request::FetchPartition::default()
            .with_partition(plan.tp.partition)
            .with_fetch_offset(plan.offset)
            .with_partition_max_bytes(settings.partition_max_bytes)
            .with_log_start_offset(-1);
        if version >= 9 {
            p = p.with_current_leader_epoch(plan.current_leader_epoch);
        }
        if version >= 12 {
            // KIP-320: the broker compares it with its log and answers
            // `diverging_epoch` where the log diverged from what was read.
            p = p.with_last_fetched_epoch(plan.last_fetched_epoch);
        }
        match by_topic.last_mut() {
            Some((name, list)) if *name == plan.tp.topic => list.push(p),
            _ => by_topic.push((plan.tp.topic.clone(), vec![p])),
        }
    }
    let mut request = FetchRequest::default()
        .with_replica_id(WireBrokerId(-1))
        .with_max_wait_ms(i32::try_from(settings.max_wait.as_millis()).unwrap_or(i32::MAX))
        .with_min_bytes(settings.min_bytes)
        .with_max_bytes(settings.max_bytes)
        .with_isolation_level(settings.isolation.code())
        .with_topics(
            by_topic
                .into_iter()
                .map(|(name, partitions)| {
                    fetch_request::FetchTopic::default()
                        .with_topic(topic(&name))
                        .with_partitions(partitions)
                })
                .collect(),
        );
    if version >= 7 {
        // No fetch session: every fetch is a full one.
        request = request.with_session_id(0).with_session_epoch(-1);
    }
    if let Some(rack) = settings.rack.as_deref().filter(|_| version >= 11) {
        request = request.with_rack_id(StrBytes::from(rack.to_owned()));
    }
    request
}

/// A Fetch answer: a top-level error, or the partitions.
pub(crate) fn parse_fetch(r: FetchResponse) -> Result<Vec<FetchedPartition>, KafkaCode> {
    if let Some(err) = code(r.error_code) {
        return Err(err);
    }
    Ok(r.responses
        .into_iter()
        .flat_map(|t| {
            let name: Arc<str> = Arc::from(t.topic.0.as_str());
            t.partitions.into_iter().map(move |p| FetchedPartition {
                tp: TopicPartition::new(name.clone(), p.partition_index),
                error: code(p.error_code),
                aborted: p
                    .aborted_transactions
                    .unwrap_or_default()
                    .into_iter()
                    .map(|a| AbortedTxn {
                        producer_id: a.producer_id.0,
                        first_offset: a.first_offset,
                    })
                    .collect(),
                records: p.records.unwrap_or_default(),
                preferred_read_replica: (p.preferred_read_replica.0 >= 0)
                    .then_some(NodeId(p.preferred_read_replica.0)),
                // Absent (v11-, or no divergence) decodes as epoch -1, end offset -1.
                diverging_epoch: (p.diverging_epoch.epoch >= 0
                    && p.diverging_epoch.end_offset >= 0)
                    .then_some(DivergingEpoch {
                        epoch: p.diverging_epoch.epoch,
                        end_offset: p.diverging_epoch.end_offset,
                    }),
            })
        })
        .collect())
}

pub(crate) fn list_offsets_request(
    isolation: i8,
    partitions: &[(TopicPartition, i64, i32)],
    version: i16,
) -> ListOffsetsRequest {
    let mut by_topic: BTreeMap<Arc<str>, Vec<list_offsets_request::ListOffsetsPartition>> =
        BTreeMap::new();
    for (tp, timestamp, epoch) in partitions {
        let mut p = list_offsets_request::ListOffsetsPartition::default()
            .with_partition_index(tp.partition)
            .with_timestamp(*timestamp);
        if version >= 4 {
            p = p.with_current_leader_epoch(*epoch);
        }
        by_topic.entry(tp.topic.clone()).or_default().push(p);
    }
    let request = ListOffsetsRequest::default()
        .with_replica_id(WireBrokerId(-1))
        .with_topics(
            by_topic
                .into_iter()
                .map(|(name, partitions)| {
                    list_offsets_request::ListOffsetsTopic::default()
                        .with_name(topic(&name))
                        .with_partitions(partitions)
                })
                .collect(),
        );
    if version >= 2 {
        request.with_isolation_level(isolation)
    } else {
        request
    }
}

pub(crate) fn parse_list_offsets(
    r: &ListOffsetsResponse,
) -> Vec<(TopicPartition, Result<i64, KafkaCode>)> {
    r.topics
        .iter()
        .flat_map(|t| {
            let name: Arc<str> = Arc::from(t.name.0.as_str());
            t.partitions.iter().map(move |p| {
                let tp = TopicPartition::new(name.clone(), p.partition_index);
                (tp, code(p.error_code).map_or(Ok(p.offset), Err))
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
