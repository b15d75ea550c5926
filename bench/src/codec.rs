//! The client-only ceiling: how fast flame-kafka's record-batch codec encodes and
//! decodes batches of 100-byte records, beside memcpy and crc32c of the same bytes,
//! on one core, no network.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use flame_kafka_codec::record_batch::{decode_batches, encode_batch, DecodeLimits, ProducerStamp};
use flame_kafka_codec::{Compression, Record};

use crate::spec;

/// Records per batch: a full 100-byte batch under linger.ms=5 at ~200k records/s
/// per partition is around 1000 records.
pub const RECORDS_PER_BATCH: usize = 1000;
/// Value size.
pub const VALUE_SIZE: usize = 100;

/// One row of the ceiling.
#[derive(Debug, Clone)]
pub struct CodecRow {
    /// "encode lz4", "memcpy", ...
    pub what: String,
    /// Records per second (for memcpy / crc32c: records whose uncompressed batch
    /// bytes went through per second).
    pub records_per_sec: f64,
    /// Uncompressed batch bytes per second.
    pub bytes_per_sec: f64,
    /// Encoded size / uncompressed size.
    pub ratio: f64,
}

/// Runs `f` repeatedly for about `budget`, returns iterations per second.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    // Warm up.
    for _ in 0..3 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..4 {
            f();
        }
        n += 4;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Measures every row, `budget` per row.
pub fn run(budget: Duration) -> Vec<CodecRow> {
    let pool = spec::payload_pool(VALUE_SIZE);
    let now = 1_700_000_000_000i64;
    let records: Vec<Record> = (0..RECORDS_PER_BATCH)
        .map(|i| Record {
            offset: 0,
            timestamp: now + i as i64 / 100,
            key: None,
            value: Some(pool[i % pool.len()].clone()),
            headers: Vec::new(),
        })
        .collect();
    let mut plain = BytesMut::new();
    encode_batch(
        &mut plain,
        &records,
        ProducerStamp::default(),
        Compression::None,
        None,
    )
    .expect("encode");
    let plain_len = plain.len();
    let n = RECORDS_PER_BATCH as f64;
    let mut rows = Vec::new();
    let limits = DecodeLimits::default();

    for comp in [Compression::None, Compression::Lz4, Compression::Zstd] {
        let mut out = BytesMut::with_capacity(plain_len * 2);
        let enc = rate(budget, || {
            out.clear();
            encode_batch(
                &mut out,
                black_box(&records),
                ProducerStamp::default(),
                comp,
                None,
            )
            .expect("encode");
            black_box(&out);
        });
        let encoded: Bytes = {
            let mut b = BytesMut::new();
            encode_batch(&mut b, &records, ProducerStamp::default(), comp, None).expect("encode");
            b.freeze()
        };
        let ratio = encoded.len() as f64 / plain_len as f64;
        rows.push(CodecRow {
            what: format!("encode {}", comp.name()),
            records_per_sec: enc * n,
            bytes_per_sec: enc * plain_len as f64,
            ratio,
        });
        let dec = rate(budget, || {
            let batches = decode_batches(black_box(encoded.clone()), &limits).expect("decode");
            assert_eq!(batches[0].records.len(), RECORDS_PER_BATCH);
            black_box(batches);
        });
        rows.push(CodecRow {
            what: format!("decode {}", comp.name()),
            records_per_sec: dec * n,
            bytes_per_sec: dec * plain_len as f64,
            ratio,
        });
    }

    let src = plain.to_vec();
    let mut dst = vec![0u8; src.len()];
    let copy = rate(budget, || {
        dst.copy_from_slice(black_box(&src));
        black_box(&dst);
    });
    rows.push(CodecRow {
        what: "memcpy".into(),
        records_per_sec: copy * n,
        bytes_per_sec: copy * plain_len as f64,
        ratio: 1.0,
    });
    let crc = rate(budget, || {
        black_box(crc32c::crc32c(black_box(&src)));
    });
    rows.push(CodecRow {
        what: "crc32c".into(),
        records_per_sec: crc * n,
        bytes_per_sec: crc * plain_len as f64,
        ratio: 1.0,
    });
    rows
}
