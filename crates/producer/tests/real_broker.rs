//! The producer against a real Apache Kafka broker run by
//! `protocol-tests/harness/kafka.sh`:
//!
//! ```text
//! bash protocol-tests/harness/kafka.sh install
//! bash protocol-tests/harness/kafka.sh start single    # 127.0.0.1:19092
//! eval "$(bash protocol-tests/harness/kafka.sh env)"
//! cargo test -p flame-kafka-producer --test real_broker
//! ```
//!
//! Records are read back with plain Fetch requests through the cluster crate and
//! decoded with the codec. The tests panic if `FLAME_KAFKA_BOOTSTRAP` is missing:
//! they never skip.
// Test helpers panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use flame_kafka_cluster::{Cluster, ClusterConfig, NewTopic, Purpose};
use flame_kafka_codec::messages::fetch_request::{FetchPartition, FetchTopic};
use flame_kafka_codec::messages::{FetchRequest, InitProducerIdRequest, TopicName};
use flame_kafka_codec::protocol::StrBytes;
use flame_kafka_codec::record_batch::{decode_batches, DecodeLimits, RecordBatch};
use flame_kafka_codec::KafkaCode;
use flame_kafka_producer::accumulator::{Accumulator, TopicUpdate};
use flame_kafka_producer::{
    Acks, Compression, ProduceError, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
};

fn bootstrap() -> String {
    std::env::var("FLAME_KAFKA_BOOTSTRAP").unwrap_or_else(|_| {
        panic!(
            "FLAME_KAFKA_BOOTSTRAP is not set: start a broker with `bash \
             protocol-tests/harness/kafka.sh start single`, then `eval \"$(bash \
             protocol-tests/harness/kafka.sh env)\"`"
        )
    })
}

fn unique(label: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("flame-producer-{label}-{}-{nanos}", std::process::id())
}

async fn connect() -> Cluster {
    init_tracing();
    let mut config = ClusterConfig::new(bootstrap());
    config.client_id = "flame-producer-tests".into();
    Cluster::connect(config).await.unwrap()
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "flame_kafka_producer=info,flame_kafka_cluster=warn".into()),
        )
        .with_test_writer()
        .try_init();
}

async fn topic(cluster: &Cluster, label: &str, partitions: i32) -> String {
    let name = unique(label);
    cluster
        .create_topics(&[(name.as_str(), partitions, 1)])
        .await
        .unwrap();
    name
}

/// Every batch of `partition` from offset 0 until `count` records were read.
async fn fetch(cluster: &Cluster, topic: &str, partition: i32, count: usize) -> Vec<RecordBatch> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut batches = Vec::new();
    let mut offset = 0;
    let mut got = 0;
    while got < count {
        assert!(
            Instant::now() < deadline,
            "{topic}[{partition}]: {got} of {count} records"
        );
        let (leader, _) = cluster.leader(topic, partition).await.unwrap();
        let request = FetchRequest::default()
            .with_max_wait_ms(200)
            .with_min_bytes(1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(16 << 20)])]);
        let (response, _) = cluster
            .send(leader, Purpose::Fetch, &request)
            .await
            .unwrap();
        let data = &response.responses[0].partitions[0];
        if let Some(code) = KafkaCode::from_code(data.error_code) {
            // A new topic's partition may not serve fetches for a moment.
            assert!(code.is_retriable(), "fetch failed: {code:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = cluster.refresh_metadata().await;
            continue;
        }
        let records = data.records.clone().unwrap_or_default();
        for batch in decode_batches(records, &DecodeLimits::default()).unwrap() {
            offset = batch.next_offset();
            got += batch.records.len();
            batches.push(batch);
        }
    }
    batches
}

/// Test records: keys (some null), values, headers (a null-valued one), timestamps.
fn records(topic: &str, n: usize) -> Vec<ProducerRecord> {
    (0..n)
        .map(|i| {
            let mut r = ProducerRecord::new(topic)
                .value(format!("value-{i}-{}", "x".repeat(i % 50)))
                .header("i", Some(Bytes::from(i.to_string())))
                .timestamp(1_700_000_000_000 + i as i64);
            if i % 7 != 0 {
                r = r.key(format!("key-{}", i % 13));
            }
            if i % 5 == 0 {
                r = r.header("null", None);
            }
            r
        })
        .collect()
}

