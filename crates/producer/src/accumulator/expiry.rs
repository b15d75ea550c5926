//! Endings other than success: expiry (`message.timeout.ms`, unknown topics) and
//! abort, and the bookkeeping of every failed record.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use super::{Accumulator, Batch, Delivery, Outcomes, Queued};
use crate::ProduceError;

impl Accumulator {
    /// Fails every held record with `error`, including those in flight (their
    /// answers are then ignored), and refuses every later record with it.
    pub fn abort(&mut self, error: ProduceError) {
        self.fatal = Some(error.clone());
        let in_flight: Vec<_> = self.in_flight.drain().collect();
        for (_, request) in in_flight {
            if let Some(broker) = self.brokers.get_mut(&request.broker) {
                broker.in_flight = broker.in_flight.saturating_sub(1);
            }
            for (_, _, batch) in request.batches {
                self.fail_batch_records(batch, &error);
            }
        }
        let mut queued: Vec<Queued> = Vec::new();
        let mut batches: Vec<Batch> = Vec::new();
        for topic in self.topics.values_mut() {
            queued.extend(topic.unrouted.take_all());
            for p in &mut topic.partitions {
                queued.extend(p.queue.take_all());
                p.queued_bytes = 0;
                p.in_flight.clear();
                p.retry_in_flight = None;
                batches.extend(p.retries.drain(..));
            }
        }
        for q in queued {
            self.fail_queued(q, error.clone());
        }
        for batch in batches {
            self.fail_batch_records(batch, &error);
        }
    }

    /// Expires records and batches whose `message.timeout.ms` has passed, and
    /// fails the records of topics still unknown after
    /// `topic.metadata.propagation.max.ms`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let names: Vec<Arc<str>> = self.topics.keys().cloned().collect();
        for name in names {
            self.expire_topic(&name, now);
        }
    }

    pub(super) fn expire_topic(&mut self, name: &Arc<str>, now: Instant) {
        let timeout = self.config.message_timeout;
        let propagation = self.config.topic_metadata_propagation_max;
        let Some(topic) = self.topics.get_mut(name) else {
            return;
        };
        let mut expired: Vec<(Option<i32>, Queued, Option<ProduceError>)> = Vec::new();
        let unknown = matches!(topic.last_error, Some(ProduceError::UnknownTopic { .. }))
            && now >= topic.since + propagation;
        while let Some(q) = topic.unrouted.front() {
            if !(unknown || q.deadline(timeout).is_some_and(|d| d <= now)) {
                break;
            }
            if let Some(q) = topic.unrouted.pop_front() {
                expired.push((None, q, topic.last_error.clone()));
            }
        }
        let mut batches = Vec::new();
        for (index, p) in topic.partitions.iter_mut().enumerate() {
            while p
                .queue
                .front()
                .is_some_and(|q| q.deadline(timeout).is_some_and(|d| d <= now))
            {
                if let Some(q) = p.queue.pop_front() {
                    p.queued_bytes -= q.size();
                    expired.push((Some(index as i32), q, None));
                }
            }
            let mut kept = VecDeque::with_capacity(p.retries.len());
            for batch in p.retries.drain(..) {
                if batch.deadline.is_some_and(|d| d <= now) {
                    batches.push((index as i32, batch));
                } else {
                    kept.push_back(batch);
                }
            }
            p.retries = kept;
        }
        for (partition, queued, last) in expired {
            let error = match last {
                Some(e @ ProduceError::UnknownTopic { .. }) if unknown => e,
                last => ProduceError::Timeout {
                    topic: name.to_string(),
                    partition,
                    timeout,
                    last_error: last.map(Box::new),
                },
            };
            self.fail_queued(queued, error);
        }
        for (partition, batch) in batches {
            let error = ProduceError::Timeout {
                topic: name.to_string(),
                partition: Some(partition),
                timeout,
                last_error: batch.last_error.clone().map(Box::new),
            };
            self.fail_batch(name, partition, batch, error);
        }
    }

    /// Reports `queued` as failed and releases its memory.
    pub(super) fn fail_queued(&mut self, queued: Queued, error: ProduceError) {
        self.release(1, queued.size());
        self.deliveries.push_back(Outcomes::One(Delivery {
            id: queued.id,
            result: Err(error),
        }));
    }

    /// Reports every record of `batch` as failed with `error` and releases them.
    pub(super) fn fail_batch_records(&mut self, batch: Batch, error: &ProduceError) {
        self.release(batch.ids.len(), batch.bytes);
        self.deliveries.push_back(Outcomes::Failed {
            ids: batch.ids.into_iter(),
            error: error.clone(),
        });
    }

    pub(super) fn release(&mut self, messages: usize, bytes: usize) {
        self.held_messages = self.held_messages.saturating_sub(messages);
        self.held_bytes = self.held_bytes.saturating_sub(bytes);
    }
}
