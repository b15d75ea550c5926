//! Record-batch compression, all pure Rust: gzip (flate2 on zlib-rs), snappy (the
//! xerial framing the Java client writes, and raw blocks as some clients write),
//! lz4 (the frame format with independent 64 KiB blocks, as Java and librdkafka
//! write) and zstd (rusty_zstd, with libzstd's levels 1–22, default 3; with the
//! opt-in `zstd-c` feature, libzstd itself).
//!
//! Decompression is always bounded: output larger than the caller's limit is an
//! error ([`CodecError::DecompressedTooLarge`]), so a small batch cannot expand
//! without limit.

use std::io::{Read, Write};

use crate::CodecError;

mod lz4;
pub(crate) use lz4::{compress as lz4_compress, max_frame_len as lz4_max_frame_len};

/// A record batch's compression codec (attribute bits 0–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Snappy; written in xerial framing as the Java client does.
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

/// The xerial snappy-java stream header: magic, then version 1 and compatible version 1.
const XERIAL_HEADER: [u8; 16] = [
    0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
];
/// The xerial block size the Java client uses.
const XERIAL_BLOCK: usize = 32 * 1024;

impl Compression {
    /// The codec for a batch's attribute bits.
    ///
    /// # Errors
    /// [`CodecError::UnknownCompression`] for ids 5–7.
    pub fn from_attributes(attributes: i16) -> Result<Self, CodecError> {
        match attributes & 0x07 {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(CodecError::UnknownCompression(other as u8)),
        }
    }

    /// The codec's id in a batch's attribute bits.
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec's name as `compression.type` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Compresses `input`, appending to `out`. `level` applies to gzip (0–9, default
    /// 6) and zstd (1–22, above: 22; 0 or none: 3, as Kafka and libzstd default);
    /// snappy and lz4 have one level here.
    ///
    /// # Errors
    /// [`CodecError::Compress`] if the encoder fails (it does not on in-memory data).
    pub fn compress(
        self,
        input: &[u8],
        level: Option<u32>,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let fail = |e: std::io::Error| CodecError::Compress {
            codec: self.name(),
            reason: e.to_string(),
        };
        match self {
            Compression::None => out.extend_from_slice(input),
            Compression::Gzip => {
                let level = flate2::Compression::new(level.unwrap_or(6).min(9));
                let mut encoder = flate2::write::GzEncoder::new(out, level);
                encoder.write_all(input).map_err(fail)?;
                encoder.finish().map_err(fail)?;
            }
            Compression::Snappy => snappy_xerial_compress(input, out)?,
            Compression::Lz4 => lz4::compress(input, out)?,
            Compression::Zstd => zstd_compress(input, level, out)?,
        }
        Ok(())
    }

    /// Decompresses `input` into a new buffer of at most `limit` bytes.
    ///
    /// # Errors
    /// [`CodecError::Decompress`] for corrupt input, [`CodecError::DecompressedTooLarge`]
    /// when the output would exceed `limit`.
    pub fn decompress(self, input: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
        let codec = self.name();
        match self {
            Compression::None => {
                if input.len() > limit {
                    return Err(CodecError::DecompressedTooLarge { codec, limit });
                }
                Ok(input.to_vec())
            }
            Compression::Gzip => {
                read_bounded(codec, flate2::read::MultiGzDecoder::new(input), limit)
            }
            Compression::Snappy => snappy_decompress(input, limit),
            Compression::Lz4 => {
                read_bounded(codec, lz4_flex::frame::FrameDecoder::new(input), limit)
            }
            Compression::Zstd => zstd_decompress(input, limit),
        }
    }
}

/// Reads a decoder to its end, refusing more than `limit` bytes of output.
fn read_bounded(
    codec: &'static str,
    reader: impl Read,
    limit: usize,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| CodecError::Decompress {
            codec,
            reason: e.to_string(),
        })?;
    if out.len() > limit {
        return Err(CodecError::DecompressedTooLarge { codec, limit });
    }
    Ok(out)
}

