//! What one benchmark cell is, the settings every client shares, and how a cell
//! travels to the child process that runs it (as `key=value` arguments).

use std::fmt;
use std::str::FromStr;

/// Producer `linger.ms` for every client.
pub const LINGER_MS: u64 = 5;
/// Largest batch in bytes (librdkafka `batch.size`, Java `batch.size`, rskafka's
/// aggregator size, ours `batch.size`).
pub const BATCH_BYTES: usize = 1_000_000;
/// Largest batch in records (librdkafka and ours `batch.num.messages`).
pub const BATCH_MESSAGES: usize = 10_000;
/// Records the producer may hold (librdkafka and ours
/// `queue.buffering.max.messages`; the in-flight window for rskafka).
pub const QUEUE_MESSAGES: usize = 100_000;
/// `max.in.flight.requests.per.connection`.
pub const MAX_IN_FLIGHT: usize = 5;
/// Consumer `fetch.wait.max.ms` (Java `fetch.max.wait.ms`, rskafka `max_wait_ms`).
pub const FETCH_WAIT_MS: u64 = 100;
/// `max.partition.fetch.bytes`.
pub const PARTITION_FETCH_BYTES: i32 = 1_048_576;
/// `fetch.max.bytes`.
pub const FETCH_MAX_BYTES: i32 = 52_428_800;
/// Partitions of every benchmark topic.
pub const PARTITIONS: i32 = 3;

/// A client under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Client {
    /// flame-kafka through its lower crates: `flame_kafka_producer::Producer`,
    /// `flame_kafka_group::Consumer`.
    Flame,
    /// flame-kafka through the flame API (`flame_kafka::produce` / `consume`).
    FlameApi,
    /// rust-rdkafka (librdkafka, built from its vendored sources).
    Rdkafka,
    /// rskafka (pure Rust, partition clients; no consumer groups, acks=all only).
    Rskafka,
    /// The Java client, through Kafka's perf tools.
    Java,
}

impl Client {
    /// Every client, in table order.
    pub const ALL: [Client; 5] = [
        Client::Flame,
        Client::FlameApi,
        Client::Rdkafka,
        Client::Rskafka,
        Client::Java,
    ];

    /// The name used on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Client::Flame => "flame",
            Client::FlameApi => "flame-api",
            Client::Rdkafka => "rdkafka",
            Client::Rskafka => "rskafka",
            Client::Java => "java",
        }
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Client {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Client::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                format!("unknown client `{s}` (flame, flame-api, rdkafka, rskafka, java)")
            })
    }
}

/// `acks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// acks=1
    One,
    /// acks=all
    All,
}

impl Acks {
    /// The property value.
    pub fn name(self) -> &'static str {
        match self {
            Acks::One => "1",
            Acks::All => "all",
        }
    }
}

impl FromStr for Acks {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "1" => Ok(Acks::One),
            "all" | "-1" => Ok(Acks::All),
            _ => Err(format!("bad acks `{s}`")),
        }
    }
}

/// `compression.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comp {
    /// none
    None,
    /// lz4
    Lz4,
    /// zstd
    Zstd,
}

impl Comp {
    /// The property value.
    pub fn name(self) -> &'static str {
        match self {
            Comp::None => "none",
            Comp::Lz4 => "lz4",
            Comp::Zstd => "zstd",
        }
    }
}

impl FromStr for Comp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Comp::None),
            "lz4" => Ok(Comp::Lz4),
            "zstd" => Ok(Comp::Zstd),
            _ => Err(format!("bad compression `{s}`")),
        }
    }
}

/// What a cell measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Produce `count` records of `size` bytes as fast as the client goes.
    Produce,
    /// Consume `count` records from the start of `topic` through a consumer group.
    Consume,
    /// Produce at `rate` records/s for `secs` seconds and consume them in the same
    /// process; end-to-end latency percentiles.
    Latency,
}

impl Kind {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Produce => "produce",
            Kind::Consume => "consume",
            Kind::Latency => "latency",
        }
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "produce" => Ok(Kind::Produce),
            "consume" => Ok(Kind::Consume),
            "latency" => Ok(Kind::Latency),
            _ => Err(format!("bad kind `{s}`")),
        }
    }
}

/// One client running one workload.
#[derive(Debug, Clone)]
pub struct Spec {
    /// What to measure.
    pub kind: Kind,
    /// Who runs it.
    pub client: Client,
    /// `bootstrap.servers`.
    pub bootstrap: String,
    /// The topic (created beforehand with [`PARTITIONS`] partitions).
    pub topic: String,
    /// Records to produce or consume (latency: ignored).
    pub count: u64,
    /// Value size in bytes (records have no key).
    pub size: usize,
    /// Producer acks.
    pub acks: Acks,
    /// Producer compression.
    pub comp: Comp,
    /// Consumer group id.
    pub group: String,
    /// Latency: records per second.
    pub rate: u64,
    /// Latency: seconds of measured sending.
    pub secs: u64,
}

