//! The flame producer: `produce(config, topics)`, then `publish` and `flush`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use flame_kafka_cluster::Cluster;
use flame_kafka_producer::{DeliveryFuture, ProducerRecord};

use crate::config::{Config, Role};
use crate::{settings, Error, Headers, Message};

/// Connects to the cluster and returns a producer for `topics` (its allow-list).
///
/// `config` holds librdkafka-style properties; `bootstrap.servers` (or
/// `metadata.broker.list`) is required.
///
/// # Errors
/// [`Error::Config`] for a bad configuration (the message names the key),
/// [`Error::NoTopics`] for an empty topic list, [`Error::Cluster`] when no broker
/// can be reached or a topic does not exist.
pub async fn produce<I, K, V>(config: I, topics: &[&str]) -> Result<Producer, Error>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let config = Config::parse(config, Role::Producer)?;
    if topics.is_empty() {
        return Err(Error::NoTopics);
    }
    let producer_config = settings::producer(&config)?;
    let cluster = Cluster::connect(settings::cluster(&config)?).await?;
    let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    cluster.ensure_topics(&topics).await?;
    let inner = flame_kafka_producer::Producer::new(producer_config, cluster)?;
    Ok(Producer {
        inner,
        topics: topics.into(),
    })
}

/// A producer. Publishing resolves once the message is queued; await the returned
/// [`Delivery`] for the broker's acknowledgement, or [`flush`](Producer::flush).
/// Dropping the producer delivers what is queued, bounded by
/// `flame.flush.timeout.ms` (10 s by default).
pub struct Producer {
    inner: flame_kafka_producer::Producer,
    topics: Arc<[String]>,
}

/// The broker's acknowledgement of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The partition the message went to.
    pub partition: i32,
    /// Its offset (-1 with `acks=0`).
    pub offset: i64,
    /// Its timestamp (create time, or the broker's log-append time).
    pub timestamp: i64,
}

/// Resolves to the [`Ack`] of one published message, or why it failed.
/// Dropping it does not cancel the delivery.
pub struct Delivery(DeliveryFuture);

impl Future for Delivery {
    type Output = Result<Ack, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|result| {
            result
                .map(|m| Ack {
                    partition: m.partition,
                    offset: m.offset,
                    timestamp: m.timestamp,
                })
                .map_err(Error::from)
        })
    }
}

impl Producer {
    /// Publishes `payload` with an optional key and headers to `topic`.
    ///
    /// Resolves once the message is queued; when the queue is full
    /// (`queue.buffering.max.messages` / `.kbytes`) it waits for room. Cancel-safe:
    /// a cancelled call has queued nothing.
    ///
    /// # Errors
    /// [`Error::TopicNotAllowed`] for a topic not given to [`produce`];
    /// [`Error::Produce`] when the message is too large or cannot be queued in time.
    pub async fn publish(
        &self,
        topic: &str,
        payload: impl Into<Bytes>,
        key: Option<Bytes>,
        headers: Headers,
    ) -> Result<Delivery, Error> {
        let mut message = Message::new(payload, key);
        message.headers = headers;
        self.publish_message(topic, message).await
    }

    /// Publishes `message` to `topic` (its `partition` is used when not -1, its
    /// `timestamp` when not 0); see [`publish`](Producer::publish).
    ///
    /// # Errors
    /// As [`publish`](Producer::publish).
    pub async fn publish_message(&self, topic: &str, message: Message) -> Result<Delivery, Error> {
        if !self.topics.iter().any(|t| t == topic) {
            return Err(Error::TopicNotAllowed {
                topic: topic.to_owned(),
                allowed: self.topics.join(", "),
            });
        }
        let mut record = ProducerRecord::new(topic);
        record.key = message.key;
        record.value = message.payload;
        record.partition = (message.partition >= 0).then_some(message.partition);
        record.timestamp = (message.timestamp != 0).then_some(message.timestamp);
        for (name, value) in Vec::from(message.headers) {
            record = record.header(name, value);
        }
        Ok(Delivery(self.inner.send(record).await?))
    }

    /// Waits until every message queued so far is delivered or has failed.
    ///
    /// # Errors
    /// [`Error::Flush`] listing the messages that failed.
    pub async fn flush(&self) -> Result<(), Error> {
        Ok(self.inner.flush().await?)
    }
}
