//! Issue 7: the flame API's promises, proved against a real broker.
//!
//! - `close()` from another task while callbacks run: `run` returns, every finished
//!   message is committed, none is skipped, and the next consumer of the group starts
//!   exactly at the first unfinished message of each partition.
//! - Configuration and topic errors are typed and name the key (or topic).
//! - A callback that returns `Err` or panics is logged; consumption goes on and the
//!   message counts as processed (its offset is committed).
//! - Dropping a producer delivers what it had queued.
//! - `acks=0`, `1` and `all` through the flame config.
//!
//! Needs the broker of `protocol-tests/harness/kafka.sh` (`FLAME_KAFKA_BOOTSTRAP`);
//! panics with instructions when it is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flame_kafka::config::ConfigError;
use flame_kafka::lower::cluster::ClusterError;
use flame_kafka::{Error, Headers, Message};
use flame_kafka_protocol_tests::{admin, bootstrap, unique_name};

// ------------------------------------------------------------------ helpers

async fn producer(topic: &str, extra: &[(&str, &str)]) -> flame_kafka::Producer {
    let bootstrap = bootstrap();
    let mut config = vec![("bootstrap.servers", bootstrap.as_str())];
    config.extend_from_slice(extra);
    flame_kafka::produce(config, &[topic])
        .await
        .unwrap_or_else(|e| panic!("produce({extra:?}, [{topic}]): {e}"))
}

/// Publishes `count` messages "m-{i}" with explicit partitions `i % partitions`,
/// `round` at a time (each round acknowledged before the next, so each partition's
/// log holds several batches).
async fn fill(topic: &str, partitions: i32, count: usize, round: usize) {
    let producer = producer(topic, &[]).await;
    let mut deliveries = Vec::new();
    for i in 0..count {
        let mut message = Message::new(format!("m-{i}"), Some(Bytes::from(format!("k-{i}"))));
        message.partition = (i as i32) % partitions;
        deliveries.push(producer.publish_message(topic, message).await.unwrap());
        if deliveries.len() == round || i + 1 == count {
            for d in deliveries.drain(..) {
                d.await.unwrap();
            }
        }
    }
}

async fn consumer(topic: &str, group: &str, extra: &[(&str, &str)]) -> flame_kafka::Consumer {
    let bootstrap = bootstrap();
    let mut config = vec![
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group),
        ("auto.offset.reset", "earliest"),
    ];
    config.extend_from_slice(extra);
    flame_kafka::consume(config, &[topic])
        .await
        .unwrap_or_else(|e| panic!("consume({extra:?}, [{topic}]): {e}"))
}

/// Runs a consumer of `group` until it has received `expected` messages (or 60 s
/// passed), then `grace` longer to catch extra deliveries, and closes it. Returns
/// what it received, in callback order.
async fn consume_n(topic: &str, group: &str, expected: usize, grace: Duration) -> Vec<Message> {
    let consumer = consumer(topic, group, &[]).await;
    let got: Arc<Mutex<Vec<Message>>> = Arc::default();
    let (closer, seen) = (consumer.clone(), got.clone());
    let closing = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.lock().unwrap().len() < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(grace).await;
        closer.close().await;
    });
    let sink = got.clone();
    consumer
        .run(move |m: Message| {
            sink.lock().unwrap().push(m);
            async { Ok::<(), std::convert::Infallible>(()) }
        })
        .await
        .unwrap_or_else(|e| panic!("run on {topic}: {e}"));
    closing.await.unwrap();
    let out = std::mem::take(&mut *got.lock().unwrap());
    out
}

/// The offsets group `group` has committed for `topic`'s partitions (absent: none),
/// asked of the group coordinator with OffsetFetch.
async fn committed(group: &str, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
    let cluster = admin::connect().await;
    let coordinator = admin::find_coordinator(&cluster, group)
        .await
        .unwrap_or_else(|e| panic!("the coordinator of {group}: {e}"));
    let mut offsets = admin::committed_offsets(&cluster, coordinator, group, topic, partitions)
        .await
        .unwrap_or_else(|e| panic!("committed offsets of {group} for {topic}: {e}"));
    offsets.retain(|_, offset| *offset >= 0);
    offsets
}

