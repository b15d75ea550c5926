//! Draining: which partitions may send, cutting batches, numbering them, and
//! building one Produce request per broker.

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use flame_kafka_codec::messages::produce_request::{PartitionProduceData, TopicProduceData};
use flame_kafka_codec::messages::{ProduceRequest, TopicName};
use flame_kafka_codec::protocol::StrBytes;
use flame_kafka_codec::record_batch::{encode_batch, ProducerStamp, BATCH_HEADER_LEN};

use super::{
    Accumulator, Batch, InFlight, Partition, ProduceRequestOut, RequestId, SendStatus, Stamp,
};
use crate::partitioner::Partitioner;
use crate::{BrokerId, ProduceError};

/// A partition: its topic's name and its index.
type PartitionRef = (Arc<str>, usize);

impl Accumulator {
    /// The next Produce request to send, if a partition is ready and its leader has
    /// a free in-flight slot. Call until `None`. Send it to
    /// [`ProduceRequestOut::broker`], then report with
    /// [`Accumulator::handle_produce_response`], [`Accumulator::handle_produce_sent`]
    /// (`acks=0`) or [`Accumulator::handle_produce_failed`].
    pub fn poll_produce(&mut self, now: Instant) -> Option<ProduceRequestOut> {
        loop {
            let (broker, partitions) = self.pick_broker(now)?;
            if let Some(request) = self.build_request(broker, partitions) {
                return Some(request);
            }
            // Every batch failed to encode (and was reported): look again.
        }
    }

    /// Whether `p` may send now, and if not, until when it waits.
    pub(super) fn send_status(
        &self,
        p: &Partition,
        current: Option<Stamp>,
        now: Instant,
    ) -> SendStatus {
        if p.queue.is_empty() && p.retries.is_empty() {
            return SendStatus::Empty;
        }
        if self.fatal.is_some() || (self.idempotent && current.is_none()) {
            return SendStatus::Blocked;
        }
        let Some(leader) = p.leader else {
            return SendStatus::Blocked;
        };
        if let Some(broker) = self.brokers.get(&leader) {
            if let Some(until) = broker.throttled_until.filter(|t| *t > now) {
                return SendStatus::Throttled(until);
            }
            if broker.in_flight >= self.config.max_in_flight {
                return SendStatus::Blocked;
            }
        }
        if p.retry_in_flight.is_some() {
            return SendStatus::Blocked;
        }
        if let Some(front) = p.retries.front() {
            if !p.in_flight.is_empty() {
                return SendStatus::Blocked;
            }
            if let Some(at) = front.retry_at.filter(|t| *t > now) {
                return SendStatus::BackingOff(at);
            }
            if front.sequence.is_none() && self.idempotent && !can_number(p, current) {
                return SendStatus::Blocked;
            }
            return SendStatus::Ready;
        }
        // Until the broker acknowledged a batch under the current id/epoch, one
        // batch of the partition at a time (see the module documentation).
        let pipelined = p.in_flight.is_empty() || (p.acked && p.stamp == current);
        if self.idempotent && !(can_number(p, current) && pipelined) {
            return SendStatus::Blocked;
        }
        let Some(front) = p.queue.front() else {
            return SendStatus::Empty;
        };
        let full = p.queued_bytes >= self.config.max_batch_bytes()
            || p.split_limit.is_some_and(|limit| p.queued_bytes >= limit)
            || p.queue.len() >= self.config.batch_num_messages;
        let linger_end = front.enqueued + self.config.linger;
        if full || self.flushes > 0 || linger_end <= now {
            SendStatus::Ready
        } else {
            SendStatus::Lingering(linger_end)
        }
    }

