//! Batches refused as too large: split, sent again in order, sequences kept
//! gapless; a single record still too large fails typed.

use super::*;

fn idempotent() -> ProducerConfig {
    ProducerConfig::default()
}

/// Values `r0`, `r1`, ... of equal size.
fn numbered(range: std::ops::Range<usize>) -> Vec<Record> {
    range.map(|i| record(&format!("r{i:02}"))).collect()
}

/// `(values, base sequence)` of the single batch in `request`.
fn sent(request: &ProduceRequestOut) -> (Vec<String>, i32) {
    let c = contents(request);
    assert_eq!(c.len(), 1, "one partition per request here");
    (values(&c[0].2), c[0].2.base_sequence)
}

/// The offsets delivered for `ids`, in order.
fn offsets(s: &Sim, ids: &[MessageId]) -> Vec<i64> {
    ids.iter()
        .map(|id| match s.outcome(*id) {
            Ok(m) => m.offset,
            Err(e) => panic!("{id:?} failed: {e}"),
        })
        .collect()
}

#[test]
fn a_refused_batch_is_split_and_resent_in_order() {
    let mut s = Sim::new(config());
    let mut ids = Vec::new();
    for r in numbered(0..6) {
        ids.push(s.append("t", Some(0), r));
    }
    s.metadata("t", &[1]);
    s.advance(5 * MS);
    let big = s.poll().unwrap();
    assert_eq!(sent(&big).0.len(), 6);
    s.answer(&big, Some(KafkaCode::MessageTooLarge));
    assert!(
        s.outcomes.is_empty(),
        "nothing reported: the batch is split"
    );
    assert_eq!(s.acc.held_messages(), 6);

    let first = s.poll().expect("the first half goes at once, no backoff");
    assert_eq!(
        sent(&first),
        (vec!["r00".into(), "r01".into(), "r02".into()], -1)
    );
    assert!(s.poll().is_none(), "pieces go one at a time");
    s.answer(&first, None);
    let second = s.poll().unwrap();
    assert_eq!(sent(&second).0, ["r03", "r04", "r05"]);
    s.answer(&second, None);
    assert_eq!(offsets(&s, &ids), [0, 1, 2, 3, 4, 5]);

    // Later batches of the partition are cut to the size that got through.
    let mut later = Vec::new();
    for r in numbered(6..12) {
        later.push(s.append("t", Some(0), r));
    }
    let next = s.poll().expect("half a refused batch is a full batch");
    assert_eq!(sent(&next).0, ["r06", "r07", "r08"]);
    s.answer(&next, None);
    s.advance(5 * MS);
    let last = s.poll().unwrap();
    assert_eq!(sent(&last).0, ["r09", "r10", "r11"]);
    s.answer(&last, None);
    assert_eq!(offsets(&s, &later), [6, 7, 8, 9, 10, 11]);
    assert!(s.acc.is_empty());
}

#[test]
fn pieces_share_the_refused_batchs_sequence_range() {
    let mut s = Sim::new(ProducerConfig {
        batch_num_messages: 6,
        ..idempotent()
    });
    s.producer_id(5, 0);
    let mut ids = vec![s.append("t", Some(0), record("x00"))];
    s.metadata("t", &[1]);
    s.advance(5 * MS);
    let first = s.poll().unwrap();
    assert_eq!(sent(&first).1, 0);
    s.answer(&first, None);
    for r in numbered(1..9) {
        ids.push(s.append("t", Some(0), r));
    }
    s.acc.begin_flush();
    let big = s.poll().unwrap();
    let behind = s.poll().expect("pipelined behind it");
    assert_eq!(sent(&big).1, 1);
    assert_eq!(sent(&behind), (vec!["r07".into(), "r08".into()], 7));
    // The broker refuses the big batch, and so the one behind it is out of order.
    s.answer(&big, Some(KafkaCode::MessageTooLarge));
    s.answer(&behind, Some(KafkaCode::OutOfOrderSequenceNumber));
    assert!(
        s.acc.poll_init_producer_id(s.now).is_none(),
        "no epoch bump: the pieces fill the gap"
    );
    s.advance(Duration::from_secs(1));
    let mut seen = Vec::new();
    while let Some(req) = s.poll() {
        assert!(
            s.poll().is_none(),
            "one at a time until the retries are done"
        );
        seen.push(sent(&req));
        s.answer(&req, None);
    }
    let expected: Vec<(Vec<String>, i32)> = vec![
        (vec!["r01".into(), "r02".into(), "r03".into()], 1),
        (vec!["r04".into(), "r05".into(), "r06".into()], 4),
        (vec!["r07".into(), "r08".into()], 7),
    ];
    assert_eq!(
        seen, expected,
        "the pieces take sequences 1..7, then 7 as before"
    );
    let all: Vec<i64> = (0..9).collect();
    assert_eq!(offsets(&s, &ids), all);
    assert_eq!(
        s.acc.producer_id(),
        Some((5, 0)),
        "same producer id and epoch"
    );
}

