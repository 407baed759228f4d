#!/usr/bin/env bash
# Create (or reuse) the local virtual environment .venv and install the five regaudit
# distributions into it. Used by scripts/demo.sh and scripts/test.sh.
#   bash scripts/bootstrap.sh          # runtime only
#   bash scripts/bootstrap.sh --dev    # plus test and lint tooling
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv with $($python --version 2>&1)" >&2
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
stamp=".venv/.regaudit-installed"
want="$(cat shared/pyproject.toml secretkey/pyproject.toml client/pyproject.toml \
  evaluator/pyproject.toml regulator/pyproject.toml requirements-dev.txt | sha256sum | cut -c1-16)${1:-}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[bootstrap] installing regaudit-shared, -secretkey, -client, -evaluator, -regulator into .venv" >&2
  "${pip[@]}" install --upgrade pip >/dev/null
  "${pip[@]}" install -e ./shared -e ./secretkey -e ./client -e ./evaluator -e ./regulator
  if [ "${1:-}" = "--dev" ]; then
    echo "[bootstrap] installing test tooling (requirements-dev.txt)" >&2
    "${pip[@]}" install -r requirements-dev.txt
  fi
  echo "$want" > "$stamp"
fi
