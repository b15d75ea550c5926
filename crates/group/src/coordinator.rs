//! What both group machines share: finding the group coordinator, and the offset
//! operations sent to it (OffsetCommit, OffsetFetch) with their retries.
//!
//! Retriable failures (the coordinator moved or is loading, a request failed in
//! transit, `UNSTABLE_OFFSET_COMMIT`) are retried after `retry.backoff.ms` until the
//! operation's deadline (`default.api.timeout.ms`); anything else ends the operation
//! with its error. Group errors found in commit responses (a rebalance, a stale
//! generation) are also handed to the owning machine as *signals*, so that it
//! rejoins wherever the news arrives.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flame_kafka_codec::KafkaCode;

use crate::error::{is_fatal_code, rejoin_resolves, GroupError};
use crate::requests::{GroupRequest, GroupResponse, Identity, Outgoing, Target};
use crate::{CommitOffset, NodeId, OpId, RequestId, TopicPartition};

/// Per-partition commit results: `None` is success.
pub type CommitResult = Result<Vec<(TopicPartition, Option<KafkaCode>)>, GroupError>;
/// Per-partition committed offsets (`None`: nothing committed) or that partition's error.
pub type FetchResult =
    Result<Vec<(TopicPartition, Result<Option<CommitOffset>, KafkaCode>)>, GroupError>;

/// The result of an offset operation.
#[derive(Debug, Clone, PartialEq)]
pub enum OpOutcome {
    /// A commit finished.
    Commit(OpId, CommitResult),
    /// A committed-offset lookup finished.
    Fetch(OpId, FetchResult),
}

#[derive(Debug)]
enum OpKind {
    Commit(Vec<(TopicPartition, CommitOffset)>),
    Fetch(Vec<TopicPartition>),
}

#[derive(Debug)]
struct Op {
    id: OpId,
    kind: OpKind,
    /// Fixed identity (classic commits: the generation they were made in), or the
    /// machine's current one at each attempt.
    identity: Option<Identity>,
    deadline: Instant,
    not_before: Instant,
    in_flight: Option<RequestId>,
    last_error: Option<KafkaCode>,
}

/// Coordinator discovery plus the offset operations queue.
#[derive(Debug)]
pub(crate) struct CoordinatorLink {
    pub(crate) group_id: Arc<str>,
    coordinator: Option<NodeId>,
    find_in_flight: Option<RequestId>,
    find_not_before: Option<Instant>,
    next_id: u64,
    ops: Vec<Op>,
    done: VecDeque<OpOutcome>,
    retry_backoff: Duration,
    op_timeout: Duration,
    /// Whether OffsetFetch carries the member id and epoch (KIP-848 groups check
    /// them; classic groups get none).
    member_fetch: bool,
}

/// What a response meant for the owning machine.
pub(crate) enum LinkSignal {
    /// Nothing for the machine to do.
    None,
    /// A group error arrived (in a commit): the machine reacts as for a heartbeat.
    Group(KafkaCode),
    /// FindCoordinator failed for good.
    Fatal(GroupError),
}

impl CoordinatorLink {
    pub(crate) fn new(
        group_id: Arc<str>,
        retry_backoff: Duration,
        op_timeout: Duration,
        member_fetch: bool,
    ) -> Self {
        CoordinatorLink {
            group_id,
            coordinator: None,
            find_in_flight: None,
            find_not_before: None,
            next_id: 0,
            ops: Vec::new(),
            done: VecDeque::new(),
            retry_backoff,
            op_timeout,
            member_fetch,
        }
    }

    pub(crate) fn next_id(&mut self) -> RequestId {
        self.next_id += 1;
        RequestId(self.next_id)
    }

    pub(crate) fn coordinator(&self) -> Option<NodeId> {
        self.coordinator
    }

    /// Forgets the coordinator (it moved or cannot be reached); the next poll looks
    /// it up again after `backoff`.
    pub(crate) fn mark_dead(&mut self, now: Instant, backoff: bool) {
        if self.coordinator.take().is_some() || backoff {
            self.find_not_before = backoff.then(|| now + self.retry_backoff);
        }
    }

