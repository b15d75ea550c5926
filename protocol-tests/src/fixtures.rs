//! Record-batch fixtures and the codec interop tests' support: the one message set
//! every client writes, a small blocking broker helper on [`WireClient`] (topics,
//! produce, raw fetch, producer ids), and the manifest that describes the captured
//! batches under `protocol-tests/fixtures/batches/`.
//!
//! The capture ([`capture_fixtures`]) and the raw-batch parsing here read batch
//! headers by hand, not with the codec: the fixtures are evidence about the codec,
//! so they must not be shaped by it.

use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use flame_kafka_codec::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use flame_kafka_codec::messages::fetch_request::{FetchPartition, FetchTopic};
use flame_kafka_codec::messages::metadata_request::MetadataRequestTopic;
use flame_kafka_codec::messages::produce_request::{PartitionProduceData, TopicProduceData};
use flame_kafka_codec::messages::produce_response::PartitionProduceResponse;
use flame_kafka_codec::messages::{
    ApiVersionsRequest, CreateTopicsRequest, FetchRequest, InitProducerIdRequest, MetadataRequest,
    ProduceRequest, TopicName,
};
use flame_kafka_codec::protocol::{Request, StrBytes};
use flame_kafka_codec::record_batch::{Header, Record};
use flame_kafka_codec::{Compression, NegotiatedVersions};
use serde::{Deserialize, Serialize};

use crate::peer::{b64, unb64, Peer, PeerMessage};
use crate::wire::WireClient;

/// Every codec, in attribute-id order.
pub const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// Both third-party peers.
pub const PEERS: [Peer; 2] = [Peer::Java, Peer::Rdkafka];

/// The environment variable that makes the `recapture` test rewrite the fixtures.
pub const RECAPTURE_VAR: &str = "FLAME_KAFKA_RECAPTURE";

/// Timestamp of the message set's first record (2023-11-14T22:13:20Z).
pub const BASE_TIMESTAMP: i64 = 1_700_000_000_000;

/// The peer's name in fixture file names.
pub fn peer_name(peer: Peer) -> &'static str {
    match peer {
        Peer::Java => "java",
        Peer::Rdkafka => "librdkafka",
    }
}

/// The directory holding the batch fixtures and their manifest.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("batches")
}

/// The fixture file name for `peer` writing with `codec`.
pub fn fixture_file(peer: Peer, codec: Compression) -> String {
    format!("{}-{}.bin", peer_name(peer), codec.name())
}

/// The manifest's file name within [`fixtures_dir`].
pub const MANIFEST_FILE: &str = "expected.json";

fn bytes(s: &str) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(s.as_bytes()))
}

fn header(name: &str, value: Option<&[u8]>) -> Header {
    Header {
        key: Bytes::copy_from_slice(name.as_bytes()),
        value: value.map(Bytes::copy_from_slice),
    }
}

