//! Routing: topics and partitions as metadata describes them, and which partition
//! each record goes to (the partitioner, the sticky partitions).

use std::sync::Arc;
use std::time::{Duration, Instant};

use flame_kafka_codec::KafkaCode;

use super::{Accumulator, ChunkedQueue, Partition, Queued, Topic, TopicUpdate};
use crate::partitioner::{Partitioner, Placement};
use crate::{BrokerId, ProduceError};

impl Accumulator {
    pub(super) fn partition_count(&self, topic: &str) -> i32 {
        self.topics
            .get(topic)
            .map_or(0, |t| t.partitions.len() as i32)
    }

    /// The map key for `topic`, creating its entry on first use.
    pub(super) fn topic_key(&mut self, topic: &str, now: Instant) -> Arc<str> {
        if let Some((key, _)) = self.topics.get_key_value(topic) {
            return key.clone();
        }
        let key: Arc<str> = Arc::from(topic);
        self.topics.insert(
            key.clone(),
            Topic {
                partitions: Vec::new(),
                unrouted: ChunkedQueue::default(),
                since: now,
                last_error: None,
                sticky: None,
            },
        );
        key
    }

    pub(super) fn random_below(&mut self, n: usize) -> usize {
        // splitmix64: small, fast and good enough to spread partitions.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        ((u128::from(z) * n as u128) >> 64) as usize
    }

    /// Puts `queued` on its partition's queue, or on the topic's wait list when the
    /// topic's partitions are not known yet.
    pub(super) fn route(&mut self, name: &str, queued: Queued, now: Instant) {
        let java = self.config.partitioner == Partitioner::Java;
        let linger = self.config.sticky_partitioning_linger;
        let Some(topic) = self.topics.get_mut(name) else {
            return;
        };
        let count = topic.partitions.len() as i32;
        if count == 0 {
            topic.unrouted.push_back(queued);
            return;
        }
        let partition = match queued.partition() {
            Some(p) if p >= count => {
                let error = ProduceError::UnknownPartition {
                    topic: name.to_string(),
                    partition: p,
                    partition_count: count,
                };
                self.fail_queued(queued, error);
                return;
            }
            Some(p) => p,
            None => {
                let key = queued.record.key.as_deref();
                match self.config.partitioner.place(key, count) {
                    Placement::Partition(p) => p,
                    Placement::Random => self.random_partition(name, None),
                    Placement::Sticky => match current_sticky(topic, java, linger, now) {
                        Some(p) => p,
                        None => self.sticky_partition(name, now),
                    },
                }
            }
        };
        let max_batch = self.config.max_batch_bytes();
        let Some(topic) = self.topics.get_mut(name) else {
            return;
        };
        let Some(p) = topic.partitions.get_mut(partition as usize) else {
            return;
        };
        p.queued_bytes += queued.size();
        p.queue.push_back(queued);
        // Uniform sticky: a full batch ends the stickiness.
        if java && p.queued_bytes >= max_batch && topic.sticky.is_some_and(|(s, _)| s == partition)
        {
            topic.sticky = None;
        }
    }

    /// A random partition of `name`, preferring partitions with a leader and, when
    /// there is a choice, avoiding `not`.
    pub(super) fn random_partition(&mut self, name: &str, not: Option<i32>) -> i32 {
        let candidates: Vec<i32> = match self.topics.get(name) {
            Some(t) => {
                let all = 0..t.partitions.len() as i32;
                let led: Vec<i32> = all
                    .clone()
                    .filter(|&i| t.partitions[i as usize].leader.is_some())
                    .collect();
                let pool = if led.is_empty() { all.collect() } else { led };
                let others: Vec<i32> = pool.iter().copied().filter(|&i| Some(i) != not).collect();
                if others.is_empty() {
                    pool
                } else {
                    others
                }
            }
            None => return 0,
        };
        if candidates.is_empty() {
            return 0;
        }
        let pick = self.random_below(candidates.len());
        candidates[pick]
    }

    /// The sticky partition for records without a key: per batch for the Java
    /// partitioner, per `sticky.partitioning.linger.ms` for librdkafka's.
    pub(super) fn sticky_partition(&mut self, name: &str, now: Instant) -> i32 {
        let java = self.config.partitioner == Partitioner::Java;
        let linger = self.config.sticky_partitioning_linger;
        let current = self
            .topics
            .get(name)
            .and_then(|t| current_sticky(t, java, linger, now));
        if let Some(p) = current {
            return p;
        }
        let previous = self.topics.get(name).and_then(|t| t.sticky.map(|(p, _)| p));
        let p = self.random_partition(name, if java { previous } else { None });
        if let Some(topic) = self.topics.get_mut(name) {
            if java || !linger.is_zero() {
                topic.sticky = Some((p, now));
            }
        }
        p
    }

