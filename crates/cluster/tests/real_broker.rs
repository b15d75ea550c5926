//! Against real Apache Kafka 4.1 brokers run by `protocol-tests/harness/kafka.sh`:
//!
//! ```text
//! bash protocol-tests/harness/kafka.sh install
//! bash protocol-tests/harness/kafka.sh start single    # 127.0.0.1:19092 (+ SASL, SSL)
//! bash protocol-tests/harness/kafka.sh start cluster   # 127.0.0.1:29092..29094
//! eval "$(bash protocol-tests/harness/kafka.sh env)"
//! cargo test -p flame-kafka-cluster --test real_broker
//! ```
//!
//! The tests panic if the environment variables are missing: they never skip.
// Test helpers panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use flame_kafka_cluster::security::{CaSource, SaslConfig, Security, TlsConfig};
use flame_kafka_cluster::{
    BrokerId, Cluster, ClusterConfig, ClusterError, DisconnectReason, Purpose,
};
use flame_kafka_codec::messages::fetch_request::{FetchPartition, FetchTopic};
use flame_kafka_codec::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use flame_kafka_codec::messages::produce_request::{PartitionProduceData, TopicProduceData};
use flame_kafka_codec::messages::{
    ApiKey, ApiVersionsRequest, FetchRequest, ListOffsetsRequest, ListOffsetsResponse,
    ProduceRequest, TopicName,
};
use flame_kafka_codec::protocol::StrBytes;
use flame_kafka_codec::record_batch::{encode_batch, ProducerStamp};
use flame_kafka_codec::{Compression, KafkaCode, Record};
use tokio::time::Instant;

/// The cluster tests kill and restart nodes: run them one at a time.
static CLUSTER_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: start the brokers with `bash protocol-tests/harness/kafka.sh \
             start single` (and `start cluster`), then `eval \"$(bash \
             protocol-tests/harness/kafka.sh env)\"`"
        )
    })
}

/// An ApiVersions request valid at v3, which requires a client software name and
/// version (empty ones are INVALID_REQUEST).
fn api_versions() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name("flame-tests".into())
        .with_client_software_version("1".into())
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "flame_kafka_cluster=info".into()),
        )
        .with_test_writer()
        .try_init();
}

fn unique(label: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("flame-cluster-{label}-{}-{nanos}", std::process::id())
}

fn config(bootstrap: &str) -> ClusterConfig {
    let mut config = ClusterConfig::new(bootstrap);
    config.client_id = "flame-cluster-tests".into();
    config.connect_timeout = Duration::from_secs(5);
    config.request_timeout = Duration::from_secs(15);
    config
}

async fn connect(bootstrap: &str) -> Cluster {
    init_tracing();
    Cluster::connect(config(bootstrap)).await.unwrap()
}

/// The latest offset of each partition, asked of its leader on the Fetch connection.
async fn latest_offset(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
) -> Result<i64, ClusterError> {
    let (leader, epoch) = cluster.leader(topic, partition).await?;
    let (response, _): (ListOffsetsResponse, i16) = cluster
        .send_with(leader, Purpose::Fetch, |_| {
            ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_current_leader_epoch(epoch)
                    .with_timestamp(-1)])])
        })
        .await?;
    let p = &response.topics[0].partitions[0];
    match KafkaCode::from_code(p.error_code) {
        None => Ok(p.offset),
        Some(code) => Err(ClusterError::Kafka {
            code,
            api: Some(ApiKey::ListOffsets),
            broker: None,
            topic: Some(topic.to_owned()),
            partition: Some(partition),
            message: None,
        }),
    }
}

