//! One interface over the two group machines, for the driver.

use std::collections::BTreeMap;
use std::time::Instant;

use uuid::Uuid;

use crate::machine::{GroupEvent, GroupMachine};
use crate::next_gen::ConsumerGroupMachine;
use crate::requests::{GroupResponse, Outgoing};
use crate::{CommitOffset, OpId, RequestId, TopicPartition};

/// The classic or the next-generation machine.
#[derive(Debug)]
pub(crate) enum Membership {
    Classic(GroupMachine),
    Consumer(ConsumerGroupMachine),
}

macro_rules! both {
    ($self:ident, $m:ident => $e:expr) => {
        match $self {
            Membership::Classic($m) => $e,
            Membership::Consumer($m) => $e,
        }
    };
}

impl Membership {
    pub(crate) fn commit(
        &mut self,
        offsets: Vec<(TopicPartition, CommitOffset)>,
        now: Instant,
    ) -> OpId {
        both!(self, m => m.commit(offsets, now))
    }

    pub(crate) fn fetch_committed(
        &mut self,
        partitions: Vec<TopicPartition>,
        now: Instant,
    ) -> OpId {
        both!(self, m => m.fetch_committed(partitions, now))
    }

    pub(crate) fn revoke_done(&mut self, now: Instant) {
        both!(self, m => m.revoke_done(now))
    }

    pub(crate) fn application_polled(&mut self, now: Instant) {
        both!(self, m => m.application_polled(now))
    }

    pub(crate) fn close(&mut self, now: Instant) {
        both!(self, m => m.close(now))
    }

    pub(crate) fn poll_event(&mut self) -> Option<GroupEvent> {
        both!(self, m => m.poll_event())
    }

    pub(crate) fn poll_request(&mut self, now: Instant) -> Option<Outgoing> {
        both!(self, m => m.poll_request(now))
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        both!(self, m => m.poll_timeout())
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        both!(self, m => m.handle_timeout(now))
    }

    pub(crate) fn handle_response(&mut self, id: RequestId, response: GroupResponse, now: Instant) {
        both!(self, m => m.handle_response(id, response, now))
    }

    pub(crate) fn handle_failure(&mut self, id: RequestId, now: Instant) {
        both!(self, m => m.handle_failure(id, now))
    }

    pub(crate) fn handle_partition_counts(&mut self, counts: BTreeMap<String, i32>, now: Instant) {
        if let Membership::Classic(m) = self {
            m.handle_partition_counts(counts, now);
        }
    }

    pub(crate) fn check_partition_counts(&mut self, counts: &BTreeMap<String, i32>, now: Instant) {
        if let Membership::Classic(m) = self {
            m.check_partition_counts(counts, now);
        }
    }

    pub(crate) fn handle_topic_names(&mut self, names: BTreeMap<Uuid, String>) {
        if let Membership::Consumer(m) = self {
            m.handle_topic_names(names);
        }
    }

    /// Whether this member leads a classic group (and so watches partition counts).
    pub(crate) fn is_leader(&self) -> bool {
        matches!(self, Membership::Classic(m) if m.is_leader())
    }

    pub(crate) fn assignment(&self) -> Vec<TopicPartition> {
        both!(self, m => m.assignment().iter().cloned().collect())
    }
}
