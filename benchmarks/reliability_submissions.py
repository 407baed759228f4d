"""The concurrency scenario of the reliability benchmark: many submissions at once against one
daemon whose memory is bounded by its configuration (``--max-streams``, ``--workers``, quotas).

Two kinds of submitter run at the same time:

- ``regaudit-client audit fairness`` processes (the real client: encryption workers, resume,
  retries), whose bundles the regulator verifies afterwards;
- protocol clients in threads of this process (one pre-encrypted :class:`FairnessJob` each, its
  own key set, the signed wire protocol), whose outputs are decrypted and checked against the
  plaintext oracle. They let one 2-core machine put a few hundred submissions on the wire at
  once, which a few hundred client processes (each with SEAL and a worker) could not.

Every refusal with a retry hint (``server_busy``, quota, rate limit: RESOURCE_EXHAUSTED) is
retried after the hinted delay and counted as queued; anything else is a failure for good.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from harness import JsonObject, Parties
from process_trees import MemorySampler
from reliability_crashes import fairness_input
from reliability_support import (
    ClientAudit,
    Daemon,
    ScenarioResult,
    job_rows,
    run_client_audit,
    verify_bundle,
)

__all__ = ["SUBMISSION_ROWS", "concurrent_submissions"]

#: Rows of every submission (one chunk at ``ckks-n8192-d3-v1``).
SUBMISSION_ROWS = 2_000
#: Client identities the protocol submitters sign with (round robin): several tenants, each
#: under the daemon's default per-client quotas (jobs, streams, submission rate).
SUBMITTER_IDENTITIES = 10
#: Retries after a hinted refusal before a protocol submitter gives up.
MAX_HINTED_RETRIES = 2000
#: gRPC codes a submitter retries without a hint, as the client does (a stream cut short).
TRANSIENT_CODES = frozenset({"UNAVAILABLE", "CANCELLED", "ABORTED", "DEADLINE_EXCEEDED"})
#: Delay when a refusal carries no hint (seconds).
DEFAULT_RETRY_S = 1.0
#: How long one protocol submission may take, retries included (seconds).
SUBMISSION_DEADLINE_S = 1800.0


@dataclass
class ProtocolSubmission:
    """One protocol submitter's outcome."""

    ok: bool = False
    refusals: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0
    error: str = ""


def _check_outputs(job: object, result: object) -> None:
    """The client's own output check: decrypt every output and compare with the oracle."""
    from regaudit.client.output_check import check_outputs, expected_outputs
    from regaudit.secretkey.ckks import SecretKeyDecryptor
    from regaudit.shared.circuits.registry import get_circuit
    from regaudit.shared.planning import data_chunks

    plan = job.plan  # type: ignore[attr-defined]
    data = job.data  # type: ignore[attr-defined]
    circuit = get_circuit("fairness", "1")
    expected = expected_outputs(
        circuit, plan, data.public, lambda chunk_rows: data_chunks(data, chunk_rows)
    )
    decryptor = SecretKeyDecryptor.from_bytes(plan.profile, job.keys.secret_key_bytes())  # type: ignore[attr-defined]
    check_outputs(
        circuit=circuit,
        plan=plan,
        public=data.public,
        expected=expected,
        outputs=list(result.outputs),  # type: ignore[attr-defined]
        canary_output=result.canary,  # type: ignore[attr-defined]
        canary_seed=job.canary_seed,  # type: ignore[attr-defined]
        decrypt=lambda ciphertext, level: decryptor.decrypt(ciphertext, level=level),
    )


def _header(job: object, identity: object) -> object:
    """The job's header, signed by ``identity`` (a tenant) instead of the tests' client."""
    from support.jobs import REGULATOR_KEY_ID

    from regaudit.shared.protocol import JobHeader

    key = job.idempotency_key  # type: ignore[attr-defined]
    return JobHeader.from_plan(
        job.plan,  # type: ignore[attr-defined]
        dict(job.data.public),  # type: ignore[attr-defined]
        evaluation_keys_digest=job.digest,  # type: ignore[attr-defined]
        idempotency_key=key,
        canary_seed=job.canary_seed,  # type: ignore[attr-defined]
        audit_id="audit-" + key[:8],
        client_key=identity.public_record(),  # type: ignore[attr-defined]
        regulator_key_id=REGULATOR_KEY_ID,
    ).signed(identity)  # type: ignore[arg-type]