/// Sends `records` through `producer` and waits for every outcome.
async fn produce(producer: &Producer, records: &[ProducerRecord]) -> Vec<RecordMetadata> {
    let mut futures = Vec::new();
    for r in records {
        futures.push(producer.send(r.clone()).await.unwrap());
    }
    producer.flush().await.unwrap();
    let mut out = Vec::new();
    for f in futures {
        out.push(f.await.unwrap());
    }
    out
}

/// Reads back what `produce` reported and checks every field and the order.
async fn check_read_back(
    cluster: &Cluster,
    sent: &[ProducerRecord],
    delivered: &[RecordMetadata],
    compression: Compression,
) {
    let mut per_partition: BTreeMap<i32, Vec<(&ProducerRecord, &RecordMetadata)>> = BTreeMap::new();
    for (r, m) in sent.iter().zip(delivered) {
        per_partition.entry(m.partition).or_default().push((r, m));
    }
    for (partition, expected) in per_partition {
        let topic = &expected[0].1.topic;
        let batches = fetch(cluster, topic, partition, expected.len()).await;
        let fetched: Vec<_> = batches.iter().flat_map(|b| &b.records).collect();
        assert_eq!(fetched.len(), expected.len(), "no duplicates, nothing lost");
        for batch in &batches {
            assert_eq!(batch.compression, compression);
        }
        for (got, (want, meta)) in fetched.iter().zip(&expected) {
            assert_eq!(
                got.offset, meta.offset,
                "offsets as reported, in send order"
            );
            assert_eq!(got.key, want.key);
            assert_eq!(got.value, want.value);
            assert_eq!(got.headers, want.headers);
            assert_eq!(Some(got.timestamp), want.timestamp);
            assert_eq!(meta.timestamp, got.timestamp);
        }
    }
}

#[tokio::test]
async fn every_codec_round_trips() {
    let cluster = connect().await;
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let topic = topic(&cluster, compression.name(), 3).await;
        let config = ProducerConfig {
            compression,
            compression_level: (compression == Compression::Gzip).then_some(9),
            batch_num_messages: 100,
            ..ProducerConfig::default()
        };
        let producer = Producer::new(config, cluster.clone()).unwrap();
        let sent = records(&topic, 500);
        let delivered = produce(&producer, &sent).await;
        check_read_back(&cluster, &sent, &delivered, compression).await;
        producer.close(Duration::from_secs(10)).await.unwrap();
    }
}

#[tokio::test]
async fn every_acks_setting_delivers() {
    let cluster = connect().await;
    for acks in [Acks::None, Acks::Leader, Acks::All] {
        let topic = topic(&cluster, &format!("acks{}", acks.as_i16()), 2).await;
        let config = ProducerConfig {
            acks,
            ..ProducerConfig::default()
        };
        let producer = Producer::new(config, cluster.clone()).unwrap();
        if acks == Acks::None {
            // acks=0 cannot retry what a partition not yet ready drops: warm it up.
            let warm = Producer::new(ProducerConfig::default(), cluster.clone()).unwrap();
            for partition in 0..2 {
                let r = ProducerRecord::new(&topic)
                    .partition(partition)
                    .timestamp(1);
                warm.send(r).await.unwrap().await.unwrap();
            }
            warm.close(Duration::from_secs(10)).await.unwrap();
        }
        let sent = records(&topic, 200);
        let delivered = produce(&producer, &sent).await;
        if acks == Acks::None {
            assert!(delivered.iter().all(|m| m.offset == -1));
            let mut counts = BTreeMap::from([(0, 1), (1, 1)]);
            for m in &delivered {
                *counts.entry(m.partition).or_insert(0) += 1;
            }
            for (partition, count) in counts {
                let fetched: usize = fetch(&cluster, &topic, partition, count)
                    .await
                    .iter()
                    .map(|b| b.records.len())
                    .sum();
                assert_eq!(fetched, count);
            }
        } else {
            check_read_back(&cluster, &sent, &delivered, Compression::None).await;
        }
        producer.close(Duration::from_secs(10)).await.unwrap();
    }
}

