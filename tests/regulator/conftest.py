"""Fixtures of the regulator tests: real parties and real audit bundles.

The bundle builder plays the client and the evaluator in-process with the real shared modules
(fresh CKKS keys, symmetric encryption, the fairness circuit on the SEAL backend, a signed
receipt, hiding commitments, HPKE sealing, a signed submission). It lives here, not in the
regulator package: the regulator must never hold client or evaluator keys.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from regaudit.evaluator.chunk_partials import evaluate_chunks
from regaudit.secretkey.ckks import ClientKeys
from regaudit.secretkey.sealing import RegulatorKeys
from regaudit.shared.bundle import AuditBundle
from regaudit.shared.ciphertext_content import ciphertext_content_digest
from regaudit.shared.circuits.base import (
    CANARY_COLUMN,
    Circuit,
    canary_circuit,
    canary_vector,
    iter_chunks,
)
from regaudit.shared.ckks import CkksBackend, load_evaluation_keys
from regaudit.shared.evidence import commitments, sealing, statements
from regaudit.shared.evidence.canonical import canonical_json, sha256_digest, utc_now
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.truststore import TrustStore
from regaudit.shared.evidence.witness_sampling import merkle_root
from regaudit.shared.planning import make_plan
from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
from regaudit.shared.primitives.fairness.inputs import FairnessData
from regaudit.shared.primitives.fairness.inputs import parse as parse_fairness_input
from regaudit.shared.profiles import PROFILE_N8192_D3, ParameterProfile
from regaudit.shared.protocol import CANARY_OUTPUT_NAME, output_name

#: Rows of the default bundle: two chunks of 4,096 slots, so chunk combining is exercised.
DEFAULT_ROWS = 5_000


@dataclass
class Parties:
    """A regulator identity on disk, a client and an evaluator identity, and a trust store
    (file and object) trusting both."""

    regulator_dir: Path
    regulator_keys: RegulatorKeys
    regulator_signer: SigningIdentity
    client: SigningIdentity
    evaluator: SigningIdentity
    client_pub: Path
    evaluator_pub: Path
    trust_path: Path

    @property
    def card(self) -> dict[str, Any]:
        return self.regulator_keys.card(signer=self.regulator_signer)

    def trust(self) -> TrustStore:
        """A fresh copy of the trust store (tests may mutate it)."""
        return TrustStore.load(self.trust_path)


@dataclass
class Built:
    """A bundle and what the builder knows about it (the plaintext data, for oracles)."""

    bundle: AuditBundle
    data: FairnessData


def fairness_payload(rows: int = DEFAULT_ROWS, *, seed: int = 5) -> dict[str, Any]:
    """Categorical fairness input with three groups; group "west" has no predicted positives,
    so its precision is undefined."""
    rng = np.random.default_rng(seed)
    groups = rng.choice(["north", "south", "west"], size=rows, p=[0.5, 0.4, 0.1])
    y_true = rng.binomial(1, np.where(groups == "north", 0.35, 0.5))
    y_pred = rng.binomial(1, np.where(y_true == 1, 0.8, 0.2))
    y_pred[groups == "west"] = 0
    return {
        "y_true": y_true.tolist(),
        "y_pred": y_pred.tolist(),
        "group": groups.tolist(),
        "threshold": 0.1,
    }


def build_bundle(
    parties: Parties,
    data: FairnessData,
    *,
    audit_id: str | None = None,
    profile: ParameterProfile | None = PROFILE_N8192_D3,
    sealed_secret_key: bytes | None = None,
    finished_at: datetime | None = None,
    created_at: datetime | None = None,
    card: dict[str, Any] | None = None,
    counts_edit: dict[str, Any] | None = None,
    circuit: Circuit | None = None,
) -> AuditBundle:
    """Play client and evaluator for one fairness audit of ``data`` and return the bundle.

    ``sealed_secret_key`` replaces the CKKS secret key that gets sealed (a properly sealed but
    wrong key); ``card`` seals to another regulator; ``counts_edit`` overrides operation
    counters in the (properly signed) receipt; the times default to now. ``circuit`` plays
    another primitive's audit (``data`` is then that primitive's parsed input; ``profile=None``
    lets the planner pick the profile).
    """
    circuit = circuit or FairnessCircuit()
    public = circuit.validate_public(data.public)
    plan = make_plan(circuit, public, rows=data.rows, profile=profile)
    audit_id = audit_id or str(uuid.uuid4())
    job_id = str(uuid.uuid4())
    card = card or parties.card
    regulator_key_id = sealing.parse_card(card).regulator_key_id

    # client: fresh keys, encrypt the canary and every chunk at the plan's input level
    keys = ClientKeys.generate(plan.profile, galois_steps=plan.rotation_steps)
    evaluation_keys = keys.evaluation_keys()
    canary_seed = secrets.token_bytes(32)
    level = plan.input_level
    canary_ct = keys.encrypt(canary_vector(canary_seed, plan.profile.slot_count), level=level)
    manifest = [(CANARY_COLUMN, 0, sha256_digest(canary_ct))]
    chunks: list[dict[str, bytes]] = []
    for index, chunk in enumerate(iter_chunks(data.columns(), plan.chunk_rows)):
        encrypted = {name: keys.encrypt(chunk[name], level=level) for name in plan.columns}
        manifest += [(name, index, sha256_digest(encrypted[name])) for name in plan.columns]
        chunks.append(encrypted)

    # evaluator: the circuit on the SEAL backend with evaluation keys only
    started_at = utc_now()
    loaded = load_evaluation_keys(plan.profile, evaluation_keys, required_steps=plan.rotation_steps)
    backend = CkksBackend(plan.profile, loaded)
    vectors = (
        {name: backend.load(ct, level=level) for name, ct in chunk.items()} for chunk in chunks
    )
    accumulators, partial_digests = evaluate_chunks(
        circuit, backend, enumerate(vectors), public, with_digests=True
    )
    outputs = [v.to_bytes() for v in circuit.finalize(backend, accumulators, public, plan.rows)]
    canary_out = canary_circuit(backend, backend.load(canary_ct, level=level)).to_bytes()
    counts = {**backend.counts.to_dict(), **(counts_edit or {})}
    finished = finished_at or utc_now()
    receipt_statement = statements.build_receipt_statement(
        job_id=job_id,
        circuit_id=plan.circuit_id,
        circuit_version=plan.circuit_version,
        profile_name=plan.profile.name,
        profile_hash=plan.profile.profile_hash,
        evaluation_keys_digest=evaluation_keys.digest,
        inputs_manifest_digest=statements.input_manifest_digest(manifest),
        input_count=len(manifest),
        rows=plan.rows,
        public_inputs=public,
        canary_seed_hex=canary_seed.hex(),
        outputs=[(output_name(i), ct) for i, ct in enumerate(outputs)]
        + [(CANARY_OUTPUT_NAME, canary_out)],
        output_contents=[
            (output_name(i), ciphertext_content_digest(ct)) for i, ct in enumerate(outputs)
        ]
        + [(CANARY_OUTPUT_NAME, ciphertext_content_digest(canary_out))],
        partials_root=merkle_root(partial_digests),
        partials_count=len(partial_digests),
        depth_planned=plan.depth,
        depth_observed=backend.counts.max_level - plan.input_level,
        operation_counts=counts,
        started_at=min(started_at, finished),
        finished_at=finished,
        evaluator_key_id=parties.evaluator.key_id,
        software={"regaudit": "test-builder"},
        audit_id=audit_id,
        client_key_id=parties.client.key_id,
        regulator_key_id=regulator_key_id,
        job_header_digest=sha256_digest(job_id.encode()),
        retention={"input_ciphertexts": "deleted", "evaluation_keys": "deleted"},
    )
    receipt = sign_envelope(
        canonical_json(receipt_statement),
        payload_type=PAYLOAD_TYPE_INTOTO,
        identity=parties.evaluator,
    )

    # client: commit, seal the key, sign the submission
    openings = {
        name: commitments.commit_column(name, data.columns()[name]) for name in plan.columns
    }
    info = sealing.sealing_info(
        audit_id=audit_id,
        profile_hash=plan.profile.profile_hash,
        regulator_key_id=regulator_key_id,
        client_key_id=parties.client.key_id,
        receipt_digest=statements.receipt_digest(receipt),
    )
    secret = sealed_secret_key if sealed_secret_key is not None else keys.secret_key_bytes()
    sealed = sealing.seal_secret_key(secret, card=card, info=info)
    submission_statement = statements.build_submission_statement(
        audit_id=audit_id,
        receipt_envelope=receipt,
        primitive=circuit.circuit_id,
        circuit_id=plan.circuit_id,
        circuit_version=plan.circuit_version,
        profile_name=plan.profile.name,
        profile_hash=plan.profile.profile_hash,
        rows=plan.rows,
        columns=list(plan.columns),
        data_description={"rows": plan.rows, "columns": list(plan.columns)},
        input_commitments={name: commitment for name, (commitment, _) in openings.items()},
        inputs_manifest_digest=statements.input_manifest_digest(manifest),
        evaluation_keys_digest=evaluation_keys.digest,
        sealed_key_digest=sealing.sealed_key_digest(sealed),
        regulator_key_id=regulator_key_id,
        evaluator_key_id=parties.evaluator.key_id,
        job_id=job_id,
        created_at=created_at or max(utc_now(), finished),
    )
    submission = sign_envelope(
        canonical_json(submission_statement),
        payload_type=PAYLOAD_TYPE_INTOTO,
        identity=parties.client,
    )
    return AuditBundle(
        audit_id=audit_id,
        primitive=circuit.circuit_id,
        plan=plan.to_dict(),
        public_inputs=dict(public),
        submission=submission,
        receipt=receipt,
        sealed_key=sealed,
        outputs=outputs,
        canary_seed=canary_seed,
        canary_output=canary_out,
        client_key=parties.client.public_record().to_dict(),
        evaluator_key=parties.evaluator.public_record().to_dict(),
    )


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def parties(tmp_path_factory: pytest.TempPathFactory) -> Parties:
    root = tmp_path_factory.mktemp("parties")
    regulator_dir = root / "regulator"
    regulator_keys = RegulatorKeys.generate()
    regulator_signer = SigningIdentity.generate("regulator")
    regulator_keys.save(regulator_dir, signer=regulator_signer)
    regulator_signer.save(regulator_dir)
    client = SigningIdentity.generate("client")
    evaluator = SigningIdentity.generate("evaluator")
    client_pub = client.save(root / "client")
    evaluator_pub = evaluator.save(root / "evaluator")
    trust = TrustStore.new_default()
    trust.add_key(client.public_record(), note="test client")
    trust.add_key(evaluator.public_record(), note="test evaluator")
    trust_path = root / "trust.json"
    trust.save(trust_path)
    return Parties(
        regulator_dir=regulator_dir,
        regulator_keys=regulator_keys,
        regulator_signer=regulator_signer,
        client=client,
        evaluator=evaluator,
        client_pub=client_pub,
        evaluator_pub=evaluator_pub,
        trust_path=trust_path,
    )


@pytest.fixture(scope="session")
def fairness_data() -> FairnessData:
    return parse_fairness_input(fairness_payload())


@pytest.fixture(scope="session")
def good(parties: Parties, fairness_data: FairnessData) -> Built:
    """A valid bundle (built once per session; tests must not mutate it)."""
    return Built(build_bundle(parties, fairness_data), fairness_data)


@pytest.fixture(scope="session")
def other(parties: Parties) -> Built:
    """A second valid bundle of different data (another audit id, another receipt)."""
    data = parse_fairness_input(fairness_payload(300, seed=9))
    return Built(build_bundle(parties, data), data)


@pytest.fixture(scope="session")
def good_file(good: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return good.bundle.write(tmp_path_factory.mktemp("bundles") / "good.bundle")


@pytest.fixture
def builder(parties: Parties) -> Callable[..., AuditBundle]:
    """:func:`build_bundle` bound to the session's parties (test modules cannot import
    conftest)."""

    def build(data: FairnessData, **options: Any) -> AuditBundle:
        return build_bundle(parties, data, **options)

    return build


@pytest.fixture
def payload() -> Callable[..., dict[str, Any]]:
    return fairness_payload


@pytest.fixture
def long_ago() -> datetime:
    return utc_now() - timedelta(days=400)
