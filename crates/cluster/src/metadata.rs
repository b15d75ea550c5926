//! The cluster metadata snapshot: brokers, topics, partitions, leaders and leader
//! epochs, as the last Metadata response described them.
//!
//! A [`Metadata`] is immutable; [`crate::Cluster`] swaps in a new `Arc<Metadata>`
//! after each refresh, so readers never lock and never see a half-updated view.

use std::collections::BTreeMap;

use flame_kafka_codec::messages::MetadataResponse;
use flame_kafka_codec::KafkaCode;

use crate::transport::Endpoint;

/// A broker's node id (`node.id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BrokerId(pub i32);

impl std::fmt::Display for BrokerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a broker listens, as it advertises itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrokerAddress {
    /// Advertised host name or IP address.
    pub host: String,
    /// Advertised port.
    pub port: u16,
    /// `broker.rack`, if set.
    pub rack: Option<String>,
}

impl BrokerAddress {
    /// `host:port`, with brackets around an IPv6 literal.
    pub fn address(&self) -> String {
        self.endpoint().address()
    }

    pub(crate) fn endpoint(&self) -> Endpoint {
        Endpoint::new(self.host.clone(), self.port)
    }
}

/// What the cluster said about one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// The topic-level error, e.g. `UNKNOWN_TOPIC_OR_PARTITION` or
    /// `LEADER_NOT_AVAILABLE` right after creation.
    pub error: Option<KafkaCode>,
    /// Whether this is an internal topic (`__consumer_offsets`, ...).
    pub is_internal: bool,
    /// The partitions, sorted by partition index.
    pub partitions: Vec<PartitionMetadata>,
}

/// What the cluster said about one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// The partition index.
    pub partition: i32,
    /// The leader, if the partition has one now.
    pub leader: Option<BrokerId>,
    /// The leader epoch (-1 if the broker did not say).
    pub leader_epoch: i32,
    /// All replicas.
    pub replicas: Vec<BrokerId>,
    /// The in-sync replicas.
    pub isr: Vec<BrokerId>,
    /// The partition-level error, e.g. `LEADER_NOT_AVAILABLE`.
    pub error: Option<KafkaCode>,
}

/// One consistent view of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// The cluster id, if the broker sent one.
    pub cluster_id: Option<String>,
    /// The active controller (in KRaft, a broker picked to receive controller-bound
    /// requests), if known.
    pub controller: Option<BrokerId>,
    /// Every live broker.
    pub brokers: BTreeMap<BrokerId, BrokerAddress>,
    /// The topics asked for (or all topics), by name.
    pub topics: BTreeMap<String, TopicMetadata>,
}

impl Metadata {
    /// Builds a snapshot from a Metadata response. Brokers with a port outside
    /// 1..=65535 and topics without a name are left out.
    pub fn from_response(response: &MetadataResponse) -> Metadata {
        let brokers = response
            .brokers
            .iter()
            .filter_map(|b| {
                let port = u16::try_from(b.port).ok().filter(|&p| p != 0)?;
                let address = BrokerAddress {
                    host: b.host.to_string(),
                    port,
                    rack: b.rack.as_ref().map(ToString::to_string),
                };
                Some((BrokerId(b.node_id.0), address))
            })
            .collect();
        let topics = response
            .topics
            .iter()
            .filter_map(|t| {
                let name = t.name.as_ref()?.0.to_string();
                let mut partitions: Vec<_> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionMetadata {
                        partition: p.partition_index,
                        leader: (p.leader_id.0 >= 0).then_some(BrokerId(p.leader_id.0)),
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.iter().map(|b| BrokerId(b.0)).collect(),
                        isr: p.isr_nodes.iter().map(|b| BrokerId(b.0)).collect(),
                        error: KafkaCode::from_code(p.error_code),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                let topic = TopicMetadata {
                    error: KafkaCode::from_code(t.error_code),
                    is_internal: t.is_internal,
                    partitions,
                };
                Some((name, topic))
            })
            .collect();
        Metadata {
            cluster_id: response.cluster_id.as_ref().map(ToString::to_string),
            controller: (response.controller_id.0 >= 0)
                .then_some(BrokerId(response.controller_id.0)),
            brokers,
            topics,
        }
    }

    /// The topic, if this snapshot knows it (with or without an error).
    pub fn topic(&self, topic: &str) -> Option<&TopicMetadata> {
        self.topics.get(topic)
    }

    /// The partition of `topic`, if known.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMetadata> {
        let partitions = &self.topics.get(topic)?.partitions;
        partitions
            .binary_search_by_key(&partition, |p| p.partition)
            .ok()
            .and_then(|i| partitions.get(i))
    }

