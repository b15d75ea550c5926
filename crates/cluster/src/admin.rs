//! A small admin helper on [`Cluster`]: creating and deleting topics (used by tests
//! and tools; not a full admin client).

use std::collections::BTreeMap;
use std::time::Duration;

use flame_kafka_codec::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use flame_kafka_codec::messages::delete_topics_request::DeleteTopicState;
use flame_kafka_codec::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use flame_kafka_codec::messages::{
    ApiKey, BrokerId as WireBrokerId, CreateTopicsRequest, DeleteTopicsRequest, ListOffsetsRequest,
    MetadataRequest, TopicName,
};
use flame_kafka_codec::protocol::StrBytes;
use flame_kafka_codec::KafkaCode;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::cluster::metadata_request;
use crate::error::{BrokerRef, ClusterError};
use crate::metadata::{BrokerId, Metadata};
use crate::pool::Purpose;
use crate::Cluster;

/// A topic for [`Cluster::create_topics_with_configs`]: its name, partition count,
/// replication factor and topic configs.
///
/// ```
/// use flame_kafka_cluster::NewTopic;
///
/// let topic = NewTopic::new("orders", 3, 1)
///     .config("max.message.bytes", "2000")
///     .config("cleanup.policy", "compact");
/// assert_eq!(topic.configs.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// The topic's name.
    pub name: String,
    /// How many partitions it has.
    pub partitions: i32,
    /// How many replicas each partition has.
    pub replication_factor: i16,
    /// Topic configs as `(key, value)`, e.g. `("max.message.bytes", "2000")`; the
    /// broker's defaults apply to every key not given.
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with `partitions` partitions of `replication_factor` replicas each
    /// and no configs of its own.
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> Self {
        NewTopic {
            name: name.into(),
            partitions,
            replication_factor,
            configs: Vec::new(),
        }
    }

    /// Adds the topic config `key` = `value` (as named in Kafka's topic
    /// configuration reference). Give each key once.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }

    fn to_creatable(&self) -> CreatableTopic {
        let configs = self
            .configs
            .iter()
            .map(|(key, value)| {
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_string(key.clone()))
                    .with_value(Some(StrBytes::from_string(value.clone())))
            })
            .collect();
        CreatableTopic::default()
            .with_name(topic_name(&self.name))
            .with_num_partitions(self.partitions)
            .with_replication_factor(self.replication_factor)
            .with_configs(configs)
    }
}

/// Attempts for an admin request that meets a retriable error.
const ADMIN_ATTEMPTS: u32 = 3;
/// The ListOffsets timestamp that asks for the log end offset.
const LATEST_OFFSET: i64 = -1;
/// Pause between checks that every broker sees a created or deleted topic.
const PROPAGATION_POLL: Duration = Duration::from_millis(100);

impl Cluster {
    /// Creates topics, each given as `(name, partitions, replication factor)`, and
    /// waits (up to `request.timeout.ms`) until every broker's metadata shows them
    /// with a leader for every partition and each of those leaders serves its
    /// partition. A topic that already exists is not an
    /// error. To set topic configs (`max.message.bytes`, `cleanup.policy`, ...), use
    /// [`Cluster::create_topics_with_configs`].
    ///
    /// # Errors
    /// [`ClusterError::Kafka`] with the topic and the broker's message for a topic
    /// the broker refused (e.g. `INVALID_REPLICATION_FACTOR`); connection errors.
    pub async fn create_topics(&self, topics: &[(&str, i32, i16)]) -> Result<(), ClusterError> {
        let topics: Vec<NewTopic> = topics
            .iter()
            .map(|&(name, partitions, replication)| NewTopic::new(name, partitions, replication))
            .collect();
        self.create_topics_with_configs(&topics).await
    }

