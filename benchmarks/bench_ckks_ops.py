"""Per-ciphertext cost of every step of the fairness pipeline, one core, no other processes.

    python benchmarks/bench_ckks_ops.py [--quick]

Complements ``bench_fairness.py`` (where client workers, the evaluator and gRPC share two
cores): here each step runs alone in this process, so the figures are CPU costs per
ciphertext. Client side: encode, seeded symmetric encryption, serialization (SEAL save with
zstd through a RAM-backed temp file), SHA-256, pickling as the encryption pool does. Evaluator
side: load + validate an untrusted ciphertext, ct x ct multiply (+ relinearize + rescale),
rotation, output serialization. Writes ``results/ckks-ops.json`` and ``ckks-ops.md`` with an
estimate for 1,000,000 rows.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import RESULTS_DIR, JsonObject, machine_info
from render import write_json

__all__ = ["OpsProfile", "Timing", "main", "measure", "timed", "write_markdown"]

ITERATIONS = 60
QUICK_ITERATIONS = 15
#: Input ciphertexts of a 1,000,000-row, 2-group fairness audit (4 columns x 245 chunks + 1).
CIPHERTEXTS_1M = 981
#: ct x ct multiplications the plan counts for that audit.
MULTIPLICATIONS_1M = 1471


class Timing(TypedDict):
    """Median and min of ``n`` calls (milliseconds)."""

    median_ms: float
    min_ms: float
    n: int


class OpsProfile(TypedDict):
    """Every step's cost under one parameter profile, and the 1,000,000-row estimate."""

    profile: str
    ciphertext_bytes: int
    output_bytes: int
    client: dict[str, Timing]
    evaluator: dict[str, Timing]
    estimate_1m_rows_single_core_s: dict[str, float]


def timed(fn: Callable[[], object], iterations: int) -> Timing:
    """Median and min of ``iterations`` calls (milliseconds), after one warm-up call."""
    fn()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return {"median_ms": statistics.median(samples), "min_ms": min(samples), "n": iterations}


def measure(profile_name: str, iterations: int) -> OpsProfile:
    """Time every client and evaluator step of ``profile_name`` (``iterations`` calls each)."""
    from regaudit.secretkey import ckks as secretkey
    from regaudit.shared._internal import seal
    from regaudit.shared.ckks import CkksBackend, load_ciphertext, load_evaluation_keys
    from regaudit.shared.profiles import get_profile

    profile = get_profile(profile_name)
    rng = np.random.default_rng(0)
    values = rng.integers(0, 2, profile.slot_count).astype(np.float64)
    keys = secretkey.ClientKeys.generate(profile, galois_steps=[1])
    sctx = seal.get_context(profile)
    encryptor = keys._encryptor  # benchmark only: time the pieces of ClientKeys.encrypt
    plain = secretkey._encode_input(sctx, values, level=0)
    serializable = encryptor.encrypt_symmetric(plain)
    data = seal.to_bytes(serializable)
    loaded = load_evaluation_keys(profile, keys.evaluation_keys(), required_steps=[1])
    backend = CkksBackend(profile, loaded)
    vector = backend.load(data, level=0)
    product = backend.multiply(vector, vector)
    output_bytes = len(product.to_bytes())
    client: dict[str, Timing] = {
        "encode": timed(lambda: secretkey._encode_input(sctx, values, level=0), iterations),
        "encrypt_symmetric": timed(lambda: encryptor.encrypt_symmetric(plain), iterations),
        "serialize (to_bytes)": timed(lambda: seal.to_bytes(serializable), iterations),
        "sha256": timed(lambda: hashlib.sha256(data).digest(), iterations),
        "pickle chunk task (4096 float64)": timed(
            lambda: pickle.loads(pickle.dumps(values[:4096])), iterations
        ),
        "pickle result (ciphertext bytes)": timed(
            lambda: pickle.loads(pickle.dumps(data)), iterations
        ),
        "whole ClientKeys.encrypt": timed(lambda: keys.encrypt(values, level=0), iterations),
    }
    evaluator: dict[str, Timing] = {
        "load + validate (load_ciphertext)": timed(
            lambda: load_ciphertext(profile, data, level=0), iterations
        ),
        "multiply + relin + rescale": timed(lambda: backend.multiply(vector, vector), iterations),
        "rotate": timed(lambda: backend.rotate(vector, 1), iterations),
        "serialize output (to_bytes)": timed(product.to_bytes, iterations),
    }
    per_ct = (
        sum(client[k]["median_ms"] for k in ("encode", "encrypt_symmetric", "serialize (to_bytes)"))
        + client["sha256"]["median_ms"]
    )
    estimate = {
        "client_encrypt_serialize_hash": per_ct * CIPHERTEXTS_1M / 1000,
        "of which serialize": client["serialize (to_bytes)"]["median_ms"] * CIPHERTEXTS_1M / 1000,
        "evaluator_load_validate_once": evaluator["load + validate (load_ciphertext)"]["median_ms"]
        * CIPHERTEXTS_1M
        / 1000,
        "evaluator_multiplies": evaluator["multiply + relin + rescale"]["median_ms"]
        * MULTIPLICATIONS_1M
        / 1000,
    }
    return {
        "profile": profile.name,
        "ciphertext_bytes": len(data),
        "output_bytes": output_bytes,
        "client": client,
        "evaluator": evaluator,
        "estimate_1m_rows_single_core_s": estimate,
    }


def write_markdown(document: JsonObject, path: Path) -> None:
    """Write ``ckks-ops.md`` for the results ``document``."""
    machine = document["machine"]
    lines = [
        "# CKKS per-ciphertext costs (one core, in-process)",
        "",
        f"Generated {document['generated_at']}; {machine['cpu_model']}, load before start "
        f"`{machine['uptime_before']}`. Median (min) of {document['iterations']} calls.",
        "",
    ]
    for entry in document["profiles"]:
        lines += [
            f"## {entry['profile']} (ciphertext {entry['ciphertext_bytes'] / 1e3:.0f} kB, "
            f"output {entry['output_bytes'] / 1e3:.0f} kB)",
            "",
            "| step | ms |",
            "|---|---|",
        ]
        for side in ("client", "evaluator"):
            for name, value in entry[side].items():
                lines.append(
                    f"| {side}: {name} | {value['median_ms']:.2f} ({value['min_ms']:.2f}) |"
                )
        lines += ["", "Single-core estimate for a 1,000,000-row, 2-group audit (seconds):", ""]
        for name, value in entry["estimate_1m_rows_single_core_s"].items():
            lines.append(f"- {name}: {value:.2f}")
        lines.append("")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Measure the profiles (one with ``--quick``); write ckks-ops.json and ckks-ops.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    from regaudit.shared.evidence.canonical import utc_now

    iterations = QUICK_ITERATIONS if args.quick else ITERATIONS
    machine = machine_info()
    profiles = ["ckks-n8192-d3-v1"] + ([] if args.quick else ["ckks-n16384-d6-v1"])
    document: JsonObject = {
        "benchmark": "ckks-ops",
        "generated_at": utc_now().isoformat(),
        "iterations": iterations,
        "machine": machine,
        "profiles": [measure(name, iterations) for name in profiles],
    }
    args.results.mkdir(parents=True, exist_ok=True)
    write_json(args.results / "ckks-ops.json", document)
    write_markdown(document, args.results / "ckks-ops.md")
    print(f"wrote {args.results / 'ckks-ops.json'} and ckks-ops.md")


if __name__ == "__main__":
    main()
