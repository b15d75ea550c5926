use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use flame_kafka_codec::record_batch::{encode_batch, ProducerStamp};
use flame_kafka_codec::{Compression, Record};

use super::*;

fn settings() -> FetchSettings {
    FetchSettings {
        min_bytes: 1,
        max_wait: Duration::from_millis(500),
        max_bytes: 52_428_800,
        partition_max_bytes: 1_048_576,
        max_buffered_bytes: 65_536 * 1024,
        isolation: Isolation::ReadCommitted,
        offset_reset: OffsetReset::Earliest,
        check_crcs: true,
        retry_backoff: Duration::from_millis(100),
        rack: None,
        read_replica_ttl: Duration::from_secs(300),
    }
}

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

/// Partition p is led by node p % 2, epoch 4.
fn leader(tp: &TopicPartition) -> Option<(NodeId, i32)> {
    Some((NodeId(tp.partition % 2), 4))
}

fn batch(base: i64, count: usize) -> Bytes {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            value: Some(Bytes::from(format!("v{}", base + i as i64))),
            ..Default::default()
        })
        .collect();
    let mut out = BytesMut::new();
    encode_batch(
        &mut out,
        &records,
        ProducerStamp::default(),
        Compression::None,
        None,
    )
    .unwrap();
    out[..8].copy_from_slice(&base.to_be_bytes());
    out.freeze()
}

fn data(tp: TopicPartition, records: Bytes) -> FetchedPartition {
    FetchedPartition {
        tp,
        error: None,
        aborted: vec![],
        records,
        preferred_read_replica: None,
        diverging_epoch: None,
    }
}

fn error(tp: TopicPartition, code: KafkaCode) -> FetchedPartition {
    FetchedPartition {
        tp,
        error: Some(code),
        aborted: vec![],
        records: Bytes::new(),
        preferred_read_replica: None,
        diverging_epoch: None,
    }
}

