#!/usr/bin/env bash
# The whole test run, as the README gives it: lint, type-check, unit + integration tests
# (real servers on 127.0.0.1), doctests of the public API, and the tutorials under nbval.
# Run from the repository root after the install command.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"

# Test-only system pieces, installed when missing (Debian; needs root or sudo).
bash scripts/test-deps.sh

"$PY" -m ruff check jobkit tests bench
"$PY" -m ruff format --check jobkit tests bench
"$PY" -m mypy
"$PY" -m pytest --doctest-modules jobkit tests \
    --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg notebooks \
    "$@"
