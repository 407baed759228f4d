"""Fixtures for the end-to-end tests (the parties and the daemon come from tests/support)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.parties import Parties


@pytest.fixture(scope="session")
def parties(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parties]:
    parties = Parties.start(tmp_path_factory.mktemp("parties"))
    try:
        yield parties
    finally:
        parties.stop()
