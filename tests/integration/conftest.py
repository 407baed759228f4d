"""One set of identities and ONE evaluator daemon shared by the whole integration directory."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from integration_harness import TIMINGS_FILE, Parties, make_parties, stop


@pytest.fixture(scope="session")
def parties(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parties]:
    root = tmp_path_factory.mktemp("integration")
    parties = make_parties(root)
    try:
        yield parties
    finally:
        stop(parties.daemon)
        if parties.timings:
            (root / TIMINGS_FILE).write_text(json.dumps(parties.timings, indent=2))
            print(f"\nround-trip timings ({root / TIMINGS_FILE}):")
            for primitive, timing in parties.timings.items():
                print(f"  {primitive:<13} {timing}")
