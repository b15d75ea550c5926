use std::path::{Path, PathBuf};

use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::security::Secret;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/tls")
        .join(name)
}

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).expect("fixture exists")
}

fn trusting(ca: &str) -> TlsConfig {
    TlsConfig {
        ca: CaSource::PemFile(fixture(ca)),
        ..TlsConfig::default()
    }
}

/// A rustls server with the `localhost` / 127.0.0.1 certificate, optionally
/// requiring a client certificate from the test CA.
fn server_config(require_client_cert: bool) -> Arc<ServerConfig> {
    let provider = crypto_provider().expect("test machine supports the provider");
    let chain = CertificateDer::pem_file_iter(fixture("server.pem"))
        .expect("server.pem")
        .collect::<Result<Vec<_>, _>>()
        .expect("server.pem parses");
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).expect("server.key");
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("TLS versions");
    let builder = if require_client_cert {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(fixture("ca.pem")).expect("ca.pem") {
            roots
                .add(cert.expect("ca.pem parses"))
                .expect("CA accepted");
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .expect("client verifier");
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(
        builder
            .with_single_cert(chain, key)
            .expect("server identity"),
    )
}

/// Runs a handshake over an in-memory pipe; on success, echoes one message
/// through the TLS session and returns the client stream.
async fn handshake(
    client: &TlsConfig,
    server_name: &str,
    require_client_cert: bool,
) -> Result<(), SecurityError> {
    let connector = TlsConnector::new(client)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config(require_client_cert));
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = async move {
        let mut stream = acceptor.accept(server_io).await?;
        let mut buf = [0u8; 5];
        stream.read_exact(&mut buf).await?;
        stream.write_all(&buf).await?;
        stream.flush().await?;
        Ok::<_, io::Error>(())
    };
    let client = async {
        let mut stream = connector.connect(server_name, client_io).await?;
        stream
            .write_all(b"hello")
            .await
            .map_err(|e| classify_io_error(server_name, e))?;
        let mut buf = [0u8; 5];
        stream
            .read_exact(&mut buf)
            .await
            .map_err(|e| classify_io_error(server_name, e))?;
        assert_eq!(&buf, b"hello");
        Ok(())
    };
    let (client_result, _server_result) = tokio::join!(client, server);
    client_result
}

#[test]
fn this_cpu_runs_graviola() {
    // The dev and CI machines are x86_64 with AVX2 and friends.
    check_graviola_cpu().expect("graviola-capable CPU");
    crypto_provider().expect("provider");
}

#[test]
fn unsupported_cpu_error_names_missing_features() {
    let err = SecurityError::UnsupportedCpu {
        arch: "x86_64",
        missing: vec!["adx", "avx2"],
    };
    let text = err.to_string();
    assert!(text.contains("adx, avx2"), "{text}");
    assert!(text.contains("`ring` or `aws-lc-rs`"), "{text}");
}

#[test]
fn webpki_roots_by_default() {
    let config = client_config(&TlsConfig::default()).expect("default config builds");
    assert!(!config.client_auth_cert_resolver.has_certs());
}

#[test]
fn custom_config_wins() {
    let custom = client_config(&trusting("other-ca.pem")).expect("builds");
    let tls = TlsConfig {
        ca: CaSource::PemFile("/does/not/exist.pem".into()),
        custom: Some(Arc::clone(&custom)),
        ..TlsConfig::default()
    };
    let built = client_config(&tls).expect("custom config is used as is");
    assert!(Arc::ptr_eq(&built, &custom));
}

#[test]
fn missing_ca_file_names_file_and_key() {
    let err = client_config(&TlsConfig {
        ca: CaSource::PemFile("/nonexistent/ca.pem".into()),
        ..TlsConfig::default()
    })
    .expect_err("missing file");
    let text = err.to_string();
    assert!(matches!(err, SecurityError::FileUnreadable { .. }));
    assert!(text.contains("/nonexistent/ca.pem"), "{text}");
    assert!(text.contains("ssl.ca.location"), "{text}");
    assert!(!err.is_retriable());
}

