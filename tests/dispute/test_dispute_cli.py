"""The dispute workflow from the command line, with real processes, real signatures and a real
audit through a real evaluator daemon: ``regaudit-client open`` then
``regaudit-regulator check-opening``.

The round trip passes and prints the opened rows and their per-group contributions; every
tampering (value, salt, proof, index, signer, audit, range, duplicate, unsigned edit) is
rejected with its own reason and exit code 1; a wrong request to ``open`` is bad input (2).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from dispute.harness import COLUMN_OPTIONS, Audit
from support.cli import cli
from support.parties import Parties
from typer.testing import CliRunner

from regaudit.client.cli import app as client_app
from regaudit.regulator.cli import app as regulator_app
from regaudit.regulator.opening_checks import OPENING_CHECK_NAMES
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.openings import submission_digest
from regaudit.shared.primitives.fairness.layout import group_column

OPENED = [3, 17, 40, 41, 42, 43, 44, 45]


def open_rows(
    parties: Parties, audit: Audit, out: Path, rows: str = "3,17,40-45", *extra: str | Path
) -> Any:
    return cli(
        "client",
        "open",
        audit.audit_id,
        "--rows",
        rows,
        "--input",
        audit.table,
        *COLUMN_OPTIONS,
        "--identity",
        parties.client,
        "--out",
        out,
        *extra,
    )


def check(parties: Parties, bundle: Path, opening: Path, *extra: str) -> Any:
    """``regaudit-regulator check-opening`` as a real process."""
    return cli("regulator", "check-opening", bundle, opening, "--trust", parties.trust, *extra)


def check_here(parties: Parties, bundle: Path, opening: Path, *extra: str) -> Any:
    """The same command line in this process (Typer's runner: the many rejections run fast)."""
    args = ["check-opening", bundle, opening, "--trust", parties.trust, *extra]
    result = CliRunner().invoke(regulator_app, [str(a) for a in args])
    return SimpleNamespace(returncode=result.exit_code, stdout=result.stdout, stderr=result.stderr)


def open_here(parties: Parties, audit: Audit, out: Path, rows: str = "3,17,40-45") -> Any:
    """``regaudit-client open`` in this process."""
    args = ["open", audit.audit_id, "--rows", rows, "--input", audit.table, *COLUMN_OPTIONS]
    args += ["--identity", parties.client, "--out", out]
    result = CliRunner().invoke(client_app, [str(a) for a in args])
    return SimpleNamespace(returncode=result.exit_code, stdout=result.stdout, stderr=result.stderr)


@pytest.fixture(scope="module")
def opening(
    parties: Parties, audits: tuple[Audit, Audit], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("opening") / "opening.json"
    opened = open_rows(parties, audits[0], out, "3,17,40-45", "--json")
    assert opened.returncode == 0, opened.stderr
    summary = json.loads(opened.stdout)
    assert summary["rows"] == OPENED and summary["audit_id"] == audits[0].audit_id
    bundle = json.loads(audits[0].bundle.read_text())
    assert summary["submission_digest"] == submission_digest(bundle["submission"])
    return out


def test_round_trip_prints_rows_and_group_contributions(
    parties: Parties, audits: tuple[Audit, Audit], opening: Path
) -> None:
    audit = audits[0]
    verified = parties.verify(audit.bundle)  # the v3 bundle verifies in full
    assert verified.returncode == 0, verified.stderr
    checked = check(parties, audit.bundle, opening, "--json")
    assert checked.returncode == 0, checked.stderr
    document = json.loads(checked.stdout)
    assert document["ok"] is True and document["audit_id"] == audit.audit_id
    assert document["rows_committed"] == len(audit.rows)
    groups = sorted({row["group"] for row in audit.rows})
    assert document["columns"] == ["y_true", "y_pred", *(group_column(g) for g in groups)]
    expected_counts: dict[str, dict[str, int]] = {}
    for entry, index in zip(document["opened_rows"], OPENED, strict=True):
        source = audit.rows[index]
        assert entry["index"] == index
        assert entry["values"]["y_true"] == float(source["y_true"])
        assert entry["values"]["y_pred"] == float(source["y_pred"])
        assert all(entry["values"][group_column(g)] == float(g == source["group"]) for g in groups)
        counts = expected_counts.setdefault(
            source["group"], {"rows": 0, "predicted_positive": 0, "positive": 0, "true_positive": 0}
        )
        y_true, y_pred = source["y_true"] == "1", source["y_pred"] == "1"
        counts["rows"] += 1
        counts["predicted_positive"] += y_pred
        counts["positive"] += y_true
        counts["true_positive"] += y_true and y_pred
    assert document["implications"]["per_group"] == dict(sorted(expected_counts.items()))
    assert document["checks"] == list(OPENING_CHECK_NAMES)
    text = check(parties, audit.bundle, opening)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("Opening OK: 8 rows of audit")
    assert "Nothing is proved about what was not opened." in text.stdout


# --- tampering: re-signed by the real client key, so that the check, not the signature, fails


def _payload(opening: Path) -> dict[str, Any]:
    envelope = json.loads(opening.read_text())
    return json.loads(base64.b64decode(envelope["payload"]))


def _write_signed(statement: dict[str, Any], identity: SigningIdentity, out: Path) -> Path:
    envelope = sign_envelope(
        canonical_json(statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=identity
    )
    out.write_text(json.dumps(envelope))
    return out


def _flip_hex(text: str) -> str:
    return ("1" if text[0] == "0" else "0") + text[1:]


def _swap_indices(rows: list[dict[str, Any]]) -> None:
    rows[0]["index"], rows[1]["index"] = rows[1]["index"], rows[0]["index"]


def _tamper_value(rows: list[dict[str, Any]]) -> None:
    rows[0]["values"][1] = 1.0 - rows[0]["values"][1]


def _tamper_salt(rows: list[dict[str, Any]]) -> None:
    rows[2]["salt"] = _flip_hex(rows[2]["salt"])


def _tamper_proof(rows: list[dict[str, Any]]) -> None:
    rows[1]["proof"][0] = _flip_hex(rows[1]["proof"][0])


def _drop_proof_step(rows: list[dict[str, Any]]) -> None:
    rows[1]["proof"].pop()


def _out_of_range(rows: list[dict[str, Any]]) -> None:
    rows[0]["index"] = 10_000


def _duplicate(rows: list[dict[str, Any]]) -> None:
    rows.append(dict(rows[0]))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (_tamper_value, "opening_proof_invalid"),
        (_tamper_salt, "opening_proof_invalid"),
        (_tamper_proof, "opening_proof_invalid"),
        (_drop_proof_step, "opening_proof_invalid"),
        (_swap_indices, "opening_proof_invalid"),
        (_out_of_range, "opening_row_out_of_range"),
        (_duplicate, "opening_duplicate_row"),
    ],
    ids=["value", "salt", "proof", "short-proof", "swapped-index", "out-of-range", "duplicate"],
)
def test_tampered_rows_are_rejected(
    parties: Parties,
    audits: tuple[Audit, Audit],
    opening: Path,
    tmp_path: Path,
    mutate: Callable[[list[dict[str, Any]]], None],
    reason: str,
) -> None:
    statement = _payload(opening)
    mutate(statement["predicate"]["opened_rows"])
    client = SigningIdentity.load(parties.client, kind="client")
    forged = _write_signed(statement, client, tmp_path / "forged.json")
    checked = check_here(parties, audits[0].bundle, forged)
    assert checked.returncode == 1, (checked.stdout, checked.stderr)
    assert checked.stdout.strip() == f"REJECTED: {reason}"
    assert f"[{reason}]" in checked.stderr


def test_another_clients_signature_is_rejected(
    parties: Parties, audits: tuple[Audit, Audit], opening: Path, tmp_path: Path
) -> None:
    other = SigningIdentity.generate("client")
    forged = _write_signed(_payload(opening), other, tmp_path / "other-client.json")
    checked = check_here(parties, audits[0].bundle, forged)
    assert checked.returncode == 1
    assert checked.stdout.strip() == "REJECTED: opening_signer_mismatch"


def test_an_unsigned_edit_breaks_the_signature(
    parties: Parties, audits: tuple[Audit, Audit], opening: Path, tmp_path: Path
) -> None:
    envelope = json.loads(opening.read_text())
    statement = _payload(opening)
    _tamper_value(statement["predicate"]["opened_rows"])
    envelope["payload"] = base64.b64encode(canonical_json(statement)).decode()
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(envelope))
    checked = check_here(parties, audits[0].bundle, edited)
    assert checked.returncode == 1
    assert checked.stdout.strip() == "REJECTED: bad_signature"


