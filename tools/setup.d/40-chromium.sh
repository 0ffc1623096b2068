#!/usr/bin/env bash
# Headless Chromium and its WebDriver (Debian's chromium + chromium-driver) for the dashboard's
# browser tests (tests/integration/dashboard). Idempotent: nothing to do when both are installed.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "40-chromium.sh: install chromium and chromedriver with your package manager (the tests use /usr/bin/chromium and /usr/bin/chromedriver)" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "40-chromium.sh: installing chromium and chromium-driver (first run only)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
chromium --version
