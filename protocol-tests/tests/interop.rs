//! Issue 8: the interop matrix.
//!
//! Producers {ours (the flame API), the Java client, librdkafka} × consumers {ours
//! (flame `run`), Java, librdkafka} × compression {none, gzip, snappy, lz4, zstd}.
//! One test per producer: it produces once per codec to one fresh 3-partition topic,
//! then all three consumers read the whole topic at once (the peers by assigning
//! every partition from the beginning, ours through a fresh group from `earliest`).
//!
//! The messages cover keys, null keys, empty keys, empty values, null values
//! (tombstones), headers (repeated names, null and empty values, non-ASCII names)
//! and explicit timestamps. Every message must be read back exactly (key, value,
//! headers, timestamp), once, in order per partition; the raw batches in the log
//! must carry the codec their producer was asked for.
//!
//! Each test prints a line per cell (producer × consumer × codec) and its subtotal;
//! the last of the three to finish prints the total:
//! `interop: N cells, M messages, 0 lost, 0 duplicated, 0 reordered`.
//! (`cargo test -p flame-kafka-protocol-tests --test interop -- --nocapture`.)
//!
//! Needs the brokers and peers of `protocol-tests/harness/kafka.sh` (`FLAME_KAFKA_*`);
//! panics with instructions when they are missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flame_kafka::lower::codec::Compression;
use flame_kafka::{Headers, Message};
use flame_kafka_protocol_tests::peer::{b64, unb64, Peer, PeerMessage};
use flame_kafka_protocol_tests::rng::SplitMix;
use flame_kafka_protocol_tests::{admin, bootstrap, unique_name};

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
/// Messages per producer run (one run per codec).
const PER_CODEC: usize = 40;
const PARTITIONS: i32 = 3;
/// How long a consumer may take to read the whole topic.
const CONSUME_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Client {
    Ours,
    Java,
    Rdkafka,
}

impl Client {
    const ALL: [Client; 3] = [Client::Ours, Client::Java, Client::Rdkafka];

    fn index(self) -> u64 {
        match self {
            Client::Ours => 0,
            Client::Java => 1,
            Client::Rdkafka => 2,
        }
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Client::Ours => "ours",
            Client::Java => "java",
            Client::Rdkafka => "librdkafka",
        })
    }
}

fn compression(codec: &str) -> Compression {
    match codec {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => panic!("unknown codec {other}"),
    }
}

// ------------------------------------------------------------------ messages

/// One message as every client must read it back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Msg {
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(String, Option<Bytes>)>,
    timestamp: i64,
}

fn text(s: String) -> Option<Bytes> {
    Some(Bytes::from(s))
}

/// The messages `producer` sends with codec number `codec`.
fn messages(producer: Client, codec: usize) -> Vec<Msg> {
    // splitmix64 with a fixed seed per (producer, codec): the same messages every run.
    let mut rng = SplitMix(0x1e7e_0b5e ^ (producer.index() << 40) ^ ((codec as u64) << 32));
    let base =
        1_650_000_000_000 + producer.index() as i64 * 1_000_000_000 + codec as i64 * 10_000_000;
    (0..PER_CODEC)
        .map(|i| {
            let key = match i % 5 {
                0 => None,
                1 => Some(Bytes::new()),
                2 => Some(rng.bytes(24)),
                _ => text(format!("key-{}", i % 7)),
            };
            let value = match i % 8 {
                3 => None,
                5 => Some(Bytes::new()),
                7 => text(format!("{producer} {} #{i} ", CODECS[codec]).repeat(40)),
                1 => Some(rng.bytes(200)),
                _ => text(format!(
                    "value {i} of {producer}/{} ✓ {}",
                    CODECS[codec],
                    "ab".repeat(i)
                )),
            };
            let headers = match i % 4 {
                0 => vec![],
                1 => vec![
                    ("h".to_owned(), text(format!("first-{i}"))),
                    ("h".to_owned(), text(format!("second-{i}"))),
                ],
                2 => vec![
                    ("null".to_owned(), None),
                    ("empty".to_owned(), Some(Bytes::new())),
                ],
                _ => vec![
                    ("ünï-cödé".to_owned(), Some(rng.bytes(16))),
                    ("h".to_owned(), None),
                    ("h".to_owned(), text("x".into())),
                ],
            };
            Msg {
                key,
                value,
                headers,
                timestamp: base + i as i64 * 1_009,
            }
        })
        .collect()
}

