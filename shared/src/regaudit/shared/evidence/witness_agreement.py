"""Whether a witness evaluator's result agrees with the primary's: the one comparison of the
client (before it signs anything) and the regulator (``verify``).

CKKS evaluation in regaudit is deterministic: the same job (same evaluation keys, same input
ciphertexts, same plan) gives the same output ciphertexts on any evaluator running the same CKKS
library build. Two results are compared by their *content* digests
(:func:`regaudit.shared.ciphertext_content.ciphertext_content_digest`: the ciphertexts'
uncompressed members), never by the bytes of their zstd serialization, which may differ between
builds for the very same ciphertext. Across *different* CKKS library versions a difference could
come from the library rather than from a cheat, so such a pair is compared only if it is listed
in :data:`KNOWN_TO_AGREE`; otherwise the witness is refused as ``witness_incomparable`` rather
than raising a false ``witness_disagreement``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from regaudit.shared.errors import WitnessDisagreementError, WitnessIncomparableError

#: The receipt ``software`` entries naming the CKKS library build that computed (TenSEAL's
#: version and SEAL's serialization version).
CKKS_LIBRARY_KEYS: tuple[str, ...] = ("tenseal", "seal")

#: Library versions: the (key, version) pairs of :data:`CKKS_LIBRARY_KEYS` a receipt names.
LibraryVersions = tuple[tuple[str, str], ...]

#: Pairs of *different* CKKS library versions known to give byte-identical ciphertext contents
#: for every circuit (each pair in both orders is accepted). Identical versions always agree.
#: Add a pair only after the determinism tests (tests/determinism) ran on both builds.
KNOWN_TO_AGREE: frozenset[frozenset[LibraryVersions]] = frozenset()


def library_versions(software: Mapping[str, str]) -> LibraryVersions:
    """The CKKS library versions a receipt's ``software`` names, in a fixed order."""
    return tuple((key, software[key]) for key in CKKS_LIBRARY_KEYS if key in software)


def check_comparable(
    primary: Mapping[str, str], witness: Mapping[str, str], *, who: str = "the witness"
) -> LibraryVersions:
    """The witness's CKKS library versions are the primary's, or a pair known to agree
    (:data:`KNOWN_TO_AGREE`); returns the witness's. Raises WitnessIncomparableError.

    Steps: 1. both receipts name their CKKS library versions; 2. they are identical or a known
    pair."""
    # 1. named
    ours, theirs = library_versions(primary), library_versions(witness)
    if not ours or not theirs:
        raise WitnessIncomparableError(
            f"{who}'s receipt or the primary's names no CKKS library version "
            f"(software entries {list(CKKS_LIBRARY_KEYS)}): the results cannot be compared",
            field="software",
        )
    # 2. identical or known to agree
    if ours != theirs and frozenset({ours, theirs}) not in KNOWN_TO_AGREE:
        raise WitnessIncomparableError(
            f"{who} ran {_text(theirs)}, the primary {_text(ours)}: these builds are not known "
            "to compute identical ciphertexts, so a difference would prove nothing",
            field="software",
        )
    return theirs


def check_agreement(
    primary: Sequence[tuple[str, str]],
    witness: Sequence[tuple[str, str]],
    *,
    who: str = "the witness",
) -> None:
    """The witness's (output name, content digest) list equals the primary's, output by output
    (the canary included). Raises WitnessDisagreementError naming the first differing output."""
    if [name for name, _ in witness] != [name for name, _ in primary]:
        raise WitnessDisagreementError(
            f"{who} returned outputs {[n for n, _ in witness]}, the primary "
            f"{[n for n, _ in primary]}",
            field="outputs",
        )
    for (name, ours), (_, theirs) in zip(primary, witness, strict=True):
        if ours != theirs:
            raise WitnessDisagreementError(
                f"{who} computed a different {name} than the primary for the same job "
                f"(content {theirs[:23]}... vs {ours[:23]}...): one of the two evaluators "
                "computed wrongly",
                field=name,
            )


def _text(versions: LibraryVersions) -> str:
    return ", ".join(f"{key} {value}" for key, value in versions)


__all__ = [
    "CKKS_LIBRARY_KEYS",
    "KNOWN_TO_AGREE",
    "LibraryVersions",
    "check_agreement",
    "check_comparable",
    "library_versions",
]
