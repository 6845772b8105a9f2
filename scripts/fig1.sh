#!/usr/bin/env bash
# The README's main job: set up, then reproduce Figure 1 of Jakub & Nica on the paper's setup.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh plot
.venv/bin/depthscope reproduce fig1 --out runs/fig1 --force
