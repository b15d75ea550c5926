//! [`Lane`]: connections of one user's own, for requests that must not queue behind
//! other users' requests on the shared connections (nor theirs behind its own).

use std::sync::Arc;
use std::time::Duration;

use flame_kafka_codec::protocol::Request;

use crate::error::ClusterError;
use crate::metadata::BrokerId;
use crate::pool::{LaneId, Purpose};
use crate::Cluster;

/// Connections private to one user of a [`Cluster`], made by [`Cluster::lane`].
///
/// A broker answers the requests of one connection one at a time, in order. The
/// [`Cluster`]'s own connections (one per broker and [`Purpose`]) are shared by
/// everyone holding the `Cluster`, so a request the broker holds — a JoinGroup,
/// held until the whole group rejoins; a long-polling Fetch — delays every other
/// user's requests to that broker for as long. A lane has a connection of its own
/// to each broker it sends to: dialled on first use, re-dialled after it breaks
/// (with the usual backoff), and closed when the last clone of the lane is
/// dropped. Metadata and versions are those of the `Cluster`.
///
/// Cheap to clone (one `Arc`); clones share the lane's connections.
///
/// ```no_run
/// use flame_kafka_cluster::{BrokerId, Cluster, ClusterError, Purpose};
/// use flame_kafka_codec::messages::HeartbeatRequest;
///
/// # async fn example(cluster: Cluster, coordinator: BrokerId) -> Result<(), ClusterError> {
/// // One per group member: its JoinGroup never holds up another member's heartbeat.
/// let lane = cluster.lane(Purpose::Group);
/// let (_response, _version) = lane
///     .send_with(coordinator, |_| HeartbeatRequest::default())
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Lane {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cluster: Cluster,
    purpose: Purpose,
    id: LaneId,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.cluster.close_lane(self.id);
    }
}

impl Lane {
    pub(crate) fn new(cluster: Cluster, purpose: Purpose, id: LaneId) -> Lane {
        Lane {
            inner: Arc::new(Inner {
                cluster,
                purpose,
                id,
            }),
        }
    }

    /// What the lane's connections carry (it labels their logs).
    pub fn purpose(&self) -> Purpose {
        self.inner.purpose
    }

    /// The cluster the lane belongs to.
    pub fn cluster(&self) -> &Cluster {
        &self.inner.cluster
    }

    /// [`Cluster::send_with`] on this lane's connection to `broker`: builds the
    /// request for the negotiated version and waits up to `request.timeout.ms`.
    ///
    /// # Errors
    /// As [`Cluster::send`].
    pub async fn send_with<R>(
        &self,
        broker: BrokerId,
        build: impl FnOnce(i16) -> R,
    ) -> Result<(R::Response, i16), ClusterError>
    where
        R: Request,
        R::Response: 'static,
    {
        let timeout = self.inner.cluster.config().request_timeout;
        self.send_with_timeout(broker, timeout, build).await
    }

    /// [`Cluster::send_with_timeout`] on this lane's connection to `broker`: waits
    /// up to `timeout` for the response. A timeout closes the lane's connection to
    /// that broker (the next request dials a new one).
    ///
    /// # Errors
    /// As [`Cluster::send`].
    pub async fn send_with_timeout<R>(
        &self,
        broker: BrokerId,
        timeout: Duration,
        build: impl FnOnce(i16) -> R,
    ) -> Result<(R::Response, i16), ClusterError>
    where
        R: Request,
        R::Response: 'static,
    {
        let inner = &*self.inner;
        inner
            .cluster
            .exchange_then_refresh::<R, R>(broker, inner.purpose, inner.id, timeout, build)
            .await
    }
}