def test_an_opening_of_another_audit_is_rejected(
    parties: Parties, audits: tuple[Audit, Audit], opening: Path, tmp_path: Path
) -> None:
    # the first audit's opening against the second audit's bundle (same client, same table)
    checked = check(parties, audits[1].bundle, opening)
    assert checked.returncode == 1
    assert checked.stdout.strip() == "REJECTED: opening_audit_mismatch"
    # relabelled as the second audit: the submission digest, then the root, still differ
    statement = _payload(opening)
    statement["predicate"]["audit_id"] = audits[1].audit_id
    client = SigningIdentity.load(parties.client, kind="client")
    relabelled = _write_signed(statement, client, tmp_path / "relabelled.json")
    result = check(parties, audits[1].bundle, relabelled, "--json")
    assert result.returncode == 1
    failure = json.loads(result.stdout)
    assert failure["ok"] is False and failure["exit_code"] == 1
    assert failure["reason"] == "opening_audit_mismatch"
    assert failure["field"] == "submission_digest"
    # the second audit's own opening of the same rows passes against its bundle only
    second = tmp_path / "second.json"
    assert open_rows(parties, audits[1], second).returncode == 0
    assert check(parties, audits[1].bundle, second).returncode == 0
    assert check(parties, audits[0].bundle, second).returncode == 1


