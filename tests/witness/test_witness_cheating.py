"""A cheating evaluator against a witness, with real daemons: the cheater is a trusted
evaluator whose installation was modified (``cheat/sitecustomize.py`` on its daemon's and
workers' path swaps ``y_true`` and ``y_pred`` in every chunk -- same operations, same levels,
a well-formed signed receipt).

- as a witness: the client compares its outputs with the primary's, finds them different, and
  its own output check shows the primary right: exit 1 ``witness_disagreement``, no bundle;
- as the primary: the honest witness disagrees and the client's output check shows the primary
  wrong: exit 1 ``evaluator_output_mismatch``;
- a client that does not compare (its check disabled in-process) writes a bundle carrying the
  cheater's real, properly signed receipt: the regulator's command line refuses it with
  ``witness_disagreement``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.witnesses import Witnessed

from regaudit.client.audit import run_audit
from regaudit.client.inputs import load_audit_input
from regaudit.shared.evidence.identity import SigningIdentity


def test_the_client_catches_a_cheating_witness(
    witnessed: Witnessed, cheat_address: str, tmp_path: Path
) -> None:
    bundle = tmp_path / "cheated.bundle"
    result = witnessed.audit(bundle, "--witness", cheat_address)
    assert result.returncode == 1, result.stderr
    assert "[witness_disagreement]" in result.stderr
    assert "the witness at" in result.stderr and "computed wrongly" in result.stderr
    assert not bundle.exists()


def test_the_client_blames_a_cheating_primary(
    witnessed: Witnessed, cheat_address: str, tmp_path: Path
) -> None:
    bundle = tmp_path / "cheating-primary.bundle"
    result = witnessed.audit(
        bundle, "--witness", witnessed.witness_address, evaluator=cheat_address
    )
    assert result.returncode == 1, result.stderr
    assert "[evaluator_output_mismatch]" in result.stderr
    assert not bundle.exists()


def test_the_regulator_catches_a_witness_receipt_that_disagrees(
    witnessed: Witnessed,
    cheat_address: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The client's comparison is switched off (a careless or colluding client): the bundle
    then carries the cheater's genuine receipt, bound by the client's signature."""
    from regaudit.shared.evidence import witness_agreement

    compared: list[str] = []

    def no_comparison(primary: object, witness: object, *, who: str = "") -> None:
        compared.append(who)

    monkeypatch.setattr(witness_agreement, "check_agreement", no_comparison)
    bundle = tmp_path / "careless.bundle"
    card = json.loads((witnessed.regulator / "regulator-card.json").read_text())
    data = load_audit_input("fairness", witnessed.input)
    outcome = run_audit(
        "fairness",
        data,
        evaluator=witnessed.primary_address,
        regulator_card=card,
        identity=SigningIdentity.load(witnessed.client, kind="client"),
        identity_dir=witnessed.client,
        out=bundle,
        trusted_evaluator_key_ids=[
            witnessed.key(witnessed.primary),
            witnessed.key(witnessed.cheat),
        ],
        witnesses=[cheat_address],
    )
    assert compared and outcome.witnesses == ((cheat_address, witnessed.key(witnessed.cheat)),)
    monkeypatch.undo()

    document = witnessed.verify(bundle)
    assert (document["exit"], document["reason"]) == (1, "witness_disagreement"), document
    assert cheat_address in str(document["message"])
    assert str(document["field"]).startswith("output/")
