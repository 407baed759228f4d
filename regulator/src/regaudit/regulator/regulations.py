"""Which regulation each verified result can support, and what it does not establish.

The evidence pack's ``summary.json`` (:mod:`regaudit.regulator.evidence_pack`) maps every
result of an audit to the provisions it is technical evidence for. The mapping is deliberately
narrow: a provision is listed only where the primitive computes what that provision asks to be
measured, and each entry carries its own statement of what the evidence does not establish.
Nothing here is legal advice; a filing still needs the people the regulation names (an
independent auditor for Local Law 144, the provider's quality-management system for the EU AI
Act).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Regulation:
    """One provision a result can support."""

    #: stable identifier used in ``summary.json`` (``nyc-ll144-bias-audit``)
    id: str
    title: str
    citation: str
    #: what a verified result of this kind supports, in one sentence
    supports: str
    #: what it does not establish, one sentence each
    does_not_establish: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "citation": self.citation,
            "supports": self.supports,
            "does_not_establish": list(self.does_not_establish),
        }


LL144 = Regulation(
    id="nyc-ll144-bias-audit",
    title="New York City Local Law 144 of 2021: bias audit of an automated employment decision "
    "tool",
    citation="NYC Admin. Code §§ 20-870 to 20-874; DCWP rules 6 RCNY § 5-300 to 5-304",
    supports="Selection (or scoring) rates and impact ratios per sex, race/ethnicity and "
    "intersectional category, with the number of rows of unknown category and categories under "
    "2 % of the data flagged, computed from exact counts the vendor could not alter after "
    "submission.",
    does_not_establish=(
        "that the audit was performed by an independent auditor as the rules define one",
        "that the data are the historical (or test) data the rules require, or cover the "
        "period declared",
        "that the summary of results was published or candidates were notified",
    ),
)
EEOC_FOUR_FIFTHS = Regulation(
    id="eeoc-four-fifths",
    title="EEOC Uniform Guidelines on Employee Selection Procedures: four-fifths rule",
    citation="29 CFR § 1607.4(D)",
    supports="Each category's selection rate against the highest (or the chosen reference) "
    "rate, the 0.8 cut-off, and whether a shortfall is statistically significant (a small, "
    "insignificant difference is not by itself evidence of adverse impact).",
    does_not_establish=(
        "adverse impact or its absence in law: the rule is a rule of thumb, not a legal test",
        "that the selection procedure is job-related or consistent with business necessity",
    ),
)
EU_AI_ACT_10_5 = Regulation(
    id="eu-ai-act-art-10-5",
    title="EU AI Act, Article 10(5): processing special categories of personal data for bias "
    "detection and correction",
    citation="Regulation (EU) 2024/1689, Art. 10(2)(f)-(g) and 10(5)",
    supports="Bias was examined on protected attributes that stayed encrypted end to end: the "
    "evaluator that computed on them never held a decryption key, and the regulator decrypted "
    "aggregates only.",
    does_not_establish=(
        "that processing the special categories was strictly necessary, or lawful under GDPR "
        "Art. 9",
        "that detected biases were corrected",
    ),
)
EU_AI_ACT_15 = Regulation(
    id="eu-ai-act-art-15",
    title="EU AI Act, Article 15: accuracy, robustness and cybersecurity",
    citation="Regulation (EU) 2024/1689, Art. 15(1)-(4)",
    supports="An accuracy or robustness metric of the high-risk system, measured on the "
    "client's data and declared against a threshold.",
    does_not_establish=(
        "that the metric and threshold are the appropriate ones declared in the instructions "
        "for use",
        "that the audited model is the one deployed",
    ),
)
EU_AI_ACT_72 = Regulation(
    id="eu-ai-act-art-72",
    title="EU AI Act, Article 72: post-market monitoring",
    citation="Regulation (EU) 2024/1689, Art. 72(1)-(3)",
    supports="A monitoring measurement of the deployed system's inputs or outputs against a "
    "reference period, with its threshold and decision, dated and signed.",
    does_not_establish=(
        "that a post-market monitoring plan exists or that this measurement is part of it",
        "that the monitoring period is representative of operation",
    ),
)
EU_AI_ACT_10_2 = Regulation(
    id="eu-ai-act-art-10-2",
    title="EU AI Act, Article 10(2): data governance (origin and relevance of the data)",
    citation="Regulation (EU) 2024/1689, Art. 10(2)(b)",
    supports="Per-bucket totals of attributions to training rows, computed without disclosing "
    "the rows, with the top-K buckets named.",
    does_not_establish=(
        "the lawful origin of any row",
        "that the attributions themselves are faithful to the model",
    ),
)

#: The provisions each primitive's results can support.
BY_PRIMITIVE: Mapping[str, tuple[Regulation, ...]] = {
    "fairness": (LL144, EEOC_FOUR_FIFTHS, EU_AI_ACT_10_5),
    "calibration": (EU_AI_ACT_15,),
    "concordance": (EU_AI_ACT_15,),
    "drift": (EU_AI_ACT_72, EU_AI_ACT_15),
    "disagreement": (EU_AI_ACT_15, EU_AI_ACT_72),
    "provenance": (EU_AI_ACT_10_2,),
}

#: Which provision a result field or decision supports, for the fields that support only some
#: of the primitive's provisions (anything else supports all of them).
FIELD_SCOPE: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "fairness": {
        "bias_audit": (LL144.id, EEOC_FOUR_FIFTHS.id, EU_AI_ACT_10_5.id),
        "impact_ratios": (LL144.id, EEOC_FOUR_FIFTHS.id),
        "min_impact_ratio": (EEOC_FOUR_FIFTHS.id, LL144.id),
        "demographic_parity_difference": (EU_AI_ACT_10_5.id,),
        "equalized_odds_difference": (EU_AI_ACT_10_5.id,),
        "equal_opportunity_difference": (EU_AI_ACT_10_5.id,),
        "max_gap": (EU_AI_ACT_10_5.id,),
    },
}

#: The pack's scope statement (also in every regulation's ``does_not_establish``).
SCOPE_DISCLAIMER = (
    "This pack is technical evidence that the stated computation ran on the data the client "
    "committed to, and what it found. It is not legal compliance, a conformity assessment, a "
    "recognised audit or regulatory acceptance; it does not establish that the submitted data "
    "are complete, representative or real, that the audited model is the one deployed, or "
    "anything about rows the client did not open in a dispute."
)


def regulations_for(primitive: str) -> tuple[Regulation, ...]:
    """The provisions ``primitive``'s results can support (empty for an unknown primitive)."""
    return BY_PRIMITIVE.get(primitive, ())


def supported_by(primitive: str, field: str) -> list[str]:
    """Ids of the provisions the result field or decision ``field`` supports."""
    scoped = FIELD_SCOPE.get(primitive, {})
    if field in scoped:
        return list(scoped[field])
    return [regulation.id for regulation in regulations_for(primitive)]


__all__ = [
    "BY_PRIMITIVE",
    "EEOC_FOUR_FIFTHS",
    "EU_AI_ACT_10_2",
    "EU_AI_ACT_10_5",
    "EU_AI_ACT_15",
    "EU_AI_ACT_72",
    "FIELD_SCOPE",
    "LL144",
    "SCOPE_DISCLAIMER",
    "Regulation",
    "regulations_for",
    "supported_by",
]
