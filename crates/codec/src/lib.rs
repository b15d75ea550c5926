//! The sans-IO Kafka wire codec of flame-kafka.
//!
//! What it does: frames requests and responses ([`frame`]), picks the version of each
//! API to speak with a broker ([`versions`]), encodes and decodes record batches
//! ([`record_batch`]) with every compression codec in pure Rust ([`compression`]),
//! and names every Kafka error code ([`KafkaCode`]).
//!
//! What it does not do: no sockets, no async runtime, no clocks, no retries. The
//! `flame-kafka-cluster` crate drives it over TCP/TLS.
//!
//! Message types come from [`kafka_protocol`] (re-exported as [`messages`] and
//! [`protocol`]); its decoders allocate from lengths read off the wire, so every
//! response goes through [`guard`] first: no input may panic or abort the process.
//!
//! Record batches use message format v2 (magic 2) only. The legacy message sets
//! (magic 0 and 1) are refused with [`CodecError::UnsupportedMagic`]: Kafka 4
//! removed them, and brokers since 0.11 write v2.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod compression;
mod error;
pub mod frame;
pub mod guard;
mod kafka_code;
pub mod record_batch;
pub mod versions;

pub use compression::Compression;
pub use error::CodecError;
pub use frame::{decode_response, encode_request, FrameDecoder, RequestMeta};
pub use kafka_code::KafkaCode;
pub use record_batch::{Header, Record, RecordBatch};
pub use versions::NegotiatedVersions;

/// Kafka's generated request and response types (from the `kafka-protocol` crate).
pub use kafka_protocol::messages;
/// kafka-protocol's encoding traits and helper types (`StrBytes`, `Request`, ...).
pub use kafka_protocol::protocol;