fn fetch_of(out: &[FetchOutgoing], node: i32) -> (RequestId, Vec<FetchPartitionPlan>) {
    out.iter()
        .find_map(|o| match o {
            FetchOutgoing::Fetch {
                id,
                node: n,
                partitions,
            } if n.0 == node => Some((*id, partitions.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no fetch to node {node} in {out:?}"))
}

fn offsets(records: &[ConsumedRecord]) -> Vec<i64> {
    records.iter().map(|r| r.offset).collect()
}

#[test]
fn fetches_from_the_committed_offset_and_skips_earlier_records_of_the_batch() {
    let now = Instant::now();
    let mut f = Fetcher::new(settings());
    f.assign(tp(0));
    assert_eq!(
        f.poll_requests(now, leader),
        vec![],
        "waits for the committed offset"
    );
    f.set_committed(&tp(0), Some(5));
    let out = f.poll_requests(now, leader);
    let (id, parts) = fetch_of(&out, 0);
    assert_eq!(
        parts,
        vec![FetchPartitionPlan {
            tp: tp(0),
            offset: 5,
            current_leader_epoch: 4,
            last_fetched_epoch: -1,
        }]
    );
    f.handle_fetch(id, Ok(vec![data(tp(0), batch(3, 4))]), now);
    assert_eq!(offsets(&f.poll_records(10)), [5, 6]);
    assert_eq!(f.position(&tp(0)), Some(7));
    assert_eq!(f.buffered_bytes(), 0);
}

#[test]
fn one_fetch_per_broker_and_prefetch_while_records_are_buffered() {
    let now = Instant::now();
    let mut f = Fetcher::new(settings());
    for p in 0..4 {
        f.assign(tp(p));
        f.set_committed(&tp(p), Some(0));
    }
    let out = f.poll_requests(now, leader);
    assert_eq!(out.len(), 2, "one per broker: {out:?}");
    let (id0, parts) = fetch_of(&out, 0);
    assert_eq!(parts.len(), 2);
    assert_eq!(
        f.poll_requests(now, leader),
        vec![],
        "nothing more while both are in flight"
    );
    // Partition 0 returns data, partition 2 nothing yet.
    f.handle_fetch(
        id0,
        Ok(vec![data(tp(0), batch(0, 3)), data(tp(2), Bytes::new())]),
        now,
    );
    let out = f.poll_requests(now, leader);
    let (_, parts) = fetch_of(&out, 0);
    let mut fetched: Vec<(i32, i64)> = parts.iter().map(|p| (p.tp.partition, p.offset)).collect();
    fetched.sort_unstable();
    assert_eq!(
        fetched,
        [(0, 3), (2, 0)],
        "tp0 has records buffered, below its prefetch threshold: fetched on"
    );
    assert_eq!(offsets(&f.poll_records(2)), [0, 1]);
    assert_eq!(offsets(&f.poll_records(2)), [2]);
}

/// The stall this rule prevents: a Fetch naming only caught-up partitions is parked
/// by the broker for `fetch.wait.max.ms` while a partition with buffered records
/// drains and cannot be fetched (one Fetch per broker).
#[test]
fn a_partition_above_its_prefetch_threshold_holds_back_its_brokers_fetch() {
    let now = Instant::now();
    let one = batch(0, 1).len();
    let mut f = Fetcher::new(FetchSettings {
        // Threshold: two of these, i.e. about two of the records below.
        partition_max_bytes: i32::try_from(one).unwrap(),
        ..settings()
    });
    // tp0 and tp2 on node 0, tp1 on node 1.
    for p in 0..3 {
        f.assign(tp(p));
        f.set_committed(&tp(p), Some(0));
    }
    let out = f.poll_requests(now, leader);
    let (id0, _) = fetch_of(&out, 0);
    let (id1, _) = fetch_of(&out, 1);
    // tp0 returns plenty, tp2 is caught up.
    f.handle_fetch(
        id0,
        Ok(vec![data(tp(0), batch(0, 8)), data(tp(2), Bytes::new())]),
        now,
    );
    f.handle_fetch(id1, Ok(vec![data(tp(1), Bytes::new())]), now);
    let out = f.poll_requests(now, leader);
    assert_eq!(fetch_of(&out, 1).1.len(), 1, "node 1 has nothing held back");
    assert!(
        out.iter()
            .all(|o| !matches!(o, FetchOutgoing::Fetch { node, .. } if node.0 == 0)),
        "no fetch of caught-up tp2 alone while tp0 is above its threshold: {out:?}"
    );
    // Still above the threshold after one record.
    assert_eq!(offsets(&f.poll_records(1)), [0]);
    assert_eq!(f.poll_requests(now, leader), vec![]);
    // Drained below: tp0 (with records still buffered) and tp2 go together.
    assert_eq!(offsets(&f.poll_records(6)), [1, 2, 3, 4, 5, 6]);
    let out = f.poll_requests(now, leader);
    let (_, parts) = fetch_of(&out, 0);
    let mut fetched: Vec<(i32, i64)> = parts.iter().map(|p| (p.tp.partition, p.offset)).collect();
    fetched.sort_unstable();
    assert_eq!(fetched, [(0, 8), (2, 0)]);
    assert_eq!(offsets(&f.poll_records(10)), [7]);
}

#[test]
fn buffer_bound_pauses_fetching() {
    let now = Instant::now();
    let mut f = Fetcher::new(FetchSettings {
        max_buffered_bytes: 10,
        ..settings()
    });
    f.assign(tp(0));
    f.assign(tp(2));
    f.set_committed(&tp(0), Some(0));
    f.set_committed(&tp(2), Some(0));
    let (id, _) = fetch_of(&f.poll_requests(now, leader), 0);
    f.handle_fetch(id, Ok(vec![data(tp(0), batch(0, 1))]), now);
    assert!(f.buffered_bytes() >= 10);
    assert_eq!(f.poll_requests(now, leader), vec![], "full: tp2 waits");
    f.poll_records(10);
    assert_eq!(fetch_of(&f.poll_requests(now, leader), 0).1.len(), 2);
}

#[test]
fn no_committed_offset_resets_by_policy() {
    let now = Instant::now();
    for (policy, timestamp) in [(OffsetReset::Earliest, -2), (OffsetReset::Latest, -1)] {
        let mut f = Fetcher::new(FetchSettings {
            offset_reset: policy,
            ..settings()
        });
        f.assign(tp(1));
        f.set_committed(&tp(1), None);
        let out = f.poll_requests(now, leader);
        let FetchOutgoing::ListOffsets {
            id,
            node,
            partitions,
        } = &out[0]
        else {
            panic!("{out:?}")
        };
        assert_eq!(node.0, 1);
        assert_eq!(partitions, &vec![(tp(1), timestamp, 4)]);
        f.handle_list_offsets(*id, vec![(tp(1), Ok(42))], now);
        assert_eq!(f.position(&tp(1)), Some(42));
    }
}

#[test]
fn out_of_range_follows_the_same_rule() {
    let now = Instant::now();
    let mut f = Fetcher::new(settings());
    f.assign(tp(0));
    f.set_committed(&tp(0), Some(1_000));
    let (id, _) = fetch_of(&f.poll_requests(now, leader), 0);
    f.handle_fetch(id, Ok(vec![error(tp(0), KafkaCode::OffsetOutOfRange)]), now);
    let out = f.poll_requests(now, leader);
    assert!(
        matches!(&out[0], FetchOutgoing::ListOffsets { partitions, .. } if partitions[0].1 == -2)
    );

    let mut f = Fetcher::new(FetchSettings {
        offset_reset: OffsetReset::Error,
        ..settings()
    });
    f.assign(tp(0));
    f.set_committed(&tp(0), Some(1_000));
    let (id, _) = fetch_of(&f.poll_requests(now, leader), 0);
    f.handle_fetch(id, Ok(vec![error(tp(0), KafkaCode::OffsetOutOfRange)]), now);
    assert_eq!(
        f.poll_error(),
        Some(FetchError::OffsetOutOfRange {
            tp: tp(0),
            offset: 1_000
        })
    );
    assert_eq!(f.poll_requests(now, leader), vec![], "stopped");
}

#[test]
fn leader_change_waits_for_metadata() {
    let now = Instant::now();
    let mut f = Fetcher::new(settings());
    f.assign(tp(0));
    f.set_committed(&tp(0), Some(0));
    let mut t = now;
    for code in [KafkaCode::NotLeaderOrFollower, KafkaCode::FencedLeaderEpoch] {
        let (id, _) = fetch_of(&f.poll_requests(t, leader), 0);
        f.handle_fetch(id, Ok(vec![error(tp(0), code)]), t);
        assert!(f.needs_metadata());
        t += Duration::from_secs(1);
        assert_eq!(f.poll_requests(t, leader), vec![]);
        f.metadata_refreshed();
        assert!(!f.needs_metadata());
    }
    assert_eq!(fetch_of(&f.poll_requests(t, leader), 0).1[0].offset, 0);
}

#[test]
fn revoke_and_seek_drop_stale_data() {
    let now = Instant::now();
    let mut f = Fetcher::new(settings());
    f.assign(tp(0));
    f.set_committed(&tp(0), Some(0));
    let (id, _) = fetch_of(&f.poll_requests(now, leader), 0);
    f.seek(&tp(0), 10);
    f.handle_fetch(id, Ok(vec![data(tp(0), batch(0, 3))]), now);
    assert_eq!(
        f.poll_records(10),
        vec![],
        "answer to the pre-seek fetch is dropped"
    );
    let (id, parts) = fetch_of(&f.poll_requests(now, leader), 0);
    assert_eq!(parts[0].offset, 10);
    f.handle_fetch(id, Ok(vec![data(tp(0), batch(10, 2))]), now);
    assert!(f.buffered_bytes() > 0);
    f.revoke(&tp(0));
    assert_eq!(f.buffered_bytes(), 0);
    assert_eq!(f.poll_records(10), vec![]);
}

#[test]
fn corrupt_data_is_reported_and_retried() {
    let now = Instant::now();
    let mut f = Fetcher::new(settings());
    f.assign(tp(0));
    f.set_committed(&tp(0), Some(0));
    let (id, _) = fetch_of(&f.poll_requests(now, leader), 0);
    let mut bad = batch(0, 2).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    f.handle_fetch(id, Ok(vec![data(tp(0), Bytes::from(bad))]), now);
    assert!(matches!(
        f.poll_error(),
        Some(FetchError::Corrupt { offset: 0, .. })
    ));
    assert_eq!(f.poll_requests(now, leader), vec![]);
    assert_eq!(f.poll_timeout(), Some(now + Duration::from_millis(100)));
    assert_eq!(
        fetch_of(
            &f.poll_requests(now + Duration::from_millis(100), leader),
            0
        )
        .1[0]
            .offset,
        0
    );
}

/// KIP-392: the leader names a replica to read from; records then come from it,
/// offsets still from the leader; an error from the replica sends the partition
/// back to the leader (no reset), and so does the end of the replica's lifetime.
#[test]
fn a_replica_the_leader_names_is_read_from_until_it_fails_or_expires() {
    let now = Instant::now();
    let mut f = Fetcher::new(FetchSettings {
        rack: Some(Arc::from("r2")),
        read_replica_ttl: Duration::from_secs(60),
        ..settings()
    });
    // tp(0) is led by node 0.
    f.assign(tp(0));
    f.set_committed(&tp(0), Some(0));
    let out = f.poll_requests(now, leader);
    let (id, plans) = fetch_of(&out, 0);
    assert_eq!(plans[0].offset, 0);
    // The leader answers with no records and names node 2.
    let named = FetchedPartition {
        preferred_read_replica: Some(NodeId(2)),
        ..data(tp(0), Bytes::new())
    };
    f.handle_fetch(id, Ok(vec![named]), now);
    let out = f.poll_requests(now, leader);
    assert!(
        out.iter().all(|o| !matches!(
            o,
            FetchOutgoing::Fetch {
                node: NodeId(0),
                ..
            }
        )),
        "{out:?}"
    );
    let (id, plans) = fetch_of(&out, 2);
    assert_eq!(
        (plans[0].offset, plans[0].current_leader_epoch),
        (0, 4),
        "the follower is asked with the leader's epoch"
    );
    // The follower serves records; they are read and the position moves on.
    f.handle_fetch(id, Ok(vec![data(tp(0), batch(0, 3))]), now);
    assert_eq!(f.poll_records(10).len(), 3);
    let out = f.poll_requests(now, leader);
    let (id, plans) = fetch_of(&out, 2);
    assert_eq!(plans[0].offset, 3);
    // The follower lags: OFFSET_OUT_OF_RANGE from it is not a reset, the leader
    // is asked next.
    f.handle_fetch(id, Ok(vec![error(tp(0), KafkaCode::OffsetOutOfRange)]), now);
    assert!(f.poll_error().is_none());
    let out = f.poll_requests(now, leader);
    let (id, plans) = fetch_of(&out, 0);
    assert_eq!(plans[0].offset, 3, "position kept, not reset");
    // Named again; the naming expires after read_replica_ttl.
    let named = FetchedPartition {
        preferred_read_replica: Some(NodeId(2)),
        ..data(tp(0), Bytes::new())
    };
    f.handle_fetch(id, Ok(vec![named]), now);
    let later = now + Duration::from_secs(61);
    let out = f.poll_requests(later, leader);
    fetch_of(&out, 0);
}

// ------------------------------------------------------------ KIP-320

/// `batch(base, count)` written by a leader of `epoch`.
fn batch_in_epoch(base: i64, count: usize, epoch: i32) -> Bytes {
    let mut out = BytesMut::from(&batch(base, count)[..]);
    // partitionLeaderEpoch follows baseOffset and batchLength; the CRC starts after.
    out[12..16].copy_from_slice(&epoch.to_be_bytes());
    out.freeze()
}

fn diverged(tp: TopicPartition, epoch: i32, end_offset: i64) -> FetchedPartition {
    FetchedPartition {
        diverging_epoch: Some(DivergingEpoch { epoch, end_offset }),
        ..data(tp, Bytes::new())
    }
}

/// Reads offsets 0..10 written in epoch 1, hands out 0..4 (5..9 stay buffered),
/// and returns the next Fetch (from 10).
fn read_ten_in_epoch_one(f: &mut Fetcher, now: Instant) -> RequestId {
    f.assign(tp(0));
    f.set_committed_with_epoch(&tp(0), Some(0), 1);
    let (id, _) = fetch_of(&f.poll_requests(now, leader), 0);
    f.handle_fetch(id, Ok(vec![data(tp(0), batch_in_epoch(0, 10, 1))]), now);
    assert_eq!(offsets(&f.poll_records(5)), [0, 1, 2, 3, 4]);
    let (id, plans) = fetch_of(&f.poll_requests(now, leader), 0);
    assert_eq!((plans[0].offset, plans[0].last_fetched_epoch), (10, 1));
    id
}

#[test]
fn last_fetched_epoch_starts_from_the_commit_and_follows_the_batches_read() {
    let now = Instant::now();
    let mut f = Fetcher::new(settings());
    f.assign(tp(0));
    f.set_committed_with_epoch(&tp(0), Some(5), 2);
    let (id, plans) = fetch_of(&f.poll_requests(now, leader), 0);
    assert_eq!((plans[0].offset, plans[0].last_fetched_epoch), (5, 2));
    f.handle_fetch(id, Ok(vec![data(tp(0), batch_in_epoch(5, 3, 3))]), now);
    let (id, plans) = fetch_of(&f.poll_requests(now, leader), 0);
    assert_eq!((plans[0].offset, plans[0].last_fetched_epoch), (8, 3));
    // A batch without a leader epoch (-1) leaves the last known one.
    f.handle_fetch(id, Ok(vec![data(tp(0), batch_in_epoch(8, 1, -1))]), now);
    let (id, plans) = fetch_of(&f.poll_requests(now, leader), 0);
    assert_eq!((plans[0].offset, plans[0].last_fetched_epoch), (9, 3));
    // OFFSET_OUT_OF_RANGE, then a ListOffsets reset: the epoch is unknown.
    f.handle_fetch(id, Ok(vec![error(tp(0), KafkaCode::OffsetOutOfRange)]), now);
    let out = f.poll_requests(now, leader);
    let FetchOutgoing::ListOffsets { id, .. } = &out[0] else {
        panic!("{out:?}")
    };
    f.handle_list_offsets(*id, vec![(tp(0), Ok(2))], now);
    let (_, plans) = fetch_of(&f.poll_requests(now, leader), 0);
    assert_eq!((plans[0].offset, plans[0].last_fetched_epoch), (2, -1));
    // A seek forgets it too; so does a commit without an epoch.
    let mut f = Fetcher::new(settings());
    f.assign(tp(0));
    f.set_committed_with_epoch(&tp(0), Some(5), 2);
    f.seek(&tp(0), 3);
    let (_, plans) = fetch_of(&f.poll_requests(now, leader), 0);
    assert_eq!((plans[0].offset, plans[0].last_fetched_epoch), (3, -1));
    f.revoke(&tp(0));
    f.assign(tp(0));
    f.set_committed(&tp(0), Some(4));
    assert_eq!(f.last_fetched_epoch(&tp(0)), Some(-1));
}

#[test]
fn truncation_moves_the_position_back_to_the_divergence_point() {
    let now = Instant::now();
    let mut f = Fetcher::new(settings());
    let id = read_ten_in_epoch_one(&mut f, now);
    // The new leader's log holds epoch 1 only up to offset 7.
    f.handle_fetch(id, Ok(vec![diverged(tp(0), 1, 7)]), now);
    assert_eq!(f.poll_error(), None, "reset policy earliest: no error");
    assert_eq!(f.position(&tp(0)), Some(7));
    assert_eq!(
        f.poll_rewind(),
        Some((tp(0), 7, 1)),
        "commits move back too"
    );
    assert_eq!(f.poll_rewind(), None);
    // Buffered records from the lost log (7, 8, 9) are gone; 5, 6 remain.
    assert_eq!(offsets(&f.poll_records(10)), [5, 6]);
    assert_eq!(f.buffered_bytes(), 0);
    let (id, plans) = fetch_of(&f.poll_requests(now, leader), 0);
    assert_eq!((plans[0].offset, plans[0].last_fetched_epoch), (7, 1));
    // The new leader's records from 7 on are read, none skipped.
    f.handle_fetch(id, Ok(vec![data(tp(0), batch_in_epoch(7, 4, 3))]), now);
    assert_eq!(offsets(&f.poll_records(10)), [7, 8, 9, 10]);
    assert_eq!(f.position(&tp(0)), Some(11));
    assert_eq!(f.last_fetched_epoch(&tp(0)), Some(3));
}

#[test]
fn truncation_with_auto_offset_reset_error_stops_the_partition() {
    let now = Instant::now();
    let mut f = Fetcher::new(FetchSettings {
        offset_reset: OffsetReset::Error,
        ..settings()
    });
    let id = read_ten_in_epoch_one(&mut f, now);
    f.handle_fetch(id, Ok(vec![diverged(tp(0), 1, 7)]), now);
    let err = f.poll_error().expect("a truncation error");
    assert_eq!(
        err,
        FetchError::LogTruncation {
            tp: tp(0),
            position: 10,
            divergence_offset: 7,
            divergence_epoch: 1,
        }
    );
    assert!(err.to_string().contains("divergence") || err.to_string().contains("diverges"));
    assert_eq!(f.position(&tp(0)), None, "stopped");
    assert_eq!(f.poll_rewind(), None, "the position stays where it was");
    assert_eq!(offsets(&f.poll_records(10)), [5, 6]);
    assert_eq!(
        f.poll_requests(now + Duration::from_secs(10), leader),
        vec![]
    );
}

#[test]
fn diverging_epoch_at_or_after_the_position_keeps_it() {
    let now = Instant::now();
    let mut f = Fetcher::new(settings());
    let id = read_ten_in_epoch_one(&mut f, now);
    // The leader knows the records before 10 under epoch 0, up to offset 12.
    f.handle_fetch(id, Ok(vec![diverged(tp(0), 0, 12)]), now);
    assert_eq!(f.poll_error(), None);
    assert_eq!(offsets(&f.poll_records(10)), [5, 6, 7, 8, 9]);
    let (_, plans) = fetch_of(&f.poll_requests(now, leader), 0);
    assert_eq!((plans[0].offset, plans[0].last_fetched_epoch), (10, 0));
}

#[test]
fn diverging_epoch_from_a_follower_sends_the_partition_back_to_the_leader() {
    let now = Instant::now();
    let mut f = Fetcher::new(FetchSettings {
        rack: Some(Arc::from("r2")),
        ..settings()
    });
    let id = read_ten_in_epoch_one(&mut f, now);
    let named = FetchedPartition {
        preferred_read_replica: Some(NodeId(2)),
        ..data(tp(0), Bytes::new())
    };
    f.handle_fetch(id, Ok(vec![named]), now);
    let (id, _) = fetch_of(&f.poll_requests(now, leader), 2);
    f.handle_fetch(id, Ok(vec![diverged(tp(0), 1, 7)]), now);
    assert_eq!(
        f.position(&tp(0)),
        Some(10),
        "a follower's verdict moves nothing"
    );
    let (_, plans) = fetch_of(&f.poll_requests(now, leader), 0);
    assert_eq!((plans[0].offset, plans[0].last_fetched_epoch), (10, 1));
}
