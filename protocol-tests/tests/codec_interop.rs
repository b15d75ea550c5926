//! The record-batch codec against the two clients everyone else runs: batches the Java
//! client and librdkafka write (committed fixtures, and captured live) decode to
//! exactly the records they were given, and batches our encoder writes are read back
//! exactly by both clients through a real broker.
//!
//! `fixtures_decode` needs no broker; the others need the harness brokers (see
//! `flame_kafka_protocol_tests::env`). Regenerate the fixtures with
//! `FLAME_KAFKA_RECAPTURE=1 cargo test -p flame-kafka-protocol-tests --test codec_interop recapture`.

use std::any::Any;
use std::collections::BTreeSet;
use std::fmt::Write as _;

use bytes::{Bytes, BytesMut};
use flame_kafka_codec::record_batch::{
    decode_batches, encode_batch, DecodeLimits, ProducerStamp, Record,
};
use flame_kafka_codec::Compression;
use flame_kafka_protocol_tests::fixtures::{
    batch_info, capture_fixtures, expected_consumed, fixture_file, fixtures_dir, interop_records,
    peer_consume, peer_name, peer_produce, peer_produce_fixture_set, split_batches, BatchInfo,
    Broker, ExpectedRecord, Manifest, CODECS, FIXTURE_SPLIT, MANIFEST_FILE, PEERS, RECAPTURE_VAR,
};
use flame_kafka_protocol_tests::peer::{Peer, PeerMessage};
use flame_kafka_protocol_tests::{bootstrap, unique_name};

// ------------------------------------------------------------------ helpers

/// Runs `work` for every item, at most `parallel` at a time, and fails once at the end
/// naming every item that failed (each failure's message is printed as it happens).
fn run_each<T: Send>(parallel: usize, items: Vec<(String, T)>, work: impl Fn(&str, T) + Sync) {
    let total = items.len();
    let mut failures = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let chunk: Vec<(String, T)> = items.by_ref().take(parallel).collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .into_iter()
                .map(|(label, item)| {
                    let work = &work;
                    let handle = std::thread::Builder::new()
                        .name(label.clone())
                        .spawn_scoped(s, move || work(&label, item))
                        .unwrap_or_else(|e| panic!("spawn: {e}"));
                    (
                        handle.thread().name().unwrap_or_default().to_owned(),
                        handle,
                    )
                })
                .collect();
            for (label, handle) in handles {
                if let Err(payload) = handle.join() {
                    failures.push(format!("{label}: {}", panic_text(payload.as_ref())));
                }
            }
        });
    }
    assert!(
        failures.is_empty(),
        "{} of {total} failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(non-text panic)".to_owned())
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The first difference between two record lists, described.
fn diff_records(got: &[Record], want: &[Record]) -> Option<String> {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if g != w {
            return Some(format!("record {i} differs:\n  got  {g:?}\n  want {w:?}"));
        }
    }
    (got.len() != want.len()).then(|| format!("{} records, want {}", got.len(), want.len()))
}

/// Which batches must carry the codec under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compressed {
    /// Every batch.
    All,
    /// At least one; others may be uncompressed (librdkafka sends a batch that
    /// compression would not shrink uncompressed).
    SomeOrFallback,
}

