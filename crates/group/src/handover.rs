//! Handing revoked partitions over to their next owner.
//!
//! A revocation ([`GroupEvent::Revoke`](crate::GroupEvent::Revoke), not lost)
//! withdraws the records of those partitions that the application has not been
//! handed yet (the fetcher's buffer and the [`Ready`] queue), then waits
//! ([`Handover`]) until the application has finished every record it *was* handed
//! from them ([`OffsetTracker::held`]); only then does the driver commit and tell
//! the group machine (`revoke_done`), which lets the coordinator give the
//! partitions to another member. So two members never process the same records at
//! the same time, as with the Java client and librdkafka, whose (eager) rebalance
//! completes only once the application polls again.
//!
//! The wait is bounded by the rebalance timeout ([`limit`]): the coordinator
//! evicts a member that takes longer to rejoin. Heartbeats go on meanwhile (the
//! machines keep heartbeating while revoking).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{ConsumedRecord, OffsetTracker, TopicPartition};

/// How long a revocation may wait for the application: the rebalance timeout
/// (`max.poll.interval.ms`) less two heartbeat intervals (the coordinator's timer
/// started before our heartbeat told us of the rebalance; the commit and the
/// JoinGroup take time too), and at least half the rebalance timeout.
pub(crate) fn limit(max_poll_interval: Duration, heartbeat_interval: Duration) -> Duration {
    let margin = heartbeat_interval
        .saturating_mul(2)
        .min(max_poll_interval / 2);
    max_poll_interval.saturating_sub(margin)
}

/// Where a hand-over stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The application still holds records of the partitions.
    Wait,
    /// Nothing is held: hand over.
    Finished,
    /// Records are still held, but the time is up: hand over anyway.
    TimedOut {
        /// How many records are still held.
        held: usize,
    },
}

/// A revocation waiting for the application to finish the revoked partitions'
/// records.
#[derive(Debug)]
pub(crate) struct Handover {
    partitions: Vec<TopicPartition>,
    started: Instant,
    deadline: Instant,
}

impl Handover {
    /// Starts waiting at `now`, for at most `limit`.
    pub(crate) fn new(partitions: Vec<TopicPartition>, now: Instant, limit: Duration) -> Self {
        Handover {
            partitions,
            started: now,
            deadline: now + limit,
        }
    }

    /// More partitions to hand over, within the same time.
    pub(crate) fn add(&mut self, partitions: Vec<TopicPartition>) {
        for tp in partitions {
            if !self.partitions.contains(&tp) {
                self.partitions.push(tp);
            }
        }
    }

    /// The revoked partitions.
    pub(crate) fn partitions(&self) -> &[TopicPartition] {
        &self.partitions
    }

    /// When the wait ends at the latest.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// How long it has waited at `now`.
    pub(crate) fn waited(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }

    /// Whether the partitions may be handed over at `now`.
    pub(crate) fn check(&self, offsets: &OffsetTracker, now: Instant) -> Verdict {
        let held: usize = self.partitions.iter().map(|tp| offsets.held(tp)).sum();
        if held == 0 {
            Verdict::Finished
        } else if now >= self.deadline {
            Verdict::TimedOut { held }
        } else {
            Verdict::Wait
        }
    }
}

/// Records the driver has taken from the fetcher for the consumer handle, not yet
/// returned by a poll call: shared between the two, so that a revocation can
/// withdraw them ([`Ready::withdraw`]) before any poll hands them out.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ready(Arc<Mutex<VecDeque<ConsumedRecord>>>);

impl Ready {
    fn lock(&self) -> MutexGuard<'_, VecDeque<ConsumedRecord>> {
        // Never held across an await or a panic point: a poisoned mutex still
        // holds a consistent queue.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether no record is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Appends records (in fetch order).
    pub(crate) fn extend(&self, records: Vec<ConsumedRecord>) {
        self.lock().extend(records);
    }

    /// Takes up to `max` records from the front.
    pub(crate) fn take(&self, max: usize) -> Vec<ConsumedRecord> {
        let mut queue = self.lock();
        let n = queue.len().min(max);
        queue.drain(..n).collect()
    }

    /// Takes the record at the front, if any.
    pub(crate) fn take_one(&self) -> Option<ConsumedRecord> {
        self.lock().pop_front()
    }

    /// Removes and returns the records of `partitions`, in queue order; the others
    /// keep their order.
    pub(crate) fn withdraw(&self, partitions: &[TopicPartition]) -> Vec<ConsumedRecord> {
        let partitions: HashSet<(&str, i32)> = partitions
            .iter()
            .map(|tp| (&*tp.topic, tp.partition))
            .collect();
        let mut queue = self.lock();
        let mut withdrawn = Vec::new();
        let mut kept = VecDeque::with_capacity(queue.len());
        for record in queue.drain(..) {
            if partitions.contains(&(&*record.topic, record.partition)) {
                withdrawn.push(record);
            } else {
                kept.push_back(record);
            }
        }
        *queue = kept;
        withdrawn
    }

