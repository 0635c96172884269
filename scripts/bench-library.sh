#!/usr/bin/env bash
# The library page at 100,000 files (issue: the web page): a generated library of 3 real files
# is scanned, then its catalog is grown to N files (default 100,000) by copying their rows
# under other paths, codecs, resolutions and sizes. `mediaforce serve` then answers wrk
# (Debian's; 1 thread, 4 connections, 10 s each) for the library's JSON API under several
# filters and sorts, the deep last page included. Reports latency percentiles and errors.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null); }
cargo build --release --locked -q -p mediaforce-cli
cargo build --release --locked -q -p mediaforce-server --example web_fixture
T=$(mktemp -d)
M=./target/release/mediaforce
N=${FILES:-100000}
export MEDIAFORCE_DATA_DIR=$T/state MEDIAFORCE_CACHE_DIR=$T/cache MEDIAFORCE_POLICY_RANKING_MIN_SIZE_MB=0
PORT=${PORT:-18781}
cleanup() { kill "${SERVE:-}" 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$T"; }
trap cleanup EXIT
./target/release/examples/web_fixture "$T/library" 3 >/dev/null
$M settings add-root "$T/library" >/dev/null
$M settings set-transcode-root "$T/transcode" >/dev/null
$M scan >/dev/null
python3 scripts/grow-catalog.py "$T/state/catalog.db" "$N" "$T/library"
MEDIAFORCE_WEB_PASSWORD=bench-password $M web-password >/dev/null
$M serve --bind 127.0.0.1:$PORT 2>/dev/null &
SERVE=$!
for _ in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:$PORT/login && break; sleep 0.1; done
cookie=$(curl -s -i -d password=bench-password http://127.0.0.1:$PORT/login | tr -d '\r' | sed -n 's/^set-cookie: \(mf_session=[0-9a-f]*\).*/\1/ip')
[ -n "$cookie" ] || { echo "could not sign in" >&2; exit 1; }
last=$(( N - 100 ))
echo "| query | matches | req/s | p50 | p90 | p99 | errors |"
echo "|---|---|---|---|---|---|---|"
for q in "" "sort=size&desc=true" "codec=hevc" "min_height=2160&dynamic_range=hdr" \
         "folder=$T/library/Show%200042" "state=none&sort=bit_rate" "offset=$last" \
         "min_bytes=10000000000&sort=height&desc=true&offset=5000"; do
  total=$(curl -s -H "Cookie: $cookie" "http://127.0.0.1:$PORT/api/library?$q&limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
  out=$(wrk -t1 -c4 -d${SECONDS_LOAD:-10}s --latency -H "Cookie: $cookie" "http://127.0.0.1:$PORT/api/library?$q")
  python3 - "$out" "${q:-(first page, by path)}" "$total" "$T/library" <<'PY'
import re, sys
out, q, total, root = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
lat = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M))
reqs = re.search(r"(\d+) requests in ([\d.]+)s", out)
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
sock = re.search(r"Socket errors: (.*)", out)
n, secs = int(reqs.group(1)), float(reqs.group(2))
errors = int(bad.group(1)) if bad else 0
print(f"| `{q.replace(root, 'LIB')}` | {total} | {n/secs:.0f} | {lat['50']} | {lat['90']} | {lat['99']} | {errors}{' ' + sock.group(1) if sock else ''} |")
PY
done
