"""The crash scenarios of the reliability benchmark: SIGKILL of the daemon (during an upload,
during an evaluation, after a job finished; then a restart on the same store), of a client in
the middle of its upload (then a rerun), and of one of the daemon's worker processes.

Jobs sent from this process are real fairness jobs (``tests/support/jobs.FairnessJob``: fresh
client keys, every ciphertext encrypted once, a signed header) over real gRPC on loopback.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from harness import ROOT, Parties
from reliability_support import (
    CLIENT_TIMEOUT_S,
    Daemon,
    ScenarioResult,
    audit_command,
    job_rows,
    poll,
    receipt_counts,
    run_client_audit,
    store_integrity,
    verify_bundle,
    worker_pids,
)

__all__ = ["client_kill", "daemon_kills", "fairness_input", "worker_kill"]

#: Rows of a job killed during its evaluation (15 chunks at 4096 slots: long enough to be
#: caught running on one worker, short enough to rerun after the restart).
EVALUATION_ROWS = 60_000
#: Rows of the other jobs (one chunk).
SMALL_ROWS = 2_000
#: Rows of the client audit killed mid-upload (the client encrypts while it uploads).
CLIENT_KILL_ROWS = 400_000
#: Jobs evaluating at once when a worker is killed (2 workers).
WORKER_KILL_JOBS = 3
#: How long a job may take to end after a restart (seconds).
JOB_TIMEOUT_S = 300.0


def fairness_input(path: Path, rows: int, seed: int) -> Path:
    """A fairness input file of ``rows`` random rows."""
    from support.jobs import fairness_payload

    path.write_text(json.dumps(fairness_payload(rows, seed)))
    return path


def _wait(address: str, job_id: str) -> tuple[str, str]:
    """(final state, failure reason) of ``job_id``, watched on ``address``."""
    from support.signing import connect

    from regaudit.shared.protocol import JobFailedError

    with connect(address) as connection:
        try:
            final = connection.wait_for_job(job_id, timeout=JOB_TIMEOUT_S)
        except JobFailedError as exc:
            return "FAILED", str(exc.job_reason)
        return final.state.name, ""


def _held_stream(job: object, header: object, release: threading.Event) -> Iterator[object]:
    """Header and canary, then nothing until ``release`` (an upload in progress)."""
    from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb

    yield pb.SubmitJobRequest(header=header.to_proto())  # type: ignore[attr-defined]
    column, chunk, data = job.ciphertexts[0]  # type: ignore[attr-defined]
    yield pb.SubmitJobRequest(
        piece=pb.CiphertextPiece(
            column=column, chunk=chunk, offset=0, total_size=len(data), data=data
        )
    )
    release.wait(60)


def _upload_in_progress(daemon: Daemon, job: object, header: object) -> tuple[str, threading.Event]:
    """Start a submission that holds after its canary; return (job id, its release event)."""
    import grpc
    from support.signing import signed

    from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
    from regaudit.shared.protocol import GRPC_OPTIONS

    before = {e.get("job_id") for e in daemon.events("job_admitted")}
    release = threading.Event()
    channel = grpc.insecure_channel(daemon.address, options=list(GRPC_OPTIONS))
    stub = pb_grpc.EvaluatorStub(channel)  # type: ignore[no-untyped-call]

    def call() -> None:
        try:
            stub.SubmitJob(_held_stream(job, header, release), metadata=signed("SubmitJob"))
        except grpc.RpcError:
            pass
        finally:
            channel.close()

    threading.Thread(target=call, daemon=True).start()
    admitted = poll(
        lambda: [
            e["job_id"] for e in daemon.events("job_admitted") if e.get("job_id") not in before
        ],
        30,
    )
    return (admitted[0] if admitted else ""), release


def daemon_kills(parties: Parties, root: Path) -> list[ScenarioResult]:
    """SIGKILL the daemon during an upload, during an evaluation and after a job finished;
    after each, restart it on the same store and follow the job."""
    from support.jobs import FairnessJob
    from support.signing import connect

    results: list[ScenarioResult] = []
    store = root / "crash-store"
    daemon = Daemon(parties, store, "--workers", "1").start()
    try:
        # 1. during an upload
        began = time.monotonic()
        job = FairnessJob(rows=SMALL_ROWS, seed=11)
        with connect(daemon.address) as connection:
            connection.upload_evaluation_keys(job.keys.evaluation_keys())
        job_id, release = _upload_in_progress(daemon, job, job.header())
        state_before = job_rows(store).get(job_id, {}).get("state")
        daemon.kill()
        release.set()
        integrity = store_integrity(store)
        daemon.start()
        row = job_rows(store).get(job_id, {})
        rerun_id, rerun_state, rerun_reason = job.submit(daemon.address)
        counts = receipt_counts(store)
        green = (
            row.get("state") == "FAILED"
            and row.get("reason") == "upload_incomplete"
            and rerun_state.name == "SUCCEEDED"
            and integrity == "ok"
            and counts["max_per_job"] <= 1
        )
        results.append(
            ScenarioResult(
                "daemon SIGKILL during upload",
                "job admitted, canary sent, stream held; kill -9 the daemon; restart on the "
                "same store; the client resubmits (same idempotency key and header: it asks "
                "GetUploadState and sends only what the daemon lacks)",
                "job FAILED upload_incomplete after restart; the resubmission resumes it and "
                "SUCCEEDED; integrity ok; <=1 receipt per job",
                f"state at kill {state_before}; after restart {row.get('state')} "
                f"{row.get('reason') or ''}; resubmission {rerun_state.name} {rerun_reason} "
                f"(same idempotency key; the same job resumed: {rerun_id == job_id}); "
                f"integrity {integrity}",
                green,
                {"receipts": counts, "restart_generation": daemon.generation},
                time.monotonic() - began,
            )
        )

        # 2. during an evaluation
        began = time.monotonic()
        big = FairnessJob(rows=EVALUATION_ROWS, seed=12)
        with connect(daemon.address) as connection:
            connection.upload_evaluation_keys(big.keys.evaluation_keys())
            accepted = connection.submit_job(big.header(), iter(big.ciphertexts))
        daemon.kill()
        at_kill = job_rows(store).get(accepted.job_id, {})
        integrity = store_integrity(store)
        daemon.start()
        state, reason = _wait(daemon.address, accepted.job_id)
        per_job = daemon.succeeded_events_per_job()
        counts = receipt_counts(store)
        green = (
            state == "SUCCEEDED"
            and integrity == "ok"
            and counts["max_per_job"] <= 1
            and per_job[accepted.job_id] == 1
        )
        results.append(
            ScenarioResult(
                "daemon SIGKILL during evaluation",
                f"{EVALUATION_ROWS} rows ({big.plan.n_chunks} chunks) uploaded, kill -9 the "
                "daemon at once; restart on the same store; watch the job",
                "job re-queued and SUCCEEDED; one receipt (one job_succeeded event over both "
                "daemon runs); integrity ok",
                f"at kill {at_kill.get('state')} {at_kill.get('chunks_evaluated')}/"
                f"{at_kill.get('n_chunks')} chunks evaluated; after restart {state} {reason}; "
                f"job_succeeded events {per_job[accepted.job_id]}; integrity {integrity}",
                green,
                {"receipts": counts, "at_kill": at_kill},
                time.monotonic() - began,
            )
        )

        # 3. after a job finished
        began = time.monotonic()
        done = FairnessJob(rows=SMALL_ROWS, seed=13)
        done_id, done_state, _ = done.submit(daemon.address)
        receipt_before = job_rows(store).get(done_id, {}).get("receipt_bytes")
        daemon.kill()
        integrity = store_integrity(store)
        daemon.start()
        with connect(daemon.address) as connection:
            fetched = connection.fetch_result(done_id)
        row = job_rows(store).get(done_id, {})
        per_job = daemon.succeeded_events_per_job()
        counts = receipt_counts(store)
        rows = job_rows(store)
        same_receipt = row.get("receipt_bytes") == receipt_before
        # (the job failed during its upload was resumed by its resubmission under the same
        # idempotency key, or replaced by it: either way the rerun's row is there)
        lost = [j for j in (rerun_id, accepted.job_id, done_id) if j not in rows]
        green = (
            done_state.name == "SUCCEEDED"
            and row.get("state") == "SUCCEEDED"
            and row.get("receipt_bytes") == receipt_before
            and per_job[done_id] == 1
            and not lost
            and integrity == "ok"
            and counts["max_per_job"] <= 1
            and counts["max_per_header"] <= 1
        )
        results.append(
            ScenarioResult(
                "daemon SIGKILL after finishing",
                "a job SUCCEEDED; kill -9 the daemon; restart; fetch its result again",
                "still SUCCEEDED, the same receipt, result served, no job lost, integrity ok",
                f"{row.get('state')}; receipt unchanged: {same_receipt}"
                f"; result fetched ({len(fetched.outputs)} outputs); job_succeeded events "
                f"{per_job[done_id]}; jobs lost {len(lost)} of 3 (the upload-killed job resumed "
                f"under its own id: {job_id in rows}); integrity {integrity}",
                green,
                {
                    "receipts": counts,
                    "jobs": {
                        k: {"state": v["state"], "reason": v["reason"]} for k, v in rows.items()
                    },
                    "job_succeeded_events": dict(per_job),
                    "daemon_generations": daemon.generation,
                },
                time.monotonic() - began,
            )
        )
    finally:
        daemon.stop()
    return results


def _stored_ciphertexts(store: Path, job_id: str) -> int:
    """How many of ``job_id``'s ciphertexts the store holds."""
    with sqlite3.connect(f"file:{store / 'jobs.sqlite3'}?mode=ro", uri=True, timeout=10) as db:
        row = db.execute("SELECT COUNT(*) FROM ciphertexts WHERE job_id = ?", (job_id,)).fetchone()
    return int(row[0])


