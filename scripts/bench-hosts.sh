#!/usr/bin/env bash
# Scaling across hosts (issue: many hosts): N = 1, 2, 4 worker processes, each in a network
# namespace of its own reaching PostgreSQL over a veth pair, drain a queue of jobs of a fixed
# duration (held under real leases with heartbeats). Reports jobs/s and the speed-up against
# N = 1 (goal: at least 0.9 N). Needs root (ip netns). Starts a throwaway PostgreSQL 15 cluster
# and removes it and the namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
. ./scripts/pg-cluster.sh
JOBS=${JOBS:-24}
HOLD_MS=${HOLD_MS:-500}
pg_cluster_start >/dev/null
cargo build --release --example hosts_bench -q
BIN=./target/release/examples/hosts_bench
ADMIN=${MEDIAFORCE_TEST_DATABASE_URL%/*}/postgres
cleanup() {
    for n in 1 2 3 4; do
        ip netns del mfb$n 2>/dev/null || true
        ip link del mfbh$n 2>/dev/null || true
    done
    pg_cluster_stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
for n in 1 2 3 4; do
    ip netns add mfb$n
    ip link add mfbh$n type veth peer name mfbn$n
    ip link set mfbn$n netns mfb$n
    ip addr add 10.213.$((100 + n)).1/24 dev mfbh$n
    ip link set mfbh$n up
    ip netns exec mfb$n ip addr add 10.213.$((100 + n)).2/24 dev mfbn$n
    ip netns exec mfb$n ip link set mfbn$n up
    ip netns exec mfb$n ip link set lo up
done
echo "| hosts | jobs of ${HOLD_MS} ms | wall | jobs/s | speed-up | per host |"
echo "|---|---|---|---|---|---|"
base=""
for N in 1 2 4; do
    DB=mf_hosts_bench_$N
    PGOPTIONS=--client-min-messages=warning psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
    URL=${ADMIN%/*}/$DB
    "$BIN" enqueue "$URL" "$JOBS"
    start=$(date +%s.%N)
    pids=()
    out=$(mktemp -d)
    for n in $(seq 1 $N); do
        HOSTURL=${URL/127.0.0.1/10.213.$((100 + n)).1}
        ip netns exec mfb$n "$BIN" worker "$HOSTURL" host$n "$HOLD_MS" >"$out/$n" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    end=$(date +%s.%N)
    per=$(cat "$out"/* | awk '{print $2}' | paste -sd/ -)
    rm -rf "$out"
    done_jobs=$(psql -qtA "$URL" -c "SELECT count(*) FROM job WHERE state = 'done'")
    [ "$done_jobs" = "$JOBS" ] || { echo "only $done_jobs of $JOBS jobs done" >&2; exit 1; }
    python3 - "$N" "$JOBS" "$HOLD_MS" "$start" "$end" "${base:-0}" "$per" <<'PY'
import sys
n, jobs, hold, start, end, base, per = sys.argv[1:]
wall = float(end) - float(start)
rate = int(jobs) / wall
base = float(base) or rate
print(f"| {n} | {jobs} | {wall:.2f} s | {rate:.2f} | {rate / base:.2f}x | {per} |")
PY
    if [ -z "$base" ]; then
        base=$(python3 -c "print($JOBS / ($end - $start))")
    fi
done
