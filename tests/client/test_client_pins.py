"""The client's trust anchors (issue 8, attack 7: a substituted regulator card).

* a regulator card signed by another regulator identity than the pinned or trusted one is
  refused before any key is generated or anything is sent (exit 1, ``untrusted_issuer``), and
  nothing is written: no bundle, no openings, no job or key on the evaluator;
* an evaluator whose receipt key is not pinned or trusted gets no evaluation keys and no job;
* ``--pin-*`` (and ``REGAUDIT_PIN_*``), ``--trust`` and ``regaudit-client trust add``;
* without pins the client warns on stderr, and behaves as before.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from regaudit.client.cli import EXIT_USAGE, EXIT_VERIFICATION_FAILED, app
from regaudit.secretkey.sealing import RegulatorKeys
from regaudit.shared.errors import UntrustedIssuerError
from regaudit.shared.evidence.identity import SigningIdentity, load_public_key_file
from regaudit.shared.evidence.sealing import load_card

ROOT = Path(__file__).resolve().parents[2]
NOWHERE = "127.0.0.1:9"
CLIENT_TIMEOUT_S = 300
runner = CliRunner()


# --- helpers ----------------------------------------------------------------------------------


def attacker_card(directory: Path) -> Path:
    """The attack: a card correctly self-signed by the attacker's own regulator identity."""
    attacker = SigningIdentity.generate("regulator")
    card = RegulatorKeys.generate().save(directory, signer=attacker)
    attacker.save(directory)
    return card


def regulator_key_id(card_file: Path) -> str:
    """The genuine regulator's signing key id (what ``regaudit-regulator init`` prints)."""
    return load_public_key_file(card_file.parent / "regulator.pub.json").key_id


def run(*args: str | Path, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, [str(a) for a in args], env=env)


def client_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regaudit.client", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S,
        cwd=ROOT,
    )


def audit_args(
    input_file: Path, card: Path, identity: Path, out: Path, evaluator: str, *extra: str | Path
) -> list[str | Path]:
    return [
        "audit", "fairness", "--input", input_file, "--evaluator", evaluator,
        "--regulator-card", card, "--identity", identity, "--out", out, "--quiet", *extra,
    ]  # fmt: skip


def store_state(evaluator: Any) -> tuple[int, list[str]]:
    """(jobs in the daemon's store, evaluation key directories) of a running daemon."""
    store = evaluator.identity.parent / "store"
    database = store / "jobs.sqlite3"
    jobs = 0
    if database.exists():
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            jobs = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    keys = sorted(p.name for p in (store / "keys").glob("*")) if (store / "keys").exists() else []
    return jobs, keys


@pytest.fixture
def client_dir(tmp_path: Path) -> Path:
    """A fresh client identity (so its audits/ folder shows whether openings were written)."""
    directory = tmp_path / "client"
    SigningIdentity.generate("client").save(directory)
    return directory


@pytest.fixture
def small_input(write_json: Callable[..., Path], make_payload: Callable[..., Any]) -> Path:
    return write_json(make_payload(64))


