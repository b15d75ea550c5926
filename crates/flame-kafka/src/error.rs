//! [`Error`]: everything the flame API can fail with, each from one lower layer.

use flame_kafka_cluster::ClusterError;
use flame_kafka_group::ConsumeError;
use flame_kafka_producer::{FlushError, ProduceError};

use crate::config::ConfigError;

/// An error of the flame API. Say [`Error::is_retriable`] to know whether trying
/// the same call again may succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration was refused; the message names the key.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Connecting to the cluster or asking it something failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A message could not be queued or delivered.
    #[error(transparent)]
    Produce(#[from] ProduceError),
    /// `flush` found messages that failed.
    #[error(transparent)]
    Flush(#[from] FlushError),
    /// The consumer failed.
    #[error(transparent)]
    Consume(#[from] ConsumeError),
    /// `publish` to a topic not given to `produce(config, topics)`.
    #[error("topic `{topic}` is not one this producer was created for ({allowed})")]
    TopicNotAllowed {
        /// The topic asked for.
        topic: String,
        /// The topics given to `produce`, comma-separated.
        allowed: String,
    },
    /// `produce` or `consume` was given no topics.
    #[error("the topic list is empty: give at least one topic")]
    NoTopics,
}

impl Error {
    /// Whether the same call may succeed if made again.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Config(e) => e.is_retriable(),
            Error::Cluster(e) => e.is_retriable(),
            Error::Produce(e) => e.is_retriable(),
            Error::Consume(e) => e.is_retriable(),
            Error::Flush(_) | Error::TopicNotAllowed { .. } | Error::NoTopics => false,
        }
    }
}