/// Decodes `data` (whole batches, written with `codec`) with the codec and checks it
/// holds exactly `want`, and that every decoded batch header agrees with the bytes
/// read by hand. Returns the batch headers.
fn check_batches(
    data: &Bytes,
    codec: Compression,
    compressed: Compressed,
    want: &[Record],
) -> Result<Vec<BatchInfo>, String> {
    let (raw, partial) = split_batches(data);
    if partial != 0 {
        return Err(format!(
            "{partial} bytes of a partial batch after {} whole ones",
            raw.len()
        ));
    }
    let infos: Vec<BatchInfo> = raw.iter().map(|b| batch_info(b)).collect();
    let fallback_ok = compressed == Compressed::SomeOrFallback;
    for (i, info) in infos.iter().enumerate() {
        if info.compression != codec.name() && !(fallback_ok && info.compression == "none") {
            return Err(format!(
                "batch {i} is compressed with {}, want {}: {info:?}",
                info.compression,
                codec.name()
            ));
        }
    }
    if !infos.iter().any(|i| i.compression == codec.name()) {
        return Err(format!(
            "no batch is compressed with {}: {infos:?}",
            codec.name()
        ));
    }
    let batches = match decode_batches(data.clone(), &DecodeLimits::default()) {
        Ok(batches) => batches,
        Err(error) => {
            // Find the batch that fails and show its bytes.
            let mut report = format!("decode_batches: {error}");
            for (i, batch) in raw.iter().enumerate() {
                if let Err(e) =
                    decode_batches(Bytes::copy_from_slice(batch), &DecodeLimits::default())
                {
                    let body = &batch[61..];
                    let _ = write!(
                        report,
                        "\nbatch {i} ({e}): {:?}\n  header: {}\n  body ({} bytes), first 64: {}",
                        infos[i],
                        hex(&batch[..61]),
                        body.len(),
                        hex(&body[..body.len().min(64)])
                    );
                }
            }
            return Err(report);
        }
    };
    if batches.len() != infos.len() {
        return Err(format!(
            "decoded {} batches from {} whole ones",
            batches.len(),
            infos.len()
        ));
    }
    for (i, (batch, info)) in batches.iter().zip(&infos).enumerate() {
        let decoded = (
            batch.base_offset,
            batch.compression.name(),
            batch.last_offset_delta,
            batch.base_timestamp,
            batch.max_timestamp,
            batch.producer_id,
            batch.producer_epoch,
            batch.base_sequence,
            batch.records.len(),
            (batch.control, batch.transactional, batch.log_append_time),
        );
        let by_hand = (
            info.base_offset,
            info.compression.as_str(),
            info.last_offset_delta,
            info.base_timestamp,
            info.max_timestamp,
            info.producer_id,
            info.producer_epoch,
            info.base_sequence,
            usize::try_from(info.record_count).unwrap_or(usize::MAX),
            (false, false, false),
        );
        if decoded != by_hand {
            return Err(format!(
                "batch {i} header decoded as {decoded:?}, bytes say {by_hand:?}"
            ));
        }
        let max = batch.records.iter().map(|r| r.timestamp).max();
        if max != Some(batch.max_timestamp) {
            return Err(format!(
                "batch {i}: max timestamp {} but records' max is {max:?}",
                batch.max_timestamp
            ));
        }
    }
    let got: Vec<Record> = batches.into_iter().flat_map(|b| b.records).collect();
    if let Some(diff) = diff_records(&got, want) {
        return Err(diff);
    }
    Ok(infos)
}

fn recapture_hint() -> String {
    format!("regenerate with `{RECAPTURE_VAR}=1 cargo test -p flame-kafka-protocol-tests --test codec_interop recapture`")
}

/// Every (peer, codec) fixture the manifest must list, in capture order.
fn expected_fixture_files() -> Vec<(String, String, String)> {
    PEERS
        .iter()
        .flat_map(|&peer| {
            CODECS.iter().map(move |&codec| {
                (
                    fixture_file(peer, codec),
                    peer_name(peer).to_owned(),
                    codec.name().to_owned(),
                )
            })
        })
        .collect()
}

