//! The public consumer handle. All state lives in a driver task; the handle sends
//! it commands.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use flame_kafka_cluster::Cluster;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::config::{ConsumerConfig, GroupProtocol};
use crate::driver::Driver;
use crate::machine::GroupMachine;
use crate::membership::Membership;
use crate::next_gen::ConsumerGroupMachine;
use crate::{CommitOffset, ConsumeError, ConsumedRecord, TopicPartition};

/// A reply channel to the handle.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, ConsumeError>>;

/// What the handle asks of the driver.
pub(crate) enum Command {
    Poll {
        max: usize,
        reply: Reply<Vec<ConsumedRecord>>,
    },
    /// Records a cancelled poll never handed to the application.
    Unpoll(Vec<ConsumedRecord>),
    MarkDone {
        tp: TopicPartition,
        offset: i64,
    },
    Commit {
        offsets: Vec<(TopicPartition, CommitOffset)>,
        reply: Reply<()>,
    },
    CommitFinished {
        reply: Reply<()>,
    },
    Assignment {
        reply: Reply<Vec<TopicPartition>>,
    },
    Close {
        reply: Reply<()>,
    },
}

/// A group consumer: joins `group.id`, consumes the partitions assigned to it, and
/// commits the offsets the application has finished.
///
/// Records are at-least-once: a record counts as finished once passed to
/// [`mark_done`](Consumer::mark_done) (or at once with `enable.auto.offset.store`),
/// and auto-commit (and the commit made when partitions are revoked or the
/// consumer closes) never passes a record that is not finished.
///
/// Dropping the consumer without [`close`](Consumer::close) closes it in the
/// background (commit, then leave the group) if the runtime keeps running.
#[derive(Debug)]
pub struct Consumer {
    commands: mpsc::UnboundedSender<Command>,
    /// Records fetched by `poll` beyond the one it returned.
    local: Mutex<VecDeque<ConsumedRecord>>,
    max_poll_records: usize,
}

impl Consumer {
    /// Starts a consumer of `topics` on `cluster` (the driver task starts joining
    /// at once).
    ///
    /// Several consumers, of the same group or of different ones, may share one
    /// [`Cluster`] (clones of it): they share its metadata, but each sends its
    /// group and fetch requests on connections of its own
    /// ([`Lane`](flame_kafka_cluster::Lane)s, closed when the consumer stops), so
    /// a JoinGroup the coordinator holds for a whole rebalance, or a long-polling
    /// fetch, never holds up another consumer's heartbeats or fetches.
    ///
    /// # Errors
    /// [`ConsumeError::Config`] for settings that cannot work (an empty `group.id`,
    /// no topics), [`ConsumeError::NoRuntime`] outside a tokio runtime.
    pub fn new(
        config: ConsumerConfig,
        cluster: Cluster,
        topics: Vec<String>,
    ) -> Result<Consumer, ConsumeError> {
        config
            .validate()
            .map_err(|(key, reason)| ConsumeError::Config { key, reason })?;
        if topics.is_empty() || topics.iter().any(String::is_empty) {
            return Err(ConsumeError::Config {
                key: "topics",
                reason: "subscribe to at least one named topic",
            });
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConsumeError::NoRuntime)?;
        let now = Instant::now();
        let settings = config.group_settings(&topics);
        let group = match config.group_protocol {
            GroupProtocol::Classic => Membership::Classic(GroupMachine::new(settings, now)),
            GroupProtocol::Consumer => {
                Membership::Consumer(ConsumerGroupMachine::new(settings, random_uuid(), now))
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let max_poll_records = config.max_poll_records;
        let driver = Driver::new(config, cluster, group, topics, rx);
        runtime.spawn(driver.run());
        Ok(Consumer {
            commands: tx,
            local: Mutex::new(VecDeque::new()),
            max_poll_records,
        })
    }

    /// The next record. Fetches up to `max.poll.records` at once and hands them out
    /// one by one (those still held here when their partition is revoked are handed
    /// out anyway; at-least-once allows the duplicate).
    ///
    /// # Errors
    /// A partition error ([`ConsumeError::Fetch`]), [`ConsumeError::PollIntervalExceeded`]
    /// (retriable: the consumer is rejoining), or a fatal error after which every
    /// call fails ([`ConsumeError::is_fatal`]).
    pub async fn poll(&self) -> Result<ConsumedRecord, ConsumeError> {
        if let Some(record) = self.lock_local().pop_front() {
            return Ok(record);
        }
        let mut batch: VecDeque<ConsumedRecord> =
            self.poll_batch(self.max_poll_records).await?.into();
        let first = batch.pop_front().ok_or(ConsumeError::Closed)?;
        self.lock_local().extend(batch);
        Ok(first)
    }

    /// Up to `max` records (at least one), waiting until some are available.
    ///
    /// Cancel-safe: records fetched for a cancelled call are handed out again.
    ///
    /// # Errors
    /// As [`poll`](Consumer::poll).
    pub async fn poll_batch(&self, max: usize) -> Result<Vec<ConsumedRecord>, ConsumeError> {
        let local: Vec<ConsumedRecord> = {
            let mut local = self.lock_local();
            let n = local.len().min(max);
            local.drain(..n).collect()
        };
        if !local.is_empty() {
            return Ok(local);
        }
        let (reply, rx) = oneshot::channel();
        self.send(Command::Poll { max, reply })?;
        let mut guard = PollGuard {
            rx: Some(rx),
            commands: &self.commands,
        };
        let rx = guard.rx.as_mut().ok_or(ConsumeError::Closed)?;
        let result = rx.await.map_err(|_| ConsumeError::Closed)?;
        guard.rx = None;
        result
    }

    /// The application finished processing the record at `offset`: it may be
    /// committed (by auto-commit, or [`commit_finished`](Consumer::commit_finished)).
    pub fn mark_done(&self, topic: &str, partition: i32, offset: i64) {
        let tp = TopicPartition::new(topic, partition);
        let _ = self.commands.send(Command::MarkDone { tp, offset });
    }

    /// Marks `record` done; see [`mark_done`](Consumer::mark_done).
    pub fn mark_record_done(&self, record: &ConsumedRecord) {
        let tp = TopicPartition::new(record.topic.clone(), record.partition);
        let _ = self.commands.send(Command::MarkDone {
            tp,
            offset: record.offset,
        });
    }

    /// Commits `offset` (the next offset to consume: the last processed offset + 1)
    /// with `leader_epoch` (that of the last processed record, or -1) for one
    /// partition, and waits for the coordinator's answer.
    ///
    /// # Errors
    /// [`ConsumeError::Commit`] if the coordinator refused the partition,
    /// [`ConsumeError::Group`] if the commit could not be made (e.g. a rebalance
    /// moved the generation on: retriable).
    pub async fn commit(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        leader_epoch: i32,
    ) -> Result<(), ConsumeError> {
        let offsets = vec![(
            TopicPartition::new(topic, partition),
            CommitOffset {
                offset,
                leader_epoch,
            },
        )];
        let (reply, rx) = oneshot::channel();
        self.send(Command::Commit { offsets, reply })?;
        rx.await.map_err(|_| ConsumeError::Closed)?
    }

    /// Commits the position after `record`; see [`commit`](Consumer::commit).
    ///
    /// # Errors
    /// As [`commit`](Consumer::commit).
    pub async fn commit_record(&self, record: &ConsumedRecord) -> Result<(), ConsumeError> {
        self.commit(
            &record.topic,
            record.partition,
            record.offset.saturating_add(1),
            record.leader_epoch,
        )
        .await
    }

    /// Commits every partition's finished offset now (what auto-commit would).
    ///
    /// # Errors
    /// As [`commit`](Consumer::commit).
    pub async fn commit_finished(&self) -> Result<(), ConsumeError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::CommitFinished { reply })?;
        rx.await.map_err(|_| ConsumeError::Closed)?
    }

