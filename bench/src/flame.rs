//! flame-kafka through its lower crates: `flame_kafka_producer::Producer::send` and
//! `flame_kafka_group::Consumer`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use flame_kafka_cluster::{Cluster, ClusterConfig};
use flame_kafka_codec::Compression;
use flame_kafka_group::{Consumer, ConsumerConfig, Isolation, OffsetReset};
use flame_kafka_producer::{Acks as FlameAcks, Producer, ProducerConfig, ProducerRecord};
use tokio::sync::mpsc;

use crate::latency::{self, Probe};
use crate::spec::{self, Acks, Comp, Measured, Spec};
use crate::Res;

async fn cluster(spec: &Spec) -> Res<Cluster> {
    let mut config = ClusterConfig::new(spec.bootstrap.as_str());
    config.client_id = "bench-flame".into();
    Ok(Cluster::connect(config).await?)
}

fn producer_config(spec: &Spec) -> ProducerConfig {
    ProducerConfig {
        acks: match spec.acks {
            Acks::One => FlameAcks::Leader,
            Acks::All => FlameAcks::All,
        },
        enable_idempotence: Some(false),
        linger: Duration::from_millis(spec::LINGER_MS),
        batch_size: spec::BATCH_BYTES,
        batch_num_messages: spec::BATCH_MESSAGES,
        queue_buffering_max_messages: spec::QUEUE_MESSAGES,
        max_in_flight: spec::MAX_IN_FLIGHT,
        compression: match spec.comp {
            Comp::None => Compression::None,
            Comp::Lz4 => Compression::Lz4,
            Comp::Zstd => Compression::Zstd,
        },
        ..ProducerConfig::default()
    }
}

fn consumer_config(spec: &Spec) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(spec.group.as_str());
    c.auto_offset_reset = OffsetReset::Earliest;
    c.enable_auto_commit = true;
    c.enable_auto_offset_store = true;
    c.fetch_wait_max = Duration::from_millis(spec::FETCH_WAIT_MS);
    c.max_partition_fetch_bytes = spec::PARTITION_FETCH_BYTES;
    c.fetch_max_bytes = spec::FETCH_MAX_BYTES;
    c.isolation_level = Isolation::ReadCommitted;
    c.check_crcs = true;
    c
}

/// Produces `spec.count` records; the window runs from the first `send` until every
/// delivery future has resolved.
pub async fn produce(spec: &Spec) -> Res<Measured> {
    let pool = spec::payload_pool(spec.size);
    let producer = Producer::new(producer_config(spec), cluster(spec).await?)?;
    // Delivery futures are awaited in order by a second task, as an application
    // that wants every outcome would.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let waiter = tokio::spawn(async move {
        let (mut ok, mut failed, mut first_error) = (0u64, 0u64, None);
        while let Some(delivery) = rx.recv().await {
            let delivery: flame_kafka_producer::DeliveryFuture = delivery;
            match delivery.await {
                Ok(_) => ok += 1,
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| format!("{e}"));
                }
            }
        }
        (ok, failed, first_error)
    });
    let start = Instant::now();
    for i in 0..spec.count as usize {
        let record = ProducerRecord::new(spec.topic.as_str()).value(pool[i % pool.len()].clone());
        let delivery = producer.send(record).await?;
        let _ = tx.send(delivery);
    }
    drop(tx);
    let flushed = producer.flush().await;
    let (ok, failed, first_error) = waiter.await?;
    let secs = start.elapsed().as_secs_f64();
    let _ = producer.close(Duration::from_secs(10)).await;
    if let Err(e) = flushed {
        if failed == 0 {
            return Err(format!("flush: {e}").into());
        }
    }
    if failed > 0 {
        return Err(format!(
            "{failed} records failed, first: {}",
            first_error.unwrap_or_default()
        )
        .into());
    }
    Ok(Measured {
        msgs: ok,
        bytes: ok * spec.size as u64,
        secs,
        ..Measured::default()
    })
}

/// Consumes `spec.count` records through group `spec.group`; the window runs from
/// the first record to the last.
pub async fn consume(spec: &Spec) -> Res<Measured> {
    let created = Instant::now();
    let consumer = Consumer::new(
        consumer_config(spec),
        cluster(spec).await?,
        vec![spec.topic.clone()],
    )?;
    let (mut msgs, mut bytes) = (0u64, 0u64);
    let mut first = None;
    while msgs < spec.count {
        let batch = consumer.poll_batch(500).await?;
        first.get_or_insert_with(Instant::now);
        for record in &batch {
            msgs += 1;
            bytes += record.value.as_ref().map_or(0, Bytes::len) as u64;
        }
    }
    let first = first.unwrap_or(created);
    let secs = first.elapsed().as_secs_f64();
    let _ = consumer.close().await;
    Ok(Measured {
        msgs,
        bytes,
        secs,
        note: format!("first record after {:.2}s", (first - created).as_secs_f64()),
        ..Measured::default()
    })
}

/// Produces at `spec.rate` records/s and consumes them in the same process.
pub async fn latency(spec: &Spec) -> Res<Measured> {
    let probe = Arc::new(Probe::new(spec));
    let consumer = Consumer::new(
        consumer_config(spec),
        cluster(spec).await?,
        vec![spec.topic.clone()],
    )?;
    let producer = Producer::new(producer_config(spec), cluster(spec).await?)?;
    let warm = Arc::new(AtomicBool::new(false));

    let reader = {
        let probe = Arc::clone(&probe);
        let warm = Arc::clone(&warm);
        tokio::spawn(async move {
            let deadline = probe.deadline();
            while !probe.complete() && Instant::now() < deadline {
                let batch = match tokio::time::timeout(
                    Duration::from_millis(200),
                    consumer.poll_batch(500),
                )
                .await
                {
                    Ok(batch) => batch?,
                    Err(_) => continue,
                };
                for record in batch {
                    if let Some(value) = &record.value {
                        if probe.received(value) {
                            warm.store(true, Ordering::Release);
                        }
                    }
                }
            }
            let _ = consumer.close().await;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        })
    };

    let topic = spec.topic.clone();
    let send = |payload: Vec<u8>| {
        let producer = producer.clone();
        let topic = topic.clone();
        async move {
            let delivery = producer
                .send(ProducerRecord::new(topic).value(Bytes::from(payload)))
                .await?;
            // Outcomes are not awaited here: the consumer sees what arrived.
            drop(delivery);
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        }
    };
    latency::drive_async(&probe, &warm, send).await?;
    reader.await??;
    let _ = producer.close(Duration::from_secs(5)).await;
    Ok(probe.result())
}
