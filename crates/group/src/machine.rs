//! The classic group protocol (`group.protocol=classic`) as a sans-IO state machine.
//!
//! FindCoordinator → JoinGroup (again with the member id the broker hands out on
//! `MEMBER_ID_REQUIRED`) → the leader assigns → SyncGroup → stable, with Heartbeat
//! every `heartbeat.interval.ms`. The machine owns no sockets and no clock: the
//! driver feeds it answers ([`GroupMachine::handle_response`],
//! [`GroupMachine::handle_failure`]) and the time ([`GroupMachine::handle_timeout`]),
//! and drains requests ([`GroupMachine::poll_request`]), events
//! ([`GroupMachine::poll_event`]) and its next deadline
//! ([`GroupMachine::poll_timeout`]).
//!
//! Revocation is a hand-shake: [`GroupEvent::Revoke`] asks the driver to stop
//! fetching those partitions and (unless they were lost) commit what the application
//! finished, then call [`GroupMachine::revoke_done`]; only then does the machine
//! rejoin or leave. Eager strategies revoke everything before every rejoin;
//! cooperative ones revoke only what the new assignment takes away, then rejoin once.
//!
//! Errors are handled wherever they arrive (heartbeat, join, sync, commit): the
//! coordinator moved → look it up again; loading → back off; rebalance → rejoin;
//! unknown member / stale generation → partitions are lost, rejoin afresh; a fenced
//! static member, missing permissions or bad configuration → [`GroupEvent::Fatal`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use flame_kafka_codec::KafkaCode;

use crate::assignor::{rebalance_protocol_of, MemberSubscription, RebalanceProtocol, Strategy};
use crate::coordinator::{CoordinatorLink, LinkSignal, OpOutcome};
use crate::error::{is_fatal_code, GroupError};
pub(crate) use crate::events::millis;
pub use crate::events::{GroupEvent, GroupSettings, GroupState};
use crate::protocol::{Assignment, Subscription};
use crate::requests::{GroupRequest, GroupResponse, Identity, JoinOutcome, Outgoing, Target};
use crate::{CommitOffset, NodeId, OpId, RequestId, TopicPartition};

#[derive(Debug)]
enum Phase {
    Joining {
        sent: Option<RequestId>,
        reason: &'static str,
    },
    AwaitingCounts {
        strategy: Strategy,
        members: Vec<MemberSubscription>,
    },
    Syncing {
        sent: Option<RequestId>,
        protocol: String,
        assignments: Vec<(String, Bytes)>,
    },
    Stable,
    Revoking {
        then_leave: bool,
        reason: &'static str,
    },
    Leaving {
        sent: Option<RequestId>,
        then_idle: bool,
        deadline: Instant,
    },
    Idle,
    Closed,
    Failed,
}

/// The classic group membership machine. See the module docs.
#[derive(Debug)]
pub struct GroupMachine {
    settings: GroupSettings,
    link: CoordinatorLink,
    phase: Phase,
    protocol: RebalanceProtocol,
    identity: Identity,
    leader: bool,
    owned: BTreeSet<TopicPartition>,
    /// Partition counts the leader assigned from (to notice changes).
    assigned_counts: Option<BTreeMap<String, i32>>,
    backoff_until: Option<Instant>,
    heartbeat_in_flight: Option<(RequestId, i32)>,
    next_heartbeat: Instant,
    last_heartbeat_ok: Instant,
    last_poll: Instant,
    /// The coordinator the heartbeat timers were last reset for.
    seen_coordinator: Option<NodeId>,
    events: VecDeque<GroupEvent>,
}

impl GroupMachine {
    /// A machine that starts joining at once.
    pub fn new(mut settings: GroupSettings, now: Instant) -> Self {
        settings.topics.sort();
        settings.topics.dedup();
        if settings.strategies.is_empty() {
            settings.strategies = vec![Strategy::Range, Strategy::CooperativeSticky];
        }
        let link = CoordinatorLink::new(
            settings.group_id.clone(),
            settings.retry_backoff,
            settings.op_timeout,
            false,
        );
        GroupMachine {
            protocol: rebalance_protocol_of(&settings.strategies),
            identity: Identity {
                generation: -1,
                member_id: Arc::from(""),
                instance_id: settings.instance_id.clone(),
            },
            settings,
            link,
            phase: Phase::Joining {
                sent: None,
                reason: "joining",
            },
            leader: false,
            owned: BTreeSet::new(),
            assigned_counts: None,
            backoff_until: None,
            heartbeat_in_flight: None,
            next_heartbeat: now,
            last_heartbeat_ok: now,
            last_poll: now,
            seen_coordinator: None,
            events: VecDeque::new(),
        }
    }

