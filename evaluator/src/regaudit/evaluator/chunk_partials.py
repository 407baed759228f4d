"""Evaluating a run of chunks in a worker, with each chunk's partial digest.

A batch adds its chunks' partial accumulators up (exact modular additions, so the job's outputs
do not depend on how chunks are batched); when the job asks (the client-signed header's
``commit_partials``, or a sampled witness job), before a chunk's partial joins the sum its digest
is taken over the canonical content of its ciphertexts
(:func:`regaudit.shared.ciphertext_content.ciphertext_content_digest`, compression-independent)
and combined into the chunk's partial digest
(:func:`regaudit.shared.evidence.witness_sampling.partial_digest`). The daemon commits to the
Merkle root of these digests in the receipt; a sampled witness recomputes some of them. The
digest serializes every partial accumulator through SEAL (zstd, which ``tenseal.sealapi``
cannot switch off), inflates and hashes it: about three quarters of a fairness chunk's own
evaluation time, so a job that did not ask skips it (its outputs are the same bytes).

:func:`chunk_partial` is the one place a chunk's partial is computed (tests replace it in a
cheating evaluator's processes to alter one chunk).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from regaudit.shared.ciphertext_content import ciphertext_content_digest
from regaudit.shared.circuits.base import Circuit, PublicInputs, combine
from regaudit.shared.errors import RegauditError
from regaudit.shared.evidence.witness_sampling import partial_digest

if TYPE_CHECKING:
    from regaudit.shared.ckks import CkksBackend, CkksVector


def chunk_partial(
    circuit: Circuit,
    backend: CkksBackend,
    index: int,
    inputs: Mapping[str, CkksVector],
    public: PublicInputs,
) -> list[CkksVector]:
    """The partial accumulators of chunk ``index`` (the circuit's ``evaluate_chunk``)."""
    del index  # (named for the hook's replacements)
    return list(circuit.evaluate_chunk(backend, inputs, public))


def digest_of_partial(partial: Iterable[CkksVector]) -> str:
    """The partial digest of one chunk's partial accumulators."""
    return partial_digest([ciphertext_content_digest(vector.to_bytes()) for vector in partial])


def evaluate_chunks(
    circuit: Circuit,
    backend: CkksBackend,
    chunks: Iterable[tuple[int, Mapping[str, CkksVector]]],
    public: PublicInputs,
    *,
    with_digests: bool,
) -> tuple[list[CkksVector], tuple[str, ...]]:
    """Evaluate ``(chunk index, inputs)`` pairs in order; returns the summed partial
    accumulators and, if ``with_digests``, each chunk's partial digest in order (else ())."""
    total: list[CkksVector] | None = None
    digests: list[str] = []
    for index, inputs in chunks:
        partial = chunk_partial(circuit, backend, index, inputs, public)
        if with_digests:
            digests.append(digest_of_partial(partial))
        total = partial if total is None else combine(backend, total, partial)
    if total is None:
        raise RegauditError("a batch without chunks")
    return total, tuple(digests)


__all__ = ["chunk_partial", "digest_of_partial", "evaluate_chunks"]
