//! Record batches, message format v2 (magic 2): what Produce requests carry and
//! Fetch responses return.
//!
//! Decoding verifies the CRC32C, decompresses with a bound, and for uncompressed
//! batches hands out keys, values and header values as slices of the fetched buffer
//! (no copy). A truncated last batch (brokers cut fetch responses at a size limit)
//! ends decoding quietly. Legacy message sets (magic 0/1) are refused with
//! [`CodecError::UnsupportedMagic`].

use std::cell::RefCell;

use bytes::{BufMut, Bytes, BytesMut};

use crate::{CodecError, Compression};

/// Size of the fixed batch header, from base offset through record count.
pub const BATCH_HEADER_LEN: usize = 61;
/// Offset of the CRC-covered part (attributes onwards) within a batch.
const CRC_START: usize = 21;
/// Bytes of the `base offset` and `batch length` fields, which the length excludes.
const LOG_OVERHEAD: usize = 12;

const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

/// A record header: a key (UTF-8 by convention, not checked) and an optional value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// The header's name.
    pub key: Bytes,
    /// The header's value; `None` is a null value (distinct from empty).
    pub value: Option<Bytes>,
}

/// One record: what a producer sends and a consumer receives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// The record's offset in its partition (ignored when encoding: records get
    /// consecutive offset deltas in the order given).
    pub offset: i64,
    /// Milliseconds since the epoch: create time, or log-append time when the topic
    /// says so (then every record of the batch carries the batch's max timestamp).
    pub timestamp: i64,
    /// The key; `None` is a null key.
    pub key: Option<Bytes>,
    /// The value; `None` is a null value (a tombstone).
    pub value: Option<Bytes>,
    /// Headers in order; names may repeat.
    pub headers: Vec<Header>,
}

/// What kind of marker a control record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlType {
    /// The producer aborted its transaction.
    Abort,
    /// The producer committed its transaction.
    Commit,
    /// A control type this client does not know.
    Other(i16),
}

/// A decoded batch: its header fields and its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    /// Offset of the batch's first record.
    pub base_offset: i64,
    /// Leader epoch of the partition when the batch was appended.
    pub partition_leader_epoch: i32,
    /// The codec the records were compressed with.
    pub compression: Compression,
    /// True when timestamps are log-append times set by the broker.
    pub log_append_time: bool,
    /// Part of a transaction.
    pub transactional: bool,
    /// Holds control records (transaction markers), not application data.
    pub control: bool,
    /// Offset of the last record relative to `base_offset` (records may have been
    /// compacted away, so this can exceed the record count).
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Greatest timestamp in the batch.
    pub max_timestamp: i64,
    /// Idempotent/transactional producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// The records, with absolute offsets and timestamps.
    pub records: Vec<Record>,
}

impl RecordBatch {
    /// The offset after the batch's last offset: where the next fetch starts.
    pub fn next_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta) + 1
    }

    /// For a control batch, the marker type of its (single) control record.
    pub fn control_type(&self) -> Option<ControlType> {
        if !self.control {
            return None;
        }
        let key = self.records.first()?.key.as_ref()?;
        let kind = i16::from_be_bytes([*key.get(2)?, *key.get(3)?]);
        Some(match kind {
            0 => ControlType::Abort,
            1 => ControlType::Commit,
            other => ControlType::Other(other),
        })
    }
}

/// Bounds applied while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest size one batch may decompress to.
    pub max_decompressed_bytes: usize,
    /// Whether to verify each batch's CRC32C (`check.crcs`).
    pub verify_crc: bool,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_decompressed_bytes: 256 * 1024 * 1024,
            verify_crc: true,
        }
    }
}

/// Producer identity stamped on a batch (all -1 for a non-idempotent producer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStamp {
    /// Producer id from InitProducerId, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the batch's first record, or -1.
    pub base_sequence: i32,
    /// Whether the batch belongs to a transaction.
    pub transactional: bool,
}

impl Default for ProducerStamp {
    fn default() -> Self {
        ProducerStamp {
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
        }
    }
}

