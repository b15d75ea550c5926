//! TLS handshakes against the SSL listener of a real Apache Kafka broker run by
//! `protocol-tests/harness/kafka.sh`:
//!
//! ```text
//! bash protocol-tests/harness/kafka.sh install
//! bash protocol-tests/harness/kafka.sh start single
//! eval "$(bash protocol-tests/harness/kafka.sh env)"
//! cargo test -p flame-kafka-cluster --test tls_real
//! ```
//!
//! Needs `FLAME_KAFKA_SSL_BOOTSTRAP` (e.g. `localhost:19094`), `FLAME_KAFKA_CA` (the
//! CA that issued the broker certificate) and `FLAME_KAFKA_OTHER_CA` (an unrelated
//! CA); `FLAME_KAFKA_CLIENT_CERT` / `FLAME_KAFKA_CLIENT_KEY` add a mutual-TLS case.
//! The tests panic if the variables are missing: they never skip.

// A test crate: helpers fail the test with `expect` like the tests themselves.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;

use flame_kafka_cluster::security::{CaSource, ClientIdentity, SecurityError, TlsConfig};
use flame_kafka_cluster::tls::{self, TlsConnector};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: start the harness and export its variables first:\n  \
             bash protocol-tests/harness/kafka.sh install && \
             bash protocol-tests/harness/kafka.sh start single\n  \
             eval \"$(bash protocol-tests/harness/kafka.sh env)\""
        )
    })
}

/// `(host, "host:port")` of the broker's SSL listener.
fn ssl_bootstrap() -> (String, String) {
    let address = env("FLAME_KAFKA_SSL_BOOTSTRAP");
    let address = address
        .split(',')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let (host, _port) = address
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("FLAME_KAFKA_SSL_BOOTSTRAP={address:?} is not host:port"));
    (host.trim_matches(['[', ']']).to_owned(), address)
}

fn trusting(ca_var: &str) -> TlsConfig {
    TlsConfig {
        ca: CaSource::PemFile(PathBuf::from(env(ca_var))),
        ..TlsConfig::default()
    }
}

async fn tcp() -> TcpStream {
    let (_, address) = ssl_bootstrap();
    TcpStream::connect(&address)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the SSL listener at {address}: {e}"))
}

/// Handshake with `config`, presenting `server_name`, over a fresh TCP connection.
async fn handshake(
    config: &TlsConfig,
    server_name: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, SecurityError> {
    tls::connect(config, server_name, tcp().await).await
}

/// Sends ApiVersions v0 through the TLS session and checks the broker answers it:
/// the session carries Kafka traffic, not just a completed handshake.
async fn api_versions_round_trip(stream: &mut tokio_rustls::client::TlsStream<TcpStream>) {
    // size, api_key 18, api_version 0, correlation_id 7, client_id null
    let request = [0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff];
    stream.write_all(&request).await.expect("write ApiVersions");
    stream.flush().await.expect("flush");
    let size = stream.read_i32().await.expect("response size");
    assert!(size >= 6, "ApiVersions response of {size} bytes");
    let correlation_id = stream.read_i32().await.expect("correlation id");
    assert_eq!(correlation_id, 7);
    let error_code = stream.read_i16().await.expect("error code");
    assert_eq!(error_code, 0, "ApiVersions error code");
}

#[tokio::test]
async fn right_ca_handshake_succeeds() {
    let (host, _) = ssl_bootstrap();
    let mut stream = handshake(&trusting("FLAME_KAFKA_CA"), &host)
        .await
        .unwrap_or_else(|e| panic!("handshake with {host} using FLAME_KAFKA_CA: {e}"));
    api_versions_round_trip(&mut stream).await;
}

#[tokio::test]
async fn connector_is_reusable_across_connections() {
    let (host, _) = ssl_bootstrap();
    let connector = TlsConnector::new(&trusting("FLAME_KAFKA_CA")).expect("config builds");
    for _ in 0..3 {
        let mut stream = connector
            .connect(&host, tcp().await)
            .await
            .unwrap_or_else(|e| panic!("handshake with {host}: {e}"));
        api_versions_round_trip(&mut stream).await;
    }
}

#[tokio::test]
async fn other_ca_fails_with_unknown_issuer() {
    let (host, _) = ssl_bootstrap();
    let err = handshake(&trusting("FLAME_KAFKA_OTHER_CA"), &host)
        .await
        .expect_err("the broker certificate is not from the other CA");
    assert!(
        matches!(err, SecurityError::UnknownIssuer { .. }),
        "wrong error: {err:?}"
    );
    let text = err.to_string();
    eprintln!("expected error: {text}");
    assert!(
        text.starts_with("certificate verify failed: unknown issuer (check ssl.ca.location)"),
        "{text}"
    );
    assert!(!err.is_retriable());
}

#[tokio::test]
async fn wrong_hostname_fails_naming_the_expected_name() {
    for name in ["wrong.example", "127.0.0.2"] {
        let err = handshake(&trusting("FLAME_KAFKA_CA"), name)
            .await
            .expect_err("the broker certificate is not for this name");
        assert!(
            matches!(err, SecurityError::HostnameMismatch { .. }),
            "{name}: wrong error: {err:?}"
        );
        let text = err.to_string();
        eprintln!("expected error: {text}");
        assert!(text.contains(&format!("{name:?}")), "{text}");
        assert!(text.contains("localhost"), "{text}");
        assert!(!err.is_retriable());
    }
}

#[tokio::test]
async fn hostname_verification_off_accepts_any_name_but_not_any_ca() {
    let lax = TlsConfig {
        verify_hostname: false,
        ..trusting("FLAME_KAFKA_CA")
    };
    let mut stream = handshake(&lax, "wrong.example")
        .await
        .unwrap_or_else(|e| panic!("verify_hostname=false: {e}"));
    api_versions_round_trip(&mut stream).await;

    let lax_other_ca = TlsConfig {
        verify_hostname: false,
        ..trusting("FLAME_KAFKA_OTHER_CA")
    };
    let err = handshake(&lax_other_ca, "wrong.example")
        .await
        .expect_err("the chain is still verified");
    assert!(
        matches!(err, SecurityError::UnknownIssuer { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn client_certificate_is_accepted() {
    let (host, _) = ssl_bootstrap();
    let config = TlsConfig {
        client_cert: Some(ClientIdentity::Files {
            cert_chain_pem_path: env("FLAME_KAFKA_CLIENT_CERT").into(),
            key_pem_path: env("FLAME_KAFKA_CLIENT_KEY").into(),
        }),
        ..trusting("FLAME_KAFKA_CA")
    };
    let mut stream = handshake(&config, &host)
        .await
        .unwrap_or_else(|e| panic!("mutual TLS with {host}: {e}"));
    api_versions_round_trip(&mut stream).await;
}