fn to_peer(topic: &str, m: &Msg) -> PeerMessage {
    PeerMessage {
        topic: topic.to_owned(),
        partition: None,
        offset: None,
        key: m.key.as_deref().map(b64),
        value: m.value.as_deref().map(b64),
        headers: m
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), v.as_deref().map(b64)))
            .collect(),
        timestamp: Some(m.timestamp),
    }
}

fn from_peer(m: &PeerMessage) -> Msg {
    Msg {
        key: m.key.as_deref().map(unb64),
        value: m.value.as_deref().map(unb64),
        headers: m
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), v.as_deref().map(unb64)))
            .collect(),
        timestamp: m.timestamp.unwrap_or(-1),
    }
}

fn from_flame(m: &Message) -> Msg {
    Msg {
        key: m.key.clone(),
        value: m.payload.clone(),
        headers: m
            .headers
            .iter()
            .map(|(n, v)| (n.to_owned(), v.cloned()))
            .collect(),
        timestamp: m.timestamp,
    }
}

/// Where one message was stored, as its producer reported it.
#[derive(Debug, Clone, Copy)]
struct Stored {
    partition: i32,
    offset: i64,
    timestamp: i64,
}

// ------------------------------------------------------------------ producing

async fn produce_ours(topic: &str, codec: &str, messages: &[Msg]) -> Vec<Stored> {
    let bootstrap = bootstrap();
    let producer = flame_kafka::produce(
        [
            ("bootstrap.servers", bootstrap.as_str()),
            ("compression.type", codec),
        ],
        &[topic],
    )
    .await
    .unwrap_or_else(|e| panic!("flame produce (compression.type={codec}): {e}"));
    let mut deliveries = Vec::new();
    for m in messages {
        let mut message = Message::new(Bytes::new(), m.key.clone());
        message.payload = m.value.clone();
        message.headers = Headers::from(m.headers.clone());
        message.timestamp = m.timestamp;
        deliveries.push(
            producer
                .publish_message(topic, message)
                .await
                .unwrap_or_else(|e| panic!("flame publish ({codec}): {e}")),
        );
    }
    let mut stored = Vec::new();
    for (i, d) in deliveries.into_iter().enumerate() {
        let ack = d
            .await
            .unwrap_or_else(|e| panic!("flame ({codec}): message {i} not delivered: {e}"));
        stored.push(Stored {
            partition: ack.partition,
            offset: ack.offset,
            timestamp: ack.timestamp,
        });
    }
    producer.flush().await.expect("flush");
    stored
}

fn produce_peer(peer: Peer, topic: &str, codec: &str, messages: &[Msg]) -> Vec<Stored> {
    let input: Vec<PeerMessage> = messages.iter().map(|m| to_peer(topic, m)).collect();
    let bootstrap = bootstrap();
    let out = peer.run(
        "produce",
        &["--bootstrap", &bootstrap, "--compression", codec],
        &input,
    );
    assert_eq!(
        out.len(),
        messages.len(),
        "{peer:?} ({codec}) reported {} of {} messages",
        out.len(),
        messages.len()
    );
    out.iter()
        .enumerate()
        .map(|(i, m)| Stored {
            partition: m
                .partition
                .unwrap_or_else(|| panic!("{peer:?} ({codec}): no partition for #{i}")),
            offset: m
                .offset
                .unwrap_or_else(|| panic!("{peer:?} ({codec}): no offset for #{i}")),
            timestamp: m.timestamp.unwrap_or(-1),
        })
        .collect()
}

