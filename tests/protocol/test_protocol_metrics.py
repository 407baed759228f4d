"""Prometheus metrics (``serve --metrics-listen``): a real daemon with its metrics on
``127.0.0.1:0`` (the bound address is the ``metrics`` field of ``evaluator_started``), scraped
over HTTP before and after a real audit (client and regulator as processes) and a refused
unsigned call:

* the output parses with ``prometheus_client.parser.text_string_to_metric_families``;
* ``jobs_finished_total{primitive="fairness",outcome="succeeded"}`` goes up by exactly 1,
  ``rpcs_total`` for SubmitJob and GetResult (code OK) go up, the job's duration is observed,
  received bytes of both kinds grow, the store's jobs and bytes and the live workers show;
* an unsigned call shows in ``refusals_total{reason="unauthenticated"}`` and
  ``rpcs_total{code="UNAUTHENTICATED"}``, and a normal call works right after it;
* a malformed or busy ``--metrics-listen`` stops ``serve`` with exit 2 ``invalid_input``.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.cli import ROOT, cli
from support.daemon import start_evaluator, stop_evaluator
from support.parties import Parties, make_identities

from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
from regaudit.shared.protocol import GRPC_OPTIONS, error_from_rpc

SAMPLE_CSV = ROOT / "examples" / "data" / "fairness-sample.csv"
CSV_COLUMNS = ("--y-true", "y_true", "--y-pred", "y_pred", "--group", "group")
SMALL_PROFILE = ("--profile", "ckks-n8192-d3-v1")
WORKERS = 2
PREFIX = "regaudit_evaluator_"

#: One scrape: (sample name without the prefix, sorted label pairs) -> value.
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class MetricsDaemon:
    parties: Parties
    metrics_address: str

    def scrape(self) -> Samples:
        with urllib.request.urlopen(f"http://{self.metrics_address}/metrics", timeout=10) as r:
            assert r.status == 200
            text = r.read().decode()
        samples: Samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.startswith(PREFIX):
                    key = (sample.name.removeprefix(PREFIX), tuple(sorted(sample.labels.items())))
                    samples[key] = sample.value
        return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value (0 if absent: a labelled counter appears once it counted)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def started_event(log: Path) -> dict[str, object]:
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == "evaluator_started":
                assert isinstance(record, dict)
                return record
    raise AssertionError(f"no evaluator_started event in {log}:\n{log.read_text()}")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetricsDaemon]:
    root = tmp_path_factory.mktemp("metrics")
    identities = make_identities(root)
    process, address = start_evaluator(
        identities.evaluator, root / "store", "--workers", str(WORKERS),
        "--metrics-listen", "127.0.0.1:0", "--log-format", "json",
    )  # fmt: skip
    parties = Parties(
        identities.root,
        identities.regulator,
        identities.evaluator,
        identities.client,
        identities.trust,
        address,
        process,
    )
    try:
        started = started_event(root / "store.log")
        metrics_address = started["metrics"]
        assert isinstance(metrics_address, str) and metrics_address.startswith("127.0.0.1:")
        assert not metrics_address.endswith(":0") and metrics_address != address
        yield MetricsDaemon(parties, metrics_address)
    finally:
        stop_evaluator(process)


def unsigned_call(address: str) -> None:
    """HasEvaluationKeys without a request signature: UNAUTHENTICATED ``unauthenticated``."""
    with grpc.insecure_channel(address, options=list(GRPC_OPTIONS)) as channel:
        stub = pb_grpc.EvaluatorStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.HasEvaluationKeys(pb.HasEvaluationKeysRequest(digest="sha256:" + "0" * 64))
    error = error_from_rpc(info.value)
    assert (error.grpc_code, error.reason) == ("UNAUTHENTICATED", "unauthenticated"), error
    with grpc.insecure_channel(address, options=list(GRPC_OPTIONS)) as channel:
        reply = pb_grpc.EvaluatorStub(channel).GetCapabilities(pb.GetCapabilitiesRequest())
    assert reply.protocol_version  # a normal call right after: still serving


def test_scrape_parses_and_reports_the_store_and_workers(daemon: MetricsDaemon) -> None:
    samples = daemon.scrape()
    assert value(samples, "worker_processes") == WORKERS
    assert value(samples, "store_bytes") > 0  # (the job database at least)
    assert value(samples, "queue_depth") == 0
    for state in ("receiving", "queued", "running", "succeeded", "failed"):
        assert ("jobs", (("state", state),)) in samples


def test_refused_unsigned_call_is_counted_and_the_daemon_keeps_serving(
    daemon: MetricsDaemon,
) -> None:
    before = daemon.scrape()
    unsigned_call(daemon.parties.address)
    after = daemon.scrape()
    refused = {"reason": "unauthenticated"}
    assert (
        value(after, "refusals_total", **refused) == value(before, "refusals_total", **refused) + 1
    )
    code = {"method": "HasEvaluationKeys", "code": "UNAUTHENTICATED"}
    assert value(after, "rpcs_total", **code) == value(before, "rpcs_total", **code) + 1
    ok = {"method": "GetCapabilities", "code": "OK"}
    assert value(after, "rpcs_total", **ok) == value(before, "rpcs_total", **ok) + 1
    duration = {"method": "GetCapabilities"}
    assert value(after, "rpc_duration_seconds_count", **duration) >= 1


def test_an_audit_moves_the_job_rpc_and_byte_counters(
    daemon: MetricsDaemon, tmp_path: Path
) -> None:
    before = daemon.scrape()
    bundle = tmp_path / "audit.bundle"
    audited = daemon.parties.audit(SAMPLE_CSV, bundle, *CSV_COLUMNS, *SMALL_PROFILE)
    assert audited.returncode == 0, audited.stderr
    verified = daemon.parties.verify(bundle)
    assert verified.returncode == 0, verified.stderr
    after = daemon.scrape()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    succeeded = {"primitive": "fairness", "outcome": "succeeded", "reason": ""}
    assert grew("jobs_finished_total", **succeeded) == 1
    assert not any(name == "jobs_finished_total" and ("outcome", "failed") in labels
                   for name, labels in after)  # fmt: skip
    assert grew("job_duration_seconds_count", primitive="fairness") == 1
    assert grew("job_duration_seconds_sum", primitive="fairness") > 0
    assert grew("rpcs_total", method="SubmitJob", code="OK") == 1
    assert grew("rpcs_total", method="GetResult", code="OK") >= 1
    assert grew("rpc_duration_seconds_count", method="SubmitJob") == 1
    assert grew("received_bytes_total", kind="ciphertexts") > 0
    assert value(after, "received_bytes_total", kind="evaluation_keys") > 0
    assert grew("jobs", state="succeeded") == 1
    assert value(after, "queue_depth") == 0 and value(after, "jobs", state="running") == 0
    assert value(after, "store_bytes") > value(before, "store_bytes")
    assert value(after, "worker_processes") == WORKERS
    # labels hold no identifiers: no job, audit or client id, digest or peer
    for _name, labels in after:
        assert {key for key, _ in labels} <= {"method", "code", "reason", "primitive",
                                              "outcome", "kind", "state", "le",
                                              "quota", "scope"}  # fmt: skip


def test_metrics_listen_refusals_exit_2(tmp_path: Path) -> None:
    identities = make_identities(tmp_path)
    base = ("serve", "--listen", "127.0.0.1:0", "--identity", identities.evaluator,
            "--workers", "1")  # fmt: skip
    malformed = cli("evaluator", *base, "--metrics-listen", "no-port")
    assert malformed.returncode == 2, malformed.stderr
    assert "--metrics-listen must be HOST:PORT" in malformed.stderr
    assert "[invalid_input]" in malformed.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = cli("evaluator", *base, "--metrics-listen", f"127.0.0.1:{port}")
    assert busy.returncode == 2, busy.stderr
    assert f"metrics address 127.0.0.1:{port} is already in use" in busy.stderr