/// Appends one batch holding `records` (in order, offset deltas 0, 1, 2, ...) to `out`.
///
/// # Errors
/// [`CodecError::Compress`] if compression fails; [`CodecError::MalformedBatch`] if
/// there are no records or the batch would exceed 2 GiB.
pub fn encode_batch(
    out: &mut BytesMut,
    records: &[Record],
    stamp: ProducerStamp,
    compression: Compression,
    level: Option<u32>,
) -> Result<(), CodecError> {
    let too_big = CodecError::MalformedBatch {
        base_offset: 0,
        reason: "batch larger than 2 GiB",
    };
    let Some(first) = records.first() else {
        return Err(CodecError::MalformedBatch {
            base_offset: 0,
            reason: "a batch needs at least one record",
        });
    };
    let base_timestamp = first.timestamp;
    let max_timestamp = records
        .iter()
        .map(|r| r.timestamp)
        .max()
        .unwrap_or(base_timestamp);
    let record_count = i32::try_from(records.len()).map_err(|_| too_big.clone())?;
    let size_hint: usize = records.iter().map(record_size_hint).sum();
    // The header goes in front once the body's length is known; the body is written
    // (or compressed) straight after it.
    let start = out.len();
    let body_at = start + BATCH_HEADER_LEN;
    let written = match compression {
        Compression::None => {
            out.reserve(BATCH_HEADER_LEN + size_hint);
            out.put_bytes(0, BATCH_HEADER_LEN);
            write_records(out, records, base_timestamp);
            Ok(())
        }
        _ => with_scratch(|body| {
            body.reserve(size_hint);
            write_records(body, records, base_timestamp);
            if compression == Compression::Lz4 {
                // Compressed straight into `out`.
                out.reserve(BATCH_HEADER_LEN + crate::compression::lz4_max_frame_len(body.len()));
                out.put_bytes(0, BATCH_HEADER_LEN);
                crate::compression::lz4_compress(body, out)
            } else {
                let mut packed = Vec::with_capacity(body.len() / 2 + 64);
                compression.compress(body, level, &mut packed)?;
                out.reserve(BATCH_HEADER_LEN + packed.len());
                out.put_bytes(0, BATCH_HEADER_LEN);
                out.put_slice(&packed);
                Ok(())
            }
        }),
    };
    if let Err(e) = written {
        out.truncate(start);
        return Err(e);
    }
    let body_len = out.len() - body_at;
    let batch_len = match i32::try_from(BATCH_HEADER_LEN - LOG_OVERHEAD + body_len) {
        Ok(len) => len,
        Err(_) => {
            out.truncate(start);
            return Err(too_big);
        }
    };
    let mut attributes = compression.id();
    if stamp.transactional {
        attributes |= TRANSACTIONAL_BIT;
    }
    let mut header = &mut out[start..body_at];
    header.put_i64(0);
    header.put_i32(batch_len);
    header.put_i32(-1); // partition leader epoch: set by the broker
    header.put_i8(2);
    header.put_u32(0); // CRC, filled in below
    header.put_i16(attributes);
    header.put_i32(record_count - 1);
    header.put_i64(base_timestamp);
    header.put_i64(max_timestamp);
    header.put_i64(stamp.producer_id);
    header.put_i16(stamp.producer_epoch);
    header.put_i32(stamp.base_sequence);
    header.put_i32(record_count);
    let crc = crc32c::crc32c(&out[start + CRC_START..]);
    out[start + 17..start + 21].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Largest scratch buffer a thread keeps between batches.
const SCRATCH_KEEP: usize = 2 << 20;

thread_local! {
    /// The uncompressed body of the batch being compressed, reused so that each
    /// batch does not allocate (and fault in) a fresh buffer of its size.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's empty scratch buffer.
fn with_scratch<T>(f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut body) => {
            body.clear();
            let result = f(&mut body);
            body.clear();
            if body.capacity() > SCRATCH_KEEP {
                body.shrink_to(SCRATCH_KEEP);
            }
            result
        }
        // Not reached (encoding does not re-enter), but a fresh buffer is correct.
        Err(_) => f(&mut Vec::new()),
    })
}

/// An upper bound on the encoded size of `record` inside a batch (before compression).
pub fn record_size_hint(record: &Record) -> usize {
    let len = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
    let headers: usize = record
        .headers
        .iter()
        .map(|h| h.key.len() + len(&h.value) + 10)
        .sum();
    // length, attributes, timestamp delta, offset delta, key/value lengths, header count
    5 + 1 + 10 + 5 + 5 + 5 + 5 + len(&record.key) + len(&record.value) + headers
}

