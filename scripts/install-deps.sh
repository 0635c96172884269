#!/usr/bin/env bash
# Installs every Debian 12 system package that mediaforce's build, tests and main job need.
# Non-interactive and idempotent: packages already present are skipped without touching apt's lists.
set -euo pipefail

PACKAGES=(
  # FFmpeg 5.1 development libraries for ffmpeg-next (bindgen needs clang).
  libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev libavdevice-dev
  libswscale-dev libswresample-dev libclang-dev clang pkg-config
  # libvmaf 3.2, built from source by vmaf-head-sys: meson, ninja, nasm; xxd embeds the built-in models.
  meson ninja-build nasm xxd build-essential
  # A font for the labels burnt into side-by-side review clips.
  fonts-dejavu-core
  # `ip netns` and veth pairs: the many-hosts tests run each worker in a namespace of its own.
  iproute2
  # systemd-analyze checks the example service units in contrib/systemd.
  systemd
  # An SMTP server the email notification test delivers to.
  python3-aiosmtpd
  # The web page's browser tests drive Debian's headless Chromium through chromedriver.
  chromium chromium-driver
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# promtool checks the /metrics text in the server's tests. Only the tool is unpacked from
# Debian's prometheus package, into target/tools: installing the package would start a
# Prometheus server on the machine.
PROM_DIR="$(cd "$(dirname "$0")/.." && pwd)/target/tools/prometheus"
if [ ! -x "$PROM_DIR/usr/bin/promtool" ]; then
  echo "install-deps: unpacking promtool from Debian's prometheus package into $PROM_DIR"
  tmp=$(mktemp -d)
  chmod 755 "$tmp"
  if ! (cd "$tmp" && apt-get download -qq prometheus 2>/dev/null); then
    $SUDO apt-get update -qq
    (cd "$tmp" && apt-get download -qq prometheus 2>/dev/null)
  fi
  mkdir -p "$PROM_DIR"
  dpkg-deb -x "$tmp"/prometheus_*.deb "$PROM_DIR"
  rm -rf "$tmp"
  "$PROM_DIR/usr/bin/promtool" --version >/dev/null
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all system packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
