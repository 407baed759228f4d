"""``regaudit-client open``: open rows of an audit's input to the regulator (a dispute).

The client kept, privately, for every audit (``<identity dir>/audits/<audit id>/``): the
row-commitment seed, root and columns (``openings.json``) and the signed submission
(``submission.json``, :mod:`regaudit.client.evidence`). It did not keep the data: ``open``
reads the same input again (``--input`` and the column options the audit used), recomputes
the row Merkle tree and refuses (exit 2) unless its root is the one the submission signed.
It then writes, for each requested row, the values, the salt and the inclusion proof, in a
statement signed by the client identity and bound to the submission
(:mod:`regaudit.shared.evidence.openings`)::

    regaudit-client open AUDIT_ID --rows 3,17,40-45 --input data.csv [--column FIELD=COL ...]
                         --identity DIR --out opening.json [--force] [--json]

The regulator checks it with ``regaudit-regulator check-opening BUNDLE opening.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from regaudit.shared.algebra import FloatArray
from regaudit.shared.errors import InputError, RegauditError
from regaudit.shared.evidence.row_commitments import ROW_COMMITMENT_SCHEME, RowCommitment
from regaudit.shared.primitives import AuditData

#: Rows read per chunk while the tree is rebuilt when the audit recorded none (any size gives
#: the same tree; the audit's own chunk size is used when recorded).
DEFAULT_OPEN_CHUNK_ROWS = 65536
#: Longest ``--rows`` text.
MAX_ROW_SPEC_CHARS = 65536


@dataclass(frozen=True)
class AuditRecord:
    """What the client kept of one audit, for openings."""

    audit_id: str
    primitive: str
    columns: tuple[str, ...]
    row_commitment: RowCommitment
    seed: bytes
    submission: dict[str, Any]
    bundle: str
    #: the audit's public inputs (to read the table with the same encoding options)
    public: dict[str, Any]
    #: column -> (commitment, salt hex): the whole-column openings
    column_salts: dict[str, tuple[str, str]]
    #: rows per chunk the audit read its input in (some layouts accept only their own)
    chunk_rows: int = 0


def _read_json(path: Path, *, what: str) -> dict[str, Any]:
    from regaudit.shared.evidence.canonical import strict_json_loads

    if not path.is_file():
        raise InputError(f"{what} {path} does not exist", field="audit_id")
    try:
        document = strict_json_loads(path.read_bytes(), what=what)
    except (OSError, RegauditError) as exc:
        raise InputError(f"cannot read {what} {path}: {exc}", field="audit_id") from exc
    if not isinstance(document, dict):
        raise InputError(f"{path} must hold a JSON object", field="audit_id")
    return document


def load_audit_record(identity_dir: Path, audit_id: str) -> AuditRecord:
    """Read ``<identity_dir>/audits/<audit_id>/`` (InputError naming what is missing)."""
    from regaudit.client.evidence import AUDIT_RECORD_FILE, OPENINGS_FILE, OPENINGS_FORMATS
    from regaudit.shared.evidence.statements.checks import BUILD

    BUILD.name(audit_id, "audit_id")
    if "/" in audit_id or audit_id in {".", ".."}:
        raise InputError("is not an audit id", field="audit_id")
    audit_dir = identity_dir / "audits" / audit_id
    if not audit_dir.is_dir():
        raise InputError(
            f"no audit {audit_id} under {identity_dir / 'audits'} (the --identity the audit "
            "used keeps its openings)",
            field="audit_id",
        )
    openings = _read_json(audit_dir / OPENINGS_FILE, what="openings file")
    if openings.get("format") not in OPENINGS_FORMATS or openings.get("audit_id") != audit_id:
        raise InputError(
            f"{audit_dir / OPENINGS_FILE} is not this audit's openings file", field="audit_id"
        )
    rows = openings.get("rows")
    if not isinstance(rows, dict):
        raise InputError(
            f"audit {audit_id} has no row commitment (made before row openings existed): its "
            "rows cannot be opened",
            field="audit_id",
        )
    record = _read_json(audit_dir / AUDIT_RECORD_FILE, what="audit record")
    try:
        commitment = RowCommitment(root=BUILD.digest(rows["root"], "root"), rows=int(rows["rows"]))
        if rows["scheme"] != ROW_COMMITMENT_SCHEME:
            raise InputError(f"unknown row commitment scheme {rows['scheme']!r}", field="rows")
        return AuditRecord(
            audit_id=audit_id,
            primitive=str(openings["primitive"]),
            columns=tuple(str(name) for name in rows["columns"]),
            row_commitment=commitment,
            seed=bytes.fromhex(rows["seed"]),
            submission=dict(record["submission"]),
            bundle=str(record.get("bundle", "")),
            public=dict(openings.get("public") or {}),
            column_salts={
                str(name): (str(entry["commitment"]), str(entry["salt"]))
                for name, entry in openings["columns"].items()
            },
            chunk_rows=int(rows.get("chunk_rows", 0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"{audit_dir} holds a damaged openings file: {exc}", field="audit_id"
        ) from exc


def parse_row_spec(text: str, *, limit: int) -> list[int]:
    """``"3,17,40-45"`` -> ``[3, 17, 40, ..., 45]`` (0-based row numbers, ranges inclusive, at
    most ``limit`` rows, no duplicates). InputError (field ``rows``) otherwise."""
    if not text.strip() or len(text) > MAX_ROW_SPEC_CHARS:
        raise InputError("give row numbers like 3,17,40-45", field="rows")
    rows: list[int] = []
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        try:
            start = int(first)
            stop = int(last) if dash else start
        except ValueError:
            raise InputError(
                f"{part.strip()!r} is not a row number or range", field="rows"
            ) from None
        if start < 0 or stop < start:
            raise InputError(f"{part.strip()!r} is not a valid row range", field="rows")
        if len(rows) + stop - start + 1 > limit:
            raise InputError(f"at most {limit} rows can be opened at once", field="rows")
        rows.extend(range(start, stop + 1))
    if len(set(rows)) != len(rows):
        raise InputError("a row is named twice", field="rows")
    return rows


def audit_options(record: AuditRecord, primitive: Any) -> dict[str, Any]:
    """The ``threshold`` and ``overrides`` the audit read its input with (from its public
    inputs: options such as drift's ``w1_range`` change the encrypted encoding)."""
    key = primitive.threshold_key
    overrides = {
        name: record.public[name]
        for name in primitive.overrides
        if name in record.public and name != key
    }
    threshold = record.public.get(key) if key is not None else None
    return {"threshold": threshold, "overrides": overrides}


def _chunks(data: AuditData, chunk_rows: int) -> Iterator[dict[str, FloatArray]]:
    from regaudit.shared.planning import data_chunks

    return data_chunks(data, chunk_rows)


def build_opening(
    record: AuditRecord,
    data: AuditData,
    rows: Sequence[int],
    *,
    identity: Any,
    columns: Sequence[str] = (),
    now: datetime | None = None,
    chunk_rows: int | None = None,
) -> dict[str, Any]:
    """The signed opening (DSSE envelope) of ``rows`` (and whole ``columns``) of ``data``, the
    table ``record``'s audit committed to.

    Steps: 1. the rows and columns exist and the data has the committed columns; 2. rebuild the
    row tree from the data with the audit's seed, collecting the opened rows' and columns'
    values; 3. its root is the signed root (else the data is not the audited table:
    InputError), and each opened column opens its stored commitment; 4. the inclusion proofs;
    5. the statement, bound to the signed submission, signed by ``identity``.
    """
    from regaudit.shared.evidence.canonical import canonical_json, utc_now
    from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope
    from regaudit.shared.evidence.openings import OpenedRow, build_opening_statement
    from regaudit.shared.evidence.row_commitments import (
        commit_rows,
        inclusion_proofs,
        row_salt,
    )

    committed = record.row_commitment
    chunk_rows = chunk_rows or record.chunk_rows or DEFAULT_OPEN_CHUNK_ROWS
    # 1. rows and columns
    for index in rows:
        if not 0 <= index < committed.rows:
            raise InputError(
                f"row {index} does not exist: audit {record.audit_id} committed to "
                f"{committed.rows} rows (0..{committed.rows - 1})",
                field="rows",
            )
    for name in columns:
        if name not in record.column_salts:
            raise InputError(
                f"audit {record.audit_id} committed to no column {name!r} (columns: "
                f"{', '.join(record.columns)})",
                field="columns",
            )
    if len(set(columns)) != len(columns):
        raise InputError("a column is named twice", field="columns")
    if data.rows != committed.rows:
        raise InputError(
            f"the input has {data.rows} rows, audit {record.audit_id} committed to "
            f"{committed.rows}: give the audited file and column options",
            field="input",
        )
    wanted = set(rows)
    picked: dict[int, tuple[float, ...]] = {}
    whole: dict[str, list[FloatArray]] = {name: [] for name in columns}

    def chunks() -> Iterator[Mapping[str, FloatArray]]:
        start = 0
        for chunk in _chunks(data, chunk_rows):
            missing = [name for name in record.columns if name not in chunk]
            if missing:
                raise InputError(
                    f"the input has no committed column {missing[0]!r} (committed: "
                    f"{', '.join(record.columns)})",
                    field="input",
                )
            for index in wanted.intersection(range(start, start + chunk_rows)):
                picked[index] = tuple(float(chunk[name][index - start]) for name in record.columns)
            used = max(0, min(chunk_rows, committed.rows - start))
            for name, parts in whole.items():
                parts.append(chunk[name][:used])
            yield chunk
            start += chunk_rows

    # 2. the tree again, with the audit's seed
    committer = commit_rows(
        chunks(), record.columns, committed.rows, seed=record.seed, keep_leaves=True
    )
    # 3. the same table
    if committer.finalize().root != committed.root:
        raise InputError(
            f"the input is not the table audit {record.audit_id} committed to (its row root "
            "differs): give the audited file and the same column options",
            field="input",
        )
    opened_columns = [_open_column(record, name, whole[name]) for name in columns]
    # 4. proofs
    assert committer.leaves is not None
    proofs = inclusion_proofs(committer.leaves, rows)
    opened = [
        OpenedRow(
            index=index,
            values=picked[index],
            salt=row_salt(record.seed, index),
            proof=tuple(proofs[index]),
        )
        for index in rows
    ]
    # 5. sign
    statement = build_opening_statement(
        audit_id=record.audit_id,
        submission_envelope=record.submission,
        row_commitment=committed,
        columns=record.columns,
        rows=opened,
        created_at=now or utc_now(),
        opened_columns=opened_columns,
    )
    return sign_envelope(
        canonical_json(statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=identity
    )


def _open_column(record: AuditRecord, name: str, parts: Sequence[FloatArray]) -> Any:
    """The whole-column opening of ``name``, checked against the stored commitment."""
    import numpy as np

    from regaudit.shared.evidence.commitments import commit_column
    from regaudit.shared.evidence.openings import OpenedColumn

    commitment, salt_hex = record.column_salts[name]
    values = np.concatenate(parts) if parts else np.zeros(0)
    if commit_column(name, values, salt=bytes.fromhex(salt_hex))[0] != commitment:
        raise InputError(
            f"column {name!r} of the input does not open audit {record.audit_id}'s commitment",
            field="input",
        )
    return OpenedColumn(
        name=name, values=tuple(float(v) for v in values), salt=bytes.fromhex(salt_hex)
    )


def open_command(
    audit_id: Annotated[
        str, typer.Argument(help="The audit id (printed by audit; in the bundle).")
    ],
    rows: Annotated[
        str | None,
        typer.Option(
            "--rows",
            help="Rows to open, 0-based (row 0 is the first data row): 3,17,40-45.",
            show_default=False,
        ),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help="Whole committed columns to open, comma-separated (e.g. y_pred).",
            show_default=False,
        ),
    ] = None,
    input_file: Annotated[
        Path | None,
        typer.Option("--input", help="The audited input file (CSV, Parquet or JSON), again."),
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option("--column", help="FIELD=COLUMN, as the audit was given (repeatable)."),
    ] = None,
    identity: Annotated[
        Path | None,
        typer.Option("--identity", help="Client identity directory (the audit's openings)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Opening file to write (JSON, DSSE envelope).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout (errors too).")
    ] = False,
) -> None:
    """Open rows (or whole columns) of an audit's input to the regulator: each row's values,
    salt and Merkle proof, each column's values and salt, signed by the client identity (check
    with regaudit-regulator check-opening)."""
    from regaudit.client.audit_options import column_mapping
    from regaudit.client.inputs import load_audit_input
    from regaudit.shared.cli_config import check_output_path
    from regaudit.shared.cli_failure import fail, fail_usage, report_errors_as_json
    from regaudit.shared.evidence.identity import SigningIdentity, write_file_atomic
    from regaudit.shared.evidence.openings import MAX_OPENED_ROWS, submission_digest
    from regaudit.shared.primitives import get_primitive

    report_errors_as_json(as_json)
    for option, value in (("input", input_file), ("identity", identity), ("out", out)):
        if value is None:
            fail_usage(f"missing option --{option}")
    assert input_file is not None and identity is not None and out is not None
    if rows is None and columns is None:
        fail_usage("give --rows, --columns or both")
    names = [name.strip() for name in (columns or "").split(",") if name.strip()]
    try:
        check_output_path(out, option="out", force=force)
        wanted = parse_row_spec(rows, limit=MAX_OPENED_ROWS) if rows is not None else []
        record = load_audit_record(identity, audit_id)
        signer = SigningIdentity.load(identity, kind="client")
        primitive = get_primitive(record.primitive)
        data = load_audit_input(
            record.primitive,
            input_file,
            mapping=column_mapping(primitive, column, {}),
            **audit_options(record, primitive),
        )
        envelope = build_opening(record, data, wanted, identity=signer, columns=names)
        text = json.dumps(envelope, indent=2) + "\n"
        try:
            write_file_atomic(out, text.encode("utf-8"), mode=0o644, overwrite=True)
        except OSError as exc:
            raise InputError(f"cannot write {out}: {exc}", field="out") from exc
    except RegauditError as error:
        fail(error)
    if as_json:
        document = {
            "ok": True,
            "audit_id": audit_id,
            "rows": wanted,
            "columns": names,
            "out": str(out),
            "submission_digest": submission_digest(record.submission),
            "row_root": record.row_commitment.root,
            "client_key_id": signer.key_id,
        }
        typer.echo(json.dumps(document, indent=2))
        return
    what = f"{len(wanted)} row{'s' if len(wanted) != 1 else ''}"
    if names:
        what += f" and {len(names)} column{'s' if len(names) != 1 else ''}"
    typer.echo(
        f"opened {what} of audit {audit_id} "
        f"(row root {record.row_commitment.root[:23]}...), signed by client key "
        f"{signer.key_id[:16]}...: {out}"
    )


__all__ = [
    "DEFAULT_OPEN_CHUNK_ROWS",
    "MAX_ROW_SPEC_CHARS",
    "AuditRecord",
    "audit_options",
    "build_opening",
    "load_audit_record",
    "open_command",
    "parse_row_spec",
]