    // ------------------------------------------------------------ getters

    /// Where the membership stands.
    pub fn state(&self) -> GroupState {
        match self.phase {
            Phase::Joining { .. } => GroupState::Joining,
            Phase::AwaitingCounts { .. } | Phase::Syncing { .. } => GroupState::Syncing,
            Phase::Stable => GroupState::Stable,
            Phase::Revoking { .. } => GroupState::Revoking,
            Phase::Leaving { .. } => GroupState::Leaving,
            Phase::Idle => GroupState::Idle,
            Phase::Closed => GroupState::Closed,
            Phase::Failed => GroupState::Failed,
        }
    }

    /// Our generation, member id and instance id.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Whether we lead the current generation.
    pub fn is_leader(&self) -> bool {
        self.leader
    }

    /// The partitions currently assigned to this member.
    pub fn assignment(&self) -> &BTreeSet<TopicPartition> {
        &self.owned
    }

    /// Eager or cooperative, from the configured strategies.
    pub fn rebalance_protocol(&self) -> RebalanceProtocol {
        self.protocol
    }

    // ------------------------------------------------------------ commands

    /// Commits `offsets` under the current generation. The result arrives as
    /// [`GroupEvent::CommitDone`].
    pub fn commit(&mut self, offsets: Vec<(TopicPartition, CommitOffset)>, now: Instant) -> OpId {
        let identity = self.identity.clone();
        let id = self.link.commit(offsets, Some(identity), now);
        self.fail_ops_if_finished();
        id
    }

    /// Looks up committed offsets; the result arrives as [`GroupEvent::OffsetsFetched`].
    pub fn fetch_committed(&mut self, partitions: Vec<TopicPartition>, now: Instant) -> OpId {
        let id = self.link.fetch(partitions, now);
        self.fail_ops_if_finished();
        id
    }

    fn fail_ops_if_finished(&mut self) {
        if matches!(self.phase, Phase::Closed | Phase::Failed) {
            self.link.fail_all(&GroupError::Closed);
            self.drain_link();
        }
    }

    /// The driver finished the revocation asked for by [`GroupEvent::Revoke`].
    pub fn revoke_done(&mut self, now: Instant) {
        if let Phase::Revoking { then_leave, reason } = self.phase {
            if then_leave {
                self.start_leaving(false, now);
            } else {
                self.phase = Phase::Joining { sent: None, reason };
            }
        }
    }

    /// The application polled (or is waiting in poll): it is alive. Rejoins after
    /// [`GroupEvent::PollIntervalExceeded`].
    pub fn application_polled(&mut self, now: Instant) {
        self.last_poll = now;
        if matches!(self.phase, Phase::Idle) {
            self.phase = Phase::Joining {
                sent: None,
                reason: "application polled again",
            };
        }
    }

    /// (Leader) The partition counts asked for by [`GroupEvent::NeedPartitionCounts`];
    /// topics missing from `counts` do not exist. Ignored unless an assignment is
    /// pending.
    pub fn handle_partition_counts(&mut self, counts: BTreeMap<String, i32>, _now: Instant) {
        let Phase::AwaitingCounts { strategy, members } = &self.phase else {
            return;
        };
        let strategy = *strategy;
        let assignment = strategy.assign(members, &counts);
        let mut encoded = Vec::with_capacity(assignment.len());
        for (member, partitions) in assignment {
            let a = Assignment {
                partitions,
                user_data: None,
            };
            match a.encode(crate::protocol::SUBSCRIPTION_VERSION) {
                Ok(bytes) => encoded.push((member, bytes)),
                Err(err) => return self.fail(err.into()),
            }
        }
        self.assigned_counts = Some(counts);
        self.phase = Phase::Syncing {
            sent: None,
            protocol: strategy.name().to_owned(),
            assignments: encoded,
        };
    }

    /// (Stable leader) Current partition counts of some subscribed topics: if one
    /// differs from what the last assignment was computed from (partitions were
    /// added, or a topic appeared), the group rebalances.
    pub fn check_partition_counts(&mut self, counts: &BTreeMap<String, i32>, now: Instant) {
        if !self.leader || !matches!(self.phase, Phase::Stable) {
            return;
        }
        let changed = self.assigned_counts.as_ref().is_some_and(|old| {
            counts
                .iter()
                .any(|(topic, n)| old.get(topic).is_none_or(|m| m != n))
        });
        if changed {
            self.start_rejoin("partition count changed", now);
        }
    }

