//! TLS for broker connections: builds a rustls client config from a [`TlsConfig`]
//! and performs handshakes.
//!
//! Build a [`TlsConnector`] once per cluster (it reads the CA and key files and
//! assembles the rustls config), clone it into every connection task, and call
//! [`TlsConnector::connect`] on each new TCP stream.
//!
//! # Crypto provider
//!
//! By default the cryptography comes from graviola (`rustls-graviola`): pure Rust
//! plus assembly, no C compiler needed. It requires an x86_64 CPU with `aes`,
//! `pclmulqdq`, `bmi1`, `adx`, `avx` and `avx2`, or an aarch64 CPU with `neon`,
//! `aes`, `pmull` and `sha2`; on any other CPU graviola would panic, so
//! [`crypto_provider`] checks first and returns [`SecurityError::UnsupportedCpu`].
//! The provider is passed to rustls explicitly; no process-wide default is
//! installed. The cargo feature `aws-lc-rs` (or `ring`) selects that rustls
//! provider instead; with both, `aws-lc-rs` wins.
//!
//! # Errors
//!
//! Handshake failures are classified into [`SecurityError::UnknownIssuer`],
//! [`SecurityError::HostnameMismatch`], [`SecurityError::BadCertificate`],
//! [`SecurityError::Handshake`] (with a hint for the usual mistakes) and
//! [`SecurityError::Io`]. With TLS 1.3 a broker that rejects our client certificate
//! says so only after the client considers the handshake complete, so the error
//! shows up on the first read; pass such an `io::Error` to [`classify_io_error`].

use std::io;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct};
use rustls::{RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::security::{CaSource, ClientIdentity, SecurityError, TlsConfig};

/// Config key named in errors about the CA.
const CA_KEY: &str = "ssl.ca.location";
/// Config key named in errors about the in-memory CA.
const CA_PEM_KEY: &str = "ssl.ca.pem";
/// Config key named in errors about the client certificate file.
const CERT_KEY: &str = "ssl.certificate.location";
/// Config key named in errors about the in-memory client certificate.
const CERT_PEM_KEY: &str = "ssl.certificate.pem";
/// Config key named in errors about the client key file.
const KEY_KEY: &str = "ssl.key.location";
/// Config key named in errors about the in-memory client key.
const KEY_PEM_KEY: &str = "ssl.key.pem";
/// How errors name PEM given in the config rather than in a file.
const IN_MEMORY: &str = "in-memory PEM";

/// A built TLS client config, ready to secure any number of connections.
///
/// Cheap to clone (one `Arc`). Build it once per cluster with [`TlsConnector::new`].
#[derive(Clone, Debug)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl TlsConnector {
    /// Reads the CA and client identity named by `config` and builds the rustls
    /// config (see [`client_config`]).
    pub fn new(config: &TlsConfig) -> Result<Self, SecurityError> {
        Ok(Self::from_client_config(client_config(config)?))
    }

    /// Wraps a rustls config built elsewhere.
    pub fn from_client_config(config: Arc<ClientConfig>) -> Self {
        Self { config }
    }

    /// The rustls config in use.
    pub fn client_config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Performs the TLS handshake on `io` (normally a fresh [`TcpStream`]) with the
    /// broker known as `server_name`: the host part of its address, a DNS name or an
    /// IP address (`[::1]` brackets allowed). The certificate must be valid for that
    /// name unless host name verification is off.
    pub async fn connect<IO>(
        &self,
        server_name: &str,
        io: IO,
    ) -> Result<TlsStream<IO>, SecurityError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let name = parse_server_name(server_name)?;
        tokio_rustls::TlsConnector::from(Arc::clone(&self.config))
            .connect(name, io)
            .await
            .map_err(|err| classify_io_error(server_name, err))
    }
}

