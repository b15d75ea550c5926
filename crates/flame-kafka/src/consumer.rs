//! The flame consumer: `consume(config, topics)`, then `run(callback)` until
//! `close()`.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use flame_kafka_cluster::Cluster;
use flame_kafka_group::ConsumedRecord;
use tokio::sync::{watch, Mutex, Semaphore};

use crate::config::{Config, Role};
use crate::{settings, Error, Headers, Message};

/// Wait after a retriable consumer error before polling again.
const ERROR_BACKOFF: Duration = Duration::from_millis(200);

/// Connects to the cluster, joins the consumer group `group.id` and subscribes to
/// `topics`. Consumption starts with [`Consumer::run`].
///
/// # Errors
/// [`Error::Config`] for a bad configuration (missing `bootstrap.servers` or
/// `group.id`, unknown keys, bad values: the message names the key),
/// [`Error::NoTopics`] for an empty topic list, [`Error::Cluster`] when no broker
/// can be reached.
pub async fn consume<I, K, V>(config: I, topics: &[&str]) -> Result<Consumer, Error>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let config = Config::parse(config, Role::Consumer)?;
    if topics.is_empty() {
        return Err(Error::NoTopics);
    }
    let mut consumer_config = settings::consumer(&config)?;
    // `run` marks each message done when its callback returns, and polls again
    // while callbacks still run: a poll must not count as finishing anything.
    consumer_config.done_on_next_poll = false;
    consumer_config.enable_auto_offset_store = false;
    let cluster = Cluster::connect(settings::cluster(&config)?).await?;
    let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    let inner = flame_kafka_group::Consumer::new(consumer_config, cluster, topics)?;
    let (stop, _) = watch::channel(false);
    let (finished, _) = watch::channel(false);
    Ok(Consumer {
        shared: Arc::new(Shared {
            inner,
            concurrency: config.int("flame.concurrency").max(1) as usize,
            stop,
            finished,
            run_lock: Mutex::new(()),
        }),
    })
}

/// A group consumer. Cheap to clone: clones are handles to the same consumer, so
/// one task can `run` it while another `close`s it.
#[derive(Clone)]
pub struct Consumer {
    shared: Arc<Shared>,
}

struct Shared {
    inner: flame_kafka_group::Consumer,
    /// Callbacks running at once (`flame.concurrency`).
    concurrency: usize,
    /// Set by `close`.
    stop: watch::Sender<bool>,
    /// Set once the consumer has committed and left the group.
    finished: watch::Sender<bool>,
    /// One `run` at a time.
    run_lock: Mutex<()>,
}

