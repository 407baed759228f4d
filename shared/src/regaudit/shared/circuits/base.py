"""What every audit circuit provides, and the generic machinery around it.

A circuit is the evaluator's role module of a primitive (``regaudit.shared.primitives.<name>
.circuit``; the other roles live beside it, see :mod:`regaudit.shared.primitives.descriptor`):
``evaluate_chunk`` turns one chunk of encrypted columns into slot-wise partial accumulators
(never reduced across slots), accumulators of all chunks are added, and ``finalize`` completes
the slot-sums under encryption, zeroes every slot that is not an aggregate and packs the
aggregates into as few output vectors as possible.

The ``Plan`` is computed from sizes alone by running the circuit on the plaintext backend with
zero vectors: depth, rotation steps and operation counts are therefore exactly what the CKKS run
does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from regaudit.shared.algebra import FloatArray, OpCounts, SlotBackend, V
from regaudit.shared.profiles import ParameterProfile

#: Public inputs travel as canonical JSON objects.
PublicInputs = dict[str, Any]


class Circuit(Protocol):
    """One audit primitive's circuit (see module docstring)."""

    circuit_id: ClassVar[str]
    version: ClassVar[str]

    def validate_public(self, public: Mapping[str, Any]) -> PublicInputs:
        """Check public inputs (thresholds, group names...); return the normalized dict.
        Raises InputError/CircuitError naming the offending field."""
        ...

    def columns(self, public: PublicInputs) -> list[str]:
        """Names of the encrypted columns of every chunk, in upload order."""
        ...

    def max_output_magnitude(self, rows: int, public: PublicInputs) -> float:
        """Upper bound on |any output slot| (drives the profile's headroom check)."""
        ...

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        """Slot-wise partial accumulators for one chunk. Same count and levels every chunk."""
        ...

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        """Reduce accumulators to output vectors holding aggregates only (others zeroed)."""
        ...


@dataclass(frozen=True)
class Plan:
    """Everything the parties must agree on before any data is encrypted."""

    circuit_id: str
    circuit_version: str
    profile: ParameterProfile
    rows: int
    chunk_rows: int
    n_chunks: int
    columns: tuple[str, ...]
    input_level: int
    depth: int
    rotation_steps: tuple[int, ...]
    n_outputs: int
    counts: OpCounts
    #: ct x pt multiplications consume a level each in this design (none are folded)
    scalar_multiplications_consume_levels: bool = True
    #: a sampled witness's plan: the job's index of each chunk it evaluates (then ``n_chunks``
    #: counts those chunks only); None for a job that evaluates every chunk
    chunk_indices: tuple[int, ...] | None = None

    @property
    def output_level(self) -> int:
        return self.input_level + self.depth

    def chunk_index(self, position: int) -> int:
        """The job's index of the chunk at ``position`` in this plan's chunks."""
        return position if self.chunk_indices is None else self.chunk_indices[position]

    @property
    def input_count(self) -> int:
        """Input ciphertexts of a job (:func:`job_input_count`)."""
        return job_input_count(self.n_chunks, len(self.columns))

    def to_dict(self) -> dict[str, Any]:
        return {
            "circuit_id": self.circuit_id,
            "circuit_version": self.circuit_version,
            "profile": self.profile.name,
            "profile_hash": self.profile.profile_hash,
            "rows": self.rows,
            "chunk_rows": self.chunk_rows,
            "n_chunks": self.n_chunks,
            "columns": list(self.columns),
            "input_level": self.input_level,
            "depth": self.depth,
            "rotation_steps": list(self.rotation_steps),
            "n_outputs": self.n_outputs,
            "operation_counts": self.counts.to_dict(),
            "scalar_multiplications_consume_levels": self.scalar_multiplications_consume_levels,
        }


def job_input_count(n_chunks: int, n_columns: int) -> int:
    """Input ciphertexts of a job: the key canary plus every chunk of every column."""
    return 1 + n_chunks * n_columns


