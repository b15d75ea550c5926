//! Producer ids, sequence numbers and epoch bumps.

use super::*;

fn idempotent() -> ProducerConfig {
    ProducerConfig {
        batch_num_messages: 2,
        ..ProducerConfig::default()
    }
}

fn stamp_of(req: &ProduceRequestOut) -> Vec<(i32, i64, i16, i32)> {
    contents(req)
        .iter()
        .map(|(_, p, b)| (*p, b.producer_id, b.producer_epoch, b.base_sequence))
        .collect()
}

#[test]
fn nothing_is_sent_before_the_producer_id() {
    let mut s = Sim::new(idempotent());
    assert!(s.acc.is_idempotent());
    s.append("t", Some(0), record("a"));
    s.metadata("t", &[1]);
    s.advance(5 * MS);
    assert!(s.poll().is_none());
    let out = s.acc.poll_init_producer_id(s.now).unwrap();
    assert_eq!((out.producer_id, out.producer_epoch), (-1, -1));
    assert!(
        s.acc.poll_init_producer_id(s.now).is_none(),
        "one at a time"
    );
    s.acc.handle_producer_id_failed(
        ProduceError::ProducerId {
            code: KafkaCode::CoordinatorLoadInProgress,
        },
        s.now,
    );
    assert!(s.acc.poll_init_producer_id(s.now).is_none(), "backoff");
    s.advance(100 * MS);
    s.producer_id(9, 0);
    assert_eq!(s.acc.producer_id(), Some((9, 0)));
    assert!(s.poll().is_some());
}

#[test]
fn a_fatal_producer_id_error_fails_everything() {
    let mut s = Sim::new(idempotent());
    let id = s.append("t", Some(0), record("a"));
    s.acc.poll_init_producer_id(s.now).unwrap();
    let error = ProduceError::ProducerId {
        code: KafkaCode::ClusterAuthorizationFailed,
    };
    s.acc.handle_producer_id_failed(error, s.now);
    s.collect();
    assert!(matches!(
        s.outcome(id),
        Err(ProduceError::ProducerId { .. })
    ));
    assert!(matches!(
        s.acc.try_append("t", None, record("b"), s.now, s.now),
        Err(AppendError::Rejected(ProduceError::ProducerId { .. }))
    ));
}

#[test]
fn sequences_are_per_partition_and_kept_on_retry() {
    let mut s = Sim::new(idempotent());
    s.producer_id(5, 3);
    s.append("t", Some(0), record("w"));
    s.metadata("t", &[1, 1]);
    s.append("t", Some(1), record("x"));
    s.acc.begin_flush();
    let r0 = s.poll().unwrap();
    assert_eq!(stamp_of(&r0), [(0, 5, 3, 0), (1, 5, 3, 0)]);
    s.answer(&r0, None);
    for v in ["a", "b", "c", "d", "e"] {
        s.append("t", Some(0), record(v));
    }
    let r1 = s.poll().unwrap();
    assert_eq!(stamp_of(&r1), [(0, 5, 3, 1)]);
    let r2 = s.poll().unwrap();
    assert_eq!(stamp_of(&r2), [(0, 5, 3, 3)]);
    let r3 = s.poll().unwrap();
    assert_eq!(stamp_of(&r3), [(0, 5, 3, 5)]);
    // r1 fails retriably; r2 and r3 are rejected as out of order behind it.
    s.answer(&r1, Some(KafkaCode::NotEnoughReplicas));
    s.answer(&r2, Some(KafkaCode::OutOfOrderSequenceNumber));
    s.answer(&r3, Some(KafkaCode::OutOfOrderSequenceNumber));
    assert!(
        s.acc.poll_init_producer_id(s.now).is_none(),
        "no bump for a follow-on OOS"
    );
    s.advance(Duration::from_secs(1));
    let mut seen = Vec::new();
    while let Some(req) = s.poll() {
        seen.extend(stamp_of(&req));
        s.answer(&req, None);
    }
    assert_eq!(seen, [(0, 5, 3, 1), (0, 5, 3, 3), (0, 5, 3, 5)]);
    let offsets: Vec<i64> = [0, 2, 3, 4, 5, 6]
        .map(|i| s.outcome(MessageId(i)).as_ref().unwrap().offset)
        .to_vec();
    assert_eq!(offsets, [0, 1, 2, 3, 4, 5]);
}

#[test]
fn duplicate_sequence_counts_as_success() {
    let mut s = Sim::new(idempotent());
    s.producer_id(5, 0);
    let id = s.append("t", Some(0), record("a"));
    s.metadata("t", &[1]);
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    s.answer(&req, Some(KafkaCode::DuplicateSequenceNumber));
    assert_eq!(s.outcome(id).as_ref().unwrap().offset, -1);
}

