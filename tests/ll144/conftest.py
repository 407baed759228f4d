"""Fixtures of the LL144 tests: the three parties with a running evaluator daemon."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.parties import Parties


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parties]:
    parties = Parties.start(tmp_path_factory.mktemp("ll144-parties"))
    try:
        yield parties
    finally:
        parties.stop()
