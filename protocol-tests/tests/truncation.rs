//! Log truncation after an unclean leader election (KIP-320), on the three-node
//! KRaft cluster (`kafka.sh start cluster`):
//!
//! ```text
//! eval "$(bash protocol-tests/harness/kafka.sh env)"
//! cargo test -p flame-kafka-protocol-tests --test truncation -- --nocapture
//! ```
//!
//! A one-partition topic with two replicas (leader L, follower F),
//! `unclean.leader.election.enable=true` and `min.insync.replicas=1`:
//!
//! 1. 5 records `a*` (acks=all) reach both replicas (offsets 0..4, leader epoch e0).
//! 2. F is killed; once the controller fences it, the ISR is [L] alone and 10
//!    records `b*` (acks=1) go to L only (offsets 5..14). Consumers read them all;
//!    two groups commit offset 15 with the records' epoch e0.
//! 3. L is killed and F restarted. When the controller fences L, it elects F
//!    although F is not in the ISR (Kafka 4.1 logs "UNCLEAN partition change ...
//!    leaderEpoch: e0 -> e1"): F's log ends at 5, and 3 records `c*` written to it
//!    take offsets 5..7. The `b*` records are gone, the log has diverged.
//! 4. The broker's verdict, asked directly: a Fetch v12 from 15 without
//!    `last_fetched_epoch` gets `OFFSET_OUT_OF_RANGE` (what a client without
//!    KIP-320 sees: `auto.offset.reset=latest` would then jump to 8 and skip every
//!    `c*`); with `last_fetched_epoch` = e0 it gets `diverging_epoch {e0, 5}`.
//! 5. The consumers: one that read through the failover, and one that resumes
//!    from the committed offset (15, epoch e0), both with `auto.offset.reset=latest`,
//!    land at the divergence point 5 and read `c0 c1 c2` at 5, 6, 7 — none
//!    skipped. One with `auto.offset.reset=error` gets `FetchError::LogTruncation`
//!    (position 15, divergence offset 5). The first one then commits 8, the
//!    position in the new log, not the lost 15.
//!
//! The killed nodes are restarted when the test ends, also when it fails, and the
//! test waits until all three brokers are back with a full ISR everywhere.
// Test helpers panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use flame_kafka_cluster::{BrokerId, Cluster, ClusterConfig, NewTopic, Purpose};
use flame_kafka_codec::messages::fetch_request::{FetchPartition, FetchTopic};
use flame_kafka_codec::messages::{FetchRequest, TopicName};
use flame_kafka_codec::protocol::StrBytes;
use flame_kafka_codec::KafkaCode;
use flame_kafka_group::{ConsumeError, Consumer, ConsumerConfig, FetchError, OffsetReset};
use flame_kafka_producer::{Acks, Producer, ProducerConfig, ProducerRecord};
use flame_kafka_protocol_tests::admin::{committed_offsets, find_coordinator};
use flame_kafka_protocol_tests::{cluster_bootstrap, harness, unique_name};
use tokio::time::{sleep, timeout};

/// Nodes this test killed and has not restarted yet.
static DOWN: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());
/// The test's topic, deleted at the end.
static TOPIC: Mutex<Option<String>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn start_time() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

