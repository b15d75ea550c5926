//! The one table of configuration properties: every key this client accepts, its
//! aliases, type, default, role and a line of documentation. Parsing, validation and
//! the generated docs page (`docs/CONFIGURATION.md`) all read this table.

/// Which side of the client a property applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Producers and consumers.
    Both,
    /// Producers only.
    Producer,
    /// Consumers only.
    Consumer,
}

/// The type of a property's value, with its accepted values or range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any string.
    Str,
    /// A string never shown in errors, logs or `Debug` output.
    Secret,
    /// `true`/`false` (also `1`/`0`, `yes`/`no`, as librdkafka accepts).
    Bool,
    /// An integer in `min..=max`.
    Int {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// One of the listed words (compared without case).
    Enum(&'static [&'static str]),
    /// A comma-separated list of the listed words.
    List(&'static [&'static str]),
}

/// One configuration property.
#[derive(Debug, Clone, Copy)]
pub struct Property {
    /// The canonical (librdkafka) name.
    pub name: &'static str,
    /// Other names accepted for it (librdkafka aliases, Java names).
    pub aliases: &'static [&'static str],
    /// Type and accepted values.
    pub kind: Kind,
    /// Default value, as a string; `None` when there is none.
    pub default: Option<&'static str>,
    /// Producer, consumer or both.
    pub role: Role,
    /// One line of documentation.
    pub doc: &'static str,
}

const fn p(
    name: &'static str,
    aliases: &'static [&'static str],
    kind: Kind,
    default: Option<&'static str>,
    role: Role,
    doc: &'static str,
) -> Property {
    Property {
        name,
        aliases,
        kind,
        default,
        role,
        doc,
    }
}

const fn int(min: i64, max: i64) -> Kind {
    Kind::Int { min, max }
}

const MS: i64 = 3_600_000 * 24 * 365;
const I32: i64 = i32::MAX as i64;
use Kind::{Bool, Enum, List, Secret, Str};
use Role::{Both, Consumer, Producer};

