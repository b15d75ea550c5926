//! The byte pipe under a connection: broker addresses ([`Endpoint`]), DNS resolution,
//! TCP connect over every resolved address, and a [`Transport`] that is either plain
//! TCP or TLS over TCP.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::error::{BrokerRef, ClusterError};

/// Port used when an address names none (librdkafka's default).
const DEFAULT_PORT: u16 = 9092;

/// A broker's `host` and `port`, as written in `bootstrap.servers` or advertised in
/// metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Endpoint {
    /// A DNS name or an IP literal (IPv6 without brackets).
    pub(crate) host: String,
    /// The TCP port.
    pub(crate) port: u16,
}

impl Endpoint {
    /// Parses `host:port`, `[ipv6]:port`, or `host` alone (port 9092).
    ///
    /// # Errors
    /// [`ClusterError::Config`] naming `bootstrap.servers` for an empty host, a bad
    /// port, or an IPv6 literal without brackets.
    pub(crate) fn parse(s: &str) -> Result<Endpoint, ClusterError> {
        let bad = |reason: &str| ClusterError::Config {
            key: "bootstrap.servers",
            reason: format!("`{s}`: {reason}"),
        };
        let s = s.trim();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("missing `]` after an IPv6 address"))?;
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(bad("expected `:port` after `]`")),
                },
            }
        } else {
            match s.rsplit_once(':') {
                Some((host, _)) if host.contains(':') => {
                    return Err(bad("IPv6 addresses must be written in brackets"))
                }
                Some((host, port)) => (host, Some(port)),
                None => (s, None),
            }
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| bad("port must be a number from 1 to 65535"))?,
        };
        Ok(Endpoint {
            host: host.to_owned(),
            port,
        })
    }

    /// An endpoint from a broker's advertised host and port.
    pub(crate) fn new(host: impl Into<String>, port: u16) -> Self {
        Endpoint {
            host: host.into(),
            port,
        }
    }

    /// `host:port`, with brackets around an IPv6 literal.
    pub(crate) fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Resolves `endpoint` and connects to the first address that accepts, trying each
/// in the order the resolver gave them.
///
/// # Errors
/// [`ClusterError::Resolve`] if the name has no address; [`ClusterError::Connect`]
/// with the last socket error if no address accepted.
pub(crate) async fn connect_tcp(
    endpoint: &Endpoint,
    broker: &BrokerRef,
) -> Result<TcpStream, ClusterError> {
    let addrs: Vec<_> = tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|e| ClusterError::Resolve {
            address: endpoint.address(),
            source: Arc::new(e),
        })?
        .collect();
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the name has no address");
    if addrs.is_empty() {
        return Err(ClusterError::Resolve {
            address: endpoint.address(),
            source: Arc::new(last_error),
        });
    }
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Requests are written whole; Nagle would only delay them.
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(%addr, error = %e, "cannot set TCP_NODELAY");
                }
                return Ok(stream);
            }
            Err(e) => {
                tracing::debug!(%broker, %addr, error = %e, "address refused the connection");
                last_error = e;
            }
        }
    }
    Err(ClusterError::Connect {
        broker: broker.clone(),
        source: Arc::new(last_error),
    })
}

/// A connected socket, plain or TLS.
#[derive(Debug)]
pub(crate) enum Transport {
    /// `PLAINTEXT` / `SASL_PLAINTEXT`.
    Plain(TcpStream),
    /// `SSL` / `SASL_SSL`.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        assert_eq!(Endpoint::parse("a:1").unwrap(), Endpoint::new("a", 1));
        assert_eq!(
            Endpoint::parse(" [::1]:9 ").unwrap(),
            Endpoint::new("::1", 9)
        );
        assert_eq!(
            Endpoint::parse("[::1]").unwrap(),
            Endpoint::new("::1", 9092)
        );
        assert_eq!(
            Endpoint::parse("kafka").unwrap(),
            Endpoint::new("kafka", 9092)
        );
        assert_eq!(Endpoint::new("::1", 9).address(), "[::1]:9");
        for bad in [
            "", ":1", "a:", "a:0", "a:70000", "::1:9092", "[::1", "[::1]x",
        ] {
            assert!(
                matches!(Endpoint::parse(bad), Err(ClusterError::Config { .. })),
                "{bad}"
            );
        }
    }
}
