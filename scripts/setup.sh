#!/usr/bin/env bash
# Create .venv (if absent) and install depthscope with the given extras, pinned by constraints.txt.
# Usage: bash scripts/setup.sh EXTRAS      e.g.  bash scripts/setup.sh all,dev
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-all}"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[${extras}]"
