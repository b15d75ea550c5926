//! Consumer groups for flame-kafka: membership, assignment, offsets and fetching.
//!
//! The protocol logic is sans-IO — state machines that take answers and the time
//! as input and produce requests, events and deadlines as output, with no sockets,
//! no clock and no async runtime:
//!
//! - [`GroupMachine`]: the classic group protocol (`group.protocol=classic`, the
//!   default): FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, with
//!   the client-side assignors of [`assignor`] (`range`, `roundrobin`,
//!   `cooperative-sticky`) speaking the standard "consumer" embedded protocol
//!   ([`protocol`]), so groups may mix flame-kafka, Java and librdkafka members.
//! - [`ConsumerGroupMachine`]: the KIP-848 protocol (`group.protocol=consumer`,
//!   opt-in; Kafka 4.0+), with broker-side assignment. A broker without it is a
//!   clear fatal error ([`GroupError::ConsumerProtocolUnsupported`]), not a silent
//!   fall back to classic.
//! - [`OffsetTracker`]: which offsets are finished and may be committed, and which
//!   records the application still holds: a revoked partition is handed over to
//!   its next owner only once none are (bounded by `max.poll.interval.ms`), so two
//!   members never process the same records at the same time.
//! - [`Fetcher`]: positions, `auto.offset.reset`, Fetch/ListOffsets planning,
//!   transaction filtering, the record buffer.
//!
//! [`Consumer`] is the async handle; its driver task (tokio) owns the machines and
//! talks to brokers through `flame_kafka_cluster::Cluster`.
//!
//! Defaults that differ between the Java client and librdkafka, and what we chose
//! (see [`ConsumerConfig`] for every setting):
//!
//! - `group.protocol`: `classic`; `consumer` (KIP-848) is opt-in.
//! - `partition.assignment.strategy`: `range,cooperative-sticky` (Java's default;
//!   shares `range` with librdkafka's `range,roundrobin`). Any eager strategy in the
//!   list makes rebalances eager, as in Java.
//! - `isolation.level`: `read_committed` (librdkafka's default).
//! - `check.crcs`: `true` (librdkafka: false) — CRC32C is cheap next to decoding.
//! - `enable.auto.offset.store`: `false` (librdkafka: true) — records count as
//!   finished only when marked done, so auto-commit is at-least-once.
//! - Commit on revoke and on close only with `enable.auto.commit=true`.
//!
//! Not implemented: regex subscriptions, custom assignors, rack-aware assignment,
//! fetch sessions (KIP-227; every fetch is a full one), fetching from followers
//! (KIP-392), and OffsetForLeaderEpoch truncation detection.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod assignor;
mod config;
mod consumer;
mod coordinator;
mod driver;
mod error;
mod events;
mod fetch_types;
pub mod fetcher;
mod handover;
mod io;
pub mod machine;
mod membership;
pub mod next_gen;
pub mod offsets;
pub mod protocol;
mod records;
pub mod requests;
mod sticky;
mod types;
mod wire;

pub use assignor::{MemberSubscription, RebalanceProtocol, Strategy};
pub use config::{ConsumerConfig, GroupProtocol};
pub use consumer::Consumer;
pub use coordinator::{CommitResult, FetchResult};
pub use error::{ConsumeError, GroupError};
pub use fetcher::{FetchError, FetchSettings, Fetcher, Isolation, OffsetReset};
pub use machine::{GroupEvent, GroupMachine, GroupSettings, GroupState};
pub use next_gen::ConsumerGroupMachine;
pub use offsets::OffsetTracker;
pub use records::{AbortedTxn, ConsumedRecord};
pub use types::{CommitOffset, NodeId, OpId, RequestId, TopicPartition};
