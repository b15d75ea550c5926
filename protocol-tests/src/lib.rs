//! Support for the real-broker tests: where the brokers and peers are, how to
//! talk to the third-party peers (the Java client and librdkafka), and how to ask
//! the brokers directly ([`admin`]: topics, coordinators, committed offsets, raw
//! Fetch).
//!
//! The brokers are started by `protocol-tests/harness/kafka.sh` (or are external,
//! e.g. the docker-compose cluster); their addresses come from `FLAME_KAFKA_*`
//! environment variables (`kafka.sh env` prints them). A test that finds them unset
//! fails with instructions: tests that claim Kafka behaviour never skip silently.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod fixtures;
pub mod peer;
pub mod rng;
pub mod wire;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// An environment variable the harness sets; panics with instructions if unset.
pub fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set: these tests need real Kafka brokers.\n\
             Run them with `bash scripts/test.sh` (starts the brokers), or start them with\n\
             `bash protocol-tests/harness/kafka.sh install && bash protocol-tests/harness/kafka.sh start single`\n\
             and `eval \"$(bash protocol-tests/harness/kafka.sh env)\"`."
        ),
    }
}

/// Runs `kafka.sh ARGS…` (the harness named by `FLAME_KAFKA_HARNESS`, e.g.
/// `kill-node 2`): its stdout, or a description of the failure with its stderr.
pub fn harness(args: &[&str]) -> Result<String, String> {
    let script = env("FLAME_KAFKA_HARNESS");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "kafka.sh {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The single test broker's PLAINTEXT address.
pub fn bootstrap() -> String {
    env("FLAME_KAFKA_BOOTSTRAP")
}

/// The three-node cluster's PLAINTEXT addresses, comma-separated.
pub fn cluster_bootstrap() -> String {
    env("FLAME_KAFKA_CLUSTER_BOOTSTRAP")
}

/// A topic name no other test (or earlier run) uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{nanos:x}-{n}", std::process::id())
}

/// Records one line of the suite's closing summary (cases, messages, faults, lost,
/// duplicated, reordered): printed, and appended to the file `scripts/test.sh`
/// prints after all tests (`FLAME_KAFKA_SUMMARY_FILE`, default
/// `target/protocol-tests-summary.txt`).
pub fn summary(line: &str) {
    use std::io::Write;
    println!("{line}");
    let path = std::env::var("FLAME_KAFKA_SUMMARY_FILE").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/protocol-tests-summary.txt"
        )
        .to_owned()
    });
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = writeln!(file, "{line}");
    }
}