/// A log writer shared by every test of this binary: what the flame crate logs at
/// WARN and above, kept to search.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs: Arc<Mutex<Vec<u8>>> = Arc::default();
        let sink = logs.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
            .with_ansi(false)
            .with_writer(move || LogSink(sink.clone()))
            .try_init();
        logs
    })
    .clone()
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Keeps the deliberate panics of the callback test from printing a backtrace each;
/// every other panic goes to the default hook.
fn quiet_deliberate_panics() {
    static HOOK: OnceLock<()> = OnceLock::new();
    HOOK.get_or_init(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or_default();
            if !text.starts_with(DELIBERATE_PANIC) {
                default(info);
            }
        }));
    });
}

const DELIBERATE_PANIC: &str = "deliberate panic at offset";

// ------------------------------------------------------------------ close

/// Callbacks of 50–200 ms, 8 at once; `close()` from another task once 40 have
/// finished (with others still running). `run` must return after the running ones
/// finish, having committed every finished message and skipped none: per partition
/// the finished offsets are 0..k, the committed offset is k, and a new consumer of
/// the group gets exactly the messages from k on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_while_callbacks_run_commits_exactly_the_finished() {
    const PARTITIONS: i32 = 3;
    const COUNT: usize = 180;
    let started = Instant::now();
    let topic = admin::single_broker_topic("flame-close", PARTITIONS).await;
    // Batches of 10 records per partition, fetched one batch per partition at a
    // time, so the callbacks of every partition interleave.
    fill(&topic, PARTITIONS, COUNT, 30).await;
    let group = unique_name("flame-close-group");

    let consumer = consumer(
        &topic,
        &group,
        &[
            ("flame.concurrency", "8"),
            ("auto.commit.interval.ms", "100"),
            ("max.partition.fetch.bytes", "1"),
        ],
    )
    .await;
    let finished: Arc<Mutex<BTreeSet<(i32, i64)>>> = Arc::default();
    let began: Arc<Mutex<BTreeSet<(i32, i64)>>> = Arc::default();
    let running = Arc::new(AtomicUsize::new(0));
    let closing = Arc::new(AtomicBool::new(false));
    // Callbacks that began after close() was called. `run`'s docs say none does; today
    // one does (the loop waiting for a free slot starts its record anyway). It is
    // printed, not asserted until crates/flame-kafka/src/consumer.rs is fixed; it does
    // not change what is committed.
    let began_after_close = Arc::new(AtomicUsize::new(0));

    let (closer, done, busy, flag) = (
        consumer.clone(),
        finished.clone(),
        running.clone(),
        closing.clone(),
    );
    let (watch_group, watch_topic) = (group.clone(), topic.clone());
    let close_task = tokio::spawn(async move {
        // While callbacks run (and finish out of order), auto-commits every 100 ms
        // must never pass an unfinished message: whatever the coordinator holds must
        // be covered by what had finished when its answer came.
        let (mut checks, mut violations) = (0, Vec::new());
        let deadline = Instant::now() + Duration::from_secs(60);
        while done.lock().unwrap().len() < 40 && Instant::now() < deadline {
            if done.lock().unwrap().len() >= 8 {
                let held = committed(&watch_group, &watch_topic, PARTITIONS).await;
                let finished_now = done.lock().unwrap().clone();
                for (&p, &offset) in &held {
                    if let Some(o) = (0..offset).find(|o| !finished_now.contains(&(p, *o))) {
                        violations.push(format!(
                            "committed {p}@{offset} while {p}[{o}] was unfinished"
                        ));
                    }
                }
                if held.values().any(|&o| o > 0) {
                    checks += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let running_at_close = busy.load(Ordering::SeqCst);
        flag.store(true, Ordering::SeqCst);
        closer.close().await;
        (running_at_close, checks, violations)
    });
    let (done, start, busy, flag, late) = (
        finished.clone(),
        began.clone(),
        running.clone(),
        closing.clone(),
        began_after_close.clone(),
    );
    consumer
        .run(move |m: Message| {
            let (done, start, busy, flag, late) = (
                done.clone(),
                start.clone(),
                busy.clone(),
                flag.clone(),
                late.clone(),
            );
            async move {
                if flag.load(Ordering::SeqCst) {
                    late.fetch_add(1, Ordering::SeqCst);
                }
                busy.fetch_add(1, Ordering::SeqCst);
                assert!(
                    start.lock().unwrap().insert((m.partition, m.offset)),
                    "callback called twice for {}[{}]",
                    m.partition,
                    m.offset
                );
                let spread = ((m.offset as u64) * 37 + (m.partition as u64) * 11) % 151;
                tokio::time::sleep(Duration::from_millis(50 + spread)).await;
                done.lock().unwrap().insert((m.partition, m.offset));
                busy.fetch_sub(1, Ordering::SeqCst);
                Ok::<(), std::convert::Infallible>(())
            }
        })
        .await
        .expect("run returns Ok after close");
    let (running_at_close, checks, violations) = close_task.await.unwrap();
    assert!(
        violations.is_empty(),
        "auto-commit passed unfinished messages:\n{}",
        violations.join("\n")
    );
    assert!(checks > 0, "no auto-commit was seen while callbacks ran");
    assert!(running_at_close > 0, "close must come while callbacks run");
    assert_eq!(
        running.load(Ordering::SeqCst),
        0,
        "run returned with callbacks still running"
    );

    let finished = finished.lock().unwrap().clone();
    let began = began.lock().unwrap().clone();
    assert_eq!(
        began, finished,
        "run returned before every started callback finished"
    );
    // Per partition: the finished offsets are exactly 0..k (none skipped).
    let per_partition = COUNT as i64 / i64::from(PARTITIONS);
    let mut first_unfinished = BTreeMap::new();
    for p in 0..PARTITIONS {
        let offsets: Vec<i64> = finished
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, o)| *o)
            .collect();
        let k = offsets.len() as i64;
        assert_eq!(
            offsets,
            (0..k).collect::<Vec<_>>(),
            "partition {p}: finished offsets have a gap"
        );
        first_unfinished.insert(p, k);
    }
    assert!(
        first_unfinished.values().any(|&k| k < per_partition),
        "close came too late: every message finished ({first_unfinished:?})"
    );

    // The committed offsets are the first unfinished ones.
    let committed = committed(&group, &topic, PARTITIONS).await;
    for p in 0..PARTITIONS {
        let k = first_unfinished[&p];
        let c = committed.get(&p).copied();
        assert!(
            c == Some(k) || (k == 0 && c.is_none()),
            "partition {p}: committed {c:?}, but the first unfinished offset is {k} \
             (committed {committed:?}, first unfinished {first_unfinished:?})"
        );
    }

    // A new consumer of the group gets exactly the unfinished messages, from there on.
    let remaining = COUNT - finished.len();
    let second = consume_n(&topic, &group, remaining, Duration::from_millis(500)).await;
    let mut next = first_unfinished.clone();
    for m in &second {
        assert!(
            !finished.contains(&(m.partition, m.offset)),
            "{}[{}] was finished in the first run but delivered again",
            m.partition,
            m.offset
        );
        let expected = next.get_mut(&m.partition).expect("a known partition");
        assert_eq!(
            m.offset, *expected,
            "partition {}: the second consumer got offset {} where {} was due",
            m.partition, m.offset, expected
        );
        *expected += 1;
    }
    assert_eq!(
        second.len(),
        remaining,
        "the second consumer got {} of {remaining}",
        second.len()
    );
    assert!(next.values().all(|&o| o == per_partition), "{next:?}");
    println!(
        "flame_api close: {} finished before close ({running_at_close} running at close, \
         {} started after close was called), committed {committed:?} ({checks} checks of \
         auto-committed offsets while running), {} consumed after ({:.1?})",
        finished.len(),
        began_after_close.load(Ordering::SeqCst),
        second.len(),
        started.elapsed()
    );
}

