//! The next-generation consumer group protocol (KIP-848, `group.protocol=consumer`)
//! as a sans-IO state machine.
//!
//! One RPC, ConsumerGroupHeartbeat, does everything: the member joins with epoch 0
//! and its subscription, the broker computes assignments (`group.remote.assignor`,
//! broker default `uniform`) and hands each member its target by topic id; the
//! member revokes what it must give up (committing first), takes what it gains, and
//! acknowledges by reporting its owned partitions in the next heartbeat. The broker
//! sets the heartbeat interval and runs the session timer.
//!
//! Topic ids are resolved to names through metadata: [`GroupEvent::NeedTopicNames`]
//! asks the driver, which answers with [`ConsumerGroupMachine::handle_topic_names`].
//!
//! A broker without the protocol (no ConsumerGroupHeartbeat, or
//! `UNSUPPORTED_VERSION`) ends the member with
//! [`GroupError::ConsumerProtocolUnsupported`]: no silent fall back to the classic
//! protocol, whose assignors and semantics differ from what was configured.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flame_kafka_codec::KafkaCode;
use uuid::Uuid;

use crate::coordinator::{CoordinatorLink, LinkSignal, OpOutcome};
use crate::error::{is_fatal_code, GroupError};
use crate::machine::{millis, GroupEvent, GroupSettings, GroupState};
use crate::requests::{
    ConsumerHeartbeat, ConsumerHeartbeatOk, GroupRequest, GroupResponse, Identity, Outgoing, Target,
};
use crate::{CommitOffset, OpId, RequestId, TopicPartition};

/// Member epoch that asks to join.
const JOIN_EPOCH: i32 = 0;
/// Member epoch that leaves for good.
const LEAVE_EPOCH: i32 = -1;
/// Member epoch with which a static member leaves, expecting to come back.
const STATIC_LEAVE_EPOCH: i32 = -2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Heartbeating (joining when the epoch is 0).
    Active,
    /// Waiting for the driver to finish a revocation; then `then_leave` or continue.
    Revoking {
        then_leave: bool,
    },
    /// Sending the leave heartbeat; then idle or closed.
    Leaving {
        then_idle: bool,
    },
    Idle,
    Closed,
    Failed,
}

/// The KIP-848 membership machine. Same driver interface as
/// [`GroupMachine`](crate::GroupMachine).
#[derive(Debug)]
pub struct ConsumerGroupMachine {
    settings: GroupSettings,
    link: CoordinatorLink,
    phase: Phase,
    identity: Identity,
    owned: BTreeSet<TopicPartition>,
    /// Partitions being revoked: still reported as owned until the driver is done.
    revoking: Vec<TopicPartition>,
    /// The latest target assignment from the broker, by topic id.
    target: Option<Vec<(Uuid, Vec<i32>)>>,
    names: HashMap<Uuid, Arc<str>>,
    ids: HashMap<Arc<str>, Uuid>,
    names_requested: BTreeSet<Uuid>,
    /// Send every field in the next heartbeat (join, or after a failure).
    send_full: bool,
    /// The owned partitions changed since the last heartbeat said them.
    owned_changed: bool,
    heartbeat_interval: Duration,
    heartbeat_in_flight: Option<RequestId>,
    next_heartbeat: Instant,
    leave_deadline: Option<Instant>,
    backoff_until: Option<Instant>,
    last_poll: Instant,
    events: VecDeque<GroupEvent>,
}

impl ConsumerGroupMachine {
    /// A machine that joins at once as `member_id` (generate a random UUID per
    /// consumer instance; KIP-1082).
    pub fn new(mut settings: GroupSettings, member_id: Uuid, now: Instant) -> Self {
        settings.topics.sort();
        settings.topics.dedup();
        let link = CoordinatorLink::new(
            settings.group_id.clone(),
            settings.retry_backoff,
            settings.op_timeout,
            true,
        );
        ConsumerGroupMachine {
            identity: Identity {
                generation: JOIN_EPOCH,
                member_id: Arc::from(member_id.to_string()),
                instance_id: settings.instance_id.clone(),
            },
            heartbeat_interval: settings.heartbeat_interval,
            settings,
            link,
            phase: Phase::Active,
            owned: BTreeSet::new(),
            revoking: Vec::new(),
            target: None,
            names: HashMap::new(),
            ids: HashMap::new(),
            names_requested: BTreeSet::new(),
            send_full: true,
            owned_changed: false,
            heartbeat_in_flight: None,
            next_heartbeat: now,
            leave_deadline: None,
            backoff_until: None,
            last_poll: now,
            events: VecDeque::new(),
        }
    }