def _submit(address: str, job: object, identity: object) -> ProtocolSubmission:
    """Upload keys, submit, watch, fetch and check one job; retry hinted refusals."""
    from support.signing import connect

    from regaudit.shared.errors import RegauditError

    began = time.monotonic()
    outcome = ProtocolSubmission()
    while True:
        try:
            with connect(address, identity=identity, timeout=120) as connection:  # type: ignore[arg-type]
                connection.upload_evaluation_keys(job.keys.evaluation_keys())  # type: ignore[attr-defined]
                header = _header(job, identity)
                state = connection.upload_state(header.idempotency_key)  # type: ignore[attr-defined]
                held = (
                    len(state.held_digests)
                    if state.found and state.resumable and state.header_digest == header.digest  # type: ignore[attr-defined]
                    else 0
                )
                accepted = connection.submit_job(header, iter(job.ciphertexts[held:]))  # type: ignore[attr-defined,arg-type]
                if accepted.deduplicated and accepted.state.name == "RECEIVING":
                    # the daemon has not yet noticed that the earlier stream broke
                    outcome.refusals["transient still receiving"] += 1
                    time.sleep(DEFAULT_RETRY_S)
                    continue
                connection.wait_for_job(accepted.job_id, timeout=SUBMISSION_DEADLINE_S)
                result = connection.fetch_result(accepted.job_id)
            _check_outputs(job, result)
            outcome.ok = True
        except RegauditError as exc:
            from regaudit.client.reconnect import retry_hint_s

            hint = retry_hint_s(exc)  # (gRPC's own concurrency refusal included, as the client)
            hinted = hint is not None
            # as the client (reconnect.TRANSIENT_CODES): a stream cut short is retried after a
            # pause; the next attempt resumes what the daemon holds (GetUploadState)
            transient = exc.grpc_code in TRANSIENT_CODES
            if (
                (hinted or transient)
                and sum(outcome.refusals.values()) < MAX_HINTED_RETRIES
                and time.monotonic() - began < SUBMISSION_DEADLINE_S
            ):
                label = (
                    (exc.reason if exc.retry_after_s is not None else "grpc concurrent-RPC limit")
                    if hinted
                    else f"transient {exc.grpc_code}"
                )
                outcome.refusals[label] += 1
                time.sleep(hint if hint else DEFAULT_RETRY_S)
                continue
            outcome.error = f"{exc.reason}: {str(exc)[:300]}"
        except Exception as exc:  # noqa: BLE001 - recorded: a failure for good
            outcome.error = f"{type(exc).__name__}: {str(exc)[:300]}"
        outcome.wall_s = time.monotonic() - began
        return outcome


