//! The third-party peers: the Java client (`peers/java/Peer.java`) and librdkafka
//! (`peers/rdkafka_peer.py`, on the confluent-kafka wheel). Both speak the same
//! JSON-lines message format on stdin/stdout, so a test can produce with one client
//! and consume with another and compare bytes.

use std::io::Write;
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Which third-party client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// Apache Kafka's Java client (kafka-clients), same release as the broker.
    Java,
    /// librdkafka through the confluent-kafka Python wheel.
    Rdkafka,
}

/// One message as the peers print and read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PeerMessage {
    /// Topic.
    pub topic: String,
    /// Partition (chosen by the producer when `None`).
    pub partition: Option<i32>,
    /// Offset (when consumed or acknowledged).
    pub offset: Option<i64>,
    /// Key, base64; `None` is a null key.
    pub key: Option<String>,
    /// Value, base64; `None` is a null value.
    pub value: Option<String>,
    /// Headers in order: name and base64 value (`None`: null value).
    pub headers: Vec<(String, Option<String>)>,
    /// Timestamp in milliseconds.
    pub timestamp: Option<i64>,
}

/// Base64 of some bytes, as the peers expect.
pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// The bytes behind a base64 field (panics on bad base64: peers never print it).
pub fn unb64(text: &str) -> Bytes {
    Bytes::from(
        B64.decode(text)
            .unwrap_or_else(|e| panic!("peer printed bad base64 {text:?}: {e}")),
    )
}

impl Peer {
    /// The command prefix from the harness environment.
    fn command(self) -> Vec<String> {
        let var = match self {
            Peer::Java => "FLAME_KAFKA_JAVA_PEER",
            Peer::Rdkafka => "FLAME_KAFKA_RDKAFKA_PEER",
        };
        crate::env(var)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// Runs the peer in `mode` with `args`, feeding `input` as JSON lines, and returns
    /// the messages it printed. Panics with the peer's stderr if it fails.
    pub fn run(self, mode: &str, args: &[&str], input: &[PeerMessage]) -> Vec<PeerMessage> {
        let lines = self.run_raw(mode, args, &to_lines(input));
        lines
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{self:?} printed {l:?}: {e}"))
            })
            .collect()
    }

    /// Runs the peer and returns its stdout as text.
    pub fn run_raw(self, mode: &str, args: &[&str], stdin: &str) -> String {
        let command = self.command();
        let (program, prefix) = command
            .split_first()
            .unwrap_or_else(|| panic!("{self:?} peer command is empty"));
        let mut child = Command::new(program)
            .args(prefix)
            .arg(mode)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {self:?} peer {program}: {e}"));
        let mut stdin_pipe = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
        let input = stdin.to_owned();
        let writer = std::thread::spawn(move || {
            let _ = stdin_pipe.write_all(input.as_bytes());
        });
        let output = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("{self:?} peer: {e}"));
        let _ = writer.join();
        if !output.status.success() {
            panic!(
                "{self:?} peer `{mode} {}` failed ({}):\n{}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

fn to_lines(messages: &[PeerMessage]) -> String {
    let mut out = String::new();
    for m in messages {
        out.push_str(&serde_json::to_string(m).unwrap_or_default());
        out.push('\n');
    }
    out
}