/// Performs one TLS handshake with a config built on the spot.
///
/// Convenient for one-off connections; a client opening many connections should
/// build a [`TlsConnector`] once instead, which reads the files once.
pub async fn connect(
    config: &TlsConfig,
    server_name: &str,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, SecurityError> {
    TlsConnector::new(config)?.connect(server_name, tcp).await
}

/// Builds the rustls client config for `config`.
///
/// If `config.custom` is set it is returned as is. Otherwise: the crypto provider
/// from [`crypto_provider`], TLS 1.2 and 1.3, the CAs from `config.ca`, the client
/// identity from `config.client_cert`, and host name verification as
/// `config.verify_hostname` says. Reads files; call it once per cluster.
pub fn client_config(config: &TlsConfig) -> Result<Arc<ClientConfig>, SecurityError> {
    if let Some(custom) = &config.custom {
        return Ok(Arc::clone(custom));
    }
    let provider = crypto_provider()?;
    let roots = Arc::new(root_store(&config.ca)?);
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|source| SecurityError::TlsConfig { source })?;
    let builder = if config.verify_hostname {
        builder.with_root_certificates(roots)
    } else {
        let verifier = ChainOnlyVerifier {
            roots,
            algorithms: provider.signature_verification_algorithms,
        };
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    };
    let client_config = match &config.client_cert {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            let (chain, key) = load_identity(identity)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|source| SecurityError::ClientIdentity { source })?
        }
    };
    let ca = match &config.ca {
        CaSource::PemFile(path) => path.display().to_string(),
        CaSource::Pem(_) => IN_MEMORY.to_owned(),
        _ => "webpki roots".to_owned(),
    };
    tracing::debug!(
        %ca,
        client_cert = config.client_cert.is_some(),
        verify_hostname = config.verify_hostname,
        provider = PROVIDER_NAME,
        "built TLS client config"
    );
    Ok(Arc::new(client_config))
}

/// The crypto provider this build uses: graviola unless the `aws-lc-rs` or `ring`
/// feature is on.
///
/// Fails with [`SecurityError::UnsupportedCpu`] if graviola cannot run on this CPU.
pub fn crypto_provider() -> Result<Arc<CryptoProvider>, SecurityError> {
    provider().map(Arc::new)
}

/// Name of the provider compiled in, for logs.
#[cfg(feature = "aws-lc-rs")]
const PROVIDER_NAME: &str = "aws-lc-rs";
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
const PROVIDER_NAME: &str = "ring";
#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
const PROVIDER_NAME: &str = "graviola";

#[cfg(feature = "aws-lc-rs")]
fn provider() -> Result<CryptoProvider, SecurityError> {
    Ok(rustls::crypto::aws_lc_rs::default_provider())
}

#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
fn provider() -> Result<CryptoProvider, SecurityError> {
    Ok(rustls::crypto::ring::default_provider())
}

#[cfg(all(
    not(any(feature = "ring", feature = "aws-lc-rs")),
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn provider() -> Result<CryptoProvider, SecurityError> {
    check_graviola_cpu()?;
    Ok(rustls_graviola::default_provider())
}

#[cfg(all(
    not(any(feature = "ring", feature = "aws-lc-rs")),
    not(any(target_arch = "x86_64", target_arch = "aarch64"))
))]
fn provider() -> Result<CryptoProvider, SecurityError> {
    // Graviola exists only for x86_64 and aarch64.
    Err(SecurityError::UnsupportedCpu {
        arch: std::env::consts::ARCH,
        missing: vec!["x86_64 or aarch64 architecture"],
    })
}

/// Checks, at run time, every CPU feature graviola 0.4 asserts before it computes
/// anything (`graviola::low::{x86_64,aarch64}::cpu::is_cpu_supported`): without
/// them its first handshake would panic. SHA-NI, BMI2, VAES, AVX-512 and the like
/// are used when present but not required.
#[cfg(target_arch = "x86_64")]
pub fn check_graviola_cpu() -> Result<(), SecurityError> {
    let features = [
        ("aes", std::arch::is_x86_feature_detected!("aes")),
        (
            "pclmulqdq",
            std::arch::is_x86_feature_detected!("pclmulqdq"),
        ),
        ("bmi1", std::arch::is_x86_feature_detected!("bmi1")),
        ("adx", std::arch::is_x86_feature_detected!("adx")),
        ("avx", std::arch::is_x86_feature_detected!("avx")),
        ("avx2", std::arch::is_x86_feature_detected!("avx2")),
    ];
    missing_features("x86_64", &features)
}

/// Checks, at run time, every CPU feature graviola 0.4 asserts before it computes
/// anything (`graviola::low::aarch64::cpu::is_cpu_supported`): without them its
/// first handshake would panic.
#[cfg(target_arch = "aarch64")]
pub fn check_graviola_cpu() -> Result<(), SecurityError> {
    let features = [
        ("neon", std::arch::is_aarch64_feature_detected!("neon")),
        ("aes", std::arch::is_aarch64_feature_detected!("aes")),
        ("pmull", std::arch::is_aarch64_feature_detected!("pmull")),
        ("sha2", std::arch::is_aarch64_feature_detected!("sha2")),
    ];
    missing_features("aarch64", &features)
}

