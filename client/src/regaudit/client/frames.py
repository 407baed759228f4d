"""The DataFrame-native API: audit the columns of an in-memory table, in process or against an
evaluator, without writing the data anywhere.

``data`` is a pandas DataFrame, a pyarrow Table, a dict of arrays or a numpy structured array;
columns are named by keyword, with fairlearn's names where the concept is the same::

    from regaudit.client import audit_fairness

    result = audit_fairness(df, y_true="label", y_pred="pred", sensitive_features="sex")
    result.by_group            # a DataFrame indexed by sex (MetricFrame's by_group)
    result.difference()        # max - min per metric
    audit_fairness(df, y_true="label", y_pred="pred", sensitive_features="sex",
                   evaluator="127.0.0.1:50051", regulator_card=card, identity=client_dir,
                   out="fairness.bundle", pinned_evaluator_key_id=..., pinned_regulator_key_id=...)

Without ``evaluator`` the whole CKKS protocol runs in this process (:mod:`regaudit.shared.local`;
``backend="plaintext"`` gives the exact reference). With ``evaluator`` (HOST:PORT) the columns
go through :func:`regaudit.client.audit.run_audit` and the bundle is written to ``out``; any other
keyword (pins, ``identity_dir``, ``timeout``, ``tls``, ``witnesses``...) is passed on to it.

What a remote result holds: the client holds the data and the audit's secret key but decrypts
nothing for itself. :func:`run_audit` has checked every output the evaluator returned against the
client's plaintext oracle (the planned circuit on the plaintext backend over the same columns);
the result's fields are that oracle's outputs decoded by the primitive's own report decoder, i.e.
what the regulator will release from the bundle, up to the rounding of CKKS noise (exact counts,
such as fairness's, are equal). The regulator's own result object is
:meth:`regaudit.regulator.verified.VerifiedAudit.to_report`.

Fairness takes ``sensitive_features`` as a column name or a list: several features make
intersectional groups (one category per combination present, labels joined by ``" & "``;
``by_group`` has one index level per feature, as MetricFrame). :func:`frame_input` builds the
validated input that :func:`run_audit` takes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from regaudit.client.data_description import check_data_description
from regaudit.client.frame_inputs import Table, frame_payload, keyword_errors, parse_payload
from regaudit.shared.errors import InputError
from regaudit.shared.local import (
    REPORT_TYPES,
    AuditReport,
    Backend,
    CalibrationReport,
    ConcordanceReport,
    DisagreementReport,
    DriftReport,
    FairnessReport,
    ProvenanceReport,
    audit,
)
from regaudit.shared.primitives import AuditData, get_primitive

if TYPE_CHECKING:
    from regaudit.shared.evidence.identity import SigningIdentity
    from regaudit.shared.evidence.sealing import RegulatorCard

#: A regulator card: its JSON object, a parsed card or the path of its file.
CardSource: TypeAlias = "Mapping[str, Any] | RegulatorCard | str | Path"
#: The client's signing identity, or its identity directory (from ``regaudit-client init``).
IdentitySource: TypeAlias = "SigningIdentity | str | Path"

#: Largest regulator card file read.
MAX_CARD_BYTES = 1024**2

# --- running -----------------------------------------------------------------------------------


def _run(
    primitive: str,
    data: Table,
    arguments: Mapping[str, Any],
    *,
    evaluator: str | None,
    backend: Backend,
    profile: str | None,
    remote: Mapping[str, Any],
) -> AuditReport:
    """Steps: 1. the columns become the primitive's input object (nothing written); 2. without
    an evaluator, the in-process audit; 3. with one, run_audit (the bundle goes to ``out``) and
    the client's view of the result (see the module docstring)."""
    # 1.
    payload, feature = frame_payload(primitive, data, arguments)
    # 2.
    if evaluator is None:
        unexpected = sorted(k for k, v in remote.items() if v is not None and v != ())
        if unexpected:
            raise InputError(
                f"{', '.join(unexpected)} apply to a remote audit: give evaluator=HOST:PORT",
                field=unexpected[0],
            )
        with keyword_errors(primitive):
            report = audit(primitive, payload, backend=backend, profile=profile)
        return dataclasses.replace(report, sensitive_feature=feature)
    # 3.
    if backend != "ckks":
        raise InputError("a remote audit always runs CKKS", field="backend")
    return _run_remote(primitive, payload, feature, evaluator, profile, dict(remote))