/// The committed fixture set is complete and describes today's message set: the
/// manifest's records are `interop_records()`, it lists one file per peer and codec,
/// and the directory holds exactly those files with the listed sizes.
fn check_fixture_set() {
    let manifest = Manifest::load();
    let want: Vec<ExpectedRecord> = interop_records()
        .iter()
        .map(ExpectedRecord::from_record)
        .collect();
    assert_eq!(
        manifest.records,
        want,
        "{MANIFEST_FILE} records differ from interop_records(): {}",
        recapture_hint()
    );
    let round_trip: Vec<Record> = manifest
        .records
        .iter()
        .map(ExpectedRecord::to_record)
        .collect();
    assert_eq!(
        round_trip,
        interop_records(),
        "{MANIFEST_FILE} records do not round-trip"
    );
    let listed: Vec<(String, String, String)> = manifest
        .fixtures
        .iter()
        .map(|f| (f.file.clone(), f.peer.clone(), f.codec.clone()))
        .collect();
    assert_eq!(
        listed,
        expected_fixture_files(),
        "{MANIFEST_FILE} fixture list: {}",
        recapture_hint()
    );
    let dir = fixtures_dir();
    let mut on_disk = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        on_disk.insert(entry.file_name().to_string_lossy().into_owned());
    }
    let mut wanted: BTreeSet<String> = manifest.fixtures.iter().map(|f| f.file.clone()).collect();
    wanted.insert(MANIFEST_FILE.to_owned());
    assert_eq!(on_disk, wanted, "files in {}", dir.display());
    for fixture in &manifest.fixtures {
        let len = std::fs::metadata(dir.join(&fixture.file))
            .map(|m| m.len())
            .unwrap_or(0);
        assert_eq!(
            len as usize,
            fixture.bytes,
            "{} size: {}",
            fixture.file,
            recapture_hint()
        );
        assert!(
            len <= 8 * 1024,
            "{} is {len} bytes: fixtures stay small",
            fixture.file
        );
    }
}

fn codec_named(name: &str) -> Compression {
    CODECS
        .into_iter()
        .find(|c| c.name() == name)
        .unwrap_or_else(|| panic!("unknown codec {name:?}"))
}

fn encode(records: &[Record], stamp: ProducerStamp, codec: Compression) -> Bytes {
    let mut out = BytesMut::new();
    encode_batch(&mut out, records, stamp, codec, None)
        .unwrap_or_else(|e| panic!("encode_batch {}: {e}", codec.name()));
    out.freeze()
}

/// `records` renumbered from offset `first`.
fn at_offsets(records: &[Record], first: i64) -> Vec<Record> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            offset: first + i as i64,
            ..r.clone()
        })
        .collect()
}

// ------------------------------------------------------------------ tests

