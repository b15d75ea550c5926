//! Issue 6: a mixed consumer group — flame-kafka, the Java client and librdkafka in
//! ONE group — splits the partitions correctly and consumes every message once.
//!
//! How each test goes:
//!
//! 1. A fresh 6-partition topic and a fresh group.
//! 2. The three members start: the Java peer first (its JVM is slow to start; the
//!    others follow once it is in the group, so their idle windows are not spent
//!    waiting for it), then the librdkafka peer (both `consume --group G
//!    --from-beginning --idle-exit-ms --report-assignment`, in threads through
//!    [`Peer::run`]) and ours (`flame_kafka::consume` + `run`). Everyone heartbeats
//!    every 500 ms so that rebalances settle quickly.
//! 3. The test asks the group coordinator (DescribeGroups) until the group is `Stable`
//!    with exactly the three members, each assigned a non-empty share, the shares
//!    disjoint and covering every partition — the same view twice in a row.
//! 4. Only then it produces 600 messages with distinct values through the flame
//!    producer, 100 per partition. The harness broker runs with
//!    `group.initial.rebalance.delay.ms=0`: had the messages been produced first, the
//!    first member to join would have read them all before the others arrived.
//! 5. Every member stops once no message has arrived for [`IDLE`] (the peers count it
//!    from their first assignment, ours from the end of the production), commits on
//!    close (auto-commit) and leaves. Nobody leaves while messages are unconsumed, so no
//!    rebalance can legitimately redeliver anything.
//!
//! Then: the union of what the members consumed is exactly the 600 values, none twice;
//! each member consumed only from the partitions the coordinator showed it owning while
//! all three were members, and consumed something; each peer's own assignment reports
//! (its rebalance callbacks) agree with the coordinator's view, and every message it got
//! was from a partition it owned at that moment; the group ends `Empty` with offset 100
//! committed on every partition.
//!
//! - `range_with_default_strategies`: every client keeps its default strategy list
//!   (ours `range,roundrobin`, Java `range,cooperative-sticky`, librdkafka
//!   `range,roundrobin`); `range` is the only common first choice, so the broker must
//!   pick it — checked.
//! - `cooperative_sticky`: all three configured with `cooperative-sticky` only
//!   (incremental rebalancing, two rounds per join).
//!
//! Needs the broker of `protocol-tests/harness/kafka.sh` (`FLAME_KAFKA_BOOTSTRAP`) and
//! the peers (`FLAME_KAFKA_JAVA_PEER`, `FLAME_KAFKA_RDKAFKA_PEER`); panics with
//! instructions when they are missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use flame_kafka::lower::cluster::{BrokerId, Cluster, Purpose};
use flame_kafka::lower::codec::messages::{DescribeGroupsRequest, GroupId};
use flame_kafka::lower::codec::protocol::StrBytes;
use flame_kafka::lower::group::protocol::Assignment;
use flame_kafka::Message;
use flame_kafka_protocol_tests::admin::{self, AskError};
use flame_kafka_protocol_tests::peer::{unb64, Peer, PeerMessage};
use flame_kafka_protocol_tests::{bootstrap, unique_name};

const PARTITIONS: i32 = 6;
const MESSAGES: usize = 600;
/// How long a member waits without a message before it leaves the group.
const IDLE: Duration = Duration::from_secs(10);
/// The peers' overall limit (`--timeout-ms`).
const PEER_TIMEOUT_MS: u64 = 55_000;
/// How long the group may take to settle with every member.
const SETTLE_WITHIN: Duration = Duration::from_secs(30);
/// Everyone's `heartbeat.interval.ms`: a member learns of a rebalance at its next heartbeat.
const HEARTBEAT_MS: &str = "500";
/// The name of the header of the peers' assignment lines (see the peers' headers).
const ASSIGNMENT_HEADER: &str = "flame-peer-assignment";

// ------------------------------------------------------------------ members

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Member {
    Ours,
    Java,
    Rdkafka,
}

impl Member {
    /// The `client.id` each member uses: how the coordinator's view names it.
    fn client_id(self) -> &'static str {
        match self {
            Member::Ours => "flame-mixed-group-ours",
            Member::Java => "flame-java-peer",
            Member::Rdkafka => "flame-rdkafka-peer",
        }
    }

    fn peer(self) -> Option<Peer> {
        match self {
            Member::Ours => None,
            Member::Java => Some(Peer::Java),
            Member::Rdkafka => Some(Peer::Rdkafka),
        }
    }
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One consumed message.
#[derive(Debug, Clone)]
struct Got {
    partition: i32,
    offset: i64,
    value: String,
}

