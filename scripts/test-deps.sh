#!/usr/bin/env bash
# Test-only dependencies that pip's `dev` extra cannot bring: each block installs its piece
# only when it is missing, so a second run costs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

# Spark tests (tests/test_spark.py): Java 17+ and pyspark with its SQL extras (mapInArrow needs
# pandas and pyarrow on the driver). Debian's slim images lack /usr/share/man/man1, which the
# JRE's postinst needs.
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1; }
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ] 2>/dev/null; then
    $SUDO mkdir -p /usr/share/man/man1
    $SUDO apt-get update
    # `env` inside sudo: sudo resets the environment, so a prefix assignment would not reach it
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        openjdk-17-jre-headless
fi
if ! "$VENV/bin/python" -c "import pyspark" >/dev/null 2>&1; then
    "$VENV/bin/pip" install -e ".[spark]"
fi

# Browser test (tests/test_browser.py): Debian's Chromium (Playwright's own browser download
# needs the network; its pip package bundles the driver) and the `browser` extra.
if [ ! -x /usr/bin/chromium ]; then
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
fi
if ! "$VENV/bin/python" -c "import voila, playwright" >/dev/null 2>&1; then
    "$VENV/bin/pip" install -e ".[browser]"
fi
