"""One audit through the three real processes: a client driver, then ``regaudit-regulator verify``.

Both end-to-end benchmarks (fairness, the other primitives) run each audit this way against an
evaluator daemon of :class:`harness.EvaluatorDaemon` and keep the same receipt figures.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from harness import (
    EvaluatorDaemon,
    JsonObject,
    Parties,
    ProcessRun,
    last_json_line,
    role_cli,
    run_process,
)
from process_trees import MemorySampler, TreeSummary

__all__ = ["AuditSite", "VerifiedAudit", "fresh_daemon", "receipt_window", "run_and_verify"]


def fresh_daemon(parties: Parties, directory: Path) -> EvaluatorDaemon:
    """An evaluator daemon with a fresh store (and its log) in ``directory``."""
    return EvaluatorDaemon(parties.evaluator, directory / "store", log=directory / "evaluator.log")


def receipt_window(evaluator: JsonObject) -> float | None:
    """Seconds from the receipt's ``started_at`` to its ``finished_at`` (None if unreadable)."""
    try:
        start = datetime.fromisoformat(evaluator["started_at"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(evaluator["finished_at"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return (end - start).total_seconds()


@dataclass(frozen=True)
class AuditSite:
    """Where one data set's audits run: the parties, their evaluator daemon, the directory of
    the bundles and process logs, and the sampler of the process trees."""

    parties: Parties
    daemon: EvaluatorDaemon
    directory: Path
    sampler: MemorySampler


@dataclass(frozen=True)
class VerifiedAudit:
    """A finished client driver run and the regulator's verification of its bundle."""

    client: ProcessRun
    #: the driver's JSON line (timings, bytes, peak memory)
    client_record: JsonObject
    regulator: ProcessRun
    #: ``verify --json``'s output
    verdict: JsonObject
    #: the evaluator daemon's tree while the client ran
    evaluator_memory: TreeSummary
    loadavg_1min_before: float
    #: the bundle's plan
    plan: JsonObject

    @property
    def evidence(self) -> JsonObject:
        """The verdict's ``evidence`` section."""
        evidence: JsonObject = self.verdict["evidence"]
        return evidence

    def receipt_checks(self) -> JsonObject:
        """Depth, operation counts observed (receipt) vs planned (bundle), profile, canary."""
        evidence = self.evidence
        return {
            "depth": evidence["depth"],
            "operation_counts_observed": evidence["operation_counts"],
            "operation_counts_planned": self.plan["operation_counts"],
            "operation_counts_match": evidence["operation_counts"] == self.plan["operation_counts"],
            "profile": evidence["profile"]["name"],
            # the regulator releases the canary as passed/failed only (no raw decryption)
            "canary_passed": evidence.get("canary", {}).get("passed"),
        }


def run_and_verify(
    label: str,
    command: Sequence[str | Path],
    *,
    bundle: Path,
    site: AuditSite,
    after_client: Callable[[], None] | None = None,
) -> VerifiedAudit:
    """Run the client driver ``command`` (it writes ``bundle``) while sampling the daemon's
    tree, call ``after_client``, then verify the bundle as the regulator; a failed client or
    an unverified bundle raises RuntimeError."""
    parties, directory, sampler = site.parties, site.directory, site.sampler
    load_before = os.getloadavg()[0]
    evaluator_tree = sampler.watch(site.daemon.pid, "evaluator")
    client = run_process(command, workdir=directory, name=f"{label}-client", sampler=sampler)
    sampler.unwatch(evaluator_tree)
    if after_client is not None:
        after_client()
    if client.returncode != 0:
        raise RuntimeError(f"client failed ({client.returncode}):\n{client.stderr[-4000:]}")
    client_record = last_json_line(client.stdout)
    regulator = run_process(
        role_cli(
            "regulator", "verify", bundle, "--identity", parties.regulator,
            "--trust", parties.trust, "--json",
        ),
        workdir=directory,
        name=f"{label}-regulator",
        sampler=sampler,
    )  # fmt: skip
    verdict = last_json_line(regulator.stdout)
    if regulator.returncode != 0 or not verdict.get("verified"):
        raise RuntimeError(f"verification failed: {verdict}\n{regulator.stderr[-2000:]}")
    plan: JsonObject = json.loads(bundle.read_text())["plan"]
    return VerifiedAudit(
        client=client,
        client_record=client_record,
        regulator=regulator,
        verdict=verdict,
        evaluator_memory=evaluator_tree.summary(),
        loadavg_1min_before=load_before,
        plan=plan,
    )
