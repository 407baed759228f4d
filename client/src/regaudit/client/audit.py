"""The vendor's audit: encrypt, submit, check the receipt and every output, commit, seal, sign,
write the bundle.

:func:`run_audit` is the whole client side of one audit: a pipeline of named steps (see its
numbered steps) sharing one :class:`AuditRun`. The checks before the evaluator and after it are
here; the steps that talk to the evaluator are in :mod:`regaudit.client.exchange`, the
commitment, sealing, signing and bundle steps in :mod:`regaudit.client.evidence`, the
trust-anchor and capability checks in :mod:`regaudit.client.anchors`, the mapping of evaluator
failures in :mod:`regaudit.client.remote`, the progress sinks in :mod:`regaudit.client.progress`.
Key custody: the fresh CKKS secret key lives in this process and in the spawned encryption workers
only; it leaves them exactly once, sealed with HPKE to the regulator's card. It is never sent to
the evaluator (the wire protocol has no field for it) and never written to disk unsealed.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from regaudit.client import evidence, exchange
from regaudit.client.anchors import (
    accepted_key_ids,
    check_capabilities,
    check_evaluator_key,
    check_regulator_card,
    check_regulator_signer,
    parse_regulator_card,
)
from regaudit.client.audit_keys import generate_keys
from regaudit.client.encryption import EncryptionPool, InputManifest, ManifestEntry
from regaudit.client.inputs import AuditData
from regaudit.client.progress import NoProgress, ProgressSink
from regaudit.client.remote import EvaluatorUnavailableError
from regaudit.client.resume_journal import ResumeJournal, is_rerunnable
from regaudit.client.witness import open_witnesses
from regaudit.client.witness_checks import check_witnesses
from regaudit.client.witness_sampling import CiphertextSpool, run_sampled_witnesses
from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import Circuit, Plan, PublicInputs
from regaudit.shared.errors import InputError, ProtocolError
from regaudit.shared.evidence.canonical import utc_now
from regaudit.shared.evidence.identity import PublicKeyRecord, SigningIdentity
from regaudit.shared.evidence.receipts import ReceiptExpectation
from regaudit.shared.evidence.witness_sampling import sample_size
from regaudit.shared.planning import data_chunks, make_plan
from regaudit.shared.primitives import get_primitive
from regaudit.shared.profiles import ParameterProfile, get_profile

if TYPE_CHECKING:
    from regaudit.client.fanout import CiphertextFanout
    from regaudit.client.witness_checks import CheckedWitness
    from regaudit.secretkey.ckks import ClientKeys
    from regaudit.shared.ckks import EvaluationKeys
    from regaudit.shared.evidence.row_commitments import RowCommitment
    from regaudit.shared.evidence.sealing import RegulatorCard
    from regaudit.shared.evidence.statements import MissingWitness, ReceiptStatement
    from regaudit.shared.protocol import JobAccepted, JobHeader, JobResult, TlsOptions

#: Default deadline for the whole audit (seconds).
DEFAULT_TIMEOUT_S = 3600.0


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
    #: ciphertexts the client encrypted (the same with or without witnesses)
    encryptions: int = 0
    #: the witnesses whose receipts the bundle carries: (address, evaluator key id)
    witnesses: tuple[tuple[str, str], ...] = ()
    #: the witnesses that delivered nothing (only with ``witness_optional``)
    missing_witnesses: tuple[MissingWitness, ...] = ()


@dataclass(eq=False, repr=False)
class AuditRun:
    """What the steps of one :func:`run_audit` share: its inputs, then what each step produced.

    A produced field is set by one step and read only by later ones (reading it earlier raises
    AttributeError); ``keys`` is deleted once the secret key is sealed (step 12).
    """

    primitive: str
    data: AuditData
    #: the evaluator's HOST:PORT
    evaluator: str
    identity: SigningIdentity
    sink: ProgressSink
    #: ``time.monotonic()`` by which the whole audit must be done
    deadline: float
    timings: dict[str, float] = field(default_factory=dict)
    # 0. trust anchors
    card: RegulatorCard = field(init=False)
    accepted_evaluators: frozenset[str] | None = field(init=False)
    # 1-2. input and plan (``columns`` is None for inputs with their own chunking)
    circuit: Circuit = field(init=False)
    public: PublicInputs = field(init=False)
    columns: Mapping[str, FloatArray] | None = field(init=False)
    plan: Plan = field(init=False)
    # 3. keys and the audit's identifiers
    keys: ClientKeys = field(init=False)
    evaluation_keys: EvaluationKeys = field(init=False)
    audit_id: str = field(init=False)
    canary_seed: bytes = field(init=False)
    job_key: str = field(init=False)
    manifest: InputManifest = field(init=False)
    # 4-9. the evaluator (regaudit.client.exchange), the witnesses (regaudit.client.witness)
    evaluator_key: PublicKeyRecord = field(init=False)
    header: JobHeader = field(init=False)
    accepted: JobAccepted = field(init=False)
    result: JobResult = field(init=False)
    #: the fan-out of the primary's ciphertexts to the witnesses (None without witnesses)
    fanout: CiphertextFanout | None = None
    #: every ciphertext sent to the primary, for the sampled witnesses (None without them)
    spool: CiphertextSpool | None = None
    #: the resume journal (with an explicit idempotency key), and the ciphertexts an earlier,
    #: killed run of this audit recorded as sent (by digest)
    journal: ResumeJournal | None = None
    resumed: dict[str, ManifestEntry] = field(default_factory=dict)
    # 10-13. checks and evidence
    manifest_digest: str = field(init=False)
    receipt: ReceiptStatement = field(init=False)
    receipt_digest: str = field(init=False)
    #: the witnesses that passed step 10c, and those that delivered nothing (optional ones);
    #: the submission binds both and the bundle carries the receipts (hook for other kinds of
    #: witness: append here before step 11)
    witnesses: list[CheckedWitness] = field(default_factory=list)
    missing_witnesses: list[MissingWitness] = field(default_factory=list)
    openings: dict[str, tuple[str, str]] = field(init=False)
    openings_path: Path = field(init=False)
    #: the row Merkle commitment the submission binds (row openings: regaudit-client open)
    row_commitment: RowCommitment = field(init=False)
    sealed: dict[str, Any] = field(init=False)
    submission: dict[str, Any] = field(init=False)


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
    tls: TlsOptions | None = None,
    idempotency_key: str | None = None,
    workers: int | None = None,
    data_description: Mapping[str, Any] | None = None,
    pinned_evaluator_key_id: str | None = None,
    pinned_regulator_key_id: str | None = None,
    trusted_evaluator_key_ids: Collection[str] | None = None,
    trusted_regulator_key_ids: Collection[str] | None = None,
    witnesses: Sequence[str] = (),
    witness_optional: bool = False,
    witness_sample: float | None = None,
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
    ``witnesses`` (HOST:PORT each) re-execute the same job (:mod:`regaudit.client.witness`):
    each must sign with a pinned or trusted evaluator key other than the primary's, receives
    the same keys, header and ciphertexts (one encryption) and must return the primary's
    outputs (WitnessDisagreementError otherwise). A witness that cannot deliver fails the audit
    (WitnessUnavailableError, exit 3) unless ``witness_optional``: then the bundle records it as
    missing. The commitment openings are stored
    privately under ``<identity_dir>/audits/<audit id>/openings.json`` (default: next to
    ``out``).
    Raises InputError (bad input), EvaluatorUnavailableError (evaluator unreachable or job
    failed) or a VerificationError subclass: the receipt does not pass the regulator's own
    receipt check, or an output is not what the planned circuit computes on this data
    (EvaluatorOutputMismatchError, step 10). Nothing is sealed, committed or signed then.

    Steps (one function each, its docstring starting with the step's number):

    0. trust anchors: the identity is a client key, the card is signed by an accepted
       regulator key (:func:`check_regulator_signer`);
    1. the input and the public inputs are valid for the primitive's newest circuit;
    2. the plan, from sizes alone (profile, depth, rotation steps, chunks);
    3. a fresh CKKS key set for this audit only (Galois keys: the plan's steps only);
    4. the encryption workers exist before any gRPC channel is opened;
    5. capabilities: circuit, profile (hash), limits, and the evaluator's receipt key; then
       each witness's, and its key (trusted, not the primary's), before anything is uploaded;
    6. the evaluation keys are uploaded (content-addressed), to the witnesses in their threads;
    7. submit: the signed job header, then the canary and every chunk, encrypted lazily (and
       streamed to each witness from the same bytes);
    8. watch the evaluation until it is final;
    9. fetch the encrypted outputs and the receipt; wait for the witnesses' results;
    10. check the receipt (the regulator's own check), then each witness's receipt and that
        its outputs are the primary's, then every output against the client's plaintext
        oracle -- BEFORE anything is sealed, committed or signed;
    11. hiding commitments to every input column and the row Merkle commitment; the openings
        stay with the client;
    12. seal the CKKS secret key to the regulator (the only way it ever leaves);
    13. the client-signed submission statement;
    14. the bundle, written atomically.
    """
    started = time.monotonic()
    run = AuditRun(
        primitive=primitive,
        data=data,
        evaluator=evaluator,
        identity=identity,
        sink=progress or NoProgress(),
        deadline=started + timeout,
    )
    out_path = Path(out)
    openings_dir = Path(identity_dir) if identity_dir is not None else out_path.parent
    _check_trust_anchors(
        run,
        regulator_card,
        accepted_regulators=accepted_key_ids(pinned_regulator_key_id, trusted_regulator_key_ids),
        accepted_evaluators=accepted_key_ids(pinned_evaluator_key_id, trusted_evaluator_key_ids),
    )
    _plan(run, profile)
    if witnesses:
        from regaudit.client.witness import witness_addresses

        witnesses = witness_addresses(witnesses, primary=evaluator)
    # --witness-sample: every witness re-executes a sample of the chunks after the primary
    sampled: Sequence[str] = ()
    if witness_sample is not None:
        sample_size(witness_sample, run.plan.n_chunks)  # (InputError for a bad fraction)
        sampled, witnesses = witnesses, []
        run.spool = CiphertextSpool()
    generate_keys(run, idempotency_key, journal_base=openings_dir)
    try:
        outcome = _evaluate_and_write(
            run,
            started=started,
            out_path=out_path,
            openings_dir=openings_dir,
            workers=workers,
            tls=tls,
            timeout=timeout,
            witnesses=witnesses,
            witness_optional=witness_optional,
            witness_sample=witness_sample,
            sampled=sampled,
            data_description=data_description,
        )
    except BaseException as exc:
        # a rerun may finish an audit the evaluator could not (exit 3) or an interrupted one;
        # any other failure ends the audit for good: its journal goes
        if run.journal is not None:
            if is_rerunnable(exc):
                run.journal.close()
            else:
                run.journal.discard()
        raise
    if run.journal is not None:
        run.journal.discard()
    return outcome


