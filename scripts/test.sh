#!/usr/bin/env bash
# The README's test command: set everything up, lint, type-check, run the fast suite, then the
# slow statistical suite, then build the documentation site (warnings are errors, so a broken
# docstring, gallery example or internal link fails). Any failure -- including pytest's exit
# code 5 ("no tests ran") -- fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh all,dev,docs
py=.venv/bin/python
$py -m ruff check src tests benchmarks tools
$py -m ruff format --check src tests benchmarks tools
$py -m mypy
# pytest exits 5 when it collects nothing; with `set -e` that fails the script, as it must.
$py -m pytest -q
$py -m pytest -q -m slow
bash scripts/docs.sh