def accumulate(
    circuit: Circuit,
    backend: SlotBackend[V],
    chunks: Iterable[Mapping[str, V]],
    public: PublicInputs,
) -> list[V] | None:
    """Evaluate and add up a run of chunks (None for an empty run)."""
    total: list[V] | None = None
    for chunk in chunks:
        partial = circuit.evaluate_chunk(backend, chunk, public)
        total = partial if total is None else combine(backend, total, partial)
    return total


def combine(backend: SlotBackend[V], a: Sequence[V], b: Sequence[V]) -> list[V]:
    """Element-wise sum of two accumulator lists (from two chunk runs or two workers)."""
    if len(a) != len(b):
        raise ValueError("accumulator lists differ in length")
    return [backend.add(x, y) for x, y in zip(a, b, strict=True)]


# --- the client's output check --------------------------------------------------------------
#
# The client holds the key and the data, so it decrypts every output and compares it with the
# same circuit run on the plaintext backend (the oracle). CKKS error measured on every primitive
# is at most 3e-8 of the circuit's output-magnitude bound (fairness: 3e-7, far below its own
# count tolerance); a slot further than OUTPUT_CHECK_RELATIVE_TOLERANCE x bound from the oracle
# cannot be noise.

#: Relative (to ``max_output_magnitude``) tolerance of one output slot in the client's check.
OUTPUT_CHECK_RELATIVE_TOLERANCE = 1e-6


def output_tolerance(circuit: Circuit, rows: int, public: PublicInputs) -> float:
    """Largest |decrypted - oracle| the client accepts in one output slot: the circuit's own
    ``output_tolerance(rows, public)`` when it defines one (fairness: a quarter count), else
    :data:`OUTPUT_CHECK_RELATIVE_TOLERANCE` times its output-magnitude bound."""
    own = getattr(circuit, "output_tolerance", None)
    if callable(own):
        return float(own(rows, public))
    return OUTPUT_CHECK_RELATIVE_TOLERANCE * float(circuit.max_output_magnitude(rows, public))


# --- the key canary -------------------------------------------------------------------------
#
# Every job carries one extra encrypted vector: a public pseudo-random vector c derived from a
# seed in the job header. The evaluator computes sum(c * c) with the same relinearization and
# Galois keys as the audit, masked to slot 0. The regulator decrypts it with the unsealed key
# and compares with the value it computes itself: a wrong secret key, or evaluation keys that
# were not made from it, give garbage instead of the public value.

CANARY_COLUMN = "__canary__"
CANARY_DEPTH = 2
#: |decrypted - expected| must be below this for the canary to pass
CANARY_TOLERANCE = 1e-2


def canary_vector(seed: bytes, slot_count: int) -> FloatArray:
    """The public canary vector: values in [-1, 1] from SHA-256 in counter mode."""
    needed = slot_count * 4
    stream = bytearray()
    counter = 0
    while len(stream) < needed:
        stream += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
    ints = np.frombuffer(bytes(stream[:needed]), dtype=">u4").astype(np.float64)
    return ints / float(2**32 - 1) * 2.0 - 1.0


def canary_expected(seed: bytes, slot_count: int) -> float:
    vector = canary_vector(seed, slot_count)
    return float(np.dot(vector, vector))


def canary_circuit(backend: SlotBackend[V], canary: V) -> V:
    """sum(c * c) in slot 0, every other slot zero. Depth 2 (one ct x ct, one mask)."""
    total = backend.slot_sum(backend.multiply(canary, canary))
    mask = np.zeros(backend.slot_count)
    mask[0] = 1.0
    return backend.multiply_plain(total, mask)


def iter_chunks(
    columns: Mapping[str, FloatArray], chunk_rows: int
) -> Iterator[dict[str, FloatArray]]:
    """Split equal-length columns into zero-padded chunks of ``chunk_rows`` slots."""
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise ValueError("columns differ in length")
    (rows,) = lengths
    for start in range(0, rows, chunk_rows):
        chunk: dict[str, FloatArray] = {}
        for name, values in columns.items():
            part = np.zeros(chunk_rows, dtype=np.float64)
            piece = values[start : start + chunk_rows]
            part[: len(piece)] = piece
            chunk[name] = part
        yield chunk
