//! The classic machine's transitions: reacting to join, sync and error answers.

use super::*;

impl GroupMachine {
    pub(super) fn on_join(&mut self, join: JoinOutcome, now: Instant) {
        match join.error {
            None => {}
            Some(KafkaCode::MemberIdRequired) => {
                self.identity.member_id = Arc::from(join.member_id.as_str());
                self.phase = Phase::Joining {
                    sent: None,
                    reason: "member id required",
                };
                return;
            }
            // The JoinGroup itself was turned away: send it again.
            Some(KafkaCode::RebalanceInProgress) => return self.unsend(),
            Some(code) => return self.react(code, now),
        }
        self.identity.member_id = Arc::from(join.member_id.as_str());
        self.identity.generation = join.generation;
        self.leader = join.leader == join.member_id;
        let name = join.protocol_name.unwrap_or_default();
        let Some(strategy) = Strategy::from_name(&name) else {
            return self.fail(GroupError::UnsupportedAssignor(name));
        };
        if !self.leader || join.skip_assignment {
            self.phase = Phase::Syncing {
                sent: None,
                protocol: name,
                assignments: Vec::new(),
            };
            return;
        }
        let members: Vec<MemberSubscription> = join
            .members
            .into_iter()
            .map(
                |(member_id, group_instance_id, metadata)| MemberSubscription {
                    member_id,
                    group_instance_id,
                    // A member whose subscription cannot be read is assigned nothing.
                    subscription: Subscription::decode(&metadata).unwrap_or_default(),
                },
            )
            .collect();
        let topics: BTreeSet<String> = members
            .iter()
            .flat_map(|m| m.subscription.topics.iter().cloned())
            .collect();
        self.events.push_back(GroupEvent::NeedPartitionCounts(
            topics.into_iter().collect(),
        ));
        self.phase = Phase::AwaitingCounts { strategy, members };
    }

    pub(super) fn on_assignment(&mut self, bytes: &[u8], now: Instant) {
        let assignment = match Assignment::decode(bytes) {
            Ok(a) => a,
            Err(err) => return self.fail(err.into()),
        };
        let new: BTreeSet<TopicPartition> = assignment.partitions.into_iter().collect();
        let revoked: Vec<TopicPartition> = self.owned.difference(&new).cloned().collect();
        let added: Vec<TopicPartition> = new.difference(&self.owned).cloned().collect();
        self.owned = new;
        self.phase = Phase::Stable;
        self.heartbeat_in_flight = None;
        self.next_heartbeat = now + self.settings.heartbeat_interval;
        self.last_heartbeat_ok = now;
        if !added.is_empty() {
            self.events.push_back(GroupEvent::Assigned(added));
        }
        if !revoked.is_empty() {
            // Cooperative: hand these over, then rejoin so their new owner gets them.
            self.events.push_back(GroupEvent::Revoke {
                partitions: revoked,
                lost: false,
            });
            self.phase = Phase::Revoking {
                then_leave: false,
                reason: "revoked partitions",
            };
        }
    }

    /// Reacts to a group error code from any response.
    pub(super) fn react(&mut self, code: KafkaCode, now: Instant) {
        if matches!(self.phase, Phase::Closed | Phase::Failed) {
            return;
        }
        match code {
            c if c.needs_coordinator_refresh() => {
                self.link.mark_dead(now, false);
                self.unsend();
            }
            KafkaCode::CoordinatorLoadInProgress => self.back_off(now),
            KafkaCode::RebalanceInProgress => match self.phase {
                // Already rejoining: the news came from a heartbeat or commit sent
                // before the rejoin started, and answered after the JoinGroup went
                // out. A second JoinGroup would only wait behind the first (held
                // for the whole rebalance) and then start yet another rebalance.
                Phase::Joining { .. } => {}
                Phase::Stable | Phase::AwaitingCounts { .. } | Phase::Syncing { .. } => {
                    self.start_rejoin("rebalance in progress", now)
                }
                _ => {}
            },
            KafkaCode::UnknownMemberId | KafkaCode::IllegalGeneration => {
                if code == KafkaCode::UnknownMemberId {
                    self.identity.member_id = Arc::from("");
                }
                self.identity.generation = -1;
                self.lose_all();
                match self.phase {
                    Phase::Leaving { then_idle, .. } => self.finish_leaving(then_idle),
                    Phase::Revoking { .. } | Phase::Idle => {}
                    _ => {
                        self.phase = Phase::Joining {
                            sent: None,
                            reason: "member reset",
                        }
                    }
                }
            }
            c if is_fatal_code(c) || !c.is_retriable() => self.fail(GroupError::Kafka(c)),
            _ => self.back_off(now),
        }
    }

