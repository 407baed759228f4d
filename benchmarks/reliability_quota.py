"""The quota scenario of the reliability benchmark: one hostile client identity floods a daemon
that runs with ``serve``'s default quotas, while a second identity runs a real audit.

The hostile client (its own Ed25519 key, correctly signed requests, its evaluation keys
uploaded) runs ``HOSTILE_THREADS`` threads that submit jobs as fast as they can, each admitted
job holding its stream open until the end (a job that never finishes uploading), and
``KEY_FLOOD_THREADS`` threads that open key uploads declaring ~110 MB each and then send
nothing. It never waits for a retry hint. Meanwhile the parties' client runs
``regaudit-client audit fairness`` (and the regulator verifies the bundle), a prober times
``GetCapabilities``, and the daemon's process tree is sampled. Before the flood the same audit
runs alone, for comparison.

Expected: every hostile attempt beyond the quotas is refused (RESOURCE_EXHAUSTED
``quota_exceeded`` or ``rate_limited``) with a retry hint; the hostile client never holds more
jobs than ``--max-jobs-per-client``; the victim's audit succeeds and verifies; the daemon keeps
serving (a normal audit after the flood), its store consistent.
"""

from __future__ import annotations

import secrets
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from harness import JsonObject, Parties
from process_trees import MemorySampler
from reliability_crashes import fairness_input
from reliability_support import (
    Daemon,
    ScenarioResult,
    run_client_audit,
    store_integrity,
    verify_bundle,
)

from regaudit.shared.errors import RegauditError
from regaudit.shared.evidence.identity import SigningIdentity

__all__ = ["HOSTILE_THREADS", "KEY_FLOOD_THREADS", "hostile_client_quotas"]

#: Hostile submission threads and flood seconds: (quick, full).
HOSTILE_THREADS = {True: 16, False: 64}
FLOOD_S = {True: 20.0, False: 60.0}
#: Hostile threads holding key uploads that declare ``KEY_FLOOD_GALOIS_BYTES`` and send nothing.
KEY_FLOOD_THREADS = 4
KEY_FLOOD_GALOIS_BYTES = 110_000_000
#: Rows of the victim's audit.
VICTIM_ROWS = 2_000
#: How often the prober calls GetCapabilities during the flood (seconds).
PROBE_INTERVAL_S = 0.2
#: Deadline of one hostile call (an admitted one is held until the flood ends; seconds).
HOSTILE_CALL_S = 300.0


#: Refusals (the daemon did not take the call); any other end of a hostile call means it had
#: been admitted and ended when the flood did (or when its stall timer fired).
REFUSALS = frozenset({"quota_exceeded", "rate_limited", "server_busy"})


@dataclass
class Flood:
    """What the hostile client saw."""

    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    attempts: int = 0
    admitted: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    hints: dict[str, list[float]] = field(default_factory=dict)
    unhinted: Counter[str] = field(default_factory=Counter)

    def record(self, rpc: str, error: RegauditError) -> None:
        key = f"{error.reason}:{error.field}" if error.field else error.reason
        with self.lock:
            self.attempts += 1
            if error.reason not in REFUSALS:
                self.admitted[f"{rpc} ({error.reason})"] += 1
                return
            self.refusals[key] += 1
            if error.retry_after_s is None or error.grpc_code != "RESOURCE_EXHAUSTED":
                self.unhinted[key] += 1
            else:
                self.hints.setdefault(key, []).append(float(error.retry_after_s))