def _evaluate_and_write(
    run: AuditRun,
    *,
    started: float,
    out_path: Path,
    openings_dir: Path,
    workers: int | None,
    tls: TlsOptions | None,
    timeout: float,
    witnesses: Sequence[str],
    witness_optional: bool,
    witness_sample: float | None,
    sampled: Sequence[str],
    data_description: Mapping[str, Any] | None,
) -> AuditOutcome:
    """Steps 4-14 of :func:`run_audit` (see there)."""
    # 4. the encryption workers exist before any gRPC channel is opened (the pool is entered
    #    before the connection is made); the connections close before the checks of step 10
    with (
        EncryptionPool(
            run.plan.profile, secret_key=run.keys.secret_key_bytes(), workers=workers
        ) as pool,
        exchange.connect(run, tls=tls, timeout=timeout) as connection,
        open_witnesses(
            run, witnesses, optional=witness_optional, tls=tls, timeout=timeout
        ) as session,
    ):
        exchange.sign_header(run)
        if session is not None:
            session.start()
        exchange.upload_keys(run, connection)
        exchange.submit(run, connection, pool)
        if session is not None:
            session.raise_if_failed()  # fail fast: a required witness failed
        exchange.watch(run, connection)
        if session is not None:
            session.raise_if_failed()
        exchange.fetch(run, connection)
        if session is not None:
            session.wait()
        encryptions = pool.encryptions
    _check_receipt(run)
    if session is not None:
        check_witnesses(run, session, check_primary_outputs=lambda: _check_outputs(run))
    _check_outputs(run)
    if run.spool is not None:
        try:
            run_sampled_witnesses(
                run,
                sampled,
                fraction=float(witness_sample or 0),
                spool=run.spool,
                optional=witness_optional,
                tls=tls,
            )
        finally:
            run.spool.close()
    evidence.commit(run, openings_dir)
    evidence.seal(run)
    evidence.sign(run, data_description)
    evidence.write_bundle(run, out_path)
    run.timings["total_s"] = time.monotonic() - started
    return AuditOutcome(
        audit_id=run.audit_id,
        job_id=run.accepted.job_id,
        bundle_path=out_path,
        openings_path=run.openings_path,
        plan=run.plan,
        receipt_digest=run.receipt_digest,
        inputs_manifest_digest=run.manifest_digest,
        evaluation_keys_digest=run.evaluation_keys.digest,
        evaluator_key_id=run.evaluator_key.key_id,
        ciphertexts=run.plan.input_count,
        uploaded_bytes=run.manifest.total_bytes,
        deduplicated=run.accepted.deduplicated,
        timings=run.timings,
        encryptions=encryptions,
        witnesses=tuple((w.address, w.key.key_id) for w in run.witnesses),
        missing_witnesses=tuple(run.missing_witnesses),
    )


