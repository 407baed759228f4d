"""In-process quick start: every audit primitive in one call, as in regaudit-fhe 0.1.0.

``audit_fairness(y_true, y_pred, group_a, group_b, threshold=0.1)`` and its siblings run the
whole cryptographic protocol in this one process: a fresh CKKS key set at the plan's profile and
rotation steps, encryption of every input column at ``plan.input_level``, evaluation with
:class:`~regaudit.shared.ckks.CkksBackend` through the circuit's ``accumulate``/``finalize``,
decryption at ``plan.output_level`` and the circuit's own decoding. There is no daemon, no
signature and no key custody: use the client / evaluator / regulator packages for that. With
``backend="plaintext"`` the primitive's exact reference (its ``reference`` role module) is
returned instead. :func:`audit` runs any registered primitive (plug-ins included) on its
input object.

This module belongs to ``regaudit.shared`` and imports no role package. The CKKS path needs
secret-key code, which lives in the ``regaudit-secretkey`` distribution: :func:`run_ckks`
imports it lazily (the one import from ``regaudit.shared`` to ``regaudit.secretkey`` that the
import-linter contract allows) and raises a clear error where it is not installed, for example in
an evaluator-only environment. ``backend="plaintext"`` never needs it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, TypeAlias, cast

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import Circuit, Plan, PublicInputs, accumulate
from regaudit.shared.errors import InputError, RegauditError
from regaudit.shared.planning import data_chunks, make_plan
from regaudit.shared.primitives import get_primitive
from regaudit.shared.profiles import ParameterProfile
from regaudit.shared.results import ResultViews

Backend = Literal["ckks", "plaintext"]
#: One released report field: a JSON value (number, bool, string, list or object) whose type
#: depends on the field, so attribute access stays open to the caller's own typing.
ReportField: TypeAlias = Any
BACKENDS: tuple[str, ...] = ("ckks", "plaintext")


class AuditInput(Protocol):
    """A validated primitive input (``<P>Data``)."""

    @property
    def rows(self) -> int: ...

    @property
    def public(self) -> PublicInputs: ...

    def columns(self) -> dict[str, FloatArray]: ...


# --- reports ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditReport(ResultViews):
    """A primitive's report: its field names are attributes (``report.c_index``) and
    :meth:`to_dict` keys; :class:`~regaudit.shared.results.ResultViews` adds the frames
    (``by_group``, ``overall``, ``difference()``, ``to_frame()``), ``to_seed_dict()`` and the
    notebook HTML. ``plan`` is the plan's dict for the CKKS backend (None for the plaintext
    oracle); ``seconds`` is the wall time of the whole run. A remote audit's report also has
    its ``audit_id`` and ``bundle_path``; ``sensitive_feature`` names the ``by_group`` index."""

    primitive: str
    backend: str
    fields: Mapping[str, Any]
    plan: Mapping[str, Any] | None = None
    seconds: float = 0.0
    sensitive_feature: str | None = None
    audit_id: str | None = None
    bundle_path: Path | None = None

    def __getattr__(self, name: str) -> ReportField:
        if name.startswith("__") or name == "fields":
            raise AttributeError(name)
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r} (fields: {', '.join(self.fields)})"
            ) from None

    def __getitem__(self, name: str) -> ReportField:
        return self.fields[name]

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.fields))


class FairnessReport(AuditReport):
    """Fairness report (``demographic_parity_diff``, ``threshold_breached``, ``groups``...)."""


class ConcordanceReport(AuditReport):
    """Concordance report (``c_index``, ``concordant_pairs``, ``comparable_pairs``...)."""


class DriftReport(AuditReport):
    """Drift report (``distance``, ``w1_distance``, ``w1_error_bound``, ``drift_detected``...)."""


class DisagreementReport(AuditReport):
    """Disagreement report (``mean_pairwise_squared_difference``, ``threshold_breached``...)."""


class CalibrationReport(AuditReport):
    """Calibration report (``membership``/``set_size`` or ``coverage``/``mean_set_size``)."""


class ProvenanceReport(AuditReport):
    """Provenance report (``bucket_totals``, ``top_k_ids``, ``top_k_indicator``...)."""


# --- the in-process protocol --------------------------------------------------------------------


def run_ckks(
    circuit: Circuit, data: AuditInput, *, profile: ParameterProfile | str | None = None
) -> tuple[Plan, dict[str, Any]]:
    """The full cryptographic protocol in one process; returns (plan, decoded report).

    Steps: 1. plan from sizes alone; 2. fresh keys with exactly the plan's rotation steps;
    3. the evaluation keys are loaded and checked as the evaluator would; 4. every chunk of
    every column is encrypted at ``plan.input_level``, loaded with SEAL's checks and evaluated;
    5. finalize (aggregates only); 6. decrypt at ``plan.output_level`` and decode.
    """
    from regaudit.shared.ckks import CkksBackend, load_evaluation_keys

    try:
        from regaudit.secretkey.ckks import ClientKeys, SecretKeyDecryptor
    except ModuleNotFoundError as exc:
        if exc.name is None or not (
            exc.name == "regaudit.secretkey" or exc.name.startswith("regaudit.secretkey.")
        ):
            raise
        raise RegauditError(
            "the in-process CKKS quick start needs the regaudit-secretkey distribution "
            "(CKKS key generation, encryption, decryption), which is not installed here; "
            "install it (pip install ./secretkey, or regaudit-client / regaudit-regulator) "
            'or use backend="plaintext"'
        ) from exc

    # 1.
    public = circuit.validate_public(data.public)
    plan = make_plan(circuit, public, rows=data.rows, profile=profile)
    # 2.
    keys = ClientKeys.generate(plan.profile, galois_steps=plan.rotation_steps)
    # 3.
    loaded = load_evaluation_keys(
        plan.profile, keys.evaluation_keys(), required_steps=plan.rotation_steps
    )
    backend = CkksBackend(plan.profile, loaded, max_level=plan.profile.max_depth)

    # 4.
    def encrypted() -> Iterator[dict[str, Any]]:
        for chunk in data_chunks(data, plan.chunk_rows):
            yield {
                name: backend.load(
                    keys.encrypt(chunk[name], level=plan.input_level), level=plan.input_level
                )
                for name in plan.columns
            }

    accumulators = accumulate(circuit, backend, encrypted(), public)
    if accumulators is None:
        raise InputError("the audit has no rows", field="rows")
    # 5.
    outputs = circuit.finalize(backend, accumulators, public, data.rows)
    # 6.
    decryptor = SecretKeyDecryptor.from_bytes(plan.profile, keys.secret_key_bytes())
    values = [decryptor.decrypt(o.to_bytes(), level=plan.output_level) for o in outputs]
    decoded = get_primitive(circuit.circuit_id).report().decode(values, public, data.rows)
    return plan, decoded


#: The report class of each built-in primitive (a plug-in's reports are AuditReport).
REPORT_TYPES: dict[str, type[AuditReport]] = {
    "fairness": FairnessReport,
    "concordance": ConcordanceReport,
    "drift": DriftReport,
    "disagreement": DisagreementReport,
    "calibration": CalibrationReport,
    "provenance": ProvenanceReport,
}


def audit(
    primitive: str,
    payload: Mapping[str, Any],
    *,
    backend: Backend = "ckks",
    profile: ParameterProfile | str | None = None,
) -> AuditReport:
    """Any registered primitive on its regaudit-fhe 0.1.0 input object (``payload``: the
    primitive's ``<primitive>.input`` shape; numpy arrays allowed).

    ``backend="ckks"`` runs the primitive's current circuit through the whole protocol in this
    process (:func:`run_ckks`); ``backend="plaintext"`` returns its exact reference."""
    if backend not in BACKENDS:
        raise InputError(
            f"unknown backend {backend!r} (use {' or '.join(BACKENDS)})", field="backend"
        )
    descriptor = get_primitive(primitive)
    data = descriptor.inputs().parse({key: _seq(value) for key, value in payload.items()})
    report_type = REPORT_TYPES.get(primitive, AuditReport)
    started = time.perf_counter()
    if backend == "plaintext":
        fields = descriptor.reference().reference(data)
        return report_type(primitive, backend, fields, None, time.perf_counter() - started)
    plan, fields = run_ckks(descriptor.circuit, data, profile=profile)
    return report_type(primitive, backend, fields, plan.to_dict(), time.perf_counter() - started)


def _seq(values: object) -> object:
    """numpy arrays become lists (the parsers take regaudit-fhe 0.1.0's JSON shapes)."""
    tolist = getattr(values, "tolist", None)
    return tolist() if callable(tolist) else values


def _payload(**items: Any) -> dict[str, Any]:
    return {key: _seq(value) for key, value in items.items() if value is not None}


# --- the six primitives -------------------------------------------------------------------------


def audit_fairness(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    group_a: Sequence[Any] | None = None,
    group_b: Sequence[Any] | None = None,
    *,
    group: Sequence[Any] | None = None,
    threshold: float = 0.1,
    backend: Backend = "ckks",
    profile: ParameterProfile | str | None = None,
) -> FairnessReport:
    """Fairness of binary predictions between ``group_a``/``group_b`` membership columns
    (regaudit-fhe 0.1.0's shape) or across the categories of ``group``."""
    payload = _payload(
        y_true=y_true,
        y_pred=y_pred,
        group_a=group_a,
        group_b=group_b,
        group=group,
        threshold=threshold,
    )
    return cast(FairnessReport, audit("fairness", payload, backend=backend, profile=profile))


def audit_concordance(
    risk: Sequence[float],
    time: Sequence[float],
    event: Sequence[Any],
    *,
    backend: Backend = "ckks",
    profile: ParameterProfile | str | None = None,
) -> ConcordanceReport:
    """Harrell's C of ``risk`` against survival ``time`` with ``event`` indicators."""
    payload = _payload(risk=risk, time=time, event=event)
    return cast(ConcordanceReport, audit("concordance", payload, backend=backend, profile=profile))


def audit_drift(
    p: Sequence[Any],
    q: Sequence[Any],
    *,
    drift_threshold: float = 0.1,
    bin_width: float | None = None,
    w1_range: float | Sequence[float] | None = None,
    backend: Backend = "ckks",
    profile: ParameterProfile | str | None = None,
) -> DriftReport:
    """Drift between histograms ``p`` and ``q`` (one feature, or F x B batches)."""
    payload = _payload(
        p=p, q=q, drift_threshold=drift_threshold, bin_width=bin_width, w1_range=w1_range
    )
    return cast(DriftReport, audit("drift", payload, backend=backend, profile=profile))


def audit_disagreement(
    model_polynomials: Sequence[Sequence[float]],
    test_input: Sequence[float],
    *,
    threshold: float = 0.1,
    input_bound: float | None = None,
    backend: Backend = "ckks",
    profile: ParameterProfile | str | None = None,
) -> DisagreementReport:
    """Mean pairwise squared disagreement of public polynomial models on private inputs."""
    payload = _payload(
        model_polynomials=[_seq(m) for m in model_polynomials],
        test_input=test_input,
        threshold=threshold,
        input_bound=input_bound,
    )
    return cast(
        DisagreementReport, audit("disagreement", payload, backend=backend, profile=profile)
    )


def audit_calibration(
    scores: Sequence[Any],
    quantiles: float | Sequence[float] | None = None,
    *,
    labels: Sequence[int] | None = None,
    score_range: float | Sequence[float] | None = None,
    alpha: float | None = None,
    calibration_scores: Sequence[Any] | None = None,
    calibration_labels: Sequence[int] | None = None,
    backend: Backend = "ckks",
    profile: ParameterProfile | str | None = None,
) -> CalibrationReport:
    """Conformal prediction-set membership of one point (``scores`` = K values) or, with
    ``labels``, coverage and mean set size of a batch (``scores`` = n x K). Scores may be any
    reals (``score_range``: R for [0, R] or (lo, hi); default a derived public window). Instead
    of ``quantiles``: ``alpha`` with ``calibration_scores`` (n, or n x K per class; or n with
    ``calibration_labels``), split-conformal quantiles (docs/specs/calibration.md)."""
    payload = _payload(
        scores=[_seq(s) for s in scores] if labels is not None else scores,
        quantiles=quantiles,
        labels=labels,
        score_range=score_range,
        alpha=alpha,
        calibration_scores=calibration_scores,
        calibration_labels=calibration_labels,
    )
    return cast(CalibrationReport, audit("calibration", payload, backend=backend, profile=profile))


def audit_provenance(
    attributions: Sequence[float],
    row_ids: Sequence[Any],
    *,
    n_buckets: int,
    k: int,
    attribution_scale: float | None = None,
    backend: Backend = "ckks",
    profile: ParameterProfile | str | None = None,
) -> ProvenanceReport:
    """Per-bucket attribution totals (bucket = SHA-256(row id) mod n_buckets) and the top-K."""
    payload = _payload(
        attributions=attributions,
        row_ids=row_ids,
        n_buckets=n_buckets,
        k=k,
        attribution_scale=attribution_scale,
    )
    return cast(ProvenanceReport, audit("provenance", payload, backend=backend, profile=profile))


__all__ = [
    "BACKENDS",
    "REPORT_TYPES",
    "AuditReport",
    "CalibrationReport",
    "ConcordanceReport",
    "DisagreementReport",
    "DriftReport",
    "FairnessReport",
    "ProvenanceReport",
    "audit",
    "audit_calibration",
    "audit_concordance",
    "audit_disagreement",
    "audit_drift",
    "audit_fairness",
    "audit_provenance",
    "run_ckks",
]