def _hostile_calls(
    address: str, client: SigningIdentity, rpc: str, first: Callable[[], object], flood: Flood
) -> None:
    """Call ``rpc`` (SubmitJob or UploadEvaluationKeys) again and again, never waiting for a
    retry hint: ``first()`` (a header), then nothing until the call ends or the flood stops."""
    from support.signing import signed

    from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
    from regaudit.shared.protocol import GRPC_OPTIONS, error_from_rpc

    with grpc.insecure_channel(address, options=list(GRPC_OPTIONS)) as channel:
        stub = pb_grpc.EvaluatorStub(channel)  # type: ignore[no-untyped-call]
        method = getattr(stub, rpc)
        while not flood.stop.is_set():
            ended = threading.Event()

            def messages(ended: threading.Event = ended) -> Iterator[object]:
                yield first()
                while not (flood.stop.is_set() or ended.is_set()):
                    ended.wait(0.1)

            future = method.future(
                messages(), metadata=signed(rpc, identity=client), timeout=HOSTILE_CALL_S
            )
            future.add_done_callback(lambda _f, ended=ended: ended.set())
            try:
                future.result()
            except grpc.RpcError as exc:
                flood.record(rpc, error_from_rpc(exc))
            finally:
                ended.set()


def _held_peak(daemon: Daemon, client: SigningIdentity) -> int:
    """The most jobs of ``client`` that had not ended at once, from the daemon's events."""
    mine = client.key_id[:16]
    held: set[str] = set()
    peak = 0
    for event in daemon.events():
        job_id = str(event.get("job_id"))
        if event.get("event") == "job_admitted" and event.get("client_key_id") == mine:
            if not event.get("deduplicated"):
                held.add(job_id)
                peak = max(peak, len(held))
        elif event.get("event") in ("job_failed", "job_succeeded"):
            held.discard(job_id)
    return peak


def _probe(address: str, flood: Flood, latencies: list[float]) -> None:
    from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
    from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
    from regaudit.shared.protocol import GRPC_OPTIONS

    with grpc.insecure_channel(address, options=list(GRPC_OPTIONS)) as channel:
        stub = pb_grpc.EvaluatorStub(channel)  # type: ignore[no-untyped-call]
        while not flood.stop.wait(PROBE_INTERVAL_S):
            began = time.monotonic()
            try:
                stub.GetCapabilities(pb.GetCapabilitiesRequest(), timeout=10)
                latencies.append(time.monotonic() - began)
            except grpc.RpcError:
                latencies.append(float("inf"))