#[test]
fn ca_without_certificates_is_rejected() {
    let err = client_config(&TlsConfig {
        ca: CaSource::PemFile(fixture("server.key")),
        ..TlsConfig::default()
    })
    .expect_err("a key is not a CA");
    let text = err.to_string();
    assert!(text.contains("no CA certificate found"), "{text}");
    assert!(text.contains("server.key"), "{text}");

    let err = client_config(&TlsConfig {
        ca: CaSource::Pem("-----BEGIN CERTIFICATE-----\n!!!!\n".to_owned()),
        ..TlsConfig::default()
    })
    .expect_err("broken PEM");
    assert!(
        matches!(
            err,
            SecurityError::InvalidPem {
                key: "ssl.ca.pem",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn missing_key_file_names_file_and_key() {
    let err = client_config(&TlsConfig {
        client_cert: Some(ClientIdentity::Files {
            cert_chain_pem_path: fixture("client-ec.pem"),
            key_pem_path: "/nonexistent/client.key".into(),
        }),
        ..trusting("ca.pem")
    })
    .expect_err("missing key");
    let text = err.to_string();
    assert!(text.contains("/nonexistent/client.key"), "{text}");
    assert!(text.contains("ssl.key.location"), "{text}");
}

#[test]
fn encrypted_key_is_explained_without_leaking_it() {
    let key = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nTUlJRXNlY3JldGJpdHM=\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let err = client_config(&TlsConfig {
        client_cert: Some(ClientIdentity::Pem {
            cert_chain_pem: fixture_text("client-ec.pem"),
            key_pem: Secret::new(key),
        }),
        ..trusting("ca.pem")
    })
    .expect_err("encrypted key");
    let text = format!("{err} {err:?}");
    assert!(text.contains("encrypted"), "{text}");
    assert!(text.contains("ssl.key.pem"), "{text}");
    assert!(!text.contains("TUlJRXNlY3JldGJpdHM"), "{text}");
}

#[test]
fn mismatched_key_is_rejected() {
    let err = client_config(&TlsConfig {
        client_cert: Some(ClientIdentity::Files {
            cert_chain_pem_path: fixture("client-ec.pem"),
            key_pem_path: fixture("client-rsa.pkcs1.key"),
        }),
        ..trusting("ca.pem")
    })
    .expect_err("key does not match certificate");
    assert!(matches!(err, SecurityError::ClientIdentity { .. }), "{err}");
}

#[test]
fn certificate_names_are_shown_plainly() {
    assert_eq!(plain_name("DnsName(\"localhost\")"), "localhost");
    assert_eq!(
        plain_name("WildcardDnsName(\"*.example.com\")"),
        "*.example.com"
    );
    assert_eq!(plain_name("IpAddress(127.0.0.1)"), "127.0.0.1");
    assert_eq!(plain_name("IpAddress(::1)"), "::1");
    assert_eq!(plain_name("broker-1"), "broker-1");
}

#[test]
fn server_names() {
    assert!(parse_server_name("localhost").is_ok());
    assert!(parse_server_name("127.0.0.1").is_ok());
    assert!(parse_server_name("[::1]").is_ok());
    assert!(parse_server_name("::1").is_ok());
    let err = parse_server_name("bad name!").expect_err("invalid");
    assert!(matches!(err, SecurityError::InvalidServerName { .. }));
}

#[tokio::test]
async fn handshake_with_the_right_ca() {
    handshake(&trusting("ca.pem"), "localhost", false)
        .await
        .expect("localhost");
    handshake(&trusting("ca.pem"), "127.0.0.1", false)
        .await
        .expect("127.0.0.1");
    let in_memory = TlsConfig {
        ca: CaSource::Pem(fixture_text("ca.pem")),
        ..TlsConfig::default()
    };
    handshake(&in_memory, "localhost", false)
        .await
        .expect("in-memory CA");
}

#[tokio::test]
async fn unknown_issuer_is_explained() {
    let err = handshake(&trusting("other-ca.pem"), "localhost", false)
        .await
        .expect_err("wrong CA");
    assert!(
        matches!(err, SecurityError::UnknownIssuer { .. }),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .starts_with("certificate verify failed: unknown issuer (check ssl.ca.location)"));
    assert!(!err.is_retriable());

    // The webpki roots do not include our test CA either.
    let err = handshake(&TlsConfig::default(), "localhost", false)
        .await
        .expect_err("not a public CA");
    assert!(
        matches!(err, SecurityError::UnknownIssuer { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn wrong_hostname_names_the_expected_name() {
    for name in ["wrong.example", "127.0.0.2"] {
        let err = handshake(&trusting("ca.pem"), name, false)
            .await
            .expect_err("wrong name");
        let text = err.to_string();
        assert!(
            matches!(err, SecurityError::HostnameMismatch { .. }),
            "{err:?}"
        );
        assert!(text.contains(&format!("{name:?}")), "{text}");
        assert!(text.contains("localhost"), "{text}");
        assert!(
            text.contains("ssl.endpoint.identification.algorithm"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn hostname_verification_off_still_checks_the_chain() {
    let lax = TlsConfig {
        verify_hostname: false,
        ..trusting("ca.pem")
    };
    handshake(&lax, "wrong.example", false)
        .await
        .expect("name not checked");
    let lax_wrong_ca = TlsConfig {
        verify_hostname: false,
        ..trusting("other-ca.pem")
    };
    let err = handshake(&lax_wrong_ca, "wrong.example", false)
        .await
        .expect_err("chain still checked");
    assert!(
        matches!(err, SecurityError::UnknownIssuer { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn mutual_tls_with_every_key_format() {
    for (cert, key) in [
        ("client-ec.pem", "client-ec.pkcs8.key"),
        ("client-ec.pem", "client-ec.sec1.key"),
        ("client-rsa.pem", "client-rsa.pkcs1.key"),
    ] {
        let files = TlsConfig {
            client_cert: Some(ClientIdentity::Files {
                cert_chain_pem_path: fixture(cert),
                key_pem_path: fixture(key),
            }),
            ..trusting("ca.pem")
        };
        handshake(&files, "localhost", true)
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        let in_memory = TlsConfig {
            client_cert: Some(ClientIdentity::Pem {
                cert_chain_pem: fixture_text(cert),
                key_pem: Secret::new(fixture_text(key)),
            }),
            ..trusting("ca.pem")
        };
        handshake(&in_memory, "localhost", true)
            .await
            .unwrap_or_else(|e| panic!("{key} in memory: {e}"));
    }
}

#[tokio::test]
async fn missing_client_certificate_is_explained() {
    let err = handshake(&trusting("ca.pem"), "localhost", true)
        .await
        .expect_err("server requires a client certificate");
    let text = err.to_string();
    assert!(matches!(err, SecurityError::Handshake { .. }), "{err:?}");
    assert!(text.contains("ssl.certificate.location"), "{text}");
}

#[tokio::test]
async fn plaintext_peer_is_explained() {
    let connector = TlsConnector::new(&trusting("ca.pem")).expect("config");
    let (client_io, mut server_io) = tokio::io::duplex(64 * 1024);
    let server = async move {
        let mut buf = [0u8; 1];
        server_io.read_exact(&mut buf).await?;
        // A Kafka-ish length-prefixed reply, not TLS.
        server_io.write_all(&[0, 0, 0, 4, 0, 0, 0, 1]).await?;
        Ok::<_, io::Error>(server_io)
    };
    let (client, _server) = tokio::join!(connector.connect("localhost", client_io), server);
    let err = client.expect_err("not TLS");
    assert!(err.to_string().contains("TLS"), "{err}");
}
