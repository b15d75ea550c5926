//! How a connection is secured: `security.protocol` and the TLS and SASL settings
//! that go with it, plus the one error type of the security modules.
//!
//! The types here are plain data, parsed once at the edge and then shared by every
//! connection of a cluster. None of them prints a secret: the [`fmt::Debug`] output
//! of every type in this module shows `***` in place of passwords, in-memory private
//! keys and token providers, so a config can be logged as a whole.
//!
//! The work happens elsewhere: [`crate::tls`] turns a [`TlsConfig`] into a rustls
//! client config and performs handshakes; [`crate::sasl`] turns a [`SaslConfig`] into
//! a sans-IO [`crate::sasl::Authenticator`].

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// `security.protocol`: whether connections use TLS, SASL, both or neither.
///
/// The default is [`Security::Plaintext`], as in librdkafka and the Java client.
#[derive(Clone, Debug, Default)]
pub enum Security {
    /// `PLAINTEXT`: no encryption, no authentication.
    #[default]
    Plaintext,
    /// `SSL`: TLS, optionally authenticating the client with a certificate.
    Ssl(TlsConfig),
    /// `SASL_PLAINTEXT`: SASL authentication over an unencrypted connection.
    SaslPlaintext(SaslConfig),
    /// `SASL_SSL`: SASL authentication inside TLS.
    SaslSsl(SaslConfig, TlsConfig),
}

impl Security {
    /// The `security.protocol` name of this setting, e.g. `"SASL_SSL"`.
    pub fn protocol_name(&self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl(_) => "SSL",
            Self::SaslPlaintext(_) => "SASL_PLAINTEXT",
            Self::SaslSsl(..) => "SASL_SSL",
        }
    }

    /// The TLS settings, if connections use TLS.
    pub fn tls(&self) -> Option<&TlsConfig> {
        match self {
            Self::Ssl(tls) | Self::SaslSsl(_, tls) => Some(tls),
            Self::Plaintext | Self::SaslPlaintext(_) => None,
        }
    }

    /// The SASL settings, if connections authenticate with SASL.
    pub fn sasl(&self) -> Option<&SaslConfig> {
        match self {
            Self::SaslPlaintext(sasl) | Self::SaslSsl(sasl, _) => Some(sasl),
            Self::Plaintext | Self::Ssl(_) => None,
        }
    }
}

/// TLS settings (the `ssl.*` properties).
///
/// The default trusts the webpki (Mozilla) roots, presents no client certificate and
/// verifies the broker's host name.
#[derive(Clone)]
pub struct TlsConfig {
    /// Which certificate authorities to trust (`ssl.ca.location` / `ssl.ca.pem`).
    pub ca: CaSource,
    /// The client certificate and key for mutual TLS (`ssl.certificate.location` and
    /// `ssl.key.location`, or `ssl.certificate.pem` and `ssl.key.pem`). `None`: no
    /// client certificate.
    pub client_cert: Option<ClientIdentity>,
    /// Whether the broker certificate must be valid for the host name we connect to
    /// (`ssl.endpoint.identification.algorithm`: `https` = `true`, the default;
    /// `none` = `false`).
    ///
    /// `false` still verifies the certificate chain against [`TlsConfig::ca`], but
    /// accepts a certificate issued for any name. Anyone holding *any* certificate
    /// from the trusted CAs can then impersonate the broker: use it only with a
    /// private CA that issues certificates to brokers alone.
    pub verify_hostname: bool,
    /// A complete rustls config built by the application. When set it wins: every
    /// other field is ignored.
    pub custom: Option<Arc<rustls::ClientConfig>>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            ca: CaSource::default(),
            client_cert: None,
            verify_hostname: true,
            custom: None,
        }
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A custom rustls config may hold a client key: never format it.
        let custom = self
            .custom
            .as_ref()
            .map(|_| "<custom rustls::ClientConfig>");
        f.debug_struct("TlsConfig")
            .field("ca", &self.ca)
            .field("client_cert", &self.client_cert)
            .field("verify_hostname", &self.verify_hostname)
            .field("custom", &custom)
            .finish()
    }
}

