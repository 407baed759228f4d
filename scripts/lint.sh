#!/usr/bin/env bash
# The static checks: import-linter contracts, buf lint of proto/, ruff (lint and format), mypy.
# scripts/test.sh runs this before pytest; .pre-commit-config.yaml runs the same tools. Uses the
# tools on PATH (scripts/test.sh puts .venv/bin first; or run it after scripts/bootstrap.sh --dev
# and `source .venv/bin/activate`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ -x "$root/.venv/bin/python" ]; then
  export PATH="$root/.venv/bin:$PATH"
fi
echo "[lint] key custody: import-linter contracts" >&2
lint-imports
echo "[lint] buf (proto/)" >&2
if command -v npx >/dev/null 2>&1; then
  (cd proto && npx --yes @bufbuild/buf@1.75.0 lint)
else
  echo "[lint] npx not found: buf lint of proto/ skipped" >&2
fi
echo "[lint] ruff check" >&2
ruff check .
echo "[lint] ruff format --check" >&2
ruff format --check .
echo "[lint] types: mypy" >&2
mypy shared/src secretkey/src client/src evaluator/src regulator/src
