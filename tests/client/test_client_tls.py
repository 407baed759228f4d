"""The client's TLS options against a real evaluator serving mutual TLS, and the CLI's exit
code 1 when the receipt does not verify."""

from __future__ import annotations

import datetime
import ipaddress
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from typer.testing import CliRunner

from regaudit.client.cli import EXIT_USAGE, EXIT_VERIFICATION_FAILED, app
from regaudit.shared.bundle import AuditBundle

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "data" / "fairness-sample.csv"
CSV_FALLBACK = "y_true,y_pred,group\n" + "".join(
    f"{i % 2},{(i // 2) % 2},{'abc'[i % 3]}\n" for i in range(300)
)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def make_pki(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("regaudit test CA"))
        .issuer_name(_name("regaudit test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    files = {"ca": _write_pem(directory / "ca.pem", ca.public_bytes(serialization.Encoding.PEM))}
    for role, usage in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(f"regaudit test {role}"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if role == "server":
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        files[f"{role}_cert"] = _write_pem(
            directory / f"{role}.pem", cert.public_bytes(serialization.Encoding.PEM)
        )
        files[f"{role}_key"] = _write_pem(
            directory / f"{role}.key",
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
    return files


def input_csv(tmp_path: Path) -> Path:
    if SAMPLE.exists():
        return SAMPLE
    path = tmp_path / "fallback.csv"
    path.write_text(CSV_FALLBACK)
    return path


def client(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regaudit.client", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_mutual_tls_audit(
    evaluator_factory: Callable[..., Any],
    regulator_card_file: Path,
    client_identity_dir: Path,
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path)
    daemon = evaluator_factory(
        "--tls-cert", str(pki["server_cert"]), "--tls-key", str(pki["server_key"]),
        "--tls-client-ca", str(pki["ca"]),
    )  # fmt: skip
    common = [
        "audit", "fairness", "--input", input_csv(tmp_path), "--evaluator", daemon.address,
        "--regulator-card", regulator_card_file, "--identity", client_identity_dir, "--quiet",
    ]  # fmt: skip
    out = tmp_path / "tls.bundle"
    result = client(
        *common, "--out", out, "--tls-ca", pki["ca"], "--tls-cert", pki["client_cert"],
        "--tls-key", pki["client_key"],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert AuditBundle.read(out).primitive == "fairness"

    # without a client certificate the mTLS evaluator refuses the connection: exit 3
    refused = tmp_path / "refused.bundle"
    result = client(*common, "--out", refused, "--tls-ca", pki["ca"])
    assert result.returncode == 3, result.stderr
    assert not refused.exists()


def test_tls_options_must_come_in_pairs(
    regulator_card_file: Path, client_identity_dir: Path, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path)
    result = CliRunner().invoke(
        app,
        [
            "audit", "fairness", "--input", str(input_csv(tmp_path)), "--evaluator",
            "127.0.0.1:9", "--regulator-card", str(regulator_card_file), "--identity",
            str(client_identity_dir), "--out", str(tmp_path / "x"), "--tls-cert",
            str(pki["client_cert"]),
        ],
    )  # fmt: skip
    assert result.exit_code == EXIT_USAGE
    assert "tls-cert" in result.stderr


def test_cli_exits_1_when_the_receipt_does_not_verify(
    evaluator: Any,
    regulator_card_file: Path,
    client_identity_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the transport's returned capabilities are altered (another evaluator key)."""
    import dataclasses

    from regaudit.client import transport
    from regaudit.shared.evidence.identity import SigningIdentity

    other = SigningIdentity.generate("evaluator").public_record().to_dict()
    original = transport.EvaluatorConnection.capabilities
    monkeypatch.setattr(
        transport.EvaluatorConnection,
        "capabilities",
        lambda self: dataclasses.replace(original(self), evaluator_public_key=other),
    )
    out = tmp_path / "never.bundle"
    result = CliRunner().invoke(
        app,
        [
            "audit", "fairness", "--input", str(input_csv(tmp_path)), "--evaluator",
            evaluator.address, "--regulator-card", str(regulator_card_file), "--identity",
            str(client_identity_dir), "--out", str(out), "--quiet", "--workers", "1",
        ],
    )  # fmt: skip
    assert result.exit_code == EXIT_VERIFICATION_FAILED, (result.stdout, result.stderr)
    assert "bad_signature" in result.stderr
    assert not out.exists()
    assert json.loads(regulator_card_file.read_text())["kind"] == "regulator"