fn write_records(out: &mut impl BufMut, records: &[Record], base_timestamp: i64) {
    for (delta, record) in records.iter().enumerate() {
        write_record(out, record, delta as i32, record.timestamp - base_timestamp);
    }
}

fn write_record(out: &mut impl BufMut, record: &Record, offset_delta: i32, timestamp_delta: i64) {
    let key = record.key.as_deref();
    let value = record.value.as_deref();
    let header_count = record.headers.len() as i64;
    // The record's length comes first: sum the fields' sizes, then write them.
    let mut len = 1 // record attributes
        + varlong_len(timestamp_delta)
        + varlong_len(i64::from(offset_delta))
        + nullable_len(key)
        + nullable_len(value)
        + varlong_len(header_count);
    for header in &record.headers {
        len += nullable_len(Some(&header.key)) + nullable_len(header.value.as_deref());
    }
    put_varlong(out, len as i64);
    out.put_u8(0); // record attributes: unused
    put_varlong(out, timestamp_delta);
    put_varlong(out, i64::from(offset_delta));
    put_nullable(out, key);
    put_nullable(out, value);
    put_varlong(out, header_count);
    for header in &record.headers {
        put_nullable(out, Some(&header.key));
        put_nullable(out, header.value.as_deref());
    }
}

fn put_nullable(out: &mut impl BufMut, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varlong(out, -1),
        Some(b) => {
            put_varlong(out, b.len() as i64);
            out.put_slice(b);
        }
    }
}

