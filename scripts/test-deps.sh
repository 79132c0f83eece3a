#!/usr/bin/env bash
# Test-only dependencies that pip's `dev` extra cannot bring: each block installs its piece
# only when it is missing, so a second run costs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
