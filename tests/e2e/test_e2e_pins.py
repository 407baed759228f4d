"""End to end with the client's trust anchors (issue 8, attack 7: a substituted regulator card).

* the documented, pinned path (``--pin-evaluator``/``--pin-regulator`` from the ``init``
  outputs) verifies at the regulator, without the unpinned warning;
* an attacker's card, made by ``regaudit-regulator init`` and so correctly self-signed by the
  attacker's own regulator identity, is refused when the genuine regulator is pinned: exit 1
  ``untrusted_issuer``, no bundle, no openings, and the evaluator received no job or key;
* a wrong pinned evaluator key: exit 1 ``untrusted_issuer`` and the evaluator received no job.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from e2e_harness import ROOT, Parties, cli, key_id, verified_json

SAMPLE_CSV = ROOT / "examples" / "data" / "fairness-sample.csv"
CSV_COLUMNS = ("--y-true", "y_true", "--y-pred", "y_pred", "--group", "group")


def store_state(parties: Parties) -> tuple[int, list[str]]:
    """(jobs in the daemon's store, evaluation key directories)."""
    store = parties.root / "store"
    with sqlite3.connect(f"file:{store / 'jobs.sqlite3'}?mode=ro", uri=True) as db:
        jobs = int(db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])
    keys = sorted(p.name for p in (store / "keys").glob("*")) if (store / "keys").exists() else []
    return jobs, keys


def test_pinned_audit_verifies_end_to_end(parties: Parties, tmp_path: Path) -> None:
    bundle = tmp_path / "audit.bundle"
    audited = parties.audit(SAMPLE_CSV, bundle, *CSV_COLUMNS)
    assert audited.returncode == 0, audited.stderr
    assert "--pin-regulator" in parties.pins and "warning:" not in audited.stderr
    verified = parties.verify(bundle)
    payload = verified_json(verified)
    assert verified.returncode == 0 and payload["verified"] is True, payload


def test_unpinned_audit_warns(parties: Parties, tmp_path: Path) -> None:
    bundle = tmp_path / "audit.bundle"
    audited = parties.audit(SAMPLE_CSV, bundle, *CSV_COLUMNS, "--quiet", pin=False)
    assert audited.returncode == 0, audited.stderr
    warnings = [line for line in audited.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: the evaluator and regulator keys are not pinned (--pin-evaluator/"
        "--pin-regulator or --trust): a substituted evaluator or regulator would be accepted"
    ]


def test_substituted_regulator_card_is_refused_and_nothing_is_sent(
    parties: Parties, tmp_path: Path
) -> None:
    attacker = tmp_path / "attacker"
    cli("regulator", "init", attacker, check=True)
    forged_card = attacker / "regulator-card.json"
    client = tmp_path / "client"
    cli("client", "init", client, check=True)
    bundle = tmp_path / "audit.bundle"
    before = store_state(parties)
    refused = cli(
        "client", "audit", "fairness", "--input", SAMPLE_CSV, *CSV_COLUMNS,
        "--evaluator", parties.address, "--regulator-card", forged_card,
        "--identity", client, "--out", bundle, "--quiet", *parties.pins,
    )  # fmt: skip
    assert refused.returncode == 1, (refused.returncode, refused.stderr)
    assert "[untrusted_issuer]" in refused.stderr
    assert key_id(attacker / "regulator.pub.json")[:16] in refused.stderr
    assert not bundle.exists()
    assert not (client / "audits").exists()
    assert store_state(parties) == before


def test_wrong_pinned_evaluator_gets_no_job(parties: Parties, tmp_path: Path) -> None:
    impostor = tmp_path / "impostor"
    cli("evaluator", "init", impostor, check=True)
    bundle = tmp_path / "audit.bundle"
    before = store_state(parties)
    openings_before = sorted((parties.client / "audits").glob("*"))
    refused = parties.audit(
        SAMPLE_CSV, bundle, *CSV_COLUMNS, "--quiet",
        "--pin-evaluator", key_id(impostor / "evaluator.pub.json"),
        "--pin-regulator", key_id(parties.regulator / "regulator.pub.json"),
        pin=False,
    )  # fmt: skip
    assert refused.returncode == 1, (refused.returncode, refused.stderr)
    assert "[untrusted_issuer]" in refused.stderr and "evaluator_key_id" in refused.stderr
    assert not bundle.exists()
    assert sorted((parties.client / "audits").glob("*")) == openings_before
    assert store_state(parties) == before
