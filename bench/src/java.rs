//! The Java client through Kafka's own perf tools (kafka-tools jar of the test
//! harness): ProducerPerformance, ConsumerPerformance, EndToEndLatency. The parent
//! runs `java` as the child process directly, so its CPU and RSS are the JVM's.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::spec::{self, Kind, Measured, Spec};
use crate::Res;

/// Where the harness keeps its jars and log4j configuration.
pub struct JavaEnv {
    /// `target/kafka-harness`
    pub harness: PathBuf,
    /// Scratch directory for payload and config files.
    pub scratch: PathBuf,
}

impl JavaEnv {
    /// The harness dir: `$FLAME_KAFKA_HARNESS_DIR` or `<repo>/target/kafka-harness`.
    pub fn locate(repo: &Path, scratch: &Path) -> JavaEnv {
        let harness = std::env::var_os("FLAME_KAFKA_HARNESS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("target/kafka-harness"));
        JavaEnv {
            harness,
            scratch: scratch.to_path_buf(),
        }
    }

    /// Whether `java` and the kafka-tools jar are there.
    pub fn available(&self) -> bool {
        let libs = self.harness.join("libs");
        let has_tools = std::fs::read_dir(&libs)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("kafka-tools-"))
            })
            .unwrap_or(false);
        has_tools
            && Command::new("java")
                .arg("-version")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
    }

    fn java(&self, class: &str) -> Command {
        let mut c = Command::new("java");
        // The heap the Kafka scripts give the perf tools (kafka-*-perf-test.sh).
        c.arg("-Xmx512M");
        let log4j = self.harness.join("log4j2-tools.properties");
        if log4j.exists() {
            c.arg(format!("-Dlog4j2.configurationFile={}", log4j.display()));
        }
        c.arg("-cp")
            .arg(format!("{}/*", self.harness.join("libs").display()))
            .arg(class);
        c
    }

    /// The payload file ProducerPerformance picks values from: the same pool the
    /// Rust clients use, one value a line.
    fn payload_file(&self, size: usize) -> Res<PathBuf> {
        let path = self.scratch.join(format!("payload-{size}.txt"));
        if !path.exists() {
            let mut text = Vec::with_capacity(spec::pool_len(size) * (size + 1));
            for p in spec::payload_pool(size) {
                text.extend_from_slice(&p);
                text.push(b'\n');
            }
            std::fs::write(&path, text)?;
        }
        Ok(path)
    }

    fn props_file(&self, name: &str, props: &[(&str, String)]) -> Res<PathBuf> {
        let path = self.scratch.join(name);
        let text: String = props.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        std::fs::write(&path, text)?;
        Ok(path)
    }

    fn producer_props(spec: &Spec) -> Vec<(&'static str, String)> {
        vec![
            ("bootstrap.servers", spec.bootstrap.clone()),
            ("client.id", "bench-java".into()),
            ("acks", spec.acks.name().into()),
            ("enable.idempotence", "false".into()),
            ("linger.ms", spec::LINGER_MS.to_string()),
            ("batch.size", spec::BATCH_BYTES.to_string()),
            (
                "max.in.flight.requests.per.connection",
                spec::MAX_IN_FLIGHT.to_string(),
            ),
            ("compression.type", spec.comp.name().into()),
        ]
    }

    fn consumer_props(_spec: &Spec) -> Vec<(&'static str, String)> {
        vec![
            ("client.id", "bench-java".into()),
            ("enable.auto.commit", "true".into()),
            ("fetch.max.wait.ms", spec::FETCH_WAIT_MS.to_string()),
            (
                "max.partition.fetch.bytes",
                spec::PARTITION_FETCH_BYTES.to_string(),
            ),
            ("fetch.max.bytes", spec::FETCH_MAX_BYTES.to_string()),
            ("isolation.level", "read_committed".into()),
            ("check.crcs", "true".into()),
        ]
    }

    /// The command that runs `spec` with the Java tools.
    pub fn command(&self, spec: &Spec) -> Res<Command> {
        match spec.kind {
            Kind::Produce => {
                let mut c = self.java("org.apache.kafka.tools.ProducerPerformance");
                c.args(["--topic", &spec.topic])
                    .args(["--num-records", &spec.count.to_string()])
                    .args(["--throughput", "-1"])
                    .arg("--payload-file")
                    .arg(self.payload_file(spec.size)?)
                    .arg("--producer-props")
                    .args(
                        Self::producer_props(spec)
                            .iter()
                            .map(|(k, v)| format!("{k}={v}")),
                    );
                Ok(c)
            }
            Kind::Consume => {
                let props = self.props_file("consumer.properties", &Self::consumer_props(spec))?;
                let mut c = self.java("org.apache.kafka.tools.ConsumerPerformance");
                c.args(["--bootstrap-server", &spec.bootstrap])
                    .args(["--topic", &spec.topic])
                    .args(["--messages", &spec.count.to_string()])
                    .args(["--group", &spec.group])
                    .args(["--timeout", "60000"])
                    .arg("--consumer.config")
                    .arg(props);
                Ok(c)
            }
            Kind::Latency => {
                let mut props = Self::producer_props(spec);
                props.retain(|(k, _)| *k != "bootstrap.servers" && *k != "acks");
                props.extend(Self::consumer_props(spec));
                let props = self.props_file("latency.properties", &props)?;
                let mut c = self.java("org.apache.kafka.tools.EndToEndLatency");
                c.arg(&spec.bootstrap)
                    .arg(&spec.topic)
                    .arg(java_latency_count(spec).to_string())
                    .arg(spec.acks.name())
                    .arg(spec.size.to_string())
                    .arg(props);
                Ok(c)
            }
        }
    }
}

