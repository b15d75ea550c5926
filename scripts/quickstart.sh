#!/usr/bin/env bash
# Starts a local single-node Kafka (from Maven Central jars, no Docker) and runs the
# quickstart example: produce and consume through the flame API.
# The broker keeps running afterwards; stop it with
#   bash protocol-tests/harness/kafka.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
harness=protocol-tests/harness/kafka.sh
bash "$harness" install
bash "$harness" start single
eval "$(bash "$harness" env)"
cargo run --locked -p flame-kafka --example quickstart -- "$FLAME_KAFKA_BOOTSTRAP"
