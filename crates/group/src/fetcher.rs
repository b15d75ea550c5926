//! Fetching, sans-IO: where each assigned partition reads from, which Fetch and
//! ListOffsets requests to send, and the buffer of fetched records.
//!
//! - A newly assigned partition waits for its committed offset
//!   ([`Fetcher::set_committed`]); without one — or after `OFFSET_OUT_OF_RANGE` —
//!   `auto.offset.reset` decides: ListOffsets for the earliest or latest offset, or
//!   an error for the application.
//! - At most one Fetch is in flight per leader broker, and it is sent while the
//!   application works on earlier records (prefetch), as long as fewer than
//!   `queued.max.messages.kbytes` are buffered in all. A partition is fetched again
//!   while fewer than two `max.partition.fetch.bytes` of its records are buffered
//!   (its prefetch threshold), so its next records arrive before these run out.
//! - A partition at or above its threshold is held back, and so is the Fetch to
//!   its leader until it drains below: a Fetch naming only caught-up partitions
//!   would be parked by the broker for `fetch.wait.max.ms`, and the held-back
//!   partition could not be fetched again meanwhile (one Fetch per broker). Its
//!   buffered records are handed out first anyway, so the others lose nothing.
//! - Leadership errors (`NOT_LEADER_OR_FOLLOWER`, `FENCED_LEADER_EPOCH`, ...) park
//!   the partition until the driver refreshes metadata ([`Fetcher::needs_metadata`],
//!   [`Fetcher::metadata_refreshed`]).
//! - Log truncation (KIP-320): every Fetch names, per partition, the leader epoch
//!   of the last batch read before its position (the committed offset's epoch at
//!   first; -1 when unknown, as after a ListOffsets reset or a seek). A leader whose
//!   log diverged from that (an unclean leader election) answers where the last
//!   common epoch ends; if that is below the position, the position moves back to
//!   it (buffered records from there on are dropped) with a warning, or, under
//!   `auto.offset.reset=error`, the partition stops with
//!   [`FetchError::LogTruncation`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use flame_kafka_codec::record_batch::DecodeLimits;
use flame_kafka_codec::KafkaCode;

use crate::records::{decode_partition, ConsumedRecord};
use crate::{NodeId, RequestId, TopicPartition};

pub use crate::fetch_types::{
    DivergingEpoch, FetchError, FetchOutgoing, FetchPartitionPlan, FetchSettings, FetchedPartition,
    Isolation, OffsetReset,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    AwaitingCommitted,
    NeedsReset,
    Resetting,
    Ready(i64),
    Stopped,
}

#[derive(Debug)]
struct PartState {
    /// Bumped whenever the position is set from outside (assign, seek), so answers
    /// to requests made before are recognised as stale.
    instance: u64,
    position: Position,
    /// The partition leader epoch of the last batch read before the position
    /// (-1: unknown), sent as `last_fetched_epoch` (KIP-320).
    last_epoch: i32,
    in_flight: bool,
    /// Bytes of this partition's records buffered and not yet handed out.
    buffered: usize,
    /// Parked until the driver refreshes metadata.
    awaiting_metadata: bool,
    retry_at: Option<Instant>,
    /// The replica the leader named to read from (KIP-392), until when.
    read_replica: Option<(NodeId, Instant)>,
}

#[derive(Debug)]
struct InFlight {
    node: NodeId,
    /// (partition, instance, offset requested)
    partitions: Vec<(TopicPartition, u64, i64)>,
    list_offsets: bool,
}

#[derive(Debug)]
struct Chunk {
    tp: TopicPartition,
    instance: u64,
    records: VecDeque<ConsumedRecord>,
}

/// See the module docs.
#[derive(Debug)]
pub struct Fetcher {
    settings: FetchSettings,
    limits: DecodeLimits,
    partitions: BTreeMap<TopicPartition, PartState>,
    in_flight: HashMap<RequestId, InFlight>,
    buffer: VecDeque<Chunk>,
    buffered_bytes: usize,
    errors: VecDeque<FetchError>,
    /// Positions moved back by a log truncation, for [`Fetcher::poll_rewind`].
    rewinds: VecDeque<(TopicPartition, i64, i32)>,
    next_id: u64,
    next_instance: u64,
    rotation: usize,
}