def client_kill(parties: Parties, root: Path, after: int) -> ScenarioResult:
    """SIGKILL a ``regaudit-client audit --idempotency-key K`` once the daemon admitted its job
    and stored ``after`` of its ciphertexts, then run the same command again: it resumes the
    same job from its resume journal and uploads only what the daemon lacks."""
    began = time.monotonic()
    store = root / f"client-kill-{after}-store"
    daemon = Daemon(parties, store, "--workers", "1").start()
    key = ("--idempotency-key", f"client-kill-{after}-{secrets.token_hex(4)}")
    try:
        input_file = fairness_input(root / "client-kill.json", CLIENT_KILL_ROWS, seed=21)
        out = root / f"client-kill-{after}-bundle"
        client = subprocess.Popen(
            audit_command(parties, daemon.address, input_file, out, *key),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            start_new_session=True,
        )
        admitted = poll(lambda: daemon.events("job_admitted"), CLIENT_TIMEOUT_S, 0.01)
        old_id = admitted[0]["job_id"] if admitted else ""
        if after and old_id:
            poll(lambda: _stored_ciphertexts(store, old_id) >= after, CLIENT_TIMEOUT_S, 0.01)
        stored_at_kill = _stored_ciphertexts(store, old_id) if old_id else 0
        finished_before = bool(daemon.events("upload_finished"))
        # the client and its encryption workers (one process group)
        os.killpg(client.pid, signal.SIGKILL)
        client.wait(timeout=30)
        old = poll(
            lambda: (
                (job_rows(store).get(old_id) or {}).get("state") in ("FAILED", "SUCCEEDED")
                and job_rows(store)[old_id]
            ),
            20,
        )
        rerun = run_client_audit(parties, daemon.address, input_file, out, *key)
        verified, _ = verify_bundle(parties, rerun.bundle) if rerun.bundle else (False, "")
        rows = job_rows(store)
        integrity = store_integrity(store)
        total = admitted[0]["ciphertexts"] if admitted else "?"
        old_state = f"{old.get('state')} {old.get('reason') or ''}" if old else "not ended"
        resumed = [e for e in daemon.events("upload_resumed") if e.get("job_id") == old_id]
        held = int(resumed[0].get("ciphertexts_held", 0)) if resumed else 0
        # (with nothing held there is nothing to resume: the same signed header makes a job
        # that replaces the failed one in the store)
        final = next(iter(rows.values()), {}).get("state") if len(rows) == 1 else None
        green = (
            bool(old)
            and rerun.returncode == 0
            and verified
            and final == "SUCCEEDED"
            and ((bool(resumed) and held >= stored_at_kill) or stored_at_kill == 0)
        )
        return ScenarioResult(
            f"client SIGKILL mid-upload (after {after} ciphertexts), then rerun",
            f"`regaudit-client audit fairness --idempotency-key K` on {CLIENT_KILL_ROWS} rows "
            "killed (-9, with its encryption workers) once the daemon admitted its job and "
            f"stored >= {after} of its ciphertexts; then the same command again",
            "the rerun resumes the same job from its resume journal (same keys, same header), "
            "uploads only the ciphertexts the daemon lacks (with none held, the same header "
            "starts it again); the job SUCCEEDED, one job in the store, the bundle verifies",
            f"at the kill: {stored_at_kill} of {total} ciphertexts stored (upload finished "
            f"first: {finished_before}), job {old_state}; rerun exit {rerun.returncode}, "
            f"upload resumed after {held} held ciphertexts: {bool(resumed)}, job "
            f"{final} (jobs in store: {len(rows)}, same job id: {list(rows) == [old_id]}), "
            f"bundle verified: {verified}; "
            f"integrity {integrity}",
            green,
            {
                "rerun_wall_s": round(rerun.wall_s, 1),
                "jobs": len(rows),
                "stored_at_kill": stored_at_kill,
                "ciphertexts_held_at_resume": held,
                "ciphertexts_total": total,
                "rerun_output": rerun.output[-300:] if rerun.returncode else "",
            },
            time.monotonic() - began,
        )
    finally:
        daemon.stop()


