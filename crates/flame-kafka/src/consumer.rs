//! The flame consumer: `consume(config, topics)`, then `run(callback)` until
//! `close()`.

use std::any::Any;
use std::fmt::Display;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use flame_kafka_cluster::Cluster;
use flame_kafka_group::{ConsumedRecord, TopicPartition};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinSet;

use crate::config::{Config, Role};
use crate::{settings, Error, Headers, Message};

/// Wait after a retriable consumer error before polling again.
const ERROR_BACKOFF: Duration = Duration::from_millis(200);

/// Finished messages a `run` worker marks done at once, at most (it marks them
/// sooner whenever it would wait).
const DONE_BATCH: usize = 64;

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
            stopping: AtomicBool::new(false),
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
    /// Set by `close` before `stop`: checked before each message (a plain load,
    /// where reading the watch takes its lock); `stop` wakes a waiting poll.
    stopping: AtomicBool,
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
    /// `run` takes a message from the consumer only when a callback is ready to
    /// start on it, and starts it at once. When a rebalance moves partitions to
    /// another member, messages of theirs not taken yet are dropped (the new owner
    /// consumes them), and the partitions are handed over only once the callbacks
    /// running on their messages have returned (and their offsets are committed),
    /// so two members never process the same message at the same time — unless a
    /// callback runs longer than `max.poll.interval.ms` (less two heartbeat
    /// intervals): then the hand-over goes ahead with a warning, and the late
    /// callback's completion is not committed for the partition it lost.
    ///
    /// With `flame.concurrency=1` the callbacks run one after the other in the
    /// task that calls `run`; with more, that many worker tasks each take a message
    /// and run its callback, then take the next.
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
        let result = if self.shared.concurrency <= 1 {
            self.shared.work(&callback).await
        } else {
            let callback = Arc::new(callback);
            let mut workers = JoinSet::new();
            for _ in 0..self.shared.concurrency {
                let shared = self.shared.clone();
                let callback = callback.clone();
                workers.spawn(async move { shared.work(&*callback).await });
            }
            // A fatal error reaches every worker (each poll fails with it): keep
            // the first. Each returns once its running callback has.
            let mut result = Ok(());
            while let Some(worker) = workers.join_next().await {
                let outcome = worker.unwrap_or_else(|e| {
                    tracing::error!(error = %e, "consumer worker failed");
                    Ok(())
                });
                if result.is_ok() {
                    result = outcome;
                }
            }
            result
        };
        // The running callbacks have finished: commit what they finished and leave.
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
        self.shared.stopping.store(true, Ordering::Release);
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
    /// Takes messages one at a time and runs the callback on each, until `close()`
    /// (no callback starts after it; a running one is waited for) or a fatal error.
    ///
    /// A callback's error or panic is logged and its message counts as processed.
    /// Finished messages are marked done in batches: whenever this worker would
    /// wait (for a message, or on a callback that is not done at its first poll),
    /// and every [`DONE_BATCH`] messages, so a hand-over never waits long for a
    /// callback that has returned.
    async fn work<F, Fut, E>(&self, callback: &F) -> Result<(), Error>
    where
        F: Fn(Message) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        let mut stop = self.stop.subscribe();
        let mut done: Vec<(TopicPartition, i64)> = Vec::with_capacity(DONE_BATCH);
        let result = loop {
            if self.stopping.load(Ordering::Acquire) {
                break Ok(());
            }
            // Most polls are served at once from the consumer's ready queue: only
            // one that has to wait also watches for `close()` (registering that
            // watch costs more than the poll itself).
            let mut poll = pin!(self.inner.poll());
            let polled = match poll_now(poll.as_mut()).await {
                Some(polled) => polled,
                None => {
                    self.mark_done(&mut done);
                    tokio::select! {
                        biased;
                        _ = stop.wait_for(|stopped| *stopped) => break Ok(()),
                        polled = on_pending(poll, || self.mark_done(&mut done)) => polled,
                    }
                }
            };
            let record = match polled {
                Ok(record) => record,
                Err(e) if e.is_retriable() => {
                    self.mark_done(&mut done);
                    tracing::warn!(error = %e, "consumer error, retrying");
                    tokio::time::sleep(ERROR_BACKOFF).await;
                    continue;
                }
                Err(e) => break Err(Error::from(e)),
            };
            if self.stopping.load(Ordering::Acquire) {
                // close() came: start nothing more (what is not finished is not
                // committed).
                break Ok(());
            }
            let (tp, offset) = (
                TopicPartition::new(record.topic.clone(), record.partition),
                record.offset,
            );
            let message = into_message(record);
            let outcome = match catch_unwind(AssertUnwindSafe(|| callback(message))) {
                Ok(future) => on_pending(catch_panic(future), || self.mark_done(&mut done)).await,
                Err(panic) => Err(panic),
            };
            let (topic, partition) = (&tp.topic, tp.partition);
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(%topic, partition, offset, error = %e, "message callback failed")
                }
                Err(panic) => {
                    let panic = panic_message(&*panic);
                    tracing::error!(%topic, partition, offset, %panic, "message callback panicked")
                }
            }
            done.push((tp, offset));
            if done.len() >= DONE_BATCH {
                self.mark_done(&mut done);
            }
        };
        self.mark_done(&mut done);
        result
    }

    /// Tells the consumer these messages are finished.
    fn mark_done(&self, done: &mut Vec<(TopicPartition, i64)>) {
        if !done.is_empty() {
            let batch = std::mem::replace(done, Vec::with_capacity(DONE_BATCH));
            self.inner.mark_all_done(batch);
        }
    }
}

