#!/usr/bin/env bash
# Quick start, command 1: install system packages, build, and run the main job (encode a sample
# clip generated in-process to a target VMAF and print what was chosen).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo build --release --locked -p mediaforce-cli
./target/release/mediaforce demo --target-vmaf "${TARGET_VMAF:-93}" --serve "$@"