    /// The leader and leader epoch of a partition, if it has a leader that is a
    /// live broker.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<(BrokerId, i32)> {
        let p = self.partition(topic, partition)?;
        let leader = p.leader.filter(|id| self.brokers.contains_key(id))?;
        Some((leader, p.leader_epoch))
    }

    /// How many partitions `topic` has, if known without error.
    pub fn partition_count(&self, topic: &str) -> Option<usize> {
        let t = self.topics.get(topic)?;
        (t.error.is_none()).then_some(t.partitions.len())
    }
}

impl TopicMetadata {
    /// Whether every partition has a leader: ready for produce and fetch.
    /// `REPLICA_NOT_AVAILABLE` (a follower is offline) does not count against it.
    pub fn is_ready(&self) -> bool {
        self.error.is_none()
            && !self.partitions.is_empty()
            && self.partitions.iter().all(PartitionMetadata::has_leader)
    }
}

impl PartitionMetadata {
    /// Whether the partition has a leader to send requests to: a leader id and no
    /// error other than `REPLICA_NOT_AVAILABLE` (which brokers report when a
    /// follower is offline while the leader serves).
    pub fn has_leader(&self) -> bool {
        self.leader.is_some() && matches!(self.error, None | Some(KafkaCode::ReplicaNotAvailable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flame_kafka_codec::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use flame_kafka_codec::messages::{self, TopicName};
    use flame_kafka_codec::protocol::StrBytes;

    fn response() -> MetadataResponse {
        let broker = |id: i32, port: i32| {
            MetadataResponseBroker::default()
                .with_node_id(messages::BrokerId(id))
                .with_host(StrBytes::from_static_str("localhost"))
                .with_port(port)
        };
        let partition = |index: i32, leader: i32, error: i16| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(messages::BrokerId(leader))
                .with_leader_epoch(7)
                .with_replica_nodes(vec![messages::BrokerId(1), messages::BrokerId(2)])
                .with_error_code(error)
        };
        MetadataResponse::default()
            .with_brokers(vec![broker(1, 9092), broker(2, 9093), broker(3, -1)])
            .with_controller_id(messages::BrokerId(2))
            .with_cluster_id(Some(StrBytes::from_static_str("c1")))
            .with_topics(vec![
                MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
                    .with_partitions(vec![partition(1, -1, 5), partition(0, 1, 0)]),
                MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str("gone"))))
                    .with_error_code(3),
            ])
    }

    #[test]
    fn builds_a_snapshot() {
        let m = Metadata::from_response(&response());
        assert_eq!(m.cluster_id.as_deref(), Some("c1"));
        assert_eq!(m.controller, Some(BrokerId(2)));
        assert_eq!(m.brokers.len(), 2, "the broker with a bad port is left out");
        assert_eq!(m.brokers[&BrokerId(2)].address(), "localhost:9093");
        assert_eq!(m.leader("t", 0), Some((BrokerId(1), 7)));
        assert_eq!(m.leader("t", 1), None);
        assert_eq!(
            m.partition("t", 1).and_then(|p| p.error),
            Some(KafkaCode::LeaderNotAvailable)
        );
        assert!(!m.topics["t"].is_ready());
        assert_eq!(m.partition_count("t"), Some(2));
        assert_eq!(
            m.topics["gone"].error,
            Some(KafkaCode::UnknownTopicOrPartition)
        );
        assert_eq!(m.partition_count("gone"), None);
    }
}
