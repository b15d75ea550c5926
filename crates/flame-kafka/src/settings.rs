//! Maps a validated [`Config`] to the typed settings of the lower crates. This is the
//! one place that knows which librdkafka key feeds which typed field.

use std::path::PathBuf;

use flame_kafka_cluster::security::{
    CaSource, ClientIdentity, SaslConfig, SaslMechanism, Secret, Security, TlsConfig,
};
use flame_kafka_cluster::ClusterConfig;
use flame_kafka_codec::Compression;
use flame_kafka_group::{ConsumerConfig, GroupProtocol, Isolation, OffsetReset, Strategy};
use flame_kafka_producer::{Acks, Partitioner, ProducerConfig};

use crate::config::{Config, ConfigError};

/// Connection settings shared by producers and consumers.
#[allow(clippy::field_reassign_with_default)]
pub(crate) fn cluster(config: &Config) -> Result<ClusterConfig, ConfigError> {
    let mut cluster = ClusterConfig::new(config.str("bootstrap.servers").unwrap_or_default());
    cluster.client_id = config.str("client.id").unwrap_or("flame-kafka").to_owned();
    cluster.security = security(config)?;
    cluster.connect_timeout = config.millis("socket.connection.setup.timeout.ms");
    cluster.request_timeout = config.millis("request.timeout.ms");
    cluster.reconnect_backoff = config.millis("reconnect.backoff.ms");
    cluster.reconnect_backoff_max = config.millis("reconnect.backoff.max.ms");
    cluster.metadata_refresh_interval = config.millis("topic.metadata.refresh.interval.ms");
    cluster.connections_max_idle = config.millis("connections.max.idle.ms");
    cluster.max_frame_bytes = config.int("receive.message.max.bytes") as usize;
    cluster.allow_auto_create_topics = config.bool("allow.auto.create.topics");
    Ok(cluster)
}

fn security(config: &Config) -> Result<Security, ConfigError> {
    let protocol = config.str("security.protocol").unwrap_or("plaintext");
    let uses_tls = matches!(protocol, "ssl" | "sasl_ssl");
    let uses_sasl = matches!(protocol, "sasl_plaintext" | "sasl_ssl");
    for key in ["sasl.mechanism", "sasl.username", "sasl.password"] {
        if config.is_set(key) && !uses_sasl {
            return Err(conflict(
                key,
                "security.protocol",
                "SASL settings need security.protocol=sasl_plaintext or sasl_ssl",
            ));
        }
    }
    let tls = if uses_tls { Some(tls(config)?) } else { None };
    let sasl = if uses_sasl { Some(sasl(config)?) } else { None };
    Ok(match (tls, sasl) {
        (None, None) => Security::Plaintext,
        (Some(tls), None) => Security::Ssl(tls),
        (None, Some(sasl)) => Security::SaslPlaintext(sasl),
        (Some(tls), Some(sasl)) => Security::SaslSsl(sasl, tls),
    })
}

#[allow(clippy::field_reassign_with_default)]
fn tls(config: &Config) -> Result<TlsConfig, ConfigError> {
    let mut tls = TlsConfig::default();
    tls.ca = match (config.str("ssl.ca.location"), config.str("ssl.ca.pem")) {
        (Some(_), Some(_)) => {
            return Err(conflict(
                "ssl.ca.pem",
                "ssl.ca.location",
                "give the CA once",
            ))
        }
        (Some(path), None) => CaSource::PemFile(PathBuf::from(path)),
        (None, Some(pem)) => CaSource::Pem(pem.to_owned()),
        (None, None) => CaSource::WebPkiRoots,
    };
    let cert = (
        config.str("ssl.certificate.location"),
        config.str("ssl.certificate.pem"),
    );
    let key = (config.str("ssl.key.location"), config.str("ssl.key.pem"));
    tls.client_cert = match (cert, key) {
        ((None, None), (None, None)) => None,
        ((Some(cert), None), (Some(key), None)) => Some(ClientIdentity::Files {
            cert_chain_pem_path: PathBuf::from(cert),
            key_pem_path: PathBuf::from(key),
        }),
        ((None, Some(cert)), (None, Some(key))) => Some(ClientIdentity::Pem {
            cert_chain_pem: cert.to_owned(),
            key_pem: Secret::from(key),
        }),
        _ => return Err(conflict(
            "ssl.key.location",
            "ssl.certificate.location",
            "give the client certificate and key together, both as files or both as PEM strings",
        )),
    };
    tls.verify_hostname = config.str("ssl.endpoint.identification.algorithm") != Some("none");
    Ok(tls)
}

fn sasl(config: &Config) -> Result<SaslConfig, ConfigError> {
    let mechanism = match config.str("sasl.mechanism") {
        Some("PLAIN") => SaslMechanism::Plain,
        Some("SCRAM-SHA-256") => SaslMechanism::ScramSha256,
        Some("SCRAM-SHA-512") => SaslMechanism::ScramSha512,
        Some("OAUTHBEARER") => {
            return Err(ConfigError::Unsupported {
                key: "sasl.mechanism".into(),
                reason: "OAUTHBEARER needs a token provider: build the client with the flame-kafka-cluster API",
            })
        }
        _ => return Err(ConfigError::Missing { key: "sasl.mechanism", alias: "sasl.mechanisms" }),
    };
    let username = config.str("sasl.username").ok_or(ConfigError::Missing {
        key: "sasl.username",
        alias: "",
    })?;
    let password = config.str("sasl.password").ok_or(ConfigError::Missing {
        key: "sasl.password",
        alias: "",
    })?;
    Ok(SaslConfig::with_password(mechanism, username, password))
}