/// `Ok` if every feature is present, else the list of absent ones.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn missing_features(
    arch: &'static str,
    features: &[(&'static str, bool)],
) -> Result<(), SecurityError> {
    let missing: Vec<&'static str> = features
        .iter()
        .filter(|(_, present)| !present)
        .map(|(name, _)| *name)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(SecurityError::UnsupportedCpu { arch, missing })
    }
}

/// Turns an `io::Error` from a TLS stream (handshake, or a later read or write) into
/// a [`SecurityError`], recognising certificate and alert errors from rustls.
pub fn classify_io_error(server_name: &str, err: io::Error) -> SecurityError {
    let tls_error = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .cloned();
    match tls_error {
        Some(tls_error) => classify_tls_error(server_name, tls_error),
        None => SecurityError::Io {
            server: server_name.to_owned(),
            source: Arc::new(err),
        },
    }
}

/// Maps a rustls error to the most helpful [`SecurityError`].
fn classify_tls_error(server_name: &str, error: rustls::Error) -> SecurityError {
    let server = server_name.to_owned();
    match error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            SecurityError::UnknownIssuer { server }
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected,
            presented,
        }) => SecurityError::HostnameMismatch {
            expected: expected.to_str().into_owned(),
            presented: presented.iter().map(|name| plain_name(name)).collect(),
        },
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName) => {
            SecurityError::HostnameMismatch {
                expected: server,
                presented: Vec::new(),
            }
        }
        rustls::Error::InvalidCertificate(reason) => {
            SecurityError::BadCertificate { server, reason }
        }
        source => {
            let hint = handshake_hint(&source);
            SecurityError::Handshake {
                server,
                source,
                hint,
            }
        }
    }
}

/// rustls reports certificate names in `Debug` form (`DnsName("localhost")`,
/// `IpAddress(127.0.0.1)`); this keeps just the name.
fn plain_name(presented: &str) -> String {
    presented
        .split_once('(')
        .and_then(|(kind, rest)| {
            let inner = rest.strip_suffix(')')?;
            kind.chars()
                .all(|c| c.is_ascii_alphanumeric())
                .then(|| inner.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| presented.to_owned())
}

/// Advice for handshake failures with a usual cause.
fn handshake_hint(error: &rustls::Error) -> &'static str {
    match error {
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => {
            "; the broker requires a client certificate: set ssl.certificate.location \
             and ssl.key.location"
        }
        rustls::Error::AlertReceived(
            AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateExpired,
        ) => {
            "; the broker rejected our client certificate (is it issued by a CA the broker trusts?)"
        }
        rustls::Error::AlertReceived(AlertDescription::ProtocolVersion) => {
            "; no common TLS version (TLS 1.2 or 1.3 is required)"
        }
        rustls::Error::AlertReceived(AlertDescription::HandshakeFailure) => {
            "; no common cipher suite, or the broker wants a client certificate"
        }
        rustls::Error::InvalidMessage(_) => {
            "; the peer does not speak TLS: is this port a TLS (SSL / SASL_SSL) listener?"
        }
        _ => "",
    }
}

/// Accepts `host`, `1.2.3.4`, `::1` and `[::1]`.
fn parse_server_name(name: &str) -> Result<ServerName<'static>, SecurityError> {
    let bare = name
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(name);
    ServerName::try_from(bare)
        .map(|parsed| parsed.to_owned())
        .map_err(|_| SecurityError::InvalidServerName {
            name: name.to_owned(),
        })
}

/// The trust anchors named by `ca`.
fn root_store(ca: &CaSource) -> Result<RootCertStore, SecurityError> {
    let (pem, key, origin) = match ca {
        CaSource::WebPkiRoots => {
            return Ok(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })
        }
        CaSource::PemFile(path) => (read_file(CA_KEY, path)?, CA_KEY, path_origin(path)),
        CaSource::Pem(text) => (text.as_bytes().to_vec(), CA_PEM_KEY, IN_MEMORY.to_owned()),
    };
    let certs = parse_certs(&pem, key, &origin, "CA certificate")?;
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|err| SecurityError::InvalidCaCertificate {
                origin: origin.clone(),
                reason: err.to_string(),
            })?;
    }
    Ok(roots)
}

