//! SASL SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), client side.
//!
//! ```text
//! client-first  n,,n=<saslname>,r=<client nonce>
//! server-first  r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>
//! client-final  c=biws,r=<nonce>,p=<base64 ClientProof>
//! server-final  v=<base64 ServerSignature>        (or e=<error>)
//! ```
//!
//! The server's signature is verified (in constant time) before the exchange counts
//! as done, so a server that does not know the password cannot pass as the broker.
//!
//! Like Kafka's Java client, the password is used as its UTF-8 bytes without
//! SASLprep normalisation, and no channel binding is offered (`n,,`). Delegation
//! tokens (the `tokenauth=true` extension) are not supported.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256, Sha512};

use super::{Authenticator, Step};
use crate::security::{Secret, SecurityError};

/// The lowest iteration count accepted: Kafka's minimum for SCRAM credentials.
pub const MIN_ITERATIONS: u32 = 4096;

/// The highest iteration count accepted.
///
/// Kafka brokers store at most 16384 iterations; other Kafka-compatible servers may
/// use more, so we allow up to 100 000 while still bounding the PBKDF2 work (tens of
/// milliseconds) that a rogue server can make every connection do.
pub const MAX_ITERATIONS: u32 = 100_000;

/// Length of the client nonce: 32 alphanumeric characters, about 190 bits.
const NONCE_LEN: usize = 32;

/// The `c=` attribute: base64 of the GS2 header `n,,` (no channel binding, no
/// authorization identity).
const CHANNEL_BINDING: &str = "c=biws";

/// An `Hmac<$digest>` keyed with `$key` that has absorbed `$data`.
macro_rules! hmac_init {
    ($digest:ty, $key:expr, $data:expr) => {{
        // HMAC accepts keys of any length: new_from_slice cannot fail.
        let mut mac = <Hmac<$digest> as Mac>::new_from_slice($key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update($data);
        mac
    }};
}

/// The hash function of a SCRAM variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScramHash {
    /// SHA-256 (SCRAM-SHA-256).
    Sha256,
    /// SHA-512 (SCRAM-SHA-512).
    Sha512,
}

impl ScramHash {
    /// The SASL mechanism name.
    pub fn mechanism(self) -> &'static str {
        match self {
            Self::Sha256 => "SCRAM-SHA-256",
            Self::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// `H(data)`.
    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `HMAC(key, data)`.
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => hmac_init!(Sha256, key, data)
                .finalize()
                .into_bytes()
                .to_vec(),
            Self::Sha512 => hmac_init!(Sha512, key, data)
                .finalize()
                .into_bytes()
                .to_vec(),
        }
    }

    /// Whether `HMAC(key, data) == expected`, compared in constant time.
    fn hmac_verify(self, key: &[u8], data: &[u8], expected: &[u8]) -> bool {
        match self {
            Self::Sha256 => hmac_init!(Sha256, key, data).verify_slice(expected).is_ok(),
            Self::Sha512 => hmac_init!(Sha512, key, data).verify_slice(expected).is_ok(),
        }
    }

    /// `Hi(password, salt, iterations)`: PBKDF2 with this hash's HMAC.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Self::Sha256 => {
                let mut out = vec![0; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out
            }
            Self::Sha512 => {
                let mut out = vec![0; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out
            }
        }
    }
}

/// A SCRAM exchange.
pub struct Scram {
    hash: ScramHash,
    state: State,
}

enum State {
    Initial {
        username: String,
        password: Secret,
        nonce: String,
    },
    /// Sent client-first; waiting for server-first.
    ClientFirstSent {
        password: Secret,
        nonce: String,
        client_first_bare: String,
    },
    /// Sent client-final; waiting for server-final.
    ClientFinalSent {
        server_key: Vec<u8>,
        auth_message: String,
    },
    Done,
    /// An error ended the exchange.
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            Self::Initial { .. } => "Initial",
            Self::ClientFirstSent { .. } => "ClientFirstSent",
            Self::ClientFinalSent { .. } => "ClientFinalSent",
            Self::Done => "Done",
            Self::Failed => "Failed",
        }
    }
}

impl Scram {
    /// A new exchange for `username` with a fresh random client nonce.
    pub fn new(hash: ScramHash, username: &str, password: &Secret) -> Result<Self, SecurityError> {
        let nonce = Alphanumeric.sample_string(&mut rand::rng(), NONCE_LEN);
        Self::with_nonce(hash, username, password, nonce)
    }

