//! The driver: one tokio task per producer that owns the [`Accumulator`], feeds it
//! commands from the [`Producer`](crate::Producer) handles and the outcomes of the
//! requests it sends through the [`Cluster`], and carries out what it asks for
//! (Produce, Metadata via `ensure_topics`, InitProducerId). Requests run in their own
//! tasks and report back over a channel, so the loop never waits on the network.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use flame_kafka_cluster::{Cluster, ClusterError, Metadata, Purpose};
use flame_kafka_codec::messages::{InitProducerIdRequest, ProduceResponse};
use flame_kafka_codec::record_batch::Record;
use flame_kafka_codec::KafkaCode;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;

use crate::accumulator::{
    Accumulator, AppendError, InitProducerIdOut, MessageId, ProduceRequestOut, RequestId,
    TopicUpdate,
};
use crate::config::Acks;
use crate::inbox::{self, Chunk, Inbox};
use crate::{FlushError, ProduceError};

/// Where a record's outcome goes.
pub(crate) type DeliverySender = crate::delivery::Reply;

/// What the handles ask of the driver.
pub(crate) enum Command {
    /// Queue a record. The permits hold its room in the queue until its outcome.
    Send {
        /// The topic's number, from [`Inbox::push_send`]; its name comes from
        /// [`Inbox::topic_names`]. A number, not a name per record: no
        /// allocation, and no reference count shared by two threads.
        topic: u32,
        partition: Option<i32>,
        record: Record,
        /// When `send` was called: nanoseconds since [`Room::base`] (half the
        /// size of an `Instant`; every queued command carries one).
        sent: u64,
        reply: DeliverySender,
        /// The byte permits taken for it (with one message permit); the driver
        /// gives them back once the record has an outcome.
        bytes: u32,
    },
    /// Send everything queued now, and answer once each of those records has an
    /// outcome.
    Flush {
        reply: oneshot::Sender<Result<(), FlushError>>,
    },
    /// Flush for at most `timeout`, fail what is left, and stop.
    Close {
        timeout: Duration,
        reply: oneshot::Sender<Result<(), FlushError>>,
    },
}

/// What the request tasks report.
enum Event {
    Produced {
        id: RequestId,
        outcome: ProduceOutcome,
    },
    Metadata {
        topics: Vec<String>,
        result: Result<Option<ClusterError>, ClusterError>,
        snapshot: std::sync::Arc<Metadata>,
    },
    ProducerId(Result<(i64, i16), ProduceError>),
}

enum ProduceOutcome {
    Response(Box<ProduceResponse>),
    /// `acks=0`: written.
    Sent,
    Failed(ClusterError),
}

/// A record waiting for its outcome.
struct Pending {
    reply: DeliverySender,
    /// Its byte permits (see [`Room`]).
    bytes: u32,
}

/// The handles' queue limits: one message permit and `size_hint` byte permits per
/// record, taken (and forgotten) by `send`, given back here in bulk once records
/// have outcomes; and one inbox permit per record, given back once the driver has
/// taken the record out of the inbox. Closed when the driver stops, so that
/// senders waiting for room fail with [`ProduceError::Closed`].
pub(crate) struct Room {
    pub(crate) messages: Arc<Semaphore>,
    pub(crate) bytes: Arc<Semaphore>,
    /// [`inbox::MAX_RECORDS`] permits: records waiting in the inbox. When the
    /// handles send faster than the driver appends, they wait here, so that the
    /// backlog sits in the accumulator only, not in the inbox as well (whose
    /// memory, allocated on the senders' threads, would stay with them).
    pub(crate) inbox: Arc<Semaphore>,
    /// The instant [`Command::Send`]'s `sent` counts from.
    pub(crate) base: Instant,
}

impl Room {
    fn release(&self, messages: usize, bytes: usize) {
        if messages > 0 {
            self.messages.add_permits(messages);
        }
        if bytes > 0 {
            self.bytes.add_permits(bytes);
        }
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        self.messages.close();
        self.bytes.close();
        self.inbox.close();
    }
}

/// Records waiting for their outcomes, by id. Ids come from the accumulator in
/// increasing order, so this is a window `[base, base + slots.len())` of slots.
#[derive(Default)]
struct PendingSet {
    base: u64,
    slots: VecDeque<Option<Pending>>,
    len: usize,
}

