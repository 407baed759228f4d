"""What the tests share: the command-line runner (:mod:`support.cli`), evaluator daemons as real
processes (:mod:`support.daemon`) and the parties' identities and trust (:mod:`support.parties`).

``tests`` is on pytest's ``pythonpath``, so any test module or conftest can ``import support``.
"""

from support.cli import ROOT, cli
from support.daemon import START_TIMEOUT_S, start_evaluator, stop_evaluator
from support.parties import Identities, Parties, key_id, make_identities, pin_options

__all__ = [
    "ROOT",
    "START_TIMEOUT_S",
    "Identities",
    "Parties",
    "cli",
    "key_id",
    "make_identities",
    "pin_options",
    "start_evaluator",
    "stop_evaluator",
]