/// The message set every client writes in the interop tests, with offsets 0, 1, ...
/// as a fresh single-partition topic assigns them.
///
/// It covers: a null key and an empty (non-null) key, an empty value and a null value
/// (tombstone), binary keys, values and header values, repeated header names, a null
/// and an empty header value, non-ASCII UTF-8, a timestamp before the first one (a
/// negative delta) and one a day later, and enough repetitive text that every codec
/// really shrinks the batch (librdkafka sends a batch uncompressed otherwise).
pub fn interop_records() -> Vec<Record> {
    let filler = "flame-kafka interop ";
    let binary: Vec<u8> = (0..=255u8).collect();
    let records = vec![
        Record {
            key: bytes("order-1"),
            value: bytes(&format!("{{\"id\":1,\"note\":\"{}\"}}", filler.repeat(12))),
            headers: vec![
                header("trace-id", Some(b"4bf92f3577b34da6")),
                header("retry", Some(b"1")),
                header("retry", Some(b"2")),
            ],
            timestamp: BASE_TIMESTAMP,
            ..Record::default()
        },
        Record {
            key: None,
            value: bytes("no key: the partition is chosen for it"),
            headers: vec![header("content-type", Some(b"text/plain"))],
            timestamp: BASE_TIMESTAMP + 1,
            ..Record::default()
        },
        Record {
            key: bytes("order-2"),
            value: bytes(""),
            headers: vec![],
            timestamp: BASE_TIMESTAMP + 2,
            ..Record::default()
        },
        Record {
            key: bytes("order-1"),
            value: None,
            headers: vec![header("deleted-by", None), header("reason", Some(b""))],
            timestamp: BASE_TIMESTAMP + 3,
            ..Record::default()
        },
        Record {
            key: Some(Bytes::from_static(&[0x00, 0xff, 0x80, 0x7f, 0x01])),
            value: Some(Bytes::from(binary)),
            headers: vec![
                header("bin", Some(&[0x00, 0x01, 0x02, 0xff])),
                header("x", None),
                header("bin", Some(b"")),
            ],
            timestamp: BASE_TIMESTAMP - 60_000,
            ..Record::default()
        },
        Record {
            key: bytes(""),
            value: bytes(&"ünïcödé ✓ ".repeat(8)),
            headers: vec![header("ключ", Some("значение".as_bytes()))],
            timestamp: BASE_TIMESTAMP + 86_400_000,
            ..Record::default()
        },
        Record {
            key: bytes("order-3"),
            value: bytes(&filler.repeat(30)),
            headers: vec![],
            timestamp: BASE_TIMESTAMP + 5,
            ..Record::default()
        },
    ];
    records
        .into_iter()
        .enumerate()
        .map(|(i, r)| Record {
            offset: i as i64,
            ..r
        })
        .collect()
}

/// `record` as a peer message for `topic` partition 0 (`offset` set when `with_offset`).
pub fn to_peer_message(topic: &str, record: &Record, with_offset: bool) -> PeerMessage {
    PeerMessage {
        topic: topic.to_owned(),
        partition: Some(0),
        offset: with_offset.then_some(record.offset),
        key: record.key.as_deref().map(b64),
        value: record.value.as_deref().map(b64),
        headers: record
            .headers
            .iter()
            .map(|h| (header_name(&h.key), h.value.as_deref().map(b64)))
            .collect(),
        timestamp: Some(record.timestamp),
    }
}

/// What a peer must print when it consumes `records` from `topic` partition 0.
pub fn expected_consumed(topic: &str, records: &[Record]) -> Vec<PeerMessage> {
    records
        .iter()
        .map(|r| to_peer_message(topic, r, true))
        .collect()
}

fn header_name(key: &[u8]) -> String {
    String::from_utf8(key.to_vec()).unwrap_or_else(|_| panic!("header name {key:?} is not UTF-8"))
}

// ------------------------------------------------------------------ raw batches

/// The fields of a v2 batch header, read by hand from its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchInfo {
    /// Base offset (set by the broker).
    pub base_offset: i64,
    /// Whole batch size in bytes, including the offset and length fields.
    pub bytes: usize,
    /// Compression codec name from attribute bits 0–2.
    pub compression: String,
    /// The raw attributes.
    pub attributes: i16,
    /// Offset of the last record relative to the base offset.
    pub last_offset_delta: i32,
    /// Number of records.
    pub record_count: i32,
    /// First record's timestamp.
    pub base_timestamp: i64,
    /// Greatest timestamp.
    pub max_timestamp: i64,
    /// Producer id (-1 for a non-idempotent producer).
    pub producer_id: i64,
    /// Producer epoch (-1 for a non-idempotent producer).
    pub producer_epoch: i16,
    /// First sequence number (-1 for a non-idempotent producer).
    pub base_sequence: i32,
    /// The stored CRC32C.
    pub crc: u32,
}

fn be<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

/// Cuts `data` into whole batches. Returns the batches and how many bytes of a partial
/// last batch follow them. Panics on a batch too short for its header.
pub fn split_batches(data: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut batches = Vec::new();
    let mut pos = 0;
    while data.len() - pos >= 12 {
        let len = i32::from_be_bytes(be(data, pos + 8));
        assert!(len >= 49, "batch at byte {pos} claims length {len}");
        let end = pos + 12 + len as usize;
        if end > data.len() {
            break;
        }
        batches.push(&data[pos..end]);
        pos = end;
    }
    (batches, data.len() - pos)
}

