"""The vendor's side as a library: start an evaluator daemon, create identities, run an
encrypted concordance audit of an in-memory DataFrame against it (no file ever holds the rows)
and write the bundle for the regulator.

    python examples/02_client_to_regulator.py [WORKDIR]     # default: ./example-run

WORKDIR then holds regulator/ (keys + card), trust.json, client/ and concordance.bundle;
``examples/03_regulator_verify.py WORKDIR`` verifies the bundle.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from regaudit.client import frame_input, run_audit
from regaudit.evaluator.server import wait_for_ready_file
from regaudit.secretkey.sealing import RegulatorKeys
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.truststore import TrustStore

START_TIMEOUT_S = 60.0


def start_daemon(identity: Path, store: Path) -> tuple[subprocess.Popen[str], str]:
    """``regaudit-evaluator serve`` on a free loopback port; returns (process, address) once it
    serves (its ``--ready-file`` appears). Its output goes to ``<store>.log``."""
    ready, log = store.with_name(f"{store.name}.ready"), store.with_name(f"{store.name}.log")
    ready.unlink(missing_ok=True)
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "regaudit.evaluator", "serve", "--listen", "127.0.0.1:0",
             "--identity", str(identity), "--store", str(store), "--ready-file", str(ready)],
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        return process, wait_for_ready_file(
            ready, process=process, timeout=START_TIMEOUT_S, output=log
        )
    except BaseException:
        if process.poll() is None:
            process.kill()
        raise


def survival_frame(patients: int = 80) -> pd.DataFrame:
    """A small survival table (lifelines' Rossi data) with a linear risk score, in memory."""
    from lifelines.datasets import load_rossi

    rossi = load_rossi().sample(patients, random_state=2)
    rossi["risk"] = (0.09 * rossi["prio"] - 0.06 * rossi["age"]).round(4)
    return rossi


def main(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    # 1. identities: regulator (HPKE keys + public card), evaluator and client signing keys
    regulator_dir = workdir / "regulator"
    regulator_signer = SigningIdentity.generate("regulator")  # signs the card (and reports)
    RegulatorKeys.generate().save(regulator_dir, signer=regulator_signer, overwrite=True)
    regulator_signer.save(regulator_dir, overwrite=True)
    evaluator_id = SigningIdentity.generate("evaluator")
    evaluator_pub = evaluator_id.save(workdir / "evaluator", overwrite=True)
    client_id = SigningIdentity.generate("client")
    client_id.save(workdir / "client", overwrite=True)
    # 2. the regulator trusts the evaluator and the client
    trust = TrustStore.new_default()
    trust.add_key(evaluator_id.public_record())
    trust.add_key(client_id.public_record())
    trust.save(workdir / "trust.json")
    del evaluator_pub
    # 3. the client audits against a running daemon
    daemon, address = start_daemon(workdir / "evaluator", workdir / "store")
    try:
        # the DataFrame's columns go straight to validation and encryption (no CSV)
        data = frame_input(
            "concordance", survival_frame(), risk="risk", time="week", event="arrest"
        )
        card = RegulatorKeys.load(regulator_dir).card(
            signer=SigningIdentity.load(regulator_dir, kind="regulator")
        )
        outcome = run_audit(
            "concordance",
            data,
            evaluator=address,
            regulator_card=card,
            identity=client_id,
            identity_dir=workdir / "client",
            out=workdir / "concordance.bundle",
            # the client's trust anchors: this evaluator and this regulator only
            pinned_evaluator_key_id=evaluator_id.key_id,
            pinned_regulator_key_id=regulator_signer.key_id,
        )
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    t = outcome.timings
    print(f"bundle {outcome.bundle_path} (audit {outcome.audit_id})")
    print(
        f"{outcome.plan.rows} pair slots, {outcome.ciphertexts} ciphertexts on "
        f"{outcome.plan.profile.name}; total {t.get('total_s', 0):.1f} s"
    )
    return outcome.bundle_path


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("example-run"))
