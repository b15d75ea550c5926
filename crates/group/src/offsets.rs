//! Which offsets may be committed: per partition, the lowest offset the application
//! has not finished.
//!
//! Records handed to the application are *in flight* until it marks them done
//! (`mark_done`). The committable offset of a partition is the smallest in-flight
//! offset, or — with nothing in flight — the offset after the last record delivered.
//! So however records are processed (concurrently, out of order), a commit never
//! passes a record that is not finished: at-least-once.
//!
//! The tracker also says which records the application still holds
//! ([`held`](OffsetTracker::held)): a revocation hands a partition over to another
//! member only once none are left. Records still held when their partition is
//! revoked anyway (the hand-over timed out, or the partitions were lost) become
//! *orphans*: their late `mark_done` is absorbed, so that it cannot finish a later
//! delivery of the same offset should the partition come back.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::{CommitOffset, TopicPartition};

#[derive(Debug, Default)]
struct PartitionOffsets {
    /// Delivered, not yet finished: offset → leader epoch. Holds commits back.
    in_flight: BTreeMap<i64, i32>,
    /// Delivered and counted as finished at once (`enable.auto.offset.store`), but
    /// possibly still being processed until marked done (or the next poll).
    stored: BTreeSet<i64>,
    /// The offset after the last delivered record, and that record's leader epoch.
    delivered: Option<CommitOffset>,
    /// The offset known to be committed (fetched, or acknowledged by a commit).
    committed: Option<i64>,
}

impl PartitionOffsets {
    fn finished(&self) -> Option<CommitOffset> {
        match self.in_flight.iter().next() {
            // Never past the delivered mark: after a rewind (log truncation),
            // records of the lost log may still be in flight beyond it.
            Some((&offset, _)) if self.delivered.is_some_and(|d| d.offset < offset) => {
                self.delivered
            }
            Some((&offset, &leader_epoch)) => Some(CommitOffset {
                offset,
                leader_epoch,
            }),
            None => self.delivered,
        }
    }
}

/// Per-partition delivery and commit bookkeeping for the assigned partitions.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<TopicPartition, PartitionOffsets>,
    /// Records of revoked partitions still held when revoked: offset → how many
    /// `mark_done` calls for it are still to come (and to be ignored).
    orphans: HashMap<TopicPartition, BTreeMap<i64, u32>>,
}

