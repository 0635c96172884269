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
. ./scripts/bench-inputs.sh
bench_clips "$WORK"
cargo build --release --locked -p mediaforce-cli >/dev/null 2>&1
MF=$PWD/target/release/mediaforce
MIX=$(bench_mixed "$WORK")

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