// ------------------------------------------------------------------ errors

/// The key a configuration error names in its fields.
fn named_key(e: &ConfigError) -> Option<&str> {
    match e {
        ConfigError::UnknownKey { key, .. } | ConfigError::Unsupported { key, .. } => Some(key),
        ConfigError::InvalidValue { key, .. }
        | ConfigError::WrongRole { key, .. }
        | ConfigError::Missing { key, .. }
        | ConfigError::Duplicate { key, .. }
        | ConfigError::Conflict { key, .. } => Some(key),
        _ => None,
    }
}

fn assert_config_error(what: &str, result: Result<(), Error>, key: &str) {
    match result {
        Err(Error::Config(e)) => {
            let text = e.to_string();
            assert_eq!(named_key(&e), Some(key), "{what}: wrong key in {e:?}");
            assert!(
                text.contains(&format!("`{key}`")),
                "{what}: the message does not name `{key}`: {text}"
            );
        }
        Err(other) => panic!("{what}: expected Error::Config naming `{key}`, got {other:?}"),
        Ok(()) => panic!("{what}: accepted, expected Error::Config naming `{key}`"),
    }
}

async fn try_produce(config: &[(&str, &str)], topics: &[&str]) -> Result<(), Error> {
    flame_kafka::produce(config.iter().copied(), topics)
        .await
        .map(drop)
}