    pub(super) fn back_off(&mut self, now: Instant) {
        self.backoff_until = Some(now + self.settings.retry_backoff);
        self.unsend();
    }

    /// Marks the membership request in flight as not sent, so it goes out again.
    pub(super) fn unsend(&mut self) {
        match &mut self.phase {
            Phase::Joining { sent, .. }
            | Phase::Syncing { sent, .. }
            | Phase::Leaving { sent, .. } => *sent = None,
            _ => {}
        }
    }

    pub(super) fn start_rejoin(&mut self, reason: &'static str, _now: Instant) {
        if self.protocol == RebalanceProtocol::Eager && !self.owned.is_empty() {
            let partitions = std::mem::take(&mut self.owned).into_iter().collect();
            self.events.push_back(GroupEvent::Revoke {
                partitions,
                lost: false,
            });
            self.phase = Phase::Revoking {
                then_leave: false,
                reason,
            };
        } else {
            self.phase = Phase::Joining { sent: None, reason };
        }
    }

    pub(super) fn lose_all(&mut self) {
        if !self.owned.is_empty() {
            let partitions = std::mem::take(&mut self.owned).into_iter().collect();
            self.events.push_back(GroupEvent::Revoke {
                partitions,
                lost: true,
            });
        }
    }

    pub(super) fn start_leaving(&mut self, then_idle: bool, now: Instant) {
        if self.identity.member_id.is_empty() || self.settings.instance_id.is_some() {
            return self.finish_leaving(then_idle);
        }
        let deadline = now + self.settings.op_timeout.min(self.settings.session_timeout);
        self.phase = Phase::Leaving {
            sent: None,
            then_idle,
            deadline,
        };
    }

    pub(super) fn finish_leaving(&mut self, then_idle: bool) {
        self.identity.generation = -1;
        self.identity.member_id = Arc::from("");
        self.heartbeat_in_flight = None;
        self.leader = false;
        if then_idle {
            self.phase = Phase::Idle;
        } else {
            self.phase = Phase::Closed;
            self.link.fail_all(&GroupError::Closed);
            self.events.push_back(GroupEvent::Closed);
        }
    }

    pub(super) fn fail(&mut self, err: GroupError) {
        self.phase = Phase::Failed;
        self.link.fail_all(&err);
        self.events.push_back(GroupEvent::Fatal(err));
    }

    /// A newly found coordinator gets a full session before we give up on it, and
    /// a heartbeat at once.
    pub(super) fn sync_coordinator(&mut self, now: Instant) {
        let current = self.link.coordinator();
        if current != self.seen_coordinator {
            self.seen_coordinator = current;
            if current.is_some() {
                // An answer to a heartbeat sent to the old one no longer matters.
                self.heartbeat_in_flight = None;
                self.last_heartbeat_ok = now;
                self.next_heartbeat = now;
            }
        }
    }

    pub(super) fn heartbeats_active(&self) -> bool {
        matches!(self.phase, Phase::Stable | Phase::Revoking { .. })
            && self.identity.generation >= 0
            && self.link.coordinator().is_some()
    }

    pub(super) fn drain_link(&mut self) {
        while let Some(done) = self.link.poll_done() {
            self.events.push_back(match done {
                OpOutcome::Commit(id, result) => GroupEvent::CommitDone(id, result),
                OpOutcome::Fetch(id, result) => GroupEvent::OffsetsFetched(id, result),
            });
        }
    }
}
