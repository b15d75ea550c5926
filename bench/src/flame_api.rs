//! flame-kafka through the flame API: `flame_kafka::produce(config, topics)` →
//! `publish`, and `flame_kafka::consume(config, topics)` → `run(callback)`, with
//! the same librdkafka-style properties the rdkafka client gets.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flame_kafka::{Headers, Message};
use tokio::sync::{mpsc, Notify};

use crate::latency::{self, Probe};
use crate::spec::{self, Measured, Spec};
use crate::Res;

fn producer_config(spec: &Spec) -> Vec<(&'static str, String)> {
    vec![
        ("bootstrap.servers", spec.bootstrap.clone()),
        ("client.id", "bench-flame-api".into()),
        ("acks", spec.acks.name().into()),
        ("enable.idempotence", "false".into()),
        ("linger.ms", spec::LINGER_MS.to_string()),
        ("batch.size", spec::BATCH_BYTES.to_string()),
        ("batch.num.messages", spec::BATCH_MESSAGES.to_string()),
        (
            "queue.buffering.max.messages",
            spec::QUEUE_MESSAGES.to_string(),
        ),
        (
            "max.in.flight.requests.per.connection",
            spec::MAX_IN_FLIGHT.to_string(),
        ),
        ("compression.type", spec.comp.name().into()),
    ]
}

fn consumer_config(spec: &Spec) -> Vec<(&'static str, String)> {
    vec![
        ("bootstrap.servers", spec.bootstrap.clone()),
        ("client.id", "bench-flame-api".into()),
        ("group.id", spec.group.clone()),
        ("auto.offset.reset", "earliest".into()),
        ("enable.auto.commit", "true".into()),
        ("fetch.wait.max.ms", spec::FETCH_WAIT_MS.to_string()),
        (
            "max.partition.fetch.bytes",
            spec::PARTITION_FETCH_BYTES.to_string(),
        ),
        ("fetch.max.bytes", spec::FETCH_MAX_BYTES.to_string()),
        ("isolation.level", "read_committed".into()),
        ("check.crcs", "true".into()),
    ]
}

/// Publishes `spec.count` messages; the window runs from the first `publish` until
/// every `Delivery` has resolved.
pub async fn produce(spec: &Spec) -> Res<Measured> {
    let pool = spec::payload_pool(spec.size);
    let producer = flame_kafka::produce(producer_config(spec), &[spec.topic.as_str()]).await?;
    let (tx, mut rx) = mpsc::unbounded_channel::<flame_kafka::Delivery>();
    let waiter = tokio::spawn(async move {
        let (mut ok, mut failed, mut first_error) = (0u64, 0u64, None);
        while let Some(delivery) = rx.recv().await {
            match delivery.await {
                Ok(_) => ok += 1,
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        (ok, failed, first_error)
    });
    let start = Instant::now();
    for i in 0..spec.count as usize {
        let delivery = producer
            .publish(
                &spec.topic,
                pool[i % pool.len()].clone(),
                None,
                Headers::new(),
            )
            .await?;
        let _ = tx.send(delivery);
    }
    drop(tx);
    let flushed = producer.flush().await;
    let (ok, failed, first_error) = waiter.await?;
    let secs = start.elapsed().as_secs_f64();
    drop(producer);
    if failed > 0 {
        return Err(format!(
            "{failed} messages failed, first: {}",
            first_error.unwrap_or_default()
        )
        .into());
    }
    flushed?;
    Ok(Measured {
        msgs: ok,
        bytes: ok * spec.size as u64,
        secs,
        ..Measured::default()
    })
}

/// Consumes `spec.count` messages with `run(callback)`; the window runs from the
/// first callback to the `count`-th.
pub async fn consume(spec: &Spec) -> Res<Measured> {
    let created = Instant::now();
    let consumer = flame_kafka::consume(consumer_config(spec), &[spec.topic.as_str()]).await?;
    let msgs = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let first: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let last: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let done = Arc::new(Notify::new());
    let callback = {
        let (msgs, bytes, first, last, done) = (
            msgs.clone(),
            bytes.clone(),
            first.clone(),
            last.clone(),
            done.clone(),
        );
        let target = spec.count;
        move |message: Message| {
            first.get_or_init(Instant::now);
            bytes.fetch_add(message.payload_bytes().len() as u64, Ordering::Relaxed);
            if msgs.fetch_add(1, Ordering::AcqRel) + 1 == target {
                last.get_or_init(Instant::now);
                done.notify_one();
            }
            async { Ok::<(), String>(()) }
        }
    };
    let closer = {
        let consumer = consumer.clone();
        tokio::spawn(async move {
            done.notified().await;
            consumer.close().await;
        })
    };
    consumer.run(callback).await?;
    closer.await?;
    let first = *first.get().unwrap_or(&created);
    let last = *last
        .get()
        .ok_or("run returned before every message arrived")?;
    let msgs = msgs.load(Ordering::Acquire);
    Ok(Measured {
        msgs: spec.count.min(msgs),
        bytes: bytes.load(Ordering::Acquire),
        secs: (last - first).as_secs_f64(),
        note: format!(
            "first message after {:.2}s",
            (first - created).as_secs_f64()
        ),
        ..Measured::default()
    })
}

/// Publishes at a fixed rate and consumes with `run` in the same process.
pub async fn latency(spec: &Spec) -> Res<Measured> {
    let probe = Arc::new(Probe::new(spec));
    let warm = Arc::new(AtomicBool::new(false));
    let consumer = flame_kafka::consume(consumer_config(spec), &[spec.topic.as_str()]).await?;
    let producer = flame_kafka::produce(producer_config(spec), &[spec.topic.as_str()]).await?;
    let runner = {
        let consumer = consumer.clone();
        let probe = Arc::clone(&probe);
        let warm = Arc::clone(&warm);
        tokio::spawn(async move {
            consumer
                .run(move |message: Message| {
                    if probe.received(message.payload_bytes()) {
                        warm.store(true, Ordering::Release);
                    }
                    async { Ok::<(), String>(()) }
                })
                .await
        })
    };
    let send = |payload: Vec<u8>| {
        let producer = &producer;
        let topic = spec.topic.as_str();
        async move {
            let delivery = producer
                .publish(topic, Bytes::from(payload), None, Headers::new())
                .await?;
            drop(delivery);
            Ok(())
        }
    };
    latency::drive_async(&probe, &warm, send).await?;
    let deadline = probe.deadline();
    while !probe.complete() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    consumer.close().await;
    runner.await??;
    drop(producer);
    Ok(probe.result())
}
