#!/usr/bin/env bash
# Per-scene allocation against one knob for the whole film, at the same measured quality
# (issue: scenes). On the nine-clip input of bench-sampling.sh (129 s of different content at
# 720p), for each ENCODERS entry (encoder:preset):
#   1. `encode --chunked --target-vmaf T --per-scene optimal`: the search on samples, every
#      chunk encoded at three knobs and the three films scored frame by frame, the knobs
#      allocated, the film encoded at them and scored (its size S and mean M);
#   2. `encode --chunked --per-scene off --crf K` for one knob K at a time, from the searched
#      knob, a step cheaper while the mean holds M less 0.2, or a step better until it does:
#      the cheapest one-knob film as good as the per-scene one (its size S1).
# Prints both, their 5th percentiles, S/S1 and the wall times. VMAF at the source's size
# (SCALE=native) to keep the scorings affordable on two cores. One run; the machine is shared.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${BENCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mediaforce-bench}
SCALE=${SCALE:-native}
TARGET=${TARGET:-93}
ENCODERS=(${ENCODERS:-"libx264:fast"})
mkdir -p "$WORK"

./scripts/install-deps.sh
. ./scripts/bench-inputs.sh
bench_clips "$WORK"
cargo build --release --locked -p mediaforce-cli >/dev/null 2>&1
MF=$PWD/target/release/mediaforce
MIX=$(bench_mixed "$WORK")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export MEDIAFORCE_DATA_DIR=$T/state MEDIAFORCE_CACHE_DIR=$T/cache

secs() { python3 -c "import time; print(time.time())"; }
field() { python3 -c "import json,sys; v=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

echo "| encoder, preset | per scene: size | mean | p5 | chunks (knobs) | one knob: knob | size | mean | p5 | size per scene / one knob | per scene s | one knob s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for spec in "${ENCODERS[@]}"; do
  IFS=: read -r enc preset <<<"$spec"
  t0=$(secs)
  "$MF" encode "$MIX" -o "$T/per-scene.mkv" --chunked --jobs 2 --encoder "$enc" --preset "$preset" \
    --target-vmaf "$TARGET" --per-scene optimal --scale "$SCALE" --max-encoded-percent 400 \
    --json >"$T/per-scene.json"
  t1=$(secs)
  size=$(field "$T/per-scene.json" 'v["join"]["output_bytes"]')
  mean=$(field "$T/per-scene.json" 'round(v["vmaf"]["mean"], 2)')
  p5=$(field "$T/per-scene.json" 'round(v["vmaf"]["p5"], 2)')
  knobs=$(field "$T/per-scene.json" '"%d (%s)" % (len(v["chunks"]), " ".join(str(c["knob"]) for c in v["chunks"]))')
  k=$(field "$T/per-scene.json" 'v["knob"]')
  # The cheapest single knob at least as good: from the searched knob, cheaper while the mean
  # holds, or better until it does.
  one=""
  t2=$(secs)
  meets() {
    "$MF" encode "$MIX" -o "$T/one-$1.mkv" --chunked --jobs 2 --encoder "$enc" --preset "$preset" \
      --crf "$1" --per-scene off --scale "$SCALE" --json >"$T/one-$1.json"
    python3 -c "import json,sys; v=json.load(open(sys.argv[1])); sys.exit(0 if v['vmaf']['mean'] >= $mean - 0.2 else 1)" "$T/one-$1.json"
  }
  if meets "$k"; then
    one=$k
    for _ in $(seq 1 12); do
      k=$(python3 -c "print($k + 1)")
      meets "$k" || break
      one=$k
    done
  else
    for _ in $(seq 1 12); do
      k=$(python3 -c "print($k - 1)")
      if meets "$k"; then one=$k; break; fi
    done
  fi
  t3=$(secs)
  if [ -z "$one" ]; then
    echo "| $enc $preset | $size | $mean | $p5 | $knobs | none in 12 steps | | | | | | |"
    continue
  fi
  osize=$(field "$T/one-$one.json" 'v["join"]["output_bytes"]')
  omean=$(field "$T/one-$one.json" 'round(v["vmaf"]["mean"], 2)')
  op5=$(field "$T/one-$one.json" 'round(v["vmaf"]["p5"], 2)')
  ratio=$(python3 -c "print(round($size / $osize, 3))")
  echo "| $enc $preset | $size | $mean | $p5 | $knobs | $one | $osize | $omean | $op5 | $ratio | $(python3 -c "print(round($t1 - $t0))") | $(python3 -c "print(round($t3 - $t2))") |"
done