def test_open_refuses_bad_requests(
    parties: Parties, audits: tuple[Audit, Audit], tmp_path: Path
) -> None:
    audit = audits[0]
    # a row the table does not have
    result = open_here(parties, audit, tmp_path / "a.json", f"2,{len(audit.rows)}")
    assert result.returncode == 2 and "rows" in result.stderr
    # malformed and repeated row lists
    for spec in ("x", "5-3", "1,1"):
        assert open_here(parties, audit, tmp_path / "b.json", spec).returncode == 2
    # another table than the audited one
    changed = tmp_path / "changed.csv"
    lines = audit.table.read_text().splitlines()
    fields = lines[5].split(",")
    fields[3] = "0" if fields[3] == "1" else "1"  # y_pred of row 4
    lines[5] = ",".join(fields)
    changed.write_text("\n".join(lines) + "\n")
    moved = Audit(audit.bundle, audit.audit_id, changed, audit.rows)
    result = open_here(parties, moved, tmp_path / "c.json")
    assert result.returncode == 2
    assert "not the table audit" in result.stderr and "[invalid_input]" in result.stderr
    # an audit this client never made
    ghost = Audit(audit.bundle, "no-such-audit", audit.table, audit.rows)
    assert open_here(parties, ghost, tmp_path / "d.json").returncode == 2
    # an existing --out without --force
    existing = tmp_path / "exists.json"
    existing.write_text("{}")
    assert open_here(parties, audit, existing).returncode == 2
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "c.json").exists()


