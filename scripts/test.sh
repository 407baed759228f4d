#!/usr/bin/env bash
# The test command (README, second command; .ci/run calls exactly this).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh --dev
export PATH="$root/.venv/bin:$PATH"
echo "[test] key custody: import-linter contracts" >&2
lint-imports
echo "[test] lint: buf (proto/)" >&2
if command -v npx >/dev/null 2>&1; then
  (cd proto && npx --yes @bufbuild/buf@1.75.0 lint)
else
  echo "[test] npx not found: buf lint of proto/ skipped" >&2
fi
echo "[test] lint: ruff" >&2
ruff check .
echo "[test] types: mypy" >&2
mypy shared/src secretkey/src client/src evaluator/src regulator/src
echo "[test] pytest" >&2
python -m pytest -q "$@"