    /// Takes `tp`'s records at `offset` and after out of the queue (its log was
    /// truncated there), keeping the order of the rest.
    pub(crate) fn withdraw_from(&self, tp: &TopicPartition, offset: i64) -> Vec<ConsumedRecord> {
        let mut queue = self.lock();
        let mut withdrawn = Vec::new();
        let mut kept = VecDeque::with_capacity(queue.len());
        for record in queue.drain(..) {
            if *record.topic == *tp.topic
                && record.partition == tp.partition
                && record.offset >= offset
            {
                withdrawn.push(record);
            } else {
                kept.push_back(record);
            }
        }
        *queue = kept;
        withdrawn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    fn record(p: i32, offset: i64) -> ConsumedRecord {
        ConsumedRecord {
            topic: Arc::from("t"),
            partition: p,
            offset,
            leader_epoch: 0,
            timestamp: 0,
            key: None,
            value: None,
            headers: Vec::new(),
        }
    }

    #[test]
    fn the_limit_leaves_time_to_rejoin_within_the_rebalance_timeout() {
        let ms = Duration::from_millis;
        assert_eq!(limit(ms(300_000), ms(3_000)), ms(294_000));
        assert_eq!(limit(ms(6_000), ms(500)), ms(5_000));
        assert_eq!(limit(ms(4_000), ms(3_000)), ms(2_000), "at least half");
        assert_eq!(limit(ms(0), ms(3_000)), ms(0));
    }

    #[test]
    fn waits_until_every_held_record_is_done() {
        let now = Instant::now();
        let mut offsets = OffsetTracker::new();
        for p in 0..3 {
            offsets.assign(tp(p), None);
            offsets.delivered(&tp(p), 0, 0, false);
            offsets.delivered(&tp(p), 1, 0, true);
        }
        let handover = Handover::new(vec![tp(0), tp(1)], now, Duration::from_secs(10));
        assert_eq!(handover.check(&offsets, now), Verdict::Wait);
        for offset in 0..2 {
            offsets.mark_done(&tp(0), offset);
        }
        offsets.mark_done(&tp(1), 0);
        assert_eq!(
            handover.check(&offsets, now + Duration::from_secs(9)),
            Verdict::Wait,
            "a record counted finished for commits (auto store) is still held"
        );
        offsets.mark_done(&tp(1), 1);
        assert_eq!(
            handover.check(&offsets, now + Duration::from_secs(9)),
            Verdict::Finished,
            "partition 2 is not being revoked"
        );
    }

    #[test]
    fn gives_up_at_the_deadline() {
        let now = Instant::now();
        let mut offsets = OffsetTracker::new();
        offsets.assign(tp(0), None);
        offsets.delivered(&tp(0), 7, 0, false);
        let handover = Handover::new(vec![tp(0)], now, Duration::from_secs(5));
        assert_eq!(handover.deadline(), now + Duration::from_secs(5));
        assert_eq!(
            handover.check(&offsets, now + Duration::from_millis(4_999)),
            Verdict::Wait
        );
        let late = now + Duration::from_secs(5);
        assert_eq!(
            handover.check(&offsets, late),
            Verdict::TimedOut { held: 1 }
        );
        assert_eq!(handover.waited(late), Duration::from_secs(5));
    }

    #[test]
    fn nothing_held_hands_over_at_once() {
        let now = Instant::now();
        let offsets = OffsetTracker::new();
        let handover = Handover::new(vec![tp(0)], now, Duration::ZERO);
        assert_eq!(handover.check(&offsets, now), Verdict::Finished);
    }

    #[test]
    fn withdraw_from_takes_a_truncated_partitions_records_from_the_offset_on() {
        let ready = Ready::default();
        ready.extend(vec![record(0, 4), record(1, 6), record(0, 5), record(0, 6)]);
        let withdrawn = ready.withdraw_from(&tp(0), 5);
        let ids = |rs: &[ConsumedRecord]| -> Vec<(i32, i64)> {
            rs.iter().map(|r| (r.partition, r.offset)).collect()
        };
        assert_eq!(ids(&withdrawn), vec![(0, 5), (0, 6)]);
        assert_eq!(ids(&ready.take(10)), vec![(0, 4), (1, 6)]);
    }

    #[test]
    fn withdraw_takes_the_revoked_partitions_records_and_keeps_the_order() {
        let ready = Ready::default();
        ready.extend(vec![record(0, 1), record(1, 1), record(0, 2), record(2, 5)]);
        ready.extend(vec![record(1, 2)]);
        let withdrawn = ready.withdraw(&[tp(1), tp(2)]);
        let ids = |rs: &[ConsumedRecord]| -> Vec<(i32, i64)> {
            rs.iter().map(|r| (r.partition, r.offset)).collect()
        };
        assert_eq!(ids(&withdrawn), vec![(1, 1), (2, 5), (1, 2)]);
        assert!(!ready.is_empty());
        assert_eq!(ids(&ready.take(10)), vec![(0, 1), (0, 2)]);
        assert!(ready.is_empty());
        assert!(ready.withdraw(&[tp(0)]).is_empty());
    }

    #[test]
    fn take_returns_at_most_max_from_the_front() {
        let ready = Ready::default();
        ready.extend((0..5).map(|o| record(0, o)).collect());
        assert_eq!(ready.take(2).len(), 2);
        assert_eq!(ready.take(0).len(), 0);
        assert_eq!(ready.take(10)[0].offset, 2);
        assert!(ready.take_one().is_none());
        ready.extend((5..7).map(|o| record(0, o)).collect());
        assert_eq!(ready.take_one().map(|r| r.offset), Some(5));
        assert_eq!(ready.take(10).len(), 1);
    }
}
