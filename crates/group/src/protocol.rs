//! The standard "consumer" embedded protocol of the classic group protocol: what a
//! member puts in JoinGroup's protocol metadata (its [`Subscription`]) and what the
//! leader puts in SyncGroup (each member's [`Assignment`]).
//!
//! The layout is Kafka's `ConsumerProtocolSubscription` / `ConsumerProtocolAssignment`
//! schemas behind an `i16` version prefix, so flame-kafka members share groups with
//! the Java client and librdkafka. Encoding uses kafka-protocol's generated types;
//! decoding is our own bounded reader, because these bytes come from other group
//! members (through the broker) and kafka-protocol's decoders pre-allocate from
//! lengths read off the wire. Versions above 3 are read as version 3 and their extra
//! trailing fields ignored, as the Java client does.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use flame_kafka_codec::messages::{
    consumer_protocol_assignment, consumer_protocol_subscription, ConsumerProtocolAssignment,
    ConsumerProtocolSubscription, TopicName,
};
use flame_kafka_codec::protocol::{Encodable, StrBytes};

use crate::TopicPartition;

/// The `protocol_type` of consumer groups.
pub const PROTOCOL_TYPE: &str = "consumer";
/// The subscription version we write: 3 (owned partitions, generation, rack).
pub const SUBSCRIPTION_VERSION: i16 = 3;
/// The highest subscription/assignment schema version we know the fields of.
const HIGHEST_KNOWN: i16 = 3;

/// A member's subscription, as carried in JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// Topics the member wants to consume, sorted and without duplicates.
    pub topics: Vec<String>,
    /// Opaque assignor data.
    pub user_data: Option<Bytes>,
    /// Partitions the member owns now (version 1+; cooperative rebalancing).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which the member got `owned_partitions` (version 2+), or -1.
    pub generation: i32,
    /// The member's rack (version 3+).
    pub rack: Option<String>,
}

/// A member's assignment, as carried in SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    /// The partitions assigned, sorted.
    pub partitions: Vec<TopicPartition>,
    /// Opaque assignor data.
    pub user_data: Option<Bytes>,
}

/// Why protocol metadata could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The bytes end inside a field.
    #[error("consumer protocol {what}: truncated")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// A length or version is negative where that is not allowed.
    #[error("consumer protocol {what}: invalid value {value}")]
    Invalid {
        /// The field being read.
        what: &'static str,
        /// The value found.
        value: i64,
    },
    /// A string is not UTF-8.
    #[error("consumer protocol {what}: not UTF-8")]
    NotUtf8 {
        /// The field being read.
        what: &'static str,
    },
    /// kafka-protocol refused to encode (cannot happen for well-formed values).
    #[error("consumer protocol: cannot encode")]
    Encode,
}

impl Subscription {
    /// Encodes with the version prefix, at [`SUBSCRIPTION_VERSION`].
    ///
    /// # Errors
    /// [`ProtocolError::Encode`] if a string is longer than 32 KiB.
    pub fn encode(&self) -> Result<Bytes, ProtocolError> {
        let message = ConsumerProtocolSubscription::default()
            .with_topics(
                self.topics
                    .iter()
                    .map(|t| StrBytes::from(t.clone()))
                    .collect(),
            )
            .with_user_data(self.user_data.clone())
            .with_owned_partitions(
                group_by_topic(&self.owned_partitions)
                    .into_iter()
                    .map(|(topic, partitions)| {
                        consumer_protocol_subscription::TopicPartition::default()
                            .with_topic(TopicName(StrBytes::from(topic.to_string())))
                            .with_partitions(partitions)
                    })
                    .collect(),
            )
            .with_generation_id(self.generation)
            .with_rack_id(self.rack.clone().map(StrBytes::from));
        encode_versioned(&message, SUBSCRIPTION_VERSION)
    }

