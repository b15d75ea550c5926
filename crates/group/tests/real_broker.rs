//! Consumer groups against a real Kafka broker.
//!
//! Start one first:
//!   bash protocol-tests/harness/kafka.sh install && bash protocol-tests/harness/kafka.sh start single
//!   eval "$(bash protocol-tests/harness/kafka.sh env)"
//! then `cargo test -p flame-kafka-group --test real_broker`. Without
//! `FLAME_KAFKA_BOOTSTRAP` every test fails (it never skips silently).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use flame_kafka_cluster::{Cluster, ClusterConfig, Purpose};
use flame_kafka_codec::messages::produce_request::{PartitionProduceData, TopicProduceData};
use flame_kafka_codec::messages::{ProduceRequest, TopicName};
use flame_kafka_codec::protocol::StrBytes;
use flame_kafka_codec::record_batch::{encode_batch, ProducerStamp};
use flame_kafka_codec::{Compression, Record};
use flame_kafka_group::{
    ConsumeError, ConsumedRecord, Consumer, ConsumerConfig, GroupProtocol, Isolation, OffsetReset,
    Strategy, TopicPartition,
};
use tokio::time::{sleep, timeout, Instant};

const WAIT: Duration = Duration::from_secs(60);

fn bootstrap() -> String {
    std::env::var("FLAME_KAFKA_BOOTSTRAP").unwrap_or_else(|_| {
        panic!(
            "FLAME_KAFKA_BOOTSTRAP is not set: start a broker with \
             `bash protocol-tests/harness/kafka.sh start single` and \
             `eval \"$(bash protocol-tests/harness/kafka.sh env)\"`"
        )
    })
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

async fn cluster() -> Cluster {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    Cluster::connect(ClusterConfig::new(bootstrap()))
        .await
        .expect("connect to the broker")
}

/// A cluster of its own for each group member, as separate processes would have
/// (members sharing one `Cluster` are tested too: see
/// `members_sharing_one_cluster_split_partitions_and_ride_out_rebalances`).
async fn own_cluster() -> Cluster {
    cluster().await
}

async fn topic(cluster: &Cluster, partitions: i32) -> String {
    let name = unique("flame-group");
    cluster
        .create_topics(&[(&name, partitions, 1)])
        .await
        .expect("create topic");
    name
}

/// Writes `values` to one partition with a raw ProduceRequest (acks=all).
async fn produce(cluster: &Cluster, topic: &str, partition: i32, values: &[String]) {
    let records: Vec<Record> = values
        .iter()
        .map(|v| Record {
            value: Some(Bytes::from(v.clone())),
            timestamp: 1,
            ..Default::default()
        })
        .collect();
    let mut batch = BytesMut::new();
    encode_batch(
        &mut batch,
        &records,
        ProducerStamp::default(),
        Compression::None,
        None,
    )
    .unwrap();
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from(topic.to_owned())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch.freeze()))])]);
    for attempt in 0.. {
        let (leader, _) = cluster.leader(topic, partition).await.unwrap();
        let (response, _) = cluster
            .send(leader, Purpose::Produce, &request)
            .await
            .unwrap();
        let code = response.responses[0].partition_responses[0].error_code;
        match flame_kafka_codec::KafkaCode::from_code(code) {
            None => return,
            // Right after creation the partition may not be served yet.
            Some(err) if err.is_retriable() && attempt < 50 => {
                let _ = cluster.refresh_metadata().await;
                sleep(Duration::from_millis(200)).await;
            }
            Some(err) => panic!("produce to {topic}-{partition} failed: {err}"),
        }
    }
}

fn config(group: &str) -> ConsumerConfig {
    let mut config = ConsumerConfig::new(group);
    config.auto_offset_reset = OffsetReset::Earliest;
    config.session_timeout = Duration::from_secs(10);
    config.heartbeat_interval = Duration::from_millis(500);
    config.auto_commit_interval = Duration::from_millis(500);
    config
}

fn value(r: &ConsumedRecord) -> String {
    String::from_utf8(r.value.clone().unwrap_or_default().to_vec()).unwrap()
}

/// Polls `consumer` in the background, marking everything done; returns what it got.
fn drain(consumer: Arc<Consumer>) -> tokio::task::JoinHandle<Vec<ConsumedRecord>> {
    tokio::spawn(async move {
        let mut got = Vec::new();
        loop {
            match consumer.poll_batch(100).await {
                Ok(batch) => {
                    for r in &batch {
                        consumer.mark_record_done(r);
                    }
                    got.extend(batch);
                }
                Err(ConsumeError::Closed) => return got,
                Err(e) if e.is_retriable() => {}
                Err(e) => panic!("poll failed: {e}"),
            }
        }
    })
}

async fn assignments(consumers: &[&Consumer]) -> Vec<BTreeSet<TopicPartition>> {
    let mut out = Vec::new();
    for c in consumers {
        out.push(c.assignment().await.unwrap().into_iter().collect());
    }
    out
}