/// Reads the header of one whole v2 batch.
pub fn batch_info(batch: &[u8]) -> BatchInfo {
    assert!(
        batch.len() >= 61,
        "batch of {} bytes is shorter than a v2 header",
        batch.len()
    );
    assert_eq!(batch[16], 2, "magic byte");
    let attributes = i16::from_be_bytes(be(batch, 21));
    let compression = Compression::from_attributes(attributes)
        .unwrap_or_else(|e| panic!("batch attributes {attributes:#x}: {e}"));
    BatchInfo {
        base_offset: i64::from_be_bytes(be(batch, 0)),
        bytes: batch.len(),
        compression: compression.name().to_owned(),
        attributes,
        last_offset_delta: i32::from_be_bytes(be(batch, 23)),
        base_timestamp: i64::from_be_bytes(be(batch, 27)),
        max_timestamp: i64::from_be_bytes(be(batch, 35)),
        producer_id: i64::from_be_bytes(be(batch, 43)),
        producer_epoch: i16::from_be_bytes(be(batch, 51)),
        base_sequence: i32::from_be_bytes(be(batch, 53)),
        record_count: i32::from_be_bytes(be(batch, 57)),
        crc: u32::from_be_bytes(be(batch, 17)),
    }
}

// ------------------------------------------------------------------ broker helper

/// A blocking connection to one broker, with the versions negotiated from its
/// ApiVersions answer. Every method panics with the broker's error on failure.
pub struct Broker {
    client: WireClient,
    versions: NegotiatedVersions,
    addr: String,
}

/// How long to wait for a new topic to get a leader.
const TOPIC_READY_TIMEOUT: Duration = Duration::from_secs(30);

