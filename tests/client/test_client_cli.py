"""The client command line: bad input exits 2 naming the field, before any evaluator is needed;
init, schema and --schema."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from regaudit.client.cli import EXIT_USAGE, app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
#: An address nothing listens on: bad-input tests must fail before connecting anywhere.
NOWHERE = "127.0.0.1:9"


def run(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def audit_args(
    input_file: Path, card: Path, identity: Path, out: Path, *extra: str
) -> list[str | Path]:
    return [
        "audit",
        "fairness",
        "--input",
        input_file,
        "--evaluator",
        NOWHERE,
        "--regulator-card",
        card,
        "--identity",
        identity,
        "--out",
        out,
        "--quiet",
        *extra,
    ]


def assert_usage_error(result: Any, *fields: str) -> None:
    assert result.exit_code == EXIT_USAGE, (result.exit_code, result.output, result.stderr)
    for name in fields:
        assert name in result.stderr, (name, result.stderr)
    assert "invalid_input" in result.stderr


@pytest.fixture
def audit_with(
    regulator_card_file: Path, client_identity_dir: Path, tmp_path: Path
) -> Callable[..., Any]:
    def invoke(input_file: Path, *extra: str) -> Any:
        out = tmp_path / "out.bundle"
        result = run(*audit_args(input_file, regulator_card_file, client_identity_dir, out, *extra))
        assert not out.exists()
        return result

    return invoke


def test_nan_in_y_pred(
    make_payload: Callable[..., dict[str, Any]],
    write_json: Callable[..., Path],
    audit_with: Callable[..., Any],
) -> None:
    payload = make_payload()
    payload["y_pred"][5] = float("nan")
    result = audit_with(write_json(payload))
    assert_usage_error(result, "y_pred")
    assert "element 5" in result.stderr


def test_nan_in_csv_column_names_the_mapped_column(
    tmp_path: Path, audit_with: Callable[..., Any]
) -> None:
    path = tmp_path / "input.csv"
    path.write_text("truth,prediction,segment\n1,1,a\n0,nan,b\n1,0,a\n0,1,b\n")
    result = audit_with(path, "--y-true", "truth", "--y-pred", "prediction", "--group", "segment")
    assert_usage_error(result, "prediction", str(path))


def test_non_binary_y_true(
    make_payload: Callable[..., dict[str, Any]],
    write_json: Callable[..., Path],
    audit_with: Callable[..., Any],
) -> None:
    payload = make_payload()
    payload["y_true"][3] = 2
    assert_usage_error(audit_with(write_json(payload)), "y_true")


def test_length_mismatch(
    make_payload: Callable[..., dict[str, Any]],
    write_json: Callable[..., Path],
    audit_with: Callable[..., Any],
) -> None:
    payload = make_payload()
    payload["y_pred"] = payload["y_pred"][:-1]
    assert_usage_error(audit_with(write_json(payload)), "y_pred")


def test_empty_group_b(
    make_payload: Callable[..., dict[str, Any]],
    write_json: Callable[..., Path],
    audit_with: Callable[..., Any],
) -> None:
    payload = make_payload()
    payload["group_b"] = [0] * len(payload["group_b"])
    result = audit_with(write_json(payload))
    assert_usage_error(result, "group_b")
    assert "no members" in result.stderr


def test_missing_input_file(tmp_path: Path, audit_with: Callable[..., Any]) -> None:
    missing = tmp_path / "does-not-exist.json"
    assert_usage_error(audit_with(missing), "input", str(missing))


def test_unknown_input_format(tmp_path: Path, audit_with: Callable[..., Any]) -> None:
    path = tmp_path / "input.xlsx"
    path.write_bytes(b"PK")
    assert_usage_error(audit_with(path), "input", ".xlsx")


def test_malformed_json_names_the_file(tmp_path: Path, audit_with: Callable[..., Any]) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"y_true": [1, 0,')
    assert_usage_error(audit_with(path), "input", str(path))


@pytest.mark.parametrize("threshold", ["1.5", "-0.1"])
def test_threshold_option_out_of_range(
    make_payload: Callable[..., dict[str, Any]],
    threshold: str,
    write_json: Callable[..., Path],
    audit_with: Callable[..., Any],
) -> None:
    result = audit_with(write_json(make_payload()), "--threshold", threshold)
    assert_usage_error(result, "threshold")


def test_threshold_in_file_out_of_range(
    make_payload: Callable[..., dict[str, Any]],
    write_json: Callable[..., Path],
    audit_with: Callable[..., Any],
) -> None:
    payload = make_payload()
    payload["threshold"] = 3
    assert_usage_error(audit_with(write_json(payload)), "threshold")


def test_unknown_primitive(tmp_path: Path) -> None:
    result = run("audit", "astrology", "--schema")
    assert_usage_error(result, "primitive", "astrology")
    result = run("audit", "astrology", "--input", tmp_path / "x.json")
    assert_usage_error(result, "primitive")


def test_unknown_primitive_is_a_usage_error() -> None:
    assert_usage_error(run("audit", "sentiment", "--schema"), "primitive", "sentiment")


def test_unknown_profile(
    make_payload: Callable[..., dict[str, Any]],
    write_json: Callable[..., Path],
    audit_with: Callable[..., Any],
) -> None:
    result = audit_with(write_json(make_payload()), "--profile", "ckks-n2-d99")
    assert result.exit_code == EXIT_USAGE
    assert "profile" in result.stderr


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda card: card.update(regulator_key_id="0" * 64), "regulator_key_id"),
        (lambda card: card.pop("hpke"), "hpke"),
        (lambda card: card["hpke"].update(public_key="AAAA"), "hpke.public_key"),
        (lambda card: card.update(kind="client"), "kind"),
        # the signed card (attack 7): unsigned, altered or padded cards are bad input
        (lambda card: [card.pop("signer"), card.pop("signature")], "signature"),
        (lambda card: card.update(extra="x"), "extra"),
        (lambda card: card["signer"].update(kind="client"), "signer.kind"),
    ],
)
def test_malformed_regulator_card(
    make_payload: Callable[..., dict[str, Any]],
    mutate: Callable[[dict[str, Any]], Any],
    field: str,
    regulator_card_file: Path,
    client_identity_dir: Path,
    write_json: Callable[..., Path],
    tmp_path: Path,
) -> None:
    from regaudit.shared.evidence.identity import SigningIdentity
    from regaudit.shared.evidence.sealing import sign_card

    card = json.loads(regulator_card_file.read_text())
    mutate(card)
    if "signature" in card and field not in ("extra", "signer.kind"):
        # re-signed by the genuine regulator: the deeper field checks still apply
        signer = SigningIdentity.load(regulator_card_file.parent, kind="regulator")
        card = sign_card({k: v for k, v in card.items() if k != "signature"}, signer=signer)
    bad_card = tmp_path / "card.json"
    bad_card.write_text(json.dumps(card))
    out = tmp_path / "out.bundle"
    input_file = write_json(make_payload())
    result = run(*audit_args(input_file, bad_card, client_identity_dir, out))
    assert_usage_error(result, "regulator-card", field)
    assert not out.exists()


@pytest.mark.parametrize("index", [0, 40, 63])
def test_regulator_card_with_a_flipped_signature_byte(
    index: int,
    make_payload: Callable[..., dict[str, Any]],
    regulator_card_file: Path,
    client_identity_dir: Path,
    write_json: Callable[..., Path],
    tmp_path: Path,
) -> None:
    import base64

    card = json.loads(regulator_card_file.read_text())
    signature = bytearray(base64.b64decode(card["signature"]))
    signature[index] ^= 0x80
    card["signature"] = base64.b64encode(bytes(signature)).decode()
    bad_card = tmp_path / "card.json"
    bad_card.write_text(json.dumps(card))
    out = tmp_path / "out.bundle"
    result = run(*audit_args(write_json(make_payload()), bad_card, client_identity_dir, out))
    assert_usage_error(result, "regulator-card", "signature", "does not verify")
    assert not out.exists()


def test_regulator_card_with_a_duplicate_key_is_refused(
    make_payload: Callable[..., dict[str, Any]],
    regulator_card_file: Path,
    client_identity_dir: Path,
    write_json: Callable[..., Path],
    tmp_path: Path,
) -> None:
    text = regulator_card_file.read_text().strip()
    bad_card = tmp_path / "card.json"
    bad_card.write_text(text[:-1] + ',"kind":"regulator"}')
    out = tmp_path / "out.bundle"
    result = run(*audit_args(write_json(make_payload()), bad_card, client_identity_dir, out))
    assert_usage_error(result, "regulator-card", "duplicate")


def test_regulator_card_not_json(
    make_payload: Callable[..., dict[str, Any]],
    client_identity_dir: Path,
    write_json: Callable[..., Path],
    tmp_path: Path,
) -> None:
    bad_card = tmp_path / "card.json"
    bad_card.write_text("not json at all")
    out = tmp_path / "out.bundle"
    result = run(*audit_args(write_json(make_payload()), bad_card, client_identity_dir, out))
    assert_usage_error(result, "regulator-card", str(bad_card))


def test_missing_required_option(
    make_payload: Callable[..., dict[str, Any]], write_json: Callable[..., Path]
) -> None:
    result = run("audit", "fairness", "--input", write_json(make_payload()))
    assert_usage_error(result, "evaluator")


def test_column_mapping_with_json_input_is_rejected(
    make_payload: Callable[..., dict[str, Any]],
    write_json: Callable[..., Path],
    audit_with: Callable[..., Any],
) -> None:
    result = audit_with(write_json(make_payload()), "--y-true", "label")
    assert_usage_error(result, "y-true")


def test_missing_identity(
    make_payload: Callable[..., dict[str, Any]],
    regulator_card_file: Path,
    write_json: Callable[..., Path],
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.bundle"
    result = run(*audit_args(write_json(make_payload()), regulator_card_file, tmp_path / "no", out))
    assert result.exit_code == EXIT_USAGE
    assert "client.key" in result.stderr


# --- init ---------------------------------------------------------------------------------------


def test_init_writes_private_key_0600_and_refuses_overwrite(tmp_path: Path) -> None:
    from regaudit.shared.evidence.identity import SigningIdentity, load_public_key_file

    directory = tmp_path / "client"
    first = run("init", directory)
    assert first.exit_code == 0, first.output
    key = directory / "client.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    record = load_public_key_file(directory / "client.pub.json")
    assert record.kind == "client"
    assert record.key_id in first.stdout
    loaded = SigningIdentity.load(directory, kind="client")
    assert loaded.key_id == record.key_id

    again = run("init", directory)
    assert again.exit_code == EXIT_USAGE
    assert "--force" in again.stderr
    assert load_public_key_file(directory / "client.pub.json").key_id == record.key_id

    forced = run("init", directory, "--force")
    assert forced.exit_code == 0, forced.output
    assert load_public_key_file(directory / "client.pub.json").key_id != record.key_id


# --- schemas ------------------------------------------------------------------------------------


def test_audit_schema_is_a_valid_json_schema_that_accepts_the_seed_shape(
    make_payload: Callable[..., dict[str, Any]],
) -> None:
    result = run("audit", "fairness", "--schema")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(make_payload())
    sample = ROOT / "examples" / "data" / "fairness-sample.json"
    if sample.exists():
        validator.validate(json.loads(sample.read_text()))
    bad = make_payload()
    bad["y_true"][0] = 7
    assert not validator.is_valid(bad)


def test_schema_list_and_name() -> None:
    listed = run("schema", "--list")
    assert listed.exit_code == 0
    names = listed.stdout.split()
    assert "fairness.input" in names
    one = run("schema", "fairness.input")
    assert one.exit_code == 0
    jsonschema.Draft202012Validator.check_schema(json.loads(one.stdout))
    unknown = run("schema", "nope.input")
    assert unknown.exit_code == EXIT_USAGE
    assert "nope.input" in unknown.stderr


def test_module_entry_point_exit_code_and_stderr(tmp_path: Path) -> None:
    """``python -m regaudit.client`` as a real process: exit 2, message on stderr only."""
    missing = tmp_path / "absent.csv"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "regaudit.client",
            "audit",
            "fairness",
            "--input",
            str(missing),
            "--evaluator",
            NOWHERE,
            "--regulator-card",
            str(missing),
            "--identity",
            str(tmp_path),
            "--out",
            str(tmp_path / "b"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == EXIT_USAGE
    assert "input" in result.stderr and str(missing) in result.stderr
    assert result.stdout == ""
