//! Which socket a request goes on: one shared connection per (broker, [`Purpose`]),
//! plus one per (broker, purpose) for each [`Lane`](crate::Lane) — connections
//! private to one user. Each is dialled on first use and re-dialled after it breaks,
//! with exponential backoff and jitter.
//!
//! Concurrent users of one (broker, purpose, lane) that find it unconnected wait on
//! the same slot, so only one of them dials and the others share the result.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::connection::{Connection, Dialer};
use crate::error::{BrokerRef, ClusterError};
use crate::metadata::{BrokerAddress, BrokerId};
use crate::transport::Endpoint;

/// What a connection carries. Each purpose gets its own connection to a broker, so
/// a long-polling fetch never delays a produce or a group heartbeat.
///
/// A broker answers the requests of one connection one at a time, in order, so a
/// request it holds (a long-polling Fetch, a JoinGroup held for a whole rebalance)
/// delays every later request on that connection. Requests that may be held, or
/// that must not wait behind someone else's, go on a [`Lane`](crate::Lane) of their
/// user's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// Metadata requests and admin requests (CreateTopics, DeleteTopics, ...).
    Metadata,
    /// Produce requests (and InitProducerId, transactions).
    Produce,
    /// Fetch and ListOffsets requests.
    Fetch,
    /// Group coordination: FindCoordinator, JoinGroup, Heartbeat, OffsetCommit, ...
    /// A group member sends its JoinGroup and SyncGroup (which the coordinator
    /// holds until the rebalance completes) on a [`Lane`](crate::Lane) of its own.
    Group,
}

/// Which of the connections for one (broker, purpose): the shared one, or that of
/// one [`Lane`](crate::Lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct LaneId(u64);

impl LaneId {
    /// The connection every user of the [`Cluster`](crate::Cluster) shares.
    pub(crate) const SHARED: LaneId = LaneId(0);
}

impl std::fmt::Display for LaneId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            0 => f.write_str("shared"),
            n => write!(f, "lane-{n}"),
        }
    }
}

/// The connections of one cluster client.
#[derive(Debug)]
pub(crate) struct Pool {
    dialer: Dialer,
    slots: Mutex<HashMap<Key, SharedSlot>>,
    /// The last lane id handed out.
    last_lane: AtomicU64,
}

type Key = (BrokerId, Purpose, LaneId);

/// A slot shared by everyone using one (broker, purpose, lane); its async lock
/// merges concurrent dials.
type SharedSlot = Arc<tokio::sync::Mutex<Slot>>;

/// The state of one (broker, purpose, lane).
#[derive(Debug)]
struct Slot {
    connection: Option<Connection>,
    /// The address the connection was dialled at; a broker that moves is re-dialled.
    endpoint: Option<Endpoint>,
    backoff: Backoff,
    /// When the last dial started; the next may start `backoff.delay()` after it.
    last_attempt: Option<Instant>,
}

impl Pool {
    /// An empty pool that dials with `dialer`.
    pub(crate) fn new(dialer: Dialer) -> Self {
        Pool {
            dialer,
            slots: Mutex::new(HashMap::new()),
            last_lane: AtomicU64::new(0),
        }
    }

