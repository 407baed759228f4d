"""The fairness primitive: per-group confusion counts under encryption, metrics in the clear.

Every input column is encrypted: ``y_true``, ``y_pred`` and one 0/1 membership column per group.
The evaluator computes, for every group k, four slot-wise accumulators

* ``n_k   = g_k``                          (group size),
* ``pred_k = g_k * y_pred``                (predicted positives),
* ``pos_k  = g_k * y_true``                (actual positives),
* ``tp_k   = (g_k * y_true) * y_pred``     (true positives),

adds them over all chunks, completes each slot-sum under encryption and packs the 4K totals into
ONE output vector (slots ``s`` with ``s mod W == 4k + j``, times a public power-of-two output
scale; every other slot is zeroed by the mask multiplication; see :mod:`.layout` for why).
The regulator decrypts, rounds the counts to integers (they are exact counts: anything further
than 0.25 from an integer cannot be CKKS noise) and computes every rate from the exact integer
counts, so the metrics equal fairlearn's. A rate whose denominator is 0 is undefined (``None``),
never 0 (regaudit-fhe 0.1.0 reports 0).

Depth: ``tp`` needs two multiplications, the output mask one more: depth 3, so the planner picks
``ckks-n8192-d3-v1``. Outputs are counts x output scale <= 2^27, inside that profile's 2^28
headroom.

The role modules (see :mod:`regaudit.shared.primitives.descriptor`):

* :mod:`.layout`: public constants, public-input checks and the slot layout (every party),
* :mod:`.inputs`: input validation, CSV/Parquet reading and column encoding (client),
* :mod:`.circuit`: the circuit (evaluator),
* :mod:`.report`: decoding of the decrypted aggregates into the report (regulator),
* :mod:`.reference`: the exact plaintext oracle (tests, benchmarks, in-process API).

Specification: ``docs/specs/fairness.md``.
"""

from __future__ import annotations

from regaudit.shared.primitives.descriptor import Primitive, PrimitiveOption
from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
from regaudit.shared.primitives.fairness.layout import (
    PRIMITIVE_NAME,
    PRIMITIVE_OVERRIDES,
    PRIMITIVE_TABLE_FIELDS,
    PRIMITIVE_TABLE_REQUIRED,
    PRIMITIVE_THRESHOLD_KEY,
)

PRIMITIVE = Primitive(
    name=PRIMITIVE_NAME,
    summary="Group fairness of binary predictions: parity gaps, impact ratios, four-fifths rule.",
    package=__name__,
    circuits=(FairnessCircuit(),),
    table_fields=PRIMITIVE_TABLE_FIELDS,
    overrides=PRIMITIVE_OVERRIDES,
    table_required=PRIMITIVE_TABLE_REQUIRED,
    threshold_key=PRIMITIVE_THRESHOLD_KEY,
    options=(
        PrimitiveOption(
            flag="--y-true",
            key="y_true",
            target="column",
            parser="str",
            help="Table column of y_true.",
        ),
        PrimitiveOption(
            flag="--y-pred",
            key="y_pred",
            target="column",
            parser="str",
            help="Table column of y_pred.",
        ),
        PrimitiveOption(
            flag="--scores",
            key="scores",
            target="column",
            parser="str",
            help="Table column of model scores, instead of --y-pred: the selection is score > "
            "the sample median of all scores (NYC Local Law 144's scoring rate; the median "
            "becomes a public input).",
        ),
        PrimitiveOption(
            flag="--group",
            key="group",
            target="column",
            parser="str",
            help=(
                "Table column of the (categorical) group. Repeat it (--group sex --group race) "
                "or separate columns by commas (sex,race) for intersectional categories: one "
                "per combination, labels joined by ' & '."
            ),
            repeatable=True,
        ),
        PrimitiveOption(
            flag="--reference-group",
            key="reference_group",
            target="override",
            parser="str",
            help="Bias audit: the reference category of impact ratios (default: the highest "
            "selection rate).",
        ),
        PrimitiveOption(
            flag="--exclude-small",
            key="exclude_small",
            target="override",
            parser="json",
            metavar="true|false",
            help="Bias audit: exclude categories under 2 % of the rows from impact ratios.",
        ),
        PrimitiveOption(
            flag="--unknown-label",
            key="unknown_labels",
            target="override",
            parser="str",
            metavar="LABEL",
            help="A group label meaning 'category unknown' (repeatable): rows with it (in any "
            "--group column) are in no category and counted as unknown rows.",
            repeatable=True,
        ),
    ),
    spec="docs/specs/fairness.md",
)

__all__ = ["PRIMITIVE"]
