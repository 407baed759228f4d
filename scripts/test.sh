#!/usr/bin/env bash
# The test command (README, second command; .ci/run calls exactly this).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh --dev
export PATH="$root/.venv/bin:$PATH"
echo "[test] key custody: import-linter contracts" >&2
lint-imports
echo "[test] lint: ruff" >&2
ruff check .
echo "[test] pytest" >&2
python -m pytest -q "$@"
