//! One pipelined connection to one broker.
//!
//! [`Dialer::open`] dials the broker, runs the setup exchange ([`crate::handshake`]:
//! TLS, ApiVersions, SASL) and spawns the one task that owns the socket from then
//! on. Callers hold a cheap [`Connection`] handle: each request is encoded by the
//! caller, sent to the task with a oneshot for its answer, written by the task, and
//! matched to its response by correlation id (Kafka answers in request order, so
//! the response must match the oldest request in flight).
//!
//! When the socket breaks, the task fails every request in flight at once with
//! [`ClusterError::Disconnected`] and exits; the handle then reports itself closed
//! and the pool dials a new one. A request that times out *poisons* the connection:
//! it is closed at once, so that a late response cannot be read as the answer to a
//! later request.
//!
//! **Re-authentication (KIP-368).** When SASL authentication ends with a session
//! lifetime (`connections.max.reauth.ms` on the broker, or a token's expiry), the
//! broker closes the connection at the first request after the session expired,
//! unless the client has renewed the session by sending SaslHandshake and
//! SaslAuthenticate again on the same connection. The task schedules that renewal
//! at a random point between 85 % and 95 % of the lifetime (as the Java client
//! does), and starts it then if requests are in flight, or else with the next
//! request (an idle connection is not kept alive by it). From the start of the
//! renewal until it succeeds the task takes no new requests (they wait in the
//! channel, their timeouts running): the broker would read any request sent
//! between SaslHandshake and the last SaslAuthenticate as an authentication token.
//! The requests already in flight need no waiting for: the broker handles one
//! request of a connection at a time, in order, so their responses all come
//! before the SaslHandshake response. A refused renewal fails the waiting requests
//! with [`ClusterError::Sasl`] (`reauthentication: true`) and closes the
//! connection; one without an answer within `request.timeout.ms` (counted from when
//! the responses before it are in) closes it with [`ClusterError::Timeout`].

use std::any::Any;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use flame_kafka_codec::frame::response_correlation_id;
use flame_kafka_codec::messages::{self, ApiKey, SaslAuthenticateRequest, SaslHandshakeRequest};
use flame_kafka_codec::protocol::Request;
use flame_kafka_codec::versions::api_key_of;
use flame_kafka_codec::{
    decode_response, encode_request, FrameDecoder, NegotiatedVersions, RequestMeta,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::ClusterConfig;
use crate::error::{BrokerRef, ClusterError, DisconnectReason};
use crate::handshake::{self, SaslExchange, SaslNext};
use crate::pool::{LaneId, Purpose};
use crate::tls::TlsConnector;
use crate::transport::{Endpoint, Transport};

mod reauth;
use reauth::{renewal_time, Reauth};

/// Requests queued in the channel to a connection task before callers wait.
const CHANNEL_CAPACITY: usize = 256;
/// Bytes of encoded requests the task buffers before it stops taking new ones.
const WRITE_HIGH_WATER: usize = 4 * 1024 * 1024;
/// Read buffer headroom reserved before each read.
const READ_CHUNK: usize = 16 * 1024;

/// A handle to a connection task; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
}

/// What the handles and the task share.
#[derive(Debug)]
struct Shared {
    broker: BrokerRef,
    versions: NegotiatedVersions,
    client_id: String,
    request_timeout: Duration,
    next_correlation_id: AtomicI32,
    /// Set once the connection must not be used any more (broken, poisoned, idle).
    closed: AtomicBool,
    /// Why it was closed; the task reads it when woken through `poison`.
    reason: Mutex<Option<DisconnectReason>>,
    /// The error that closed it, when that was no mere disconnection (a failed
    /// re-authentication): what requests that meet the closed connection get.
    failure: Mutex<Option<ClusterError>>,
    poison: Notify,
    /// No request may be written before this (broker throttling).
    throttled_until: Mutex<Option<Instant>>,
}

