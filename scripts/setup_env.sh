#!/usr/bin/env bash
# Set up everything `make` needs on a fresh Debian/Ubuntu machine with Python 3.11:
# the system libraries for headless rendering (EGL), a .venv with torch==2.13.0 installed
# first (the CPU wheel; an unpinned torch would pull gigabytes of CUDA), then the pinned package.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

# 1. Headless OpenGL through EGL (Mesa's software renderer on a CPU machine).
need=()
ldconfig -p | grep -q 'libEGL.so.1 ' || need+=(libegl1)
ldconfig -p | grep -q 'libEGL_mesa.so.0' || need+=(libegl-mesa0)
ldconfig -p | grep -q 'libGLESv2.so.2' || need+=(libgles2)
ldconfig -p | grep -q 'libGL.so.1 ' || need+=(libgl1)
ls /usr/lib/x86_64-linux-gnu/dri/swrast_dri.so /usr/lib/*/dri/swrast_dri.so >/dev/null 2>&1 || need+=(libgl1-mesa-dri)
# Headless Chromium and its driver, for the web demo's end-to-end test.
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages for headless rendering and browser tests: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  # wait (up to 10 minutes) for another apt or dpkg process to let go of its lock instead of failing at once
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}"
fi

# 2. The virtual environment.
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))'; then PY=$c; break; fi
  done
fi
[ -n "$PY" ] || { echo "error: Python >= 3.11 not found (set PYTHON=...)"; exit 1; }
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q torch==2.13.0
"$VENV/bin/python" -m pip install -q -e ".[dev]"
"$VENV/bin/python" -c "import sdfnets, torch; print(f'sdfnets {sdfnets.__version__} with torch {torch.__version__} ready in $VENV')"
