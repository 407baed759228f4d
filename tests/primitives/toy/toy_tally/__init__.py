"""``tally``: a toy primitive registered from the tests only (CONTRIBUTING.md, "Adding a
primitive", followed once). It counts the ones in an encrypted 0/1 column and reports the rate
against a public threshold. Depth 2 (the square of the flag, the output mask); the count is
exact after rounding.

It lives outside every regaudit distribution and reaches regaudit only through the
``regaudit.primitives`` entry point its test installs, exactly as a third party's would.
"""

from __future__ import annotations

from regaudit.shared.primitives import Primitive, PrimitiveOption
from toy_tally.circuit import TallyCircuit

PRIMITIVE = Primitive(
    name="tally",
    summary="Count the ones of an encrypted 0/1 column (a toy primitive of the tests).",
    package=__name__,
    circuits=(TallyCircuit(),),
    table_fields=("flag",),
    overrides=("threshold",),
    threshold_key="threshold",
    options=(
        PrimitiveOption(
            flag="--flag-column",
            key="flag",
            target="column",
            parser="str",
            help="Table column of the 0/1 flags.",
        ),
    ),
    spec="tests/primitives/toy/README.md",
)

__all__ = ["PRIMITIVE"]