/// A request handed to the connection task.
#[derive(Debug)]
struct Command {
    correlation_id: i32,
    api: ApiKey,
    frame: BytesMut,
    reply: Reply,
}

#[derive(Debug)]
enum Reply {
    /// Send the response frame here.
    Response(oneshot::Sender<Result<Bytes, ClusterError>>),
    /// No response will come (acks=0 produce): report once the bytes are written.
    Written(oneshot::Sender<Result<(), ClusterError>>),
}

/// Dials connections: the cluster's settings and its TLS config, built once.
#[derive(Debug, Clone)]
pub(crate) struct Dialer {
    config: Arc<ClusterConfig>,
    tls: Option<TlsConnector>,
    counters: Arc<Counters>,
}

/// What the connections of one cluster client count.
#[derive(Debug, Default)]
struct Counters {
    opened: AtomicU64,
    reauthenticated: AtomicU64,
}

/// Counts of what a [`Cluster`](crate::Cluster)'s connections did since it was
/// created, from [`Cluster::connection_stats`](crate::Cluster::connection_stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Connections set up (TCP, TLS, ApiVersions and SASL all succeeded),
    /// bootstrap connections included.
    pub opened: u64,
    /// SASL sessions renewed on a live connection (KIP-368 re-authentication).
    pub reauthenticated: u64,
}

impl Dialer {
    /// Builds the TLS config (reading CA and key files) if `config` uses TLS.
    ///
    /// # Errors
    /// [`ClusterError::Tls`] if the TLS settings are unusable.
    pub(crate) fn new(config: Arc<ClusterConfig>) -> Result<Self, ClusterError> {
        let tls = config
            .security
            .tls()
            .map(TlsConnector::new)
            .transpose()
            .map_err(|source| ClusterError::Tls {
                broker: None,
                source: Box::new(source),
            })?;
        Ok(Dialer {
            config,
            tls,
            counters: Arc::default(),
        })
    }

    /// What this dialer's connections did so far.
    pub(crate) fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            opened: self.counters.opened.load(Ordering::Relaxed),
            reauthenticated: self.counters.reauthenticated.load(Ordering::Relaxed),
        }
    }

    /// The settings connections are made with.
    pub(crate) fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Opens a connection to `endpoint` and spawns its task: TCP connect, TLS, the
    /// ApiVersions exchange and SASL, all within `socket.connection.setup.timeout.ms`.
    /// `purpose` and `lane` only label the connection's logs.
    ///
    /// # Errors
    /// [`ClusterError::ConnectTimeout`], or whatever [`handshake::setup`] failed with.
    pub(crate) async fn open(
        &self,
        endpoint: &Endpoint,
        broker: BrokerRef,
        purpose: Purpose,
        lane: LaneId,
    ) -> Result<Connection, ClusterError> {
        let config = &*self.config;
        let span = tracing::info_span!("kafka_connection", %broker, ?purpose, %lane);
        let setup = handshake::setup(endpoint, &broker, config, self.tls.as_ref());
        let result = tokio::time::timeout(config.connect_timeout, setup)
            .instrument(span.clone())
            .await;
        let established = match result {
            Ok(Ok(established)) => established,
            Ok(Err(e)) => {
                span.in_scope(|| tracing::warn!(error = %e, "connection setup failed"));
                return Err(e);
            }
            Err(_) => {
                span.in_scope(|| {
                    tracing::warn!(timeout = ?config.connect_timeout, "connection setup timed out");
                });
                return Err(ClusterError::ConnectTimeout {
                    broker,
                    after: config.connect_timeout,
                });
            }
        };
        span.in_scope(
            || tracing::info!(session_lifetime = ?established.session_lifetime, "connected"),
        );
        self.counters.opened.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            broker,
            versions: established.versions,
            client_id: config.client_id.clone(),
            request_timeout: config.request_timeout,
            next_correlation_id: AtomicI32::new(established.next_correlation_id),
            closed: AtomicBool::new(false),
            reason: Mutex::new(None),
            failure: Mutex::new(None),
            poison: Notify::new(),
            throttled_until: Mutex::new(None),
        });
        let (commands, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let (reader, writer) = tokio::io::split(established.transport);
        let task = Task {
            shared: Arc::clone(&shared),
            commands: rx,
            reader,
            writer,
            read_buf: established.read_buf,
            decoder: FrameDecoder::new(config.max_frame_bytes),
            write_buf: BytesMut::new(),
            queued_bytes: 0,
            written_bytes: 0,
            in_flight: VecDeque::new(),
            write_acks: VecDeque::new(),
            idle_timeout: config.connections_max_idle,
            reauth: config.security.sasl().map(|_| Reauth {
                config: Arc::clone(&self.config),
                counters: Arc::clone(&self.counters),
                due: established.session_lifetime.map(renewal_time),
                exchange: None,
                deadline: None,
            }),
            held: None,
        };
        tokio::spawn(task.run().instrument(span));
        Ok(Connection { shared, commands })
    }
}

