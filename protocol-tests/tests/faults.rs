//! Fault injection on the three-node KRaft cluster (`kafka.sh start cluster`):
//! brokers killed with SIGKILL, frozen with SIGSTOP, a group coordinator restarted,
//! a consumer process killed mid-batch, dead bootstrap addresses, an unreachable
//! partition leader. Each case runs more than once and checks what the client
//! promises: idempotent acks=all production loses, duplicates and reorders nothing
//! that was acknowledged; consumer groups lose no committed message and repeat only
//! what was consumed but not yet committed.
//!
//! ```text
//! eval "$(bash protocol-tests/harness/kafka.sh env)"
//! cargo test -p flame-kafka-protocol-tests --test faults -- --nocapture
//! ```
//!
//! The cases are serialized (one static lock): they stop brokers that the others
//! need. Every node a case kills or pauses is registered, and restored (restarted or
//! resumed) when the case ends, also when it panics; the case then waits until all
//! three brokers are back in the metadata and every partition of its topics (and of
//! `__consumer_offsets`) has a leader and a full ISR.
//!
//! Messages carry `"<partition>:<sequence>"` keys, so the log read back with raw
//! Fetch requests shows what was lost, duplicated or reordered.
//!
//! Case 4 kills a real consumer process: the test binary runs itself with
//! `child_consumer_helper --exact` and `FLAME_FAULTS_CHILD_*` set (without them that
//! test does nothing).
// Test helpers panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flame_kafka_cluster::{BrokerId, Cluster, ClusterConfig, ClusterError, Purpose};
use flame_kafka_codec::messages::MetadataRequest;
use flame_kafka_group::{ConsumedRecord, Consumer, ConsumerConfig, OffsetReset};
use flame_kafka_producer::{Acks, ProduceError, Producer, ProducerConfig, ProducerRecord};
use flame_kafka_protocol_tests::admin::{
    committed_offsets, create_topic, fetch_from_leader, find_coordinator, AskError,
};
use flame_kafka_protocol_tests::{cluster_bootstrap, harness, unique_name};
use tokio::time::{sleep, timeout};

// ------------------------------------------------------------------ bookkeeping

/// One case at a time: they take brokers away from each other.
static SERIAL: Mutex<()> = Mutex::new(());

/// Nodes this process has killed or paused and not yet restored.
static DOWN: Mutex<BTreeMap<i32, Down>> = Mutex::new(BTreeMap::new());

/// Topics of the running case (checked for a full ISR, then deleted).
static TOPICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

static CASES: AtomicU64 = AtomicU64::new(0);
static MESSAGES: AtomicU64 = AtomicU64::new(0);
static FAULTS: AtomicU64 = AtomicU64::new(0);
static LOST: AtomicU64 = AtomicU64::new(0);
static DUPLICATED: AtomicU64 = AtomicU64::new(0);
static REORDERED: AtomicU64 = AtomicU64::new(0);
static CONSUMED: AtomicU64 = AtomicU64::new(0);
static REPEATS: AtomicU64 = AtomicU64::new(0);
static CONCURRENT: AtomicU64 = AtomicU64::new(0);
/// Fault tests finished (passed or failed); the totals go to the suite summary
/// after the last of [`FAULT_TESTS`].
static FINISHED: AtomicU64 = AtomicU64::new(0);
const FAULT_TESTS: u64 = 6;
static FAILED_PUBLISHES: AtomicU64 = AtomicU64::new(0);
static AMBIGUOUS: AtomicU64 = AtomicU64::new(0);

