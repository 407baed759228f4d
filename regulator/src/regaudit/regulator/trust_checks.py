"""The verifier's trust checks (steps 2, 4 and 5 of
:func:`regaudit.regulator.verify.verify_bundle`): which trusted key signed a statement, the
bundle embeds that very key, and the signed profile and circuit are allowed by the trust store
and known to this installation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from regaudit.shared.bundle import WitnessEvidence
from regaudit.shared.circuits.base import Circuit
from regaudit.shared.circuits.registry import get_circuit
from regaudit.shared.errors import (
    BundleFormatError,
    DigestMismatchError,
    RegauditError,
    UnsupportedCircuitError,
    UntrustedIssuerError,
    WrongParameterSetError,
)
from regaudit.shared.evidence.canonical import parse_rfc3339, strict_json_loads
from regaudit.shared.evidence.dsse import envelope_payload_unverified
from regaudit.shared.evidence.identity import PublicKeyRecord
from regaudit.shared.evidence.truststore import TrustStore
from regaudit.shared.profiles import ParameterProfile, get_profile


def peek_time(envelope: Mapping[str, object], name: str, *, what: str) -> tuple[str, datetime]:
    """(signer key id, predicate time ``name``) of an envelope, *before* its signature is
    checked: only used to pick the key and the date its revocation status is judged at. The
    same bytes are authenticated right after, so the time is then authenticated too."""
    _, payload, key_id = envelope_payload_unverified(envelope)
    document = strict_json_loads(payload, what=what)
    predicate = document.get("predicate") if isinstance(document, dict) else None
    if not isinstance(predicate, dict) or name not in predicate:
        raise BundleFormatError(f"{what} statement has no predicate.{name}", field=what)
    return key_id, parse_rfc3339(predicate[name], field=f"{what}.{name}")


def require_same_key(embedded: PublicKeyRecord, trusted: PublicKeyRecord, *, what: str) -> None:
    """The key the bundle embeds is the trusted key that signed (UntrustedIssuerError)."""
    if (embedded.key_id, embedded.public_key_raw, embedded.kind) != (
        trusted.key_id,
        trusted.public_key_raw,
        trusted.kind,
    ):
        raise UntrustedIssuerError(
            f"the bundle's embedded {what} key {embedded.key_id[:16]}... is not the trusted "
            f"key {trusted.key_id[:16]}... that signed the {what} statement",
            field=f"{what}_key",
        )


def require_profile(trust: TrustStore, name: str, profile_hash: str) -> ParameterProfile:
    """Step 5a: allowed by the trust store, and the built-in profile of that name."""
    trust.require_profile(name, profile_hash)
    try:
        profile = get_profile(name)
    except RegauditError as exc:
        raise WrongParameterSetError(exc.message, field="profile_name") from exc
    if profile.profile_hash != profile_hash:
        raise WrongParameterSetError(
            f"profile {name} has hash {profile.profile_hash}, the receipt says {profile_hash}",
            field="profile_hash",
        )
    return profile


def require_circuit(trust: TrustStore, circuit_id: str, version: str) -> Circuit:
    """Step 5b: allowed by the trust store and known to the circuit registry."""
    trust.require_circuit(circuit_id, version)
    try:
        return get_circuit(circuit_id, version)
    except RegauditError as exc:
        raise UnsupportedCircuitError(exc.message, field="circuit_id") from exc


def require_witness_signer(
    evidence: WitnessEvidence,
    bound_key_id: str,
    trust: TrustStore,
    *,
    index: int,
    signed_at: datetime,
) -> PublicKeyRecord:
    """The trusted evaluator key that signed witness ``index``'s receipt (full or sampled).

    Steps: 1. the trust store holds the signer as an evaluator key, unrevoked when the witness
    finished and when the client signed (``signed_at``); 2. the bundle embeds that very key;
    3. it is the key the client bound (``bound_key_id``: DigestMismatchError otherwise)."""
    where = f"witnesses[{index}]"
    # 1. trusted at both times
    key_id, finished_at = peek_time(evidence.receipt, "finished_at", what=f"{where}.receipt")
    key = trust.require_key(key_id, kind="evaluator", at=finished_at)
    trust.require_key(key_id, kind="evaluator", at=signed_at)
    # 2. embedded
    require_same_key(evidence.evaluator_record(index=index), key, what="evaluator")
    # 3. named by the client
    if bound_key_id != key.key_id:
        raise DigestMismatchError(
            f"the client bound witness key {bound_key_id[:16]}..., the receipt is "
            f"signed by {key.key_id[:16]}...",
            field=f"{where}.evaluator_key_id",
        )
    return key


__all__ = [
    "peek_time",
    "require_circuit",
    "require_profile",
    "require_same_key",
    "require_witness_signer",
]
