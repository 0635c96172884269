# Sourced by the bench scripts: install_peer_ffmpeg DIR puts the static FFmpeg 9 (with libvmaf)
# from the PyPI wheel imageio-ffmpeg 0.8.1 at DIR/ffmpeg. For measuring only; never used by
# mediaforce itself.
install_peer_ffmpeg() {
  local dir=$1
  [ -x "$dir/ffmpeg" ] && return 0
  mkdir -p "$dir/dl"
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$dir/dl" imageio-ffmpeg==0.8.1
  python3 - "$dir" <<'PY'
import sys, zipfile, glob, os, shutil
d = sys.argv[1]
whl = glob.glob(os.path.join(d, "dl", "imageio_ffmpeg-0.8.1-*.whl"))[0]
with zipfile.ZipFile(whl) as z:
    m = [n for n in z.namelist() if "/binaries/ffmpeg-" in n][0]
    with z.open(m) as s, open(os.path.join(d, "ffmpeg"), "wb") as out:
        shutil.copyfileobj(s, out, 1 << 20)
os.chmod(os.path.join(d, "ffmpeg"), 0o755)
PY
}