/// Producer settings.
// The typed configs are `#[non_exhaustive]`: fields are set one by one on purpose.
#[allow(clippy::field_reassign_with_default)]
pub(crate) fn producer(config: &Config) -> Result<ProducerConfig, ConfigError> {
    let mut p = ProducerConfig::default();
    p.acks = match config.str("acks") {
        Some("0") => Acks::None,
        Some("1") => Acks::Leader,
        _ => Acks::All,
    };
    p.enable_idempotence = config
        .is_set("enable.idempotence")
        .then(|| config.bool("enable.idempotence"));
    p.linger = config.millis("linger.ms");
    p.batch_size = config.int("batch.size") as usize;
    p.batch_num_messages = config.int("batch.num.messages") as usize;
    p.queue_buffering_max_messages = config.int("queue.buffering.max.messages") as usize;
    p.queue_buffering_max_kbytes = config.int("queue.buffering.max.kbytes") as usize;
    p.compression = match config.str("compression.type") {
        Some("gzip") => Compression::Gzip,
        Some("snappy") => Compression::Snappy,
        Some("lz4") => Compression::Lz4,
        Some("zstd") => Compression::Zstd,
        _ => Compression::None,
    };
    let level = config.int("compression.level");
    p.compression_level = (level >= 0).then_some(level as u32);
    p.message_timeout = config.millis("message.timeout.ms");
    p.retries = config.int("retries").clamp(0, i64::from(u32::MAX)) as u32;
    p.retry_backoff = config.millis("retry.backoff.ms");
    p.retry_backoff_max = config.millis("retry.backoff.max.ms");
    p.max_in_flight = config.int("max.in.flight.requests.per.connection") as usize;
    p.message_max_bytes = config.int("message.max.bytes") as usize;
    p.request_timeout = config.millis("request.timeout.ms");
    p.drop_flush_timeout = config.millis("flame.flush.timeout.ms");
    p.sticky_partitioning_linger = config.millis("sticky.partitioning.linger.ms");
    let name = config.str("partitioner").unwrap_or("consistent_random");
    p.partitioner = name
        .parse::<Partitioner>()
        .map_err(|_| ConfigError::InvalidValue {
            key: "partitioner",
            value: format!("{name:?}"),
            expected: "a librdkafka partitioner name".into(),
        })?;
    if p.enable_idempotence == Some(true) && p.acks != Acks::All {
        return Err(conflict(
            "acks",
            "enable.idempotence",
            "idempotence needs acks=all",
        ));
    }
    if p.enable_idempotence != Some(false) && p.acks == Acks::All && p.max_in_flight > 5 {
        return Err(conflict(
            "max.in.flight.requests.per.connection",
            "enable.idempotence",
            "idempotence allows at most 5 requests in flight",
        ));
    }
    Ok(p)
}

/// Consumer settings.
#[allow(clippy::field_reassign_with_default)]
pub(crate) fn consumer(config: &Config) -> Result<ConsumerConfig, ConfigError> {
    let mut c = ConsumerConfig::new(config.str("group.id").unwrap_or_default());
    c.group_instance_id = config.str("group.instance.id").map(str::to_owned);
    c.group_protocol = match config.str("group.protocol") {
        Some("consumer") => GroupProtocol::Consumer,
        _ => GroupProtocol::Classic,
    };
    let strategies = config
        .str("partition.assignment.strategy")
        .unwrap_or("range,roundrobin");
    c.partition_assignment_strategy = strategies
        .split(',')
        .filter_map(Strategy::from_name)
        .collect();
    c.session_timeout = config.millis("session.timeout.ms");
    c.heartbeat_interval = config.millis("heartbeat.interval.ms");
    c.max_poll_interval = config.millis("max.poll.interval.ms");
    c.enable_auto_commit = config.bool("enable.auto.commit");
    c.auto_commit_interval = config.millis("auto.commit.interval.ms");
    c.auto_offset_reset = match config.str("auto.offset.reset") {
        Some("smallest" | "earliest" | "beginning") => OffsetReset::Earliest,
        Some("error") => OffsetReset::Error,
        _ => OffsetReset::Latest,
    };
    c.fetch_min_bytes = config.int("fetch.min.bytes") as i32;
    c.fetch_wait_max = config.millis("fetch.wait.max.ms");
    c.fetch_max_bytes = config.int("fetch.max.bytes") as i32;
    c.max_partition_fetch_bytes = config.int("max.partition.fetch.bytes") as i32;
    c.queued_max_messages_kbytes = config.int("queued.max.messages.kbytes") as usize;
    c.isolation_level = match config.str("isolation.level") {
        Some("read_uncommitted") => Isolation::ReadUncommitted,
        _ => Isolation::ReadCommitted,
    };
    c.check_crcs = config.bool("check.crcs");
    c.retry_backoff = config.millis("retry.backoff.ms");
    c.client_rack = config.str("client.rack").map(str::to_owned);
    // As the Java client: a follower named for reading is trusted as long as metadata.
    c.read_replica_ttl = config.millis("topic.metadata.refresh.interval.ms");
    if c.heartbeat_interval >= c.session_timeout {
        return Err(conflict(
            "heartbeat.interval.ms",
            "session.timeout.ms",
            "heartbeats must come more often than the session timeout",
        ));
    }
    Ok(c)
}

fn conflict(key: &'static str, other: &'static str, reason: &'static str) -> ConfigError {
    ConfigError::Conflict { key, other, reason }
}