impl Consumer {
    /// Consumes until [`close`](Consumer::close) is called, calling `callback` for
    /// each message. Up to `flame.concurrency` callbacks run at once (1 by default:
    /// in order per partition).
    ///
    /// A callback's error (or panic) is logged and consumption goes on, as in the
    /// original; its message counts as processed. Offsets are committed (with
    /// `enable.auto.commit`, and on close) only up to the first message of each
    /// partition whose callback has not finished, so a restart never skips one.
    /// When `close` is called, no new callback starts; `run` waits for the running
    /// ones, commits, leaves the group and returns `Ok(())`.
    ///
    /// `run` takes a message from the consumer only when a callback slot is free,
    /// and starts its callback at once. When a rebalance moves partitions to
    /// another member, messages of theirs not taken yet are dropped (the new owner
    /// consumes them), and the partitions are handed over only once the callbacks
    /// running on their messages have returned (and their offsets are committed),
    /// so two members never process the same message at the same time — unless a
    /// callback runs longer than `max.poll.interval.ms` (less two heartbeat
    /// intervals): then the hand-over goes ahead with a warning, and the late
    /// callback's completion is not committed for the partition it lost.
    ///
    /// # Errors
    /// [`Error::Consume`] for a fatal consumer error (retriable ones are retried).
    pub async fn run<F, Fut, E>(&self, callback: F) -> Result<(), Error>
    where
        F: Fn(Message) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        let _running = self.shared.run_lock.lock().await;
        let callback = Arc::new(callback);
        let permits = Arc::new(Semaphore::new(self.shared.concurrency));
        let mut stop = self.shared.stop.subscribe();
        let result = loop {
            // A free callback slot first, unless close() comes first: every message
            // taken starts at once, so a revocation only waits for callbacks that
            // run (messages not taken are withdrawn from a revoked partition).
            let permit = tokio::select! {
                biased;
                _ = stop.wait_for(|stopped| *stopped) => break Ok(()),
                permit = permits.clone().acquire_owned() => permit,
            };
            let Ok(permit) = permit else { break Ok(()) };
            // Callbacks only give slots back, so this many are free until we
            // take them.
            let free = 1 + permits.available_permits();
            let batch = tokio::select! {
                biased;
                _ = stop.wait_for(|stopped| *stopped) => break Ok(()),
                batch = self.shared.inner.poll_batch(free) => batch,
            };
            match batch {
                Ok(records) => {
                    let mut first = Some(permit);
                    for record in records {
                        let permit = match first.take() {
                            Some(permit) => permit,
                            None => match permits.clone().try_acquire_owned() {
                                Ok(permit) => permit,
                                Err(_) => match permits.clone().acquire_owned().await {
                                    Ok(permit) => permit,
                                    Err(_) => break,
                                },
                            },
                        };
                        if *stop.borrow() {
                            // close() came: start nothing more (what is not
                            // finished is not committed).
                            break;
                        }
                        let shared = self.shared.clone();
                        let callback = callback.clone();
                        tokio::spawn(async move {
                            shared.process(record, &*callback).await;
                            drop(permit);
                        });
                    }
                }
                Err(e) if e.is_retriable() => {
                    tracing::warn!(error = %e, "consumer error, retrying");
                    tokio::time::sleep(ERROR_BACKOFF).await;
                }
                Err(e) => break Err(Error::from(e)),
            }
        };
        // Let running callbacks finish, then commit what they finished and leave.
        let all = u32::try_from(self.shared.concurrency).unwrap_or(u32::MAX);
        let _ = permits.acquire_many(all).await;
        let closed = self.shared.inner.close().await;
        self.shared.finished.send_replace(true);
        result?;
        closed.map_err(Error::from)
    }

    /// Commits `message`'s offset (the position after it) and waits for the group
    /// coordinator to accept it. Automatic commits already do this periodically;
    /// a manual commit per message costs throughput.
    ///
    /// # Errors
    /// [`Error::Consume`] if the commit was refused (e.g. the partition moved to
    /// another member in a rebalance).
    pub async fn commit(&self, message: &Message) -> Result<(), Error> {
        self.shared
            .inner
            .commit(
                &message.topic,
                message.partition,
                message.offset.saturating_add(1),
                message.leader_epoch,
            )
            .await
            .map_err(Error::from)
    }

    /// Stops the consumer: `run` calls no more callbacks, waits for the running
    /// ones, commits what was processed, leaves the group and returns. Resolves once
    /// that is done. Safe to call more than once and from any task.
    pub async fn close(&self) {
        self.shared.stop.send_replace(true);
        if self.shared.run_lock.try_lock().is_ok() && !*self.shared.finished.borrow() {
            // No `run` in progress: close the group consumer here.
            if let Err(e) = self.shared.inner.close().await {
                tracing::warn!(error = %e, "closing the consumer");
            }
            self.shared.finished.send_replace(true);
        }
        let mut finished = self.shared.finished.subscribe();
        let _ = finished.wait_for(|done| *done).await;
    }
}

impl Shared {
    /// Runs the callback for one record (in its own task, so a panic is caught)
    /// and marks the record processed either way.
    async fn process<F, Fut, E>(&self, record: ConsumedRecord, callback: &F)
    where
        F: Fn(Message) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        let (topic, partition, offset) = (record.topic.clone(), record.partition, record.offset);
        let outcome = tokio::spawn(callback(to_message(&record))).await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(%topic, partition, offset, error = %e, "message callback failed")
            }
            Err(e) => {
                tracing::error!(%topic, partition, offset, error = %e, "message callback panicked")
            }
        }
        self.inner.mark_record_done(&record);
    }
}

fn to_message(record: &ConsumedRecord) -> Message {
    let headers: Vec<(String, Option<bytes::Bytes>)> = record
        .headers
        .iter()
        .map(|h| {
            (
                String::from_utf8_lossy(&h.key).into_owned(),
                h.value.clone(),
            )
        })
        .collect();
    Message {
        topic: record.topic.to_string(),
        partition: record.partition,
        offset: record.offset,
        key: record.key.clone(),
        payload: record.value.clone(),
        headers: Headers::from(headers),
        timestamp: record.timestamp,
        leader_epoch: record.leader_epoch,
    }
}
