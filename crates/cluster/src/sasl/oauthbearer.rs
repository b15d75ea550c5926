//! SASL OAUTHBEARER (RFC 7628), client side, as Kafka uses it.
//!
//! The client sends `n,,\x01auth=Bearer <token>\x01\x01` with a token from the
//! [`TokenProvider`]. On success the broker answers with empty `auth_bytes`. On
//! failure it answers with an error JSON document (e.g. `{"status":"invalid_token"}`);
//! RFC 7628 §3.2.3 then has the client send a lone `\x01`, after which the broker
//! fails the exchange. SASL extensions (`sasl.oauthbearer.extensions`) are not sent.

use std::fmt;
use std::sync::Arc;

use super::{Authenticator, Step};
use crate::security::{SecurityError, TokenProvider};

const MECHANISM: &str = "OAUTHBEARER";

/// The OAUTHBEARER mechanism.
pub struct OAuthBearer {
    provider: Arc<dyn TokenProvider>,
    state: State,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Initial,
    Sent,
    /// The server sent this error document; we answered `\x01`.
    Failed(String),
    Done,
}

impl OAuthBearer {
    /// An exchange that asks `provider` for the token when the first message is
    /// built.
    pub fn new(provider: Arc<dyn TokenProvider>) -> Self {
        Self {
            provider,
            state: State::Initial,
        }
    }
}

impl fmt::Debug for OAuthBearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearer")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Authenticator for OAuthBearer {
    fn mechanism(&self) -> &'static str {
        MECHANISM
    }

    fn initial_response(&mut self) -> Result<Vec<u8>, SecurityError> {
        if self.state != State::Initial {
            return Err(SecurityError::UnexpectedStep {
                mechanism: MECHANISM,
                call: "initial_response",
            });
        }
        let token = self.provider.token()?;
        // RFC 6750 b64token: letters, digits and "-._~+/" with "=" padding. Anything
        // else (a space, a control byte such as the \x01 separator) would break the
        // message.
        let valid = !token.is_empty()
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
        if !valid {
            return Err(SecurityError::InvalidSaslConfig {
                mechanism: MECHANISM,
                problem: "the token provider returned an empty token or one with \
                          characters outside RFC 6750 b64token",
            });
        }
        let mut message = Vec::with_capacity(token.len() + 20);
        message.extend_from_slice(b"n,,\x01auth=Bearer ");
        message.extend_from_slice(token.as_bytes());
        message.extend_from_slice(b"\x01\x01");
        self.state = State::Sent;
        Ok(message)
    }

    fn step(&mut self, server: &[u8]) -> Result<Step, SecurityError> {
        match &self.state {
            State::Sent if server.is_empty() => {
                self.state = State::Done;
                Ok(Step::Done)
            }
            State::Sent => {
                let detail = String::from_utf8_lossy(server).into_owned();
                tracing::warn!(error = %detail, "OAUTHBEARER token rejected by the broker");
                self.state = State::Failed(detail);
                Ok(Step::Respond(vec![0x01]))
            }
            State::Failed(detail) => Err(SecurityError::AuthenticationFailed {
                mechanism: MECHANISM,
                message: detail.clone(),
            }),
            State::Initial | State::Done => Err(SecurityError::UnexpectedStep {
                mechanism: MECHANISM,
                call: "step",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str);

    impl TokenProvider for Fixed {
        fn token(&self) -> Result<String, SecurityError> {
            Ok(self.0.to_owned())
        }
    }

    struct Down;

    impl TokenProvider for Down {
        fn token(&self) -> Result<String, SecurityError> {
            Err(SecurityError::TokenUnavailable {
                reason: "identity provider unreachable".to_owned(),
            })
        }
    }

    const JWT: &str = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.";

    #[test]
    fn initial_response_bytes_are_exact() {
        let mut auth = OAuthBearer::new(Arc::new(Fixed(JWT)));
        let expected = format!("n,,\x01auth=Bearer {JWT}\x01\x01");
        assert_eq!(
            auth.initial_response().expect("token"),
            expected.into_bytes()
        );
        assert_eq!(auth.step(b"").expect("accepted"), Step::Done);
        assert!(auth.step(b"").is_err());
    }

    #[test]
    fn server_error_gets_kvsep_then_fails() {
        let mut auth = OAuthBearer::new(Arc::new(Fixed(JWT)));
        auth.initial_response().expect("token");
        let json = br#"{"status":"invalid_token"}"#;
        assert_eq!(
            auth.step(json).expect("dummy reply"),
            Step::Respond(vec![1])
        );
        let err = auth.step(b"").expect_err("failed");
        assert!(err.to_string().contains("invalid_token"), "{err}");
        assert!(!err.is_retriable());
    }

    #[test]
    fn provider_failure_is_retriable() {
        let mut auth = OAuthBearer::new(Arc::new(Down));
        let err = auth.initial_response().expect_err("no token");
        assert!(err.is_retriable());
    }

    #[test]
    fn bad_tokens_rejected() {
        for token in ["", "has space", "ctl\x01byte"] {
            let mut auth = OAuthBearer::new(Arc::new(Fixed(token)));
            assert!(auth.initial_response().is_err(), "{token:?}");
        }
    }

    #[test]
    fn debug_hides_token() {
        let mut auth = OAuthBearer::new(Arc::new(Fixed(JWT)));
        auth.initial_response().expect("token");
        let shown = format!("{auth:?}");
        assert!(!shown.contains(JWT), "{shown}");
    }
}
