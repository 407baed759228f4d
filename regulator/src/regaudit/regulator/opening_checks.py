"""The regulator's check of a row opening (``regaudit-regulator check-opening``): the opened rows
are rows of the table the client committed to before the evaluator ran, and what they imply.

An opening proves, for each opened row, that its values (in the committed column order) are
the values at that row index of the table whose Merkle root the client signed in the
submission, and nothing about the rows that were not opened (their salts hide them); for each
opened column, that its values are the whole column the submission's column commitment binds. The
bundle is checked as far as the opening needs (the first three steps of
:func:`regaudit.regulator.verify.verify_bundle`: structure, trusted client key, submission
signature); nothing is decrypted, no regulator key is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from regaudit.regulator.binding_checks import mismatch
from regaudit.regulator.trust_checks import peek_time, require_same_key
from regaudit.shared.bundle import BUNDLE_FORMAT, AuditBundle
from regaudit.shared.errors import (
    BundleFormatError,
    DigestMismatchError,
    OpeningAuditMismatchError,
    OpeningDuplicateRowError,
    OpeningFormatError,
    OpeningProofError,
    OpeningRowOutOfRangeError,
    OpeningSignerMismatchError,
    RowCommitmentMissingError,
)
from regaudit.shared.evidence import statements
from regaudit.shared.evidence.commitments import verify_opening
from regaudit.shared.evidence.dsse import (
    PAYLOAD_TYPE_INTOTO,
    envelope_payload_unverified,
    verify_envelope,
)
from regaudit.shared.evidence.openings import (
    OpenedColumn,
    OpenedRow,
    parse_opening,
    submission_digest,
)
from regaudit.shared.evidence.row_commitments import (
    canonical_row_bytes,
    column_header,
    row_leaf,
    verify_inclusion,
)
from regaudit.shared.evidence.truststore import TrustStore
from regaudit.shared.primitives.fairness.layout import group_column

#: Names of the checks, in the order :func:`check_opening` runs them.
OPENING_CHECK_NAMES: tuple[str, ...] = (
    "bundle_structure",
    "client_key_trusted",
    "submission_signature",
    "opening_signature",
    "opening_bound_to_submission",
    "rows_in_range",
    "proofs_lead_to_root",
    "columns_open_commitments",
)
#: Prefix of fairness's group membership columns.
FAIRNESS_GROUP_PREFIX = group_column("")


@dataclass(frozen=True)
class CheckedOpening:
    """A row opening that passed every check, and what its rows imply."""

    audit_id: str
    primitive: str
    client_key_id: str
    row_root: str
    rows_committed: int
    columns: tuple[str, ...]
    rows: tuple[OpenedRow, ...]
    opened_at: datetime
    checks: tuple[str, ...]
    #: primitive-specific facts recomputed from the opened rows and columns alone
    implications: dict[str, Any] = field(default_factory=dict)
    opened_columns: tuple[OpenedColumn, ...] = ()


def check_opening(
    bundle: AuditBundle, opening: Mapping[str, Any], *, trust: TrustStore
) -> CheckedOpening:
    """Check ``opening`` (a DSSE envelope) against ``bundle``; raise on the first failure.

    Steps (each raises the named VerificationError subclass):

    1. bundle structure and format version (BundleFormatError);
    2. the client key that signed the submission is trusted, of kind client, not revoked at
       the submission's time, and is the bundle's embedded client key (UntrustedIssuerError /
       RevokedKeyError);
    3. the submission's signature verifies, it names this bundle's audit, and it binds a row
       commitment (BadSignatureError / DigestMismatchError / RowCommitmentMissingError);
    4. the opening is signed by that same client key (OpeningSignerMismatchError, then
       BadSignatureError), not revoked when the opening was made, and parses strictly
       (OpeningFormatError);
    5. the opening names this audit, this submission (its digest), the submission's row root,
       row count and columns (OpeningAuditMismatchError);
    6. every opened row index is inside the table (OpeningRowOutOfRangeError), none twice
       (OpeningDuplicateRowError);
    7. every row's values and salt, hashed as a leaf at its index, lead to the signed root with
       its inclusion proof (OpeningProofError);
    8. every opened column is a committed column (OpeningAuditMismatchError), opened once
       (OpeningFormatError), and its values and salt open the submission's commitment to it
       (OpeningProofError).

    Then the implications are recomputed from the opened data (:func:`implications`).
    """
    checks: list[str] = []
    # 1. structure
    if bundle.format != BUNDLE_FORMAT:
        raise BundleFormatError(
            f"unsupported bundle format {bundle.format!r:.60}, expected {BUNDLE_FORMAT!r}",
            field="format",
        )
    AuditBundle.from_json(bundle.to_json())
    checks.append("bundle_structure")

    # 2. the client key
    client_key_id, created_at = peek_time(bundle.submission, "created_at", what="submission")
    client_key = trust.require_key(client_key_id, kind="client", at=created_at)
    require_same_key(bundle.client_record(), client_key, what="client")
    checks.append("client_key_trusted")

    # 3. the submission and its row commitment
    submission = statements.parse_submission(
        verify_envelope(
            bundle.submission,
            public_key=client_key.public_key,
            key_id=client_key.key_id,
            payload_type=PAYLOAD_TYPE_INTOTO,
        )
    )
    if submission.audit_id != bundle.audit_id:
        raise mismatch("audit_id", submission.audit_id, bundle.audit_id)
    committed = submission.row_commitment
    if committed is None:
        raise RowCommitmentMissingError(
            "the submission commits to no rows (a v2 submission): its rows cannot be opened",
            field="row_commitment",
        )
    checks.append("submission_signature")

    # 4. the opening's signer is the submission's
    try:
        _, _, opening_signer = envelope_payload_unverified(opening)
    except BundleFormatError as exc:
        raise OpeningFormatError(exc.message, field=exc.field) from exc
    if opening_signer != client_key.key_id:
        raise OpeningSignerMismatchError(
            f"the opening is signed by key {opening_signer[:16]}..., the submission by the "
            f"client key {client_key.key_id[:16]}...",
            field="signatures",
        )
    try:
        payload = verify_envelope(
            opening,
            public_key=client_key.public_key,
            key_id=client_key.key_id,
            payload_type=PAYLOAD_TYPE_INTOTO,
        )
    except BundleFormatError as exc:
        raise OpeningFormatError(exc.message, field=exc.field) from exc
    parsed = parse_opening(payload)
    trust.require_key(client_key.key_id, kind="client", at=parsed.created_at)
    checks.append("opening_signature")

    # 5. bound to this audit, this submission, this row commitment
    expected = {
        "audit_id": (parsed.audit_id, bundle.audit_id),
        "submission_digest": (parsed.submission_digest, submission_digest(bundle.submission)),
        "row_commitment.root": (parsed.row_commitment.root, committed.root),
        "row_commitment.rows": (parsed.row_commitment.rows, committed.rows),
        "columns": (list(parsed.columns), list(submission.columns)),
    }
    for name, (found, wanted) in expected.items():
        if found != wanted:
            raise OpeningAuditMismatchError(
                f"the opening names {found!s:.80}, the bundle has {wanted!s:.80}", field=name
            )
    checks.append("opening_bound_to_submission")

    # 6. indices
    seen: set[int] = set()
    for position, row in enumerate(parsed.rows):
        if not 0 <= row.index < committed.rows:
            raise OpeningRowOutOfRangeError(
                f"row {row.index} is outside the committed table (0..{committed.rows - 1})",
                field=f"opened_rows[{position}].index",
            )
        if row.index in seen:
            raise OpeningDuplicateRowError(
                f"row {row.index} is opened twice", field=f"opened_rows[{position}].index"
            )
        seen.add(row.index)
    checks.append("rows_in_range")

    # 7. every proof leads to the signed root
    header = column_header(parsed.columns)
    root = bytes.fromhex(committed.root.split(":", 1)[1])
    for row in parsed.rows:
        leaf = row_leaf(row.salt, header, canonical_row_bytes(row.values))
        verify_inclusion(
            leaf, index=row.index, tree_size=committed.rows, proof=row.proof, root=root
        )
    checks.append("proofs_lead_to_root")

    # 8. whole columns against their column commitments
    opened_names: set[str] = set()
    for position, column in enumerate(parsed.opened_columns):
        where = f"opened_columns[{position}]"
        if column.name not in submission.input_commitments:
            raise OpeningAuditMismatchError(
                f"column {column.name!r:.80} is not a committed column", field=f"{where}.name"
            )
        if column.name in opened_names:
            raise OpeningFormatError(f"column {column.name!r} is opened twice", field=where)
        opened_names.add(column.name)
        try:
            verify_opening(
                submission.input_commitments[column.name],
                name=column.name,
                values=column.values,
                salt_hex=column.salt.hex(),
            )
        except DigestMismatchError as exc:
            raise OpeningProofError(
                f"column {column.name!r} does not open its commitment", field=where
            ) from exc
    checks.append("columns_open_commitments")

    return CheckedOpening(
        audit_id=bundle.audit_id,
        primitive=submission.primitive,
        client_key_id=client_key.key_id,
        row_root=committed.root,
        rows_committed=committed.rows,
        columns=parsed.columns,
        rows=parsed.rows,
        opened_at=parsed.created_at,
        checks=tuple(checks),
        implications=implications(
            submission.primitive, parsed.columns, parsed.rows, parsed.opened_columns
        ),
        opened_columns=parsed.opened_columns,
    )


def implications(
    primitive: str,
    columns: Sequence[str],
    rows: Sequence[OpenedRow],
    opened_columns: Sequence[OpenedColumn] = (),
) -> dict[str, Any]:
    """What the opened data alone implies, per primitive (empty if nothing specific).

    Fairness: each opened row's contribution to the per-group counts the circuit sums (rows,
    predicted positives, positives, true positives): the regulator can compare them with the
    released counts (an opened row must be counted in its group) and recompute the rows'
    predictions itself. With every group column and a label column opened whole, the
    per-group totals themselves (``column_totals``), which must equal the released counts.
    """
    if primitive != "fairness":
        return {}
    index = {name: position for position, name in enumerate(columns)}
    if "y_true" not in index or "y_pred" not in index:
        return {}
    groups = [name for name in columns if name.startswith(FAIRNESS_GROUP_PREFIX)]
    result: dict[str, Any] = {"kind": "fairness_group_contributions"}
    if rows:
        result.update(_row_contributions(index, groups, rows))
    totals = _column_totals(groups, {column.name: column.values for column in opened_columns})
    if totals:
        result["column_totals"] = totals
    return result


def _column_totals(
    groups: Sequence[str], opened: Mapping[str, Sequence[float]]
) -> dict[str, dict[str, int]]:
    """Per-group totals over whole opened columns (every group column and at least one of
    ``y_true``/``y_pred`` needed)."""
    labels = [name for name in ("y_pred", "y_true") if name in opened]
    if not labels or not groups or any(group not in opened for group in groups):
        return {}
    totals: dict[str, dict[str, int]] = {}
    for group in groups:
        member = [value == 1.0 for value in opened[group]]
        counts = {"rows": sum(member)}
        if "y_pred" in opened:
            counts["predicted_positive"] = sum(
                m and p == 1.0 for m, p in zip(member, opened["y_pred"], strict=True)
            )
        if "y_true" in opened:
            counts["positive"] = sum(
                m and t == 1.0 for m, t in zip(member, opened["y_true"], strict=True)
            )
        if len(labels) == 2:
            counts["true_positive"] = sum(
                m and t == 1.0 and p == 1.0
                for m, t, p in zip(member, opened["y_true"], opened["y_pred"], strict=True)
            )
        totals[group[len(FAIRNESS_GROUP_PREFIX) :]] = counts
    return dict(sorted(totals.items()))


def _row_contributions(
    index: Mapping[str, int], groups: Sequence[str], rows: Sequence[OpenedRow]
) -> dict[str, Any]:
    per_group: dict[str, dict[str, int]] = {}
    unassigned = 0
    for row in rows:
        y_true = row.values[index["y_true"]]
        y_pred = row.values[index["y_pred"]]
        member = [g for g in groups if row.values[index[g]] == 1.0]
        if not member:
            unassigned += 1
        for group in member:
            counts = per_group.setdefault(
                group[len(FAIRNESS_GROUP_PREFIX) :],
                {"rows": 0, "predicted_positive": 0, "positive": 0, "true_positive": 0},
            )
            counts["rows"] += 1
            counts["predicted_positive"] += int(y_pred == 1.0)
            counts["positive"] += int(y_true == 1.0)
            counts["true_positive"] += int(y_true == 1.0 and y_pred == 1.0)
    return {"per_group": dict(sorted(per_group.items())), "unassigned_rows": unassigned}


def opening_json(checked: CheckedOpening) -> dict[str, Any]:
    """The ``check-opening --json`` object of a passed check."""
    from regaudit.shared.evidence.canonical import format_rfc3339

    return {
        "ok": True,
        "audit_id": checked.audit_id,
        "primitive": checked.primitive,
        "client_key_id": checked.client_key_id,
        "row_root": checked.row_root,
        "rows_committed": checked.rows_committed,
        "columns": list(checked.columns),
        "opened_at": format_rfc3339(checked.opened_at),
        "opened_rows": [
            {"index": row.index, "values": dict(zip(checked.columns, row.values, strict=True))}
            for row in checked.rows
        ],
        "opened_columns": [
            {"name": column.name, "rows": len(column.values)} for column in checked.opened_columns
        ],
        "implications": checked.implications,
        "checks": list(checked.checks),
    }


__all__ = [
    "FAIRNESS_GROUP_PREFIX",
    "OPENING_CHECK_NAMES",
    "CheckedOpening",
    "check_opening",
    "implications",
    "opening_json",
]
