"""drift under DP is refused on a real verified bundle: nothing public bounds one sample's effect
on the normalized histograms (their sample counts are not public inputs), so no sensitivity can
be calibrated; the refusal names that bound and charges nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from privacy.release_support import budget, listing, release, verify_audit
from regulator.conftest import Parties

from regaudit.regulator.privacy.primitives import NOT_YET, REFUSED, RELEASES
from regaudit.shared.errors import InputError, exit_code_for
from regaudit.shared.primitives.drift.circuit import DriftCircuit
from regaudit.shared.primitives.drift.inputs import parse


def test_a_drift_release_is_refused_naming_the_missing_public_bound(
    parties: Parties, identity: Path
) -> None:
    rng = np.random.default_rng(8)
    p = np.histogram(rng.normal(0.0, 1.0, 3_000), 32, (-4, 4))[0]
    q = np.histogram(rng.normal(0.3, 1.0, 3_000), 32, (-4, 4))[0]
    payload = {"p": p.tolist(), "q": q.tolist(), "drift_threshold": 0.05, "bin_width": 0.25}
    audit = verify_audit(parties, DriftCircuit(), parse(payload))
    assert "drift" in NOT_YET and "drift" not in RELEASES
    budget(identity, 1.0)
    with pytest.raises(InputError, match="not available for drift releases yet") as caught:
        release(audit, identity)
    message = caught.value.message
    assert "number of samples" in message and "not a public input" in message
    assert REFUSED["drift"] in message
    assert caught.value.field == "primitive" and exit_code_for(caught.value) == 2
    assert listing(identity)["releases"] == []
