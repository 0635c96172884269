#!/usr/bin/env bash
# Scan throughput: `mediaforce scan` (in-process probes, parallel) against `ffprobe` run once
# per file as a subprocess (what shell-script library managers do), on the same generated tree,
# then the time of an incremental rescan of an unchanged 10,000-file tree.
#
# Usage: scripts/bench-scan.sh [FILES_PER_FOLDER (1000)] [FOLDERS (10)]
# The peer is Debian's ffprobe (package ffmpeg: the same FFmpeg 5.1 libraries mediaforce links),
# installed for measuring only.
set -euo pipefail
cd "$(dirname "$0")/.."
PER=${1:-1000}
FOLDERS=${2:-10}

if ! command -v ffprobe >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq ffmpeg >/dev/null; else sudo apt-get install -y -qq ffmpeg >/dev/null; fi
fi
bash scripts/install-deps.sh >/dev/null
cargo build --release -q -p mediaforce-cli
MF=$PWD/target/release/mediaforce

WORK=$(mktemp -d /tmp/mediaforce-bench-scan.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
LIB=$WORK/library
mkdir -p "$LIB"
# One small clip (video + audio), copied with a unique tail so every file has its own content.
"$MF" sample "$WORK/seed.mkv" --width 160 --height 96 --frames 24 --audio >/dev/null
for d in $(seq 0 $((FOLDERS - 1))); do
  mkdir -p "$LIB/folder$d"
  for i in $(seq 0 $((PER - 1))); do
    f="$LIB/folder$d/clip$i.mkv"
    cp "$WORK/seed.mkv" "$f"
    printf 'mediaforce-bench-%08d-%08d' "$d" "$i" >>"$f"
  done
done
TOTAL=$((PER * FOLDERS))
echo "tree: $TOTAL files ($(du -sh "$LIB" | cut -f1)) in $FOLDERS folders; seed $(stat -c %s "$WORK/seed.mkv") bytes"
sync

now() { date +%s.%N; }
minus() { python3 -c "print($1 - $2)"; }
# Warm the page cache for both tools alike.
cat "$LIB"/folder0/* >/dev/null

# ffprobe, one process per file, on folder0.
t0=$(now)
for f in "$LIB"/folder0/*.mkv; do
  ffprobe -v quiet -print_format json -show_format -show_streams "$f" >/dev/null
done
t1=$(now)
FF_S=$(minus "$t1" "$t0")

# mediaforce, fresh catalog, the same folder.
export MEDIAFORCE_DATA_DIR=$WORK/state
"$MF" settings add-root "$LIB" >/dev/null
t0=$(now)
"$MF" scan --prefix "$LIB/folder0" --json >"$WORK/scan0.json"
t1=$(now)
MF_S=$(minus "$t1" "$t0")
python3 - "$WORK/scan0.json" "$PER" "$FF_S" "$MF_S" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); n = int(sys.argv[2]); ff = float(sys.argv[3]); mf = float(sys.argv[4])
assert r["new"] == n and r["errors"] == 0, r
print(f"first scan of {n} files: ffprobe per file {ff:.2f} s ({n/ff:.0f} files/s), "
      f"mediaforce scan {mf:.2f} s ({n/mf:.0f} files/s, process included): {ff/mf:.1f}x faster")
PY

# The rest of the tree, then an unchanged rescan of everything, three times.
"$MF" scan --json >"$WORK/scan1.json"
for k in 1 2 3; do
  t0=$(now)
  "$MF" scan --json >"$WORK/rescan.json"
  t1=$(now)
  python3 - "$WORK/rescan.json" "$TOTAL" "$(minus "$t1" "$t0")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); n = int(sys.argv[2]); wall = float(sys.argv[3])
assert r["files"] == n and r["unchanged"] == n and r["probed"] == 0, r
print(f"rescan of unchanged {n}-file tree: {wall:.3f} s wall (process included), {r['seconds']:.3f} s in scan, 0 probes")
PY
done