/// [`latest_offset`], retrying retriable errors (leadership moving) after a refresh.
async fn latest_offset_retrying(cluster: &Cluster, topic: &str, partition: i32) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match latest_offset(cluster, topic, partition).await {
            Ok(offset) => return offset,
            Err(e) if e.is_retriable() && Instant::now() < deadline => {
                tracing::info!(error = %e, "retrying ListOffsets");
                tokio::time::sleep(Duration::from_millis(200)).await;
                let _ = cluster.refresh_metadata().await;
            }
            Err(e) => panic!("ListOffsets {topic}-{partition}: {e}"),
        }
    }
}

#[tokio::test]
async fn bootstrap_skips_dead_addresses_and_keeps_only_cluster_members() {
    let bootstrap = env("FLAME_KAFKA_BOOTSTRAP");
    let port = bootstrap.rsplit(':').next().unwrap().to_owned();
    // Dead first (nothing listens on port 1), an IPv6 literal, then a DNS name for
    // the live broker.
    let list = format!("127.0.0.1:1,[::1]:1,localhost:{port}");
    let started = Instant::now();
    let cluster = connect(&list).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let metadata = cluster.metadata();
    assert_eq!(metadata.brokers.len(), 1, "{metadata:?}");
    let broker = metadata.brokers.values().next().unwrap();
    assert_eq!(broker.port.to_string(), port);
    assert!(metadata.brokers.values().all(|b| b.port != 1));
}

#[tokio::test]
async fn no_live_bootstrap_address_is_no_broker_available() {
    init_tracing();
    let mut config = config("127.0.0.1:1,127.0.0.1:2");
    config.connect_timeout = Duration::from_secs(2);
    let err = Cluster::connect(config).await.unwrap_err();
    match &err {
        ClusterError::NoBrokerAvailable { tried, last_error } => {
            assert_eq!(tried, &["127.0.0.1:1", "127.0.0.1:2"]);
            assert!(matches!(
                last_error.as_deref(),
                Some(ClusterError::Connect { .. })
            ));
        }
        other => panic!("expected NoBrokerAvailable, got {other:?}"),
    }
    assert!(err.is_retriable());
}

#[tokio::test]
async fn api_versions_and_metadata_describe_the_broker() {
    let bootstrap = env("FLAME_KAFKA_BOOTSTRAP");
    let cluster = connect(&bootstrap).await;
    let metadata = cluster.metadata();
    assert!(metadata.cluster_id.is_some());
    let (&id, address) = metadata.brokers.iter().next().unwrap();
    assert_eq!(address.address(), bootstrap);
    assert!(metadata.controller.is_some());

    let (response, version) = cluster
        .send(id, Purpose::Metadata, &api_versions())
        .await
        .unwrap();
    assert_eq!(version, 3);
    assert_eq!(response.error_code, 0);
    let produce = response
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::Produce as i16)
        .unwrap();
    assert!(produce.max_version >= 12);

    // A broker that is not in the metadata is a typed error.
    let err = cluster
        .send(BrokerId(4242), Purpose::Metadata, &api_versions())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ClusterError::UnknownBroker {
            broker: BrokerId(4242)
        }
    ));
}

#[tokio::test]
async fn created_topic_is_found_with_leaders_and_missing_topic_is_unknown() {
    let cluster = connect(&env("FLAME_KAFKA_BOOTSTRAP")).await;
    let topic = unique("create");
    cluster.create_topics(&[(&topic, 3, 1)]).await.unwrap();
    // Creating it again is not an error.
    cluster.create_topics(&[(&topic, 3, 1)]).await.unwrap();

    let metadata = cluster
        .ensure_topics(std::slice::from_ref(&topic))
        .await
        .unwrap();
    let t = metadata.topic(&topic).unwrap();
    assert_eq!(t.partitions.len(), 3);
    for p in &t.partitions {
        let leader = p.leader.unwrap();
        assert!(metadata.brokers.contains_key(&leader));
        assert!(p.leader_epoch >= 0);
        assert_eq!(p.replicas, [leader]);
    }
    let (leader, _) = cluster.leader(&topic, 2).await.unwrap();
    assert!(metadata.brokers.contains_key(&leader));
    assert!(matches!(
        cluster.leader(&topic, 7).await,
        Err(ClusterError::UnknownPartition { partition: 7, .. })
    ));

    // The broker auto-creates topics, but this client does not ask it to.
    let missing = unique("missing");
    let err = cluster
        .ensure_topics(std::slice::from_ref(&missing))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClusterError::UnknownTopic { topic } if *topic == missing),
        "{err:?}"
    );
    assert!(!err.is_retriable());

    cluster.delete_topics(&[&topic, &missing]).await.unwrap();
    let err = cluster
        .ensure_topics(std::slice::from_ref(&topic))
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::UnknownTopic { .. }), "{err:?}");
}

