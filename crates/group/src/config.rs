//! [`ConsumerConfig`]: the typed settings of a consumer. Each field names the
//! librdkafka property it corresponds to and its default; parsing the string
//! properties happens in the `flame-kafka` crate.

use std::sync::Arc;
use std::time::Duration;

use crate::fetcher::{FetchSettings, Isolation, OffsetReset};
use crate::machine::GroupSettings;
use crate::Strategy;

/// `group.protocol`: which consumer group protocol to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupProtocol {
    /// `classic` (default): JoinGroup/SyncGroup/Heartbeat with client-side
    /// assignors. Works with every broker and in groups mixed with Java and
    /// librdkafka consumers.
    #[default]
    Classic,
    /// `consumer`: the KIP-848 protocol (ConsumerGroupHeartbeat, broker-side
    /// assignment); needs Kafka 4.0+ (or 3.7+ with it enabled). A broker without
    /// it fails the consumer with a clear error rather than silently falling back.
    Consumer,
}

/// A consumer's settings. Build with [`ConsumerConfig::new`] and change fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumerConfig {
    /// `group.id` (required).
    pub group_id: String,
    /// `group.instance.id`: static membership (a restart within
    /// `session.timeout.ms` keeps the partitions without a rebalance). Default none.
    pub group_instance_id: Option<String>,
    /// `group.protocol`. Default [`GroupProtocol::Classic`].
    pub group_protocol: GroupProtocol,
    /// `group.remote.assignor` (`group.protocol=consumer` only): `uniform` or
    /// `range`; default none (the broker's default, `uniform`).
    pub group_remote_assignor: Option<String>,
    /// `partition.assignment.strategy` (classic only), in preference order.
    /// Default `range,cooperative-sticky`, the Java client's default: it shares
    /// `range` with librdkafka's default (`range,roundrobin`), so mixed groups
    /// agree, and lists `cooperative-sticky` so that a rolling upgrade to
    /// cooperative-only can follow. With any eager strategy listed, rebalances are
    /// eager.
    pub partition_assignment_strategy: Vec<Strategy>,
    /// `session.timeout.ms` (classic only). Default 45 000 ms.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (classic only; the broker sets it for
    /// `group.protocol=consumer`). Default 3 000 ms.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`: longest time between polls before the member leaves
    /// the group (its partitions go to others); it rejoins at the next poll.
    /// Default 300 000 ms.
    pub max_poll_interval: Duration,
    /// `enable.auto.commit`: commit finished offsets every
    /// `auto.commit.interval.ms`, on revocation and on close. Default true.
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms`. Default 5 000 ms.
    pub auto_commit_interval: Duration,
    /// `enable.auto.offset.store`: count a record as finished as soon as poll
    /// returns it. Default **false** here (librdkafka: true): a record counts as
    /// finished only once `mark_done` is called, so auto-commit never passes a
    /// message the application has not processed (at-least-once).
    pub enable_auto_offset_store: bool,
    /// For a Java-style poll loop (poll, process, poll again): each call of
    /// [`poll`](crate::Consumer::poll) or [`poll_batch`](crate::Consumer::poll_batch)
    /// finishes every record the previous call handed out, as
    /// [`mark_done`](crate::Consumer::mark_done) would. Default **false**: records
    /// count as finished only once marked done, so an application that keeps
    /// polling while earlier records are still being processed (e.g. on other
    /// tasks) stays correct. Meant for one poll loop: with several tasks polling
    /// one consumer, one task's poll would finish another's records.
    ///
    /// "Finished" decides what is committed, and when a revocation may hand a
    /// partition over to another member: not before every record handed out from
    /// it is finished (bounded by `max.poll.interval.ms`). With
    /// `enable_auto_offset_store`, records count as finished for commits when
    /// handed out, and a revocation waits for the next poll call (as in
    /// librdkafka, whose rebalance callback runs in poll), whatever this says.
    pub done_on_next_poll: bool,
    /// `auto.offset.reset`: where to start without a committed offset, or when the
    /// committed offset is out of range. Default `latest`.
    pub auto_offset_reset: OffsetReset,
    /// `fetch.min.bytes`. Default 1.
    pub fetch_min_bytes: i32,
    /// `fetch.wait.max.ms`. Default 500 ms.
    pub fetch_wait_max: Duration,
    /// `fetch.max.bytes`. Default 52 428 800.
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes`. Default 1 048 576.
    pub max_partition_fetch_bytes: i32,
    /// `queued.max.messages.kbytes`: fetched bytes buffered ahead of the
    /// application, at most. Default 65 536 KiB.
    pub queued_max_messages_kbytes: usize,
    /// `isolation.level`. Default `read_committed` (as librdkafka; Java's default
    /// is `read_uncommitted`).
    pub isolation_level: Isolation,
    /// `check.crcs`: verify each fetched batch's CRC32C. Default **true** here
    /// (librdkafka: false): the check is hardware-accelerated and cheap next to
    /// decoding, and turns silent corruption into an error.
    pub check_crcs: bool,
    /// `retry.backoff.ms`. Default 100 ms.
    pub retry_backoff: Duration,
    /// `default.api.timeout.ms` (Java): how long commits and committed-offset
    /// lookups keep retrying. Default 60 000 ms.
    pub default_api_timeout: Duration,
    /// `client.rack`: this consumer's rack, sent in subscriptions (rack-aware
    /// assignment) and with every Fetch, so that brokers with a
    /// `replica.selector.class` can name a replica in the same rack to read from
    /// (KIP-392, fetching from followers). Default none: always the leader.
    pub client_rack: Option<String>,
    /// How long a follower the leader named for reading stays in use before the
    /// leader is asked again (the Java client uses `metadata.max.age.ms`). Default
    /// 300 000 ms.
    pub read_replica_ttl: Duration,
    /// `max.poll.records` (Java): the most records [`crate::Consumer::poll_batch`]
    /// returns at once. Default 500.
    pub max_poll_records: usize,
}

