//! The consumer's driver task: owns the group machine, the fetcher and the offset
//! tracker, feeds them network answers and the time, sends what they ask for, and
//! serves the [`Consumer`](crate::Consumer) handle's commands.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use flame_kafka_cluster::{Cluster, ClusterError};
use flame_kafka_codec::KafkaCode;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::config::ConsumerConfig;
use crate::consumer::{Command, Reply};
use crate::fetcher::{FetchError, FetchOutgoing, FetchedPartition, Fetcher};
use crate::handover::{self, Handover, Ready, Verdict};
use crate::machine::GroupEvent;
use crate::membership::Membership;
use crate::requests::GroupResponse;
use crate::{
    io, CommitOffset, ConsumeError, GroupError, NodeId, OffsetTracker, OpId, RequestId,
    TopicPartition,
};

/// Shortest time between two metadata refreshes asked for by the fetcher.
const METADATA_MIN_INTERVAL: Duration = Duration::from_millis(500);
/// How often a classic group leader compares the (cached) partition counts of the
/// subscription with those it assigned from, to rebalance when partitions are added.
const PARTITION_CHECK_INTERVAL: Duration = Duration::from_secs(5);

type ListedOffsets = Vec<(TopicPartition, Result<i64, KafkaCode>)>;
/// A commit in flight: what it commits, and who waits for it (none: automatic).
type PendingCommit = (Vec<(TopicPartition, CommitOffset)>, Option<Reply<()>>);

/// A finished network call.
enum Done {
    Group(RequestId, Result<GroupResponse, ClusterError>),
    Fetch(
        RequestId,
        Result<Result<Vec<FetchedPartition>, KafkaCode>, ClusterError>,
    ),
    ListOffsets(RequestId, Result<ListedOffsets, ClusterError>),
    Metadata,
    Counts(BTreeMap<String, i32>),
    TopicNames(BTreeMap<Uuid, String>),
}