    /// Decodes a subscription of any version (fields a version lacks get defaults).
    ///
    /// # Errors
    /// A [`ProtocolError`] naming the field that could not be read.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let mut r = Reader { buf: bytes };
        let version = r.version()?;
        let mut topics = r.array("topics", 2, |r| r.string("topic"))?;
        topics.sort();
        topics.dedup();
        let user_data = r.nullable_bytes("user data")?;
        let mut sub = Subscription {
            topics,
            user_data,
            owned_partitions: Vec::new(),
            generation: -1,
            rack: None,
        };
        if version >= 1 {
            sub.owned_partitions = r.topic_partitions()?;
        }
        if version >= 2 {
            sub.generation = r.i32("generation")?;
        }
        if version >= 3 {
            sub.rack = r.nullable_string("rack")?;
        }
        Ok(sub)
    }
}

impl Assignment {
    /// Encodes with the version prefix at `version` (0–3 share one layout).
    ///
    /// # Errors
    /// [`ProtocolError::Encode`] if a topic name is longer than 32 KiB.
    pub fn encode(&self, version: i16) -> Result<Bytes, ProtocolError> {
        let message = ConsumerProtocolAssignment::default()
            .with_assigned_partitions(
                group_by_topic(&self.partitions)
                    .into_iter()
                    .map(|(topic, partitions)| {
                        consumer_protocol_assignment::TopicPartition::default()
                            .with_topic(TopicName(StrBytes::from(topic.to_string())))
                            .with_partitions(partitions)
                    })
                    .collect(),
            )
            .with_user_data(self.user_data.clone());
        encode_versioned(&message, version.clamp(0, HIGHEST_KNOWN))
    }

    /// Decodes an assignment of any version. Empty input is an empty assignment
    /// (the broker sends that to members the leader assigned nothing).
    ///
    /// # Errors
    /// A [`ProtocolError`] naming the field that could not be read.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        if bytes.is_empty() {
            return Ok(Assignment::default());
        }
        let mut r = Reader { buf: bytes };
        r.version()?;
        let mut partitions = r.topic_partitions()?;
        partitions.sort();
        partitions.dedup();
        let user_data = r.nullable_bytes("user data")?;
        Ok(Assignment {
            partitions,
            user_data,
        })
    }
}

/// Groups partitions by topic, both sorted.
pub(crate) fn group_by_topic(partitions: &[TopicPartition]) -> BTreeMap<Arc<str>, Vec<i32>> {
    let mut by_topic: BTreeMap<Arc<str>, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic
            .entry(tp.topic.clone())
            .or_default()
            .push(tp.partition);
    }
    for list in by_topic.values_mut() {
        list.sort_unstable();
        list.dedup();
    }
    by_topic
}

fn encode_versioned<M: Encodable>(message: &M, version: i16) -> Result<Bytes, ProtocolError> {
    let mut out = BytesMut::new();
    out.extend_from_slice(&version.to_be_bytes());
    message
        .encode(&mut out, version)
        .map_err(|_| ProtocolError::Encode)?;
    Ok(out.freeze())
}

