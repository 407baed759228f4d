"""Table views of an audit result, named after fairlearn's ``MetricFrame`` where the concept is
the same.

:class:`ResultViews` is mixed into :class:`regaudit.shared.local.AuditReport`, the one result
object of the in-process audits, of the client's DataFrame API (:mod:`regaudit.client.frames`)
and of the regulator (:meth:`regaudit.regulator.verified.VerifiedAudit.to_report`):

* ``by_group`` (fairness): a pandas DataFrame indexed by group, one column per per-group
  metric (``count``, ``positives``, ``predicted_positives``, ``true_positives``,
  ``selection_rate``, ``true_positive_rate``, ``false_positive_rate``, ``precision``); an
  undefined rate (zero denominator) is NaN, never 0;
* ``overall`` (fairness): the same metrics over every row assigned to a group, a pandas Series;
* ``difference()``, ``ratio()``, ``group_min()``, ``group_max()`` (fairness): per metric, as
  ``MetricFrame``'s ``method="between_groups"`` (undefined rates skipped);
* ``to_frame()``: the result's table (fairness: ``by_group``; drift: one row per feature;
  provenance: one row per bucket; disagreement: one row per model; calibration: one row per
  class; otherwise the scalar fields as one row);
* ``to_dict()`` (plain fields), ``to_seed_dict()`` (regaudit-fhe 0.1.0's output object,
  :mod:`regaudit.shared.seed_view`) and ``_repr_html_`` for notebooks (every value escaped).

pandas is imported when a frame is asked for (install ``regaudit-shared[dataframe]``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from regaudit.shared.errors import InputError
from regaudit.shared.seed_view import seed_compatible

#: Joins the sensitive features' names and each row's labels into one intersectional group
#: (``"sex & race"``, ``"female & black"``); ``by_group`` splits them back into a MultiIndex.
INTERSECTION_SEPARATOR = " & "

#: The per-group columns of a fairness ``by_group`` frame, in order.
FAIRNESS_GROUP_COLUMNS: tuple[str, ...] = (
    "count",
    "positives",
    "predicted_positives",
    "true_positives",
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "precision",
)
#: The per-group rates (the counts' ratios).
FAIRNESS_RATES: tuple[str, ...] = FAIRNESS_GROUP_COLUMNS[4:]
#: Most rows a notebook's HTML table shows.
MAX_HTML_ROWS = 64


def _pandas() -> Any:
    try:
        import pandas
    except ModuleNotFoundError as exc:  # pragma: no cover - pandas is in the dev set
        raise InputError(
            "result frames need pandas: pip install 'regaudit-shared[dataframe]'",
            field="pandas",
        ) from exc
    return pandas


def _rates(counts: Mapping[str, float]) -> dict[str, float | None]:
    """The four rates of one set of counts (None for a zero denominator)."""
    n, pos, pred, tp = (
        counts["count"],
        counts["positives"],
        counts["predicted_positives"],
        counts["true_positives"],
    )
    negatives, false_pos = n - pos, pred - tp
    return {
        "selection_rate": pred / n if n else None,
        "true_positive_rate": tp / pos if pos else None,
        "false_positive_rate": false_pos / negatives if negatives else None,
        "precision": tp / pred if pred else None,
    }


class ResultViews:
    """Frames, dicts and HTML of a result with ``primitive`` and ``fields`` (see the module)."""

    primitive: str
    fields: Mapping[str, Any]
    #: the sensitive feature's name (the ``by_group`` index name); None: "group"
    sensitive_feature: str | None

    # --- MetricFrame names (fairness) ----------------------------------------------------------

    def _groups(self, view: str) -> Mapping[str, Mapping[str, Any]]:
        groups = self.fields.get("groups")
        if self.primitive != "fairness" or not isinstance(groups, Mapping):
            raise InputError(
                f"{view} applies to fairness results (one row per sensitive group); this is a "
                f"{self.primitive} result: use to_frame()",
                field=view,
            )
        return groups

    @property
    def by_group(self) -> Any:
        """Per-group metrics: a pandas DataFrame indexed by group (fairness only); for several
        sensitive features (intersectional groups) a MultiIndex with one level per feature, as
        fairlearn's MetricFrame."""
        pandas = _pandas()
        groups = self._groups("by_group")
        name = self.sensitive_feature or "group"
        features = name.split(INTERSECTION_SEPARATOR)
        labels = [str(g).split(INTERSECTION_SEPARATOR) for g in groups]
        if len(features) > 1 and all(len(parts) == len(features) for parts in labels):
            index = pandas.MultiIndex.from_tuples([tuple(p) for p in labels], names=features)
        else:
            index = pandas.Index(list(groups), name=name)
        frame = pandas.DataFrame(
            [[groups[g].get(c) for c in FAIRNESS_GROUP_COLUMNS] for g in groups],
            index=index,
            columns=list(FAIRNESS_GROUP_COLUMNS),
        )
        for column in FAIRNESS_GROUP_COLUMNS[:4]:
            frame[column] = frame[column].astype("int64")
        for column in FAIRNESS_RATES:
            frame[column] = frame[column].astype("float64")  # None -> NaN
        return frame

    @property
    def overall(self) -> Any:
        """The per-group metrics over every row assigned to a group: a pandas Series."""
        pandas = _pandas()
        groups = self._groups("overall")
        totals = {c: sum(int(groups[g][c]) for g in groups) for c in FAIRNESS_GROUP_COLUMNS[:4]}
        values: dict[str, Any] = {**totals, **_rates(totals)}
        series = pandas.Series(values, dtype="float64")
        series.name = "overall"
        return series

    def difference(self, method: str = "between_groups") -> Any:
        """max - min over the groups, per metric (``MetricFrame.difference``)."""
        frame = self._between("difference", method)
        return frame.max() - frame.min()

    def ratio(self, method: str = "between_groups") -> Any:
        """min / max over the groups, per metric (``MetricFrame.ratio``)."""
        frame = self._between("ratio", method)
        return frame.min() / frame.max()

    def group_min(self) -> Any:
        """The smallest value over the groups, per metric."""
        return self.by_group.min()

    def group_max(self) -> Any:
        """The largest value over the groups, per metric."""
        return self.by_group.max()

    def _between(self, view: str, method: str) -> Any:
        if method != "between_groups":
            raise InputError(
                f"only method='between_groups' is supported, got {method!r}", field="method"
            )
        self._groups(view)
        return self.by_group

    # --- every primitive -----------------------------------------------------------------------

    def to_frame(self) -> Any:
        """The result's table as a pandas DataFrame (see the module docstring)."""
        pandas = _pandas()
        f = self.fields
        if self.primitive == "fairness" and isinstance(f.get("groups"), Mapping):
            return self.by_group
        if isinstance(f.get("features"), list) and f["features"]:
            return pandas.DataFrame(f["features"]).rename_axis("feature")
        if isinstance(f.get("bucket_totals"), list):
            totals = f["bucket_totals"]
            indicator = f.get("top_k_indicator") or [0] * len(totals)
            return pandas.DataFrame({"bucket_total": totals, "in_top_k": indicator}).rename_axis(
                "bucket"
            )
        if isinstance(f.get("per_model_mean_outputs"), list):
            columns = {"mean_output": f["per_model_mean_outputs"]}
            if isinstance(f.get("per_model_error_bounds"), list):
                columns["error_bound"] = f["per_model_error_bounds"]
            return pandas.DataFrame(columns).rename_axis("model")
        if isinstance(f.get("membership"), list):
            return pandas.DataFrame({"membership": f["membership"]}, dtype=object).rename_axis(
                "class"
            )
        scalars = {
            k: v for k, v in f.items() if v is None or isinstance(v, bool | int | float | str)
        }
        return pandas.DataFrame([scalars], index=pandas.Index([self.primitive], name="audit"))

    def to_dict(self) -> dict[str, Any]:
        """The report fields as a plain dict."""
        return dict(self.fields)

    def to_seed_dict(self) -> dict[str, Any]:
        """regaudit-fhe 0.1.0's output object for this result (validates against its
        ``<primitive>.output`` schema); SeedIncompatibleError where the seed cannot express it."""
        return seed_compatible(self.primitive, self.fields)

    def _repr_html_(self) -> str:
        """A small HTML summary for notebooks; every name and value is escaped."""
        rows = []
        for name, value in list(self.fields.items())[:MAX_HTML_ROWS]:
            if isinstance(value, Mapping | list | tuple):
                text = f"{type(value).__name__} of {len(value)}"
            else:
                text = "undefined" if value is None else str(value)
            rows.append(f"<tr><th>{html.escape(str(name))}</th><td>{html.escape(text)}</td></tr>")
        table = ""
        if self.primitive == "fairness" and isinstance(self.fields.get("groups"), Mapping):
            table = self.by_group.to_html(escape=True, na_rep="undefined")
        title = html.escape(f"{self.primitive} audit")
        return (
            f'<div class="regaudit-result"><strong>{title}</strong>'
            f"<table>{''.join(rows)}</table>{table}</div>"
        )


__all__ = ["FAIRNESS_GROUP_COLUMNS", "FAIRNESS_RATES", "MAX_HTML_ROWS", "ResultViews"]
