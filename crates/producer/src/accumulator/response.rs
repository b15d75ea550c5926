//! Outcomes of Produce requests: successes, retries, failures, and the idempotent
//! producer's epoch bumps (rules in the module documentation of the accumulator).

use std::sync::Arc;
use std::time::{Duration, Instant};

use flame_kafka_codec::messages::ProduceResponse;
use flame_kafka_codec::KafkaCode;

use super::{Accumulator, Batch, InFlight, Outcomes, ProducerState, RequestId, Stamp};
use crate::{ClusterError, ProduceError};

impl Accumulator {
    /// The broker answered request `id`.
    pub fn handle_produce_response(
        &mut self,
        id: RequestId,
        response: &ProduceResponse,
        now: Instant,
    ) {
        let Some(request) = self.finish_request(id) else {
            return;
        };
        if response.throttle_time_ms > 0 {
            let until = now + Duration::from_millis(response.throttle_time_ms as u64);
            if let Some(broker) = self.brokers.get_mut(&request.broker) {
                broker.throttled_until = Some(until);
            }
        }
        for (name, partition, batch) in request.batches {
            self.unmark_in_flight(&name, partition, batch.number);
            let answer = response
                .responses
                .iter()
                .filter(|t| t.name.0.as_str() == &*name)
                .flat_map(|t| t.partition_responses.iter())
                .find(|r| r.index == partition);
            let Some(answer) = answer else {
                let error = ProduceError::MissingPartitionResponse {
                    topic: name.to_string(),
                    partition,
                };
                self.batch_failed(&name, partition, batch, error, None, now);
                continue;
            };
            match KafkaCode::from_code(answer.error_code) {
                None | Some(KafkaCode::DuplicateSequenceNumber) => self.batch_succeeded(
                    &name,
                    partition,
                    batch,
                    answer.base_offset,
                    answer.log_append_time_ms,
                ),
                Some(code @ (KafkaCode::MessageTooLarge | KafkaCode::RecordListTooLarge)) => {
                    let message = answer.error_message.as_ref().map(|m| m.to_string());
                    self.batch_too_large(&name, partition, batch, code, message, now);
                }
                Some(code) => {
                    let error = ProduceError::Broker {
                        topic: name.to_string(),
                        partition,
                        code,
                        message: answer.error_message.as_ref().map(|m| m.to_string()),
                    };
                    self.batch_failed(&name, partition, batch, error, Some(code), now);
                }
            }
        }
    }

    /// Request `id` (`acks=0`) was written to the socket: its records count as
    /// delivered, at offset -1.
    pub fn handle_produce_sent(&mut self, id: RequestId) {
        let Some(request) = self.finish_request(id) else {
            return;
        };
        for (name, partition, batch) in request.batches {
            self.unmark_in_flight(&name, partition, batch.number);
            self.batch_succeeded(&name, partition, batch, -1, -1);
        }
    }

    /// Request `id` failed in transport (connection lost, request timed out, no
    /// such broker). Its batches are retried when `error` is retriable.
    pub fn handle_produce_failed(&mut self, id: RequestId, error: &ClusterError, now: Instant) {
        let Some(request) = self.finish_request(id) else {
            return;
        };
        for (name, partition, batch) in request.batches {
            self.unmark_in_flight(&name, partition, batch.number);
            let error = ProduceError::Cluster {
                topic: Some(name.to_string()),
                partition: Some(partition),
                source: Box::new(error.clone()),
            };
            self.batch_failed(&name, partition, batch, error, None, now);
        }
    }

    fn finish_request(&mut self, id: RequestId) -> Option<InFlight> {
        let request = self.in_flight.remove(&id)?;
        if let Some(broker) = self.brokers.get_mut(&request.broker) {
            broker.in_flight = broker.in_flight.saturating_sub(1);
        }
        Some(request)
    }

    pub(super) fn unmark_in_flight(&mut self, name: &str, partition: i32, number: u64) {
        if let Some(p) = self.partition_mut(name, partition as usize) {
            p.in_flight.remove(&number);
            if p.retry_in_flight == Some(number) {
                p.retry_in_flight = None;
            }
        }
    }