#[tokio::test]
async fn concurrent_refreshes_are_coalesced() {
    let cluster = connect(&env("FLAME_KAFKA_BOOTSTRAP")).await;
    let calls: Vec<_> = (0..20).map(|_| cluster.refresh_metadata()).collect();
    let mut snapshots: Vec<Arc<_>> = Vec::new();
    for result in futures_join_all(calls).await {
        let snapshot = result.unwrap();
        if !snapshots.iter().any(|s| Arc::ptr_eq(s, &snapshot)) {
            snapshots.push(snapshot);
        }
    }
    // The first call's request, plus at most one for the calls made while it ran.
    assert!(
        snapshots.len() <= 2,
        "{} distinct refreshes",
        snapshots.len()
    );
}

/// Polls all futures on this task (no spawning, so `Cluster` need not be 'static).
async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *output = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn pipelined_requests_on_one_connection_all_get_their_own_answer() {
    let cluster = connect(&env("FLAME_KAFKA_BOOTSTRAP")).await;
    let id = cluster.any_broker().await.unwrap();
    let topic = unique("pipeline");
    cluster.create_topics(&[(&topic, 2, 1)]).await.unwrap();
    cluster
        .ensure_topics(std::slice::from_ref(&topic))
        .await
        .unwrap();
    // Right after creation a partition's leader may not serve it yet.
    for partition in 0..2 {
        latest_offset_retrying(&cluster, &topic, partition).await;
    }
    // Different APIs interleaved on the one Fetch connection (ListOffsets goes
    // there too): each answer must decode as the type of its own request.
    let request = api_versions();
    let versions: Vec<_> = (0..20)
        .map(|_| cluster.send(id, Purpose::Fetch, &request))
        .collect();
    let offsets: Vec<_> = (0..20)
        .map(|i| latest_offset(&cluster, &topic, i % 2))
        .collect();
    let (versions, offsets) = tokio::join!(futures_join_all(versions), futures_join_all(offsets));
    for response in versions {
        assert_eq!(response.unwrap().0.error_code, 0);
    }
    for offset in offsets {
        assert_eq!(offset.unwrap(), 0);
    }
    cluster.delete_topics(&[&topic]).await.unwrap();
}

/// A Fetch of an empty partition from offset 0 that the broker holds for `wait`
/// (`min_bytes` 1: nothing arrives).
fn long_poll(topic: &str, wait: Duration) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(i32::try_from(wait.as_millis()).unwrap())
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])])
}