def hostile_client_quotas(parties: Parties, root: Path, *, quick: bool) -> ScenarioResult:
    """One hostile identity floods a default-quota daemon while another audits."""
    from support.quota_daemon import ClientJob, key_header

    from regaudit.evaluator.quota_limits import DEFAULT_JOBS_PER_CLIENT
    from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb

    began = time.monotonic()
    threads_n, flood_s = HOSTILE_THREADS[quick], FLOOD_S[quick]
    daemon = Daemon(parties, root / "quota-store").start()
    flood = Flood()
    latencies: list[float] = []
    try:
        input_file = fairness_input(root / "quota.json", VICTIM_ROWS, seed=71)
        alone = run_client_audit(parties, daemon.address, input_file, root / "quota-alone")
        hostile = ClientJob(SigningIdentity.generate("client"), rows=VICTIM_ROWS, seed=72)
        hostile.upload_keys(daemon.address)

        def job_header() -> object:
            header = hostile.header(idempotency_key=secrets.token_hex(8))
            return pb.SubmitJobRequest(header=header.to_proto())

        def keys_header() -> object:
            digest = "sha256:" + secrets.token_hex(32)
            return key_header(KEY_FLOOD_GALOIS_BYTES, digest=digest)

        calls = [("SubmitJob", job_header)] * threads_n + [
            ("UploadEvaluationKeys", keys_header)
        ] * KEY_FLOOD_THREADS
        workers = [
            threading.Thread(
                target=_hostile_calls, args=(daemon.address, hostile.client, rpc, first, flood)
            )
            for rpc, first in calls
        ]
        prober = threading.Thread(target=_probe, args=(daemon.address, flood, latencies))
        with MemorySampler() as sampler:
            tree = sampler.watch(daemon.pid, "daemon")
            flood_began = time.monotonic()
            for worker in [*workers, prober]:
                worker.start()
            time.sleep(min(3.0, flood_s / 4))  # (the flood is on before the victim starts)
            victim = run_client_audit(parties, daemon.address, input_file, root / "quota-victim")
            time.sleep(max(0.0, flood_s - (time.monotonic() - flood_began)))
            flood.stop.set()
            for worker in [*workers, prober]:
                worker.join(timeout=120)
            flooded_s = time.monotonic() - flood_began
            memory = tree.summary()
        verified = victim.bundle is not None and verify_bundle(parties, victim.bundle)[0]
        after = run_client_audit(parties, daemon.address, input_file, root / "quota-after")
        integrity = store_integrity(daemon.store)
        held_peak = _held_peak(daemon, hostile.client)
        logged = Counter(
            f"{e.get('reason')}:{e.get('quota')}" for e in daemon.events("quota_refused")
        )
        hints = {
            key: [round(min(values), 3), round(max(values), 3)]
            for key, values in sorted(flood.hints.items())
        }
        finite = [x for x in latencies if x != float("inf")]
        refused = sum(flood.refusals.values())
        capabilities_ms = {
            "median": round(1000 * statistics.median(finite), 2) if finite else None,
            "max": round(1000 * max(finite), 2) if finite else None,
            "failed": len(latencies) - len(finite),
        }
        green = (
            victim.returncode == 0
            and verified
            and after.returncode == 0
            and daemon.alive()
            and integrity == "ok"
            and refused > 0
            and not flood.unhinted
            and held_peak <= DEFAULT_JOBS_PER_CLIENT
            and not capabilities_ms["failed"]
        )
        numbers: JsonObject = {
            "hostile_attempts": flood.attempts,
            "hostile_refused": refused,
            "hostile_jobs_held_peak": held_peak,
            "victim_wall_s": round(victim.wall_s, 2),
            "victim_alone_wall_s": round(alone.wall_s, 2),
            "capabilities_ms": capabilities_ms,
            "refusals_by_reason_and_quota": dict(flood.refusals),
            "retry_hints_s": hints,
            "refusals_without_hint": dict(flood.unhinted),
            "hostile_admitted_then_ended": dict(flood.admitted),
            "quota_refused_events": dict(logged),
            "victim_bundle_verified": verified,
            "victim_reruns_after_hint": victim.busy_refusals,
            "audit_after_flood_exit": after.returncode,
            "store_integrity": integrity,
            "daemon_memory": memory,
            "hostile_threads": threads_n + KEY_FLOOD_THREADS,
            "flood_s": round(flooded_s, 1),
            "victim_output": victim.output[-400:] if victim.returncode else "",
        }
        by_kind = ", ".join(f"{k} {v}" for k, v in flood.refusals.most_common())
        return ScenarioResult(
            "quotas: one hostile client floods",
            f"one hostile client identity ({threads_n} submission threads that never wait for a "
            f"hint, each admitted job's stream held open; {KEY_FLOOD_THREADS} threads holding "
            "key uploads that declare ~110 MB) against a daemon with the default quotas for "
            f"{flood_s:g} s; meanwhile a second identity runs `regaudit-client audit fairness` "
            f"({VICTIM_ROWS} rows), verified by the regulator; GetCapabilities probed",
            "every refusal RESOURCE_EXHAUSTED with a retry hint; hostile jobs held at once <= "
            f"{DEFAULT_JOBS_PER_CLIENT}; the victim's audit succeeds and verifies; a normal "
            "audit after; store integrity ok",
            f"{flood.attempts} hostile calls ({flood.attempts / flooded_s:.0f}/s), {refused} "
            f"refused ({by_kind}), {sum(flood.unhinted.values())} without a hint; hostile jobs "
            f"held at once: {held_peak}; victim audit exit {victim.returncode} in "
            f"{victim.wall_s:.1f} s (alone {alone.wall_s:.1f} s), bundle verified: {verified}; "
            f"GetCapabilities median {capabilities_ms['median']} ms, max "
            f"{capabilities_ms['max']} ms; audit after: exit {after.returncode}; integrity "
            f"{integrity}; daemon tree peak RSS {memory['peak_tree_sum_mb']:.0f} MB",
            green,
            numbers,
            time.monotonic() - began,
        )
    finally:
        flood.stop.set()
        daemon.stop()
