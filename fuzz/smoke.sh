#!/usr/bin/env bash
# A bounded fuzz pass for CI, on stable Rust: every target for FUZZ_SECONDS (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --locked --manifest-path fuzz/Cargo.toml --no-default-features \
    --example stable_fuzz -- run all "${FUZZ_SECONDS:-20}"
