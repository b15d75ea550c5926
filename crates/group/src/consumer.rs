//! The public consumer handle. All state lives in a driver task; the handle sends
//! it commands.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flame_kafka_cluster::Cluster;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::config::{ConsumerConfig, GroupProtocol};
use crate::driver::Driver;
use crate::handover::Ready;
use crate::machine::GroupMachine;
use crate::membership::Membership;
use crate::next_gen::ConsumerGroupMachine;
use crate::{CommitOffset, ConsumeError, ConsumedRecord, TopicPartition};

/// How often a poll call served from the ready queue tells the driver that the
/// application polls (for `max.poll.interval.ms`), at most.
const POLL_NOTICE_INTERVAL: Duration = Duration::from_secs(1);

/// A reply channel to the handle.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, ConsumeError>>;

/// What the handle asks of the driver.
pub(crate) enum Command {
    /// Put up to `max` records in the [`Ready`] queue (answers once there are
    /// some, or with an error).
    Poll {
        max: usize,
        reply: Reply<()>,
    },
    MarkDone {
        tp: TopicPartition,
        offset: i64,
    },
    /// The application polled again: the records the previous poll call handed
    /// out are finished (`done_on_next_poll`, `enable_auto_offset_store`).
    Release(Vec<(TopicPartition, i64)>),
    /// A poll call handed these out (`enable_auto_offset_store`: finished for
    /// commits from now on).
    Stored(Vec<(TopicPartition, i64)>),
    /// The application polls (served from the ready queue, without `Poll`).
    Polled,
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
/// [`mark_done`](Consumer::mark_done) (or at once with `enable.auto.offset.store`;
/// or at the next poll call with `done_on_next_poll`), and auto-commit (and the
/// commit made when partitions are revoked or the consumer closes) never passes a
/// record that is not finished.
///
/// When a rebalance revokes partitions, records of theirs not handed out yet are
/// dropped (their next owner consumes them), and the partitions are handed over
/// (commit, then the group may give them to another member) only once every
/// record handed out from them is marked done — or, with `done_on_next_poll` or
/// `enable.auto.offset.store`, once the application polls again, as the Java
/// client and librdkafka do. Meanwhile the member keeps heartbeating and the other
/// partitions keep being consumed. The wait is bounded by `max.poll.interval.ms`
/// (less two heartbeat intervals): an application that takes longer is warned
/// about in the log, and the partitions are handed over anyway. A lost
/// assignment, and [`close`](Consumer::close), do not wait.
///
/// Dropping the consumer without [`close`](Consumer::close) closes it in the
/// background (commit, then leave the group) if the runtime keeps running.
#[derive(Debug)]
pub struct Consumer {
    commands: mpsc::UnboundedSender<Command>,
    /// Records the driver took from the fetcher for us (shared with it, so that a
    /// revocation withdraws those of its partitions).
    ready: Ready,
    /// With `done_on_next_poll` (or `enable_auto_offset_store`): what the last
    /// poll call handed out, finished by the next one.
    handed: Option<Mutex<Vec<(TopicPartition, i64)>>>,
    /// `enable_auto_offset_store`.
    store_on_poll: bool,
    /// When the driver was last told that the application polls: milliseconds
    /// since `started` (an atomic: no lock on each poll call).
    poll_noticed: AtomicU64,
    /// When the consumer was created.
    started: tokio::time::Instant,
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
        let handed = config.release_on_poll().then(|| Mutex::new(Vec::new()));
        let store_on_poll = config.enable_auto_offset_store;
        let ready = Ready::default();
        let driver = Driver::new(config, cluster, group, topics, ready.clone(), rx);
        runtime.spawn(driver.run());
        Ok(Consumer {
            commands: tx,
            ready,
            handed,
            store_on_poll,
            poll_noticed: AtomicU64::new(0),
            started: tokio::time::Instant::now(),
            max_poll_records,
        })
    }