/// What one member did.
#[derive(Debug, Default)]
struct Outcome {
    consumed: Vec<Got>,
    /// Peers only: the partitions owned after each assignment line, in order.
    assignments: Vec<BTreeSet<i32>>,
    /// Peers only: the owned partitions when the first message arrived.
    owned_at_first_message: Option<BTreeSet<i32>>,
    /// Peers only: messages printed while their partition was not owned (per the
    /// peer's own assignment lines).
    unowned: Vec<Got>,
}

fn value_text(value: Option<&Bytes>) -> String {
    let bytes = value.map(|b| b.to_vec()).unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_else(|e| panic!("value is not UTF-8: {e}"))
}

/// Splits a peer's output into messages and assignment lines (the only lines whose
/// `offset` is null), following its ownership line by line.
fn peer_outcome(member: Member, lines: &[PeerMessage]) -> Outcome {
    let mut out = Outcome::default();
    let mut owned: Option<BTreeSet<i32>> = None;
    for line in lines {
        let Some(offset) = line.offset else {
            let (name, value) = line
                .headers
                .first()
                .unwrap_or_else(|| panic!("{member} printed a line without offset: {line:?}"));
            assert_eq!(
                name, ASSIGNMENT_HEADER,
                "{member}: unexpected line {line:?}"
            );
            let listed = value_text(value.as_deref().map(unb64).as_ref());
            let set: BTreeSet<i32> = listed
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    p.parse()
                        .unwrap_or_else(|e| panic!("{member}: {listed:?}: {e}"))
                })
                .collect();
            out.assignments.push(set.clone());
            owned = Some(set);
            continue;
        };
        let partition = line
            .partition
            .unwrap_or_else(|| panic!("{member} printed a message without partition: {line:?}"));
        let got = Got {
            partition,
            offset,
            value: value_text(line.value.as_deref().map(unb64).as_ref()),
        };
        if out.owned_at_first_message.is_none() {
            out.owned_at_first_message = Some(owned.clone().unwrap_or_default());
        }
        if !owned.as_ref().is_some_and(|o| o.contains(&partition)) {
            out.unowned.push(got.clone());
        }
        out.consumed.push(got);
    }
    out
}

/// Starts a peer member in a thread: it consumes until idle and returns its output.
fn start_peer(
    member: Member,
    topic: &str,
    group: &str,
    strategy: Option<&str>,
) -> JoinHandle<Vec<PeerMessage>> {
    let peer = member.peer().expect("a peer member");
    let mut args: Vec<String> = [
        "--bootstrap",
        &bootstrap(),
        "--topic",
        topic,
        "--group",
        group,
        "--from-beginning",
        "--idle-exit-ms",
        &IDLE.as_millis().to_string(),
        "--report-assignment",
        "--timeout-ms",
        &PEER_TIMEOUT_MS.to_string(),
        "--property",
        &format!("heartbeat.interval.ms={HEARTBEAT_MS}"),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if let Some(strategy) = strategy {
        args.push("--property".into());
        args.push(format!("partition.assignment.strategy={strategy}"));
    }
    std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        peer.run("consume", &args, &[])
    })
}

/// Our member: consumes through the flame API until no message has arrived for
/// [`IDLE`] since the production ended (`produced` gets that instant), then closes.
struct Ours {
    run: tokio::task::JoinHandle<Result<(), flame_kafka::Error>>,
    closer: tokio::task::JoinHandle<()>,
    got: Arc<Mutex<Vec<Got>>>,
    produced: tokio::sync::watch::Sender<Option<Instant>>,
}

