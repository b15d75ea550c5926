#!/usr/bin/env bash
# Runs every example against the running test broker (FLAME_KAFKA_* from
# `kafka.sh env`), then builds the quickstart as a fully static binary
# (+crt-static on the gnu target) and runs it with an empty environment.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${FLAME_KAFKA_BOOTSTRAP:?run under scripts/test.sh, or eval \"\$(bash protocol-tests/harness/kafka.sh env)\" first}"

run() {
    local name=$1; shift
    echo "--- example $name"
    timeout 180 cargo run --locked -q -p flame-kafka --example "$name" -- "$@"
}
run quickstart "$FLAME_KAFKA_BOOTSTRAP"
run manual_commit "$FLAME_KAFKA_BOOTSTRAP"
run headers "$FLAME_KAFKA_BOOTSTRAP"
run concurrent "$FLAME_KAFKA_BOOTSTRAP"
run graceful_shutdown "$FLAME_KAFKA_BOOTSTRAP" "graceful-$$" 3
run tls_sasl

echo "--- quickstart as a static binary, empty environment"
target=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="-C target-feature=+crt-static" cargo build --locked -q -p flame-kafka \
    --example quickstart --target "$target" --target-dir target/static
binary=target/static/$target/debug/examples/quickstart
if ldd "$binary" 2>&1 | grep -qE 'not a dynamic executable|statically linked'; then
    echo "$binary is statically linked"
else
    echo "$binary is not static:"; ldd "$binary"; exit 1
fi
timeout 120 env -i "$binary" "$FLAME_KAFKA_BOOTSTRAP"
for musl in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
    if rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
        echo "--- quickstart on $musl"
        cargo build --locked -q -p flame-kafka --example quickstart --target "$musl" --target-dir target/static
        timeout 120 env -i "target/static/$musl/debug/examples/quickstart" "$FLAME_KAFKA_BOOTSTRAP"
    else
        echo "--- $musl not installed: skipped (rustup target add $musl to include it)"
    fi
done
