//! The accumulator: a sans-IO machine holding every record between `send` and its
//! delivery report. It partitions records, batches them per partition, decides
//! when a batch goes, builds one Produce request per broker, reads the answers,
//! retries, expires, and numbers batches for the idempotent producer. It owns no
//! socket, task or clock: the time is always an argument (`now`), and the driver
//! feeds it inputs (`handle_*`) and drains its outputs (`poll_*`).
//!
//! # Batching
//! Records queue per partition in send order. A partition is *ready* when its queue
//! holds `batch.size` bytes or `batch.num.messages` records, when its oldest record
//! has waited `linger.ms`, or while a flush is in progress. [`Accumulator::poll_produce`]
//! picks a broker leading a ready partition with fewer than
//! `max.in.flight.requests.per.connection` requests in flight, and builds one
//! request holding one batch from each of that broker's partitions with records
//! (ready or not, as the Java client does), up to `request_max_bytes`. A batch holds
//! at most `min(batch.size, message.max.bytes)` bytes (uncompressed estimate).
//!
//! # Retries and order
//! A batch that fails with a retriable error (Kafka's retriable codes, lost
//! connections, timeouts) goes back to the front of its partition, in batch order,
//! to be sent again after `retry.backoff.ms` (doubling per attempt up to
//! `retry.backoff.max.ms`), at most `retries` times and never past the
//! `message.timeout.ms` of its first record. While a partition has batches waiting
//! for a retry it sends nothing else; a retried batch is sent only once nothing of
//! its partition is in flight, and nothing newer goes until its answer: retries
//! cannot overtake each other or newer records. (Without idempotence, a batch sent
//! after a batch that later fails can still land first when more than one request
//! is in flight, as in every client.)
//!
//! Errors that mean stale metadata (`NOT_LEADER_OR_FOLLOWER`, ...) and transport
//! failures also forget the partition's leader, so it waits for fresh metadata and
//! goes to the new leader.
//!
//! # Idempotence
//! Sequence numbers are per partition, assigned when a batch is first drained and
//! kept across retries. The rules follow the Java client (KIP-360):
//! - `DUPLICATE_SEQUENCE_NUMBER` is a success: the broker already has the batch.
//! - `OUT_OF_ORDER_SEQUENCE_NUMBER` on a batch that is not the partition's oldest
//!   unacknowledged one: an earlier batch failed, so retry it unchanged.
//! - `OUT_OF_ORDER_SEQUENCE_NUMBER` on the oldest unacknowledged batch (a real gap,
//!   e.g. after an unclean leader election) and `UNKNOWN_PRODUCER_ID` (the broker
//!   lost the producer's state, e.g. to retention): bump the producer epoch and
//!   retry the batch.
//! - `INVALID_PRODUCER_EPOCH`: the batch fails and the epoch is bumped.
//! - Whenever a batch that carried a sequence number ends without success (a
//!   permanent error, retries or time exhausted), the broker may now see a gap, so
//!   the epoch is bumped.
//!
//! Until the broker has acknowledged a partition's first batch under a producer
//! id/epoch, only that batch is in flight: a broker that knows nothing of a producer
//! accepts any sequence number, so a second batch could otherwise be written before
//! a first that failed (say with `NOT_LEADER_OR_FOLLOWER` on a new topic).
//!
//! A bump asks the driver for an InitProducerId (with the current id and epoch, so
//! brokers from 2.5 on bump the epoch; a fresh id is as good). Nothing is sent until
//! it is answered. The partitions that caused it drop the sequence numbers of their
//! unacknowledged batches, wait until nothing of theirs is in flight, and number
//! everything again from 0 under the new id/epoch. Other partitions send their
//! pending retries under the old id/epoch (the broker still deduplicates them) and
//! switch to the new one, from sequence 0, once nothing of theirs is in flight or
//! waiting for a retry.
//!
//! # Batches refused as too large
//! A batch of several records answered `MESSAGE_TOO_LARGE` or
//! `RECORD_LIST_TOO_LARGE` is split into pieces of at most half its bytes, which
//! go to the front of its partition's retries and are sent at once, one at a time,
//! each split again if refused again. They keep the batch's producer id/epoch and
//! its range of sequence numbers, so no bump is needed. The partition cuts its
//! later batches to that size too. A single record still refused fails with
//! [`ProduceError::RecordTooLargeForBroker`]. Details in the `split` module.
//!
//! # Memory and time
//! Every record counts against `queue.buffering.max.messages` and
//! `queue.buffering.max.kbytes` from [`Accumulator::try_append`] until its
//! delivery report; a full accumulator refuses records ([`AppendError::Full`]) and
//! the driver makes the sender wait. Every record has a deadline,
//! `message.timeout.ms` after it was sent; queued records and batches waiting for a
//! retry expire with [`ProduceError::Timeout`] (never silently). Batches in flight
//! are not expired: their request ends with an answer or the transport's request
//! timeout, and the deadline is checked then.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flame_kafka_codec::messages::ProduceRequest;
use flame_kafka_codec::record_batch::Record;
use flame_kafka_codec::KafkaCode;

