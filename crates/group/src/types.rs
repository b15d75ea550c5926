//! Identity types shared by the machines, the assignors and the fetcher.

use std::fmt;
use std::sync::Arc;

/// One partition of one topic. Topic names are shared (`Arc<str>`) because every
/// consumed record carries one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic's name.
    pub topic: Arc<str>,
    /// The partition's index within the topic.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic-partition from a name and an index.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A broker's node id, as the coordinator lookup and the metadata name it. The
/// sans-IO machines use this; the driver converts to the cluster crate's `BrokerId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub i32);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {}", self.0)
    }
}

/// Identifies one request a machine asked its driver to send, so the driver's
/// answer can be matched to it (and a stale answer recognised and dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// An offset to commit for one partition: the offset of the next message to consume
/// (the last processed offset + 1), and the leader epoch of the last processed
/// message (-1 when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitOffset {
    /// The next offset to consume.
    pub offset: i64,
    /// Leader epoch of the last consumed message, or -1.
    pub leader_epoch: i32,
}

/// Identifies one commit or committed-offset lookup asked of a group machine; its
/// result comes back as an event carrying the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);
