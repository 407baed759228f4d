"""Errors of a verified (decrypted) primitive result against the primitive's exact reference,
and whether they lie within the error bounds the report itself gives."""

from __future__ import annotations

import numpy as np
from harness import JsonObject

__all__ = ["result_errors", "within_reported_bound"]


def _rel(got: float, want: float) -> float:
    return abs(got - want) / max(abs(want), 1e-300)


def result_errors(primitive: str, got: JsonObject, want: JsonObject) -> JsonObject:
    """The headline error of the verified (decrypted) result against the primitive's
    ``reference`` role module, and whether it lies within the error bound the report gives."""
    errors = _result_errors(primitive, got, want)
    if "within_reported_bound" not in errors:
        errors["within_reported_bound"] = within_reported_bound(primitive, errors)
    return errors


def _result_errors(primitive: str, got: JsonObject, want: JsonObject) -> JsonObject:
    if primitive == "concordance":
        return {
            "headline": "|ΔC|",
            "value": abs(float(got["c_index"]) - float(want["c_index"])),
            "c_index": got["c_index"],
            "c_index_exact": want["c_index"],
            "comparable_pairs_error": abs(
                float(got["comparable_pairs"]) - float(want["comparable_pairs"])
            ),
            "reported_error_bound": got.get("c_index_error_bound"),
            "met": abs(float(got["c_index"]) - float(want["c_index"])) <= 0.002,
        }
    if primitive == "provenance":
        totals = np.asarray(got["bucket_totals"], float)
        exact = np.asarray(want["bucket_totals"], float)
        scale = float(np.abs(exact).sum())
        value = float(np.abs(totals - exact).max()) / scale
        return {
            "headline": "max |Δtotal| / Σ|a|",
            "value": value,
            "max_abs_total_error": float(np.abs(totals - exact).max()),
            "top_k_equal": list(got["top_k_ids"]) == list(want["top_k_ids"]),
            "reported_error_bound": got.get("error_bound"),
            "within_reported_bound": float(np.abs(totals - exact).max())
            <= float(got.get("error_bound") or 0.0),
            "met": value <= 1e-6,
        }
    if primitive == "calibration":
        coverage = abs(float(got["coverage"]) - float(want["coverage"]))
        size = abs(float(got["mean_set_size"]) - float(want["mean_set_size"]))
        return {
            "headline": "|Δcoverage|",
            "value": coverage,
            "mean_set_size_error": size,
            "coverage": got["coverage"],
            "coverage_exact": want["coverage"],
            "reported_coverage_bound": got.get("coverage_error_bound"),
            "reported_set_size_bound": got.get("mean_set_size_error_bound"),
            "met": coverage <= 1e-3,
        }
    if primitive == "drift":
        distance = max(
            abs(float(g["distance"]) - float(w["distance"]))
            for g, w in zip(got["features"], want["features"], strict=True)
        )
        w1 = max(
            _rel(float(g["w1_distance"]), float(w["w1_distance"]))
            for g, w in zip(got["features"], want["features"], strict=True)
        )
        within = all(
            abs(float(g["w1_distance"]) - float(w["w1_distance"])) <= float(g["w1_error_bound"])
            for g, w in zip(got["features"], want["features"], strict=True)
        )
        return {
            "headline": "max |Δdistance|",
            "value": distance,
            "secondary_headline": "max rel. ΔW1",
            "secondary": w1,
            "max_w1_relative_error": w1,
            "w1_within_reported_bound": within,
            "met": distance <= 1e-6 and w1 <= 0.01,
        }
    if primitive == "disagreement":
        value = _rel(
            float(got["mean_pairwise_squared_difference"]),
            float(want["mean_pairwise_squared_difference"]),
        )
        means = float(
            np.abs(
                np.asarray(got["per_model_mean_outputs"], float)
                - np.asarray(want["per_model_mean_outputs"], float)
            ).max()
        )
        mpsd = float(want["mean_pairwise_squared_difference"])
        return {
            "headline": "rel. Δ mean pairwise sq. diff.",
            "value": value,
            "mpsd_exact": mpsd,
            "abs_error": value * mpsd,
            "reported_error_bound": got.get("error_bound"),
            "within_reported_bound": value * mpsd <= float(got.get("error_bound") or 0.0),
            "max_abs_mean_output_error": means,
            "met": value <= 1e-6,
        }
    raise ValueError(primitive)


def within_reported_bound(primitive: str, error: JsonObject) -> bool | None:
    """Whether the measured error lies within the error bound the report itself gives."""

    def bound(key: str) -> float:
        return float(error.get(key) or 0.0)

    if primitive == "provenance":
        return bool(error["max_abs_total_error"] <= bound("reported_error_bound"))
    if primitive == "concordance":
        return bool(error["value"] <= bound("reported_error_bound"))
    if primitive == "calibration":
        return bool(
            error["value"] <= bound("reported_coverage_bound")
            and error["mean_set_size_error"] <= bound("reported_set_size_bound")
        )
    if primitive == "drift":
        within: bool | None = error.get("w1_within_reported_bound")
        return within
    return None
