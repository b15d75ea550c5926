//! [`ClusterConfig`]: the typed settings of the cluster layer. Each field names the
//! librdkafka property it corresponds to; parsing those string properties happens
//! in the `flame-kafka` crate, not here.

use std::time::Duration;

use crate::security::Security;

/// How to reach and talk to a Kafka cluster.
///
/// Build it with [`ClusterConfig::new`] and change the public fields:
///
/// ```
/// # use flame_kafka_cluster::ClusterConfig;
/// # use std::time::Duration;
/// let mut config = ClusterConfig::new("kafka-1:9092, [::1]:9093");
/// config.client_id = "my-app".into();
/// config.request_timeout = Duration::from_secs(10);
/// assert_eq!(config.bootstrap_servers, ["kafka-1:9092", "[::1]:9093"]);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// `bootstrap.servers`: `host:port` addresses to fetch the first metadata from
    /// (IPv6 literals in brackets). Only used until the cluster's own broker list
    /// is known, and again if every known broker becomes unreachable.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`: sent in every request header (broker logs, quotas).
    /// Default `"flame-kafka"`.
    pub client_id: String,
    /// `security.protocol` with its `ssl.*` / `sasl.*` settings. Default plaintext.
    pub security: Security,
    /// `socket.connection.setup.timeout.ms`: the whole connection setup (TCP, TLS,
    /// ApiVersions, SASL) must finish within this. Default 30 s.
    pub connect_timeout: Duration,
    /// `request.timeout.ms`: how long to wait for each response before failing the
    /// request and closing its connection, unless the request is sent with a
    /// timeout of its own ([`Cluster::send_with_timeout`](crate::Cluster::send_with_timeout)).
    /// Default 30 s.
    pub request_timeout: Duration,
    /// `reconnect.backoff.ms`: the first delay between connection attempts to one
    /// broker. Default 100 ms.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`: the largest delay between connection attempts;
    /// the delay doubles (with jitter) after each failure up to this. Default 10 s.
    pub reconnect_backoff_max: Duration,
    /// `topic.metadata.refresh.interval.ms`: period of the background metadata
    /// refresh. Default 5 min.
    pub metadata_refresh_interval: Duration,
    /// `connections.max.idle.ms`: a connection with nothing in flight for this long
    /// is closed (and reopened on next use). Default 9 min.
    pub connections_max_idle: Duration,
    /// `receive.message.max.bytes`: the largest response frame accepted; a larger
    /// length prefix closes the connection. Default 100 000 000.
    pub max_frame_bytes: usize,
    /// `allow.auto.create.topics`: whether metadata requests may make the broker
    /// create the topics they name (if the broker allows it too). Default false.
    pub allow_auto_create_topics: bool,
}

impl ClusterConfig {
    /// Settings with librdkafka's defaults for `bootstrap`, a comma-separated list
    /// of `host:port` (blanks around entries and empty entries are ignored).
    /// Addresses are checked by [`Cluster::connect`](crate::Cluster::connect).
    pub fn new(bootstrap: impl Into<String>) -> Self {
        let bootstrap_servers = bootstrap
            .into()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        ClusterConfig {
            bootstrap_servers,
            client_id: "flame-kafka".to_owned(),
            security: Security::default(),
            connect_timeout: Duration::from_millis(30_000),
            request_timeout: Duration::from_millis(30_000),
            reconnect_backoff: Duration::from_millis(100),
            reconnect_backoff_max: Duration::from_millis(10_000),
            metadata_refresh_interval: Duration::from_millis(300_000),
            connections_max_idle: Duration::from_millis(540_000),
            max_frame_bytes: flame_kafka_codec::frame::DEFAULT_MAX_FRAME_BYTES,
            allow_auto_create_topics: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_comma_list() {
        let c = ClusterConfig::new(" a:1 ,, [::1]:2,");
        assert_eq!(c.bootstrap_servers, ["a:1", "[::1]:2"]);
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert!(!c.allow_auto_create_topics);
        assert!(ClusterConfig::new("").bootstrap_servers.is_empty());
    }
}