def concurrent_submissions(
    parties: Parties, root: Path, n: int, cli_n: int, max_streams: int | None
) -> ScenarioResult:
    """``n`` submissions at once against one daemon (default workers): ``cli_n`` client
    processes and ``n - cli_n`` protocol submitters; the daemon's process tree sampled every
    50 ms; then every bundle verified and every protocol result checked."""
    from support.jobs import FairnessJob

    began = time.monotonic()
    protocol_n = n - cli_n
    extra = ["--max-streams", str(max_streams)] if max_streams else []
    daemon = Daemon(parties, root / "concurrent-store", *extra).start()
    try:
        input_file = fairness_input(root / "concurrent.json", SUBMISSION_ROWS, seed=51)
        prepared = time.monotonic()
        jobs = [FairnessJob(rows=SUBMISSION_ROWS, seed=500 + i) for i in range(protocol_n)]
        from regaudit.shared.evidence.identity import SigningIdentity

        tenants = [SigningIdentity.generate("client") for _ in range(SUBMITTER_IDENTITIES)]
        prepare_s = time.monotonic() - prepared
        with MemorySampler() as sampler:
            tree = sampler.watch(daemon.pid, "daemon")
            with ThreadPoolExecutor(max_workers=n) as pool:
                cli_futures = [
                    pool.submit(
                        run_client_audit,
                        parties,
                        daemon.address,
                        input_file,
                        root / f"concurrent-{i}",
                    )
                    for i in range(cli_n)
                ]
                protocol_futures = [
                    pool.submit(_submit, daemon.address, job, tenants[i % len(tenants)])
                    for i, job in enumerate(jobs)
                ]
                audits: list[ClientAudit] = [f.result() for f in cli_futures]
                submissions = [f.result() for f in protocol_futures]
            memory = tree.summary()
        with ThreadPoolExecutor(max_workers=2) as pool:
            verdicts = list(
                pool.map(
                    lambda a: verify_bundle(parties, a.bundle)[0] if a.bundle else False, audits
                )
            )
        rows = job_rows(daemon.store)
        cli_ok = sum(1 for a in audits if a.returncode == 0)
        protocol_ok = sum(1 for s in submissions if s.ok)
        failed = (cli_n - cli_ok) + (protocol_n - protocol_ok)
        refusals: Counter[str] = Counter()
        for s in submissions:
            refusals.update(s.refusals)
        refusals["server_busy (client processes)"] += sum(a.busy_refusals for a in audits)
        queued = sum(1 for s in submissions if s.refusals) + sum(
            1 for a in audits if a.busy_refusals
        )
        jobs_succeeded = sum(1 for r in rows.values() if r["state"] == "SUCCEEDED")
        # (a refused or retried submission may leave an earlier job behind: more jobs than
        # submissions; fewer succeeded jobs than successes would be a lost job)
        lost = max(0, cli_ok + protocol_ok - jobs_succeeded)
        walls = [a.wall_s for a in audits] + [s.wall_s for s in submissions]
        green = failed == 0 and lost == 0 and all(verdicts) and daemon.alive()
        numbers: JsonObject = {
            "n": n,
            "client_processes": cli_n,
            "protocol_submitters": protocol_n,
            "submitter_identities": SUBMITTER_IDENTITIES,
            "max_streams": max_streams or "default (32)",
            "succeeded": cli_ok + protocol_ok,
            "failed_for_good": failed,
            "queued_after_refusal": queued,
            "refusals_by_reason": dict(refusals),
            "jobs_in_store": len(rows),
            "jobs_succeeded_in_store": jobs_succeeded,
            "bundles_verified": sum(verdicts),
            "protocol_outputs_checked": protocol_ok,
            "prepare_s": round(prepare_s, 1),
            "wall_s": {
                "min": min(walls),
                "median": float(np.median(walls)),
                "max": max(walls),
            },
            "daemon_memory": memory,
            "failures": (
                [a.output[-400:] for a in audits if a.returncode != 0]
                + [s.error for s in submissions if not s.ok]
            )[:5],
        }
        return ScenarioResult(
            f"{n} concurrent submissions",
            f"{n} submissions at once against one daemon (--max-streams "
            f"{max_streams or 'default'}, default quotas): {cli_n} `regaudit-client audit "
            f"fairness` processes and {protocol_n} signed protocol clients in threads (own CKKS "
            f"keys each, signing as {SUBMITTER_IDENTITIES} client identities; {SUBMISSION_ROWS} "
            "rows); refusals with a retry hint retried after it; every "
            "bundle verified, every protocol result decrypted and checked against the oracle",
            "0 failed for good, 0 lost, all bundles verify, all results correct; daemon never "
            "crashed",
            f"{cli_ok + protocol_ok}/{n} succeeded ({queued} queued after a refusal: "
            f"{dict(refusals)}), {failed} failed, {lost} lost, {sum(verdicts)}/{cli_n} bundles "
            f"verified, {protocol_ok}/{protocol_n} results correct; daemon tree peak RSS "
            f"{memory['peak_tree_sum_mb']:.0f} MB (daemon {memory['peak_root_mb']:.0f} MB, "
            f"largest worker {memory['peak_child_hwm_max_mb']:.0f} MB); median wall "
            f"{numbers['wall_s']['median']:.0f} s",  # type: ignore[index]
            green,
            numbers,
            time.monotonic() - began,
        )
    finally:
        daemon.stop()
