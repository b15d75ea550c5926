//! Issue 5: our partitioners put every key where the Java client and librdkafka put
//! it, bit for bit.
//!
//! 10,000 keys from a fixed seed (lengths 0..=64, the empty key included) are placed by
//! - the Java client's built-in partitioner (`Peer partition`, pure computation) for
//!   1, 3, 7, 16 and 100 partitions;
//! - librdkafka's partitioners, by producing the keys with the librdkafka peer
//!   (`--partitioner NAME`) to a 7-partition topic and reading the partitions from
//!   its delivery reports;
//! - our flame producer (`partitioner=...`), by producing the keys through the flame
//!   API to the same kind of topic and reading the partitions from the acks;
//!
//! and compared with `flame_kafka_producer::partitioner`'s pure functions and
//! `Partitioner::place`. Keys a partitioner places randomly (the empty key under
//! `consistent_random`, see the table in `crates/producer/src/partitioner.rs`) are
//! left out of the partition comparison, but their placement must be reported as
//! random/sticky.
//!
//! Needs the brokers and peers of `protocol-tests/harness/kafka.sh` (`FLAME_KAFKA_*`);
//! panics with instructions when they are missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use flame_kafka::Headers;
use flame_kafka_producer::partitioner::{
    crc32_partition, fnv1a_partition, java_partition, murmur2_partition, Placement,
};
use flame_kafka_producer::Partitioner;
use flame_kafka_protocol_tests::peer::{b64, Peer, PeerMessage};
use flame_kafka_protocol_tests::rng::SplitMix;
use flame_kafka_protocol_tests::{admin, bootstrap};

/// How many keys every partitioner places.
const KEYS: usize = 10_000;
/// Partition counts asked of the Java partitioner.
const JAVA_COUNTS: [i32; 5] = [1, 3, 7, 16, 100];
/// Partitions of the topics the producers write to.
const TOPIC_PARTITIONS: i32 = 7;

/// The test keys: the empty key (three times, at the start, middle and end), a few
/// text keys, and random bytes of lengths 1..=64.
fn keys() -> Vec<Bytes> {
    // A fixed seed, so every run places the same keys.
    let mut rng = SplitMix(0x5eed_f1a3_e0ca_fca0);
    let mut keys = vec![Bytes::new()];
    for text in ["a", "key", "user-42", "ÿ€\u{1F980}"] {
        keys.push(Bytes::copy_from_slice(text.as_bytes()));
    }
    while keys.len() < KEYS - 1 {
        if keys.len() == KEYS / 2 {
            keys.push(Bytes::new());
        }
        let len = 1 + (rng.next_u64() % 64) as usize;
        let key: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        keys.push(Bytes::from(key));
    }
    keys.push(Bytes::new());
    assert_eq!(keys.len(), KEYS);
    assert!(keys.iter().any(|k| k.len() == 1) && keys.iter().any(|k| k.len() == 64));
    keys
}

/// Produces `keys` (empty values) through the flame API with `partitioner` and
/// returns the partition each one was acknowledged at.
async fn flame_partitions(topic: &str, partitioner: &str, keys: &[Bytes]) -> Vec<i32> {
    let bootstrap = bootstrap();
    let producer = flame_kafka::produce(
        [
            ("bootstrap.servers", bootstrap.as_str()),
            ("partitioner", partitioner),
            ("linger.ms", "20"),
        ],
        &[topic],
    )
    .await
    .unwrap_or_else(|e| panic!("flame produce with partitioner={partitioner}: {e}"));
    let mut deliveries = Vec::with_capacity(keys.len());
    for key in keys {
        let delivery = producer
            .publish(topic, Bytes::new(), Some(key.clone()), Headers::new())
            .await
            .unwrap_or_else(|e| panic!("publish with partitioner={partitioner}: {e}"));
        deliveries.push(delivery);
    }
    let mut partitions = Vec::with_capacity(keys.len());
    for (i, delivery) in deliveries.into_iter().enumerate() {
        let ack = delivery
            .await
            .unwrap_or_else(|e| panic!("partitioner={partitioner}: key #{i} not delivered: {e}"));
        partitions.push(ack.partition);
    }
    partitions
}