impl PendingSet {
    fn insert(&mut self, id: MessageId, pending: Pending) {
        if self.slots.is_empty() {
            self.base = id.0;
        }
        let Some(index) =
            id.0.checked_sub(self.base)
                .and_then(|i| usize::try_from(i).ok())
        else {
            // Never happens (ids increase); kept total rather than panicking.
            debug_assert!(false, "message ids out of order");
            return;
        };
        if index >= self.slots.len() {
            self.slots.resize_with(index, || None);
            self.slots.push_back(Some(pending));
        } else if let Some(slot) = self.slots.get_mut(index) {
            if slot.replace(pending).is_some() {
                return;
            }
        }
        self.len += 1;
    }

    fn remove(&mut self, id: MessageId) -> Option<Pending> {
        let index = usize::try_from(id.0.checked_sub(self.base)?).ok()?;
        let pending = self.slots.get_mut(index)?.take()?;
        self.len -= 1;
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.base += 1;
        }
        Some(pending)
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn len(&self) -> usize {
        self.len
    }

    /// The oldest id waiting.
    fn first(&self) -> Option<u64> {
        // The front slot is always occupied (empty slots are popped there).
        (!self.slots.is_empty()).then_some(self.base)
    }

    /// One past the newest id inserted and still in the window (0 when empty):
    /// every waiting id is below it.
    fn end(&self) -> u64 {
        if self.slots.is_empty() {
            0
        } else {
            self.base + self.slots.len() as u64
        }
    }
}

/// A `flush` or `close` waiting for the records sent before it.
struct Waiter {
    /// Records with ids below this were sent before the flush.
    mark: u64,
    failures: Vec<ProduceError>,
    reply: Option<oneshot::Sender<Result<(), FlushError>>>,
}

/// A close in progress.
struct Closing {
    deadline: Instant,
    waiter: Waiter,
}

pub(crate) struct Driver {
    acc: Accumulator,
    cluster: Cluster,
    inbox: Arc<Inbox>,
    commands_open: bool,
    events_tx: mpsc::UnboundedSender<Event>,
    events: mpsc::UnboundedReceiver<Event>,
    pending: PendingSet,
    /// Topic names by number (see [`Command::Send`]).
    topics: Vec<Arc<str>>,
    room: Room,
    /// Permits of records with outcomes, given back at the end of a turn.
    released: (usize, usize),
    flushes: Vec<Waiter>,
    closing: Option<Closing>,
    drop_flush_timeout: Duration,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Whether it stopped or its task was dropped: refuse commands from now on.
        self.inbox.driver_stopped();
    }
}

/// How many commands are taken in one turn of the loop before the accumulator is
/// pumped.
const COMMAND_BURST: usize = 1024;

impl Driver {
    pub(crate) fn new(acc: Accumulator, cluster: Cluster, inbox: Arc<Inbox>, room: Room) -> Self {
        let (events_tx, events) = mpsc::unbounded_channel();
        let drop_flush_timeout = acc.config().drop_flush_timeout;
        Driver {
            acc,
            cluster,
            inbox,
            commands_open: true,
            events_tx,
            events,
            pending: PendingSet::default(),
            topics: Vec::new(),
            room,
            released: (0, 0),
            flushes: Vec::new(),
            closing: None,
            drop_flush_timeout,
        }
    }

