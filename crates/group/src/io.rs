//! The driver's network calls: each turns a machine's plain request into a
//! kafka-protocol message at the negotiated version, sends it through the
//! [`Cluster`], and reads the answer back into plain data.

use std::collections::BTreeMap;
use std::time::Duration;

use flame_kafka_cluster::{BrokerId, Cluster, ClusterError, Purpose};
use flame_kafka_codec::{CodecError, KafkaCode};
use uuid::Uuid;

use crate::fetcher::{FetchPartitionPlan, FetchSettings, FetchedPartition};
use crate::requests::{GroupRequest, GroupResponse, Target};
use crate::{wire, TopicPartition};

/// Sends one group request and reads its answer.
pub(crate) async fn send_group(
    cluster: &Cluster,
    target: Target,
    request: GroupRequest,
) -> Result<GroupResponse, ClusterError> {
    let broker = match target {
        Target::AnyBroker => cluster.any_broker().await?,
        Target::Coordinator(node) => BrokerId(node.0),
    };
    let group = Purpose::Group;
    Ok(match request {
        GroupRequest::FindCoordinator { group_id } => {
            let (r, v) = cluster
                .send_with(broker, group, |v| {
                    wire::find_coordinator_request(&group_id, v)
                })
                .await?;
            wire::parse_find_coordinator(&r, v)
        }
        GroupRequest::JoinGroup {
            group_id,
            identity,
            session_timeout_ms,
            rebalance_timeout_ms,
            protocols,
            reason,
        } => {
            let (r, _) = cluster
                .send_with(broker, group, |v| {
                    wire::join_group_request(
                        &group_id,
                        &identity,
                        session_timeout_ms,
                        rebalance_timeout_ms,
                        &protocols,
                        reason,
                        v,
                    )
                })
                .await?;
            wire::parse_join_group(r)
        }
        GroupRequest::SyncGroup {
            group_id,
            identity,
            protocol_name,
            assignments,
        } => {
            let (r, _) = cluster
                .send_with(broker, group, |v| {
                    wire::sync_group_request(&group_id, &identity, &protocol_name, &assignments, v)
                })
                .await?;
            wire::parse_sync_group(r)
        }
        GroupRequest::Heartbeat { group_id, identity } => {
            let (r, _) = cluster
                .send_with(broker, group, |v| {
                    wire::heartbeat_request(&group_id, &identity, v)
                })
                .await?;
            GroupResponse::Heartbeat(KafkaCode::from_code(r.error_code).map_or(Ok(()), Err))
        }
        GroupRequest::LeaveGroup {
            group_id,
            identity,
            reason,
        } => {
            let (r, _) = cluster
                .send_with(broker, group, |v| {
                    wire::leave_group_request(&group_id, &identity, reason, v)
                })
                .await?;
            wire::parse_leave_group(&r)
        }
        GroupRequest::OffsetCommit {
            group_id,
            identity,
            offsets,
        } => {
            let (r, _) = cluster
                .send_with(broker, group, |v| {
                    wire::offset_commit_request(&group_id, &identity, &offsets, v)
                })
                .await?;
            wire::parse_offset_commit(&r)
        }
        GroupRequest::OffsetFetch {
            group_id,
            identity,
            partitions,
        } => {
            let (r, v) = cluster
                .send_with(broker, group, |v| {
                    wire::offset_fetch_request(&group_id, &identity, &partitions, v)
                })
                .await?;
            wire::parse_offset_fetch(&r, v)
        }
        GroupRequest::ConsumerGroupHeartbeat(hb) => {
            let sent = cluster
                .send_with(broker, group, |v| wire::consumer_heartbeat_request(&hb, v))
                .await;
            match sent {
                Ok((r, _)) => wire::parse_consumer_heartbeat(r),
                // The broker does not implement KIP-848 at all.
                Err(ClusterError::Codec {
                    source: CodecError::NoCommonVersion { .. },
                    ..
                }) => GroupResponse::ConsumerGroupHeartbeat(Err(KafkaCode::UnsupportedVersion)),
                Err(e) => return Err(e),
            }
        }
    })
}

/// Sends one Fetch; `Ok(Err(code))` is a top-level error.
pub(crate) async fn fetch(
    cluster: &Cluster,
    node: i32,
    settings: &FetchSettings,
    partitions: &[FetchPartitionPlan],
) -> Result<Result<Vec<FetchedPartition>, KafkaCode>, ClusterError> {
    let (r, _) = cluster
        .send_with(BrokerId(node), Purpose::Fetch, |v| {
            wire::fetch_request(settings, partitions, v)
        })
        .await?;
    Ok(wire::parse_fetch(r))
}

/// Sends one ListOffsets.
pub(crate) async fn list_offsets(
    cluster: &Cluster,
    node: i32,
    isolation: i8,
    partitions: &[(TopicPartition, i64, i32)],
) -> Result<Vec<(TopicPartition, Result<i64, KafkaCode>)>, ClusterError> {
    let (r, _) = cluster
        .send_with(BrokerId(node), Purpose::Fetch, |v| {
            wire::list_offsets_request(isolation, partitions, v)
        })
        .await?;
    Ok(wire::parse_list_offsets(&r))
}

/// Partition counts of `topics` (those that exist).
pub(crate) async fn partition_counts(
    cluster: &Cluster,
    topics: &[String],
) -> BTreeMap<String, i32> {
    let metadata = match cluster.ensure_topics(topics).await {
        Ok(metadata) => metadata,
        Err(_) => {
            // Some topic is missing or not ready: take the others one by one.
            for topic in topics {
                let _ = cluster.ensure_topics(std::slice::from_ref(topic)).await;
            }
            cluster.metadata()
        }
    };
    topics
        .iter()
        .filter_map(|t| {
            let meta = metadata.topics.get(t)?;
            let count = i32::try_from(meta.partitions.len()).ok()?;
            (meta.error.is_none() && count > 0).then(|| (t.clone(), count))
        })
        .collect()
}

/// Names of every topic by id (KIP-848 assignments name topics by id). On failure
/// waits `backoff` and returns nothing, so that the machine asks again.
pub(crate) async fn topic_names(cluster: &Cluster, backoff: Duration) -> BTreeMap<Uuid, String> {
    let result = async {
        let broker = cluster.any_broker().await?;
        let (r, _) = cluster
            .send_with(broker, Purpose::Metadata, wire::all_topics_metadata_request)
            .await?;
        Ok::<_, ClusterError>(wire::parse_topic_names(&r))
    }
    .await;
    match result {
        Ok(names) => names,
        Err(e) => {
            tracing::warn!(error = %e, "topic id lookup failed");
            tokio::time::sleep(backoff).await;
            BTreeMap::new()
        }
    }
}

/// Whether a cluster error means the consumer cannot go on (credentials, TLS,
/// configuration), as opposed to a request worth retrying.
pub(crate) fn is_fatal(e: &ClusterError) -> bool {
    matches!(
        e,
        ClusterError::Sasl { .. } | ClusterError::Tls { .. } | ClusterError::Config { .. }
    ) && !e.is_retriable()
}
