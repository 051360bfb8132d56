#!/usr/bin/env bash
# The same set-up as run.sh, then the whole test suite (arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")"
source packaging/setup.sh
ensure_env
ensure_browser
exec .venv/bin/python -m pytest -ra --durations=15 "$@"