    /// Runs until closed (by `close`, or by the last handle going away).
    pub(crate) async fn run(mut self) {
        // Commands taken from the inbox, not yet carried out, and the chunks they
        // came in once emptied.
        let mut commands: VecDeque<Chunk> = VecDeque::new();
        let mut spent: Vec<Chunk> = Vec::new();
        loop {
            let now = Instant::now();
            self.pump(now);
            self.give_back();
            if self.finish_close(now) {
                break;
            }
            // Request outcomes first (they make room), then a burst of commands.
            let mut busy = false;
            while let Ok(event) = self.events.try_recv() {
                self.event(event);
                busy = true;
            }
            if self.commands_open && commands.is_empty() {
                let handles_gone = self.inbox.take(&mut commands, &mut spent);
                if commands.is_empty() && handles_gone {
                    self.commands_open = false;
                    let timeout = self.drop_flush_timeout;
                    self.start_close(timeout, None);
                    continue;
                }
            }
            if !commands.is_empty() {
                // One clock read for the whole burst.
                let now = Instant::now();
                let mut taken = 0;
                for _ in 0..COMMAND_BURST / inbox::CHUNK {
                    let Some(mut chunk) = commands.pop_front() else {
                        break;
                    };
                    for command in chunk.drain(..) {
                        taken += usize::from(matches!(command, Command::Send { .. }));
                        self.command(command, now);
                    }
                    // Only as many as the inbox keeps: the rest are freed now, not
                    // held until the backlog is worked off.
                    if spent.len() < inbox::SPARE_CHUNKS {
                        spent.push(chunk);
                    }
                }
                if taken > 0 {
                    self.room.inbox.add_permits(taken);
                }
                busy = true;
            }
            if busy {
                // Let the request tasks spawned here run (as awaiting a channel
                // would), then go round again.
                tokio::task::coop::consume_budget().await;
                continue;
            }
            let mut wake = self.acc.poll_timeout(now.into_std()).map(Instant::from_std);
            if let Some(closing) = &self.closing {
                wake = Some(wake.map_or(closing.deadline, |w| w.min(closing.deadline)));
            }
            tokio::select! {
                () = self.inbox.notified(), if self.commands_open => {}
                Some(event) = self.events.recv() => self.event(event),
                () = sleep_until(wake) => {}
            }
        }
        tracing::debug!("producer driver stopped");
    }

    fn command(&mut self, command: Command, now: Instant) {
        match command {
            Command::Send {
                topic,
                partition,
                record,
                sent,
                reply,
                bytes,
            } => {
                let sent = self.room.base + Duration::from_nanos(sent);
                let index = topic as usize;
                if index >= self.topics.len() {
                    self.inbox.topic_names(&mut self.topics);
                }
                let Some(topic) = self.topics.get(index) else {
                    // Never happens: the inbox names every number it hands out.
                    debug_assert!(false, "unknown topic number");
                    self.release(bytes);
                    reply.send(Err(ProduceError::Closed));
                    return;
                };
                if self.closing.is_some() {
                    self.release(bytes);
                    reply.send(Err(ProduceError::Closed));
                    return;
                }
                let appended =
                    self.acc
                        .try_append(topic, partition, record, sent.into_std(), now.into_std());
                match appended {
                    Ok(id) => {
                        self.pending.insert(id, Pending { reply, bytes });
                    }
                    Err(AppendError::Rejected(error)) => {
                        self.release(bytes);
                        reply.send(Err(error));
                    }
                    Err(AppendError::Full(_)) => {
                        let topic = topic.to_string();
                        self.release(bytes);
                        // The handle's semaphores keep the accumulator below its
                        // limits, so this means the two disagree: report, not lose.
                        let waited = now.saturating_duration_since(sent);
                        reply.send(Err(ProduceError::QueueFull { topic, waited }));
                    }
                }
            }
            Command::Flush { reply } => {
                self.acc.begin_flush();
                self.flushes.push(Waiter {
                    mark: self.next_mark(),
                    failures: Vec::new(),
                    reply: Some(reply),
                });
            }
            Command::Close { timeout, reply } => self.start_close(timeout, Some(reply)),
        }
    }

    /// Ids below this belong to records already queued.
    fn next_mark(&self) -> u64 {
        self.pending.end()
    }

    /// Notes that a record with `bytes` byte permits has its outcome; see
    /// [`Driver::give_back`].
    fn release(&mut self, bytes: u32) {
        self.released.0 += 1;
        self.released.1 += bytes as usize;
    }

    /// Gives the permits of the records with outcomes back to the handles.
    fn give_back(&mut self) {
        let (messages, bytes) = std::mem::take(&mut self.released);
        self.room.release(messages, bytes);
    }

    fn start_close(
        &mut self,
        timeout: Duration,
        reply: Option<oneshot::Sender<Result<(), FlushError>>>,
    ) {
        if let Some(closing) = &mut self.closing {
            // Already closing: the earlier deadline stands; answer both.
            if let (Some(reply), None) = (reply, &closing.waiter.reply) {
                closing.waiter.reply = Some(reply);
            }
            return;
        }
        self.acc.begin_flush();
        self.closing = Some(Closing {
            deadline: Instant::now() + timeout,
            waiter: Waiter {
                mark: u64::MAX,
                failures: Vec::new(),
                reply,
            },
        });
    }