/// Produces every codec's messages with `producer`; returns, per codec, where each
/// message was stored.
async fn produce_all(producer: Client, topic: &str, sent: &[Vec<Msg>]) -> Vec<Vec<Stored>> {
    match producer {
        Client::Ours => {
            let mut out = Vec::new();
            for (codec, messages) in CODECS.iter().zip(sent) {
                out.push(produce_ours(topic, codec, messages).await);
            }
            out
        }
        Client::Java | Client::Rdkafka => {
            let peer = if producer == Client::Java {
                Peer::Java
            } else {
                Peer::Rdkafka
            };
            // The five runs at once: they write disjoint offsets, and each run's order
            // per partition is checked on its own.
            let handles: Vec<_> = CODECS
                .iter()
                .zip(sent)
                .map(|(&codec, messages)| {
                    let (topic, messages) = (topic.to_owned(), messages.clone());
                    std::thread::spawn(move || produce_peer(peer, &topic, codec, &messages))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| panic!("{producer} producer failed"))
                })
                .collect()
        }
    }
}

// ------------------------------------------------------------------ consuming

/// A consumed message with where it was read from.
struct Got {
    partition: i32,
    offset: i64,
    msg: Msg,
}

fn consume_peer(peer: Peer, topic: &str, count: usize) -> Vec<Got> {
    let bootstrap = bootstrap();
    let out = peer.run(
        "consume",
        &[
            "--bootstrap",
            &bootstrap,
            "--topic",
            topic,
            "--count",
            &count.to_string(),
            "--timeout-ms",
            &CONSUME_TIMEOUT.as_millis().to_string(),
        ],
        &[],
    );
    out.iter()
        .map(|m| Got {
            partition: m.partition.expect("consumed message without partition"),
            offset: m.offset.expect("consumed message without offset"),
            msg: from_peer(m),
        })
        .collect()
}

/// Our consumer (flame `run`, a fresh group from `earliest`) until `count` messages
/// came, plus a second to catch extra deliveries.
async fn consume_ours(topic: &str, count: usize) -> Vec<Got> {
    let bootstrap = bootstrap();
    let group = unique_name("interop-group");
    let consumer = flame_kafka::consume(
        [
            ("bootstrap.servers", bootstrap.as_str()),
            ("group.id", group.as_str()),
            ("auto.offset.reset", "earliest"),
        ],
        &[topic],
    )
    .await
    .unwrap_or_else(|e| panic!("flame consume {topic}: {e}"));
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let (closer, seen) = (consumer.clone(), got.clone());
    let closing = tokio::spawn(async move {
        let deadline = Instant::now() + CONSUME_TIMEOUT;
        while seen.lock().unwrap().len() < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        closer.close().await;
    });
    let sink = got.clone();
    consumer
        .run(move |m: Message| {
            sink.lock().unwrap().push(Got {
                partition: m.partition,
                offset: m.offset,
                msg: from_flame(&m),
            });
            async { Ok::<(), std::convert::Infallible>(()) }
        })
        .await
        .unwrap_or_else(|e| panic!("flame run on {topic}: {e}"));
    closing.await.unwrap();
    let out = std::mem::take(&mut *got.lock().unwrap());
    out
}

// ------------------------------------------------------------------ the log itself

/// Every batch of `topic` must be compressed with the codec of the run that wrote it.
async fn check_batch_codecs(
    producer: Client,
    topic: &str,
    by_position: &HashMap<(i32, i64), (usize, usize)>,
) -> Vec<String> {
    let cluster = admin::connect().await;
    let mut problems = Vec::new();
    for partition in 0..PARTITIONS {
        let end = by_position
            .keys()
            .filter(|(p, _)| *p == partition)
            .map(|(_, o)| o + 1)
            .max()
            .unwrap_or(0);
        let mut offset = 0;
        let deadline = Instant::now() + Duration::from_secs(30);
        while offset < end {
            assert!(
                Instant::now() < deadline,
                "{topic}[{partition}]: fetched up to {offset} of {end}"
            );
            let fetched = admin::fetch_from_leader(&cluster, topic, partition, offset, 16 << 20)
                .await
                .unwrap_or_else(|e| panic!("fetch {topic}[{partition}]@{offset}: {e}"));
            for batch in fetched.batches {
                let codecs: Vec<usize> = batch
                    .records
                    .iter()
                    .filter_map(|r| by_position.get(&(partition, r.offset)).map(|(c, _)| *c))
                    .collect();
                match codecs.first() {
                    Some(&codec) => {
                        if codecs.iter().any(|&c| c != codec) {
                            problems.push(format!(
                                "{producer}: batch {partition}@{} mixes codec runs",
                                batch.base_offset
                            ));
                        }
                        if batch.compression != compression(CODECS[codec]) {
                            problems.push(format!(
                                "{producer} {}: batch {partition}@{} ({} records) is {:?}",
                                CODECS[codec],
                                batch.base_offset,
                                batch.records.len(),
                                batch.compression
                            ));
                        }
                    }
                    None => problems.push(format!(
                        "{producer}: batch {partition}@{} holds no message we sent",
                        batch.base_offset
                    )),
                }
                offset = offset.max(batch.next_offset());
            }
        }
    }
    problems
}

