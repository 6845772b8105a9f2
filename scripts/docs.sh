#!/usr/bin/env bash
# Build the documentation site into docs/_build/html: API reference, executed gallery, guides.
# Warnings are errors and every cross-reference must resolve (-W -n), so a broken docstring,
# example or internal link fails the build. Needs Python >= 3.11 (Sphinx 9).
# Usage: bash scripts/docs.sh            (a fresh build; open docs/_build/html/index.html)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import sys; sys.exit(sys.version_info < (3, 11))" \
    || { echo "scripts/docs.sh: the docs toolchain (Sphinx 9) needs Python >= 3.11" >&2; exit 2; }
bash scripts/setup.sh all,docs
# A fresh build each time: stale autosummary stubs or gallery outputs must not hide an error.
rm -rf docs/_build docs/generated docs/auto_examples docs/sg_execution_times.rst
export MPLBACKEND=Agg
.venv/bin/python -m sphinx -b html -W --keep-going -n -E -j 1 docs docs/_build/html