/// Bytes [`put_nullable`] writes.
fn nullable_len(bytes: Option<&[u8]>) -> usize {
    bytes.map_or(1, |b| varlong_len(b.len() as i64) + b.len())
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Zigzag varint, as Kafka writes record fields.
fn put_varlong(out: &mut impl BufMut, value: i64) {
    let mut v = zigzag(value);
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

/// Bytes [`put_varlong`] writes.
fn varlong_len(value: i64) -> usize {
    let bits = 64 - (zigzag(value) | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Decodes every whole batch in `data` (a Fetch response's `records` field).
/// A partial batch at the end is skipped, as Kafka's clients do.
///
/// # Errors
/// [`CodecError::CrcMismatch`], [`CodecError::UnsupportedMagic`],
/// [`CodecError::MalformedBatch`], or a decompression error.
pub fn decode_batches(data: Bytes, limits: &DecodeLimits) -> Result<Vec<RecordBatch>, CodecError> {
    let mut batches = Vec::new();
    let mut pos = 0;
    while let Some(header) = data.get(pos..pos + LOG_OVERHEAD) {
        let base_offset = be_i64(&header[..8]);
        let batch_len = be_i32(&header[8..12]);
        if batch_len < 0 {
            return Err(malformed(base_offset, "negative batch length"));
        }
        let end = pos + LOG_OVERHEAD + batch_len as usize;
        if end > data.len() {
            break; // truncated last batch
        }
        batches.push(decode_batch(data.slice(pos..end), limits)?);
        pos = end;
    }
    Ok(batches)
}

/// Decodes one whole batch (exactly its bytes).
fn decode_batch(batch: Bytes, limits: &DecodeLimits) -> Result<RecordBatch, CodecError> {
    let base_offset = be_i64(batch.get(..8).unwrap_or(&[0; 8]));
    let magic = *batch
        .get(16)
        .ok_or_else(|| malformed(base_offset, "batch shorter than its header"))?
        as i8;
    if magic != 2 {
        return Err(CodecError::UnsupportedMagic { base_offset, magic });
    }
    let h = batch
        .get(..BATCH_HEADER_LEN)
        .ok_or_else(|| malformed(base_offset, "batch shorter than its header"))?;
    if limits.verify_crc {
        let stored = u32::from_be_bytes([h[17], h[18], h[19], h[20]]);
        let computed = crc32c::crc32c(&batch[CRC_START..]);
        if stored != computed {
            return Err(CodecError::CrcMismatch {
                base_offset,
                stored,
                computed,
            });
        }
    }
    let attributes = be_i16(&h[21..23]);
    let compression = Compression::from_attributes(attributes)?;
    let mut out = RecordBatch {
        base_offset,
        partition_leader_epoch: be_i32(&h[12..16]),
        compression,
        log_append_time: attributes & TIMESTAMP_TYPE_BIT != 0,
        transactional: attributes & TRANSACTIONAL_BIT != 0,
        control: attributes & CONTROL_BIT != 0,
        last_offset_delta: be_i32(&h[23..27]),
        base_timestamp: be_i64(&h[27..35]),
        max_timestamp: be_i64(&h[35..43]),
        producer_id: be_i64(&h[43..51]),
        producer_epoch: be_i16(&h[51..53]),
        base_sequence: be_i32(&h[53..57]),
        records: Vec::new(),
    };
    let count = be_i32(&h[57..61]);
    let body = batch.slice(BATCH_HEADER_LEN..);
    let body = if compression == Compression::None {
        body
    } else {
        Bytes::from(compression.decompress(&body, limits.max_decompressed_bytes)?)
    };
    // Every record takes at least 7 bytes, so a count beyond that is a lie.
    if count < 0 || count as usize > body.len() / 7 + 1 {
        return Err(malformed(
            base_offset,
            "record count does not fit the batch",
        ));
    }
    out.records.reserve(count as usize);
    let mut reader = Reader {
        buf: &body,
        pos: 0,
        base_offset,
    };
    for _ in 0..count {
        let record = reader.record(&out)?;
        out.records.push(record);
    }
    if reader.pos != body.len() {
        return Err(malformed(
            base_offset,
            "bytes left over after the last record",
        ));
    }
    Ok(out)
}

/// A cursor over a batch's record section.
struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
    base_offset: i64,
}

impl Reader<'_> {
    fn record(&mut self, batch: &RecordBatch) -> Result<Record, CodecError> {
        let len = self.varint()?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| self.pos.checked_add(len))
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| malformed(self.base_offset, "record length overruns the batch"))?;
        self.pos += 1; // record attributes: unused
        let timestamp_delta = self.varlong()?;
        let offset_delta = self.varint()?;
        let key = self.nullable_bytes()?;
        let value = self.nullable_bytes()?;
        let header_count = self.varint()?;
        if header_count < 0 || header_count as usize > end.saturating_sub(self.pos) {
            return Err(malformed(
                self.base_offset,
                "header count does not fit the record",
            ));
        }
        let mut headers = Vec::with_capacity(header_count as usize);
        for _ in 0..header_count {
            let key = self
                .nullable_bytes()?
                .ok_or_else(|| malformed(self.base_offset, "null header key"))?;
            let value = self.nullable_bytes()?;
            headers.push(Header { key, value });
        }
        if self.pos != end {
            return Err(malformed(
                self.base_offset,
                "record length disagrees with its fields",
            ));
        }
        let timestamp = if batch.log_append_time {
            batch.max_timestamp
        } else {
            batch.base_timestamp.wrapping_add(timestamp_delta)
        };
        Ok(Record {
            offset: batch.base_offset.wrapping_add(i64::from(offset_delta)),
            timestamp,
            key,
            value,
            headers,
        })
    }

    fn nullable_bytes(&mut self) -> Result<Option<Bytes>, CodecError> {
        let len = self.varint()?;
        if len < 0 {
            return Ok(None);
        }
        let end = self.pos + len as usize;
        if end > self.buf.len() {
            return Err(malformed(
                self.base_offset,
                "field length overruns the batch",
            ));
        }
        let bytes = self.buf.slice(self.pos..end);
        self.pos = end;
        Ok(Some(bytes))
    }

    fn varint(&mut self) -> Result<i32, CodecError> {
        let v = self.varlong()?;
        i32::try_from(v).map_err(|_| malformed(self.base_offset, "varint out of range"))
    }

    fn varlong(&mut self) -> Result<i64, CodecError> {
        let mut raw: u64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| malformed(self.base_offset, "truncated varint"))?;
            self.pos += 1;
            if shift == 63 && byte > 1 {
                break;
            }
            raw |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err(malformed(self.base_offset, "varint longer than 10 bytes"))
    }
}

fn malformed(base_offset: i64, reason: &'static str) -> CodecError {
    CodecError::MalformedBatch {
        base_offset,
        reason,
    }
}

fn be_i16(b: &[u8]) -> i16 {
    i16::from_be_bytes([b[0], b[1]])
}
fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

#[cfg(test)]
mod tests;