#[tokio::test]
async fn idempotent_batches_carry_gapless_sequences() {
    let cluster = connect().await;
    let topic = topic(&cluster, "sequences", 2).await;
    let config = ProducerConfig {
        batch_num_messages: 17,
        linger: Duration::from_millis(1),
        ..ProducerConfig::default()
    };
    let producer = Producer::new(config, cluster.clone()).unwrap();
    let sent = records(&topic, 400);
    let delivered = produce(&producer, &sent).await;
    check_read_back(&cluster, &sent, &delivered, Compression::None).await;
    for partition in 0..2 {
        let count = delivered
            .iter()
            .filter(|m| m.partition == partition)
            .count();
        let batches = fetch(&cluster, &topic, partition, count).await;
        let mut next = 0;
        for b in &batches {
            assert!(b.producer_id >= 0, "idempotent by default");
            assert_eq!(b.producer_id, batches[0].producer_id);
            assert_eq!(b.base_sequence, next, "gapless sequence numbers");
            next += b.records.len() as i32;
        }
    }
    producer.close(Duration::from_secs(10)).await.unwrap();
}

/// Drives the accumulator by hand against the broker and "loses" every first
/// answer, as a broken connection would after the broker wrote the batch. The
/// idempotent producer's retries must not duplicate anything; the same test
/// without idempotence shows the duplicates it prevents.
#[tokio::test]
async fn retries_after_lost_answers_do_not_duplicate() {
    let cluster = connect().await;
    for idempotent in [true, false] {
        let topic = topic(&cluster, "lost-answers", 1).await;
        let config = ProducerConfig {
            enable_idempotence: Some(idempotent),
            batch_num_messages: 10,
            retry_backoff: Duration::from_millis(1),
            ..ProducerConfig::default()
        };
        let mut acc = Accumulator::new(config, 1).unwrap();
        let t0 = Instant::now();
        for r in records(&topic, 50) {
            let (topic, partition, record) = (r.topic.clone(), r.partition, to_record(r));
            acc.try_append(&topic, partition, record, t0, t0).unwrap();
        }
        let metadata = cluster
            .ensure_topics(std::slice::from_ref(&topic))
            .await
            .unwrap();
        let leader = metadata.leader(&topic, 0).unwrap().0;
        acc.handle_metadata(
            vec![TopicUpdate {
                topic: topic.clone(),
                leaders: Ok(vec![Some(leader)]),
            }],
            t0,
        );
        if let Some(out) = acc.poll_init_producer_id(t0) {
            assert_eq!(out.producer_id, -1);
            let (response, _) = cluster
                .send(
                    leader,
                    Purpose::Produce,
                    &InitProducerIdRequest::default()
                        .with_transactional_id(None)
                        .with_transaction_timeout_ms(i32::MAX),
                )
                .await
                .unwrap();
            assert_eq!(KafkaCode::from_code(response.error_code), None);
            assert!(response.producer_id.0 >= 0);
            acc.handle_producer_id(response.producer_id.0, response.producer_epoch);
        }
        acc.begin_flush();
        let mut lost = std::collections::BTreeSet::new();
        let mut delivered = Vec::new();
        let deadline = t0 + Duration::from_secs(30);
        while delivered.len() < 50 {
            assert!(Instant::now() < deadline, "stuck at {}", delivered.len());
            let now = Instant::now();
            acc.handle_timeout(now);
            if acc.poll_metadata(now).is_some() {
                // A lost connection makes the producer ask who leads now.
                let update = TopicUpdate {
                    topic: topic.clone(),
                    leaders: Ok(vec![Some(leader)]),
                };
                acc.handle_metadata(vec![update], now);
            }
            if let Some(req) = acc.poll_produce(now) {
                let (response, _) = cluster
                    .send(req.broker, Purpose::Produce, &req.request)
                    .await
                    .unwrap();
                let first_seq = contents_key(&req);
                if lost.insert(first_seq) {
                    let gone = flame_kafka_cluster::ClusterError::UnknownBroker { broker: leader };
                    acc.handle_produce_failed(req.id, &gone, Instant::now());
                } else {
                    acc.handle_produce_response(req.id, &response, Instant::now());
                }
            } else {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            while let Some(d) = acc.poll_delivery() {
                delivered.push(d.result.unwrap());
            }
        }
        let batches = fetch(&cluster, &topic, 0, 50).await;
        assert!(batches.iter().all(|b| (b.producer_id >= 0) == idempotent));
        let written: usize = batches.iter().map(|b| b.records.len()).sum();
        if idempotent {
            assert_eq!(written, 50, "the broker dropped every duplicate");
        } else {
            assert_eq!(written, 100, "without idempotence each retry duplicates");
        }
    }
}

/// A key for a request's content: its first record's header `i`.
fn contents_key(req: &flame_kafka_producer::accumulator::ProduceRequestOut) -> String {
    let data = req.request.topic_data[0].partition_data[0]
        .records
        .clone()
        .unwrap();
    let batch = &decode_batches(data, &DecodeLimits::default()).unwrap()[0];
    let header = batch.records[0].headers[0].value.clone().unwrap();
    String::from_utf8(header.to_vec()).unwrap()
}

fn to_record(r: ProducerRecord) -> flame_kafka_codec::Record {
    flame_kafka_codec::Record {
        offset: 0,
        timestamp: r.timestamp.unwrap(),
        key: r.key,
        value: r.value,
        headers: r.headers,
    }
}

#[tokio::test]
async fn unknown_topics_and_partitions_fail_typed() {
    let cluster = connect().await;
    let config = ProducerConfig {
        topic_metadata_propagation_max: Duration::from_millis(300),
        ..ProducerConfig::default()
    };
    let producer = Producer::new(config, cluster.clone()).unwrap();
    let missing = unique("missing");
    let future = producer
        .send(ProducerRecord::new(&missing).value("v"))
        .await
        .unwrap();
    let flushed = producer.flush().await.unwrap_err();
    assert!(
        matches!(&flushed.failures[..], [ProduceError::UnknownTopic { topic }] if *topic == missing),
        "{flushed:?}"
    );
    match future.await {
        Err(ProduceError::UnknownTopic { topic }) => assert_eq!(topic, missing),
        other => panic!("{other:?}"),
    }
    let topic = topic(&cluster, "partitions", 2).await;
    let ok = producer
        .send(ProducerRecord::new(&topic).value("v"))
        .await
        .unwrap();
    assert!(ok.await.is_ok());
    let future = producer
        .send(ProducerRecord::new(&topic).partition(7).value("v"))
        .await
        .unwrap();
    match future.await {
        Err(ProduceError::UnknownPartition {
            partition,
            partition_count,
            ..
        }) => {
            assert_eq!((partition, partition_count), (7, 2))
        }
        other => panic!("{other:?}"),
    }
    let huge = ProducerRecord::new(&topic).value(vec![0u8; 2_000_000]);
    assert!(matches!(
        producer.send(huge).await,
        Err(ProduceError::RecordTooLarge { .. })
    ));
    producer.close(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn backpressure_close_and_drop_deliver_everything() {
    let cluster = connect().await;
    let topic = topic(&cluster, "backpressure", 1).await;
    let config = ProducerConfig {
        queue_buffering_max_messages: 10,
        linger: Duration::from_millis(50),
        ..ProducerConfig::default()
    };
    let producer = Producer::new(config.clone(), cluster.clone()).unwrap();
    // 100 records through a queue of 10: send waits for room instead of failing.
    let sent = records(&topic, 100);
    let mut futures = Vec::new();
    for r in &sent {
        futures.push(producer.send(r.clone()).await.unwrap());
    }
    // close delivers what is queued before it stops.
    producer.close(Duration::from_secs(10)).await.unwrap();
    let mut delivered = Vec::new();
    for f in futures {
        delivered.push(f.await.unwrap());
    }
    check_read_back(&cluster, &sent, &delivered, Compression::None).await;

    // Dropping the last handle delivers what is queued too (best effort, 10 s).
    let producer = Producer::new(config, cluster.clone()).unwrap();
    let more = records(&topic, 5);
    let mut futures = Vec::new();
    for r in &more {
        futures.push(producer.send(r.clone()).await.unwrap());
    }
    drop(producer);
    for f in futures {
        let meta = f.await.unwrap();
        assert!(meta.offset >= 100);
    }
    // A close that runs out of time fails what is left and says how much.
    let closed = Producer::new(ProducerConfig::default(), cluster.clone()).unwrap();
    let clone = closed.clone();
    let stuck = closed
        .send(ProducerRecord::new(unique("never")).value("v"))
        .await
        .unwrap();
    let error = closed.close(Duration::from_millis(200)).await.unwrap_err();
    assert_eq!((error.failures.len(), error.undelivered), (0, 1));
    assert!(matches!(stuck.await, Err(ProduceError::Closed)));
    assert!(matches!(
        clone.send(ProducerRecord::new(&topic)).await,
        Err(ProduceError::Closed)
    ));
}

/// A topic with `max.message.bytes=2000` and batches far beyond it: the broker
/// refuses them (MESSAGE_TOO_LARGE), the producer splits them, and every record is
/// written once, in order, with or without idempotence. A record larger than the
/// limit on its own fails typed, and the records around it still go.
#[tokio::test]
async fn batches_refused_as_too_large_are_split() {
    const LIMIT: usize = 2000;
    let cluster = connect().await;
    for idempotent in [true, false] {
        let name = unique(if idempotent {
            "split-idem"
        } else {
            "split-plain"
        });
        cluster
            .create_topics_with_configs(&[
                NewTopic::new(&name, 1, 1).config("max.message.bytes", LIMIT.to_string())
            ])
            .await
            .unwrap();
        let config = ProducerConfig {
            enable_idempotence: Some(idempotent),
            // Without idempotence, only one request in flight keeps the order
            // across retries (as in every client).
            max_in_flight: if idempotent { 5 } else { 1 },
            linger: Duration::from_millis(200),
            ..ProducerConfig::default()
        };
        let producer = Producer::new(config, cluster.clone()).unwrap();
        // 200 records of 300 bytes: 60 kB, lingering into one batch of them all.
        let record = |i: usize, value: String| {
            ProducerRecord::new(&name)
                .key(format!("k{i:03}"))
                .value(value)
                .timestamp(1_700_000_000_000 + i as i64)
        };
        let sent: Vec<ProducerRecord> = (0..200)
            .map(|i| record(i, format!("{i:04}-{}", "v".repeat(295))))
            .collect();
        let delivered = produce(&producer, &sent).await;
        let offsets: Vec<i64> = delivered.iter().map(|m| m.offset).collect();
        assert_eq!(offsets, (0..200).collect::<Vec<i64>>(), "{name}");
        check_read_back(&cluster, &sent, &delivered, Compression::None).await;

        // A record above the limit, between two that fit.
        let before = producer.send(record(200, "before".into())).await.unwrap();
        let huge = producer
            .send(record(201, "h".repeat(3 * LIMIT)))
            .await
            .unwrap();
        let after = producer.send(record(202, "after".into())).await.unwrap();
        let flushed = producer.flush().await.unwrap_err();
        assert_eq!(flushed.failures.len(), 1, "{flushed:?}");
        match &huge.await {
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
                    (topic.as_str(), *partition, *code),
                    (name.as_str(), 0, KafkaCode::MessageTooLarge)
                );
                assert!(*record_size > 3 * LIMIT && *batch_size > 3 * LIMIT, "{e}");
                assert!(!e.is_retriable());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(before.await.unwrap().offset, 200);
        assert_eq!(after.await.unwrap().offset, 201);
        producer.close(Duration::from_secs(10)).await.unwrap();

        // The log: every record once, in send order, in batches the broker took.
        let batches = fetch(&cluster, &name, 0, 202).await;
        let records: Vec<_> = batches.iter().flat_map(|b| &b.records).collect();
        assert_eq!(records.len(), 202, "nothing lost, nothing duplicated");
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.offset, i as i64);
            let want = match i {
                0..200 => sent[i].value.clone(),
                200 => Some(Bytes::from("before")),
                _ => Some(Bytes::from("after")),
            };
            assert_eq!(r.value, want, "offset {i}");
        }
        assert!(batches.len() >= 200 / 6, "{} batches", batches.len());
        if idempotent {
            // Gapless sequences: the pieces of a refused batch took its range. The
            // huge record left a gap, so `after` went under a new id/epoch.
            let (first, rest) = batches.split_at(batches.len() - 1);
            let mut next = 0;
            for b in first {
                assert_eq!(
                    (b.producer_id, b.producer_epoch, b.base_sequence),
                    (batches[0].producer_id, batches[0].producer_epoch, next)
                );
                next += b.records.len() as i32;
            }
            // (A broker answers a bump of a non-transactional producer with a
            // fresh id.)
            let last = &rest[0];
            assert_ne!(
                (last.producer_id, last.producer_epoch),
                (batches[0].producer_id, batches[0].producer_epoch)
            );
            assert_eq!(last.base_sequence, 0);
        } else {
            assert!(batches.iter().all(|b| b.producer_id == -1));
        }
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: eval \"$(bash protocol-tests/harness/kafka.sh env)\"")
    })
}

