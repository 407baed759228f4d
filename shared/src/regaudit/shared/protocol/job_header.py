"""The job header: the client-signed first message of ``SubmitJob`` that binds a job's plan,
public inputs, evaluation keys and parties before any ciphertext is sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared.circuits.base import Plan, job_input_count
from regaudit.shared.errors import InputError
from regaudit.shared.protocol.limits import (
    CANARY_SEED_BYTES,
    MAX_AUDIT_ID_CHARS,
    MAX_COLUMNS,
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_PUBLIC_INPUTS_BYTES,
    MAX_PUBLIC_KEY_JSON_BYTES,
)
from regaudit.shared.protocol.witness_sample import WitnessSample

if TYPE_CHECKING:
    from regaudit.shared.evidence.identity import PublicKeyRecord, SigningIdentity

#: DSSE payload type of the client's signature over a job header.
JOB_HEADER_PAYLOAD_TYPE = "application/vnd.regaudit.job-header+json"


@dataclass(frozen=True)
class JobHeader:
    """Everything the evaluator needs to plan and check a job before any ciphertext."""

    circuit_id: str
    circuit_version: str
    profile_name: str
    profile_hash: str
    evaluation_keys_digest: str
    public_inputs: dict[str, Any]
    rows: int
    idempotency_key: str
    canary_seed: bytes
    input_level: int
    n_chunks: int
    columns: tuple[str, ...]
    #: the parties and audit the job belongs to (signed by the client, attested in the receipt)
    audit_id: str
    client_public_key_json: bytes
    regulator_key_id: str
    #: the client asks for every chunk's partial digest and their Merkle root in the receipt
    #: (signed: an audit with a sampled witness needs them; other jobs skip their cost)
    commit_partials: bool = False
    #: Ed25519 signature by the client key over :meth:`signing_input` (empty until signed)
    client_signature: bytes = b""
    #: a sampled witness job's sample (not signed: see :mod:`.witness_sample`); None otherwise
    witness_sample: WitnessSample | None = None

    @classmethod
    def from_plan(
        cls,
        plan: Plan,
        public_inputs: Mapping[str, Any],
        *,
        evaluation_keys_digest: str,
        idempotency_key: str,
        canary_seed: bytes,
        audit_id: str,
        client_key: PublicKeyRecord,
        regulator_key_id: str,
        commit_partials: bool = False,
    ) -> JobHeader:
        """The (unsigned) header a client sends for ``plan``; sign it with :meth:`signed`.
        ``commit_partials`` asks for the per-chunk partial digests (a sampled witness)."""
        from regaudit.shared.evidence.canonical import canonical_json

        return cls(
            circuit_id=plan.circuit_id,
            circuit_version=plan.circuit_version,
            profile_name=plan.profile.name,
            profile_hash=plan.profile.profile_hash,
            evaluation_keys_digest=evaluation_keys_digest,
            public_inputs=dict(public_inputs),
            rows=plan.rows,
            idempotency_key=idempotency_key,
            canary_seed=bytes(canary_seed),
            input_level=plan.input_level,
            n_chunks=plan.n_chunks,
            columns=tuple(plan.columns),
            audit_id=audit_id,
            client_public_key_json=canonical_json(client_key.to_dict()),
            regulator_key_id=regulator_key_id,
            commit_partials=commit_partials,
        )

    @property
    def input_count(self) -> int:
        """Input ciphertexts the header announces (canary + every chunk of every column; for a
        sampled witness job, of every sampled chunk)."""
        return job_input_count(len(self.uploaded_chunks), len(self.columns))

    @property
    def uploaded_chunks(self) -> tuple[int, ...]:
        """The chunk indices whose ciphertexts the job receives, in upload order: every chunk,
        or a sampled witness job's sample."""
        if self.witness_sample is not None:
            return self.witness_sample.chunks
        return tuple(range(self.n_chunks))

    @property
    def public_inputs_json(self) -> bytes:
        """RFC 8785 canonical bytes of the public inputs (what travels and is signed)."""
        from regaudit.shared.evidence.canonical import canonical_json

        return canonical_json(self.public_inputs)

    def content(self) -> dict[str, Any]:
        """Canonical-JSON-able dict of every field (the header digest is over this)."""
        from regaudit.shared.evidence.canonical import sha256_digest

        return {
            "circuit_id": self.circuit_id,
            "circuit_version": self.circuit_version,
            "profile_name": self.profile_name,
            "profile_hash": self.profile_hash,
            "evaluation_keys_digest": self.evaluation_keys_digest,
            "public_inputs_digest": sha256_digest(self.public_inputs_json),
            "rows": self.rows,
            "idempotency_key": self.idempotency_key,
            "canary_seed": self.canary_seed.hex(),
            "input_level": self.input_level,
            "n_chunks": self.n_chunks,
            "columns": list(self.columns),
            "audit_id": self.audit_id,
            "client_key_id": self.client_key().key_id,
            "regulator_key_id": self.regulator_key_id,
            "commit_partials": self.commit_partials,
        }

    @property
    def digest(self) -> str:
        """Digest of the signed content (the receipt's ``job_header_digest``)."""
        from regaudit.shared.evidence.canonical import canonical_json, sha256_digest

        return sha256_digest(canonical_json(self.content()))

    def client_key(self) -> PublicKeyRecord:
        """The client's public key record (InputError if malformed or not a client key)."""
        from regaudit.shared.evidence.canonical import strict_json_loads
        from regaudit.shared.evidence.identity import PublicKeyRecord

        document = strict_json_loads(
            self.client_public_key_json, what="client_public_key_json", error=InputError
        )
        record = PublicKeyRecord.from_dict(document, error=InputError)
        if record.kind != "client":
            raise InputError(
                f"the job header carries a {record.kind!r} key, not a client key",
                field="client_public_key_json",
            )
        return record

    def signing_input(self) -> bytes:
        """What the client signs: DSSE PAE of the canonical header content."""
        from regaudit.shared.evidence.canonical import canonical_json
        from regaudit.shared.evidence.dsse import pae

        return pae(JOB_HEADER_PAYLOAD_TYPE, canonical_json(self.content()))

    def signed(self, identity: SigningIdentity) -> JobHeader:
        """This header signed by ``identity`` (which must be the header's client key)."""
        from dataclasses import replace

        if identity.key_id != self.client_key().key_id:
            raise InputError(
                "the signing identity is not the header's client key", field="identity"
            )
        return replace(self, client_signature=identity.sign(self.signing_input()))

    def verify_signature(self) -> PublicKeyRecord:
        """Check the client's signature over the header; returns the client key record.

        Steps: 1. the client key record parses and is of kind client; 2. the regulator key id
        and audit id are well formed; 3. the Ed25519 signature verifies over
        :meth:`signing_input` (BadSignatureError otherwise).
        """
        from cryptography.exceptions import InvalidSignature

        from regaudit.shared.errors import BadSignatureError
        from regaudit.shared.evidence.canonical import is_hex64

        # 1. client key
        record = self.client_key()
        # 2. identifiers
        if not is_hex64(self.regulator_key_id):
            raise InputError("must be 64 lowercase hex characters", field="regulator_key_id")
        if not 0 < len(self.audit_id) <= MAX_AUDIT_ID_CHARS:
            raise InputError(
                f"audit id must have 1..{MAX_AUDIT_ID_CHARS} characters", field="audit_id"
            )
        # 3. signature
        try:
            record.public_key.verify(self.client_signature, self.signing_input())
        except InvalidSignature as exc:
            raise BadSignatureError(
                "the job header's client signature does not verify", field="client_signature"
            ) from exc
        return record

    def to_proto(self) -> pb.JobHeader:
        """This value as its protobuf message."""
        return pb.JobHeader(
            circuit_id=self.circuit_id,
            circuit_version=self.circuit_version,
            profile_name=self.profile_name,
            profile_hash=self.profile_hash,
            evaluation_keys_digest=self.evaluation_keys_digest,
            public_inputs_json=self.public_inputs_json,
            rows=self.rows,
            idempotency_key=self.idempotency_key,
            canary_seed=self.canary_seed,
            input_level=self.input_level,
            n_chunks=self.n_chunks,
            columns=list(self.columns),
            audit_id=self.audit_id,
            client_public_key_json=self.client_public_key_json,
            regulator_key_id=self.regulator_key_id,
            client_signature=self.client_signature,
            commit_partials=self.commit_partials,
            witness_sample=(
                self.witness_sample.to_proto() if self.witness_sample is not None else None
            ),
        )

    @classmethod
    def from_proto(cls, message: pb.JobHeader) -> JobHeader:
        """Parse a header; raises InputError naming the field for malformed values.

        Steps: 1. sizes within limits; 2. public inputs are a canonical JSON object;
        3. canary seed length; 4. identifiers present; 5. a witness sample names chunks of this
        job and is the one derived from its receipt digest and nonce
        (:meth:`WitnessSample.check`).
        """
        from regaudit.shared.evidence.canonical import canonical_json, strict_json_loads

        # 1. sizes
        if len(message.public_inputs_json) > MAX_PUBLIC_INPUTS_BYTES:
            raise InputError(
                f"public inputs exceed {MAX_PUBLIC_INPUTS_BYTES} bytes", field="public_inputs_json"
            )
        if len(message.columns) > MAX_COLUMNS:
            raise InputError(f"more than {MAX_COLUMNS} columns", field="columns")
        if not message.idempotency_key or len(message.idempotency_key) > MAX_IDEMPOTENCY_KEY_CHARS:
            raise InputError(
                f"idempotency key must have 1..{MAX_IDEMPOTENCY_KEY_CHARS} characters",
                field="idempotency_key",
            )
        # 2. public inputs
        public = strict_json_loads(
            message.public_inputs_json, what="public_inputs_json", error=InputError
        )
        if not isinstance(public, dict):
            raise InputError("public inputs must be a JSON object", field="public_inputs_json")
        if canonical_json(public) != message.public_inputs_json:
            raise InputError(
                "public inputs are not RFC 8785 canonical JSON", field="public_inputs_json"
            )
        # 3. canary seed
        if len(message.canary_seed) != CANARY_SEED_BYTES:
            raise InputError(f"canary seed must be {CANARY_SEED_BYTES} bytes", field="canary_seed")
        # 4. identifiers
        if len(message.client_public_key_json) > MAX_PUBLIC_KEY_JSON_BYTES:
            raise InputError(
                f"client key record exceeds {MAX_PUBLIC_KEY_JSON_BYTES} bytes",
                field="client_public_key_json",
            )
        for name in (
            "circuit_id",
            "circuit_version",
            "profile_name",
            "evaluation_keys_digest",
            "audit_id",
            "client_public_key_json",
            "regulator_key_id",
            "client_signature",
        ):
            if not getattr(message, name):
                raise InputError("missing", field=name)
        # 5. witness sample
        sample = None
        if message.HasField("witness_sample"):
            sample = WitnessSample.from_proto(message.witness_sample)
            sample.check(int(message.n_chunks))
        return cls(
            circuit_id=message.circuit_id,
            circuit_version=message.circuit_version,
            profile_name=message.profile_name,
            profile_hash=message.profile_hash,
            evaluation_keys_digest=message.evaluation_keys_digest,
            public_inputs=public,
            rows=int(message.rows),
            idempotency_key=message.idempotency_key,
            canary_seed=bytes(message.canary_seed),
            input_level=int(message.input_level),
            n_chunks=int(message.n_chunks),
            columns=tuple(message.columns),
            audit_id=message.audit_id,
            client_public_key_json=bytes(message.client_public_key_json),
            regulator_key_id=message.regulator_key_id,
            client_signature=bytes(message.client_signature),
            commit_partials=bool(message.commit_partials),
            witness_sample=sample,
        )


__all__ = ["JOB_HEADER_PAYLOAD_TYPE", "JobHeader"]
