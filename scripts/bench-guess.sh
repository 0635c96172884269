#!/usr/bin/env bash
# Probes per search with and without the learned first guess (issue: the quality-tuning
# toolkit). A training corpus of generated 640x360 10 s clips (textures 2, 5, ... 35) is
# measured with `mediaforce grid`; held-out clips (other textures, each in its own folder, so
# no folder guess helps) are then encoded to the target with the knob model off and on, and
# the probes each search ran are counted from the job events. A "season" folder of clips shows
# the folder's measured guess. Reports the model's leave-one-out accuracy too.
#
# PUBLIC=1: no training here. The store starts empty, so the model is the one fitted on the
# shipped corpus (crates/mediaforce-search/data/shipped-corpus.jsonl, public clips, scripts/fit-shipped-corpus.sh); the
# held-out searches run on the public clips kept out of that corpus (bench-inputs.sh), each in
# its own folder, with the default encoder and target (SVT-AV1 preset 8, VMAF 95), or
# ENCODER, PRESET and TARGET. LEARNED_ONLY=1 skips the run with the policy's first guess.
set -euo pipefail
cd "$(dirname "$0")/.."
# MEDIAFORCE_BIN: use that binary instead of building the release one (PUBLIC=1 only).
if [ -z "${MEDIAFORCE_BIN:-}" ]; then
  cargo build --release --locked -q -p mediaforce-cli
  cargo build --release --locked -q -p mediaforce-server --example web_fixture
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
M=${MEDIAFORCE_BIN:-$PWD/target/release/mediaforce}
FX=$PWD/target/release/examples/web_fixture
PUBLIC=${PUBLIC:-0}
if [ "$PUBLIC" = 1 ]; then
  ENC=${ENCODER:-libsvtav1} PRESET=${PRESET:-8} TARGET=${TARGET:-95}
else
  ENC=${ENCODER:-libx264} PRESET=${PRESET:-veryfast} TARGET=${TARGET:-93}
fi
export MEDIAFORCE_POLICY_RANKING_MIN_SIZE_MB=0 MEDIAFORCE_POLICY_ENCODE_ENCODER=$ENC \
  MEDIAFORCE_POLICY_ENCODE_PRESET=$PRESET MEDIAFORCE_POLICY_ENCODE_TARGET_VMAF=$TARGET \
  MEDIAFORCE_POLICY_ENCODE_TOLERANCE=1.5
