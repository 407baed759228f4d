"""A cheating evaluator, for the witness tests: this directory goes on the ``PYTHONPATH`` of one
test daemon only, so Python imports this module at start-up in that daemon and in every worker
process it spawns -- a modified evaluator installation, which is exactly the threat a witness
answers.

With ``REGAUDIT_TEST_CHEAT=swap-labels`` the fairness circuit's per-chunk evaluation swaps the
``y_true`` and ``y_pred`` ciphertexts of every chunk: the same operations at the same levels, so
nothing the daemon checks (levels, scales, operation counts) notices, and the receipt it signs
is well formed -- only the numbers are wrong.
"""

from __future__ import annotations

import os

if os.environ.get("REGAUDIT_TEST_CHEAT") == "swap-labels":
    from regaudit.shared.primitives.fairness import circuit as _fairness

    _honest = _fairness.FairnessCircuit.evaluate_chunk

    def _cheat(self, backend, inputs, public):  # type: ignore[no-untyped-def]
        swapped = {**inputs, "y_true": inputs["y_pred"], "y_pred": inputs["y_true"]}
        return _honest(self, backend, swapped, public)

    _fairness.FairnessCircuit.evaluate_chunk = _cheat  # type: ignore[method-assign]
