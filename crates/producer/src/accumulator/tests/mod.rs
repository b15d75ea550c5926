//! The accumulator under a simulated clock: a test moves `now` by hand (or to
//! [`Accumulator::poll_timeout`]) and plays the broker.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use flame_kafka_codec::messages::produce_response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use flame_kafka_codec::messages::{ProduceResponse, TopicName};
use flame_kafka_codec::protocol::StrBytes;
use flame_kafka_codec::record_batch::{decode_batches, DecodeLimits, Record, RecordBatch};
use flame_kafka_codec::KafkaCode;

use super::*;
use crate::config::Acks;
use crate::ClusterError;

const MS: Duration = Duration::from_millis(1);

struct Sim {
    acc: Accumulator,
    t0: Instant,
    now: Instant,
    /// Next offset per (topic, partition), as the broker would assign.
    offsets: HashMap<(String, i32), i64>,
    outcomes: HashMap<MessageId, Result<RecordMetadata, ProduceError>>,
}

fn config() -> ProducerConfig {
    ProducerConfig {
        enable_idempotence: Some(false),
        ..ProducerConfig::default()
    }
}

fn record(value: &str) -> Record {
    Record {
        timestamp: 1_000,
        key: None,
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        ..Record::default()
    }
}

fn keyed(key: &str, value: &str) -> Record {
    Record {
        key: Some(Bytes::copy_from_slice(key.as_bytes())),
        ..record(value)
    }
}

impl Sim {
    fn new(config: ProducerConfig) -> Sim {
        let t0 = Instant::now();
        Sim {
            acc: Accumulator::new(config, 7).unwrap(),
            t0,
            now: t0,
            offsets: HashMap::new(),
            outcomes: HashMap::new(),
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.acc.handle_timeout(self.now);
        self.collect();
    }

    fn append(&mut self, topic: &str, partition: Option<i32>, r: Record) -> MessageId {
        match self.acc.try_append(topic, partition, r, self.now, self.now) {
            Ok(id) => id,
            Err(e) => panic!("append refused: {e:?}"),
        }
    }

    /// Answers the pending metadata request: `topic` has `leaders`.
    fn metadata(&mut self, topic: &str, leaders: &[i32]) {
        let wanted = self.acc.poll_metadata(self.now).expect("metadata wanted");
        assert!(wanted.iter().any(|t| t == topic), "{wanted:?}");
        let leaders = leaders
            .iter()
            .map(|&b| (b >= 0).then_some(BrokerId(b)))
            .collect();
        self.acc.handle_metadata(
            vec![TopicUpdate {
                topic: topic.into(),
                leaders: Ok(leaders),
            }],
            self.now,
        );
        self.collect();
    }

    fn producer_id(&mut self, id: i64, epoch: i16) {
        self.acc
            .poll_init_producer_id(self.now)
            .expect("pid wanted");
        self.acc.handle_producer_id(id, epoch);
    }

    fn poll(&mut self) -> Option<ProduceRequestOut> {
        self.acc.poll_produce(self.now)
    }

    /// Answers `request` with `code` for every partition (`None`: success).
    fn answer(&mut self, request: &ProduceRequestOut, code: Option<KafkaCode>) {
        self.answer_with(request, |_, _, _| code);
    }

    /// Answers `request` partition by partition: `code(topic, partition, batch)`
    /// (`None`: success).
    fn answer_with(
        &mut self,
        request: &ProduceRequestOut,
        code: impl Fn(&str, i32, &RecordBatch) -> Option<KafkaCode>,
    ) {
        let mut responses = Vec::new();
        for topic in &request.request.topic_data {
            let mut parts = Vec::new();
            for p in &topic.partition_data {
                let batches = batches_of(p.records.clone().unwrap());
                let count = batches.iter().map(|b| b.records.len() as i64).sum::<i64>();
                let code = code(topic.name.0.as_str(), p.index, &batches[0]);
                let key = (topic.name.0.to_string(), p.index);
                let next = self.offsets.entry(key).or_insert(0);
                let mut r = PartitionProduceResponse::default().with_index(p.index);
                match code {
                    None => {
                        r.base_offset = *next;
                        *next += count;
                    }
                    Some(c) => {
                        r.error_code = c.code();
                        r.base_offset = -1;
                    }
                }
                parts.push(r);
            }
            responses.push(
                TopicProduceResponse::default()
                    .with_name(topic.name.clone())
                    .with_partition_responses(parts),
            );
        }
        let response = ProduceResponse::default().with_responses(responses);
        self.acc
            .handle_produce_response(request.id, &response, self.now);
        self.collect();
    }

    fn collect(&mut self) {
        while let Some(d) = self.acc.poll_delivery() {
            assert!(
                self.outcomes.insert(d.id, d.result).is_none(),
                "delivered twice"
            );
        }
    }

    fn outcome(&self, id: MessageId) -> &Result<RecordMetadata, ProduceError> {
        match self.outcomes.get(&id) {
            Some(outcome) => outcome,
            None => panic!("no outcome yet for {id:?}"),
        }
    }
}

fn batches_of(records: Bytes) -> Vec<RecordBatch> {
    decode_batches(records, &DecodeLimits::default()).unwrap()
}

/// `(topic, partition, batch)` for every batch in `request`.
fn contents(request: &ProduceRequestOut) -> Vec<(String, i32, RecordBatch)> {
    let mut out = Vec::new();
    for topic in &request.request.topic_data {
        for p in &topic.partition_data {
            let batches = batches_of(p.records.clone().unwrap());
            assert_eq!(batches.len(), 1, "one batch per partition");
            for b in batches {
                out.push((topic.name.0.to_string(), p.index, b));
            }
        }
    }
    out
}

fn values(batch: &RecordBatch) -> Vec<String> {
    batch
        .records
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect()
}

mod batching;
mod failures;
mod idempotence;
mod splitting;
