#!/usr/bin/env bash
# Total cost of a verified encode (issue: the quality-tuning toolkit). On the bench's long input
# (the 129 s 720p file assembled from nine clips, scripts/bench-inputs.sh), for each encoder:
#   target    `encode --target-vmaf T`: search, full encode, closed-loop VMAF scored in the same
#             pass as the encode (the default)
#   separate  the same with --verify-separately: the source is decoded again after the encode
#   plain     `encode --crf K --no-verify` at the knob the target run chose (a blind encode)
# and prints each wall time and its ratio to the plain encode, with the closed loop's VMAF and
# how it was verified. One run each; the machine is shared, so read ratios, not seconds.
#
# Environment: TARGET (95), ENCODERS ("libsvtav1:8 libx264:medium"), INPUT (the long input).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${TARGET:-95}
WORK=${BENCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mediaforce-bench}
mkdir -p "$WORK"
./scripts/install-deps.sh
. ./scripts/bench-inputs.sh
bench_clips "$WORK"
INPUT=${INPUT:-$(bench_mixed "$WORK")}
cargo build --release --locked -q -p mediaforce-cli
MF=$PWD/target/release/mediaforce
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export MEDIAFORCE_DATA_DIR=$T/state
ENCODERS=(${ENCODERS:-"libsvtav1:8" "libx264:medium"})

secs() { python3 -c "import time; print(time.time())"; }
field() { # $1 json file, $2 python expression over r
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"
}

echo "input: $(basename "$INPUT"), target VMAF $TARGET, $(nproc) cores"
printf '%-16s | %8s %8s %8s | %7s %7s | %5s %6s %9s %7s\n' \
  encoder "target s" "separ s" "plain s" "t/plain" "s/plain" knob encodes verified vmaf
for spec in "${ENCODERS[@]}"; do
  enc=${spec%%:*}; preset=${spec#*:}
  common=(--encoder "$enc" --preset "$preset" --json)
  t0=$(secs)
  "$MF" encode "$INPUT" "$T/target.mkv" "${common[@]}" --target-vmaf "$TARGET" --no-cache >"$T/target.json"
  t1=$(secs)
  "$MF" encode "$INPUT" "$T/separate.mkv" "${common[@]}" --target-vmaf "$TARGET" --no-cache --verify-separately >"$T/separate.json"
  t2=$(secs)
  knob=$(field "$T/target.json" "r['encodes'][-1]['knob']")
  "$MF" encode "$INPUT" "$T/plain.mkv" "${common[@]}" --crf "$knob" --no-verify >"$T/plain.json"
  t3=$(secs)
  python3 - "$t0" "$t1" "$t2" "$t3" "$spec" "$T/target.json" "$T/separate.json" <<'PY'
import json, sys
t0, t1, t2, t3 = map(float, sys.argv[1:5])
spec = sys.argv[5]
r = json.load(open(sys.argv[6]))
s = json.load(open(sys.argv[7]))
target, separate, plain = t1 - t0, t2 - t1, t3 - t2
last = r["encodes"][-1]
print(f"{spec:<16} | {target:8.1f} {separate:8.1f} {plain:8.1f} | {target/plain:6.2f}x {separate/plain:6.2f}x | "
      f"{last['knob']:5g} {len(r['encodes']):6d} {last['verified_by']:>9} {last['vmaf']['mean']:7.2f}")
print(f"{'':16}   search {r['search']['seconds']:.1f} s ({len(r['search']['probes'])} probes), full encodes "
      + ", ".join(f"{e['encode_seconds']:.1f} s" for e in r["encodes"])
      + f"; separate run: search {s['search']['seconds']:.1f} s, encodes "
      + ", ".join(f"{e['encode_seconds']:.1f} s + verify {e['verify_seconds']:.1f} s (VMAF {e['vmaf']['mean']:.2f})" for e in s["encodes"]))
PY
done