/// The certificate authorities that may issue broker certificates.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum CaSource {
    /// The Mozilla root program, compiled in (`webpki-roots`). The default.
    #[default]
    WebPkiRoots,
    /// A PEM file holding one or more CA certificates (`ssl.ca.location`).
    PemFile(PathBuf),
    /// PEM text holding one or more CA certificates (`ssl.ca.pem`).
    Pem(String),
}

/// The client's certificate chain and private key, for mutual TLS.
///
/// Keys may be PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1 (`BEGIN RSA PRIVATE KEY`) or
/// SEC1 (`BEGIN EC PRIVATE KEY`); encrypted keys (`ssl.key.password`) are not
/// supported.
#[derive(Clone, Debug)]
pub enum ClientIdentity {
    /// Both read from PEM files.
    Files {
        /// The leaf certificate first, then intermediates (`ssl.certificate.location`).
        cert_chain_pem_path: PathBuf,
        /// The private key (`ssl.key.location`).
        key_pem_path: PathBuf,
    },
    /// Both given as PEM text.
    Pem {
        /// The leaf certificate first, then intermediates (`ssl.certificate.pem`).
        cert_chain_pem: String,
        /// The private key (`ssl.key.pem`); never printed.
        key_pem: Secret,
    },
}

/// SASL settings (`sasl.mechanism`, `sasl.username`, `sasl.password`, and the
/// OAUTHBEARER token source).
#[derive(Clone)]
pub struct SaslConfig {
    /// The mechanism (`sasl.mechanism`).
    pub mechanism: SaslMechanism,
    /// The user name (`sasl.username`); unused by OAUTHBEARER.
    pub username: String,
    /// The password (`sasl.password`); unused by OAUTHBEARER.
    pub password: Secret,
    /// Where OAUTHBEARER gets its token; required for that mechanism, unused by the
    /// others.
    pub oauth_token_provider: Option<Arc<dyn TokenProvider>>,
}

impl SaslConfig {
    /// PLAIN with a user name and password.
    pub fn plain(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self::with_password(SaslMechanism::Plain, username, password)
    }

    /// SCRAM-SHA-256 with a user name and password.
    pub fn scram_sha256(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self::with_password(SaslMechanism::ScramSha256, username, password)
    }

    /// SCRAM-SHA-512 with a user name and password.
    pub fn scram_sha512(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self::with_password(SaslMechanism::ScramSha512, username, password)
    }

    /// OAUTHBEARER with tokens from `provider`.
    pub fn oauthbearer(provider: Arc<dyn TokenProvider>) -> Self {
        Self {
            mechanism: SaslMechanism::OAuthBearer,
            username: String::new(),
            password: Secret::default(),
            oauth_token_provider: Some(provider),
        }
    }

    /// Any mechanism with a user name and password.
    pub fn with_password(
        mechanism: SaslMechanism,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        Self {
            mechanism,
            username: username.into(),
            password: password.into(),
            oauth_token_provider: None,
        }
    }
}

impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let provider = self
            .oauth_token_provider
            .as_ref()
            .map(|_| "<token provider>");
        f.debug_struct("SaslConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("oauth_token_provider", &provider)
            .finish()
    }
}

/// A SASL mechanism we implement (`sasl.mechanism`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SaslMechanism {
    /// `PLAIN` (RFC 4616): user name and password in clear; use it only inside TLS.
    Plain,
    /// `SCRAM-SHA-256` (RFC 5802, RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-512` (RFC 5802 with SHA-512, as Kafka defines it).
    ScramSha512,
    /// `OAUTHBEARER` (RFC 7628).
    OAuthBearer,
}

impl SaslMechanism {
    /// The name sent in SaslHandshake, e.g. `"SCRAM-SHA-256"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SaslMechanism {
    type Err = SecurityError;

    /// Parses a `sasl.mechanism` value; case-insensitive like librdkafka.
    fn from_str(s: &str) -> Result<Self, SecurityError> {
        [
            Self::Plain,
            Self::ScramSha256,
            Self::ScramSha512,
            Self::OAuthBearer,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| SecurityError::UnknownMechanism { name: s.to_owned() })
    }
}

