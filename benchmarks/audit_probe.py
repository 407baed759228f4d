"""Instrumentation of ``run_audit`` inside a benchmark client driver process, and the fields of
the driver's JSON line that every driver reports the same way.

The audit code is not changed: stages the outcome does not time (result fetch, receipt check,
commitments, sealing, signing, bundle write) are timed by wrapping the functions ``run_audit``
calls; a ProgressSink timestamps the first and last ciphertext encrypted and uploaded; byte
counts come from wrapping the key upload and the result fetch. The clock :data:`T0` starts
when this module is imported: the drivers import it after numpy and before any regaudit code,
so ``imports_s`` measures regaudit's imports.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

if TYPE_CHECKING:
    from regaudit.client.audit import AuditOutcome
    from regaudit.client.inputs import AuditData
    from regaudit.client.transport import EvaluatorConnection
    from regaudit.shared.ckks import EvaluationKeys
    from regaudit.shared.protocol import JobResult

__all__ = [
    "T0",
    "TimestampSink",
    "driver_arguments",
    "load_audit_code",
    "reported_fields",
    "run_instrumented",
]

#: When this module was imported (``time.perf_counter``).
T0 = time.perf_counter()
_spans: dict[str, float] = {}
_events: dict[str, float] = {}
_bytes: dict[str, int] = {}

_P = ParamSpec("_P")
_R = TypeVar("_R")


class TimestampSink:
    """A ProgressSink recording when each stage first and last moved (seconds from start)."""

    def _mark(self, name: str) -> None:
        now = time.perf_counter() - T0
        _events.setdefault(f"{name}_first", now)
        _events[f"{name}_last"] = now

    def stage(self, name: str, *, total: float | None = None) -> None:
        """A stage starts: its first start time is kept."""
        _events.setdefault(f"{name}_stage", time.perf_counter() - T0)

    def advance(self, name: str, amount: float = 1.0) -> None:
        """Progress in ``name``: first and last times."""
        self._mark(name)

    def update(self, name: str, *, completed: float, total: float | None = None) -> None:
        """Progress in ``name`` (once something is completed): first and last times."""
        if completed > 0:
            self._mark(name)

    def note(self, text: str) -> None:
        """Messages are not timed."""


def _timer(original: Callable[_P, _R], key: str) -> Callable[_P, _R]:
    """``original`` adding its wall time to ``_spans[key]``."""

    @functools.wraps(original)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        mark = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _spans[key] = _spans.get(key, 0.0) + time.perf_counter() - mark

    return wrapper


def _replace(owner: object, attribute: str, wrap: Callable[[Callable[_P, _R]], object]) -> None:
    """Replace ``owner.attribute`` by ``wrap`` of it."""
    setattr(owner, attribute, wrap(getattr(owner, attribute)))


def _timed(owner: object, attribute: str, key: str) -> None:
    """Replace ``owner.attribute`` by a wrapper adding its wall time to ``_spans[key]``."""
    _replace(owner, attribute, lambda original: _timer(original, key))


def _instrument() -> None:
    """Wrap the functions run_audit calls for the stages AuditOutcome.timings does not cover."""
    from regaudit.client import audit, evidence
    from regaudit.client.transport import EvaluatorConnection
    from regaudit.shared import bundle
    from regaudit.shared.evidence import dsse, sealing

    _timed(EvaluatorConnection, "fetch_result", "result_fetch_s")
    _timed(audit, "verify_receipt", "receipt_check_s")
    _timed(evidence, "commit_inputs", "commitments_s")  # column and row commitments, one pass
    _timed(evidence, "write_openings", "openings_write_s")
    _timed(sealing, "seal_secret_key", "sealing_s")
    _timed(dsse, "sign_envelope", "signing_s")
    _timed(bundle.AuditBundle, "write", "bundle_write_s")

    _replace(EvaluatorConnection, "fetch_result", _counting_outputs)
    _replace(EvaluatorConnection, "upload_evaluation_keys", _counting_keys)


def _counting_outputs(
    original: Callable[Concatenate[EvaluatorConnection, _P], JobResult],
) -> Callable[Concatenate[EvaluatorConnection, _P], JobResult]:
    """``EvaluatorConnection.fetch_result`` recording the bytes of the returned outputs."""

    def fetch(self: EvaluatorConnection, /, *args: _P.args, **kwargs: _P.kwargs) -> JobResult:
        result = original(self, *args, **kwargs)
        _bytes["result_output_bytes"] = sum(len(o) for o in result.outputs) + len(result.canary)
        return result

    return fetch


def _counting_keys(
    original: Callable[Concatenate[EvaluatorConnection, EvaluationKeys, _P], str],
) -> Callable[Concatenate[EvaluatorConnection, EvaluationKeys, _P], str]:
    """``EvaluatorConnection.upload_evaluation_keys`` recording the evaluation keys' sizes."""

    def upload(
        self: EvaluatorConnection, keys: EvaluationKeys, /, *args: _P.args, **kwargs: _P.kwargs
    ) -> str:
        _bytes["evaluation_keys_bytes"] = keys.size_bytes
        _bytes["relin_key_bytes"] = len(keys.relin_keys)
        _bytes["galois_keys_bytes"] = len(keys.galois_keys)
        _bytes["galois_steps"] = len(keys.galois_steps)
        return original(self, keys, *args, **kwargs)

    return upload