    /// A broker with a ready partition, and every partition of that broker that
    /// can contribute a batch now (ready or lingering), in a rotating order.
    fn pick_broker(&mut self, now: Instant) -> Option<(BrokerId, Vec<PartitionRef>)> {
        let current = self.current_stamp();
        let mut ready: Vec<BrokerId> = Vec::new();
        let mut candidates: Vec<(Arc<str>, usize, BrokerId)> = Vec::new();
        for (name, topic) in &self.topics {
            for (index, p) in topic.partitions.iter().enumerate() {
                let Some(leader) = p.leader else { continue };
                match self.send_status(p, current, now) {
                    SendStatus::Ready => {
                        if !ready.contains(&leader) {
                            ready.push(leader);
                        }
                        candidates.push((name.clone(), index, leader));
                    }
                    SendStatus::Lingering(_) => candidates.push((name.clone(), index, leader)),
                    _ => {}
                }
            }
        }
        if ready.is_empty() {
            return None;
        }
        let broker = ready[self.drain_cursor % ready.len()];
        let mut mine: Vec<PartitionRef> = candidates
            .into_iter()
            .filter(|(_, _, leader)| *leader == broker)
            .map(|(name, index, _)| (name, index))
            .collect();
        let start = self.drain_cursor % mine.len().max(1);
        mine.rotate_left(start);
        self.drain_cursor = self.drain_cursor.wrapping_add(1);
        Some((broker, mine))
    }