    /// Where the membership stands.
    pub fn state(&self) -> GroupState {
        match self.phase {
            Phase::Active if self.identity.generation == JOIN_EPOCH => GroupState::Joining,
            Phase::Active => GroupState::Stable,
            Phase::Revoking { .. } => GroupState::Revoking,
            Phase::Leaving { .. } => GroupState::Leaving,
            Phase::Idle => GroupState::Idle,
            Phase::Closed => GroupState::Closed,
            Phase::Failed => GroupState::Failed,
        }
    }

    /// Our member epoch (as `generation`), member id and instance id.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The partitions currently assigned to this member.
    pub fn assignment(&self) -> &BTreeSet<TopicPartition> {
        &self.owned
    }

    /// Commits `offsets` under the member epoch current when the request is sent.
    pub fn commit(&mut self, offsets: Vec<(TopicPartition, CommitOffset)>, now: Instant) -> OpId {
        let id = self.link.commit(offsets, None, now);
        self.fail_ops_if_finished();
        id
    }

    /// Looks up committed offsets.
    pub fn fetch_committed(&mut self, partitions: Vec<TopicPartition>, now: Instant) -> OpId {
        let id = self.link.fetch(partitions, now);
        self.fail_ops_if_finished();
        id
    }

    fn fail_ops_if_finished(&mut self) {
        if matches!(self.phase, Phase::Closed | Phase::Failed) {
            self.link.fail_all(&GroupError::Closed);
        }
    }

    /// The driver finished a revocation.
    pub fn revoke_done(&mut self, now: Instant) {
        if let Phase::Revoking { then_leave } = self.phase {
            if !self.revoking.is_empty() {
                self.revoking.clear();
                self.owned_changed = true;
            }
            if then_leave {
                self.start_leaving(false, now);
            } else {
                self.phase = Phase::Active;
                self.reconcile();
            }
        }
    }

    /// The application polled: it is alive; rejoins after a poll timeout.
    pub fn application_polled(&mut self, now: Instant) {
        self.last_poll = now;
        if self.phase == Phase::Idle {
            self.rejoin_fresh(now);
        }
    }

    /// Names for topic ids asked for by [`GroupEvent::NeedTopicNames`]; ids the
    /// metadata does not know stay unresolved (asked again on the next assignment).
    pub fn handle_topic_names(&mut self, names: BTreeMap<Uuid, String>) {
        for (id, name) in names {
            let name: Arc<str> = Arc::from(name);
            self.ids.insert(name.clone(), id);
            self.names.insert(id, name);
        }
        self.names_requested.clear();
        if self.phase == Phase::Active {
            self.reconcile();
        }
    }

