"""The seed comparison's markdown report (``seed-comparison.md``) and its notes."""

from __future__ import annotations

from pathlib import Path

from harness import JsonObject

__all__ = ["NOTES", "write_markdown"]


def _fmt_s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _fmt_err(entry: JsonObject | None) -> str:
    if not entry:
        return "—"
    value = entry["value"]
    if isinstance(value, int):
        return f"{value}/{entry['of']}" if "of" in entry else str(value)
    return f"{value:.1e}"


def write_markdown(document: JsonObject, path: Path) -> None:
    """Write ``seed-comparison.md`` for the results ``document``."""
    lines = [
        "# Seed comparison (issue 4)",
        "",
        "Same inputs through our in-process full-CKKS path (`regaudit.shared.local.audit_<p>`: "
        "plan, fresh keys with only the plan's rotation steps, SEAL load checks, evaluation, "
        "decryption, in one process — no gRPC, no evidence) and through the seed library's "
        f"encrypted path (`regaudit-fhe` {document.get('seed_version')}, `regaudit_fhe.fhe."
        "primitives.*_encrypted`, its `build_d6_context()`: N = 2^14, all power-of-two Galois "
        "keys), each against the exact reference. Times: median of up to 3 runs; ours = the "
        "whole `audit_<p>` call including key generation; seed = `build_d6_context()` (once per "
        "process) + the encrypted call (call alone in brackets). Ratio = ours / seed (< 1: ours "
        "faster); 'ours/seed call' divides by the seed's encrypted call alone (its key generation "
        "excluded, ours included). Error = headline error vs the exact reference.",
        "",
        f"Machine: {document['machine'].get('nproc', '?')} cores; `uptime` before: "
        f"`{document['uptime_before']}`; after: `{document['uptime_after']}`. Benchmark wall "
        f"time {document['wall_s']:.0f} s.",
        "",
        "| primitive | size | ours s | seed s (call) | ours/seed | ours/seed call | error | "
        "ours error | seed error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in document["rows"]:
        ours, seed = row.get("ours") or {}, row.get("seed") or {}
        ratio = row.get("ratio_ours_over_seed")
        call_ratio = row.get("ratio_ours_over_seed_call_only")
        seed_cell = (
            f"{_fmt_s(seed.get('median_s'))} ({_fmt_s(seed.get('median_call_s'))})"
            if seed.get("ok")
            else f"fails after {_fmt_s(seed.get('total_s', seed.get('process_wall_s')))} s: "
            f"`{str(seed.get('error', ''))[:120]}`"
        )
        headline = (row.get("ours_error") or row.get("seed_error") or {}).get("headline", "")
        headline = headline.replace("|", "\\|")
        lines.append(
            f"| {row['primitive']} | {row['size']} | "
            f"{_fmt_s(ours.get('median_s')) if ours.get('ok') else ours.get('error', '—')} | "
            f"{seed_cell} | {'—' if ratio is None else f'{ratio:.3f}'} | "
            f"{'—' if call_ratio is None else f'{call_ratio:.2f}'} | {headline} | "
            f"{_fmt_err(row.get('ours_error'))} | {_fmt_err(row.get('seed_error'))} |"
        )
    lines += ["", "Notes:", ""]
    lines += [f"- {note}" for note in document["notes"]]
    path.write_text("\n".join(lines) + "\n")


#: The notes under the table (``--render`` rewrites them into an existing JSON).
NOTES = [
    "Not like for like. Ours encrypts every input column and returns only aggregates, with "
    "error bounds; it is timed here in one process without the three-party protocol "
    "(`bench_primitives.py` measures that). The seed keeps auditor-public values in "
    "plaintext and decrypts intermediate vectors in some primitives (disagreement: each "
    "model's output vector for its mean; calibration: the membership signal per class; "
    "provenance: one decryption per bucket).",
    "Concordance: the seed materializes all N(N-1) ordered pairs in one ciphertext (8,192 "
    "slots) and uses a degree-3 sign polynomial; N > 91 exceeds its layout. Ours ranks risk "
    "and time on the client, lays out one slot per unordered pair over as many ciphertexts "
    "as needed and uses a degree-15 sign polynomial (up to 4,096 patients). "
    "At N = 128 (16,256 ordered pairs) the seed's slot sum fails (TenSEAL: 'step count too "
    "large'). Data: bootstrap samples of lifelines' gbsg2 (ties in time and risk, as real data "
    "has). Reference: `regaudit.shared.primitives.concordance.reference` (cross-checked with "
    "scikit-survival's `concordance_index_censored`, see the JSON).",
    "Calibration: the seed's one-point path (K scores, per-class quantiles); error = number "
    "of membership bits that differ from the exact `score <= quantile`.",
    "Drift: one feature; both libraries' `distance` is the squared L2 distance of the "
    "normalized CDFs. The seed's `w1_distance` is computed in plaintext by its oracle (not "
    "under encryption); ours is the encrypted sum of sign(P - Q) * (P - Q) (the client's "
    "sign column, checked against an interval certified by encrypted Chebyshev moments; "
    "its relative error is in the JSON). The seed's prefix sum is an n x n plaintext-matrix "
    "product: "
    "its call took 11.5 s at 128 bins and 114 s at 1,024 bins, and at 4,096 bins the process "
    "gave no result within 300 s (one-off probes, 2026-11-26, not part of this run).",
    "Provenance: the seed buckets integer row ids by its own universal hash, ours by "
    "SHA-256 of the id's text, so each library's error is against exact totals over its own "
    "buckets (the seed's computed with numpy from its public `hash_to_buckets`).",
    "Disagreement: the seed's models are fixed to four coefficients (degree 3); the five "
    "models are the same polynomials as in `bench_primitives.py`, zero-padded.",
]
