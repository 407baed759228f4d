"""The witnesses in the signed evidence and the policy, without daemons: the submission binds
each witness receipt (predicate entry and subject) and the missing witnesses, strictly parsed
and schema-valid; a trust store written before the policy existed still loads (no witness
required); the policy is set with ``regaudit-regulator trust policy``; the agreement and
comparability rules of regaudit.shared.evidence.witness_agreement."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.cli import cli

from regaudit.shared import schemas
from regaudit.shared.errors import (
    BundleFormatError,
    InputError,
    WitnessDisagreementError,
    WitnessIncomparableError,
)
from regaudit.shared.evidence import statements
from regaudit.shared.evidence.canonical import canonical_json, sha256_digest
from regaudit.shared.evidence.statements import MissingWitness, WitnessBinding
from regaudit.shared.evidence.truststore import TrustStore
from regaudit.shared.evidence.witness_agreement import (
    KNOWN_TO_AGREE,
    check_agreement,
    check_comparable,
)
from regaudit.shared.profiles import PROFILE_N8192_D3

D = sha256_digest(b"d")
PRIMARY_KEY = "aa" * 32
WITNESS_KEY = "bb" * 32
RECEIPT = {"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": []}
WITNESS_RECEIPT = {**RECEIPT, "payload": "e319"}
BINDING = WitnessBinding(
    address="127.0.0.1:7001",
    evaluator_key_id=WITNESS_KEY,
    job_id="witness-job",
    receipt_digest=statements.receipt_digest(WITNESS_RECEIPT),
)
MISSING = MissingWitness(address="10.0.0.9:7001", reason="evaluator_unavailable", message="down")


def submission(**changes: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(
        audit_id="audit-1",
        receipt_envelope=RECEIPT,
        primitive="fairness",
        circuit_id="fairness",
        circuit_version="1",
        profile_name=PROFILE_N8192_D3.name,
        profile_hash=PROFILE_N8192_D3.profile_hash,
        rows=1000,
        columns=["y_true", "y_pred"],
        data_description={"rows": 1000},
        input_commitments={"y_true": D, "y_pred": D},
        inputs_manifest_digest=D,
        evaluation_keys_digest=D,
        sealed_key_digest=D,
        regulator_key_id="cd" * 32,
        evaluator_key_id=PRIMARY_KEY,
        job_id="job-1",
        created_at=datetime(2026, 12, 3, tzinfo=UTC),
        witnesses=[BINDING],
        missing_witnesses=[MISSING],
    )
    kwargs.update(changes)
    return statements.build_submission_statement(**kwargs)


def test_the_submission_binds_each_witness_receipt_and_the_missing_ones() -> None:
    statement = submission()
    assert statement["predicateType"].endswith("/audit-submission/v2")
    names = [s["name"] for s in statement["subject"]]
    assert names == ["receipt", "witness-receipt/0"]
    assert statement["subject"][1]["digest"]["sha256"] == BINDING.receipt_digest[7:]
    schemas.validate("submission", statement)
    parsed = statements.parse_submission(canonical_json(statement))
    assert parsed.witnesses == (BINDING,)
    assert parsed.missing_witnesses == (MISSING,)


def test_a_submission_without_witnesses_has_one_subject() -> None:
    statement = submission(witnesses=[], missing_witnesses=[])
    assert [s["name"] for s in statement["subject"]] == ["receipt"]
    parsed = statements.parse_submission(canonical_json(statement))
    assert parsed.witnesses == () and parsed.missing_witnesses == ()


def _drop_witness_subject(s: dict[str, Any]) -> None:
    s["subject"].pop()


def _other_witness_subject(s: dict[str, Any]) -> None:
    s["subject"][1]["digest"]["sha256"] = "0" * 64


def _unbound_witness(s: dict[str, Any]) -> None:
    s["predicate"]["witnesses"] = []


def _bad_mode(s: dict[str, Any]) -> None:
    s["predicate"]["witnesses"][0]["mode"] = "partial"


def _extra_field(s: dict[str, Any]) -> None:
    s["predicate"]["witnesses"][0]["note"] = "x"


def _no_missing_list(s: dict[str, Any]) -> None:
    del s["predicate"]["missing_witnesses"]


def _twice(s: dict[str, Any]) -> None:
    s["predicate"]["witnesses"].append(dict(s["predicate"]["witnesses"][0]))
    s["subject"].append({**s["subject"][1], "name": "witness-receipt/1"})


@pytest.mark.parametrize(
    "edit",
    [
        _drop_witness_subject,
        _other_witness_subject,
        _unbound_witness,
        _bad_mode,
        _extra_field,
        _no_missing_list,
        _twice,
    ],
)
def test_the_parser_refuses_witness_bindings_that_do_not_add_up(edit: Any) -> None:
    statement = copy.deepcopy(submission())
    edit(statement)
    with pytest.raises(BundleFormatError):
        statements.parse_submission(canonical_json(statement))


def test_the_client_cannot_bind_the_primary_as_its_own_witness() -> None:
    twin = WitnessBinding(
        address="127.0.0.1:7002",
        evaluator_key_id=PRIMARY_KEY,
        job_id="j",
        receipt_digest=D,
    )
    with pytest.raises(InputError) as error:
        submission(witnesses=[twin])
    assert error.value.field == "witnesses"


def test_an_old_trust_store_without_the_policy_loads_and_requires_no_witness(
    tmp_path: Path,
) -> None:
    document = TrustStore.new_default().to_dict()
    assert document["witnesses_required"] == 0
    del document["witnesses_required"]  # as written before the policy existed
    path = tmp_path / "old.json"
    path.write_text(json.dumps(document))
    assert TrustStore.load(path).witnesses_required == 0
    document["witnesses_required"] = -1
    path.write_text(json.dumps(document))
    with pytest.raises(InputError) as error:
        TrustStore.load(path)
    assert error.value.field == "trust.witnesses_required"


def test_the_trust_policy_command_sets_and_shows_the_policy(tmp_path: Path) -> None:
    trust = tmp_path / "trust.json"
    set_ = cli("regulator", "trust", "policy", "--trust", trust, "--witnesses-required", "2")
    assert set_.returncode == 0 and "witnesses required 2" in set_.stdout
    assert TrustStore.load(trust).witnesses_required == 2
    shown = cli("regulator", "trust", "list", "--trust", trust)
    assert "witnesses required 2" in shown.stdout
    bad = cli("regulator", "trust", "policy", "--trust", trust, "--witnesses-required", "99")
    assert bad.returncode == 2 and "witnesses-required" in bad.stderr
    assert TrustStore.load(trust).witnesses_required == 2


def test_identical_builds_compare_and_others_are_incomparable() -> None:
    build = {"tenseal": "0.3.18", "seal": "4.3", "regaudit-evaluator": "0.1.0"}
    assert check_comparable(build, {**build, "regaudit-evaluator": "0.2.0"}) == (
        ("tenseal", "0.3.18"),
        ("seal", "4.3"),
    )
    assert not KNOWN_TO_AGREE  # initially: identical versions only
    for other in ({**build, "tenseal": "0.3.19"}, {**build, "seal": "4.1"}, {"regaudit": "x"}):
        with pytest.raises(WitnessIncomparableError):
            check_comparable(build, other)


def test_agreement_is_output_by_output() -> None:
    primary = [("output/0", D), ("canary", sha256_digest(b"c"))]
    check_agreement(primary, list(primary))
    with pytest.raises(WitnessDisagreementError) as error:
        check_agreement(primary, [("output/0", D), ("canary", D)])
    assert error.value.field == "canary"
    with pytest.raises(WitnessDisagreementError):
        check_agreement(primary, primary[:1])
