//! The driver's network calls: each turns a machine's plain request into a
//! kafka-protocol message at the negotiated version, sends it through the
//! [`Cluster`] on the right connection with the right timeout, and reads the
//! answer back into plain data.

use std::collections::BTreeMap;
use std::time::Duration;

use flame_kafka_cluster::{BrokerId, Cluster, ClusterError, Lane, Purpose};
use flame_kafka_codec::{CodecError, KafkaCode};
use uuid::Uuid;

use crate::config::ConsumerConfig;
use crate::fetcher::{FetchPartitionPlan, FetchSettings, FetchedPartition};
use crate::requests::{GroupRequest, GroupResponse, Target};
use crate::{wire, TopicPartition};

/// How much longer than the rebalance timeout a JoinGroup may take (Java's
/// `JOIN_GROUP_TIMEOUT_LAPSE`).
const JOIN_TIMEOUT_LAPSE: Duration = Duration::from_secs(5);

/// One consumer's connections and the timeouts of its requests.
///
/// A broker answers one request per connection at a time, in order, and a group
/// coordinator holds a JoinGroup (and a follower's SyncGroup) until the rebalance
/// completes. So each consumer has lanes (connections) of its own — consumers
/// sharing a [`Cluster`] never wait behind each other — and splits its own
/// traffic so that nothing time-critical waits behind a held request:
///
/// - `membership`: JoinGroup, SyncGroup, Heartbeat, ConsumerGroupHeartbeat. The
///   group machine heartbeats only when stable (never while its JoinGroup or
///   SyncGroup is out), so a heartbeat waits behind neither.
/// - `offsets`: OffsetCommit, OffsetFetch, LeaveGroup — answered at once, and
///   needed during a rebalance (commits of revoked partitions; leaving while a
///   JoinGroup is held), so never behind a JoinGroup; nor heartbeats behind them.
/// - `fetch`: Fetch (long polls) and ListOffsets, to the partition leaders.
///
/// FindCoordinator goes on the cluster's shared group connection: it is answered
/// at once and nothing held travels there.
#[derive(Debug, Clone)]
pub(crate) struct Lanes {
    cluster: Cluster,
    membership: Lane,
    offsets: Lane,
    fetch: Lane,
    /// JoinGroup and SyncGroup: the rebalance timeout (`max.poll.interval.ms`)
    /// + 5 s, and at least `request.timeout.ms` — as the Java client.
    rebalance_timeout: Duration,
    /// Fetch and ListOffsets: `request.timeout.ms` + `fetch.wait.max.ms` (a
    /// ListOffsets may wait behind a long poll on the fetch lane).
    fetch_timeout: Duration,
}

impl Lanes {
    /// New lanes on `cluster` (no I/O: each connects on first use).
    pub(crate) fn new(cluster: &Cluster, config: &ConsumerConfig) -> Lanes {
        let (rebalance_timeout, fetch_timeout) = timeouts(cluster.config().request_timeout, config);
        Lanes {
            membership: cluster.lane(Purpose::Group),
            offsets: cluster.lane(Purpose::Group),
            fetch: cluster.lane(Purpose::Fetch),
            rebalance_timeout,
            fetch_timeout,
            cluster: cluster.clone(),
        }
    }
}

/// The timeouts of JoinGroup/SyncGroup and of Fetch/ListOffsets (see [`Lanes`]).
fn timeouts(request_timeout: Duration, config: &ConsumerConfig) -> (Duration, Duration) {
    let rebalance = config.max_poll_interval.saturating_add(JOIN_TIMEOUT_LAPSE);
    (
        request_timeout.max(rebalance),
        request_timeout.saturating_add(config.fetch_wait_max),
    )
}

/// Sends one group request and reads its answer.
pub(crate) async fn send_group(
    lanes: &Lanes,
    target: Target,
    request: GroupRequest,
) -> Result<GroupResponse, ClusterError> {
    let cluster = &lanes.cluster;
    let broker = match target {
        Target::AnyBroker => cluster.any_broker().await?,
        Target::Coordinator(node) => BrokerId(node.0),
    };
    let (membership, offsets_lane) = (&lanes.membership, &lanes.offsets);
    Ok(match request {
        GroupRequest::FindCoordinator { group_id } => {
            let (r, v) = cluster
                .send_with(broker, Purpose::Group, |v| {
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
            let (r, _) = membership
                .send_with_timeout(broker, lanes.rebalance_timeout, |v| {
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
            let (r, _) = membership
                .send_with_timeout(broker, lanes.rebalance_timeout, |v| {
                    wire::sync_group_request(&group_id, &identity, &protocol_name, &assignments, v)
                })
                .await?;
            wire::parse_sync_group(r)
        }
        GroupRequest::Heartbeat { group_id, identity } => {
            let (r, _) = membership
                .send_with(broker, |v| wire::heartbeat_request(&group_id, &identity, v))
                .await?;
            GroupResponse::Heartbeat(KafkaCode::from_code(r.error_code).map_or(Ok(()), Err))
        }
        GroupRequest::LeaveGroup {
            group_id,
            identity,
            reason,
        } => {
            let (r, _) = offsets_lane
                .send_with(broker, |v| {
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
            let (r, _) = offsets_lane
                .send_with(broker, |v| {
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
            let (r, v) = offsets_lane
                .send_with(broker, |v| {
                    wire::offset_fetch_request(&group_id, &identity, &partitions, v)
                })
                .await?;
            wire::parse_offset_fetch(&r, v)
        }
        GroupRequest::ConsumerGroupHeartbeat(hb) => {
            let sent = membership
                .send_with(broker, |v| wire::consumer_heartbeat_request(&hb, v))
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
    lanes: &Lanes,
    node: i32,
    settings: &FetchSettings,
    partitions: &[FetchPartitionPlan],
) -> Result<Result<Vec<FetchedPartition>, KafkaCode>, ClusterError> {
    let (r, _) = lanes
        .fetch
        .send_with_timeout(BrokerId(node), lanes.fetch_timeout, |v| {
            wire::fetch_request(settings, partitions, v)
        })
        .await?;
    Ok(wire::parse_fetch(r))
}

/// Sends one ListOffsets.
pub(crate) async fn list_offsets(
    lanes: &Lanes,
    node: i32,
    isolation: i8,
    partitions: &[(TopicPartition, i64, i32)],
) -> Result<Vec<(TopicPartition, Result<i64, KafkaCode>)>, ClusterError> {
    let (r, _) = lanes
        .fetch
        .send_with_timeout(BrokerId(node), lanes.fetch_timeout, |v| {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_requests_get_longer_timeouts() {
        let secs = Duration::from_secs;
        let mut config = ConsumerConfig::new("g");
        // Defaults: max.poll.interval.ms 300 s, fetch.wait.max.ms 500 ms.
        assert_eq!(
            timeouts(secs(30), &config),
            (secs(305), Duration::from_millis(30_500))
        );
        // Never below the request timeout.
        config.max_poll_interval = secs(1);
        config.fetch_wait_max = secs(10);
        assert_eq!(timeouts(secs(30), &config), (secs(30), secs(40)));
    }
}
