//! [`Cluster`]: the handle the crates above use to reach brokers. It bootstraps,
//! keeps the metadata snapshot fresh, and routes each request to the connection for
//! its (broker, purpose).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use flame_kafka_codec::messages::metadata_request::MetadataRequestTopic;
use flame_kafka_codec::messages::{MetadataRequest, TopicName};
use flame_kafka_codec::protocol::{Request, StrBytes};
use flame_kafka_codec::KafkaCode;
use rand::seq::SliceRandom;
use tokio::task::AbortHandle;

use crate::backoff::Backoff;
use crate::config::ClusterConfig;
use crate::connection::{Connection, Dialer};
use crate::error::{BrokerRef, ClusterError};
use crate::lane::Lane;
use crate::metadata::{BrokerId, Metadata};
use crate::pool::{LaneId, Pool, Purpose};
use crate::transport::Endpoint;

/// Metadata requests `ensure_topics` makes while partitions have no leader yet
/// (`LEADER_NOT_AVAILABLE` right after creation) before it gives up.
const ENSURE_ATTEMPTS: u32 = 6;

/// A client's view of one Kafka cluster: its connections and its metadata.
///
/// Cheap to clone (one `Arc`); every clone shares the same connections and
/// metadata. Dropping the last clone closes every connection and stops the
/// background metadata refresh.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<ClusterConfig>,
    bootstrap: Vec<Endpoint>,
    pool: Pool,
    metadata: RwLock<Arc<Metadata>>,
    /// Topics to ask for in metadata requests (all topics if empty).
    interest: Mutex<BTreeSet<String>>,
    /// Serialises metadata requests; see [`Cluster::refresh_metadata`].
    refresh_lock: tokio::sync::Mutex<()>,
    /// How many refreshes have started.
    refreshes_started: AtomicU64,
    /// The outcome of the last refresh and the number it had when it started.
    last_refresh: Mutex<(u64, Result<Arc<Metadata>, ClusterError>)>,
    /// Whether a background refresh is already scheduled.
    refresh_scheduled: AtomicBool,
    refresher: Mutex<Option<AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.refresher).take() {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let metadata = self.metadata();
        f.debug_struct("Cluster")
            .field("bootstrap_servers", &self.inner.config.bootstrap_servers)
            .field("cluster_id", &metadata.cluster_id)
            .field("brokers", &metadata.brokers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connects to the cluster: tries each bootstrap address in turn (every address
    /// each name resolves to) until one answers a Metadata request, then starts the
    /// background metadata refresh (`topic.metadata.refresh.interval.ms`).
    ///
    /// The bootstrap connection is closed afterwards: from then on the client talks
    /// to the brokers the metadata lists, at the addresses they advertise.
    ///
    /// # Errors
    /// [`ClusterError::Config`] for an empty or malformed `bootstrap.servers`,
    /// [`ClusterError::Tls`] for unusable TLS settings,
    /// [`ClusterError::NoBrokerAvailable`] if no bootstrap address answered.
    pub async fn connect(config: ClusterConfig) -> Result<Cluster, ClusterError> {
        if config.bootstrap_servers.is_empty() {
            return Err(ClusterError::Config {
                key: "bootstrap.servers",
                reason: "no address given".to_owned(),
            });
        }
        let bootstrap = config
            .bootstrap_servers
            .iter()
            .map(|s| Endpoint::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        let config = Arc::new(config);
        let dialer = Dialer::new(Arc::clone(&config))?;
        let cluster = Cluster {
            inner: Arc::new(Inner {
                config: Arc::clone(&config),
                bootstrap,
                pool: Pool::new(dialer),
                metadata: RwLock::new(Arc::new(Metadata::default())),
                interest: Mutex::new(BTreeSet::new()),
                refresh_lock: tokio::sync::Mutex::new(()),
                refreshes_started: AtomicU64::new(0),
                last_refresh: Mutex::new((0, Ok(Arc::new(Metadata::default())))),
                refresh_scheduled: AtomicBool::new(false),
                refresher: Mutex::new(None),
            }),
        };
        let metadata = cluster.refresh_metadata().await?;
        tracing::info!(
            cluster_id = metadata.cluster_id.as_deref().unwrap_or("?"),
            brokers = metadata.brokers.len(),
            "connected to the cluster"
        );
        let task = tokio::spawn(refresh_periodically(
            Arc::downgrade(&cluster.inner),
            config.metadata_refresh_interval,
        ));
        *lock(&cluster.inner.refresher) = Some(task.abort_handle());
        Ok(cluster)
    }

    /// The settings this cluster was connected with.
    pub fn config(&self) -> &ClusterConfig {
        &self.inner.config
    }

    /// Sends `request` to `broker` on the connection for `purpose` at the highest
    /// version both sides implement; returns the decoded response and that version.
    ///
    /// The caller must have built `request` so that it encodes at any version it
    /// may be sent at; use [`Cluster::send_with`] when fields depend on the version.
    ///
    /// # Errors
    /// [`ClusterError::UnknownBroker`], the connection's errors (see
    /// [`ClusterError::Timeout`], [`ClusterError::Disconnected`]), or
    /// [`ClusterError::Codec`] (no common version, encode or decode failure).
    pub async fn send<R>(
        &self,
        broker: BrokerId,
        purpose: Purpose,
        request: &R,
    ) -> Result<(R::Response, i16), ClusterError>
    where
        R: Request,
        R::Response: 'static,
    {
        let timeout = self.inner.config.request_timeout;
        self.exchange_then_refresh::<R, _>(broker, purpose, LaneId::SHARED, timeout, |_| request)
            .await
    }

    /// Like [`Cluster::send`], but builds the request for the negotiated version.
    ///
    /// # Errors
    /// As [`Cluster::send`].
    pub async fn send_with<R>(
        &self,
        broker: BrokerId,
        purpose: Purpose,
        build: impl FnOnce(i16) -> R,
    ) -> Result<(R::Response, i16), ClusterError>
    where
        R: Request,
        R::Response: 'static,
    {
        let timeout = self.inner.config.request_timeout;
        self.send_with_timeout(broker, purpose, timeout, build)
            .await
    }

    /// Like [`Cluster::send_with`], but waits up to `timeout` for the response
    /// instead of `request.timeout.ms`: for requests the broker may legitimately
    /// hold longer, e.g. a JoinGroup (held until every member rejoins, up to the
    /// rebalance timeout) or a long-polling Fetch (up to its `max_wait_ms`).
    ///
    /// The time counts from when the request is handed to its connection, so it
    /// includes any wait behind earlier requests on that connection. As with every
    /// request, a timeout closes the connection (a late response must not be read
    /// as the answer to a later request), failing the other requests on it.
    ///
    /// # Errors
    /// As [`Cluster::send`]; [`ClusterError::Timeout`] carries `timeout`.
    pub async fn send_with_timeout<R>(
        &self,
        broker: BrokerId,
        purpose: Purpose,
        timeout: Duration,
        build: impl FnOnce(i16) -> R,
    ) -> Result<(R::Response, i16), ClusterError>
    where
        R: Request,
        R::Response: 'static,
    {
        self.exchange_then_refresh::<R, R>(broker, purpose, LaneId::SHARED, timeout, build)
            .await
    }

    /// A [`Lane`]: connections of the caller's own for `purpose` (one per broker,
    /// dialled on first use, closed when the last clone of the lane is dropped), so
    /// that its requests never queue behind other users' requests on the shared
    /// connections, nor theirs behind its own.
    ///
    /// A broker answers one request per connection at a time, in order: a consumer
    /// group member sends its JoinGroup (which the coordinator holds for the whole
    /// rebalance) on a lane of its own, so that the heartbeats of other members
    /// sharing this `Cluster` do not wait behind it. No I/O happens here.
    pub fn lane(&self, purpose: Purpose) -> Lane {
        Lane::new(self.clone(), purpose, self.inner.pool.new_lane())
    }

    /// Writes `request` to `broker` without waiting for a response (acks=0
    /// produce); returns the version it was sent at once the bytes are written.
    ///
    /// # Errors
    /// As [`Cluster::send`].
    pub async fn send_no_response<R: Request>(
        &self,
        broker: BrokerId,
        purpose: Purpose,
        request: &R,
    ) -> Result<i16, ClusterError> {
        let result = async {
            let connection = self.connection(broker, purpose, LaneId::SHARED).await?;
            let version = version_of::<R>(&connection)?;
            connection.send_no_response(version, request).await?;
            Ok(version)
        }
        .await;
        self.after_error(result.as_ref().err());
        result
    }

    /// What this client's connections did so far: how many were set up, how many
    /// SASL sessions were renewed on live connections (KIP-368). For monitoring
    /// and tests; no I/O.
    pub fn connection_stats(&self) -> crate::ConnectionStats {
        self.inner.pool.dialer().stats()
    }

    /// The current metadata snapshot; no I/O.
    pub fn metadata(&self) -> Arc<Metadata> {
        Arc::clone(
            &self
                .inner
                .metadata
                .read()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// Fetches fresh metadata and swaps it in.
    ///
    /// Concurrent calls are coalesced: a call waits for the refresh in progress,
    /// and if a refresh that started after the call was made has finished by then,
    /// it returns that refresh's outcome instead of sending another request.
    ///
    /// Tries the known brokers (those already connected first), then the bootstrap
    /// addresses. Brokers missing from the answer are dropped and their connections
    /// closed.
    ///
    /// # Errors
    /// [`ClusterError::NoBrokerAvailable`] if no broker answered.
    pub async fn refresh_metadata(&self) -> Result<Arc<Metadata>, ClusterError> {
        let inner = &self.inner;
        let seen = inner.refreshes_started.load(Ordering::Acquire);
        let _guard = inner.refresh_lock.lock().await;
        {
            let last = lock(&inner.last_refresh);
            if last.0 > seen {
                return last.1.clone();
            }
        }
        let number = inner.refreshes_started.fetch_add(1, Ordering::AcqRel) + 1;
        let result = self.fetch_metadata().await.map(|m| self.install(m));
        if let Err(e) = &result {
            tracing::warn!(error = %e, "metadata refresh failed");
        }
        *lock(&inner.last_refresh) = (number, result.clone());
        result
    }

    /// Registers interest in `topics` (metadata requests will name them) and
    /// refreshes until every partition of each has a leader.
    ///
    /// `LEADER_NOT_AVAILABLE` (usual right after a topic is created) is retried a
    /// few times with backoff before it is returned.
    ///
    /// # Errors
    /// [`ClusterError::UnknownTopic`] if a topic does not exist (unless
    /// `allow_auto_create_topics` is set, when the broker may create it);
    /// [`ClusterError::Kafka`] for other topic errors or partitions still without
    /// a leader; the errors of [`Cluster::refresh_metadata`].
    pub async fn ensure_topics(&self, topics: &[String]) -> Result<Arc<Metadata>, ClusterError> {
        lock(&self.inner.interest).extend(topics.iter().cloned());
        let config = &self.inner.config;
        let mut backoff = Backoff::new(config.reconnect_backoff, config.reconnect_backoff_max);
        loop {
            let metadata = self.refresh_metadata().await?;
            let pending = match self.check_topics(&metadata, topics) {
                Ok(()) => return Ok(metadata),
                Err(e) => e,
            };
            if !pending.is_retriable() || backoff.failures() + 1 >= ENSURE_ATTEMPTS {
                if let ClusterError::UnknownTopic { topic } = &pending {
                    lock(&self.inner.interest).remove(topic);
                }
                return Err(pending);
            }
            tracing::debug!(error = %pending, "topic not ready yet; retrying");
            tokio::time::sleep(backoff.delay()).await;
            backoff.fail();
        }
    }

    /// The leader of a partition and its leader epoch, from the snapshot or, if it
    /// has none, after [`Cluster::ensure_topics`].
    ///
    /// # Errors
    /// [`ClusterError::UnknownPartition`], and those of [`Cluster::ensure_topics`].
    pub async fn leader(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<(BrokerId, i32), ClusterError> {
        if let Some(leader) = self.metadata().leader(topic, partition) {
            return Ok(leader);
        }
        let metadata = self.ensure_topics(&[topic.to_owned()]).await?;
        metadata
            .leader(topic, partition)
            .ok_or_else(|| ClusterError::UnknownPartition {
                topic: topic.to_owned(),
                partition,
            })
    }

    /// A broker to send cluster-wide requests to: one already connected if any,
    /// else a random one.
    ///
    /// # Errors
    /// [`ClusterError::NoBrokerAvailable`] if the metadata lists no broker even
    /// after a refresh.
    pub async fn any_broker(&self) -> Result<BrokerId, ClusterError> {
        let mut metadata = self.metadata();
        if metadata.brokers.is_empty() {
            metadata = self.refresh_metadata().await?;
        }
        let mut ids: Vec<BrokerId> = metadata.brokers.keys().copied().collect();
        ids.shuffle(&mut rand::rng());
        let connected = ids
            .iter()
            .find(|&&id| self.inner.pool.is_connected(id, Purpose::Metadata))
            .copied();
        connected
            .or_else(|| ids.first().copied())
            .ok_or_else(|| ClusterError::NoBrokerAvailable {
                tried: Vec::new(),
                last_error: None,
            })
    }

    /// The open connection to `broker` for `purpose` on `lane`.
    async fn connection(
        &self,
        broker: BrokerId,
        purpose: Purpose,
        lane: LaneId,
    ) -> Result<Connection, ClusterError> {
        let metadata = self.metadata();
        let address = metadata
            .brokers
            .get(&broker)
            .ok_or(ClusterError::UnknownBroker { broker })?;
        self.inner
            .pool
            .connection(broker, address, purpose, lane)
            .await
    }

    /// Sends the request `build` makes for the negotiated version on `lane`'s
    /// connection and waits up to `timeout`; no side effects on error (see
    /// [`Cluster::after_error`]).
    pub(crate) async fn exchange<R, B>(
        &self,
        broker: BrokerId,
        purpose: Purpose,
        lane: LaneId,
        timeout: Duration,
        build: impl FnOnce(i16) -> B,
    ) -> Result<(R::Response, i16), ClusterError>
    where
        R: Request,
        R::Response: 'static,
        B: std::borrow::Borrow<R>,
    {
        let connection = self.connection(broker, purpose, lane).await?;
        let version = version_of::<R>(&connection)?;
        // Moved in: an owned request is dropped once encoded.
        let request = build(version);
        let response = connection
            .send_timeout::<R, B>(version, request, timeout)
            .await?;
        Ok((response, version))
    }

    /// [`Cluster::exchange`], then [`Cluster::after_error`]: what every public send
    /// does (the metadata refresh itself uses `exchange` alone, so that its failures
    /// schedule no further refresh).
    pub(crate) async fn exchange_then_refresh<R, B>(
        &self,
        broker: BrokerId,
        purpose: Purpose,
        lane: LaneId,
        timeout: Duration,
        build: impl FnOnce(i16) -> B,
    ) -> Result<(R::Response, i16), ClusterError>
    where
        R: Request,
        R::Response: 'static,
        B: std::borrow::Borrow<R>,
    {
        let result = self
            .exchange::<R, B>(broker, purpose, lane, timeout, build)
            .await;
        self.after_error(result.as_ref().err());
        result
    }

    /// Closes (and forgets) every connection of `lane`.
    pub(crate) fn close_lane(&self, lane: LaneId) {
        self.inner.pool.close_lane(lane);
    }

    /// Schedules a background metadata refresh after an error that suggests the
    /// metadata is stale (a broker unreachable or gone).
    pub(crate) fn after_error(&self, error: Option<&ClusterError>) {
        if !error.is_some_and(ClusterError::needs_metadata_refresh) {
            return;
        }
        if self.inner.refresh_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let cluster = self.clone();
        tokio::spawn(async move {
            let _ = cluster.refresh_metadata().await;
            cluster
                .inner
                .refresh_scheduled
                .store(false, Ordering::Release);
        });
    }

    /// Asks the known brokers, then the bootstrap addresses, for metadata.
    async fn fetch_metadata(&self) -> Result<Metadata, ClusterError> {
        let topics: Vec<String> = lock(&self.inner.interest).iter().cloned().collect();
        let current = self.metadata();
        let mut ids: Vec<BrokerId> = current.brokers.keys().copied().collect();
        ids.shuffle(&mut rand::rng());
        // Connected brokers first, brokers backing off after failures last.
        ids.sort_by_key(|&id| self.inner.pool.readiness(id, Purpose::Metadata));
        let mut tried = Vec::new();
        let mut last_error = None;
        for id in ids {
            let Some(address) = current.brokers.get(&id) else {
                continue;
            };
            tried.push(address.address());
            // Not `send_with`: a failure here must not schedule yet another refresh.
            let timeout = self.inner.config.request_timeout;
            let sent = self
                .exchange::<MetadataRequest, _>(
                    id,
                    Purpose::Metadata,
                    LaneId::SHARED,
                    timeout,
                    |v| metadata_request(&topics, v, self.inner.config.allow_auto_create_topics),
                )
                .await;
            match sent {
                Ok((response, _)) => return Ok(Metadata::from_response(&response)),
                Err(e) => {
                    tracing::debug!(broker = id.0, error = %e, "metadata request failed");
                    last_error = Some(Box::new(e));
                }
            }
        }
        for endpoint in &self.inner.bootstrap {
            let address = endpoint.address();
            if tried.contains(&address) {
                continue;
            }
            tried.push(address.clone());
            match self.bootstrap_metadata(endpoint, &topics).await {
                Ok(metadata) => return Ok(metadata),
                Err(e) => {
                    tracing::warn!(bootstrap = %address, error = %e, "bootstrap address failed");
                    last_error = Some(Box::new(e));
                }
            }
        }
        Err(ClusterError::NoBrokerAvailable { tried, last_error })
    }

    /// One Metadata request over a temporary connection to a bootstrap address.
    async fn bootstrap_metadata(
        &self,
        endpoint: &Endpoint,
        topics: &[String],
    ) -> Result<Metadata, ClusterError> {
        let broker = BrokerRef::bootstrap(endpoint.address());
        let connection = self
            .inner
            .pool
            .dialer()
            .open(endpoint, broker, Purpose::Metadata, LaneId::SHARED)
            .await?;
        let version = version_of::<MetadataRequest>(&connection)?;
        let request = metadata_request(topics, version, self.inner.config.allow_auto_create_topics);
        let result = connection.send(version, &request).await;
        connection.close();
        Ok(Metadata::from_response(&result?))
    }

    /// Swaps in `metadata`, closing connections to brokers no longer listed.
    fn install(&self, metadata: Metadata) -> Arc<Metadata> {
        let metadata = Arc::new(metadata);
        let old = {
            let mut slot = self
                .inner
                .metadata
                .write()
                .unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *slot, Arc::clone(&metadata))
        };
        for (id, address) in &metadata.brokers {
            if !old.brokers.contains_key(id) {
                tracing::info!(broker = id.0, address = %address.address(), "broker joined");
            }
        }
        for id in old.brokers.keys() {
            if !metadata.brokers.contains_key(id) {
                tracing::info!(broker = id.0, "broker left; closing its connections");
            }
        }
        self.inner
            .pool
            .retain(|id| metadata.brokers.contains_key(&id));
        metadata
    }

    /// `Ok` if every topic is known and every partition has a leader; else the
    /// first problem found.
    fn check_topics(&self, metadata: &Metadata, topics: &[String]) -> Result<(), ClusterError> {
        let auto_create = self.inner.config.allow_auto_create_topics;
        for name in topics {
            let unknown = || ClusterError::UnknownTopic {
                topic: name.clone(),
            };
            let topic = metadata.topic(name).ok_or_else(unknown)?;
            let kafka = |code, partition| ClusterError::Kafka {
                code,
                api: None,
                broker: None,
                topic: Some(name.clone()),
                partition,
                message: None,
            };
            match topic.error {
                Some(KafkaCode::UnknownTopicOrPartition) if !auto_create => return Err(unknown()),
                Some(code) => return Err(kafka(code, None)),
                None => {}
            }
            if topic.partitions.is_empty() {
                return Err(kafka(KafkaCode::LeaderNotAvailable, None));
            }
            if let Some(p) = topic.partitions.iter().find(|p| !p.has_leader()) {
                let code = p.error.unwrap_or(KafkaCode::LeaderNotAvailable);
                return Err(kafka(code, Some(p.partition)));
            }
        }
        Ok(())
    }

    pub(crate) fn forget_interest(&self, topics: &[String]) {
        let mut interest = lock(&self.inner.interest);
        for t in topics {
            interest.remove(t);
        }
    }
}

/// The version of `R` to use on `connection`.
fn version_of<R: Request>(connection: &Connection) -> Result<i16, ClusterError> {
    connection
        .versions()
        .version::<R>()
        .map_err(|source| ClusterError::Codec {
            broker: Some(connection.broker().clone()),
            source,
        })
}

/// A Metadata request for `topics` (all topics if empty) at `version`.
pub(crate) fn metadata_request(
    topics: &[String],
    version: i16,
    auto_create: bool,
) -> MetadataRequest {
    let topics = (!topics.is_empty()).then(|| {
        topics
            .iter()
            .map(|t| {
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
            })
            .collect()
    });
    // Before v4 the field does not exist and brokers always auto-create; kafka-protocol
    // refuses to encode `false` there.
    MetadataRequest::default()
        .with_topics(topics)
        .with_allow_auto_topic_creation(auto_create || version < 4)
}

/// Refreshes metadata every `interval` while the cluster handle lives.
async fn refresh_periodically(inner: Weak<Inner>, interval: std::time::Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = inner.upgrade() else { return };
        let cluster = Cluster { inner };
        tracing::debug!("periodic metadata refresh");
        let _ = cluster.refresh_metadata().await;
    }
}

/// Locks a std mutex, recovering the data if a holder panicked (every value kept
/// here is replaced whole, so it is never half-updated).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upper crates hold a `Cluster` in spawned tasks and spawn its futures.
    #[test]
    fn handle_and_futures_are_send() {
        fn send_sync<T: Send + Sync + Clone + 'static>() {}
        fn send<T: Send>(_: &T) {}
        send_sync::<Cluster>();
        let _ = |c: Cluster| {
            send(&c.refresh_metadata());
            send(&c.ensure_topics(&[]));
            send(&c.leader("t", 0));
            send(&c.send(BrokerId(1), Purpose::Fetch, &MetadataRequest::default()));
            send(&c.send_with_timeout(
                BrokerId(1),
                Purpose::Fetch,
                std::time::Duration::from_secs(1),
                |_| MetadataRequest::default(),
            ));
            let lane = c.lane(Purpose::Group);
            send(&lane.send_with(BrokerId(1), |_| MetadataRequest::default()));
            send(
                &lane.send_with_timeout(BrokerId(1), Duration::from_secs(1), |_| {
                    MetadataRequest::default()
                }),
            );
            send_sync::<Lane>();
            send(&c.send_no_response(BrokerId(1), Purpose::Produce, &MetadataRequest::default()));
            send(&c.create_topics(&[]));
        };
    }

    #[tokio::test]
    async fn bad_bootstrap_lists_are_config_errors() {
        for list in ["", " , ", "host:port", "::1:9092"] {
            let err = Cluster::connect(ClusterConfig::new(list))
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    ClusterError::Config {
                        key: "bootstrap.servers",
                        ..
                    }
                ),
                "{list:?}: {err:?}"
            );
            assert!(!err.is_retriable());
        }
    }

    #[test]
    fn metadata_requests_name_the_topics_of_interest() {
        let all = metadata_request(&[], 12, false);
        assert_eq!(all.topics, None);
        assert!(!all.allow_auto_topic_creation);
        let some = metadata_request(&["a".to_owned()], 12, true);
        assert_eq!(some.topics.map(|t| t.len()), Some(1));
        assert!(some.allow_auto_topic_creation);
        // v1..v3 cannot say "don't create"; kafka-protocol refuses to encode false.
        assert!(metadata_request(&[], 3, false).allow_auto_topic_creation);
    }
}
