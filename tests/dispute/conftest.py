"""Fixtures for the dispute tests: the three parties (a real evaluator daemon) and two real
fairness audits of the same small CSV table, made by the client command line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dispute.harness import Audit, make_audits
from support.parties import Parties


@pytest.fixture(scope="session")
def parties(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parties]:
    parties = Parties.start(tmp_path_factory.mktemp("dispute-parties"))
    try:
        yield parties
    finally:
        parties.stop()


@pytest.fixture(scope="session")
def audits(parties: Parties, tmp_path_factory: pytest.TempPathFactory) -> tuple[Audit, Audit]:
    """Two audits of the same table (different audits: other ids, other row seeds)."""
    return make_audits(parties, tmp_path_factory.mktemp("dispute-audits"))
