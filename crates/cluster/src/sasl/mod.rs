//! SASL authentication, sans-IO: each mechanism is a small state machine that turns
//! server challenges into client responses and never touches a socket.
//!
//! The connection code drives it like this, over Kafka's SaslHandshake (v1) and
//! SaslAuthenticate requests:
//!
//! 1. `let mut auth = sasl::authenticator(&sasl_config)?;`
//! 2. send SaslHandshake with `auth.mechanism()`; fail if the broker does not list it;
//! 3. send SaslAuthenticate with `auth.initial_response()?`;
//! 4. on each SaslAuthenticate response: a non-zero error code fails the exchange
//!    (wrap its `error_message` in [`SecurityError::AuthenticationFailed`]);
//!    otherwise call `auth.step(&response.auth_bytes)?`:
//!    [`Step::Respond`] means send another SaslAuthenticate with those bytes,
//!    [`Step::Done`] means authentication succeeded.
//!
//! Mechanisms: PLAIN (RFC 4616), SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, 7677)
//! and OAUTHBEARER (RFC 7628). GSSAPI (Kerberos) is not implemented.

use crate::security::{SaslConfig, SaslMechanism, SecurityError};

mod oauthbearer;
mod plain;
mod scram;

pub use oauthbearer::OAuthBearer;
pub use plain::Plain;
pub use scram::{Scram, ScramHash, MAX_ITERATIONS, MIN_ITERATIONS};

/// One SASL exchange, from the client's side. Sans-IO: the caller carries the
/// bytes to and from the broker.
pub trait Authenticator: Send {
    /// The mechanism name for SaslHandshake, e.g. `"SCRAM-SHA-256"`.
    fn mechanism(&self) -> &'static str;

    /// The first message, sent in the first SaslAuthenticate request. Call once,
    /// before [`Authenticator::step`].
    fn initial_response(&mut self) -> Result<Vec<u8>, SecurityError>;

    /// Handles the `auth_bytes` of a successful SaslAuthenticate response: either
    /// bytes to send in the next SaslAuthenticate request, or done.
    fn step(&mut self, server: &[u8]) -> Result<Step, SecurityError>;
}

/// What to do after a server message.
#[derive(Clone, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes in the next SaslAuthenticate request.
    Respond(Vec<u8>),
    /// The exchange is complete and the server proved itself where the mechanism
    /// allows (SCRAM): authentication succeeded.
    Done,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The bytes carry proofs and tokens: show only their length.
        match self {
            Self::Respond(bytes) => write!(f, "Respond({} bytes)", bytes.len()),
            Self::Done => f.write_str("Done"),
        }
    }
}

/// Creates the authenticator for `config`'s mechanism, checking that the config has
/// what it needs (a user name for PLAIN and SCRAM, a token provider for
/// OAUTHBEARER). Call once per connection (and per re-authentication).
pub fn authenticator(config: &SaslConfig) -> Result<Box<dyn Authenticator>, SecurityError> {
    Ok(match config.mechanism {
        SaslMechanism::Plain => Box::new(Plain::new(&config.username, &config.password)?),
        SaslMechanism::ScramSha256 => Box::new(Scram::new(
            ScramHash::Sha256,
            &config.username,
            &config.password,
        )?),
        SaslMechanism::ScramSha512 => Box::new(Scram::new(
            ScramHash::Sha512,
            &config.username,
            &config.password,
        )?),
        SaslMechanism::OAuthBearer => {
            let provider =
                config
                    .oauth_token_provider
                    .clone()
                    .ok_or(SecurityError::InvalidSaslConfig {
                        mechanism: "OAUTHBEARER",
                        problem: "no token provider configured (oauth_token_provider)",
                    })?;
            Box::new(OAuthBearer::new(provider))
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::security::TokenProvider;

    struct Token;

    impl TokenProvider for Token {
        fn token(&self) -> Result<String, SecurityError> {
            Ok("tok".to_owned())
        }
    }

    #[test]
    fn authenticator_per_mechanism() {
        let cases = [
            (SaslConfig::plain("u", "p"), "PLAIN"),
            (SaslConfig::scram_sha256("u", "p"), "SCRAM-SHA-256"),
            (SaslConfig::scram_sha512("u", "p"), "SCRAM-SHA-512"),
            (SaslConfig::oauthbearer(Arc::new(Token)), "OAUTHBEARER"),
        ];
        for (config, name) in cases {
            let auth = authenticator(&config).expect("valid config");
            assert_eq!(auth.mechanism(), name);
            assert_eq!(config.mechanism.name(), name);
        }
    }

    #[test]
    fn oauthbearer_needs_a_provider() {
        let config = SaslConfig::with_password(SaslMechanism::OAuthBearer, "u", "p");
        let err = authenticator(&config).err().expect("no provider");
        assert!(matches!(err, SecurityError::InvalidSaslConfig { .. }));
    }

    #[test]
    fn username_required() {
        for config in [
            SaslConfig::plain("", "p"),
            SaslConfig::scram_sha256("", "p"),
        ] {
            let err = authenticator(&config).err().expect("empty user");
            assert!(
                matches!(err, SecurityError::InvalidSaslConfig { .. }),
                "{err}"
            );
            assert!(err.to_string().contains("sasl.username"), "{err}");
        }
    }

    #[test]
    fn step_debug_hides_bytes() {
        let shown = format!("{:?}", Step::Respond(b"secret-proof".to_vec()));
        assert_eq!(shown, "Respond(12 bytes)");
    }
}
