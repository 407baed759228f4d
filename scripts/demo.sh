#!/usr/bin/env bash
# The main job (README, first command): install into .venv, start an evaluator on loopback with
# its embedded store, run a client fairness audit on the bundled sample data, verify the bundle
# as the regulator and print the report. Everything it writes goes to ./demo-run/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
export PATH="$root/.venv/bin:$PATH"

run="$root/demo-run"
rm -rf "$run"
mkdir -p "$run"
echo "== 1. identities (regulator, evaluator, client)"
regaudit-regulator init "$run/regulator"
regaudit-evaluator init "$run/evaluator"
regaudit-client init "$run/client"
regaudit-regulator trust add "$run/evaluator/evaluator.pub.json" --trust "$run/regulator/trust.json"
regaudit-regulator trust add "$run/client/client.pub.json" --trust "$run/regulator/trust.json"
# the client's trust anchors: the evaluator's receipt key and the regulator's card-signing key
# (an audit against any other evaluator, or with a card signed by anybody else, is refused)
regaudit-client trust add "$run/evaluator/evaluator.pub.json" --trust "$run/client/trust.json"
regaudit-client trust add "$run/regulator/regulator.pub.json" --trust "$run/client/trust.json"

echo "== 2. evaluator daemon on loopback (embedded SQLite store)"
log="$run/evaluator.log"
# --ready-file: written (atomically, "HOST:PORT") once the daemon serves, removed on shutdown
ready="$run/evaluator.ready"
rm -f "$ready"  # never read a stale address
regaudit-evaluator serve --listen 127.0.0.1:0 --identity "$run/evaluator" \
  --store "$run/evaluator/store" --ready-file "$ready" >"$log" 2>&1 &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null || true; wait $daemon 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  [ -s "$ready" ] && break
  kill -0 $daemon 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$ready" ] || { echo "evaluator did not start" >&2; cat "$log" >&2; exit 1; }
address="$(cat "$ready")"
echo "evaluator listening on $address"

echo "== 3. client audit (vendor): encrypt, submit, seal the key to the regulator"
regaudit-client audit fairness --input examples/data/fairness-sample.csv \
  --y-true y_true --y-pred y_pred --group group --threshold 0.1 \
  --evaluator "$address" --regulator-card "$run/regulator/regulator-card.json" \
  --identity "$run/client" --trust "$run/client/trust.json" --out "$run/fairness.bundle"

echo "== 4. regulator: verify every signature and binding, decrypt aggregates, report"
regaudit-regulator verify "$run/fairness.bundle" --identity "$run/regulator" \
  --trust "$run/regulator/trust.json" --report "$run/fairness-report.html"
echo "HTML report: $run/fairness-report.html"