impl Broker {
    /// Connects to `addr` and negotiates versions with an ApiVersions call.
    pub fn connect(addr: &str) -> Broker {
        let mut client = WireClient::connect(addr);
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("flame-kafka-protocol-tests"))
            .with_client_software_version(StrBytes::from_static_str("0.1.0"));
        let response = client
            .call(3, &request)
            .unwrap_or_else(|e| panic!("ApiVersions from {addr}: {e}"));
        assert_eq!(response.error_code, 0, "ApiVersions error from {addr}");
        Broker {
            client,
            versions: NegotiatedVersions::from_broker(&response),
            addr: addr.to_owned(),
        }
    }

    /// The negotiated version of `R`.
    pub fn version<R: Request>(&self) -> i16 {
        self.versions
            .version::<R>()
            .unwrap_or_else(|e| panic!("{}: {e}", self.addr))
    }

    fn call<R: Request>(&mut self, request: &R) -> R::Response {
        let version = self.version::<R>();
        self.client.call(version, request).unwrap_or_else(|e| {
            panic!(
                "{} v{version} to {}: {e}",
                std::any::type_name::<R>(),
                self.addr
            )
        })
    }

    /// Creates `topic` with `partitions` partitions, replication factor 1 and infinite
    /// retention (the message set's timestamps are years old), then waits until every
    /// partition has a leader.
    pub fn create_topic(&mut self, topic: &str, partitions: i32) {
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic_name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(1)
                .with_configs(vec![CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("retention.ms"))
                    .with_value(Some(StrBytes::from_static_str("-1")))])]);
        let response = self.call(&request);
        let result = response
            .topics
            .iter()
            .find(|t| t.name.0.as_str() == topic)
            .unwrap_or_else(|| panic!("CreateTopics answer lacks {topic}: {response:?}"));
        assert_eq!(
            result.error_code, 0,
            "CreateTopics {topic}: {:?}",
            result.error_message
        );
        let deadline = Instant::now() + TOPIC_READY_TIMEOUT;
        loop {
            let request = MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(topic))),
            ]));
            let response = self.call(&request);
            let ready = response.topics.iter().any(|t| {
                t.error_code == 0
                    && t.partitions.len() == partitions as usize
                    && t.partitions
                        .iter()
                        .all(|p| p.error_code == 0 && p.leader_id.0 >= 0)
            });
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "topic {topic} has no leader after {TOPIC_READY_TIMEOUT:?}: {response:?}"
            );
            sleep(Duration::from_millis(100));
        }
    }

    /// Sends one acks=all ProduceRequest with `records` (whole batches) for `topic`
    /// partition `partition` and returns the partition's answer, whatever its error.
    /// Retries (a few seconds) only while the broker does not yet lead the new
    /// partition, when nothing was appended.
    pub fn produce_raw(
        &mut self,
        topic: &str,
        partition: i32,
        records: Bytes,
    ) -> PartitionProduceResponse {
        let request = ProduceRequest::default()
            .with_transactional_id(None)
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(records))])]);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let response = self.call(&request);
            let answer = response
                .responses
                .iter()
                .find(|t| t.name.0.as_str() == topic)
                .and_then(|t| t.partition_responses.iter().find(|p| p.index == partition))
                .unwrap_or_else(|| panic!("Produce answer lacks {topic}/{partition}: {response:?}"))
                .clone();
            // UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER: not appended, retry.
            if matches!(answer.error_code, 3 | 6) && Instant::now() < deadline {
                sleep(Duration::from_millis(100));
                continue;
            }
            return answer;
        }
    }

    /// Like [`Broker::produce_raw`], but panics unless the broker appended the batch;
    /// returns its base offset.
    pub fn produce(&mut self, topic: &str, partition: i32, records: Bytes) -> i64 {
        let answer = self.produce_raw(topic, partition, records);
        assert_eq!(
            (answer.error_code, &answer.record_errors),
            (0, &vec![]),
            "Produce to {topic}/{partition} refused: {answer:?}"
        );
        answer.base_offset
    }

    /// An idempotent producer id and epoch (InitProducerId without a transactional id).
    pub fn init_producer_id(&mut self) -> (i64, i16) {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let response = self.call(&request);
            // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR:
            // a fresh broker is still loading its transaction state; retry.
            if matches!(response.error_code, 14..=16) && Instant::now() < deadline {
                sleep(Duration::from_millis(200));
                continue;
            }
            assert_eq!(response.error_code, 0, "InitProducerId: {response:?}");
            assert!(response.producer_id.0 >= 0, "InitProducerId: {response:?}");
            return (response.producer_id.0, response.producer_epoch);
        }
    }

    /// Fetches `topic` partition `partition` from offset 0 up to its high watermark
    /// and returns the raw record-batch bytes, whole batches only, as the broker
    /// stored them; and the high watermark.
    pub fn fetch_all(&mut self, topic: &str, partition: i32) -> (Bytes, i64) {
        let mut out = BytesMut::new();
        let mut offset = 0i64;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let request = FetchRequest::default()
                .with_max_wait_ms(200)
                .with_min_bytes(1)
                .with_max_bytes(4 << 20)
                .with_isolation_level(0)
                .with_topics(vec![FetchTopic::default()
                    .with_topic(topic_name(topic))
                    .with_partitions(vec![FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(4 << 20)])]);
            let response = self.call(&request);
            assert_eq!(response.error_code, 0, "Fetch {topic}: {response:?}");
            let data = response
                .responses
                .iter()
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == partition)
                .unwrap_or_else(|| panic!("Fetch answer lacks {topic}/{partition}: {response:?}"));
            assert_eq!(data.error_code, 0, "Fetch {topic}/{partition}: {data:?}");
            let high_watermark = data.high_watermark;
            let records = data.records.clone().unwrap_or_default();
            let (batches, _partial) = split_batches(&records);
            for batch in batches {
                let info = batch_info(batch);
                if info.base_offset + i64::from(info.last_offset_delta) < offset {
                    continue; // a batch the fetch offset points into the middle of
                }
                out.extend_from_slice(batch);
                offset = info.base_offset + i64::from(info.last_offset_delta) + 1;
            }
            if offset >= high_watermark {
                return (out.freeze(), high_watermark);
            }
            assert!(
                Instant::now() < deadline,
                "Fetch {topic}/{partition} stuck at offset {offset} below high watermark {high_watermark}"
            );
        }
    }
}

/// A topic name for requests.
pub fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

// ------------------------------------------------------------------ peers

