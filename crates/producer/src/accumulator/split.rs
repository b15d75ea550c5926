//! Batches the leader refused as too large (`MESSAGE_TOO_LARGE`,
//! `RECORD_LIST_TOO_LARGE`): split into smaller batches and sent again, as the Java
//! client does; a single record that is still too large fails.
//!
//! A refused batch of `n` bytes (uncompressed estimate) is cut, in record order,
//! into pieces of at most `n / 2` bytes (rounded up; a larger record alone), and
//! the partition remembers that limit for the batches it cuts later (so one refusal
//! does not repeat for every batch) and cuts its waiting retries to it too. The
//! pieces go to the front of the partition's retries, sent one at a time and before
//! anything newer, at once (no backoff) and as if never tried (their own retry
//! budget). Refused again, a piece is split again, down to single records. (As for
//! any retry without idempotence, a newer batch already in flight when the refusal
//! arrives may be written before the pieces; with idempotence it is refused as out
//! of order and follows them.)
//!
//! Sequence numbers: a batch refused as too large was not written, so the broker
//! still expects its base sequence. The pieces share the refused batch's producer
//! id/epoch and its sequence range, each piece starting where the previous one
//! ended (Java's `ProducerBatch.split` does the same), so every batch numbered
//! after it stays valid: one already in flight is answered
//! `OUT_OF_ORDER_SEQUENCE_NUMBER` and, not being the oldest unacknowledged batch,
//! is retried unchanged after the pieces. A batch without a number (or whose
//! partition is being renumbered under a new epoch) gives unnumbered pieces,
//! numbered when they are sent.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use flame_kafka_codec::KafkaCode;

use super::drain::next_sequence;
use super::{Accumulator, Batch};
use crate::record::record_size;
use crate::ProduceError;

impl Accumulator {
    /// The leader refused `batch` with `code` (`MESSAGE_TOO_LARGE` or
    /// `RECORD_LIST_TOO_LARGE`): split it (see the module documentation), or fail
    /// its single record with [`ProduceError::RecordTooLargeForBroker`].
    pub(super) fn batch_too_large(
        &mut self,
        name: &Arc<str>,
        partition: i32,
        batch: Batch,
        code: KafkaCode,
        message: Option<String>,
        now: Instant,
    ) {
        if batch.ids.len() < 2 {
            tracing::warn!(
                topic = &**name,
                partition,
                bytes = batch.encoded,
                code = code.name(),
                "the broker refused a single record as too large"
            );
            let error = ProduceError::RecordTooLargeForBroker {
                topic: name.to_string(),
                partition,
                record_size: batch.bytes,
                batch_size: batch.encoded,
                code,
                message,
            };
            self.fail_batch(name, partition, batch, error);
            return;
        }
        let error = ProduceError::Broker {
            topic: name.to_string(),
            partition,
            code,
            message,
        };
        if batch.deadline.is_some_and(|d| d <= now) {
            let error = ProduceError::Timeout {
                topic: name.to_string(),
                partition: Some(partition),
                timeout: self.config.message_timeout,
                last_error: Some(Box::new(error)),
            };
            self.fail_batch(name, partition, batch, error);
            return;
        }
        let Some(p) = self.partition_mut(name, partition as usize) else {
            // Partitions are never forgotten; should one be, its records still get
            // an outcome.
            self.fail_batch(name, partition, batch, error);
            return;
        };
        let limit = batch.bytes.div_ceil(2);
        let limit = p.split_limit.map_or(limit, |l| l.min(limit));
        p.split_limit = Some(limit);
        let (records, bytes) = (batch.ids.len(), batch.bytes);
        let renumber = p.rewrite;
        let mut pieces = split(batch, limit);
        for piece in &mut pieces {
            piece.attempts = 0;
            piece.retry_at = None;
            piece.last_error = Some(error.clone());
            if renumber {
                piece.sequence = None;
            }
        }
        tracing::warn!(
            topic = &**name,
            partition,
            records,
            bytes,
            pieces = pieces.len(),
            limit,
            code = code.name(),
            "the broker refused a batch as too large; splitting it"
        );
        // Waiting retries larger than the new limit would be refused too.
        for waiting in p.retries.drain(..) {
            if waiting.bytes > limit {
                pieces.extend(split(waiting, limit));
            } else {
                pieces.push(waiting);
            }
        }
        pieces.sort_by_key(|b| b.number);
        p.retries = VecDeque::from(pieces);
    }
}

