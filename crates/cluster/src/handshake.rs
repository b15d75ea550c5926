//! Connection setup, before the connection task takes the socket: TCP connect, TLS,
//! the ApiVersions exchange (which versions to speak) and SASL authentication.
//!
//! These requests go one at a time, in order, so they are written and read here
//! directly instead of through the pipelined connection task.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use flame_kafka_codec::frame::response_correlation_id;
use flame_kafka_codec::messages::{
    ApiKey, ApiVersionsRequest, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use flame_kafka_codec::protocol::{Request, StrBytes};
use flame_kafka_codec::{
    decode_response, encode_request, FrameDecoder, KafkaCode, NegotiatedVersions, RequestMeta,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::ClusterConfig;
use crate::error::{BrokerRef, ClusterError, DisconnectReason};
use crate::sasl::{self, Authenticator, Step};
use crate::security::{SaslConfig, SecurityError};
use crate::tls::{self, TlsConnector};
use crate::transport::{connect_tcp, Endpoint, Transport};

/// The ApiVersions version tried first (the highest this client implements).
const API_VERSIONS_FIRST: i16 = 3;
/// SASL exchanges longer than this many SaslAuthenticate round trips are refused
/// (SCRAM takes two, PLAIN and OAUTHBEARER one).
const MAX_SASL_ROUNDS: usize = 8;

/// A socket ready for the connection task.
#[derive(Debug)]
pub(crate) struct Established {
    /// The (possibly TLS) socket.
    pub(crate) transport: Transport,
    /// Bytes read past the last setup response (normally none).
    pub(crate) read_buf: BytesMut,
    /// The versions agreed with the broker.
    pub(crate) versions: NegotiatedVersions,
    /// The first correlation id the task may use.
    pub(crate) next_correlation_id: i32,
    /// The session lifetime the broker gave in its SaslAuthenticate response (KIP-368):
    /// the connection must re-authenticate before it ends. `None` without SASL, or
    /// when the broker set none (a lifetime of 0).
    pub(crate) session_lifetime: Option<Duration>,
}

/// Dials `endpoint` and sets the connection up as `config.security` says.
///
/// # Errors
/// [`ClusterError::Resolve`] / [`ClusterError::Connect`] (TCP),
/// [`ClusterError::Tls`], [`ClusterError::Kafka`] (ApiVersions refused),
/// [`ClusterError::Sasl`], [`ClusterError::Disconnected`] (the broker closed or sent
/// bytes that are not Kafka responses), [`ClusterError::Codec`].
pub(crate) async fn setup(
    endpoint: &Endpoint,
    broker: &BrokerRef,
    config: &ClusterConfig,
    tls: Option<&TlsConnector>,
) -> Result<Established, ClusterError> {
    let tcp = connect_tcp(endpoint, broker).await?;
    let transport = match tls {
        None => Transport::Plain(tcp),
        Some(tls) => {
            let stream =
                tls.connect(&endpoint.host, tcp)
                    .await
                    .map_err(|source| ClusterError::Tls {
                        broker: Some(broker.clone()),
                        source: Box::new(source),
                    })?;
            Transport::Tls(Box::new(stream))
        }
    };
    let mut exchange = Exchange {
        transport,
        read_buf: BytesMut::with_capacity(8 * 1024),
        decoder: FrameDecoder::new(config.max_frame_bytes),
        next_correlation_id: 0,
        client_id: &config.client_id,
        broker,
        tls_server: tls.map(|_| endpoint.host.as_str()),
    };
    let versions = exchange.api_versions().await?;
    let session_lifetime = match config.security.sasl() {
        Some(sasl) => exchange.authenticate(sasl, &versions).await?,
        None => None,
    };
    tracing::debug!(%broker, "connection set up");
    Ok(Established {
        transport: exchange.transport,
        read_buf: exchange.read_buf,
        versions,
        next_correlation_id: exchange.next_correlation_id,
        session_lifetime,
    })
}

/// One request at a time over a fresh socket.
struct Exchange<'a> {
    transport: Transport,
    read_buf: BytesMut,
    decoder: FrameDecoder,
    next_correlation_id: i32,
    client_id: &'a str,
    broker: &'a BrokerRef,
    /// The TLS server name, when the socket is TLS (to classify read errors).
    tls_server: Option<&'a str>,
}

impl Exchange<'_> {
    /// Sends `request` at `version`; returns the response frame and its id.
    async fn round_trip<R: Request>(
        &mut self,
        version: i16,
        request: &R,
    ) -> Result<(Bytes, i32), ClusterError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let mut frame = BytesMut::new();
        let meta = RequestMeta {
            correlation_id,
            client_id: self.client_id,
        };
        encode_request(&mut frame, meta, version, request).map_err(|source| {
            ClusterError::Codec {
                broker: None,
                source,
            }
        })?;
        self.transport
            .write_all(&frame)
            .await
            .map_err(|e| self.io_error(e))?;
        self.transport.flush().await.map_err(|e| self.io_error(e))?;
        loop {
            let decoded = self
                .decoder
                .decode(&mut self.read_buf)
                .map_err(|e| self.disconnected(DisconnectReason::Codec(e)))?;
            if let Some(frame) = decoded {
                let actual = response_correlation_id(&frame)
                    .map_err(|e| self.disconnected(DisconnectReason::Codec(e)))?;
                if actual != correlation_id {
                    return Err(
                        self.disconnected(DisconnectReason::UnexpectedCorrelationId {
                            expected: Some(correlation_id),
                            actual,
                        }),
                    );
                }
                return Ok((frame, correlation_id));
            }
            let read = self
                .transport
                .read_buf(&mut self.read_buf)
                .await
                .map_err(|e| self.io_error(e))?;
            if read == 0 {
                return Err(self.disconnected(DisconnectReason::PeerClosed {
                    unread_bytes: self.read_buf.len(),
                }));
            }
        }
    }

    /// Sends `request` at `version` and decodes its response.
    async fn call<R: Request>(
        &mut self,
        version: i16,
        request: &R,
    ) -> Result<R::Response, ClusterError> {
        let (frame, id) = self.round_trip(version, request).await?;
        decode_response::<R>(frame, version, id).map_err(|source| ClusterError::Codec {
            broker: Some(self.broker.clone()),
            source,
        })
    }

    /// ApiVersions at v3; if the broker says `UNSUPPORTED_VERSION` (it then answers
    /// in v0 and lists the ApiVersions versions it does support), once more at the
    /// highest version it listed.
    async fn api_versions(&mut self) -> Result<NegotiatedVersions, ClusterError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("flame-kafka"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut version = API_VERSIONS_FIRST;
        loop {
            let (frame, id) = self.round_trip(version, &request).await?;
            // The body starts with error_code in every version; an error response
            // is always written at v0 so that any client can read it.
            let unsupported =
                frame.get(4..6) == Some(&KafkaCode::UnsupportedVersion.code().to_be_bytes()[..]);
            let decode_version = if unsupported { 0 } else { version };
            let response = decode_response::<ApiVersionsRequest>(frame, decode_version, id)
                .map_err(|source| ClusterError::Codec {
                    broker: Some(self.broker.clone()),
                    source,
                })?;
            match KafkaCode::from_code(response.error_code) {
                None => {
                    tracing::debug!(broker = %self.broker, version, "ApiVersions exchanged");
                    return Ok(NegotiatedVersions::from_broker(&response));
                }
                Some(KafkaCode::UnsupportedVersion) => {
                    let listed = response
                        .api_keys
                        .iter()
                        .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                        .map(|k| k.max_version)
                        .filter(|&v| (0..version).contains(&v));
                    match listed {
                        Some(v) => {
                            tracing::debug!(broker = %self.broker, tried = version, retry = v, "broker refused ApiVersions version; retrying");
                            version = v;
                        }
                        None => {
                            return Err(ClusterError::kafka(
                                KafkaCode::UnsupportedVersion,
                                ApiKey::ApiVersions,
                                Some(self.broker.clone()),
                            ))
                        }
                    }
                }
                Some(code) => {
                    return Err(ClusterError::kafka(
                        code,
                        ApiKey::ApiVersions,
                        Some(self.broker.clone()),
                    ))
                }
            }
        }
    }

    /// SaslHandshake (v1) then SaslAuthenticate round trips until the authenticator
    /// is done; returns the session lifetime the broker set, if any.
    async fn authenticate(
        &mut self,
        config: &SaslConfig,
        versions: &NegotiatedVersions,
    ) -> Result<Option<Duration>, ClusterError> {
        let (mut sasl, handshake) = SaslExchange::start(config, versions, self.broker, false)?;
        let response = self.call(sasl.handshake_version(), &handshake).await?;
        let mut request = sasl.on_handshake(&response)?;
        loop {
            let response = self.call(sasl.authenticate_version(), &request).await?;
            match sasl.on_authenticate(&response)? {
                SaslNext::Authenticate(next) => request = next,
                SaslNext::Done { session_lifetime } => return Ok(session_lifetime),
            }
        }
    }

    /// A socket error: on TLS, classified (a rejected client certificate shows up
    /// as the first read error under TLS 1.3).
    fn io_error(&self, e: std::io::Error) -> ClusterError {
        match self.tls_server {
            Some(server) => ClusterError::Tls {
                broker: Some(self.broker.clone()),
                source: Box::new(tls::classify_io_error(server, e)),
            },
            None => self.disconnected(DisconnectReason::Io(std::sync::Arc::new(e))),
        }
    }

    fn disconnected(&self, reason: DisconnectReason) -> ClusterError {
        ClusterError::Disconnected {
            broker: self.broker.clone(),
            reason,
        }
    }
}

