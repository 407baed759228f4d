"""The key canary (step 12 of :func:`regaudit.regulator.verify.verify_bundle`): before any audit
number is trusted, the unsealed key must decrypt the canary to its public value.

Only the outcome, the public value and the tolerance leave this module: never a decrypted value.
"""

from __future__ import annotations

import numpy as np

from regaudit.regulator.decryption import decrypt
from regaudit.regulator.verified import CanaryCheck
from regaudit.secretkey.ckks import SecretKeyDecryptor
from regaudit.shared.bundle import AuditBundle
from regaudit.shared.circuits.base import CANARY_DEPTH, CANARY_TOLERANCE, Plan, canary_expected
from regaudit.shared.errors import KeyMismatchError

#: Every slot of the canary output except slot 0 is zeroed by the circuit's mask; a decrypted
#: slot further than this from 0 cannot be CKKS noise.
CANARY_ZERO_TOLERANCE = CANARY_TOLERANCE


def canary_level(plan: Plan) -> int:
    """Level of the canary output: the canary is encrypted at the plan's input level and its
    circuit (``base.canary_circuit``) consumes :data:`CANARY_DEPTH` levels."""
    return plan.input_level + CANARY_DEPTH


def check_canary(bundle: AuditBundle, plan: Plan, decryptor: SecretKeyDecryptor) -> CanaryCheck:
    """Step 12: slot 0 holds the public value sum(c*c), every other slot is zero."""
    values = decrypt(decryptor, bundle.canary_output, level=canary_level(plan), what="canary")
    expected = canary_expected(bundle.canary_seed, plan.profile.slot_count)
    # the message names what failed and the tolerance, never a decrypted value
    failure: str | None = None
    if not bool(np.isfinite(values).all()):
        failure = "holds non-finite values"
    elif not abs(float(values[0]) - expected) <= CANARY_TOLERANCE:
        failure = f"slot 0 is not within {CANARY_TOLERANCE:g} of the public value {expected:.2f}"
    elif values.size > 1 and not float(np.abs(values[1:]).max()) <= CANARY_ZERO_TOLERANCE:
        failure = f"a slot other than 0 is not within {CANARY_ZERO_TOLERANCE:g} of 0"
    del values
    if failure is not None:
        raise KeyMismatchError(
            f"the key canary failed ({failure}): the unsealed secret key is not the key the "
            "evaluation keys were made from",
            field="canary_output",
        )
    return CanaryCheck(passed=True, expected=expected, tolerance=CANARY_TOLERANCE)


__all__ = ["CANARY_ZERO_TOLERANCE", "canary_level", "check_canary"]