use crate::config::{Acks, ConfigError, ProducerConfig};
use crate::record::{record_size, RecordMetadata};
use crate::{BrokerId, ProduceError};
use queue::ChunkedQueue;

mod drain;
mod expiry;
mod queue;
mod response;
mod routing;
mod split;
#[cfg(test)]
mod tests;

/// Names one record from [`Accumulator::try_append`] to its [`Delivery`]; ids
/// increase in append order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub u64);

/// Names one Produce request from [`Accumulator::poll_produce`] to its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// The outcome of one record.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The record, as [`Accumulator::try_append`] named it.
    pub id: MessageId,
    /// Where it was written, or why it was not.
    pub result: Result<RecordMetadata, ProduceError>,
}

/// Why [`Accumulator::try_append`] did not take a record.
#[derive(Debug)]
pub enum AppendError {
    /// The accumulator holds `queue.buffering.max.messages` records or
    /// `queue.buffering.max.kbytes`; here is the record back, to try again once
    /// deliveries have made room.
    Full(Record),
    /// The record can never be sent (too large, no such partition, producer closed
    /// or failed).
    Rejected(ProduceError),
}

/// A Produce request to send, built by [`Accumulator::poll_produce`].
#[derive(Debug)]
pub struct ProduceRequestOut {
    /// Report the outcome with this id.
    pub id: RequestId,
    /// The partition leader to send it to.
    pub broker: BrokerId,
    /// The request (one batch per partition).
    pub request: ProduceRequest,
    /// `acks=0`: send without waiting for an answer, then report
    /// [`Accumulator::handle_produce_sent`].
    pub acks: Acks,
    /// How many records it carries.
    pub records: usize,
}

/// Fresh metadata for one topic, for [`Accumulator::handle_metadata`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicUpdate {
    /// The topic.
    pub topic: String,
    /// The leader of each partition, indexed by partition id (`None`: no leader
    /// now), or the topic's error code.
    pub leaders: Result<Vec<Option<BrokerId>>, KafkaCode>,
}

/// An InitProducerId request to send, from [`Accumulator::poll_init_producer_id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitProducerIdOut {
    /// The current producer id when bumping the epoch, else -1.
    pub producer_id: i64,
    /// The current epoch when bumping, else -1.
    pub producer_epoch: i16,
}

/// A producer id and epoch: what sequence numbers belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    producer_id: i64,
    epoch: i16,
}

/// A record waiting in a queue. Kept small: every queued record is one of these
/// (its deadline is `enqueued + message.timeout.ms`, computed when needed).
#[derive(Debug)]
struct Queued {
    record: Record,
    id: MessageId,
    /// When `send` was called.
    enqueued: Instant,
    /// Its size as the queue limits count it (at most `message.max.bytes`).
    size: u32,
    /// The partition the application asked for, or [`NO_PARTITION`].
    partition: i32,
}