export MEDIAFORCE_DATA_DIR=$T/base MEDIAFORCE_CACHE_DIR=$T/cache
if [ "$PUBLIC" = 1 ]; then
  . scripts/bench-inputs.sh
  WORK=${BENCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mediaforce-bench}
  public_clips "$WORK"
  for f in "$WORK"/public/held/*; do
    n=$(basename "$f"); mkdir -p "$T/held/${n%.*}"; cp -L "$f" "$T/held/${n%.*}/"
  done
  mkdir -p "$T/base"
  $M model --encoder "$ENC" --preset "$PRESET" --target "$TARGET" --json > "$T/model.json"
fi
[ "$PUBLIC" = 1 ] || $FX "$T/train" "${TRAIN:-12}" 2 >/dev/null
[ "$PUBLIC" = 1 ] || for i in $(seq 0 $(( ${HELD:-6} - 1 ))); do $FX "$T/held/f$i" 1 $(( 3 + 5 * i )) >/dev/null; done
# A "season": episodes alike but not identical (textures 40..45).
[ "$PUBLIC" = 1 ] || $FX "$T/season" 6 40 1 >/dev/null

# Train: one store with the grid's rows.
if [ "$PUBLIC" != 1 ]; then
start=$(date +%s.%N)
$M grid "$T"/train/*.mkv --encoder "$ENC" --preset "$PRESET" --knob "${KNOBS:-14..40:2}" --out "$T/corpus.jsonl" --json > "$T/grid.json"
grid_s=$(python3 -c "import sys; print(f'{float(sys.argv[2])-float(sys.argv[1]):.0f}')" "$start" "$(date +%s.%N)")
$M model --json > "$T/model.json"
fi

run() { # $1: name, $2: learned_guess, $3: folder, $4: the store to start from ($T/base)
  local D=$T/run-$1
  cp -r "${4:-$T/base}" "$D"
  MEDIAFORCE_DATA_DIR=$D MEDIAFORCE_POLICY_ENCODE_LEARNED_GUESS=$2 $M settings add-root "$3" >/dev/null
  MEDIAFORCE_DATA_DIR=$D $M settings set-transcode-root "$T/out-$1" >/dev/null
  MEDIAFORCE_DATA_DIR=$D MEDIAFORCE_POLICY_ENCODE_LEARNED_GUESS=$2 $M campaign "$3" >/dev/null
  MEDIAFORCE_DATA_DIR=$D MEDIAFORCE_POLICY_ENCODE_LEARNED_GUESS=$2 $M encode --all --jobs 1 --json > "$T/$1.json"
  python3 - "$D/catalog.db" "$T/$1.json" "$1" "$TARGET" <<'PY'
import json, sqlite3, sys
db, results, name, target = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
c = sqlite3.connect(db)
probes = [n for (n,) in c.execute(
    "SELECT COUNT(*) FROM job_event WHERE kind = 'probe_scored' GROUP BY job ORDER BY job")]
first = [json.loads(d)["knob"] for (j, d) in c.execute(
    "SELECT job, detail FROM job_event WHERE kind = 'probe_scored' ORDER BY id")]
measured = [r["measured_vmaf"] for r in json.load(open(results)) if r.get("measured_vmaf") is not None]
inside = sum(1 for v in measured if target - 0.5 <= v <= target + 1.5)
print(f"| {name} | {len(probes)} | {sum(probes)/len(probes):.2f} | {' '.join(map(str, probes))} | {inside}/{len(measured)} in [{target-0.5}, {target+1.5}]: {' '.join(f'{v:.2f}' for v in measured)} |")
PY
}
[ "$PUBLIC" = 1 ] || echo "grid: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["written"], "rows")' "$T/grid.json") in ${grid_s} s"
python3 - "$T/model.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"model: {m['model']['sources']} sources ({m['model']['shipped_sources']} shipped), {m['model']['kind']} used, uncertainty {m['model']['residual_sd']:.2f} knob")
for a in m["leave_one_out"]:
    print(f"  leave-one-out {a['kind']}: mean |knob error| {a['mean_abs_knob_error']:.2f} (rms {a['rms_knob_error']:.2f}), "
          f"implied VMAF miss {a['mean_abs_vmaf_miss']:.2f}, {a['within_1_vmaf']*100:.0f}% within 1 VMAF")
PY
echo "| run | searches | mean probes | probes each | closed-loop VMAF |"
echo "|---|---|---|---|---|"
[ "${LEARNED_ONLY:-0}" = 1 ] || run held-out-policy false "$T/held"
run held-out-learned true "$T/held"
[ "$PUBLIC" = 1 ] && exit 0
run season-folder-guess false "$T/season"
# The same season calibrated first (3 files searched on samples), then encoded.
C=$T/base-calibrated
cp -r "$T/base" "$C"
MEDIAFORCE_DATA_DIR=$C $M settings add-root "$T/season" >/dev/null
MEDIAFORCE_DATA_DIR=$C $M scan >/dev/null
MEDIAFORCE_DATA_DIR=$C MEDIAFORCE_POLICY_ENCODE_LEARNED_GUESS=false $M calibrate "$T/season" --files 3 --json \
  | python3 -c 'import json,sys; v=json.load(sys.stdin); print("calibration:", sum(f["probes"] for f in v["files"]), "probes over", len(v["files"]), "files; saved", v["saved"])' > "$T/calibration.txt"
run season-calibrated false "$T/season" "$C"
cat "$T/calibration.txt"
