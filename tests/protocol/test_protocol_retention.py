"""Retention of results against a real daemon and real SQLite: ended jobs are collected after
``--retain``, a collected job answers NOT_FOUND ``result_expired``, ``gc`` collects a stopped
store (and orphans), refuses a held one, and the store's schema version migrates or is refused.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from support.cli import ROOT, cli
from support.daemon import start_evaluator, stop_evaluator
from support.parties import Identities, Parties, make_identities
from support.signing import signed

from regaudit.evaluator.collection import ORPHAN_MIN_AGE_S, collect_interval, parse_duration
from regaudit.evaluator.store import Store
from regaudit.evaluator.store_schema import SCHEMA_V1, SCHEMA_VERSION
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
from regaudit.shared.errors import InputError, ResultExpiredError, UnknownJobError
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.protocol import error_from_rpc

SAMPLE_CSV = ROOT / "examples" / "data" / "fairness-sample.csv"
COLUMNS = ("--y-true", "y_true", "--y-pred", "y_pred", "--group", "group")
#: The daemon's retention in these tests: collected within RETAIN_S + 1 s (interval 1 s).
RETAIN_S = 2
#: How many audits the flat-store series runs.
SERIES = 5
_JOB_ID = re.compile(r"job id\s+([0-9a-f]{32})")


def store_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def job_rows(store: Path) -> int:
    """Job rows, read-only (the daemon holds the store; SQLite WAL allows a reader)."""
    with sqlite3.connect(f"file:{store / 'jobs.sqlite3'}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])


@dataclass
class Daemon:
    parties: Parties
    store: Path
    job_ids: list[str]
    sizes: list[int]


def audit(parties: Parties, out: Path) -> str:
    result = parties.audit(SAMPLE_CSV, out, *COLUMNS)
    assert result.returncode == 0, result.stderr
    match = _JOB_ID.search(result.stdout)
    assert match, result.stdout
    return match.group(1)


@pytest.fixture(scope="module")
def ids(tmp_path_factory: pytest.TempPathFactory) -> Identities:
    """The three parties' identities, made once for the module."""
    return make_identities(tmp_path_factory.mktemp("retention"))


@pytest.fixture(scope="module")
def retaining(ids: Identities) -> Iterator[Daemon]:
    """A daemon with ``--retain 2s`` that ran :data:`SERIES` audits, measuring its store's bytes
    right after each one."""
    root = ids.root
    store = root / "store"
    process, address = start_evaluator(
        ids.evaluator, store, "--retain", f"{RETAIN_S}s", "--workers", "2"
    )
    parties = Parties(
        ids.root, ids.regulator, ids.evaluator, ids.client, ids.trust, address, process
    )
    try:
        job_ids, sizes = [], []
        for n in range(SERIES):
            job_ids.append(audit(parties, root / f"audit-{n}.bundle"))
            sizes.append(store_bytes(store))
        yield Daemon(parties, store, job_ids, sizes)
    finally:
        stop_evaluator(process)


def wait_collected(store: Path, timeout: float = RETAIN_S + 10.0) -> None:
    deadline = time.monotonic() + timeout
    while job_rows(store) or any((store / "jobs").iterdir()):
        assert time.monotonic() < deadline, "ended jobs were not collected"
        time.sleep(0.2)


def test_a_series_of_audits_keeps_the_store_flat(retaining: Daemon) -> None:
    wait_collected(retaining.store)
    settled = store_bytes(retaining.store)
    print(f"store bytes after each audit: {retaining.sizes}; after collection: {settled}")
    # at most the jobs of the last RETAIN_S + 1 s are on disk: with an audit every ~3 s, one or
    # two jobs, the machine's load deciding which. A store that kept every job would hold five
    # after the fifth audit; this one never holds more than two jobs' worth (measured:
    # 0.42-0.91 MB after each audit, ~78 kB once collected)
    assert max(retaining.sizes) <= 2 * retaining.sizes[0], retaining.sizes
    assert settled <= min(retaining.sizes) // 2, (settled, retaining.sizes)
    assert not any((retaining.store / "keys").iterdir())