def load_audit_code() -> float:
    """Import the client's audit code and instrument it; the seconds since :data:`T0` spent
    before instrumenting (the driver's imports)."""
    importlib.import_module("regaudit.client.audit")
    importlib.import_module("regaudit.shared.evidence.identity")
    imports_s = time.perf_counter() - T0
    _instrument()
    return imports_s


def driver_arguments(description: str) -> argparse.ArgumentParser:
    """The options every driver takes: data, evaluator address, card, identity, bundle out."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--evaluator", required=True)
    parser.add_argument("--card", type=Path, required=True)
    parser.add_argument("--identity", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=None)
    return parser


def run_instrumented(
    primitive: str,
    data: AuditData,
    args: argparse.Namespace,
    *,
    cprofile: Path | None = None,
) -> tuple[AuditOutcome, float]:
    """``run_audit`` with the driver's options and a :class:`TimestampSink` (under cProfile
    when ``cprofile`` names the stats file); the outcome and when the audit started (seconds
    since :data:`T0`)."""
    from regaudit.client.audit import run_audit
    from regaudit.shared.evidence.identity import SigningIdentity

    card = json.loads(args.card.read_text())
    identity = SigningIdentity.load(args.identity, kind="client")
    profiler = None
    if cprofile is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    audit_start = time.perf_counter() - T0
    outcome = run_audit(
        primitive,
        data,
        evaluator=args.evaluator,
        regulator_card=card,
        identity=identity,
        out=args.out,
        identity_dir=args.identity,
        progress=TimestampSink(),
        workers=args.workers,
        timeout=3600.0,
    )
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(cprofile))
    return outcome, audit_start


def reported_fields(outcome: AuditOutcome, audit_start: float, bundle: Path) -> dict[str, object]:
    """``timings`` (the outcome's and the wrapped stages), ``events_s`` (first/last progress,
    from the audit's start) and ``bytes`` (keys, ciphertexts, outputs, bundle)."""

    def since(name: str) -> float | None:
        value = _events.get(name)
        return None if value is None else value - audit_start

    timings = dict(outcome.timings)
    return {
        "timings": {
            "keygen_s": timings.get("keygen_s"),
            "upload_keys_s": timings.get("upload_keys_s"),
            "encrypt_upload_s": timings.get("encrypt_upload_s"),
            "evaluate_wait_s": timings.get("evaluate_s"),
            **_spans,
            "total_s": timings.get("total_s"),
        },
        "events_s": {
            "encrypt_first": since("encrypt_first"),
            "encrypt_last": since("encrypt_last"),
            "upload_first": since("upload_first"),
            "upload_last": since("upload_last"),
            "evaluate_stage": since("evaluate_stage"),
            "evaluate_last": since("evaluate_last"),
        },
        "bytes": {
            **_bytes,
            "ciphertext_bytes": outcome.uploaded_bytes,
            "bundle_bytes": bundle.stat().st_size,
        },
    }