fn log(message: impl AsRef<str>) {
    println!(
        "[truncation +{:6.2}s] {}",
        start_time().elapsed().as_secs_f64(),
        message.as_ref()
    );
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

async fn kill(node: i32) {
    lock(&DOWN).insert(node);
    let n = node.to_string();
    blocking(move || harness(&["kill-node", &n]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    log(format!("killed node {node}"));
}

async fn restart(node: i32) {
    let n = node.to_string();
    blocking(move || harness(&["restart-node", &n]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    lock(&DOWN).remove(&node);
    log(format!("restarted node {node}"));
}

fn cluster_config(request_timeout: Duration) -> ClusterConfig {
    let mut config = ClusterConfig::new(cluster_bootstrap());
    config.client_id = "flame-truncation".into();
    config.request_timeout = request_timeout;
    config.connect_timeout = Duration::from_secs(3);
    config.reconnect_backoff_max = Duration::from_secs(1);
    config
}

async fn connect() -> Cluster {
    Cluster::connect(cluster_config(Duration::from_secs(5)))
        .await
        .unwrap_or_else(|e| panic!("connect to the cluster: {e}"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Polls `check` every 300 ms until it answers `Ok`, or panics after `within`.
async fn wait_for<T, Fut: Future<Output = Result<T, String>>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> Fut,
) -> T {
    let started = Instant::now();
    loop {
        match check().await {
            Ok(t) => {
                log(format!("{what} ({:.1}s)", started.elapsed().as_secs_f64()));
                return t;
            }
            Err(e) if started.elapsed() > within => {
                panic!("{what}: not after {within:?}: {e}")
            }
            Err(_) => sleep(Duration::from_millis(300)).await,
        }
    }
}

/// Three brokers in the metadata, every partition of `topics` led and in full ISR.
async fn healthy(topics: &[String]) -> Result<(), String> {
    let status = blocking(|| harness(&["status"])).await?;
    if let Some(line) = status
        .lines()
        .find(|l| l.starts_with("node ") && !l.starts_with("node single") && !l.contains("running"))
    {
        return Err(format!("harness: {line}"));
    }
    let cluster = Cluster::connect(cluster_config(Duration::from_secs(3)))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let metadata = cluster
        .ensure_topics(topics)
        .await
        .map_err(|e| format!("metadata: {e}"))?;
    if metadata.brokers.len() != 3 {
        return Err(format!("brokers: {:?}", metadata.brokers.keys()));
    }
    for topic in topics {
        let Some(t) = metadata.topic(topic) else {
            if topic == "__consumer_offsets" {
                continue;
            }
            return Err(format!("{topic}: not in metadata"));
        };
        for p in &t.partitions {
            let isr: BTreeSet<i32> = p.isr.iter().map(|b| b.0).collect();
            let replicas: BTreeSet<i32> = p.replicas.iter().map(|b| b.0).collect();
            if p.leader.is_none() || isr != replicas {
                return Err(format!(
                    "{topic}[{}]: leader {:?}, replicas {replicas:?}, isr {isr:?}",
                    p.partition, p.leader
                ));
            }
        }
    }
    Ok(())
}

/// Restarts every node the test killed and waits for a healthy cluster, whether the
/// test passed or panicked; then deletes the topic.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        let topic = lock(&TOPIC).take();
        let outcome = std::thread::spawn(move || -> Result<(), String> {
            let mut errors = Vec::new();
            let down: Vec<i32> = lock(&DOWN).iter().copied().collect();
            for node in down {
                match harness(&["restart-node", &node.to_string()]) {
                    Ok(_) => {
                        lock(&DOWN).remove(&node);
                        eprintln!("[truncation] restarted node {node}");
                    }
                    Err(e) => errors.push(e),
                }
            }
            runtime().block_on(async {
                let mut topics = vec!["__consumer_offsets".to_owned()];
                topics.extend(topic.clone());
                let started = Instant::now();
                loop {
                    match healthy(&topics).await {
                        Ok(()) => break,
                        Err(e) if started.elapsed() > Duration::from_secs(120) => {
                            errors.push(format!("cluster not healthy after 120 s: {e}"));
                            break;
                        }
                        Err(_) => sleep(Duration::from_millis(300)).await,
                    }
                }
                if let Some(topic) = &topic {
                    if let Ok(cluster) =
                        Cluster::connect(cluster_config(Duration::from_secs(10))).await
                    {
                        let _ = cluster.delete_topics(&[topic.as_str()]).await;
                    }
                }
            });
            if errors.is_empty() {
                Ok(())
            } else {
                Err(errors.join("; "))
            }
        })
        .join()
        .unwrap_or_else(|_| Err("the restore thread panicked".to_owned()));
        log("cluster restored");
        if let Err(problem) = outcome {
            if panicking {
                eprintln!("[truncation] restoring the cluster after a failure: {problem}");
            } else {
                panic!("restoring the cluster: {problem}");
            }
        }
    }
}

// ------------------------------------------------------------------ helpers

/// (leader, leader epoch, replicas, isr) of partition 0, from fresh metadata.
async fn partition_state(
    cluster: &Cluster,
    topic: &str,
) -> Result<(i32, i32, Vec<i32>, Vec<i32>), String> {
    let metadata = cluster
        .refresh_metadata()
        .await
        .map_err(|e| format!("metadata: {e}"))?;
    let p = metadata
        .partition(topic, 0)
        .ok_or_else(|| format!("{topic}[0] not in metadata"))?;
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    Ok((
        p.leader.map_or(-1, |b| b.0),
        p.leader_epoch,
        ids(&p.replicas),
        ids(&p.isr),
    ))
}

async fn produce(cluster: &Cluster, topic: &str, acks: Acks, values: &[String]) -> Vec<i64> {
    let producer = Producer::new(
        ProducerConfig {
            acks,
            enable_idempotence: Some(false),
            linger: Duration::from_millis(1),
            message_timeout: Duration::from_secs(30),
            ..ProducerConfig::default()
        },
        cluster.clone(),
    )
    .expect("producer");
    let mut deliveries = Vec::new();
    for value in values {
        let record = ProducerRecord::new(topic).partition(0).value(value.clone());
        deliveries.push(producer.send(record).await.expect("queued"));
    }
    let mut offsets = Vec::new();
    for d in deliveries {
        offsets.push(d.await.expect("delivered").offset);
    }
    producer
        .close(Duration::from_secs(10))
        .await
        .expect("close");
    offsets
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// What a consumer handed out: (offset, leader epoch, value).
type Seen = Arc<Mutex<Vec<(i64, i32, String)>>>;

/// A consumer polling in a task of its own, collecting records and errors.
struct Reader {
    consumer: Arc<Consumer>,
    seen: Seen,
    errors: Arc<Mutex<Vec<ConsumeError>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

fn consumer_config(group: &str, reset: OffsetReset) -> ConsumerConfig {
    let mut config = ConsumerConfig::new(group);
    config.auto_offset_reset = reset;
    config.enable_auto_commit = false;
    config.session_timeout = Duration::from_secs(45);
    config.fetch_wait_max = Duration::from_millis(200);
    config
}

fn spawn_reader(cluster: &Cluster, topic: &str, group: &str, reset: OffsetReset) -> Reader {
    let consumer = Arc::new(
        Consumer::new(
            consumer_config(group, reset),
            cluster.clone(),
            vec![topic.to_owned()],
        )
        .expect("consumer"),
    );
    let seen: Seen = Arc::default();
    let errors: Arc<Mutex<Vec<ConsumeError>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let task = {
        let (consumer, seen, errors, stop) = (
            Arc::clone(&consumer),
            Arc::clone(&seen),
            Arc::clone(&errors),
            Arc::clone(&stop),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                match timeout(Duration::from_millis(300), consumer.poll_batch(100)).await {
                    Err(_) => {}
                    Ok(Ok(batch)) => {
                        for r in &batch {
                            let value = r
                                .value
                                .as_ref()
                                .map(|v| String::from_utf8_lossy(v).into_owned())
                                .unwrap_or_default();
                            lock(&seen).push((r.offset, r.leader_epoch, value));
                            consumer.mark_record_done(r);
                        }
                    }
                    Ok(Err(e)) => {
                        let fatal = e.is_fatal();
                        lock(&errors).push(e);
                        if fatal {
                            return;
                        }
                        sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        })
    };
    Reader {
        consumer,
        seen,
        errors,
        stop,
        task,
    }
}

impl Reader {
    fn seen(&self) -> Vec<(i64, i32, String)> {
        lock(&self.seen).clone()
    }

    fn errors(&self) -> Vec<String> {
        lock(&self.errors).iter().map(ToString::to_string).collect()
    }

    async fn wait_offset(&self, offset: i64, within: Duration) {
        wait_for(
            &format!("consumer read offset {offset}"),
            within,
            || async {
                if self.seen().iter().any(|(o, _, _)| *o == offset) {
                    Ok(())
                } else {
                    Err(format!(
                        "seen {:?}, errors {:?}",
                        self.seen(),
                        self.errors()
                    ))
                }
            },
        )
        .await;
    }

    async fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = timeout(Duration::from_secs(5), self.task).await;
        let _ = timeout(Duration::from_secs(15), self.consumer.close()).await;
    }
}

/// A raw Fetch v12 of partition 0 from `offset` on `node`, naming
/// `last_fetched_epoch`: the error code and the `diverging_epoch` (epoch, end offset).
async fn raw_fetch(
    cluster: &Cluster,
    node: i32,
    topic: &str,
    offset: i64,
    current_epoch: i32,
    last_fetched_epoch: i32,
) -> Result<(Option<KafkaCode>, (i32, i64)), String> {
    let topic = topic.to_owned();
    let (response, version) = cluster
        .send_with(BrokerId(node), Purpose::Fetch, |_| {
            FetchRequest::default()
                .with_max_wait_ms(0)
                .with_min_bytes(1)
                .with_max_bytes(1 << 20)
                .with_topics(vec![FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic)))
                    .with_partitions(vec![FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(offset)
                        .with_current_leader_epoch(current_epoch)
                        .with_last_fetched_epoch(last_fetched_epoch)
                        .with_partition_max_bytes(1 << 20)])])
        })
        .await
        .map_err(|e| format!("fetch: {e}"))?;
    if version != 12 {
        return Err(format!("Fetch v{version}, not v12"));
    }
    let p = response
        .responses
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or("no partition in the answer")?;
    Ok((
        KafkaCode::from_code(p.error_code),
        (p.diverging_epoch.epoch, p.diverging_epoch.end_offset),
    ))
}

/// Reads the partition from the committed offset of a fresh member of `group`;
/// commits (offset after the last record, its epoch) once `last` was read.
async fn read_and_commit(cluster: &Cluster, topic: &str, group: &str, last: i64) {
    let reader = spawn_reader(cluster, topic, group, OffsetReset::Earliest);
    reader.wait_offset(last, Duration::from_secs(30)).await;
    let seen = reader.seen();
    let (offset, epoch, _) = seen.iter().find(|(o, _, _)| *o == last).cloned().unwrap();
    reader
        .consumer
        .commit(topic, 0, offset + 1, epoch)
        .await
        .unwrap_or_else(|e| panic!("commit for {group}: {e}"));
    log(format!(
        "{group}: committed {} (leader epoch {epoch})",
        offset + 1
    ));
    reader.finish().await;
}

// ------------------------------------------------------------------ the test

#[test]
fn unclean_leader_election_truncation_is_detected() {
    let _restore = Restore;
    start_time();
    runtime().block_on(scenario());
}

async fn scenario() {
    let admin = connect().await;
    wait_for("cluster healthy", Duration::from_secs(120), || healthy(&[])).await;
    let topic = unique_name("kip320");
    admin
        .create_topics_with_configs(&[NewTopic::new(topic.as_str(), 1, 2)
            .config("unclean.leader.election.enable", "true")
            .config("min.insync.replicas", "1")])
        .await
        .unwrap_or_else(|e| panic!("create {topic}: {e}"));
    *lock(&TOPIC) = Some(topic.clone());
    let (leader, epoch0, replicas, _) =
        wait_for("topic led, full ISR", Duration::from_secs(30), || async {
            let _ = admin.ensure_topics(std::slice::from_ref(&topic)).await;
            let s = partition_state(&admin, &topic).await?;
            let isr: BTreeSet<i32> = s.3.iter().copied().collect();
            let replicas: BTreeSet<i32> = s.2.iter().copied().collect();
            if s.0 >= 0 && s.2.len() == 2 && isr == replicas {
                Ok(s)
            } else {
                Err(format!("{s:?}"))
            }
        })
        .await;
    let follower = *replicas.iter().find(|&&r| r != leader).unwrap();
    log(format!(
        "{topic}: leader {leader} (epoch {epoch0}), follower {follower}"
    ));

    // 1. Records both replicas hold; a consumer follows from the start.
    let live_group = unique_name("live");
    let live = spawn_reader(&admin, &topic, &live_group, OffsetReset::Earliest);
    let offsets = produce(&admin, &topic, Acks::All, &values("a", 5)).await;
    assert_eq!(offsets, [0, 1, 2, 3, 4]);
    live.wait_offset(4, Duration::from_secs(30)).await;

    // 2. The follower falls out of the ISR; records only the leader holds.
    kill(follower).await;
    wait_for(
        "follower out of the ISR",
        Duration::from_secs(40),
        || async {
            let s = partition_state(&admin, &topic).await?;
            if s.3 == [leader] {
                Ok(())
            } else {
                Err(format!("{s:?}"))
            }
        },
    )
    .await;
    let offsets = produce(&admin, &topic, Acks::Leader, &values("b", 10)).await;
    assert_eq!(offsets, (5..15).collect::<Vec<i64>>());
    live.wait_offset(14, Duration::from_secs(30)).await;
    let group_latest = unique_name("resume-latest");
    let group_error = unique_name("resume-error");
    tokio::join!(
        read_and_commit(&admin, &topic, &group_latest, 14),
        read_and_commit(&admin, &topic, &group_error, 14),
    );

    // 3. The leader dies; the stale follower comes back and is elected uncleanly.
    kill(leader).await;
    restart(follower).await;
    let (_, epoch1, _, _) = wait_for(
        "the stale follower leads (unclean election)",
        Duration::from_secs(60),
        || async {
            let s = partition_state(&admin, &topic).await?;
            if s.0 == follower {
                Ok(s)
            } else {
                Err(format!("{s:?}"))
            }
        },
    )
    .await;
    assert!(epoch1 > epoch0, "new leader epoch {epoch1} after {epoch0}");
    log(format!("leader {follower}, epoch {epoch1}"));

    // 4. The broker's verdict at the old position, without and with the epoch.
    let (without, with) = wait_for(
        "the new leader answers fetches",
        Duration::from_secs(30),
        || async {
            let without = raw_fetch(&admin, follower, &topic, 15, epoch1, -1).await?;
            let with = raw_fetch(&admin, follower, &topic, 15, epoch1, epoch0).await?;
            match (without.0, with.0) {
                (Some(KafkaCode::OffsetOutOfRange), None) => Ok((without, with)),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    log(format!(
        "Fetch v12 from 15: without last_fetched_epoch {:?}; with last_fetched_epoch {epoch0}: diverging_epoch {:?}",
        without.0, with.1
    ));
    assert_eq!(
        with.1,
        (epoch0, 5),
        "diverging_epoch: epoch {epoch0} ends at 5"
    );

    // The new leader's records; the b* ones are lost.
    let offsets = produce(&admin, &topic, Acks::All, &values("c", 3)).await;
    assert_eq!(offsets, [5, 6, 7]);

    // 5. Every consumer lands at the divergence point (or reports it). All three
    // are looked at before any assertion, so a failure shows what each one did.
    let expected: Vec<(i64, String)> = (5..8).map(|o| (o, format!("c{}", o - 5))).collect();
    let resumed = spawn_reader(&admin, &topic, &group_latest, OffsetReset::Latest);
    let stopped = spawn_reader(&admin, &topic, &group_error, OffsetReset::Error);
    let deadline = Instant::now() + Duration::from_secs(30);
    let truncation = |r: &Reader| {
        lock(&r.errors).iter().find_map(|e| match e {
            ConsumeError::Fetch(f @ FetchError::LogTruncation { .. }) => Some(f.clone()),
            _ => None,
        })
    };
    // c2 at 7 (b2 was at 7 before the failover).
    let has_c2 = |r: &Reader| r.seen().iter().any(|(o, _, v)| *o == 7 && v == "c2");
    while Instant::now() < deadline
        && !(has_c2(&live) && has_c2(&resumed) && truncation(&stopped).is_some())
    {
        sleep(Duration::from_millis(200)).await;
    }
    // Anything more (duplicates, later records) would arrive now.
    sleep(Duration::from_millis(500)).await;
    // What the live consumer read after b9 (offset 14).
    let live_seen = live.seen();
    let after_b9: Vec<(i64, String)> = live_seen
        .iter()
        .skip_while(|(o, _, v)| !(*o == 14 && v == "b9"))
        .skip(1)
        .map(|(o, _, v)| (*o, v.clone()))
        .collect();
    let resumed_seen: Vec<(i64, String)> =
        resumed.seen().into_iter().map(|(o, _, v)| (o, v)).collect();
    let truncation = truncation(&stopped);
    log(format!(
        "live consumer (earliest), after b9 at 14: {after_b9:?}; errors {:?}",
        live.errors()
    ));
    log(format!(
        "resumed consumer (latest, committed 15): {resumed_seen:?}; errors {:?}",
        resumed.errors()
    ));
    log(format!(
        "error-mode consumer (committed 15): errors {:?}; records {:?}",
        stopped.errors(),
        stopped.seen()
    ));
    assert_eq!(
        after_b9, expected,
        "the consumer that read through the failover: from the divergence point 5 on"
    );
    assert!(live.errors().is_empty(), "{:?}", live.errors());
    assert_eq!(
        resumed_seen, expected,
        "the consumer resuming from the committed offset 15 with auto.offset.reset=latest"
    );
    let truncation = truncation.expect("FetchError::LogTruncation for auto.offset.reset=error");
    assert!(
        matches!(
            &truncation,
            FetchError::LogTruncation { tp, position: 15, divergence_offset: 5, divergence_epoch }
                if tp.partition == 0 && *divergence_epoch == epoch0
        ),
        "{truncation:?}"
    );
    assert!(
        !ConsumeError::Fetch(truncation.clone()).is_retriable(),
        "a truncation is not retriable"
    );
    assert!(
        stopped.seen().is_empty(),
        "the stopped partition handed out {:?}",
        stopped.seen()
    );

    // The live consumer's commit names the new log's position (8), not the lost
    // one's (15).
    live.consumer
        .commit_finished()
        .await
        .unwrap_or_else(|e| panic!("commit: {e}"));
    let committed = wait_for(
        "the live group's committed offset",
        Duration::from_secs(30),
        || async {
            let coordinator = find_coordinator(&admin, &live_group)
                .await
                .map_err(|e| e.to_string())?;
            committed_offsets(&admin, coordinator, &live_group, &topic, 1)
                .await
                .map_err(|e| e.to_string())
        },
    )
    .await;
    assert_eq!(
        committed.get(&0),
        Some(&8),
        "the live consumer commits the position in the new leader's log"
    );
    log("live consumer committed 8");

    tokio::join!(live.finish(), resumed.finish(), stopped.finish());
}