    /// Rejoins the group (e.g. the subscription's metadata changed).
    pub fn rejoin(&mut self, reason: &'static str, now: Instant) {
        if matches!(self.phase, Phase::Stable) {
            self.start_rejoin(reason, now);
        }
    }

    /// Leaves the group: revoke (with a commit) what is owned, then LeaveGroup
    /// (dynamic members; a static member just stops, so that its restart keeps its
    /// partitions). Ends with [`GroupEvent::Closed`].
    pub fn close(&mut self, now: Instant) {
        match self.phase {
            Phase::Closed
            | Phase::Failed
            | Phase::Leaving {
                then_idle: false, ..
            } => {}
            Phase::Revoking { .. } => {
                if let Phase::Revoking { then_leave, .. } = &mut self.phase {
                    *then_leave = true;
                }
                // (Cooperative) What we keep is revoked too, so that it is
                // committed before we leave.
                if !self.owned.is_empty() {
                    let partitions = std::mem::take(&mut self.owned).into_iter().collect();
                    self.events.push_back(GroupEvent::Revoke {
                        partitions,
                        lost: false,
                    });
                }
            }
            _ if !self.owned.is_empty() => {
                let partitions = std::mem::take(&mut self.owned).into_iter().collect();
                self.events.push_back(GroupEvent::Revoke {
                    partitions,
                    lost: false,
                });
                self.phase = Phase::Revoking {
                    then_leave: true,
                    reason: "closing",
                };
            }
            _ => self.start_leaving(false, now),
        }
    }

    // ------------------------------------------------------------ outputs

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<GroupEvent> {
        self.drain_link();
        self.events.pop_front()
    }

    /// The next request to send, if one is due at `now`. Call until `None`.
    pub fn poll_request(&mut self, now: Instant) -> Option<Outgoing> {
        if matches!(self.phase, Phase::Closed | Phase::Failed) {
            return None;
        }
        self.sync_coordinator(now);
        let coordinator = match self.link.coordinator() {
            Some(node) => node,
            None => return self.link.poll_request(now, &self.identity),
        };
        let target = Target::Coordinator(coordinator);
        let backing_off = self.backoff_until.is_some_and(|t| now < t);
        let group_id = self.settings.group_id.clone();
        if !backing_off {
            if let Some(request) = self.membership_request(group_id.clone()) {
                let id = self.link.next_id();
                match &mut self.phase {
                    Phase::Joining { sent, .. }
                    | Phase::Syncing { sent, .. }
                    | Phase::Leaving { sent, .. } => *sent = Some(id),
                    _ => {}
                }
                return Some(Outgoing {
                    id,
                    target,
                    request,
                });
            }
        }
        if self.heartbeats_active()
            && self.heartbeat_in_flight.is_none()
            && now >= self.next_heartbeat
        {
            let id = self.link.next_id();
            self.heartbeat_in_flight = Some((id, self.identity.generation));
            self.next_heartbeat = now + self.settings.heartbeat_interval;
            let identity = self.identity.clone();
            return Some(Outgoing {
                id,
                target,
                request: GroupRequest::Heartbeat { group_id, identity },
            });
        }
        self.link.poll_request(now, &self.identity)
    }

    fn membership_request(&self, group_id: Arc<str>) -> Option<GroupRequest> {
        let identity = self.identity.clone();
        match &self.phase {
            Phase::Joining { sent: None, reason } => Some(GroupRequest::JoinGroup {
                group_id,
                identity,
                session_timeout_ms: millis(self.settings.session_timeout),
                rebalance_timeout_ms: millis(self.settings.max_poll_interval),
                protocols: self.protocols(),
                reason,
            }),
            Phase::Syncing {
                sent: None,
                protocol,
                assignments,
            } => Some(GroupRequest::SyncGroup {
                group_id,
                identity,
                protocol_name: protocol.clone(),
                assignments: assignments.clone(),
            }),
            Phase::Leaving { sent: None, .. } => Some(GroupRequest::LeaveGroup {
                group_id,
                identity,
                reason: "the consumer is closing",
            }),
            _ => None,
        }
    }

    /// The subscription for each configured strategy.
    fn protocols(&self) -> Vec<(String, Bytes)> {
        let cooperative = self.protocol == RebalanceProtocol::Cooperative;
        let subscription = Subscription {
            topics: self.settings.topics.clone(),
            user_data: None,
            owned_partitions: if cooperative {
                self.owned.iter().cloned().collect()
            } else {
                Vec::new()
            },
            generation: self.identity.generation,
            rack: self.settings.rack.as_deref().map(str::to_owned),
        };
        // Encoding fails only for strings over 32 KiB, which topic names cannot be.
        let metadata = subscription.encode().unwrap_or_default();
        self.settings
            .strategies
            .iter()
            .map(|s| (s.name().to_owned(), metadata.clone()))
            .collect()
    }

