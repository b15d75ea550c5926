//! The cluster crate's one error type, [`ClusterError`], and the names it uses for a
//! broker ([`BrokerRef`]) and for why a connection broke ([`DisconnectReason`]).
//!
//! Every variant says whether trying again can help ([`ClusterError::is_retriable`])
//! and carries the broker, API, topic or partition it concerns. None carries a
//! credential: SASL errors name the mechanism, never the user or password.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use flame_kafka_codec::messages::ApiKey;
use flame_kafka_codec::{CodecError, KafkaCode};

use crate::metadata::BrokerId;
use crate::security::SecurityError;

/// Which broker an error concerns: its node id when known (bootstrap connections
/// have none) and the `host:port` it was reached at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrokerRef {
    /// The broker's node id, `None` for a bootstrap address.
    pub id: Option<BrokerId>,
    /// The address dialled, `host:port`.
    pub address: String,
}

impl BrokerRef {
    /// A cluster member known from metadata.
    pub fn broker(id: BrokerId, address: impl Into<String>) -> Self {
        BrokerRef {
            id: Some(id),
            address: address.into(),
        }
    }

    /// A bootstrap address (not yet known to be a cluster member).
    pub fn bootstrap(address: impl Into<String>) -> Self {
        BrokerRef {
            id: None,
            address: address.into(),
        }
    }
}

impl fmt::Display for BrokerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(id) => write!(f, "broker {} ({})", id.0, self.address),
            None => write!(f, "bootstrap {}", self.address),
        }
    }
}

/// Why a connection stopped: every request in flight on it fails with
/// [`ClusterError::Disconnected`] carrying one of these.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The broker closed the socket; `unread_bytes` of a partial frame were buffered.
    PeerClosed {
        /// Bytes of an incomplete frame received before the close.
        unread_bytes: usize,
    },
    /// Reading or writing the socket failed.
    Io(Arc<std::io::Error>),
    /// The byte stream stopped making sense (bad length prefix, frame over
    /// `receive.message.max.bytes`, a frame too short to hold a header).
    Codec(CodecError),
    /// A response carried a correlation id other than the oldest request in flight
    /// (Kafka answers requests in order on a connection).
    UnexpectedCorrelationId {
        /// The id of the oldest request in flight, if any was.
        expected: Option<i32>,
        /// The id the response carried.
        actual: i32,
    },
    /// A request on this connection timed out, so the connection was closed: a
    /// late response could otherwise be taken for the answer to a later request.
    Poisoned {
        /// The API of the request that timed out.
        api: ApiKey,
    },
    /// This client closed the connection (idle, broker left the cluster, client
    /// dropped).
    Closed,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::PeerClosed { unread_bytes: 0 } => write!(f, "closed by the broker"),
            DisconnectReason::PeerClosed { unread_bytes } => write!(
                f,
                "closed by the broker in the middle of a frame ({unread_bytes} bytes unread)"
            ),
            DisconnectReason::Io(e) => write!(f, "I/O error: {e}"),
            DisconnectReason::Codec(e) => write!(f, "unreadable response stream: {e}"),
            DisconnectReason::UnexpectedCorrelationId {
                expected: Some(expected),
                actual,
            } => write!(
                f,
                "response with correlation id {actual} while {expected} was expected"
            ),
            DisconnectReason::UnexpectedCorrelationId {
                expected: None,
                actual,
            } => write!(
                f,
                "response with correlation id {actual} while no request was in flight"
            ),
            DisconnectReason::Poisoned { api } => {
                write!(f, "closed after a {api:?} request timed out")
            }
            DisconnectReason::Closed => write!(f, "closed by the client"),
        }
    }
}

