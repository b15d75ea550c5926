//! [`Producer`]: the application's handle. It checks and stamps records, waits for
//! room in the queue (async backpressure), and passes records to the driver task.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flame_kafka_cluster::Cluster;
use flame_kafka_codec::record_batch::BATCH_HEADER_LEN;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::accumulator::Accumulator;
use crate::driver::{Command, Driver};
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
    commands: mpsc::UnboundedSender<Command>,
    /// Room for records: `queue.buffering.max.messages` permits.
    messages: Arc<Semaphore>,
    /// Room for bytes: `queue.buffering.max.kbytes` permits (one per byte).
    bytes: Arc<Semaphore>,
    /// The largest record accepted.
    max_record: usize,
    config: ProducerConfig,
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
    rx: oneshot::Receiver<Result<RecordMetadata, ProduceError>>,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ProduceError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The driver answers every record; a dropped sender means it stopped.
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(ProduceError::Closed)))
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
        let (commands, rx) = mpsc::unbounded_channel();
        runtime.spawn(Driver::new(acc, cluster, rx).run());
        let queue_bytes = config.max_queued_bytes().min(Semaphore::MAX_PERMITS);
        let max_record = config
            .message_max_bytes
            .saturating_sub(BATCH_HEADER_LEN)
            .min(queue_bytes)
            .min(u32::MAX as usize);
        let messages = config
            .queue_buffering_max_messages
            .min(Semaphore::MAX_PERMITS);
        Ok(Producer {
            shared: Arc::new(Shared {
                commands,
                messages: Arc::new(Semaphore::new(messages)),
                bytes: Arc::new(Semaphore::new(queue_bytes)),
                max_record,
                config,
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
    /// `message.timeout.ms`; that wait counts against the record's timeout. A record
    /// without a timestamp gets the current time.
    ///
    /// # Errors
    /// [`ProduceError::RecordTooLarge`], [`ProduceError::QueueFull`] after waiting
    /// in vain, [`ProduceError::Closed`] once the producer is closed. Errors found
    /// later (unknown topic or partition, broker errors, timeouts) come from the
    /// returned future.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, ProduceError> {
        let sent = Instant::now();
        let shared = &self.shared;
        if shared.commands.is_closed() {
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
        let room = async {
            let message = Arc::clone(&shared.messages).acquire_owned().await;
            let bytes = Arc::clone(&shared.bytes)
                .acquire_many_owned(byte_permits)
                .await;
            match (message, bytes) {
                (Ok(m), Ok(b)) => Ok((m, b)),
                _ => Err(ProduceError::Closed),
            }
        };
        let timeout = shared.config.message_timeout;
        let permits: (OwnedSemaphorePermit, OwnedSemaphorePermit) = if timeout.is_zero() {
            room.await?
        } else {
            match tokio::time::timeout(timeout, room).await {
                Ok(permits) => permits?,
                Err(_) => {
                    return Err(ProduceError::QueueFull {
                        topic: record.topic,
                        waited: timeout,
                    })
                }
            }
        };
        let (topic, partition, record) = record.into_record(now_millis());
        let (reply, rx) = oneshot::channel();
        shared
            .commands
            .send(Command::Send {
                topic,
                partition,
                record,
                sent,
                reply,
                permits,
            })
            .map_err(|_| ProduceError::Closed)?;
        Ok(DeliveryFuture { rx })
    }

    /// Sends everything queued now without waiting for `linger.ms`, and returns once
    /// every record queued before the call has an outcome.
    ///
    /// # Errors
    /// A [`FlushError`] listing the records that failed (their futures report the
    /// same errors), or holding [`ProduceError::Closed`] if the producer is closed.
    pub async fn flush(&self) -> Result<(), FlushError> {
        let (reply, rx) = oneshot::channel();
        if self.shared.commands.send(Command::Flush { reply }).is_err() {
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
        if self
            .shared
            .commands
            .send(Command::Close { timeout, reply })
            .is_err()
        {
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