// ------------------------------------------------------------------ the matrix

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    cells: usize,
    messages: usize,
    lost: usize,
    duplicated: usize,
    reordered: usize,
    altered: usize,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.cells += other.cells;
        self.messages += other.messages;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        self.altered += other.altered;
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} cells, {} messages, {} lost, {} duplicated, {} reordered",
            self.cells, self.messages, self.lost, self.duplicated, self.reordered
        )
    }
}

/// The three tests' subtotals; the last one prints the total.
static TOTAL: Mutex<(usize, Tally)> = Mutex::new((
    0,
    Tally {
        cells: 0,
        messages: 0,
        lost: 0,
        duplicated: 0,
        reordered: 0,
        altered: 0,
    },
));

/// Compares what `consumer` read with what was sent; returns a tally per codec and
/// examples of what went wrong.
fn judge(
    consumer: Client,
    got: &[Got],
    sent: &[Vec<Msg>],
    by_position: &HashMap<(i32, i64), (usize, usize)>,
) -> (Vec<Tally>, Vec<String>) {
    let mut tallies = vec![
        Tally {
            cells: 1,
            messages: PER_CODEC,
            ..Tally::default()
        };
        CODECS.len()
    ];
    let mut problems = Vec::new();
    let mut seen: HashMap<(i32, i64), usize> = HashMap::new();
    // Per partition: the offset and (codec, index) of the previous message.
    let mut last: HashMap<i32, (i64, usize, usize)> = HashMap::new();
    for g in got {
        let position = (g.partition, g.offset);
        let Some(&(codec, index)) = by_position.get(&position) else {
            problems.push(format!(
                "{consumer}: read {}@{} which no one wrote",
                g.partition, g.offset
            ));
            continue;
        };
        let tally = &mut tallies[codec];
        let times = seen.entry(position).or_default();
        *times += 1;
        if *times > 1 {
            tally.duplicated += 1;
            continue;
        }
        if g.msg != sent[codec][index] {
            tally.altered += 1;
            if problems.len() < 10 {
                problems.push(format!(
                    "{consumer} {}: {}@{} (#{index}) read back as {:?}, sent {:?}",
                    CODECS[codec], g.partition, g.offset, g.msg, sent[codec][index]
                ));
            }
        }
        if let Some(&(offset, prev_codec, prev_index)) = last.get(&g.partition) {
            if g.offset <= offset || (prev_codec == codec && index <= prev_index) {
                tally.reordered += 1;
                if problems.len() < 10 {
                    problems.push(format!(
                        "{consumer} {}: {}@{} (#{index}) came after {}@{offset} (#{prev_index} of {})",
                        CODECS[codec], g.partition, g.offset, g.partition, CODECS[prev_codec]
                    ));
                }
            }
        }
        last.insert(g.partition, (g.offset, codec, index));
    }
    for (&position, &(codec, index)) in by_position {
        if !seen.contains_key(&position) {
            tallies[codec].lost += 1;
            if problems.len() < 10 {
                problems.push(format!(
                    "{consumer} {}: {}@{} (#{index}) never read",
                    CODECS[codec], position.0, position.1
                ));
            }
        }
    }
    (tallies, problems)
}