    /// A new exchange with a chosen client nonce: for tests against fixed vectors.
    /// The nonce must be printable ASCII without `,`.
    pub(crate) fn with_nonce(
        hash: ScramHash,
        username: &str,
        password: &Secret,
        nonce: String,
    ) -> Result<Self, SecurityError> {
        if username.is_empty() {
            return Err(SecurityError::InvalidSaslConfig {
                mechanism: hash.mechanism(),
                problem: "sasl.username is empty",
            });
        }
        Ok(Self {
            hash,
            state: State::Initial {
                username: username.to_owned(),
                password: password.clone(),
                nonce,
            },
        })
    }

    fn malformed(&self, reason: &'static str) -> SecurityError {
        SecurityError::MalformedServerMessage {
            mechanism: self.hash.mechanism(),
            reason,
        }
    }

    fn out_of_order(&self, call: &'static str) -> SecurityError {
        SecurityError::UnexpectedStep {
            mechanism: self.hash.mechanism(),
            call,
        }
    }

    /// server-first → client-final.
    fn client_final(
        &self,
        server_first: &str,
        password: &Secret,
        nonce: &str,
        client_first_bare: &str,
    ) -> Result<(String, State), SecurityError> {
        let mechanism = self.hash.mechanism();
        let mut attrs = server_first.split(',');
        let first = attrs.next().unwrap_or_default();
        if let Some(error) = first.strip_prefix("e=") {
            return Err(SecurityError::AuthenticationFailed {
                mechanism,
                message: error.to_owned(),
            });
        }
        if first.starts_with("m=") {
            return Err(self.malformed("server requires an unsupported mandatory extension"));
        }
        let full_nonce = first
            .strip_prefix("r=")
            .ok_or_else(|| self.malformed("server-first does not start with r="))?;
        if full_nonce.len() <= nonce.len() || !full_nonce.starts_with(nonce) {
            return Err(self.malformed("server nonce does not extend the client nonce"));
        }
        let salt = attrs
            .next()
            .and_then(|attr| attr.strip_prefix("s="))
            .ok_or_else(|| self.malformed("server-first lacks s= (salt)"))?;
        let salt = BASE64
            .decode(salt)
            .map_err(|_| self.malformed("salt is not valid base64"))?;
        if salt.is_empty() {
            return Err(self.malformed("salt is empty"));
        }
        let count = attrs
            .next()
            .and_then(|attr| attr.strip_prefix("i="))
            .ok_or_else(|| self.malformed("server-first lacks i= (iteration count)"))?;
        let count: u32 = count
            .parse()
            .map_err(|_| self.malformed("iteration count is not a number"))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&count) {
            return Err(SecurityError::IterationCount {
                mechanism,
                count,
                min: MIN_ITERATIONS,
                max: MAX_ITERATIONS,
            });
        }
        // Further attributes are optional extensions, which we may ignore.

        let salted = self
            .hash
            .salted_password(password.expose().as_bytes(), &salt, count);
        let client_key = self.hash.hmac(&salted, b"Client Key");
        let stored_key = self.hash.hash(&client_key);
        let server_key = self.hash.hmac(&salted, b"Server Key");
        let without_proof = format!("{CHANNEL_BINDING},r={full_nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_signature = self.hash.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let client_final = format!("{without_proof},p={}", BASE64.encode(proof));
        Ok((
            client_final,
            State::ClientFinalSent {
                server_key,
                auth_message,
            },
        ))
    }

    /// server-final → done, if the server signature verifies.
    fn finish(
        &self,
        server_final: &str,
        server_key: &[u8],
        auth_message: &str,
    ) -> Result<(), SecurityError> {
        let mechanism = self.hash.mechanism();
        let first = server_final.split(',').next().unwrap_or_default();
        if let Some(error) = first.strip_prefix("e=") {
            return Err(SecurityError::AuthenticationFailed {
                mechanism,
                message: error.to_owned(),
            });
        }
        let signature = first
            .strip_prefix("v=")
            .ok_or_else(|| self.malformed("server-final has neither v= nor e="))?;
        let signature = BASE64
            .decode(signature)
            .map_err(|_| self.malformed("server signature is not valid base64"))?;
        if self
            .hash
            .hmac_verify(server_key, auth_message.as_bytes(), &signature)
        {
            Ok(())
        } else {
            Err(SecurityError::ServerSignatureMismatch { mechanism })
        }
    }
}

