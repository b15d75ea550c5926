//! flame-kafka: a pure-Rust Kafka client with the API of flame's `flame\kafka`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
