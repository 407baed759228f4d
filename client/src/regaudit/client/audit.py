"""The vendor's audit: encrypt, submit, check the receipt and every output, commit, seal, sign,
write the bundle.

:func:`run_audit` is the whole client side of one audit (see its numbered steps). Key custody:
the fresh CKKS secret key lives in this process and in the spawned encryption workers only; it
leaves them exactly once, sealed with HPKE to the regulator's card. It is never sent to the
evaluator (the wire protocol has no field for it) and never written to disk unsealed.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from regaudit.client.encryption import EncryptionPool, InputManifest, ManifestEntry
from regaudit.client.inputs import AuditData, get_loader
from regaudit.shared.circuits.base import Circuit, Plan
from regaudit.shared.errors import (
    EXIT_EVALUATOR_FAILED,
    InputError,
    ProtocolError,
    RegauditError,
    UntrustedIssuerError,
    WrongParameterSetError,
)
from regaudit.shared.evidence.canonical import canonical_json, utc_now
from regaudit.shared.evidence.identity import PublicKeyRecord, SigningIdentity
from regaudit.shared.evidence.receipts import ReceiptExpectation
from regaudit.shared.files import write_file_atomic
from regaudit.shared.local import data_chunks
from regaudit.shared.planning import make_plan
from regaudit.shared.profiles import ParameterProfile, get_profile

if TYPE_CHECKING:
    from regaudit.shared.evidence.sealing import RegulatorCard

#: Default deadline for the whole audit (seconds).
DEFAULT_TIMEOUT_S = 3600.0
#: Bytes of the random canary seed sent in the job header.
CANARY_SEED_BYTES = 32
#: File (inside ``<identity dir>/audits/<audit id>/``) holding the commitment openings.
OPENINGS_FILE = "openings.json"
OPENINGS_FORMAT = "regaudit.openings.v1"
#: Pause before re-attaching to a job whose progress stream ended early (seconds).
WATCH_RETRY_S = 0.5
#: Openings are private to the client.
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


class EvaluatorUnavailableError(RegauditError):
    """The evaluator could not be reached, refused the job or failed it (CLI exit code 3)."""

    reason = "evaluator_unavailable"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "INTERNAL"


class ProgressSink(Protocol):
    """Receives progress of the long stages: ``encrypt``, ``upload`` and ``evaluate``."""

    def stage(self, name: str, *, total: float | None = None) -> None:
        """A stage starts (or its total becomes known)."""
        ...

    def advance(self, name: str, amount: float = 1.0) -> None: ...

    def update(self, name: str, *, completed: float, total: float | None = None) -> None: ...

    def note(self, text: str) -> None:
        """A one-line message for the user."""
        ...


class _NoProgress:
    def stage(self, name: str, *, total: float | None = None) -> None:
        pass

    def advance(self, name: str, amount: float = 1.0) -> None:
        pass

    def update(self, name: str, *, completed: float, total: float | None = None) -> None:
        pass

    def note(self, text: str) -> None:
        pass


@dataclass(frozen=True)
class AuditOutcome:
    """What a finished audit produced."""

    audit_id: str
    job_id: str
    bundle_path: Path
    openings_path: Path
    plan: Plan
    receipt_digest: str
    inputs_manifest_digest: str
    evaluation_keys_digest: str
    evaluator_key_id: str
    ciphertexts: int
    uploaded_bytes: int
    deduplicated: bool
    timings: dict[str, float] = field(default_factory=dict)


# --- helpers ----------------------------------------------------------------------------------


def resolve_circuit(primitive: str) -> Circuit:
    """The newest registered circuit of ``primitive``; InputError if there is none."""
    from regaudit.shared.circuits.registry import CIRCUITS

    circuit_id = get_loader(primitive).circuit_id
    versions = sorted(
        (version for cid, version in CIRCUITS if cid == circuit_id),
        key=lambda v: (len(v), v),
    )
    if not versions:
        raise InputError(f"no circuit registered for {primitive!r}", field="primitive")
    return CIRCUITS[(circuit_id, versions[-1])]


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


def _evaluator_record(caps: Any) -> PublicKeyRecord:
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


def check_capabilities(caps: Any, plan: Plan) -> PublicKeyRecord:
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


def verify_receipt(
    envelope: Mapping[str, Any],
    *,
    expected: ReceiptExpectation,
) -> Any:
    """Check the evaluator's receipt against what this client sent and received, with the very
    check the regulator runs (:func:`regaudit.shared.evidence.receipts.check_receipt`).

    Returns the parsed :class:`~regaudit.shared.evidence.statements.ReceiptStatement`; raises a
    :class:`~regaudit.shared.errors.VerificationError` subclass naming the field otherwise.
    """
    from regaudit.shared.evidence.receipts import check_receipt

    return check_receipt(envelope, expected=expected, now=utc_now())


def write_openings(
    directory: Path, *, audit_id: str, openings: Mapping[str, tuple[str, str]]
) -> Path:
    """Store the commitment openings (column -> (commitment, salt hex)) privately (0600)."""
    audit_dir = directory / "audits" / audit_id
    audit_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    os.chmod(audit_dir, PRIVATE_DIR_MODE)
    path = audit_dir / OPENINGS_FILE
    document = {
        "format": OPENINGS_FORMAT,
        "audit_id": audit_id,
        "columns": {
            name: {"commitment": commitment, "salt": salt}
            for name, (commitment, salt) in openings.items()
        },
    }
    write_file_atomic(
        path, canonical_json(document) + b"\n", mode=PRIVATE_FILE_MODE, overwrite=False
    )
    return path


# --- the audit --------------------------------------------------------------------------------


def run_audit(
    primitive: str,
    data: AuditData,
    *,
    evaluator: str,
    regulator_card: Mapping[str, Any] | RegulatorCard,
    identity: SigningIdentity,
    out: str | Path,
    identity_dir: str | Path | None = None,
    profile: str | ParameterProfile | None = None,
    progress: ProgressSink | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    tls: Any = None,
    idempotency_key: str | None = None,
    workers: int | None = None,
    data_description: Mapping[str, Any] | None = None,
    pinned_evaluator_key_id: str | None = None,
    pinned_regulator_key_id: str | None = None,
    trusted_evaluator_key_ids: Collection[str] | None = None,
    trusted_regulator_key_ids: Collection[str] | None = None,
) -> AuditOutcome:
    """Run one encrypted audit of ``data`` on the evaluator at ``evaluator`` (HOST:PORT) and
    write the bundle to ``out``.

    ``identity`` signs the job header and the submission. Trust anchors: the evaluator's
    receipt key must be ``pinned_evaluator_key_id`` or in ``trusted_evaluator_key_ids``, and
    the regulator card must be signed by ``pinned_regulator_key_id`` or a key in
    ``trusted_regulator_key_ids`` (UntrustedIssuerError otherwise). The card's signer is
    checked before anything else (no key is generated, nothing is uploaded), the evaluator's
    key as soon as its capabilities arrive (before any evaluation key is uploaded or any row
    encrypted). With neither a pin nor a trusted set for a party, any key of that party is
    accepted (the evaluator's as announced; the regulator's trust store decides later).
    The commitment openings are stored
    privately under ``<identity_dir>/audits/<audit id>/openings.json`` (default: next to
    ``out``).
    Raises InputError (bad input), EvaluatorUnavailableError (evaluator unreachable or job
    failed) or a VerificationError subclass: the receipt does not pass the regulator's own
    receipt check, or an output is not what the planned circuit computes on this data
    (EvaluatorOutputMismatchError, step 10). Nothing is sealed, committed or signed then.
    """
    from regaudit.client.transport import EvaluatorConnection
    from regaudit.secretkey.ckks import ClientKeys
    from regaudit.shared.evidence import sealing, statements
    from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope
    from regaudit.shared.protocol import DEADLINE_UNARY_S, JobHeader, JobState

    sink: ProgressSink = progress or _NoProgress()
    timings: dict[str, float] = {}
    started = time.monotonic()
    deadline = started + timeout
    out_path = Path(out)
    openings_dir = Path(identity_dir) if identity_dir is not None else out_path.parent
    if identity.kind != "client":
        raise InputError(f"the signing identity is a {identity.kind} key", field="identity")
    # 0. trust anchors: the card is the regulator's before anything is generated or sent
    card = parse_regulator_card(regulator_card)
    check_regulator_signer(
        card, accepted_key_ids(pinned_regulator_key_id, trusted_regulator_key_ids)
    )
    accepted_evaluators = accepted_key_ids(pinned_evaluator_key_id, trusted_evaluator_key_ids)
    regulator_key_id = card.regulator_key_id

    # 1. validate the input and the public inputs
    circuit = resolve_circuit(primitive)
    public = circuit.validate_public(data.public)
    rows = data.rows
    # inputs with their own chunking (concordance's pair layout) never build whole columns
    chunked = callable(getattr(data, "iter_chunks", None))
    columns = None if chunked else data.columns()

    # 2. plan from sizes alone (honouring a circuit's minimum scale, e.g. disagreement)
    chosen = get_profile(profile) if isinstance(profile, str) else profile
    plan = make_plan(circuit, public, rows=rows, profile=chosen)
    if columns is not None and set(columns) != set(plan.columns):
        raise InputError("the input's columns do not match the circuit's", field="columns")

    # 3. a fresh CKKS key set for this audit only (Galois keys: the plan's steps only)
    mark = time.monotonic()
    keys = ClientKeys.generate(plan.profile, galois_steps=plan.rotation_steps)
    evaluation_keys = keys.evaluation_keys()
    timings["keygen_s"] = time.monotonic() - mark

    audit_id = str(uuid.uuid4())
    canary_seed = secrets.token_bytes(CANARY_SEED_BYTES)
    job_key = idempotency_key or str(uuid.uuid4())
    manifest = InputManifest()
    n_ciphertexts = plan.input_count

    # 4. the encryption workers exist before any gRPC channel is opened
    with EncryptionPool(plan.profile, secret_key=keys.secret_key_bytes(), workers=workers) as pool:
        try:
            connection = EvaluatorConnection(
                evaluator, timeout=min(timeout, DEADLINE_UNARY_S), tls=tls
            )
        except RegauditError:
            raise
        except Exception as exc:  # grpc raises plain exceptions for bad addresses
            raise EvaluatorUnavailableError(f"cannot connect to {evaluator}: {exc}") from exc
        with connection:
            # 5. capabilities: circuit, profile (hash), limits, receipt key
            caps = _remote(connection.capabilities, evaluator)
            evaluator_key = check_capabilities(caps, plan)
            check_evaluator_key(evaluator_key, accepted_evaluators, address=evaluator)

            # 6. evaluation keys (content-addressed; the evaluator recomputes the digest)
            mark = time.monotonic()
            sink.note(
                f"uploading evaluation keys ({plan.profile.name}, "
                f"{len(plan.rotation_steps)} rotation steps)"
            )
            uploaded_digest = _remote(
                lambda: connection.upload_evaluation_keys(evaluation_keys), evaluator
            )
            if uploaded_digest != evaluation_keys.digest:
                raise ProtocolError(
                    f"the evaluator stored the keys as {uploaded_digest}, expected "
                    f"{evaluation_keys.digest}",
                    field="evaluation_keys_digest",
                )
            timings["upload_keys_s"] = time.monotonic() - mark

            # 7. submit: header, then the canary and every chunk, encrypted lazily
            header = JobHeader.from_plan(
                plan,
                public,
                evaluation_keys_digest=evaluation_keys.digest,
                idempotency_key=job_key,
                canary_seed=canary_seed,
                audit_id=audit_id,
                client_key=identity.public_record(),
                regulator_key_id=regulator_key_id,
            ).signed(identity)
            sink.stage("encrypt", total=n_ciphertexts)
            sink.stage("upload", total=n_ciphertexts)

            def on_encrypted(entry: ManifestEntry) -> None:
                sink.advance("encrypt")

            def on_uploaded(sent: int, total: int, sent_bytes: int) -> None:
                sink.update("upload", completed=sent, total=total)

            mark = time.monotonic()
            ciphertexts = pool.encrypt_audit(
                plan,
                columns,
                canary_seed=canary_seed,
                manifest=manifest,
                on_encrypted=on_encrypted,
                chunks=data_chunks(data, plan.chunk_rows) if columns is None else None,
            )
            accepted = _remote(
                lambda: connection.submit_job(
                    header, ciphertexts, progress=on_uploaded, timeout=_remaining(deadline)
                ),
                evaluator,
            )
            timings["encrypt_upload_s"] = time.monotonic() - mark
            pool.close()  # the secret key leaves the workers' memory
            sink.update("upload", completed=n_ciphertexts, total=n_ciphertexts)
            if len(manifest.entries) != n_ciphertexts and not accepted.deduplicated:
                raise ProtocolError(
                    f"only {len(manifest.entries)} of {n_ciphertexts} ciphertexts were sent",
                    field="ciphertexts",
                )

            # 8. watch the evaluation (re-attaching if the stream ends before a final state)
            mark = time.monotonic()
            sink.stage("evaluate", total=plan.n_chunks)
            final_state = _watch(
                connection, accepted.job_id, address=evaluator, deadline=deadline, sink=sink
            )
            if final_state != JobState.SUCCEEDED:
                raise EvaluatorUnavailableError(
                    f"job {accepted.job_id} ended in state {final_state.value}", field="job"
                )
            timings["evaluate_s"] = time.monotonic() - mark

            # 9. fetch the encrypted outputs and the receipt
            result = _remote(lambda: connection.fetch_result(accepted.job_id), evaluator)
            if result.job_id != accepted.job_id:
                raise ProtocolError(
                    f"asked for job {accepted.job_id}, got the result of {result.job_id}",
                    field="job_id",
                )

    if accepted.deduplicated and len(manifest.entries) != n_ciphertexts:
        raise ProtocolError(
            "the evaluator returned an earlier job for this idempotency key before all "
            "ciphertexts were sent; use a new idempotency key",
            field="idempotency_key",
        )
    manifest_digest = statements.input_manifest_digest(
        (e.column, e.chunk, e.digest) for e in manifest.entries
    )

    # 10. check the receipt BEFORE anything is sealed, committed or signed: the regulator's own
    #     receipt check, then every output against the client's plaintext oracle
    mark = time.monotonic()
    receipt = verify_receipt(
        result.receipt_envelope,
        expected=ReceiptExpectation(
            evaluator_key=evaluator_key,
            plan=plan,
            public_inputs=public,
            audit_id=audit_id,
            client_key_id=identity.key_id,
            regulator_key_id=regulator_key_id,
            job_id=accepted.job_id,
            evaluation_keys_digest=evaluation_keys.digest,
            inputs_manifest_digest=manifest_digest,
            canary_seed=canary_seed,
            outputs=list(result.outputs),
            canary_output=result.canary,
            job_header_digest=header.digest,
        ),
    )
    receipt_digest = statements.receipt_digest(result.receipt_envelope)
    timings["receipt_check_s"] = time.monotonic() - mark
    mark = time.monotonic()
    _check_evaluator_outputs(
        circuit, plan, public, data, keys, list(result.outputs), result.canary, canary_seed
    )
    timings["output_check_s"] = time.monotonic() - mark

    # 11. hiding commitments to every input column; the openings stay with the client
    openings = _commit_columns(data, plan, columns)
    openings_path = write_openings(openings_dir, audit_id=audit_id, openings=openings)

    # 12. seal the CKKS secret key to the regulator (the only way it ever leaves)
    info = sealing.sealing_info(
        audit_id=audit_id,
        profile_hash=plan.profile.profile_hash,
        regulator_key_id=regulator_key_id,
        client_key_id=identity.key_id,
        receipt_digest=receipt_digest,
    )
    sealed = sealing.seal_secret_key(keys.secret_key_bytes(), card=card, info=info)
    del keys
    sealed_digest = sealing.sealed_key_digest(sealed)

    # 13. the client-signed submission statement
    description = {
        "rows": rows,
        "columns": list(plan.columns),
        "chunks": plan.n_chunks,
        **(dict(data_description) if data_description else {}),
    }
    statement = statements.build_submission_statement(
        audit_id=audit_id,
        receipt_envelope=result.receipt_envelope,
        primitive=primitive,
        circuit_id=plan.circuit_id,
        circuit_version=plan.circuit_version,
        profile_name=plan.profile.name,
        profile_hash=plan.profile.profile_hash,
        rows=rows,
        columns=list(plan.columns),
        data_description=description,
        input_commitments={name: commitment for name, (commitment, _) in openings.items()},
        inputs_manifest_digest=manifest_digest,
        evaluation_keys_digest=evaluation_keys.digest,
        sealed_key_digest=sealed_digest,
        regulator_key_id=regulator_key_id,
        evaluator_key_id=evaluator_key.key_id,
        job_id=accepted.job_id,
        created_at=utc_now(),
    )
    submission = sign_envelope(
        canonical_json(statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=identity
    )

    # 14. the bundle, written atomically
    bundle = _build_bundle(
        audit_id=audit_id,
        primitive=primitive,
        plan=plan,
        public=public,
        submission=submission,
        receipt_envelope=result.receipt_envelope,
        sealed=sealed,
        outputs=list(result.outputs),
        canary_seed=canary_seed,
        canary=result.canary,
        client_key=identity.public_record(),
        evaluator_key=evaluator_key,
    )
    bundle.write(out_path, overwrite=True)
    timings["total_s"] = time.monotonic() - started
    del receipt
    return AuditOutcome(
        audit_id=audit_id,
        job_id=accepted.job_id,
        bundle_path=out_path,
        openings_path=openings_path,
        plan=plan,
        receipt_digest=receipt_digest,
        inputs_manifest_digest=manifest_digest,
        evaluation_keys_digest=evaluation_keys.digest,
        evaluator_key_id=evaluator_key.key_id,
        ciphertexts=n_ciphertexts,
        uploaded_bytes=manifest.total_bytes,
        deduplicated=accepted.deduplicated,
        timings=timings,
    )


def _commit_columns(
    data: AuditData, plan: Plan, columns: Mapping[str, Any] | None
) -> dict[str, tuple[str, str]]:
    """Hiding commitments (column -> (digest, salt hex)) to every input column, over its
    ``plan.rows`` real values in row order; chunked inputs are committed chunk by chunk (the
    same digest as over the whole column, without building it)."""
    from regaudit.shared.evidence import commitments

    if columns is not None:
        return {name: commitments.commit_column(name, columns[name]) for name in plan.columns}
    committers = {name: commitments.ColumnCommitter(name) for name in plan.columns}
    remaining = plan.rows
    for chunk in data_chunks(data, plan.chunk_rows):
        used = min(remaining, plan.chunk_rows)
        for name, committer in committers.items():
            committer.update(chunk[name][:used])
        remaining -= used
    return {name: committer.finalize() for name, committer in committers.items()}


def _check_evaluator_outputs(
    circuit: Circuit,
    plan: Plan,
    public: Mapping[str, Any],
    data: AuditData,
    keys: Any,
    outputs: list[bytes],
    canary: bytes,
    canary_seed: bytes,
) -> None:
    """Decrypt every output with the audit's own key and compare it with the plaintext oracle
    on the client's own data (EvaluatorOutputMismatchError on any difference)."""
    from regaudit.client.output_check import check_outputs, expected_outputs
    from regaudit.secretkey.ckks import SecretKeyDecryptor

    expected = expected_outputs(
        circuit, plan, public, lambda chunk_rows: data_chunks(data, chunk_rows)
    )
    decryptor = SecretKeyDecryptor.from_bytes(plan.profile, keys.secret_key_bytes())
    check_outputs(
        circuit=circuit,
        plan=plan,
        public=public,
        expected=expected,
        outputs=outputs,
        canary_output=canary,
        canary_seed=canary_seed,
        decrypt=lambda data, level: decryptor.decrypt(data, level=level),
    )