/// Runs `hook` whenever `future` is polled and not ready (it is about to wait).
async fn on_pending<T>(future: impl Future<Output = T>, mut hook: impl FnMut()) -> T {
    let mut future = pin!(future);
    poll_fn(|cx| {
        let poll = future.as_mut().poll(cx);
        if poll.is_pending() {
            hook();
        }
        poll
    })
    .await
}

/// A panic's payload.
type Panic = Box<dyn Any + Send>;

/// `future`'s output, or the panic of one of its polls (or of its drop). Once it
/// panicked it is dropped and not polled again.
async fn catch_panic<T>(future: impl Future<Output = T>) -> Result<T, Panic> {
    let mut slot = pin!(Some(future));
    poll_fn(|cx| {
        let Some(future) = slot.as_mut().as_pin_mut() else {
            // Not polled again once finished (poll_fn is awaited to completion).
            return Poll::Pending;
        };
        let outcome = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => Ok(output),
            Err(panic) => Err(panic),
        };
        // Drop it now, catching a panic of its drop too.
        let dropped = catch_unwind(AssertUnwindSafe(|| slot.as_mut().set(None)));
        Poll::Ready(match (outcome, dropped) {
            (Ok(output), Ok(())) => Ok(output),
            (Err(panic), _) | (Ok(_), Err(panic)) => Err(panic),
        })
    })
    .await
}

/// The message of a panic payload (`panic!` with a literal or a format string).
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// `future`'s output if it is ready at its first poll (which is then its only
/// one); `None` if it would wait (it stays pinned, to be polled on).
async fn poll_now<F: Future>(future: std::pin::Pin<&mut F>) -> Option<F::Output> {
    let mut future = Some(future);
    poll_fn(|cx| {
        let Some(f) = future.take() else {
            return Poll::Ready(None);
        };
        Poll::Ready(match f.poll(cx) {
            Poll::Ready(output) => Some(output),
            Poll::Pending => None,
        })
    })
    .await
}

/// The callback's view of `record` (its key, value and headers are moved, not
/// copied).
fn into_message(record: ConsumedRecord) -> Message {
    let headers: Vec<(String, Option<bytes::Bytes>)> = record
        .headers
        .into_iter()
        .map(|h| (String::from_utf8_lossy(&h.key).into_owned(), h.value))
        .collect();
    Message {
        topic: String::from(&*record.topic),
        partition: record.partition,
        offset: record.offset,
        key: record.key,
        payload: record.value,
        headers: Headers::from(headers),
        timestamp: record.timestamp,
        leader_epoch: record.leader_epoch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn catch_panic_passes_outputs_and_catches_panics_after_a_wait() {
        assert_eq!(catch_panic(async { 7 }).await.ok(), Some(7));
        let caught = catch_panic(async {
            tokio::task::yield_now().await;
            if true {
                panic!("boom {}", 1);
            }
        })
        .await;
        assert_eq!(
            caught.as_ref().map_err(|p| panic_message(&**p)),
            Err("boom 1")
        );
    }

    #[tokio::test]
    async fn on_pending_runs_the_hook_only_when_the_future_waits() {
        let mut waits = 0;
        assert_eq!(on_pending(async { 1 }, || waits += 1).await, 1);
        assert_eq!(waits, 0);
        on_pending(tokio::task::yield_now(), || waits += 1).await;
        assert_eq!(waits, 1);
    }
}