    /// The partitions currently assigned to this consumer.
    ///
    /// # Errors
    /// The fatal error, if the consumer failed; [`ConsumeError::Closed`].
    pub async fn assignment(&self) -> Result<Vec<TopicPartition>, ConsumeError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Assignment { reply })?;
        rx.await.map_err(|_| ConsumeError::Closed)?
    }

    /// Commits the finished offsets (with `enable.auto.commit`), leaves the group
    /// (a static member just stops) and stops the driver.
    ///
    /// # Errors
    /// The fatal error that had stopped the consumer, if any.
    pub async fn close(&self) -> Result<(), ConsumeError> {
        let (reply, rx) = oneshot::channel();
        if self.commands.send(Command::Close { reply }).is_err() {
            return Ok(());
        }
        rx.await.unwrap_or(Ok(()))
    }

    fn send(&self, command: Command) -> Result<(), ConsumeError> {
        self.commands
            .send(command)
            .map_err(|_| ConsumeError::Closed)
    }

    fn lock_local(&self) -> std::sync::MutexGuard<'_, VecDeque<ConsumedRecord>> {
        // The lock is never held across an await or a panic point, so a poisoned
        // mutex still holds a consistent queue.
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Returns a cancelled poll's records to the driver.
struct PollGuard<'a> {
    rx: Option<oneshot::Receiver<Result<Vec<ConsumedRecord>, ConsumeError>>>,
    commands: &'a mpsc::UnboundedSender<Command>,
}

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if let Ok(Ok(records)) = rx.try_recv() {
                let _ = self.commands.send(Command::Unpoll(records));
            }
        }
    }
}

/// A random (v4) UUID for a KIP-848 member id, from the standard library's
/// randomly seeded hasher (no extra dependency).
fn random_uuid() -> Uuid {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let mut h = state.build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        chunk.copy_from_slice(&h.finish().to_be_bytes());
    }
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The handle can be shared between tasks.
const _: fn() = || {
    fn is<T: Send + Sync>() {}
    is::<Arc<Consumer>>();
};