/// How long to wait for the cluster to heal after a fault.
const HEAL_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Down {
    Killed,
    Paused,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn start_time() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// A progress line, stamped with the time since the first case started.
fn log(message: impl AsRef<str>) {
    println!(
        "[faults +{:7.2}s] {}",
        start_time().elapsed().as_secs_f64(),
        message.as_ref()
    );
}

fn summary() -> String {
    let g = |c: &AtomicU64| c.load(Ordering::SeqCst);
    format!(
        "faults: {} cases, {} messages, {} faults injected, {} lost, {} duplicated, {} reordered",
        g(&CASES),
        g(&MESSAGES),
        g(&FAULTS),
        g(&LOST),
        g(&DUPLICATED),
        g(&REORDERED)
    )
}

fn details() -> String {
    let g = |c: &AtomicU64| c.load(Ordering::SeqCst);
    format!(
        "faults (details): {} records consumed by groups, {} consumer repeats (all inside the \
         uncommitted window; {} of them handed out while the previous owner was still \
         processing them), {} publishes failed with a clear error, {} of those written anyway \
         (ambiguous timeouts)",
        g(&CONSUMED),
        g(&REPEATS),
        g(&CONCURRENT),
        g(&FAILED_PUBLISHES),
        g(&AMBIGUOUS)
    )
}

// ------------------------------------------------------------------ the harness

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

/// Kills (SIGKILL) or pauses (SIGSTOP) cluster node `node`, registering it first so
/// that it is restored whatever happens.
async fn inject(node: i32, how: Down) {
    lock(&DOWN).insert(node, how);
    FAULTS.fetch_add(1, Ordering::SeqCst);
    let command = match how {
        Down::Killed => "kill-node",
        Down::Paused => "pause-node",
    };
    let n = node.to_string();
    blocking(move || harness(&[command, &n]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    log(format!("  fault: {command} {node}"));
}

/// Undoes [`inject`]: restarts a killed node (waits until it is ready) or resumes a
/// paused one. Returns how long that took.
async fn heal(node: i32) -> Duration {
    let how = lock(&DOWN)
        .get(&node)
        .copied()
        .unwrap_or_else(|| panic!("node {node} is not down"));
    let started = Instant::now();
    let command = match how {
        Down::Killed => "restart-node",
        Down::Paused => "resume-node",
    };
    let n = node.to_string();
    blocking(move || harness(&[command, &n]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    lock(&DOWN).remove(&node);
    log(format!(
        "  heal: {command} {node} ({:.1}s)",
        started.elapsed().as_secs_f64()
    ));
    started.elapsed()
}

/// Restores every registered node, blocking (no runtime needed).
fn heal_all_blocking() -> Vec<String> {
    let down: Vec<(i32, Down)> = lock(&DOWN).iter().map(|(&n, &h)| (n, h)).collect();
    let mut errors = Vec::new();
    for (node, how) in down {
        let n = node.to_string();
        let result = match how {
            Down::Paused => harness(&["resume-node", &n]),
            Down::Killed => harness(&["restart-node", &n]),
        };
        match result {
            Ok(_) => {
                eprintln!("[faults] restored node {node} ({how:?}) after a failed case");
                lock(&DOWN).remove(&node);
            }
            Err(e) => errors.push(e),
        }
    }
    errors
}

// ------------------------------------------------------------------ cluster health

fn cluster_config(bootstrap: &str, request_timeout: Duration) -> ClusterConfig {
    let mut config = ClusterConfig::new(bootstrap);
    config.client_id = "flame-faults".into();
    config.request_timeout = request_timeout;
    config.connect_timeout = Duration::from_secs(3);
    config.reconnect_backoff_max = Duration::from_secs(1);
    config
}

async fn connect(request_timeout: Duration) -> Cluster {
    Cluster::connect(cluster_config(&cluster_bootstrap(), request_timeout))
        .await
        .unwrap_or_else(|e| panic!("connect to the cluster: {e}"))
}

/// One look at the cluster through a fresh client: three brokers, every partition
/// of `topics` led and fully in sync, no node stopped or paused.
async fn check_health(topics: &[String]) -> Result<(), String> {
    let status = blocking(|| harness(&["status"])).await?;
    for line in status.lines() {
        if line.starts_with("node ")
            && !line.starts_with("node single")
            && !line.contains("running")
        {
            return Err(format!("harness: {line}"));
        }
    }
    let cluster = Cluster::connect(cluster_config(&cluster_bootstrap(), Duration::from_secs(3)))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = cluster.ensure_topics(topics).await;
    let metadata = cluster
        .refresh_metadata()
        .await
        .map_err(|e| format!("metadata: {e}"))?;
    if metadata.brokers.len() != 3 {
        return Err(format!(
            "brokers in metadata: {:?}",
            metadata.brokers.keys().map(|b| b.0).collect::<Vec<_>>()
        ));
    }
    for topic in topics {
        let Some(t) = metadata.topic(topic) else {
            // The offsets topic only exists once a group has asked for a coordinator
            // (a fresh cluster has none); once it exists it must be healthy too.
            if topic == "__consumer_offsets" {
                continue;
            }
            return Err(format!("{topic}: not in metadata"));
        };
        if t.partitions.is_empty() {
            return Err(format!("{topic}: no partitions ({:?})", t.error));
        }
        for p in &t.partitions {
            let isr: BTreeSet<i32> = p.isr.iter().map(|b| b.0).collect();
            let replicas: BTreeSet<i32> = p.replicas.iter().map(|b| b.0).collect();
            if p.leader.is_none() || replicas.is_empty() || isr != replicas {
                return Err(format!(
                    "{topic}[{}]: leader {:?}, replicas {replicas:?}, isr {isr:?}",
                    p.partition,
                    p.leader.map(|b| b.0)
                ));
            }
        }
    }
    Ok(())
}

async fn try_wait_healthy(topics: &[String], within: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    let mut wanted = topics.to_vec();
    wanted.push("__consumer_offsets".to_owned());
    loop {
        let last = match check_health(&wanted).await {
            Ok(()) => return Ok(started.elapsed()),
            Err(e) => e,
        };
        if started.elapsed() > within {
            return Err(format!("cluster not healthy after {within:?}: {last}"));
        }
        sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until the cluster is whole again; returns how long that took.
async fn wait_healthy(topics: &[String]) -> Duration {
    let took = try_wait_healthy(topics, HEAL_WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    log(format!(
        "  healthy: 3 brokers, full ISR ({:.1}s)",
        took.as_secs_f64()
    ));
    took
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Restores the registered nodes and waits for a healthy cluster when a case ends,
/// whether it passed or panicked.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        let topics = lock(&TOPICS).clone();
        // A thread of its own: it needs a runtime, and must not panic in here.
        let outcome = std::thread::spawn(move || -> Result<(), String> {
            let errors = heal_all_blocking();
            let healthy = runtime().block_on(try_wait_healthy(&topics, HEAL_WAIT));
            if !errors.is_empty() {
                return Err(errors.join("; "));
            }
            healthy.map(|_| ())
        })
        .join();
        if FINISHED.fetch_add(1, Ordering::SeqCst) + 1 == FAULT_TESTS {
            flame_kafka_protocol_tests::summary(&summary());
            flame_kafka_protocol_tests::summary(&details());
        }
        let problem = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some("the restore thread panicked".to_owned()),
        };
        if let Some(problem) = problem {
            if panicking {
                eprintln!("[faults] restoring the cluster after a failed case: {problem}");
            } else {
                panic!("restoring the cluster: {problem}");
            }
        }
        let topics: Vec<String> = std::mem::take(&mut *lock(&TOPICS));
        if !topics.is_empty() {
            let _ = std::thread::spawn(move || {
                runtime().block_on(async {
                    if let Ok(cluster) = Cluster::connect(cluster_config(
                        &cluster_bootstrap(),
                        Duration::from_secs(10),
                    ))
                    .await
                    {
                        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
                        let _ = cluster.delete_topics(&names).await;
                    }
                });
            })
            .join();
        }
    }
}

/// Runs one case: serialized with the others, on a runtime of its own, with every
/// fault undone and the cluster healthy afterwards.
fn run_case<Fut: Future<Output = ()>>(name: &str, body: impl FnOnce() -> Fut) {
    let _serial = lock(&SERIAL);
    let _restore = Restore;
    let started = Instant::now();
    log(format!("=== {name}"));
    {
        let rt = runtime();
        rt.block_on(async {
            wait_healthy(&[]).await;
            body().await;
        });
    }
    log(format!(
        "=== {name}: passed in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    log(summary());
    log(details());
}

/// Runs a case of `reps` repetitions (`once(1)`, `once(2)`, ...) through
/// [`run_case`], counting each finished one in the summary.
fn run_reps<Fut: Future<Output = ()>>(name: &str, reps: u32, once: impl Fn(u32) -> Fut) {
    run_case(name, || async move {
        for rep in 1..=reps {
            once(rep).await;
            CASES.fetch_add(1, Ordering::SeqCst);
        }
    });
}

// ------------------------------------------------------------------ topics, logs

async fn new_topic(admin: &Cluster, prefix: &str, partitions: i32, replication: i16) -> String {
    let name = create_topic(admin, prefix, partitions, replication).await;
    lock(&TOPICS).push(name.clone());
    try_wait_healthy(std::slice::from_ref(&name), HEAL_WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    name
}

/// The current leader of a partition, from fresh metadata.
async fn leader_of(cluster: &Cluster, topic: &str, partition: i32) -> i32 {
    let _ = cluster.ensure_topics(&[topic.to_owned()]).await;
    let metadata = cluster.refresh_metadata().await.expect("metadata");
    metadata
        .leader(topic, partition)
        .unwrap_or_else(|| panic!("{topic}[{partition}] has no leader"))
        .0
         .0
}

fn key_of(partition: i32, seq: u64) -> String {
    format!("{partition}:{seq}")
}

fn parse_key(key: Option<&Bytes>) -> (i32, u64) {
    let key = key.expect("every test record has a key");
    let text = std::str::from_utf8(key).expect("utf-8 key");
    let (p, s) = text.split_once(':').expect("partition:sequence key");
    (p.parse().expect("partition"), s.parse().expect("sequence"))
}

/// Every record of a partition, offset 0 up to the high watermark, read with raw
/// Fetch requests from whoever leads it: `(offset, key)`.
async fn read_partition(cluster: &Cluster, topic: &str, partition: i32) -> Vec<(i64, Bytes)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "{topic}[{partition}]: reading back stuck at offset {offset}"
        );
        let fetched = match fetch_from_leader(cluster, topic, partition, offset, 8 << 20).await {
            Ok(fetched) => fetched,
            Err(what) => {
                let _ = cluster.refresh_metadata().await;
                log(format!("    read {what}; retrying"));
                sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        for batch in fetched.batches {
            if !batch.control {
                for record in &batch.records {
                    if record.offset >= offset {
                        out.push((record.offset, record.key.clone().unwrap_or_default()));
                    }
                }
            }
            offset = offset.max(batch.next_offset());
        }
        if offset >= fetched.high_watermark {
            return out;
        }
    }
}

// ------------------------------------------------------------------ production

/// One published record and its outcome.
struct Sent {
    partition: i32,
    seq: u64,
    sent_at: Instant,
    outcome: Option<(Instant, Result<i64, ProduceError>)>,
}

/// Publishes keyed records and collects every outcome.
#[derive(Clone, Default)]
struct Tracker {
    sent: Arc<Mutex<Vec<Sent>>>,
    /// `send` calls that queued their record.
    queued: Arc<AtomicU64>,
    /// Delivery futures that resolved.
    resolved: Arc<AtomicU64>,
}

impl Tracker {
    /// Sends one record (waiting for room in the queue); its outcome is collected
    /// in the background. Returns whether it was queued.
    async fn publish(&self, producer: &Producer, topic: &str, partition: i32, seq: u64) -> bool {
        let record = ProducerRecord::new(topic)
            .partition(partition)
            .key(key_of(partition, seq))
            .value(format!("faults p{partition} seq {seq}"));
        let sent_at = Instant::now();
        let result = producer.send(record).await;
        let index = {
            let mut sent = lock(&self.sent);
            sent.push(Sent {
                partition,
                seq,
                sent_at,
                outcome: None,
            });
            sent.len() - 1
        };
        match result {
            Ok(delivery) => {
                self.queued.fetch_add(1, Ordering::SeqCst);
                let tracker = self.clone();
                tokio::spawn(async move {
                    let result = delivery.await.map(|m| {
                        assert_eq!(m.partition, partition, "acknowledged in another partition");
                        m.offset
                    });
                    lock(&tracker.sent)[index].outcome = Some((Instant::now(), result));
                    tracker.resolved.fetch_add(1, Ordering::SeqCst);
                });
                true
            }
            Err(e) => {
                lock(&self.sent)[index].outcome = Some((Instant::now(), Err(e)));
                false
            }
        }
    }

    /// Records queued and not resolved yet.
    fn outstanding(&self) -> u64 {
        self.queued.load(Ordering::SeqCst) - self.resolved.load(Ordering::SeqCst)
    }

    /// Waits until every record has an outcome.
    async fn wait_all(&self, within: Duration) {
        let started = Instant::now();
        loop {
            let pending = lock(&self.sent)
                .iter()
                .filter(|s| s.outcome.is_none())
                .count();
            if pending == 0 {
                return;
            }
            assert!(
                started.elapsed() < within,
                "{pending} records still without an outcome after {within:?}"
            );
            sleep(Duration::from_millis(50)).await;
        }
    }

    fn len(&self) -> usize {
        lock(&self.sent).len()
    }

    /// Records acknowledged for `partition` that were sent after `since`.
    fn acked_sent_after(&self, partition: i32, since: Instant) -> usize {
        lock(&self.sent)
            .iter()
            .filter(|s| {
                s.partition == partition
                    && s.sent_at > since
                    && matches!(s.outcome, Some((_, Ok(_))))
            })
            .count()
    }

    /// The longest time without any acknowledgement on `partition`.
    fn max_ack_gap(&self, partition: i32) -> Duration {
        let mut times: Vec<Instant> = lock(&self.sent)
            .iter()
            .filter(|s| s.partition == partition)
            .filter_map(|s| match &s.outcome {
                Some((at, Ok(_))) => Some(*at),
                _ => None,
            })
            .collect();
        times.sort();
        times
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default()
    }

    /// The errors, one example of each kind, and their count.
    fn errors(&self) -> (usize, BTreeMap<String, String>) {
        let sent = lock(&self.sent);
        let mut kinds = BTreeMap::new();
        let mut count = 0;
        for s in sent.iter() {
            if let Some((_, Err(e))) = &s.outcome {
                count += 1;
                let kind = format!("{e:?}");
                let kind = kind.split([' ', '{', '(']).next().unwrap_or("").to_owned();
                kinds.entry(kind).or_insert_with(|| e.to_string());
            }
        }
        (count, kinds)
    }
}

/// What the log holds against what the producer reported.
#[derive(Debug, Default)]
struct Verdict {
    published: u64,
    acked: u64,
    acked_without_offset: u64,
    failed: u64,
    failed_but_written: u64,
    pending: u64,
    lost: u64,
    misplaced: u64,
    duplicated: u64,
    reordered: u64,
}

/// Reads the topic back and compares it with the tracker.
async fn verify_log(topic: &str, partitions: i32, tracker: &Tracker) -> Verdict {
    let cluster = connect(Duration::from_secs(10)).await;
    let mut v = Verdict::default();
    for partition in 0..partitions {
        let log_records = read_partition(&cluster, topic, partition).await;
        let mut at: BTreeMap<u64, i64> = BTreeMap::new();
        let mut highest: Option<u64> = None;
        for (offset, key) in &log_records {
            let (p, seq) = parse_key(Some(key));
            assert_eq!(
                p, partition,
                "record {seq} of partition {p} found in {partition}"
            );
            if at.contains_key(&seq) {
                v.duplicated += 1;
                continue;
            }
            if highest.is_some_and(|h| seq < h) {
                v.reordered += 1;
            }
            highest = highest.max(Some(seq));
            at.insert(seq, *offset);
        }
        let sent = lock(&tracker.sent);
        for s in sent.iter().filter(|s| s.partition == partition) {
            v.published += 1;
            match &s.outcome {
                Some((_, Ok(offset))) => {
                    v.acked += 1;
                    match at.get(&s.seq) {
                        None => v.lost += 1,
                        Some(_) if *offset == -1 => v.acked_without_offset += 1,
                        Some(o) if o != offset => v.misplaced += 1,
                        Some(_) => {}
                    }
                }
                Some((_, Err(_))) => {
                    v.failed += 1;
                    if at.contains_key(&s.seq) {
                        v.failed_but_written += 1;
                    }
                }
                None => v.pending += 1,
            }
        }
        let published: BTreeSet<u64> = sent
            .iter()
            .filter(|s| s.partition == partition)
            .map(|s| s.seq)
            .collect();
        let phantoms = at.keys().filter(|k| !published.contains(k)).count();
        assert_eq!(
            phantoms, 0,
            "{topic}[{partition}]: records nobody published"
        );
    }
    v
}

/// Adds a verdict to the totals, prints it, and asserts the guarantees.
fn account(label: &str, v: &Verdict) {
    MESSAGES.fetch_add(v.published, Ordering::SeqCst);
    LOST.fetch_add(v.lost + v.misplaced, Ordering::SeqCst);
    DUPLICATED.fetch_add(v.duplicated, Ordering::SeqCst);
    REORDERED.fetch_add(v.reordered, Ordering::SeqCst);
    FAILED_PUBLISHES.fetch_add(v.failed, Ordering::SeqCst);
    AMBIGUOUS.fetch_add(v.failed_but_written, Ordering::SeqCst);
    log(format!("  {label}: {v:?}"));
    assert_eq!(v.pending, 0, "{label}: records without an outcome");
    assert_eq!(
        v.lost, 0,
        "{label}: acknowledged records missing from the log"
    );
    assert_eq!(v.misplaced, 0, "{label}: acknowledged at another offset");
    assert_eq!(v.duplicated, 0, "{label}: duplicates in the log");
    assert_eq!(v.reordered, 0, "{label}: records out of order in the log");
}

fn idempotent(request_timeout: Duration) -> ProducerConfig {
    ProducerConfig {
        acks: Acks::All,
        enable_idempotence: Some(true),
        linger: Duration::from_millis(5),
        message_timeout: Duration::from_secs(120),
        request_timeout,
        ..ProducerConfig::default()
    }
}

/// Publishes to `partitions` round-robin, `per_tick` records every 10 ms, until
/// `stop` is set (or `limit` records were published).
fn steady_stream(
    producer: Producer,
    tracker: Tracker,
    topic: String,
    partitions: i32,
    per_tick: u64,
    limit: u64,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut seqs = vec![0u64; partitions as usize];
        let mut i = 0u64;
        while !stop.load(Ordering::SeqCst) && i < limit {
            for _ in 0..per_tick.min(limit - i) {
                let p = (i % partitions as u64) as i32;
                tracker
                    .publish(&producer, &topic, p, seqs[p as usize])
                    .await;
                seqs[p as usize] += 1;
                i += 1;
            }
            sleep(Duration::from_millis(10)).await;
        }
        i
    })
}

// ------------------------------------------------------------------ case 1

#[test]
fn leader_killed_while_producing_idempotently() {
    run_reps(
        "case 1: kill -9 a partition leader during idempotent acks=all production",
        3,
        kill_leader_once,
    );
}

async fn kill_leader_once(rep: u32) {
    const TOTAL: u64 = 20_000;
    const KILL_AT: u64 = 6_000;
    let admin = connect(Duration::from_secs(10)).await;
    let topic = new_topic(&admin, "faults-kill-leader", 3, 3).await;
    let victim = leader_of(&admin, &topic, 0).await;
    let cluster = connect(Duration::from_secs(10)).await;
    let producer = Producer::new(idempotent(Duration::from_secs(30)), cluster).unwrap();
    let tracker = Tracker::default();
    log(format!(
        "  rep {rep}: {TOTAL} records to 3 partitions over ~4s; kill -9 node {victim} \
         (leader of p0) at record {KILL_AT}"
    ));
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let stream = steady_stream(
        producer.clone(),
        tracker.clone(),
        topic.clone(),
        3,
        50,
        TOTAL,
        Arc::clone(&stop),
    );
    while (tracker.len() as u64) < KILL_AT {
        sleep(Duration::from_millis(1)).await;
    }
    let killed_at = Instant::now();
    inject(victim, Down::Killed).await;
    let published = stream.await.unwrap();
    let produce_time = started.elapsed();
    let _ = timeout(Duration::from_secs(180), producer.flush()).await;
    tracker.wait_all(Duration::from_secs(60)).await;
    let all_acked = killed_at.elapsed();
    let gap = tracker.max_ack_gap(0);
    let (errors, kinds) = tracker.errors();
    log(format!(
        "  rep {rep}: {published} published in {:.1}s; all outcomes {:.1}s after the kill; \
         longest p0 ack gap {:.1}s; {errors} errors {kinds:?}",
        produce_time.as_secs_f64(),
        all_acked.as_secs_f64(),
        gap.as_secs_f64()
    ));
    let restart = heal(victim).await;
    let healthy = wait_healthy(std::slice::from_ref(&topic)).await;
    let verdict = verify_log(&topic, 3, &tracker).await;
    log(format!(
        "  rep {rep}: restart {:.1}s, full ISR {:.1}s later",
        restart.as_secs_f64(),
        healthy.as_secs_f64()
    ));
    account(&format!("case 1 rep {rep}"), &verdict);
    assert_eq!(
        verdict.acked, TOTAL,
        "every record acknowledged (message.timeout.ms is 120 s): {kinds:?}"
    );
    producer.close(Duration::from_secs(5)).await.unwrap();
}

// ------------------------------------------------------------------ case 2

#[test]
fn paused_leader_times_out_and_leadership_moves() {
    run_reps(
        "case 2: SIGSTOP the partition leader; requests time out, leadership moves",
        2,
        pause_leader_once,
    );
}

async fn pause_leader_once(rep: u32) {
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
    let admin = connect(Duration::from_secs(10)).await;
    let topic = new_topic(&admin, "faults-pause-leader", 3, 3).await;
    let probe = connect(REQUEST_TIMEOUT).await;
    let victim = leader_of(&probe, &topic, 0).await;
    let metadata_request = MetadataRequest::default().with_topics(Some(vec![]));
    probe
        .send(BrokerId(victim), Purpose::Metadata, &metadata_request)
        .await
        .expect("the victim answers before the pause");
    let cluster = connect(REQUEST_TIMEOUT).await;
    let producer = Producer::new(idempotent(REQUEST_TIMEOUT), cluster).unwrap();
    let tracker = Tracker::default();
    let stop = Arc::new(AtomicBool::new(false));
    let stream = steady_stream(
        producer.clone(),
        tracker.clone(),
        topic.clone(),
        3,
        10,
        u64::MAX,
        Arc::clone(&stop),
    );
    sleep(Duration::from_millis(1500)).await;
    log(format!(
        "  rep {rep}: ~1000 records/s to 3 partitions; SIGSTOP node {victim} (leader of p0), \
         request.timeout.ms 3000"
    ));
    let paused_at = Instant::now();
    inject(victim, Down::Paused).await;

    // A request to the frozen broker times out after request.timeout.ms.
    let asked = Instant::now();
    let result = probe
        .send(BrokerId(victim), Purpose::Metadata, &metadata_request)
        .await;
    let waited = asked.elapsed();
    assert!(
        matches!(result, Err(ClusterError::Timeout { .. })),
        "a request to a paused broker must time out, got {result:?}"
    );
    assert!(
        waited >= Duration::from_millis(2900) && waited < Duration::from_secs(8),
        "timed out after {waited:?}, request.timeout.ms is 3 s"
    );

    // The controller fences it (broker.session.timeout.ms) and p0 gets a new leader.
    let new_leader = loop {
        assert!(
            paused_at.elapsed() < Duration::from_secs(60),
            "p0 still led by the paused node {victim} after 60 s"
        );
        if let Ok(metadata) = probe.refresh_metadata().await {
            if let Some((leader, _)) = metadata.leader(&topic, 0) {
                if leader.0 != victim {
                    break leader.0;
                }
            }
        }
        sleep(Duration::from_millis(250)).await;
    };
    let moved_at = Instant::now();
    let moved_after = moved_at - paused_at;

    // Production to p0 continues on the new leader while the old one is frozen.
    loop {
        let n = tracker.acked_sent_after(0, moved_at);
        if n >= 200 {
            break;
        }
        assert!(
            moved_at.elapsed() < Duration::from_secs(30),
            "p0 production did not continue on node {new_leader}: {n} acks in 30 s"
        );
        sleep(Duration::from_millis(100)).await;
    }
    let continued_after = moved_at.elapsed();
    log(format!(
        "  rep {rep}: probe timed out after {:.1}s; p0 moved to node {new_leader} {:.1}s after \
         the pause; 200 new p0 acks {:.1}s later",
        waited.as_secs_f64(),
        moved_after.as_secs_f64(),
        continued_after.as_secs_f64()
    ));
    let resume = heal(victim).await;
    sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    let published = stream.await.unwrap();
    let _ = timeout(Duration::from_secs(180), producer.flush()).await;
    tracker.wait_all(Duration::from_secs(60)).await;
    let (errors, kinds) = tracker.errors();
    log(format!(
        "  rep {rep}: {published} published; resume took {:.1}s; longest p0 ack gap {:.1}s; \
         {errors} errors {kinds:?}",
        resume.as_secs_f64(),
        tracker.max_ack_gap(0).as_secs_f64()
    ));
    wait_healthy(std::slice::from_ref(&topic)).await;
    let verdict = verify_log(&topic, 3, &tracker).await;
    account(&format!("case 2 rep {rep}"), &verdict);
    assert_eq!(
        verdict.acked, published,
        "every record acknowledged: {kinds:?}"
    );
    producer.close(Duration::from_secs(5)).await.unwrap();
}

// ------------------------------------------------------------------ consumer groups

/// One record as a group member saw it.
#[derive(Debug, Clone)]
struct Seen {
    member: usize,
    partition: i32,
    offset: i64,
    /// When the consumer handed it to the application (its batch's poll).
    at: Instant,
    /// When the application had processed it.
    done: Instant,
}

type SeenLog = Arc<Mutex<Vec<Seen>>>;
type Assignments = Arc<Mutex<Vec<(Instant, BTreeSet<i32>)>>>;

fn group_config(group: &str) -> ConsumerConfig {
    let mut config = ConsumerConfig::new(group);
    config.auto_offset_reset = OffsetReset::Earliest;
    config.session_timeout = Duration::from_millis(6000);
    config.heartbeat_interval = Duration::from_millis(1000);
    config.enable_auto_commit = true;
    config.auto_commit_interval = Duration::from_millis(500);
    config.max_poll_records = 100;
    config
}

/// A member's loop: poll, "process" (`per_record` each), mark done; records every
/// record it was handed and every change of its assignment.
struct Member {
    consumer: Arc<Consumer>,
    task: tokio::task::JoinHandle<()>,
    stop: Arc<AtomicBool>,
    errors: Arc<Mutex<Vec<String>>>,
    assignments: Assignments,
}

fn spawn_member(member: usize, consumer: Consumer, seen: SeenLog, per_record: Duration) -> Member {
    let consumer = Arc::new(consumer);
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let assignments: Assignments = Arc::default();
    let task = {
        let (consumer, stop, errors, assignments) = (
            Arc::clone(&consumer),
            Arc::clone(&stop),
            Arc::clone(&errors),
            Arc::clone(&assignments),
        );
        tokio::spawn(async move {
            let mut last_assignment: Option<BTreeSet<i32>> = None;
            while !stop.load(Ordering::SeqCst) {
                if let Ok(Ok(a)) = timeout(Duration::from_secs(1), consumer.assignment()).await {
                    let a: BTreeSet<i32> = a.iter().map(|tp| tp.partition).collect();
                    if last_assignment.as_ref() != Some(&a) {
                        lock(&assignments).push((Instant::now(), a.clone()));
                        last_assignment = Some(a);
                    }
                }
                match timeout(Duration::from_millis(500), consumer.poll_batch(50)).await {
                    Err(_) => {}
                    Ok(Ok(batch)) => {
                        let at = Instant::now();
                        sleep(per_record * batch.len() as u32).await;
                        let done = Instant::now();
                        lock(&seen).extend(batch.iter().map(|r: &ConsumedRecord| Seen {
                            member,
                            partition: r.partition,
                            offset: r.offset,
                            at,
                            done,
                        }));
                        for r in &batch {
                            consumer.mark_record_done(r);
                        }
                    }
                    Ok(Err(e)) => {
                        let fatal = e.is_fatal();
                        lock(&errors).push(format!("member {member}: {e}"));
                        if fatal {
                            return;
                        }
                        sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        })
    };
    Member {
        consumer,
        task,
        stop,
        errors,
        assignments,
    }
}

impl Member {
    fn assignment(&self) -> BTreeSet<i32> {
        lock(&self.assignments)
            .last()
            .map(|(_, a)| a.clone())
            .unwrap_or_default()
    }

    /// Stops the loop and closes the consumer (final commit, leave). Returns the
    /// errors it met.
    async fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = timeout(Duration::from_secs(10), self.task).await;
        if let Err(e) = timeout(Duration::from_secs(30), self.consumer.close()).await {
            lock(&self.errors).push(format!("close: {e}"));
        }
        let errors = lock(&self.errors).clone();
        errors
    }
}

/// The committed offsets of `group` for `topic` (-1: none), asked of its
/// coordinator.
async fn committed(
    cluster: &Cluster,
    group: &str,
    topic: &str,
    partitions: i32,
) -> Result<BTreeMap<i32, i64>, AskError> {
    let coordinator = find_coordinator(cluster, group).await?;
    committed_offsets(cluster, coordinator, group, topic, partitions).await
}

/// The group's committed offsets over time: `(answer time, offsets)`.
type Samples = Arc<Mutex<Vec<(Instant, BTreeMap<i32, i64>)>>>;

/// A task sampling a group's committed offsets every 100 ms until stopped.
struct Monitor {
    samples: Samples,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Monitor {
    fn spawn(group: String, topic: String, partitions: i32) -> Monitor {
        let samples: Samples = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (out, stopped) = (Arc::clone(&samples), Arc::clone(&stop));
        let task = tokio::spawn(async move {
            let cluster = connect(Duration::from_secs(2)).await;
            while !stopped.load(Ordering::SeqCst) {
                if let Ok(Ok(offsets)) = timeout(
                    Duration::from_secs(3),
                    committed(&cluster, &group, &topic, partitions),
                )
                .await
                {
                    lock(&out).push((Instant::now(), offsets));
                }
                sleep(Duration::from_millis(100)).await;
            }
        });
        Monitor {
            samples,
            stop,
            task,
        }
    }

    /// Stops sampling, waits for the task, and returns what it sampled.
    async fn stop(self) -> Samples {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        self.samples
    }
}

/// What the members consumed, checked against the committed offsets seen over time.
#[derive(Debug, Default)]
struct GroupVerdict {
    consumed: u64,
    repeats: u64,
    /// Re-consumption runs that started at or above the committed offset.
    rewinds: u64,
    /// Repeats in a run that started on new data (two members on one partition).
    overlapping: u64,
    /// Repeats handed to one member before another member had finished processing
    /// the same record (the old owner still busy with a batch from before the
    /// rebalance while the new owner starts on it).
    concurrent: u64,
    /// The first such repeat, described.
    concurrent_example: Option<String>,
    violations: Vec<String>,
    missing: Vec<String>,
}

/// Each member's records per partition form runs of consecutive offsets. A run
/// that starts on an offset already consumed is a rewind: it must start at or above
/// the highest committed offset seen before it began (only what was consumed and
/// not yet committed may come again). Every offset below `ends` must be consumed.
fn check_group(
    seen: &[Seen],
    samples: &[(Instant, BTreeMap<i32, i64>)],
    ends: &BTreeMap<i32, i64>,
) -> GroupVerdict {
    let mut v = GroupVerdict::default();
    let mut events = seen.to_vec();
    events.sort_by_key(|e| e.at); // stable: keeps each member's order within a batch
    for (&partition, &end) in ends {
        let mut consumed: BTreeSet<i64> = BTreeSet::new();
        // offset -> (member, processing time) of its first consumption
        let mut first: BTreeMap<i64, (usize, Instant)> = BTreeMap::new();
        // member -> (last offset, run start offset, run start time, run start was new)
        let mut runs: BTreeMap<usize, (i64, i64, Instant, bool)> = BTreeMap::new();
        for e in events.iter().filter(|e| e.partition == partition) {
            v.consumed += 1;
            let repeat = consumed.contains(&e.offset);
            let run = runs.get(&e.member).copied();
            let continues = run.is_some_and(|(last, ..)| last + 1 == e.offset);
            let (start, started_at, started_new) = if continues {
                let (_, s, t, n) = run.unwrap();
                (s, t, n)
            } else {
                (e.offset, e.at, !repeat)
            };
            runs.insert(e.member, (e.offset, start, started_at, started_new));
            if !repeat {
                consumed.insert(e.offset);
                first.insert(e.offset, (e.member, e.done));
                continue;
            }
            v.repeats += 1;
            if let Some(&(m, done)) = first.get(&e.offset) {
                if m != e.member && done > e.at {
                    v.concurrent += 1;
                    v.concurrent_example.get_or_insert_with(|| {
                        format!(
                            "p{partition} offset {}: handed to member {} {} ms before member {m} \
                             had finished processing it",
                            e.offset,
                            e.member,
                            (done - e.at).as_millis()
                        )
                    });
                }
            }
            if started_new {
                v.overlapping += 1;
                continue;
            }
            if !continues {
                v.rewinds += 1;
                let committed_before = samples
                    .iter()
                    .filter(|(t, _)| *t < started_at)
                    .filter_map(|(_, o)| o.get(&partition).copied())
                    .max()
                    .unwrap_or(-1);
                if e.offset < committed_before {
                    v.violations.push(format!(
                        "p{partition}: member {} went back to offset {} below the committed {}",
                        e.member, e.offset, committed_before
                    ));
                }
            }
        }
        let missing = (0..end).filter(|o| !consumed.contains(o)).count();
        if missing > 0 {
            let first = (0..end).find(|o| !consumed.contains(o)).unwrap();
            v.missing.push(format!(
                "p{partition}: {missing} of {end} never consumed (first {first})"
            ));
        }
    }
    v
}

fn account_group(label: &str, v: &GroupVerdict) {
    CONSUMED.fetch_add(v.consumed, Ordering::SeqCst);
    REPEATS.fetch_add(v.repeats, Ordering::SeqCst);
    CONCURRENT.fetch_add(v.concurrent, Ordering::SeqCst);
    LOST.fetch_add(v.missing.len() as u64, Ordering::SeqCst);
    log(format!(
        "  {label}: {} consumed, {} repeats in {} rewinds (all at/above the committed offset), \
         {} overlapping; {} repeats handed out while the previous owner was still processing \
         them",
        v.consumed, v.repeats, v.rewinds, v.overlapping, v.concurrent
    ));
    if let Some(example) = &v.concurrent_example {
        log(format!("  {label}: e.g. {example}"));
    }
    assert!(
        v.missing.is_empty(),
        "{label}: committed messages lost: {:?}",
        v.missing
    );
    assert!(
        v.violations.is_empty(),
        "{label}: repeats outside the uncommitted window: {:?}",
        v.violations
    );
    assert_eq!(
        v.overlapping, 0,
        "{label}: two members consumed one partition at once"
    );
}

/// Per partition, one past the highest acknowledged offset.
fn ends_of(tracker: &Tracker, partitions: i32) -> BTreeMap<i32, i64> {
    let mut ends: BTreeMap<i32, i64> = (0..partitions).map(|p| (p, 0)).collect();
    for s in lock(&tracker.sent).iter() {
        if let Some((_, Ok(offset))) = &s.outcome {
            let e = ends.get_mut(&s.partition).unwrap();
            *e = (*e).max(offset + 1);
        }
    }
    ends
}

/// Waits until every offset below `ends` was consumed and is committed.
async fn wait_consumed_and_committed(
    seen: &SeenLog,
    samples: &Samples,
    ends: &BTreeMap<i32, i64>,
    within: Duration,
) {
    let started = Instant::now();
    loop {
        let covered = {
            let seen = lock(seen);
            ends.iter().all(|(&p, &end)| {
                let offsets: BTreeSet<i64> = seen
                    .iter()
                    .filter(|s| s.partition == p)
                    .map(|s| s.offset)
                    .collect();
                (0..end).all(|o| offsets.contains(&o))
            })
        };
        let committed = lock(samples)
            .last()
            .is_some_and(|(_, o)| ends.iter().all(|(p, e)| o.get(p) == Some(e)));
        if covered && committed {
            return;
        }
        assert!(
            started.elapsed() < within,
            "not all consumed ({covered}) and committed ({committed}) after {within:?}; last \
             committed {:?}, ends {ends:?}",
            lock(samples).last().map(|(_, o)| o.clone())
        );
        sleep(Duration::from_millis(200)).await;
    }
}

// ------------------------------------------------------------------ case 3

#[test]
fn coordinator_restarted_while_a_group_consumes() {
    run_reps(
        "case 3: kill -9 + restart the group coordinator while 2 members consume",
        2,
        coordinator_restart_once,
    );
}

async fn coordinator_restart_once(rep: u32) {
    const PARTITIONS: i32 = 6;
    const TOTAL: u64 = 8_000;
    let admin = connect(Duration::from_secs(5)).await;
    let topic = new_topic(&admin, "faults-coordinator", PARTITIONS, 3).await;
    let group = unique_name("faults-group");
    let seen: SeenLog = Arc::default();
    let mut members = Vec::new();
    for m in 0..2 {
        let cluster = connect(Duration::from_secs(5)).await;
        let consumer = Consumer::new(group_config(&group), cluster, vec![topic.clone()]).unwrap();
        members.push(spawn_member(
            m,
            consumer,
            Arc::clone(&seen),
            Duration::from_micros(200),
        ));
    }
    let monitor = Monitor::spawn(group.clone(), topic.clone(), PARTITIONS);
    let joined = Instant::now();
    while members.iter().any(|m| m.assignment().is_empty()) {
        assert!(
            joined.elapsed() < Duration::from_secs(30),
            "the two members did not both get partitions"
        );
        sleep(Duration::from_millis(100)).await;
    }
    log(format!(
        "  rep {rep}: members own {:?} / {:?} after {:.1}s",
        members[0].assignment(),
        members[1].assignment(),
        joined.elapsed().as_secs_f64()
    ));
    let producer = Producer::new(
        idempotent(Duration::from_secs(10)),
        connect(Duration::from_secs(10)).await,
    )
    .unwrap();
    let tracker = Tracker::default();
    let stream = steady_stream(
        producer.clone(),
        tracker.clone(),
        topic.clone(),
        PARTITIONS,
        12,
        TOTAL,
        Arc::new(AtomicBool::new(false)),
    );
    sleep(Duration::from_secs(2)).await;
    let coordinator = find_coordinator(&admin, &group)
        .await
        .expect("coordinator")
        .0;
    log(format!(
        "  rep {rep}: {TOTAL} records over ~7s, auto-commit 500 ms; kill -9 coordinator node \
         {coordinator}, then restart it"
    ));
    let killed_at = Instant::now();
    inject(coordinator, Down::Killed).await;
    sleep(Duration::from_millis(500)).await;
    heal(coordinator).await;
    let published = stream.await.unwrap();
    let _ = timeout(Duration::from_secs(120), producer.flush()).await;
    tracker.wait_all(Duration::from_secs(60)).await;
    let ends = ends_of(&tracker, PARTITIONS);
    wait_consumed_and_committed(&seen, &monitor.samples, &ends, Duration::from_secs(120)).await;
    let recovered = killed_at.elapsed();
    let mut errors = Vec::new();
    for m in members {
        errors.extend(m.finish().await);
    }
    let samples = monitor.stop().await;
    let final_committed = committed(&admin, &group, &topic, PARTITIONS)
        .await
        .expect("committed offsets");
    log(format!(
        "  rep {rep}: everything consumed and committed {:.1}s after the kill; {} member \
         errors (retriable) {:?}",
        recovered.as_secs_f64(),
        errors.len(),
        errors.iter().take(3).collect::<Vec<_>>()
    ));
    wait_healthy(std::slice::from_ref(&topic)).await;
    let verdict = verify_log(&topic, PARTITIONS, &tracker).await;
    account(&format!("case 3 rep {rep} (log)"), &verdict);
    assert_eq!(verdict.acked, published);
    let group_verdict = check_group(&lock(&seen), &lock(&samples), &ends);
    account_group(&format!("case 3 rep {rep} (group)"), &group_verdict);
    assert_eq!(final_committed, ends, "final commits cover everything");
    producer.close(Duration::from_secs(5)).await.unwrap();
}

// ------------------------------------------------------------------ case 4

const CHILD_GROUP: &str = "FLAME_FAULTS_CHILD_GROUP";
const CHILD_TOPIC: &str = "FLAME_FAULTS_CHILD_TOPIC";

/// Not a test on its own: case 4 runs the test binary with this test selected and
/// `FLAME_FAULTS_CHILD_*` set, as a consumer process to kill. Without them it returns.
#[test]
fn child_consumer_helper() {
    let (Ok(group), Ok(topic)) = (std::env::var(CHILD_GROUP), std::env::var(CHILD_TOPIC)) else {
        return;
    };
    runtime().block_on(async move {
        let cluster = connect(Duration::from_secs(5)).await;
        let consumer = Consumer::new(group_config(&group), cluster, vec![topic]).unwrap();
        let mut last: Option<BTreeSet<i32>> = None;
        let born = Instant::now();
        // Never closes: it is killed. The limit only guards against an orphan.
        while born.elapsed() < Duration::from_secs(120) {
            if let Ok(Ok(a)) = timeout(Duration::from_secs(1), consumer.assignment()).await {
                let a: BTreeSet<i32> = a.iter().map(|tp| tp.partition).collect();
                if last.as_ref() != Some(&a) {
                    let list: Vec<String> = a.iter().map(ToString::to_string).collect();
                    println!("ASSIGN {}", list.join(","));
                    last = Some(a);
                }
            }
            match timeout(Duration::from_millis(500), consumer.poll_batch(100)).await {
                Ok(Ok(batch)) => {
                    println!("BATCH {}", batch.len());
                    for r in &batch {
                        // Printed once processed, before it is marked done (so before
                        // any commit of it); a record not printed was not processed.
                        println!("REC {} {}", r.partition, r.offset);
                        sleep(Duration::from_millis(1)).await;
                        consumer.mark_record_done(r);
                    }
                }
                Ok(Err(e)) => {
                    eprintln!("child consumer: {e}");
                    sleep(Duration::from_millis(100)).await;
                }
                Err(_) => {}
            }
        }
        std::process::exit(3);
    });
}

/// The child consumer process; killed on drop.
struct ChildConsumer {
    child: Child,
    seen: SeenLog,
    assignments: Assignments,
    stderr: Arc<Mutex<String>>,
}

impl ChildConsumer {
    fn spawn(group: &str, topic: &str, member: usize, seen: SeenLog) -> ChildConsumer {
        let exe = std::env::current_exe().expect("test binary path");
        let mut child = Command::new(exe)
            .args([
                "child_consumer_helper",
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_GROUP, group)
            .env(CHILD_TOPIC, topic)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the child consumer");
        let assignments: Assignments = Arc::default();
        let stdout = child.stdout.take().unwrap();
        {
            let (seen, assignments) = (Arc::clone(&seen), Arc::clone(&assignments));
            std::thread::spawn(move || {
                let mut batch_at = Instant::now();
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let at = Instant::now();
                    if line.starts_with("BATCH ") {
                        batch_at = at;
                    } else if let Some(rest) = line.strip_prefix("REC ") {
                        let mut it = rest.split(' ');
                        let partition = it.next().unwrap().parse().unwrap();
                        let offset = it.next().unwrap().parse().unwrap();
                        lock(&seen).push(Seen {
                            member,
                            partition,
                            offset,
                            at: batch_at,
                            done: at,
                        });
                    } else if let Some(rest) = line.strip_prefix("ASSIGN ") {
                        let a = rest
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(|s| s.parse().unwrap())
                            .collect();
                        lock(&assignments).push((at, a));
                    } else if line == "ASSIGN" {
                        lock(&assignments).push((at, BTreeSet::new()));
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let mut pipe = child.stderr.take().unwrap();
            let stderr = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                lock(&stderr).push_str(&text);
            });
        }
        ChildConsumer {
            child,
            seen,
            assignments,
            stderr,
        }
    }

    fn assignment(&self) -> BTreeSet<i32> {
        lock(&self.assignments)
            .last()
            .map(|(_, a)| a.clone())
            .unwrap_or_default()
    }

    fn consumed(&self) -> usize {
        lock(&self.seen).iter().filter(|s| s.member == 1).count()
    }

    /// SIGKILL: no commit, no LeaveGroup.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildConsumer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("child consumer stderr:\n{}", lock(&self.stderr));
        }
    }
}

#[test]
fn consumer_process_killed_mid_batch_is_taken_over() {
    run_reps(
        "case 4: a consumer process killed mid-batch; the survivor takes over",
        2,
        consumer_killed_once,
    );
}

async fn consumer_killed_once(rep: u32) {
    const PARTITIONS: i32 = 4;
    const PER_PARTITION: u64 = 3_000;
    let session_timeout = group_config("x").session_timeout;
    let admin = connect(Duration::from_secs(5)).await;
    let topic = new_topic(&admin, "faults-consumer-kill", PARTITIONS, 3).await;
    let producer = Producer::new(
        idempotent(Duration::from_secs(10)),
        connect(Duration::from_secs(10)).await,
    )
    .unwrap();
    let tracker = Tracker::default();
    for seq in 0..PER_PARTITION {
        for p in 0..PARTITIONS {
            tracker.publish(&producer, &topic, p, seq).await;
        }
    }
    producer.flush().await.expect("pre-produced");
    tracker.wait_all(Duration::from_secs(30)).await;
    let ends = ends_of(&tracker, PARTITIONS);
    let verdict = verify_log(&topic, PARTITIONS, &tracker).await;
    account(&format!("case 4 rep {rep} (log)"), &verdict);

    let group = unique_name("faults-kill-member");
    let seen: SeenLog = Arc::default();
    let mut child = ChildConsumer::spawn(&group, &topic, 1, Arc::clone(&seen));
    let t = Instant::now();
    while child.consumed() == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the child consumed nothing"
        );
        sleep(Duration::from_millis(50)).await;
    }
    let monitor = Monitor::spawn(group.clone(), topic.clone(), PARTITIONS);
    let survivor = spawn_member(
        0,
        Consumer::new(
            group_config(&group),
            connect(Duration::from_secs(5)).await,
            vec![topic.clone()],
        )
        .unwrap(),
        Arc::clone(&seen),
        Duration::from_millis(1),
    );
    // Both members own two partitions, and the child has been consuming (and
    // auto-committing) its share for a while.
    let split_at = loop {
        let (s, c) = (survivor.assignment(), child.assignment());
        if s.len() == 2 && c.len() == 2 && s.is_disjoint(&c) {
            break Instant::now();
        }
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "no 2/2 split: survivor {s:?}, child {c:?}"
        );
        sleep(Duration::from_millis(50)).await;
    };
    let before = child.consumed();
    while child.consumed() < before + 1000 || split_at.elapsed() < Duration::from_millis(1500) {
        assert!(
            split_at.elapsed() < Duration::from_secs(30),
            "the child stopped consuming after the split"
        );
        sleep(Duration::from_millis(20)).await;
    }
    let child_parts = child.assignment();
    let survivor_parts = survivor.assignment();
    let killed_at = Instant::now();
    child.kill();
    FAULTS.fetch_add(1, Ordering::SeqCst);
    let child_consumed = child.consumed();
    log(format!(
        "  rep {rep}: SIGKILL the child consumer (owner of {child_parts:?}, {child_consumed} \
         records processed); survivor owns {survivor_parts:?}; session.timeout.ms {}",
        session_timeout.as_millis()
    ));
    // Let an OffsetCommit the child had in flight land, then read what it committed.
    sleep(Duration::from_secs(1)).await;
    let at_kill = committed(&admin, &group, &topic, PARTITIONS)
        .await
        .expect("committed offsets after the kill");

    let takeover = loop {
        if let Some((at, _)) = lock(&survivor.assignments)
            .iter()
            .find(|(at, a)| *at > killed_at && child_parts.is_subset(a))
        {
            break *at - killed_at;
        }
        assert!(
            killed_at.elapsed() < session_timeout + Duration::from_secs(20),
            "the survivor did not take over {child_parts:?}"
        );
        sleep(Duration::from_millis(50)).await;
    };
    wait_consumed_and_committed(&seen, &monitor.samples, &ends, Duration::from_secs(90)).await;
    let errors = survivor.finish().await;
    let samples = monitor.stop().await;

    let seen = lock(&seen).clone();
    let mut window = 0;
    for &p in &child_parts {
        let committed = at_kill[&p].max(0);
        let child_max = seen
            .iter()
            .filter(|s| s.member == 1 && s.partition == p)
            .map(|s| s.offset)
            .max()
            .unwrap_or(-1);
        let first = seen
            .iter()
            .filter(|s| s.member == 0 && s.partition == p && s.at > killed_at)
            .min_by_key(|s| s.at)
            .map(|s| s.offset);
        log(format!(
            "  rep {rep}: p{p}: child processed up to {child_max}, committed {committed}; \
             survivor resumed at {first:?}"
        ));
        assert_eq!(
            first,
            Some(committed),
            "p{p}: the survivor must resume at the child's last committed offset"
        );
        window += (child_max + 1 - committed).max(0);
    }
    assert!(
        takeover + Duration::from_millis(1500)
            >= session_timeout.saturating_sub(Duration::from_secs(1)),
        "taken over after {takeover:?}, before session.timeout.ms could expire"
    );
    log(format!(
        "  rep {rep}: survivor took over {child_parts:?} {:.1}s after the kill; uncommitted \
         window {window} records; survivor errors {errors:?}",
        takeover.as_secs_f64()
    ));
    let group_verdict = check_group(&seen, &lock(&samples), &ends);
    account_group(&format!("case 4 rep {rep} (group)"), &group_verdict);
    producer.close(Duration::from_secs(5)).await.unwrap();
}

// ------------------------------------------------------------------ case 5

#[test]
fn bootstrap_skips_a_dead_first_address() {
    run_case(
        "case 5: bootstrap list whose first address is dead",
        || async {
            let live = cluster_bootstrap();
            let admin = connect(Duration::from_secs(10)).await;
            let topic = new_topic(&admin, "faults-bootstrap", 1, 3).await;
            let mut seq = 0;
            let tracker = Tracker::default();
            // A refused port, and a frozen broker that accepts TCP but never answers
            // (loopback only: tests send nothing to other addresses).
            let node1 = live.split(',').next().unwrap_or_default().to_owned();
            for (label, dead, pause) in [
                ("refused port", "127.0.0.1:1".to_owned(), None),
                ("paused broker", node1, Some(1)),
            ] {
                if let Some(node) = pause {
                    inject(node, Down::Paused).await;
                }
                let list = format!("{dead},{live}");
                let started = Instant::now();
                let mut config = cluster_config(&list, Duration::from_secs(3));
                config.connect_timeout = Duration::from_secs(2);
                let cluster = Cluster::connect(config)
                    .await
                    .unwrap_or_else(|e| panic!("bootstrap from {list}: {e}"));
                let took = started.elapsed();
                let brokers = cluster.metadata().brokers.len();
                assert!(brokers >= 2, "{label}: {brokers} brokers");
                assert!(
                    took < Duration::from_secs(10),
                    "{label}: connect took {took:?}"
                );
                if let Some(node) = pause {
                    heal(node).await;
                }
                // The bootstrapped client works: a few idempotent records round-trip.
                let producer = Producer::new(idempotent(Duration::from_secs(10)), cluster).unwrap();
                for _ in 0..100 {
                    tracker.publish(&producer, &topic, 0, seq).await;
                    seq += 1;
                }
                let _ = producer.flush().await;
                tracker.wait_all(Duration::from_secs(60)).await;
                producer.close(Duration::from_secs(5)).await.unwrap();
                log(format!(
                    "  {label} ({dead}) first: connected in {:.2}s, {brokers} brokers",
                    took.as_secs_f64()
                ));
                CASES.fetch_add(1, Ordering::SeqCst);
            }
            wait_healthy(std::slice::from_ref(&topic)).await;
            let verdict = verify_log(&topic, 1, &tracker).await;
            account("case 5", &verdict);
            assert_eq!(verdict.acked, seq);
        },
    );
}

// ------------------------------------------------------------------ case 6

#[test]
fn unreachable_leader_bounds_the_queue_and_times_out_cleanly() {
    run_case(
        "case 6: the only replica paused; bounded queue, then delivery or a clear Timeout",
        || async {
            // Back in time: everything is delivered.
            let (s60, s6) = (Duration::from_secs(60), Duration::from_secs(6));
            unreachable_leader_once(1, Down::Paused, s60, Duration::from_secs(11)).await;
            CASES.fetch_add(1, Ordering::SeqCst);
            // Paused past message.timeout.ms: what was queued fails with Timeout (the
            // request already in the frozen broker's socket buffer may still be
            // written when it wakes up: an ambiguous timeout, counted).
            unreachable_leader_once(2, Down::Paused, s6, Duration::from_secs(14)).await;
            CASES.fetch_add(1, Ordering::SeqCst);
            // Killed past message.timeout.ms: the in-flight request dies with the
            // broker, so the idempotent producer must get past a sequence gap.
            unreachable_leader_once(3, Down::Killed, s6, Duration::from_secs(10)).await;
            CASES.fetch_add(1, Ordering::SeqCst);
        },
    );
}

async fn unreachable_leader_once(
    rep: u32,
    how: Down,
    message_timeout: Duration,
    pause_for: Duration,
) {
    const QUEUE: usize = 200;
    const IN_TIME_TOTAL: u64 = 3_000;
    let returns_in_time = pause_for < message_timeout;
    let admin = connect(Duration::from_secs(10)).await;
    let topic = new_topic(&admin, "faults-unreachable", 1, 1).await;
    let node = leader_of(&admin, &topic, 0).await;
    let cluster = connect(Duration::from_secs(3)).await;
    let config = ProducerConfig {
        queue_buffering_max_messages: QUEUE,
        message_timeout,
        ..idempotent(Duration::from_secs(3))
    };
    let producer = Producer::new(config, cluster).unwrap();
    let tracker = Tracker::default();
    for seq in 0..500 {
        tracker.publish(&producer, &topic, 0, seq).await;
    }
    producer.flush().await.expect("before the pause");
    log(format!(
        "  rep {rep}: RF1 topic on node {node}; {} it for {}s; queue {QUEUE} records, \
         message.timeout.ms {}",
        match how {
            Down::Paused => "SIGSTOP",
            Down::Killed => "kill -9",
        },
        pause_for.as_secs(),
        message_timeout.as_millis()
    ));
    inject(node, how).await;
    let paused_at = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (producer, tracker, topic, stop) = (
            producer.clone(),
            tracker.clone(),
            topic.clone(),
            Arc::clone(&stop),
        );
        tokio::spawn(async move {
            let mut seq = 500;
            while !stop.load(Ordering::SeqCst) && (!returns_in_time || seq < IN_TIME_TOTAL) {
                tracker.publish(&producer, &topic, 0, seq).await;
                seq += 1;
            }
            seq
        })
    };
    // While the node is away, publishers wait: the queue holds at most QUEUE records.
    let mut samples: Vec<(Instant, u64)> = Vec::new();
    let mut queued_mid = None;
    while paused_at.elapsed() < pause_for {
        samples.push((Instant::now(), tracker.outstanding()));
        if queued_mid.is_none() && paused_at.elapsed() > Duration::from_secs(3) {
            queued_mid = Some(tracker.queued.load(Ordering::SeqCst));
        }
        sleep(Duration::from_millis(20)).await;
    }
    let queued_end = tracker.queued.load(Ordering::SeqCst);
    sleep(Duration::from_millis(150)).await;
    // `outstanding` counts a record until our task has seen its outcome, a moment
    // after the producer released its room (and may have queued the next record):
    // discount the outcomes seen within 100 ms after each sample.
    let max_raw = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let max_outstanding = {
        let sent = lock(&tracker.sent);
        samples
            .iter()
            .map(|&(t, n)| {
                let late = sent
                    .iter()
                    .filter(|s| s.sent_at < t)
                    .filter(|s| {
                        s.outcome
                            .as_ref()
                            .is_some_and(|(at, _)| *at > t && *at <= t + Duration::from_millis(100))
                    })
                    .count() as u64;
                n.saturating_sub(late)
            })
            .max()
            .unwrap_or(0)
    };
    log(format!(
        "  rep {rep}: while the node was away at most {max_outstanding} records held ({max_raw} \
         before discounting outcomes seen late); queued {:?} at 3s, {queued_end} at the end",
        queued_mid
    ));
    assert!(
        max_outstanding <= QUEUE as u64,
        "{max_outstanding} records held, queue.buffering.max.messages is {QUEUE}"
    );
    if returns_in_time {
        assert!(max_raw <= QUEUE as u64, "{max_raw} records held");
    }
    if returns_in_time {
        assert_eq!(
            queued_mid,
            Some(queued_end),
            "publishers must wait while the queue is full"
        );
    }
    // Past message.timeout.ms, publishing stops while the node is still away.
    let mut publisher = Some(publisher);
    let stopped_at = if returns_in_time {
        None
    } else {
        stop.store(true, Ordering::SeqCst);
        Some(publisher.take().unwrap().await.unwrap())
    };
    heal(node).await;
    let resumed_at = Instant::now();
    let after_resume = match stopped_at {
        // The publisher finishes its IN_TIME_TOTAL records once the node is back.
        None => timeout(Duration::from_secs(60), publisher.take().unwrap())
            .await
            .expect("publishing resumes")
            .unwrap(),
        Some(last) => {
            wait_healthy(std::slice::from_ref(&topic)).await;
            // After timeouts the producer must still deliver new records.
            for seq in last..last + 300 {
                tracker.publish(&producer, &topic, 0, seq).await;
            }
            last + 300
        }
    };
    let _ = timeout(Duration::from_secs(120), producer.flush()).await;
    tracker.wait_all(Duration::from_secs(60)).await;
    let delivered_after = resumed_at.elapsed();
    let (errors, kinds) = tracker.errors();
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for s in lock(&tracker.sent).iter() {
        if let Some((_, Err(e))) = &s.outcome {
            let kind = match e {
                ProduceError::Timeout { .. } => "Timeout",
                ProduceError::QueueFull { .. } => "QueueFull",
                _ => "other",
            };
            *by_kind.entry(kind).or_default() += 1;
        }
    }
    log(format!(
        "  rep {rep}: {after_resume} published; all outcomes {:.1}s after the node returned; \
         {errors} errors {by_kind:?}, e.g. {kinds:?}",
        delivered_after.as_secs_f64()
    ));
    wait_healthy(std::slice::from_ref(&topic)).await;
    let verdict = verify_log(&topic, 1, &tracker).await;
    account(&format!("case 6 rep {rep}"), &verdict);
    if returns_in_time {
        assert_eq!(errors, 0, "the node came back in time: {kinds:?}");
    } else {
        assert!(errors > 0, "records held past message.timeout.ms must fail");
        for s in lock(&tracker.sent).iter() {
            if let Some((_, Err(e))) = &s.outcome {
                assert!(
                    matches!(
                        e,
                        ProduceError::Timeout { .. } | ProduceError::QueueFull { .. }
                    ),
                    "record {}: want a Timeout, got {e:?}",
                    s.seq
                );
                assert!(
                    e.to_string().contains("message.timeout.ms")
                        || e.to_string().contains("queue full"),
                    "{e}"
                );
            }
        }
        let late: Vec<u64> = lock(&tracker.sent)
            .iter()
            .filter(|s| s.seq >= after_resume - 300 && !matches!(s.outcome, Some((_, Ok(_)))))
            .map(|s| s.seq)
            .collect();
        assert!(
            late.is_empty(),
            "records sent after the node returned must be delivered; failed: {} (first {:?}): {:?}",
            late.len(),
            late.first(),
            lock(&tracker.sent)
                .iter()
                .find(|s| Some(&s.seq) == late.first())
                .and_then(|s| s.outcome.as_ref())
                .map(|(_, r)| r.as_ref().err().map(ToString::to_string))
        );
    }
    producer.close(Duration::from_secs(5)).await.unwrap();
}
