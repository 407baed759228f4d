#!/usr/bin/env bash
# Create (or reuse) the local virtual environment .venv and install the five regaudit
# distributions into it. Used by scripts/demo.sh and scripts/test.sh.
#   bash scripts/bootstrap.sh          # runtime only
#   bash scripts/bootstrap.sh --dev    # plus test and lint tooling, and Chromium (as root, apt)
# Every third-party package is installed at the exact version of constraints.txt (pip -c, and
# PIP_CONSTRAINT for the isolated build environments), so a CI result does not depend on what
# the registry serves that day; scripts/update_constraints.py regenerates the file.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv with $($python --version 2>&1)" >&2
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
constraints="$root/constraints.txt"
export PIP_CONSTRAINT="$constraints"
stamp=".venv/.regaudit-installed"
want="$(cat VERSION shared/pyproject.toml secretkey/pyproject.toml client/pyproject.toml \
  evaluator/pyproject.toml regulator/pyproject.toml requirements-dev.txt constraints.txt \
  | sha256sum | cut -c1-16)${1:-}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[bootstrap] installing regaudit-shared, -secretkey, -client, -evaluator, -regulator into .venv" >&2
  "${pip[@]}" install -c "$constraints" --upgrade pip >/dev/null
  "${pip[@]}" install -c "$constraints" \
    -e ./shared -e ./secretkey -e ./client -e ./evaluator -e ./regulator
  if [ "${1:-}" = "--dev" ]; then
    echo "[bootstrap] installing test tooling (requirements-dev.txt)" >&2
    "${pip[@]}" install -c "$constraints" -r requirements-dev.txt
  fi
  echo "$want" > "$stamp"
fi
# The browser tests (tests/browser) open the HTML report in headless Chromium: install Debian's
# package when it is missing and we are root with apt-get (scripts/install_browser.sh; a no-op
# once installed). If that fails, those tests fail in CI (CI=true) and skip elsewhere.
# REGAUDIT_NO_BROWSER_INSTALL=1 leaves the system alone.
if [ "${1:-}" = "--dev" ] && [ -z "${REGAUDIT_NO_BROWSER_INSTALL:-}" ]; then
  bash scripts/install_browser.sh \
    || echo "[bootstrap] chromium could not be installed: the browser tests will not run" >&2
fi
