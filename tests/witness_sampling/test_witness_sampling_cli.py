"""A sampled witness from the three command lines: ``regaudit-client audit ... --witness W
--witness-sample F`` against real daemons, then ``regaudit-regulator verify --json``.

The audit verifies and reports the sample and its detection bound; a bundle whose partial
digests were altered afterwards fails with ``partials_root_mismatch``; a primary that alters one
chunk's partial (invisibly to the client's output check) is caught by a witness sampling every
chunk (``witness_disagreement``, exit 1) before anything is signed.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import cli
from support.daemon import stop_evaluator
from support.jobs import fairness_payload
from support.parties import make_identities
from support.witnesses import Witnessed, environment, start_daemon

from regaudit.shared.profiles import PROFILE_N8192_D3

CHUNKS = 6
ROWS = CHUNKS * PROFILE_N8192_D3.slot_count - 50
CHEAT = 4
CHEAT_DIR_NAME = "one-chunk-cheat"
SITECUSTOMIZE = '''
"""Test-only: an evaluator that adds 1e-7 to every slot of one partial accumulator of chunk
REGAUDIT_TEST_CHEAT_CHUNK (hiding the operation from the daemon's count check)."""
import os

_CHEAT = int(os.environ["REGAUDIT_TEST_CHEAT_CHUNK"])


def _install():
    from regaudit.evaluator import chunk_partials

    honest = chunk_partials.chunk_partial

    def cheating(circuit, backend, index, inputs, public):
        partial = honest(circuit, backend, index, inputs, public)
        if index == _CHEAT:
            partial[0] = backend.add_plain(partial[0], 1e-7)
            backend.counts.additions -= 1
        return partial

    chunk_partials.chunk_partial = cheating


_install()
'''


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Witnessed, str]]:
    """A primary, a witness and a one-chunk cheating primary, all trusted by both sides."""
    root = tmp_path_factory.mktemp("sampled-cli")
    ids = make_identities(root)
    witness, cheat = root / "witness", root / "cheat"
    client_trust = root / "client-trust.json"
    for directory in (witness, cheat):
        cli("evaluator", "init", directory, check=True)
        cli("regulator", "trust", "add", directory / "evaluator.pub.json", "--trust", ids.trust,
            check=True)  # fmt: skip
    for pub in (
        ids.evaluator / "evaluator.pub.json",
        witness / "evaluator.pub.json",
        cheat / "evaluator.pub.json",
        ids.regulator / "regulator.pub.json",
    ):
        cli("client", "trust", "add", pub, "--trust", client_trust, check=True)
    input_file = root / "input.json"
    input_file.write_text(json.dumps(fairness_payload(ROWS, 17)))
    cheat_dir = root / CHEAT_DIR_NAME
    cheat_dir.mkdir()
    (cheat_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
    daemons: list[subprocess.Popen[str]] = []
    try:
        primary, primary_address = start_daemon(ids.evaluator, root / "primary-store")
        daemons.append(primary)
        honest, witness_address = start_daemon(witness, root / "witness-store")
        daemons.append(honest)
        with environment(PYTHONPATH=str(cheat_dir), REGAUDIT_TEST_CHEAT_CHUNK=str(CHEAT)):
            cheater, cheat_address = start_daemon(cheat, root / "cheat-store")
        daemons.append(cheater)
        yield (
            Witnessed(
                root=root,
                regulator=ids.regulator,
                client=ids.client,
                primary=ids.evaluator,
                witness=witness,
                cheat=cheat,
                trust=ids.trust,
                client_trust=client_trust,
                input=input_file,
                primary_address=primary_address,
                witness_address=witness_address,
                daemons=daemons,
            ),
            cheat_address,
        )
    finally:
        for daemon in daemons:
            stop_evaluator(daemon)


@pytest.mark.timeout(300)
def test_a_sampled_audit_verifies_and_reports_its_detection_bound(
    parties: tuple[Witnessed, str], tmp_path: Path
) -> None:
    witnessed, _ = parties
    bundle = tmp_path / "bundle.json"
    result = witnessed.audit(
        bundle, "--witness", witnessed.witness_address, "--witness-sample", "0.5"
    )
    assert result.returncode == 0, result.stderr
    # a bundle whose partial-digest list was altered afterwards (verified first: nothing of a
    # failed verification is recorded)
    document = json.loads(bundle.read_text())
    assert len(document["sampling"]["partial_digests"]) == CHUNKS
    tampered = tmp_path / "tampered.json"
    digests = document["sampling"]["partial_digests"]
    digests[0], digests[1] = digests[1], digests[0]
    tampered.write_text(json.dumps(document))
    failed = witnessed.verify(tampered)
    assert (failed["exit"], failed["reason"]) == (1, "partials_root_mismatch"), failed
    # the honest bundle
    verified = witnessed.verify(bundle)
    assert verified["exit"] == 0 and verified["verified"] is True, verified
    evidence = verified["evidence"]
    assert isinstance(evidence, dict)
    [witness] = evidence["witnesses"]["present"]
    assert witness["mode"] == "sampled" and witness["agrees"] is True
    sampling = witness["sampling"]
    assert sampling["k"] == 3 and sampling["n_chunks"] == CHUNKS and len(sampling["chunks"]) == 3
    bound = sampling["detection_bound"]
    assert bound["f=0.1"] == pytest.approx(1 - 0.9**3, abs=1e-4)
    assert bound["one_chunk"] == pytest.approx(1 - (5 / 6) ** 3, abs=1e-4)
    assert set(bound) == {"f=0.01", "f=0.05", "f=0.1", "one_chunk"}


@pytest.mark.timeout(300)
def test_a_one_chunk_cheat_is_caught_by_a_full_sample(
    parties: tuple[Witnessed, str], tmp_path: Path
) -> None:
    witnessed, cheat_address = parties
    bundle = tmp_path / "bundle.json"
    result = witnessed.audit(
        bundle,
        "--witness", witnessed.witness_address,
        "--witness-sample", "1",
        evaluator=cheat_address,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "witness_disagreement" in result.stderr and f"chunk {CHEAT}" in result.stderr
    assert not bundle.exists()


@pytest.mark.timeout(300)
def test_a_one_chunk_cheat_is_caught_by_a_full_witness(
    parties: tuple[Witnessed, str], tmp_path: Path
) -> None:
    """The primary alters one chunk's partial by 1e-7 per slot: its outputs still decode to the
    exact counts (the client's own output check passes), but a full witness's outputs differ."""
    witnessed, cheat_address = parties
    bundle = tmp_path / "bundle.json"
    result = witnessed.audit(
        bundle, "--witness", witnessed.witness_address, evaluator=cheat_address
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "witness_disagreement" in result.stderr
    assert not bundle.exists()


def test_witness_sample_needs_a_witness_and_a_fraction(
    parties: tuple[Witnessed, str], tmp_path: Path
) -> None:
    witnessed, _ = parties
    alone = witnessed.audit(tmp_path / "b.json", "--witness-sample", "0.1")
    assert alone.returncode == 2 and "witness-sample" in alone.stderr
    zero = witnessed.audit(
        tmp_path / "b.json", "--witness", witnessed.witness_address, "--witness-sample", "0"
    )
    assert zero.returncode == 2 and "witness-sample" in zero.stderr