# --- library level ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["pinned", "trusted"])
def test_run_audit_refuses_a_substituted_card_before_key_generation(
    how: str,
    regulator_card_file: Path,
    client_dir: Path,
    make_payload: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from regaudit.client import audit as client_audit
    from regaudit.client.inputs import load_audit_input
    from regaudit.secretkey import ckks

    def no_keygen(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a CKKS key was generated for an untrusted regulator card")

    monkeypatch.setattr(ckks.ClientKeys, "generate", no_keygen)
    input_file = tmp_path / "input.json"
    input_file.write_text(json.dumps(make_payload(64)))
    forged = json.loads(attacker_card(tmp_path / "attacker").read_text())
    genuine = regulator_key_id(regulator_card_file)
    anchors: dict[str, Any] = (
        {"pinned_regulator_key_id": genuine}
        if how == "pinned"
        else {"trusted_regulator_key_ids": {genuine}}
    )
    out = tmp_path / "audit.bundle"
    with pytest.raises(UntrustedIssuerError) as info:
        client_audit.run_audit(
            "fairness",
            load_audit_input("fairness", input_file),
            evaluator=NOWHERE,  # never contacted: the card is refused first
            regulator_card=forged,
            identity=SigningIdentity.load(client_dir, kind="client"),
            identity_dir=client_dir,
            out=out,
            workers=1,
            **anchors,
        )
    assert info.value.reason == "untrusted_issuer"
    assert info.value.field == "regulator_card.signer"
    assert not out.exists()
    assert not (client_dir / "audits").exists()


def test_regulator_signer_check_accepts_only_the_anchors(regulator_card_file: Path) -> None:
    from regaudit.client.audit import accepted_key_ids, check_regulator_signer

    card = load_card(regulator_card_file)
    genuine = regulator_key_id(regulator_card_file)
    assert card.signer_key_id == genuine
    check_regulator_signer(card, None)  # unpinned: as before
    check_regulator_signer(card, accepted_key_ids(genuine, None))
    check_regulator_signer(card, accepted_key_ids(None, {"a" * 64, genuine}))
    check_regulator_signer(card, accepted_key_ids("b" * 64, {genuine}))  # pins + trust file
    for accepted in (accepted_key_ids("b" * 64, None), accepted_key_ids(None, set())):
        with pytest.raises(UntrustedIssuerError):
            check_regulator_signer(card, accepted)
    # pinning the card's HPKE key id instead of the signing key id is refused, with a hint
    with pytest.raises(UntrustedIssuerError, match="signing key id"):
        check_regulator_signer(card, accepted_key_ids(card.regulator_key_id, None))


# --- command line without an evaluator ----------------------------------------------------------


def test_cli_refuses_a_substituted_card_before_connecting(
    regulator_card_file: Path, client_dir: Path, small_input: Path, tmp_path: Path
) -> None:
    """Pinned by flag or by REGAUDIT_PIN_REGULATOR: exit 1 untrusted_issuer although the
    evaluator address is unreachable (exit 3 would mean the card was accepted first)."""
    forged = attacker_card(tmp_path / "attacker")
    genuine = regulator_key_id(regulator_card_file)
    out = tmp_path / "out.bundle"
    args = audit_args(small_input, forged, client_dir, out, NOWHERE)
    for result in (
        run(*args, "--pin-regulator", genuine),
        run(*args, env={"REGAUDIT_PIN_REGULATOR": genuine}),
    ):
        assert result.exit_code == EXIT_VERIFICATION_FAILED, (result.exit_code, result.stderr)
        assert "untrusted_issuer" in result.stderr
        assert "regulator_card.signer" in result.stderr
        assert not out.exists()
        assert not (client_dir / "audits").exists()


@pytest.mark.parametrize("option", ["--pin-evaluator", "--pin-regulator"])
def test_cli_pin_must_be_a_key_id(
    option: str, regulator_card_file: Path, client_dir: Path, small_input: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.bundle"
    result = run(
        *audit_args(small_input, regulator_card_file, client_dir, out, NOWHERE), option, "abc"
    )
    assert result.exit_code == EXIT_USAGE
    assert option.lstrip("-") in result.stderr and "invalid_input" in result.stderr


def test_cli_trust_file_must_exist(
    regulator_card_file: Path, client_dir: Path, small_input: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.bundle"
    result = run(
        *audit_args(small_input, regulator_card_file, client_dir, out, NOWHERE),
        "--trust",
        tmp_path / "missing.json",
    )
    assert result.exit_code == EXIT_USAGE
    assert "trust" in result.stderr and "does not exist" in result.stderr


def test_cli_warns_once_when_nothing_is_pinned(
    regulator_card_file: Path, client_dir: Path, small_input: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.bundle"
    args = audit_args(small_input, regulator_card_file, client_dir, out, NOWHERE, "--timeout", "5")
    unpinned = run(*args)
    assert unpinned.exit_code == 3  # as before: nobody listens there
    warnings = [line for line in unpinned.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "evaluator and regulator keys are not pinned" in warnings[0]
    half = run(*args, "--pin-regulator", regulator_key_id(regulator_card_file))
    assert [line for line in half.stderr.splitlines() if line.startswith("warning:")] == [
        "warning: the evaluator key is not pinned (--pin-evaluator/--pin-regulator or --trust): "
        "a substituted evaluator would be accepted"
    ]
    pinned = run(
        *args,
        "--pin-regulator",
        regulator_key_id(regulator_card_file),
        "--pin-evaluator",
        "e" * 64,
    )
    assert "warning:" not in pinned.stderr


def test_trust_add_keeps_evaluator_and_regulator_keys(
    regulator_card_file: Path, client_dir: Path, tmp_path: Path
) -> None:
    from regaudit.shared.evidence.truststore import TrustStore

    trust = tmp_path / "client-trust.json"
    evaluator = SigningIdentity.generate("evaluator")
    evaluator_pub = evaluator.save(tmp_path / "evaluator")
    added = run("trust", "add", evaluator_pub, "--trust", trust, "--note", "cloud")
    assert added.exit_code == 0, added.stderr
    assert f"trusted: evaluator key {evaluator.key_id}" in added.stdout
    regulator_pub = regulator_card_file.parent / "regulator.pub.json"
    assert run("trust", "add", regulator_pub, "--trust", trust).exit_code == 0
    again = run("trust", "add", regulator_pub, "--trust", trust)
    assert again.exit_code == 0 and "already trusted" in again.stdout
    store = TrustStore.load(trust)  # the regulator's trust store format
    assert {(e.record.kind, e.record.key_id) for e in store.keys} == {
        ("evaluator", evaluator.key_id),
        ("regulator", regulator_key_id(regulator_card_file)),
    }
    refused = run("trust", "add", client_dir / "client.pub.json", "--trust", trust)
    assert refused.exit_code == EXIT_USAGE
    assert "kind" in refused.stderr and "invalid_input" in refused.stderr
    missing = run("trust", "add", tmp_path / "nope.pub.json", "--trust", trust)
    assert missing.exit_code == EXIT_USAGE


# --- command line against a real evaluator daemon -------------------------------------------------


def test_substituted_card_sends_nothing_to_the_evaluator(
    evaluator: Any,
    regulator_card_file: Path,
    client_dir: Path,
    small_input: Path,
    tmp_path: Path,
) -> None:
    """Attack 7 through the real CLI: the attacker's self-signed card, the genuine regulator
    pinned via a client trust file. No bundle, no openings, no job, no evaluation keys."""
    trust = tmp_path / "client-trust.json"
    for pub in (evaluator.public_key_file, regulator_card_file.parent / "regulator.pub.json"):
        assert client_cli("trust", "add", pub, "--trust", trust).returncode == 0
    forged = attacker_card(tmp_path / "attacker")
    out = tmp_path / "audit.bundle"
    before = store_state(evaluator)
    result = client_cli(
        *audit_args(small_input, forged, client_dir, out, evaluator.address, "--trust", trust)
    )
    assert result.returncode == EXIT_VERIFICATION_FAILED, (result.returncode, result.stderr)
    assert "untrusted_issuer" in result.stderr
    assert not out.exists()
    assert not (client_dir / "audits").exists()
    assert store_state(evaluator) == before


def test_unpinned_evaluator_gets_no_job(
    evaluator: Any,
    regulator_card_file: Path,
    client_dir: Path,
    small_input: Path,
    tmp_path: Path,
) -> None:
    """A wrong pinned evaluator key: exit 1 untrusted_issuer after the capabilities, before
    any evaluation key is uploaded or any row encrypted."""
    out = tmp_path / "audit.bundle"
    before = store_state(evaluator)
    result = client_cli(
        *audit_args(
            small_input, regulator_card_file, client_dir, out, evaluator.address,
            "--pin-evaluator", SigningIdentity.generate("evaluator").key_id,
            "--pin-regulator", regulator_key_id(regulator_card_file),
        )
    )  # fmt: skip
    assert result.returncode == EXIT_VERIFICATION_FAILED, (result.returncode, result.stderr)
    assert "untrusted_issuer" in result.stderr and "evaluator_key_id" in result.stderr
    assert "warning:" not in result.stderr
    assert not out.exists()
    assert not (client_dir / "audits").exists()
    assert store_state(evaluator) == before


def test_pinned_audit_succeeds(
    evaluator: Any,
    regulator_card_file: Path,
    client_dir: Path,
    small_input: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "audit.bundle"
    result = client_cli(
        *audit_args(
            small_input, regulator_card_file, client_dir, out, evaluator.address,
            "--pin-evaluator", load_public_key_file(evaluator.public_key_file).key_id,
            "--pin-regulator", regulator_key_id(regulator_card_file),
        )
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "warning:" not in result.stderr
    assert out.exists()