fn snappy_xerial_compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    out.extend_from_slice(&XERIAL_HEADER);
    let mut encoder = snap::raw::Encoder::new();
    let mut block = vec![0u8; snap::raw::max_compress_len(XERIAL_BLOCK)];
    for chunk in input.chunks(XERIAL_BLOCK) {
        let n = encoder
            .compress(chunk, &mut block)
            .map_err(|e| CodecError::Compress {
                codec: "snappy",
                reason: e.to_string(),
            })?;
        // n <= max_compress_len(32 KiB), far below i32::MAX.
        out.extend_from_slice(&(n as u32).to_be_bytes());
        out.extend_from_slice(&block[..n]);
    }
    Ok(())
}

/// Snappy as Kafka clients write it: xerial framing (Java) or one raw block.
fn snappy_decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    if input.len() >= 8 && input[..8] == XERIAL_HEADER[..8] {
        let mut rest = input.get(16..).ok_or(CodecError::Decompress {
            codec: "snappy",
            reason: "truncated xerial header".into(),
        })?;
        let mut out = Vec::new();
        while !rest.is_empty() {
            let (len, tail) = match rest.split_first_chunk::<4>() {
                Some((len, tail)) => (u32::from_be_bytes(*len) as usize, tail),
                None => return Err(snappy_err("truncated xerial block length")),
            };
            let block = tail
                .get(..len)
                .ok_or_else(|| snappy_err("truncated xerial block"))?;
            snappy_raw_into(block, limit, &mut out)?;
            rest = &tail[len..];
        }
        Ok(out)
    } else {
        let mut out = Vec::new();
        snappy_raw_into(input, limit, &mut out)?;
        Ok(out)
    }
}

fn snappy_raw_into(block: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let len = snap::raw::decompress_len(block).map_err(|e| snappy_err(&e.to_string()))?;
    if out.len().saturating_add(len) > limit {
        return Err(CodecError::DecompressedTooLarge {
            codec: "snappy",
            limit,
        });
    }
    let start = out.len();
    out.resize(start + len, 0);
    let n = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| snappy_err(&e.to_string()))?;
    out.truncate(start + n);
    Ok(())
}

fn snappy_err(reason: &str) -> CodecError {
    CodecError::Decompress {
        codec: "snappy",
        reason: reason.to_owned(),
    }
}

/// zstd through libzstd (feature `zstd-c`), at `level` (0 or none: libzstd's
/// default, 3; at most 22).
#[cfg(feature = "zstd-c")]
fn zstd_compress(input: &[u8], level: Option<u32>, out: &mut Vec<u8>) -> Result<(), CodecError> {
    // libzstd reads 0 as its default level (3).
    let level = level.map_or(zstd::DEFAULT_COMPRESSION_LEVEL, |l| {
        i32::try_from(l.min(22)).unwrap_or(zstd::DEFAULT_COMPRESSION_LEVEL)
    });
    let compressed = zstd::bulk::compress(input, level).map_err(|e| CodecError::Compress {
        codec: "zstd",
        reason: e.to_string(),
    })?;
    out.extend_from_slice(&compressed);
    Ok(())
}

/// zstd through rusty_zstd (pure Rust, libzstd's level table and strategies) at
/// `level`: 1–22 as libzstd reads them, 0 or none: 3 (Kafka's and libzstd's
/// default), above 22: 22. The frame has its content size and no checksum, as
/// libzstd writes by default (the batch has its own CRC).
#[cfg(not(feature = "zstd-c"))]
fn zstd_compress(input: &[u8], level: Option<u32>, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let level = match level {
        None | Some(0) => rusty_zstd::DEFAULT_CLEVEL,
        Some(l) => i32::try_from(l.min(22)).unwrap_or(rusty_zstd::DEFAULT_CLEVEL),
    };
    let options = rusty_zstd::CompressOptions {
        level,
        checksum: false,
    };
    let compressed =
        rusty_zstd::compress_with(input, options).map_err(|e| CodecError::Compress {
            codec: "zstd",
            reason: e.to_string(),
        })?;
    out.extend_from_slice(&compressed);
    Ok(())
}

/// Zstandard through libzstd (feature `zstd-c`): one or more frames back to back,
/// with a bounded read.
#[cfg(feature = "zstd-c")]
fn zstd_decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    let decoder =
        zstd::stream::read::Decoder::with_buffer(input).map_err(|e| CodecError::Decompress {
            codec: "zstd",
            reason: e.to_string(),
        })?;
    read_bounded("zstd", decoder, limit)
}

