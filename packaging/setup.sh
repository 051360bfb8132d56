# Sourced by run.sh and test.sh: installs what a bare machine lacks. Idempotent; a second run takes seconds.
# shellcheck shell=bash

# Portable builds: the machines here report AMX and a native llama.cpp build crashes in its AMX kernel;
# a shop's machine is not the build machine either. OpenMP off avoids a libgomp clash with torch.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_OPENMP=OFF}"
export HNSWLIB_NO_NATIVE=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PIP_DISABLE_PIP_VERSION_CHECK=1

_apt_install() {
  # Install Debian packages that are missing (as root, or with sudo when there is one).
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

_python() {
  # A Python 3.11 with venv: the machine's own, else Debian's.
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys, venv; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  _apt_install python3 python3-venv python3-dev build-essential cmake >&2
  echo python3
}

ensure_env() {
  # .venv with requirements.txt installed; re-installs only when requirements.txt changed.
  command -v cc >/dev/null 2>&1 && command -v cmake >/dev/null 2>&1 || _apt_install build-essential cmake
  local py
  py=$(_python)
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  local stamp=.venv/.requirements.sha256 want
  want=$(sha256sum requirements.txt | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "Installing Python packages (the first time builds llama-cpp-python: about 15 minutes on 2 cores)..."
    .venv/bin/pip install -q --upgrade pip >/dev/null
    .venv/bin/pip install -q -r requirements.txt
    echo "$want" > "$stamp"
  fi
}

ensure_browser() {
  # Debian's Chromium and its driver, for the browser tests.
  command -v chromium >/dev/null 2>&1 || _apt_install chromium chromium-driver
}
