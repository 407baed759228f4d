"""``apply_release``: a verified audit's result replaced by its differentially private release.

See ``docs/privacy.md``. The noise is OpenDP's (:mod:`.mechanisms`), the aggregates and their
sensitivities are the primitive's (:mod:`.primitives`), the budget is the ledger's
(:mod:`.ledger`), and the decisions the noise could flip are found by :mod:`.decisions`.
"""

from __future__ import annotations

import dataclasses
from importlib.metadata import version as installed_version
from typing import Any

from regaudit.regulator.privacy.decisions import analyse, metric_path, set_value_at, value_at
from regaudit.regulator.privacy.ledger import UNDECLARED_DATASET, PrivacyLedger
from regaudit.regulator.privacy.mechanisms import ReleaseRequest, calibrate
from regaudit.regulator.privacy.primitives import release_for
from regaudit.regulator.verified import VerifiedAudit
from regaudit.shared.errors import InputError

#: Key of the release's description in the released result.
DP_KEY = "differential_privacy"


def dataset_of(verified: VerifiedAudit) -> str:
    """The dataset a release is charged to: the client's declared ``dataset`` (its data
    description), else :data:`UNDECLARED_DATASET`."""
    declared = verified.submission.data_description.get("dataset")
    if isinstance(declared, str) and declared.strip():
        return declared.strip()
    return UNDECLARED_DATASET


def apply_release(
    verified: VerifiedAudit, *, request: ReleaseRequest, ledger: PrivacyLedger
) -> VerifiedAudit:
    """A copy of ``verified`` whose ``result`` is the DP release, with a ``differential_privacy``
    key; the ledger is charged the request's epsilon and delta.

    Steps: 1. the request is a ReleaseRequest and the result is not a release already; 2. the
    primitive's release (InputError for a primitive not available); 3. its exact aggregates and
    OpenDP's mechanism calibrated to their sensitivity; 4. client and dataset; 5. in one ledger
    transaction: check and charge the budget (PrivacyBudgetExceededError), draw the noise, rebuild
    the report from the noised aggregates, analyse which decisions the noise could flip -- any
    failure rolls the charge back; 6. the result: the rebuilt report (fields the rebuild does not
    produce are withheld, never passed on un-noised) and its ``differential_privacy`` block."""
    # 1.
    if not isinstance(request, ReleaseRequest):
        raise InputError("must be a ReleaseRequest", field="request")
    if DP_KEY in verified.result:
        raise InputError("this result is a differentially private release already", field="result")
    # 2.
    release = release_for(verified.primitive)
    # 3.
    aggregates = release.aggregates(verified)
    mechanism = calibrate(request, aggregates.sensitivity)
    # 4.
    client = verified.submission.client_key_id
    dataset = dataset_of(verified)
    # 5.
    with ledger.charge(
        client=client,
        dataset=dataset,
        epsilon=request.epsilon,
        delta=request.delta,
        audit_id=verified.audit_id,
        bundle_digest=verified.bundle_digest,
        primitive=verified.primitive,
        mechanism=mechanism.name,
    ) as charge:
        noised = mechanism.release(list(aggregates.values))
        result = release.rebuild(noised, verified)
        analysis = analyse(
            release,
            verified,
            released=noised,
            result=result,
            mechanism=mechanism,
            seed=request.seed,
        )
    # 6.
    # each headline metric's error bound gets the half-width of its noise interval, so that
    # ``value +- bound`` and the policy gates see the noise
    # (a dotted name reaches into a record: drift's ``features.0.distance``)
    for metric, bound_field in release.error_bounds.items():
        interval = analysis["noise_intervals"].get(metric)
        centre = value_at(result, metric_path(metric))
        bound = value_at(result, metric_path(bound_field))
        if interval and isinstance(centre, int | float) and isinstance(bound, int | float):
            low, high = interval
            widened = float(bound) + max(abs(centre - low), abs(high - centre))
            set_value_at(result, metric_path(bound_field), widened)
    withheld = sorted(set(verified.result) - set(result))
    block: dict[str, Any] = {
        "epsilon": request.epsilon,
        "delta": request.delta,
        **mechanism.to_dict(),
        "neighbouring": f"one {aggregates.sensitivity.unit} added, removed or changed",
        "aggregates": [{"name": name, "noise_scale": mechanism.scale} for name in aggregates.names],
        "public": list(release.public),
        "withheld": withheld,
        "ledger": charge.to_dict(),
        "flip_analysis": analysis,
        "library": f"opendp {installed_version('opendp')}",
    }
    result[DP_KEY] = block
    return dataclasses.replace(verified, result=result)


__all__ = ["DP_KEY", "apply_release", "dataset_of"]
