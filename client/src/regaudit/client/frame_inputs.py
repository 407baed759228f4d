"""The DataFrame API's inputs: the columns of an in-memory table, named by keyword, become a
primitive's input object (regaudit-fhe 0.1.0's shape) and then its validated input
(:func:`frame_input`), without writing anything. Column errors name the keyword and list the
columns found (:func:`regaudit.shared.frames.table_column`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from regaudit.shared.errors import InputError
from regaudit.shared.frames import column_list, table_column
from regaudit.shared.primitives import AuditData, get_primitive
from regaudit.shared.results import INTERSECTION_SEPARATOR

#: A table: pandas DataFrame, pyarrow Table, dict of arrays or numpy structured array.
Table = object


def _list(array: np.ndarray[Any, Any]) -> list[Any]:
    return list(array.tolist())


# --- the primitives' columns -> their input objects ---------------------------------------------


def _fairness(
    data: Table,
    *,
    y_true: str,
    sensitive_features: str | Sequence[str],
    y_pred: str | None = None,
    scores: str | None = None,
    threshold: float = 0.1,
    groups: Sequence[str] | None = None,
    unknown_labels: Sequence[str] | str | None = None,
    **audit_options: Any,
) -> tuple[dict[str, Any], str]:
    features = column_list(sensitive_features, option="sensitive_features")
    if (y_pred is None) == (scores is None):
        raise InputError("give exactly one of y_pred and scores", field="scores")
    payload: dict[str, Any] = {
        "y_true": _list(table_column(data, y_true, option="y_true", kind="binary")),
        "group": _intersections(data, features),
        "threshold": threshold,
    }
    if y_pred is not None:
        payload["y_pred"] = _list(table_column(data, y_pred, option="y_pred", kind="binary"))
    if scores is not None:
        payload["scores"] = _list(table_column(data, scores, option="scores", kind="number"))
    if groups is not None:
        payload["groups"] = list(groups)
    if unknown_labels is not None:
        payload["unknown_labels"] = (
            unknown_labels if isinstance(unknown_labels, str) else list(unknown_labels)
        )
    payload.update({key: value for key, value in audit_options.items() if value is not None})
    return payload, INTERSECTION_SEPARATOR.join(features)


def _intersections(data: Table, features: list[str]) -> list[Any]:
    """The group label of every row: the feature's own label, or for several features their
    labels joined by :data:`INTERSECTION_SEPARATOR` (one intersectional category per
    combination present, as NYC Local Law 144 audits ask)."""
    columns = [
        table_column(data, feature, option="sensitive_features", kind="label")
        for feature in features
    ]
    if len(columns) == 1:
        return _list(columns[0])
    if len(set(features)) != len(features):
        raise InputError("a sensitive feature is named twice", field="sensitive_features")
    for feature, column in zip(features, columns, strict=True):
        clash = next((v for v in column if INTERSECTION_SEPARATOR in str(v)), None)
        if clash is not None:
            raise InputError(
                f"column {feature!r} holds the label {str(clash)!r}, which contains "
                f"{INTERSECTION_SEPARATOR!r} (the separator of intersectional groups)",
                field="sensitive_features",
            )
    return [INTERSECTION_SEPARATOR.join(str(v) for v in row) for row in zip(*columns, strict=True)]


def _concordance(data: Table, *, risk: str, time: str, event: str) -> dict[str, Any]:
    return {
        "risk": _list(table_column(data, risk, option="risk", kind="number")),
        "time": _list(table_column(data, time, option="time", kind="number")),
        "event": _list(table_column(data, event, option="event", kind="binary")),
    }


def _drift(
    data: Table,
    *,
    p: str | Sequence[str],
    q: str | Sequence[str],
    drift_threshold: float = 0.1,
    bin_width: float | None = None,
    w1_range: float | Sequence[float] | None = None,
) -> dict[str, Any]:
    """``p``/``q``: one histogram column each (rows = bins), or one column per feature."""
    histograms: dict[str, Any] = {}
    for option, names in (("p", p), ("q", q)):
        columns = [
            _list(table_column(data, name, option=option, kind="number"))
            for name in column_list(names, option=option)
        ]
        histograms[option] = columns[0] if isinstance(names, str) else columns
    payload: dict[str, Any] = {**histograms, "drift_threshold": drift_threshold}
    if bin_width is not None:
        payload["bin_width"] = bin_width
    if w1_range is not None:
        payload["w1_range"] = w1_range if isinstance(w1_range, int | float) else list(w1_range)
    return payload


def _disagreement(
    data: Table,
    *,
    x: str,
    model_polynomials: Sequence[Sequence[float]],
    threshold: float = 0.1,
    input_bound: float | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model_polynomials": [list(map(float, m)) for m in model_polynomials],
        "test_input": _list(table_column(data, x, option="x", kind="number")),
        "threshold": threshold,
    }
    if input_bound is not None:
        payload["input_bound"] = input_bound
    return payload


def _calibration(
    data: Table,
    *,
    scores: Sequence[str],
    quantiles: float | Sequence[float] | None = None,
    labels: str | None = None,
    score_range: float | Sequence[float] | None = None,
    alpha: float | None = None,
    calibration_scores: Sequence[float] | Sequence[Sequence[float]] | None = None,
    calibration_labels: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """``scores``: one column per class (rows = points); ``labels``: each point's true class
    (a batch). Without ``labels`` the table must hold one point (the seed's shape). The
    quantiles are given, or derived by the split-conformal rule from ``alpha`` and
    ``calibration_scores`` (optionally per class: ``calibration_labels``)."""
    columns = [
        table_column(data, name, option="scores", kind="number")
        for name in column_list(scores, option="scores")
    ]
    matrix = np.column_stack(columns).astype(np.float64)
    payload: dict[str, Any] = {}
    if quantiles is not None:
        payload["quantiles"] = quantiles if isinstance(quantiles, int | float) else list(quantiles)
    for key, value in (
        ("alpha", alpha),
        ("calibration_scores", calibration_scores),
        ("calibration_labels", calibration_labels),
    ):
        if value is not None:
            payload[key] = value if isinstance(value, int | float) else _list(np.asarray(value))
    if labels is None:
        if matrix.shape[0] != 1:
            raise InputError(
                f"the table holds {matrix.shape[0]} points: name their true classes with "
                "labels=COLUMN (a batch), or pass one row (one point)",
                field="labels",
            )
        payload["scores"] = _list(matrix[0])
    else:
        payload["scores"] = matrix.tolist()
        payload["labels"] = _list(table_column(data, labels, option="labels", kind="label"))
    if score_range is not None:
        payload["score_range"] = (
            score_range if isinstance(score_range, int | float) else list(score_range)
        )
    return payload


def _provenance(
    data: Table,
    *,
    attributions: str,
    row_ids: str,
    n_buckets: int,
    k: int,
    attribution_scale: float | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "attributions": _list(
            table_column(data, attributions, option="attributions", kind="number")
        ),
        "row_ids": _list(table_column(data, row_ids, option="row_ids", kind="label")),
        "n_buckets": n_buckets,
        "k": k,
    }
    if attribution_scale is not None:
        payload["attribution_scale"] = attribution_scale
    return payload


_BUILDERS: Mapping[str, Callable[..., Any]] = {
    "fairness": _fairness,
    "concordance": _concordance,
    "drift": _drift,
    "disagreement": _disagreement,
    "calibration": _calibration,
    "provenance": _provenance,
}
#: The primitives with a DataFrame form.
FRAME_PRIMITIVES: tuple[str, ...] = tuple(_BUILDERS)


def frame_payload(
    primitive: str, data: Table, arguments: Mapping[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """The input object of ``primitive`` from the columns of ``data`` and the sensitive
    feature's name (fairness; None otherwise)."""
    builder = _BUILDERS.get(primitive)
    if builder is None:
        raise InputError(
            f"no DataFrame form for {primitive!r} (use one of {', '.join(_BUILDERS)})",
            field="primitive",
        )
    try:
        built = builder(data, **arguments)
    except TypeError as exc:  # a missing or unknown keyword: name it
        raise InputError(f"{primitive}: {exc}", field="arguments") from None
    if isinstance(built, tuple):
        return built[0], built[1]
    return built, None


#: Input-object keys whose DataFrame keyword has another name.
FRAME_KEYWORDS: Mapping[str, Mapping[str, str]] = {
    "fairness": {"group": "sensitive_features", "groups": "groups"},
    "disagreement": {"test_input": "x"},
}


@contextmanager
def keyword_errors(primitive: str) -> Iterator[None]:
    """Re-raise an InputError of the primitive's validation naming the DataFrame keyword
    (``sensitive_features`` for fairness's ``group``, ``x`` for ``test_input``)."""
    try:
        yield
    except InputError as error:
        renames = FRAME_KEYWORDS.get(primitive, {})
        field = error.field or ""
        key, bracket, rest = field.partition("[")
        if key not in renames:
            raise
        raise InputError(error.message, field=renames[key] + bracket + rest) from None


def parse_payload(primitive: str, payload: Mapping[str, Any]) -> AuditData:
    """The primitive's validation of ``payload``, errors naming the DataFrame keywords."""
    with keyword_errors(primitive):
        return get_primitive(primitive).inputs().parse(payload)


def frame_input(primitive: str, data: Table, **arguments: Any) -> AuditData:
    """The validated input of ``primitive`` from the columns of ``data`` (named as in the
    ``audit_<primitive>`` functions), ready for :func:`regaudit.client.audit.run_audit`."""
    payload, _feature = frame_payload(primitive, data, arguments)
    return parse_payload(primitive, payload)


__all__ = [
    "FRAME_KEYWORDS",
    "FRAME_PRIMITIVES",
    "Table",
    "frame_input",
    "frame_payload",
    "keyword_errors",
    "parse_payload",
]