    /// A lane id never handed out before.
    pub(crate) fn new_lane(&self) -> LaneId {
        LaneId(self.last_lane.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// The dialer (settings, TLS) this pool uses.
    pub(crate) fn dialer(&self) -> &Dialer {
        &self.dialer
    }

    /// The open connection to `broker` for `purpose` on `lane`, dialling one if
    /// there is none (after the reconnect backoff, if the last attempt was recent or
    /// failed).
    ///
    /// # Errors
    /// Whatever dialling failed with (see [`Dialer::open`]).
    pub(crate) async fn connection(
        &self,
        broker: BrokerId,
        address: &BrokerAddress,
        purpose: Purpose,
        lane: LaneId,
    ) -> Result<Connection, ClusterError> {
        let slot = {
            let config = self.dialer.config();
            let mut slots = lock(&self.slots);
            let slot = slots.entry((broker, purpose, lane)).or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Slot {
                    connection: None,
                    endpoint: None,
                    backoff: Backoff::new(config.reconnect_backoff, config.reconnect_backoff_max),
                    last_attempt: None,
                }))
            });
            Arc::clone(slot)
        };
        let mut slot = slot.lock().await;
        let endpoint = address.endpoint();
        if let Some(connection) = slot.connection.take() {
            if !connection.is_closed() && slot.endpoint.as_ref() == Some(&endpoint) {
                slot.connection = Some(connection.clone());
                return Ok(connection);
            }
            // Broken, or the broker now advertises another address.
            connection.close();
        }
        let broker_ref = BrokerRef::broker(broker, endpoint.address());
        if let Some(last) = slot.last_attempt {
            let delay = slot.backoff.delay();
            if last + delay > Instant::now() {
                tracing::debug!(broker = %broker_ref, ?purpose, %lane, ?delay, failures = slot.backoff.failures(), "waiting before reconnecting");
                tokio::time::sleep_until(last + delay).await;
            }
            tracing::info!(broker = %broker_ref, ?purpose, %lane, "reconnecting");
        }
        slot.last_attempt = Some(Instant::now());
        match self.dialer.open(&endpoint, broker_ref, purpose, lane).await {
            Ok(connection) => {
                slot.backoff.reset();
                slot.connection = Some(connection.clone());
                slot.endpoint = Some(endpoint);
                Ok(connection)
            }
            Err(e) => {
                slot.backoff.fail();
                Err(e)
            }
        }
    }

    /// Whether `broker` has an open shared connection for `purpose` right now (no
    /// waiting).
    pub(crate) fn is_connected(&self, broker: BrokerId, purpose: Purpose) -> bool {
        let slot = lock(&self.slots)
            .get(&(broker, purpose, LaneId::SHARED))
            .cloned();
        slot.is_some_and(|slot| {
            slot.try_lock()
                .is_ok_and(|s| s.connection.as_ref().is_some_and(|c| !c.is_closed()))
        })
    }

    /// How soon `broker` can serve `purpose` on the shared connection: 0 connected,
    /// 1 can be dialled now, 2 backing off after failed dials (or busy dialling).
    /// For ordering brokers.
    pub(crate) fn readiness(&self, broker: BrokerId, purpose: Purpose) -> u8 {
        let key = (broker, purpose, LaneId::SHARED);
        let Some(slot) = lock(&self.slots).get(&key).cloned() else {
            return 1;
        };
        let Ok(slot) = slot.try_lock() else { return 2 };
        if slot.connection.as_ref().is_some_and(|c| !c.is_closed()) {
            0
        } else if slot.backoff.failures() == 0 {
            1
        } else {
            2
        }
    }

    /// Drops (and closes) the connections of every broker for which `keep` is false.
    pub(crate) fn retain(&self, mut keep: impl FnMut(BrokerId) -> bool) {
        self.remove(
            |(broker, _, _)| !keep(*broker),
            "closing connection to a broker that left the cluster",
        );
    }

    /// Drops (and closes) every connection of `lane`.
    pub(crate) fn close_lane(&self, lane: LaneId) {
        self.remove(|key| key.2 == lane, "closing a lane's connection");
    }

    /// Closes every connection.
    pub(crate) fn close_all(&self) {
        self.retain(|_| false);
    }

    /// Drops (and closes) the connections whose key `gone` selects.
    fn remove(&self, mut gone: impl FnMut(&Key) -> bool, why: &'static str) {
        let removed: Vec<_> = {
            let mut slots = lock(&self.slots);
            let keys: Vec<Key> = slots.keys().filter(|k| gone(k)).copied().collect();
            keys.into_iter()
                .filter_map(|key| slots.remove(&key).map(|slot| (key, slot)))
                .collect()
        };
        for ((broker, purpose, lane), slot) in removed {
            // A slot being dialled right now is simply forgotten: its connection is
            // used by the caller that dialled it, then dropped.
            if let Ok(mut slot) = slot.try_lock() {
                if let Some(connection) = slot.connection.take() {
                    tracing::debug!(broker = broker.0, ?purpose, %lane, "{why}");
                    connection.close();
                }
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.close_all();
    }
}

/// Locks a std mutex, recovering the data if a holder panicked (the map stays
/// consistent: every mutation is a single insert or remove).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::ClusterConfig;

    #[tokio::test]
    async fn failed_dials_back_off_exponentially() {
        // Bind and drop to find a port nobody listens on.
        let port = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut config = ClusterConfig::new("unused:1");
        config.reconnect_backoff = Duration::from_millis(100);
        config.reconnect_backoff_max = Duration::from_millis(300);
        let pool = Pool::new(Dialer::new(Arc::new(config)).unwrap());
        let address = BrokerAddress {
            host: "127.0.0.1".into(),
            port,
            rack: None,
        };
        let broker = BrokerId(7);
        assert_eq!(pool.readiness(broker, Purpose::Produce), 1);
        let mut gaps = Vec::new();
        let mut last = Instant::now();
        for _ in 0..4 {
            let err = pool
                .connection(broker, &address, Purpose::Produce, LaneId::SHARED)
                .await
                .unwrap_err();
            assert!(matches!(err, ClusterError::Connect { .. }), "{err:?}");
            gaps.push(last.elapsed());
            last = Instant::now();
        }
        // The first dial is immediate; then 100 ms * 2^failures, jittered ±20 %,
        // capped at 300 ms.
        assert!(gaps[0] < Duration::from_millis(150), "{gaps:?}");
        assert!(gaps[1] >= Duration::from_millis(160), "{gaps:?}");
        assert!(gaps[2] >= Duration::from_millis(240), "{gaps:?}");
        assert!(gaps[3] <= Duration::from_millis(1000), "{gaps:?}");
        assert_eq!(pool.readiness(broker, Purpose::Produce), 2);
        // Another purpose to the same broker is its own connection and slot.
        assert_eq!(pool.readiness(broker, Purpose::Fetch), 1);
        pool.retain(|_| false);
        assert_eq!(pool.readiness(broker, Purpose::Produce), 1);
    }

    #[tokio::test]
    async fn lanes_have_connections_of_their_own_closed_with_the_lane() {
        use std::sync::atomic::AtomicUsize;
        use tokio::io::AsyncReadExt;

        // A fake broker: answers ApiVersions on every connection, then reports
        // (by accept order) each connection the client closes.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (closed_tx, mut closed_rx) = tokio::sync::mpsc::unbounded_channel();
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let closed = closed_tx.clone();
                tokio::spawn(async move {
                    crate::connection::tests::answer_api_versions(&mut stream).await;
                    let mut buf = [0u8; 256];
                    while stream.read(&mut buf).await.is_ok_and(|read| read > 0) {}
                    let _ = closed.send(n);
                });
            }
        });
        let pool = Pool::new(Dialer::new(Arc::new(ClusterConfig::new("unused:1"))).unwrap());
        let address = BrokerAddress {
            host: "127.0.0.1".into(),
            port,
            rack: None,
        };
        let broker = BrokerId(1);
        let run = async {
            let dial = |lane| pool.connection(broker, &address, Purpose::Group, lane);
            let shared = dial(LaneId::SHARED).await.unwrap();
            let (a, b) = (pool.new_lane(), pool.new_lane());
            assert!(a != b && a != LaneId::SHARED && b != LaneId::SHARED);
            let on_a = dial(a).await.unwrap();
            let on_a_again = dial(a).await.unwrap();
            let on_b = dial(b).await.unwrap();
            // Shared, lane a, lane b: three sockets; lane a's is reused.
            assert_eq!(accepted.load(Ordering::SeqCst), 3);
            assert!(pool.is_connected(broker, Purpose::Group));

            pool.close_lane(a);
            assert!(on_a.is_closed() && on_a_again.is_closed());
            assert!(!on_b.is_closed() && !shared.is_closed());
            // The broker sees lane a's socket (accepted second) close, and no other.
            assert_eq!(closed_rx.recv().await, Some(1));
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert!(closed_rx.try_recv().is_err());

            // The lane's next request would dial afresh; the others are untouched.
            let _redialled = dial(a).await.unwrap();
            assert_eq!(accepted.load(Ordering::SeqCst), 4);
        };
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("no hang");
    }
}
