#!/usr/bin/env bash
# Analytics at 100,000 files (issue: what the library holds and what it saved): a generated
# library of 3 real files is scanned, its catalog grown to N files (default 100,000) by copying
# their rows under other paths, codecs, resolutions and sizes, and PROMOTED of them (default
# 10,000) given an item, an encode and a promotion spread over the last 120 days (one in ten of
# those rolled back later), and the whole library planned. Then `mediaforce stats` (JSON) is timed for each range, and
# `GET /api/stats` and `GET /metrics` on `mediaforce serve`: the median of RUNS (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p mediaforce-cli
cargo build --release --locked -q -p mediaforce-server --example web_fixture
T=$(mktemp -d)
M=./target/release/mediaforce
N=${FILES:-100000}
P=${PROMOTED:-10000}
RUNS=${RUNS:-5}
export MEDIAFORCE_DATA_DIR=$T/state MEDIAFORCE_CACHE_DIR=$T/cache MEDIAFORCE_POLICY_RANKING_MIN_SIZE_MB=0
PORT=${PORT:-18783}
cleanup() { kill "${SERVE:-}" 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"; }
trap cleanup EXIT
./target/release/examples/web_fixture "$T/library" 3 >/dev/null
$M settings add-root "$T/library" >/dev/null
$M settings set-transcode-root "$T/transcode" >/dev/null
$M scan >/dev/null
$M stats --json >/dev/null   # brings the schema up to date
python3 scripts/grow-catalog.py "$T/state/catalog.db" "$N" "$T/library"
python3 - "$T/state/catalog.db" "$P" <<'PY'
import sqlite3, sys, random, time
db, p = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
random.seed(11)
now = int(time.time())
files = c.execute("SELECT id, path, size, video_codec FROM file ORDER BY id LIMIT ?", (p,)).fetchall()
for k, (fid, path, size, codec) in enumerate(files):
    at = now - random.randint(0, 120 * 86400)
    c.execute("INSERT INTO item (manifest, idx, file_id, source, staging, state, updated_at) "
              "VALUES ('bench', ?, ?, ?, ?, 'promoted', ?)", (k, fid, path, path + ".enc", at))
    item = c.execute("SELECT last_insert_rowid()").fetchone()[0]
    out = size * random.randint(20, 70) // 100
    c.execute("INSERT INTO encode (item_id, at, host, source, source_bytes, source_codec, encoder, "
              "encoder_fingerprint, knob, predicted_vmaf, measured_vmaf, output_bytes, wall_seconds, "
              "fps, target, corrections) VALUES (?, ?, ?, ?, ?, ?, ?, 'fp', 30, 93, ?, ?, ?, ?, 93, ?)",
              (item, at - 600, f"host-{k % 4}", path, size, codec, ["libsvtav1", "libx264"][k % 2],
               93 + random.uniform(-1.5, 4), out, random.uniform(300, 7200), random.uniform(10, 90),
               1 if k % 7 == 0 else 0))
    c.execute("INSERT INTO item_event (item_id, at, kind) VALUES (?, ?, 'promoted')", (item, at))
    if k % 10 == 0:
        c.execute("INSERT INTO item_event (item_id, at, kind) VALUES (?, ?, 'rolled_back')", (item, min(now, at + 86400)))
        c.execute("UPDATE item SET state = 'rolled_back' WHERE id = ?", (item,))
c.commit()
print("files in the catalog:", c.execute("SELECT COUNT(*) FROM file").fetchone()[0],
      "; promotions:", c.execute("SELECT COUNT(*) FROM item_event WHERE kind = 'promoted'").fetchone()[0])
PY
# A plan over the whole library: what `stats` reads for the expected savings still waiting.
s=$(date +%s.%N); $M plan --json > "$T/plan.json"; e=$(date +%s.%N)
python3 - "$T/plan.json" "$s" "$e" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
items = p.get("plan", p).get("items", [])
print(f"plan: {len(items)} items in {float(sys.argv[3]) - float(sys.argv[2]):.1f} s")
PY
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); python3 -c "print(round($e - $s, 3))"; }
echo "| what | median of $RUNS (s) |"
echo "|---|---|"
for r in 7d 30d 1y all; do
  t=$(for _ in $(seq 1 "$RUNS"); do timed $M stats --since $r --json; done | median)
  echo "| \`mediaforce stats --since $r --json\` | $t |"
done
# The analyzers' pass over the whole catalog (duplicates confirmed by decoding a few frames of
# the 50 largest groups; nothing else is read beyond the catalog).
t=$(for _ in $(seq 1 "$RUNS"); do timed $M analyze --json; done | median)
echo "| \`mediaforce analyze --json\` | $t |"
$M analyze --json | python3 -c "import json,sys; v=json.load(sys.stdin); print('| analyze found |', len(v['duplicates']), 'duplicate groups,', sum(1 for d in v['duplicates'] if d['confirmed']), 'confirmed,', len(v['quality_gaps']), 'quality gaps,', len(v['batches']), 'batches,', len(v['unreadable']), 'unreadable |')"
MEDIAFORCE_WEB_PASSWORD=bench-password $M web-password >/dev/null
$M serve --bind 127.0.0.1:$PORT --no-automation 2>/dev/null &
SERVE=$!
for _ in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:$PORT/login && break; sleep 0.1; done
cookie=$(curl -s -i -d password=bench-password http://127.0.0.1:$PORT/login | tr -d '\r' | sed -n 's/^set-cookie: \(mf_session=[0-9a-f]*\).*/\1/ip')
for path in "/api/stats?range=30d" "/analytics?range=30d" "/metrics"; do
  t=$(for _ in $(seq 1 "$RUNS"); do curl -s -o /dev/null -w '%{time_total}\n' -H "Cookie: $cookie" "http://127.0.0.1:$PORT$path"; done | median)
  echo "| \`GET $path\` | $t |"
done
# The server keeps what people look at fresh (computed again off the request path when the
# store changes): REQUESTS views of each page in a row, the first one included.
REQUESTS=${REQUESTS:-100}
echo
echo "| what ($REQUESTS requests) | first (s) | median (s) | p99 (s) | max (s) |"
echo "|---|---|---|---|---|"
for path in "/api/stats?range=7d" "/analytics?range=90d"; do
  for _ in $(seq 1 "$REQUESTS"); do curl -s -o /dev/null -w '%{time_total}\n' -H "Cookie: $cookie" "http://127.0.0.1:$PORT$path"; done > "$T/times"
  python3 - "$T/times" "$path" <<'PY'
import math, sys
t = [float(x) for x in open(sys.argv[1])]
s = sorted(t)
# Nearest rank: the smallest time at least q of the requests took no longer than.
pick = lambda q: s[max(0, min(len(s), math.ceil(q * len(s))) - 1)]
print(f"| `GET {sys.argv[2]}` | {t[0]:.3f} | {pick(0.5):.3f} | {pick(0.99):.3f} | {s[-1]:.3f} |")
PY
done