impl OffsetTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts tracking `tp` (newly assigned); `committed` is what the group has
    /// committed for it, if known.
    pub fn assign(&mut self, tp: TopicPartition, committed: Option<i64>) {
        self.partitions.insert(
            tp,
            PartitionOffsets {
                committed,
                ..PartitionOffsets::default()
            },
        );
    }

    /// Records the committed offset learned after assignment (OffsetFetch).
    pub fn set_committed(&mut self, tp: &TopicPartition, committed: Option<i64>) {
        if let Some(p) = self.partitions.get_mut(tp) {
            p.committed = committed;
        }
    }

    /// Whether `tp` is tracked (assigned).
    pub fn contains(&self, tp: &TopicPartition) -> bool {
        self.partitions.contains_key(tp)
    }

    /// A record was handed to the application. With `finished` it counts as done at
    /// once for commits (`enable.auto.offset.store=true`); otherwise it stays in
    /// flight until [`mark_done`](Self::mark_done). Either way it is
    /// [`held`](Self::held) until marked done.
    pub fn delivered(
        &mut self,
        tp: &TopicPartition,
        offset: i64,
        leader_epoch: i32,
        finished: bool,
    ) {
        let Some(p) = self.partitions.get_mut(tp) else {
            return;
        };
        if finished {
            p.stored.insert(offset);
        } else {
            p.in_flight.insert(offset, leader_epoch);
        }
        let next = CommitOffset {
            offset: offset.saturating_add(1),
            leader_epoch,
        };
        if p.delivered.is_none_or(|d| d.offset < next.offset) {
            p.delivered = Some(next);
        }
    }

    /// A record delivered in flight was handed to the application with
    /// `enable.auto.offset.store`: it counts as finished for commits from now on,
    /// and stays [`held`](Self::held) until marked done. Returns false if it is not
    /// in flight.
    pub fn store(&mut self, tp: &TopicPartition, offset: i64) -> bool {
        let Some(p) = self.partitions.get_mut(tp) else {
            return false;
        };
        if p.in_flight.remove(&offset).is_none() {
            return false;
        }
        p.stored.insert(offset);
        true
    }

    /// A record handed out never reached the application (it was withdrawn before
    /// any poll returned it) and will be delivered again, or not at all: forget it,
    /// and move the delivered mark back.
    pub fn undeliver(&mut self, tp: &TopicPartition, offset: i64, leader_epoch: i32) {
        let Some(p) = self.partitions.get_mut(tp) else {
            return;
        };
        p.in_flight.remove(&offset);
        p.stored.remove(&offset);
        if p.delivered.is_some_and(|d| d.offset > offset) {
            p.delivered = (offset > 0).then_some(CommitOffset {
                offset,
                leader_epoch,
            });
        }
    }

    /// The partition's log was truncated at `offset` (KIP-320: the fetcher moved its
    /// position back there, with `leader_epoch`): records from `offset` on that were
    /// delivered belong to a log that no longer exists, so neither they nor an
    /// earlier commit past `offset` hold the commit position up; the next commit
    /// names the records read from the new log. Records still in flight stay
    /// [`held`](Self::held) until marked done.
    pub fn rewind(&mut self, tp: &TopicPartition, offset: i64, leader_epoch: i32) {
        let Some(p) = self.partitions.get_mut(tp) else {
            return;
        };
        if p.delivered.is_some_and(|d| d.offset >= offset) {
            p.delivered = Some(CommitOffset {
                offset,
                leader_epoch,
            });
        }
        if p.committed.is_some_and(|c| c > offset) {
            p.committed = Some(offset);
        }
    }

    /// The application finished the record at `offset`. Returns false if that record
    /// is not held (already marked, or its partition was revoked since: then the
    /// mark is absorbed, even if the partition was assigned again and the same
    /// offset delivered anew, whose own mark is still to come).
    pub fn mark_done(&mut self, tp: &TopicPartition, offset: i64) -> bool {
        if let Some(orphans) = self.orphans.get_mut(tp) {
            if let Some(count) = orphans.get_mut(&offset) {
                *count -= 1;
                if *count == 0 {
                    orphans.remove(&offset);
                    if orphans.is_empty() {
                        self.orphans.remove(tp);
                    }
                }
                return false;
            }
        }
        self.partitions.get_mut(tp).is_some_and(|p| {
            let unfinished = p.in_flight.remove(&offset).is_some();
            p.stored.remove(&offset) || unfinished
        })
    }

    /// The offset that may be committed for `tp` now, if anything was delivered.
    pub fn finished(&self, tp: &TopicPartition) -> Option<CommitOffset> {
        self.partitions.get(tp).and_then(PartitionOffsets::finished)
    }

    /// Every partition whose finished offset is ahead of its committed one. Only
    /// tracked (assigned, or being handed over) partitions: never one revoked.
    pub fn to_commit(&self) -> Vec<(TopicPartition, CommitOffset)> {
        let mut out: Vec<(TopicPartition, CommitOffset)> = self
            .partitions
            .iter()
            .filter_map(|(tp, p)| {
                let finished = p.finished()?;
                (p.committed.is_none_or(|c| c < finished.offset)).then(|| (tp.clone(), finished))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// A commit of `offset` for `tp` succeeded.
    pub fn committed(&mut self, tp: &TopicPartition, offset: i64) {
        if let Some(p) = self.partitions.get_mut(tp) {
            if p.committed.is_none_or(|c| c < offset) {
                p.committed = Some(offset);
            }
        }
    }

    /// Stops tracking `tp`; returns what may still be committed for it (the
    /// commit-on-revoke), if that is ahead of the committed offset. Records still
    /// held become orphans (see the module docs).
    pub fn revoke(&mut self, tp: &TopicPartition) -> Option<CommitOffset> {
        let p = self.partitions.remove(tp)?;
        let held: Vec<i64> = p
            .in_flight
            .keys()
            .copied()
            .chain(p.stored.iter().copied())
            .collect();
        if !held.is_empty() {
            let orphans = self.orphans.entry(tp.clone()).or_default();
            for offset in held {
                *orphans.entry(offset).or_default() += 1;
            }
        }
        let finished = p.finished()?;
        p.committed
            .is_none_or(|c| c < finished.offset)
            .then_some(finished)
    }

    /// How many records are delivered and not finished, over all partitions.
    pub fn in_flight(&self) -> usize {
        self.partitions.values().map(|p| p.in_flight.len()).sum()
    }

    /// How many records of `tp` the application holds: handed out and not marked
    /// done (finished for commits or not).
    pub fn held(&self, tp: &TopicPartition) -> usize {
        self.partitions
            .get(tp)
            .map_or(0, |p| p.in_flight.len() + p.stored.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    #[test]
    fn commits_stop_at_the_lowest_unfinished_offset() {
        let mut t = OffsetTracker::new();
        t.assign(tp(), Some(10));
        assert_eq!(t.to_commit(), vec![]);
        for offset in 10..15 {
            t.delivered(&tp(), offset, 3, false);
        }
        assert_eq!(
            t.finished(&tp()),
            Some(CommitOffset {
                offset: 10,
                leader_epoch: 3
            })
        );
        assert_eq!(
            t.to_commit(),
            vec![],
            "nothing finished beyond the committed 10"
        );
        assert!(t.mark_done(&tp(), 12));
        assert!(t.mark_done(&tp(), 10));
        assert_eq!(t.finished(&tp()).unwrap().offset, 11);
        assert!(t.mark_done(&tp(), 11));
        assert_eq!(t.finished(&tp()).unwrap().offset, 13);
        assert!(!t.mark_done(&tp(), 11), "twice is a no-op");
        t.mark_done(&tp(), 13);
        t.mark_done(&tp(), 14);
        assert_eq!(
            t.to_commit(),
            vec![(
                tp(),
                CommitOffset {
                    offset: 15,
                    leader_epoch: 3
                }
            )]
        );
        t.committed(&tp(), 15);
        assert_eq!(t.to_commit(), vec![]);
    }

    #[test]
    fn auto_store_counts_delivery_as_done() {
        let mut t = OffsetTracker::new();
        t.assign(tp(), None);
        t.delivered(&tp(), 0, 0, true);
        t.delivered(&tp(), 5, 1, true);
        assert_eq!(
            t.to_commit(),
            vec![(
                tp(),
                CommitOffset {
                    offset: 6,
                    leader_epoch: 1
                }
            )]
        );
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn revoke_returns_the_final_commit_and_forgets() {
        let mut t = OffsetTracker::new();
        t.assign(tp(), None);
        t.delivered(&tp(), 7, 0, false);
        t.delivered(&tp(), 8, 0, false);
        t.mark_done(&tp(), 7);
        assert_eq!(
            t.revoke(&tp()),
            Some(CommitOffset {
                offset: 8,
                leader_epoch: 0
            })
        );
        assert!(!t.mark_done(&tp(), 8), "revoked partitions are forgotten");
        assert_eq!(t.revoke(&tp()), None);
    }

    #[test]
    fn undelivered_records_hold_the_commit_back() {
        let mut t = OffsetTracker::new();
        t.assign(tp(), Some(0));
        for o in 0..5 {
            t.delivered(&tp(), o, 0, false);
        }
        t.mark_done(&tp(), 0);
        t.mark_done(&tp(), 1);
        for o in 2..5 {
            t.undeliver(&tp(), o, 0);
        }
        assert_eq!(t.finished(&tp()).unwrap().offset, 2);
    }

    #[test]
    fn held_counts_records_until_marked_done_whatever_commits_think() {
        let mut t = OffsetTracker::new();
        t.assign(tp(), Some(0));
        t.delivered(&tp(), 0, 0, false);
        t.delivered(&tp(), 1, 0, true); // enable.auto.offset.store
        assert_eq!(t.held(&tp()), 2);
        assert_eq!(t.in_flight(), 1, "only the unstored one holds commits back");
        assert!(
            t.mark_done(&tp(), 1),
            "a stored record is released by mark_done"
        );
        t.delivered(&tp(), 2, 0, false);
        assert_eq!(t.finished(&tp()).unwrap().offset, 0);
        assert!(t.store(&tp(), 2), "handed out with auto store");
        assert!(!t.store(&tp(), 2));
        assert_eq!(t.held(&tp()), 2);
        t.mark_done(&tp(), 2);
        assert_eq!(t.held(&tp()), 1);
        assert!(t.mark_done(&tp(), 0));
        assert_eq!(t.held(&tp()), 0);
        assert_eq!(t.held(&TopicPartition::new("other", 0)), 0);
    }

    #[test]
    fn withdrawn_records_are_not_held_and_not_committed() {
        let mut t = OffsetTracker::new();
        t.assign(tp(), Some(0));
        for o in 0..4 {
            t.delivered(&tp(), o, 0, false);
        }
        t.mark_done(&tp(), 0);
        // 2 and 3 never reached the application (the revocation withdrew them).
        t.undeliver(&tp(), 3, 0);
        t.undeliver(&tp(), 2, 0);
        assert_eq!(t.held(&tp()), 1, "offset 1 is still being worked on");
        t.mark_done(&tp(), 1);
        assert_eq!(t.held(&tp()), 0);
        assert_eq!(
            t.revoke(&tp()),
            Some(CommitOffset {
                offset: 2,
                leader_epoch: 0
            }),
            "the hand-over commits up to the first withdrawn record"
        );
    }

    /// A record still held when its partition is revoked (the hand-over gave up
    /// waiting) is finished late: that must not commit anything for a partition
    /// no longer ours, nor finish a new delivery of the same offset once the
    /// partition comes back.
    #[test]
    fn a_late_mark_after_revocation_finishes_nothing() {
        let mut t = OffsetTracker::new();
        t.assign(tp(), Some(5));
        t.delivered(&tp(), 5, 0, false);
        t.delivered(&tp(), 6, 0, false);
        t.mark_done(&tp(), 6);
        assert_eq!(t.revoke(&tp()), None, "nothing finished past 5");
        assert_eq!(
            t.to_commit(),
            vec![],
            "a revoked partition is never committed"
        );
        // The partition comes back and 5 is delivered anew (6 too).
        t.assign(tp(), Some(5));
        t.delivered(&tp(), 5, 0, false);
        t.delivered(&tp(), 6, 0, false);
        assert!(
            !t.mark_done(&tp(), 5),
            "the old delivery's mark is absorbed"
        );
        t.mark_done(&tp(), 6);
        assert_eq!(t.finished(&tp()).unwrap().offset, 5, "the new 5 still runs");
        assert!(t.mark_done(&tp(), 5), "the new delivery's own mark");
        assert_eq!(t.finished(&tp()).unwrap().offset, 7);
        assert!(!t.mark_done(&tp(), 5));
        // A late mark for a partition not assigned again changes nothing either.
        let other = TopicPartition::new("t", 1);
        t.assign(other.clone(), None);
        t.delivered(&other, 0, 0, false);
        t.revoke(&other);
        assert!(!t.mark_done(&other, 0));
        assert!(!t.contains(&other));
        assert_eq!(t.to_commit().len(), 1);
    }

    proptest! {
        /// Whatever order records finish in, the committable offset never passes
        /// an unfinished record, and reaches the end once all are finished.
        #[test]
        fn never_commits_past_unfinished(order in Just((0..40i64).collect::<Vec<_>>()).prop_shuffle(), gaps in proptest::collection::vec(0..3i64, 40)) {
            let offsets: Vec<i64> = gaps.iter().scan(0, |o, g| { *o += 1 + g; Some(*o) }).collect();
            let mut t = OffsetTracker::new();
            t.assign(tp(), None);
            for &o in &offsets { t.delivered(&tp(), o, 0, false); }
            let mut done = std::collections::BTreeSet::new();
            for &i in &order {
                let o = offsets[i as usize];
                t.mark_done(&tp(), o);
                done.insert(o);
                let c = t.finished(&tp()).unwrap().offset;
                for &x in &offsets {
                    if x < c { prop_assert!(done.contains(&x), "commit {} passes unfinished {}", c, x); }
                }
            }
            prop_assert_eq!(t.finished(&tp()).unwrap().offset, offsets[39] + 1);
        }
    }

    #[test]
    fn a_rewind_moves_the_commit_position_back_to_the_new_log() {
        let mut t = OffsetTracker::new();
        t.assign(tp(), Some(0));
        // Offsets 0..15 of epoch 0 delivered, all but 12 finished; 15 committed.
        for offset in 0..15 {
            t.delivered(&tp(), offset, 0, false);
        }
        for offset in (0..15).filter(|&o| o != 12) {
            t.mark_done(&tp(), offset);
        }
        t.committed(&tp(), 15);
        // The new leader's log diverges from offset 5 on.
        t.rewind(&tp(), 5, 0);
        assert_eq!(t.finished(&tp()).unwrap().offset, 5);
        for offset in 5..8 {
            t.delivered(&tp(), offset, 1, false);
            t.mark_done(&tp(), offset);
        }
        let eight = CommitOffset {
            offset: 8,
            leader_epoch: 1,
        };
        assert_eq!(
            t.to_commit(),
            vec![(tp(), eight)],
            "8 is committed although 15 was before, and 12 of the lost log is in flight"
        );
        assert_eq!(t.held(&tp()), 1);
        assert!(t.mark_done(&tp(), 12));
        assert_eq!(t.finished(&tp()), Some(eight));
    }
}