def _run_remote(
    primitive: str,
    payload: Mapping[str, Any],
    feature: str | None,
    evaluator: str,
    profile: str | None,
    options: dict[str, Any],
) -> AuditReport:
    from regaudit.client.audit import run_audit

    started = time.perf_counter()
    data = parse_payload(primitive, payload)
    card, identity, out = options.pop("regulator_card"), options.pop("identity"), options.pop("out")
    for name, value in (("regulator_card", card), ("identity", identity), ("out", out)):
        if value is None:
            raise InputError("is required for a remote audit", field=name)
    if options.get("data_description") is not None:
        options["data_description"] = check_data_description(options["data_description"])
    signer, identity_dir = _identity(identity)
    if identity_dir is not None:
        options.setdefault("identity_dir", identity_dir)
    outcome = run_audit(
        primitive,
        data,
        evaluator=evaluator,
        regulator_card=_card(card),
        identity=signer,
        out=out,
        profile=profile,
        **options,
    )
    fields = client_view(primitive, data, outcome.plan.profile)
    report_type = REPORT_TYPES.get(primitive, AuditReport)
    return report_type(
        primitive,
        "ckks",
        fields,
        outcome.plan.to_dict(),
        time.perf_counter() - started,
        sensitive_feature=feature,
        audit_id=outcome.audit_id,
        bundle_path=outcome.bundle_path,
    )


def client_view(primitive: str, data: AuditData, profile: Any) -> dict[str, Any]:
    """The released report of the client's plaintext oracle (the planned circuit on the
    plaintext backend over ``data``), decoded as the regulator decodes its decryption. Where
    that decoder needs an extra the client does not install (drift's certification needs
    scipy), the primitive's exact reference instead."""
    from regaudit.shared.extras import MissingExtraError
    from regaudit.shared.planning import data_chunks, run_plaintext

    descriptor = get_primitive(primitive)
    circuit = descriptor.circuit
    public = circuit.validate_public(data.public)
    _plan, outputs = run_plaintext(
        circuit,
        dict(public),
        lambda chunk_rows: data_chunks(data, chunk_rows),
        rows=data.rows,
        profile=profile,
    )
    try:
        return dict(descriptor.report().decode(outputs, public, data.rows))
    except MissingExtraError:
        return dict(descriptor.reference().reference(data))


def _identity(identity: object) -> tuple[SigningIdentity, Path | None]:
    from regaudit.shared.evidence.identity import SigningIdentity

    if isinstance(identity, SigningIdentity):
        return identity, None
    if isinstance(identity, str | Path):
        return SigningIdentity.load(Path(identity), kind="client"), Path(identity)
    raise InputError("must be a SigningIdentity or a client identity directory", field="identity")


def _card(card: object) -> Mapping[str, Any] | RegulatorCard:
    if isinstance(card, str | Path):
        path = Path(card)
        if not path.is_file():
            raise InputError(f"regulator card {path} does not exist", field="regulator_card")
        if path.stat().st_size > MAX_CARD_BYTES:
            raise InputError(f"regulator card {path} is too large", field="regulator_card")
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"regulator card {path}: {exc}", field="regulator_card") from None
        if not isinstance(loaded, dict):
            raise InputError(f"regulator card {path} is not an object", field="regulator_card")
        return loaded
    return card  # type: ignore[return-value]  # a mapping or a RegulatorCard, checked by run_audit


# --- the six primitives -------------------------------------------------------------------------


