//! rskafka: a `BatchProducer` (linger + `RecordAggregator`) per partition, records
//! spread round-robin; a `StreamConsumer` per partition. rskafka has no consumer
//! groups and always produces with acks=all.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use rskafka::client::consumer::{StartOffset, StreamConsumerBuilder};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::producer::aggregator::RecordAggregator;
use rskafka::client::producer::{BatchProducer, BatchProducerBuilder};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;

use crate::latency::{self, Probe};
use crate::spec::{self, Comp, Measured, Spec};
use crate::Res;

/// rskafka's aggregator counts only key + value bytes, not the ~9 bytes of
/// per-record framing, so a 1,000,000 "byte" aggregate of 100-byte records is a
/// 1.09 MB batch, over the broker's default `max.message.bytes` (1,048,588).
/// 900,000 keeps its real batches at about `BATCH_BYTES`.
const AGGREGATOR_BYTES: usize = spec::BATCH_BYTES * 9 / 10;

async fn client(spec: &Spec) -> Res<Client> {
    Ok(ClientBuilder::new(vec![spec.bootstrap.clone()])
        .client_id("bench-rskafka")
        .build()
        .await?)
}

async fn partitions(spec: &Spec, client: &Client) -> Res<Vec<Arc<PartitionClient>>> {
    let mut out = Vec::new();
    for p in 0..spec::PARTITIONS {
        out.push(Arc::new(
            client
                .partition_client(spec.topic.as_str(), p, UnknownTopicHandling::Retry)
                .await?,
        ));
    }
    Ok(out)
}

fn producers(spec: &Spec, parts: &[Arc<PartitionClient>]) -> Vec<BatchProducer<RecordAggregator>> {
    let compression = match spec.comp {
        Comp::None => Compression::NoCompression,
        Comp::Lz4 => Compression::Lz4,
        Comp::Zstd => Compression::Zstd,
    };
    parts
        .iter()
        .map(|p| {
            BatchProducerBuilder::new(Arc::clone(p))
                .with_linger(Duration::from_millis(spec::LINGER_MS))
                .with_compression(compression)
                .build(RecordAggregator::new(AGGREGATOR_BYTES))
        })
        .collect()
}

fn record(value: Vec<u8>) -> Record {
    Record {
        key: None,
        value: Some(value),
        headers: BTreeMap::new(),
        timestamp: chrono::Utc::now(),
    }
}

/// Produces `spec.count` records, at most `QUEUE_MESSAGES` awaiting their outcome.
pub async fn produce(spec: &Spec) -> Res<Measured> {
    let pool = spec::payload_pool(spec.size);
    let client = client(spec).await?;
    let parts = partitions(spec, &client).await?;
    let producers = producers(spec, &parts);
    let mut pending = FuturesUnordered::new();
    let mut ok = 0u64;
    let start = Instant::now();
    for i in 0..spec.count as usize {
        let producer = &producers[i % producers.len()];
        pending.push(producer.produce(record(pool[i % pool.len()].to_vec())));
        while pending.len() >= spec::QUEUE_MESSAGES {
            if let Some(r) = pending.next().await {
                r?;
                ok += 1;
            }
        }
    }
    while let Some(r) = pending.next().await {
        r?;
        ok += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(Measured {
        msgs: ok,
        bytes: ok * spec.size as u64,
        secs,
        ..Measured::default()
    })
}

/// Consumes `spec.count` records from the start of every partition (no group).
pub async fn consume(spec: &Spec) -> Res<Measured> {
    let created = Instant::now();
    let client = client(spec).await?;
    let parts = partitions(spec, &client).await?;
    let mut streams = futures::stream::select_all(parts.iter().map(|p| {
        StreamConsumerBuilder::new(Arc::clone(p), StartOffset::Earliest)
            .with_max_wait_ms(spec::FETCH_WAIT_MS as i32)
            .with_max_batch_size(spec::PARTITION_FETCH_BYTES)
            .build()
    }));
    let (mut msgs, mut bytes) = (0u64, 0u64);
    let mut first = None;
    while msgs < spec.count {
        let Some(item) = streams.next().await else {
            return Err("stream ended".into());
        };
        let (record, _high_watermark) = item?;
        first.get_or_insert_with(Instant::now);
        msgs += 1;
        bytes += record.record.value.as_ref().map_or(0, Vec::len) as u64;
    }
    let first = first.unwrap_or(created);
    Ok(Measured {
        msgs,
        bytes,
        secs: first.elapsed().as_secs_f64(),
        note: format!(
            "no group; first record after {:.2}s",
            (first - created).as_secs_f64()
        ),
        ..Measured::default()
    })
}

/// Produces at a fixed rate and consumes every partition in the same process.
pub async fn latency(spec: &Spec) -> Res<Measured> {
    let probe = Arc::new(Probe::new(spec));
    let warm = Arc::new(AtomicBool::new(false));
    let client = client(spec).await?;
    let parts = partitions(spec, &client).await?;
    let reader = {
        let probe = Arc::clone(&probe);
        let warm = Arc::clone(&warm);
        let mut streams = futures::stream::select_all(parts.iter().map(|p| {
            StreamConsumerBuilder::new(Arc::clone(p), StartOffset::Earliest)
                .with_max_wait_ms(spec::FETCH_WAIT_MS as i32)
                .with_max_batch_size(spec::PARTITION_FETCH_BYTES)
                .build()
        }));
        tokio::spawn(async move {
            let deadline = probe.deadline();
            while !probe.complete() && Instant::now() < deadline {
                let item =
                    match tokio::time::timeout(Duration::from_millis(200), streams.next()).await {
                        Ok(Some(item)) => item,
                        Ok(None) => return Err("stream ended".to_string()),
                        Err(_) => continue,
                    };
                let (record, _) = item.map_err(|e| e.to_string())?;
                if probe.received(record.record.value.as_deref().unwrap_or_default()) {
                    warm.store(true, Ordering::Release);
                }
            }
            Ok(())
        })
    };
    let producers: Vec<Arc<BatchProducer<RecordAggregator>>> =
        producers(spec, &parts).into_iter().map(Arc::new).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let send = |payload: Vec<u8>| {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let producer = Arc::clone(&producers[i % producers.len()]);
        async move {
            // produce() resolves on delivery; run it beside the schedule.
            tokio::spawn(async move { producer.produce(record(payload)).await });
            Ok(())
        }
    };
    latency::drive_async(&probe, &warm, send).await?;
    reader.await??;
    Ok(probe.result())
}
