#!/usr/bin/env bash
# Quick start, command 2: install system packages and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
export SVT_LOG=1
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