impl fmt::Debug for Scram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scram")
            .field("hash", &self.hash)
            .field("state", &self.state.name())
            .finish()
    }
}

impl Authenticator for Scram {
    fn mechanism(&self) -> &'static str {
        self.hash.mechanism()
    }

    fn initial_response(&mut self) -> Result<Vec<u8>, SecurityError> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Initial {
                username,
                password,
                nonce,
            } => {
                let client_first_bare = format!("n={},r={nonce}", sasl_name(&username));
                let message = format!("n,,{client_first_bare}").into_bytes();
                self.state = State::ClientFirstSent {
                    password,
                    nonce,
                    client_first_bare,
                };
                Ok(message)
            }
            other => {
                self.state = other;
                Err(self.out_of_order("initial_response"))
            }
        }
    }

    fn step(&mut self, server: &[u8]) -> Result<Step, SecurityError> {
        // Any error ends the exchange: the state stays Failed.
        let state = std::mem::replace(&mut self.state, State::Failed);
        let server = std::str::from_utf8(server);
        match state {
            State::ClientFirstSent {
                password,
                nonce,
                client_first_bare,
            } => {
                let server_first =
                    server.map_err(|_| self.malformed("server-first is not UTF-8"))?;
                let (client_final, next) =
                    self.client_final(server_first, &password, &nonce, &client_first_bare)?;
                self.state = next;
                Ok(Step::Respond(client_final.into_bytes()))
            }
            State::ClientFinalSent {
                server_key,
                auth_message,
            } => {
                let server_final =
                    server.map_err(|_| self.malformed("server-final is not UTF-8"))?;
                self.finish(server_final, &server_key, &auth_message)?;
                self.state = State::Done;
                Ok(Step::Done)
            }
            other => {
                self.state = other;
                Err(self.out_of_order("step"))
            }
        }
    }
}