/// KIP-368: kafka.sh gives SASL_PLAINTEXT sessions a 3 s lifetime and the broker
/// closes a connection used after its session expired. A producer sending a record
/// every 100 ms for four lifetimes delivers every one, in order, over the
/// connections it started with: their sessions are renewed in place.
#[tokio::test]
async fn a_producer_over_sasl_outlives_its_sessions() {
    init_tracing();
    let mut config = ClusterConfig::new(env("FLAME_KAFKA_SASL_BOOTSTRAP"));
    config.client_id = "flame-producer-tests".into();
    config.security = flame_kafka_cluster::security::Security::SaslPlaintext(
        flame_kafka_cluster::security::SaslConfig::scram_sha512(
            env("FLAME_KAFKA_SASL_USER"),
            env("FLAME_KAFKA_SASL_PASSWORD"),
        ),
    );
    let cluster = Cluster::connect(config).await.unwrap();
    let topic = topic(&cluster, "sasl", 2).await;
    let producer = Producer::new(ProducerConfig::default(), cluster.clone()).unwrap();
    // Warm up: every connection the producer needs is open.
    for partition in 0..2 {
        let r = ProducerRecord::new(&topic)
            .partition(partition)
            .timestamp(1);
        producer.send(r).await.unwrap().await.unwrap();
    }
    let before = cluster.connection_stats();
    let started = Instant::now();
    let mut sent = Vec::new();
    let mut delivered = Vec::new();
    while started.elapsed() < Duration::from_secs(12) {
        let i = sent.len();
        let r = ProducerRecord::new(&topic)
            .partition((i % 2) as i32)
            .value(format!("v{i}"))
            .timestamp(1);
        sent.push(r.clone());
        delivered.push(producer.send(r).await.unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    producer.flush().await.unwrap();
    let mut next = BTreeMap::from([(0, 1), (1, 1)]);
    for (i, d) in delivered.into_iter().enumerate() {
        let m = d
            .await
            .unwrap_or_else(|e| panic!("record {i} of {}: {e}", sent.len()));
        let expected = next.get_mut(&m.partition).unwrap();
        assert_eq!(m.offset, *expected, "record {i}");
        *expected += 1;
    }
    let after = cluster.connection_stats();
    assert_eq!(
        after.opened, before.opened,
        "reconnected: {before:?} -> {after:?}"
    );
    assert!(
        after.reauthenticated - before.reauthenticated >= 3,
        "{before:?} -> {after:?}"
    );
    producer.close(Duration::from_secs(10)).await.unwrap();
}
