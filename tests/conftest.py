"""Test-session set-up shared by every test directory."""

from __future__ import annotations

import pytest

from regaudit.shared.custody import allow_secret_key_code_in_this_process

# Many tests run the client, the evaluator daemon (and in-process Dask workers) and the
# regulator in this one pytest process, so secret-key code and the keyless daemon share it on
# purpose. Spawned evaluator workers do not inherit this allowance and stay checked;
# tests/engine/test_engine_custody.py checks the daemon and workers in fresh processes.
allow_secret_key_code_in_this_process("pytest: every party runs in the test process")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the ``perf`` tests (wall-clock and throughput assertions) out of a run unless its
    ``-m`` expression names them: ``pytest -m perf`` runs only them, and scripts/test.sh runs
    them after the functional suite, so a slow machine's timing cannot fail that suite. A
    marker expression that takes these tests out (addopts) would be replaced by any ``-m`` given
    on the command line; this hook is not."""
    if "perf" in (config.option.markexpr or ""):
        return
    perf = [item for item in items if item.get_closest_marker("perf") is not None]
    if perf:
        config.hook.pytest_deselected(items=perf)
        items[:] = [item for item in items if item.get_closest_marker("perf") is None]


@pytest.fixture(autouse=True)
def _errors_print_as_text() -> None:
    """A command run in process with ``--json`` switches failures to JSON for the rest of the
    process (:func:`regaudit.shared.cli_failure.report_errors_as_json`); every test starts in
    the default (text) mode so the order tests run in cannot matter."""
    from regaudit.shared.cli_failure import report_errors_as_json

    report_errors_as_json(False)
