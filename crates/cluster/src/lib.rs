//! Broker connections, cluster metadata and security for flame-kafka.
//!
//! Everything above the codec talks to brokers through [`Cluster`]: it bootstraps
//! from `bootstrap.servers`, keeps pipelined connections per (broker, purpose),
//! negotiates API versions per broker, authenticates (TLS, SASL), caches metadata
//! and refreshes it when a request meets a stale-leader error.
//!
//! ```no_run
//! use flame_kafka_cluster::{Cluster, ClusterConfig, ClusterError, Purpose};
//! use flame_kafka_codec::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
//! use flame_kafka_codec::messages::{ListOffsetsRequest, TopicName};
//!
//! # async fn example() -> Result<(), ClusterError> {
//! let mut config = ClusterConfig::new("kafka-1:9092,kafka-2:9092");
//! config.client_id = "my-app".into();
//! let cluster = Cluster::connect(config).await?;
//! cluster.ensure_topics(&["events".to_owned()]).await?;
//! let (leader, epoch) = cluster.leader("events", 0).await?;
//! let (response, _version) = cluster
//!     .send_with(leader, Purpose::Fetch, |_version| {
//!         ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
//!             .with_name(TopicName("events".into()))
//!             .with_partitions(vec![ListOffsetsPartition::default()
//!                 .with_partition_index(0)
//!                 .with_current_leader_epoch(epoch)
//!                 .with_timestamp(-1)])])
//!     })
//!     .await?;
//! println!("end offset: {}", response.topics[0].partitions[0].offset);
//! # Ok(())
//! # }
//! ```
//!
//! # Connections
//!
//! A broker answers the requests of one connection one at a time, in order, so
//! what shares a connection matters:
//!
//! - The [`Cluster`] keeps one *shared* connection per (broker, [`Purpose`]), used
//!   by [`Cluster::send`], [`Cluster::send_with`] and the metadata requests. Every
//!   holder of the `Cluster` (and every clone) uses the same ones.
//! - A [`Lane`] ([`Cluster::lane`]) has connections of its own, one per broker it
//!   sends to, closed when the lane is dropped. Use one for requests the broker
//!   holds, or that must not wait behind such requests of others: each consumer
//!   in a group sends its JoinGroup/SyncGroup (held by the coordinator for a whole
//!   rebalance) and its heartbeats on lanes of its own, and its long-polling
//!   fetches on another, so consumers sharing one `Cluster` never hold up each
//!   other.
//!
//! # Timeouts
//!
//! Each request waits at most `request.timeout.ms` ([`ClusterConfig::request_timeout`])
//! for its response, unless sent with an explicit timeout
//! ([`Cluster::send_with_timeout`], [`Lane::send_with_timeout`]) — for requests the
//! broker may hold longer: a JoinGroup (up to the rebalance timeout; Java waits
//! rebalance timeout + 5 s) or a Fetch (up to its `max_wait_ms` on top of the
//! request timeout). A request that times out closes its connection, failing the
//! other requests on it: a late response must never be read as another's answer.
//!
//! What it does not do: retry requests (the producer and consumer decide what is
//! safe to resend, using [`ClusterError::is_retriable`]), choose partitions, or
//! manage consumer groups.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admin;
mod backoff;
mod cluster;
mod config;
mod connection;
mod error;
mod handshake;
mod lane;
mod metadata;
mod pool;
pub mod sasl;
pub mod security;
pub mod tls;
mod transport;

pub use admin::NewTopic;
pub use cluster::Cluster;
pub use config::ClusterConfig;
pub use connection::ConnectionStats;
pub use error::{BrokerRef, ClusterError, DisconnectReason};
pub use lane::Lane;
pub use metadata::{BrokerAddress, BrokerId, Metadata, PartitionMetadata, TopicMetadata};
pub use pool::Purpose;
