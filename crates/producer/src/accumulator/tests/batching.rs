//! Batching, request building, in-flight limits, retry order and partitioning.

use super::*;
use crate::partitioner::Partitioner;

#[test]
fn linger_holds_a_batch_until_it_ends() {
    let mut s = Sim::new(config());
    let id = s.append("t", Some(0), record("a"));
    assert!(s.poll().is_none(), "no metadata yet");
    s.metadata("t", &[1]);
    assert!(s.poll().is_none(), "lingering");
    assert_eq!(s.acc.poll_timeout(s.now), Some(s.t0 + 5 * MS));
    s.advance(4 * MS);
    s.append("t", Some(0), record("b"));
    assert!(s.poll().is_none());
    s.advance(MS);
    let req = s.poll().expect("linger over");
    assert_eq!(req.broker, BrokerId(1));
    assert_eq!(req.request.acks, -1);
    assert_eq!(req.request.timeout_ms, 30_000);
    let c = contents(&req);
    assert_eq!(values(&c[0].2), ["a", "b"]);
    assert_eq!(c[0].2.producer_id, -1, "not idempotent");
    s.answer(&req, None);
    let meta = s.outcome(id).as_ref().unwrap();
    assert_eq!(
        (&*meta.topic, meta.partition, meta.offset, meta.timestamp),
        ("t", 0, 0, 1000)
    );
    assert!(s.acc.is_empty());
    assert_eq!(s.acc.poll_timeout(s.now), None);
}

#[test]
fn size_and_count_trigger_batches_and_bound_them() {
    let mut s = Sim::new(ProducerConfig {
        batch_num_messages: 3,
        ..config()
    });
    s.append("t", Some(0), record("x"));
    s.metadata("t", &[1]);
    s.append("t", Some(0), record("y"));
    assert!(s.poll().is_none());
    s.append("t", Some(0), record("z"));
    s.append("t", Some(0), record("w"));
    let req = s.poll().expect("three records make a batch");
    assert_eq!(values(&contents(&req)[0].2), ["x", "y", "z"]);
    assert!(s.poll().is_none(), "the fourth lingers");

    let one = record(&"v".repeat(100));
    let size = crate::record::record_size(&one);
    let mut s = Sim::new(ProducerConfig {
        batch_size: 61 + 3 * size,
        ..config()
    });
    s.append("t", Some(0), one.clone());
    s.metadata("t", &[1]);
    s.append("t", Some(0), one.clone());
    assert!(s.poll().is_none(), "two records do not fill the batch");
    s.append("t", Some(0), one.clone());
    s.append("t", Some(0), one);
    let req = s.poll().expect("batch.size reached");
    assert_eq!(req.records, 3, "a batch holds what fits");
}

#[test]
fn one_request_per_broker_with_every_partition_it_leads() {
    let mut s = Sim::new(config());
    s.append("t", Some(0), record("p0"));
    s.metadata("t", &[1, 2, 1]);
    s.append("t", Some(1), record("p1"));
    s.append("t", Some(2), record("p2"));
    s.acc.begin_flush();
    let mut by_broker = HashMap::new();
    while let Some(req) = s.poll() {
        let parts: Vec<i32> = contents(&req).iter().map(|c| c.1).collect();
        by_broker.insert(req.broker, parts);
        s.answer(&req, None);
    }
    s.acc.end_flush();
    assert_eq!(by_broker[&BrokerId(1)], [0, 2]);
    assert_eq!(by_broker[&BrokerId(2)], [1]);
    assert!(s.acc.is_empty());
}

#[test]
fn request_size_is_bounded() {
    let value = "v".repeat(1000);
    let mut s = Sim::new(ProducerConfig {
        request_max_bytes: 2500,
        ..config()
    });
    s.append("t", Some(0), record(&value));
    s.metadata("t", &[1, 1, 1]);
    s.append("t", Some(1), record(&value));
    s.append("t", Some(2), record(&value));
    s.acc.begin_flush();
    let first = s.poll().unwrap();
    let second = s.poll().unwrap();
    assert_eq!(contents(&first).len(), 2);
    assert_eq!(contents(&second).len(), 1);
}

#[test]
fn in_flight_limit_per_broker() {
    let mut s = Sim::new(ProducerConfig {
        max_in_flight: 2,
        batch_num_messages: 1,
        ..config()
    });
    s.append("t", Some(0), record("0"));
    s.metadata("t", &[1]);
    for i in 1..5 {
        s.append("t", Some(0), record(&i.to_string()));
    }
    let a = s.poll().unwrap();
    let b = s.poll().unwrap();
    assert!(s.poll().is_none(), "two in flight");
    // Blocked by the limit: only the records' deadlines wake the driver.
    assert_eq!(
        s.acc.poll_timeout(s.now),
        Some(s.t0 + Duration::from_secs(300))
    );
    s.answer(&a, None);
    let c = s.poll().expect("a slot is free");
    assert!(s.poll().is_none());
    assert_eq!(values(&contents(&c)[0].2), ["2"]);
    s.answer(&b, None);
    s.answer(&c, None);
    let d = s.poll().unwrap();
    let e = s.poll().unwrap();
    s.answer(&d, None);
    s.answer(&e, None);
    let offsets: Vec<i64> = (0..5)
        .map(|i| s.outcome(MessageId(i)).as_ref().unwrap().offset)
        .collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4]);
}