impl Fetcher {
    /// A fetcher with nothing assigned.
    pub fn new(settings: FetchSettings) -> Self {
        let limits = DecodeLimits {
            verify_crc: settings.check_crcs,
            ..DecodeLimits::default()
        };
        Fetcher {
            settings,
            limits,
            partitions: BTreeMap::new(),
            in_flight: HashMap::new(),
            buffer: VecDeque::new(),
            buffered_bytes: 0,
            errors: VecDeque::new(),
            rewinds: VecDeque::new(),
            next_id: 0,
            next_instance: 0,
            rotation: 0,
        }
    }

    // ------------------------------------------------------------ commands

    /// Starts a partition; it waits for [`set_committed`](Self::set_committed).
    pub fn assign(&mut self, tp: TopicPartition) {
        self.set_position(tp, Position::AwaitingCommitted);
    }

    /// The committed offset of an assigned partition: read from there, or apply
    /// `auto.offset.reset` when there is none (`None` or negative). Its leader
    /// epoch is unknown; see [`set_committed_with_epoch`](Self::set_committed_with_epoch).
    pub fn set_committed(&mut self, tp: &TopicPartition, committed: Option<i64>) {
        self.set_committed_with_epoch(tp, committed, -1);
    }

    /// Like [`set_committed`](Self::set_committed), with the leader epoch the
    /// commit carries (OffsetFetch's `committed_leader_epoch`, -1 if none): the
    /// first Fetch names it as `last_fetched_epoch`, so a log truncated below the
    /// committed offset is detected (KIP-320).
    pub fn set_committed_with_epoch(
        &mut self,
        tp: &TopicPartition,
        committed: Option<i64>,
        leader_epoch: i32,
    ) {
        if self
            .partitions
            .get(tp)
            .is_some_and(|p| p.position == Position::AwaitingCommitted)
        {
            match committed.filter(|&o| o >= 0) {
                Some(offset) => {
                    self.set_position(tp.clone(), Position::Ready(offset));
                    if let Some(p) = self.partitions.get_mut(tp) {
                        p.last_epoch = leader_epoch.max(-1);
                    }
                }
                None => {
                    self.set_position(tp.clone(), Position::NeedsReset);
                    self.reset(tp, -1);
                }
            }
        }
    }

