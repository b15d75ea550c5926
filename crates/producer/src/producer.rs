//! [`Producer`]: the application's handle. It checks and stamps records, waits for
//! room in the queue (async backpressure), and passes records to the driver task.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flame_kafka_cluster::Cluster;
use flame_kafka_codec::record_batch::BATCH_HEADER_LEN;
use tokio::sync::{oneshot, Semaphore, TryAcquireError};
use tokio::time::Instant;

use crate::accumulator::Accumulator;
use crate::delivery::Receiver;
use crate::driver::{Command, Driver, Room};
use crate::inbox::{self, Inbox};
use crate::{FlushError, ProduceError, ProducerConfig, ProducerRecord, RecordMetadata};

/// A Kafka producer: batches records per partition and sends them to the partition
/// leaders from a background task.
///
/// Cheap to clone; every clone feeds the same task. When the last clone is dropped
/// without [`Producer::close`], the task keeps delivering what is queued for at most
/// `flame.flush.timeout.ms` (default 10 s), then fails the rest with
/// [`ProduceError::Closed`]. This is best effort: it needs the tokio runtime to keep
/// running; call [`Producer::close`] to know the outcome.
#[derive(Clone)]
pub struct Producer {
    shared: Arc<Shared>,
}

struct Shared {
    inbox: Arc<Inbox>,
    /// Room for records: `queue.buffering.max.messages` permits.
    messages: Arc<Semaphore>,
    /// Room for bytes: `queue.buffering.max.kbytes` permits (one per byte).
    bytes: Arc<Semaphore>,
    /// Room in the inbox: [`inbox::MAX_RECORDS`] permits.
    inbox_room: Arc<Semaphore>,
    /// The largest record accepted.
    max_record: usize,
    config: ProducerConfig,
    clock: WallClock,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The last handle is gone: the driver delivers what is queued and stops.
        self.inbox.handles_gone();
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// Resolves to a record's outcome: where it was written, or why not.
#[derive(Debug)]
#[must_use = "a delivery future reports whether the record was written"]
pub struct DeliveryFuture {
    rx: Receiver,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ProduceError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The driver answers every record; a reply dropped unanswered (the driver
        // stopped) answers `Closed`.
        self.rx.poll(cx)
    }
}

impl Producer {
    /// Starts a producer on `cluster`: spawns its driver task on the current tokio
    /// runtime. An idempotent producer asks for its producer id first; records sent
    /// meanwhile wait in the queue.
    ///
    /// # Errors
    /// [`ProduceError::Config`] for invalid settings, [`ProduceError::NoRuntime`]
    /// outside a tokio runtime.
    pub fn new(config: ProducerConfig, cluster: Cluster) -> Result<Producer, ProduceError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ProduceError::NoRuntime)?;
        let acc = Accumulator::new(config.clone(), rand::random())?;
        let inbox = Arc::new(Inbox::default());
        let queue_bytes = config.max_queued_bytes().min(Semaphore::MAX_PERMITS);
        let max_record = config
            .message_max_bytes
            .saturating_sub(BATCH_HEADER_LEN)
            .min(queue_bytes)
            .min(u32::MAX as usize);
        let messages = config
            .queue_buffering_max_messages
            .min(Semaphore::MAX_PERMITS);
        let messages = Arc::new(Semaphore::new(messages));
        let bytes = Arc::new(Semaphore::new(queue_bytes));
        let inbox_room = Arc::new(Semaphore::new(inbox::MAX_RECORDS));
        let clock = WallClock::new();
        let room = Room {
            messages: Arc::clone(&messages),
            bytes: Arc::clone(&bytes),
            inbox: Arc::clone(&inbox_room),
            base: clock.base,
        };
        runtime.spawn(Driver::new(acc, cluster, Arc::clone(&inbox), room).run());
        Ok(Producer {
            shared: Arc::new(Shared {
                inbox,
                messages,
                bytes,
                inbox_room,
                max_record,
                config,
                clock,
            }),
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &ProducerConfig {
        &self.shared.config
    }

    /// Queues `record` and returns once it is queued, with a future for its outcome.
    /// Records sent one after another to the same partition are written in order.
    ///
    /// When the queue is full (`queue.buffering.max.messages`,
    /// `queue.buffering.max.kbytes`) this waits for room, at most
    /// `message.timeout.ms`; that wait counts against the record's timeout. It also
    /// waits while 4096 records sent are still to be picked up by the producer's
    /// task (a sender faster than that task is held back there, so that the
    /// backlog is kept once, in the per-partition queues). A record without a
    /// timestamp gets the current time.
    ///
    /// # Errors
    /// [`ProduceError::RecordTooLarge`], [`ProduceError::QueueFull`] after waiting
    /// in vain, [`ProduceError::Closed`] once the producer is closed. Errors found
    /// later (unknown topic or partition, broker errors, timeouts) come from the
    /// returned future.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, ProduceError> {
        let sent = Instant::now();
        let shared = &self.shared;
        if shared.inbox.is_closed() {
            return Err(ProduceError::Closed);
        }
        let size = record.size_hint();
        let Some(byte_permits) = u32::try_from(size)
            .ok()
            .filter(|_| size <= shared.max_record)
        else {
            return Err(ProduceError::RecordTooLarge {
                topic: record.topic,
                size,
                max: shared.max_record,
            });
        };
        // Fast path: room is there now, so no timer and no clock read for the wait.
        // The permits are forgotten here and given back by the driver (in bulk):
        // the inbox's when it takes the record, the others when the record's
        // outcome is known.
        let fast = self.try_room(byte_permits)?;
        let stamp = if fast {
            // No wait: the time of `send` is the time now, without reading a clock
            // again.
            shared.clock.millis_at(sent)
        } else {
            self.wait_for_room(byte_permits, sent, &record.topic)
                .await?;
            now_millis()
        };
        let (topic, partition, record) = record.into_record(stamp);
        let sent = shared.clock.nanos_since_base(sent);
        let make = |topic, reply| Command::Send {
            topic,
            partition,
            record,
            sent,
            reply,
            bytes: byte_permits,
        };
        match shared.inbox.push_send(&topic, make) {
            Some(rx) => Ok(DeliveryFuture { rx }),
            // The driver is gone: nobody will give the permits back, and nobody
            // needs them any more.
            None => Err(ProduceError::Closed),
        }
    }

    /// Takes a message permit, `byte_permits` byte permits and an inbox permit if
    /// all are there now (and forgets them), else none. Returns whether it did.
    fn try_room(&self, byte_permits: u32) -> Result<bool, ProduceError> {
        let shared = &self.shared;
        let taken = |r: Result<_, TryAcquireError>| match r {
            Ok(permit) => Ok(Some(permit)),
            Err(TryAcquireError::Closed) => Err(ProduceError::Closed),
            Err(TryAcquireError::NoPermits) => Ok(None),
        };
        // Permits taken before one that is missing go back when dropped.
        let Some(message) = taken(shared.messages.try_acquire())? else {
            return Ok(false);
        };
        let Some(bytes) = taken(shared.bytes.try_acquire_many(byte_permits))? else {
            return Ok(false);
        };
        let Some(inbox) = taken(shared.inbox_room.try_acquire())? else {
            return Ok(false);
        };
        message.forget();
        bytes.forget();
        inbox.forget();
        Ok(true)
    }

    /// The slow path of [`Producer::send`]: waits for a message permit,
    /// `byte_permits` byte permits and an inbox permit, at most
    /// `message.timeout.ms` from `sent`, and forgets them (the driver gives them
    /// back).
    async fn wait_for_room(
        &self,
        byte_permits: u32,
        sent: Instant,
        topic: &str,
    ) -> Result<(), ProduceError> {
        let shared = &self.shared;
        let room = async {
            let message = shared.messages.acquire().await;
            let bytes = shared.bytes.acquire_many(byte_permits).await;
            let inbox = shared.inbox_room.acquire().await;
            match (message, bytes, inbox) {
                (Ok(m), Ok(b), Ok(i)) => {
                    m.forget();
                    b.forget();
                    i.forget();
                    Ok(())
                }
                _ => Err(ProduceError::Closed),
            }
        };
        let timeout = shared.config.message_timeout;
        if timeout.is_zero() {
            return room.await;
        }
        let Some(deadline) = sent.checked_add(timeout) else {
            return room.await;
        };
        match tokio::time::timeout_at(deadline, room).await {
            Ok(result) => result,
            Err(_) => Err(ProduceError::QueueFull {
                topic: topic.to_owned(),
                waited: timeout,
            }),
        }
    }

    /// Sends everything queued now without waiting for `linger.ms`, and returns once
    /// every record queued before the call has an outcome.
    ///
    /// # Errors
    /// A [`FlushError`] listing the records that failed (their futures report the
    /// same errors), or holding [`ProduceError::Closed`] if the producer is closed.
    pub async fn flush(&self) -> Result<(), FlushError> {
        let (reply, rx) = oneshot::channel();
        if !self.shared.inbox.push(Command::Flush { reply }) {
            return Err(closed());
        }
        rx.await.unwrap_or_else(|_| Err(closed()))
    }

    /// Delivers what is queued for at most `timeout`, fails the rest with
    /// [`ProduceError::Closed`], and stops the driver task. Other clones of this
    /// producer fail from then on.
    ///
    /// # Errors
    /// A [`FlushError`] with the records that failed, and how many were still
    /// undelivered when `timeout` ran out.
    pub async fn close(self, timeout: Duration) -> Result<(), FlushError> {
        let (reply, rx) = oneshot::channel();
        if !self.shared.inbox.push(Command::Close { timeout, reply }) {
            return Err(closed());
        }
        rx.await.unwrap_or_else(|_| Err(closed()))
    }
}

fn closed() -> FlushError {
    FlushError {
        failures: vec![ProduceError::Closed],
        undelivered: 0,
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Nanoseconds since the Unix epoch (0 if the clock is before it).
fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// How long a [`WallClock`] trusts its anchor before reading the system clock
/// again (so that adjustments of the system clock are followed within this).
const RESYNC_NANOS: i64 = 10_000_000;

/// The system clock, read through the monotonic reading `send` takes anyway: one
/// clock read per record instead of two. Re-anchored on the system clock every
/// [`RESYNC_NANOS`]; between anchors the two clocks drift apart by microseconds
/// at most, well below the milliseconds of a Kafka timestamp.
struct WallClock {
    base: Instant,
    /// System-clock nanoseconds since the epoch minus monotonic nanoseconds since
    /// `base`, at the last anchor.
    offset: AtomicI64,
    /// Monotonic nanoseconds since `base` at the last anchor.
    anchored: AtomicI64,
}

impl WallClock {
    fn new() -> Self {
        WallClock {
            base: Instant::now(),
            offset: AtomicI64::new(0),
            anchored: AtomicI64::new(i64::MIN),
        }
    }

    /// Nanoseconds from the base to `at` (0 before it).
    fn nanos_since_base(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    fn since_base(&self, at: Instant) -> i64 {
        i64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(i64::MAX)
    }

    /// Milliseconds since the Unix epoch at `at`, a monotonic instant just read
    /// (0 if the system clock is before the epoch).
    fn millis_at(&self, at: Instant) -> i64 {
        let mono = self.since_base(at);
        // Relaxed: a thread may pair a fresh `anchored` with the previous `offset`
        // (or the reverse); both anchors are valid, so the result is as good.
        let offset = if mono.saturating_sub(self.anchored.load(Ordering::Relaxed)) > RESYNC_NANOS {
            let now = self.since_base(Instant::now());
            let offset = now_nanos().saturating_sub(now);
            self.offset.store(offset, Ordering::Relaxed);
            self.anchored.store(now, Ordering::Relaxed);
            offset
        } else {
            self.offset.load(Ordering::Relaxed)
        };
        offset.saturating_add(mono).max(0) / 1_000_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_clock_follows_the_system_clock() {
        let clock = WallClock::new();
        for _ in 0..1000 {
            let before = now_millis();
            let stamp = clock.millis_at(Instant::now());
            let after = now_millis();
            // One millisecond of slack for the rounding of the anchor.
            assert!(
                before - 1 <= stamp && stamp <= after + 1,
                "{before} <= {stamp} <= {after}"
            );
        }
    }
}