impl Connection {
    /// The broker at the other end.
    pub(crate) fn broker(&self) -> &BrokerRef {
        &self.shared.broker
    }

    /// The API versions agreed with this broker.
    pub(crate) fn versions(&self) -> &NegotiatedVersions {
        &self.shared.versions
    }

    /// Whether the connection is broken or closed; a new one is needed.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire) || self.commands.is_closed()
    }

    /// Closes the connection: requests in flight fail with
    /// [`DisconnectReason::Closed`].
    pub(crate) fn close(&self) {
        self.shared.poison(DisconnectReason::Closed);
    }

    /// Sends `request` at `version` and waits (at most `request.timeout.ms`) for its
    /// response. Honours and records broker throttling.
    ///
    /// # Errors
    /// As [`Connection::send_timeout`].
    pub(crate) async fn send<R>(
        &self,
        version: i16,
        request: &R,
    ) -> Result<R::Response, ClusterError>
    where
        R: Request,
        R::Response: 'static,
    {
        self.send_timeout::<R, _>(version, request, self.shared.request_timeout)
            .await
    }

    /// Sends `request` at `version` and waits at most `timeout` for its response
    /// (counted from when the request is handed to the connection, so it includes
    /// any wait behind the requests before it). Honours and records broker
    /// throttling.
    ///
    /// `request` may be owned (then it is dropped once encoded, not held until the
    /// response: a Produce request's batches are freed while it is in flight) or
    /// borrowed.
    ///
    /// # Errors
    /// [`ClusterError::Timeout`] (the connection is then closed),
    /// [`ClusterError::Disconnected`], [`ClusterError::Codec`].
    pub(crate) async fn send_timeout<R, B>(
        &self,
        version: i16,
        request: B,
        timeout: Duration,
    ) -> Result<R::Response, ClusterError>
    where
        R: Request,
        R::Response: 'static,
        B: std::borrow::Borrow<R>,
    {
        let api = api_key_of::<R>();
        self.wait_throttle().await;
        let (correlation_id, frame) = self.encode(version, request.borrow())?;
        drop(request);
        let (tx, rx) = oneshot::channel();
        let exchange = async {
            self.submit(correlation_id, api, frame, Reply::Response(tx))
                .await?;
            rx.await.map_err(|_| self.disconnected())?
        };
        let frame = self.with_timeout(api, timeout, exchange).await?;
        let response = decode_response::<R>(frame, version, correlation_id).map_err(|source| {
            ClusterError::Codec {
                broker: Some(self.shared.broker.clone()),
                source,
            }
        })?;
        if let Some(ms) = throttle_time_ms(&response) {
            self.throttle(api, ms);
        }
        Ok(response)
    }

    /// Writes `request` at `version` without waiting for a response (acks=0
    /// produce): returns once the bytes are handed to the socket.
    ///
    /// # Errors
    /// As [`Connection::send`].
    pub(crate) async fn send_no_response<R: Request>(
        &self,
        version: i16,
        request: &R,
    ) -> Result<(), ClusterError> {
        let api = api_key_of::<R>();
        self.wait_throttle().await;
        let (correlation_id, frame) = self.encode(version, request)?;
        let (tx, rx) = oneshot::channel();
        let exchange = async {
            self.submit(correlation_id, api, frame, Reply::Written(tx))
                .await?;
            rx.await.map_err(|_| self.disconnected())?
        };
        self.with_timeout(api, self.shared.request_timeout, exchange)
            .await
    }

    fn encode<R: Request>(
        &self,
        version: i16,
        request: &R,
    ) -> Result<(i32, BytesMut), ClusterError> {
        self.shared.encode(version, request)
    }

    async fn submit(
        &self,
        correlation_id: i32,
        api: ApiKey,
        frame: BytesMut,
        reply: Reply,
    ) -> Result<(), ClusterError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(self.disconnected());
        }
        let command = Command {
            correlation_id,
            api,
            frame,
            reply,
        };
        self.commands
            .send(command)
            .await
            .map_err(|_| self.disconnected())
    }

    /// Runs `exchange` within `after`; on timeout poisons the connection and fails
    /// with [`ClusterError::Timeout`].
    async fn with_timeout<T>(
        &self,
        api: ApiKey,
        after: Duration,
        exchange: impl std::future::Future<Output = Result<T, ClusterError>>,
    ) -> Result<T, ClusterError> {
        match tokio::time::timeout(after, exchange).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(broker = %self.shared.broker, ?api, ?after, "request timed out; closing the connection");
                self.shared.poison(DisconnectReason::Poisoned { api });
                Err(ClusterError::Timeout {
                    broker: self.shared.broker.clone(),
                    api,
                    after,
                })
            }
        }
    }

    /// The error for a request that met a closed connection.
    fn disconnected(&self) -> ClusterError {
        if let Some(failure) = lock(&self.shared.failure).clone() {
            return failure;
        }
        let reason = lock(&self.shared.reason)
            .clone()
            .unwrap_or(DisconnectReason::Closed);
        ClusterError::Disconnected {
            broker: self.shared.broker.clone(),
            reason,
        }
    }

    /// Waits until the broker's last throttle has passed.
    async fn wait_throttle(&self) {
        let until = *lock(&self.shared.throttled_until);
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }

    /// Records that the broker throttled this connection for `ms` milliseconds.
    fn throttle(&self, api: ApiKey, ms: i32) {
        let Ok(ms) = u64::try_from(ms) else { return };
        if ms == 0 {
            return;
        }
        let until = Instant::now() + Duration::from_millis(ms);
        tracing::info!(broker = %self.shared.broker, ?api, throttle_ms = ms, "broker throttled the connection");
        let mut slot = lock(&self.shared.throttled_until);
        if slot.is_none_or(|t| t < until) {
            *slot = Some(until);
        }
    }
}