    /// Like [`Cluster::create_topics`], with each topic's configs (see
    /// [`NewTopic::config`]). A topic that already exists is not an error, and
    /// its configs are left as they are.
    ///
    /// # Errors
    /// [`ClusterError::Kafka`] with the topic and the broker's message for a topic
    /// the broker refused (e.g. `INVALID_REPLICATION_FACTOR`, `INVALID_CONFIG` for
    /// an unknown config or a bad value); connection errors.
    pub async fn create_topics_with_configs(
        &self,
        topics: &[NewTopic],
    ) -> Result<(), ClusterError> {
        if topics.is_empty() {
            return Ok(());
        }
        let timeout_ms = self.timeout_ms();
        self.admin_retry(|broker| async move {
            let (response, _) = self
                .send_with(broker, Purpose::Metadata, |_| {
                    let creatable = topics.iter().map(NewTopic::to_creatable).collect();
                    CreateTopicsRequest::default()
                        .with_topics(creatable)
                        .with_timeout_ms(timeout_ms)
                })
                .await?;
            for result in &response.topics {
                match KafkaCode::from_code(result.error_code) {
                    None | Some(KafkaCode::TopicAlreadyExists) => {}
                    Some(code) => {
                        return Err(admin_error(
                            code,
                            ApiKey::CreateTopics,
                            self.broker_ref(broker),
                            result.name.0.to_string(),
                            result.error_message.as_ref().map(ToString::to_string),
                        ))
                    }
                }
            }
            Ok(())
        })
        .await?;
        let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
        self.await_propagation(&names, |m, t| m.topic(t).is_some_and(|t| t.is_ready()))
            .await;
        self.await_leaders_serving(&names).await;
        Ok(())
    }