/// One SASL exchange over Kafka requests, sans-IO: SaslHandshake (v1), then
/// SaslAuthenticate rounds until the mechanism is done. It drives both the first
/// authentication of a connection ([`setup`]) and each re-authentication of a live
/// one (KIP-368, in the connection task), so both behave alike.
pub(crate) struct SaslExchange {
    broker: BrokerRef,
    mechanism: &'static str,
    auth: Box<dyn Authenticator>,
    handshake_version: i16,
    authenticate_version: i16,
    /// SaslAuthenticate requests made so far.
    rounds: usize,
    /// Whether this renews the session of an authenticated connection.
    reauthentication: bool,
}

impl std::fmt::Debug for SaslExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The authenticator holds credentials: never shown.
        f.debug_struct("SaslExchange")
            .field("broker", &self.broker)
            .field("mechanism", &self.mechanism)
            .field("rounds", &self.rounds)
            .field("reauthentication", &self.reauthentication)
            .finish_non_exhaustive()
    }
}

/// What a [`SaslExchange`] wants after a SaslAuthenticate response.
#[derive(Debug)]
pub(crate) enum SaslNext {
    /// Send this SaslAuthenticate request next.
    Authenticate(SaslAuthenticateRequest),
    /// Authentication succeeded.
    Done {
        /// The session lifetime the broker set (SaslAuthenticate v1+), `None` for
        /// none (0, or an older broker): then the session never needs renewing.
        session_lifetime: Option<Duration>,
    },
}

