"""The concordance plan: depth 6 (the budget) on ckks-n16384-d6-v1, exact operation counts,
rotation steps and layout, computed from sizes alone."""

from __future__ import annotations

import pytest

from regaudit.shared.algebra import slot_sum_steps
from regaudit.shared.errors import InputError, ProfileError
from regaudit.shared.planning import make_plan
from regaudit.shared.primitives.concordance.circuit import ConcordanceCircuit
from regaudit.shared.primitives.concordance.layout import COLUMNS, output_scale, pair_count
from regaudit.shared.profiles import PROFILE_N8192_D3, PROFILE_N16384_D6

#: per chunk: two depth-4 sign polynomials (10 ct x ct, 8 scalars, 7 alignments each), four
#: products, 8 + 1 + 1 alignments; finalize: 5 alignments, one scalar, two full slot sums.
CHUNK_CT_CT = 24
CHUNK_CT_PT = 40
FINAL_CT_PT = 6
CANARY_CT_CT = 1
#: a full slot sum over 8192 slots at radix 4: six radix-4 levels (steps 1, 4, ..., 1024, three
#: rotations each) and one radix-2 level (step 4096), with keys for the seven steps 4^k only
FULL_SUM_ROTATIONS = 6 * 3 + 1
FULL_SUM_STEPS = [4**k for k in range(7)]
CANARY_CT_PT = 1


@pytest.mark.parametrize("patients", [2, 128, 1000, 1500])
def test_plan_depth_and_exact_counts(patients: int) -> None:
    circuit = ConcordanceCircuit()
    public = {"patients": patients}
    rows = pair_count(patients)
    plan = make_plan(circuit, public, rows=rows)
    assert plan.profile == PROFILE_N16384_D6
    assert plan.depth == 6
    assert plan.input_level == 0 and plan.output_level == 6
    assert plan.columns == COLUMNS
    assert plan.n_outputs == 2
    chunks = -(-rows // PROFILE_N16384_D6.slot_count)
    assert plan.n_chunks == chunks
    steps = slot_sum_steps(PROFILE_N16384_D6.slot_count, PROFILE_N16384_D6.slot_sum_radix)
    assert steps == FULL_SUM_STEPS
    assert list(plan.rotation_steps) == steps
    counts = plan.counts
    assert counts.ct_ct_multiplications == CHUNK_CT_CT * chunks + CANARY_CT_CT
    assert counts.ct_pt_multiplications == CHUNK_CT_PT * chunks + FINAL_CT_PT + CANARY_CT_PT
    assert counts.relinearizations == counts.ct_ct_multiplications
    assert counts.rescales == counts.ct_ct_multiplications + counts.ct_pt_multiplications
    assert counts.rotations == 3 * FULL_SUM_ROTATIONS  # two outputs + the canary
    assert counts.max_level == 6


def test_plan_for_1000_patients_fits_headroom() -> None:
    rows = pair_count(1000)
    assert rows == 499_500
    mu = output_scale(rows)
    assert mu == 2.0**-4 and mu * rows <= 2**15
    magnitude = ConcordanceCircuit().max_output_magnitude(rows, {"patients": 1000})
    assert mu * rows < magnitude <= 2.5 * mu * rows
    assert magnitude < PROFILE_N16384_D6.max_output_magnitude


def test_plan_refuses_the_depth3_profile() -> None:
    with pytest.raises(ProfileError):
        make_plan(
            ConcordanceCircuit(), {"patients": 100}, rows=pair_count(100), profile=PROFILE_N8192_D3
        )


@pytest.mark.parametrize(
    ("public", "field"),
    [
        ({}, "patients"),
        ({"patients": 1}, "patients"),
        ({"patients": 4097}, "patients"),
        ({"patients": True}, "patients"),
        ({"patients": 10.0}, "patients"),
        ({"patients": 10, "threshold": 0.1}, "threshold"),
    ],
)
def test_public_inputs_are_validated(public: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as info:
        ConcordanceCircuit().validate_public(public)
    assert info.value.field == field
