"""The verifier's secret-key steps (11 and 13 of :func:`regaudit.regulator.verify.verify_bundle`):
open the sealed CKKS key, then decrypt the aggregates and have the primitive decode them.

The bundle holds aggregates only, so nothing decrypted here is a row.
"""

from __future__ import annotations

from typing import Any

from regaudit.secretkey.ckks import SecretKeyDecryptor
from regaudit.secretkey.sealing import RegulatorKeys, unseal_secret_key
from regaudit.shared.algebra import FloatArray
from regaudit.shared.bundle import AuditBundle
from regaudit.shared.circuits.base import Circuit, Plan
from regaudit.shared.errors import (
    BundleFormatError,
    CiphertextError,
    DigestMismatchError,
    RegauditError,
    VerificationError,
    WrongRegulatorKeyError,
)
from regaudit.shared.evidence.sealing import sealed_key_digest, sealing_info
from regaudit.shared.evidence.statements import SubmissionStatement
from regaudit.shared.primitives import get_primitive
from regaudit.shared.profiles import ParameterProfile
from regaudit.shared.protocol import output_name


def unseal(
    bundle: AuditBundle,
    submission: SubmissionStatement,
    profile: ParameterProfile,
    keys: RegulatorKeys,
    receipt_digest: str,
) -> bytes:
    """Step 11: the signed sealed-key digest, our key id, then HPKE open with the info bound to
    this audit, profile, regulator, client and receipt."""
    actual = sealed_key_digest(bundle.sealed_key)
    if actual != submission.sealed_key_digest:
        raise DigestMismatchError(
            f"the sealed key hashes to {actual}, the client signed {submission.sealed_key_digest}",
            field="sealed_key",
        )
    if submission.regulator_key_id != keys.key_id:
        raise WrongRegulatorKeyError(
            f"the key was sealed to regulator {submission.regulator_key_id[:16]}..., this "
            f"regulator is {keys.key_id[:16]}...",
            field="regulator_key_id",
        )
    info = sealing_info(
        audit_id=bundle.audit_id,
        profile_hash=profile.profile_hash,
        regulator_key_id=keys.key_id,
        client_key_id=bundle.client_record().key_id,
        receipt_digest=receipt_digest,
    )
    return unseal_secret_key(bundle.sealed_key, keys=keys, info=info)


def decrypt(decryptor: SecretKeyDecryptor, data: bytes, *, level: int, what: str) -> FloatArray:
    """Decrypt one ciphertext of the bundle at ``level`` (BundleFormatError if it is none)."""
    try:
        return decryptor.decrypt(data, level=level)
    except CiphertextError as exc:
        raise BundleFormatError(
            f"{what} is not a valid ciphertext at level {level}: {exc.message}", field=what
        ) from exc


def decrypt_and_decode(
    bundle: AuditBundle, circuit: Circuit, plan: Plan, decryptor: SecretKeyDecryptor
) -> dict[str, Any]:
    """Step 13: aggregates only, at the plan's output level; the primitive's report role
    (``regaudit.shared.primitives.<name>.report``) decodes them."""
    outputs = [
        decrypt(decryptor, data, level=plan.output_level, what=output_name(index))
        for index, data in enumerate(bundle.outputs)
    ]
    try:
        report = get_primitive(circuit.circuit_id).report()
        return report.decode(outputs, dict(bundle.public_inputs), plan.rows)
    except VerificationError:
        raise
    except RegauditError as exc:
        raise BundleFormatError(
            f"the decrypted aggregates cannot be decoded: {exc}", field=exc.field or "outputs"
        ) from exc


__all__ = ["decrypt", "decrypt_and_decode", "unseal"]