# --- the steps before the evaluator -----------------------------------------------------------


def _check_trust_anchors(
    run: AuditRun,
    regulator_card: Mapping[str, Any] | RegulatorCard,
    *,
    accepted_regulators: frozenset[str] | None,
    accepted_evaluators: frozenset[str] | None,
) -> None:
    """0. The card is the regulator's before anything is generated or sent."""
    if run.identity.kind != "client":
        raise InputError(f"the signing identity is a {run.identity.kind} key", field="identity")
    run.card = parse_regulator_card(regulator_card)
    check_regulator_signer(run.card, accepted_regulators)
    run.accepted_evaluators = accepted_evaluators


def _plan(run: AuditRun, profile: str | ParameterProfile | None) -> None:
    """1-2. Validate the input and the public inputs; plan from sizes alone (honouring a
    circuit's minimum scale, e.g. disagreement)."""
    run.circuit = resolve_circuit(run.primitive)
    run.public = run.circuit.validate_public(run.data.public)
    # inputs with their own chunking (concordance's pair layout) never build whole columns
    chunked = callable(getattr(run.data, "iter_chunks", None))
    run.columns = None if chunked else run.data.columns()
    chosen = get_profile(profile) if isinstance(profile, str) else profile
    run.plan = make_plan(run.circuit, run.public, rows=run.data.rows, profile=chosen)
    if run.columns is not None and set(run.columns) != set(run.plan.columns):
        raise InputError("the input's columns do not match the circuit's", field="columns")


