//! [`Message`]: what `publish` sends and what `run`'s callback receives.

use std::fmt;

use bytes::Bytes;

/// A message's headers: names with optional values, in order; a name may repeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, Option<Bytes>)>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Headers::default()
    }

    /// Appends a header (a repeated name is kept, as Kafka allows).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Bytes>) -> &mut Self {
        self.0.push((name.into(), Some(value.into())));
        self
    }

    /// Appends a header with a null value.
    pub fn insert_null(&mut self, name: impl Into<String>) -> &mut Self {
        self.0.push((name.into(), None));
        self
    }

    /// The first value of header `name` (`Some(None)` if its value is null).
    pub fn get(&self, name: &str) -> Option<Option<&Bytes>> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }

    /// The first value of header `name` as text (lossy UTF-8), like the original's
    /// `$message->header["A"]`; `None` when absent or null.
    pub fn get_str(&self, name: &str) -> Option<String> {
        self.get(name)
            .flatten()
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// Every header in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&Bytes>)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_ref()))
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<Bytes>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Headers(
            iter.into_iter()
                .map(|(k, v)| (k.into(), Some(v.into())))
                .collect(),
        )
    }
}

impl From<Vec<(String, Option<Bytes>)>> for Headers {
    fn from(headers: Vec<(String, Option<Bytes>)>) -> Self {
        Headers(headers)
    }
}

impl From<Headers> for Vec<(String, Option<Bytes>)> {
    fn from(headers: Headers) -> Self {
        headers.0
    }
}

/// A Kafka message.
///
/// Built with [`Message::new`] for publishing; received by `Consumer::run`'s
/// callback with every field filled in. `Display` writes the payload (lossy UTF-8),
/// like the original's `__toString()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic (the source topic when consumed).
    pub topic: String,
    /// The partition (-1 before the message is published).
    pub partition: i32,
    /// The offset in its partition (-1 before the message is published).
    pub offset: i64,
    /// The key; `None` is a null key.
    pub key: Option<Bytes>,
    /// The payload; `None` is a null value (a tombstone on compacted topics).
    pub payload: Option<Bytes>,
    /// Headers (Kafka 0.11+).
    pub headers: Headers,
    /// Milliseconds since the Unix epoch (0 when publishing: the producer stamps now).
    pub timestamp: i64,
    /// Leader epoch the message was fetched at (used when committing its offset).
    pub(crate) leader_epoch: i32,
}

impl Default for Message {
    /// An empty message to publish: no topic, partition and offset -1 (the
    /// partitioner chooses), null key and payload, timestamp 0 (stamped on publish).
    fn default() -> Self {
        Message {
            topic: String::new(),
            partition: -1,
            offset: -1,
            key: None,
            payload: None,
            headers: Headers::new(),
            timestamp: 0,
            leader_epoch: -1,
        }
    }
}

impl Message {
    /// A message to publish with `payload` and an optional key.
    pub fn new(payload: impl Into<Bytes>, key: Option<Bytes>) -> Self {
        Message {
            key,
            payload: Some(payload.into()),
            ..Message::default()
        }
    }

    /// The payload bytes (empty for a null payload).
    pub fn payload_bytes(&self) -> &[u8] {
        self.payload.as_deref().unwrap_or_default()
    }

    /// The key bytes (empty for a null key).
    pub fn key_bytes(&self) -> &[u8] {
        self.key.as_deref().unwrap_or_default()
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.payload_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_writes_the_payload() {
        let m = Message::new("this is a payload", Some(Bytes::from_static(b"key")));
        assert_eq!(m.to_string(), "this is a payload");
        assert_eq!(m.key_bytes(), b"key");
        assert_eq!((m.partition, m.offset), (-1, -1));
    }

    #[test]
    fn headers_keep_order_repeats_and_nulls() {
        let mut h = Headers::new();
        h.insert("a", "1").insert_null("b").insert("a", "2");
        assert_eq!(h.get_str("a").as_deref(), Some("1"));
        assert_eq!(h.get("b"), Some(None));
        assert_eq!(h.get("c"), None);
        let names: Vec<&str> = h.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "b", "a"]);
    }
}
