//! SASL PLAIN (RFC 4616): one message, `authzid NUL authcid NUL passwd`, with an
//! empty authorization identity. The password travels in clear: use PLAIN only
//! inside TLS (`SASL_SSL`).

use std::fmt;

use super::{Authenticator, Step};
use crate::security::{Secret, SecurityError};

const MECHANISM: &str = "PLAIN";

/// The PLAIN mechanism.
pub struct Plain {
    message: Option<Vec<u8>>,
    state: State,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Initial,
    Sent,
    Done,
}

impl Plain {
    /// Checks the credentials: the user name must be non-empty and neither may
    /// contain NUL, the field separator.
    pub fn new(username: &str, password: &Secret) -> Result<Self, SecurityError> {
        let invalid = |problem| SecurityError::InvalidSaslConfig {
            mechanism: MECHANISM,
            problem,
        };
        if username.is_empty() {
            return Err(invalid("sasl.username is empty"));
        }
        if username.contains('\0') {
            return Err(invalid("sasl.username contains a NUL character"));
        }
        if password.expose().contains('\0') {
            return Err(invalid("sasl.password contains a NUL character"));
        }
        let mut message = Vec::with_capacity(2 + username.len() + password.expose().len());
        message.push(0);
        message.extend_from_slice(username.as_bytes());
        message.push(0);
        message.extend_from_slice(password.expose().as_bytes());
        Ok(Self {
            message: Some(message),
            state: State::Initial,
        })
    }
}

impl fmt::Debug for Plain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plain").field("state", &self.state).finish()
    }
}

impl Authenticator for Plain {
    fn mechanism(&self) -> &'static str {
        MECHANISM
    }

    fn initial_response(&mut self) -> Result<Vec<u8>, SecurityError> {
        match (self.state, self.message.take()) {
            (State::Initial, Some(message)) => {
                self.state = State::Sent;
                Ok(message)
            }
            _ => Err(SecurityError::UnexpectedStep {
                mechanism: MECHANISM,
                call: "initial_response",
            }),
        }
    }

    /// PLAIN has no server challenge: the broker answers with empty `auth_bytes`
    /// (anything else is ignored) and the exchange is done.
    fn step(&mut self, _server: &[u8]) -> Result<Step, SecurityError> {
        if self.state != State::Sent {
            return Err(SecurityError::UnexpectedStep {
                mechanism: MECHANISM,
                call: "step",
            });
        }
        self.state = State::Done;
        Ok(Step::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_bytes_are_exact() {
        let mut plain = Plain::new("alice", &Secret::new("alice-secret")).expect("valid");
        assert_eq!(
            plain.initial_response().expect("first call"),
            b"\0alice\0alice-secret".to_vec()
        );
        assert_eq!(plain.step(b"").expect("server ok"), Step::Done);
    }

    #[test]
    fn utf8_credentials_pass_through() {
        let mut plain = Plain::new("jörg", &Secret::new("pässwörd")).expect("valid");
        let mut expected = vec![0];
        expected.extend_from_slice("jörg".as_bytes());
        expected.push(0);
        expected.extend_from_slice("pässwörd".as_bytes());
        assert_eq!(plain.initial_response().expect("first call"), expected);
    }

    #[test]
    fn rejects_nul_and_empty_user() {
        assert!(Plain::new("", &Secret::new("p")).is_err());
        assert!(Plain::new("a\0b", &Secret::new("p")).is_err());
        assert!(Plain::new("a", &Secret::new("p\0")).is_err());
    }

    #[test]
    fn out_of_order_calls_fail() {
        let mut plain = Plain::new("u", &Secret::new("p")).expect("valid");
        assert!(plain.step(b"").is_err());
        plain.initial_response().expect("first");
        assert!(plain.initial_response().is_err());
        plain.step(b"").expect("done");
        assert!(plain.step(b"").is_err());
    }

    #[test]
    fn debug_hides_password() {
        let plain = Plain::new("u", &Secret::new("hunter2-pw")).expect("valid");
        let shown = format!("{plain:?}");
        assert!(!shown.contains("hunter2-pw"), "{shown}");
    }
}
