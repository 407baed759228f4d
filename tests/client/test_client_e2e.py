"""The client against a real evaluator daemon (a subprocess on loopback).

* the CLI writes a bundle whose receipt verifies with the evaluator's public key, whose
  submission verifies with the client's key, whose sealed key opens with the regulator's key
  and decrypts the outputs to the plaintext counts;
* the client refuses a receipt signed by another key than the one in the capabilities;
* an unreachable evaluator is exit code 3.
"""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from regaudit.secretkey.ckks import SecretKeyDecryptor
from regaudit.secretkey.sealing import RegulatorKeys, unseal_secret_key
from regaudit.shared.bundle import AuditBundle
from regaudit.shared.circuits.base import CANARY_DEPTH, canary_expected
from regaudit.shared.errors import BadSignatureError
from regaudit.shared.evidence.commitments import verify_opening
from regaudit.shared.evidence.dsse import verify_envelope
from regaudit.shared.evidence.identity import (
    PublicKeyRecord,
    SigningIdentity,
    load_public_key_file,
)
from regaudit.shared.evidence.sealing import sealing_info
from regaudit.shared.evidence.statements import parse_receipt, parse_submission, receipt_digest
from regaudit.shared.primitives.fairness.inputs import parse as parse_fairness_input
from regaudit.shared.primitives.fairness.reference import plaintext_counts
from regaudit.shared.primitives.fairness.report import decode_counts
from regaudit.shared.profiles import get_profile

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "data" / "fairness-sample.json"
CLIENT_TIMEOUT_S = 300


def sample_input(tmp_path: Path) -> Path:
    """The fairness helper's sample (seed JSON shape) or, if absent, generated data."""
    if SAMPLE.exists():
        return SAMPLE
    rng = np.random.default_rng(17)
    rows = 3000
    membership = rng.choice(3, size=rows, p=[0.5, 0.45, 0.05])
    payload = {
        "y_true": rng.integers(0, 2, size=rows).tolist(),
        "y_pred": rng.integers(0, 2, size=rows).tolist(),
        "group_a": (membership == 0).astype(int).tolist(),
        "group_b": (membership == 1).astype(int).tolist(),
        "threshold": 0.1,
    }
    path = tmp_path / "generated.json"
    path.write_text(json.dumps(payload))
    return path


def client_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regaudit.client", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S,
        cwd=ROOT,
    )