/// Produces `records` to `topic` partition 0 with `peer` using `codec` in one peer run,
/// and checks the peer's delivery reports: every record acknowledged, in order, at its
/// `offset` with its timestamp. The linger is long and the peers flush once all input
/// is read, so a run that fits one batch sends exactly one batch.
pub fn peer_produce(
    peer: Peer,
    bootstrap: &str,
    topic: &str,
    codec: Compression,
    records: &[Record],
) {
    let input: Vec<PeerMessage> = records
        .iter()
        .map(|r| to_peer_message(topic, r, false))
        .collect();
    let acked = peer.run(
        "produce",
        &[
            "--bootstrap",
            bootstrap,
            "--acks",
            "all",
            "--compression",
            codec.name(),
            "--linger-ms",
            "1000",
            "--timeout-ms",
            "60000",
        ],
        &input,
    );
    assert_eq!(
        acked,
        expected_consumed(topic, records),
        "{peer:?} {} delivery reports",
        codec.name()
    );
}

/// Where [`peer_produce_fixture_set`] splits [`interop_records`] between its two runs.
pub const FIXTURE_SPLIT: usize = 4;

/// Produces [`interop_records`] to the fresh one-partition `topic` as the fixtures hold
/// them: two peer runs, records `..FIXTURE_SPLIT` then the rest, so the partition
/// holds exactly two batches (base offsets 0 and [`FIXTURE_SPLIT`]; for the Java
/// client, two idempotent producers, each starting at sequence 0).
pub fn peer_produce_fixture_set(peer: Peer, bootstrap: &str, topic: &str, codec: Compression) {
    let records = interop_records();
    let (first, second) = records.split_at(FIXTURE_SPLIT);
    peer_produce(peer, bootstrap, topic, codec, first);
    peer_produce(peer, bootstrap, topic, codec, second);
}

/// Consumes `count` records of `topic` from the beginning with `peer`.
pub fn peer_consume(peer: Peer, bootstrap: &str, topic: &str, count: usize) -> Vec<PeerMessage> {
    let count = count.to_string();
    peer.run(
        "consume",
        &[
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--count",
            &count,
            "--from-beginning",
            "--timeout-ms",
            "60000",
        ],
        &[],
    )
}

// ------------------------------------------------------------------ manifest

/// One expected record as the manifest writes it (base64 bytes, as the peers do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedRecord {
    /// Offset in the partition.
    pub offset: i64,
    /// Create time, milliseconds.
    pub timestamp: i64,
    /// Key, base64; `null` is a null key.
    pub key: Option<String>,
    /// Value, base64; `null` is a tombstone.
    pub value: Option<String>,
    /// Headers in order: name and base64 value (`null`: null value).
    pub headers: Vec<(String, Option<String>)>,
}

impl ExpectedRecord {
    /// The manifest form of `record`.
    pub fn from_record(record: &Record) -> ExpectedRecord {
        let m = to_peer_message("", record, true);
        ExpectedRecord {
            offset: record.offset,
            timestamp: record.timestamp,
            key: m.key,
            value: m.value,
            headers: m.headers,
        }
    }

    /// The codec's form of this record.
    pub fn to_record(&self) -> Record {
        Record {
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key.as_deref().map(unb64),
            value: self.value.as_deref().map(unb64),
            headers: self
                .headers
                .iter()
                .map(|(name, value)| Header {
                    key: Bytes::copy_from_slice(name.as_bytes()),
                    value: value.as_deref().map(unb64),
                })
                .collect(),
        }
    }
}

/// One fixture file: who wrote it, with which codec, and its batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixtureEntry {
    /// File name within the fixtures directory.
    pub file: String,
    /// `java` or `librdkafka`.
    pub peer: String,
    /// The peer's `compression.type`.
    pub codec: String,
    /// The peer's version as the capture saw it.
    pub peer_version: String,
    /// File size in bytes.
    pub bytes: usize,
    /// The batches in the file, in order.
    pub batches: Vec<BatchInfo>,
}

/// `expected.json`: the records every fixture holds, and what each fixture file is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// How the files were made.
    pub about: String,
    /// The records every fixture decodes to, in order.
    pub records: Vec<ExpectedRecord>,
    /// One entry per fixture file.
    pub fixtures: Vec<FixtureEntry>,
}

impl Manifest {
    /// Reads the committed manifest.
    pub fn load() -> Manifest {
        let path = fixtures_dir().join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (regenerate with `{RECAPTURE_VAR}=1 cargo test -p flame-kafka-protocol-tests --test codec_interop recapture`)",
                path.display()
            )
        });
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