impl Shared {
    /// Encodes `request` at `version` under the next correlation id.
    fn encode<R: Request>(
        &self,
        version: i16,
        request: &R,
    ) -> Result<(i32, BytesMut), ClusterError> {
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let mut frame = BytesMut::new();
        let meta = RequestMeta {
            correlation_id,
            client_id: &self.client_id,
        };
        encode_request(&mut frame, meta, version, request).map_err(|source| {
            ClusterError::Codec {
                broker: None,
                source,
            }
        })?;
        Ok((correlation_id, frame))
    }

    /// Marks the connection unusable and wakes its task to close it.
    fn poison(&self, reason: DisconnectReason) {
        {
            let mut slot = lock(&self.reason);
            if slot.is_none() {
                *slot = Some(reason);
            }
        }
        self.closed.store(true, Ordering::Release);
        self.poison.notify_one();
    }
}

/// Locks a std mutex, recovering the data if a holder panicked (the data here is a
/// plain value that is always consistent).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A request written (or about to be) and waiting for its response.
#[derive(Debug)]
struct InFlight {
    correlation_id: i32,
    api: ApiKey,
    waiter: Waiter,
}

/// Who a response goes to.
#[derive(Debug)]
enum Waiter {
    /// A caller of [`Connection::send`].
    Caller(oneshot::Sender<Result<Bytes, ClusterError>>),
    /// The task itself: a step of re-authentication.
    Reauth,
}

