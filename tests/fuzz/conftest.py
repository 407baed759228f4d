"""Hypothesis profiles of the fuzz tests (tests/fuzz/): bounded for CI.

``regaudit-fuzz`` (the default) runs about 100 examples per test (fewer for the SEAL ones, see
``contract.scaled``), derandomized (the same examples on every run, so CI is reproducible) and
without an example database; every example must finish within the deadline (a parser that hangs
fails). ``REGAUDIT_FUZZ_PROFILE=regaudit-fuzz-deep`` runs 20 times more random examples for a
manual hunt (``pytest tests/fuzz``).
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

settings.register_profile(
    "regaudit-fuzz",
    max_examples=100,
    deadline=timedelta(seconds=2),
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "regaudit-fuzz-deep",
    parent=settings.get_profile("regaudit-fuzz"),
    max_examples=2000,
    derandomize=False,
    deadline=timedelta(seconds=10),
)
settings.load_profile(os.environ.get("REGAUDIT_FUZZ_PROFILE", "regaudit-fuzz"))