pub(crate) struct Driver {
    config: ConsumerConfig,
    topics: Vec<String>,
    next_partition_check: Instant,
    cluster: Cluster,
    /// This consumer's own connections (see [`io::Lanes`]).
    lanes: io::Lanes,
    group: Membership,
    fetcher: Fetcher,
    offsets: OffsetTracker,
    /// Records taken from the fetcher for the handle, not yet polled.
    ready: Ready,
    /// A revocation waiting for the application to finish the revoked
    /// partitions' records.
    handover: Option<Handover>,
    tasks: JoinSet<Done>,
    commands: mpsc::UnboundedReceiver<Command>,
    commands_open: bool,
    waiters: VecDeque<(usize, Reply<()>)>,
    errors: VecDeque<ConsumeError>,
    fatal: Option<ConsumeError>,
    lookups: HashMap<OpId, Vec<TopicPartition>>,
    commits: HashMap<OpId, PendingCommit>,
    auto_commit: Option<OpId>,
    revoke_commit: Option<OpId>,
    next_auto_commit: Instant,
    metadata_in_flight: bool,
    next_metadata: Instant,
    closing: bool,
    closed: bool,
    close_waiters: Vec<Reply<()>>,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Driver {
    pub(crate) fn new(
        config: ConsumerConfig,
        cluster: Cluster,
        group: Membership,
        topics: Vec<String>,
        ready: Ready,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Self {
        let now = now();
        Driver {
            topics,
            next_partition_check: now + PARTITION_CHECK_INTERVAL,
            fetcher: Fetcher::new(config.fetch_settings()),
            next_auto_commit: now + config.auto_commit_interval,
            lanes: io::Lanes::new(&cluster, &config),
            config,
            cluster,
            group,
            offsets: OffsetTracker::new(),
            ready,
            handover: None,
            tasks: JoinSet::new(),
            commands,
            commands_open: true,
            waiters: VecDeque::new(),
            errors: VecDeque::new(),
            fatal: None,
            lookups: HashMap::new(),
            commits: HashMap::new(),
            auto_commit: None,
            revoke_commit: None,
            metadata_in_flight: false,
            next_metadata: now,
            closing: false,
            closed: false,
            close_waiters: Vec::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        let cluster = self.cluster.clone();
        let topics = self.topics.clone();
        self.tasks.spawn(async move {
            // Registers interest so metadata covers the subscription; a topic that
            // does not exist yet is looked up again once it is assigned.
            let _ = cluster.ensure_topics(&topics).await;
            Done::Metadata
        });
        loop {
            self.pump(now());
            if (self.closed || self.fatal.is_some()) && !self.commands_open {
                break;
            }
            let deadline = self.deadline();
            tokio::select! {
                command = self.commands.recv(), if self.commands_open => match command {
                    Some(command) => self.command(command, now()),
                    None => {
                        // The handle was dropped: close as `close()` would.
                        self.commands_open = false;
                        self.start_close(now());
                    }
                },
                Some(done) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    if let Ok(done) = done {
                        self.done(done, now());
                    }
                }
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {}
            }
        }
    }

    fn deadline(&self) -> Instant {
        let mut times = vec![self.group.poll_timeout(), self.fetcher.poll_timeout()];
        if self.config.enable_auto_commit {
            times.push(Some(self.next_auto_commit));
        }
        if self.group.is_leader() {
            times.push(Some(self.next_partition_check));
        }
        if self.fetcher.needs_metadata() && !self.metadata_in_flight {
            times.push(Some(self.next_metadata));
        }
        times.push(self.handover.as_ref().map(Handover::deadline));
        times
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| now() + Duration::from_secs(1))
    }

    /// Runs the machines until they have nothing more to do at `now`.
    fn pump(&mut self, now: Instant) {
        if self.fatal.is_none() && !self.closed {
            self.group.handle_timeout(now);
            if !self.waiters.is_empty() {
                self.group.application_polled(now);
            }
            loop {
                let mut progress = false;
                while let Some(event) = self.group.poll_event() {
                    progress = true;
                    self.event(event, now);
                }
                self.hand_over(now);
                self.auto_commit(now);
                while let Some(out) = self.group.poll_request(now) {
                    progress = true;
                    let lanes = self.lanes.clone();
                    self.tasks.spawn(async move {
                        Done::Group(
                            out.id,
                            io::send_group(&lanes, out.target, out.request).await,
                        )
                    });
                }
                if !progress {
                    break;
                }
            }
            if !self.closing {
                self.fetch(now);
                self.check_partition_counts(now);
            }
        }
        while let Some(err) = self.fetcher.poll_error() {
            self.errors.push_back(err.into());
        }
        while let Some((tp, offset, epoch)) = self.fetcher.poll_rewind() {
            // Records of the lost log not yet handed out never will be.
            for r in self.ready.withdraw_from(&tp, offset).iter().rev() {
                self.offsets.undeliver(&tp, r.offset, r.leader_epoch);
            }
            self.offsets.rewind(&tp, offset, epoch);
        }
        let buffered = self.fetcher.buffered_bytes();
        self.serve_waiters();
        if self.fetcher.buffered_bytes() < buffered
            && self.fatal.is_none()
            && !self.closed
            && !self.closing
        {
            // Records were handed out: a partition may have drained below its
            // prefetch threshold.
            self.fetch(now);
        }
    }

    fn fetch(&mut self, now: Instant) {
        let metadata = self.cluster.metadata();
        let leader = |tp: &TopicPartition| {
            metadata
                .leader(&tp.topic, tp.partition)
                .map(|(b, e)| (NodeId(b.0), e))
        };
        for out in self.fetcher.poll_requests(now, leader) {
            let lanes = self.lanes.clone();
            match out {
                FetchOutgoing::Fetch {
                    id,
                    node,
                    partitions,
                } => {
                    let settings = self.config.fetch_settings();
                    self.tasks.spawn(async move {
                        Done::Fetch(id, io::fetch(&lanes, node.0, &settings, &partitions).await)
                    });
                }
                FetchOutgoing::ListOffsets {
                    id,
                    node,
                    partitions,
                } => {
                    let isolation = self.config.isolation_level.code();
                    self.tasks.spawn(async move {
                        Done::ListOffsets(
                            id,
                            io::list_offsets(&lanes, node.0, isolation, &partitions).await,
                        )
                    });
                }
            }
        }
        if self.fetcher.needs_metadata() && !self.metadata_in_flight && now >= self.next_metadata {
            self.metadata_in_flight = true;
            self.next_metadata = now + METADATA_MIN_INTERVAL.max(self.config.retry_backoff);
            let topics: BTreeSet<String> = self
                .group
                .assignment()
                .iter()
                .map(|tp| tp.topic.to_string())
                .collect();
            let topics: Vec<String> = topics.into_iter().collect();
            let cluster = self.cluster.clone();
            self.tasks.spawn(async move {
                if let Err(e) = cluster.ensure_topics(&topics).await {
                    tracing::debug!(error = %e, "metadata refresh for fetching failed");
                }
                Done::Metadata
            });
        }
    }

    fn check_partition_counts(&mut self, now: Instant) {
        if now < self.next_partition_check {
            return;
        }
        self.next_partition_check = now + PARTITION_CHECK_INTERVAL;
        if self.group.is_leader() {
            let metadata = self.cluster.metadata();
            let counts = self
                .topics
                .iter()
                .filter_map(|t| {
                    let count = metadata.partition_count(t)?;
                    Some((t.clone(), i32::try_from(count).ok()?))
                })
                .filter(|(_, n)| *n > 0)
                .collect();
            self.group.check_partition_counts(&counts, now);
        }
    }

    fn auto_commit(&mut self, now: Instant) {
        if !self.config.enable_auto_commit || now < self.next_auto_commit || self.closing {
            return;
        }
        self.next_auto_commit = now + self.config.auto_commit_interval;
        if self.auto_commit.is_none() {
            let offsets = self.offsets.to_commit();
            if !offsets.is_empty() {
                let op = self.group.commit(offsets.clone(), now);
                self.commits.insert(op, (offsets, None));
                self.auto_commit = Some(op);
            }
        }
    }

    /// Answers waiting polls once the ready queue has records (filling it from the
    /// fetcher when empty), or with an error.
    fn serve_waiters(&mut self) {
        while let Some((max, reply)) = self.waiters.pop_front() {
            if reply.is_closed() {
                continue;
            }
            let answer = if let Some(fatal) = &self.fatal {
                Err(fatal.clone())
            } else if let Some(err) = self.errors.pop_front() {
                Err(err)
            } else if self.closing || self.closed {
                Err(ConsumeError::Closed)
            } else {
                if self.ready.is_empty() {
                    let records = self.fetcher.poll_records(max);
                    if records.is_empty() {
                        self.waiters.push_front((max, reply));
                        return;
                    }
                    // In flight from here on: held until marked done (stored when a
                    // poll returns them, with `enable_auto_offset_store`), and
                    // withdrawn (undelivered) if a revocation comes first.
                    for r in &records {
                        let tp = TopicPartition::new(r.topic.clone(), r.partition);
                        self.offsets.delivered(&tp, r.offset, r.leader_epoch, false);
                    }
                    self.ready.extend(records);
                }
                Ok(())
            };
            // A cancelled poll leaves its records in the ready queue for the next.
            let _ = reply.send(answer);
        }
    }

    fn command(&mut self, command: Command, now: Instant) {
        match command {
            Command::Poll { max, reply } => {
                self.group.application_polled(now);
                self.waiters.push_back((max.max(1), reply));
            }
            Command::MarkDone { tp, offset } => {
                self.offsets.mark_done(&tp, offset);
            }
            Command::Release(records) => {
                for (tp, offset) in records {
                    self.offsets.mark_done(&tp, offset);
                }
            }
            Command::Stored(records) => {
                for (tp, offset) in records {
                    self.offsets.store(&tp, offset);
                }
            }
            Command::Polled => self.group.application_polled(now),
            Command::Commit { offsets, reply } => self.commit(offsets, reply, now),
            Command::CommitFinished { reply } => {
                let offsets = self.offsets.to_commit();
                if offsets.is_empty() {
                    let _ = reply.send(Ok(()));
                } else {
                    self.commit(offsets, reply, now);
                }
            }
            Command::Assignment { reply } => {
                let _ = reply.send(match &self.fatal {
                    Some(fatal) => Err(fatal.clone()),
                    None => Ok(self.group.assignment()),
                });
            }
            Command::Close { reply } => {
                if self.closed || self.fatal.is_some() {
                    let _ = reply.send(Ok(()));
                } else {
                    self.close_waiters.push(reply);
                    self.start_close(now);
                }
            }
        }
    }

    fn commit(
        &mut self,
        offsets: Vec<(TopicPartition, CommitOffset)>,
        reply: Reply<()>,
        now: Instant,
    ) {
        if let Some(fatal) = &self.fatal {
            let _ = reply.send(Err(fatal.clone()));
        } else if self.closed {
            let _ = reply.send(Err(ConsumeError::Closed));
        } else if let Some((tp, _)) = offsets.iter().find(|(tp, _)| !self.offsets.contains(tp)) {
            // The partition moved on (e.g. a callback outlived a hand-over that
            // timed out): its new owner's commits must not be overwritten.
            let tp = tp.clone();
            let _ = reply.send(Err(ConsumeError::NotAssigned { tp }));
        } else {
            let op = self.group.commit(offsets.clone(), now);
            self.commits.insert(op, (offsets, Some(reply)));
        }
    }

    fn start_close(&mut self, now: Instant) {
        if !self.closing && !self.closed && self.fatal.is_none() {
            self.closing = true;
            // A hand-over in progress completes at once (see `hand_over`), then
            // the machine leaves.
            self.group.close(now);
        }
    }

    fn event(&mut self, event: GroupEvent, now: Instant) {
        match event {
            GroupEvent::Assigned(partitions) => {
                tracing::info!(?partitions, "assigned");
                for tp in &partitions {
                    self.offsets.assign(tp.clone(), None);
                    self.fetcher.assign(tp.clone());
                }
                let op = self.group.fetch_committed(partitions.clone(), now);
                self.lookups.insert(op, partitions);
            }
            GroupEvent::Revoke { partitions, lost } => {
                tracing::info!(?partitions, lost, "revoking");
                // Records not handed out yet never will be: their next owner
                // consumes them.
                for tp in &partitions {
                    self.fetcher.revoke(tp);
                }
                for r in self.ready.withdraw(&partitions).iter().rev() {
                    let tp = TopicPartition::new(r.topic.clone(), r.partition);
                    self.offsets.undeliver(&tp, r.offset, r.leader_epoch);
                }
                if lost {
                    // The membership is gone, and with it whatever was being
                    // handed over: nothing to wait for, nothing to commit.
                    if let Some(pending) = self.handover.take() {
                        self.finish_revoke(pending.partitions(), true, now);
                    }
                    self.finish_revoke(&partitions, true, now);
                } else {
                    match &mut self.handover {
                        // (The machines revoke again only when closing, which
                        // does not wait anyway.)
                        Some(pending) => pending.add(partitions),
                        None => {
                            let limit = handover::limit(
                                self.config.max_poll_interval,
                                self.config.heartbeat_interval,
                            );
                            self.handover = Some(Handover::new(partitions, now, limit));
                        }
                    }
                    self.hand_over(now);
                }
            }
            GroupEvent::NeedPartitionCounts(topics) => {
                let cluster = self.cluster.clone();
                self.tasks.spawn(async move {
                    Done::Counts(io::partition_counts(&cluster, &topics).await)
                });
            }
            GroupEvent::NeedTopicNames(_) => {
                let cluster = self.cluster.clone();
                let backoff = self.config.retry_backoff;
                self.tasks.spawn(async move {
                    Done::TopicNames(io::topic_names(&cluster, backoff).await)
                });
            }
            GroupEvent::CommitDone(op, result) => self.commit_done(op, result, now),
            GroupEvent::OffsetsFetched(op, result) => {
                let Some(asked) = self.lookups.remove(&op) else {
                    return;
                };
                match result {
                    Ok(list) => {
                        let mut answered: HashMap<
                            TopicPartition,
                            Result<Option<CommitOffset>, KafkaCode>,
                        > = list.into_iter().collect();
                        for tp in asked {
                            match answered.remove(&tp).unwrap_or(Ok(None)) {
                                Ok(committed) => {
                                    let offset = committed.map(|c| c.offset);
                                    let epoch = committed.map_or(-1, |c| c.leader_epoch);
                                    self.offsets.set_committed(&tp, offset);
                                    self.fetcher.set_committed_with_epoch(&tp, offset, epoch);
                                }
                                Err(code) => self
                                    .errors
                                    .push_back(FetchError::Partition { tp, code }.into()),
                            }
                        }
                    }
                    Err(GroupError::Closed) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "committed offset lookup failed; retrying");
                        let still: Vec<TopicPartition> = asked
                            .into_iter()
                            .filter(|tp| self.offsets.contains(tp))
                            .collect();
                        if !still.is_empty() {
                            let op = self.group.fetch_committed(still.clone(), now);
                            self.lookups.insert(op, still);
                        }
                    }
                }
            }
            GroupEvent::PollIntervalExceeded => {
                tracing::warn!("max.poll.interval.ms exceeded: left the group");
                self.errors.push_back(ConsumeError::PollIntervalExceeded);
            }
            GroupEvent::Fatal(e) => {
                tracing::error!(error = %e, "consumer failed");
                self.fail(ConsumeError::Group(e));
            }
            GroupEvent::Closed => {
                self.closed = true;
                for reply in self.close_waiters.drain(..) {
                    let _ = reply.send(Ok(()));
                }
            }
        }
    }

    /// Completes the pending revocation once the application has finished the
    /// records it was handed from those partitions, when the wait is over (see
    /// [`handover`]), or at once when closing.
    fn hand_over(&mut self, now: Instant) {
        let Some(pending) = &self.handover else {
            return;
        };
        match pending.check(&self.offsets, now) {
            Verdict::Finished if pending.waited(now).is_zero() => {}
            Verdict::Finished => tracing::info!(
                partitions = ?pending.partitions(),
                waited = ?pending.waited(now),
                "the application finished the revoked partitions' records: handing them over"
            ),
            Verdict::Wait if !self.closing => return,
            Verdict::Wait => tracing::debug!(
                partitions = ?pending.partitions(),
                "closing: revoking without waiting for the records being processed"
            ),
            Verdict::TimedOut { held } => tracing::warn!(
                partitions = ?pending.partitions(),
                held,
                waited = ?pending.waited(now),
                "records of revoked partitions are still being processed after \
                 max.poll.interval.ms (less two heartbeat intervals): handing the \
                 partitions over anyway, so another member may process them too"
            ),
        }
        if let Some(pending) = self.handover.take() {
            self.finish_revoke(pending.partitions(), false, now);
        }
    }

    /// Stops tracking revoked partitions; unless `lost`, commits what was finished
    /// (with auto-commit), then lets the machine go on (`revoke_done`).
    fn finish_revoke(&mut self, partitions: &[TopicPartition], lost: bool, now: Instant) {
        let mut to_commit = Vec::new();
        for tp in partitions {
            if let Some(offset) = self.offsets.revoke(tp) {
                to_commit.push((tp.clone(), offset));
            }
        }
        if lost || !self.config.enable_auto_commit || to_commit.is_empty() {
            self.group.revoke_done(now);
        } else {
            let op = self.group.commit(to_commit.clone(), now);
            self.commits.insert(op, (to_commit, None));
            self.revoke_commit = Some(op);
        }
    }

    fn commit_done(&mut self, op: OpId, result: crate::CommitResult, now: Instant) {
        let Some((offsets, reply)) = self.commits.remove(&op) else {
            return;
        };
        if let Ok(list) = &result {
            let sent: HashMap<&TopicPartition, i64> =
                offsets.iter().map(|(tp, c)| (tp, c.offset)).collect();
            for (tp, error) in list {
                if let (None, Some(&offset)) = (error, sent.get(tp)) {
                    self.offsets.committed(tp, offset);
                }
            }
        }
        if self.auto_commit == Some(op) {
            self.auto_commit = None;
        }
        if self.revoke_commit == Some(op) {
            self.revoke_commit = None;
            self.group.revoke_done(now);
        }
        let answer = match result {
            Ok(list) => match list
                .into_iter()
                .find_map(|(tp, e)| e.map(|code| (tp, code)))
            {
                Some((tp, code)) => Err(ConsumeError::Commit { tp, code }),
                None => Ok(()),
            },
            Err(e) => Err(ConsumeError::Group(e)),
        };
        match reply {
            Some(reply) => {
                let _ = reply.send(answer);
            }
            None => {
                if let Err(e) = answer {
                    tracing::warn!(error = %e, "commit failed");
                }
            }
        }
    }

    fn done(&mut self, done: Done, now: Instant) {
        match done {
            Done::Group(id, Ok(response)) => self.group.handle_response(id, response, now),
            Done::Group(id, Err(e)) => {
                tracing::debug!(error = %e, "group request failed");
                if io::is_fatal(&e) {
                    self.fail(ConsumeError::Cluster(e));
                } else {
                    self.group.handle_failure(id, now);
                }
            }
            Done::Fetch(id, Ok(answer)) => self.fetcher.handle_fetch(id, answer, now),
            Done::ListOffsets(id, Ok(answer)) => self.fetcher.handle_list_offsets(id, answer, now),
            Done::Fetch(id, Err(e)) | Done::ListOffsets(id, Err(e)) => {
                tracing::debug!(error = %e, "fetch request failed");
                if io::is_fatal(&e) {
                    self.fail(ConsumeError::Cluster(e));
                } else {
                    self.fetcher.handle_failure(id, now);
                }
            }
            Done::Metadata => {
                self.metadata_in_flight = false;
                self.fetcher.metadata_refreshed();
            }
            Done::Counts(counts) => self.group.handle_partition_counts(counts, now),
            Done::TopicNames(names) => self.group.handle_topic_names(names),
        }
    }

    fn fail(&mut self, err: ConsumeError) {
        if self.fatal.is_some() {
            return;
        }
        for (_, (_, reply)) in self.commits.drain() {
            if let Some(reply) = reply {
                let _ = reply.send(Err(err.clone()));
            }
        }
        for reply in self.close_waiters.drain(..) {
            let _ = reply.send(Err(err.clone()));
        }
        self.fatal = Some(err);
    }
}