    /// Leaves the group: revoke (commit) what is owned, then a leave heartbeat.
    pub fn close(&mut self, now: Instant) {
        match self.phase {
            Phase::Closed | Phase::Failed | Phase::Leaving { then_idle: false } => {}
            Phase::Revoking { .. } => {
                self.phase = Phase::Revoking { then_leave: true };
                // What we keep is revoked too, so that it is committed first.
                if !self.owned.is_empty() {
                    let partitions: Vec<TopicPartition> =
                        std::mem::take(&mut self.owned).into_iter().collect();
                    self.revoking.extend(partitions.iter().cloned());
                    self.events.push_back(GroupEvent::Revoke {
                        partitions,
                        lost: false,
                    });
                }
            }
            _ if !self.owned.is_empty() => {
                let partitions: Vec<TopicPartition> =
                    std::mem::take(&mut self.owned).into_iter().collect();
                self.revoking.clone_from(&partitions);
                self.events.push_back(GroupEvent::Revoke {
                    partitions,
                    lost: false,
                });
                self.phase = Phase::Revoking { then_leave: true };
            }
            _ => self.start_leaving(false, now),
        }
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<GroupEvent> {
        while let Some(done) = self.link.poll_done() {
            self.events.push_back(match done {
                OpOutcome::Commit(id, result) => GroupEvent::CommitDone(id, result),
                OpOutcome::Fetch(id, result) => GroupEvent::OffsetsFetched(id, result),
            });
        }
        self.events.pop_front()
    }

    /// The next request due at `now`.
    pub fn poll_request(&mut self, now: Instant) -> Option<Outgoing> {
        if matches!(self.phase, Phase::Closed | Phase::Failed | Phase::Idle) {
            return None;
        }
        let Some(coordinator) = self.link.coordinator() else {
            return self.link.poll_request(now, &self.identity);
        };
        let acknowledge = self.owned_changed && self.phase == Phase::Active;
        let due = acknowledge || self.send_full || now >= self.next_heartbeat;
        let leaving = matches!(self.phase, Phase::Leaving { .. });
        if self.heartbeat_in_flight.is_none()
            && (due || leaving)
            && self.backoff_until.is_none_or(|t| now >= t)
        {
            let id = self.link.next_id();
            self.heartbeat_in_flight = Some(id);
            self.next_heartbeat = now + self.heartbeat_interval;
            let request =
                GroupRequest::ConsumerGroupHeartbeat(self.heartbeat(leaving, acknowledge));
            if acknowledge {
                self.owned_changed = false;
            }
            return Some(Outgoing {
                id,
                target: Target::Coordinator(coordinator),
                request,
            });
        }
        self.link.poll_request(now, &self.identity)
    }

    fn heartbeat(&self, leaving: bool, acknowledge: bool) -> ConsumerHeartbeat {
        let full = self.send_full || self.identity.generation == JOIN_EPOCH;
        let member_epoch = match (leaving, self.settings.instance_id.is_some()) {
            (false, _) => self.identity.generation,
            (true, false) => LEAVE_EPOCH,
            (true, true) => STATIC_LEAVE_EPOCH,
        };
        let owned = (full || acknowledge).then(|| {
            let mut by_id: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
            for tp in self.owned.iter().chain(&self.revoking) {
                if let Some(id) = self.ids.get(&tp.topic) {
                    by_id.entry(*id).or_default().push(tp.partition);
                }
            }
            by_id.into_iter().collect()
        });
        ConsumerHeartbeat {
            group_id: self.settings.group_id.clone(),
            member_id: self.identity.member_id.clone(),
            member_epoch,
            instance_id: self.settings.instance_id.clone(),
            rack_id: if full {
                self.settings.rack.clone()
            } else {
                None
            },
            rebalance_timeout_ms: if full {
                millis(self.settings.max_poll_interval)
            } else {
                -1
            },
            subscribed_topic_names: full.then(|| {
                self.settings
                    .topics
                    .iter()
                    .map(|t| Arc::from(t.as_str()))
                    .collect()
            }),
            server_assignor: if full {
                self.settings.remote_assignor.clone()
            } else {
                None
            },
            topic_partitions: if leaving { None } else { owned },
        }
    }

    /// When the machine next needs attention.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut times = vec![
            self.link.poll_timeout(),
            self.backoff_until,
            self.leave_deadline,
        ];
        if self.heartbeat_in_flight.is_none()
            && !matches!(self.phase, Phase::Idle | Phase::Closed | Phase::Failed)
        {
            times.push(Some(self.next_heartbeat));
        }
        if self.phase == Phase::Active && self.identity.generation > JOIN_EPOCH {
            times.push(Some(self.last_poll + self.settings.max_poll_interval));
        }
        times.into_iter().flatten().min()
    }

    /// Advances timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.link.handle_timeout(now);
        if self.backoff_until.is_some_and(|t| now >= t) {
            self.backoff_until = None;
        }
        if self.phase == Phase::Active
            && self.identity.generation > JOIN_EPOCH
            && now >= self.last_poll + self.settings.max_poll_interval
        {
            self.events.push_back(GroupEvent::PollIntervalExceeded);
            self.lose_all();
            self.start_leaving(true, now);
        }
        if let (Some(deadline), Phase::Leaving { then_idle }) = (self.leave_deadline, self.phase) {
            if now >= deadline {
                self.finish_leaving(then_idle);
            }
        }
    }

    /// The answer to request `id`.
    pub fn handle_response(&mut self, id: RequestId, response: GroupResponse, now: Instant) {
        if self.link.owns(id) {
            match self.link.handle_response(id, response, now) {
                LinkSignal::None => {}
                LinkSignal::Group(code) => self.react(code, now),
                LinkSignal::Fatal(err) => self.fail(err),
            }
            return;
        }
        if self.heartbeat_in_flight != Some(id) {
            return;
        }
        self.heartbeat_in_flight = None;
        let GroupResponse::ConsumerGroupHeartbeat(result) = response else {
            return;
        };
        if let Phase::Leaving { then_idle } = self.phase {
            return self.finish_leaving(then_idle);
        }
        match result {
            Ok(ok) => self.on_heartbeat(ok, now),
            Err(code) => self.react(code, now),
        }
    }

    /// Request `id` failed in transit.
    pub fn handle_failure(&mut self, id: RequestId, now: Instant) {
        if self.link.owns(id) {
            return self.link.handle_failure(id, now);
        }
        if self.heartbeat_in_flight == Some(id) {
            self.heartbeat_in_flight = None;
            self.send_full = true;
            self.link.mark_dead(now, true);
            if let Phase::Leaving { then_idle } = self.phase {
                self.finish_leaving(then_idle);
            }
        }
    }

    fn on_heartbeat(&mut self, ok: ConsumerHeartbeatOk, now: Instant) {
        self.send_full = false;
        if let Some(member_id) = ok.member_id.filter(|m| !m.is_empty()) {
            self.identity.member_id = Arc::from(member_id);
        }
        self.identity.generation = ok.member_epoch;
        if ok.heartbeat_interval_ms > 0 {
            self.heartbeat_interval = Duration::from_millis(ok.heartbeat_interval_ms as u64);
            self.next_heartbeat = now + self.heartbeat_interval;
        }
        if let Some(target) = ok.assignment {
            self.target = Some(target);
            if self.phase == Phase::Active {
                self.reconcile();
            }
        }
    }

    /// Moves the owned partitions towards the target: revoke first, then assign.
    fn reconcile(&mut self) {
        let Some(target) = &self.target else {
            return;
        };
        let unknown: Vec<Uuid> = target
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| !self.names.contains_key(id))
            .collect();
        if !unknown.is_empty() {
            if self.names_requested.is_empty() {
                self.names_requested.extend(unknown.iter().copied());
                self.events.push_back(GroupEvent::NeedTopicNames(unknown));
            }
            return;
        }
        let wanted: BTreeSet<TopicPartition> = target
            .iter()
            .filter_map(|(id, partitions)| Some((self.names.get(id)?.clone(), partitions)))
            .flat_map(|(name, partitions)| {
                partitions
                    .iter()
                    .map(move |&p| TopicPartition::new(name.clone(), p))
            })
            .collect();
        let revoked: Vec<TopicPartition> = self.owned.difference(&wanted).cloned().collect();
        if !revoked.is_empty() {
            for tp in &revoked {
                self.owned.remove(tp);
            }
            self.revoking.clone_from(&revoked);
            self.events.push_back(GroupEvent::Revoke {
                partitions: revoked,
                lost: false,
            });
            self.phase = Phase::Revoking { then_leave: false };
            return;
        }
        let added: Vec<TopicPartition> = wanted.difference(&self.owned).cloned().collect();
        if !added.is_empty() {
            self.owned.extend(added.iter().cloned());
            self.owned_changed = true;
            self.events.push_back(GroupEvent::Assigned(added));
        }
    }

    fn react(&mut self, code: KafkaCode, now: Instant) {
        if matches!(self.phase, Phase::Closed | Phase::Failed) {
            return;
        }
        self.send_full = true;
        match code {
            c if c.needs_coordinator_refresh() => self.link.mark_dead(now, false),
            KafkaCode::CoordinatorLoadInProgress => {
                self.backoff_until = Some(now + self.settings.retry_backoff)
            }
            KafkaCode::FencedMemberEpoch | KafkaCode::UnknownMemberId => {
                self.lose_all();
                self.rejoin_fresh(now);
            }
            KafkaCode::UnsupportedVersion => self.fail(GroupError::ConsumerProtocolUnsupported),
            // A commit met a newer epoch: the next heartbeat brings it.
            KafkaCode::StaleMemberEpoch | KafkaCode::RebalanceInProgress => {}
            c if is_fatal_code(c) || !c.is_retriable() => self.fail(GroupError::Kafka(c)),
            _ => self.backoff_until = Some(now + self.settings.retry_backoff),
        }
    }

    fn rejoin_fresh(&mut self, now: Instant) {
        self.identity.generation = JOIN_EPOCH;
        self.target = None;
        self.send_full = true;
        self.next_heartbeat = now;
        self.leave_deadline = None;
        if !matches!(self.phase, Phase::Revoking { .. } | Phase::Leaving { .. }) {
            self.phase = Phase::Active;
        }
    }

    fn lose_all(&mut self) {
        self.revoking.clear();
        if !self.owned.is_empty() {
            let partitions = std::mem::take(&mut self.owned).into_iter().collect();
            self.events.push_back(GroupEvent::Revoke {
                partitions,
                lost: true,
            });
        }
        self.target = None;
    }

    fn start_leaving(&mut self, then_idle: bool, now: Instant) {
        if self.identity.generation == JOIN_EPOCH
            && self.heartbeat_in_flight.is_none()
            && self.target.is_none()
        {
            // Never joined: nothing to leave.
            return self.finish_leaving(then_idle);
        }
        self.phase = Phase::Leaving { then_idle };
        self.leave_deadline = Some(now + self.settings.op_timeout);
        self.heartbeat_in_flight = None;
    }

    fn finish_leaving(&mut self, then_idle: bool) {
        self.leave_deadline = None;
        self.identity.generation = JOIN_EPOCH;
        self.target = None;
        self.heartbeat_in_flight = None;
        if then_idle {
            self.phase = Phase::Idle;
        } else {
            self.phase = Phase::Closed;
            self.link.fail_all(&GroupError::Closed);
            self.events.push_back(GroupEvent::Closed);
        }
    }

    fn fail(&mut self, err: GroupError) {
        self.phase = Phase::Failed;
        self.link.fail_all(&err);
        self.events.push_back(GroupEvent::Fatal(err));
    }
}

#[cfg(test)]
#[path = "next_gen_tests.rs"]
mod tests;