    /// Deletes topics and waits (up to `request.timeout.ms`) until no broker's
    /// metadata shows them. A topic that does not exist is not an error. The topics
    /// are also dropped from the set metadata requests ask for.
    ///
    /// # Errors
    /// [`ClusterError::Kafka`] for a topic the broker refused to delete;
    /// connection errors.
    pub async fn delete_topics(&self, topics: &[&str]) -> Result<(), ClusterError> {
        if topics.is_empty() {
            return Ok(());
        }
        let timeout_ms = self.timeout_ms();
        self.admin_retry(|broker| async move {
            let (response, _) = self
                .send_with(broker, Purpose::Metadata, |version| {
                    let request = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms);
                    if version >= 6 {
                        request.with_topics(
                            topics
                                .iter()
                                .map(|&t| {
                                    DeleteTopicState::default().with_name(Some(topic_name(t)))
                                })
                                .collect(),
                        )
                    } else {
                        request.with_topic_names(topics.iter().map(|&t| topic_name(t)).collect())
                    }
                })
                .await?;
            for result in &response.responses {
                match KafkaCode::from_code(result.error_code) {
                    None | Some(KafkaCode::UnknownTopicOrPartition) => {}
                    Some(code) => {
                        return Err(admin_error(
                            code,
                            ApiKey::DeleteTopics,
                            self.broker_ref(broker),
                            result
                                .name
                                .as_ref()
                                .map(|n| n.0.to_string())
                                .unwrap_or_default(),
                            result.error_message.as_ref().map(ToString::to_string),
                        ))
                    }
                }
            }
            Ok(())
        })
        .await?;
        let names: Vec<String> = topics.iter().map(|&t| t.to_owned()).collect();
        self.forget_interest(&names);
        self.await_propagation(&names, |m, t| {
            m.topic(t)
                .is_none_or(|t| t.error == Some(KafkaCode::UnknownTopicOrPartition))
        })
        .await;
        Ok(())
    }

    /// Runs `attempt` against the controller (or any broker), retrying retriable
    /// failures a few times after a metadata refresh.
    async fn admin_retry<F, Fut>(&self, attempt: F) -> Result<(), ClusterError>
    where
        F: Fn(BrokerId) -> Fut,
        Fut: std::future::Future<Output = Result<(), ClusterError>>,
    {
        let config = self.config();
        let mut backoff = Backoff::new(config.reconnect_backoff, config.reconnect_backoff_max);
        loop {
            let metadata = self.metadata();
            let broker = match metadata
                .controller
                .filter(|c| metadata.brokers.contains_key(c))
            {
                Some(controller) => controller,
                None => self.any_broker().await?,
            };
            match attempt(broker).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retriable() && backoff.failures() + 1 < ADMIN_ATTEMPTS => {
                    tracing::debug!(error = %e, "admin request failed; retrying");
                    tokio::time::sleep(backoff.delay()).await;
                    backoff.fail();
                    // Best effort: the next attempt reports its own error.
                    let _ = self.refresh_metadata().await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Polls every broker's metadata for `topics` until `done` holds for each
    /// topic on each broker, or `request.timeout.ms` passes (then gives up quietly:
    /// the admin request itself succeeded).
    async fn await_propagation(&self, topics: &[String], done: impl Fn(&Metadata, &str) -> bool) {
        let deadline = Instant::now() + self.config().request_timeout;
        loop {
            let brokers: Vec<BrokerId> = self.metadata().brokers.keys().copied().collect();
            let mut all = true;
            for broker in brokers {
                let sent = self
                    .send_with(broker, Purpose::Metadata, |v| -> MetadataRequest {
                        metadata_request(topics, v, false)
                    })
                    .await;
                let seen = sent.is_ok_and(|(response, _)| {
                    let metadata = Metadata::from_response(&response);
                    topics.iter().all(|t| done(&metadata, t))
                });
                if !seen {
                    all = false;
                    break;
                }
            }
            if all {
                return;
            }
            if Instant::now() + PROPAGATION_POLL > deadline {
                tracing::debug!(?topics, "topic change not yet seen by every broker");
                return;
            }
            tokio::time::sleep(PROPAGATION_POLL).await;
        }
    }

    /// Asks each partition's leader for its log end offset (ListOffsets) until
    /// every partition of `topics` answers without an error, or
    /// `request.timeout.ms` passes (then gives up quietly, as
    /// [`Cluster::await_propagation`] does).
    ///
    /// A new partition is in the metadata a moment before its leader has created
    /// its log. Until then the leader refuses it with NOT_LEADER_OR_FOLLOWER, and
    /// an acks=0 write, which has no answer to carry that error, is dropped
    /// without a word. Once this returns, the topics take writes of every kind.
    async fn await_leaders_serving(&self, topics: &[String]) {
        let deadline = Instant::now() + self.config().request_timeout;
        while !self.leaders_serving(topics).await {
            if Instant::now() + PROPAGATION_POLL > deadline {
                tracing::debug!(?topics, "new partitions not yet served by their leaders");
                return;
            }
            tokio::time::sleep(PROPAGATION_POLL).await;
        }
    }

    /// Whether every partition of `topics` has a leader (per a fresh metadata
    /// answer) that answers a ListOffsets for it without an error.
    async fn leaders_serving(&self, topics: &[String]) -> bool {
        let Ok(broker) = self.any_broker().await else {
            return false;
        };
        let Ok((response, _)) = self
            .send_with(broker, Purpose::Metadata, |v| -> MetadataRequest {
                metadata_request(topics, v, false)
            })
            .await
        else {
            return false;
        };
        let metadata = Metadata::from_response(&response);
        // Per leader, per topic, the partitions it leads.
        let mut by_leader: BTreeMap<BrokerId, BTreeMap<&str, Vec<ListOffsetsPartition>>> =
            BTreeMap::new();
        for name in topics {
            let Some(topic) = metadata
                .topic(name)
                .filter(|t| t.error.is_none() && !t.partitions.is_empty())
            else {
                return false;
            };
            for partition in &topic.partitions {
                let Some(leader) = partition.leader else {
                    return false;
                };
                by_leader
                    .entry(leader)
                    .or_default()
                    .entry(name.as_str())
                    .or_default()
                    .push(
                        ListOffsetsPartition::default()
                            .with_partition_index(partition.partition)
                            .with_timestamp(LATEST_OFFSET),
                    );
            }
        }
        for (leader, asked) in by_leader {
            let asked = asked
                .into_iter()
                .map(|(name, partitions)| {
                    ListOffsetsTopic::default()
                        .with_name(topic_name(name))
                        .with_partitions(partitions)
                })
                .collect();
            let request = ListOffsetsRequest::default()
                .with_replica_id(WireBrokerId(-1))
                .with_topics(asked);
            let Ok((response, _)) = self.send(leader, Purpose::Metadata, &request).await else {
                return false;
            };
            if response
                .topics
                .iter()
                .flat_map(|t| &t.partitions)
                .any(|p| p.error_code != 0)
            {
                return false;
            }
        }
        true
    }

    fn timeout_ms(&self) -> i32 {
        i32::try_from(self.config().request_timeout.as_millis()).unwrap_or(i32::MAX)
    }

    fn broker_ref(&self, broker: BrokerId) -> BrokerRef {
        let address = self
            .metadata()
            .brokers
            .get(&broker)
            .map(|a| a.address())
            .unwrap_or_default();
        BrokerRef::broker(broker, address)
    }
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

fn admin_error(
    code: KafkaCode,
    api: ApiKey,
    broker: BrokerRef,
    topic: String,
    message: Option<String>,
) -> ClusterError {
    ClusterError::Kafka {
        code,
        api: Some(api),
        broker: Some(broker),
        topic: Some(topic),
        partition: None,
        message,
    }
}
