"""Signed requests and per-identity authorization against a real daemon process
(``regaudit-evaluator serve --client-allowlist TRUST.json --allow-client ...``):

* unsigned SubmitJob, WatchJob, GetResult, HasEvaluationKeys and UploadEvaluationKeys are
  refused UNAUTHENTICATED ``unauthenticated``; replayed (same nonce) and stale requests too;
* a signed client not on the allow-list: PERMISSION_DENIED ``client_not_allowed`` (raw calls
  and the client CLI, exit 3), while an allowed client completes a real audit end to end;
* a second allowed client watching or fetching the victim's job gets NOT_FOUND
  ``unknown_job`` exactly as for a job that does not exist; the victim still fetches it;
* a job header signed by another key than the call: PERMISSION_DENIED;
* serving a non-loopback address without an allow-list exits 2 before binding.

The daemon answers GetCapabilities after every refusal.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from support.cli import ROOT, cli
from support.daemon import start_evaluator, stop_evaluator
from support.jobs import FairnessJob
from support.parties import Parties, make_identities
from support.signing import CLIENT, connect, signed

from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
from regaudit.shared.errors import RegauditError
from regaudit.shared.evidence.canonical import utc_now
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.protocol import (
    GRPC_OPTIONS,
    JobState,
    error_from_rpc,
    method_path,
    request_metadata,
)

SAMPLE_CSV = ROOT / "examples" / "data" / "fairness-sample.csv"
CSV_COLUMNS = ("--y-true", "y_true", "--y-pred", "y_pred", "--group", "group")
#: A second allowed client (the "attacker" of the authorization tests).
OTHER = SigningIdentity.generate("client")
#: A signed client that is on no allow-list.
STRANGER = SigningIdentity.generate("client")
Metadata = list[tuple[str, str]] | None


@dataclasses.dataclass
class Setup:
    parties: Parties
    victim_job: str
    digest: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("authn")
    identities = make_identities(root)
    other_dir = root / "other"
    OTHER.save(other_dir)
    daemon, address = start_evaluator(
        identities.evaluator,
        root / "store",
        "--client-allowlist", str(identities.trust),  # the CLI client ("trust add")
        "--allow-client", CLIENT.key_id,  # the tests' client, by key id
        "--allow-client", str(other_dir / "client.pub.json"),  # by public key file
    )  # fmt: skip
    parties = Parties(
        identities.root,
        identities.regulator,
        identities.evaluator,
        identities.client,
        identities.trust,
        address,
        daemon,
    )
    try:
        job = FairnessJob(rows=64, seed=7)
        job_id, state, reason = job.submit(address)
        assert state is JobState.SUCCEEDED, reason
        yield Setup(parties, job_id, job.digest)
    finally:
        stop_evaluator(daemon)


def raw_error(address: str, call: str, request: Any, metadata: Metadata) -> RegauditError:
    """Call RPC ``call`` with a raw stub; return the regaudit error it failed with."""
    with grpc.insecure_channel(address, options=list(GRPC_OPTIONS)) as channel:
        method = getattr(pb_grpc.EvaluatorStub(channel), call)
        with pytest.raises(grpc.RpcError) as info:
            reply = method(request, timeout=30, metadata=metadata)
            if call in ("WatchJob", "GetResult"):
                list(reply)
    return error_from_rpc(info.value)


def assert_refused(error: RegauditError, code: str, reason: str) -> None:
    assert error.grpc_code == code, (error.grpc_code, error)
    assert error.reason == reason, error


def still_serving(address: str) -> None:
    with connect(address, identity=STRANGER) as connection:
        assert ("fairness", "1") in connection.capabilities().circuits


def calls(job_id: str, digest: str) -> list[tuple[str, Any]]:
    """Every authenticated RPC with a request (streams as iterators of one message)."""
    header = pb.SubmitJobRequest(header=pb.JobHeader())
    keys = pb.UploadEvaluationKeysRequest(header=pb.EvaluationKeysHeader())
    return [
        ("SubmitJob", iter([header])),
        ("WatchJob", pb.WatchJobRequest(job_id=job_id)),
        ("GetResult", pb.GetResultRequest(job_id=job_id)),
        ("HasEvaluationKeys", pb.HasEvaluationKeysRequest(digest=digest)),
        ("UploadEvaluationKeys", iter([keys])),
    ]


def test_unsigned_calls_are_unauthenticated(setup: Setup) -> None:
    address = setup.parties.address
    for call, request in calls(setup.victim_job, setup.digest):
        assert_refused(
            raw_error(address, call, request, None), "UNAUTHENTICATED", "unauthenticated"
        )
        still_serving(address)


def test_a_signature_for_another_call_or_job_is_refused(setup: Setup) -> None:
    address = setup.parties.address
    # signed for WatchJob, used on GetResult; signed for another job id
    for call, metadata in (
        ("GetResult", signed("WatchJob", setup.victim_job)),
        ("GetResult", signed("GetResult", "another-job")),
    ):
        request = pb.GetResultRequest(job_id=setup.victim_job)
        assert_refused(
            raw_error(address, call, request, metadata), "UNAUTHENTICATED", "unauthenticated"
        )
    still_serving(address)


def test_replayed_and_stale_requests_are_refused(setup: Setup) -> None:
    address = setup.parties.address
    method = method_path("HasEvaluationKeys")
    request = pb.HasEvaluationKeysRequest(digest=setup.digest)
    once = request_metadata(CLIENT, method, "")
    with grpc.insecure_channel(address, options=list(GRPC_OPTIONS)) as channel:
        stub = pb_grpc.EvaluatorStub(channel)
        # answered (the job's keys may be deleted already: retention)
        stub.HasEvaluationKeys(request, timeout=30, metadata=once)
    replayed = raw_error(address, "HasEvaluationKeys", request, once)
    assert_refused(replayed, "UNAUTHENTICATED", "unauthenticated")
    assert "replayed" in replayed.message
    still_serving(address)
    for skew in (timedelta(hours=-1), timedelta(hours=1)):
        stale = request_metadata(CLIENT, method, "", now=utc_now() + skew)
        error = raw_error(address, "HasEvaluationKeys", request, stale)
        assert_refused(error, "UNAUTHENTICATED", "unauthenticated")
        assert error.field == "regaudit-request-time"
        still_serving(address)


def test_client_not_on_the_allow_list_is_refused(setup: Setup) -> None:
    address = setup.parties.address
    for call, request in calls(setup.victim_job, setup.digest):
        subject = setup.victim_job if call in ("WatchJob", "GetResult") else ""
        metadata = signed(call, subject, identity=STRANGER)
        error = raw_error(address, call, request, metadata)
        assert_refused(error, "PERMISSION_DENIED", "client_not_allowed")
        still_serving(address)


def test_another_client_cannot_watch_or_fetch_the_victims_job(setup: Setup) -> None:
    address = setup.parties.address
    with connect(address, identity=OTHER) as attacker:
        seen = []
        for job_id in (setup.victim_job, "f" * 32):  # the victim's job, and no job at all
            for call in (attacker.fetch_result, lambda j: list(attacker.watch_job(j))):
                with pytest.raises(RegauditError) as info:
                    call(job_id)
                error = info.value
                seen.append((error.grpc_code, error.reason, error.message.replace(job_id, "ID")))
    assert {s[:2] for s in seen} == {("NOT_FOUND", "unknown_job")}
    assert seen[:2] == seen[2:]  # indistinguishable from a job that does not exist
    still_serving(address)
    with connect(address) as victim:
        result = victim.fetch_result(setup.victim_job)
        assert result.job_id == setup.victim_job and result.outputs
        assert victim.wait_for_job(setup.victim_job).state is JobState.SUCCEEDED


def test_a_header_of_another_client_is_refused(setup: Setup) -> None:
    """An allowed client cannot submit a job in another client's name (its signed header)."""
    address = setup.parties.address
    job = FairnessJob(rows=16, seed=3)
    with connect(address, identity=OTHER) as other:
        other.upload_evaluation_keys(job.keys.evaluation_keys())
        with pytest.raises(RegauditError) as info:
            other.submit_job(job.header(), iter(job.ciphertexts))  # signed by CLIENT
    assert_refused(info.value, "PERMISSION_DENIED", "client_not_allowed")
    still_serving(address)


