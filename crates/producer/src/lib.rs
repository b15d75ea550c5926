//! The flame-kafka producer.
//!
//! [`Producer`] is the application's handle: [`Producer::send`] queues a
//! [`ProducerRecord`] and returns a [`DeliveryFuture`] for its outcome
//! ([`RecordMetadata`] or [`ProduceError`]); [`Producer::flush`] and
//! [`Producer::close`] wait for what is queued.
//!
//! Inside, the work is split as everywhere in flame-kafka:
//! - [`partitioner`]: the partitioners of librdkafka and the Java client, as pure
//!   functions that compute exactly what those clients compute;
//! - [`accumulator`]: a sans-IO state machine (no sockets, no tasks, the time passed
//!   in) that batches records per partition, builds Produce requests, retries,
//!   expires, and numbers batches for idempotence;
//! - a driver task per producer that feeds the accumulator and talks to the brokers
//!   through [`Cluster`].
//!
//! A batch the broker refuses as too large is split and sent again, as the Java
//! client does (see [`accumulator`]); only a single record that is still too large
//! fails, with [`ProduceError::RecordTooLargeForBroker`].
//!
//! What it does not do: transactions (`transactional.id`) or custom partitioners.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod accumulator;
mod config;
mod delivery;
mod driver;
mod error;
mod inbox;
pub mod partitioner;
mod producer;
mod record;

pub use config::{Acks, ConfigError, ProducerConfig, IDEMPOTENT_MAX_IN_FLIGHT};
pub use error::{FlushError, ProduceError};
pub use flame_kafka_cluster::{BrokerId, Cluster, ClusterError};
pub use flame_kafka_codec::record_batch::Header;
pub use flame_kafka_codec::Compression;
pub use partitioner::Partitioner;
pub use producer::{DeliveryFuture, Producer};
pub use record::{ProducerRecord, RecordMetadata};