def _remote(
    regulator_card: CardSource | None,
    identity: IdentitySource | None,
    out: str | Path | None,
    run_options: Mapping[str, Any],
) -> dict[str, Any]:
    return {"regulator_card": regulator_card, "identity": identity, "out": out, **run_options}


def audit_fairness(
    data: Table,
    *,
    y_true: str,
    y_pred: str | None = None,
    sensitive_features: str | Sequence[str],
    threshold: float = 0.1,
    groups: Sequence[str] | None = None,
    scores: str | None = None,
    unknown_labels: Sequence[str] | str | None = None,
    reference_group: str | None = None,
    exclude_small: bool | None = None,
    evaluator: str | None = None,
    regulator_card: CardSource | None = None,
    identity: IdentitySource | None = None,
    out: str | Path | None = None,
    backend: Backend = "ckks",
    profile: str | None = None,
    **run_options: Any,
) -> FairnessReport:
    """Fairness of the 0/1 predictions ``y_pred`` against the 0/1 labels ``y_true`` across the
    groups of the ``sensitive_features`` column (labels are strings or integers; several
    columns: their intersections).
    ``groups`` lists the expected labels. The result has ``by_group``, ``overall``,
    ``difference()`` and the report fields (``demographic_parity_diff``...).

    NYC Local Law 144 bias audits: ``scores`` (a column of model scores) replaces ``y_pred``
    (exactly one): the selection is score > the sample median of all scores (the scoring rate);
    ``unknown_labels`` lists labels meaning "category unknown" (rows in no category, counted in
    ``bias_audit["unknown_rows"]``); ``reference_group`` and ``exclude_small`` set the bias
    audit's reference category and the exclusion of categories under 2 %. A remote audit
    takes ``data_description={"dataset": ..., "period": "YYYY-MM-DD/YYYY-MM-DD", "source":
    ...}`` (checked as the command line's ``--dataset``/``--period``/``--source``)."""
    arguments = {
        "y_true": y_true,
        "y_pred": y_pred,
        "scores": scores,
        "sensitive_features": sensitive_features,
        "threshold": threshold,
        "groups": groups,
        "unknown_labels": unknown_labels,
        "reference_group": reference_group,
        "exclude_small": exclude_small,
    }
    remote = _remote(regulator_card, identity, out, run_options)
    report = _run(
        "fairness", data, arguments, evaluator=evaluator, backend=backend, profile=profile,
        remote=remote,
    )  # fmt: skip
    return cast(FairnessReport, report)


def audit_concordance(
    data: Table,
    *,
    risk: str,
    time: str,
    event: str,
    evaluator: str | None = None,
    regulator_card: CardSource | None = None,
    identity: IdentitySource | None = None,
    out: str | Path | None = None,
    backend: Backend = "ckks",
    profile: str | None = None,
    **run_options: Any,
) -> ConcordanceReport:
    """Harrell's C of the ``risk`` column against survival ``time`` with 0/1 ``event``."""
    arguments = {"risk": risk, "time": time, "event": event}
    remote = _remote(regulator_card, identity, out, run_options)
    report = _run(
        "concordance", data, arguments, evaluator=evaluator, backend=backend, profile=profile,
        remote=remote,
    )  # fmt: skip
    return cast(ConcordanceReport, report)


def audit_drift(
    data: Table,
    *,
    p: str | Sequence[str],
    q: str | Sequence[str],
    drift_threshold: float = 0.1,
    bin_width: float | None = None,
    w1_range: float | Sequence[float] | None = None,
    evaluator: str | None = None,
    regulator_card: CardSource | None = None,
    identity: IdentitySource | None = None,
    out: str | Path | None = None,
    backend: Backend = "ckks",
    profile: str | None = None,
    **run_options: Any,
) -> DriftReport:
    """Drift between the reference histogram ``p`` and the current one ``q`` (rows = bins; a
    list of columns: one feature each)."""
    arguments = {
        "p": p,
        "q": q,
        "drift_threshold": drift_threshold,
        "bin_width": bin_width,
        "w1_range": w1_range,
    }
    remote = _remote(regulator_card, identity, out, run_options)
    report = _run(
        "drift", data, arguments, evaluator=evaluator, backend=backend, profile=profile,
        remote=remote,
    )  # fmt: skip
    return cast(DriftReport, report)