/// [`Queued::partition`] when the application did not choose one (negative
/// partitions are refused before a record is queued).
const NO_PARTITION: i32 = -1;

impl Queued {
    fn size(&self) -> usize {
        self.size as usize
    }

    /// `message.timeout.ms` after `send`, or `None` when `timeout` is zero (no
    /// timeout).
    fn deadline(&self, timeout: Duration) -> Option<Instant> {
        (!timeout.is_zero()).then(|| self.enqueued + timeout)
    }

    fn partition(&self) -> Option<i32> {
        (self.partition != NO_PARTITION).then_some(self.partition)
    }
}

/// The outcomes of a batch (or of one record), handed out one record at a time by
/// [`Accumulator::poll_delivery`]: a `Delivery` per record would be queued at
/// once for every record of a request.
#[derive(Debug)]
enum Outcomes {
    /// Written at `next_offset` and on (-1: unknown).
    Written {
        topic: Arc<str>,
        partition: i32,
        ids: std::vec::IntoIter<MessageId>,
        /// For the create times, unless the broker gave a log-append time.
        records: std::vec::IntoIter<Record>,
        next_offset: i64,
        log_append_time: i64,
    },
    /// Every record failed with `error`.
    Failed {
        ids: std::vec::IntoIter<MessageId>,
        error: ProduceError,
    },
    One(Delivery),
}

impl Outcomes {
    /// The next record's outcome.
    fn next(&mut self) -> Option<Delivery> {
        match self {
            Outcomes::Written {
                topic,
                partition,
                ids,
                records,
                next_offset,
                log_append_time,
            } => {
                let id = ids.next()?;
                let record = records.next();
                let offset = *next_offset;
                if offset >= 0 {
                    *next_offset = offset.saturating_add(1);
                }
                let timestamp = if *log_append_time >= 0 {
                    *log_append_time
                } else {
                    record.map_or(-1, |r| r.timestamp)
                };
                Some(Delivery {
                    id,
                    result: Ok(RecordMetadata {
                        topic: Arc::clone(topic),
                        partition: *partition,
                        offset,
                        timestamp,
                    }),
                })
            }
            Outcomes::Failed { ids, error } => {
                let id = ids.next()?;
                Some(Delivery {
                    id,
                    result: Err(error.clone()),
                })
            }
            Outcomes::One(_) => {
                let one = std::mem::replace(
                    self,
                    Outcomes::Failed {
                        ids: Vec::new().into_iter(),
                        error: ProduceError::Closed,
                    },
                );
                match one {
                    Outcomes::One(delivery) => Some(delivery),
                    _ => None,
                }
            }
        }
    }

    /// Whether every record's outcome was handed out.
    fn is_done(&self) -> bool {
        match self {
            Outcomes::Written { ids, .. } | Outcomes::Failed { ids, .. } => ids.len() == 0,
            Outcomes::One(_) => false,
        }
    }
}

/// Records cut from a partition's queue and sent (or to be sent again) together.
#[derive(Debug)]
struct Batch {
    /// Order of the batch within its partition: the id of its first record (ids
    /// grow in append order, and a partition queues its records in that order), so
    /// the pieces of a split batch keep their place among the others.
    number: u64,
    ids: Vec<MessageId>,
    records: Vec<Record>,
    bytes: usize,
    /// The earliest deadline of its records.
    deadline: Option<Instant>,
    /// How often it was sent.
    attempts: u32,
    /// Not to be sent again before this.
    retry_at: Option<Instant>,
    /// Producer id/epoch and base sequence, once numbered.
    sequence: Option<(Stamp, i32)>,
    /// Why the last attempt failed.
    last_error: Option<ProduceError>,
    /// Its size as last encoded (header included, after compression); 0 before.
    encoded: usize,
}