/// Everything that can go wrong talking to a Kafka cluster.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// A setting is missing or invalid (e.g. an empty `bootstrap.servers` or an
    /// address without a port). Not retriable.
    #[error("invalid configuration `{key}`: {reason}")]
    Config {
        /// The librdkafka name of the setting.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A host name did not resolve to any address. Retriable (DNS may recover).
    #[error("cannot resolve {address}: {source}")]
    Resolve {
        /// The `host:port` being resolved.
        address: String,
        /// The resolver's error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Opening a TCP connection failed (refused, unreachable). Retriable.
    #[error("cannot connect to {broker}: {source}")]
    Connect {
        /// The broker dialled.
        broker: BrokerRef,
        /// The socket error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Connection setup (TCP, TLS, ApiVersions, SASL) did not finish within
    /// `socket.connection.setup.timeout.ms`. Retriable.
    #[error("connecting to {broker} timed out after {after:?}")]
    ConnectTimeout {
        /// The broker dialled.
        broker: BrokerRef,
        /// The timeout in force.
        after: Duration,
    },
    /// No response within `request.timeout.ms` (or the request's own timeout, see
    /// [`Cluster::send_with_timeout`](crate::Cluster::send_with_timeout)). The
    /// connection it was sent on is closed. Retriable (the request may or may not have been applied).
    #[error("{api:?} request to {broker} timed out after {after:?}")]
    Timeout {
        /// The broker the request went to.
        broker: BrokerRef,
        /// The request's API.
        api: ApiKey,
        /// The timeout in force.
        after: Duration,
    },
    /// The connection broke before the response arrived; every request in flight on
    /// it fails with this at once. Retriable: the next use reconnects.
    #[error("connection to {broker} lost: {reason}")]
    Disconnected {
        /// The broker at the other end.
        broker: BrokerRef,
        /// What broke it.
        reason: DisconnectReason,
    },
    /// Every address tried (bootstrap servers or known brokers) failed. Retriable.
    #[error("no broker available (tried {})", tried.join(", "))]
    NoBrokerAvailable {
        /// The addresses tried, `host:port`, in order.
        tried: Vec<String>,
        /// The last failure, if any address was tried.
        last_error: Option<Box<ClusterError>>,
    },
    /// The broker id is not in the current metadata (it left the cluster, or the
    /// metadata is stale). Retriable after a metadata refresh.
    #[error("broker {} is not in the cluster metadata", broker.0)]
    UnknownBroker {
        /// The id asked for.
        broker: BrokerId,
    },
    /// The topic does not exist (the broker said `UNKNOWN_TOPIC_OR_PARTITION` after
    /// a fresh metadata request). Not retriable: create it first.
    #[error("topic `{topic}` does not exist")]
    UnknownTopic {
        /// The topic's name.
        topic: String,
    },
    /// The topic exists but has no such partition. Not retriable.
    #[error("topic `{topic}` has no partition {partition}")]
    UnknownPartition {
        /// The topic's name.
        topic: String,
        /// The partition asked for.
        partition: i32,
    },
    /// A broker answered with a Kafka error code. Retriable as Kafka classifies the
    /// code ([`KafkaCode::is_retriable`]).
    #[error("{code}{}", KafkaContext { api, broker, topic, partition, message })]
    Kafka {
        /// The error code.
        code: KafkaCode,
        /// The API of the request, when the error came in a response.
        api: Option<ApiKey>,
        /// The broker that answered, when known.
        broker: Option<BrokerRef>,
        /// The topic the code was given for, if any.
        topic: Option<String>,
        /// The partition the code was given for, if any.
        partition: Option<i32>,
        /// The broker's error message, if it sent one.
        message: Option<String>,
    },
    /// A request could not be encoded, or a response could not be decoded.
    /// Retriable only where the codec says so ([`CodecError::is_retriable`]).
    #[error("{}: {source}", broker.as_ref().map_or_else(|| "codec".to_owned(), ToString::to_string))]
    Codec {
        /// The broker involved, when the bytes came from one.
        broker: Option<BrokerRef>,
        /// The codec's error.
        #[source]
        source: CodecError,
    },
    /// TLS could not be set up: the TLS settings are unusable (`broker` is `None`),
    /// or the handshake with a broker failed (certificate, name mismatch, alert).
    /// Retriable only for a socket failure during the handshake.
    #[error("TLS{} failed: {source}", broker.as_ref().map_or_else(String::new, |b| format!(" with {b}")))]
    Tls {
        /// The broker dialled, if the failure was a handshake.
        broker: Option<BrokerRef>,
        /// What the TLS layer said.
        #[source]
        source: Box<SecurityError>,
    },
    /// SASL authentication failed: the broker does not enable the mechanism, refused
    /// the credentials, or the exchange broke. Never carries credentials; `reason`
    /// may hold the broker's `error_message`. Not retriable, except when an
    /// OAUTHBEARER token provider had no token ([`SecurityError::is_retriable`]).
    ///
    /// With `reauthentication` set, it was the renewal (KIP-368) of the session of a
    /// connection already in use that failed: that connection is closed, and the
    /// requests waiting for the renewal fail with this error.
    #[error(
        "SASL {mechanism} {} with {broker} failed: {reason}",
        if *reauthentication { "re-authentication" } else { "authentication" }
    )]
    Sasl {
        /// The broker dialled.
        broker: BrokerRef,
        /// The mechanism (`PLAIN`, `SCRAM-SHA-256`, ...).
        mechanism: String,
        /// The Kafka error code, if the broker sent one.
        code: Option<KafkaCode>,
        /// Why, in words (the broker's message or the authenticator's).
        reason: String,
        /// The authenticator's error, if it failed on our side.
        #[source]
        source: Option<Box<SecurityError>>,
        /// Whether this was a re-authentication of an established connection
        /// (KIP-368) rather than the authentication of a new one.
        reauthentication: bool,
    },
}

