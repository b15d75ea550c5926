//! The LZ4 frame format (lz4 project's `lz4_Frame_format.md`), written here around
//! `lz4_flex`'s block compressor so that a batch compresses straight into its
//! output buffer with one reused hash table per thread: no encoder, block buffers
//! or table allocated per batch, and no copy of the input or of the blocks.
//!
//! What is written is what Kafka's clients write for magic-2 batches: one frame,
//! independent blocks of at most 64 KiB, no block or content checksums, no
//! content size, no dictionary. Reading stays with `lz4_flex::frame::FrameDecoder`.

use std::cell::RefCell;
use std::ops::DerefMut;

use bytes::BytesMut;
use lz4_flex::block::{compress_into_with_table, get_maximum_output_size, CompressTable};

use crate::CodecError;

/// Frame magic number, little-endian on the wire.
const MAGIC: u32 = 0x184D_2204;
/// FLG: version `01`, independent blocks; no checksums, content size or dictionary.
const FLG: u8 = 0b0110_0000;
/// BD: block maximum size id 4 (64 KiB).
const BD: u8 = 4 << 4;
/// Header checksum: the second byte of xxHash32 (seed 0) over FLG and BD. Fixed
/// because the descriptor is; the tests check it against a decoder that verifies it.
const HC: u8 = 0x82;
/// The descriptor's block maximum size.
const BLOCK_MAX: usize = 64 * 1024;
/// Bit set in a block's size field when the block is stored uncompressed.
const UNCOMPRESSED_BIT: u32 = 1 << 31;

thread_local! {
    /// The compressor's hash table, cleared (not reallocated) for each block.
    static TABLE: RefCell<CompressTable> = RefCell::new(CompressTable::large());
}

/// A growable byte buffer a frame is written into in place.
pub(crate) trait FrameOut: DerefMut<Target = [u8]> {
    /// Grows to `len` bytes (zero-filled) or shrinks to it.
    fn set_len(&mut self, len: usize);
    /// Appends `bytes`.
    fn append(&mut self, bytes: &[u8]);
}

impl FrameOut for Vec<u8> {
    fn set_len(&mut self, len: usize) {
        self.resize(len, 0);
    }
    fn append(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl FrameOut for BytesMut {
    fn set_len(&mut self, len: usize) {
        self.resize(len, 0);
    }
    fn append(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// An upper bound on the frame [`compress`] writes for `input_len` bytes.
pub(crate) fn max_frame_len(input_len: usize) -> usize {
    let blocks = input_len.div_ceil(BLOCK_MAX);
    // header 7, end mark 4; per block a size field and at worst the stored bytes.
    7 + 4 + blocks * 4 + input_len
}

/// Appends one LZ4 frame holding `input` to `out`.
///
/// # Errors
/// [`CodecError::Compress`] if the block compressor reports its output too small
/// (it cannot: each block gets its maximum compressed size).
pub(crate) fn compress(input: &[u8], out: &mut impl FrameOut) -> Result<(), CodecError> {
    let mut header = [0u8; 7];
    header[..4].copy_from_slice(&MAGIC.to_le_bytes());
    header[4] = FLG;
    header[5] = BD;
    header[6] = HC;
    out.append(&header);
    TABLE.with(|table| {
        let mut table = table.borrow_mut();
        for block in input.chunks(BLOCK_MAX) {
            let size_at = out.len();
            let data_at = size_at + 4;
            out.set_len(data_at + get_maximum_output_size(block.len()));
            let packed =
                compress_into_with_table(block, &mut out[data_at..], &mut table).map_err(|e| {
                    CodecError::Compress {
                        codec: "lz4",
                        reason: e.to_string(),
                    }
                })?;
            // A block that does not shrink is stored as is, as the format allows.
            let (size, end) = if packed < block.len() {
                (packed as u32, data_at + packed)
            } else {
                out[data_at..data_at + block.len()].copy_from_slice(block);
                (block.len() as u32 | UNCOMPRESSED_BIT, data_at + block.len())
            };
            out[size_at..data_at].copy_from_slice(&size.to_le_bytes());
            out.set_len(end);
        }
        Ok(())
    })?;
    out.append(&0u32.to_le_bytes()); // end mark
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn decode(frame: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        lz4_flex::frame::FrameDecoder::new(frame)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn letters(len: usize) -> Vec<u8> {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        (0..len)
            .map(|_| {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                b'A' + ((state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) % 26) as u8
            })
            .collect()
    }

    #[test]
    fn header_matches_lz4_flex_frame_encoder() {
        let info = lz4_flex::frame::FrameInfo::new()
            .block_size(lz4_flex::frame::BlockSize::Max64KB)
            .block_mode(lz4_flex::frame::BlockMode::Independent);
        let mut theirs = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        theirs.write_all(b"x").unwrap();
        let theirs = theirs.finish().unwrap();
        let mut ours = Vec::new();
        compress(b"x", &mut ours).unwrap();
        assert_eq!(ours[..7], theirs[..7]);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn frames_decode_for_every_block_shape() {
        let zeros = vec![0u8; 300_000];
        let random = letters(300_000);
        for len in [
            0,
            1,
            12,
            13,
            100,
            BLOCK_MAX - 1,
            BLOCK_MAX,
            BLOCK_MAX + 1,
            2 * BLOCK_MAX,
            300_000,
        ] {
            for input in [&zeros[..len], &random[..len]] {
                let mut out = Vec::new();
                compress(input, &mut out).unwrap();
                assert!(out.len() <= max_frame_len(len), "len {len}");
                assert_eq!(decode(&out), input, "len {len}");
                let mut bytes = BytesMut::from(&b"prefix"[..]);
                compress(input, &mut bytes).unwrap();
                assert_eq!(&bytes[..6], b"prefix");
                assert_eq!(bytes[6..], out[..]);
            }
        }
    }

    #[test]
    fn incompressible_blocks_are_stored() {
        // Bytes with no 4-byte repeat cannot shrink.
        let input: Vec<u8> = (0..=255u8).collect();
        let mut out = Vec::new();
        compress(&input, &mut out).unwrap();
        let size = u32::from_le_bytes(out[7..11].try_into().unwrap());
        assert_eq!(size, 256 | UNCOMPRESSED_BIT);
        assert_eq!(out.len(), 7 + 4 + 256 + 4);
        assert_eq!(decode(&out), input);
    }
}