def test_check_opening_bad_input_is_exit_2(
    parties: Parties, audits: tuple[Audit, Audit], tmp_path: Path
) -> None:
    missing = check_here(parties, audits[0].bundle, tmp_path / "missing.json")
    assert missing.returncode == 2
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json")
    assert check_here(parties, audits[0].bundle, garbage).returncode == 2
    # --trust from the environment, like every regulator command (REGAUDIT_TRUST)
    args = ["check-opening", str(audits[0].bundle), str(garbage)]
    env = {"REGAUDIT_TRUST": str(tmp_path / "env-trust.json")}
    result = CliRunner().invoke(regulator_app, args, env=env)
    assert result.exit_code == 2 and "env-trust.json" in result.stderr


def test_a_bundle_without_row_commitment_cannot_be_opened(
    parties: Parties, audits: tuple[Audit, Audit], opening: Path, tmp_path: Path
) -> None:
    """A v2 submission (before row commitments), genuinely signed by the client."""
    document = json.loads(audits[0].bundle.read_text())
    statement = json.loads(base64.b64decode(document["submission"]["payload"]))
    statement["predicateType"] = statement["predicateType"].replace("/v3", "/v2")
    del statement["predicate"]["row_commitment"]
    client = SigningIdentity.load(parties.client, kind="client")
    document["submission"] = sign_envelope(
        canonical_json(statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=client
    )
    old = tmp_path / "v2.bundle"
    old.write_text(json.dumps(document))
    checked = check_here(parties, old, opening)
    assert checked.returncode == 1
    assert checked.stdout.strip() == "REJECTED: row_commitment_missing"


def test_whole_columns_open_their_commitments_and_give_the_group_totals(
    parties: Parties, audits: tuple[Audit, Audit], tmp_path: Path
) -> None:
    audit = audits[0]
    groups = sorted({row["group"] for row in audit.rows})
    names = ["y_true", "y_pred", *(group_column(g) for g in groups)]
    out = tmp_path / "columns.json"
    opened = open_rows(parties, audit, out, "5", "--columns", ",".join(names))
    assert opened.returncode == 0, opened.stderr
    checked = check_here(parties, audit.bundle, out, "--json")
    assert checked.returncode == 0, checked.stderr
    document = json.loads(checked.stdout)
    assert [c["name"] for c in document["opened_columns"]] == names
    expected = {
        g: {
            "rows": sum(r["group"] == g for r in audit.rows),
            "predicted_positive": sum(r["group"] == g and r["y_pred"] == "1" for r in audit.rows),
            "positive": sum(r["group"] == g and r["y_true"] == "1" for r in audit.rows),
            "true_positive": sum(
                r["group"] == g and r["y_true"] == r["y_pred"] == "1" for r in audit.rows
            ),
        }
        for g in groups
    }
    assert document["implications"]["column_totals"] == expected
    assert "Per-group totals" in check_here(parties, audit.bundle, out).stdout
    # a changed value or salt of a whole column no longer opens its commitment
    client = SigningIdentity.load(parties.client, kind="client")
    for field in ("values", "salt"):
        statement = _payload(out)
        column = statement["predicate"]["opened_columns"][1]
        if field == "values":
            column["values"][7] = 1.0 - column["values"][7]
        else:
            column["salt"] = _flip_hex(column["salt"])
        forged = _write_signed(statement, client, tmp_path / f"forged-{field}.json")
        rejected = check_here(parties, audit.bundle, forged)
        assert rejected.returncode == 1
        assert rejected.stdout.strip() == "REJECTED: opening_proof_invalid"
    # a column the audit did not commit to is bad input for open
    bad = open_here(parties, audit, tmp_path / "bad.json", "5")
    assert bad.returncode == 0  # (rows alone are fine)
    args = ["open", audit.audit_id, "--columns", "nope", "--input", audit.table, *COLUMN_OPTIONS]
    args += ["--identity", parties.client, "--out", tmp_path / "nope.json"]
    result = CliRunner().invoke(client_app, [str(a) for a in args])
    assert result.exit_code == 2 and "no column 'nope'" in result.stderr
