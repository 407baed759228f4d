"""Helpers of the per-primitive DP release tests: a real verified audit of any primitive (client
and evaluator played in-process on SEAL by tests/regulator/conftest.py's ``build_bundle``,
verified by :func:`regaudit.regulator.verify.verify_bundle`), the ledger calls, and the
statistics of the noise."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from regulator.conftest import Parties, build_bundle

from regaudit.regulator.privacy import PrivacyLedger, ReleaseRequest, apply_release, calibrate
from regaudit.regulator.privacy.primitives import PrimitiveRelease
from regaudit.regulator.verified import VerifiedAudit
from regaudit.regulator.verify import verify_bundle

#: Noise draws per coordinate of a statistical check (one OpenDP call on a long vector).
DRAWS = 30_000
#: Relative tolerance on an empirical variance: its standard error is sqrt(5 / DRAWS) = 1.3 %
#: for (discrete) Laplace noise (kurtosis 6), so this is over 5 standard errors.
VARIANCE_TOLERANCE = 0.07


def verify_audit(parties: Parties, circuit: Any, data: Any) -> VerifiedAudit:
    """A real bundle of ``circuit`` on ``data`` (the planner picks the profile), verified."""
    bundle = build_bundle(parties, data, circuit=circuit, profile=None)
    return verify_bundle(bundle, regulator_keys=parties.regulator_keys, trust=parties.trust())


def release(
    audit: VerifiedAudit, identity: Path, *, epsilon: float = 1.0, delta: float = 0.0
) -> VerifiedAudit:
    with PrivacyLedger.for_identity(identity) as ledger:
        return apply_release(audit, request=ReleaseRequest(epsilon, delta, seed=7), ledger=ledger)


def listing(identity: Path) -> dict[str, Any]:
    with PrivacyLedger.for_identity(identity) as ledger:
        return ledger.listing()


def budget(identity: Path, epsilon: float) -> None:
    with PrivacyLedger.for_identity(identity) as ledger:
        ledger.set_budget(client=None, dataset=None, epsilon=epsilon, delta=0.0)


def discrete_laplace_variance(scale: float) -> float:
    q = math.exp(-1.0 / scale)
    return 2.0 * q / (1.0 - q) ** 2


def empirical_noise(
    primitive: PrimitiveRelease, audit: VerifiedAudit, epsilon: float
) -> tuple[np.ndarray[Any, Any], float, float]:
    """DRAWS noisings of the audit's aggregate vector by the release's calibrated mechanism
    (OpenDP, not through the ledger): the noise per coordinate (draws x coordinates), the
    calibrated scale and the l1 sensitivity."""
    aggregates = primitive.aggregates(audit)
    mechanism = calibrate(ReleaseRequest(epsilon), aggregates.sensitivity)
    repeats = DRAWS
    exact = np.tile(np.asarray(aggregates.values, dtype=np.int64), repeats)
    noised = np.asarray(mechanism.release(exact.tolist()), dtype=np.int64)
    noise = (noised - exact).reshape(repeats, len(aggregates.values)).astype(np.float64)
    return noise, mechanism.scale, aggregates.sensitivity.l1


def write_bundle(parties: Parties, circuit: Any, data: Any, path: Path) -> Path:
    """A real bundle of ``circuit`` on ``data``, written to ``path`` (for the command line)."""
    return build_bundle(parties, data, circuit=circuit, profile=None).write(path)


def regulator_copy(parties: Parties, root: Path) -> Path:
    """A copy of the regulator identity (keys, its own ledger and replay database)."""
    copy = root / "regulator-identity"
    shutil.copytree(parties.regulator_dir, copy)
    return copy


def cli(*args: str | Path) -> Any:
    """The regulator's command line in process (typer's runner)."""
    from typer.testing import CliRunner

    from regaudit.regulator.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def cli_budget(identity: Path, client: str, epsilon: float) -> None:
    options = ("--identity", identity, "--client", client, "--epsilon", str(epsilon))
    done = cli("privacy", "budget", *options)
    assert done.exit_code == 0, done.stdout + done.stderr


def cli_spent(identity: Path) -> float:
    done = cli("privacy", "ledger", "--identity", identity, "--json")
    assert done.exit_code == 0, done.stderr
    return sum(float(r["epsilon"]) for r in json.loads(done.stdout)["releases"])


def cli_verify(parties: Parties, identity: Path, bundle: Path, *extra: str | Path) -> Any:
    return cli(
        "verify", bundle, "--identity", identity, "--trust", parties.trust_path, "--json", *extra
    )
