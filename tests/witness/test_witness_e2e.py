"""A full witness from the three command lines: two real evaluator daemons with their own
trusted keys, the client streaming one encryption to both, the regulator comparing the two
receipts -- and the failure modes: an unreachable witness (exit 3, or recorded as missing with
``--witness-optional`` and judged by the ``witnesses_required`` policy), and a "witness" that
is the primary evaluator again under another address (refused before anything is uploaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.cli import cli
from support.daemon import stop_evaluator
from support.witnesses import Witnessed, start_daemon

#: A loopback port nothing listens on (the "unreachable witness").
UNREACHABLE = "127.0.0.1:1"


def evidence(document: dict[str, object]) -> dict[str, Any]:
    value = document["evidence"]
    assert isinstance(value, dict)
    return value


def test_full_witness_agrees_and_verifies(witnessed: Witnessed, witnessed_bundle: Path) -> None:
    document = witnessed.verify(witnessed_bundle)
    assert document["exit"] == 0, document
    assert document["verified"] is True
    witnesses = evidence(document)["witnesses"]
    assert witnesses["required"] == 0 and witnesses["missing"] == []
    (present,) = witnesses["present"]
    assert present["key_id"] == witnessed.key(witnessed.witness)
    assert present["key_id"] != evidence(document)["evaluator"]["key_id"]
    assert present["address"] == witnessed.witness_address
    assert present["agrees"] is True and present["mode"] == "full"
    assert "output_contents" in present["compared_by"]
    # the witness ran the same CKKS build and its job was its own
    assert present["software"]["tenseal"] and present["software"]["seal"]
    assert present["job_id"] != evidence(document)["evaluator"]["job_id"]
    assert "witnesses" in evidence(document)["checks"]

    # a policy requiring one witness accepts it too (the policy set by the trust CLI)
    strict = witnessed.trust_with_policy(1, "trust-one-witness.json")
    assert witnessed.verify(witnessed_bundle, trust=strict)["verified"] is True
    # ... and the text report names the witness and its agreement
    text = cli(
        "regulator", "verify", witnessed_bundle,
        "--identity", witnessed.regulator, "--trust", strict,
    )  # fmt: skip
    assert text.returncode == 0, text.stderr
    assert f"witness {witnessed.witness_address}" in text.stdout and "AGREES" in text.stdout


def test_a_policy_of_two_witnesses_rejects_a_bundle_with_one(
    witnessed: Witnessed, witnessed_bundle: Path
) -> None:
    strict = witnessed.trust_with_policy(2, "trust-two-witnesses.json")
    document = witnessed.verify(witnessed_bundle, trust=strict)
    assert (document["exit"], document["reason"]) == (1, "missing_witness")


def test_unreachable_witness_fails_the_audit_with_exit_3(
    witnessed: Witnessed, tmp_path: Path
) -> None:
    bundle = tmp_path / "a.bundle"
    result = witnessed.audit(bundle, "--witness", UNREACHABLE)
    assert result.returncode == 3, result.stderr
    assert "witness_unavailable" in result.stderr
    # failed before anything was uploaded to the primary
    assert "uploading evaluation keys" not in result.stderr
    assert not bundle.exists()


def test_optional_witness_is_recorded_missing_and_the_policy_decides(
    witnessed: Witnessed, tmp_path: Path
) -> None:
    bundle = tmp_path / "optional.bundle"
    result = witnessed.audit(bundle, "--witness", UNREACHABLE, "--witness-optional")
    assert result.returncode == 0, result.stderr
    assert f"witness   {UNREACHABLE} MISSING" in result.stdout

    lenient = witnessed.verify(bundle)
    assert lenient["exit"] == 0 and lenient["verified"] is True, lenient
    witnesses = evidence(lenient)["witnesses"]
    assert witnesses["present"] == []
    (missing,) = witnesses["missing"]
    assert missing["address"] == UNREACHABLE
    # nothing listens there: the one reason of a connection that failed (client.remote)
    assert missing["reason"] == "evaluator_unreachable" and missing["message"]

    strict = witnessed.trust_with_policy(1, "trust-strict.json")
    document = witnessed.verify(bundle, trust=strict)
    assert (document["exit"], document["reason"]) == (1, "missing_witness")
    assert UNREACHABLE in str(document["message"])


def test_witness_optional_without_witness_is_a_usage_error(
    witnessed: Witnessed, tmp_path: Path
) -> None:
    result = witnessed.audit(tmp_path / "x.bundle", "--witness-optional")
    assert result.returncode == 2
    assert "witness-optional" in result.stderr


@pytest.mark.parametrize("which", ["primary", "twice"])
def test_witness_addresses_are_checked(witnessed: Witnessed, tmp_path: Path, which: str) -> None:
    extra = (
        ["--witness", witnessed.primary_address]
        if which == "primary"
        else ["--witness", witnessed.witness_address, "--witness", witnessed.witness_address]
    )
    result = witnessed.audit(tmp_path / "x.bundle", *extra)
    assert result.returncode == 2, result.stderr
    assert "[invalid_input]" in result.stderr


def test_witness_with_the_primary_key_is_refused(witnessed: Witnessed, tmp_path: Path) -> None:
    """A second daemon running with the primary's identity (its own store and address) is the
    same evaluator: refused before any key or ciphertext is uploaded."""
    daemon, address = start_daemon(witnessed.primary, tmp_path / "twin-store")
    try:
        bundle = tmp_path / "twin.bundle"
        result = witnessed.audit(bundle, "--witness", address)
    finally:
        stop_evaluator(daemon)
    assert result.returncode == 1, result.stderr
    assert "[witness_not_independent]" in result.stderr
    assert "uploading evaluation keys" not in result.stderr
    assert not bundle.exists()


def test_untrusted_witness_is_refused(witnessed: Witnessed, tmp_path: Path) -> None:
    """The witness's key is checked against the client's anchors like the primary's."""
    only_primary = tmp_path / "client-trust.json"
    for pub in (
        witnessed.primary / "evaluator.pub.json",
        witnessed.regulator / "regulator.pub.json",
    ):
        cli("client", "trust", "add", pub, "--trust", only_primary, check=True)
    result = cli(
        "client", "audit", "fairness",
        "--input", witnessed.input,
        "--evaluator", witnessed.primary_address,
        "--regulator-card", witnessed.regulator / "regulator-card.json",
        "--identity", witnessed.client,
        "--trust", only_primary,
        "--out", tmp_path / "x.bundle",
        "--quiet",
        "--witness", witnessed.witness_address,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "[untrusted_issuer]" in result.stderr and witnessed.witness_address in result.stderr