#[test]
fn a_real_gap_bumps_the_epoch_and_renumbers_from_zero() {
    let mut s = Sim::new(idempotent());
    s.producer_id(5, 0);
    s.append("t", Some(0), record("a"));
    s.metadata("t", &[1, 1]);
    s.append("t", Some(0), record("b"));
    s.append("t", Some(1), record("p1"));
    let first = s.poll().unwrap();
    s.answer(&first, None);
    s.append("t", Some(0), record("c"));
    s.append("t", Some(1), record("q1"));
    s.acc.begin_flush();
    let second = s.poll().unwrap();
    assert_eq!(stamp_of(&second), [(0, 5, 0, 2), (1, 5, 0, 1)]);
    // Partition 0 lost its state; partition 1 succeeded.
    let response = ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
        .with_name(TopicName(StrBytes::from_static_str("t")))
        .with_partition_responses(vec![
            PartitionProduceResponse::default()
                .with_index(0)
                .with_error_code(KafkaCode::OutOfOrderSequenceNumber.code()),
            PartitionProduceResponse::default()
                .with_index(1)
                .with_base_offset(1),
        ])]);
    s.acc.handle_produce_response(second.id, &response, s.now);
    s.collect();
    s.append("t", Some(1), record("r1"));
    assert!(s.poll().is_none(), "nothing is sent during a bump");
    let bump = s.acc.poll_init_producer_id(s.now).expect("bump");
    assert_eq!((bump.producer_id, bump.producer_epoch), (5, 0));
    s.acc.handle_producer_id(5, 1);
    s.advance(Duration::from_secs(1));
    let mut seen = Vec::new();
    while let Some(req) = s.poll() {
        seen.extend(stamp_of(&req));
        s.answer(&req, None);
    }
    seen.sort();
    assert_eq!(
        seen,
        [(0, 5, 1, 0), (1, 5, 1, 0)],
        "both partitions restart at 0"
    );
    assert!(s.outcomes.values().all(Result::is_ok));
    assert!(s.acc.is_empty());
}

#[test]
fn unknown_producer_id_bumps_and_retries() {
    let mut s = Sim::new(idempotent());
    s.producer_id(5, 0);
    let id = s.append("t", Some(0), record("a"));
    s.metadata("t", &[1]);
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    s.answer(&req, Some(KafkaCode::UnknownProducerId));
    assert!(s.acc.poll_init_producer_id(s.now).is_some());
    s.acc.handle_producer_id(6, 0);
    s.advance(Duration::from_secs(1));
    let req = s.poll().unwrap();
    assert_eq!(stamp_of(&req), [(0, 6, 0, 0)]);
    s.answer(&req, None);
    assert!(s.outcome(id).is_ok());
}

#[test]
fn invalid_epoch_fails_the_batch_and_bumps() {
    let mut s = Sim::new(idempotent());
    s.producer_id(5, 0);
    let id = s.append("t", Some(0), record("a"));
    s.metadata("t", &[1]);
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    s.answer(&req, Some(KafkaCode::InvalidProducerEpoch));
    assert!(matches!(
        s.outcome(id),
        Err(ProduceError::Broker {
            code: KafkaCode::InvalidProducerEpoch,
            ..
        })
    ));
    assert!(s.acc.poll_init_producer_id(s.now).is_some());
}

#[test]
fn other_partitions_finish_their_retries_under_the_old_epoch() {
    let mut s = Sim::new(ProducerConfig {
        batch_num_messages: 1,
        ..idempotent()
    });
    s.producer_id(5, 0);
    s.append("t", Some(0), record("a"));
    s.metadata("t", &[1, 2]);
    s.append("t", Some(1), record("x"));
    let reqs: Vec<_> = std::iter::from_fn(|| s.poll()).collect();
    assert_eq!(reqs.len(), 2);
    let (p0, p1) = if reqs[0].broker == BrokerId(1) {
        (&reqs[0], &reqs[1])
    } else {
        (&reqs[1], &reqs[0])
    };
    s.answer(p1, Some(KafkaCode::NotEnoughReplicas));
    s.answer(p0, Some(KafkaCode::UnknownProducerId));
    s.acc.poll_init_producer_id(s.now).unwrap();
    s.acc.handle_producer_id(5, 1);
    s.advance(Duration::from_secs(1));
    let mut seen = Vec::new();
    while let Some(req) = s.poll() {
        seen.extend(stamp_of(&req));
        s.answer(&req, None);
    }
    seen.sort();
    assert_eq!(
        seen,
        [(0, 5, 1, 0), (1, 5, 0, 0)],
        "partition 1 keeps its old numbering"
    );
    s.append("t", Some(1), record("y"));
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    assert_eq!(
        stamp_of(&req),
        [(1, 5, 1, 0)],
        "then switches to the new epoch"
    );
}

#[test]
fn abort_fails_everything_including_in_flight() {
    let mut s = Sim::new(config());
    let a = s.append("t", Some(0), record("a"));
    s.metadata("t", &[1]);
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    let b = s.append("t", Some(0), record("b"));
    let c = s.append("other", None, record("c"));
    s.acc.abort(ProduceError::Closed);
    s.collect();
    for id in [a, b, c] {
        assert!(matches!(s.outcome(id), Err(ProduceError::Closed)));
    }
    s.answer(&req, None);
    assert!(s.acc.is_empty());
}

#[test]
fn one_batch_in_flight_until_the_broker_knows_the_producer() {
    let mut s = Sim::new(ProducerConfig {
        batch_num_messages: 1,
        ..idempotent()
    });
    s.producer_id(5, 0);
    s.append("t", Some(0), record("a"));
    s.metadata("t", &[1]);
    s.append("t", Some(0), record("b"));
    s.append("t", Some(0), record("c"));
    let first = s.poll().unwrap();
    assert!(s.poll().is_none(), "the broker may not know producer 5 yet");
    s.answer(&first, None);
    let second = s.poll().unwrap();
    let third = s.poll().expect("now pipelined");
    assert_eq!(stamp_of(&second), [(0, 5, 0, 1)]);
    assert_eq!(stamp_of(&third), [(0, 5, 0, 2)]);
}