async fn matrix_row(producer: Client) {
    let started = Instant::now();
    let topic = admin::single_broker_topic(&format!("interop-{producer}"), PARTITIONS).await;
    let sent: Vec<Vec<Msg>> = (0..CODECS.len()).map(|c| messages(producer, c)).collect();
    let stored = produce_all(producer, &topic, &sent).await;
    let produced_in = started.elapsed();

    // Where each message is, and the producer's own report checked: the timestamp
    // it was given, and input order per partition.
    let mut problems = Vec::new();
    let mut by_position: HashMap<(i32, i64), (usize, usize)> = HashMap::new();
    for (codec, runs) in stored.iter().enumerate() {
        let mut last: BTreeMap<i32, i64> = BTreeMap::new();
        for (index, s) in runs.iter().enumerate() {
            if by_position
                .insert((s.partition, s.offset), (codec, index))
                .is_some()
            {
                problems.push(format!(
                    "{producer}: two messages reported at {}@{}",
                    s.partition, s.offset
                ));
            }
            if s.timestamp != sent[codec][index].timestamp {
                problems.push(format!(
                    "{producer} {}: #{index} acknowledged with timestamp {}, sent {}",
                    CODECS[codec], s.timestamp, sent[codec][index].timestamp
                ));
            }
            if let Some(&prev) = last.get(&s.partition) {
                if s.offset <= prev {
                    problems.push(format!(
                        "{producer} {}: #{index} stored at {}@{} after {}@{prev}",
                        CODECS[codec], s.partition, s.offset, s.partition
                    ));
                }
            }
            last.insert(s.partition, s.offset);
        }
    }
    let total = CODECS.len() * PER_CODEC;
    assert_eq!(by_position.len(), total, "{producer}: {problems:?}");
    problems.extend(check_batch_codecs(producer, &topic, &by_position).await);

    // The three consumers at once.
    let java = {
        let topic = topic.clone();
        std::thread::spawn(move || consume_peer(Peer::Java, &topic, total))
    };
    let rdkafka = {
        let topic = topic.clone();
        std::thread::spawn(move || consume_peer(Peer::Rdkafka, &topic, total))
    };
    let ours = consume_ours(&topic, total).await;
    let java = java.join().expect("the Java consumer failed");
    let rdkafka = rdkafka.join().expect("the librdkafka consumer failed");

    let mut row = Tally::default();
    for (consumer, got) in [
        (Client::Ours, ours),
        (Client::Java, java),
        (Client::Rdkafka, rdkafka),
    ] {
        let (tallies, found) = judge(consumer, &got, &sent, &by_position);
        problems.extend(found);
        for (codec, t) in CODECS.iter().zip(&tallies) {
            println!(
                "interop: {producer:>10} -> {consumer:<10} {codec:<6}: {} messages, {} lost, {} duplicated, \
                 {} reordered, {} altered",
                t.messages, t.lost, t.duplicated, t.reordered, t.altered
            );
            row.add(t);
        }
    }
    flame_kafka_protocol_tests::summary(&format!(
        "interop ({producer} producer): {row}, {} altered (produced in {produced_in:.1?}, total {:.1?})",
        row.altered,
        started.elapsed()
    ));
    {
        let mut total = TOTAL.lock().unwrap_or_else(|e| e.into_inner());
        total.0 += 1;
        total.1.add(&row);
        if total.0 == Client::ALL.len() {
            flame_kafka_protocol_tests::summary(&format!("interop: {}", total.1));
        }
    }
    assert!(
        problems.is_empty()
            && row.lost == 0
            && row.duplicated == 0
            && row.reordered == 0
            && row.altered == 0,
        "{producer} producer: {row}, {} altered; problems:\n{}",
        row.altered,
        problems.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ours_produces_everyone_consumes() {
    matrix_row(Client::Ours).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_produces_everyone_consumes() {
    matrix_row(Client::Java).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_produces_everyone_consumes() {
    matrix_row(Client::Rdkafka).await;
}
