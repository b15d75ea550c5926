#!/usr/bin/env bash
# The whole test suite: installs and starts the real Kafka brokers the tests need
# (one node and a three-node cluster, from Maven Central jars), runs every test of
# the workspace against them, runs every example (and the quickstart as a static
# binary in an empty environment), and stops the brokers again.
#
# With FLAME_KAFKA_EXTERNAL=1 it starts nothing and uses the brokers named by the
# FLAME_KAFKA_* variables (e.g. the docker-compose cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
harness=protocol-tests/harness/kafka.sh

if [[ ${FLAME_KAFKA_EXTERNAL:-0} != 1 ]]; then
    bash "$harness" install
    trap 'bash "$harness" stop all || true' EXIT
    bash "$harness" start single
    bash "$harness" start cluster
fi
eval "$(bash "$harness" env)"

summary=target/protocol-tests-summary.txt
mkdir -p target && rm -f "$summary"
# Two cores: one test binary at a time, tests inside a binary in parallel threads.
cargo test --workspace --locked "$@"

echo; echo "=== protocol-tests summary"; cat "$summary" 2>/dev/null || echo "(no summary lines)"

# Every example against the broker, and the quickstart as a static binary.
bash scripts/run-examples.sh