    /// Ends a close whose records are all delivered, or whose time is up. Returns
    /// whether the driver should stop.
    fn finish_close(&mut self, now: Instant) -> bool {
        let Some(closing) = &self.closing else {
            return false;
        };
        let done = self.pending.is_empty() && self.acc.is_empty();
        if !done && now < closing.deadline {
            return false;
        }
        let undelivered = if done { 0 } else { self.pending.len() };
        let Some(mut closing) = self.closing.take() else {
            return true;
        };
        let failures = std::mem::take(&mut closing.waiter.failures);
        if !done {
            self.acc.abort(ProduceError::Closed);
            self.deliver();
        }
        if let Some(reply) = closing.waiter.reply.take() {
            let result = if failures.is_empty() && undelivered == 0 {
                Ok(())
            } else {
                Err(FlushError {
                    failures,
                    undelivered,
                })
            };
            let _ = reply.send(result);
        }
        for mut flush in self.flushes.drain(..) {
            if let Some(reply) = flush.reply.take() {
                let result = if flush.failures.is_empty() {
                    Ok(())
                } else {
                    Err(FlushError {
                        failures: flush.failures,
                        undelivered: 0,
                    })
                };
                let _ = reply.send(result);
            }
        }
        true
    }

    /// Carries out everything the accumulator asks for now.
    fn pump(&mut self, now: Instant) {
        let std_now = now.into_std();
        self.acc.handle_timeout(std_now);
        if let Some(out) = self.acc.poll_init_producer_id(std_now) {
            self.spawn_init_producer_id(out);
        }
        if let Some(topics) = self.acc.poll_metadata(std_now) {
            self.spawn_metadata(topics);
        }
        while let Some(request) = self.acc.poll_produce(std_now) {
            self.spawn_produce(request);
        }
        self.deliver();
    }

    /// Hands every outcome to its record's future and to the flushes waiting on it.
    fn deliver(&mut self) {
        while let Some(delivery) = self.acc.poll_delivery() {
            if let Err(error) = &delivery.result {
                for waiter in self
                    .flushes
                    .iter_mut()
                    .chain(self.closing.as_mut().map(|c| &mut c.waiter))
                {
                    if delivery.id.0 < waiter.mark {
                        waiter.failures.push(error.clone());
                    }
                }
            }
            if let Some(pending) = self.pending.remove(delivery.id) {
                self.release(pending.bytes);
                pending.reply.send(delivery.result);
            }
        }
        let oldest = self.pending.first();
        let mut i = 0;
        while i < self.flushes.len() {
            if oldest.is_some_and(|o| o < self.flushes[i].mark) {
                i += 1;
                continue;
            }
            let mut flush = self.flushes.swap_remove(i);
            self.acc.end_flush();
            if let Some(reply) = flush.reply.take() {
                let result = if flush.failures.is_empty() {
                    Ok(())
                } else {
                    Err(FlushError {
                        failures: flush.failures,
                        undelivered: 0,
                    })
                };
                let _ = reply.send(result);
            }
        }
    }

    fn event(&mut self, event: Event) {
        let now = Instant::now().into_std();
        match event {
            Event::Produced { id, outcome } => match outcome {
                ProduceOutcome::Response(response) => {
                    self.acc.handle_produce_response(id, &response, now)
                }
                ProduceOutcome::Sent => self.acc.handle_produce_sent(id),
                ProduceOutcome::Failed(error) => self.acc.handle_produce_failed(id, &error, now),
            },
            Event::Metadata {
                topics,
                result,
                snapshot,
            } => match result {
                Ok(topic_error) => {
                    let updates = topic_updates(&snapshot, &topics, topic_error.as_ref());
                    self.acc.handle_metadata(updates, now);
                }
                Err(error) => self.acc.handle_metadata_failed(
                    ProduceError::Cluster {
                        topic: None,
                        partition: None,
                        source: Box::new(error),
                    },
                    now,
                ),
            },
            Event::ProducerId(Ok((id, epoch))) => {
                tracing::debug!(producer_id = id, epoch, "idempotent producer id");
                self.acc.handle_producer_id(id, epoch);
            }
            Event::ProducerId(Err(error)) => {
                tracing::warn!(%error, "InitProducerId failed");
                self.acc.handle_producer_id_failed(error, now);
            }
        }
    }

