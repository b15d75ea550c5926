//! Error paths of a connection against a fake broker (a `TcpListener` in the test
//! that answers ApiVersions correctly and then misbehaves). Every test runs under a
//! hard timeout: each must end with a typed error, never a hang or a panic.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use flame_kafka_codec::messages::api_versions_response::ApiVersion;
use flame_kafka_codec::messages::{
    ApiVersionsResponse, MetadataRequest, MetadataResponse, ResponseHeader,
};
use flame_kafka_codec::protocol::{Encodable, HeaderVersion};
use flame_kafka_codec::{CodecError, KafkaCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::metadata::BrokerId;

/// Upper bound on any one test.
const TEST_LIMIT: Duration = Duration::from_secs(10);

/// A request as the fake broker sees it.
struct Seen {
    api_key: i16,
    version: i16,
    correlation_id: i32,
}

/// Reads one request frame; `None` when the client closed.
async fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let len = stream.read_i32().await.ok()?;
    let mut frame = vec![0; usize::try_from(len).ok()?];
    stream.read_exact(&mut frame).await.ok()?;
    let mut b = &frame[..];
    Some(Seen {
        api_key: b.get_i16(),
        version: b.get_i16(),
        correlation_id: b.get_i32(),
    })
}

/// A whole response frame: length, header (v0 or v1 as the API wants), body.
fn response_frame<T: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    body: &T,
) -> Vec<u8> {
    let mut payload = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut payload, T::header_version(version))
        .unwrap();
    body.encode(&mut payload, version).unwrap();
    let mut frame = BytesMut::new();
    frame.put_i32(payload.len() as i32);
    frame.extend_from_slice(&payload);
    frame.to_vec()
}

fn api_versions(ranges: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(
        ranges
            .iter()
            .map(|&(api, min, max)| {
                ApiVersion::default()
                    .with_api_key(api as i16)
                    .with_min_version(min)
                    .with_max_version(max)
            })
            .collect(),
    )
}

/// Answers the ApiVersions request that opens every connection.
pub(crate) async fn answer_api_versions(stream: &mut TcpStream) {
    let seen = read_request(stream).await.expect("ApiVersions request");
    assert_eq!(seen.api_key, ApiKey::ApiVersions as i16);
    let body = api_versions(&[(ApiKey::ApiVersions, 0, 3), (ApiKey::Metadata, 0, 12)]);
    let frame = response_frame(seen.correlation_id, seen.version, &body);
    stream.write_all(&frame).await.unwrap();
}

/// A listener whose first connection is handed to `behave`.
async fn fake_broker<F, Fut>(behave: F) -> SocketAddr
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        behave(stream).await;
    });
    addr
}

fn config() -> ClusterConfig {
    let mut config = ClusterConfig::new("unused:1");
    config.request_timeout = Duration::from_secs(1);
    config.connect_timeout = Duration::from_secs(1);
    config
}

async fn open_with(addr: SocketAddr, config: ClusterConfig) -> Result<Connection, ClusterError> {
    let dialer = Dialer::new(Arc::new(config)).unwrap();
    let endpoint = Endpoint::new(addr.ip().to_string(), addr.port());
    let broker = BrokerRef::broker(BrokerId(1), endpoint.address());
    dialer
        .open(&endpoint, broker, Purpose::Metadata, LaneId::SHARED)
        .await
}

async fn metadata(connection: &Connection) -> Result<MetadataResponse, ClusterError> {
    let version = connection.versions().version::<MetadataRequest>().unwrap();
    connection
        .send(
            version,
            &MetadataRequest::default().with_topics(Some(vec![])),
        )
        .await
}

/// Opens a connection to a broker that answers ApiVersions, then lets
/// `misbehave` handle the first Metadata request; returns that request's outcome.
async fn metadata_against<F, Fut>(misbehave: F) -> Result<MetadataResponse, ClusterError>
where
    F: FnOnce(TcpStream, Seen) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let addr = fake_broker(|mut stream| async move {
        answer_api_versions(&mut stream).await;
        let seen = read_request(&mut stream).await.expect("Metadata request");
        misbehave(stream, seen).await;
    })
    .await;
    let run = async {
        let connection = open_with(addr, config()).await.unwrap();
        metadata(&connection).await
    };
    tokio::time::timeout(TEST_LIMIT, run)
        .await
        .expect("no hang")
}

