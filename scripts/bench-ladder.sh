#!/usr/bin/env bash
# The Pareto ladder against the brute-force way (issue: the quality-tuning toolkit). One 1080p
# clip (20 s cut from the bench's assembled 1080p input, scripts/bench-search.sh), x264:
#   ladder  `mediaforce ladder --resolution 1080 720 540 360 --knob 18..33:5` on in-memory
#           samples (a fresh store, nothing cached)
#   full    every (height, crf) point as a separate full encode with Debian's FFmpeg (the same
#           libx264 mediaforce links; scale=-2:H bicubic), each scored with `mediaforce score`
#           against the clip (upscaled to 1080p, index-paired frames)
# Prints both wall times and their ratio, every point's VMAF and bit rate both ways, and the two
# hulls. One run; the machine is shared, so read ratios, not seconds.
#
# Environment: ENCODER (libx264), PRESET (medium), KNOBS (18..33:5), HEIGHTS ("1080 720 540 360").
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${BENCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mediaforce-bench}
ENC=${ENCODER:-libx264}
PRESET=${PRESET:-medium}
KNOBS=${KNOBS:-18..33:5}
HEIGHTS=(${HEIGHTS:-1080 720 540 360})
mkdir -p "$WORK"
./scripts/install-deps.sh
. ./scripts/bench-inputs.sh
bench_clips "$WORK"
LONG="$WORK/assembled-1080p-180s.mkv"
[ -s "$LONG" ] || { echo "run scripts/bench-search.sh once to assemble $LONG" >&2; exit 1; }
CLIP="$WORK/ladder-1080p-20s.mkv"
[ -s "$CLIP" ] || ffmpeg -v error -y -ss 40 -i "$LONG" -t 20 -an -c:v libx264 -preset fast -crf 14 "$CLIP"
cargo build --release --locked -q -p mediaforce-cli
MF=$PWD/target/release/mediaforce
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
secs() { python3 -c "import time; print(time.time())"; }

res_args=(); for h in "${HEIGHTS[@]}"; do res_args+=(--resolution "$h"); done
t0=$(secs)
MEDIAFORCE_DATA_DIR=$T/state "$MF" ladder "$CLIP" --encoder "$ENC" --preset "$PRESET" \
  "${res_args[@]}" --knob "$KNOBS" --out "$T/ladder" --json >"$T/ladder.json" 2>/dev/null
t1=$(secs)

knobs=$(python3 -c "
a, rest = '$KNOBS'.split('..'); b, s = rest.split(':')
a, b, s = float(a), float(b), float(s)
k = a
while k <= b + 1e-9:
    print('%g' % k); k += s")
: >"$T/full.tsv"
dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$CLIP")
for h in "${HEIGHTS[@]}"; do
  for k in $knobs; do
    out="$T/full-$h-$k.mkv"
    ffmpeg -v error -y -i "$CLIP" -vf "scale=-2:$h:flags=bicubic" -c:v "$ENC" -preset "$PRESET" -crf "$k" -an "$out"
    vmaf=$("$MF" score "$CLIP" "$out" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['vmaf']['mean'])")
    printf '%s\t%s\t%s\t%s\n' "$h" "$k" "$vmaf" "$(python3 -c "import os; print(os.path.getsize('$out') * 8 / $dur)")" >>"$T/full.tsv"
    rm -f "$out"
  done
done
t2=$(secs)

python3 - "$t0" "$t1" "$t2" "$T/ladder.json" "$T/full.tsv" <<'PY'
import json, sys
t0, t1, t2 = map(float, sys.argv[1:4])
l = json.load(open(sys.argv[4]))
full = {}
for line in open(sys.argv[5]):
    h, k, v, r = line.split()
    full[(int(h), float(k))] = (float(r), float(v))

def hull(points):
    # The same rule as mediaforce::ladder::upper_hull: Pareto front, then the upper convex hull.
    order = sorted(points, key=lambda p: (points[p][0], -points[p][1]))
    front = []
    for p in order:
        if not front or points[p][1] > points[front[-1]][1]:
            front.append(p)
    out = []
    for p in front:
        while len(out) >= 2:
            a, b, c = points[out[-2]], points[out[-1]], points[p]
            if (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]) >= 0:
                out.pop()
            else:
                break
        out.append(p)
    return out

ladder = {(p["height"], p["knob"]): (p["bit_rate"], p["vmaf"]) for p in l["points"]}
# Full encodes are keyed by the asked height; the ladder's 1080 row is the source's size.
lh = [k for k in hull(ladder)]
fh = [k for k in hull(full)]
print(f"clip: {l['display_width']}x{l['display_height']}, {l['duration_seconds']:.0f} s, {l['encoder']} preset {l['preset']}, "
      f"{len(l['points'])} points; ladder on {l['samples']} samples ({l['sample_seconds']:.0f} s)")
print(f"wall: ladder {t1 - t0:.1f} s, separate full encodes {t2 - t1:.1f} s, ratio {(t1 - t0) / (t2 - t1):.2f}x")
print(f"{'height':>6} {'crf':>4} | {'VMAF lad':>8} {'full':>7} {'diff':>6} | {'kb/s lad':>9} {'full':>9} {'diff':>6} | hull")
diffs, rdiffs = [], []
for key in sorted(ladder, key=lambda k: (-k[0], k[1])):
    lr, lv = ladder[key]
    fr, fv = full.get(key, (float('nan'), float('nan')))
    diffs.append(lv - fv); rdiffs.append(100 * (lr / fr - 1))
    mark = ("L" if key in lh else "-") + ("F" if key in fh else "-")
    print(f"{key[0]:>6} {key[1]:>4g} | {lv:8.2f} {fv:7.2f} {lv - fv:+6.2f} | {lr/1000:9.0f} {fr/1000:9.0f} {100*(lr/fr-1):+5.1f}% | {mark}")
print(f"mean |VMAF diff| {sum(map(abs, diffs)) / len(diffs):.2f}, mean |bit rate diff| {sum(map(abs, rdiffs)) / len(rdiffs):.1f}%")
print(f"hull points: ladder {len(lh)}, full {len(fh)}, in both {len(set(lh) & set(fh))}")
print("rungs:", ", ".join(f"{r['height']}p crf {r['knob']:g} ({r['vmaf']:.1f}, {r['bit_rate']/1000:.0f} kb/s)" for r in l["rungs"]))
PY