def audit_disagreement(
    data: Table,
    *,
    x: str,
    model_polynomials: Sequence[Sequence[float]],
    threshold: float = 0.1,
    input_bound: float | None = None,
    evaluator: str | None = None,
    regulator_card: CardSource | None = None,
    identity: IdentitySource | None = None,
    out: str | Path | None = None,
    backend: Backend = "ckks",
    profile: str | None = None,
    **run_options: Any,
) -> DisagreementReport:
    """Mean pairwise squared disagreement of public polynomial models on the private inputs
    in column ``x``."""
    arguments = {
        "x": x,
        "model_polynomials": model_polynomials,
        "threshold": threshold,
        "input_bound": input_bound,
    }
    remote = _remote(regulator_card, identity, out, run_options)
    report = _run(
        "disagreement", data, arguments, evaluator=evaluator, backend=backend, profile=profile,
        remote=remote,
    )  # fmt: skip
    return cast(DisagreementReport, report)


def audit_calibration(
    data: Table,
    *,
    scores: Sequence[str],
    quantiles: float | Sequence[float] | None = None,
    labels: str | None = None,
    score_range: float | Sequence[float] | None = None,
    alpha: float | None = None,
    calibration_scores: Sequence[float] | Sequence[Sequence[float]] | None = None,
    calibration_labels: Sequence[Any] | None = None,
    evaluator: str | None = None,
    regulator_card: CardSource | None = None,
    identity: IdentitySource | None = None,
    out: str | Path | None = None,
    backend: Backend = "ckks",
    profile: str | None = None,
    **run_options: Any,
) -> CalibrationReport:
    """Conformal prediction sets: ``scores`` names one column per class; with ``labels`` (each
    row's true class) coverage and mean set size of the batch, without it the membership of
    the table's one row. Quantiles are given, or derived from ``alpha`` and
    ``calibration_scores`` (split conformal; ``calibration_labels`` for per-class ones)."""
    arguments = {
        "scores": scores,
        "quantiles": quantiles,
        "labels": labels,
        "score_range": score_range,
        "alpha": alpha,
        "calibration_scores": calibration_scores,
        "calibration_labels": calibration_labels,
    }
    remote = _remote(regulator_card, identity, out, run_options)
    report = _run(
        "calibration", data, arguments, evaluator=evaluator, backend=backend, profile=profile,
        remote=remote,
    )  # fmt: skip
    return cast(CalibrationReport, report)


def audit_provenance(
    data: Table,
    *,
    attributions: str,
    row_ids: str,
    n_buckets: int,
    k: int,
    attribution_scale: float | None = None,
    evaluator: str | None = None,
    regulator_card: CardSource | None = None,
    identity: IdentitySource | None = None,
    out: str | Path | None = None,
    backend: Backend = "ckks",
    profile: str | None = None,
    **run_options: Any,
) -> ProvenanceReport:
    """Attribution totals per public hash bucket of ``row_ids`` and the top-``k`` buckets."""
    arguments = {
        "attributions": attributions,
        "row_ids": row_ids,
        "n_buckets": n_buckets,
        "k": k,
        "attribution_scale": attribution_scale,
    }
    remote = _remote(regulator_card, identity, out, run_options)
    report = _run(
        "provenance", data, arguments, evaluator=evaluator, backend=backend, profile=profile,
        remote=remote,
    )  # fmt: skip
    return cast(ProvenanceReport, report)


__all__ = [
    "MAX_CARD_BYTES",
    "CardSource",
    "IdentitySource",
    "audit_calibration",
    "audit_concordance",
    "audit_disagreement",
    "audit_drift",
    "audit_fairness",
    "audit_provenance",
    "client_view",
]