def test_allowed_client_audits_end_to_end_and_a_stranger_is_refused(
    setup: Setup, tmp_path: Path
) -> None:
    parties = setup.parties
    bundle = tmp_path / "audit.bundle"
    audited = parties.audit(SAMPLE_CSV, bundle, *CSV_COLUMNS, "--quiet")
    assert audited.returncode == 0, audited.stderr
    assert json.loads(parties.verify(bundle).stdout)["verified"] is True
    stranger_dir = tmp_path / "stranger"
    cli("client", "init", stranger_dir, check=True)
    stranger = dataclasses.replace(parties, client=stranger_dir)
    refused = stranger.audit(SAMPLE_CSV, tmp_path / "refused.bundle", *CSV_COLUMNS, "--quiet")
    assert refused.returncode == 3, refused.stderr
    assert "client_not_allowed" in refused.stderr and "refused" in refused.stderr
    assert not (tmp_path / "refused.bundle").exists()
    still_serving(parties.address)


def test_non_loopback_without_allow_list_exits_2(setup: Setup, tmp_path: Path) -> None:
    identity = setup.parties.evaluator
    # TLS files are only read before the refusal (it comes before any credentials or binding)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("not used\n")
    key.write_text("not used\n")
    tls = ("--tls-cert", cert, "--tls-key", key)
    base = ("evaluator", "serve", "--listen", "0.0.0.0:0", "--identity", identity)
    refused = cli(*base, "--store", tmp_path / "store", *tls)
    assert refused.returncode == 2, refused.stderr
    assert re.search(r"refusing to serve non-loopback address '0\.0\.0\.0'", refused.stderr)
    assert "--allow-any-client" in refused.stderr
    bad = cli(*base, "--store", tmp_path / "store", *tls, "--allow-client", "not-a-key")
    assert bad.returncode == 2 and "neither a 64-hex key id nor a file" in bad.stderr
    both = cli(*base, *tls, "--allow-any-client", "--allow-client", CLIENT.key_id)
    assert both.returncode == 2 and "exclude each other" in both.stderr
    still_serving(setup.parties.address)