    pub(crate) fn owns(&self, id: RequestId) -> bool {
        self.find_in_flight == Some(id) || self.ops.iter().any(|op| op.in_flight == Some(id))
    }

    /// Queues a commit. `identity` fixes who commits (None: whoever we are at send).
    pub(crate) fn commit(
        &mut self,
        offsets: Vec<(TopicPartition, CommitOffset)>,
        identity: Option<Identity>,
        now: Instant,
    ) -> OpId {
        self.push(OpKind::Commit(offsets), identity, now)
    }

    /// Queues a committed-offset lookup.
    pub(crate) fn fetch(&mut self, partitions: Vec<TopicPartition>, now: Instant) -> OpId {
        self.push(OpKind::Fetch(partitions), None, now)
    }

    fn push(&mut self, kind: OpKind, identity: Option<Identity>, now: Instant) -> OpId {
        let id = OpId(self.next_id().0);
        self.ops.push(Op {
            id,
            kind,
            identity,
            deadline: now + self.op_timeout,
            not_before: now,
            in_flight: None,
            last_error: None,
        });
        id
    }

    pub(crate) fn poll_done(&mut self) -> Option<OpOutcome> {
        self.done.pop_front()
    }

    /// The next FindCoordinator or offset request, if one is due.
    pub(crate) fn poll_request(&mut self, now: Instant, current: &Identity) -> Option<Outgoing> {
        let Some(coordinator) = self.coordinator else {
            if self.find_in_flight.is_some() || self.find_not_before.is_some_and(|t| now < t) {
                return None;
            }
            let id = self.next_id();
            self.find_in_flight = Some(id);
            return Some(Outgoing {
                id,
                target: Target::AnyBroker,
                request: GroupRequest::FindCoordinator {
                    group_id: self.group_id.clone(),
                },
            });
        };
        let index = self
            .ops
            .iter()
            .position(|op| op.in_flight.is_none() && op.not_before <= now)?;
        let id = self.next_id();
        let group_id = self.group_id.clone();
        let op = &mut self.ops[index];
        op.in_flight = Some(id);
        let identity = op.identity.clone().unwrap_or_else(|| current.clone());
        let request = match &op.kind {
            OpKind::Commit(offsets) => GroupRequest::OffsetCommit {
                group_id,
                identity,
                offsets: offsets.clone(),
            },
            OpKind::Fetch(partitions) => GroupRequest::OffsetFetch {
                group_id,
                identity: if self.member_fetch {
                    identity
                } else {
                    Identity {
                        generation: -1,
                        member_id: Arc::from(""),
                        instance_id: None,
                    }
                },
                partitions: partitions.clone(),
            },
        };
        Some(Outgoing {
            id,
            target: Target::Coordinator(coordinator),
            request,
        })
    }

