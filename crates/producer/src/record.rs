//! What the application sends ([`ProducerRecord`]) and what it learns once a record
//! is written ([`RecordMetadata`]).

use std::sync::Arc;

use bytes::Bytes;
use flame_kafka_codec::record_batch::{record_size_hint, Header, Record};

/// A record to send: its topic, optionally its partition, and its contents.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerRecord {
    /// The topic to write to.
    pub topic: String,
    /// The partition to write to; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// The key; `None` is a null key (distinct from an empty key).
    pub key: Option<Bytes>,
    /// The value; `None` is a null value (a tombstone on compacted topics).
    pub value: Option<Bytes>,
    /// Headers in order; names may repeat.
    pub headers: Vec<Header>,
    /// Milliseconds since the Unix epoch; `None` stamps the time of `send`.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record for `topic` with no key, value, headers or timestamp yet.
    pub fn new(topic: impl Into<String>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            ..ProducerRecord::default()
        }
    }

    /// Sets the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the value.
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Sets the partition (instead of letting the partitioner choose).
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the timestamp, milliseconds since the Unix epoch.
    pub fn timestamp(mut self, millis: i64) -> Self {
        self.timestamp = Some(millis);
        self
    }

    /// Appends a header.
    pub fn header(mut self, key: impl Into<Bytes>, value: Option<Bytes>) -> Self {
        self.headers.push(Header {
            key: key.into(),
            value,
        });
        self
    }

    /// The codec record for this record, stamped `default_timestamp` when it has
    /// none.
    pub(crate) fn into_record(self, default_timestamp: i64) -> (String, Option<i32>, Record) {
        let record = Record {
            offset: 0,
            timestamp: self.timestamp.unwrap_or(default_timestamp),
            key: self.key,
            value: self.value,
            headers: self.headers,
        };
        (self.topic, self.partition, record)
    }

    /// An upper bound on the record's size inside a batch (what the queue limits
    /// and `message.max.bytes` count).
    pub fn size_hint(&self) -> usize {
        let len = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.key.len() + len(&h.value) + 10)
            .sum();
        // Mirrors record_size_hint (checked by a test below).
        36 + len(&self.key) + len(&self.value) + headers
    }
}

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordMetadata {
    /// The topic (shared by every record of the topic: no allocation per record).
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset; -1 when unknown (`acks=0`, or a duplicate the broker
    /// recognised without saying where the original is).
    pub offset: i64,
    /// The record's timestamp: its create time, or the broker's log-append time
    /// when the topic uses `LogAppendTime`.
    pub timestamp: i64,
}

/// The size the queue limits count for `record` (see [`ProducerRecord::size_hint`]).
pub(crate) fn record_size(record: &Record) -> usize {
    record_size_hint(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_hint_matches_the_codec() {
        let r = ProducerRecord::new("t")
            .key("k")
            .value(Bytes::from(vec![0u8; 100]))
            .header("h", Some(Bytes::from_static(b"v")))
            .header("n", None)
            .timestamp(5);
        let hint = r.size_hint();
        let (topic, partition, record) = r.into_record(0);
        assert_eq!(hint, record_size(&record));
        assert_eq!(
            (topic.as_str(), partition, record.timestamp),
            ("t", None, 5)
        );
        let (_, _, record) = ProducerRecord::new("t").into_record(42);
        assert_eq!(record.timestamp, 42);
        assert_eq!(ProducerRecord::new("t").size_hint(), record_size(&record));
    }
}