async fn start_ours(topic: &str, group: &str, strategy: Option<&str>) -> Ours {
    let bootstrap = bootstrap();
    let mut config = vec![
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group),
        ("client.id", Member::Ours.client_id()),
        ("auto.offset.reset", "earliest"),
        ("heartbeat.interval.ms", HEARTBEAT_MS),
    ];
    if let Some(strategy) = strategy {
        config.push(("partition.assignment.strategy", strategy));
    }
    let consumer = flame_kafka::consume(config, &[topic])
        .await
        .unwrap_or_else(|e| panic!("consume([{topic}]) in group {group}: {e}"));
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let last: Arc<Mutex<Option<Instant>>> = Arc::default();
    let (produced, mut produced_rx) = tokio::sync::watch::channel(None::<Instant>);

    let (closing, seen_last) = (consumer.clone(), last.clone());
    let closer = tokio::spawn(async move {
        let Ok(end) = produced_rx.wait_for(Option::is_some).await.map(|t| *t) else {
            return; // the test gave up before producing
        };
        let end = end.unwrap_or_else(Instant::now);
        loop {
            let since = seen_last.lock().unwrap().map_or(end, |l| l.max(end));
            if since.elapsed() >= IDLE {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        closing.close().await;
    });

    let (sink, stamp) = (got.clone(), last.clone());
    let run = tokio::spawn(async move {
        consumer
            .run(move |m: Message| {
                sink.lock().unwrap().push(Got {
                    partition: m.partition,
                    offset: m.offset,
                    value: value_text(m.payload.as_ref()),
                });
                *stamp.lock().unwrap() = Some(Instant::now());
                async { Ok::<(), std::convert::Infallible>(()) }
            })
            .await
    });
    Ours {
        run,
        closer,
        got,
        produced,
    }
}

// ------------------------------------------------------------------ the coordinator's view

/// The group's coordinator (FindCoordinator, retried while the coordinator loads).
async fn coordinator(cluster: &Cluster, group: &str) -> BrokerId {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match admin::find_coordinator(cluster, group).await {
            Ok(broker) => return broker,
            Err(AskError::Code(_, code)) => assert!(
                Instant::now() < deadline,
                "FindCoordinator({group}) keeps failing with error code {}",
                code.code()
            ),
            Err(e) => panic!("the coordinator of {group}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The group as its coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupView {
    state: String,
    protocol: String,
    /// Members by client id: the partitions of the topic assigned to each.
    members: BTreeMap<String, BTreeSet<i32>>,
    member_count: usize,
}

impl GroupView {
    /// Stable, exactly `expected` as members, each with a non-empty share, the shares
    /// disjoint and covering every partition.
    fn settled(&self, expected: &[Member]) -> bool {
        let ids: BTreeSet<&str> = expected.iter().map(|m| m.client_id()).collect();
        let mut union = BTreeSet::new();
        let mut total = 0;
        for set in self.members.values() {
            total += set.len();
            union.extend(set.iter().copied());
        }
        self.state == "Stable"
            && self.member_count == expected.len()
            && self
                .members
                .keys()
                .map(String::as_str)
                .collect::<BTreeSet<_>>()
                == ids
            && self.members.values().all(|s| !s.is_empty())
            && total == union.len()
            && union == (0..PARTITIONS).collect()
    }

    fn of(&self, member: Member) -> BTreeSet<i32> {
        self.members
            .get(member.client_id())
            .cloned()
            .unwrap_or_default()
    }
}

async fn describe(cluster: &Cluster, group: &str, topic: &str) -> GroupView {
    let broker = coordinator(cluster, group).await;
    let (response, _) = cluster
        .send_with(broker, Purpose::Group, |_| {
            DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(StrBytes::from_string(group.to_owned()))])
        })
        .await
        .expect("DescribeGroups");
    let described = response.groups.first().expect("one group described");
    assert_eq!(
        described.error_code, 0,
        "DescribeGroups({group}) error code {}",
        described.error_code
    );
    let mut members = BTreeMap::new();
    for m in &described.members {
        let assignment = Assignment::decode(&m.member_assignment).unwrap_or_else(|e| {
            panic!(
                "member {} ({}) of {group} has an unreadable assignment: {e}",
                m.member_id.as_str(),
                m.client_id.as_str()
            )
        });
        let mine: BTreeSet<i32> = assignment
            .partitions
            .iter()
            .filter(|tp| &*tp.topic == topic)
            .map(|tp| tp.partition)
            .collect();
        members
            .entry(m.client_id.as_str().to_owned())
            .or_insert_with(BTreeSet::new)
            .extend(mine);
    }
    GroupView {
        state: described.group_state.as_str().to_owned(),
        protocol: described.protocol_data.as_str().to_owned(),
        members,
        member_count: described.members.len(),
    }
}

/// Fails the test (with its output) if a peer exited before the group settled.
fn fail_if_a_peer_left(peers: &mut Vec<(Member, JoinHandle<Vec<PeerMessage>>)>) {
    if let Some(i) = peers.iter().position(|(_, h)| h.is_finished()) {
        let (member, handle) = peers.remove(i);
        let output = handle
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        panic!(
            "{member} left before the group settled (an idle window of {IDLE:?} too short \
             for this machine?); it printed {output:?}"
        );
    }
}

/// Waits until `member` is in the group (in any state).
async fn wait_joined(
    cluster: &Cluster,
    group: &str,
    topic: &str,
    member: Member,
    peers: &mut Vec<(Member, JoinHandle<Vec<PeerMessage>>)>,
) {
    let deadline = Instant::now() + SETTLE_WITHIN;
    loop {
        fail_if_a_peer_left(peers);
        let view = describe(cluster, group, topic).await;
        if view.members.contains_key(member.client_id()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{member} did not join group {group} within {SETTLE_WITHIN:?}; last view: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the group has settled with every member in `expected` (the same
/// settled view twice in a row, half a second apart). A peer that exits before that
/// fails the test with its output.
async fn wait_settled(
    cluster: &Cluster,
    group: &str,
    topic: &str,
    expected: &[Member],
    peers: &mut Vec<(Member, JoinHandle<Vec<PeerMessage>>)>,
) -> GroupView {
    let deadline = Instant::now() + SETTLE_WITHIN;
    let mut previous: Option<GroupView> = None;
    loop {
        fail_if_a_peer_left(peers);
        let view = describe(cluster, group, topic).await;
        if view.settled(expected) {
            if previous.as_ref() == Some(&view) {
                return view;
            }
            previous = Some(view);
        } else {
            previous = None;
            assert!(
                Instant::now() < deadline,
                "group {group} did not settle with {expected:?} within {SETTLE_WITHIN:?}; \
                 last view: {view:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The offsets `group` has committed for the topic's partitions (absent: none).
async fn committed(cluster: &Cluster, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    let broker = coordinator(cluster, group).await;
    let mut offsets = admin::committed_offsets(cluster, broker, group, topic, PARTITIONS)
        .await
        .unwrap_or_else(|e| panic!("committed offsets of {group} for {topic}: {e}"));
    offsets.retain(|_, offset| *offset >= 0);
    offsets
}

// ------------------------------------------------------------------ the test

/// The values produced: `mixed-{i}` to partition `i % PARTITIONS`.
fn value(i: usize) -> String {
    format!("mixed-{i:03}")
}

async fn produce_all(topic: &str) {
    let bootstrap = bootstrap();
    let producer = flame_kafka::produce([("bootstrap.servers", bootstrap.as_str())], &[topic])
        .await
        .unwrap_or_else(|e| panic!("produce([{topic}]): {e}"));
    let mut deliveries = Vec::with_capacity(MESSAGES);
    for i in 0..MESSAGES {
        let mut message = Message::new(value(i), Some(Bytes::from(format!("k-{i}"))));
        message.partition = i32::try_from(i).unwrap() % PARTITIONS;
        deliveries.push(
            producer
                .publish_message(topic, message)
                .await
                .unwrap_or_else(|e| panic!("publish {i}: {e}")),
        );
    }
    for (i, d) in deliveries.into_iter().enumerate() {
        d.await.unwrap_or_else(|e| panic!("delivery of {i}: {e}"));
    }
    producer.flush().await.expect("flush");
}

async fn mixed_group(label: &str, strategy: Option<&str>, expected_protocol: &str) {
    let members = [Member::Ours, Member::Java, Member::Rdkafka];
    let started = Instant::now();
    let cluster = admin::connect().await;
    let topic = admin::create_topic(&cluster, label, PARTITIONS, 1).await;
    let group = unique_name(&format!("{label}-group"));

    // The JVM first: it takes a few seconds to start, and the others' idle windows
    // should not be spent waiting for it.
    let mut peers = vec![(
        Member::Java,
        start_peer(Member::Java, &topic, &group, strategy),
    )];
    wait_joined(&cluster, &group, &topic, Member::Java, &mut peers).await;
    let java_joined = started.elapsed();
    peers.push((
        Member::Rdkafka,
        start_peer(Member::Rdkafka, &topic, &group, strategy),
    ));
    let ours = start_ours(&topic, &group, strategy).await;

    let view = wait_settled(&cluster, &group, &topic, &members, &mut peers).await;
    let settled_after = started.elapsed();
    assert_eq!(
        view.protocol, expected_protocol,
        "the group chose {} (view {view:?})",
        view.protocol
    );

    produce_all(&topic).await;
    let _ = ours.produced.send(Some(Instant::now()));

    // Everyone consumes, goes idle and leaves.
    let ran = tokio::time::timeout(Duration::from_millis(PEER_TIMEOUT_MS), ours.run)
        .await
        .expect("our consumer did not stop")
        .expect("our run task");
    ran.unwrap_or_else(|e| panic!("our run failed: {e}"));
    ours.closer.await.expect("closer task");
    let mut outcomes: BTreeMap<Member, Outcome> = BTreeMap::new();
    let ours_got = std::mem::take(&mut *ours.got.lock().unwrap());
    outcomes.insert(
        Member::Ours,
        Outcome {
            consumed: ours_got,
            ..Outcome::default()
        },
    );
    for (member, handle) in peers {
        let lines = tokio::task::spawn_blocking(move || handle.join())
            .await
            .expect("join task")
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        outcomes.insert(member, peer_outcome(member, &lines));
    }

    // Every value exactly once, across the group.
    let mut by_value: BTreeMap<&str, Vec<(Member, i32, i64)>> = BTreeMap::new();
    for (member, outcome) in &outcomes {
        for g in &outcome.consumed {
            by_value
                .entry(g.value.as_str())
                .or_default()
                .push((*member, g.partition, g.offset));
        }
    }
    let twice: Vec<_> = by_value.iter().filter(|(_, w)| w.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "{} values consumed more than once (value: [(member, partition, offset)]): {:?}",
        twice.len(),
        twice.iter().take(20).collect::<Vec<_>>()
    );
    let produced: BTreeSet<String> = (0..MESSAGES).map(value).collect();
    let got: BTreeSet<String> = by_value.keys().map(|v| (*v).to_owned()).collect();
    let missing: Vec<_> = produced.difference(&got).take(20).collect();
    let unexpected: Vec<_> = got.difference(&produced).take(20).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "consumed {} of {MESSAGES} values; missing (first 20): {missing:?}; unexpected: \
         {unexpected:?}",
        got.len()
    );

    // Each member: a non-empty share, only from the partitions the coordinator showed
    // it owning while all three were members (and so exactly its partitions' messages).
    for (member, outcome) in &outcomes {
        let share = view.of(*member);
        let from: BTreeSet<i32> = outcome.consumed.iter().map(|g| g.partition).collect();
        assert!(
            !outcome.consumed.is_empty(),
            "{member} consumed nothing (its share was {share:?})"
        );
        assert!(
            from.is_subset(&share),
            "{member} consumed from partitions {from:?}, but owned {share:?} (view {view:?})"
        );
        assert_eq!(
            outcome.consumed.len(),
            share.len() * (MESSAGES / PARTITIONS as usize),
            "{member} owned {share:?}"
        );
        if member.peer().is_some() {
            assert_eq!(
                outcome.owned_at_first_message.as_ref(),
                Some(&share),
                "{member}'s own assignment reports {:?} disagree with the coordinator's {view:?}",
                outcome.assignments
            );
            assert!(
                outcome.unowned.is_empty(),
                "{member} got messages of partitions it did not own (by its own reports {:?}): \
                 {:?}",
                outcome.assignments,
                outcome.unowned
            );
        }
    }

    // Everyone left, having committed everything it consumed.
    let after = describe(&cluster, &group, &topic).await;
    assert_eq!(
        (after.state.as_str(), after.member_count),
        ("Empty", 0),
        "after every member closed: {after:?}"
    );
    let offsets = committed(&cluster, &group, &topic).await;
    let full: BTreeMap<i32, i64> = (0..PARTITIONS)
        .map(|p| (p, (MESSAGES / PARTITIONS as usize) as i64))
        .collect();
    assert_eq!(
        offsets, full,
        "committed offsets of {group} after every member closed"
    );
    eprintln!(
        "mixed group {label} ({expected_protocol}): Java joined after {java_joined:?}, the \
         group settled after {settled_after:?} as {:?}; done after {:?}",
        view.members,
        started.elapsed()
    );
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .with_test_writer()
        .try_init();
}

/// Every client with its default strategy list: `range` is the common choice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn range_with_default_strategies() {
    init_logs();
    mixed_group("mixed-range", None, "range").await;
}

/// Every client with `cooperative-sticky` only: incremental rebalancing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cooperative_sticky() {
    init_logs();
    mixed_group(
        "mixed-coop",
        Some("cooperative-sticky"),
        "cooperative-sticky",
    )
    .await;
}
