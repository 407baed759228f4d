"""Trust anchors and the evaluator's capabilities, checked before the client commits to anything.

The regulator card must be signed by a pinned or trusted regulator key before any key is
generated; the evaluator's receipt key must be a pinned or trusted evaluator key, and its
capabilities must offer the plan's circuit and profile within its limits, before any evaluation
key is uploaded or any row encrypted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from regaudit.client.remote import EvaluatorUnavailableError
from regaudit.shared.circuits.base import Plan
from regaudit.shared.errors import (
    InputError,
    ProtocolError,
    RegauditError,
    UntrustedIssuerError,
    WrongParameterSetError,
)
from regaudit.shared.evidence.identity import PublicKeyRecord

if TYPE_CHECKING:
    from regaudit.shared.evidence.sealing import RegulatorCard
    from regaudit.shared.protocol import Capabilities


def parse_regulator_card(card: Mapping[str, Any] | RegulatorCard) -> RegulatorCard:
    """Validate a signed regulator card (strict format, signature by its embedded regulator
    key); returns the parsed card. Raises InputError naming the field."""
    from regaudit.shared.evidence import sealing

    if isinstance(card, sealing.RegulatorCard):
        return card
    try:
        return sealing.parse_card(card)
    except RegauditError as exc:
        raise InputError(exc.message, field=exc.field or "regulator-card") from exc


def check_regulator_card(card: Mapping[str, Any]) -> str:
    """Validate a regulator card; returns the regulator key id. Raises InputError."""
    return parse_regulator_card(card).regulator_key_id


def accepted_key_ids(pinned: str | None, trusted: Collection[str] | None) -> frozenset[str] | None:
    """The key ids accepted for one party: the pinned key id plus the trusted ones; None (any
    key) when neither a pin nor a trusted set is given."""
    if pinned is None and trusted is None:
        return None
    return frozenset(trusted or ()) | ({pinned} if pinned is not None else set())


def check_regulator_signer(card: RegulatorCard, accepted: Collection[str] | None) -> None:
    """The card must be signed by an accepted regulator key (UntrustedIssuerError otherwise).

    A card's own signature proves nothing about who made it (anybody can make a regulator
    identity and sign a card with it): only a pinned or trusted signer key makes the card the
    regulator's."""
    if accepted is None:
        return
    if card.signer_key_id not in accepted:
        hint = (
            " (the pin names the card's HPKE key id; pin the regulator's signing key id, "
            "key_id in regulator.pub.json)"
            if card.regulator_key_id in accepted
            else ""
        )
        raise UntrustedIssuerError(
            f"the regulator card is signed by key {card.signer_key_id[:16]}..., which is not "
            f"a pinned or trusted regulator key; refusing to seal the audit key to it{hint}",
            field="regulator_card.signer",
        )


def check_evaluator_key(
    record: PublicKeyRecord, accepted: Collection[str] | None, *, address: str
) -> None:
    """The evaluator's receipt key must be an accepted evaluator key (UntrustedIssuerError)."""
    if accepted is None:
        return
    if record.key_id not in accepted:
        raise UntrustedIssuerError(
            f"the evaluator at {address} signs with key {record.key_id[:16]}..., which is not "
            "a pinned or trusted evaluator key",
            field="evaluator_key_id",
        )


def _evaluator_record(caps: Capabilities) -> PublicKeyRecord:
    try:
        record = PublicKeyRecord.from_dict(caps.evaluator_public_key, error=ProtocolError)
    except RegauditError as exc:
        raise ProtocolError(
            f"capabilities carry a malformed evaluator key: {exc}", field="evaluator_public_key"
        ) from exc
    if record.kind != "evaluator":
        raise ProtocolError(
            f"capabilities carry a {record.kind!r} key, not an evaluator key",
            field="evaluator_public_key",
        )
    return record


def check_capabilities(caps: Capabilities, plan: Plan) -> PublicKeyRecord:
    """Check the evaluator supports ``plan``; return its receipt-signing key record.

    Steps: 1. the circuit id and version are offered; 2. the profile is offered with the same
    profile hash (same ring, modulus chain and scale); 3. the job fits the advertised limits;
    4. the evaluator's public key record is well formed and of kind ``evaluator``.
    """
    # 1. circuit
    if (plan.circuit_id, plan.circuit_version) not in set(caps.circuits):
        raise EvaluatorUnavailableError(
            f"the evaluator does not offer circuit {plan.circuit_id}@{plan.circuit_version}",
            field="circuit",
        )
    # 2. profile and its hash
    offered = {p.name: p for p in caps.profiles}
    info = offered.get(plan.profile.name)
    if info is None:
        raise EvaluatorUnavailableError(
            f"the evaluator does not offer profile {plan.profile.name}", field="profile"
        )
    if info.profile_hash != plan.profile.profile_hash:
        raise WrongParameterSetError(
            f"the evaluator's profile {info.name} has hash {info.profile_hash}, expected "
            f"{plan.profile.profile_hash}",
            field="profile_hash",
        )
    # 3. limits
    limits = caps.limits
    ciphertexts = plan.input_count
    if limits.max_rows and plan.rows > limits.max_rows:
        raise EvaluatorUnavailableError(
            f"{plan.rows} rows exceed the evaluator's limit of {limits.max_rows}", field="rows"
        )
    if limits.max_job_ciphertexts and ciphertexts > limits.max_job_ciphertexts:
        raise EvaluatorUnavailableError(
            f"{ciphertexts} ciphertexts exceed the evaluator's limit of "
            f"{limits.max_job_ciphertexts}",
            field="rows",
        )
    # 4. receipt key
    return _evaluator_record(caps)


__all__ = [
    "accepted_key_ids",
    "check_capabilities",
    "check_evaluator_key",
    "check_regulator_card",
    "check_regulator_signer",
    "parse_regulator_card",
]
