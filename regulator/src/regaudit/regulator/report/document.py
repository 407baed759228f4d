"""The report's one content model: :func:`build_document` turns a verified audit into a
JSON-ready :class:`ReportDocument` that the HTML template, the text renderer and
``result_json``'s ``report`` key all render.

Order (the HTML and text follow it): the headline (two separate answers: is the evidence
authentic, and what did the audit find: each decision with its value, threshold, threshold
source and status, and the overall outcome), the plots, the definitions of the metrics shown,
the LL144 bias-audit table (when the result has one), the full result, differential privacy
(when the result has it), the data summary, the parties, the checks, what the evidence does not
prove, the signed finding, the evidence digests.

The decisions are :func:`regaudit.regulator.result_policy.decisions_of` under the trust store's
result policy (the ones ``verify --fail-on-breach`` gates on); without a trust store, the
audit's own thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from regaudit.regulator.report.checks import explain_check
from regaudit.regulator.report.definitions import definitions_for
from regaudit.regulator.report.figures import plots_for, reference_group
from regaudit.regulator.report.plots import Plot
from regaudit.regulator.report.sections import (
    Table,
    bias_audit_section,
    evidence_tables,
    privacy_section,
    result_tables,
)
from regaudit.regulator.report.values import format_value, label
from regaudit.regulator.result_policy import BREACH, INDETERMINATE, PASS, Decision, decisions_of
from regaudit.regulator.verified import VerifiedAudit
from regaudit.regulator.verify import CHECK_NAMES
from regaudit.shared.evidence.canonical import format_rfc3339
from regaudit.shared.evidence.result_policy import ResultPolicy
from regaudit.shared.evidence.truststore import TrustStore

#: The ``schema`` of a report document.
REPORT_SCHEMA_ID = "regaudit.regulator.report.v1"
#: Keys of the client's data description shown first (each "as declared by the client").
DECLARED_FIRST = ("dataset", "period", "source")
#: Keys of the data description the summary shows from the verified plan instead.
SHOWN_VERIFIED = ("rows", "columns")

#: What a verified bundle does not establish (the report's "does not prove" section).
LIMITATIONS: tuple[str, ...] = (
    "That the submitted rows are the real population: the client chose and committed to the "
    "data; the evidence proves what was computed on it, not that it is complete or genuine.",
    "That the model audited is the one deployed: the predictions were supplied by the client.",
    "Anything about rows that were not opened: commitments bind the data, but only opened rows "
    "were seen in the clear.",
    "Causation: a difference between groups is measured, not explained.",
    "Legal compliance: the report gives statistics and thresholds; whether they satisfy a law "
    "or rule is a legal judgement.",
    "That the evaluator deleted the encrypted inputs and keys: deletion is attested in its "
    "signed receipt, not proven.",
    "Exact values: the encrypted (CKKS) computation is approximate; each value is released to "
    "the precision its error bound supports and a decision within the bound is indeterminate.",
)
NO_WITNESS_LIMITATION = (
    "An independent re-execution: no witness evaluator re-ran this computation; its "
    "correctness rests on the evaluator's signed receipt and the client's own check of the "
    "outputs."
)
SAMPLED_WITNESS_LIMITATION = (
    "That every chunk was computed correctly: sampled witnesses re-ran only some chunks; the "
    "evidence section gives the probability that such a sample catches a cheat."
)
DP_LIMITATION = (
    "Exact aggregates: differential privacy noise was added to the released values; a decision "
    "the noise could flip is indeterminate."
)


class Party(TypedDict):
    """A key holder: its role, key id and its name in the trust store (None: not named)."""

    role: str
    key_id: str
    name: str | None
    display: str


class ReportDocument(TypedDict):
    """The report of one verified audit (JSON-ready)."""

    schema: str
    title: str
    primitive: str
    audit_id: str
    circuit: str
    profile: str
    verified_at: str
    headline: dict[str, Any]
    plots: list[Plot]
    definitions: list[dict[str, str]]
    bias_audit: dict[str, Any] | None
    result: list[Table]
    differential_privacy: dict[str, Any] | None
    data: dict[str, Any]
    parties: list[Party]
    checks: list[dict[str, str]]
    limitations: list[str]
    finding: dict[str, Any] | None
    evidence: list[Table]


def _names(trust: TrustStore | None) -> dict[str, str]:
    if trust is None:
        return {}
    return {entry.record.key_id: entry.note for entry in trust.keys if entry.note}


def party(role: str, key_id: str, names: Mapping[str, str]) -> Party:
    """A party by its trust-store name (the note of its entry), else by key id."""
    name = names.get(key_id)
    display = f"{name} ({key_id})" if name else f"{key_id} (no name in the trust store)"
    return {"role": role, "key_id": key_id, "name": name, "display": display}


def parties_of(
    verified: VerifiedAudit, names: Mapping[str, str], finding_signer: str | None
) -> list[Party]:
    """Client, evaluator, each agreeing witness, the regulator (and the finding's signer)."""
    found = [
        party("client", verified.submission.client_key_id, names),
        party("evaluator", verified.receipt.evaluator_key_id, names),
        *(
            party(f"witness {w.address}", w.evaluator_key_id, names)
            for w in verified.witnesses.present
        ),
        party("regulator (decryption key)", verified.regulator_key_id, names),
    ]
    if finding_signer is not None:
        found.append(party("regulator (finding signer)", finding_signer, names))
    return found


def decision_entry(decision: Decision) -> dict[str, Any]:
    """A decision with its display strings: ``requirement`` (``at most 0.1``) and label."""
    relation = "at most" if decision.direction == "max" else "at least"
    entry = decision.to_dict()
    entry["label"] = label(decision.name)
    entry["value_text"] = format_value(decision.value)
    entry["threshold_text"] = format_value(decision.threshold)
    entry["requirement"] = f"{relation} {format_value(decision.threshold)}"
    return entry


def overall(decisions: Sequence[Decision]) -> str:
    """``breach`` if any decision breached, else ``indeterminate`` if any is, else ``pass``."""
    statuses = {d.status for d in decisions}
    if BREACH in statuses:
        return BREACH
    return INDETERMINATE if INDETERMINATE in statuses else PASS


def release_note(block: object) -> str | None:
    """One headline sentence for a DP release (None for an exact one): every released count is
    noised, so a reader does not take a value for the exact one."""
    if not isinstance(block, Mapping):
        return None
    epsilon, delta = block.get("epsilon"), block.get("delta")
    flipped = [
        d
        for d in block.get("flip_analysis", {}).get("decisions", [])
        if isinstance(d, Mapping) and d.get("indeterminate")
    ]
    return (
        f"Released under differential privacy (epsilon {epsilon}, delta {delta}): every count "
        "and every value computed from counts is noised, so it is not the exact value; "
        f"{len(flipped)} decision(s) the noise could flip are indeterminate."
    )


def _findings(
    decisions: list[Decision], trust: TrustStore | None, result: Mapping[str, Any]
) -> dict[str, Any]:
    outcome = overall(decisions)
    counts = {s: sum(d.status == s for d in decisions) for s in (PASS, BREACH, INDETERMINATE)}
    if not decisions:
        summary = "PASS: no gated decision (this audit reports values only)."
    else:
        summary = (
            f"{outcome.upper()}: {counts[BREACH]} breached, {counts[INDETERMINATE]} "
            f"indeterminate, {counts[PASS]} passed of {len(decisions)} decision(s)."
        )
    basis = (
        "Thresholds: the trust store's result policy where it sets one, else the audit's own."
        if trust is not None
        else "Thresholds: the audit's own, and the default four-fifths τ 0.8 for impact ratios "
        "(no trust store given)."
    )
    return {
        "question": "What did the audit find?",
        "outcome": outcome,
        "summary": summary,
        "basis": basis,
        "counts": counts,
        "decisions": [decision_entry(d) for d in decisions],
        "release_note": release_note(result.get("differential_privacy")),
    }


def _authenticity(verified: VerifiedAudit, signers: list[Party]) -> dict[str, Any]:
    passed = len(verified.checks)
    not_run = [name for name in CHECK_NAMES if name not in verified.checks]
    names = "; ".join(f"{p['role']}: {p['display']}" for p in signers)
    skipped = f" (not run here: {', '.join(not_run)})" if not_run else ""
    return {
        "question": "Is the evidence authentic?",
        "authentic": True,
        "answer": "yes",
        "checks_passed": passed,
        "checks_not_run": not_run,
        "checks_text": f"All {passed} verification checks run passed{skipped}.",
        "summary": f"All {passed} verification checks run passed{skipped}. Signed by {names}.",
        "signers": signers,
    }


def data_summary(verified: VerifiedAudit) -> dict[str, Any]:
    """Rows, chunks, columns and the client's data description (as declared by it)."""
    description = dict(verified.submission.data_description)
    keys = [k for k in DECLARED_FIRST if k in description]
    keys += [k for k in description if k not in (*DECLARED_FIRST, *SHOWN_VERIFIED)]
    declared = [
        {"label": str(key), "value": format_value(description[key])}
        for key in keys
        if description[key] not in (None, "")
    ]
    return {
        "rows": verified.plan.rows,
        "chunks": verified.plan.n_chunks,
        "columns": list(verified.submission.columns),
        "declared": declared,
        "declared_note": "as declared by the client, not verified",
    }


def build_document(
    verified: VerifiedAudit,
    *,
    trust: TrustStore | None = None,
    finding_digest: str | None = None,
    finding_signer: str | None = None,
) -> ReportDocument:
    """The report of ``verified``: decisions under ``trust``'s result policy (the audit's own
    thresholds without a trust store), parties by their trust-store names, and the signed
    finding (``finding_digest``, ``finding_signer``) when one was written."""
    policy = trust.result_policy if trust is not None else ResultPolicy()
    result = verified.result
    names = _names(trust)
    parties = parties_of(verified, names, finding_signer)
    signers = [p for p in parties if not p["role"].startswith("regulator")]
    decisions = decisions_of(verified.primitive, result, policy)
    privacy = privacy_section(result.get("differential_privacy"))
    limitations = list(LIMITATIONS) + ([DP_LIMITATION] if privacy is not None else [])
    present = verified.witnesses.present
    if not present:
        limitations.append(NO_WITNESS_LIMITATION)
    elif all(w.mode == "sampled" for w in present):
        limitations.append(SAMPLED_WITNESS_LIMITATION)
    finding = None
    if finding_digest is not None and finding_signer is not None:
        finding = {
            "digest": finding_digest,
            "signer": finding_signer,
            "signer_name": names.get(finding_signer),
        }
    reference = reference_group(result, policy) if verified.primitive == "fairness" else None
    return {
        "schema": REPORT_SCHEMA_ID,
        "title": f"regaudit audit report: {verified.primitive}",
        "primitive": verified.primitive,
        "audit_id": verified.audit_id,
        "circuit": f"{verified.circuit_id}@{verified.circuit_version}",
        "profile": f"{verified.profile.name} ({verified.profile.profile_hash})",
        "verified_at": format_rfc3339(verified.verified_at),
        "headline": {
            "authenticity": _authenticity(verified, signers),
            "findings": _findings(decisions, trust, result),
        },
        "plots": plots_for(verified.primitive, result, policy, verified.public_inputs),
        "definitions": definitions_for(verified.primitive),
        "bias_audit": bias_audit_section(result.get("bias_audit"), reference),
        "result": result_tables(result),
        "differential_privacy": privacy,
        "data": data_summary(verified),
        "parties": parties,
        "checks": [{"name": n, "explanation": explain_check(n)} for n in verified.checks],
        "limitations": limitations,
        "finding": finding,
        "evidence": evidence_tables(verified),
    }


__all__ = [
    "DECLARED_FIRST",
    "LIMITATIONS",
    "REPORT_SCHEMA_ID",
    "Party",
    "ReportDocument",
    "build_document",
    "data_summary",
    "decision_entry",
    "overall",
    "parties_of",
    "party",
    "release_note",
]