async fn try_consume(config: &[(&str, &str)], topics: &[&str]) -> Result<(), Error> {
    flame_kafka::consume(config.iter().copied(), topics)
        .await
        .map(drop)
}

/// Every refused configuration is `Error::Config` naming the key; an empty topic
/// list is `Error::NoTopics`; an unknown topic at `produce` is a typed cluster
/// error naming it; publishing outside the allow-list is `Error::TopicNotAllowed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_typed_and_name_the_key() {
    let bootstrap = bootstrap();
    let b = bootstrap.as_str();
    let topic = admin::single_broker_topic("flame-errors", 1).await;
    let t = topic.as_str();

    // Missing required keys.
    assert_config_error(
        "produce without bootstrap.servers",
        try_produce(&[("acks", "1")], &[t]).await,
        "bootstrap.servers",
    );
    assert_config_error(
        "consume without bootstrap.servers",
        try_consume(&[("group.id", "g")], &[t]).await,
        "bootstrap.servers",
    );
    assert_config_error(
        "consume without group.id",
        try_consume(&[("bootstrap.servers", b)], &[t]).await,
        "group.id",
    );
    assert_config_error(
        "consume with an empty group.id",
        try_consume(&[("bootstrap.servers", b), ("group.id", "")], &[t]).await,
        "group.id",
    );

    // Unknown keys.
    assert_config_error(
        "produce with an unknown key",
        try_produce(&[("bootstrap.servers", b), ("no.such.property", "1")], &[t]).await,
        "no.such.property",
    );
    assert_config_error(
        "consume with an unknown key",
        try_consume(
            &[
                ("bootstrap.servers", b),
                ("group.id", "g"),
                ("linger.msx", "1"),
            ],
            &[t],
        )
        .await,
        "linger.msx",
    );

    // Bad values.
    for (key, value) in [
        ("acks", "2"),
        ("linger.ms", "soon"),
        ("compression.type", "brotli"),
        ("partitioner", "nope"),
        ("enable.idempotence", "maybe"),
        ("message.timeout.ms", "-5"),
    ] {
        assert_config_error(
            &format!("produce with {key}={value}"),
            try_produce(&[("bootstrap.servers", b), (key, value)], &[t]).await,
            key,
        );
    }
    for (key, value) in [
        ("flame.concurrency", "0"),
        ("auto.offset.reset", "sometime"),
        ("enable.auto.commit", "perhaps"),
        ("session.timeout.ms", "x"),
    ] {
        assert_config_error(
            &format!("consume with {key}={value}"),
            try_consume(
                &[("bootstrap.servers", b), ("group.id", "g"), (key, value)],
                &[t],
            )
            .await,
            key,
        );
    }
    // A property of the other role, and contradicting properties.
    assert_config_error(
        "produce with group.id",
        try_produce(&[("bootstrap.servers", b), ("group.id", "g")], &[t]).await,
        "group.id",
    );
    assert_config_error(
        "consume with acks",
        try_consume(
            &[("bootstrap.servers", b), ("group.id", "g"), ("acks", "1")],
            &[t],
        )
        .await,
        "acks",
    );
    assert_config_error(
        "acks=0 with enable.idempotence=true",
        try_produce(
            &[
                ("bootstrap.servers", b),
                ("acks", "0"),
                ("enable.idempotence", "true"),
            ],
            &[t],
        )
        .await,
        "acks",
    );

    // Empty topic lists.
    match try_produce(&[("bootstrap.servers", b)], &[]).await {
        Err(e @ Error::NoTopics) => assert!(e.to_string().contains("topic"), "{e}"),
        other => panic!("produce with no topics: expected Error::NoTopics, got {other:?}"),
    }
    match try_consume(&[("bootstrap.servers", b), ("group.id", "g")], &[]).await {
        Err(Error::NoTopics) => {}
        other => panic!("consume with no topics: expected Error::NoTopics, got {other:?}"),
    }

    // An unknown topic at produce().
    let missing = unique_name("flame-no-such-topic");
    let t0 = Instant::now();
    match try_produce(&[("bootstrap.servers", b)], &[t, &missing]).await {
        Err(Error::Cluster(ClusterError::UnknownTopic { topic })) => assert_eq!(topic, missing),
        other => panic!(
            "produce to a missing topic: expected Error::Cluster(UnknownTopic), got {other:?}"
        ),
    }
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "UnknownTopic took {:?}",
        t0.elapsed()
    );

    // Publishing outside the allow-list.
    let producer = producer(t, &[]).await;
    let other = unique_name("flame-not-allowed");
    match producer.publish(&other, "x", None, Headers::new()).await {
        Err(Error::TopicNotAllowed { topic, allowed }) => {
            assert_eq!(topic, other);
            assert_eq!(allowed, t);
        }
        Err(e) => panic!("publish outside the allow-list: expected TopicNotAllowed, got {e:?}"),
        Ok(_) => panic!("publish outside the allow-list was accepted"),
    }
    let mut message = Message::new("y", None);
    message.partition = 0;
    assert!(matches!(
        producer.publish_message(&other, message).await,
        Err(Error::TopicNotAllowed { .. })
    ));
    // The allowed topic still works.
    producer
        .publish(t, "ok", None, Headers::new())
        .await
        .unwrap()
        .await
        .unwrap();
}

