# %% [markdown]
# # An encrypted fairness audit from a DataFrame
#
# Notebook-style (cells marked `# %%`; open it with Jupytext or run it as a script):
#
#     python examples/05_dataframe_audit.py
#
# The rows live in a pandas DataFrame and are never written anywhere: the columns go straight
# to validation and CKKS encryption. First the whole protocol in this process, then against an
# evaluator daemon, with the regulator verifying the bundle. Only keys, the daemon's store and
# the bundle (evidence, not data) go to a temporary directory, removed at the end.

# %%
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from regaudit.client import audit_fairness
from regaudit.evaluator.server import wait_for_ready_file
from regaudit.regulator import verify_bundle
from regaudit.secretkey.sealing import RegulatorKeys
from regaudit.shared.bundle import AuditBundle
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.truststore import TrustStore

START_TIMEOUT_S = 90.0


def hiring_frame(rows: int = 2_000, seed: int = 4) -> pd.DataFrame:
    """A synthetic hiring table: the true outcome, the model's decision and the applicant's sex."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male", "nonbinary"], rows, p=[0.45, 0.5, 0.05])
    qualified = rng.integers(0, 2, rows)
    bias = pd.Series(sex).map({"female": -0.15, "male": 0.05, "nonbinary": -0.05}).to_numpy()
    shortlisted = rng.random(rows) < np.clip(0.25 + 0.4 * qualified + bias, 0, 1)
    return pd.DataFrame({"qualified": qualified, "shortlisted": shortlisted, "sex": sex})


# %% [markdown]
# ## 1. In process: fresh CKKS keys, encryption, evaluation and decryption in this process


# %%
def in_process(frame: pd.DataFrame) -> None:
    result = audit_fairness(
        frame, y_true="qualified", y_pred="shortlisted", sensitive_features="sex", threshold=0.1
    )
    print(f"in process on {result.plan['profile'] if result.plan else '?'}: {result.seconds:.1f} s")
    print(result.by_group[["count", "selection_rate", "true_positive_rate", "precision"]])
    print("difference (max - min):")
    print(result.difference()[["selection_rate", "true_positive_rate"]].to_string())
    print("seed-compatible view:", result.to_seed_dict())


# %% [markdown]
# ## 2. Against an evaluator daemon, verified by the regulator


# %%
def start_daemon(identity: Path, store: Path) -> tuple[subprocess.Popen[str], str]:
    """``regaudit-evaluator serve`` on a free loopback port; (process, HOST:PORT) once ready."""
    ready, log = store.with_name("store.ready"), store.with_name("store.log")
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "regaudit.evaluator", "serve", "--listen", "127.0.0.1:0",
             "--identity", str(identity), "--store", str(store), "--ready-file", str(ready)],
            stdout=output, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        return process, wait_for_ready_file(
            ready, process=process, timeout=START_TIMEOUT_S, output=log
        )
    except BaseException:
        process.kill()
        raise


def remote(frame: pd.DataFrame, work: Path) -> None:
    # identities: the regulator (HPKE keys + signed card), the evaluator and the client
    regulator_signer = SigningIdentity.generate("regulator")
    keys = RegulatorKeys.generate()
    card = keys.card(signer=regulator_signer)
    evaluator, client = SigningIdentity.generate("evaluator"), SigningIdentity.generate("client")
    evaluator.save(work / "evaluator")
    trust = TrustStore.new_default()
    trust.add_key(evaluator.public_record())
    trust.add_key(client.public_record())

    daemon, address = start_daemon(work / "evaluator", work / "store")
    try:
        result = audit_fairness(
            frame,
            y_true="qualified",
            y_pred="shortlisted",
            sensitive_features="sex",
            evaluator=address,
            regulator_card=card,
            identity=client,
            identity_dir=work / "client",  # the commitment openings (salts) stay here
            out=work / "fairness.bundle",
            pinned_evaluator_key_id=evaluator.key_id,
            pinned_regulator_key_id=regulator_signer.key_id,
        )
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    print(f"remote audit {result.audit_id}: bundle {result.bundle_path.name}")  # type: ignore[union-attr]

    # the regulator verifies every signature and binding, decrypts the aggregates only
    verified = verify_bundle(
        AuditBundle.read(work / "fairness.bundle"), regulator_keys=keys, trust=trust
    )
    report = verified.to_report(sensitive_feature="sex")
    print("regulator's by_group:")
    print(report.by_group[["count", "selection_rate", "true_positive_rate"]])
    same = report.by_group.equals(result.by_group)
    print(f"client and regulator agree: {same}; breached: {report.threshold_breached}")


# %%
def main() -> None:
    frame = hiring_frame()
    in_process(frame)
    with tempfile.TemporaryDirectory(prefix="regaudit-example-05-") as work:
        remote(frame, Path(work))


if __name__ == "__main__":
    main()