/// Zstandard through rusty_zstd: one or more frames back to back (skippable frames
/// skipped), at most `limit` bytes in all. A frame whose declared content size is
/// over what is left of `limit` is refused before anything is decoded; one that
/// declares none stops at the first block past it (rusty_zstd may reserve, not
/// fill, up to 64 MiB of address space for such a frame from its first block).
#[cfg(not(feature = "zstd-c"))]
fn zstd_decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let options = rusty_zstd::DecompressOptions::default();
    rusty_zstd::decompress_with_limit(input, options, limit).map_err(|e| match e {
        // Also what it says when it cannot reserve a declared content size.
        rusty_zstd::Error::ContentSizeTooLarge => CodecError::DecompressedTooLarge {
            codec: "zstd",
            limit,
        },
        other => CodecError::Decompress {
            codec: "zstd",
            reason: other.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ (i / 1000) as u8)
            .collect()
    }

    #[test]
    fn every_codec_round_trips_small_and_multi_block_inputs() {
        for codec in ALL {
            for len in [0, 1, 100, 70_000, 200_000] {
                let input = sample(len);
                let mut packed = Vec::new();
                codec.compress(&input, None, &mut packed).unwrap();
                let unpacked = codec.decompress(&packed, 1 << 20).unwrap();
                assert_eq!(unpacked, input, "{codec:?} len {len}");
            }
        }
    }

    #[test]
    fn decompression_refuses_output_over_the_limit() {
        let zeros = vec![0u8; 1 << 20];
        for codec in ALL {
            let mut packed = Vec::new();
            codec.compress(&zeros, None, &mut packed).unwrap();
            let err = codec.decompress(&packed, 1000).unwrap_err();
            assert!(
                matches!(err, CodecError::DecompressedTooLarge { limit: 1000, .. }),
                "{codec:?}: {err:?}"
            );
        }
    }

    #[test]
    fn snappy_reads_raw_blocks_too() {
        let input = sample(5000);
        let raw = snap::raw::Encoder::new().compress_vec(&input).unwrap();
        assert_eq!(
            Compression::Snappy.decompress(&raw, 1 << 20).unwrap(),
            input
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in ALL {
            for garbage in [
                &b""[..],
                b"\x82SNAPPY\x00",
                b"\xff\xff\xff\xff\xff",
                &[0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0],
            ] {
                let _ = codec.decompress(garbage, 1 << 16);
            }
        }
    }

    #[test]
    fn zstd_reads_frames_back_to_back() {
        let (a, b) = (sample(5000), sample(300));
        let mut packed = Vec::new();
        Compression::Zstd.compress(&a, None, &mut packed).unwrap();
        Compression::Zstd.compress(&b, None, &mut packed).unwrap();
        let out = Compression::Zstd.decompress(&packed, 1 << 20).unwrap();
        assert_eq!(out, [a, b].concat());
    }

    /// With libzstd, levels apply, and libzstd and rusty_zstd read each other's frames.
    #[cfg(feature = "zstd-c")]
    #[test]
    fn zstd_c_levels_apply_and_frames_interoperate_with_rusty_zstd() {
        let text = batch_like_text();
        let mut fast = Vec::new();
        let mut strong = Vec::new();
        Compression::Zstd
            .compress(&text, Some(1), &mut fast)
            .unwrap();
        Compression::Zstd
            .compress(&text, Some(19), &mut strong)
            .unwrap();
        assert!(
            strong.len() < fast.len(),
            "{} !< {}",
            strong.len(),
            fast.len()
        );
        // libzstd's frames, read by rusty_zstd.
        for frame in [&fast, &strong] {
            let opts = rusty_zstd::DecompressOptions::default();
            let out = rusty_zstd::decompress_with_limit(frame, opts, text.len()).unwrap();
            assert_eq!(out, text);
        }
        // rusty_zstd's frames, at each level, read by libzstd.
        for level in [-1, 1, 3, 9, 19] {
            let options = rusty_zstd::CompressOptions {
                level,
                checksum: level == 9,
            };
            let by_rusty = rusty_zstd::compress_with(&text, options).unwrap();
            let limit = text.len();
            assert_eq!(
                Compression::Zstd.decompress(&by_rusty, limit).unwrap(),
                text,
                "level {level}"
            );
            assert!(matches!(
                Compression::Zstd.decompress(&by_rusty, limit - 1),
                Err(CodecError::DecompressedTooLarge { .. })
            ));
        }
    }

    /// Text that compresses as a record batch does: repeats at many distances.
    fn batch_like_text() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| format!("record {} of a batch; ", i % 977).into_bytes())
            .collect()
    }

    /// Without `zstd-c`, `level` applies too: a higher level writes a smaller frame,
    /// 0 and none are level 3, and levels past 22 are 22.
    #[cfg(not(feature = "zstd-c"))]
    #[test]
    fn zstd_levels_apply() {
        let text = batch_like_text();
        let packed = |level: Option<u32>| {
            let mut out = Vec::new();
            Compression::Zstd.compress(&text, level, &mut out).unwrap();
            assert_eq!(
                Compression::Zstd.decompress(&out, text.len()).unwrap(),
                text
            );
            out
        };
        let (one, three, nineteen) = (packed(Some(1)), packed(Some(3)), packed(Some(19)));
        assert!(
            nineteen.len() < one.len(),
            "{} !< {}",
            nineteen.len(),
            one.len()
        );
        assert_eq!(packed(None), three);
        assert_eq!(packed(Some(0)), three);
        assert_eq!(packed(Some(1000)), packed(Some(22)));
    }

    /// Mutated, truncated, spliced and random zstd input, decoded under a limit:
    /// an error or bounded output, never a panic (a fixed-seed fuzz pass).
    #[test]
    fn zstd_survives_mutated_frames() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let text = batch_like_text();
        let mut seeds = Vec::new();
        for (input, level) in [
            (&text[..20_000], Some(1)),
            (&text[..150_000], None),
            (&text[..3000], Some(19)),
            (&sample(70_000)[..], Some(3)),
            (&[7u8; 200_000][..], None),
            (&b"x"[..], None),
        ] {
            let mut frame = Vec::new();
            Compression::Zstd
                .compress(input, level, &mut frame)
                .unwrap();
            seeds.push(frame);
        }
        // Two frames back to back, and a skippable frame before one.
        seeds.push([seeds[0].clone(), seeds[3].clone()].concat());
        seeds.push([&[0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 9, 9][..], &seeds[2]].concat());
        let iterations = if cfg!(debug_assertions) {
            3_000
        } else {
            30_000
        };
        for _ in 0..iterations {
            let pick = |n: u64, len: usize| (n % (len.max(1) as u64)) as usize;
            let mut input = seeds[pick(next(), seeds.len())].clone();
            for _ in 0..1 + next() % 4 {
                let at = pick(next(), input.len());
                match next() % 6 {
                    0 if !input.is_empty() => input[at] ^= 1 << (next() % 8),
                    1 if !input.is_empty() => input[at] = next() as u8,
                    2 => input.truncate(at),
                    3 => input.insert(at, next() as u8),
                    4 if input.len() > at + 8 => {
                        input.drain(at..at + 1 + pick(next(), 8));
                    }
                    _ => {
                        let len = pick(next(), 300);
                        input = (0..len).map(|_| next() as u8).collect();
                        if len >= 4 && next() % 2 == 0 {
                            input[..4].copy_from_slice(&[0x28, 0xb5, 0x2f, 0xfd]);
                        }
                    }
                }
            }
            let limit = if next() % 3 == 0 {
                pick(next(), 200_000)
            } else {
                1 << 20
            };
            if let Ok(out) = Compression::Zstd.decompress(&input, limit) {
                assert!(out.len() <= limit, "{} > {limit}", out.len());
            }
        }
    }

    #[test]
    fn attribute_ids_round_trip() {
        for codec in ALL {
            assert_eq!(Compression::from_attributes(codec.id()).unwrap(), codec);
        }
        assert_eq!(
            Compression::from_attributes(5),
            Err(CodecError::UnknownCompression(5))
        );
    }
}
