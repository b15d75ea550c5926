//! The codec's error type: everything that can go wrong turning bytes into Kafka
//! messages and back. None of these come from the network being slow; all of them
//! mean the bytes were wrong (or, for encoding, that the message cannot be written).

use kafka_protocol::messages::ApiKey;

/// Why the codec refused some bytes or could not encode a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// A frame's length prefix is larger than the configured maximum
    /// (`receive.message.max.bytes`). Checked before anything is allocated.
    #[error(
        "frame of {size} bytes exceeds the maximum of {max} bytes (receive.message.max.bytes)"
    )]
    FrameTooLarge {
        /// The size the peer announced.
        size: i64,
        /// The configured maximum.
        max: usize,
    },
    /// A frame's length prefix is negative.
    #[error("negative frame length {0}")]
    NegativeFrameLength(i32),
    /// The bytes end before the structure they describe does.
    #[error("{what}: truncated, needed {needed} more bytes")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// How many more bytes it needed (at least).
        needed: usize,
    },
    /// A response's structure does not match the schema of its API and version.
    #[error("malformed {api:?} v{version} response: {reason}")]
    MalformedResponse {
        /// The API of the request this response answers.
        api: ApiKey,
        /// The version of that request.
        version: i16,
        /// What was wrong, in words.
        reason: String,
    },
    /// A response did not answer the request it was matched to.
    #[error("response correlation id {actual} does not match the expected {expected}")]
    CorrelationMismatch {
        /// The id of the request that was sent.
        expected: i32,
        /// The id the response carried.
        actual: i32,
    },
    /// This client and the broker share no version of an API.
    #[error("the broker supports no version of {api:?} that this client implements ({client_min}..={client_max})")]
    NoCommonVersion {
        /// The API in question.
        api: ApiKey,
        /// The lowest version this client implements.
        client_min: i16,
        /// The highest version this client implements.
        client_max: i16,
    },
    /// A request could not be encoded (a value out of range for the chosen version).
    #[error("cannot encode {api:?} v{version}: {reason}")]
    Encode {
        /// The API being encoded.
        api: ApiKey,
        /// The version being encoded.
        version: i16,
        /// What was wrong, in words.
        reason: String,
    },
    /// A record batch's CRC32C does not match its contents.
    #[error("record batch at offset {base_offset}: CRC mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    CrcMismatch {
        /// The batch's base offset.
        base_offset: i64,
        /// The CRC the batch carries.
        stored: u32,
        /// The CRC of the bytes received.
        computed: u32,
    },
    /// A record batch uses a message format (magic byte) this client does not read.
    #[error(
        "record batch at offset {base_offset}: message format v{magic} is not supported (only v2)"
    )]
    UnsupportedMagic {
        /// The batch's base offset.
        base_offset: i64,
        /// The magic byte found.
        magic: i8,
    },
    /// A record batch names a compression codec that does not exist.
    #[error("unknown compression codec id {0}")]
    UnknownCompression(u8),
    /// Compressed data could not be decompressed.
    #[error("{codec} decompression failed: {reason}")]
    Decompress {
        /// The codec's name.
        codec: &'static str,
        /// What the decompressor said.
        reason: String,
    },
    /// Decompressed data would exceed the configured bound (a "zip bomb" guard).
    #[error("{codec} batch expands beyond the limit of {limit} bytes")]
    DecompressedTooLarge {
        /// The codec's name.
        codec: &'static str,
        /// The limit in force.
        limit: usize,
    },
    /// Data could not be compressed.
    #[error("{codec} compression failed: {reason}")]
    Compress {
        /// The codec's name.
        codec: &'static str,
        /// What the compressor said.
        reason: String,
    },
    /// A record batch's inner structure is inconsistent (bad varint, lengths that
    /// overrun the batch, more or fewer records than announced).
    #[error("record batch at offset {base_offset}: {reason}")]
    MalformedBatch {
        /// The batch's base offset.
        base_offset: i64,
        /// What was wrong.
        reason: &'static str,
    },
}

impl CodecError {
    /// Whether trying again could help. Codec errors describe bytes that are wrong,
    /// so only a fresh copy of them (a new connection, a re-fetch) can fix anything:
    /// a CRC mismatch or a truncated frame may be transmission damage, the rest is not.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            CodecError::CrcMismatch { .. } | CodecError::Truncated { .. }
        )
    }
}