    /// When the machine next needs [`handle_timeout`](Self::handle_timeout) or
    /// [`poll_request`](Self::poll_request).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut times = vec![self.link.poll_timeout(), self.backoff_until];
        if self.heartbeats_active() {
            if self.heartbeat_in_flight.is_none() {
                times.push(Some(self.next_heartbeat));
            }
            times.push(Some(self.last_heartbeat_ok + self.settings.session_timeout));
        }
        if matches!(self.phase, Phase::Stable) {
            times.push(Some(self.last_poll + self.settings.max_poll_interval));
        }
        if let Phase::Leaving { deadline, .. } = self.phase {
            times.push(Some(deadline));
        }
        times.into_iter().flatten().min()
    }

    // ------------------------------------------------------------ inputs

    /// Advances timers: session expiry, `max.poll.interval.ms`, operation deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.sync_coordinator(now);
        self.link.handle_timeout(now);
        if self.backoff_until.is_some_and(|t| now >= t) {
            self.backoff_until = None;
        }
        if self.heartbeats_active() && now >= self.last_heartbeat_ok + self.settings.session_timeout
        {
            // No heartbeat got through for a whole session: the coordinator is gone
            // (or we were evicted, which the next heartbeat will say).
            self.link.mark_dead(now, false);
            self.last_heartbeat_ok = now;
        }
        if matches!(self.phase, Phase::Stable)
            && now >= self.last_poll + self.settings.max_poll_interval
        {
            self.events.push_back(GroupEvent::PollIntervalExceeded);
            self.lose_all();
            if self.settings.instance_id.is_some() {
                // A static member stays registered until its session times out.
                self.phase = Phase::Idle;
            } else {
                self.start_leaving(true, now);
            }
        }
        if let Phase::Leaving {
            deadline,
            then_idle,
            ..
        } = self.phase
        {
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
        if self.heartbeat_in_flight.is_some_and(|(hb, _)| hb == id) {
            let generation = self.heartbeat_in_flight.take().map_or(-1, |(_, g)| g);
            if let GroupResponse::Heartbeat(result) = response {
                match result {
                    Ok(()) => self.last_heartbeat_ok = now,
                    Err(_) if generation != self.identity.generation => {} // stale
                    Err(code) => {
                        if code == KafkaCode::RebalanceInProgress {
                            // The coordinator knows us and renewed our session; it
                            // only asks us to rejoin (which waits while revoking).
                            self.last_heartbeat_ok = now;
                        }
                        self.react(code, now)
                    }
                }
            }
            return;
        }
        match (&self.phase, response) {
            (Phase::Joining { sent: Some(s), .. }, GroupResponse::JoinGroup(join)) if *s == id => {
                self.on_join(join, now)
            }
            (Phase::Syncing { sent: Some(s), .. }, GroupResponse::SyncGroup(sync)) if *s == id => {
                match sync {
                    Ok((_, bytes)) => self.on_assignment(&bytes, now),
                    Err(code) => self.react(code, now),
                }
            }
            (
                Phase::Leaving {
                    sent: Some(s),
                    then_idle,
                    ..
                },
                GroupResponse::LeaveGroup(_),
            ) if *s == id => {
                let then_idle = *then_idle;
                self.finish_leaving(then_idle);
            }
            _ => {} // stale: a phase we already left
        }
    }

    /// Request `id` failed in transit (connection lost, timed out).
    pub fn handle_failure(&mut self, id: RequestId, now: Instant) {
        if self.link.owns(id) {
            return self.link.handle_failure(id, now);
        }
        if self.heartbeat_in_flight.is_some_and(|(hb, _)| hb == id) {
            self.heartbeat_in_flight = None;
            self.link.mark_dead(now, true);
            return;
        }
        match &mut self.phase {
            Phase::Leaving {
                sent: Some(s),
                then_idle,
                ..
            } if *s == id => {
                let then_idle = *then_idle;
                self.finish_leaving(then_idle);
            }
            Phase::Joining { sent, .. } | Phase::Syncing { sent, .. } if *sent == Some(id) => {
                *sent = None;
                self.link.mark_dead(now, true);
            }
            _ => {}
        }
    }
}

#[path = "machine_internals.rs"]
mod internals;

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