def _call(address: str, method: str, job_id: str, identity: SigningIdentity) -> grpc.RpcError:
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.EvaluatorStub(channel)  # type: ignore[no-untyped-call]
        if method == "GetResult":
            request = pb.GetResultRequest(job_id=job_id)
            stream = stub.GetResult(request, metadata=signed(method, job_id, identity=identity))
        else:
            watch = pb.WatchJobRequest(job_id=job_id)
            stream = stub.WatchJob(watch, metadata=signed(method, job_id, identity=identity))
        with pytest.raises(grpc.RpcError) as caught:
            list(stream)
    return caught.value


def test_a_collected_job_answers_result_expired_then_the_daemon_serves(retaining: Daemon) -> None:
    wait_collected(retaining.store)
    owner = SigningIdentity.load(retaining.parties.client, kind="client")
    address = retaining.parties.address
    for method in ("GetResult", "WatchJob"):
        error = _call(address, method, retaining.job_ids[0], owner)
        assert error.code() is grpc.StatusCode.NOT_FOUND, error
        rebuilt = error_from_rpc(error)
        assert isinstance(rebuilt, ResultExpiredError), rebuilt
        assert rebuilt.reason == "result_expired"
        assert "expired" in str(rebuilt)
    # an id never seen, or another client's collected job: unknown_job (no tombstone leak)
    for job_id, identity in (
        ("0" * 32, owner),
        (retaining.job_ids[1], SigningIdentity.generate("client")),
    ):
        rebuilt = error_from_rpc(_call(address, "GetResult", job_id, identity))
        assert type(rebuilt) is UnknownJobError and rebuilt.reason == "unknown_job"
    # the daemon keeps serving: a normal audit right after
    audit(retaining.parties, retaining.store.parent / "after.bundle")


def test_daemon_log_reports_collections(retaining: Daemon) -> None:
    wait_collected(retaining.store)
    log = (retaining.store.parent / "store.log").read_text()
    assert "jobs_expired" in log


def test_durations() -> None:
    assert [parse_duration(t) for t in ("45s", "30m", "12h", "7d")] == [45, 1800, 43200, 604800]
    for bad in ("7", "0d", "3w", "-1h", "1.5h", "", "3651d"):
        with pytest.raises(InputError, match="--retain"):
            parse_duration(bad)
    assert collect_interval(2) == 1.0 and collect_interval(600) == 60.0
    assert collect_interval(30 * 86400) == 3600.0


def test_serve_refuses_a_bad_retain(ids: Identities, tmp_path: Path) -> None:
    for bad in ("7", "3w"):
        result = cli(
            "evaluator", "serve", "--listen", "127.0.0.1:0", "--identity", ids.evaluator,
            "--store", tmp_path / "store", "--retain", bad,
        )  # fmt: skip
        assert result.returncode == 2, (bad, result.stderr)
        assert "--retain" in result.stderr and "[invalid_input]" in result.stderr, result.stderr


# --- gc on a stopped store --------------------------------------------------------------------


@pytest.fixture(scope="module")
def stopped_store(ids: Identities) -> tuple[Parties, Path, list[str]]:
    """A store with one succeeded job, its daemon stopped (default retention: nothing went)."""
    root = ids.root
    store = root / "gc-store"
    process, address = start_evaluator(ids.evaluator, store, "--workers", "2")
    parties = Parties(
        ids.root, ids.regulator, ids.evaluator, ids.client, ids.trust, address, process
    )
    try:
        jobs = [audit(parties, root / "gc.bundle")]
    finally:
        stop_evaluator(process)
    return parties, store, jobs


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(item, (then, then))


