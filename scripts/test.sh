#!/usr/bin/env bash
# The test command (README, second command; .ci/run calls exactly this).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh --dev
export PATH="$root/.venv/bin:$PATH"
bash scripts/lint.sh
# pytest's exit code 5 is "no tests collected": a path or -k that selects only perf tests leaves
# the first run empty, one without perf tests the second. Either alone is fine; both is an error.
echo "[test] pytest" >&2
status=0
python -m pytest -q "$@" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then
  exit "$status"
fi
# the tests marked perf (wall-clock and throughput bounds), which the run above leaves out
echo "[test] pytest -m perf" >&2
perf_status=0
python -m pytest -q "$@" -m perf || perf_status=$?
if [ "$perf_status" -eq 5 ]; then
  if [ "$status" -eq 5 ]; then
    echo "[test] no tests collected" >&2
    exit 5
  fi
  perf_status=0
fi
exit "$perf_status"
