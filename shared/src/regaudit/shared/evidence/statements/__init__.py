"""in-toto Statement v1 payloads for regaudit's two signed statements, one module per kind:

* :mod:`~regaudit.shared.evidence.statements.receipt` -- the evaluation receipt (signed by the
  evaluator, predicate :data:`RECEIPT_PREDICATE`);
* :mod:`~regaudit.shared.evidence.statements.submission` -- the audit submission (signed by the
  client, predicate :data:`SUBMISSION_PREDICATE`);
* :mod:`~regaudit.shared.evidence.statements.witnesses` -- the witnesses a submission binds;
* :mod:`~regaudit.shared.evidence.statements.intoto` -- the statement envelope both share
  (:func:`parse_statement`);
* :mod:`~regaudit.shared.evidence.statements.checks` -- the field checks of builders and
  parsers.

Statements are serialized with RFC 8785 canonical JSON before signing, and the parsers accept
only canonical payloads, so a signed payload has exactly one meaning. Everything is re-exported
here.
"""

from regaudit.shared.evidence.statements.checks import MAX_NAME_CHARS
from regaudit.shared.evidence.statements.intoto import (
    MAX_STATEMENT_BYTES,
    STATEMENT_FIELDS,
    STATEMENT_TYPE,
    parse_statement,
)
from regaudit.shared.evidence.statements.receipt import (
    MAX_CANARY_SEED_BYTES,
    MAX_OUTPUTS,
    RECEIPT_FIELDS,
    RECEIPT_PREDICATE,
    RETENTION_ITEMS,
    RETENTION_VALUES,
    ReceiptStatement,
    build_receipt_statement,
    input_manifest_digest,
    parse_receipt,
    receipt_digest,
)
from regaudit.shared.evidence.statements.submission import (
    MAX_COLUMNS,
    RECEIPT_SUBJECT_NAME,
    SUBMISSION_FIELDS,
    SUBMISSION_PREDICATE,
    SubmissionStatement,
    build_submission_statement,
    parse_submission,
)
from regaudit.shared.evidence.statements.witnesses import (
    MAX_WITNESSES,
    WITNESS_MODE_FULL,
    WITNESS_MODE_SAMPLED,
    WITNESS_MODES,
    MissingWitness,
    WitnessBinding,
    witness_subject_name,
)

__all__ = [
    "MAX_CANARY_SEED_BYTES",
    "MAX_COLUMNS",
    "MAX_NAME_CHARS",
    "MAX_OUTPUTS",
    "MAX_STATEMENT_BYTES",
    "MAX_WITNESSES",
    "RECEIPT_FIELDS",
    "RECEIPT_PREDICATE",
    "RECEIPT_SUBJECT_NAME",
    "RETENTION_ITEMS",
    "RETENTION_VALUES",
    "STATEMENT_FIELDS",
    "STATEMENT_TYPE",
    "SUBMISSION_FIELDS",
    "SUBMISSION_PREDICATE",
    "WITNESS_MODES",
    "WITNESS_MODE_FULL",
    "WITNESS_MODE_SAMPLED",
    "MissingWitness",
    "ReceiptStatement",
    "SubmissionStatement",
    "WitnessBinding",
    "build_receipt_statement",
    "build_submission_statement",
    "input_manifest_digest",
    "parse_receipt",
    "parse_statement",
    "parse_submission",
    "receipt_digest",
    "witness_subject_name",
]