def gc(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli("evaluator", "gc", "--store", store, *args)


def test_gc_dry_run_deletes_nothing_then_gc_collects_and_reports(
    stopped_store: tuple[Parties, Path, list[str]],
) -> None:
    parties, store, jobs = stopped_store
    # orphans: a job folder no row names, a stray temporary; and a young orphan that stays
    orphan = store / "jobs" / ("f" * 32)
    (orphan / "outputs").mkdir(parents=True)
    (orphan / "outputs" / "0000.ct").write_bytes(b"x" * 1000)
    stray = store / "tmp" / "stray.bin"
    stray.write_bytes(b"y" * 500)
    young = store / "jobs" / ("e" * 32)
    young.mkdir()
    (young / "partial").write_bytes(b"z" * 10)
    _age(orphan, ORPHAN_MIN_AGE_S + 60)
    _age(stray, ORPHAN_MIN_AGE_S + 60)
    time.sleep(RETAIN_S + 0.5)
    before = sorted(str(p) for p in store.rglob("*"))

    dry = gc(store, "--retain", f"{RETAIN_S}s", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["dry_run"] is True
    assert report["jobs_expired"] == 1 and sorted(report["job_ids"]) == sorted(jobs)
    assert report["orphans"] == 2 and report["orphan_bytes"] == 1500
    assert report["job_bytes"] > 0
    assert sorted(str(p) for p in store.rglob("*")) == before  # nothing deleted

    done = gc(store, "--retain", f"{RETAIN_S}s", "--json")
    assert done.returncode == 0, done.stderr
    collected = json.loads(done.stdout)
    assert collected | {"dry_run": True} == report
    assert not orphan.exists() and not stray.exists() and young.exists()
    assert not any((store / "jobs" / job).exists() for job in jobs)
    with sqlite3.connect(store / "jobs.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM ciphertexts").fetchone()[0] == 0
        tombs = db.execute("SELECT id, client_key_id FROM expired_jobs").fetchall()
    owner = SigningIdentity.load(parties.client, kind="client").key_id
    assert sorted(tombs) == sorted((job, owner) for job in jobs)

    again = gc(store, "--retain", f"{RETAIN_S}s")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("deleted 0 expired job(s) (0 bytes), 0 orphan(s)")


def test_gc_refuses_a_store_a_daemon_holds(retaining: Daemon, tmp_path: Path) -> None:
    result = gc(retaining.store, "--dry-run")
    assert result.returncode == 2, result.stderr
    assert "in use by another evaluator" in result.stderr, result.stderr
    assert f"pid {retaining.parties.daemon.pid}" in result.stderr, result.stderr
    assert retaining.parties.daemon.poll() is None  # the daemon is untouched
    missing = gc(tmp_path / "nowhere")
    assert missing.returncode == 2 and "no evaluator store" in missing.stderr


# --- schema version ---------------------------------------------------------------------------


def _version_1_store(root: Path) -> None:
    """A store as the code before schema versions wrote it, holding one finished job."""
    root.mkdir(parents=True)
    with sqlite3.connect(root / "jobs.sqlite3") as db:
        db.executescript(SCHEMA_V1)
        db.execute(
            "INSERT INTO jobs (id, idempotency_key, header_digest, header, state, n_chunks,"
            " created, updated) VALUES ('a1', 'k/1', 'sha256:00', x'', 'SUCCEEDED', 1, 1, 1)"
        )


def test_a_version_1_store_is_migrated_to_version_2(tmp_path: Path) -> None:
    root = tmp_path / "v1"
    _version_1_store(root)
    store = Store(root)
    try:
        assert store.opened_version == 1
        assert store.get_job("a1") is not None  # the data survives
        assert store.expired_job("a1") is None
        # retention works on the migrated store: the 1970 job expires into a tombstone
        store.expire_job("a1", client_key_id="k", now=time.time())
        assert store.get_job("a1") is None
        assert store.expired_job("a1") is not None
    finally:
        store.close()
    with sqlite3.connect(root / "jobs.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    reopened = Store(root)
    assert reopened.opened_version == SCHEMA_VERSION
    reopened.close()


def test_gc_migrates_a_version_1_store_and_collects_it(tmp_path: Path) -> None:
    root = tmp_path / "v1"
    _version_1_store(root)
    result = gc(root, "--retain", "1d", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["job_ids"] == ["a1"]


def test_a_newer_store_is_refused_untouched(ids: Identities, tmp_path: Path) -> None:
    root = tmp_path / "v9"
    _version_1_store(root)
    with sqlite3.connect(root / "jobs.sqlite3") as db:
        db.execute("PRAGMA user_version = 9")
    result = gc(root)
    assert result.returncode == 2, result.stderr
    assert "[store_version_unsupported]" in result.stderr, result.stderr
    assert "schema version 9" in result.stderr
    serve = cli(
        "evaluator", "serve", "--listen", "127.0.0.1:0", "--identity", ids.evaluator,
        "--store", root, "--workers", "1",
    )  # fmt: skip
    assert serve.returncode == 2, serve.stderr
    assert "[store_version_unsupported]" in serve.stderr, serve.stderr
    with sqlite3.connect(root / "jobs.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 9
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1
