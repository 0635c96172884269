#!/usr/bin/env bash
# Throughput of the transfer-mode file endpoint on loopback (issue: many hosts): the transfer
# client's download and upload of a SIZE MiB file against curl on the same endpoint and file.
# Goal: at least 0.9x curl. Needs curl.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p mediaforce-server --example transfer_bench -q
BENCH_DIR=${BENCH_DIR:-target} ./target/release/examples/transfer_bench "${1:-1024}" "${2:-5}"