impl SaslExchange {
    /// Checks the config and the broker's versions (SaslHandshake v1, that is
    /// SaslAuthenticate, is required) and builds a fresh authenticator (an
    /// OAUTHBEARER one asks its provider for a token when it is first used);
    /// returns the exchange and the SaslHandshake request to send first.
    ///
    /// # Errors
    /// [`ClusterError::Sasl`] (the config lacks what the mechanism needs, or the
    /// broker is too old), [`ClusterError::Codec`] (no common version).
    pub(crate) fn start(
        config: &SaslConfig,
        versions: &NegotiatedVersions,
        broker: &BrokerRef,
        reauthentication: bool,
    ) -> Result<(Self, SaslHandshakeRequest), ClusterError> {
        let mechanism = config.mechanism.name();
        let error = |reason: String, source: Option<Box<SecurityError>>| ClusterError::Sasl {
            broker: broker.clone(),
            mechanism: mechanism.to_owned(),
            code: None,
            reason,
            source,
            reauthentication,
        };
        let auth =
            sasl::authenticator(config).map_err(|e| error(e.to_string(), Some(Box::new(e))))?;
        let version = |r: Result<i16, _>| {
            r.map_err(|source| ClusterError::Codec {
                broker: Some(broker.clone()),
                source,
            })
        };
        let handshake_version = version(versions.version::<SaslHandshakeRequest>())?;
        if handshake_version < 1 {
            return Err(error(
                "the broker does not support SaslHandshake v1 (SaslAuthenticate)".to_owned(),
                None,
            ));
        }
        let authenticate_version = version(versions.version::<SaslAuthenticateRequest>())?;
        let request =
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
        let exchange = SaslExchange {
            broker: broker.clone(),
            mechanism,
            auth,
            handshake_version,
            authenticate_version,
            rounds: 0,
            reauthentication,
        };
        Ok((exchange, request))
    }

