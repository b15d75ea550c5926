#!/usr/bin/env bash
# bench/run.sh: builds the `bench` binary (release, its own workspace and target dir)
# and runs it against a real broker; prints one table.
#
#   bash bench/run.sh            main cells, every client          (< 10 min on 2 cores)
#   bash bench/run.sh --quick    50k-record cells, every client    (< 1 min)
#   bash bench/run.sh --smoke    two cells, flame + rdkafka        (seconds, once built)
#   bash bench/run.sh --full     every size × acks × compression
#   bash bench/run.sh --clients flame,rdkafka --only produce --out table.md
#
# Broker: $FLAME_KAFKA_BOOTSTRAP if set; else the harness's single node
# (protocol-tests/harness/kafka.sh), started here if it is not running and then
# stopped again on exit. A broker this script did not start is never stopped.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
HARNESS=$REPO/protocol-tests/harness/kafka.sh

log() { echo "[bench/run.sh] $*" >&2; }

started=0
cleanup() {
    if ((started)); then
        log "stopping the broker this script started"
        bash "$HARNESS" stop single >&2 || true
    fi
}
trap cleanup EXIT

if [[ -z ${FLAME_KAFKA_BOOTSTRAP:-} ]]; then
    # Read the status whole first: `status | grep -q` under pipefail can fail on
    # SIGPIPE and look like "not running".
    status=$(bash "$HARNESS" status 2>&1 || true)
    if [[ $status != *"node single: running"* ]]; then
        log "no single-node broker running: installing and starting one"
        bash "$HARNESS" install >&2
        rc=0
        out=$(bash "$HARNESS" start single 2>&1) || rc=$?
        printf '%s\n' "$out" >&2
        # Stop it at exit only if this script really started it.
        if [[ $out != *"already running"* ]]; then started=1; fi
        ((rc == 0)) || exit "$rc"
    fi
    eval "$(bash "$HARNESS" env)"
fi
export FLAME_KAFKA_BOOTSTRAP
log "broker: $FLAME_KAFKA_BOOTSTRAP"

log "building bench (release)"
cargo build --release --manifest-path "$BENCH/Cargo.toml" >&2

rc=0
"$BENCH/target/release/bench" "$@" || rc=$?
exit $rc