# --- the steps after the evaluator: nothing is sealed, committed or signed before 10 passes ---


def _check_receipt(run: AuditRun) -> None:
    """10a. The regulator's own receipt check against what this client sent and received."""
    from regaudit.shared.evidence import statements

    if run.accepted.deduplicated and len(run.manifest.entries) != run.plan.input_count:
        raise ProtocolError(
            "the evaluator returned an earlier job for this idempotency key before all "
            "ciphertexts were sent; use a new idempotency key",
            field="idempotency_key",
        )
    run.manifest_digest = statements.input_manifest_digest(
        (e.column, e.chunk, e.digest) for e in run.manifest.entries
    )
    mark = time.monotonic()
    result = run.result
    run.receipt = verify_receipt(
        result.receipt_envelope,
        expected=ReceiptExpectation(
            evaluator_key=run.evaluator_key,
            plan=run.plan,
            public_inputs=run.public,
            audit_id=run.audit_id,
            client_key_id=run.identity.key_id,
            regulator_key_id=run.card.regulator_key_id,
            job_id=run.accepted.job_id,
            evaluation_keys_digest=run.evaluation_keys.digest,
            inputs_manifest_digest=run.manifest_digest,
            canary_seed=run.canary_seed,
            outputs=list(result.outputs),
            canary_output=result.canary,
            job_header_digest=run.header.digest,
            commit_partials=run.header.commit_partials,
        ),
    )
    run.receipt_digest = statements.receipt_digest(result.receipt_envelope)
    run.timings["receipt_check_s"] = time.monotonic() - mark


def _check_outputs(run: AuditRun) -> None:
    """10c. Every output against the client's plaintext oracle on its own data."""
    if "output_check_s" in run.timings:
        return  # checked already (a witness disagreed and the primary passed)
    mark = time.monotonic()
    _check_evaluator_outputs(
        run.circuit,
        run.plan,
        run.public,
        run.data,
        run.keys,
        list(run.result.outputs),
        run.result.canary,
        run.canary_seed,
    )
    run.timings["output_check_s"] = time.monotonic() - mark


# --- helpers ----------------------------------------------------------------------------------


def resolve_circuit(primitive: str) -> Circuit:
    """The current circuit of the registered ``primitive``; InputError if there is none."""
    return get_primitive(primitive).circuit


def verify_receipt(
    envelope: Mapping[str, Any],
    *,
    expected: ReceiptExpectation,
) -> ReceiptStatement:
    """Check the evaluator's receipt against what this client sent and received, with the very
    check the regulator runs (:func:`regaudit.shared.evidence.receipts.check_receipt`).

    Returns the parsed :class:`~regaudit.shared.evidence.statements.ReceiptStatement`; raises a
    :class:`~regaudit.shared.errors.VerificationError` subclass naming the field otherwise.
    """
    from regaudit.shared.evidence.receipts import check_receipt

    return check_receipt(envelope, expected=expected, now=utc_now())


def _check_evaluator_outputs(
    circuit: Circuit,
    plan: Plan,
    public: Mapping[str, Any],
    data: AuditData,
    keys: ClientKeys,
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


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "AuditOutcome",
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
]