/// RFC 5802 `saslname`: `=` becomes `=3D` and `,` becomes `=2C`.
fn sasl_name(username: &str) -> String {
    username.replace('=', "=3D").replace(',', "=2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3: user "user", password "pencil".
    #[test]
    fn rfc7677_sha256_vector() {
        let mut scram = Scram::with_nonce(
            ScramHash::Sha256,
            "user",
            &Secret::new("pencil"),
            "rOprNGfwEbeRWgbNEkqO".to_owned(),
        )
        .expect("valid");
        assert_eq!(scram.mechanism(), "SCRAM-SHA-256");
        assert_eq!(
            scram.initial_response().expect("first"),
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO".to_vec()
        );
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                            s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let client_final = scram.step(server_first.as_bytes()).expect("server-first");
        assert_eq!(
            client_final,
            Step::Respond(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
                    .to_vec()
            )
        );
        let server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
        assert_eq!(
            scram.step(server_final.as_bytes()).expect("verified"),
            Step::Done
        );
        assert!(scram.step(b"").is_err(), "nothing after Done");
    }

    fn rfc7677_after_server_first() -> Scram {
        let mut scram = Scram::with_nonce(
            ScramHash::Sha256,
            "user",
            &Secret::new("pencil"),
            "rOprNGfwEbeRWgbNEkqO".to_owned(),
        )
        .expect("valid");
        scram.initial_response().expect("first");
        scram
            .step(
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            )
            .expect("server-first");
        scram
    }

    #[test]
    fn wrong_server_signature_fails() {
        let mut scram = rfc7677_after_server_first();
        // First character of the real signature changed.
        let err = scram
            .step(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .expect_err("bad signature");
        assert!(
            matches!(err, SecurityError::ServerSignatureMismatch { .. }),
            "{err}"
        );
        assert!(!err.is_retriable());
        assert!(scram.step(b"").is_err(), "the exchange is over");

        let mut scram = rfc7677_after_server_first();
        let err = scram.step(b"v=AAAA").expect_err("short signature");
        assert!(
            matches!(err, SecurityError::ServerSignatureMismatch { .. }),
            "{err}"
        );
    }

    #[test]
    fn server_errors_are_reported() {
        let mut scram = rfc7677_after_server_first();
        let err = scram.step(b"e=invalid-proof").expect_err("rejected");
        assert!(
            matches!(&err, SecurityError::AuthenticationFailed { message, .. } if message == "invalid-proof"),
            "{err}"
        );

        let mut scram =
            Scram::with_nonce(ScramHash::Sha512, "u", &Secret::new("p"), "abc".to_owned())
                .expect("valid");
        scram.initial_response().expect("first");
        let err = scram.step(b"e=unknown-user").expect_err("rejected");
        assert!(err.to_string().contains("unknown-user"), "{err}");
    }

    fn first_then(server_first: &str) -> SecurityError {
        let mut scram = Scram::with_nonce(
            ScramHash::Sha256,
            "u",
            &Secret::new("p"),
            "cnonce".to_owned(),
        )
        .expect("valid");
        scram.initial_response().expect("first");
        scram
            .step(server_first.as_bytes())
            .expect_err("server-first must be rejected")
    }

    #[test]
    fn iteration_count_bounds() {
        let err = first_then("r=cnonceS,s=c2FsdA==,i=4095");
        assert!(
            matches!(err, SecurityError::IterationCount { count: 4095, .. }),
            "{err}"
        );
        let err = first_then("r=cnonceS,s=c2FsdA==,i=100001");
        assert!(
            matches!(err, SecurityError::IterationCount { count: 100_001, .. }),
            "{err}"
        );
        let err = first_then("r=cnonceS,s=c2FsdA==,i=99999999999");
        assert!(
            matches!(err, SecurityError::MalformedServerMessage { .. }),
            "{err}"
        );
    }

    #[test]
    fn malformed_server_first() {
        for bad in [
            "",
            "s=c2FsdA==,i=4096",
            "r=othernonce,s=c2FsdA==,i=4096",
            "r=cnonce,s=c2FsdA==,i=4096",
            "r=cnonceS,i=4096",
            "r=cnonceS,s=!!!,i=4096",
            "r=cnonceS,s=,i=4096",
            "r=cnonceS,s=c2FsdA==",
            "r=cnonceS,s=c2FsdA==,i=lots",
            "m=ext,r=cnonceS,s=c2FsdA==,i=4096",
        ] {
            let err = first_then(bad);
            assert!(
                matches!(err, SecurityError::MalformedServerMessage { .. }),
                "{bad:?}: {err}"
            );
        }
        assert!(matches!(
            first_then("e=other-error"),
            SecurityError::AuthenticationFailed { .. }
        ));
    }

    #[test]
    fn saslname_escaping() {
        assert_eq!(sasl_name("plain"), "plain");
        assert_eq!(sasl_name("a=b,c"), "a=3Db=2Cc");
        assert_eq!(sasl_name("=,"), "=3D=2C");
        let mut scram = Scram::with_nonce(
            ScramHash::Sha256,
            "x=y,z",
            &Secret::new("p"),
            "n0nce".to_owned(),
        )
        .expect("valid");
        assert_eq!(
            scram.initial_response().expect("first"),
            b"n,,n=x=3Dy=2Cz,r=n0nce".to_vec()
        );
    }

    #[test]
    fn random_nonce_is_fresh_and_printable() {
        let first = |scram: &mut Scram| {
            String::from_utf8(scram.initial_response().expect("first")).expect("ascii")
        };
        let mut a = Scram::new(ScramHash::Sha256, "u", &Secret::new("p")).expect("valid");
        let mut b = Scram::new(ScramHash::Sha256, "u", &Secret::new("p")).expect("valid");
        let (a, b) = (first(&mut a), first(&mut b));
        assert_ne!(a, b);
        let nonce = a.strip_prefix("n,,n=u,r=").expect("shape");
        assert_eq!(nonce.len(), NONCE_LEN);
        assert!(nonce.bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn out_of_order_calls_fail() {
        let mut scram = Scram::new(ScramHash::Sha512, "u", &Secret::new("p")).expect("valid");
        assert!(scram.step(b"r=x").is_err());
        scram.initial_response().expect("first");
        assert!(scram.initial_response().is_err());
    }

    #[test]
    fn debug_hides_password() {
        let scram = Scram::new(ScramHash::Sha256, "u", &Secret::new("pw-in-debug")).expect("ok");
        assert!(!format!("{scram:?}").contains("pw-in-debug"));
    }

    /// A minimal SCRAM server (RFC 5802 §3) holding StoredKey and ServerKey.
    struct TestServer {
        hash: ScramHash,
        salt: Vec<u8>,
        iterations: u32,
        stored_key: Vec<u8>,
        server_key: Vec<u8>,
        server_nonce: String,
        auth_prefix: String,
    }

    impl TestServer {
        fn new(hash: ScramHash, password: &str, iterations: u32) -> Self {
            let salt = b"flame-kafka-salt".to_vec();
            let salted = hash.salted_password(password.as_bytes(), &salt, iterations);
            Self {
                hash,
                stored_key: hash.hash(&hash.hmac(&salted, b"Client Key")),
                server_key: hash.hmac(&salted, b"Server Key"),
                salt,
                iterations,
                server_nonce: "ServerNonce123".to_owned(),
                auth_prefix: String::new(),
            }
        }

        fn first(&mut self, client_first: &[u8]) -> String {
            let client_first = std::str::from_utf8(client_first).expect("utf-8");
            let bare = client_first.strip_prefix("n,,").expect("gs2 header");
            let client_nonce = bare.split(",r=").nth(1).expect("nonce");
            let server_first = format!(
                "r={client_nonce}{},s={},i={}",
                self.server_nonce,
                BASE64.encode(&self.salt),
                self.iterations
            );
            self.auth_prefix = format!("{bare},{server_first}");
            server_first
        }

        /// Checks the proof; returns server-final.
        fn last(&self, client_final: &[u8]) -> String {
            let client_final = std::str::from_utf8(client_final).expect("utf-8");
            let (without_proof, proof) = client_final.split_once(",p=").expect("proof");
            assert!(without_proof.starts_with("c=biws,r="));
            let auth_message = format!("{},{without_proof}", self.auth_prefix);
            let signature = self.hash.hmac(&self.stored_key, auth_message.as_bytes());
            let proof = BASE64.decode(proof).expect("base64 proof");
            let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
            if self.hash.hash(&client_key) != self.stored_key {
                return "e=invalid-proof".to_owned();
            }
            let server_signature = self.hash.hmac(&self.server_key, auth_message.as_bytes());
            format!("v={}", BASE64.encode(server_signature))
        }
    }

    fn exchange(
        hash: ScramHash,
        client_password: &str,
        server: &mut TestServer,
    ) -> Result<(), SecurityError> {
        let mut client = Scram::new(hash, "alice", &Secret::new(client_password))?;
        let server_first = server.first(&client.initial_response()?);
        let Step::Respond(client_final) = client.step(server_first.as_bytes())? else {
            panic!("SCRAM needs a client-final message");
        };
        let server_final = server.last(&client_final);
        assert_eq!(client.step(server_final.as_bytes())?, Step::Done);
        Ok(())
    }

    #[test]
    fn sha512_exchange_with_test_server() {
        let mut server = TestServer::new(ScramHash::Sha512, "alice-secret", 4096);
        exchange(ScramHash::Sha512, "alice-secret", &mut server).expect("authenticated");
        let err = exchange(ScramHash::Sha512, "wrong", &mut server).expect_err("wrong password");
        assert!(
            matches!(err, SecurityError::AuthenticationFailed { .. }),
            "{err}"
        );
    }

    #[test]
    fn sha256_exchange_with_test_server() {
        let mut server = TestServer::new(ScramHash::Sha256, "pässwörd", 8192);
        exchange(ScramHash::Sha256, "pässwörd", &mut server).expect("authenticated");
    }

    #[test]
    fn impostor_server_without_the_password_is_detected() {
        // The impostor accepts any proof but can only sign with the wrong key.
        let mut impostor = TestServer::new(ScramHash::Sha512, "not-the-password", 4096);
        let mut client =
            Scram::new(ScramHash::Sha512, "alice", &Secret::new("alice-secret")).expect("ok");
        let server_first = impostor.first(&client.initial_response().expect("first"));
        let Ok(Step::Respond(client_final)) = client.step(server_first.as_bytes()) else {
            panic!("client-final expected");
        };
        let (without_proof, _) = std::str::from_utf8(&client_final)
            .expect("utf-8")
            .split_once(",p=")
            .expect("proof");
        let auth_message = format!("{},{without_proof}", impostor.auth_prefix);
        let forged = impostor
            .hash
            .hmac(&impostor.server_key, auth_message.as_bytes());
        let err = client
            .step(format!("v={}", BASE64.encode(forged)).as_bytes())
            .expect_err("forged signature");
        assert!(
            matches!(err, SecurityError::ServerSignatureMismatch { .. }),
            "{err}"
        );
    }
}