/// Runs the librdkafka peer's producer with `--partitioner name` over `keys` and
/// returns the partition of each key, from its delivery reports (printed in input
/// order).
fn rdkafka_partitions(topic: &str, partitioner: &str, keys: &[Bytes]) -> Vec<i32> {
    let input: Vec<PeerMessage> = keys
        .iter()
        .map(|k| PeerMessage {
            topic: topic.to_owned(),
            key: Some(b64(k)),
            value: Some(String::new()),
            ..PeerMessage::default()
        })
        .collect();
    let bootstrap = bootstrap();
    let out = Peer::Rdkafka.run(
        "produce",
        &[
            "--bootstrap",
            &bootstrap,
            "--partitioner",
            partitioner,
            "--linger-ms",
            "20",
        ],
        &input,
    );
    assert_eq!(
        out.len(),
        keys.len(),
        "librdkafka ({partitioner}) reported {} of {} deliveries",
        out.len(),
        keys.len()
    );
    out.iter()
        .zip(keys)
        .enumerate()
        .map(|(i, (m, k))| {
            assert_eq!(
                m.key.as_deref(),
                Some(b64(k).as_str()),
                "librdkafka ({partitioner}) reports out of input order at #{i}"
            );
            m.partition
                .unwrap_or_else(|| panic!("librdkafka ({partitioner}): no partition for #{i}"))
        })
        .collect()
}

/// Collects up to 10 disagreements for a readable panic message.
#[derive(Default)]
struct Mismatches {
    count: usize,
    examples: Vec<String>,
}

impl Mismatches {
    fn check(&mut self, what: &str, key: &[u8], ours: i32, theirs: i32) {
        if ours != theirs {
            self.count += 1;
            if self.examples.len() < 10 {
                self.examples.push(format!(
                    "{what}: key {} (len {}): ours {ours}, theirs {theirs}",
                    b64(key),
                    key.len()
                ));
            }
        }
    }

    fn assert_none(&self, what: &str, compared: usize) {
        assert!(
            self.count == 0,
            "{what}: {} of {compared} keys placed differently:\n{}",
            self.count,
            self.examples.join("\n")
        );
    }
}

/// The Java client's built-in partitioner (`BuiltInPartitioner.partitionForKey`,
/// from the Java peer) equals `java_partition` and `Partitioner::Java.place` for
/// every key and partition count; our flame producer with `partitioner=java` puts
/// every key on the partition the Java client computes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_default_partitioner() {
    let started = Instant::now();
    let keys = keys();
    let stdin: String = keys.iter().map(|k| b64(k) + "\n").collect();
    // One JVM per partition count, all at once (pure computation).
    let peers: Vec<(i32, std::thread::JoinHandle<String>)> = JAVA_COUNTS
        .iter()
        .map(|&n| {
            let stdin = stdin.clone();
            let handle = std::thread::spawn(move || {
                Peer::Java.run_raw("partition", &["--partitions", &n.to_string()], &stdin)
            });
            (n, handle)
        })
        .collect();
    let topic = admin::single_broker_topic("partitioner", TOPIC_PARTITIONS).await;
    let flame = flame_partitions(&topic, "java", &keys).await;

    let mut java_at = BTreeMap::new();
    for (n, handle) in peers {
        let out = handle.join().expect("Java peer thread");
        let java: Vec<i32> = out
            .lines()
            .map(|l| {
                l.trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("Java peer printed {l:?}: {e}"))
            })
            .collect();
        assert_eq!(
            java.len(),
            keys.len(),
            "Java peer placed {} of {} keys (n={n})",
            java.len(),
            keys.len()
        );
        let mut by_function = Mismatches::default();
        let mut by_place = Mismatches::default();
        for (key, &theirs) in keys.iter().zip(&java) {
            by_function.check(
                &format!("java_partition n={n}"),
                key,
                java_partition(key, n),
                theirs,
            );
            let placed = match Partitioner::Java.place(Some(key), n) {
                Placement::Partition(p) => p,
                other => panic!("Partitioner::Java.place({}, {n}) = {other:?}", b64(key)),
            };
            by_place.check(
                &format!("Partitioner::Java.place n={n}"),
                key,
                placed,
                theirs,
            );
        }
        by_function.assert_none(
            &format!("java_partition vs the Java client, n={n}"),
            keys.len(),
        );
        by_place.assert_none(
            &format!("Partitioner::Java vs the Java client, n={n}"),
            keys.len(),
        );
        java_at.insert(n, java);
    }

    let java7 = &java_at[&TOPIC_PARTITIONS];
    let mut produced = Mismatches::default();
    for ((key, &ours), &theirs) in keys.iter().zip(&flame).zip(java7) {
        produced.check("flame partitioner=java", key, ours, theirs);
    }
    produced.assert_none(
        "the flame producer (partitioner=java) vs the Java client, 7 partitions",
        keys.len(),
    );
    println!(
        "partitioner: Java client = ours for {} keys x n in {JAVA_COUNTS:?}, and for {} keys produced \
         with partitioner=java ({:.1?})",
        keys.len(),
        keys.len(),
        started.elapsed()
    );
}