/// The client certificate chain and key.
fn load_identity(
    identity: &ClientIdentity,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), SecurityError> {
    match identity {
        ClientIdentity::Files {
            cert_chain_pem_path,
            key_pem_path,
        } => {
            let chain_pem = read_file(CERT_KEY, cert_chain_pem_path)?;
            let chain = parse_certs(
                &chain_pem,
                CERT_KEY,
                &path_origin(cert_chain_pem_path),
                "certificate",
            )?;
            let key_pem = read_file(KEY_KEY, key_pem_path)?;
            let key = parse_key(&key_pem, KEY_KEY, &path_origin(key_pem_path));
            zero(key_pem);
            Ok((chain, key?))
        }
        ClientIdentity::Pem {
            cert_chain_pem,
            key_pem,
        } => {
            let chain = parse_certs(
                cert_chain_pem.as_bytes(),
                CERT_PEM_KEY,
                IN_MEMORY,
                "certificate",
            )?;
            let key = parse_key(key_pem.expose().as_bytes(), KEY_PEM_KEY, IN_MEMORY)?;
            Ok((chain, key))
        }
    }
}

/// Every certificate in `pem`; at least one.
fn parse_certs(
    pem: &[u8],
    key: &'static str,
    origin: &str,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, SecurityError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| invalid_pem(key, origin, pem_problem(&err)))?;
    if certs.is_empty() {
        return Err(invalid_pem(
            key,
            origin,
            format!("no {what} found (expected a -----BEGIN CERTIFICATE----- section)"),
        ));
    }
    Ok(certs)
}

/// The first private key in `pem` (PKCS#8, PKCS#1 or SEC1).
fn parse_key(
    pem: &[u8],
    key: &'static str,
    origin: &str,
) -> Result<PrivateKeyDer<'static>, SecurityError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|err| {
        let reason = match err {
            rustls::pki_types::pem::Error::NoItemsFound
                if contains(pem, b"ENCRYPTED PRIVATE KEY")
                    || contains(pem, b"Proc-Type: 4,ENCRYPTED") =>
            {
                "the private key is encrypted, which is not supported (ssl.key.password); \
                 decrypt it with `openssl pkey -in KEY -out PLAIN_KEY`"
                    .to_owned()
            }
            rustls::pki_types::pem::Error::NoItemsFound => "no private key found (expected \
                 BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY)"
                .to_owned(),
            other => pem_problem(&other),
        };
        invalid_pem(key, origin, reason)
    })
}

/// Describes a PEM error without quoting the input (which may be a private key).
fn pem_problem(err: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match err {
        Error::MissingSectionEnd { .. } => "a PEM section has no -----END line".to_owned(),
        Error::IllegalSectionStart { .. } => "a -----BEGIN line is malformed".to_owned(),
        Error::Base64Decode(_) => "a PEM section is not valid base64".to_owned(),
        Error::Io(err) => format!("I/O error: {err}"),
        Error::NoItemsFound => "nothing usable found".to_owned(),
        Error::SectionTooLarge => "a PEM section is too large".to_owned(),
        _ => "unreadable PEM".to_owned(),
    }
}

fn invalid_pem(key: &'static str, origin: &str, reason: String) -> SecurityError {
    SecurityError::InvalidPem {
        key,
        origin: origin.to_owned(),
        reason,
    }
}

fn read_file(key: &'static str, path: &std::path::Path) -> Result<Vec<u8>, SecurityError> {
    std::fs::read(path).map_err(|source| SecurityError::FileUnreadable {
        key,
        path: path.to_owned(),
        source: Arc::new(source),
    })
}

fn path_origin(path: &std::path::Path) -> String {
    path.display().to_string()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Overwrites a buffer that held a private key before freeing it (best effort).
fn zero(mut bytes: Vec<u8>) {
    bytes.fill(0);
    std::hint::black_box(&bytes);
}

/// Verifies the broker's certificate chain against the trusted CAs, and the
/// handshake signatures, but not the host name (`verify_hostname = false`,
/// librdkafka's `ssl.endpoint.identification.algorithm=none`).
///
/// Weaker than the default: any certificate issued by a trusted CA, for any name,
/// is accepted as the broker's.
#[derive(Debug)]
struct ChainOnlyVerifier {
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ChainOnlyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests;