    /// The SaslHandshake version to send at.
    pub(crate) fn handshake_version(&self) -> i16 {
        self.handshake_version
    }

    /// The SaslAuthenticate version to send at.
    pub(crate) fn authenticate_version(&self) -> i16 {
        self.authenticate_version
    }

    /// Handles the SaslHandshake response; returns the first SaslAuthenticate
    /// request (the mechanism's initial response).
    ///
    /// # Errors
    /// [`ClusterError::Sasl`]: the broker does not enable the mechanism, or the
    /// authenticator failed (e.g. an OAUTHBEARER provider had no token).
    pub(crate) fn on_handshake(
        &mut self,
        response: &SaslHandshakeResponse,
    ) -> Result<SaslAuthenticateRequest, ClusterError> {
        if let Some(code) = KafkaCode::from_code(response.error_code) {
            let enabled: Vec<_> = response.mechanisms.iter().map(|m| m.to_string()).collect();
            return Err(self.error(
                Some(code),
                format!("broker enables only [{}]", enabled.join(", ")),
                None,
            ));
        }
        let first = self
            .auth
            .initial_response()
            .map_err(|e| self.error(None, e.to_string(), Some(Box::new(e))))?;
        self.rounds = 1;
        Ok(SaslAuthenticateRequest::default().with_auth_bytes(first.into()))
    }

    /// Handles a SaslAuthenticate response: the next request, or done.
    ///
    /// # Errors
    /// [`ClusterError::Sasl`]: the broker refused (its error code and message), the
    /// authenticator failed (e.g. SCRAM server proof wrong), or the exchange went on
    /// for more than [`MAX_SASL_ROUNDS`] rounds.
    pub(crate) fn on_authenticate(
        &mut self,
        response: &SaslAuthenticateResponse,
    ) -> Result<SaslNext, ClusterError> {
        if let Some(code) = KafkaCode::from_code(response.error_code) {
            let message = response
                .error_message
                .as_ref()
                .map_or_else(|| code.description().to_owned(), ToString::to_string);
            let source = SecurityError::AuthenticationFailed {
                mechanism: self.mechanism,
                message: message.clone(),
            };
            return Err(self.error(Some(code), message, Some(Box::new(source))));
        }
        match self
            .auth
            .step(&response.auth_bytes)
            .map_err(|e| self.error(None, e.to_string(), Some(Box::new(e))))?
        {
            Step::Respond(next) => {
                if self.rounds >= MAX_SASL_ROUNDS {
                    return Err(self.error(
                        None,
                        format!("exchange did not finish within {MAX_SASL_ROUNDS} rounds"),
                        None,
                    ));
                }
                self.rounds += 1;
                Ok(SaslNext::Authenticate(
                    SaslAuthenticateRequest::default().with_auth_bytes(next.into()),
                ))
            }
            Step::Done => {
                let session_lifetime = u64::try_from(response.session_lifetime_ms)
                    .ok()
                    .filter(|&ms| ms > 0)
                    .map(Duration::from_millis);
                tracing::debug!(
                    broker = %self.broker,
                    mechanism = self.mechanism,
                    reauthentication = self.reauthentication,
                    ?session_lifetime,
                    "SASL authentication succeeded"
                );
                Ok(SaslNext::Done { session_lifetime })
            }
        }
    }

    fn error(
        &self,
        code: Option<KafkaCode>,
        reason: String,
        source: Option<Box<SecurityError>>,
    ) -> ClusterError {
        ClusterError::Sasl {
            broker: self.broker.clone(),
            mechanism: self.mechanism.to_owned(),
            code,
            reason,
            source,
            reauthentication: self.reauthentication,
        }
    }
}