#[derive(Debug, Default)]
struct Partition {
    leader: Option<BrokerId>,
    queue: ChunkedQueue<Queued>,
    queued_bytes: usize,
    /// Batches waiting to be sent again, in batch order.
    retries: VecDeque<Batch>,
    /// Numbers of this partition's batches in flight.
    in_flight: BTreeSet<u64>,
    /// The number of the retried batch in flight, if any: nothing newer is sent
    /// until it succeeds or fails for good.
    retry_in_flight: Option<u64>,
    /// The most record bytes (uncompressed estimate) a new batch may hold, once
    /// the leader refused a batch as too large: half of the refused batch.
    split_limit: Option<usize>,
    /// The producer id/epoch this partition's sequence numbers belong to.
    stamp: Option<Stamp>,
    next_sequence: i32,
    /// Renumber unacknowledged batches under the next producer id/epoch.
    rewrite: bool,
    /// Whether a batch numbered under `stamp` was acknowledged. Until then the
    /// broker may know nothing of this producer and would accept any sequence
    /// number, so only one batch of the partition is in flight.
    acked: bool,
}

#[derive(Debug)]
struct Topic {
    partitions: Vec<Partition>,
    /// Records waiting for the topic's metadata.
    unrouted: ChunkedQueue<Queued>,
    /// When this topic was first used.
    since: Instant,
    /// The last metadata error seen for it (reported when its records time out).
    last_error: Option<ProduceError>,
    /// The partition records without a key go to, and since when.
    sticky: Option<(i32, Instant)>,
}

#[derive(Debug, Default)]
struct BrokerState {
    in_flight: usize,
    throttled_until: Option<Instant>,
}

#[derive(Debug)]
struct InFlight {
    broker: BrokerId,
    batches: Vec<(Arc<str>, i32, Batch)>,
}

#[derive(Debug)]
enum ProducerState {
    /// Not idempotent: no producer id.
    Disabled,
    /// An id (or a bump) is needed; nothing is sent meanwhile.
    Needed {
        previous: Option<Stamp>,
        in_flight: bool,
        not_before: Option<Instant>,
        attempts: u32,
    },
    Ready(Stamp),
}

/// The producer's sans-IO core. See the module documentation for its rules.
#[derive(Debug)]
pub struct Accumulator {
    config: ProducerConfig,
    idempotent: bool,
    topics: BTreeMap<Arc<str>, Topic>,
    brokers: HashMap<BrokerId, BrokerState>,
    in_flight: HashMap<RequestId, InFlight>,
    /// Outcomes not yet polled, one entry per batch: [`Accumulator::poll_delivery`]
    /// hands them out record by record.
    deliveries: VecDeque<Outcomes>,
    held_messages: usize,
    held_bytes: usize,
    next_message: u64,
    next_request: u64,
    rng: u64,
    flushes: usize,
    producer: ProducerState,
    metadata_in_flight: bool,
    metadata_not_before: Option<Instant>,
    /// The topics of the last metadata request.
    metadata_asked: Vec<String>,
    fatal: Option<ProduceError>,
    drain_cursor: usize,
}