/// Waits until the consumers' assignments partition all of `topic`'s `n`
/// partitions with no overlap, each holding `sizes` partitions (sorted).
async fn await_split(consumers: &[&Consumer], topic: &str, n: i32, sizes: &[usize]) {
    let all: BTreeSet<TopicPartition> = (0..n).map(|p| TopicPartition::new(topic, p)).collect();
    let start = Instant::now();
    loop {
        let sets = assignments(consumers).await;
        let union: BTreeSet<TopicPartition> = sets.iter().flatten().cloned().collect();
        let total: usize = sets.iter().map(BTreeSet::len).sum();
        let mut got: Vec<usize> = sets.iter().map(BTreeSet::len).collect();
        got.sort_unstable();
        if union == all && total == all.len() && got == sizes {
            return;
        }
        assert!(
            start.elapsed() < WAIT,
            "no clean split after {WAIT:?}: {sets:?}"
        );
        sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_then_three_members_split_six_partitions_and_a_leaver_is_taken_over() {
    let cluster = cluster().await;
    let topic = topic(&cluster, 6).await;
    for p in 0..6 {
        produce(
            &cluster,
            &topic,
            p,
            &(0..5).map(|i| format!("p{p}-{i}")).collect::<Vec<_>>(),
        )
        .await;
    }
    let group = unique("g-split");
    let consumer = || async {
        let mut c = config(&group);
        c.partition_assignment_strategy = vec![Strategy::CooperativeSticky];
        Arc::new(Consumer::new(c, own_cluster().await, vec![topic.clone()]).unwrap())
    };
    let a = consumer().await;
    let b = consumer().await;
    let (da, db) = (drain(a.clone()), drain(b.clone()));
    await_split(&[&a, &b], &topic, 6, &[3, 3]).await;
    let c = consumer().await;
    let dc = drain(c.clone());
    await_split(&[&a, &b, &c], &topic, 6, &[2, 2, 2]).await;
    // b leaves: a and c take over its partitions.
    b.close().await.unwrap();
    await_split(&[&a, &c], &topic, 6, &[3, 3]).await;
    // Everything produced is consumed by someone (at least once), no gaps.
    for p in 0..6 {
        produce(&cluster, &topic, p, &[format!("p{p}-late")]).await;
    }
    sleep(Duration::from_secs(3)).await;
    a.close().await.unwrap();
    c.close().await.unwrap();
    let mut seen: BTreeMap<i32, BTreeSet<i64>> = BTreeMap::new();
    for r in [da, db, dc] {
        for record in timeout(WAIT, r).await.unwrap().unwrap() {
            seen.entry(record.partition)
                .or_default()
                .insert(record.offset);
        }
    }
    for p in 0..6 {
        assert_eq!(seen.get(&p), Some(&(0..6).collect()), "partition {p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_range_group_of_three_splits_evenly() {
    let cluster = cluster().await;
    let topic = topic(&cluster, 6).await;
    let group = unique("g-range");
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(Arc::new(
            Consumer::new(config(&group), own_cluster().await, vec![topic.clone()]).unwrap(),
        ));
    }
    let drains: Vec<_> = members.iter().map(|m| drain(m.clone())).collect();
    let refs: Vec<&Consumer> = members.iter().map(|m| m.as_ref()).collect();
    await_split(&refs, &topic, 6, &[2, 2, 2]).await;
    for m in &members {
        m.close().await.unwrap();
    }
    for d in drains {
        timeout(WAIT, d).await.unwrap().unwrap();
    }
}

/// Polls until `n` records arrived (or panics after WAIT).
async fn take(consumer: &Consumer, n: usize) -> Vec<ConsumedRecord> {
    let mut got = Vec::new();
    while got.len() < n {
        let batch = timeout(WAIT, consumer.poll_batch(n - got.len()))
            .await
            .expect("records in time")
            .unwrap();
        got.extend(batch);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_right_after_the_last_commit() {
    let cluster = cluster().await;
    let topic = topic(&cluster, 1).await;
    produce(
        &cluster,
        &topic,
        0,
        &(0..10).map(|i| format!("m{i}")).collect::<Vec<_>>(),
    )
    .await;
    let group = unique("g-commit");

    // Manual commit: no auto-commit, commit after message 3.
    let mut manual = config(&group);
    manual.enable_auto_commit = false;
    let first = Consumer::new(manual.clone(), cluster.clone(), vec![topic.clone()]).unwrap();
    let records = take(&first, 10).await;
    assert_eq!(
        records.iter().map(value).collect::<Vec<_>>(),
        (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    first.commit_record(&records[3]).await.unwrap();
    first.close().await.unwrap();

    // Auto-commit of finished records: 4..=6 finished, 7 and later not.
    let second = Consumer::new(config(&group), cluster.clone(), vec![topic.clone()]).unwrap();
    let records = take(&second, 6).await;
    assert_eq!(
        records[0].offset, 4,
        "resumes right after the committed message"
    );
    for r in &records[..3] {
        second.mark_record_done(r);
    }
    second.close().await.unwrap();

    let third = Consumer::new(manual, cluster.clone(), vec![topic.clone()]).unwrap();
    let records = take(&third, 3).await;
    assert_eq!(
        records.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![7, 8, 9],
        "unfinished messages come back"
    );
    third.close().await.unwrap();
}

fn java_peer() -> Vec<String> {
    let peer = std::env::var("FLAME_KAFKA_JAVA_PEER").expect(
        "FLAME_KAFKA_JAVA_PEER is not set: eval \"$(bash protocol-tests/harness/kafka.sh env)\"",
    );
    peer.split_whitespace().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_hides_aborted_transactions() {
    let cluster = cluster().await;
    let topic = topic(&cluster, 1).await;
    let peer = java_peer();
    let args = [
        "txn-abort",
        "--bootstrap",
        &bootstrap(),
        "--topic",
        &topic,
        "--count",
        "5",
        "--partition",
        "0",
    ]
    .map(str::to_owned);
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&peer[0])
            .args(&peer[1..])
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run the Java peer")
    })
    .await
    .unwrap();
    assert!(status.success(), "java peer txn-abort failed: {status}");
    // A plain message after the transactions marks the end.
    produce(&cluster, &topic, 0, &["end".to_string()]).await;

    for (isolation, expected) in [
        (
            Isolation::ReadCommitted,
            (0..5)
                .map(|i| format!("committed-{i}"))
                .chain(["end".into()])
                .collect::<Vec<_>>(),
        ),
        (
            Isolation::ReadUncommitted,
            (0..5)
                .map(|i| format!("aborted-{i}"))
                .chain((0..5).map(|i| format!("committed-{i}")))
                .chain(["end".into()])
                .collect(),
        ),
    ] {
        let mut c = config(&unique("g-txn"));
        c.isolation_level = isolation;
        let consumer = Consumer::new(c, cluster.clone(), vec![topic.clone()]).unwrap();
        let got: Vec<String> = take(&consumer, expected.len())
            .await
            .iter()
            .map(value)
            .collect();
        assert_eq!(got, expected, "{isolation:?}");
        consumer.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_generation_protocol_splits_partitions() {
    let cluster = cluster().await;
    let topic = topic(&cluster, 6).await;
    for p in 0..6 {
        produce(&cluster, &topic, p, &[format!("p{p}")]).await;
    }
    let group = unique("g-kip848");
    let member = || async {
        let mut c = config(&group);
        c.group_protocol = GroupProtocol::Consumer;
        Arc::new(Consumer::new(c, own_cluster().await, vec![topic.clone()]).unwrap())
    };
    let a = member().await;
    let b = member().await;
    let (da, db) = (drain(a.clone()), drain(b.clone()));
    await_split(&[&a, &b], &topic, 6, &[3, 3]).await;
    b.close().await.unwrap();
    await_split(&[&a], &topic, 6, &[6]).await;
    sleep(Duration::from_secs(1)).await;
    a.close().await.unwrap();
    let mut seen = BTreeSet::new();
    for d in [da, db] {
        for r in timeout(WAIT, d).await.unwrap().unwrap() {
            seen.insert((r.partition, r.offset));
        }
    }
    assert_eq!(seen, (0..6).map(|p| (p, 0)).collect());
}

/// A flame-kafka member and a Java member share a group: each gets half the
/// partitions, whichever of them leads (the standard "consumer" protocol).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_group_with_the_java_client() {
    let cluster = cluster().await;
    for (ours, java_assignor) in [
        (
            Strategy::Range,
            "org.apache.kafka.clients.consumer.RangeAssignor",
        ),
        (
            Strategy::CooperativeSticky,
            "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
        ),
    ] {
        let topic = topic(&cluster, 6).await;
        for p in 0..6 {
            produce(
                &cluster,
                &topic,
                p,
                &(0..10).map(|i| format!("p{p}-{i}")).collect::<Vec<_>>(),
            )
            .await;
        }
        let group = unique("g-mixed");
        let mut c = config(&group);
        c.enable_auto_commit = false;
        c.partition_assignment_strategy = vec![ours];
        let flame = Consumer::new(c, own_cluster().await, vec![topic.clone()]).unwrap();
        await_split(&[&flame], &topic, 6, &[6]).await;

        let peer = java_peer();
        let args = [
            "consume",
            "--bootstrap",
            &bootstrap(),
            "--topic",
            &topic,
            "--group",
            &group,
            "--count",
            "30",
            "--from-beginning",
            "--timeout-ms",
            "45000",
            "--property",
            &format!("partition.assignment.strategy={java_assignor}"),
        ]
        .map(str::to_owned);
        let java = tokio::task::spawn_blocking(move || {
            std::process::Command::new(&peer[0])
                .args(&peer[1..])
                .args(args)
                .output()
                .expect("run the Java peer")
        });
        // While the Java member runs, ours must hold exactly the other half.
        let start = Instant::now();
        let mut halves = BTreeSet::new();
        while !java.is_finished() && start.elapsed() < WAIT {
            let mine: BTreeSet<i32> = flame
                .assignment()
                .await
                .unwrap()
                .iter()
                .map(|tp| tp.partition)
                .collect();
            if mine.len() == 3 {
                halves.insert(mine);
            }
            sleep(Duration::from_millis(50)).await;
        }
        let output = java.await.unwrap();
        assert!(
            output.status.success(),
            "java consume failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        let java_partitions: BTreeSet<i32> = stdout
            .lines()
            .filter_map(|l| {
                l.split("\"partition\":")
                    .nth(1)?
                    .split([',', '}'])
                    .next()?
                    .trim()
                    .parse()
                    .ok()
            })
            .collect();
        assert_eq!(stdout.lines().count(), 30, "{ours}: java got {stdout}");
        assert_eq!(
            java_partitions.len(),
            3,
            "{ours}: java consumed {java_partitions:?}"
        );
        let complement: BTreeSet<i32> = (0..6).filter(|p| !java_partitions.contains(p)).collect();
        assert!(
            halves.contains(&complement),
            "{ours}: flame held {halves:?}, java {java_partitions:?}"
        );
        flame.close().await.unwrap();
    }
}

/// A static member (`group.instance.id`) that restarts within the session timeout
/// gets its partitions back at once, and without disturbing the other member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_member_restart_keeps_its_partitions() {
    let cluster = cluster().await;
    let topic = topic(&cluster, 4).await;
    let group = unique("g-static");
    let member = |instance: &'static str| {
        let mut c = config(&group);
        c.group_instance_id = Some(instance.to_owned());
        c.session_timeout = Duration::from_secs(30);
        c
    };
    let a = Consumer::new(member("a"), own_cluster().await, vec![topic.clone()]).unwrap();
    let b = Consumer::new(member("b"), own_cluster().await, vec![topic.clone()]).unwrap();
    await_split(&[&a, &b], &topic, 4, &[2, 2]).await;
    let before = a.assignment().await.unwrap();
    a.close().await.unwrap();
    let restarted = Instant::now();
    let a = Consumer::new(member("a"), own_cluster().await, vec![topic.clone()]).unwrap();
    await_split(&[&a, &b], &topic, 4, &[2, 2]).await;
    assert!(
        restarted.elapsed() < Duration::from_secs(15),
        "took {:?}",
        restarted.elapsed()
    );
    assert_eq!(a.assignment().await.unwrap(), before);
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// Samples the consumers' assignments every 50 ms until stopped.
struct Watch {
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<Vec<Vec<BTreeSet<TopicPartition>>>>,
}

impl Watch {
    fn start(consumers: Vec<Arc<Consumer>>) -> Watch {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut samples = vec![Vec::new(); consumers.len()];
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                for (c, samples) in consumers.iter().zip(&mut samples) {
                    samples.push(c.assignment().await.unwrap().into_iter().collect());
                }
                sleep(Duration::from_millis(50)).await;
            }
            samples
        });
        Watch { stop, task }
    }

    /// Every sample, per consumer.
    async fn stop(self) -> Vec<Vec<BTreeSet<TopicPartition>>> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

/// Cooperative members that stay in the group through a rebalance keep partitions
/// all along and end with a subset of what they had; a member evicted (its
/// heartbeats stuck) would drop to nothing and be assigned afresh.
fn assert_rode_it_out(
    samples: &[Vec<BTreeSet<TopicPartition>>],
    before: &[BTreeSet<TopicPartition>],
    what: &str,
) {
    for (i, (samples, before)) in samples.iter().zip(before).enumerate() {
        assert!(samples.len() > 5, "{what}: too few samples");
        for s in samples {
            assert!(
                !s.is_empty() && s.is_subset(before),
                "{what}: member {i} held {s:?}, had {before:?} before"
            );
        }
    }
}

/// Three members of one group on ONE `Cluster`, and one connection per broker
/// for the cluster's own (shared) requests. A newcomer's JoinGroup is held by the
/// coordinator until the others rejoin; they learn of the rebalance from their
/// heartbeats, which must therefore not wait behind that JoinGroup. With a 6 s
/// session a stuck heartbeat means eviction well within the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_sharing_one_cluster_split_partitions_and_ride_out_rebalances() {
    let cluster = cluster().await;
    let topic = topic(&cluster, 6).await;
    for p in 0..6 {
        produce(
            &cluster,
            &topic,
            p,
            &(0..5).map(|i| format!("p{p}-{i}")).collect::<Vec<_>>(),
        )
        .await;
    }
    let group = unique("g-shared");
    let consumer = || {
        let mut c = config(&group);
        c.partition_assignment_strategy = vec![Strategy::CooperativeSticky];
        c.session_timeout = Duration::from_secs(6);
        c.heartbeat_interval = Duration::from_millis(300);
        Arc::new(Consumer::new(c, cluster.clone(), vec![topic.clone()]).unwrap())
    };
    let a = consumer();
    let b = consumer();
    let (da, db) = (drain(a.clone()), drain(b.clone()));
    await_split(&[&a, &b], &topic, 6, &[3, 3]).await;

    // c joins: a and b each hand one partition over, and keep the rest throughout.
    let before = assignments(&[&a, &b]).await;
    let watch = Watch::start(vec![a.clone(), b.clone()]);
    let c = consumer();
    let dc = drain(c.clone());
    await_split(&[&a, &b, &c], &topic, 6, &[2, 2, 2]).await;
    // Then the group stays put for longer than a session: heartbeats get through.
    let settled = assignments(&[&a, &b, &c]).await;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(7) {
        assert_eq!(
            assignments(&[&a, &b, &c]).await,
            settled,
            "rebalanced again"
        );
        sleep(Duration::from_millis(200)).await;
    }
    assert_rode_it_out(&watch.stop().await, &before, "c joining");

    // b leaves: a and c take its partitions over, keeping their own.
    let before = assignments(&[&a, &c]).await;
    let watch = Watch::start(vec![a.clone(), c.clone()]);
    b.close().await.unwrap();
    await_split(&[&a, &c], &topic, 6, &[3, 3]).await;
    let samples = watch.stop().await;
    for (i, (samples, before)) in samples.iter().zip(&before).enumerate() {
        for s in samples {
            assert!(
                s.is_superset(before),
                "b leaving: member {i} held {s:?}, had {before:?} before"
            );
        }
    }

    // Everything produced is consumed by someone (at least once), no gaps.
    for p in 0..6 {
        produce(&cluster, &topic, p, &[format!("p{p}-late")]).await;
    }
    sleep(Duration::from_secs(3)).await;
    a.close().await.unwrap();
    c.close().await.unwrap();
    let mut seen: BTreeMap<i32, BTreeSet<i64>> = BTreeMap::new();
    for r in [da, db, dc] {
        for record in timeout(WAIT, r).await.unwrap().unwrap() {
            seen.entry(record.partition)
                .or_default()
                .insert(record.offset);
        }
    }
    for p in 0..6 {
        assert_eq!(seen.get(&p), Some(&(0..6).collect()), "partition {p}");
    }
}

/// Captures this thread's log events at WARN and above (a current-thread test
/// runtime runs every task it spawns on this thread).
fn capture_warnings() -> (
    Arc<std::sync::Mutex<Vec<u8>>>,
    tracing::subscriber::DefaultGuard,
) {
    capture(tracing::Level::WARN)
}

/// Captures this thread's log events at `level` and above.
fn capture(
    level: tracing::Level,
) -> (
    Arc<std::sync::Mutex<Vec<u8>>>,
    tracing::subscriber::DefaultGuard,
) {
    struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(move || Sink(sink.clone()))
        .finish();
    (buffer, tracing::subscriber::set_default(subscriber))
}

/// A member that joins `group` and then vanishes without leaving, as a crashed
/// process: the coordinator keeps it until its session times out, and holds the
/// next rebalance for it until the rebalance timeout (`max.poll.interval.ms`).
fn vanishing_member(config: ConsumerConfig, topic: String, partitions: i32) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let consumer = runtime.block_on(async {
        let consumer = Consumer::new(config, own_cluster().await, vec![topic.clone()]).unwrap();
        let all = usize::try_from(partitions).unwrap();
        await_split(&[&consumer], &topic, partitions, &[all]).await;
        consumer
    });
    // Dropping the runtime first drops its tasks unrun: no commit, no LeaveGroup.
    drop(runtime);
    drop(consumer);
}

/// The coordinator holds a JoinGroup until every member rejoins or the rebalance
/// timeout passes; here a vanished member makes it wait out that timeout (6 s),
/// far beyond `request.timeout.ms` (2 s). The JoinGroup must be given the
/// rebalance timeout + 5 s, as the Java client does, instead of timing out (and
/// closing its connection) at the request timeout.
#[tokio::test]
async fn a_join_held_beyond_the_request_timeout_is_waited_for() {
    let mut cluster_config = ClusterConfig::new(bootstrap());
    cluster_config.request_timeout = Duration::from_secs(2);
    let cluster = Cluster::connect(cluster_config).await.unwrap();
    let topic = topic(&cluster, 2).await;
    let group = unique("g-held");
    let member = |session: u64| {
        let mut c = config(&group);
        c.max_poll_interval = Duration::from_secs(6);
        c.session_timeout = Duration::from_secs(session);
        c
    };
    let (ghost, ghost_topic) = (member(60), topic.clone());
    // On a thread (and runtime) of its own, which it takes down with it.
    let ghost = std::thread::spawn(move || vanishing_member(ghost, ghost_topic, 2));
    tokio::task::spawn_blocking(move || ghost.join())
        .await
        .unwrap()
        .unwrap();

    let (warnings, _guard) = capture_warnings();
    let started = Instant::now();
    let consumer =
        Arc::new(Consumer::new(member(10), cluster.clone(), vec![topic.clone()]).unwrap());
    let drained = drain(consumer.clone());
    await_split(&[&consumer], &topic, 2, &[2]).await;
    let held = started.elapsed();
    consumer.close().await.unwrap();
    timeout(WAIT, drained).await.unwrap().unwrap();
    assert!(
        held >= Duration::from_secs(4),
        "the coordinator was to hold the JoinGroup for the vanished member; took {held:?}"
    );
    let warnings = String::from_utf8(warnings.lock().unwrap().clone()).unwrap();
    assert!(
        !warnings.contains("timed out"),
        "a request timed out:\n{warnings}"
    );
}

/// Polls `consumer` in the background, marking everything done at once; returns
/// what it got and when.
fn drain_timed(consumer: Arc<Consumer>) -> tokio::task::JoinHandle<Vec<(ConsumedRecord, Instant)>> {
    tokio::spawn(async move {
        let mut got = Vec::new();
        loop {
            match consumer.poll_batch(100).await {
                Ok(batch) => {
                    let at = Instant::now();
                    for r in batch {
                        consumer.mark_record_done(&r);
                        got.push((r, at));
                    }
                }
                Err(ConsumeError::Closed) => return got,
                Err(e) if e.is_retriable() => {}
                Err(e) => panic!("poll failed: {e}"),
            }
        }
    })
}

/// How the first member takes its batch, and how it says it has finished it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Style {
    /// `poll_batch` until it holds every record, then `mark_record_done`.
    BatchMarkDone,
    /// One `poll()` (the consumer keeps the rest of the fetched batch for later
    /// calls), then `mark_record_done`.
    OneRecordMarkDone,
    /// `poll_batch`, then the next poll call (`done_on_next_poll`, Java style).
    BatchNextPoll,
    /// `poll_batch`, hand the batch to another task that marks it done later, and
    /// poll on meanwhile (as the flame API's `run` does): polling again must not
    /// count as finishing it.
    BatchElsewhere,
}

/// The report's scenario: member A takes records and works on them for `hold`
/// without touching the consumer; B joins meanwhile. The revocation that hands
/// A's partitions to B must wait until A has finished what it holds: B must not
/// be handed any record A is still working on, records A had fetched but not
/// started must not reach A after the hand-over, and nothing may be lost.
async fn newcomer_waits_for_the_records_in_flight(
    protocol: GroupProtocol,
    strategy: Strategy,
    style: Style,
    hold: Duration,
) {
    const PER_PARTITION: usize = 50;
    let cluster = cluster().await;
    let topic = topic(&cluster, 2).await;
    for p in 0..2 {
        produce(
            &cluster,
            &topic,
            p,
            &(0..PER_PARTITION)
                .map(|i| format!("p{p}-{i}"))
                .collect::<Vec<_>>(),
        )
        .await;
    }
    let group = unique("g-handover");
    let member = || {
        let mut c = config(&group);
        c.group_protocol = protocol;
        c.partition_assignment_strategy = vec![strategy];
        c.done_on_next_poll = style == Style::BatchNextPoll;
        c
    };
    let a = Arc::new(Consumer::new(member(), own_cluster().await, vec![topic.clone()]).unwrap());
    let held: Vec<ConsumedRecord> = match style {
        Style::OneRecordMarkDone => {
            // Wait until A has fetched everything, so that the rest of its batch
            // waits in the consumer for later poll() calls.
            await_split(&[&a], &topic, 2, &[2]).await;
            sleep(Duration::from_secs(2)).await;
            vec![timeout(WAIT, a.poll()).await.unwrap().unwrap()]
        }
        Style::BatchMarkDone | Style::BatchElsewhere => take(&a, 2 * PER_PARTITION).await,
        Style::BatchNextPoll => {
            // Only the last poll's records are in flight in this style.
            let mut last = Vec::new();
            let mut total = 0;
            while total < 2 * PER_PARTITION {
                last = timeout(WAIT, a.poll_batch(2 * PER_PARTITION - total))
                    .await
                    .unwrap()
                    .unwrap();
                total += last.len();
            }
            last
        }
    };
    let in_flight: BTreeSet<(i32, i64)> = held.iter().map(|r| (r.partition, r.offset)).collect();
    let early = (style == Style::BatchElsewhere).then(|| drain_timed(a.clone()));

    // B joins while A works on its records (without touching the consumer, but
    // for BatchElsewhere, which polls on).
    let b = Arc::new(Consumer::new(member(), own_cluster().await, vec![topic.clone()]).unwrap());
    let db = drain_timed(b.clone());
    // No partition moves to B before A has finished what it holds.
    let holding = Instant::now();
    while holding.elapsed() < hold {
        let got = b.assignment().await.unwrap();
        assert!(
            got.is_empty(),
            "{protocol:?}/{strategy}/{style:?}: B was assigned {got:?} after {:?}, \
             while A still works on its records",
            holding.elapsed()
        );
        sleep(Duration::from_millis(100)).await;
    }
    let finished = Instant::now();
    if style != Style::BatchNextPoll {
        for r in &held {
            a.mark_record_done(r);
        }
    }
    // A polls again (for BatchNextPoll, this finishes the batch).
    let da = early.unwrap_or_else(|| drain_timed(a.clone()));
    await_split(&[&a, &b], &topic, 2, &[1, 1]).await;
    for p in 0..2 {
        produce(&cluster, &topic, p, &[format!("p{p}-late")]).await;
    }
    let last = i64::try_from(PER_PARTITION).unwrap();
    // Let the late records be consumed.
    sleep(Duration::from_secs(3)).await;
    a.close().await.unwrap();
    b.close().await.unwrap();
    let got_a = timeout(WAIT, da).await.unwrap().unwrap();
    let got_b = timeout(WAIT, db).await.unwrap().unwrap();

    let what = format!("{protocol:?}/{strategy}/{style:?}");
    for (r, at) in &got_b {
        assert!(
            !in_flight.contains(&(r.partition, r.offset)) || *at >= finished,
            "{what}: B was handed {}-{} {:?} before A finished it",
            r.partition,
            r.offset,
            finished.saturating_duration_since(*at)
        );
    }
    // Every record is processed once: those A was working on were committed at
    // the hand-over (B never gets them), and those A had fetched but not handed
    // out went to whoever owns their partition after it, once. (BatchNextPoll:
    // `held` is only A's last batch; its earlier ones are not checked.)
    let mut seen: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for r in got_a.iter().chain(&got_b).map(|(r, _)| r).chain(&held) {
        *seen.entry((r.partition, r.offset)).or_default() += 1;
    }
    for p in 0..2 {
        for o in 0..=last {
            if style != Style::BatchNextPoll || in_flight.contains(&(p, o)) || o == last {
                assert_eq!(
                    seen.get(&(p, o)),
                    Some(&1),
                    "{what}: partition {p} offset {o} (in flight at A: {})",
                    in_flight.contains(&(p, o))
                );
            }
        }
    }
}

/// How long member A works on its batch in the hand-over tests.
const HOLD: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_handover_waits_for_the_records_in_flight() {
    newcomer_waits_for_the_records_in_flight(
        GroupProtocol::Classic,
        Strategy::Range,
        Style::BatchMarkDone,
        HOLD,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_handover_waits_for_the_records_in_flight() {
    newcomer_waits_for_the_records_in_flight(
        GroupProtocol::Classic,
        Strategy::CooperativeSticky,
        Style::BatchMarkDone,
        HOLD,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_generation_handover_waits_for_the_records_in_flight() {
    newcomer_waits_for_the_records_in_flight(
        GroupProtocol::Consumer,
        Strategy::Range,
        Style::BatchMarkDone,
        // The broker tells members of a new assignment in its heartbeat answers,
        // every 5 s by default: hold longer than that.
        Duration::from_secs(8),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handover_drops_records_fetched_but_not_handed_out() {
    newcomer_waits_for_the_records_in_flight(
        GroupProtocol::Classic,
        Strategy::Range,
        Style::OneRecordMarkDone,
        HOLD,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handover_waits_for_records_processed_while_polling_on() {
    newcomer_waits_for_the_records_in_flight(
        GroupProtocol::Classic,
        Strategy::CooperativeSticky,
        Style::BatchElsewhere,
        HOLD,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_style_handover_waits_for_the_next_poll() {
    newcomer_waits_for_the_records_in_flight(
        GroupProtocol::Classic,
        Strategy::Range,
        Style::BatchNextPoll,
        HOLD,
    )
    .await;
}

/// An application that never finishes its records does not keep its partitions
/// from the group for ever: the hand-over gives up shortly before the rebalance
/// timeout (`max.poll.interval.ms`, 6 s here, less two 500 ms heartbeat
/// intervals), with a warning, and the newcomer gets the records.
#[tokio::test]
async fn handover_gives_up_waiting_before_the_rebalance_timeout() {
    let cluster = cluster().await;
    let topic = topic(&cluster, 1).await;
    produce(
        &cluster,
        &topic,
        0,
        &(0..10).map(|i| format!("m{i}")).collect::<Vec<_>>(),
    )
    .await;
    let group = unique("g-handover-timeout");
    let mut c = config(&group);
    c.max_poll_interval = Duration::from_secs(6);
    let (warnings, _guard) = capture_warnings();
    let a = Arc::new(Consumer::new(c.clone(), own_cluster().await, vec![topic.clone()]).unwrap());
    let held = take(&a, 10).await;
    let joined = Instant::now();
    let b = Arc::new(Consumer::new(c, own_cluster().await, vec![topic.clone()]).unwrap());
    let db = drain_timed(b.clone());
    // A neither marks its records done nor polls again.
    let start = Instant::now();
    while b.assignment().await.unwrap().is_empty() {
        assert!(start.elapsed() < WAIT, "B never got the partition");
        sleep(Duration::from_millis(100)).await;
    }
    sleep(Duration::from_secs(1)).await;
    b.close().await.unwrap();
    let got = timeout(WAIT, db).await.unwrap().unwrap();
    let first = got
        .iter()
        .map(|(_, at)| at.duration_since(joined))
        .min()
        .expect("B got the records");
    assert!(
        first >= Duration::from_millis(4_500),
        "B got A's unfinished records after {first:?}, before the hand-over timed out"
    );
    let offsets: BTreeSet<i64> = got.iter().map(|(r, _)| r.offset).collect();
    assert_eq!(
        offsets,
        held.iter().map(|r| r.offset).collect(),
        "nothing finished, so nothing was committed"
    );
    let warnings = String::from_utf8(warnings.lock().unwrap().clone()).unwrap();
    assert!(
        warnings.contains("handing the partitions over anyway"),
        "no warning:\n{warnings}"
    );
    a.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_for_a_partition_moved_to_another_member_is_refused() {
    let cluster = cluster().await;
    let topic = topic(&cluster, 2).await;
    for p in 0..2 {
        produce(&cluster, &topic, p, &[format!("p{p}")]).await;
    }
    let group = unique("g-moved");
    let mut manual = config(&group);
    manual.enable_auto_commit = false;

    // A alone owns both partitions and finishes one record of each.
    let a = Consumer::new(manual.clone(), cluster.clone(), vec![topic.clone()]).unwrap();
    let records = take(&a, 2).await;
    for r in &records {
        a.mark_record_done(r);
    }
    // B joins: each ends up with one partition.
    let b = Arc::new(Consumer::new(manual, own_cluster().await, vec![topic.clone()]).unwrap());
    let drained = drain(b.clone());
    await_split(&[&a, &b], &topic, 2, &[1, 1]).await;

    let owned: BTreeSet<TopicPartition> = a.assignment().await.unwrap().into_iter().collect();
    let (kept, moved): (Vec<_>, Vec<_>) = records
        .iter()
        .partition(|r| owned.contains(&TopicPartition::new(topic.as_str(), r.partition)));
    let (kept, moved) = (kept[0], moved[0]);
    match a.commit_record(moved).await {
        Err(e @ ConsumeError::NotAssigned { .. }) => {
            assert!(!e.is_retriable(), "{e}");
            assert!(e.to_string().contains(topic.as_str()), "{e}");
        }
        other => panic!("commit of the moved partition: {other:?}"),
    }
    a.commit_record(kept)
        .await
        .expect("commit of the kept partition");

    b.close().await.unwrap();
    let b_got = drained.await.unwrap();
    assert_eq!(b_got.len(), 1, "B reads the moved partition's record again");
    assert_eq!(b_got[0].partition, moved.partition);
    a.close().await.unwrap();
}

/// KIP-392 on the three-node cluster (one rack per node, `RackAwareReplicaSelector`):
/// a consumer in a follower's rack is told by the leader to read from that
/// follower, reads everything from it in order, and keeps up with new records.
#[tokio::test]
async fn a_consumer_reads_from_the_follower_in_its_rack() {
    let bootstrap = std::env::var("FLAME_KAFKA_CLUSTER_BOOTSTRAP")
        .expect("FLAME_KAFKA_CLUSTER_BOOTSTRAP (kafka.sh start cluster; eval kafka.sh env)");
    let cluster = Cluster::connect(ClusterConfig::new(bootstrap))
        .await
        .expect("connect to the cluster");
    let topic = unique("flame-follower");
    cluster
        .create_topics(&[(&topic, 1, 3)])
        .await
        .expect("create topic");
    let values: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    produce(&cluster, &topic, 0, &values).await;
    let (leader, _) = cluster.leader(&topic, 0).await.unwrap();
    let follower = (1..=3).find(|&n| n != leader.0).unwrap();

    let (log, _guard) = capture(tracing::Level::DEBUG);
    let mut config = config(&unique("g-follower"));
    config.client_rack = Some(format!("r{follower}"));
    let consumer = Consumer::new(config, cluster.clone(), vec![topic.clone()]).unwrap();
    let got = take(&consumer, 100).await;
    assert_eq!(got.iter().map(value).collect::<Vec<_>>(), values);
    // New records reach the follower (up to the high watermark) and are read there.
    let more: Vec<String> = (100..150).map(|i| format!("m{i}")).collect();
    produce(&cluster, &topic, 0, &more).await;
    let got = take(&consumer, 50).await;
    assert_eq!(got.iter().map(value).collect::<Vec<_>>(), more);
    assert_eq!(got.last().unwrap().offset, 149);
    consumer.close().await.unwrap();

    let log = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains(&format!(
            "the leader names a replica to read from tp={topic}-0 replica=node {follower}"
        )),
        "leader {leader:?}, follower {follower}; log:\n{log}"
    );
    assert!(!log.contains("reading from the leader again"), "{log}");
    cluster.delete_topics(&[topic.as_str()]).await.ok();
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: eval \"$(bash protocol-tests/harness/kafka.sh env)\"")
    })
}

/// KIP-368: kafka.sh gives SASL_PLAINTEXT sessions a 3 s lifetime and the broker
/// closes a connection used after its session expired. A group member over SASL
/// that heartbeats, long-polls, commits and receives a record every 200 ms for
/// four lifetimes gets every record, in order, over the connections it started
/// with: their sessions are renewed in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_over_sasl_outlives_its_sessions() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mut cluster_config = ClusterConfig::new(env("FLAME_KAFKA_SASL_BOOTSTRAP"));
    cluster_config.security = flame_kafka_cluster::security::Security::SaslPlaintext(
        flame_kafka_cluster::security::SaslConfig::scram_sha512(
            env("FLAME_KAFKA_SASL_USER"),
            env("FLAME_KAFKA_SASL_PASSWORD"),
        ),
    );
    let cluster = Cluster::connect(cluster_config).await.unwrap();
    let topic = topic(&cluster, 1).await;
    let consumer = Consumer::new(
        config(&unique("g-sasl")),
        cluster.clone(),
        vec![topic.clone()],
    )
    .unwrap();
    // Warm up: joined, fetching, committing.
    produce(&cluster, &topic, 0, &["m0".to_owned()]).await;
    let first = take(&consumer, 1).await;
    consumer.mark_record_done(&first[0]);
    sleep(Duration::from_secs(1)).await;
    let before = cluster.connection_stats();
    let started = Instant::now();
    let mut n = 1;
    while started.elapsed() < Duration::from_secs(12) {
        let sent = format!("m{n}");
        produce(&cluster, &topic, 0, std::slice::from_ref(&sent)).await;
        let got = take(&consumer, 1).await;
        assert_eq!(value(&got[0]), sent, "after {:?}", started.elapsed());
        assert_eq!(got[0].offset, n);
        consumer.mark_record_done(&got[0]);
        n += 1;
        sleep(Duration::from_millis(200)).await;
    }
    let after = cluster.connection_stats();
    assert_eq!(
        after.opened, before.opened,
        "reconnected: {before:?} -> {after:?}"
    );
    assert!(
        after.reauthenticated - before.reauthenticated >= 3,
        "{before:?} -> {after:?}"
    );
    consumer.close().await.unwrap();
}
