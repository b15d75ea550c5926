//! Bounds guard for responses: walks a response body against the schema of its API
//! and version before kafka-protocol decodes it, and refuses any array, string or
//! bytes length that claims more bytes than remain. kafka-protocol 0.18 calls
//! `Vec::with_capacity` with lengths read off the wire, so without this an 8-byte
//! response could make it try to allocate hundreds of gigabytes and abort.
//!
//! The schemas are data (one per API, written in a small schema language of
//! structs, fields, kinds and version ranges) and one interpreter walks them all. An array of `n` elements
//! is refused unless `n` times the smallest encoding of one element fits in the bytes
//! left, so whatever the guard lets through, kafka-protocol can reserve at most a
//! small multiple of the frame's size.
//!
//! Trailing bytes after a well-formed body are accepted, as kafka-protocol's decoders
//! (and Kafka's Java client) ignore them; [`response_body_len`] tells how long the
//! body really is.
//!
//! Every API and version in [`crate::versions::CLIENT_VERSIONS`] has a schema here;
//! any other is refused, so widening a client range without extending the guard
//! fails loudly.

mod responses;
mod schema;
mod walk;

use kafka_protocol::messages::ApiKey;

use crate::CodecError;
use schema::{Schema, Struct};
use walk::{Fault, Walker};

/// The error code of UNSUPPORTED_VERSION.
const UNSUPPORTED_VERSION: i16 = 35;

/// An empty struct: what a response header v1 is besides its correlation id.
const HEADER_V1: Struct = Struct {
    name: "ResponseHeader",
    fields: &[],
};

/// Checks a response header of `header_version` (0: correlation id; 1: correlation id
/// and tagged fields) at the start of `frame`.
///
/// Other header versions are only checked for the correlation id; kafka-protocol's
/// `ResponseHeader::decode` refuses them.
///
/// # Errors
/// [`CodecError::Truncated`] when the header does not fit, or when one of its tagged
/// fields (or their count) claims more bytes than the frame holds.
pub fn check_response_header(frame: &[u8], header_version: i16) -> Result<(), CodecError> {
    let Some(rest) = frame.get(4..) else {
        return Err(CodecError::Truncated {
            what: "response header",
            needed: 4 - frame.len(),
        });
    };
    if header_version != 1 {
        return Ok(());
    }
    Walker::new(rest, header_version, true, None)
        .walk_tagged_fields(&HEADER_V1)
        .map_err(|fault| CodecError::Truncated {
            what: "response header tagged fields",
            needed: usize::try_from(fault.needed.max(1)).unwrap_or(usize::MAX),
        })
}

/// Checks that `body` (the response without its header) is a well-bounded `api`
/// response at `version`. Bytes after the body are allowed.
///
/// # Errors
/// [`CodecError::MalformedResponse`] naming the field whose length overran (or that
/// the guard has no schema for `api` at `version`).
pub fn check_response(api: ApiKey, version: i16, body: &[u8]) -> Result<(), CodecError> {
    response_body_len(api, version, body).map(|_| ())
}

/// How many bytes at the start of `body` the `api` response at `version` takes,
/// after checking every length in it as [`check_response`] does.
///
/// # Errors
/// As [`check_response`].
pub fn response_body_len(api: ApiKey, version: i16, body: &[u8]) -> Result<usize, CodecError> {
    walk_body(api, version, body, None)
}

/// Where one length prefix lies in a response body: an array count, a string or
/// bytes length, a tagged-field count or a tagged field's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthPrefix {
    /// Its offset from the start of the body.
    pub offset: usize,
    /// How it is written.
    pub encoding: LengthEncoding,
}

/// How a [`LengthPrefix`] is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthEncoding {
    /// A big-endian `int16` (strings outside flexible versions); -1 is null.
    Int16,
    /// A big-endian `int32` (bytes and arrays outside flexible versions); -1 is null.
    Int32,
    /// An unsigned varint of `len` bytes: length + 1 (0 is null) for compact strings,
    /// bytes and arrays; the plain count or size in a tagged-fields section.
    UnsignedVarint {
        /// How many bytes the varint takes.
        len: usize,
    },
}

/// Every length prefix of the well-formed `api` response `body` at `version`, in
/// order: lets tests and fuzzers aim corruption at the lengths.
///
/// # Errors
/// As [`check_response`].
pub fn length_prefixes(
    api: ApiKey,
    version: i16,
    body: &[u8],
) -> Result<Vec<LengthPrefix>, CodecError> {
    let mut prefixes = Vec::new();
    walk_body(api, version, body, Some(&mut prefixes))?;
    Ok(prefixes)
}

/// Whether `body`, received for an ApiVersions request sent at `version` > 0, is
/// the version-0 body a broker sends with UNSUPPORTED_VERSION when it does not
/// implement `version` (KIP-511). kafka-protocol decodes at the version requested,
/// which fails on such a body (and the guard refuses it); a caller that wants the
/// broker's version list must decode it again at version 0.
pub fn is_api_versions_v0_fallback(version: i16, body: &[u8]) -> bool {
    version > 0
        && body.get(..2) == Some(&UNSUPPORTED_VERSION.to_be_bytes()[..])
        && response_body_len(ApiKey::ApiVersions, 0, body).is_ok()
}

fn walk_body(
    api: ApiKey,
    version: i16,
    body: &[u8],
    prefixes: Option<&mut Vec<LengthPrefix>>,
) -> Result<usize, CodecError> {
    let malformed = |reason: String| CodecError::MalformedResponse {
        api,
        version,
        reason,
    };
    let schema = schema_for(api, version).ok_or_else(|| {
        malformed("the bounds guard has no schema for this API version".to_owned())
    })?;
    let mut walker = Walker::new(body, version, schema.is_flexible(version), prefixes);
    match walker.walk_struct(schema.body) {
        Ok(()) => Ok(walker.position()),
        Err(fault) => Err(malformed(explain(schema, version, body, &fault))),
    }
}

/// The reason of a [`CodecError::MalformedResponse`] for `fault`.
fn explain(schema: &Schema, version: i16, body: &[u8], fault: &Fault) -> String {
    let reason = fault.describe(schema.body.name);
    if schema.api == ApiKey::ApiVersions && is_api_versions_v0_fallback(version, body) {
        return format!(
            "{reason} (the broker answered UNSUPPORTED_VERSION with a version 0 body: \
             it does not implement ApiVersions v{version})"
        );
    }
    reason
}

/// The schema of `api` responses at `version`, if the guard has one.
fn schema_for(api: ApiKey, version: i16) -> Option<&'static Schema> {
    responses::SCHEMAS
        .iter()
        .find(|s| s.api == api && (s.min..=s.max).contains(&version))
}

#[cfg(test)]
mod tests;