    /// The next record. Fetches up to `max.poll.records` at once and hands them out
    /// one by one (those still waiting here when their partition is revoked are
    /// dropped: the partition's next owner consumes them).
    ///
    /// Cancel-safe: records fetched for a cancelled call are handed out later.
    ///
    /// # Errors
    /// A partition error ([`ConsumeError::Fetch`]), [`ConsumeError::PollIntervalExceeded`]
    /// (retriable: the consumer is rejoining), or a fatal error after which every
    /// call fails ([`ConsumeError::is_fatal`]).
    pub async fn poll(&self) -> Result<ConsumedRecord, ConsumeError> {
        if self.handed.is_some() || self.store_on_poll {
            let mut records = self.next(1, self.max_poll_records).await?;
            return records.pop().ok_or(ConsumeError::Closed);
        }
        // Nothing to note per record: take it alone (no Vec per call).
        self.notice_poll();
        loop {
            if let Some(record) = self.ready.take_one() {
                return Ok(record);
            }
            self.fill(self.max_poll_records).await?;
        }
    }

    /// Up to `max` records (at least one), waiting until some are available.
    /// Fetches up to `max.poll.records` (or `max`, if more) at once: what this call
    /// does not return waits for the next ones (and is dropped if its partition is
    /// revoked meanwhile).
    ///
    /// Cancel-safe: records fetched for a cancelled call are handed out later.
    ///
    /// # Errors
    /// As [`poll`](Consumer::poll).
    pub async fn poll_batch(&self, max: usize) -> Result<Vec<ConsumedRecord>, ConsumeError> {
        let max = max.max(1);
        self.next(max, max.max(self.max_poll_records)).await
    }

    /// Up to `max` records from the ready queue, asking the driver to fill it with
    /// up to `fetch` records whenever it is empty.
    async fn next(&self, max: usize, fetch: usize) -> Result<Vec<ConsumedRecord>, ConsumeError> {
        if let Some(handed) = &self.handed {
            // A poll call: what the previous one handed out is finished.
            let previous = std::mem::take(&mut *lock(handed));
            if !previous.is_empty() {
                self.send(Command::Release(previous))?;
            }
        }
        self.notice_poll();
        loop {
            let records = self.ready.take(max);
            if !records.is_empty() {
                if self.handed.is_some() || self.store_on_poll {
                    let ids: Vec<(TopicPartition, i64)> = records
                        .iter()
                        .map(|r| (TopicPartition::new(r.topic.clone(), r.partition), r.offset))
                        .collect();
                    if self.store_on_poll {
                        let _ = self.commands.send(Command::Stored(ids.clone()));
                    }
                    if let Some(handed) = &self.handed {
                        lock(handed).extend(ids);
                    }
                }
                return Ok(records);
            }
            self.fill(fetch).await?;
        }
    }

    /// Asks the driver to put up to `fetch` records in the (empty) ready queue, and
    /// waits until there are some. Records the driver puts in the queue stay there
    /// if this call is cancelled, or are withdrawn by a revocation before a poll
    /// call takes them.
    async fn fill(&self, fetch: usize) -> Result<(), ConsumeError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Poll { max: fetch, reply })?;
        rx.await.map_err(|_| ConsumeError::Closed)?
    }

    /// The application finished processing the record at `offset`: it may be
    /// committed (by auto-commit, or [`commit_finished`](Consumer::commit_finished)),
    /// and its partition may be handed over to another member in a rebalance.
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

    /// Marks several records done at once (`(partition, offset)` pairs, in any
    /// order); see [`mark_done`](Consumer::mark_done). One message to the driver
    /// instead of one per record.
    pub fn mark_all_done(&self, done: Vec<(TopicPartition, i64)>) {
        if !done.is_empty() {
            let _ = self.commands.send(Command::Release(done));
        }
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

    /// Tells the driver the application polls, now and then: calls served from the
    /// ready queue do not reach it otherwise.
    fn notice_poll(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let noticed = self.poll_noticed.load(Ordering::Relaxed);
        let interval = POLL_NOTICE_INTERVAL.as_millis() as u64;
        if now.saturating_sub(noticed) >= interval
            && self
                .poll_noticed
                .compare_exchange(noticed, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let _ = self.commands.send(Command::Polled);
        }
    }

    fn send(&self, command: Command) -> Result<(), ConsumeError> {
        self.commands
            .send(command)
            .map_err(|_| ConsumeError::Closed)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Never held across an await or a panic point: a poisoned mutex still holds
    // consistent data.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
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