/// Why the task stopped serving.
#[derive(Debug)]
enum Stop {
    /// The connection broke or was closed; requests fail with
    /// [`ClusterError::Disconnected`].
    Disconnected(DisconnectReason),
    /// Re-authentication failed: requests fail with `error`.
    Failed {
        reason: DisconnectReason,
        error: Box<ClusterError>,
    },
}

impl From<DisconnectReason> for Stop {
    fn from(reason: DisconnectReason) -> Self {
        Stop::Disconnected(reason)
    }
}

/// The task that owns the socket.
struct Task {
    shared: Arc<Shared>,
    commands: mpsc::Receiver<Command>,
    reader: ReadHalf<Transport>,
    writer: WriteHalf<Transport>,
    read_buf: BytesMut,
    decoder: FrameDecoder,
    /// Encoded requests not yet written.
    write_buf: BytesMut,
    /// Total bytes ever queued into / written from `write_buf`.
    queued_bytes: u64,
    written_bytes: u64,
    in_flight: VecDeque<InFlight>,
    /// Requests without a response, acknowledged once written past `.0`.
    write_acks: VecDeque<(u64, oneshot::Sender<Result<(), ClusterError>>)>,
    idle_timeout: Duration,
    /// Session renewal; `None` without SASL.
    reauth: Option<Reauth>,
    /// A request that arrived when the session was due for renewal: queued once
    /// the renewal it started has succeeded.
    held: Option<Command>,
}

impl Task {
    async fn run(mut self) {
        let stop = self.serve().await;
        self.shutdown(stop);
    }

    /// Serves requests until the connection must close; returns why.
    async fn serve(&mut self) -> Stop {
        let mut last_activity = Instant::now();
        let mut needs_flush = false;
        let mut handles_gone = false;
        loop {
            if handles_gone && self.in_flight.is_empty() && self.write_buf.is_empty() {
                return DisconnectReason::Closed.into();
            }
            if self.read_buf.capacity() - self.read_buf.len() < READ_CHUNK / 4
                && !partial_frame_fits(&self.read_buf)
            {
                self.read_buf.reserve(READ_CHUNK);
            }
            let writing = !self.write_buf.is_empty();
            let renewing = self.reauth.as_ref().is_some_and(|r| r.exchange.is_some());
            let accepting = !handles_gone
                && self.write_buf.len() < WRITE_HIGH_WATER
                && !renewing
                && self.held.is_none();
            let idle = self.in_flight.is_empty() && !writing && self.write_acks.is_empty();
            // A due renewal starts at once while requests are in flight; an idle
            // connection renews with its next request (see `accept_or_hold`).
            let renew_at = self
                .reauth
                .as_ref()
                .and_then(|r| r.due)
                .filter(|_| !renewing && !idle);
            let renew_deadline = self.reauth.as_ref().and_then(|r| r.deadline);
            tokio::select! {
                biased;
                () = self.shared.poison.notified() => {
                    return lock(&self.shared.reason).clone().unwrap_or(DisconnectReason::Closed).into();
                }
                read = self.reader.read_buf(&mut self.read_buf) => match read {
                    Ok(0) => return DisconnectReason::PeerClosed { unread_bytes: self.read_buf.len() }.into(),
                    Ok(_) => {
                        last_activity = Instant::now();
                        if let Err(stop) = self.dispatch() {
                            return stop;
                        }
                    }
                    Err(e) => return DisconnectReason::Io(Arc::new(e)).into(),
                },
                progress = write_or_flush(&mut self.writer, &mut self.write_buf), if writing || needs_flush => match progress {
                    Ok(Some(n)) => {
                        self.written_bytes += n as u64;
                        needs_flush = true;
                    }
                    Ok(None) => {
                        needs_flush = false;
                        self.ack_written();
                    }
                    Err(e) => return DisconnectReason::Io(Arc::new(e)).into(),
                },
                command = self.commands.recv(), if accepting => match command {
                    Some(command) => {
                        last_activity = Instant::now();
                        if let Err(stop) = self.accept_or_hold(command) {
                            return stop;
                        }
                    }
                    None => handles_gone = true,
                },
                () = sleep_until_some(renew_at), if renew_at.is_some() => {
                    if let Err(stop) = self.begin_renewal() {
                        return stop;
                    }
                }
                () = sleep_until_some(renew_deadline), if renew_deadline.is_some() => {
                    return self.renewal_timed_out();
                }
                () = tokio::time::sleep_until(last_activity + self.idle_timeout), if idle => {
                    tracing::debug!(idle = ?self.idle_timeout, "closing idle connection");
                    return DisconnectReason::Closed.into();
                }
            }
        }
    }