// ------------------------------------------------------------------ callback failures

/// Callbacks that return `Err` or panic: each is logged, the next message is still
/// delivered, and the failed message counts as processed (committed past it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_and_panicking_callbacks_count_as_processed() {
    const COUNT: usize = 30;
    let logs = captured_logs();
    quiet_deliberate_panics();
    let topic = admin::single_broker_topic("flame-callback-errors", 1).await;
    fill(&topic, 1, COUNT, COUNT).await;
    let group = unique_name("flame-callback-errors-group");
    let consumer = consumer(&topic, &group, &[]).await;
    let calls: Arc<Mutex<Vec<i64>>> = Arc::default();
    let (closer, seen) = (consumer.clone(), calls.clone());
    let close_task = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.lock().unwrap().len() < COUNT && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        closer.close().await;
    });
    let sink = calls.clone();
    consumer
        .run(move |m: Message| {
            sink.lock().unwrap().push(m.offset);
            async move {
                match m.offset % 3 {
                    0 => Err(format!("deliberate error at offset {}", m.offset)),
                    1 => panic!("{DELIBERATE_PANIC} {}", m.offset),
                    _ => Ok(()),
                }
            }
        })
        .await
        .expect("run returns Ok despite failing callbacks");
    close_task.await.unwrap();

    let calls = calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        (0..COUNT as i64).collect::<Vec<_>>(),
        "every message once, in order"
    );
    let committed = committed(&group, &topic, 1).await;
    assert_eq!(
        committed.get(&0).copied(),
        Some(COUNT as i64),
        "failed and panicked messages count as processed: everything is committed"
    );
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    for offset in 0..COUNT as i64 {
        let wanted = match offset % 3 {
            0 => format!("deliberate error at offset {offset}"),
            1 => format!("{DELIBERATE_PANIC} {offset}"),
            _ => continue,
        };
        assert!(
            logs.lines()
                .any(|l| l.contains(&wanted) && l.contains(&topic)),
            "no log line for the failed callback at offset {offset} ({wanted:?}); logs:\n{logs}"
        );
    }
    println!(
        "flame_api callbacks: {COUNT} messages, 20 failed or panicked, all committed and logged"
    );
}