fn peer_version(peer: Peer) -> String {
    match peer {
        Peer::Java => {
            // The kafka-clients jar on the peer's class path names its version.
            let command = crate::env("FLAME_KAFKA_JAVA_PEER");
            let words: Vec<&str> = command.split_whitespace().collect();
            let class_path = words
                .iter()
                .position(|w| *w == "-cp")
                .and_then(|i| words.get(i + 1))
                .copied()
                .unwrap_or_default();
            class_path
                .split(':')
                .filter_map(|entry| entry.strip_suffix("/*"))
                .filter_map(|dir| std::fs::read_dir(dir).ok())
                .flatten()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .find_map(|name| {
                    let version = name.strip_prefix("kafka-clients-")?.strip_suffix(".jar")?;
                    Some(format!("kafka-clients {version}"))
                })
                .unwrap_or_else(|| "kafka-clients (version unknown)".to_owned())
        }
        Peer::Rdkafka => {
            let command = crate::env("FLAME_KAFKA_RDKAFKA_PEER");
            let python = command.split_whitespace().next().unwrap_or("python3");
            let output = std::process::Command::new(python)
                .args(["-c", "import confluent_kafka as c, importlib.metadata as m; print(c.libversion()[0], m.version('confluent-kafka'))"])
                .output()
                .unwrap_or_else(|e| panic!("{python}: {e}"));
            let text = String::from_utf8_lossy(&output.stdout);
            let mut words = text.split_whitespace();
            match (words.next(), words.next()) {
                (Some(lib), Some(wheel)) => format!("librdkafka {lib} (confluent-kafka {wheel})"),
                _ => "librdkafka (version unknown)".to_owned(),
            }
        }
    }
}

/// Regenerates every fixture: for each peer and codec, produces [`interop_records`]
/// with the peer to a fresh single-partition topic on `bootstrap` (in two runs, see
/// [`peer_produce_fixture_set`]), fetches the raw
/// batches back (Fetch, `records` field) and writes them to
/// `<dir>/<peer>-<codec>.bin`; then writes `<dir>/expected.json`.
pub fn capture_fixtures(bootstrap: &str, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let records = interop_records();
    let mut broker = Broker::connect(bootstrap);
    let mut fixtures = Vec::new();
    for peer in PEERS {
        for codec in CODECS {
            let topic =
                crate::unique_name(&format!("fixture-{}-{}", peer_name(peer), codec.name()));
            broker.create_topic(&topic, 1);
            peer_produce_fixture_set(peer, bootstrap, &topic, codec);
            let (data, high_watermark) = broker.fetch_all(&topic, 0);
            assert_eq!(
                high_watermark,
                records.len() as i64,
                "{topic} high watermark"
            );
            let batches: Vec<BatchInfo> =
                split_batches(&data).0.into_iter().map(batch_info).collect();
            let file = fixture_file(peer, codec);
            std::fs::write(dir.join(&file), &data).unwrap_or_else(|e| panic!("{file}: {e}"));
            fixtures.push(FixtureEntry {
                file,
                peer: peer_name(peer).to_owned(),
                codec: codec.name().to_owned(),
                peer_version: peer_version(peer),
                bytes: data.len(),
                batches,
            });
        }
    }
    let manifest = Manifest {
        about: format!(
            "Record batches written by the Java client and librdkafka, one file per peer and \
             compression.type, fetched raw (Fetch v{}, `records`) from a fresh one-partition topic. \
             Each peer ran twice (records 0..{FIXTURE_SPLIT}, then the rest), so each file holds \
             two batches. Regenerate with `{RECAPTURE_VAR}=1 cargo test -p flame-kafka-protocol-tests --test \
             codec_interop recapture` (needs the harness brokers).",
            broker.version::<FetchRequest>()
        ),
        records: records.iter().map(ExpectedRecord::from_record).collect(),
        fixtures,
    };
    let mut json =
        serde_json::to_string_pretty(&manifest).unwrap_or_else(|e| panic!("manifest: {e}"));
    json.push('\n');
    let path = dir.join(MANIFEST_FILE);
    std::fs::write(&path, json).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