    fn spawn_produce(&self, out: ProduceRequestOut) {
        let cluster = self.cluster.clone();
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let outcome = if out.acks == Acks::None {
                match cluster
                    .send_no_response(out.broker, Purpose::Produce, &out.request)
                    .await
                {
                    Ok(_) => ProduceOutcome::Sent,
                    Err(e) => ProduceOutcome::Failed(e),
                }
            } else {
                // Moved in, so that the request (its encoded batches) is freed once
                // written into the connection's frame, not held until the answer.
                let request = out.request;
                match cluster
                    .send_with(out.broker, Purpose::Produce, move |_| request)
                    .await
                {
                    Ok((response, _)) => ProduceOutcome::Response(Box::new(response)),
                    Err(e) => ProduceOutcome::Failed(e),
                }
            };
            let _ = events.send(Event::Produced {
                id: out.id,
                outcome,
            });
        });
    }

    fn spawn_metadata(&self, topics: Vec<String>) {
        let cluster = self.cluster.clone();
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let result = match cluster.ensure_topics(&topics).await {
                Ok(_) => Ok(None),
                // Errors about a topic: the snapshot of the same refresh says the rest.
                Err(
                    e @ (ClusterError::UnknownTopic { .. }
                    | ClusterError::UnknownPartition { .. }
                    | ClusterError::Kafka { topic: Some(_), .. }),
                ) => Ok(Some(e)),
                Err(e) => Err(e),
            };
            let snapshot = cluster.metadata();
            let _ = events.send(Event::Metadata {
                topics,
                result,
                snapshot,
            });
        });
    }

    fn spawn_init_producer_id(&self, out: InitProducerIdOut) {
        let cluster = self.cluster.clone();
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let result = init_producer_id(&cluster, out).await;
            let _ = events.send(Event::ProducerId(result));
        });
    }
}

/// Asks any broker for a producer id (or, from InitProducerId v3 on, an epoch bump
/// of the current one).
async fn init_producer_id(
    cluster: &Cluster,
    out: InitProducerIdOut,
) -> Result<(i64, i16), ProduceError> {
    let cluster_error = |source| ProduceError::Cluster {
        topic: None,
        partition: None,
        source: Box::new(source),
    };
    let broker = cluster.any_broker().await.map_err(cluster_error)?;
    let build = |version: i16| {
        let mut request = InitProducerIdRequest::default();
        request.transactional_id = None;
        // The Java client's value for a producer without transactions.
        request.transaction_timeout_ms = i32::MAX;
        if version >= 3 {
            request.producer_id = out.producer_id.into();
            request.producer_epoch = out.producer_epoch;
        }
        request
    };
    let (response, _) = cluster
        .send_with(broker, Purpose::Produce, build)
        .await
        .map_err(cluster_error)?;
    match KafkaCode::from_code(response.error_code) {
        None => Ok((response.producer_id.0, response.producer_epoch)),
        Some(code) => Err(ProduceError::ProducerId { code }),
    }
}

/// The accumulator's view of `topics` in `snapshot`. `topic_error` is what
/// `ensure_topics` said about one of them, if it failed for a topic.
fn topic_updates(
    snapshot: &Metadata,
    topics: &[String],
    topic_error: Option<&ClusterError>,
) -> Vec<TopicUpdate> {
    let unknown = match topic_error {
        Some(ClusterError::UnknownTopic { topic }) => Some(topic.as_str()),
        _ => None,
    };
    let mut updates = Vec::with_capacity(topics.len());
    for name in topics {
        let leaders = match snapshot.topic(name) {
            Some(t) => match t.error {
                Some(code) => Err(code),
                None => {
                    // Partitions are numbered 0..n; an index outside is ignored
                    // (and never sizes an allocation).
                    let mut leaders = vec![None; t.partitions.len()];
                    for p in &t.partitions {
                        if let Some(slot) = leaders.get_mut(p.partition as usize) {
                            *slot = p
                                .leader
                                .filter(|_| p.has_leader())
                                .filter(|id| snapshot.brokers.contains_key(id));
                        }
                    }
                    Ok(leaders)
                }
            },
            None if unknown == Some(name.as_str()) => Err(KafkaCode::UnknownTopicOrPartition),
            // Not in this snapshot: no news; the accumulator asks again later.
            None => continue,
        };
        updates.push(TopicUpdate {
            topic: name.clone(),
            leaders,
        });
    }
    updates
}