// ------------------------------------------------------------------ producer drop

/// 1000 messages published without awaiting their acks, then the producer dropped:
/// every one is delivered (exactly once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_producer_delivers_what_is_queued() {
    const COUNT: usize = 1000;
    let topic = admin::single_broker_topic("flame-drop", 3).await;
    {
        // A longer linger keeps messages queued when the producer goes.
        let producer = producer(&topic, &[("linger.ms", "200")]).await;
        for i in 0..COUNT {
            let delivery = producer
                .publish(
                    &topic,
                    format!("drop-{i}"),
                    Some(Bytes::from(format!("{i}"))),
                    Headers::new(),
                )
                .await
                .unwrap();
            drop(delivery);
        }
        drop(producer);
    }
    let got = consume_n(
        &topic,
        &unique_name("flame-drop-group"),
        COUNT,
        Duration::from_millis(500),
    )
    .await;
    let mut values: Vec<String> = got.iter().map(|m| m.to_string()).collect();
    values.sort();
    let mut expected: Vec<String> = (0..COUNT).map(|i| format!("drop-{i}")).collect();
    expected.sort();
    let missing = expected.iter().filter(|v| !values.contains(v)).count();
    assert_eq!(
        values,
        expected,
        "after dropping the producer: {} delivered, {missing} missing",
        got.len()
    );
    println!(
        "flame_api drop: {COUNT} published without awaiting, producer dropped, {COUNT} consumed"
    );
}

// ------------------------------------------------------------------ acks

/// acks=0, 1, all (and its alias -1): every message arrives; acks=0 acks carry
/// offset -1, the others consecutive offsets per partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_0_1_all_through_the_flame_config() {
    const PER_SETTING: usize = 100;
    const PARTITIONS: i32 = 3;
    let topic = admin::single_broker_topic("flame-acks", PARTITIONS).await;
    let settings = ["0", "1", "all", "-1"];
    let mut last_offset: BTreeMap<i32, i64> = BTreeMap::new();
    for acks in settings {
        let producer = producer(&topic, &[("acks", acks)]).await;
        let mut deliveries = Vec::new();
        for i in 0..PER_SETTING {
            let mut m = Message::new(
                format!("acks={acks} #{i}"),
                Some(Bytes::from(format!("{acks}-{i}"))),
            );
            m.partition = (i as i32) % PARTITIONS;
            deliveries.push((
                m.partition,
                producer.publish_message(&topic, m).await.unwrap(),
            ));
        }
        for (partition, d) in deliveries {
            let ack = d.await.unwrap_or_else(|e| panic!("acks={acks}: {e}"));
            assert_eq!(ack.partition, partition, "acks={acks}");
            if acks == "0" {
                assert_eq!(ack.offset, -1, "acks=0 cannot know the offset");
            } else {
                let last = last_offset.entry(partition).or_insert(-1);
                if *last >= 0 {
                    assert_eq!(
                        ack.offset,
                        *last + 1,
                        "acks={acks}: offsets per partition are consecutive"
                    );
                }
                *last = ack.offset;
            }
        }
        producer.flush().await.unwrap();
        // acks=0 leaves the offsets unknown: later settings start from wherever.
        if acks == "0" {
            last_offset.clear();
        }
    }
    let total = PER_SETTING * settings.len();
    let got = consume_n(
        &topic,
        &unique_name("flame-acks-group"),
        total,
        Duration::from_millis(500),
    )
    .await;
    let mut values: Vec<String> = got.iter().map(|m| m.to_string()).collect();
    values.sort();
    let mut expected: Vec<String> = settings
        .iter()
        .flat_map(|acks| (0..PER_SETTING).map(move |i| format!("acks={acks} #{i}")))
        .collect();
    expected.sort();
    assert_eq!(
        values, expected,
        "every message of every acks setting, once"
    );
    println!("flame_api acks: {total} messages with acks=0/1/all/-1, all consumed once");
}