/// A broker that refuses every batch of more than one record, with either code.
fn split_down_to_single_records(config: ProducerConfig) -> Vec<(Vec<String>, i32)> {
    let idempotent = config.enable_idempotence != Some(false);
    let mut s = Sim::new(config);
    if idempotent {
        s.producer_id(5, 0);
    }
    let ids: Vec<MessageId> = numbered(0..8)
        .into_iter()
        .map(|r| s.append("t", Some(0), r))
        .collect();
    s.metadata("t", &[1]);
    s.advance(5 * MS);
    let mut seen = Vec::new();
    let mut refusals = 0;
    while let Some(req) = s.poll() {
        seen.push(sent(&req));
        let code = (seen.last().unwrap().0.len() > 1).then(|| {
            refusals += 1;
            if refusals % 2 == 0 {
                KafkaCode::RecordListTooLarge
            } else {
                KafkaCode::MessageTooLarge
            }
        });
        s.answer(&req, code);
    }
    // 8 → 4+4; 4 refused → 2+2, and the waiting 4 is cut to 2+2 as well; 2
    // refused → singles, and so is every waiting piece: three refusals, not seven.
    assert_eq!(refusals, 3);
    assert_eq!(offsets(&s, &ids), (0..8).collect::<Vec<i64>>());
    assert!(s.acc.is_empty());
    seen.into_iter().filter(|(v, _)| v.len() == 1).collect()
}

#[test]
fn splits_recursively_down_to_single_records() {
    let singles = split_down_to_single_records(config());
    let values: Vec<String> = singles.iter().map(|(v, _)| v[0].clone()).collect();
    assert_eq!(
        values,
        (0..8).map(|i| format!("r{i:02}")).collect::<Vec<_>>()
    );
    assert!(singles.iter().all(|(_, seq)| *seq == -1));

    let singles = split_down_to_single_records(idempotent());
    let sequences: Vec<i32> = singles.iter().map(|(_, seq)| *seq).collect();
    assert_eq!(
        sequences,
        (0..8).collect::<Vec<i32>>(),
        "each record keeps its sequence"
    );
}

#[test]
fn a_single_record_still_too_large_fails_typed_and_others_go_on() {
    let mut s = Sim::new(idempotent());
    s.producer_id(5, 0);
    let a = s.append("t", Some(0), record("a"));
    s.metadata("t", &[1, 1]);
    let huge = record(&"h".repeat(1000));
    let huge_size = crate::record::record_size(&huge);
    let h = s.append("t", Some(0), huge);
    let b = s.append("t", Some(0), record("b"));
    let other = s.append("t", Some(1), record("p1"));
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    assert_eq!(contents(&req).len(), 2, "both partitions in one request");
    let too_large = |_: &str, partition: i32, batch: &RecordBatch| {
        let refused = partition == 0
            && batch
                .records
                .iter()
                .any(|r| r.value.as_ref().unwrap().len() > 100);
        refused.then_some(KafkaCode::MessageTooLarge)
    };
    s.answer_with(&req, too_large);
    assert_eq!(offsets(&s, &[other]), [0], "partition 1 is not held up");
    let mut seen = Vec::new();
    for _ in 0..10 {
        if let Some(bump) = s.acc.poll_init_producer_id(s.now) {
            assert_eq!((bump.producer_id, bump.producer_epoch), (5, 0));
            s.acc.handle_producer_id(5, 1);
        }
        let Some(req) = s.poll() else { break };
        let c = contents(&req);
        seen.push((values(&c[0].2), c[0].2.producer_epoch, c[0].2.base_sequence));
        s.answer_with(&req, too_large);
    }
    let h1000 = "h".repeat(1000);
    assert_eq!(
        seen,
        [
            (vec!["a".to_owned()], 0, 0),
            (vec![h1000], 0, 1),
            (vec!["b".to_owned()], 1, 0),
        ],
        "the record after the gap goes under a bumped epoch, from 0"
    );
    assert_eq!(offsets(&s, &[a, b]), [0, 1]);
    match s.outcome(h) {
        Err(
            e @ ProduceError::RecordTooLargeForBroker {
                topic,
                partition,
                record_size,
                batch_size,
                code,
                ..
            },
        ) => {
            assert_eq!(
                (topic.as_str(), *partition, *record_size, *code),
                ("t", 0, huge_size, KafkaCode::MessageTooLarge)
            );
            assert!(*batch_size > 1000 && *batch_size < 1200, "{batch_size}");
            assert!(!e.is_retriable());
            assert!(e.to_string().contains("t[0]"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // Partition 1 learned no limit: six records still make one batch.
    let later: Vec<MessageId> = numbered(0..6)
        .into_iter()
        .map(|r| s.append("t", Some(1), r))
        .collect();
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    assert_eq!(contents(&req)[0].2.records.len(), 6);
    s.answer(&req, None);
    assert_eq!(offsets(&s, &later), [1, 2, 3, 4, 5, 6]);
    assert!(s.acc.is_empty());
}

#[test]
fn a_refused_batch_past_its_deadline_times_out() {
    let mut s = Sim::new(ProducerConfig {
        message_timeout: Duration::from_secs(1),
        ..config()
    });
    let ids: Vec<MessageId> = numbered(0..4)
        .into_iter()
        .map(|r| s.append("t", Some(0), r))
        .collect();
    s.metadata("t", &[1]);
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    s.now += Duration::from_secs(2);
    s.answer(&req, Some(KafkaCode::MessageTooLarge));
    for id in ids {
        match s.outcome(id) {
            Err(e @ ProduceError::Timeout { .. }) => {
                assert_eq!(e.kafka_code(), Some(KafkaCode::MessageTooLarge))
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(s.acc.is_empty());
}