impl ClusterError {
    /// Whether the same operation may succeed if tried again, after a backoff and,
    /// where [`needs_metadata_refresh`](Self::needs_metadata_refresh) says so, a
    /// metadata refresh.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClusterError::Resolve { .. }
            | ClusterError::Connect { .. }
            | ClusterError::ConnectTimeout { .. }
            | ClusterError::Timeout { .. }
            | ClusterError::Disconnected { .. }
            | ClusterError::NoBrokerAvailable { .. }
            | ClusterError::UnknownBroker { .. } => true,
            ClusterError::Kafka { code, .. } => code.is_retriable(),
            ClusterError::Codec { source, .. } => source.is_retriable(),
            ClusterError::Config { .. }
            | ClusterError::UnknownTopic { .. }
            | ClusterError::UnknownPartition { .. } => false,
            ClusterError::Tls { source, .. } => source.is_retriable(),
            ClusterError::Sasl { source, .. } => source.as_ref().is_some_and(|s| s.is_retriable()),
        }
    }

    /// Whether the client's metadata may be out of date: the broker is gone or
    /// unknown, or the broker said leadership moved.
    pub fn needs_metadata_refresh(&self) -> bool {
        match self {
            ClusterError::Connect { .. }
            | ClusterError::ConnectTimeout { .. }
            | ClusterError::Disconnected { .. }
            | ClusterError::UnknownBroker { .. } => true,
            ClusterError::Kafka { code, .. } => code.needs_metadata_refresh(),
            _ => false,
        }
    }

    /// The error for a Kafka error code given in a response to `api`.
    pub(crate) fn kafka(code: KafkaCode, api: ApiKey, broker: Option<BrokerRef>) -> Self {
        ClusterError::Kafka {
            code,
            api: Some(api),
            broker,
            topic: None,
            partition: None,
            message: None,
        }
    }
}

/// Formats the optional context of [`ClusterError::Kafka`].
struct KafkaContext<'a> {
    api: &'a Option<ApiKey>,
    broker: &'a Option<BrokerRef>,
    topic: &'a Option<String>,
    partition: &'a Option<i32>,
    message: &'a Option<String>,
}

impl fmt::Display for KafkaContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(api) = self.api {
            write!(f, " in {api:?} response")?;
        }
        if let Some(broker) = self.broker {
            write!(f, " from {broker}")?;
        }
        match (self.topic, self.partition) {
            (Some(t), Some(p)) => write!(f, " for {t}-{p}")?,
            (Some(t), None) => write!(f, " for topic {t}")?,
            _ => {}
        }
        if let Some(message) = self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_context() {
        let e = ClusterError::Timeout {
            broker: BrokerRef::broker(BrokerId(2), "h:9092"),
            api: ApiKey::Fetch,
            after: Duration::from_secs(1),
        };
        assert_eq!(
            e.to_string(),
            "Fetch request to broker 2 (h:9092) timed out after 1s"
        );
        assert!(e.is_retriable());

        let e = ClusterError::Kafka {
            code: KafkaCode::NotLeaderOrFollower,
            api: Some(ApiKey::Produce),
            broker: None,
            topic: Some("t".into()),
            partition: Some(3),
            message: None,
        };
        assert!(e.to_string().contains("for t-3"), "{e}");
        assert!(e.is_retriable() && e.needs_metadata_refresh());

        let e = ClusterError::NoBrokerAvailable {
            tried: vec!["a:1".into(), "b:2".into()],
            last_error: None,
        };
        assert_eq!(e.to_string(), "no broker available (tried a:1, b:2)");
    }
}
