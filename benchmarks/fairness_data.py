"""The fairness benchmark's data: synthetic labels, predictions and groups, their exact counts,
and the errors of the regulator's counts against them."""

from __future__ import annotations

from pathlib import Path
from typing import TypeAlias, TypedDict, final

import numpy as np
import numpy.typing as npt
from cases import DATA_SEED
from harness import JsonObject

__all__ = [
    "CATEGORICAL_GROUPS",
    "THRESHOLD",
    "BinaryColumns",
    "CategoricalColumns",
    "Counts",
    "FairnessColumns",
    "count_error",
    "make_data",
    "raw_error",
    "true_counts",
]

CATEGORICAL_GROUPS = 5
#: The audit's fairness threshold (public input).
THRESHOLD = 0.1

IntArray: TypeAlias = npt.NDArray[np.signedinteger]


@final
class BinaryColumns(TypedDict):
    """Binary form: membership of ``group_a`` and of ``group_b`` (0/1 per row)."""

    y_true: IntArray
    y_pred: IntArray
    group_a: IntArray
    group_b: IntArray


@final
class CategoricalColumns(TypedDict):
    """Categorical form: one integer ``group`` label per row."""

    y_true: IntArray
    y_pred: IntArray
    group: IntArray


FairnessColumns: TypeAlias = BinaryColumns | CategoricalColumns
#: group -> quantity (``count``, ``positives``, ``predicted_positives``, ``true_positives``)
Counts: TypeAlias = dict[str, dict[str, int]]


def make_data(rows: int, *, categorical: bool, seed: int = DATA_SEED) -> FairnessColumns:
    """Synthetic 0/1 labels and predictions with a group-dependent base rate.

    Binary form: ``group_a`` (55 %), ``group_b`` (40 %), 5 % in neither group.
    Categorical form: ``group`` with CATEGORICAL_GROUPS integer labels (skewed sizes).
    """
    rng = np.random.default_rng(seed + rows + (1 if categorical else 0))
    if categorical:
        weights = np.array([0.35, 0.25, 0.2, 0.15, 0.05])[:CATEGORICAL_GROUPS]
        membership = rng.choice(CATEGORICAL_GROUPS, size=rows, p=weights / weights.sum())
        base = np.linspace(0.3, 0.55, CATEGORICAL_GROUPS)[membership]
    else:
        membership = rng.choice(3, size=rows, p=[0.55, 0.40, 0.05])
        base = np.where(membership == 0, 0.35, 0.5)
    y_true = rng.binomial(1, base).astype(np.int8)
    y_pred = rng.binomial(1, np.where(y_true == 1, 0.8, 0.15)).astype(np.int8)
    if categorical:
        return {"y_true": y_true, "y_pred": y_pred, "group": membership.astype(np.int64)}
    return {
        "y_true": y_true,
        "y_pred": y_pred,
        "group_a": (membership == 0).astype(np.int8),
        "group_b": (membership == 1).astype(np.int8),
    }


def true_counts(data: FairnessColumns) -> Counts:
    """Exact per-group counts with numpy (the regulator's numbers must equal these)."""
    if "group" in data:
        members = {str(k): data["group"] == k for k in np.unique(data["group"])}
    else:
        members = {"group_a": data["group_a"] == 1, "group_b": data["group_b"] == 1}
    y_true, y_pred = data["y_true"] == 1, data["y_pred"] == 1
    return {
        name: {
            "count": int(mask.sum()),
            "positives": int((mask & y_true).sum()),
            "predicted_positives": int((mask & y_pred).sum()),
            "true_positives": int((mask & y_true & y_pred).sum()),
        }
        for name, mask in members.items()
    }


def count_error(result: JsonObject, expected: Counts) -> int:
    """Largest |regulator count - numpy count| over every group and quantity."""
    worst = 0
    for name, quantities in expected.items():
        got = result["groups"][name]
        for quantity, value in quantities.items():
            worst = max(worst, abs(int(got[quantity]) - value))
    return worst


def raw_error(bundle_path: Path, regulator_dir: Path, expected: Counts) -> dict[str, float]:
    """Pre-rounding CKKS error of the decrypted counts, using the regulator's own key and the
    same steps as ``regaudit.regulator.verify`` (unseal, decrypt at the plan's output level)."""
    from regaudit.secretkey.ckks import SecretKeyDecryptor
    from regaudit.secretkey.sealing import RegulatorKeys, unseal_secret_key
    from regaudit.shared.bundle import AuditBundle
    from regaudit.shared.circuits.registry import get_circuit
    from regaudit.shared.evidence.sealing import sealing_info
    from regaudit.shared.evidence.statements import receipt_digest
    from regaudit.shared.planning import make_plan
    from regaudit.shared.primitives.fairness import layout
    from regaudit.shared.profiles import get_profile

    bundle = AuditBundle.read(bundle_path)
    keys = RegulatorKeys.load(regulator_dir)
    profile = get_profile(bundle.plan["profile"])
    circuit = get_circuit(bundle.plan["circuit_id"], bundle.plan["circuit_version"])
    public = circuit.validate_public(bundle.public_inputs)
    plan = make_plan(circuit, public, rows=bundle.plan["rows"], profile=profile)
    info = sealing_info(
        audit_id=bundle.audit_id,
        profile_hash=profile.profile_hash,
        regulator_key_id=keys.key_id,
        client_key_id=bundle.client_record().key_id,
        receipt_digest=receipt_digest(bundle.receipt),
    )
    decryptor = SecretKeyDecryptor.from_bytes(
        profile, unseal_secret_key(bundle.sealed_key, keys=keys, info=info)
    )
    vector = np.asarray(decryptor.decrypt(bundle.outputs[0], level=plan.output_level))
    groups = public["groups"]
    width = layout.block_width(len(groups))
    blocks = vector.reshape(-1, width) / float(layout.output_scale(plan.rows))
    truth = np.array(
        [expected[name][q] for name in groups for q in layout.QUANTITIES], dtype=np.float64
    )
    used = 4 * len(groups)
    errors = np.abs(blocks[:, :used] - truth)
    zeros = np.abs(blocks[:, used:])
    return {
        "max_abs_count_error_pre_rounding": float(errors.max()),
        "max_abs_zero_slot": float(zeros.max()) if zeros.size else 0.0,
        "output_scale": layout.output_scale(plan.rows),
        "rounding_tolerance": layout.COUNT_TOLERANCE,
    }
