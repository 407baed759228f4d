"""Key custody is physical (issue 8, item 5).

* Structure: only the two SEAL modules import tenseal; the evaluator-safe ckks module never
  pulls in secret-key code; every built-in primitive lives where the import-linter contracts
  look.
* Attack regression: a ``regaudit.secretkey`` import added to a circuit breaks the import-linter
  contracts; a plug-in primitive (loaded through an entry point, out of the contracts' sight)
  whose circuit imports it makes the daemon refuse to start.
* Runtime: the evaluator daemon and its worker entry points refuse to run when a
  ``regaudit.secretkey`` module is loaded (reason ``custody_violation``).
* No named file: the serialized secret key goes through memfd only (no /dev/shm or disk
  fallback); a process killed while generating keys and encrypting leaves no file holding the
  key, and its stale scratch directory is swept by the next process.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("shared", "secretkey", "client", "evaluator", "regulator")
ALLOWED = {
    ROOT / "shared/src/regaudit/shared/_internal/seal.py",
    ROOT / "secretkey/src/regaudit/secretkey/_internal/seal.py",
}
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PROFILE_NAME = "ckks-n8192-d3-v1"


def _run_python(code: str, *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, check=False
    )


# --- structure ---------------------------------------------------------------------------


def _imports_tenseal(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
            alias.name.split(".")[0] == "tenseal" for alias in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tenseal":
            return True
    return False


def test_only_engine_modules_import_tenseal() -> None:
    sources = [
        path
        for package in SOURCES
        for path in (ROOT / package / "src").rglob("*.py")
        if "_proto" not in path.parts
    ]
    assert len(sources) > 5
    offenders = sorted(str(p.relative_to(ROOT)) for p in sources if _imports_tenseal(p))
    assert offenders == sorted(str(p.relative_to(ROOT)) for p in ALLOWED)


def test_secret_key_code_left_shared() -> None:
    shared = ROOT / "shared/src/regaudit/shared"
    assert not (shared / "secretkey.py").exists()
    sealing = (shared / "evidence/sealing.py").read_text(encoding="utf-8")
    assert "class RegulatorKeys" not in sealing
    assert "def unseal_secret_key" not in sealing
    seal = (shared / "_internal/seal.py").read_text(encoding="utf-8")
    for name in ("KeyGenerator", "Decryptor", "Encryptor", "SecretKey"):
        assert f"sealapi.{name}" not in seal, name


def test_ckks_module_does_not_load_secret_key_code() -> None:
    result = _run_python(
        "import sys, regaudit.shared.ckks as c, regaudit.shared.evidence.sealing as s; "
        "assert not [m for m in sys.modules if m.startswith('regaudit.secretkey')]; "
        "assert not hasattr(c, 'SecretKeyDecryptor'); "
        "assert not hasattr(s, 'RegulatorKeys'); print('ok')"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def _assert_daemon_refuses(tmp_path: Path, prelude: str) -> None:
    """Run ``prelude``, then ``create_server`` in a fresh interpreter: it must refuse with
    custody_violation before creating its store."""
    code = (
        "import json, sys\n" + prelude + "from regaudit.evaluator.server import create_server\n"
        "from regaudit.shared.errors import RegauditError\n"
        "from regaudit.shared.evidence.identity import SigningIdentity\n"
        "try:\n"
        "    server, port = create_server('127.0.0.1:0', "
        "identity=SigningIdentity.generate('evaluator'), "
        f"store_path={str(tmp_path / 'store')!r}, workers=1)\n"
        "except RegauditError as exc:\n"
        "    print(json.dumps({'reason': exc.reason, 'class': type(exc).__name__}))\n"
        "    sys.exit(0)\n"
        "server.stop(0)\n"
        "sys.exit(3)\n"
    )
    result = _run_python(code)
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {"reason": "custody_violation", "class": "CustodyViolationError"}
    assert not (tmp_path / "store").exists()  # refused before anything was created


def test_every_builtin_primitive_lives_where_the_contracts_look() -> None:
    """The six primitives register through entry points (imported dynamically, out of the
    import-linter's sight); each must point into ``regaudit.shared.primitives`` so that the
    static contracts ("Shared code does not import secret-key code", "A primitive's circuit
    reaches no other role") cover all of its modules. Third-party plug-ins are covered by the
    run-time check (test_daemon_refuses_a_plugin_that_imports_secret_key_code)."""
    import tomllib

    project = tomllib.loads((ROOT / "shared/pyproject.toml").read_text(encoding="utf-8"))
    points = project["project"]["entry-points"]["regaudit.primitives"]
    assert sorted(points) == [
        "calibration", "concordance", "disagreement", "drift", "fairness", "provenance",
    ]  # fmt: skip
    for name, target in points.items():
        assert target == f"regaudit.shared.primitives.{name}:PRIMITIVE", name
        package = ROOT / "shared/src/regaudit/shared/primitives" / name
        for role in ("__init__", "layout", "inputs", "circuit", "report", "reference"):
            assert (package / f"{role}.py").is_file(), f"{name}.{role}"


def test_daemon_refuses_a_plugin_that_imports_secret_key_code(tmp_path: Path) -> None:
    """A primitive plug-in whose circuit imports secret-key code is loaded before the daemon's
    custody check, so the daemon refuses to start (custody_violation) instead of running it."""
    site = tmp_path / "site"
    info = site / "tainted-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tainted\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[regaudit.primitives]\ntainted = tainted:PRIMITIVE\n")
    (site / "tainted.py").write_text(
        "import regaudit.secretkey  # the attack\n"
        "from regaudit.shared.primitives import Primitive\n"
        "from regaudit.shared.primitives.fairness.circuit import FairnessCircuit\n"
        "class TaintedCircuit(FairnessCircuit):\n"
        "    circuit_id = 'tainted'\n"
        "PRIMITIVE = Primitive(name='tainted', summary='', package=__name__,\n"
        "                      circuits=(TaintedCircuit(),))\n"
    )
    _assert_daemon_refuses(
        tmp_path,
        f"sys.path.insert(0, {str(site)!r})\nassert 'regaudit.secretkey' not in sys.modules\n",
    )


# --- attack regression: a secret-key import added to a circuit -----------------------------


def _copy_tree(destination: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copy2(ROOT / "pyproject.toml", destination / "pyproject.toml")
    for package in SOURCES:
        shutil.copytree(ROOT / package / "src", destination / package / "src", ignore=ignore)
    return destination


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    # the copies come first on sys.path, ahead of the editable installs of the real tree
    env["PYTHONPATH"] = os.pathsep.join(str(tree / package / "src") for package in SOURCES)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed")
def test_secret_key_import_in_a_circuit_breaks_the_contracts(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path)
    circuit = tree / "shared/src/regaudit/shared/primitives/drift/circuit.py"
    source = circuit.read_text(encoding="utf-8")
    marker = "from __future__ import annotations\n"
    assert marker in source
    circuit.write_text(
        source.replace(marker, marker + "\nimport regaudit.secretkey  # the attack\n", 1),
        encoding="utf-8",
    )
    result = _lint_imports(tree)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Shared code does not import secret-key code BROKEN" in output, output
    assert "A primitive's circuit reaches no other role BROKEN" in output, output
    assert "regaudit.shared.primitives.drift.circuit -> regaudit.secretkey" in output, output


# --- runtime check ------------------------------------------------------------------------


def test_custody_check_in_a_clean_and_a_tainted_process() -> None:
    result = _run_python(
        "from regaudit.shared.custody import assert_no_secret_key_code as check\n"
        "from regaudit.shared.errors import CustodyViolationError, RegauditError\n"
        "assert issubclass(CustodyViolationError, RegauditError)\n"
        "check()\n"
        "import regaudit.secretkey\n"
        "try:\n"
        "    check()\n"
        "except CustodyViolationError as exc:\n"
        "    print(exc.reason)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "custody_violation"


def test_daemon_refuses_to_start_with_secret_key_code_loaded(tmp_path: Path) -> None:
    _assert_daemon_refuses(tmp_path, "import regaudit.secretkey.ckks\n")


def test_worker_entry_points_refuse_with_secret_key_code_loaded() -> None:
    code = (
        "import json\n"
        "import regaudit.secretkey\n"
        "from regaudit.evaluator import worker_keys, workers\n"
        "from regaudit.shared.errors import CustodyViolationError\n"
        "out = {}\n"
        "for name in ('warm_up', 'software_identity'):\n"
        "    try:\n"
        "        getattr(workers, name)()\n"
        "    except CustodyViolationError as exc:\n"
        "        out[name] = exc.reason\n"
        "for name in ('evaluate_batch', 'finalize_job', 'evaluate_batch_bytes', "
        "'finalize_bytes', 'combine_partials_bytes'):\n"
        "    try:\n"
        "        getattr(workers, name)(None)\n"
        "    except workers.WorkerFailure as exc:\n"
        "        out[name] = exc.reason\n"
        "try:\n"
        "    worker_keys.install_keys(None)\n"
        "except CustodyViolationError as exc:\n"
        "    out['install_keys'] = exc.reason\n"
        "print(json.dumps(out))\n"
    )
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    expected = {
        name: "custody_violation"
        for name in (
            "warm_up",
            "software_identity",
            "evaluate_batch",
            "finalize_job",
            "evaluate_batch_bytes",
            "finalize_bytes",
            "combine_partials_bytes",
            "install_keys",
        )
    }
    assert out == expected


def test_evaluator_modules_import_without_secret_key_code() -> None:
    result = _run_python(
        "import sys\n"
        "import regaudit.evaluator.cli, regaudit.evaluator.server, regaudit.evaluator.workers\n"
        "from regaudit.evaluator import workers\n"
        "workers.warm_up()\n"
        "assert not [m for m in sys.modules if m.startswith('regaudit.secretkey')]\n"
        "print('ok')\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# --- the secret key never touches a named file -----------------------------------------------


def test_secret_key_serialization_fails_without_memfd(monkeypatch: pytest.MonkeyPatch) -> None:
    from regaudit.secretkey.ckks import ClientKeys, SecretKeyDecryptor
    from regaudit.shared.errors import KeyMaterialError
    from regaudit.shared.profiles import get_profile

    profile = get_profile(PROFILE_NAME)
    keys = ClientKeys.generate(profile, galois_steps=[1])
    data = keys.secret_key_bytes()
    monkeypatch.delattr(os, "memfd_create")
    with pytest.raises(KeyMaterialError, match="memfd"):
        keys.secret_key_bytes()
    with pytest.raises(KeyMaterialError, match="memfd"):
        SecretKeyDecryptor.from_bytes(profile, data)


_KILLED_CHILD = r"""
import hashlib, json, os, sys, time

calls = []
_real = os.memfd_create


def _counting(name, flags=0):
    calls.append(name)
    return _real(name, flags)


os.memfd_create = _counting

import numpy as np

from regaudit.client import encryption
from regaudit.secretkey import ckks as secretkey_ckks
from regaudit.secretkey.ckks import ClientKeys
from regaudit.shared.profiles import get_profile

profile = get_profile(sys.argv[1])
values = np.arange(16, dtype=np.float64)
first = True
while True:
    # key generation, then the client encryption worker's own code path
    keys = ClientKeys.generate(profile, galois_steps=[1])
    secret = keys.secret_key_bytes()
    encryption._initialize_worker(profile.name, secret)
    secretkey_ckks._encryptors.clear()  # parse the secret key again every round
    encryption._encrypt_task(("y_true", 0, values, 0))
    if first:
        first = False
        middle = len(secret) // 2
        print(json.dumps({
            "pid": os.getpid(),
            "memfd_calls": len(calls),
            "memfd_names": sorted(set(calls)),
            "secret_sha256": hashlib.sha256(secret).hexdigest(),
            "secret_size": len(secret),
            "secret_probe": secret[middle : middle + 48].hex(),
        }), flush=True)
"""


def _scratch_dirs(pid: int) -> list[Path]:
    from regaudit.shared._internal.seal import SCRATCH_PREFIX

    roots = {Path("/dev/shm"), Path(tempfile.gettempdir())}
    return sorted(
        path for root in roots if root.is_dir() for path in root.glob(f"{SCRATCH_PREFIX}{pid}-*")
    )


def _files_holding(probe: bytes, digest: str, size: int, *, since: float) -> list[str]:
    """Our regular files under /dev/shm and the temp dir, modified since ``since``, that
    contain ``probe`` or whose content is the secret key."""
    found: list[str] = []
    uid = os.getuid()
    for root in {Path("/dev/shm"), Path(tempfile.gettempdir())}:
        for directory, _dirs, files in os.walk(root, onerror=lambda _e: None):
            for name in files:
                path = os.path.join(directory, name)
                try:
                    info = os.lstat(path)
                    if not os.path.isfile(path) or os.path.islink(path):
                        continue
                    if info.st_uid != uid or info.st_mtime < since or info.st_size > 64 << 20:
                        continue
                    data = Path(path).read_bytes()
                except OSError:
                    continue
                if probe in data or (
                    len(data) == size and hashlib.sha256(data).hexdigest() == digest
                ):
                    found.append(path)
    return found


def test_killed_key_process_leaves_no_secret_key_file(tmp_path: Path) -> None:
    started = time.time() - 1
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD, PROFILE_NAME],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, child.stderr.read() if child.stderr else "no output"
        info = json.loads(line)
        # memfd only, for generation (save) and for the worker's parse (load)
        assert info["memfd_calls"] >= 2
        assert info["memfd_names"] == ["regaudit-secret-key"]
        time.sleep(0.7)  # mid-loop: keys are being generated, saved, loaded, used
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    probe = bytes.fromhex(info["secret_probe"])
    leaked = _files_holding(probe, info["secret_sha256"], info["secret_size"], since=started)
    assert leaked == []
    # the killed process skipped its atexit clean-up; the next process sweeps its scratch
    sweeper = _run_python(
        "from regaudit.shared._internal import seal\n"
        "from regaudit.shared.profiles import get_profile\n"
        f"sctx = seal.get_context(get_profile({PROFILE_NAME!r}))\n"
        "seal.to_bytes(sctx.encode(1.0, level=0))\n"  # creates this process's scratch dir
        "print('ok')\n"
    )
    assert sweeper.returncode == 0, sweeper.stderr
    assert _scratch_dirs(info["pid"]) == []


def test_encryption_pool_close_sweeps_worker_scratch() -> None:
    from regaudit.client.encryption import EncryptionPool, InputManifest
    from regaudit.secretkey.ckks import ClientKeys
    from regaudit.shared.planning import make_plan
    from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
    from regaudit.shared.primitives.fairness.inputs import parse as parse_fairness_input
    from regaudit.shared.profiles import get_profile

    profile = get_profile(PROFILE_NAME)
    data = parse_fairness_input(
        {
            "y_true": [1, 0, 1, 0],
            "y_pred": [1, 1, 0, 0],
            "group_a": [1, 1, 0, 0],
            "group_b": [0, 0, 1, 1],
        }
    )
    circuit = FairnessCircuit()
    plan = make_plan(circuit, data.public, rows=data.rows, profile=profile)
    keys = ClientKeys.generate(profile, galois_steps=plan.rotation_steps)
    pool = EncryptionPool(profile, secret_key=keys.secret_key_bytes(), workers=1)
    try:
        produced = list(
            pool.encrypt_audit(
                plan, data.columns(), canary_seed=b"\x00" * 32, manifest=InputManifest()
            )
        )
        assert produced
        pids = [process.pid for process in pool._pool._pool]  # type: ignore[attr-defined]
        assert any(_scratch_dirs(pid) for pid in pids)  # the worker serialized ciphertexts
    finally:
        pool.close()
    assert all(_scratch_dirs(pid) == [] for pid in pids)
