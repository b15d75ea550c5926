//! Broker connections, cluster metadata and security for flame-kafka.
//!
//! Everything above the codec talks to brokers through [`Cluster`]: it bootstraps
//! from `bootstrap.servers`, keeps one pipelined connection per (broker, purpose),
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
mod metadata;
mod pool;
pub mod sasl;
pub mod security;
pub mod tls;
mod transport;

pub use cluster::Cluster;
pub use config::ClusterConfig;
pub use error::{BrokerRef, ClusterError, DisconnectReason};
pub use metadata::{BrokerAddress, BrokerId, Metadata, PartitionMetadata, TopicMetadata};
pub use pool::Purpose;