async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flame_kafka_cluster::{BrokerAddress, BrokerId, PartitionMetadata, TopicMetadata};

    fn partition(index: i32, leader: Option<i32>, error: Option<KafkaCode>) -> PartitionMetadata {
        PartitionMetadata {
            partition: index,
            leader: leader.map(BrokerId),
            leader_epoch: 0,
            replicas: Vec::new(),
            isr: Vec::new(),
            error,
        }
    }

    #[test]
    fn a_queued_command_stays_small() {
        // Up to `queue.buffering.max.messages` of them wait in the inbox.
        assert!(
            std::mem::size_of::<Command>() <= 144,
            "{}",
            std::mem::size_of::<Command>()
        );
    }

    #[test]
    fn pending_set_is_a_window_of_ids() {
        let pending = || Pending {
            reply: crate::delivery::Slots::default().reserve().0,
            bytes: 1,
        };
        let mut set = PendingSet::default();
        assert_eq!((set.first(), set.end(), set.len()), (None, 0, 0));
        for id in 5..10 {
            set.insert(MessageId(id), pending());
        }
        assert_eq!((set.first(), set.end(), set.len()), (Some(5), 10, 5));
        assert!(set.remove(MessageId(7)).is_some());
        assert!(set.remove(MessageId(7)).is_none(), "answered once");
        assert!(set.remove(MessageId(4)).is_none());
        assert!(set.remove(MessageId(10)).is_none());
        assert!(set.remove(MessageId(5)).is_some());
        assert_eq!((set.first(), set.end(), set.len()), (Some(6), 10, 3));
        assert!(set.remove(MessageId(9)).is_some());
        assert_eq!((set.first(), set.end()), (Some(6), 10), "marks stay valid");
        assert!(set.remove(MessageId(6)).is_some());
        assert!(set.remove(MessageId(8)).is_some());
        assert!(set.is_empty());
        assert_eq!((set.first(), set.end()), (None, 0));
        // A gap (ids the accumulator rejected are never inserted).
        set.insert(MessageId(12), pending());
        set.insert(MessageId(14), pending());
        assert_eq!((set.first(), set.end(), set.len()), (Some(12), 15, 2));
        assert!(set.remove(MessageId(12)).is_some());
        assert_eq!(set.first(), Some(14));
    }

    #[test]
    fn snapshot_to_updates() {
        let mut m = Metadata::default();
        m.brokers.insert(
            BrokerId(1),
            BrokerAddress {
                host: "h".into(),
                port: 1,
                rack: None,
            },
        );
        m.topics.insert(
            "t".into(),
            TopicMetadata {
                error: None,
                is_internal: false,
                partitions: vec![
                    partition(0, Some(1), None),
                    partition(1, Some(2), None), // not a live broker
                    partition(2, Some(1), Some(KafkaCode::LeaderNotAvailable)),
                    partition(3, Some(1), Some(KafkaCode::ReplicaNotAvailable)),
                ],
            },
        );
        m.topics.insert(
            "denied".into(),
            TopicMetadata {
                error: Some(KafkaCode::TopicAuthorizationFailed),
                is_internal: false,
                partitions: Vec::new(),
            },
        );
        let topics: Vec<String> = ["t", "denied", "gone", "later"].map(String::from).to_vec();
        let gone = ClusterError::UnknownTopic {
            topic: "gone".into(),
        };
        let updates = topic_updates(&m, &topics, Some(&gone));
        assert_eq!(updates.len(), 3, "no news for `later`");
        assert_eq!(
            updates[0].leaders,
            Ok(vec![Some(BrokerId(1)), None, None, Some(BrokerId(1))])
        );
        assert_eq!(updates[1].leaders, Err(KafkaCode::TopicAuthorizationFailed));
        assert_eq!(updates[2].leaders, Err(KafkaCode::UnknownTopicOrPartition));
    }
}