/// Every property this client accepts.
pub const PROPERTIES: &[Property] = &[
    // --- connections
    p(
        "bootstrap.servers",
        &["metadata.broker.list"],
        Str,
        None,
        Both,
        "Comma-separated host:port list of brokers to bootstrap from (required).",
    ),
    p(
        "client.id",
        &[],
        Str,
        Some("flame-kafka"),
        Both,
        "Client identifier sent to brokers with every request.",
    ),
    p(
        "socket.connection.setup.timeout.ms",
        &[],
        int(1000, MS),
        Some("30000"),
        Both,
        "Time allowed to connect and authenticate to a broker.",
    ),
    p(
        "request.timeout.ms",
        &["socket.timeout.ms"],
        int(10, MS),
        Some("30000"),
        Both,
        "Time to wait for a broker's response to a request.",
    ),
    p(
        "reconnect.backoff.ms",
        &[],
        int(0, 3_600_000),
        Some("100"),
        Both,
        "Initial wait before reconnecting to a broker; doubles per failure.",
    ),
    p(
        "reconnect.backoff.max.ms",
        &[],
        int(0, 3_600_000),
        Some("10000"),
        Both,
        "Upper bound of the reconnect backoff.",
    ),
    p(
        "retry.backoff.ms",
        &[],
        int(1, 300_000),
        Some("100"),
        Both,
        "Initial wait before retrying a failed request.",
    ),
    p(
        "retry.backoff.max.ms",
        &[],
        int(1, 300_000),
        Some("1000"),
        Both,
        "Upper bound of the retry backoff.",
    ),
    p(
        "topic.metadata.refresh.interval.ms",
        &["metadata.max.age.ms"],
        int(1000, MS),
        Some("300000"),
        Both,
        "Period of the background metadata refresh.",
    ),
    p(
        "connections.max.idle.ms",
        &[],
        int(0, MS),
        Some("540000"),
        Both,
        "Close connections idle this long (0: never).",
    ),
    p(
        "receive.message.max.bytes",
        &[],
        int(1000, 2_147_483_647),
        Some("100000000"),
        Both,
        "Largest response frame accepted from a broker.",
    ),
    p(
        "allow.auto.create.topics",
        &[],
        Bool,
        Some("false"),
        Both,
        "Let metadata requests create missing topics (broker must allow it).",
    ),
    // --- security
    p(
        "security.protocol",
        &[],
        Enum(&["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"]),
        Some("plaintext"),
        Both,
        "Transport and authentication.",
    ),
    p(
        "sasl.mechanism",
        &["sasl.mechanisms"],
        Enum(&["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]),
        None,
        Both,
        "SASL mechanism (GSSAPI is not supported); required with sasl_* protocols.",
    ),
    p(
        "sasl.username",
        &[],
        Str,
        None,
        Both,
        "SASL username for PLAIN and SCRAM.",
    ),
    p(
        "sasl.password",
        &[],
        Secret,
        None,
        Both,
        "SASL password for PLAIN and SCRAM (never logged).",
    ),
    p(
        "ssl.ca.location",
        &[],
        Str,
        None,
        Both,
        "PEM file of CA certificates; default: the bundled webpki roots.",
    ),
    p(
        "ssl.ca.pem",
        &[],
        Str,
        None,
        Both,
        "CA certificates as a PEM string.",
    ),
    p(
        "ssl.certificate.location",
        &[],
        Str,
        None,
        Both,
        "Client certificate chain (PEM file) for mutual TLS.",
    ),
    p(
        "ssl.certificate.pem",
        &[],
        Str,
        None,
        Both,
        "Client certificate chain as a PEM string.",
    ),
    p(
        "ssl.key.location",
        &[],
        Str,
        None,
        Both,
        "Client private key (PEM file: PKCS#8, PKCS#1 or SEC1) for mutual TLS.",
    ),
    p(
        "ssl.key.pem",
        &[],
        Secret,
        None,
        Both,
        "Client private key as a PEM string (never logged).",
    ),
    p(
        "ssl.endpoint.identification.algorithm",
        &[],
        Enum(&["https", "none"]),
        Some("https"),
        Both,
        "https: verify the broker's hostname; none: verify the chain only.",
    ),
    // --- producer
    p(
        "acks",
        &["request.required.acks"],
        Enum(&["all", "-1", "0", "1"]),
        Some("all"),
        Producer,
        "Acknowledgements required: 0, 1 or all (-1).",
    ),
    p(
        "enable.idempotence",
        &[],
        Bool,
        Some("true"),
        Producer,
        "Exactly-once per partition: producer id and sequence numbers (needs acks=all).",
    ),
    p(
        "linger.ms",
        &["queue.buffering.max.ms"],
        int(0, 900_000),
        Some("5"),
        Producer,
        "Time to wait for more messages before sending a batch.",
    ),
    p(
        "sticky.partitioning.linger.ms",
        &[],
        int(0, 900_000),
        Some("10"),
        Producer,
        "How long records without a key stick to one random partition (0: a random partition per record); the java partitioner sticks per batch.",
    ),
    p(
        "batch.size",
        &[],
        int(1, I32),
        Some("1000000"),
        Producer,
        "Largest batch, in bytes.",
    ),
    p(
        "batch.num.messages",
        &[],
        int(1, 1_000_000),
        Some("10000"),
        Producer,
        "Largest batch, in messages.",
    ),
    p(
        "queue.buffering.max.messages",
        &[],
        int(1, I32),
        Some("100000"),
        Producer,
        "Most messages queued in the producer; publishing waits when full.",
    ),
    p(
        "queue.buffering.max.kbytes",
        &["buffer.memory"],
        int(1, I32),
        Some("1048576"),
        Producer,
        "Most kilobytes queued in the producer; publishing waits when full.",
    ),
    p(
        "compression.type",
        &["compression.codec"],
        Enum(&["none", "gzip", "snappy", "lz4", "zstd"]),
        Some("none"),
        Producer,
        "Compression codec for batches.",
    ),
    p(
        "compression.level",
        &[],
        int(-1, 12),
        Some("-1"),
        Producer,
        "Codec level (-1: codec default); gzip uses 0-9 (default 6), zstd 1-12 (0 or -1: 3, as Kafka and libzstd); lz4 and snappy have one level here.",
    ),
    p(
        "message.timeout.ms",
        &["delivery.timeout.ms"],
        int(0, I32),
        Some("300000"),
        Producer,
        "Time a message may take to be delivered, retries included; then it fails.",
    ),
    p(
        "retries",
        &["message.send.max.retries"],
        int(0, I32),
        Some("2147483647"),
        Producer,
        "How often a failed batch is retried (bounded by message.timeout.ms).",
    ),
    p(
        "max.in.flight.requests.per.connection",
        &["max.in.flight"],
        int(1, 1_000_000),
        Some("5"),
        Producer,
        "Produce requests in flight per broker (at most 5 with idempotence).",
    ),
    p(
        "message.max.bytes",
        &["max.request.size"],
        int(1000, 1_000_000_000),
        Some("1000000"),
        Producer,
        "Largest message (and batch) accepted for sending.",
    ),
    p(
        "partitioner",
        &[],
        Enum(&[
            "consistent_random",
            "consistent",
            "murmur2_random",
            "murmur2",
            "random",
            "fnv1a",
            "fnv1a_random",
            "java",
        ]),
        Some("consistent_random"),
        Producer,
        "How keys map to partitions (librdkafka names; java: the Java client's default).",
    ),
    p(
        "flame.flush.timeout.ms",
        &[],
        int(0, MS),
        Some("10000"),
        Producer,
        "Bound on delivering queued messages when the producer is dropped.",
    ),
    // --- consumer
    p(
        "group.id",
        &[],
        Str,
        None,
        Consumer,
        "Consumer group name (required).",
    ),
    p(
        "client.rack",
        &[],
        Str,
        None,
        Consumer,
        "This consumer's rack: brokers with a replica.selector.class may have it read from a replica in that rack (KIP-392), and rack-aware assignors use it.",
    ),
    p(
        "group.instance.id",
        &[],
        Str,
        None,
        Consumer,
        "Static membership id.",
    ),
    p(
        "group.protocol",
        &[],
        Enum(&["classic", "consumer"]),
        Some("classic"),
        Consumer,
        "classic: JoinGroup/SyncGroup; consumer: KIP-848 server-side assignment.",
    ),
    p(
        "partition.assignment.strategy",
        &[],
        List(&["range", "roundrobin", "cooperative-sticky"]),
        Some("range,roundrobin"),
        Consumer,
        "Assignors offered to the group, in preference order (classic protocol).",
    ),
    p(
        "session.timeout.ms",
        &[],
        int(1, 3_600_000),
        Some("45000"),
        Consumer,
        "The group drops a member not heard from this long.",
    ),
    p(
        "heartbeat.interval.ms",
        &[],
        int(1, 3_600_000),
        Some("3000"),
        Consumer,
        "Period of group heartbeats.",
    ),
    p(
        "max.poll.interval.ms",
        &[],
        int(1, 86_400_000),
        Some("300000"),
        Consumer,
        "Longest the application may go without taking messages before leaving the group.",
    ),
    p(
        "enable.auto.commit",
        &[],
        Bool,
        Some("true"),
        Consumer,
        "Commit finished offsets periodically.",
    ),
    p(
        "auto.commit.interval.ms",
        &[],
        int(0, 86_400_000),
        Some("5000"),
        Consumer,
        "Period of automatic commits.",
    ),
    p(
        "auto.offset.reset",
        &[],
        Enum(&[
            "smallest",
            "earliest",
            "beginning",
            "largest",
            "latest",
            "end",
            "error",
        ]),
        Some("largest"),
        Consumer,
        "Where to start without a committed offset, or when it is out of range. When an \
         unclean leader election has cut the log below the position (KIP-320), the position \
         moves back to where the logs diverge whatever this says, except with `error`: then \
         the partition stops with a log-truncation error.",
    ),
    p(
        "fetch.min.bytes",
        &[],
        int(1, 100_000_000),
        Some("1"),
        Consumer,
        "Least data a fetch waits for.",
    ),
    p(
        "fetch.wait.max.ms",
        &["fetch.max.wait.ms"],
        int(0, 300_000),
        Some("500"),
        Consumer,
        "Longest a broker holds a fetch waiting for fetch.min.bytes.",
    ),
    p(
        "fetch.max.bytes",
        &[],
        int(0, I32),
        Some("52428800"),
        Consumer,
        "Most data one fetch response returns.",
    ),
    p(
        "max.partition.fetch.bytes",
        &["fetch.message.max.bytes"],
        int(1, 1_000_000_000),
        Some("1048576"),
        Consumer,
        "Most data one fetch returns per partition.",
    ),
    p(
        "queued.max.messages.kbytes",
        &[],
        int(1, 2_097_151),
        Some("65536"),
        Consumer,
        "Most kilobytes of fetched messages buffered ahead of the application.",
    ),
    p(
        "isolation.level",
        &[],
        Enum(&["read_committed", "read_uncommitted"]),
        Some("read_committed"),
        Consumer,
        "read_committed hides aborted transactions.",
    ),
    p(
        "check.crcs",
        &[],
        Bool,
        Some("true"),
        Consumer,
        "Verify each fetched batch's CRC32C.",
    ),
    p(
        "flame.concurrency",
        &[],
        int(1, 10_000),
        Some("1"),
        Consumer,
        "Callbacks run at once by Consumer::run (flame's concurrent consumers).",
    ),
];

/// librdkafka properties this client accepts and deliberately ignores, each with why.
/// Using one logs a warning; it is never silently dropped.
pub const IGNORED: &[(&str, &str)] = &[
    ("debug", "use tracing's RUST_LOG instead"),
    ("log_level", "use tracing's RUST_LOG instead"),
    (
        "statistics.interval.ms",
        "statistics callbacks are not implemented",
    ),
    ("api.version.request", "ApiVersions is always used"),
    ("broker.version.fallback", "ApiVersions is always used"),
    ("socket.keepalive.enable", "the OS default applies"),
    ("socket.send.buffer.bytes", "the OS default applies"),
    ("socket.receive.buffer.bytes", "the OS default applies"),
    ("socket.nagle.disable", "Nagle is always disabled"),
    (
        "enable.partition.eof",
        "end-of-partition events are not delivered",
    ),
    (
        "enable.auto.offset.store",
        "offsets are stored when a callback finishes",
    ),
    (
        "queued.min.messages",
        "prefetch is bounded by queued.max.messages.kbytes",
    ),
    ("log.connection.close", "connection events go to tracing"),
];

/// librdkafka properties that change behaviour this client does not have: an error.
pub const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "transactional.id",
        "transactions are not supported by this client yet",
    ),
    (
        "sasl.kerberos.service.name",
        "GSSAPI/Kerberos is not supported",
    ),
    (
        "ssl.key.password",
        "encrypted private keys are not supported; decrypt the key file",
    ),
    (
        "enable.ssl.certificate.verification",
        "certificate verification cannot be turned off",
    ),
];

/// The property named `key` (by canonical name or alias, case-sensitive as in
/// librdkafka).
pub fn lookup(key: &str) -> Option<&'static Property> {
    PROPERTIES
        .iter()
        .find(|p| p.name == key || p.aliases.contains(&key))
}
