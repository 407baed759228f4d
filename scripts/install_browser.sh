#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/browser), which open the regulator's HTML
# report in a real headless browser. scripts/bootstrap.sh --dev calls this; it is idempotent and
# quiet, and does nothing when /usr/bin/chromium (or the browser $REGAUDIT_CHROMIUM names) exists.
# It installs only as root with apt-get available (the CI box: Debian bookworm); elsewhere it
# prints why not and exits 0, and the browser tests then skip (or fail under CI=true).
#   bash scripts/install_browser.sh
# `apt-get update` runs only when apt has no candidate for the package or the install fails.
set -euo pipefail
package="chromium"
binary="/usr/bin/chromium"
if [ -x "$binary" ] || { [ -n "${REGAUDIT_CHROMIUM:-}" ] && [ -x "$REGAUDIT_CHROMIUM" ]; }; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "[browser] $binary missing and not root with apt-get: not installing it" \
    "(install the Debian package '$package'; the browser tests skip, or fail under CI=true)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
candidate="$(apt-cache policy "$package" 2>/dev/null | awk '/Candidate:/ {print $2}')"
if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
  echo "[browser] apt-get update (no candidate for $package)" >&2
  apt-get update -qq >/dev/null
fi
echo "[browser] installing $package with apt-get" >&2
if ! apt-get install -y -qq --no-install-recommends "$package" >/dev/null; then
  # package lists older than the mirror name files it no longer has: refresh them once
  echo "[browser] apt-get install failed: apt-get update and one retry" >&2
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "$package" >/dev/null
fi
echo "[browser] $package installed in $(($(date +%s) - start)) s: $("$binary" --version 2>/dev/null)" >&2
