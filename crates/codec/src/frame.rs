//! Framing: a Kafka message on the wire is a big-endian `i32` length followed by that
//! many bytes. Requests carry a header (api key, version, correlation id, client id);
//! responses carry the correlation id of the request they answer.
//!
//! [`FrameDecoder`] cuts whole frames out of a byte stream without touching a socket;
//! [`encode_request`] and [`decode_response`] turn kafka-protocol message types into
//! frames and back, the latter only after [`crate::guard`] has checked every length.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

use crate::versions::api_key_of;
use crate::{guard, CodecError};

/// Default bound on one frame's size (librdkafka's `receive.message.max.bytes`).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 100_000_000;

/// What every request header carries besides the API key and version.
#[derive(Debug, Clone, Copy)]
pub struct RequestMeta<'a> {
    /// Matches the response to the request; unique per connection while in flight.
    pub correlation_id: i32,
    /// The `client.id` shown in broker logs and quotas.
    pub client_id: &'a str,
}

/// Appends one whole request frame (length prefix, header, body) to `out`.
///
/// # Errors
/// [`CodecError::Encode`] if a field does not fit the chosen version (kafka-protocol
/// refuses, e.g., a field that version cannot carry).
pub fn encode_request<R: Request>(
    out: &mut BytesMut,
    meta: RequestMeta<'_>,
    version: i16,
    request: &R,
) -> Result<(), CodecError> {
    let api = api_key_of::<R>();
    let encode_err = |e: anyhow::Error| CodecError::Encode {
        api,
        version,
        reason: e.to_string(),
    };
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(meta.correlation_id)
        .with_client_id(Some(StrBytes::from_string(meta.client_id.to_owned())));
    let header_version = R::header_version(version);
    let size = header
        .compute_size(header_version)
        .and_then(|h| Ok(h + request.compute_size(version)?))
        .map_err(encode_err)?;
    let size = i32::try_from(size).map_err(|_| CodecError::Encode {
        api,
        version,
        reason: format!("request of {size} bytes is too large"),
    })?;
    out.reserve(4 + size as usize);
    out.put_i32(size);
    header.encode(out, header_version).map_err(encode_err)?;
    request.encode(out, version).map_err(encode_err)?;
    Ok(())
}

/// Cuts length-prefixed frames out of a byte stream.
///
/// Feed it the bytes read so far; it returns whole frames (without their length
/// prefix) and leaves a partial one in the buffer until the rest arrives. The length
/// is checked against the maximum before any memory is reserved for the frame.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_bytes: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl FrameDecoder {
    /// A decoder that refuses frames longer than `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        FrameDecoder { max_frame_bytes }
    }

    /// The next whole frame in `buf`, or `Ok(None)` if more bytes are needed.
    /// Consumes the frame (and its prefix) from `buf`.
    ///
    /// # Errors
    /// [`CodecError::NegativeFrameLength`] or [`CodecError::FrameTooLarge`]: the stream
    /// is unusable from here on and the connection should be closed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        let Some(prefix) = buf.get(..4) else {
            return Ok(None);
        };
        let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if len < 0 {
            return Err(CodecError::NegativeFrameLength(len));
        }
        let len = len as usize;
        if len > self.max_frame_bytes {
            return Err(CodecError::FrameTooLarge {
                size: len as i64,
                max: self.max_frame_bytes,
            });
        }
        if buf.len() < 4 + len {
            buf.reserve(4 + len - buf.len());
            return Ok(None);
        }
        buf.advance(4);
        Ok(Some(buf.split_to(len).freeze()))
    }
}

/// The correlation id at the start of a response frame (header v0 and v1 both start
/// with it), so a connection can route the frame before decoding it.
///
/// # Errors
/// [`CodecError::Truncated`] if the frame is shorter than four bytes.
pub fn response_correlation_id(frame: &[u8]) -> Result<i32, CodecError> {
    match frame.get(..4) {
        Some(b) => Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(CodecError::Truncated {
            what: "response header",
            needed: 4 - frame.len(),
        }),
    }
}

/// Decodes a response frame (as [`FrameDecoder`] yields it) to the response type of
/// request `R` sent at `version`, checking that it carries `expected_correlation_id`.
///
/// Before kafka-protocol sees the body, [`guard::check_response`] walks it against
/// the API's schema and refuses any length that claims more bytes than remain, so no
/// input makes the decoder allocate without bound, panic or abort.
///
/// # Errors
/// [`CodecError::CorrelationMismatch`], [`CodecError::MalformedResponse`] or
/// [`CodecError::Truncated`].
pub fn decode_response<R: Request>(
    mut frame: Bytes,
    version: i16,
    expected_correlation_id: i32,
) -> Result<R::Response, CodecError> {
    let api = api_key_of::<R>();
    let malformed = |e: anyhow::Error| CodecError::MalformedResponse {
        api,
        version,
        reason: e.to_string(),
    };
    let header_version = R::Response::header_version(version);
    let header = guard::check_response_header(&frame, header_version)
        .and_then(|()| ResponseHeader::decode(&mut frame, header_version).map_err(malformed))?;
    if header.correlation_id != expected_correlation_id {
        return Err(CodecError::CorrelationMismatch {
            expected: expected_correlation_id,
            actual: header.correlation_id,
        });
    }
    guard::check_response(api, version, &frame)?;
    let response = R::Response::decode(&mut frame, version).map_err(malformed)?;
    Ok(response)
}
