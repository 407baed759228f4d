"""The concordance plan: depth 4 on ckks-n16384-d6-v1 (its 2^40 scale keeps rounding exact),
one chunk, exact operation counts, rotation steps and layout, computed from sizes alone."""

from __future__ import annotations

import pytest

from regaudit.shared.algebra import slot_sum_steps
from regaudit.shared.errors import InputError, ProfileError
from regaudit.shared.planning import make_plan
from regaudit.shared.primitives.concordance.circuit import ConcordanceCircuit
from regaudit.shared.primitives.concordance.layout import (
    MAX_PATIENTS,
    ROWS,
    geometry,
    output_scale,
)
from regaudit.shared.profiles import PROFILE_N8192_D3, PROFILE_N16384_D6

#: a full slot sum over 8192 slots at radix 4: six radix-4 levels (three rotations each) and
#: one radix-2 level; four outputs plus the canary
FULL_SUM_ROTATIONS = 6 * 3 + 1
SLOT_SUMS = 4 + 1
#: the lane suffix: baby steps 1..7 blocks (two key rotations of 64 each), giant steps of
#: g * 1024 slots for g = 1..7 (base-4 digits of g * 4^5)
LANE_SUFFIX_ROTATIONS = 7 * 2 + (1 + 2 + 3 + 1 + 2 + 3 + 4)
LANE_MASKS = 63


@pytest.mark.parametrize("patients", [2, 128, 1000, 10_000, MAX_PATIENTS])
def test_plan_depth_and_exact_counts(patients: int) -> None:
    circuit = ConcordanceCircuit()
    shape = geometry(patients)
    plan = make_plan(circuit, {"patients": patients}, rows=ROWS)
    assert plan.profile == PROFILE_N16384_D6
    assert plan.depth == 4 and plan.input_level == 2 and plan.output_level == 6
    assert plan.n_chunks == 1 and plan.n_outputs == 4
    assert list(plan.columns) == shape.columns()
    assert len(plan.columns) == 2 * shape.x_count + 2 * shape.y_count + shape.tie_count
    steps = slot_sum_steps(PROFILE_N16384_D6.slot_count, PROFILE_N16384_D6.slot_sum_radix)
    assert 1 in steps and list(plan.rotation_steps) == steps  # no extra Galois key
    y_products = shape.groups * (shape.bucket_size - 1)
    counts = plan.counts
    # X: one e x onehot and one e x theta per ciphertext, one product per suffix, one
    # cross-lane product; Y: two per patient with an earlier bucket mate; the canary
    assert counts.ct_ct_multiplications == 3 * shape.x_count + 2 * y_products + 1
    onehots = shape.x_count + y_products + 1  # and one for the event sum
    assert counts.rotations == onehots + LANE_SUFFIX_ROTATIONS + SLOT_SUMS * FULL_SUM_ROTATIONS
    # masks, comparable weights, 4 tie weightings, 4 output scalings, 3 x 2 output alignments,
    # suffix / prefix alignments before their products, the thermometer total (2), the
    # within-lane sum (1) and the tie part (2) aligned to the cross-lane product, the canary,
    # the one-hot correction of the event sum
    aligned = (shape.x_count - 1) + y_products
    within = 1 if aligned else 0  # N = 2 has no within-lane or Y product
    expected_pt = (
        LANE_MASKS + shape.x_count + 4 * shape.tie_count + 4 + 6 + aligned + 2 + within + 2 + 1 + 1
    )
    assert counts.ct_pt_multiplications == expected_pt
    assert counts.relinearizations == counts.ct_ct_multiplications
    assert counts.max_level == 6


def test_outputs_fit_the_headroom_at_every_size() -> None:
    for patients in (2, 362, 363, 1000, 10_000, MAX_PATIENTS):
        mu = output_scale(patients)
        magnitude = ConcordanceCircuit().max_output_magnitude(ROWS, {"patients": patients})
        assert magnitude == mu * patients * (patients - 1) <= 2**18
        assert magnitude <= PROFILE_N16384_D6.max_output_magnitude
        assert mu == 1.0 or 2 * magnitude > 2**18  # the largest power of two that fits


def test_geometry_fits_every_size() -> None:
    for patients in (2, 3, 127, 128, 129, 4096, 10_000, MAX_PATIENTS):
        shape = geometry(patients)
        assert shape.block == 128 and shape.lanes == 64
        assert shape.bucket_size <= shape.block - 1 and shape.buckets <= shape.block - 1
        assert shape.buckets * shape.bucket_size >= patients
        assert shape.x_count * shape.lanes >= patients
        assert shape.groups * shape.lanes >= shape.buckets


def test_plan_refuses_the_depth3_profile() -> None:
    # depth 4 does not fit (and its 2^30 scale could not keep the counts exact either)
    with pytest.raises(ProfileError, match="depth"):
        make_plan(ConcordanceCircuit(), {"patients": 100}, rows=ROWS, profile=PROFILE_N8192_D3)


@pytest.mark.parametrize(
    ("public", "field"),
    [
        ({}, "patients"),
        ({"patients": 1}, "patients"),
        ({"patients": MAX_PATIENTS + 1}, "patients"),
        ({"patients": True}, "patients"),
        ({"patients": 10.0}, "patients"),
        ({"patients": 10, "threshold": 0.1}, "threshold"),
    ],
)
def test_public_inputs_are_validated(public: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as info:
        ConcordanceCircuit().validate_public(public)
    assert info.value.field == field