#[test]
fn retries_keep_order_and_block_newer_records() {
    let mut s = Sim::new(ProducerConfig {
        batch_num_messages: 1,
        ..config()
    });
    let a = s.append("t", Some(0), record("a"));
    s.metadata("t", &[1]);
    s.append("t", Some(0), record("b"));
    let req_a = s.poll().unwrap();
    let req_b = s.poll().unwrap();
    // b fails first, then a: both go back, a before b.
    s.answer(&req_b, Some(KafkaCode::NotEnoughReplicas));
    s.answer(&req_a, Some(KafkaCode::NotEnoughReplicas));
    assert!(s.outcomes.is_empty(), "retriable errors are retried");
    s.append("t", Some(0), record("c"));
    assert!(s.poll().is_none(), "backing off");
    assert_eq!(s.acc.poll_timeout(s.now), Some(s.now + 100 * MS));
    s.advance(100 * MS);
    let retry_a = s.poll().expect("a again");
    assert!(s.poll().is_none(), "one retry at a time; c waits");
    assert_eq!(values(&contents(&retry_a)[0].2), ["a"]);
    s.answer(&retry_a, None);
    let retry_b = s.poll().expect("then b");
    assert_eq!(values(&contents(&retry_b)[0].2), ["b"]);
    assert!(s.poll().is_none());
    s.answer(&retry_b, None);
    let c = s.poll().expect("then c");
    assert_eq!(values(&contents(&c)[0].2), ["c"]);
    s.answer(&c, None);
    assert_eq!(s.outcome(a).as_ref().unwrap().offset, 0);
    assert_eq!(s.outcome(MessageId(1)).as_ref().unwrap().offset, 1);
    assert_eq!(s.outcome(MessageId(2)).as_ref().unwrap().offset, 2);
}

#[test]
fn backoff_doubles_up_to_the_maximum() {
    let mut s = Sim::new(config());
    s.append("t", Some(0), record("a"));
    s.metadata("t", &[1]);
    s.acc.begin_flush();
    let mut waits = Vec::new();
    for _ in 0..6 {
        let req = s.poll().unwrap();
        s.answer(&req, Some(KafkaCode::RequestTimedOut));
        let next = s.acc.poll_timeout(s.now).unwrap();
        waits.push((next - s.now).as_millis());
        s.advance(next - s.now);
    }
    assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
}

#[test]
fn retries_are_bounded_by_the_retries_setting() {
    let mut s = Sim::new(ProducerConfig {
        retries: 2,
        ..config()
    });
    let id = s.append("t", Some(0), record("a"));
    s.metadata("t", &[1]);
    s.acc.begin_flush();
    for _ in 0..3 {
        let req = s.poll().unwrap();
        s.answer(&req, Some(KafkaCode::NotEnoughReplicas));
        s.advance(Duration::from_secs(1));
    }
    match s.outcome(id) {
        Err(ProduceError::Broker { code, .. }) => assert_eq!(*code, KafkaCode::NotEnoughReplicas),
        other => panic!("{other:?}"),
    }
}

#[test]
fn java_partitioner_sticks_until_the_batch_is_sent() {
    let mut s = Sim::new(ProducerConfig {
        partitioner: Partitioner::Java,
        ..config()
    });
    s.append("t", None, record("first"));
    s.metadata("t", &[1, 1, 1, 1]);
    for i in 0..10 {
        s.append("t", None, record(&i.to_string()));
    }
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    let c = contents(&req);
    assert_eq!(c.len(), 1, "one sticky partition");
    assert_eq!(c[0].2.records.len(), 11);
    let first = c[0].1;
    s.append("t", None, record("after"));
    s.advance(5 * MS);
    let req = s.poll().unwrap();
    assert_ne!(
        contents(&req)[0].1,
        first,
        "a new partition after the batch went"
    );
    // Keyed records hash like the Java client.
    let id = s.append("t", None, keyed("kafka", "v"));
    s.acc.begin_flush();
    while let Some(req) = s.poll() {
        s.answer(&req, None);
    }
    let want = crate::partitioner::java_partition(b"kafka", 4);
    assert_eq!(s.outcome(id).as_ref().unwrap().partition, want);
}

#[test]
fn librdkafka_sticky_partitions_change_with_time() {
    let mut s = Sim::new(ProducerConfig {
        partitioner: Partitioner::ConsistentRandom,
        ..config()
    });
    s.append("t", Some(0), record("x"));
    s.metadata("t", &[1; 16]);
    let a = s.append("t", None, record("a"));
    let b = s.append("t", None, keyed("", "b"));
    let mut later = Vec::new();
    for _ in 0..20 {
        s.advance(10 * MS);
        later.push(s.append("t", None, record("c")));
    }
    s.acc.begin_flush();
    while let Some(req) = s.poll() {
        s.answer(&req, None);
    }
    let part = |s: &Sim, id| s.outcome(id).as_ref().unwrap().partition;
    assert_eq!(part(&s, a), part(&s, b), "same sticky window");
    let distinct: std::collections::BTreeSet<i32> =
        later.into_iter().map(|id| part(&s, id)).collect();
    assert!(distinct.len() > 3, "spread over time: {distinct:?}");
    let id = s.append("t", None, keyed("kafka", "v"));
    while let Some(req) = s.poll() {
        s.answer(&req, None);
    }
    assert_eq!(
        part(&s, id),
        crate::partitioner::crc32_partition(b"kafka", 16)
    );
}