/// A bounds-checked cursor: every length is checked against what remains before
/// anything is allocated.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ProtocolError> {
        if self.buf.len() < n {
            return Err(ProtocolError::Truncated { what });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn i16(&mut self, what: &'static str) -> Result<i16, ProtocolError> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, ProtocolError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn version(&mut self) -> Result<i16, ProtocolError> {
        let version = self.i16("version")?;
        if version < 0 {
            return Err(ProtocolError::Invalid {
                what: "version",
                value: i64::from(version),
            });
        }
        Ok(version)
    }

    fn nullable_string(&mut self, what: &'static str) -> Result<Option<String>, ProtocolError> {
        let len = self.i16(what)?;
        if len < 0 {
            return Ok(None);
        }
        let bytes = self.take(len as usize, what)?;
        let s = std::str::from_utf8(bytes).map_err(|_| ProtocolError::NotUtf8 { what })?;
        Ok(Some(s.to_owned()))
    }

    fn string(&mut self, what: &'static str) -> Result<String, ProtocolError> {
        self.nullable_string(what)?
            .ok_or(ProtocolError::Invalid { what, value: -1 })
    }

    fn nullable_bytes(&mut self, what: &'static str) -> Result<Option<Bytes>, ProtocolError> {
        let len = self.i32(what)?;
        if len < 0 {
            return Ok(None);
        }
        let bytes = self.take(len as usize, what)?;
        Ok(Some(Bytes::copy_from_slice(bytes)))
    }

    /// An array whose elements take at least `min_size` bytes each.
    fn array<T>(
        &mut self,
        what: &'static str,
        min_size: usize,
        mut element: impl FnMut(&mut Self) -> Result<T, ProtocolError>,
    ) -> Result<Vec<T>, ProtocolError> {
        let count = self.i32(what)?;
        if count < 0 {
            return Err(ProtocolError::Invalid {
                what,
                value: i64::from(count),
            });
        }
        let count = count as usize;
        if count > self.buf.len() / min_size.max(1) {
            return Err(ProtocolError::Truncated { what });
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(element(self)?);
        }
        Ok(out)
    }

    fn topic_partitions(&mut self) -> Result<Vec<TopicPartition>, ProtocolError> {
        let per_topic = self.array("topic partitions", 6, |r| {
            let topic: Arc<str> = Arc::from(r.string("topic")?);
            let partitions = r.array("partitions", 4, |r| r.i32("partition"))?;
            Ok((topic, partitions))
        })?;
        Ok(per_topic
            .into_iter()
            .flat_map(|(topic, partitions)| {
                partitions
                    .into_iter()
                    .map(move |p| TopicPartition::new(topic.clone(), p))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flame_kafka_codec::protocol::Decodable;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    #[test]
    fn subscription_round_trips_and_matches_kafka_protocol() {
        let sub = Subscription {
            topics: vec!["a".into(), "b".into()],
            user_data: Some(Bytes::from_static(b"ud")),
            owned_partitions: vec![tp("a", 0), tp("a", 2), tp("b", 1)],
            generation: 7,
            rack: Some("r1".into()),
        };
        let bytes = sub.encode().unwrap();
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(Subscription::decode(&bytes).unwrap(), sub);
        let mut body = bytes.slice(2..);
        let theirs = ConsumerProtocolSubscription::decode(&mut body, 3).unwrap();
        assert_eq!(theirs.generation_id, 7);
        assert_eq!(theirs.owned_partitions.len(), 2);
    }

    #[test]
    fn older_versions_decode_with_defaults() {
        for version in 0..=3i16 {
            let message = ConsumerProtocolSubscription::default()
                .with_topics(vec![StrBytes::from_static_str("t")])
                .with_owned_partitions(vec![
                    consumer_protocol_subscription::TopicPartition::default()
                        .with_topic(TopicName(StrBytes::from_static_str("t")))
                        .with_partitions(vec![3]),
                ])
                .with_generation_id(4);
            let bytes = encode_versioned(&message, version).unwrap();
            let sub = Subscription::decode(&bytes).unwrap();
            assert_eq!(sub.topics, vec!["t".to_string()]);
            assert_eq!(sub.owned_partitions.len(), usize::from(version >= 1));
            assert_eq!(sub.generation, if version >= 2 { 4 } else { -1 });
        }
    }

    #[test]
    fn newer_versions_ignore_trailing_fields() {
        let sub = Subscription {
            topics: vec!["t".into()],
            ..Default::default()
        };
        let mut bytes = sub.encode().unwrap().to_vec();
        bytes[1] = 9;
        bytes.extend_from_slice(&[1, 2, 3, 4, 5]);
        assert_eq!(Subscription::decode(&bytes).unwrap().topics, vec!["t"]);
    }

    #[test]
    fn assignment_round_trips_and_empty_is_empty() {
        let a = Assignment {
            partitions: vec![tp("a", 0), tp("b", 5)],
            user_data: None,
        };
        for version in 0..=3 {
            assert_eq!(Assignment::decode(&a.encode(version).unwrap()).unwrap(), a);
        }
        assert_eq!(Assignment::decode(&[]).unwrap(), Assignment::default());
    }

    #[test]
    fn hostile_lengths_are_refused_without_allocating() {
        // version 0, topics array claiming 2^31-1 elements.
        let bytes = [0, 0, 0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(
            Subscription::decode(&bytes),
            Err(ProtocolError::Truncated { .. })
        ));
        assert!(Subscription::decode(&[0xff, 0xff]).is_err());
        assert!(Assignment::decode(&[0, 0, 0, 0, 0, 1, 0, 5, b'a']).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = Subscription::decode(&bytes);
            let _ = Assignment::decode(&bytes);
        }
    }
}