#[tokio::test]
async fn explicit_timeouts_cover_long_polls_and_lanes_keep_them_to_themselves() {
    init_tracing();
    let mut config = config(&env("FLAME_KAFKA_BOOTSTRAP"));
    config.request_timeout = Duration::from_secs(2);
    let cluster = Cluster::connect(config).await.unwrap();
    let topic = unique("lanes");
    cluster.create_topics(&[(&topic, 1, 1)]).await.unwrap();
    let (leader, _) = cluster.leader(&topic, 0).await.unwrap();
    // Generous margins: CI machines are loaded, and a lane's first request also
    // dials its connection.
    let wait = Duration::from_secs(5);
    let long = Duration::from_secs(2) + wait;

    // Held 5 s: longer than the 2 s request timeout...
    let err = cluster
        .send_with(leader, Purpose::Fetch, |_| long_poll(&topic, wait))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClusterError::Timeout { api: ApiKey::Fetch, after, .. } if after == Duration::from_secs(2)),
        "{err:?}"
    );
    // ...but within an explicit timeout of request timeout + max wait.
    let started = Instant::now();
    let (response, _) = cluster
        .send_with_timeout(leader, Purpose::Fetch, long, |_| long_poll(&topic, wait))
        .await
        .unwrap();
    assert_eq!(response.error_code, 0);
    assert!(
        started.elapsed() >= Duration::from_millis(4500),
        "{:?}",
        started.elapsed()
    );

    // A request held on one lane delays only what follows it on that lane: not
    // another lane, nor the shared connection.
    let (a, b) = (cluster.lane(Purpose::Fetch), cluster.lane(Purpose::Fetch));
    let started = Instant::now();
    let later = || tokio::time::sleep(Duration::from_millis(200));
    let (held, behind, beside, shared) = tokio::join!(
        a.send_with_timeout(leader, long, |_| long_poll(&topic, wait)),
        async {
            later().await;
            a.send_with_timeout(leader, long, |_| api_versions())
                .await
                .unwrap();
            started.elapsed()
        },
        async {
            later().await;
            b.send_with(leader, |_| api_versions()).await.unwrap();
            started.elapsed()
        },
        async {
            later().await;
            cluster
                .send(leader, Purpose::Fetch, &api_versions())
                .await
                .unwrap();
            started.elapsed()
        },
    );
    assert_eq!(held.unwrap().0.error_code, 0);
    assert!(
        behind >= Duration::from_millis(4500),
        "behind the long poll: {behind:?}"
    );
    assert!(
        beside < Duration::from_millis(3500),
        "on another lane: {beside:?}"
    );
    assert!(
        shared < Duration::from_millis(3500),
        "on the shared connection: {shared:?}"
    );
    drop((a, b));
    cluster.delete_topics(&[&topic]).await.unwrap();
}

#[tokio::test]
async fn acks_zero_produce_is_written_without_a_response() {
    let cluster = connect(&env("FLAME_KAFKA_BOOTSTRAP")).await;
    let topic = unique("acks0");
    cluster.create_topics(&[(&topic, 1, 1)]).await.unwrap();
    cluster
        .ensure_topics(std::slice::from_ref(&topic))
        .await
        .unwrap();
    let (leader, _) = cluster.leader(&topic, 0).await.unwrap();

    let mut records = BytesMut::new();
    let record = Record {
        timestamp: 1,
        value: Some("v".into()),
        ..Record::default()
    };
    encode_batch(
        &mut records,
        &[record],
        ProducerStamp::default(),
        Compression::None,
        None,
    )
    .unwrap();
    let request = ProduceRequest::default()
        .with_acks(0)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.clone())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records.freeze()))])]);
    for _ in 0..3 {
        let version = cluster
            .send_no_response(leader, Purpose::Produce, &request)
            .await
            .unwrap();
        assert!(version >= 3);
    }
    // The broker processed all three: the log end offset moves to 3.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let offset = latest_offset(&cluster, &topic, 0).await.unwrap();
        if offset == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "log end offset stuck at {offset}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.delete_topics(&[&topic]).await.unwrap();
}

fn sasl_security(sasl: SaslConfig, tls: Option<TlsConfig>) -> Security {
    match tls {
        None => Security::SaslPlaintext(sasl),
        Some(tls) => Security::SaslSsl(sasl, tls),
    }
}

fn tls_config() -> TlsConfig {
    TlsConfig {
        ca: CaSource::PemFile(PathBuf::from(env("FLAME_KAFKA_CA"))),
        ..TlsConfig::default()
    }
}