fn disconnect_reason(result: Result<MetadataResponse, ClusterError>) -> DisconnectReason {
    match result {
        Err(ClusterError::Disconnected { broker, reason }) => {
            assert_eq!(broker.id, Some(BrokerId(1)));
            reason
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

#[tokio::test]
async fn garbage_instead_of_a_frame_is_a_codec_disconnect() {
    let result = metadata_against(|mut stream, _| async move {
        stream
            .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            .await
            .unwrap();
        let _ = read_request(&mut stream).await;
    })
    .await;
    let reason = disconnect_reason(result);
    assert!(
        matches!(
            reason,
            DisconnectReason::Codec(CodecError::FrameTooLarge { .. })
        ),
        "{reason:?}"
    );
}

#[tokio::test]
async fn garbage_body_with_the_right_id_is_a_codec_error() {
    let result = metadata_against(|mut stream, seen| async move {
        let mut frame = BytesMut::new();
        frame.put_i32(4 + 12);
        frame.put_i32(seen.correlation_id);
        frame.put_u8(0); // no tagged fields in the header
        frame.extend_from_slice(&[0xff; 11]);
        stream.write_all(&frame).await.unwrap();
        let _ = read_request(&mut stream).await;
    })
    .await;
    match result {
        Err(ClusterError::Codec {
            broker: Some(_), ..
        }) => {}
        other => panic!("expected a Codec error, got {other:?}"),
    }
}

#[tokio::test]
async fn truncated_frame_then_close_is_peer_closed() {
    let result = metadata_against(|mut stream, seen| async move {
        let mut frame = BytesMut::new();
        frame.put_i32(100);
        frame.put_i32(seen.correlation_id);
        frame.extend_from_slice(&[0; 6]);
        stream.write_all(&frame).await.unwrap();
        // Dropping the stream closes it mid-frame.
    })
    .await;
    let reason = disconnect_reason(result);
    assert!(
        matches!(reason, DisconnectReason::PeerClosed { unread_bytes: 14 }),
        "{reason:?}"
    );
}

#[tokio::test]
async fn oversized_length_prefix_is_refused_before_allocating() {
    let result = metadata_against(|mut stream, _| async move {
        stream.write_all(&i32::MAX.to_be_bytes()).await.unwrap();
        let _ = read_request(&mut stream).await;
    })
    .await;
    let reason = disconnect_reason(result);
    assert!(
        matches!(
            reason,
            DisconnectReason::Codec(CodecError::FrameTooLarge { size, .. }) if size == i64::from(i32::MAX)
        ),
        "{reason:?}"
    );
}

#[tokio::test]
async fn negative_length_prefix_is_refused() {
    let result = metadata_against(|mut stream, _| async move {
        stream.write_all(&(-5i32).to_be_bytes()).await.unwrap();
        let _ = read_request(&mut stream).await;
    })
    .await;
    let reason = disconnect_reason(result);
    assert!(
        matches!(
            reason,
            DisconnectReason::Codec(CodecError::NegativeFrameLength(-5))
        ),
        "{reason:?}"
    );
}

#[tokio::test]
async fn wrong_correlation_id_breaks_the_connection() {
    let result = metadata_against(|mut stream, seen| async move {
        let body = MetadataResponse::default();
        let frame = response_frame(seen.correlation_id + 1000, seen.version, &body);
        stream.write_all(&frame).await.unwrap();
        let _ = read_request(&mut stream).await;
    })
    .await;
    let reason = disconnect_reason(result);
    assert!(
        matches!(reason, DisconnectReason::UnexpectedCorrelationId { actual, .. } if actual > 1000),
        "{reason:?}"
    );
}

#[tokio::test]
async fn silent_broker_times_out_and_poisons_the_connection() {
    let addr = fake_broker(|mut stream| async move {
        answer_api_versions(&mut stream).await;
        // Read requests forever, answer none.
        while read_request(&mut stream).await.is_some() {}
    })
    .await;
    let run = async {
        let connection = open_with(addr, config()).await.unwrap();
        let started = Instant::now();
        let (first, second) = tokio::join!(metadata(&connection), async {
            // Sent a little later, so it is still waiting when the first times out.
            tokio::time::sleep(Duration::from_millis(200)).await;
            metadata(&connection).await
        });
        let elapsed = started.elapsed();
        match first {
            Err(ClusterError::Timeout {
                api: ApiKey::Metadata,
                after,
                broker,
            }) => {
                assert_eq!(after, Duration::from_secs(1));
                assert_eq!(broker.id, Some(BrokerId(1)));
            }
            other => panic!("expected Timeout, got {other:?}"),
        }
        match second {
            Err(ClusterError::Disconnected {
                reason:
                    DisconnectReason::Poisoned {
                        api: ApiKey::Metadata,
                    },
                ..
            }) => {}
            other => panic!("expected Disconnected(Poisoned), got {other:?}"),
        }
        // Fires at the configured 1 s, not at some default (slack for a loaded CI).
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        assert!(connection.is_closed());
        // A closed connection refuses new requests at once.
        assert!(matches!(
            metadata(&connection).await,
            Err(ClusterError::Disconnected { .. })
        ));
    };
    tokio::time::timeout(TEST_LIMIT, run)
        .await
        .expect("no hang");
}

#[tokio::test]
async fn an_explicit_timeout_replaces_the_request_timeout() {
    // Answers each request 1.5 s late: after the configured 1 s request timeout.
    let addr = fake_broker(|mut stream| async move {
        answer_api_versions(&mut stream).await;
        while let Some(seen) = read_request(&mut stream).await {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let frame = response_frame(
                seen.correlation_id,
                seen.version,
                &MetadataResponse::default(),
            );
            if stream.write_all(&frame).await.is_err() {
                return;
            }
        }
    })
    .await;
    let run = async {
        let connection = open_with(addr, config()).await.unwrap();
        let version = connection.versions().version::<MetadataRequest>().unwrap();
        let request = MetadataRequest::default().with_topics(Some(vec![]));
        let started = Instant::now();
        connection
            .send_timeout::<MetadataRequest, _>(version, &request, Duration::from_secs(4))
            .await
            .expect("answered within the explicit timeout");
        assert!(started.elapsed() >= Duration::from_millis(1400));
        // A shorter one still fires, and poisons the connection.
        let short = connection
            .send_timeout::<MetadataRequest, _>(version, &request, Duration::from_millis(300))
            .await;
        assert!(
            matches!(short, Err(ClusterError::Timeout { after, .. }) if after == Duration::from_millis(300)),
            "{short:?}"
        );
        assert!(connection.is_closed());
    };
    tokio::time::timeout(TEST_LIMIT, run)
        .await
        .expect("no hang");
}

#[tokio::test]
async fn close_fails_every_request_in_flight_at_once() {
    let addr = fake_broker(|mut stream| async move {
        answer_api_versions(&mut stream).await;
        for _ in 0..3 {
            read_request(&mut stream).await.expect("request");
        }
        // Three requests in flight: close without answering.
    })
    .await;
    let mut config = config();
    config.request_timeout = Duration::from_secs(20);
    let run = async {
        let connection = open_with(addr, config).await.unwrap();
        let results = futures_join3(
            metadata(&connection),
            metadata(&connection),
            metadata(&connection),
        )
        .await;
        for result in results {
            assert!(matches!(
                result,
                Err(ClusterError::Disconnected {
                    reason: DisconnectReason::PeerClosed { unread_bytes: 0 },
                    ..
                })
            ));
        }
    };
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("fails fast, well before the 20 s request timeout");
}

async fn futures_join3<T>(
    a: impl Future<Output = T>,
    b: impl Future<Output = T>,
    c: impl Future<Output = T>,
) -> [T; 3] {
    let (a, b, c) = tokio::join!(a, b, c);
    [a, b, c]
}

#[tokio::test]
async fn throttle_delays_the_next_request() {
    let addr = fake_broker(|mut stream| async move {
        answer_api_versions(&mut stream).await;
        for throttle in [300, 0] {
            let seen = read_request(&mut stream).await.unwrap();
            let body = MetadataResponse::default().with_throttle_time_ms(throttle);
            let frame = response_frame(seen.correlation_id, seen.version, &body);
            stream.write_all(&frame).await.unwrap();
        }
        let _ = read_request(&mut stream).await;
    })
    .await;
    let run = async {
        let connection = open_with(addr, config()).await.unwrap();
        metadata(&connection).await.unwrap();
        let started = Instant::now();
        metadata(&connection).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "{:?}",
            started.elapsed()
        );
    };
    tokio::time::timeout(TEST_LIMIT, run)
        .await
        .expect("no hang");
}

#[tokio::test]
async fn api_versions_falls_back_to_the_version_the_broker_lists() {
    let addr = fake_broker(|mut stream| async move {
        let first = read_request(&mut stream).await.unwrap();
        assert_eq!(first.version, 3);
        // An old broker: error at v0, listing ApiVersions 0..=2.
        let refusal = api_versions(&[(ApiKey::ApiVersions, 0, 2)])
            .with_error_code(KafkaCode::UnsupportedVersion.code());
        stream
            .write_all(&response_frame(first.correlation_id, 0, &refusal))
            .await
            .unwrap();
        let second = read_request(&mut stream).await.unwrap();
        assert_eq!(second.version, 2);
        let body = api_versions(&[(ApiKey::ApiVersions, 0, 2), (ApiKey::Metadata, 0, 9)]);
        stream
            .write_all(&response_frame(second.correlation_id, 2, &body))
            .await
            .unwrap();
        let _ = read_request(&mut stream).await;
    })
    .await;
    let run = async {
        let connection = open_with(addr, config()).await.unwrap();
        assert_eq!(connection.versions().version::<MetadataRequest>(), Ok(9));
    };
    tokio::time::timeout(TEST_LIMIT, run)
        .await
        .expect("no hang");
}

#[tokio::test]
async fn silent_broker_during_setup_is_a_connect_timeout() {
    let addr =
        fake_broker(|mut stream| async move { while read_request(&mut stream).await.is_some() {} })
            .await;
    let started = Instant::now();
    let result = tokio::time::timeout(TEST_LIMIT, open_with(addr, config()))
        .await
        .expect("no hang");
    assert!(
        matches!(result, Err(ClusterError::ConnectTimeout { after, .. }) if after == Duration::from_secs(1)),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn refused_connection_is_a_typed_connect_error() {
    // Bind and drop to find a port nobody listens on.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let result = tokio::time::timeout(TEST_LIMIT, open_with(addr, config()))
        .await
        .expect("no hang");
    let err = result.expect_err("nobody listens");
    assert!(matches!(err, ClusterError::Connect { .. }), "{err:?}");
    assert!(err.is_retriable() && err.needs_metadata_refresh());
}

#[tokio::test]
async fn idle_connection_is_closed() {
    let addr = fake_broker(|mut stream| async move {
        answer_api_versions(&mut stream).await;
        let _ = read_request(&mut stream).await;
    })
    .await;
    let mut config = config();
    config.connections_max_idle = Duration::from_millis(200);
    let run = async {
        let connection = open_with(addr, config).await.unwrap();
        assert!(!connection.is_closed());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(connection.is_closed());
    };
    tokio::time::timeout(TEST_LIMIT, run)
        .await
        .expect("no hang");
}

// ---------------------------------------------------------------- re-authentication

mod reauth {
    //! KIP-368 against a fake SASL broker that, like Kafka, handles one request
    //! of a connection at a time, in order.

    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex as StdMutex;

    use bytes::Bytes;
    use flame_kafka_codec::messages::{
        RequestHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeResponse,
    };
    use flame_kafka_codec::protocol::{Decodable, StrBytes};

    use super::*;
    use crate::security::{SaslConfig, Security, SecurityError, TokenProvider};

    const PASSWORD: &str = "reauth-test-password-93";

    /// What the fake broker does.
    #[derive(Clone)]
    struct Script {
        /// `session_lifetime_ms` of every successful SaslAuthenticate response.
        lifetime_ms: i64,
        /// Refuse the n-th authentication (1 = the first), then close.
        refuse: Option<usize>,
        /// Never answer the n-th SaslHandshake.
        silent_handshake: Option<usize>,
        /// How long a Metadata request takes.
        metadata_delay: Duration,
    }

    impl Script {
        fn lifetime(ms: i64) -> Self {
            Script {
                lifetime_ms: ms,
                refuse: None,
                silent_handshake: None,
                metadata_delay: Duration::ZERO,
            }
        }
    }

    /// What the fake broker saw.
    #[derive(Default)]
    struct Log {
        /// Api keys in arrival order.
        apis: Vec<i16>,
        /// The auth bytes of each first SaslAuthenticate of an authentication.
        first_tokens: Vec<Bytes>,
        /// Requests other than SaslAuthenticate that arrived while an
        /// authentication was under way (the broker would take them as tokens).
        interleaved: usize,
    }

    impl Log {
        fn count(&self, api: ApiKey) -> usize {
            self.apis.iter().filter(|&&a| a == api as i16).count()
        }
    }

    async fn read_frame(stream: &mut TcpStream) -> Option<Bytes> {
        let len = stream.read_i32().await.ok()?;
        let mut frame = vec![0; usize::try_from(len).ok()?];
        stream.read_exact(&mut frame).await.ok()?;
        Some(Bytes::from(frame))
    }

    async fn sasl_broker(script: Script) -> (SocketAddr, Arc<StdMutex<Log>>) {
        let log = Arc::new(StdMutex::new(Log::default()));
        let seen = Arc::clone(&log);
        let addr = fake_broker(move |mut stream| async move {
            let mut authentications = 0;
            let mut handshakes = 0;
            // Whether an authentication is under way (handshake seen, not done).
            let mut authenticating = false;
            while let Some(frame) = read_frame(&mut stream).await {
                let mut b = frame.clone();
                let (api, version) = (b.get_i16(), b.get_i16());
                let correlation_id = b.get_i32();
                seen.lock().unwrap().apis.push(api);
                let reply = if api == ApiKey::ApiVersions as i16 {
                    let body = api_versions(&[
                        (ApiKey::ApiVersions, 0, 3),
                        (ApiKey::Metadata, 0, 12),
                        (ApiKey::SaslHandshake, 0, 1),
                        (ApiKey::SaslAuthenticate, 0, 2),
                    ]);
                    response_frame(correlation_id, version, &body)
                } else if api == ApiKey::SaslHandshake as i16 {
                    handshakes += 1;
                    if script.silent_handshake == Some(handshakes) {
                        while read_frame(&mut stream).await.is_some() {}
                        return;
                    }
                    if authenticating {
                        seen.lock().unwrap().interleaved += 1;
                    }
                    authenticating = true;
                    let body = SaslHandshakeResponse::default()
                        .with_mechanisms(vec![StrBytes::from_static_str("PLAIN")]);
                    response_frame(correlation_id, version, &body)
                } else if api == ApiKey::SaslAuthenticate as i16 {
                    let mut b = frame.clone();
                    let header_version = SaslAuthenticateRequest::header_version(version);
                    RequestHeader::decode(&mut b, header_version).unwrap();
                    let request = SaslAuthenticateRequest::decode(&mut b, version).unwrap();
                    seen.lock().unwrap().first_tokens.push(request.auth_bytes);
                    authentications += 1;
                    authenticating = false;
                    let mut body = SaslAuthenticateResponse::default();
                    let refused = script.refuse == Some(authentications);
                    if refused {
                        body = body
                            .with_error_code(KafkaCode::SaslAuthenticationFailed.code())
                            .with_error_message(Some(StrBytes::from_static_str(
                                "Authentication failed during re-authentication due to \
                                 invalid credentials with SASL mechanism PLAIN",
                            )));
                    } else {
                        body = body.with_session_lifetime_ms(script.lifetime_ms);
                    }
                    let frame = response_frame(correlation_id, version, &body);
                    if refused {
                        let _ = stream.write_all(&frame).await;
                        return;
                    }
                    frame
                } else {
                    if authenticating {
                        seen.lock().unwrap().interleaved += 1;
                    }
                    tokio::time::sleep(script.metadata_delay).await;
                    response_frame(correlation_id, version, &MetadataResponse::default())
                };
                if stream.write_all(&reply).await.is_err() {
                    return;
                }
            }
        })
        .await;
        (addr, log)
    }

    fn sasl_config(sasl: SaslConfig) -> ClusterConfig {
        let mut config = config();
        config.security = Security::SaslPlaintext(sasl);
        config
    }

    fn plain() -> ClusterConfig {
        sasl_config(SaslConfig::plain("alice", PASSWORD))
    }

    async fn open_sasl(addr: SocketAddr, config: ClusterConfig) -> (Connection, Dialer) {
        let dialer = Dialer::new(Arc::new(config)).unwrap();
        let endpoint = Endpoint::new(addr.ip().to_string(), addr.port());
        let broker = BrokerRef::broker(BrokerId(1), endpoint.address());
        let connection = dialer
            .open(&endpoint, broker, Purpose::Metadata, LaneId::SHARED)
            .await
            .unwrap();
        (connection, dialer)
    }

    #[tokio::test]
    async fn renews_the_session_behind_requests_in_flight() {
        let script = Script {
            metadata_delay: Duration::from_millis(60),
            ..Script::lifetime(400)
        };
        let (addr, log) = sasl_broker(script).await;
        let run = async {
            let (connection, dialer) = open_sasl(addr, plain()).await;
            let started = Instant::now();
            let mut answered = 0;
            // Two requests in flight at all times for 1.5 s: ~3 session lifetimes.
            while started.elapsed() < Duration::from_millis(1500) {
                let (a, b) = tokio::join!(metadata(&connection), metadata(&connection));
                a.unwrap();
                b.unwrap();
                answered += 2;
            }
            metadata(&connection).await.unwrap();
            answered += 1;
            // A renewal may have started behind that last request while it was in
            // flight: it completes on its own, and an idle connection starts no
            // other. Wait until every started renewal is counted as done.
            let started_renewals = || log.lock().unwrap().count(ApiKey::SaslHandshake) - 1;
            while dialer.stats().reauthenticated != started_renewals() as u64 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(!connection.is_closed());
            (answered, dialer.stats())
        };
        let (answered, stats) = tokio::time::timeout(TEST_LIMIT, run)
            .await
            .expect("no hang: every started renewal completes");
        let log = log.lock().unwrap();
        let renewals = log.count(ApiKey::SaslHandshake) - 1;
        assert!(renewals >= 3, "{renewals} renewals");
        assert_eq!(stats.reauthenticated, renewals as u64);
        assert_eq!(stats.opened, 1);
        assert_eq!(log.count(ApiKey::Metadata), answered);
        assert_eq!(
            log.interleaved, 0,
            "a request interleaved with an authentication"
        );
    }

    #[tokio::test]
    async fn zero_session_lifetime_means_no_renewal() {
        let (addr, log) = sasl_broker(Script::lifetime(0)).await;
        let run = async {
            let (connection, dialer) = open_sasl(addr, plain()).await;
            for _ in 0..16 {
                metadata(&connection).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            dialer.stats()
        };
        let stats = tokio::time::timeout(TEST_LIMIT, run)
            .await
            .expect("no hang");
        assert_eq!(stats.reauthenticated, 0);
        let log = log.lock().unwrap();
        assert_eq!(log.count(ApiKey::SaslHandshake), 1);
        assert_eq!(log.count(ApiKey::Metadata), 16);
    }

    #[tokio::test]
    async fn refused_renewal_is_a_non_retriable_sasl_error_and_closes_the_connection() {
        let script = Script {
            refuse: Some(2),
            ..Script::lifetime(300)
        };
        let (addr, _log) = sasl_broker(script).await;
        let run = async {
            let (connection, _dialer) = open_sasl(addr, plain()).await;
            metadata(&connection).await.unwrap();
            // Idle past the renewal point: the next request starts the renewal and
            // waits for it.
            tokio::time::sleep(Duration::from_millis(400)).await;
            let err = metadata(&connection).await.unwrap_err();
            assert!(connection.is_closed());
            // Later requests on this connection get the same error.
            let again = metadata(&connection).await.unwrap_err();
            (err, again)
        };
        let (err, again) = tokio::time::timeout(TEST_LIMIT, run)
            .await
            .expect("no hang");
        for err in [&err, &again] {
            match err {
                ClusterError::Sasl {
                    code: Some(KafkaCode::SaslAuthenticationFailed),
                    mechanism,
                    reauthentication: true,
                    ..
                } => assert_eq!(mechanism, "PLAIN"),
                other => panic!("expected a re-authentication Sasl error, got {other:?}"),
            }
            assert!(!err.is_retriable());
            let shown = format!("{err} {err:?}");
            assert!(shown.contains("SASL PLAIN re-authentication"), "{shown}");
            assert!(!shown.contains(PASSWORD), "{shown}");
        }
    }

    #[tokio::test]
    async fn unanswered_renewal_times_out_and_closes_the_connection() {
        let script = Script {
            silent_handshake: Some(2),
            ..Script::lifetime(300)
        };
        let (addr, _log) = sasl_broker(script).await;
        let run = async {
            let (connection, _dialer) = open_sasl(addr, plain()).await;
            metadata(&connection).await.unwrap();
            tokio::time::sleep(Duration::from_millis(400)).await;
            let started = Instant::now();
            let err = metadata(&connection).await.unwrap_err();
            (err, started.elapsed(), connection.is_closed())
        };
        let (err, elapsed, closed) = tokio::time::timeout(TEST_LIMIT, run)
            .await
            .expect("no hang");
        // The waiting request's own 1 s timeout and the renewal's 1 s deadline
        // race; either way a retriable timeout, and the connection is closed.
        assert!(
            matches!(
                err,
                ClusterError::Timeout {
                    api: ApiKey::Metadata | ApiKey::SaslHandshake,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.is_retriable());
        assert!(closed);
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    }

    /// Hands out `token-1`, `token-2`, ...
    struct Counting(AtomicUsize);

    impl TokenProvider for Counting {
        fn token(&self) -> Result<String, SecurityError> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(format!("token-{n}"))
        }
    }

    #[tokio::test]
    async fn oauthbearer_renewal_sends_a_fresh_token() {
        let (addr, log) = sasl_broker(Script::lifetime(300)).await;
        let provider = Arc::new(Counting(AtomicUsize::new(0)));
        let config = sasl_config(SaslConfig::oauthbearer(provider.clone()));
        let run = async {
            let (connection, dialer) = open_sasl(addr, config).await;
            metadata(&connection).await.unwrap();
            tokio::time::sleep(Duration::from_millis(400)).await;
            metadata(&connection).await.unwrap();
            dialer.stats()
        };
        let stats = tokio::time::timeout(TEST_LIMIT, run)
            .await
            .expect("no hang");
        assert_eq!(stats.reauthenticated, 1);
        let log = log.lock().unwrap();
        let tokens: Vec<_> = log
            .first_tokens
            .iter()
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .collect();
        assert_eq!(
            tokens,
            [
                "n,,\x01auth=Bearer token-1\x01\x01",
                "n,,\x01auth=Bearer token-2\x01\x01"
            ]
        );
    }
}

#[test]
fn headroom_is_not_reserved_while_a_partial_frame_fits_its_buffer() {
    // A 100-byte frame, 10 bytes of it read, its end within capacity.
    let mut buf = BytesMut::with_capacity(104);
    buf.put_i32(100);
    buf.put_slice(&[0; 6]);
    assert!(partial_frame_fits(&buf));
    // Its end beyond capacity: headroom is needed.
    let mut small = BytesMut::with_capacity(50);
    small.put_i32(100);
    assert!(!partial_frame_fits(&small));
    // Whole frame, no prefix yet, or a negative length: not a partial frame.
    let mut whole = BytesMut::with_capacity(8);
    whole.put_i32(4);
    whole.put_i32(7);
    assert!(!partial_frame_fits(&whole));
    assert!(!partial_frame_fits(&BytesMut::from(&[0u8, 0][..])));
    let mut negative = BytesMut::with_capacity(64);
    negative.put_i32(-1);
    assert!(!partial_frame_fits(&negative));
}
