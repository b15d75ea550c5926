//! KIP-368 re-authentication of a SASL connection: the task's state for it and
//! the steps of a renewal (see the module docs of [`super`] for when and how).

use super::*;

/// The state of KIP-368 re-authentication of a SASL connection.
pub(super) struct Reauth {
    /// The cluster's settings (the SASL config in them; never logged).
    pub(super) config: Arc<ClusterConfig>,
    pub(super) counters: Arc<Counters>,
    /// When the session should be renewed; `None` if it never expires.
    pub(super) due: Option<Instant>,
    /// The renewal under way.
    pub(super) exchange: Option<SaslExchange>,
    /// When the renewal under way must be done by: set once its request is the
    /// oldest in flight (the broker may hold the requests before it for long).
    pub(super) deadline: Option<Instant>,
}

/// When to renew a session of `lifetime` that starts now: at a random point
/// between 85 % and 95 % of it, as the Java client does (room for latency and
/// clock drift; the spread keeps many connections from renewing at once).
pub(super) fn renewal_time(lifetime: Duration) -> Instant {
    use rand::Rng;
    let factor = rand::rng().random_range(0.85..0.95);
    Instant::now() + lifetime.mul_f64(factor)
}

impl Task {
    /// Queues a request of the task's own (a re-authentication step).
    pub(super) fn queue_own<R: Request>(
        &mut self,
        version: i16,
        request: &R,
    ) -> Result<(), ClusterError> {
        let (correlation_id, frame) = self.shared.encode(version, request)?;
        self.queued_bytes += frame.len() as u64;
        self.write_buf.unsplit(frame);
        self.in_flight.push_back(InFlight {
            correlation_id,
            api: api_key_of::<R>(),
            waiter: Waiter::Reauth,
        });
        Ok(())
    }

    /// Starts renewing the session: queues SaslHandshake behind the requests in
    /// flight; no new request is taken until the renewal is done.
    pub(super) fn begin_renewal(&mut self) -> Result<(), Stop> {
        let Some(reauth) = self.reauth.as_mut() else {
            return Ok(());
        };
        reauth.due = None;
        let Some(sasl) = reauth.config.security.sasl() else {
            return Ok(());
        };
        tracing::debug!(in_flight = self.in_flight.len(), "re-authenticating");
        let (exchange, request) =
            SaslExchange::start(sasl, &self.shared.versions, &self.shared.broker, true)
                .map_err(Self::failed)?;
        let version = exchange.handshake_version();
        reauth.exchange = Some(exchange);
        self.queue_own(version, &request).map_err(Self::failed)?;
        self.arm_renewal_deadline();
        Ok(())
    }

    /// Starts the renewal's clock once its request is the oldest in flight.
    pub(super) fn arm_renewal_deadline(&mut self) {
        let head_is_ours = matches!(
            self.in_flight.front(),
            Some(InFlight {
                waiter: Waiter::Reauth,
                ..
            })
        );
        if let Some(reauth) = self.reauth.as_mut() {
            if head_is_ours && reauth.deadline.is_none() {
                reauth.deadline = Some(Instant::now() + self.shared.request_timeout);
            }
        }
    }

    /// Handles the response to a renewal step: sends the next step, or, when the
    /// broker accepted, schedules the next renewal and takes requests again.
    pub(super) fn on_renewal_response(
        &mut self,
        api: ApiKey,
        correlation_id: i32,
        frame: Bytes,
    ) -> Result<(), Stop> {
        let Some(exchange) = self.reauth.as_mut().and_then(|r| r.exchange.as_mut()) else {
            return Ok(());
        };
        let version = exchange.authenticate_version();
        match renewal_step(exchange, api, correlation_id, frame, &self.shared.broker)
            .map_err(Self::failed)?
        {
            SaslNext::Authenticate(request) => {
                self.queue_own(version, &request).map_err(Self::failed)?;
            }
            SaslNext::Done { session_lifetime } => {
                if let Some(reauth) = self.reauth.as_mut() {
                    reauth.exchange = None;
                    reauth.deadline = None;
                    reauth.due = session_lifetime.map(renewal_time);
                    reauth
                        .counters
                        .reauthenticated
                        .fetch_add(1, Ordering::Relaxed);
                }
                tracing::debug!(?session_lifetime, "re-authenticated");
                if let Some(command) = self.held.take() {
                    self.accept(command);
                }
            }
        }
        Ok(())
    }

    /// The renewal got no answer in time: the connection is closed, like one
    /// whose request timed out.
    pub(super) fn renewal_timed_out(&mut self) -> Stop {
        let api = self
            .in_flight
            .front()
            .map_or(ApiKey::SaslAuthenticate, |head| head.api);
        let after = self.shared.request_timeout;
        tracing::warn!(
            ?api,
            ?after,
            "re-authentication timed out; closing the connection"
        );
        Stop::Failed {
            reason: DisconnectReason::Poisoned { api },
            error: Box::new(ClusterError::Timeout {
                broker: self.shared.broker.clone(),
                api,
                after,
            }),
        }
    }

    /// A renewal that failed with `error`: the connection closes.
    pub(super) fn failed(error: ClusterError) -> Stop {
        Stop::Failed {
            reason: DisconnectReason::Closed,
            error: Box::new(error),
        }
    }
}

/// Feeds the response to a renewal step (`api`: SaslHandshake or SaslAuthenticate)
/// to `exchange`.
fn renewal_step(
    exchange: &mut SaslExchange,
    api: ApiKey,
    correlation_id: i32,
    frame: Bytes,
    broker: &BrokerRef,
) -> Result<SaslNext, ClusterError> {
    let codec = |source| ClusterError::Codec {
        broker: Some(broker.clone()),
        source,
    };
    if api == ApiKey::SaslHandshake {
        let version = exchange.handshake_version();
        let response = decode_response::<SaslHandshakeRequest>(frame, version, correlation_id)
            .map_err(codec)?;
        exchange.on_handshake(&response).map(SaslNext::Authenticate)
    } else {
        let version = exchange.authenticate_version();
        let response = decode_response::<SaslAuthenticateRequest>(frame, version, correlation_id)
            .map_err(codec)?;
        exchange.on_authenticate(&response)
    }
}