    /// The earliest time something here becomes due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let find = if self.coordinator.is_none() && self.find_in_flight.is_none() {
            self.find_not_before
        } else {
            None
        };
        let ops = self
            .ops
            .iter()
            .filter(|op| op.in_flight.is_none())
            .map(|op| {
                if self.coordinator.is_some() {
                    op.not_before
                } else {
                    op.deadline
                }
            })
            .min();
        [find, ops].into_iter().flatten().min()
    }

    /// Ends operations whose deadline passed while they waited.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let (expired, kept): (Vec<Op>, Vec<Op>) = std::mem::take(&mut self.ops)
            .into_iter()
            .partition(|op| op.in_flight.is_none() && op.deadline <= now);
        self.ops = kept;
        for op in expired {
            let err = GroupError::Timeout {
                last: op.last_error,
            };
            self.finish(op, Err(err));
        }
    }

    /// Fails every queued operation (the machine closed or failed).
    pub(crate) fn fail_all(&mut self, err: &GroupError) {
        for op in std::mem::take(&mut self.ops) {
            self.finish(op, Err(err.clone()));
        }
    }

    fn finish(&mut self, op: Op, result: Result<GroupResponse, GroupError>) {
        let outcome = match (op.kind, result) {
            (OpKind::Commit(_), Ok(GroupResponse::OffsetCommit(list))) => {
                OpOutcome::Commit(op.id, Ok(list))
            }
            (OpKind::Fetch(_), Ok(GroupResponse::OffsetFetch(Ok(list)))) => {
                OpOutcome::Fetch(op.id, Ok(list))
            }
            (OpKind::Fetch(_), Ok(GroupResponse::OffsetFetch(Err(code)))) => {
                OpOutcome::Fetch(op.id, Err(GroupError::Kafka(code)))
            }
            (OpKind::Commit(_), Err(err)) => OpOutcome::Commit(op.id, Err(err)),
            (OpKind::Fetch(_), Err(err)) => OpOutcome::Fetch(op.id, Err(err)),
            (OpKind::Commit(_), Ok(_)) => {
                OpOutcome::Commit(op.id, Err(GroupError::Timeout { last: None }))
            }
            (OpKind::Fetch(_), Ok(_)) => {
                OpOutcome::Fetch(op.id, Err(GroupError::Timeout { last: None }))
            }
        };
        self.done.push_back(outcome);
    }

    /// Takes the answer to a request this link sent (see [`Self::owns`]).
    pub(crate) fn handle_response(
        &mut self,
        id: RequestId,
        response: GroupResponse,
        now: Instant,
    ) -> LinkSignal {
        if self.find_in_flight == Some(id) {
            self.find_in_flight = None;
            return match response {
                GroupResponse::FindCoordinator(Ok(node)) => {
                    self.coordinator = Some(node);
                    self.find_not_before = None;
                    LinkSignal::None
                }
                GroupResponse::FindCoordinator(Err(code)) if is_fatal_code(code) => {
                    LinkSignal::Fatal(GroupError::Kafka(code))
                }
                _ => {
                    self.find_not_before = Some(now + self.retry_backoff);
                    LinkSignal::None
                }
            };
        }
        let Some(index) = self.ops.iter().position(|op| op.in_flight == Some(id)) else {
            return LinkSignal::None;
        };
        let code = first_error(&response);
        let retry = code.filter(|&c| {
            c.needs_coordinator_refresh()
                || matches!(
                    c,
                    KafkaCode::CoordinatorLoadInProgress
                        | KafkaCode::UnstableOffsetCommit
                        | KafkaCode::RequestTimedOut
                        | KafkaCode::NetworkException
                        | KafkaCode::StaleMemberEpoch
                )
        });
        if let Some(code) = retry {
            if code.needs_coordinator_refresh() {
                self.mark_dead(now, false);
            }
            let op = &mut self.ops[index];
            op.in_flight = None;
            op.last_error = Some(code);
            op.not_before = now + self.retry_backoff;
            if op.deadline <= now {
                let op = self.ops.remove(index);
                self.finish(op, Err(GroupError::Timeout { last: Some(code) }));
            }
            return LinkSignal::None;
        }
        let op = self.ops.remove(index);
        self.finish(op, Ok(response));
        match code {
            Some(code) if rejoin_resolves(code) || is_fatal_code(code) => LinkSignal::Group(code),
            _ => LinkSignal::None,
        }
    }

    /// A request this link sent failed in transit (or its connection broke).
    pub(crate) fn handle_failure(&mut self, id: RequestId, now: Instant) {
        if self.find_in_flight == Some(id) {
            self.find_in_flight = None;
            self.find_not_before = Some(now + self.retry_backoff);
            return;
        }
        if let Some(index) = self.ops.iter().position(|op| op.in_flight == Some(id)) {
            self.mark_dead(now, true);
            let op = &mut self.ops[index];
            op.in_flight = None;
            op.not_before = now + self.retry_backoff;
            if op.deadline <= now {
                let op = self.ops.remove(index);
                let last = op.last_error;
                self.finish(op, Err(GroupError::Timeout { last }));
            }
        }
    }
}

/// The first error in an offset response (the group-level one, else any partition's).
fn first_error(response: &GroupResponse) -> Option<KafkaCode> {
    match response {
        GroupResponse::OffsetCommit(list) => list.iter().find_map(|(_, code)| *code),
        GroupResponse::OffsetFetch(Err(code)) => Some(*code),
        GroupResponse::OffsetFetch(Ok(list)) => {
            list.iter().find_map(|(_, r)| r.as_ref().err().copied())
        }
        _ => None,
    }
}