impl Accumulator {
    /// A new, empty accumulator. `seed` drives the random partition choices.
    ///
    /// # Errors
    /// [`ConfigError`] for invalid settings (see [`ProducerConfig::idempotence`]).
    pub fn new(config: ProducerConfig, seed: u64) -> Result<Self, ConfigError> {
        let idempotent = config.idempotence()?;
        let producer = if idempotent {
            ProducerState::Needed {
                previous: None,
                in_flight: false,
                not_before: None,
                attempts: 0,
            }
        } else {
            ProducerState::Disabled
        };
        Ok(Accumulator {
            config,
            idempotent,
            topics: BTreeMap::new(),
            brokers: HashMap::new(),
            in_flight: HashMap::new(),
            deliveries: VecDeque::new(),
            held_messages: 0,
            held_bytes: 0,
            next_message: 0,
            next_request: 0,
            rng: seed,
            flushes: 0,
            producer,
            metadata_in_flight: false,
            metadata_not_before: None,
            metadata_asked: Vec::new(),
            fatal: None,
            drain_cursor: 0,
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &ProducerConfig {
        &self.config
    }

    /// Whether this producer numbers its batches (idempotence on).
    pub fn is_idempotent(&self) -> bool {
        self.idempotent
    }

    /// Records held: queued, batched, in flight, or with an undrained delivery.
    pub fn held_messages(&self) -> usize {
        self.held_messages
    }

    /// Whether no record is held and no delivery is waiting to be polled.
    pub fn is_empty(&self) -> bool {
        self.held_messages == 0 && self.deliveries.is_empty()
    }

    /// The current producer id and epoch, once known.
    pub fn producer_id(&self) -> Option<(i64, i16)> {
        match self.producer {
            ProducerState::Ready(s) => Some((s.producer_id, s.epoch)),
            _ => None,
        }
    }

    /// Queues `record` for `topic` (and `partition`, if the application chose one).
    /// `sent` is when the application called `send`: the record's
    /// `message.timeout.ms` runs from then.
    ///
    /// # Errors
    /// [`AppendError::Full`] when the queue limits are reached (the driver waits
    /// for deliveries); [`AppendError::Rejected`] when the record can never go.
    pub fn try_append(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        record: Record,
        sent: Instant,
        now: Instant,
    ) -> Result<MessageId, AppendError> {
        if let Some(fatal) = &self.fatal {
            return Err(AppendError::Rejected(fatal.clone()));
        }
        let size = record_size(&record);
        let max = self
            .config
            .message_max_bytes
            .saturating_sub(flame_kafka_codec::record_batch::BATCH_HEADER_LEN)
            .min(self.config.max_queued_bytes())
            .min(u32::MAX as usize);
        if size > max {
            return Err(AppendError::Rejected(ProduceError::RecordTooLarge {
                topic: topic.to_owned(),
                size,
                max,
            }));
        }
        if let Some(p) = partition.filter(|p| *p < 0) {
            return Err(AppendError::Rejected(ProduceError::UnknownPartition {
                topic: topic.to_owned(),
                partition: p,
                partition_count: self.partition_count(topic),
            }));
        }
        if self.held_messages > 0
            && (self.held_messages >= self.config.queue_buffering_max_messages
                || self.held_bytes + size > self.config.max_queued_bytes())
        {
            return Err(AppendError::Full(record));
        }
        // One map lookup for the usual case: a topic already known.
        let count = match self.topics.get(topic) {
            Some(t) => t.partitions.len() as i32,
            None => {
                self.topic_key(topic, now);
                0
            }
        };
        if let Some(p) = partition.filter(|p| count > 0 && *p >= count) {
            return Err(AppendError::Rejected(ProduceError::UnknownPartition {
                topic: topic.to_owned(),
                partition: p,
                partition_count: count,
            }));
        }
        let id = MessageId(self.next_message);
        self.next_message += 1;
        self.held_messages += 1;
        self.held_bytes += size;
        let queued = Queued {
            record,
            id,
            enqueued: sent,
            // At most `max`, which fits.
            size: size as u32,
            partition: partition.unwrap_or(NO_PARTITION),
        };
        self.route(topic, queued, now);
        Ok(id)
    }

    /// Makes every partition with records ready, until [`Accumulator::end_flush`].
    /// Flushes nest.
    pub fn begin_flush(&mut self) {
        self.flushes += 1;
    }

    /// Ends one [`Accumulator::begin_flush`].
    pub fn end_flush(&mut self) {
        self.flushes = self.flushes.saturating_sub(1);
    }

    /// The next record outcome, if any.
    pub fn poll_delivery(&mut self) -> Option<Delivery> {
        loop {
            let front = self.deliveries.front_mut()?;
            let delivery = front.next();
            if delivery.is_none() || front.is_done() {
                self.deliveries.pop_front();
            }
            if delivery.is_some() {
                return delivery;
            }
        }
    }

    /// An InitProducerId request to send, when the idempotent producer needs an id
    /// or an epoch bump. Answer with [`Accumulator::handle_producer_id`] or
    /// [`Accumulator::handle_producer_id_failed`].
    pub fn poll_init_producer_id(&mut self, now: Instant) -> Option<InitProducerIdOut> {
        if self.fatal.is_some() {
            return None;
        }
        let ProducerState::Needed {
            previous,
            in_flight,
            not_before,
            ..
        } = &mut self.producer
        else {
            return None;
        };
        if *in_flight || not_before.is_some_and(|t| now < t) {
            return None;
        }
        *in_flight = true;
        Some(InitProducerIdOut {
            producer_id: previous.map_or(-1, |s| s.producer_id),
            producer_epoch: previous.map_or(-1, |s| s.epoch),
        })
    }

    /// The broker gave this producer an id and epoch.
    pub fn handle_producer_id(&mut self, producer_id: i64, epoch: i16) {
        if matches!(self.producer, ProducerState::Needed { .. }) {
            self.producer = ProducerState::Ready(Stamp { producer_id, epoch });
        }
    }

    /// InitProducerId failed. A retriable error is tried again after a backoff; any
    /// other fails every held record and every later `try_append` with `error`.
    pub fn handle_producer_id_failed(&mut self, error: ProduceError, now: Instant) {
        let ProducerState::Needed { attempts, .. } = self.producer else {
            return;
        };
        let backoff = self.backoff(attempts + 1);
        if let ProducerState::Needed {
            in_flight,
            not_before,
            attempts,
            ..
        } = &mut self.producer
        {
            *in_flight = false;
            *attempts += 1;
            *not_before = Some(now + backoff);
        }
        if !error.is_retriable() {
            self.abort(error);
        }
    }

    /// When the driver must call in again at the latest (a linger, backoff or
    /// deadline ends), if anything waits on time.
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        let current = self.current_stamp();
        let timeout = self.config.message_timeout;
        for topic in self.topics.values() {
            if let Some(deadline) = topic.unrouted.front().and_then(|q| q.deadline(timeout)) {
                at(deadline);
            }
            for p in &topic.partitions {
                if let Some(deadline) = p.queue.front().and_then(|q| q.deadline(timeout)) {
                    at(deadline);
                }
                for deadline in p.retries.iter().filter_map(|b| b.deadline) {
                    at(deadline);
                }
                match self.send_status(p, current, now) {
                    SendStatus::Ready => at(now),
                    SendStatus::Lingering(t)
                    | SendStatus::BackingOff(t)
                    | SendStatus::Throttled(t) => at(t),
                    SendStatus::Blocked | SendStatus::Empty => {}
                }
            }
        }
        if let Some((due, _)) = self.metadata_due(now) {
            at(due);
        }
        if let ProducerState::Needed {
            in_flight: false,
            not_before,
            ..
        } = self.producer
        {
            if self.fatal.is_none() {
                at(not_before.unwrap_or(now).max(now));
            }
        }
        next
    }

    // ---------------------------------------------------------------- internals

    fn current_stamp(&self) -> Option<Stamp> {
        match self.producer {
            ProducerState::Ready(s) => Some(s),
            _ => None,
        }
    }

    /// The retry backoff after `attempts` failures: `retry.backoff.ms` doubling up
    /// to `retry.backoff.max.ms`.
    fn backoff(&self, attempts: u32) -> Duration {
        let base = self.config.retry_backoff;
        let factor = 1u32 << attempts.saturating_sub(1).min(16);
        base.saturating_mul(factor)
            .min(self.config.retry_backoff_max.max(base))
    }
}

/// Whether a partition can send, from [`Accumulator::send_status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendStatus {
    /// A batch is due.
    Ready,
    /// Records wait for `linger.ms` until then; they may go earlier with another
    /// partition's request to the same broker.
    Lingering(Instant),
    /// A batch waits for its retry backoff until then.
    BackingOff(Instant),
    /// The leader throttles this client until then.
    Throttled(Instant),
    /// Records wait for something other than time (a leader, a producer id, a free
    /// in-flight slot, earlier batches in flight).
    Blocked,
    /// Nothing to send.
    Empty,
}
