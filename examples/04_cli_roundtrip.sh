#!/usr/bin/env bash
# The three command lines end to end for a drift audit: identities, an evaluator daemon on
# loopback, `regaudit-client audit drift`, `regaudit-regulator verify --json`, then a dispute
# round trip (`regaudit-client open`, `regaudit-regulator check-opening`). What every command
# repeats (identities, card, pins, trust store, evaluator address) is said once, in
# regaudit.toml and REGAUDIT_* variables (command line > environment > config file).
#   bash examples/04_cli_roundtrip.sh [WORKDIR]        (PYTHON=... to choose the interpreter)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${PYTHON:-python3}"
run="${1:-example-cli-run}"
rm -rf "$run"
mkdir -p "$run"

"$py" -m regaudit.regulator init "$run/regulator" >/dev/null
"$py" -m regaudit.evaluator init "$run/evaluator" >/dev/null
"$py" -m regaudit.client init "$run/client" >/dev/null
# the client pins the evaluator's receipt key and the regulator's card-signing key (both
# printed by their init; key_id of evaluator.pub.json and regulator.pub.json)
key_id() { "$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["key_id"])' "$1"; }
pin_evaluator="$(key_id "$run/evaluator/evaluator.pub.json")"
pin_regulator="$(key_id "$run/regulator/regulator.pub.json")"

# one table per program; a key is an option's long name, relative paths are relative to the file
cat >"$run/regaudit.toml" <<TOML
[client]
identity = "client"
regulator-card = "regulator/regulator-card.json"
pin-evaluator = "$pin_evaluator"
pin-regulator = "$pin_regulator"

[evaluator]
identity = "evaluator"
store = "store"

[regulator]
identity = "regulator"
trust = "trust.json"
TOML
export REGAUDIT_CONFIG="$run/regaudit.toml"  # (or run from that folder: ./regaudit.toml)

"$py" -m regaudit.regulator trust add "$run/evaluator/evaluator.pub.json" >/dev/null
"$py" -m regaudit.regulator trust add "$run/client/client.pub.json" >/dev/null

log="$run/evaluator.log"
# the daemon writes "HOST:PORT" to --ready-file (atomically) once it serves
ready="$run/evaluator.ready"
rm -f "$ready"  # never read a stale address
PYTHONUNBUFFERED=1 "$py" -m regaudit.evaluator serve --listen 127.0.0.1:0 \
  --ready-file "$ready" >"$log" 2>&1 &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null || true; wait $daemon 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  [ -s "$ready" ] && break
  kill -0 $daemon 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$ready" ] || { echo "evaluator did not start" >&2; cat "$log" >&2; exit 1; }
export REGAUDIT_EVALUATOR="$(cat "$ready")"  # the client's --evaluator

# two histograms of one feature over the same 16 bins (regaudit-fhe 0.1.0's drift input shape)
cat >"$run/drift.json" <<'JSON'
{"p": [1, 3, 8, 17, 30, 46, 60, 66, 63, 52, 37, 23, 12, 6, 2, 1],
 "q": [0, 1, 3, 7, 14, 26, 41, 55, 64, 64, 55, 41, 26, 14, 7, 3],
 "bin_width": 0.5}
JSON
"$py" -m regaudit.client audit drift --input "$run/drift.json" --drift-threshold 0.05 \
  --out "$run/drift.bundle" --quiet
"$py" -m regaudit.regulator verify "$run/drift.bundle" --short
"$py" -m regaudit.regulator verify "$run/drift.bundle" --json >"$run/drift-result.json"
"$py" - "$run/drift-result.json" <<'PY'
import json
import sys

doc = json.load(open(sys.argv[1], encoding="utf-8"))
assert doc["verified"] is True, doc
r = doc["result"]
print(
    f"verified drift audit: distance {r['distance']:.6g}, "
    f"W1 {r['w1_distance']:.4g} ± {r['w1_error_bound']:.2g}, drift detected: {r['drift_detected']}"
)
PY
# a dispute: the client opens two committed rows, the regulator checks them against the bundle
audit_id="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["audit_id"])' "$run/drift.bundle")"
"$py" -m regaudit.client open "$audit_id" --rows 0,3 --input "$run/drift.json" \
  --out "$run/opening.json" >/dev/null
"$py" -m regaudit.regulator check-opening "$run/drift.bundle" "$run/opening.json"
echo "example files: $here"
