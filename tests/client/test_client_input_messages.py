"""Messages about input files that help (issue 12): a wrong column lists the columns found and
names the option that asked for it; a ``;`` CSV is read (its delimiter sniffed), not reported
as a missing column; ``true``/``false`` labels are 0/1; a missing value is called a missing
value with its row and column. Through the real command line where the message is the CLI's
(exit 2, before any evaluator is contacted), else through the loaders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from regaudit.client.cli import EXIT_USAGE, app
from regaudit.client.inputs import load_audit_input
from regaudit.shared.errors import InputError
from regaudit.shared.primitives import tables
from regaudit.shared.primitives.tables import ColumnMapping

runner = CliRunner()
#: Nothing listens here: every test below must fail before connecting.
NOWHERE = "127.0.0.1:9"
HEADER = "label,pred,sex\n"
ROWS = "1,1,female\n0,1,male\n1,0,female\n0,0,male\n"


@pytest.fixture
def audit(
    regulator_card_file: Path, client_identity_dir: Path, tmp_path: Path
) -> Callable[..., Any]:
    """``regaudit-client audit fairness --input FILE ...extra`` (in-process CliRunner)."""

    def invoke(input_file: Path, *extra: str) -> Any:
        out = tmp_path / "out.bundle"
        args = [
            "audit", "fairness", "--input", str(input_file), "--evaluator", NOWHERE,
            "--regulator-card", str(regulator_card_file), "--identity", str(client_identity_dir),
            "--out", str(out), "--quiet", *extra,
        ]  # fmt: skip
        result = runner.invoke(app, args)
        assert not out.exists()
        return result

    return invoke


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- a wrong column ---------------------------------------------------------------------------


def test_wrong_column_names_the_option_and_lists_the_columns(
    tmp_path: Path, audit: Callable[..., Any]
) -> None:
    path = write(tmp_path, HEADER + ROWS)
    result = audit(path, "--y-true", "lable", "--y-pred", "pred", "--group", "sex")
    assert result.exit_code == EXIT_USAGE, result.stderr
    assert (
        f"column 'lable' (from --y-true) not in {path}; columns found: label, pred, sex"
        in result.stderr
    )
    assert "invalid_input" in result.stderr


def test_wrong_column_from_the_generic_column_option(
    tmp_path: Path, audit: Callable[..., Any]
) -> None:
    path = write(tmp_path, HEADER + ROWS)
    result = audit(path, "--column", "y_true=label", "--column", "y_pred=prediction",
                   "--group", "sex")  # fmt: skip
    assert result.exit_code == EXIT_USAGE, result.stderr
    assert f"column 'prediction' (from --column y_pred=prediction) not in {path}" in (result.stderr)
    assert "columns found: label, pred, sex" in result.stderr


def test_a_default_column_that_is_absent_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + ROWS)
    with pytest.raises(InputError) as info:
        load_audit_input("fairness", path, mapping=ColumnMapping(y_true="label", y_pred="pred"))
    assert info.value.field == "group"
    assert f"column 'group' (the default column of group) not in {path}" in info.value.message
    assert "columns found: label, pred, sex" in info.value.message


def test_whole_table_primitives_list_the_columns_too(tmp_path: Path) -> None:
    path = write(tmp_path, "p,qq\n1,2\n")
    table = tables.read_table(path)
    mapping = ColumnMapping(q="qq2").with_sources({"q": "--q"})
    with pytest.raises(InputError) as info:
        tables.column(path, table, mapping, "q")
    assert info.value.field == "q"
    assert f"column 'qq2' (from --q) not in {path}; columns found: p, qq" in info.value.message


# --- the delimiter ----------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_a_semicolon_csv_is_read_not_column_missing(tmp_path: Path, delimiter: str) -> None:
    text = (HEADER + ROWS).replace(",", delimiter)
    path = write(tmp_path, text)
    data = load_audit_input(
        "fairness", path, mapping=ColumnMapping(y_true="label", y_pred="pred", group="sex")
    )
    assert data.rows == 4
    assert data.public["groups"] == ["female", "male"]
    assert data.columns()["y_true"].tolist() == [1.0, 0.0, 1.0, 0.0]


def test_whole_table_reader_sniffs_the_delimiter(tmp_path: Path) -> None:
    path = write(tmp_path, "p;q\n0,5;1\n2;3\n")
    # a decimal comma inside a ;-separated file stays one cell
    assert tables.read_table(path) == {"p": ["0,5", "2"], "q": ["1", "3"]}


# --- true/false labels ------------------------------------------------------------------------


def test_true_false_labels_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "TRUE,true,female\nfalse,False,male\n True ,0,male\n")
    data = load_audit_input(
        "fairness", path, mapping=ColumnMapping(y_true="label", y_pred="pred", group="sex")
    )
    columns = data.columns()
    assert columns["y_true"].tolist() == [1.0, 0.0, 1.0]
    assert columns["y_pred"].tolist() == [1.0, 0.0, 0.0]


def test_boolean_parquet_columns_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    pq.write_table(
        pa.table({"y_true": [True, False], "y_pred": [False, True], "group": ["a", "b"]}), path
    )
    data = load_audit_input("fairness", path)
    assert data.columns()["y_pred"].tolist() == [0.0, 1.0]


def test_other_words_are_not_numbers(tmp_path: Path, audit: Callable[..., Any]) -> None:
    path = write(tmp_path, HEADER + "1,1,female\n0,yes,male\n")
    result = audit(path, "--y-true", "label", "--y-pred", "pred", "--group", "sex")
    assert result.exit_code == EXIT_USAGE, result.stderr
    assert "row 2, column 'pred': 'yes' is not a number (0/1 or true/false expected)" in (
        result.stderr
    )


# --- missing values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "shown"),
    [("", "an empty cell"), ("NA", "'NA'"), ("null", "'null'"), ("N/A", "'N/A'")],
)
def test_a_missing_value_is_called_one(
    tmp_path: Path, audit: Callable[..., Any], cell: str, shown: str
) -> None:
    path = write(tmp_path, HEADER + f"1,1,female\n0,0,male\n{cell},1,male\n")
    result = audit(path, "--y-true", "label", "--y-pred", "pred", "--group", "sex")
    assert result.exit_code == EXIT_USAGE, result.stderr
    assert f"{path}: row 3, column 'label': missing value ({shown})" in result.stderr
    assert "not a number" not in result.stderr


def test_a_missing_group_label_is_called_one(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "1,1,female\n0,0,\n")
    with pytest.raises(InputError) as info:
        load_audit_input(
            "fairness", path, mapping=ColumnMapping(y_true="label", y_pred="pred", group="sex")
        )
    assert info.value.field == "sex"
    assert "row 2, column 'sex': missing value (an empty cell)" in info.value.message


def test_a_parquet_null_is_a_missing_value(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    pq.write_table(
        pa.table({"y_true": [1, None, 0], "y_pred": [1, 0, 1], "group": ["a", "b", "a"]}), path
    )
    with pytest.raises(InputError) as info:
        load_audit_input("fairness", path)
    assert info.value.field == "y_true"
    assert "row 2, column 'y_true': missing value (an empty cell)" in info.value.message


def test_nan_is_not_finite_rather_than_missing(tmp_path: Path) -> None:
    path = write(tmp_path, "y_true,y_pred,group\n1,1,a\nnan,0,b\n")
    with pytest.raises(InputError) as info:
        load_audit_input("fairness", path)
    assert "row 2, column 'y_true': nan is not a finite number" in info.value.message


def test_whole_table_numbers_call_a_missing_value_one(tmp_path: Path) -> None:
    path = write(tmp_path, "p,q\n1,2\nNA,3\n")
    table = tables.read_table(path)
    with pytest.raises(InputError) as info:
        tables.numbers(path, table["p"], field_name="p")
    assert info.value.field == "p"
    assert "row 2: missing value ('NA')" in info.value.message
    assert tables.numbers(path, table["q"], field_name="q") == [2, 3]
    assert np.isfinite(tables.numbers(path, ["1.5"], field_name="q")).all()
