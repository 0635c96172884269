#!/usr/bin/env bash
# Queue overhead on PostgreSQL (issue: many hosts): claims plus completions per second of empty
# jobs with 1, 8, 32 and 64 concurrent workers, each with its own connection, and the claim
# latency. Starts a throwaway PostgreSQL 15 cluster (scripts/pg-cluster.sh) and removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
. ./scripts/pg-cluster.sh
pg_cluster_start >/dev/null
cargo build --release --example queue_bench -q
ADMIN=${MEDIAFORCE_TEST_DATABASE_URL%/*}/postgres
./target/release/examples/queue_bench "$ADMIN" ${*:-1 8 32 64}
