"""Streamed tables end to end: the real command lines (client, evaluator daemon, regulator) audit
a ``;``-separated CSV with ``TRUE``/``false`` labels and a Parquet file, several chunks each,
and the regulator's verified result equals the plaintext reference on the same rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.parties import Parties

from regaudit.shared.primitives.fairness.inputs import parse
from regaudit.shared.primitives.fairness.reference import reference

ROWS = 9_000  # three chunks of 4,096 slots
MAPPING = ("--y-true", "label", "--y-pred", "decision", "--group", "region")


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parties]:
    started = Parties.start(tmp_path_factory.mktemp("streaming-parties"))
    try:
        yield started
    finally:
        started.stop()


def make_rows(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    region = rng.choice(np.array(["north", "south", "east"]), ROWS, p=[0.5, 0.3, 0.2])
    label = rng.binomial(1, np.where(region == "north", 0.3, 0.5))
    decision = rng.binomial(1, np.where(label == 1, 0.8, 0.2))
    return {"label": label, "decision": decision, "region": region}


def expected_result(rows: dict[str, np.ndarray]) -> dict[str, Any]:
    data = parse(
        {
            "y_true": rows["label"].tolist(),
            "y_pred": rows["decision"].tolist(),
            "group": rows["region"].tolist(),
            "threshold": 0.1,
        }
    )
    return reference(data)


def audit_and_verify(parties: Parties, input_file: Path, tmp_path: Path) -> dict[str, Any]:
    bundle = tmp_path / "audit.bundle"
    audited = parties.audit(input_file, bundle, *MAPPING, "--threshold", "0.1")
    assert audited.returncode == 0, audited.stderr
    verified = parties.verify(bundle)
    payload = json.loads(verified.stdout)
    assert verified.returncode == 0, (payload, verified.stderr)
    assert payload["verified"] is True
    result = payload["result"]
    assert isinstance(result, dict)
    return result


def assert_same(result: dict[str, Any], expected: dict[str, Any]) -> None:
    for name in ("demographic_parity_diff", "equal_opportunity_diff", "predictive_parity_diff"):
        assert result[name] == pytest.approx(expected[name], abs=1e-12), name
    assert result["threshold_breached"] == expected["threshold_breached"]


def test_semicolon_csv_with_true_false_labels(parties: Parties, tmp_path: Path) -> None:
    rows = make_rows(21)
    words = np.array(["FALSE", "true"])
    lines = ["label;decision;region"]
    lines += [
        f"{words[t]};{p};{g}"
        for t, p, g in zip(rows["label"], rows["decision"], rows["region"], strict=True)
    ]
    input_file = tmp_path / "decisions.csv"
    input_file.write_text("\n".join(lines) + "\n")
    assert_same(audit_and_verify(parties, input_file, tmp_path), expected_result(rows))


def test_parquet_streams_end_to_end(parties: Parties, tmp_path: Path) -> None:
    rows = make_rows(22)
    input_file = tmp_path / "decisions.parquet"
    pq.write_table(
        pa.table({name: pa.array(values) for name, values in rows.items()}),
        input_file,
        row_group_size=2_000,  # several row groups, read batch by batch
    )
    assert_same(audit_and_verify(parties, input_file, tmp_path), expected_result(rows))


def test_json_lines_streams_end_to_end(parties: Parties, tmp_path: Path) -> None:
    rows = make_rows(23)
    input_file = tmp_path / "decisions.jsonl"
    input_file.write_text(
        "".join(
            json.dumps({"label": bool(t), "decision": int(p), "region": str(g)}) + "\n"
            for t, p, g in zip(rows["label"], rows["decision"], rows["region"], strict=True)
        )
    )
    assert_same(audit_and_verify(parties, input_file, tmp_path), expected_result(rows))