def worker_kill(parties: Parties, root: Path) -> ScenarioResult:
    """SIGKILL one worker while three jobs evaluate on two workers: the killed worker's task is
    retried on a new worker, so no job fails; then a next audit."""
    from support.jobs import FairnessJob

    began = time.monotonic()
    store = root / "worker-kill-store"
    daemon = Daemon(parties, store, "--workers", "2").start()
    try:
        jobs = [FairnessJob(rows=EVALUATION_ROWS, seed=31 + i) for i in range(WORKER_KILL_JOBS)]
        outcomes: list[dict[str, object]] = [{} for _ in jobs]

        def run(index: int) -> None:
            job_id, state, reason = jobs[index].submit(daemon.address)
            outcomes[index].update(job_id=job_id, state=state.name, reason=reason)

        threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(jobs))]
        for thread in threads:
            thread.start()
        running = poll(
            lambda: [j for j, r in job_rows(store).items() if r["state"] == "RUNNING"],
            60,
            0.01,
        )
        workers_before = worker_pids(daemon.pid)
        victim = workers_before[0] if workers_before else None
        if victim is not None:
            os.kill(victim, signal.SIGKILL)
        for thread in threads:
            thread.join(JOB_TIMEOUT_S)
        next_id, next_state, next_reason = FairnessJob(rows=SMALL_ROWS, seed=39).submit(
            daemon.address
        )
        workers_after = worker_pids(daemon.pid)
        states = [str(o.get("state")) for o in outcomes]
        failed = [
            f"{o.get('state')} {o.get('reason')}" for o in outcomes if o.get("state") != "SUCCEEDED"
        ]
        deaths = daemon.events("worker_died")
        green = (
            bool(running)
            and victim is not None
            and not failed
            and next_state.name == "SUCCEEDED"
            and len(deaths) == 1
            and bool(deaths[0].get("retried"))
        )
        return ScenarioResult(
            "worker SIGKILL during evaluation",
            f"{len(jobs)} jobs of {EVALUATION_ROWS} rows evaluating at once on 2 workers; kill -9 "
            "one worker (found with process_trees); then a next job",
            "only the killed worker's task is touched: it is retried on a new worker, every job "
            "SUCCEEDED (a task whose worker dies twice would fail its job worker_crashed); the "
            "next job SUCCEEDED",
            f"{states.count('SUCCEEDED')} of {len(jobs)} jobs SUCCEEDED"
            f"{' (failed: ' + '; '.join(failed) + ')' if failed else ''}; worker_died events "
            f"{len(deaths)} (retried: {[bool(d.get('retried')) for d in deaths]}); next job "
            f"{next_state.name} {next_reason}; workers {len(workers_before)} before, "
            f"{len(workers_after)} after (killed one replaced: {victim not in workers_after})",
            green,
            {
                "killed_worker_pid": victim,
                "workers_before": workers_before,
                "workers_after": workers_after,
                "jobs": outcomes,
                "worker_died_events": deaths,
                "daemon_alive": daemon.alive(),
                "next_job": next_id,
            },
            time.monotonic() - began,
        )
    finally:
        daemon.stop()
