"""The one JSON line each seed-library script prints: what it measured, or the failure as the
measurement, plus its total time and peak memory. Standard library only: the seed scripts run
in regaudit-fhe's own virtualenv."""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from harness import JsonObject

__all__ = ["printed_record"]


@contextmanager
def printed_record(record: JsonObject, *, traceback_chars: int) -> Iterator[JsonObject]:
    """Yield ``record`` to fill in; then set ``ok`` (or ``error`` and the last
    ``traceback_chars`` of the traceback if the block raised), ``total_s`` and ``peak_rss_mb``,
    and print it as one JSON line."""
    started = time.perf_counter()
    try:
        yield record
        record["ok"] = True
    except Exception as exc:  # the failure itself is the measurement
        record["ok"] = False
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()[-traceback_chars:]
    record["total_s"] = time.perf_counter() - started
    record["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write(json.dumps(record) + "\n")
