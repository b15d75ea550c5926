//! The bodies of flame-kafka-codec's fuzz targets, shared by the cargo-fuzz binaries
//! in `fuzz_targets/` (nightly, libFuzzer) and by `examples/stable_fuzz.rs` (stable,
//! a plain mutation loop), plus the seed inputs both start from.
//!
//! Every target returns whether the input decoded to something (for statistics);
//! a bug shows as a panic (an assertion here or in the codec) or an abort.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use bytes::{Bytes, BytesMut};
use flame_kafka_codec::frame::{response_correlation_id, FrameDecoder, DEFAULT_MAX_FRAME_BYTES};
use flame_kafka_codec::guard::response_body_len;
use flame_kafka_codec::messages::ApiKey;
use flame_kafka_codec::record_batch::{decode_batches, encode_batch, DecodeLimits, ProducerStamp};
use flame_kafka_codec::{Compression, Header, Record};

/// The codec's test samples: kafka-protocol-built responses for every API and
/// version the client speaks, and a dispatcher to `decode_response` by [`ApiKey`].
#[path = "../../crates/codec/tests/guard_samples.rs"]
#[allow(missing_docs, unreachable_pub)]
mod samples;

/// The names of the fuzz targets.
pub const TARGETS: &[&str] = &["frame_decoder", "response_decode", "record_batch_decode"];

/// Runs target `name` on `data`; `None` if there is no such target.
pub fn run(name: &str, data: &[u8]) -> Option<bool> {
    match name {
        "frame_decoder" => Some(frame_decoder(data)),
        "response_decode" => Some(response_decode(data)),
        "record_batch_decode" => Some(record_batch_decode(data)),
        _ => None,
    }
}

/// `FrameDecoder` over a stream cut into chunks. The first byte picks the maximum
/// frame size (2 bits) and the chunk length (6 bits); the rest is the stream.
/// Checks that frames respect the maximum and that frames plus leftover account for
/// every byte fed. Returns whether at least one frame came out.
pub fn frame_decoder(data: &[u8]) -> bool {
    let Some((&control, stream)) = data.split_first() else {
        return false;
    };
    let max = [0, 16, 1 << 12, DEFAULT_MAX_FRAME_BYTES][usize::from(control & 3)];
    let chunk_len = 1 + usize::from(control >> 2);
    let mut decoder = FrameDecoder::new(max);
    let mut buf = BytesMut::new();
    let (mut framed, mut frames) = (0, 0);
    for chunk in stream.chunks(chunk_len) {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= max, "frame longer than the maximum");
                    framed += 4 + frame.len();
                    frames += 1;
                }
                Ok(None) => break,
                Err(_) => return frames > 0,
            }
        }
    }
    assert_eq!(framed + buf.len(), stream.len(), "bytes lost or invented");
    frames > 0
}

/// Every `(api, version)` of `CLIENT_VERSIONS`, in order.
pub fn api_versions() -> Vec<(ApiKey, i16)> {
    samples::all_versions().collect()
}

/// `decode_response` for one API and version. The first byte picks the mode (bit 0)
/// and the `(api, version)` (the other bits, modulo [`api_versions`]):
///
/// - mode 0: the rest is a response frame (header and body), decoded by
///   `decode_response` with the correlation id the frame carries;
/// - mode 1: the rest is a response body; whenever the guard accepts it and
///   kafka-protocol decodes it, both must agree on where it ends.
pub fn response_decode(data: &[u8]) -> bool {
    let Some((&pick, rest)) = data.split_first() else {
        return false;
    };
    let pairs = api_versions();
    let (api, version) = pairs[usize::from(pick >> 1) % pairs.len()];
    if pick & 1 == 0 {
        let correlation_id = response_correlation_id(rest).unwrap_or(0);
        let frame = Bytes::copy_from_slice(rest);
        return samples::decode_frame(api, version, frame, correlation_id).is_ok();
    }
    let Ok(len) = response_body_len(api, version, rest) else {
        return false;
    };
    match samples::decoded_len(api, version, rest) {
        Ok(decoded) => {
            assert_eq!(
                decoded, len,
                "{api:?} v{version}: guard and decoder disagree"
            );
            true
        }
        Err(_) => false,
    }
}

/// `decode_batches` on arbitrary bytes. The first byte's bit 0 turns CRC checks on;
/// decompression is bounded at 1 MiB. Returns whether any batch decoded.
pub fn record_batch_decode(data: &[u8]) -> bool {
    let Some((&control, rest)) = data.split_first() else {
        return false;
    };
    let limits = DecodeLimits {
        max_decompressed_bytes: 1 << 20,
        verify_crc: control & 1 == 1,
    };
    matches!(decode_batches(Bytes::copy_from_slice(rest), &limits), Ok(b) if !b.is_empty())
}

/// Seed inputs for target `name`: valid inputs a mutator can start from.
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    match name {
        "frame_decoder" => frame_seeds(),
        "response_decode" => response_seeds(),
        "record_batch_decode" => record_batch_seeds(),
        _ => Vec::new(),
    }
}

fn response_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (i, (api, version)) in api_versions().into_iter().enumerate() {
        let pick = (i as u8) << 1;
        for body in samples::samples(api, version) {
            let mut framed = vec![pick];
            framed.extend_from_slice(&samples::frame(api, version, 7, &body));
            out.push(framed);
            let mut bare = vec![pick | 1];
            bare.extend_from_slice(&body);
            out.push(bare);
        }
    }
    out
}

fn frame_seeds() -> Vec<Vec<u8>> {
    let mut stream = Vec::new();
    for body in samples::samples(ApiKey::Metadata, 12) {
        stream.extend((body.len() as i32).to_be_bytes());
        stream.extend_from_slice(&body);
    }
    [0x03u8, 0x02, 0x07, 0xfe]
        .into_iter()
        .map(|control| {
            let mut seed = vec![control];
            seed.extend_from_slice(&stream);
            seed
        })
        .collect()
}

fn record_batch_seeds() -> Vec<Vec<u8>> {
    let records: Vec<Record> = (0..4)
        .map(|i| Record {
            offset: i,
            timestamp: 1_700_000_000_000 + i,
            key: (i % 2 == 0).then(|| Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(vec![b'v'; 50 * i as usize])),
            headers: vec![Header {
                key: Bytes::from_static(b"trace"),
                value: Some(Bytes::from_static(b"abc")),
            }],
        })
        .collect();
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    let mut all = BytesMut::new();
    let mut out = Vec::new();
    for codec in codecs {
        let mut one = BytesMut::new();
        if encode_batch(&mut one, &records, ProducerStamp::default(), codec, None).is_ok() {
            all.extend_from_slice(&one);
            for control in [0u8, 1] {
                let mut seed = vec![control];
                seed.extend_from_slice(&one);
                out.push(seed);
            }
        }
    }
    let mut seed = vec![1u8];
    seed.extend_from_slice(&all);
    out.push(seed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_decodes() {
        for &target in TARGETS {
            let seeds = seeds(target);
            assert!(!seeds.is_empty(), "{target}");
            for (i, seed) in seeds.iter().enumerate() {
                assert_eq!(run(target, seed), Some(true), "{target} seed {i}");
            }
        }
    }

    #[test]
    fn every_codec_gives_a_record_batch_seed() {
        assert_eq!(record_batch_seeds().len(), 11);
    }
}