impl Spec {
    /// The spec as `key=value` arguments for the child process.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            format!("kind={}", self.kind.name()),
            format!("client={}", self.client.name()),
            format!("bootstrap={}", self.bootstrap),
            format!("topic={}", self.topic),
            format!("count={}", self.count),
            format!("size={}", self.size),
            format!("acks={}", self.acks.name()),
            format!("comp={}", self.comp.name()),
            format!("group={}", self.group),
            format!("rate={}", self.rate),
            format!("secs={}", self.secs),
        ]
    }

    /// Parses what [`Spec::to_args`] wrote.
    pub fn from_args(args: &[String]) -> Result<Spec, String> {
        let mut spec = Spec {
            kind: Kind::Produce,
            client: Client::Flame,
            bootstrap: String::new(),
            topic: String::new(),
            count: 0,
            size: 100,
            acks: Acks::One,
            comp: Comp::None,
            group: String::new(),
            rate: 1000,
            secs: 10,
        };
        for arg in args {
            let (k, v) = arg
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, got `{arg}`"))?;
            let num = |v: &str| v.parse::<u64>().map_err(|e| format!("{k}: {e}"));
            match k {
                "kind" => spec.kind = v.parse()?,
                "client" => spec.client = v.parse()?,
                "bootstrap" => spec.bootstrap = v.to_string(),
                "topic" => spec.topic = v.to_string(),
                "count" => spec.count = num(v)?,
                "size" => spec.size = num(v)? as usize,
                "acks" => spec.acks = v.parse()?,
                "comp" => spec.comp = v.parse()?,
                "group" => spec.group = v.to_string(),
                "rate" => spec.rate = num(v)?,
                "secs" => spec.secs = num(v)?,
                _ => return Err(format!("unknown key `{k}`")),
            }
        }
        Ok(spec)
    }
}

/// What a child measured (CPU and memory come from the parent's `wait4`).
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Records produced or consumed in the measured window.
    pub msgs: u64,
    /// Value bytes in the measured window.
    pub bytes: u64,
    /// Seconds of the measured window.
    pub secs: f64,
    /// Latency percentiles in microseconds: p50, p99, p99.9, max.
    pub latency_us: Option<[f64; 4]>,
    /// Anything worth a footnote (join time, warnings).
    pub note: String,
}

impl Measured {
    /// The line a child prints last.
    pub fn to_line(&self) -> String {
        let mut line = format!(
            "BENCH-RESULT msgs={} bytes={} secs={:.6}",
            self.msgs, self.bytes, self.secs
        );
        if let Some([p50, p99, p999, max]) = self.latency_us {
            line += &format!(" p50={p50:.1} p99={p99:.1} p999={p999:.1} max={max:.1}");
        }
        if !self.note.is_empty() {
            line += &format!(" note={}", self.note.replace(' ', "_"));
        }
        line
    }

    /// Finds and parses the result line in a child's output.
    pub fn from_output(out: &str) -> Option<Measured> {
        let line = out.lines().rev().find(|l| l.starts_with("BENCH-RESULT "))?;
        let mut m = Measured::default();
        let mut lat = [f64::NAN; 4];
        for kv in line.split_whitespace().skip(1) {
            let (k, v) = kv.split_once('=')?;
            match k {
                "msgs" => m.msgs = v.parse().ok()?,
                "bytes" => m.bytes = v.parse().ok()?,
                "secs" => m.secs = v.parse().ok()?,
                "p50" => lat[0] = v.parse().ok()?,
                "p99" => lat[1] = v.parse().ok()?,
                "p999" => lat[2] = v.parse().ok()?,
                "max" => lat[3] = v.parse().ok()?,
                "note" => m.note = v.replace('_', " "),
                _ => {}
            }
        }
        if !lat[0].is_nan() {
            m.latency_us = Some(lat);
        }
        Some(m)
    }
}

/// Percentiles of latency samples (microseconds): p50, p99, p99.9, max.
pub fn percentiles(samples: &mut [f64]) -> [f64; 4] {
    if samples.is_empty() {
        return [f64::NAN; 4];
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i.min(samples.len() - 1)]
    };
    [at(0.50), at(0.99), at(0.999), samples[samples.len() - 1]]
}

/// The values every client sends: `POOL` distinct random upper-case payloads of
/// `size` bytes (the alphabet of Kafka's ProducerPerformance, so that compression
/// ratios are like theirs), used round-robin. Distinct payloads keep lz4/zstd from
/// turning a batch of identical records into nothing.
pub fn payload_pool(size: usize) -> Vec<bytes::Bytes> {
    let count = pool_len(size);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15 ^ size as u64;
    (0..count)
        .map(|_| {
            let v: Vec<u8> = (0..size)
                .map(|_| {
                    // xorshift64*
                    state ^= state >> 12;
                    state ^= state << 25;
                    state ^= state >> 27;
                    let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
                    b'A' + ((r >> 32) % 26) as u8
                })
                .collect();
            bytes::Bytes::from(v)
        })
        .collect()
}

/// How many distinct payloads of `size` bytes [`payload_pool`] makes (about 1-10 MB).
pub fn pool_len(size: usize) -> usize {
    if size <= 1024 {
        10_000
    } else {
        (10_000_000 / size).max(100)
    }
}