async fn connect_secured(bootstrap: &str, security: Security) -> Result<Cluster, ClusterError> {
    init_tracing();
    let mut config = config(bootstrap);
    config.security = security;
    Cluster::connect(config).await
}

#[tokio::test]
async fn sasl_plain_and_scram_authenticate() {
    let bootstrap = env("FLAME_KAFKA_SASL_BOOTSTRAP");
    let (user, password) = (
        env("FLAME_KAFKA_SASL_USER"),
        env("FLAME_KAFKA_SASL_PASSWORD"),
    );
    for sasl in [
        SaslConfig::plain(&user, password.as_str()),
        SaslConfig::scram_sha256(&user, password.as_str()),
        SaslConfig::scram_sha512(&user, password.as_str()),
    ] {
        let mechanism = sasl.mechanism;
        let cluster = connect_secured(&bootstrap, sasl_security(sasl, None))
            .await
            .unwrap_or_else(|e| panic!("{mechanism}: {e}"));
        // Requests to the advertised SASL listener work too.
        let id = cluster.any_broker().await.unwrap();
        cluster
            .send(id, Purpose::Metadata, &api_versions())
            .await
            .unwrap();
    }
}

/// KIP-368: kafka.sh gives SASL_PLAINTEXT sessions a 3 s lifetime
/// (`connections.max.reauth.ms`), and the broker closes a connection used after its
/// session expired. One connection kept busy for four lifetimes (three requests at
/// once every 100 ms) must answer every request and stay the same connection: its
/// session is renewed in place.
#[tokio::test]
async fn sasl_sessions_are_renewed_on_a_busy_connection() {
    let bootstrap = env("FLAME_KAFKA_SASL_BOOTSTRAP");
    let (user, password) = (
        env("FLAME_KAFKA_SASL_USER"),
        env("FLAME_KAFKA_SASL_PASSWORD"),
    );
    let lifetime = Duration::from_secs(3);
    let sessions = async |sasl: SaslConfig| {
        let mechanism = sasl.mechanism;
        let cluster = connect_secured(&bootstrap, sasl_security(sasl, None))
            .await
            .unwrap_or_else(|e| panic!("{mechanism}: {e}"));
        let id = cluster.any_broker().await.unwrap();
        // A lane: a connection no background metadata refresh shares.
        let lane = cluster.lane(Purpose::Metadata);
        lane.send_with(id, |_| api_versions()).await.unwrap();
        let before = cluster.connection_stats();
        let started = Instant::now();
        let mut answered = 0;
        while started.elapsed() < 4 * lifetime {
            let send = || lane.send_with(id, |_| api_versions());
            let (a, b, c) = tokio::join!(send(), send(), send());
            for result in [a, b, c] {
                result.unwrap_or_else(|e| {
                    panic!(
                        "{mechanism}: request {answered} failed after {:?}: {e}",
                        started.elapsed()
                    )
                });
                answered += 1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let after = cluster.connection_stats();
        eprintln!(
            "{mechanism}: {answered} requests in {:?}; {before:?} -> {after:?}",
            started.elapsed()
        );
        assert_eq!(after.opened, before.opened, "{mechanism}: reconnected");
        let renewed = after.reauthenticated - before.reauthenticated;
        assert!(
            renewed >= 3,
            "{mechanism}: {renewed} renewals in 4 lifetimes"
        );
    };
    sessions(SaslConfig::plain(&user, password.as_str())).await;
    sessions(SaslConfig::scram_sha512(&user, password.as_str())).await;
}

#[tokio::test]
async fn wrong_sasl_password_is_a_typed_sasl_error_without_the_password() {
    let bootstrap = env("FLAME_KAFKA_SASL_BOOTSTRAP");
    let user = env("FLAME_KAFKA_SASL_USER");
    let wrong = "not-the-password-4711";
    for sasl in [
        SaslConfig::plain(&user, wrong),
        SaslConfig::scram_sha256(&user, wrong),
    ] {
        let err = connect_secured(&bootstrap, sasl_security(sasl, None))
            .await
            .unwrap_err();
        let ClusterError::NoBrokerAvailable {
            last_error: Some(last),
            ..
        } = &err
        else {
            panic!("expected NoBrokerAvailable, got {err:?}");
        };
        assert!(
            matches!(
                &**last,
                ClusterError::Sasl {
                    code: Some(KafkaCode::SaslAuthenticationFailed),
                    ..
                }
            ),
            "{last:?}"
        );
        assert!(!last.is_retriable());
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(wrong), "{shown}");
    }
}

#[tokio::test]
async fn tls_and_sasl_over_tls_connect() {
    let cluster = connect_secured(
        &env("FLAME_KAFKA_SSL_BOOTSTRAP"),
        Security::Ssl(tls_config()),
    )
    .await
    .unwrap();
    assert_eq!(cluster.metadata().brokers.len(), 1);

    let sasl = SaslConfig::scram_sha512(
        env("FLAME_KAFKA_SASL_USER"),
        env("FLAME_KAFKA_SASL_PASSWORD"),
    );
    let cluster = connect_secured(
        &env("FLAME_KAFKA_SASL_SSL_BOOTSTRAP"),
        sasl_security(sasl, Some(tls_config())),
    )
    .await
    .unwrap();
    let id = cluster.any_broker().await.unwrap();
    cluster
        .send(id, Purpose::Metadata, &api_versions())
        .await
        .unwrap();

    // A CA that did not sign the broker's certificate: a typed TLS error.
    let other = TlsConfig {
        ca: CaSource::PemFile(PathBuf::from(env("FLAME_KAFKA_OTHER_CA"))),
        ..TlsConfig::default()
    };
    let err = connect_secured(&env("FLAME_KAFKA_SSL_BOOTSTRAP"), Security::Ssl(other))
        .await
        .unwrap_err();
    let ClusterError::NoBrokerAvailable {
        last_error: Some(last),
        ..
    } = &err
    else {
        panic!("expected NoBrokerAvailable, got {err:?}");
    };
    assert!(
        matches!(
            &**last,
            ClusterError::Tls {
                broker: Some(_),
                ..
            }
        ),
        "{last:?}"
    );
}

// ------------------------------------------------------------ three-node cluster

fn harness(args: &[&str]) {
    let script = env("FLAME_KAFKA_HARNESS");
    let status = Command::new("bash")
        .arg(&script)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "kafka.sh {args:?} failed");
}