impl ConsumerConfig {
    /// Defaults for `group_id`.
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerConfig {
            group_id: group_id.into(),
            group_instance_id: None,
            group_protocol: GroupProtocol::Classic,
            group_remote_assignor: None,
            partition_assignment_strategy: vec![Strategy::Range, Strategy::CooperativeSticky],
            session_timeout: Duration::from_millis(45_000),
            heartbeat_interval: Duration::from_millis(3_000),
            max_poll_interval: Duration::from_millis(300_000),
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_millis(5_000),
            enable_auto_offset_store: false,
            done_on_next_poll: false,
            auto_offset_reset: OffsetReset::Latest,
            fetch_min_bytes: 1,
            fetch_wait_max: Duration::from_millis(500),
            fetch_max_bytes: 52_428_800,
            max_partition_fetch_bytes: 1_048_576,
            queued_max_messages_kbytes: 65_536,
            isolation_level: Isolation::ReadCommitted,
            check_crcs: true,
            retry_backoff: Duration::from_millis(100),
            default_api_timeout: Duration::from_millis(60_000),
            client_rack: None,
            read_replica_ttl: Duration::from_millis(300_000),
            max_poll_records: 500,
        }
    }

    /// Checks the settings that cannot work.
    ///
    /// # Errors
    /// `(librdkafka key, reason)` of the first bad setting.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if self.group_id.is_empty() {
            return Err(("group.id", "must not be empty"));
        }
        if self.group_instance_id.as_deref() == Some("") {
            return Err(("group.instance.id", "must not be empty when set"));
        }
        if self.group_protocol == GroupProtocol::Classic
            && self.partition_assignment_strategy.is_empty()
        {
            return Err((
                "partition.assignment.strategy",
                "needs at least one strategy",
            ));
        }
        if self.heartbeat_interval >= self.session_timeout {
            return Err((
                "heartbeat.interval.ms",
                "must be lower than session.timeout.ms",
            ));
        }
        if self.max_poll_records == 0 {
            return Err(("max.poll.records", "must be at least 1"));
        }
        if self.fetch_max_bytes <= 0 || self.max_partition_fetch_bytes <= 0 {
            return Err(("fetch.max.bytes", "fetch sizes must be positive"));
        }
        Ok(())
    }

    pub(crate) fn group_settings(&self, topics: &[String]) -> GroupSettings {
        GroupSettings {
            group_id: Arc::from(self.group_id.as_str()),
            instance_id: self.group_instance_id.as_deref().map(Arc::from),
            topics: topics.to_vec(),
            strategies: self.partition_assignment_strategy.clone(),
            remote_assignor: self.group_remote_assignor.as_deref().map(Arc::from),
            session_timeout: self.session_timeout,
            heartbeat_interval: self.heartbeat_interval,
            max_poll_interval: self.max_poll_interval,
            retry_backoff: self.retry_backoff,
            op_timeout: self.default_api_timeout,
            rack: self.client_rack.as_deref().map(Arc::from),
        }
    }

    /// Whether a poll call finishes the records the previous one handed out (for
    /// the revocation hand-over at least; see `done_on_next_poll`).
    pub(crate) fn release_on_poll(&self) -> bool {
        self.done_on_next_poll || self.enable_auto_offset_store
    }

    pub(crate) fn fetch_settings(&self) -> FetchSettings {
        FetchSettings {
            min_bytes: self.fetch_min_bytes,
            max_wait: self.fetch_wait_max,
            max_bytes: self.fetch_max_bytes,
            partition_max_bytes: self.max_partition_fetch_bytes,
            max_buffered_bytes: self.queued_max_messages_kbytes.saturating_mul(1024),
            isolation: self.isolation_level,
            offset_reset: self.auto_offset_reset,
            check_crcs: self.check_crcs,
            retry_backoff: self.retry_backoff,
            rack: self.client_rack.as_deref().map(Arc::from),
            read_replica_ttl: self.read_replica_ttl,
        }
    }
}
