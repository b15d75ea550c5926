//! From a Fetch response's record bytes to the records an application sees:
//! decode the batches, drop what precedes the fetch position (brokers return whole
//! batches), skip control batches (transaction markers), and under
//! `read_committed` drop the batches of aborted transactions.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use flame_kafka_codec::record_batch::{decode_batches, ControlType, DecodeLimits};
use flame_kafka_codec::{CodecError, Header};

/// One consumed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// Leader epoch of the partition when the record was written (-1 if unknown);
    /// pass it back with manual commits.
    pub leader_epoch: i32,
    /// Milliseconds since the epoch (create time, or log-append time).
    pub timestamp: i64,
    /// The key; `None` is a null key.
    pub key: Option<Bytes>,
    /// The value; `None` is a null value (tombstone).
    pub value: Option<Bytes>,
    /// The headers, in order.
    pub headers: Vec<Header>,
}

impl ConsumedRecord {
    /// Approximate memory held by the record, for the buffer bound.
    pub(crate) fn size(&self) -> usize {
        let len = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.key.len() + len(&h.value) + 16)
            .sum();
        64 + len(&self.key) + len(&self.value) + headers
    }
}

/// An aborted transaction listed in a Fetch response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer that aborted.
    pub producer_id: i64,
    /// The first offset of the aborted transaction.
    pub first_offset: i64,
}

/// What one partition's records yielded.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    pub(crate) records: Vec<ConsumedRecord>,
    /// The offset to fetch next: after the last whole batch (control and aborted
    /// batches included), or `None` if no whole batch arrived.
    pub(crate) next_offset: Option<i64>,
    /// The partition leader epoch of that last batch, if it has one (KIP-320: sent
    /// back as the next Fetch's `last_fetched_epoch`).
    pub(crate) last_epoch: Option<i32>,
}