def test_cli_audit_writes_a_bundle_that_verifies(
    evaluator: Any, regulator_card_file: Path, tmp_path: Path
) -> None:
    identity = tmp_path / "client"
    assert client_cli("init", identity).returncode == 0
    input_file = sample_input(tmp_path)
    bundle_path = tmp_path / "audit.bundle"
    result = client_cli(
        "audit", "fairness", "--input", input_file, "--evaluator", evaluator.address,
        "--regulator-card", regulator_card_file, "--identity", identity, "--out", bundle_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    bundle = AuditBundle.read(bundle_path)
    summary = result.stdout.strip().splitlines()
    assert any(bundle.audit_id in line for line in summary[-3:])
    assert any(str(bundle_path) in line for line in summary[-3:])

    # 1. the receipt is signed by the evaluator's published key
    evaluator_key = load_public_key_file(evaluator.public_key_file)
    receipt = parse_receipt(
        verify_envelope(
            bundle.receipt, public_key=evaluator_key.public_key, key_id=evaluator_key.key_id
        )
    )
    assert receipt.job_id in summary[-1]
    assert bundle.evaluator_key == evaluator_key.to_dict()

    # 2. the submission is signed by the client and binds this receipt
    client_key = load_public_key_file(identity / "client.pub.json")
    submission = parse_submission(
        verify_envelope(
            bundle.submission, public_key=client_key.public_key, key_id=client_key.key_id
        )
    )
    assert submission.receipt_digest == receipt_digest(bundle.receipt)
    assert submission.inputs_manifest_digest == receipt.inputs_manifest_digest
    assert submission.evaluation_keys_digest == receipt.evaluation_keys_digest
    assert submission.audit_id == bundle.audit_id

    # 3. the commitments open with the privately stored salts (file mode 0600)
    data = parse_fairness_input(json.loads(input_file.read_text()))
    openings_file = identity / "audits" / bundle.audit_id / "openings.json"
    assert stat.S_IMODE(openings_file.stat().st_mode) == 0o600
    openings = json.loads(openings_file.read_text())["columns"]
    columns = data.columns()
    assert set(openings) == set(columns) == set(submission.input_commitments)
    for name, opening in openings.items():
        assert opening["commitment"] == submission.input_commitments[name]
        verify_opening(
            opening["commitment"], name=name, values=columns[name], salt_hex=opening["salt"]
        )

    # 4. the sealed key opens for the regulator and decrypts the outputs to the exact counts
    regulator = RegulatorKeys.load(regulator_card_file.parent)
    profile = get_profile(receipt.profile_name)
    secret_key = unseal_secret_key(
        bundle.sealed_key,
        keys=regulator,
        info=sealing_info(
            audit_id=bundle.audit_id,
            profile_hash=profile.profile_hash,
            regulator_key_id=regulator.key_id,
            client_key_id=client_key.key_id,
            receipt_digest=receipt_digest(bundle.receipt),
        ),
    )
    decryptor = SecretKeyDecryptor.from_bytes(profile, secret_key)
    input_level = bundle.plan["input_level"]
    last = input_level + bundle.plan["depth"]
    canary = decryptor.decrypt(bundle.canary_output, level=input_level + CANARY_DEPTH)
    assert abs(canary[0] - canary_expected(bundle.canary_seed, profile.slot_count)) < 1e-2
    outputs = [decryptor.decrypt(blob, level=last) for blob in bundle.outputs]
    assert decode_counts(outputs, receipt.public_inputs, receipt.rows) == plaintext_counts(data)

    # 5. no secret key material lies around unsealed
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret_key not in path.read_bytes(), path


def test_receipt_signed_by_another_key_is_refused(
    evaluator: Any,
    regulator_card_file: Path,
    client_identity_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Capabilities announce a different evaluator key: the real receipt must not verify, and
    nothing is sealed, committed or written."""
    from regaudit.client import audit as audit_module
    from regaudit.client import transport

    impostor = SigningIdentity.generate("evaluator").public_record().to_dict()
    original = transport.EvaluatorConnection.capabilities

    def capabilities_with_other_key(self: Any) -> Any:
        import dataclasses

        return dataclasses.replace(original(self), evaluator_public_key=impostor)

    monkeypatch.setattr(transport.EvaluatorConnection, "capabilities", capabilities_with_other_key)
    data = parse_fairness_input(json.loads(sample_input(tmp_path).read_text()))
    out = tmp_path / "never.bundle"
    openings_dir = tmp_path / "identity-copy"
    with pytest.raises(BadSignatureError):
        audit_module.run_audit(
            "fairness",
            data,
            evaluator=evaluator.address,
            regulator_card=json.loads(regulator_card_file.read_text()),
            identity=SigningIdentity.load(client_identity_dir, kind="client"),
            identity_dir=openings_dir,
            out=out,
            workers=1,
        )
    assert not out.exists()
    assert not (openings_dir / "audits").exists()
    assert PublicKeyRecord.from_dict(impostor).kind == "evaluator"


def test_unreachable_evaluator_exits_3(
    regulator_card_file: Path, client_identity_dir: Path, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a loopback port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "b.bundle"
    result = client_cli(
        "audit", "fairness", "--input", sample_input(tmp_path), "--evaluator",
        f"127.0.0.1:{port}", "--regulator-card", regulator_card_file,
        "--identity", client_identity_dir, "--out", out, "--timeout", "20", "--quiet",
    )  # fmt: skip
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert f"127.0.0.1:{port}" in result.stderr
    assert not out.exists()
