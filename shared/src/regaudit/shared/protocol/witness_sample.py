"""The sample a witness evaluator re-executes (``JobHeader.witness_sample`` on the wire).

A sampled witness job carries the primary's job header unchanged (the same client signature)
plus this sample: the digest of the primary's receipt, the client's nonce and the chunk indices
derived from both (:func:`regaudit.shared.evidence.witness_sampling.derive_sample`). The sample
is not signed by the client: whoever parses it checks that the indices *are* the derivation, the
witness attests it in its receipt, and the regulator derives it again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared.errors import InputError
from regaudit.shared.evidence.witness_sampling import (
    SAMPLE_NONCE_BYTES,
    derive_sample,
    sampled_indices_valid,
)


@dataclass(frozen=True)
class WitnessSample:
    """The chunks of a job a sampled witness evaluates, and what they were derived from."""

    primary_receipt_digest: str
    nonce: bytes
    #: strictly ascending chunk indices
    chunks: tuple[int, ...]

    @classmethod
    def derive(
        cls, *, primary_receipt_digest: str, nonce: bytes, n_chunks: int, k: int
    ) -> WitnessSample:
        """The sample of ``k`` out of ``n_chunks`` chunks for this receipt digest and nonce."""
        chunks = derive_sample(
            primary_receipt_digest=primary_receipt_digest, nonce=nonce, n_chunks=n_chunks, k=k
        )
        return cls(primary_receipt_digest=primary_receipt_digest, nonce=bytes(nonce), chunks=chunks)

    def check(self, n_chunks: int) -> None:
        """Raise InputError (field ``witness_sample.*``) unless the chunks are strictly
        ascending indices below ``n_chunks`` and exactly the derivation from the receipt digest
        and the nonce.

        Steps: 1. nonce length; 2. indices well formed; 3. the derivation gives them."""
        # 1. nonce
        if len(self.nonce) != SAMPLE_NONCE_BYTES:
            raise InputError(
                f"the nonce must be {SAMPLE_NONCE_BYTES} bytes", field="witness_sample.nonce"
            )
        # 2. indices
        if not sampled_indices_valid(self.chunks, n_chunks):
            raise InputError(
                f"the sampled chunks must be strictly ascending indices below {n_chunks}",
                field="witness_sample.chunks",
            )
        # 3. derivation
        try:
            derived = derive_sample(
                primary_receipt_digest=self.primary_receipt_digest,
                nonce=self.nonce,
                n_chunks=n_chunks,
                k=len(self.chunks),
            )
        except InputError as exc:
            raise InputError(exc.message, field=f"witness_sample.{exc.field}") from None
        if derived != self.chunks:
            raise InputError(
                "the sampled chunks are not the sample derived from the primary receipt digest "
                "and the nonce",
                field="witness_sample.chunks",
            )

    @property
    def digest(self) -> str:
        """A digest of the whole sample (scopes a witness job's idempotency key)."""
        text = f"{self.primary_receipt_digest}|{self.nonce.hex()}|{','.join(map(str, self.chunks))}"
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def to_proto(self) -> pb.WitnessSample:
        """This value as its protobuf message."""
        return pb.WitnessSample(
            primary_receipt_digest=self.primary_receipt_digest,
            nonce=self.nonce,
            chunks=list(self.chunks),
        )

    @classmethod
    def from_proto(cls, message: pb.WitnessSample) -> WitnessSample:
        """Parse the message's fields (their check against a header is :meth:`check`)."""
        return cls(
            primary_receipt_digest=message.primary_receipt_digest,
            nonce=bytes(message.nonce),
            chunks=tuple(int(chunk) for chunk in message.chunks),
        )


__all__ = ["WitnessSample"]