/// librdkafka's partitioners (run by the librdkafka peer's producer) equal our hash
/// functions and `Partitioner::place`, and our flame producer configured with the
/// same partitioner puts every key where librdkafka put it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_partitioners() {
    let started = Instant::now();
    let keys = keys();
    let topic = admin::single_broker_topic("partitioner", TOPIC_PARTITIONS).await;
    let n = TOPIC_PARTITIONS;
    // (name, the pure function, whether the flame producer is checked too)
    type HashFn = fn(&[u8], i32) -> i32;
    let cases: [(&str, HashFn, bool); 6] = [
        ("consistent_random", crc32_partition, true),
        ("murmur2_random", murmur2_partition, true),
        ("consistent", crc32_partition, false),
        ("murmur2", murmur2_partition, false),
        ("fnv1a", fnv1a_partition, false),
        ("fnv1a_random", fnv1a_partition, false),
    ];

    // The librdkafka runs in threads, two at a time, while the flame producers run.
    let rd_topic = topic.clone();
    let rd_keys = keys.clone();
    let names: Vec<&'static str> = cases.iter().map(|c| c.0).collect();
    let rdkafka = std::thread::spawn(move || {
        let mut out = BTreeMap::new();
        for pair in names.chunks(2) {
            let handles: Vec<_> = pair
                .iter()
                .map(|&name| {
                    let (t, k) = (rd_topic.clone(), rd_keys.clone());
                    (
                        name,
                        std::thread::spawn(move || rdkafka_partitions(&t, name, &k)),
                    )
                })
                .collect();
            for (name, h) in handles {
                out.insert(name, h.join().expect("librdkafka peer thread"));
            }
        }
        out
    });
    let mut flame = BTreeMap::new();
    for &(name, _, with_flame) in &cases {
        if with_flame {
            flame.insert(name, flame_partitions(&topic, name, &keys).await);
        }
    }
    let rdkafka = rdkafka.join().expect("librdkafka runs");

    let mut random_skipped = 0;
    for &(name, function, _) in &cases {
        let partitioner: Partitioner = name.parse().expect("a partitioner name");
        let theirs = &rdkafka[name];
        let mut by_function = Mismatches::default();
        let mut by_place = Mismatches::default();
        let mut by_flame = Mismatches::default();
        let mut compared = 0;
        for (i, key) in keys.iter().enumerate() {
            let placement = partitioner.place(Some(key), n);
            let Placement::Partition(placed) = placement else {
                // Only librdkafka's consistent_random places a key (the empty one)
                // randomly; anything else random would be a bug in `place`.
                assert!(
                    name == "consistent_random" && key.is_empty(),
                    "{name}.place({}) = {placement:?}: a keyed record must be hashed",
                    b64(key)
                );
                random_skipped += 1;
                continue;
            };
            compared += 1;
            by_function.check(name, key, function(key, n), theirs[i]);
            by_place.check(&format!("{name}.place"), key, placed, theirs[i]);
            if let Some(ours) = flame.get(name) {
                by_flame.check(
                    &format!("flame partitioner={name}"),
                    key,
                    ours[i],
                    theirs[i],
                );
            }
        }
        by_function.assert_none(&format!("{name}: our hash vs librdkafka"), compared);
        by_place.assert_none(
            &format!("{name}: Partitioner::place vs librdkafka"),
            compared,
        );
        by_flame.assert_none(
            &format!("{name}: the flame producer vs librdkafka"),
            compared,
        );
        println!(
            "partitioner: librdkafka {name} = ours for {compared} keys{}",
            if flame.contains_key(name) {
                " (hash, place and the flame producer)"
            } else {
                " (hash and place)"
            }
        );
    }
    assert!(random_skipped > 0, "the empty key must be among the keys");
    println!(
        "partitioner: {random_skipped} empty keys left out under consistent_random (random in librdkafka) ({:.1?})",
        started.elapsed()
    );
}
