#![doc = include_str!("../../../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
mod consumer;
mod error;
mod message;
mod producer;
mod settings;

pub use consumer::{consume, Consumer};
pub use error::Error;
pub use message::{Headers, Message};
pub use producer::{produce, Ack, Delivery, Producer};

/// The lower crates, for those who need more control than the flame API gives.
pub mod lower {
    pub use flame_kafka_cluster as cluster;
    pub use flame_kafka_codec as codec;
    pub use flame_kafka_group as group;
    pub use flame_kafka_producer as producer;
}