    fn batch_succeeded(
        &mut self,
        name: &Arc<str>,
        partition: i32,
        batch: Batch,
        base_offset: i64,
        log_append_time: i64,
    ) {
        if let Some((stamp, _)) = batch.sequence {
            if let Some(p) = self.partition_mut(name, partition as usize) {
                if p.stamp == Some(stamp) {
                    p.acked = true;
                }
            }
        }
        self.release(batch.ids.len(), batch.bytes);
        self.deliveries.push_back(Outcomes::Written {
            topic: Arc::clone(name),
            partition,
            ids: batch.ids.into_iter(),
            records: batch.records.into_iter(),
            next_offset: base_offset,
            log_append_time,
        });
    }

    /// One attempt of `batch` failed with `error` (`code` when the broker said why):
    /// retry it, or report its records.
    fn batch_failed(
        &mut self,
        name: &Arc<str>,
        partition: i32,
        mut batch: Batch,
        error: ProduceError,
        code: Option<KafkaCode>,
        now: Instant,
    ) {
        let mut retry = code.map_or_else(|| error.is_retriable(), KafkaCode::is_retriable);
        let mut bump = false;
        if let (true, Some((stamp, _))) = (self.idempotent, batch.sequence) {
            match code {
                Some(KafkaCode::OutOfOrderSequenceNumber) => {
                    retry = true;
                    bump = self.is_oldest_unacked(name, partition, batch.number);
                }
                Some(KafkaCode::UnknownProducerId) => {
                    retry = true;
                    bump = true;
                }
                Some(KafkaCode::InvalidProducerEpoch) => retry = false,
                _ => {}
            }
            if bump {
                self.request_bump(name, partition, stamp);
            }
        }
        tracing::debug!(
            topic = &**name,
            partition,
            attempts = batch.attempts,
            retry,
            bump,
            %error,
            "produce attempt failed"
        );
        let stale_metadata = code.map_or(
            matches!(error, ProduceError::Cluster { .. }),
            KafkaCode::needs_metadata_refresh,
        );
        let expired = batch.deadline.is_some_and(|d| d <= now);
        let attempts_left = batch.attempts <= self.config.retries;
        let backoff = self.backoff(batch.attempts);
        let Some(p) = self.partition_mut(name, partition as usize) else {
            return;
        };
        if stale_metadata {
            p.leader = None;
        }
        if retry && attempts_left && !expired {
            batch.last_error = Some(error);
            batch.retry_at = Some(now + backoff);
            if p.rewrite {
                batch.sequence = None;
            }
            let at = p
                .retries
                .iter()
                .position(|b| b.number > batch.number)
                .unwrap_or(p.retries.len());
            p.retries.insert(at, batch);
            return;
        }
        let error = if retry && expired {
            ProduceError::Timeout {
                topic: name.to_string(),
                partition: Some(partition),
                timeout: self.config.message_timeout,
                last_error: Some(Box::new(error)),
            }
        } else {
            error
        };
        self.fail_batch(name, partition, batch, error);
    }

    /// Reports every record of `batch` as failed. A batch that was numbered leaves
    /// a possible gap (it was sent, or it is a piece of a split batch that was), so
    /// its partition is renumbered under a bumped epoch.
    pub(super) fn fail_batch(
        &mut self,
        name: &Arc<str>,
        partition: i32,
        batch: Batch,
        error: ProduceError,
    ) {
        if let (true, Some((stamp, _))) = (self.idempotent, batch.sequence) {
            self.request_bump(name, partition, stamp);
        }
        self.fail_batch_records(batch, &error);
    }

    /// Whether batch `number` is older than every other unacknowledged batch of
    /// its partition (it has been taken off the in-flight set already).
    fn is_oldest_unacked(&self, name: &str, partition: i32, number: u64) -> bool {
        let Some(p) = self
            .topics
            .get(name)
            .and_then(|t| t.partitions.get(partition as usize))
        else {
            return true;
        };
        p.in_flight.iter().all(|n| *n > number) && p.retries.iter().all(|b| b.number > number)
    }

    /// Renumbers the partition under the next producer id/epoch, and asks for one
    /// if `stamp` (of the batch that caused this) is still the current one.
    fn request_bump(&mut self, name: &str, partition: i32, stamp: Stamp) {
        if let Some(p) = self.partition_mut(name, partition as usize) {
            p.rewrite = true;
            for batch in &mut p.retries {
                batch.sequence = None;
            }
        }
        if self.current_stamp() == Some(stamp) {
            self.producer = ProducerState::Needed {
                previous: Some(stamp),
                in_flight: false,
                not_before: None,
                attempts: 0,
            };
        }
    }
}
