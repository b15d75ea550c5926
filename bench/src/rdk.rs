//! rust-rdkafka: `BaseProducer` with a delivery callback (its fastest producer
//! API) and `BaseConsumer` polled on a plain thread (its fastest consumer API).
//! Also the topic administration of the orchestrator.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::latency::{self, Probe};
use crate::spec::{self, Measured, Spec};
use crate::Res;

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

#[derive(Clone, Default)]
struct Ctx(Arc<Counts>);

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.0.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.0.first_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
}

fn producer_config(spec: &Spec) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &spec.bootstrap)
        .set("client.id", "bench-rdkafka")
        .set("acks", spec.acks.name())
        .set("enable.idempotence", "false")
        .set("linger.ms", spec::LINGER_MS.to_string())
        .set("batch.size", spec::BATCH_BYTES.to_string())
        .set("batch.num.messages", spec::BATCH_MESSAGES.to_string())
        .set(
            "queue.buffering.max.messages",
            spec::QUEUE_MESSAGES.to_string(),
        )
        .set(
            "max.in.flight.requests.per.connection",
            spec::MAX_IN_FLIGHT.to_string(),
        )
        .set("compression.type", spec.comp.name());
    c
}

fn consumer_config(spec: &Spec) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &spec.bootstrap)
        .set("client.id", "bench-rdkafka")
        .set("group.id", &spec.group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", spec::FETCH_WAIT_MS.to_string())
        .set(
            "max.partition.fetch.bytes",
            spec::PARTITION_FETCH_BYTES.to_string(),
        )
        .set("fetch.max.bytes", spec::FETCH_MAX_BYTES.to_string())
        .set("isolation.level", "read_committed")
        .set("check.crcs", "true");
    c
}

/// Sends one record, serving callbacks while the queue is full.
fn send(producer: &BaseProducer<Ctx>, topic: &str, payload: &[u8]) -> Res<()> {
    let mut record = BaseRecord::<(), [u8]>::to(topic).payload(payload);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

/// Produces `spec.count` records; the window runs from the first send until
/// `flush` returns (every delivery callback has run).
pub fn produce(spec: &Spec) -> Res<Measured> {
    let pool = spec::payload_pool(spec.size);
    let ctx = Ctx::default();
    let producer: BaseProducer<Ctx> = producer_config(spec).create_with_context(ctx.clone())?;
    let start = Instant::now();
    for i in 0..spec.count as usize {
        send(&producer, &spec.topic, &pool[i % pool.len()])?;
        if i % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(120))?;
    let secs = start.elapsed().as_secs_f64();
    let ok = ctx.0.ok.load(Ordering::Relaxed);
    let failed = ctx.0.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let first = ctx.0.first_error.lock().ok().and_then(|f| f.clone());
        return Err(format!(
            "{failed} records failed, first: {}",
            first.unwrap_or_default()
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

/// Consumes `spec.count` records through group `spec.group`.
pub fn consume(spec: &Spec) -> Res<Measured> {
    let created = Instant::now();
    let consumer: BaseConsumer = consumer_config(spec).create()?;
    consumer.subscribe(&[spec.topic.as_str()])?;
    let (mut msgs, mut bytes) = (0u64, 0u64);
    let mut first = None;
    let deadline = created + Duration::from_secs(600);
    while msgs < spec.count {
        if Instant::now() > deadline {
            return Err(format!("only {msgs} of {} records within 600 s", spec.count).into());
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(m)) => {
                first.get_or_insert_with(Instant::now);
                msgs += 1;
                bytes += m.payload_len() as u64;
            }
        }
    }
    let first = first.unwrap_or(created);
    let secs = first.elapsed().as_secs_f64();
    drop(consumer);
    Ok(Measured {
        msgs,
        bytes,
        secs,
        note: format!("first record after {:.2}s", (first - created).as_secs_f64()),
        ..Measured::default()
    })
}

/// Produces at a fixed rate on this thread and consumes on another.
pub fn latency(spec: &Spec) -> Res<Measured> {
    let probe = Arc::new(Probe::new(spec));
    let warm = Arc::new(AtomicBool::new(false));
    let consumer: BaseConsumer = consumer_config(spec).create()?;
    consumer.subscribe(&[spec.topic.as_str()])?;
    let reader = {
        let probe = Arc::clone(&probe);
        let warm = Arc::clone(&warm);
        std::thread::spawn(move || -> Result<(), String> {
            let deadline = probe.deadline();
            while !probe.complete() && Instant::now() < deadline {
                match consumer.poll(Duration::from_millis(100)) {
                    None => {}
                    Some(Err(e)) => return Err(e.to_string()),
                    Some(Ok(m)) if probe.received(m.payload().unwrap_or_default()) => {
                        warm.store(true, Ordering::Release);
                    }
                    Some(Ok(_)) => {}
                }
            }
            Ok(())
        })
    };
    let producer: BaseProducer<Ctx> = producer_config(spec).create_with_context(Ctx::default())?;
    latency::drive_sync(
        &probe,
        &warm,
        |payload| send(&producer, &spec.topic, &payload),
        || producer.poll(Duration::ZERO),
    )?;
    producer.flush(Duration::from_secs(30))?;
    reader.join().map_err(|_| "consumer thread panicked")??;
    Ok(probe.result())
}

/// Topic administration for the orchestrator.
pub struct Admin {
    client: AdminClient<DefaultClientContext>,
}

impl Admin {
    /// An admin client for `bootstrap`.
    pub fn new(bootstrap: &str) -> Res<Admin> {
        let client = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("client.id", "bench-admin")
            .create()?;
        Ok(Admin { client })
    }

    /// Creates `topic` with [`spec::PARTITIONS`] partitions.
    pub fn create(&self, topic: &str) -> Res<()> {
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let new = NewTopic::new(topic, spec::PARTITIONS, TopicReplication::Fixed(1));
        let results = block(self.client.create_topics([&new], &opts))?;
        for r in results {
            if let Err((name, code)) = r {
                if code != RDKafkaErrorCode::TopicAlreadyExists {
                    return Err(format!("create topic {name}: {code}").into());
                }
            }
        }
        Ok(())
    }

    /// Deletes `topics` (errors ignored: cleanup only).
    pub fn delete(&self, topics: &[&str]) {
        if topics.is_empty() {
            return;
        }
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let _ = block(self.client.delete_topics(topics, &opts));
    }
}

/// Runs a future to completion on a small current-thread runtime.
fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
        .block_on(f)
}