/// Decodes `data` fetched from `position` for `topic`/`partition`.
/// `aborted` is `Some` under `read_committed` (possibly empty).
pub(crate) fn decode_partition(
    topic: &Arc<str>,
    partition: i32,
    position: i64,
    data: Bytes,
    aborted: Option<&[AbortedTxn]>,
    limits: &DecodeLimits,
) -> Result<Decoded, CodecError> {
    let batches = decode_batches(data, limits)?;
    let mut out = Decoded::default();
    // Aborted transactions by first offset; a producer enters `active` when its
    // aborted transaction has started, and leaves at its ABORT marker.
    let mut pending: BinaryHeap<Reverse<(i64, i64)>> = aborted
        .unwrap_or_default()
        .iter()
        .map(|a| Reverse((a.first_offset, a.producer_id)))
        .collect();
    let mut active: HashSet<i64> = HashSet::new();
    for batch in batches {
        // Saturating: offsets come off the wire.
        let next = batch
            .base_offset
            .saturating_add(i64::from(batch.last_offset_delta))
            .saturating_add(1);
        if out.next_offset.is_none_or(|n| next > n) {
            out.next_offset = Some(next);
            out.last_epoch =
                (batch.partition_leader_epoch >= 0).then_some(batch.partition_leader_epoch);
        }
        if next <= position {
            continue;
        }
        let last_offset = next.saturating_sub(1);
        if aborted.is_some() {
            while let Some(Reverse((first, producer))) = pending.peek().copied() {
                if first > last_offset {
                    break;
                }
                pending.pop();
                active.insert(producer);
            }
        }
        if batch.control {
            if batch.control_type() == Some(ControlType::Abort) {
                active.remove(&batch.producer_id);
            }
            continue;
        }
        if aborted.is_some() && batch.transactional && active.contains(&batch.producer_id) {
            continue;
        }
        let epoch = batch.partition_leader_epoch;
        out.records.extend(
            batch
                .records
                .into_iter()
                .filter(|r| r.offset >= position)
                .map(|r| ConsumedRecord {
                    topic: topic.clone(),
                    partition,
                    offset: r.offset,
                    leader_epoch: epoch,
                    timestamp: r.timestamp,
                    key: r.key,
                    value: r.value,
                    headers: r.headers,
                }),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use flame_kafka_codec::record_batch::{encode_batch, ProducerStamp};
    use flame_kafka_codec::{Compression, Record};

    fn batch(out: &mut BytesMut, base: i64, values: &[&str], stamp: ProducerStamp) {
        let records: Vec<Record> = values
            .iter()
            .map(|v| Record {
                value: Some(Bytes::copy_from_slice(v.as_bytes())),
                ..Default::default()
            })
            .collect();
        let start = out.len();
        encode_batch(out, &records, stamp, Compression::None, None).unwrap();
        out[start..start + 8].copy_from_slice(&base.to_be_bytes());
    }

    /// A control batch (marker) written by hand: attributes with the control bit.
    fn marker(out: &mut BytesMut, offset: i64, producer_id: i64, commit: bool) {
        let key = [0u8, 0, 0, u8::from(commit)];
        let record = Record {
            key: Some(Bytes::copy_from_slice(&key)),
            value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
            ..Default::default()
        };
        let stamp = ProducerStamp {
            producer_id,
            producer_epoch: 0,
            base_sequence: -1,
            transactional: true,
        };
        let start = out.len();
        encode_batch(out, &[record], stamp, Compression::None, None).unwrap();
        out[start..start + 8].copy_from_slice(&offset.to_be_bytes());
        let attributes = i16::from_be_bytes([out[start + 21], out[start + 22]]) | 0x20;
        out[start + 21..start + 23].copy_from_slice(&attributes.to_be_bytes());
        let crc = crc32c(&out[start + 21..]);
        out[start + 17..start + 21].copy_from_slice(&crc.to_be_bytes());
    }

    fn crc32c(bytes: &[u8]) -> u32 {
        // Castagnoli, bitwise (test-only; the codec has the fast one).
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0x82F6_3B78
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn values(d: &Decoded) -> Vec<String> {
        d.records
            .iter()
            .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
            .collect()
    }

    fn txn(pid: i64) -> ProducerStamp {
        ProducerStamp {
            producer_id: pid,
            producer_epoch: 0,
            base_sequence: 0,
            transactional: true,
        }
    }

    #[test]
    fn skips_records_before_the_position_inside_a_batch() {
        let mut data = BytesMut::new();
        batch(
            &mut data,
            100,
            &["a", "b", "c", "d"],
            ProducerStamp::default(),
        );
        let topic: Arc<str> = Arc::from("t");
        let d = decode_partition(
            &topic,
            0,
            102,
            data.freeze(),
            None,
            &DecodeLimits::default(),
        )
        .unwrap();
        assert_eq!(values(&d), ["c", "d"]);
        assert_eq!(d.records[0].offset, 102);
        assert_eq!(d.next_offset, Some(104));
    }

    #[test]
    fn read_committed_drops_aborted_transactions_and_markers() {
        let mut data = BytesMut::new();
        batch(&mut data, 0, &["aborted-0", "aborted-1"], txn(7));
        batch(&mut data, 2, &["committed-0"], txn(8));
        marker(&mut data, 3, 7, false);
        marker(&mut data, 4, 8, true);
        batch(&mut data, 5, &["plain"], ProducerStamp::default());
        let data = data.freeze();
        let topic: Arc<str> = Arc::from("t");
        let aborted = [AbortedTxn {
            producer_id: 7,
            first_offset: 0,
        }];
        let limits = DecodeLimits::default();
        let d = decode_partition(&topic, 0, 0, data.clone(), Some(&aborted), &limits).unwrap();
        assert_eq!(values(&d), ["committed-0", "plain"]);
        assert_eq!(d.next_offset, Some(6));
        let d = decode_partition(&topic, 0, 0, data, None, &limits).unwrap();
        assert_eq!(
            values(&d),
            ["aborted-0", "aborted-1", "committed-0", "plain"],
            "read_uncommitted"
        );
    }

    #[test]
    fn a_producer_may_abort_then_commit() {
        let mut data = BytesMut::new();
        batch(&mut data, 0, &["x"], txn(7));
        marker(&mut data, 1, 7, false);
        batch(&mut data, 2, &["y"], txn(7));
        marker(&mut data, 3, 7, true);
        let topic: Arc<str> = Arc::from("t");
        let aborted = [AbortedTxn {
            producer_id: 7,
            first_offset: 0,
        }];
        let d = decode_partition(
            &topic,
            0,
            0,
            data.freeze(),
            Some(&aborted),
            &DecodeLimits::default(),
        )
        .unwrap();
        assert_eq!(values(&d), ["y"]);
    }

    #[test]
    fn truncated_tail_yields_what_is_whole() {
        let mut data = BytesMut::new();
        batch(&mut data, 0, &["a"], ProducerStamp::default());
        let whole = data.len();
        batch(&mut data, 1, &["b"], ProducerStamp::default());
        let data = data.freeze().slice(..whole + 20);
        let topic: Arc<str> = Arc::from("t");
        let d = decode_partition(&topic, 0, 0, data, None, &DecodeLimits::default()).unwrap();
        assert_eq!(values(&d), ["a"]);
        assert_eq!(d.next_offset, Some(1));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_fetch_data_never_panics(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256),
            position in proptest::num::i64::ANY,
            aborted in proptest::collection::vec((proptest::num::i64::ANY, proptest::num::i64::ANY), 0..4),
        ) {
            let topic: Arc<str> = Arc::from("t");
            let aborted: Vec<AbortedTxn> = aborted
                .into_iter()
                .map(|(producer_id, first_offset)| AbortedTxn { producer_id, first_offset })
                .collect();
            let _ = decode_partition(&topic, 0, position, Bytes::from(bytes), Some(&aborted), &DecodeLimits::default());
        }
    }
}