    /// Queues `command`, unless the session is due for renewal: then starts the
    /// renewal and holds `command` until it has succeeded.
    fn accept_or_hold(&mut self, command: Command) -> Result<(), Stop> {
        let due = self
            .reauth
            .as_ref()
            .and_then(|r| r.due)
            .is_some_and(|due| due <= Instant::now());
        if due {
            self.held = Some(command);
            self.begin_renewal()
        } else {
            self.accept(command);
            Ok(())
        }
    }

    /// Queues a request's bytes and remembers who waits for what.
    fn accept(&mut self, command: Command) {
        self.queued_bytes += command.frame.len() as u64;
        self.write_buf.unsplit(command.frame);
        match command.reply {
            Reply::Response(reply) => self.in_flight.push_back(InFlight {
                correlation_id: command.correlation_id,
                api: command.api,
                waiter: Waiter::Caller(reply),
            }),
            Reply::Written(reply) => self.write_acks.push_back((self.queued_bytes, reply)),
        }
    }

    /// Tells acks=0 senders whose bytes are all written and flushed.
    fn ack_written(&mut self) {
        while let Some((end, _)) = self.write_acks.front() {
            if *end > self.written_bytes {
                break;
            }
            if let Some((_, reply)) = self.write_acks.pop_front() {
                let _ = reply.send(Ok(()));
            }
        }
    }

    /// Hands every whole response frame in the read buffer to its waiter.
    fn dispatch(&mut self) -> Result<(), Stop> {
        while let Some(frame) = self
            .decoder
            .decode(&mut self.read_buf)
            .map_err(DisconnectReason::Codec)?
        {
            let id = response_correlation_id(&frame).map_err(DisconnectReason::Codec)?;
            let head = match self.in_flight.front() {
                Some(head) if head.correlation_id == id => self.in_flight.pop_front(),
                head => {
                    return Err(DisconnectReason::UnexpectedCorrelationId {
                        expected: head.map(|h| h.correlation_id),
                        actual: id,
                    }
                    .into())
                }
            };
            match head {
                Some(InFlight {
                    waiter: Waiter::Caller(reply),
                    api,
                    ..
                }) => {
                    // The waiter may have given up (timed out); the frame is then
                    // dropped, never given to anyone else.
                    let undelivered = reply.send(Ok(frame)).is_err();
                    if undelivered {
                        tracing::debug!(
                            ?api,
                            correlation_id = id,
                            "dropping a response nobody waits for"
                        );
                    }
                }
                Some(InFlight {
                    waiter: Waiter::Reauth,
                    api,
                    ..
                }) => self.on_renewal_response(api, id, frame)?,
                None => {}
            }
            self.arm_renewal_deadline();
        }
        Ok(())
    }