def _remaining(deadline: float) -> float:
    """Seconds left before ``deadline`` (EvaluatorUnavailableError once it has passed)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise EvaluatorUnavailableError("the audit did not finish before its deadline")
    return left


def _watch(
    connection: Any, job_id: str, *, address: str, deadline: float, sink: ProgressSink
) -> Any:
    """Follow a job until it succeeds, fails (EvaluatorUnavailableError) or the deadline
    passes; returns the final state."""
    from regaudit.shared.protocol import JobState

    while True:
        for update in _remote_iter(
            lambda: connection.watch_job(job_id, timeout=_remaining(deadline)), address
        ):
            sink.update(
                "evaluate", completed=update.chunks_evaluated, total=max(update.n_chunks, 1)
            )
            if update.state == JobState.FAILED:
                raise EvaluatorUnavailableError(
                    f"the evaluator failed job {job_id}: "
                    f"{update.error_reason or 'error'}: {update.message}",
                    field="job",
                )
            if update.state.terminal:
                return update.state
            if time.monotonic() > deadline:
                break
        if time.monotonic() > deadline:
            raise EvaluatorUnavailableError(
                f"job {job_id} did not finish before the deadline", field="job"
            )
        time.sleep(WATCH_RETRY_S)


def _build_bundle(
    *,
    audit_id: str,
    primitive: str,
    plan: Plan,
    public: Mapping[str, Any],
    submission: dict[str, Any],
    receipt_envelope: Mapping[str, Any],
    sealed: dict[str, Any],
    outputs: list[bytes],
    canary_seed: bytes,
    canary: bytes,
    client_key: PublicKeyRecord,
    evaluator_key: PublicKeyRecord,
) -> Any:
    """The :class:`~regaudit.shared.bundle.AuditBundle` of a verified audit."""
    from regaudit.shared.bundle import AuditBundle

    return AuditBundle(
        audit_id=audit_id,
        primitive=primitive,
        plan=plan.to_dict(),
        public_inputs=dict(public),
        submission=submission,
        receipt=dict(receipt_envelope),
        sealed_key=sealed,
        outputs=list(outputs),
        canary_seed=canary_seed,
        canary_output=canary,
        client_key=client_key.to_dict(),
        evaluator_key=evaluator_key.to_dict(),
    )


# --- transport error mapping ------------------------------------------------------------------


def _remote(call: Any, address: str) -> Any:
    """Run a transport call, mapping connection failures to EvaluatorUnavailableError."""
    try:
        return call()
    except RegauditError as exc:
        raise _classify(exc, address) from exc
    except Exception as exc:
        import grpc

        if isinstance(exc, grpc.RpcError):
            raise _classify_rpc(exc, address) from exc
        raise


def _remote_iter(make: Any, address: str) -> Any:
    try:
        yield from make()
    except RegauditError as exc:
        raise _classify(exc, address) from exc
    except Exception as exc:
        import grpc

        if isinstance(exc, grpc.RpcError):
            raise _classify_rpc(exc, address) from exc
        raise


def _classify(exc: RegauditError, address: str) -> RegauditError:
    """Errors the evaluator reported: input errors (exit 2) and verification errors (exit 1)
    keep their class; anything else means the evaluator could not do the job (exit 3)."""
    from regaudit.shared.errors import VerificationError

    if isinstance(exc, EvaluatorUnavailableError | InputError | VerificationError):
        return exc
    return EvaluatorUnavailableError(
        f"evaluator {address} could not do the job: {exc.message} (reason: {exc.reason})",
        field=exc.field,
    )


def _classify_rpc(exc: Any, address: str) -> RegauditError:
    code = exc.code().name if hasattr(exc, "code") else "UNKNOWN"
    details = exc.details() if hasattr(exc, "details") else str(exc)
    return EvaluatorUnavailableError(f"evaluator {address}: {code}: {details}")


__all__ = [
    "AuditOutcome",
    "DEFAULT_TIMEOUT_S",
    "EvaluatorUnavailableError",
    "ProgressSink",
    "accepted_key_ids",
    "check_capabilities",
    "check_evaluator_key",
    "check_regulator_card",
    "check_regulator_signer",
    "parse_regulator_card",
    "resolve_circuit",
    "run_audit",
    "verify_receipt",
    "write_openings",
]