/// Cuts `batch` into batches of at most `limit` record bytes each (a record larger
/// than `limit` alone), in record order. Each piece keeps the batch's deadline,
/// attempts, backoff and last error, and takes its part of the batch's sequence
/// range, if it has one.
fn split(batch: Batch, limit: usize) -> Vec<Batch> {
    if batch.ids.len() < 2 {
        return vec![batch];
    }
    let Batch {
        ids,
        records,
        bytes: total,
        deadline,
        attempts,
        retry_at,
        sequence,
        last_error,
        ..
    } = batch;
    let mut pieces: Vec<Batch> = Vec::new();
    for (offset, (id, record)) in ids.into_iter().zip(records).enumerate() {
        let size = record_size(&record);
        let fits = pieces.last().is_some_and(|b| b.bytes + size <= limit);
        if !fits {
            let sequence = sequence.map(|(stamp, base)| (stamp, next_sequence(base, offset)));
            pieces.push(Batch {
                number: id.0,
                ids: Vec::new(),
                records: Vec::new(),
                bytes: 0,
                deadline,
                attempts,
                retry_at,
                sequence,
                last_error: last_error.clone(),
                encoded: 0,
            });
        }
        if let Some(piece) = pieces.last_mut() {
            piece.ids.push(id);
            piece.records.push(record);
            piece.bytes += size;
        }
    }
    // Memory is accounted per batch: the pieces hold exactly what the batch held,
    // whatever `record_size` says now.
    let others: usize = pieces.iter().rev().skip(1).map(|b| b.bytes).sum();
    if let Some(last) = pieces.last_mut() {
        last.bytes = total.saturating_sub(others);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use flame_kafka_codec::record_batch::Record;

    use super::super::{MessageId, Stamp};
    use super::*;

    fn batch(sizes: &[usize], sequence: Option<(Stamp, i32)>) -> Batch {
        let records: Vec<Record> = sizes
            .iter()
            .map(|&n| Record {
                value: Some(Bytes::from(vec![b'x'; n])),
                ..Record::default()
            })
            .collect();
        Batch {
            number: 10,
            ids: (10..10 + sizes.len() as u64).map(MessageId).collect(),
            bytes: records.iter().map(record_size).sum(),
            records,
            deadline: None,
            attempts: 3,
            retry_at: None,
            sequence,
            last_error: None,
            encoded: 0,
        }
    }

    #[test]
    fn pieces_keep_order_bytes_and_the_sequence_range() {
        let stamp = Stamp {
            producer_id: 4,
            epoch: 1,
        };
        let b = batch(&[100; 5], Some((stamp, i32::MAX - 1)));
        let total = b.bytes;
        let one = record_size(&b.records[0]);
        let pieces = split(b, 2 * one);
        let shape: Vec<(u64, Vec<u64>, Option<i32>)> = pieces
            .iter()
            .map(|p| {
                (
                    p.number,
                    p.ids.iter().map(|i| i.0).collect(),
                    p.sequence.map(|(_, s)| s),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                (10, vec![10, 11], Some(i32::MAX - 1)),
                (12, vec![12, 13], Some(0)),
                (14, vec![14], Some(2)),
            ],
            "sequences continue (and wrap) across the pieces"
        );
        assert_eq!(pieces.iter().map(|p| p.bytes).sum::<usize>(), total);
        assert!(pieces.iter().all(|p| p.attempts == 3));
    }

    #[test]
    fn a_record_above_the_limit_goes_alone() {
        let b = batch(&[10, 500, 10, 10], None);
        let pieces = split(b, 100);
        let counts: Vec<usize> = pieces.iter().map(|p| p.ids.len()).collect();
        assert_eq!(counts, [1, 1, 2]);
        assert!(pieces.iter().all(|p| p.sequence.is_none()));
    }
}
