"""Attack 1: a cheating evaluator turns the published report into a decryption oracle.

With only the evaluation keys and the uploaded ciphertexts, an evaluator can build an output at
the right level and scale that passes every ciphertext check and decodes to a plausible fairness
report in which group 0's count is one chosen row's ``y_true``. Reproduced here with a real
daemon (real gRPC on loopback, real SEAL, real worker processes) whose executor replaces the
honest output with that forgery. The regulator's decoder alone cannot tell (shown below); the
client, which holds the key and the data, now decrypts every output, compares it with its own
plaintext run of the circuit, and refuses: no bundle, no sealed key, reason
``evaluator_output_mismatch``.
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from regaudit.client import audit as client_audit
from regaudit.evaluator.executors import Executor
from regaudit.evaluator.jobs import new_executor
from regaudit.evaluator.server import create_server
from regaudit.evaluator.tasks import BatchTask, FinalizeTask
from regaudit.secretkey.ckks import SecretKeyDecryptor
from regaudit.secretkey.sealing import RegulatorKeys
from regaudit.shared.algebra import strided_sum
from regaudit.shared.ckks import CkksBackend, EvaluationKeys, load_evaluation_keys
from regaudit.shared.errors import EvaluatorOutputMismatchError
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.planning import make_plan
from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
from regaudit.shared.primitives.fairness.inputs import parse as parse_fairness_input
from regaudit.shared.primitives.fairness.layout import block_width, output_scale
from regaudit.shared.primitives.fairness.report import decode
from regaudit.shared.profiles import get_profile

ROWS = 64


class ForgingExecutor:
    """The real local pool, except that after the honest finalize it overwrites output 0 with
    ``strided_sum(S * e_row * y_true)``: every count is 0 but group 0's, which is row ``row``'s
    label -- at the output level and scale, built with the job's own evaluation keys."""

    def __init__(self, inner: Executor, row: int) -> None:
        self.inner = inner
        self.row = row

    def submit_batch(self, task: BatchTask) -> Future[Any]:
        return self.inner.submit_batch(task)

    def submit_finalize(self, task: FinalizeTask) -> Future[Any]:
        honest = self.inner.submit_finalize(task)
        forged: Future[Any] = Future()

        def done(future: Future[Any]) -> None:
            try:
                result = future.result()
                forge(task, result.output_files[0], self.row)
                forged.set_result(result)
            except BaseException as exc:  # noqa: BLE001 - handed to the daemon
                forged.set_exception(exc)

        honest.add_done_callback(done)
        return forged

    def worker_pids(self) -> list[int]:
        return self.inner.worker_pids()

    def shutdown(self) -> None:
        self.inner.shutdown()


def forge(task: FinalizeTask, output_file: str, row: int) -> None:
    """What a cheating evaluator can compute from evaluation keys and inputs alone."""
    profile = get_profile(task.profile_name)
    keys = EvaluationKeys(
        profile_name=task.keys.profile_name,
        relin_keys=Path(task.keys.relin_path).read_bytes(),
        galois_keys=Path(task.keys.galois_path).read_bytes(),
        galois_steps=task.keys.galois_steps,
    )
    backend = CkksBackend(profile, load_evaluation_keys(profile, keys, required_steps=()))
    circuit = FairnessCircuit()
    public = circuit.validate_public(task.public)
    plan = make_plan(circuit, public, rows=task.rows, profile=profile)
    # upload order: the canary (input 0), then chunk 0's columns in plan order
    y_true_file = Path(task.canary_file).with_name(f"{1 + plan.columns.index('y_true'):07d}.ct")
    y_true = backend.load(y_true_file.read_bytes(), level=plan.input_level)
    width = block_width(len(public["groups"]))
    mask = np.zeros(profile.slot_count)
    mask[row] = output_scale(task.rows)  # row % width == 0: lands on group 0's count
    picked = backend.multiply_plain(y_true, mask)
    spread = strided_sum(backend, picked, stride=width, count=profile.slot_count // width)
    Path(output_file).write_bytes(backend.align(spread, plan.output_level).to_bytes())


@pytest.fixture
def audit_input() -> Any:
    rng = np.random.default_rng(64)
    group_a = rng.integers(0, 2, ROWS)
    payload = {
        "y_true": rng.integers(0, 2, ROWS).tolist(),
        "y_pred": rng.integers(0, 2, ROWS).tolist(),
        "group_a": group_a.tolist(),
        "group_b": (1 - group_a).tolist(),
        "threshold": 0.1,
    }
    return parse_fairness_input(payload)


@pytest.mark.parametrize("row", [8, 16])  # labels 0 and 1 in this data
def test_forged_output_is_caught_by_the_client(
    tmp_path: Path, audit_input: Any, row: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = SigningIdentity.generate("evaluator")
    executor = ForgingExecutor(new_executor(1), row=row)
    server, port = create_server(
        "127.0.0.1:0", identity=identity, store_path=tmp_path / "store", executor=executor
    )
    server.start()
    seen: dict[str, Any] = {}
    real_check = client_audit._check_evaluator_outputs

    def spy(circuit: Any, plan: Any, public: Any, data: Any, keys: Any, *rest: Any) -> None:
        # what the regulator would have decoded from the forged output, had the client signed
        decryptor = SecretKeyDecryptor.from_bytes(plan.profile, keys.secret_key_bytes())
        outputs = rest[0]
        values = [decryptor.decrypt(o, level=plan.output_level) for o in outputs]
        seen["report"] = decode(values, public, plan.rows)
        real_check(circuit, plan, public, data, keys, *rest)

    monkeypatch.setattr(client_audit, "_check_evaluator_outputs", spy)
    out = tmp_path / "audit.bundle.json"
    try:
        with pytest.raises(EvaluatorOutputMismatchError) as info:
            client_audit.run_audit(
                "fairness",
                audit_input,
                evaluator=f"127.0.0.1:{port}",
                regulator_card=RegulatorKeys.generate().card(
                    signer=SigningIdentity.generate("regulator")
                ),
                identity=SigningIdentity.generate("client"),
                out=out,
                identity_dir=tmp_path / "client",
                workers=1,
            )
    finally:
        server.stop(grace=1)
    # the attack is real: the forged output decodes to a plausible report whose group 0
    # count is the chosen row's label, every other count 0
    report = seen["report"]
    label = int(audit_input.columns()["y_true"][row])
    assert _group_count(report["groups"], "group_a") == label
    assert _group_count(report["groups"], "group_b") == 0
    assert label == {8: 0, 16: 1}[row]
    # ... and the client caught it before sealing or signing anything
    assert info.value.reason == "evaluator_output_mismatch"
    assert info.value.exit_code == 1
    assert "output 0 slot" in str(info.value)
    assert not out.exists()
    assert not (tmp_path / "client" / "audits").exists()  # no openings, nothing committed


def _group_count(groups: dict[str, Any], name: str) -> int:
    """The decoded size of group ``name`` from a fairness report's ``groups``."""
    return int(groups[name]["count"])
