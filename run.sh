#!/usr/bin/env bash
# Install what is missing, prepare the default model, create the demo tenant on first run, and serve.
set -euo pipefail
cd "$(dirname "$0")"
source packaging/setup.sh
ensure_env
export APPLIANCE_DATA="${APPLIANCE_DATA:-./data}"
.venv/bin/python -m appliance models prepare >/dev/null
.venv/bin/python -m appliance init
exec .venv/bin/python -m appliance serve "$@"