    fn build_request(
        &mut self,
        broker: BrokerId,
        partitions: Vec<PartitionRef>,
    ) -> Option<ProduceRequestOut> {
        let current = self.current_stamp();
        let mut taken: Vec<(Arc<str>, usize, Batch)> = Vec::new();
        let mut bytes = 0usize;
        for (name, index) in partitions {
            let next = self.next_batch_bytes(&name, index);
            if !taken.is_empty() && bytes + next > self.config.request_max_bytes {
                continue;
            }
            if let Some(batch) = self.take_batch(&name, index, current) {
                bytes += batch.bytes;
                taken.push((name, index, batch));
            }
        }
        // Records sorted by topic so each topic appears once in the request.
        taken.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut topic_data: Vec<TopicProduceData> = Vec::new();
        let mut sent: Vec<(Arc<str>, i32, Batch)> = Vec::new();
        let mut records = 0;
        for (name, index, mut batch) in taken {
            let partition = index as i32;
            let stamp = match batch.sequence {
                Some((s, base_sequence)) => ProducerStamp {
                    producer_id: s.producer_id,
                    producer_epoch: s.epoch,
                    base_sequence,
                    transactional: false,
                },
                None => ProducerStamp::default(),
            };
            let mut buf = BytesMut::with_capacity(batch.bytes + BATCH_HEADER_LEN);
            let encoded = encode_batch(
                &mut buf,
                &batch.records,
                stamp,
                self.config.compression,
                self.config.compression_level,
            );
            if let Err(source) = encoded {
                self.unmark_in_flight(&name, partition, batch.number);
                let error = ProduceError::Codec {
                    topic: name.to_string(),
                    partition,
                    source,
                };
                self.fail_batch(&name, partition, batch, error);
                continue;
            }
            batch.encoded = buf.len();
            let data = PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(buf.freeze()));
            match topic_data.last_mut() {
                Some(t) if t.name.0.as_str() == &*name => t.partition_data.push(data),
                _ => topic_data.push(
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(name.to_string())))
                        .with_partition_data(vec![data]),
                ),
            }
            records += batch.records.len();
            sent.push((name, partition, batch));
        }
        if sent.is_empty() {
            return None;
        }
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.brokers.entry(broker).or_default().in_flight += 1;
        self.in_flight.insert(
            id,
            InFlight {
                broker,
                batches: sent,
            },
        );
        let timeout_ms = i32::try_from(self.config.request_timeout.as_millis()).unwrap_or(i32::MAX);
        let request = ProduceRequest::default()
            .with_acks(self.config.acks.as_i16())
            .with_timeout_ms(timeout_ms)
            .with_topic_data(topic_data);
        Some(ProduceRequestOut {
            id,
            broker,
            request,
            acks: self.config.acks,
            records,
        })
    }

    /// The size of the batch [`Accumulator::take_batch`] would return.
    fn next_batch_bytes(&self, name: &Arc<str>, index: usize) -> usize {
        let Some(p) = self.topics.get(name).and_then(|t| t.partitions.get(index)) else {
            return 0;
        };
        if let Some(front) = p.retries.front() {
            return front.bytes;
        }
        self.cut_len(p).1
    }

    /// How many records (and bytes) the next new batch of `p` takes.
    fn cut_len(&self, p: &Partition) -> (usize, usize) {
        let limit = self
            .config
            .max_batch_bytes()
            .saturating_sub(BATCH_HEADER_LEN)
            .min(p.split_limit.unwrap_or(usize::MAX));
        let mut count = 0;
        let mut bytes = 0;
        for q in p.queue.iter() {
            if count >= self.config.batch_num_messages || (count > 0 && bytes + q.size() > limit) {
                break;
            }
            count += 1;
            bytes += q.size();
        }
        (count, bytes)
    }

    /// Takes the next batch of partition `index` of `name` (a due retry, else new
    /// records from the queue), numbers it if needed and marks it in flight.
    fn take_batch(
        &mut self,
        name: &Arc<str>,
        index: usize,
        current: Option<Stamp>,
    ) -> Option<Batch> {
        let idempotent = self.idempotent;
        let java = self.config.partitioner == Partitioner::Java;
        let timeout = self.config.message_timeout;
        let (count, _) = {
            let p = self.topics.get(name)?.partitions.get(index)?;
            self.cut_len(p)
        };
        let topic = self.topics.get_mut(name)?;
        let p = topic.partitions.get_mut(index)?;
        if idempotent && p.stamp != current && can_number(p, current) {
            p.stamp = current;
            p.next_sequence = 0;
            p.rewrite = false;
            p.acked = false;
        }
        let retry = p.retries.front().is_some();
        let mut batch = if retry {
            p.retries.pop_front()?
        } else {
            if count == 0 {
                return None;
            }
            let number = p.queue.front()?.id.0;
            let mut batch = Batch {
                number,
                ids: Vec::with_capacity(count),
                records: Vec::with_capacity(count),
                bytes: 0,
                deadline: None,
                attempts: 0,
                retry_at: None,
                sequence: None,
                last_error: None,
                encoded: 0,
            };
            for q in std::iter::from_fn(|| p.queue.pop_front()).take(count) {
                p.queued_bytes -= q.size();
                batch.bytes += q.size();
                batch.deadline = match (batch.deadline, q.deadline(timeout)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                batch.ids.push(q.id);
                batch.records.push(q.record);
            }
            if java && topic.sticky.is_some_and(|(s, _)| s as usize == index) {
                topic.sticky = None;
            }
            batch
        };
        if idempotent && batch.sequence.is_none() {
            if let Some(stamp) = p.stamp {
                let base = p.next_sequence;
                p.next_sequence = next_sequence(base, batch.records.len());
                batch.sequence = Some((stamp, base));
            }
        }
        if retry {
            p.retry_in_flight = Some(batch.number);
        }
        batch.attempts += 1;
        batch.retry_at = None;
        p.in_flight.insert(batch.number);
        Some(batch)
    }

    pub(super) fn partition_mut(&mut self, name: &str, index: usize) -> Option<&mut Partition> {
        self.topics.get_mut(name)?.partitions.get_mut(index)
    }
}

/// Whether `p` may number batches under `current`: it already does, or nothing of
/// it is in flight or waiting for a retry under an older id/epoch.
fn can_number(p: &Partition, current: Option<Stamp>) -> bool {
    current.is_some()
        && (p.stamp == current
            || (p.in_flight.is_empty() && p.retries.iter().all(|b| b.sequence.is_none())))
}

/// The sequence number after `base` and `count` records; sequences wrap from
/// `i32::MAX` to 0 as in Kafka.
pub(super) fn next_sequence(base: i32, count: usize) -> i32 {
    ((i64::from(base) + count as i64) % (1i64 << 31)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Acks;

    #[test]
    fn sequences_wrap_like_kafka() {
        assert_eq!(next_sequence(0, 5), 5);
        assert_eq!(next_sequence(i32::MAX - 1, 1), i32::MAX);
        assert_eq!(next_sequence(i32::MAX - 1, 2), 0);
        assert_eq!(next_sequence(i32::MAX, 3), 2);
    }

    #[test]
    fn acks_values() {
        assert_eq!(Acks::None.as_i16(), 0);
        assert_eq!(Acks::Leader.as_i16(), 1);
    }
}
