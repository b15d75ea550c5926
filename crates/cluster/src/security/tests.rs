use super::*;

struct FixedToken;

impl TokenProvider for FixedToken {
    fn token(&self) -> Result<String, SecurityError> {
        Ok("token-value-xyz".to_owned())
    }
}

#[test]
fn secret_never_formats() {
    let secret = Secret::new("hunter2");
    assert_eq!(format!("{secret}"), "***");
    assert_eq!(format!("{secret:?}"), "\"***\"");
    assert_eq!(secret.expose(), "hunter2");
}

#[test]
fn sasl_config_debug_hides_password_and_provider() {
    for config in [
        SaslConfig::plain("alice", "pa55word-plain"),
        SaslConfig::scram_sha256("alice", "pa55word-plain"),
        SaslConfig::scram_sha512("alice", String::from("pa55word-plain")),
    ] {
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("pa55word-plain"), "{shown}");
        assert!(shown.contains("alice"), "{shown}");
    }
    let oauth = SaslConfig::oauthbearer(Arc::new(FixedToken));
    let shown = format!("{oauth:?}");
    assert!(!shown.contains("token-value-xyz"), "{shown}");
    assert!(shown.contains("<token provider>"), "{shown}");
}

#[test]
fn security_debug_hides_every_secret() {
    let key_pem = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAprivatebits\n-----END PRIVATE KEY-----";
    let tls = TlsConfig {
        ca: CaSource::PemFile("/etc/kafka/ca.pem".into()),
        client_cert: Some(ClientIdentity::Pem {
            cert_chain_pem: "-----BEGIN CERTIFICATE-----".to_owned(),
            key_pem: Secret::new(key_pem),
        }),
        verify_hostname: false,
        custom: None,
    };
    let security = Security::SaslSsl(SaslConfig::scram_sha512("bob", "s3cr3t-pw"), tls);
    let shown = format!("{security:?} {security:#?}");
    for secret in ["s3cr3t-pw", "MIGHAgEAprivatebits", "PRIVATE KEY"] {
        assert!(!shown.contains(secret), "{secret} leaked in {shown}");
    }
    assert!(shown.contains("/etc/kafka/ca.pem"));
    assert_eq!(security.protocol_name(), "SASL_SSL");
    assert!(security.tls().is_some() && security.sasl().is_some());
}

#[test]
fn custom_rustls_config_is_not_formatted() {
    let tls = TlsConfig {
        custom: Some(Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls_graviola::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("graviola supports TLS 1.2 and 1.3")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        )),
        ..TlsConfig::default()
    };
    let shown = format!("{tls:?}");
    assert!(shown.contains("<custom rustls::ClientConfig>"), "{shown}");
}

#[test]
fn defaults() {
    assert!(matches!(Security::default(), Security::Plaintext));
    let tls = TlsConfig::default();
    assert!(tls.verify_hostname);
    assert!(matches!(tls.ca, CaSource::WebPkiRoots));
    assert!(tls.client_cert.is_none() && tls.custom.is_none());
}

#[test]
fn mechanism_names_round_trip() {
    for m in [
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
        SaslMechanism::OAuthBearer,
    ] {
        assert_eq!(m.name().parse::<SaslMechanism>().ok(), Some(m));
        assert_eq!(
            m.name().to_lowercase().parse::<SaslMechanism>().ok(),
            Some(m)
        );
    }
    let err = "GSSAPI".parse::<SaslMechanism>().err();
    assert!(matches!(err, Some(SecurityError::UnknownMechanism { .. })));
}

#[test]
fn retriable_only_for_transient_failures() {
    let io = SecurityError::Io {
        server: "b1".into(),
        source: Arc::new(io::Error::from(io::ErrorKind::ConnectionReset)),
    };
    assert!(io.is_retriable());
    assert!(SecurityError::TokenUnavailable {
        reason: "down".into()
    }
    .is_retriable());
    assert!(!SecurityError::UnknownIssuer {
        server: "b1".into()
    }
    .is_retriable());
    assert!(!SecurityError::AuthenticationFailed {
        mechanism: "PLAIN",
        message: "bad password".into()
    }
    .is_retriable());
    assert!(!SecurityError::UnsupportedCpu {
        arch: "x86_64",
        missing: vec!["avx2"]
    }
    .is_retriable());
}