/// EndToEndLatency is ping-pong (send one, wait until consumed, repeat), so it
/// cannot follow a rate; it sends about as many records as fit in the same time
/// at ~6 ms each (linger.ms=5 applies to every record).
pub fn java_latency_count(spec: &Spec) -> u64 {
    (spec.secs * 150).max(100)
}

/// Reads a tool's output into the common result.
pub fn parse(spec: &Spec, out: &str) -> Option<Measured> {
    match spec.kind {
        Kind::Produce => {
            // "1000000 records sent, 531914.9 records/sec (50.73 MB/sec), ..."
            let line = out.lines().rev().find(|l| l.contains("records sent,"))?;
            let mut words = line.split_whitespace();
            let sent: u64 = words.next()?.parse().ok()?;
            let rate: f64 = line
                .split(", ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some(Measured {
                msgs: sent,
                bytes: sent * spec.size as u64,
                secs: sent as f64 / rate,
                ..Measured::default()
            })
        }
        Kind::Consume => {
            // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg,
            // nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
            let line = out
                .lines()
                .rev()
                .find(|l| l.split(',').count() == 10 && !l.contains("start.time"))?;
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let msgs: u64 = f[4].parse().ok()?;
            let rebalance_ms: f64 = f[6].parse().ok()?;
            let fetch_ms: f64 = f[7].parse().ok()?;
            Some(Measured {
                msgs,
                bytes: msgs * spec.size as u64,
                secs: fetch_ms / 1000.0,
                note: format!("join {:.2}s", rebalance_ms / 1000.0),
                ..Measured::default()
            })
        }
        Kind::Latency => {
            // "Avg latency: 1.2345 ms" / "Percentiles: 50th = 1, 99th = 3, 99.9th = 7"
            let line = out.lines().rev().find(|l| l.starts_with("Percentiles:"))?;
            let nums: Vec<f64> = line
                .split(',')
                .filter_map(|p| p.split('=').nth(1)?.trim().parse().ok())
                .collect();
            let n = java_latency_count(spec);
            Some(Measured {
                msgs: n,
                bytes: n * spec.size as u64,
                secs: spec.secs as f64,
                latency_us: Some([
                    *nums.first()? * 1000.0,
                    *nums.get(1)? * 1000.0,
                    *nums.get(2)? * 1000.0,
                    f64::NAN,
                ]),
                note: "ping-pong, ms resolution".into(),
            })
        }
    }
}