    /// Fails everything still waiting and marks the handle closed.
    fn shutdown(mut self, stop: Stop) {
        let (reason, error) = match stop {
            Stop::Disconnected(reason) => {
                let error = ClusterError::Disconnected {
                    broker: self.shared.broker.clone(),
                    reason: reason.clone(),
                };
                (reason, error)
            }
            Stop::Failed { reason, error } => {
                tracing::warn!(%error, "closing the connection");
                *lock(&self.shared.failure) = Some((*error).clone());
                (reason, *error)
            }
        };
        self.shared.poison(reason.clone());
        self.commands.close();
        let pending = self.in_flight.len() + self.write_acks.len();
        match &reason {
            DisconnectReason::Closed => tracing::debug!(pending, "connection closed"),
            _ => tracing::warn!(%reason, pending, "connection lost"),
        }
        for waiter in self.in_flight.drain(..) {
            if let Waiter::Caller(reply) = waiter.waiter {
                let _ = reply.send(Err(error.clone()));
            }
        }
        for (_, reply) in self.write_acks.drain(..) {
            let _ = reply.send(Err(error.clone()));
        }
        let held = self.held.take();
        let queued = std::iter::from_fn(|| self.commands.try_recv().ok());
        for command in held.into_iter().chain(queued) {
            match command.reply {
                Reply::Response(reply) => {
                    let _ = reply.send(Err(error.clone()));
                }
                Reply::Written(reply) => {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}

/// Whether `buf` starts with a frame that is not yet whole but whose remaining
/// bytes fit in its spare capacity (the frame decoder reserved them). Reserving
/// more headroom then would grow (and copy) the buffer holding an almost complete,
/// possibly megabytes long, response just to read its last bytes.
fn partial_frame_fits(buf: &BytesMut) -> bool {
    let Some(prefix) = buf.first_chunk::<4>() else {
        return false;
    };
    let Ok(len) = usize::try_from(i32::from_be_bytes(*prefix)) else {
        return false;
    };
    let end = len.saturating_add(4);
    end > buf.len() && end <= buf.capacity()
}

/// Sleeps until `at`; never wakes for `None` (callers guard the branch).
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Writes some of `buf` (returning how much), or flushes when `buf` is empty
/// (returning `None`). Cancel-safe: a write either happened or did not.
async fn write_or_flush(
    writer: &mut WriteHalf<Transport>,
    buf: &mut BytesMut,
) -> std::io::Result<Option<usize>> {
    if buf.is_empty() {
        writer.flush().await?;
        return Ok(None);
    }
    match writer.write_buf(buf).await? {
        0 => Err(std::io::ErrorKind::WriteZero.into()),
        n => Ok(Some(n)),
    }
}

/// The `throttle_time_ms` of the responses that carry one and that this client
/// sends; `None` for others.
fn throttle_time_ms(response: &dyn Any) -> Option<i32> {
    macro_rules! throttle {
        ($($t:ident),* $(,)?) => {
            $(
                if let Some(r) = response.downcast_ref::<messages::$t>() {
                    return Some(r.throttle_time_ms);
                }
            )*
        };
    }
    throttle!(
        ProduceResponse,
        FetchResponse,
        ListOffsetsResponse,
        MetadataResponse,
        OffsetCommitResponse,
        OffsetFetchResponse,
        FindCoordinatorResponse,
        JoinGroupResponse,
        HeartbeatResponse,
        LeaveGroupResponse,
        SyncGroupResponse,
        DescribeGroupsResponse,
        ListGroupsResponse,
        ApiVersionsResponse,
        CreateTopicsResponse,
        DeleteTopicsResponse,
        InitProducerIdResponse,
        ConsumerGroupHeartbeatResponse,
        OffsetForLeaderEpochResponse,
        AddPartitionsToTxnResponse,
        AddOffsetsToTxnResponse,
        EndTxnResponse,
        TxnOffsetCommitResponse,
        DeleteRecordsResponse,
        DescribeConfigsResponse,
        CreatePartitionsResponse,
        DeleteGroupsResponse,
    );
    None
}

#[cfg(test)]
#[path = "connection/tests.rs"]
pub(crate) mod tests;
