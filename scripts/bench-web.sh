#!/usr/bin/env bash
# The dashboard's API under load while two encodes run (issue: the web page): a generated
# library is planned and encoded with two jobs by `mediaforce encode --all --jobs 2`, while
# `mediaforce serve` answers wrk (Debian's) for 30 s from a second process. Reports latency
# percentiles and errors. Goal: p99 under 100 ms and no errors.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null); }
cargo build --release --locked -q -p mediaforce-cli
cargo build --release --locked -q -p mediaforce-server --example web_fixture
T=$(mktemp -d)
M=./target/release/mediaforce
export MEDIAFORCE_DATA_DIR=$T/state MEDIAFORCE_CACHE_DIR=$T/cache MEDIAFORCE_POLICY_RANKING_MIN_SIZE_MB=0
PORT=${PORT:-18780}
cleanup() { kill "${SERVE:-}" "${ENCODE:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
./target/release/examples/web_fixture "$T/library" "${FILES:-8}" >/dev/null
$M settings add-root "$T/library" >/dev/null
$M settings set-transcode-root "$T/transcode" >/dev/null
$M campaign "$T/library" >/dev/null
MEDIAFORCE_WEB_PASSWORD=bench-password $M web-password >/dev/null
$M serve --bind 127.0.0.1:$PORT 2>/dev/null &
SERVE=$!
${ENCODE_NICE:+nice -n $ENCODE_NICE} ${ENCODE_PREFIX:-} $M encode --all --jobs 2 >/dev/null 2>&1 &
ENCODE=$!
# Wait until both encodes run.
for _ in $(seq 1 120); do
  running=$($M jobs list --state running --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
  [ "$running" -ge 2 ] && break
  sleep 0.5
done
echo "encodes running when the load starts: $running"
cookie=$(curl -s -i -d password=bench-password http://127.0.0.1:$PORT/login | tr -d '\r' | sed -n 's/^set-cookie: \(mf_session=[0-9a-f]*\).*/\1/ip')
[ -n "$cookie" ] || { echo "could not sign in" >&2; exit 1; }
out=$(wrk -t2 -c16 -d${SECONDS_LOAD:-30}s --latency -H "Cookie: $cookie" http://127.0.0.1:$PORT${LOAD_PATH:-/api/dashboard})
running_after=$($M jobs list --state running --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
echo "$out"
echo "encodes still running when the load ended: $running_after"
python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
reqs = re.search(r"(\d+) requests in ([\d.]+)s", out)
errors = re.search(r"Socket errors: (.*)", out)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
print("| requests | req/s | p50 | p90 | p99 | non-2xx | socket errors |")
print("|---|---|---|---|---|---|---|")
n, secs = int(reqs.group(1)), float(reqs.group(2))
print(f"| {n} | {n/secs:.0f} | {lat.get('50')} | {lat.get('90')} | {lat.get('99')} | {non2xx.group(1) if non2xx else 0} | {errors.group(1) if errors else 'none'} |")
PY