/// Where OAUTHBEARER gets its bearer token.
///
/// Called once per authentication (each new connection, each re-authentication), so
/// an implementation should cache its token and refresh it before it expires.
pub trait TokenProvider: Send + Sync {
    /// The current token (a JWT or any opaque bearer token).
    ///
    /// Return [`SecurityError::TokenUnavailable`] when no token can be had.
    fn token(&self) -> Result<String, SecurityError>;
}

/// A secret string (password, in-memory private key): its [`fmt::Debug`] and
/// [`fmt::Display`] print `***`, and dropping it overwrites its bytes (best effort:
/// copies made before, e.g. by reallocation, are not reached).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. Use it where it is needed, never in a log line.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Self {
        Self(secret.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        // Keeps the compiler from treating the zeroing as a dead store.
        std::hint::black_box(&bytes);
    }
}

/// Everything that can go wrong while setting up TLS or authenticating with SASL.
///
/// Only [`SecurityError::Io`] and [`SecurityError::TokenUnavailable`] are worth a
/// retry (see [`SecurityError::is_retriable`]); every other variant is a
/// configuration, certificate or credential problem that a retry repeats.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityError {
    /// A file named in the config could not be read.
    #[error("cannot read {key} file {}: {source}", .path.display())]
    FileUnreadable {
        /// The config key that named the file, e.g. `ssl.ca.location`.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: Arc<io::Error>,
    },

    /// PEM text (from a file or the config itself) could not be used.
    #[error("invalid PEM in {origin} ({key}): {reason}")]
    InvalidPem {
        /// The config key, e.g. `ssl.key.location`.
        key: &'static str,
        /// The file's path, or `"in-memory PEM"`.
        origin: String,
        /// What is wrong, e.g. "no certificate found". Never contains key material.
        reason: String,
    },

    /// A CA certificate was parsed but rustls would not use it as a trust anchor.
    #[error("invalid CA certificate in {origin} (ssl.ca.location): {reason}")]
    InvalidCaCertificate {
        /// The file's path, or `"in-memory PEM"`.
        origin: String,
        /// Why it was rejected.
        reason: String,
    },

    /// The client certificate and key do not make a usable identity (the key does
    /// not match the certificate, or its algorithm is not supported).
    #[error(
        "cannot use client certificate (ssl.certificate.location / ssl.key.location): {source}"
    )]
    ClientIdentity {
        /// rustls' reason.
        source: rustls::Error,
    },

    /// This CPU lacks instructions the default (graviola) crypto provider needs.
    #[error(
        "TLS unavailable: the graviola crypto provider needs CPU features {} that this \
         {arch} CPU lacks; build flame-kafka with the `ring` or `aws-lc-rs` feature instead",
        .missing.join(", ")
    )]
    UnsupportedCpu {
        /// The CPU architecture (`x86_64`, `aarch64`, ...).
        arch: &'static str,
        /// The missing features, as `is_x86_feature_detected!` names them.
        missing: Vec<&'static str>,
    },

    /// A TLS config could not be assembled (e.g. the crypto provider offers no
    /// usable protocol version). A bug or a broken custom provider, not user input.
    #[error("cannot build TLS config: {source}")]
    TlsConfig {
        /// rustls' reason.
        source: rustls::Error,
    },

    /// The broker address is not a valid DNS name or IP address for TLS.
    #[error("invalid TLS server name {name:?}: not a DNS name or IP address")]
    InvalidServerName {
        /// The name given.
        name: String,
    },

    /// The broker's certificate chain does not lead to a trusted CA.
    #[error(
        "certificate verify failed: unknown issuer (check ssl.ca.location) \
         while connecting to {server}"
    )]
    UnknownIssuer {
        /// The server name we connected to.
        server: String,
    },

    /// The broker's certificate is valid, but not for the name we connected to.
    #[error(
        "certificate verify failed: certificate is not valid for {expected:?} \
         (it is valid for: {}); connect using one of those names, or set \
         ssl.endpoint.identification.algorithm=none",
        name_list(.presented)
    )]
    HostnameMismatch {
        /// The name we connected to.
        expected: String,
        /// The names in the certificate (may be empty if rustls did not report them).
        presented: Vec<String>,
    },

    /// The broker's certificate was rejected for another reason (expired, revoked,
    /// bad signature, ...).
    #[error("certificate verify failed for {server}: {reason}")]
    BadCertificate {
        /// The server name we connected to.
        server: String,
        /// rustls' reason.
        reason: rustls::CertificateError,
    },

    /// The TLS handshake failed for a reason other than the broker's certificate
    /// (an alert from the broker, no common cipher suite, ...).
    #[error("TLS handshake with {server} failed: {source}{hint}")]
    Handshake {
        /// The server name we connected to.
        server: String,
        /// rustls' reason.
        source: rustls::Error,
        /// Advice for the common cases, e.g. that the broker wants a client
        /// certificate; empty or starting with `"; "`.
        hint: &'static str,
    },

    /// The socket failed during the TLS handshake (reset, closed, timed out).
    #[error("I/O error during TLS handshake with {server}: {source}")]
    Io {
        /// The server name we connected to.
        server: String,
        /// The error.
        source: Arc<io::Error>,
    },

    /// `sasl.mechanism` names a mechanism we do not implement.
    #[error(
        "unsupported sasl.mechanism {name:?} (supported: PLAIN, SCRAM-SHA-256, \
         SCRAM-SHA-512, OAUTHBEARER)"
    )]
    UnknownMechanism {
        /// The name given.
        name: String,
    },

    /// The SASL config lacks something the mechanism needs, or has a value it cannot
    /// send.
    #[error("invalid SASL {mechanism} config: {problem}")]
    InvalidSaslConfig {
        /// The mechanism.
        mechanism: &'static str,
        /// What is missing or wrong, naming the config key. Never contains a secret.
        problem: &'static str,
    },

    /// The server rejected the credentials, or ended the exchange with an error.
    #[error("SASL {mechanism} authentication failed: {message}")]
    AuthenticationFailed {
        /// The mechanism.
        mechanism: &'static str,
        /// The server's reason (SCRAM `e=` value, OAUTHBEARER error JSON, or the
        /// SaslAuthenticate error message).
        message: String,
    },

    /// The SCRAM server's signature is wrong: the server does not know the
    /// password, so it is not the server we meant to talk to.
    #[error(
        "SASL {mechanism} authentication failed: the server signature does not verify \
         (the server does not know our credentials; possible man-in-the-middle)"
    )]
    ServerSignatureMismatch {
        /// The mechanism.
        mechanism: &'static str,
    },

    /// The SCRAM server asked for an iteration count outside the accepted range.
    #[error(
        "SASL {mechanism}: server asked for {count} iterations, outside the accepted \
         range {min}..={max}"
    )]
    IterationCount {
        /// The mechanism.
        mechanism: &'static str,
        /// The count the server sent.
        count: u32,
        /// The lowest count accepted (Kafka's minimum, 4096).
        min: u32,
        /// The highest count accepted.
        max: u32,
    },

    /// The server sent a SASL message that does not follow the mechanism.
    #[error("SASL {mechanism}: malformed server message: {reason}")]
    MalformedServerMessage {
        /// The mechanism.
        mechanism: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The authenticator was driven out of order (a bug in the caller).
    #[error("SASL {mechanism}: {call} called in the wrong state")]
    UnexpectedStep {
        /// The mechanism.
        mechanism: &'static str,
        /// The method called: `"initial_response"` or `"step"`.
        call: &'static str,
    },

    /// The OAUTHBEARER token provider could not supply a token. Retriable: token
    /// endpoints have outages.
    #[error("no OAUTHBEARER token: {reason}")]
    TokenUnavailable {
        /// Why, in the provider's words.
        reason: String,
    },
}

/// `"a, b"`, or `"no names"` for an empty list.
fn name_list(names: &[String]) -> String {
    if names.is_empty() {
        "no names".to_owned()
    } else {
        names.join(", ")
    }
}

impl SecurityError {
    /// Whether trying again (a new connection) may succeed.
    ///
    /// `true` only for socket failures during the handshake and for a token provider
    /// that could not get a token; configuration, certificate and authentication
    /// errors repeat on every attempt.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Io { .. } | Self::TokenUnavailable { .. })
    }
}

#[cfg(test)]
mod tests;