    /// The topics whose metadata is needed now (records wait for a topic's
    /// partitions, or a partition with records has no known leader), if a request
    /// is due. Answer with [`Accumulator::handle_metadata`] or
    /// [`Accumulator::handle_metadata_failed`].
    ///
    /// Requests are `retry.backoff.ms` apart, except that a topic not named in the
    /// previous request is asked for at once.
    pub fn poll_metadata(&mut self, now: Instant) -> Option<Vec<String>> {
        let (due, wanted) = self.metadata_due(now)?;
        if due > now {
            return None;
        }
        self.metadata_in_flight = true;
        self.metadata_asked = wanted.clone();
        Some(wanted)
    }

    /// When the next metadata request may go, and for which topics; `None` when
    /// none is needed or one is in flight.
    pub(super) fn metadata_due(&self, now: Instant) -> Option<(Instant, Vec<String>)> {
        if self.metadata_in_flight {
            return None;
        }
        let wanted = self.wanted_topics();
        if wanted.is_empty() {
            return None;
        }
        let new_topic = wanted.iter().any(|t| !self.metadata_asked.contains(t));
        let due = match self.metadata_not_before {
            Some(t) if !new_topic => t.max(now),
            _ => now,
        };
        Some((due, wanted))
    }

    /// Applies fresh metadata: partition counts and leaders; routes the records
    /// that waited for it; fails the records of topics that do not exist (after
    /// `topic.metadata.propagation.max.ms`) or that carry another permanent error.
    pub fn handle_metadata(&mut self, updates: Vec<TopicUpdate>, now: Instant) {
        self.metadata_in_flight = false;
        self.metadata_not_before = Some(now + self.config.retry_backoff);
        for update in updates {
            let Some(name) = self
                .topics
                .get_key_value(update.topic.as_str())
                .map(|(k, _)| k.clone())
            else {
                continue;
            };
            match update.leaders {
                Ok(leaders) if !leaders.is_empty() => self.apply_leaders(&name, leaders, now),
                Ok(_) => self.note_topic_error(&name, KafkaCode::LeaderNotAvailable, now),
                Err(code) => self.note_topic_error(&name, code, now),
            }
        }
    }

    /// A metadata request failed; it is tried again after `retry.backoff.ms`.
    pub fn handle_metadata_failed(&mut self, error: ProduceError, now: Instant) {
        self.metadata_in_flight = false;
        self.metadata_not_before = Some(now + self.config.retry_backoff);
        for topic in self.topics.values_mut() {
            if !topic.unrouted.is_empty() {
                topic.last_error = Some(error.clone());
            }
        }
    }

    /// Topics whose metadata is needed.
    pub(super) fn wanted_topics(&self) -> Vec<String> {
        self.topics
            .iter()
            .filter(|(_, t)| {
                !t.unrouted.is_empty()
                    || t.partitions.iter().any(|p| {
                        p.leader.is_none() && (!p.queue.is_empty() || !p.retries.is_empty())
                    })
            })
            .map(|(name, _)| name.to_string())
            .collect()
    }

    pub(super) fn apply_leaders(
        &mut self,
        name: &Arc<str>,
        leaders: Vec<Option<BrokerId>>,
        now: Instant,
    ) {
        let Some(topic) = self.topics.get_mut(name) else {
            return;
        };
        if topic.partitions.len() < leaders.len() {
            topic
                .partitions
                .resize_with(leaders.len(), Partition::default);
        }
        for (p, leader) in topic.partitions.iter_mut().zip(leaders) {
            p.leader = leader;
        }
        topic.last_error = None;
        let waiting = std::mem::take(&mut topic.unrouted);
        for queued in waiting.take_all_owned() {
            self.route(name, queued, now);
        }
    }

    pub(super) fn note_topic_error(&mut self, name: &Arc<str>, code: KafkaCode, now: Instant) {
        let propagation = self.config.topic_metadata_propagation_max;
        let Some(topic) = self.topics.get_mut(name) else {
            return;
        };
        let error = if code == KafkaCode::UnknownTopicOrPartition {
            if now < topic.since + propagation {
                topic.last_error = Some(ProduceError::UnknownTopic {
                    topic: name.to_string(),
                });
                return;
            }
            ProduceError::UnknownTopic {
                topic: name.to_string(),
            }
        } else {
            let error = ProduceError::TopicMetadata {
                topic: name.to_string(),
                code,
            };
            if code.is_retriable() {
                topic.last_error = Some(error);
                return;
            }
            error
        };
        let failed = std::mem::take(&mut topic.unrouted);
        for queued in failed.take_all_owned() {
            self.fail_queued(queued, error.clone());
        }
    }
}

/// `topic`'s sticky partition, if it is still the one to use: it has a leader and,
/// for librdkafka's partitioner, `sticky.partitioning.linger.ms` has not run out.
fn current_sticky(topic: &Topic, java: bool, linger: Duration, now: Instant) -> Option<i32> {
    let (p, since) = topic.sticky?;
    let led = topic.partitions.get(p as usize)?.leader.is_some();
    let fresh = java || now < since + linger;
    (led && fresh).then_some(p)
}
