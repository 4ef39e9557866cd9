#!/usr/bin/env bash
# Headless Chromium for the report tests (tests/report_check.py renders each HTML report to a PNG):
# installs Debian's `chromium` package when the command is missing. Does nothing when it is present.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "chromium already installed: $(chromium --version 2>/dev/null || true)"; exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-chromium: chromium is missing and this is not root: install Debian's chromium package, or the report rendering tests skip" >&2
  exit 2
fi
echo "installing chromium (Debian package)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
chromium --version