/// Restarts a killed node when dropped, so a failed assertion leaves the cluster
/// whole for the next test.
struct KilledNode(Option<i32>);

impl KilledNode {
    fn kill(node: i32) -> Self {
        harness(&["kill-node", &node.to_string()]);
        KilledNode(Some(node))
    }

    fn restart(&mut self) {
        if let Some(node) = self.0.take() {
            harness(&["restart-node", &node.to_string()]);
        }
    }
}

impl Drop for KilledNode {
    fn drop(&mut self) {
        self.restart();
    }
}

/// Refreshes until `done` holds for the metadata (or panics after `limit`).
async fn refresh_until(
    cluster: &Cluster,
    limit: Duration,
    what: &str,
    done: impl Fn(&flame_kafka_cluster::Metadata) -> bool,
) {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(metadata) = cluster.refresh_metadata().await {
            if done(&metadata) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn three_nodes_route_each_partition_to_its_leader() {
    let _serial = CLUSTER_LOCK.lock().await;
    let cluster = connect(&env("FLAME_KAFKA_CLUSTER_BOOTSTRAP")).await;
    let ids: BTreeSet<i32> = cluster.metadata().brokers.keys().map(|b| b.0).collect();
    assert_eq!(ids, BTreeSet::from([1, 2, 3]));

    let topic = unique("leaders");
    cluster.create_topics(&[(&topic, 6, 3)]).await.unwrap();
    let metadata = cluster
        .ensure_topics(std::slice::from_ref(&topic))
        .await
        .unwrap();
    let partitions = &metadata.topic(&topic).unwrap().partitions;
    assert_eq!(partitions.len(), 6);
    let mut leaders = BTreeSet::new();
    for p in partitions {
        let leader = p.leader.unwrap();
        assert!((1..=3).contains(&leader.0), "{p:?}");
        assert_eq!(p.replicas.len(), 3);
        leaders.insert(leader);
        assert_eq!(
            latest_offset(&cluster, &topic, p.partition).await.unwrap(),
            0
        );
    }
    assert!(leaders.len() > 1, "leadership is spread: {leaders:?}");
    cluster.delete_topics(&[&topic]).await.unwrap();
}

#[tokio::test]
async fn killed_broker_fails_in_flight_requests_fast_and_work_resumes_after_restart() {
    let _serial = CLUSTER_LOCK.lock().await;
    let mut config = config(&env("FLAME_KAFKA_CLUSTER_BOOTSTRAP"));
    config.reconnect_backoff_max = Duration::from_secs(1);
    init_tracing();
    let cluster = Cluster::connect(config).await.unwrap();
    let topic = unique("failover");
    cluster.create_topics(&[(&topic, 3, 3)]).await.unwrap();
    cluster
        .ensure_topics(std::slice::from_ref(&topic))
        .await
        .unwrap();

    // The node that leads partition 0.
    let (victim, _) = cluster.leader(&topic, 0).await.unwrap();
    // A long-poll fetch from the victim: in flight for up to 20 s unless it breaks.
    let fetch = FetchRequest::default()
        .with_max_wait_ms(20_000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.clone())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let in_flight = {
        let cluster = cluster.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = cluster.send(victim, Purpose::Fetch, &fetch).await;
            (result.map(|_| ()), started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut killed = KilledNode::kill(victim.0);
    let (result, elapsed) = in_flight.await.unwrap();
    let err = result.unwrap_err();
    assert!(
        matches!(&err, ClusterError::Disconnected { broker, reason: DisconnectReason::PeerClosed { .. } | DisconnectReason::Io(_) } if broker.id == Some(victim)),
        "{err:?}"
    );
    assert!(err.is_retriable() && err.needs_metadata_refresh());
    assert!(
        elapsed < Duration::from_secs(10),
        "failed after {elapsed:?}"
    );

    // While it is down: requests to it fail fast with a retriable error.
    let started = Instant::now();
    let err = cluster
        .send(victim, Purpose::Metadata, &api_versions())
        .await
        .unwrap_err();
    assert!(err.is_retriable(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(6));

    // The cluster fences it; metadata drops it and the partitions get new leaders.
    refresh_until(
        &cluster,
        Duration::from_secs(60),
        "the victim leaves",
        |m| {
            !m.brokers.contains_key(&victim)
                && m.topic(&topic).is_some_and(|t| {
                    t.partitions
                        .iter()
                        .all(|p| p.leader.is_some_and(|l| l != victim))
                })
        },
    )
    .await;
    for partition in 0..3 {
        assert_eq!(latest_offset_retrying(&cluster, &topic, partition).await, 0);
    }

    killed.restart();
    refresh_until(
        &cluster,
        Duration::from_secs(60),
        "the victim is back",
        |m| m.brokers.contains_key(&victim),
    )
    .await;
    // Reconnects (after backoff) and serves requests again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match cluster
            .send(victim, Purpose::Metadata, &api_versions())
            .await
        {
            Ok(_) => break,
            Err(e) => {
                assert!(e.is_retriable(), "{e:?}");
                assert!(Instant::now() < deadline, "no reconnect: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    for partition in 0..3 {
        assert_eq!(latest_offset_retrying(&cluster, &topic, partition).await, 0);
    }
    cluster.delete_topics(&[&topic]).await.unwrap();
}