/// Every committed fixture (Java and librdkafka, every codec) decodes to exactly the
/// manifest's records: keys, values, header order and nulls, timestamps, offsets;
/// batch headers decode as the bytes say; nothing is left over.
#[test]
fn fixtures_decode() {
    let manifest = Manifest::load();
    let want: Vec<Record> = manifest
        .records
        .iter()
        .map(ExpectedRecord::to_record)
        .collect();
    assert_eq!(
        want.len(),
        interop_records().len(),
        "the manifest's record count"
    );
    assert_eq!(
        manifest.fixtures.len(),
        PEERS.len() * CODECS.len(),
        "one fixture per peer and codec"
    );
    let mut failures = Vec::new();
    for fixture in &manifest.fixtures {
        let path = fixtures_dir().join(&fixture.file);
        let data =
            Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
        assert_eq!(data.len(), fixture.bytes, "{} size", fixture.file);
        let codec = codec_named(&fixture.codec);
        let base_offsets: Vec<i64> = fixture.batches.iter().map(|b| b.base_offset).collect();
        assert_eq!(
            base_offsets,
            [0, FIXTURE_SPLIT as i64],
            "{}: two batches, as peer_produce_fixture_set writes them",
            fixture.file
        );
        match check_batches(&data, codec, Compressed::All, &want) {
            Ok(infos) if infos == fixture.batches => {}
            Ok(infos) => failures.push(format!(
                "{}: batch headers {infos:?}\n  but {MANIFEST_FILE} lists {:?}",
                fixture.file, fixture.batches
            )),
            Err(e) => failures.push(format!("{} ({}): {e}", fixture.file, fixture.peer_version)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        manifest.fixtures.len(),
        failures.join("\n\n")
    );
}

/// With `FLAME_KAFKA_RECAPTURE=1` (and the harness brokers), regenerates every fixture
/// and the manifest. Either way, checks that the committed fixture set is complete
/// and current (one file per peer and codec, the manifest's records are today's
/// message set), so a change to the message set without a recapture fails here.
#[test]
fn recapture() {
    if std::env::var(RECAPTURE_VAR).is_ok_and(|v| v == "1") {
        capture_fixtures(&bootstrap(), &fixtures_dir());
    }
    check_fixture_set();
}

/// Batches our encoder writes, every codec, non-idempotent, go through a real broker
/// unchanged (but for the offsets and leader epoch it stamps) and the Java client and
/// librdkafka read back every key, value, header and timestamp exactly, in order.
#[test]
fn our_batches_read_by_java_and_librdkafka() {
    let addr = bootstrap();
    let records = interop_records();
    let items = CODECS
        .iter()
        .map(|&c| (format!("ours-{}", c.name()), c))
        .collect();
    run_each(3, items, |label, codec| {
        let mut broker = Broker::connect(&addr);
        let topic = unique_name(&format!("codec-interop-{label}"));
        broker.create_topic(&topic, 1);
        let batch = encode(&records, ProducerStamp::default(), codec);
        assert_eq!(
            batch_info(&batch).compression,
            codec.name(),
            "our batch's attributes"
        );
        assert_eq!(
            broker.produce(&topic, 0, batch.clone()),
            0,
            "base offset in a fresh topic"
        );

        // The broker validated the batch and stored it as written: only the base offset
        // (bytes 0..8, 0 here) and the partition leader epoch (12..16) are its own.
        let (stored, high_watermark) = broker.fetch_all(&topic, 0);
        assert_eq!(high_watermark, records.len() as i64, "high watermark");
        assert_eq!(stored.len(), batch.len(), "stored batch size");
        assert_eq!(
            hex(&stored[..12]),
            hex(&batch[..12]),
            "stored offset and length"
        );
        assert!(
            stored[16..] == batch[16..],
            "the broker rewrote our {} batch:\n  ours   {}\n  stored {}",
            codec.name(),
            hex(&batch),
            hex(&stored)
        );
        if let Err(e) = check_batches(&stored, codec, Compressed::All, &records) {
            panic!("our own {} batch does not decode: {e}", codec.name());
        }

        for peer in PEERS {
            let got = peer_consume(peer, &addr, &topic, records.len());
            assert_eq!(
                got,
                expected_consumed(&topic, &records),
                "{peer:?} reading our {} batch",
                codec.name()
            );
        }
    });
}

/// The idempotent path: after InitProducerId, our batches carry the producer id,
/// epoch and sequences; the broker appends sequence 0 then N, recognises a retry of
/// sequence 0 as a duplicate (no second copy), refuses a sequence gap, and both peers
/// read exactly 2N records.
#[test]
fn our_idempotent_batches_accepted_and_read_by_java_and_librdkafka() {
    let addr = bootstrap();
    let records = interop_records();
    let n = records.len() as i32;
    let mut broker = Broker::connect(&addr);
    let topic = unique_name("codec-interop-ours-idempotent");
    broker.create_topic(&topic, 1);
    let (producer_id, producer_epoch) = broker.init_producer_id();
    let stamp = |base_sequence| ProducerStamp {
        producer_id,
        producer_epoch,
        base_sequence,
        transactional: false,
    };
    let first = encode(&records, stamp(0), Compression::Zstd);
    let second = encode(&records, stamp(n), Compression::Lz4);

    assert_eq!(
        broker.produce(&topic, 0, first.clone()),
        0,
        "sequence 0 appended at offset 0"
    );
    let retry = broker.produce_raw(&topic, 0, first.clone());
    assert_eq!(
        (retry.error_code, retry.base_offset),
        (0, 0),
        "a retry of sequence 0 is acknowledged with its original offset: {retry:?}"
    );
    let gap = broker.produce_raw(
        &topic,
        0,
        encode(&records[..1], stamp(2 * n + 1), Compression::None),
    );
    assert_eq!(
        gap.error_code, 45,
        "OUT_OF_ORDER_SEQUENCE_NUMBER for a sequence gap: {gap:?}"
    );
    assert_eq!(
        broker.produce(&topic, 0, second),
        i64::from(n),
        "sequence {n} appended after the first batch"
    );

    let (stored, high_watermark) = broker.fetch_all(&topic, 0);
    assert_eq!(high_watermark, 2 * i64::from(n), "no duplicate appended");
    let (raw, partial) = split_batches(&stored);
    assert_eq!(partial, 0);
    let stamps: Vec<(i64, i64, i16, i32, String)> = raw
        .iter()
        .map(|b| {
            let i = batch_info(b);
            (
                i.base_offset,
                i.producer_id,
                i.producer_epoch,
                i.base_sequence,
                i.compression,
            )
        })
        .collect();
    assert_eq!(
        stamps,
        vec![
            (0, producer_id, producer_epoch, 0, "zstd".to_owned()),
            (
                i64::from(n),
                producer_id,
                producer_epoch,
                n,
                "lz4".to_owned()
            ),
        ],
        "stored batches"
    );
    let mut want = at_offsets(&records, 0);
    want.extend(at_offsets(&records, i64::from(n)));
    let decoded: Vec<Record> = decode_batches(stored, &DecodeLimits::default())
        .unwrap_or_else(|e| panic!("decode: {e}"))
        .into_iter()
        .flat_map(|b| b.records)
        .collect();
    assert_eq!(diff_records(&decoded, &want), None);

    run_each(
        2,
        PEERS.iter().map(|&p| (format!("{p:?}"), p)).collect(),
        |_, peer| {
            let got = peer_consume(peer, &addr, &topic, want.len());
            assert_eq!(
                got,
                expected_consumed(&topic, &want),
                "{peer:?} reading our idempotent batches"
            );
        },
    );
}

/// What `recapture` does, without saving: every peer and codec produces the message
/// set now, and the codec decodes the fetched batches to exactly those records. The
/// batches must be laid out as in the committed fixtures (offsets, counts, codec,
/// timestamps, idempotence), so a peer upgrade that changes what it writes shows up
/// here rather than leaving the fixtures stale.
#[test]
fn peer_batches_read_by_codec_live() {
    let addr = bootstrap();
    let records = interop_records();
    let manifest = Manifest::load();
    let items: Vec<(String, (Peer, Compression))> = PEERS
        .iter()
        .flat_map(|&p| {
            CODECS
                .iter()
                .map(move |&c| (format!("{}-{}", peer_name(p), c.name()), (p, c)))
        })
        .collect();
    run_each(3, items, |label, (peer, codec)| {
        let mut broker = Broker::connect(&addr);
        let topic = unique_name(&format!("codec-interop-live-{label}"));
        broker.create_topic(&topic, 1);
        peer_produce_fixture_set(peer, &addr, &topic, codec);
        let (data, high_watermark) = broker.fetch_all(&topic, 0);
        assert_eq!(high_watermark, records.len() as i64, "high watermark");
        // librdkafka sends a batch uncompressed when compression would not shrink it,
        // which (rarely) happens to these small batches: then the codec fields of the
        // layout are not compared (the fixture test stays strict about them).
        let allowed = match peer {
            Peer::Java => Compressed::All,
            Peer::Rdkafka => Compressed::SomeOrFallback,
        };
        let infos = check_batches(&data, codec, allowed, &records)
            .unwrap_or_else(|e| panic!("{peer:?} {} batches, live:\n{e}", codec.name()));
        let fell_back =
            infos.iter().any(|i| i.attributes & 0x07 == 0) && codec != Compression::None;
        let fixture = manifest
            .fixtures
            .iter()
            .find(|f| f.file == fixture_file(peer, codec))
            .unwrap_or_else(|| panic!("no fixture for {label}"));
        // Everything but the producer id itself, the CRC that covers it and the
        // compressed sizes (a compressor may change between peer releases).
        let layout = |infos: &[BatchInfo]| -> Vec<String> {
            infos
                .iter()
                .map(|i| {
                    let (compression, attributes) = if fell_back {
                        ("(not compared)".to_owned(), i.attributes & !0x07)
                    } else {
                        (i.compression.clone(), i.attributes)
                    };
                    format!(
                        "base offset {} +{} ({} records), {} (attributes {:#x}), timestamps {}..{}, \
                         idempotent {}, epoch {}, sequence {}",
                        i.base_offset,
                        i.last_offset_delta,
                        i.record_count,
                        compression,
                        attributes,
                        i.base_timestamp,
                        i.max_timestamp,
                        i.producer_id >= 0,
                        i.producer_epoch,
                        i.base_sequence
                    )
                })
                .collect()
        };
        // The Java client batches these records the same way every time; librdkafka
        // sometimes splits a run into more batches (and then sends the small ones
        // uncompressed), so for it only the records are compared (by check_batches).
        if peer == Peer::Java {
            assert_eq!(
                layout(&infos),
                layout(&fixture.batches),
                "live batches vs fixture {}",
                fixture.file
            );
        }
    });
}

/// Records big enough that every codec's framing spans several blocks (xerial snappy
/// 32 KiB, lz4 frame 64 KiB, zstd 128 KiB blocks): ~200 KB of compressible word soup,
/// ~70 KB of incompressible bytes (lz4 and zstd then store raw blocks, snappy only
/// literals), and a small record after them.
fn large_records() -> Vec<Record> {
    const WORDS: [&str; 16] = [
        "kafka", "flame", "batch", "record", "offset", "header", "broker", "leader", "replica",
        "fetch", "produce", "codec", "frame", "block", "xerial", "zstd",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        // xorshift64*: deterministic, no dependency.
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut soup = Vec::with_capacity(200_016);
    while soup.len() < 200_000 {
        soup.extend_from_slice(WORDS[(next() >> 60) as usize].as_bytes());
        soup.push(b' ');
    }
    let noise: Vec<u8> = (0..70_000).map(|_| (next() >> 56) as u8).collect();
    let header = |k: &str, v: Option<&[u8]>| flame_kafka_codec::record_batch::Header {
        key: Bytes::copy_from_slice(k.as_bytes()),
        value: v.map(Bytes::copy_from_slice),
    };
    vec![
        Record {
            offset: 0,
            timestamp: 1_700_000_100_000,
            key: Some(Bytes::from_static(b"soup")),
            value: Some(Bytes::from(soup)),
            headers: vec![header("part", Some(b"1")), header("part", None)],
        },
        Record {
            offset: 1,
            timestamp: 1_700_000_100_001,
            key: None,
            value: Some(Bytes::from(noise)),
            headers: vec![],
        },
        Record {
            offset: 2,
            timestamp: 1_700_000_100_002,
            key: Some(Bytes::from_static(b"after")),
            value: Some(Bytes::new()),
            headers: vec![header("end", Some(b""))],
        },
    ]
}

/// Multi-block framing, both ways: every peer and codec writes `large_records()` and
/// the codec decodes it exactly; our encoder writes it with every codec and both
/// peers read it back exactly.
#[test]
fn large_batches_span_compression_blocks() {
    let addr = bootstrap();
    let records = large_records();
    let mut items: Vec<(String, (Option<Peer>, Compression))> = Vec::new();
    for codec in CODECS {
        items.push((format!("large-ours-{}", codec.name()), (None, codec)));
        for peer in PEERS {
            items.push((
                format!("large-{}-{}", peer_name(peer), codec.name()),
                (Some(peer), codec),
            ));
        }
    }
    run_each(3, items, |label, (writer, codec)| {
        let mut broker = Broker::connect(&addr);
        let topic = unique_name(&format!("codec-interop-{label}"));
        broker.create_topic(&topic, 1);
        match writer {
            Some(peer) => {
                peer_produce(peer, &addr, &topic, codec, &records);
                let (data, high_watermark) = broker.fetch_all(&topic, 0);
                assert_eq!(high_watermark, records.len() as i64, "high watermark");
                let compressed = match peer {
                    Peer::Java => Compressed::All,
                    Peer::Rdkafka => Compressed::SomeOrFallback,
                };
                if let Err(e) = check_batches(&data, codec, compressed, &records) {
                    panic!("{peer:?} {} large batches:\n{e}", codec.name());
                }
                check_multi_block(
                    label,
                    codec,
                    framing_of_batches(&data, codec),
                    peer == Peer::Java,
                );
            }
            None => {
                let batch = encode(&records, ProducerStamp::default(), codec);
                assert_eq!(broker.produce(&topic, 0, batch.clone()), 0, "base offset");
                let (stored, _) = broker.fetch_all(&topic, 0);
                assert!(
                    stored[16..] == batch[16..],
                    "the broker rewrote our large {} batch",
                    codec.name()
                );
                check_multi_block(label, codec, framing_of_batches(&batch, codec), true);
                for peer in PEERS {
                    let got = peer_consume(peer, &addr, &topic, records.len());
                    assert!(
                        got == expected_consumed(&topic, &records),
                        "{peer:?} reading our large {} batch: {}",
                        codec.name(),
                        describe_mismatch(&got, &expected_consumed(&topic, &records))
                    );
                }
            }
        }
    });
}

/// How a compressed batch body is framed: the framing's name, how many blocks it has
/// and how many of them are stored uncompressed. Walks the framing by hand (xerial
/// snappy, lz4 frame, zstd frame), independently of the codec under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Framing {
    name: &'static str,
    blocks: usize,
    stored: usize,
}

fn framing(codec: Compression, body: &[u8]) -> Result<Framing, String> {
    let u32_be = |b: &[u8], at: usize| -> Result<usize, String> {
        let bytes: [u8; 4] = b
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or("truncated length")?;
        Ok(u32::from_be_bytes(bytes) as usize)
    };
    let u32_le = |b: &[u8], at: usize| -> Result<u32, String> {
        let bytes: [u8; 4] = b
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or("truncated length")?;
        Ok(u32::from_le_bytes(bytes))
    };
    let byte = |b: &[u8], at: usize| -> Result<u8, String> {
        b.get(at).copied().ok_or_else(|| "truncated".to_owned())
    };
    match codec {
        Compression::Snappy if body.starts_with(b"\x82SNAPPY\0") => {
            let (mut pos, mut blocks) = (16, 0);
            while pos < body.len() {
                pos += 4 + u32_be(body, pos)?;
                blocks += 1;
            }
            if pos != body.len() {
                return Err(format!(
                    "xerial blocks overrun the body: {pos} > {}",
                    body.len()
                ));
            }
            Ok(Framing {
                name: "xerial",
                blocks,
                stored: 0,
            })
        }
        Compression::Snappy => Ok(Framing {
            name: "raw snappy",
            blocks: 1,
            stored: 0,
        }),
        Compression::Lz4 => {
            let (mut pos, mut blocks, mut stored) = (0, 0, 0);
            while pos < body.len() {
                if u32_le(body, pos)? != 0x184D_2204 {
                    return Err(format!("no lz4 frame magic at {pos}"));
                }
                let flg = byte(body, pos + 4)?;
                pos += 6
                    + if flg & 0x08 != 0 { 8 } else { 0 }
                    + if flg & 0x01 != 0 { 4 } else { 0 }
                    + 1;
                loop {
                    let size = u32_le(body, pos)?;
                    pos += 4;
                    if size == 0 {
                        break;
                    }
                    blocks += 1;
                    stored += usize::from(size & 0x8000_0000 != 0);
                    pos += (size & 0x7fff_ffff) as usize + if flg & 0x10 != 0 { 4 } else { 0 };
                }
                pos += if flg & 0x04 != 0 { 4 } else { 0 };
            }
            Ok(Framing {
                name: "lz4 frame",
                blocks,
                stored,
            })
        }
        Compression::Zstd => {
            let (mut pos, mut blocks, mut stored) = (0, 0, 0);
            while pos < body.len() {
                if u32_le(body, pos)? != 0xFD2F_B528 {
                    return Err(format!("no zstd frame magic at {pos}"));
                }
                let fhd = byte(body, pos + 4)?;
                let single_segment = fhd & 0x20 != 0;
                let dict = [0, 1, 2, 4][usize::from(fhd & 0x03)];
                let fcs = [usize::from(single_segment), 2, 4, 8][usize::from(fhd >> 6)];
                pos += 5 + usize::from(!single_segment) + dict + fcs;
                loop {
                    let header = u32::from(byte(body, pos)?)
                        | u32::from(byte(body, pos + 1)?) << 8
                        | u32::from(byte(body, pos + 2)?) << 16;
                    pos += 3;
                    blocks += 1;
                    let size = (header >> 3) as usize;
                    match (header >> 1) & 0x03 {
                        0 => {
                            stored += 1;
                            pos += size;
                        }
                        1 => pos += 1,
                        2 => pos += size,
                        _ => return Err(format!("reserved zstd block type at {pos}")),
                    }
                    if header & 1 != 0 {
                        break;
                    }
                }
                pos += if fhd & 0x04 != 0 { 4 } else { 0 };
            }
            Ok(Framing {
                name: "zstd frame",
                blocks,
                stored,
            })
        }
        Compression::Gzip | Compression::None => Ok(Framing {
            name: codec.name(),
            blocks: 1,
            stored: 0,
        }),
    }
}

/// The framing of every compressed batch in `data`, summed.
fn framing_of_batches(data: &[u8], codec: Compression) -> Framing {
    let mut total = Framing {
        name: "",
        blocks: 0,
        stored: 0,
    };
    for batch in split_batches(data).0 {
        if batch_info(batch).compression != codec.name() {
            continue;
        }
        let f = framing(codec, &batch[61..])
            .unwrap_or_else(|e| panic!("{} framing: {e}", codec.name()));
        total = Framing {
            name: f.name,
            blocks: total.blocks + f.blocks,
            stored: total.stored + f.stored,
        };
    }
    total
}

/// The large batches really exercise multi-block framing: xerial snappy, lz4 and zstd
/// bodies have several blocks, and (where the writer always compresses, so the
/// incompressible record is in a compressed batch) lz4 and zstd stored some raw.
/// librdkafka's snappy is one raw block by design (no framing).
fn check_multi_block(label: &str, codec: Compression, framing: Framing, always_compresses: bool) {
    let wanted = match (codec, framing.name) {
        (Compression::Snappy, "raw snappy") | (Compression::None | Compression::Gzip, _) => return,
        (Compression::Snappy, _) => framing.blocks >= 2,
        _ => framing.blocks >= 2 && (framing.stored >= 1 || !always_compresses),
    };
    assert!(
        wanted,
        "{label}: the large batch does not span blocks as intended: {framing:?}"
    );
}

/// A short description of how two peer outputs differ (they hold 100 KB values, too
/// long for assert_eq's dump).
fn describe_mismatch(got: &[PeerMessage], want: &[PeerMessage]) -> String {
    if got.len() != want.len() {
        return format!("{} messages, want {}", got.len(), want.len());
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let short = |s: &Option<String>| {
            s.as_ref()
                .map(|s| (s.len(), s.chars().take(40).collect::<String>()))
        };
        if g.value != w.value {
            return format!(
                "message {i} value: got {:?}, want {:?}",
                short(&g.value),
                short(&w.value)
            );
        }
        if g != w {
            let strip = |m: &PeerMessage| PeerMessage {
                value: None,
                ..m.clone()
            };
            return format!("message {i}: got {:?}, want {:?}", strip(g), strip(w));
        }
    }
    "no difference".to_owned()
}
