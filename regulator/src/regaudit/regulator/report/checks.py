"""One plain sentence per verification check (:data:`regaudit.regulator.verify.CHECK_NAMES`),
for the report's "checks" section."""

from __future__ import annotations

from collections.abc import Mapping

#: Check name -> what passing it establishes, in one sentence.
CHECK_EXPLANATIONS: Mapping[str, str] = {
    "bundle_structure": "The bundle file is complete, well formed and of a supported version.",
    "client_key_trusted": "The client's signing key is in the regulator's trust store and was "
    "not revoked when it signed.",
    "submission_signature": "The client's signature over its submission (data commitments, "
    "columns, parameters) is valid.",
    "evaluator_key_trusted": "The evaluator's signing key is in the regulator's trust store and "
    "was not revoked when it signed.",
    "parameter_profile_allowed": "The encryption parameters are a profile the trust store "
    "allows, with the expected hash.",
    "circuit_allowed": "The computation (circuit and version) is one the trust store allows.",
    "plan_recomputed": "The regulator recomputed the evaluation plan from the public inputs and "
    "it matches the one the evaluator ran.",
    "receipt_verified": "The evaluator's signed receipt is valid and its output digests match "
    "the encrypted results in the bundle.",
    "receipt_bound_to_submission": "The receipt names exactly this submission's encrypted "
    "inputs and evaluation keys.",
    "freshness": "The submission and the receipt are recent enough under the trust store's "
    "maximum age and clock skew.",
    "witnesses": "As many independent witness evaluators as the trust store requires re-ran "
    "the computation and agree with the result.",
    "replay": "This bundle was not verified before by this regulator (no replay).",
    "sealed_key_opened": "The decryption key sealed to this regulator opened with the "
    "regulator's private key.",
    "key_canary": "A known value encrypted by the client decrypted correctly, so the key "
    "belongs to this data.",
    "aggregates_decrypted": "The encrypted aggregates were decrypted and decoded into the "
    "released result.",
}


def explain_check(name: str) -> str:
    """The sentence of check ``name`` (a generic one for a check this version does not know)."""
    return CHECK_EXPLANATIONS.get(name, f"The check {name!r} passed.")


__all__ = ["CHECK_EXPLANATIONS", "explain_check"]