    /// Moves an assigned partition's position, dropping what was fetched before.
    /// The leader epoch of the records before `offset` is unknown, so no log
    /// truncation below it is detected.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) {
        if self.partitions.contains_key(tp) {
            self.set_position(tp.clone(), Position::Ready(offset));
        }
    }

    /// The leader epoch of the last batch fetched before the position (-1:
    /// unknown), as the next Fetch names it.
    pub fn last_fetched_epoch(&self, tp: &TopicPartition) -> Option<i32> {
        Some(self.partitions.get(tp)?.last_epoch)
    }

    fn set_position(&mut self, tp: TopicPartition, position: Position) {
        self.next_instance += 1;
        self.drop_buffered(&tp);
        self.partitions.insert(
            tp,
            PartState {
                instance: self.next_instance,
                position,
                last_epoch: -1,
                in_flight: false,
                buffered: 0,
                awaiting_metadata: false,
                retry_at: None,
                read_replica: None,
            },
        );
    }

    /// Stops a partition and drops its buffered records.
    pub fn revoke(&mut self, tp: &TopicPartition) {
        self.partitions.remove(tp);
        self.drop_buffered(tp);
    }

    fn drop_buffered(&mut self, tp: &TopicPartition) {
        let mut freed = 0;
        self.buffer.retain(|chunk| {
            let keep = &chunk.tp != tp;
            if !keep {
                freed += chunk
                    .records
                    .iter()
                    .map(ConsumedRecord::size)
                    .sum::<usize>();
            }
            keep
        });
        self.buffered_bytes -= freed.min(self.buffered_bytes);
    }

    /// Drops `tp`'s buffered records at `offset` and after (keeping those before).
    fn drop_buffered_from(&mut self, tp: &TopicPartition, offset: i64) {
        let mut freed = 0;
        for chunk in self.buffer.iter_mut().filter(|c| &c.tp == tp) {
            chunk.records.retain(|r| {
                let keep = r.offset < offset;
                if !keep {
                    freed += r.size();
                }
                keep
            });
        }
        self.buffer.retain(|chunk| !chunk.records.is_empty());
        self.buffered_bytes -= freed.min(self.buffered_bytes);
        if let Some(p) = self.partitions.get_mut(tp) {
            p.buffered -= freed.min(p.buffered);
        }
    }

    /// Whether a partition waits for a metadata refresh (its leader moved).
    pub fn needs_metadata(&self) -> bool {
        self.partitions.values().any(|p| p.awaiting_metadata)
    }

    /// Metadata was refreshed: parked partitions may fetch again.
    pub fn metadata_refreshed(&mut self) {
        for p in self.partitions.values_mut() {
            p.awaiting_metadata = false;
        }
    }

    /// The position (next offset to fetch) of `tp`, once known.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        match self.partitions.get(tp)?.position {
            Position::Ready(offset) => Some(offset),
            _ => None,
        }
    }

    /// Bytes of records buffered and not yet handed out.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    /// A partition with this many bytes buffered (or more) is not fetched again
    /// until it drains below: two `max.partition.fetch.bytes`, so that one more
    /// fetch's worth arrives before the application runs out.
    fn prefetch_bytes(&self) -> usize {
        usize::try_from(self.settings.partition_max_bytes.max(1))
            .unwrap_or(usize::MAX)
            .saturating_mul(2)
    }

    // ------------------------------------------------------------ outputs

    /// Requests due at `now`. `leader` gives a partition's leader and leader epoch
    /// from the current metadata (partitions without one are parked until
    /// [`metadata_refreshed`](Self::metadata_refreshed)).
    ///
    /// A partition is fetched while fewer than its prefetch threshold of bytes are
    /// buffered (and fewer than `queued.max.messages.kbytes` in all); no Fetch goes
    /// to a broker while one of its partitions is held back at the threshold (see
    /// the module docs).
    pub fn poll_requests(
        &mut self,
        now: Instant,
        leader: impl Fn(&TopicPartition) -> Option<(NodeId, i32)>,
    ) -> Vec<FetchOutgoing> {
        let busy: Vec<NodeId> = self
            .in_flight
            .values()
            .filter(|f| !f.list_offsets)
            .map(|f| f.node)
            .collect();
        let room = self.buffered_bytes < self.settings.max_buffered_bytes;
        let prefetch = self.prefetch_bytes();
        // Brokers leading a partition held back for its buffered records.
        let mut held: BTreeSet<NodeId> = BTreeSet::new();
        let mut fetches: BTreeMap<NodeId, Vec<FetchPartitionPlan>> = BTreeMap::new();
        let mut lists: BTreeMap<NodeId, Vec<(TopicPartition, i64, i32)>> = BTreeMap::new();
        let count = self.partitions.len().max(1);
        let rotation = self.rotation % count;
        self.rotation = self.rotation.wrapping_add(1);
        // Rotate the starting partition so that each gets to be first (the broker
        // always returns the first partition's first batch, whatever its size).
        let keys: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
        for tp in keys.iter().skip(rotation).chain(keys.iter().take(rotation)) {
            let Some(p) = self.partitions.get_mut(tp) else {
                continue;
            };
            if p.in_flight || p.awaiting_metadata || p.retry_at.is_some_and(|t| now < t) {
                continue;
            }
            let last_epoch = p.last_epoch;
            let wants = match p.position {
                Position::Ready(offset) if room && p.buffered < prefetch => Some((offset, false)),
                Position::Ready(_) if room => {
                    if let Some((node, _)) = leader(tp) {
                        held.insert(node);
                    }
                    None
                }
                Position::NeedsReset => Some((0, true)),
                _ => None,
            };
            let Some((offset, list)) = wants else {
                continue;
            };
            let Some((leader_node, epoch)) = leader(tp) else {
                p.awaiting_metadata = true;
                continue;
            };
            // Records come from the replica the leader named, while that holds;
            // offsets are always asked of the leader.
            if p.read_replica.is_some_and(|(_, until)| now >= until) {
                p.read_replica = None;
            }
            let node = match p.read_replica {
                Some((replica, _)) if !list => replica,
                _ => leader_node,
            };
            if list {
                let timestamp = if self.settings.offset_reset == OffsetReset::Earliest {
                    -2
                } else {
                    -1
                };
                lists
                    .entry(node)
                    .or_default()
                    .push((tp.clone(), timestamp, epoch));
            } else if !busy.contains(&node) {
                fetches.entry(node).or_default().push(FetchPartitionPlan {
                    tp: tp.clone(),
                    offset,
                    current_leader_epoch: epoch,
                    last_fetched_epoch: last_epoch,
                });
            }
        }
        fetches.retain(|node, _| !held.contains(node));
        let mut out = Vec::new();
        for (node, partitions) in lists {
            let id = self.track(
                node,
                partitions.iter().map(|(tp, _, _)| (tp.clone(), 0)),
                true,
            );
            out.push(FetchOutgoing::ListOffsets {
                id,
                node,
                partitions,
            });
        }
        for (node, partitions) in fetches {
            let id = self.track(
                node,
                partitions.iter().map(|p| (p.tp.clone(), p.offset)),
                false,
            );
            out.push(FetchOutgoing::Fetch {
                id,
                node,
                partitions,
            });
        }
        out
    }

    fn track(
        &mut self,
        node: NodeId,
        partitions: impl Iterator<Item = (TopicPartition, i64)>,
        list_offsets: bool,
    ) -> RequestId {
        self.next_id += 1;
        let id = RequestId(self.next_id);
        let mut tracked = Vec::new();
        for (tp, offset) in partitions {
            if let Some(p) = self.partitions.get_mut(&tp) {
                p.in_flight = true;
                if list_offsets {
                    p.position = Position::Resetting;
                }
                tracked.push((tp, p.instance, offset));
            }
        }
        self.in_flight.insert(
            id,
            InFlight {
                node,
                partitions: tracked,
                list_offsets,
            },
        );
        id
    }

    /// Up to `max` buffered records, in fetch order per partition.
    pub fn poll_records(&mut self, max: usize) -> Vec<ConsumedRecord> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(chunk) = self.buffer.front_mut() else {
                break;
            };
            let mut part = self
                .partitions
                .get_mut(&chunk.tp)
                .filter(|p| p.instance == chunk.instance);
            let take = (max - out.len()).min(chunk.records.len());
            for record in chunk.records.drain(..take) {
                let size = record.size();
                self.buffered_bytes -= size.min(self.buffered_bytes);
                if let Some(p) = part.as_deref_mut() {
                    p.buffered -= size.min(p.buffered);
                    out.push(record);
                }
            }
            if chunk.records.is_empty() {
                self.buffer.pop_front();
            }
        }
        out
    }

    /// Puts back records taken by [`poll_records`](Self::poll_records) that never
    /// reached the application, ahead of everything else buffered.
    pub fn unpoll(&mut self, records: Vec<ConsumedRecord>) {
        let mut chunks: Vec<Chunk> = Vec::new();
        for record in records {
            let tp = TopicPartition::new(record.topic.clone(), record.partition);
            let Some(p) = self.partitions.get_mut(&tp) else {
                continue;
            };
            let instance = p.instance;
            p.buffered += record.size();
            self.buffered_bytes += record.size();
            match chunks.last_mut() {
                Some(chunk) if chunk.tp == tp => chunk.records.push_back(record),
                _ => chunks.push(Chunk {
                    tp,
                    instance,
                    records: VecDeque::from([record]),
                }),
            }
        }
        for chunk in chunks.into_iter().rev() {
            self.buffer.push_front(chunk);
        }
    }

    /// The next partition error for the application.
    pub fn poll_error(&mut self) -> Option<FetchError> {
        self.errors.pop_front()
    }

    /// The next position moved back by a log truncation (KIP-320): `(partition,
    /// offset, leader epoch)`. Records from `offset` on that were handed out are
    /// gone from the leader's log; commits must not count them
    /// ([`OffsetTracker::rewind`](crate::OffsetTracker::rewind)).
    pub fn poll_rewind(&mut self) -> Option<(TopicPartition, i64, i32)> {
        self.rewinds.pop_front()
    }

    /// The earliest partition retry time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.partitions.values().filter_map(|p| p.retry_at).min()
    }

    // ------------------------------------------------------------ inputs

    /// The answer to a Fetch; `Err` is a top-level error code.
    pub fn handle_fetch(
        &mut self,
        id: RequestId,
        answer: Result<Vec<FetchedPartition>, KafkaCode>,
        now: Instant,
    ) {
        let Some(flight) = self.in_flight.remove(&id) else {
            return;
        };
        let mut answered: HashMap<TopicPartition, FetchedPartition> = match answer {
            Ok(list) => list.into_iter().map(|p| (p.tp.clone(), p)).collect(),
            Err(code) => {
                return self.fail_flight(flight, Some(code), now);
            }
        };
        for (tp, instance, offset) in flight.partitions {
            let Some(p) = self.partitions.get_mut(&tp) else {
                continue;
            };
            if p.instance != instance {
                continue;
            }
            p.in_flight = false;
            if p.position != Position::Ready(offset) {
                continue;
            }
            let Some(data) = answered.remove(&tp) else {
                continue;
            };
            if let Some(code) = data.error {
                if p.read_replica.take().is_some() {
                    // The follower cannot serve this (it lags, or is no longer a
                    // replica): back to the leader, which decides what it means.
                    tracing::debug!(%tp, node = %flight.node, %code, "reading from the leader again");
                    continue;
                }
                self.partition_error(&tp, offset, code, now);
                continue;
            }
            if let Some(diverging) = data.diverging_epoch {
                if p.read_replica.take().is_some() {
                    // A follower's log may lag behind the epoch we read; only the
                    // leader's verdict moves a position.
                    tracing::debug!(%tp, node = %flight.node, ?diverging, "reading from the leader again");
                    continue;
                }
                self.diverged(&tp, offset, diverging);
                continue;
            }
            match data.preferred_read_replica {
                Some(replica) if replica != flight.node => {
                    tracing::debug!(%tp, %replica, "the leader names a replica to read from");
                    p.read_replica = Some((replica, now + self.settings.read_replica_ttl));
                }
                Some(_) => {}
                // Named by a follower, `None` means nothing; by the leader, read from it.
                None if p.read_replica.is_some_and(|(r, _)| r == flight.node) => {}
                None => p.read_replica = None,
            }
            let aborted = (self.settings.isolation == Isolation::ReadCommitted)
                .then_some(data.aborted.as_slice());
            match decode_partition(
                &tp.topic,
                tp.partition,
                offset,
                data.records,
                aborted,
                &self.limits,
            ) {
                Ok(decoded) => {
                    let Some(p) = self.partitions.get_mut(&tp) else {
                        continue;
                    };
                    if let Some(next) = decoded.next_offset {
                        p.position = Position::Ready(next.max(offset));
                    }
                    if let Some(epoch) = decoded.last_epoch {
                        p.last_epoch = epoch;
                    }
                    if !decoded.records.is_empty() {
                        let size = decoded
                            .records
                            .iter()
                            .map(ConsumedRecord::size)
                            .sum::<usize>();
                        p.buffered += size;
                        self.buffered_bytes += size;
                        self.buffer.push_back(Chunk {
                            tp: tp.clone(),
                            instance,
                            records: decoded.records.into(),
                        });
                    }
                }
                Err(error) => {
                    if let Some(p) = self.partitions.get_mut(&tp) {
                        p.retry_at = Some(now + self.settings.retry_backoff);
                    }
                    self.errors.push_back(FetchError::Corrupt {
                        tp: tp.clone(),
                        offset,
                        error,
                    });
                }
            }
        }
    }

    /// The answer to a ListOffsets: per partition the offset, or an error.
    pub fn handle_list_offsets(
        &mut self,
        id: RequestId,
        answer: Vec<(TopicPartition, Result<i64, KafkaCode>)>,
        now: Instant,
    ) {
        let Some(flight) = self.in_flight.remove(&id) else {
            return;
        };
        let mut answered: HashMap<TopicPartition, Result<i64, KafkaCode>> =
            answer.into_iter().collect();
        for (tp, instance, _) in flight.partitions {
            let Some(p) = self.partitions.get_mut(&tp) else {
                continue;
            };
            if p.instance != instance {
                continue;
            }
            p.in_flight = false;
            if p.position != Position::Resetting {
                continue;
            }
            match answered.remove(&tp) {
                Some(Ok(offset)) if offset >= 0 => {
                    p.position = Position::Ready(offset);
                    // The epoch of the records before `offset` is not known.
                    p.last_epoch = -1;
                }
                Some(Err(code)) => {
                    p.position = Position::NeedsReset;
                    self.partition_error(&tp, -1, code, now);
                }
                _ => {
                    p.position = Position::NeedsReset;
                    p.retry_at = Some(now + self.settings.retry_backoff);
                }
            }
        }
    }

    /// A Fetch or ListOffsets failed in transit.
    pub fn handle_failure(&mut self, id: RequestId, now: Instant) {
        if let Some(flight) = self.in_flight.remove(&id) {
            self.fail_flight(flight, None, now);
        }
    }

    fn fail_flight(&mut self, flight: InFlight, code: Option<KafkaCode>, now: Instant) {
        for (tp, instance, offset) in flight.partitions {
            let Some(p) = self.partitions.get_mut(&tp) else {
                continue;
            };
            if p.instance != instance {
                continue;
            }
            p.in_flight = false;
            if flight.list_offsets && p.position == Position::Resetting {
                p.position = Position::NeedsReset;
            }
            match code {
                Some(code) => self.partition_error(&tp, offset, code, now),
                None => {
                    if let Some(p) = self.partitions.get_mut(&tp) {
                        p.retry_at = Some(now + self.settings.retry_backoff);
                        p.awaiting_metadata = true;
                        p.read_replica = None;
                    }
                }
            }
        }
    }

    /// The leader answered `diverging_epoch` to a Fetch from `position` (KIP-320).
    fn diverged(&mut self, tp: &TopicPartition, position: i64, diverging: DivergingEpoch) {
        let reset = self.settings.offset_reset;
        let Some(p) = self.partitions.get_mut(tp) else {
            return;
        };
        let DivergingEpoch { epoch, end_offset } = diverging;
        if end_offset >= position {
            // The logs agree up to the position; the leader merely knows our last
            // epoch under an older number. Name that one from now on.
            tracing::debug!(%tp, position, epoch, end_offset, "diverging epoch above the position");
            p.last_epoch = epoch;
            return;
        }
        if reset == OffsetReset::Error {
            p.position = Position::Stopped;
            tracing::warn!(
                %tp, position, divergence_offset = end_offset, divergence_epoch = epoch,
                "log truncation detected; auto.offset.reset=error stops the partition"
            );
            self.errors.push_back(FetchError::LogTruncation {
                tp: tp.clone(),
                position,
                divergence_offset: end_offset,
                divergence_epoch: epoch,
            });
        } else {
            p.position = Position::Ready(end_offset);
            p.last_epoch = epoch;
            self.rewinds.push_back((tp.clone(), end_offset, epoch));
            tracing::warn!(
                %tp, position, divergence_offset = end_offset, divergence_epoch = epoch,
                "log truncation detected; resetting the position to the divergence point \
                 (records from there on that were read are gone from the leader's log)"
            );
        }
        // Buffered records from the divergence point on belong to the lost log.
        self.drop_buffered_from(tp, end_offset);
    }

    /// Applies `auto.offset.reset=error` to a partition that needs a reset.
    fn reset(&mut self, tp: &TopicPartition, from: i64) {
        if self.settings.offset_reset != OffsetReset::Error {
            return;
        }
        if let Some(p) = self.partitions.get_mut(tp) {
            p.position = Position::Stopped;
            self.errors.push_back(FetchError::OffsetOutOfRange {
                tp: tp.clone(),
                offset: from,
            });
        }
    }

    /// One partition's error code from a Fetch or ListOffsets.
    fn partition_error(&mut self, tp: &TopicPartition, offset: i64, code: KafkaCode, now: Instant) {
        let backoff = self.settings.retry_backoff;
        let Some(p) = self.partitions.get_mut(tp) else {
            return;
        };
        match code {
            KafkaCode::OffsetOutOfRange => {
                p.position = Position::NeedsReset;
                self.reset(tp, offset);
            }
            c if c.needs_metadata_refresh() => {
                p.awaiting_metadata = true;
                p.retry_at = Some(now + backoff);
            }
            c if c.is_retriable() => p.retry_at = Some(now + backoff),
            c => {
                p.position = Position::Stopped;
                self.errors.push_back(FetchError::Partition {
                    tp: tp.clone(),
                    code: c,
                });
            }
        }
    }
}

#[cfg(test)]
#[path = "fetcher_tests.rs"]
mod tests;
