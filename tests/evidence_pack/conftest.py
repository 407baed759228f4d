"""Fixtures of the evidence-pack tests: the regulator tests' real parties and the policy tests'
real fairness bundles (one breaching, one passing; real SEAL, real signatures)."""

from __future__ import annotations

from policy.conftest import bundles
from regulator.conftest import parties

__all__ = ["bundles", "parties"]
