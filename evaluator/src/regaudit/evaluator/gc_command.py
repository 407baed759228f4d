"""``regaudit-evaluator gc``: retention's collection on a store no daemon holds, plus orphans.

Registered on the ``regaudit-evaluator`` app by :mod:`.cli`. Exit codes: 0 done, 2 a bad
``--retain``, a store a daemon holds ("store PATH is in use by another evaluator (pid N)"), a
store of a newer schema version (``store_version_unsupported``) or no store at PATH.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from regaudit.shared.cli_failure import fail
from regaudit.shared.errors import InputError, RegauditError


def gc(
    store: Annotated[Path, typer.Option("--store", help="the job store directory")],
    retain: Annotated[
        str,
        typer.Option(
            "--retain",
            help="delete succeeded or failed jobs (outputs, receipt, row) that ended longer ago "
            "than this: 30m, 12h, 7d (default 30d; use the daemon's --retain)",
        ),
    ] = "30d",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="report what would be deleted; delete nothing")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Collect expired jobs and orphaned blobs (files no row references, older than one hour)
    of a store no daemon holds; print what was deleted (counts, bytes)."""
    from regaudit.evaluator.collection import collect_offline, parse_duration
    from regaudit.evaluator.store import Store
    from regaudit.shared.cli_app import json_mode

    json_mode(as_json)  # a failure is one JSON object too
    try:
        retain_s = parse_duration(retain)
        if not (store / "jobs.sqlite3").is_file():
            raise InputError(f"no evaluator store at {store} (no jobs.sqlite3)", field="store")
        opened = Store(store, sweep=False)
        try:
            done = collect_offline(opened, retain_s, dry_run=dry_run)
        finally:
            opened.close()
    except RegauditError as exc:
        fail(exc)
        return
    if as_json:
        typer.echo(json.dumps(done.to_dict(), sort_keys=True))
        return
    verb = "would delete" if dry_run else "deleted"
    typer.echo(
        f"{verb} {len(done.jobs)} expired job(s) ({done.job_bytes} bytes), "
        f"{len(done.orphans)} orphan(s) ({done.orphan_bytes} bytes), "
        f"{done.tombstones} old tombstone(s); {done.bytes} bytes in all"
    )
    for path in done.orphans:
        typer.echo(f"  orphan {path}")


__all__ = ["gc"]
