"""The sampled witness's arithmetic: partial digests, the RFC 6962 Merkle root, the sample drawn
from the primary receipt's digest and the client's nonce, and the detection probability.

Known answers are derived by hand from the definitions (the Merkle shapes) or pinned (the
sample stream); the statistical tests draw the sample for thousands of receipt digests and
compare the detection rate of an altered chunk with the exact and the stated probability.
"""

from __future__ import annotations

import hashlib
import math

import pytest

from regaudit.shared.errors import InputError
from regaudit.shared.evidence.witness_sampling import (
    derive_sample,
    detection_bound,
    detection_probability,
    detection_summary,
    merkle_root,
    partial_digest,
    sample_size,
    sampled_indices_valid,
)


def digest(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def leaf(d: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(d[7:])).digest()


def node(a: bytes, b: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + a + b).digest()


DIGESTS = [digest(f"chunk {i}") for i in range(8)]
NONCE = bytes(range(32))
RECEIPT = digest("primary receipt")


# --- partial digests and the Merkle root ------------------------------------------------------


def test_partial_digest_is_domain_separated_and_ordered() -> None:
    a, b = digest("acc 0"), digest("acc 1")
    expected = hashlib.sha256(
        b"regaudit/chunk-partial/v1\x00"
        + (2).to_bytes(4, "big")
        + bytes.fromhex(a[7:])
        + bytes.fromhex(b[7:])
    ).hexdigest()
    assert partial_digest([a, b]) == "sha256:" + expected
    assert partial_digest([b, a]) != partial_digest([a, b])
    with pytest.raises(InputError):
        partial_digest([])
    with pytest.raises(InputError):
        partial_digest(["sha256:" + "A" * 64])


def test_merkle_root_shapes_follow_rfc6962() -> None:
    ls = [leaf(d) for d in DIGESTS]
    assert merkle_root(DIGESTS[:1]) == "sha256:" + ls[0].hex()
    assert merkle_root(DIGESTS[:2]) == "sha256:" + node(ls[0], ls[1]).hex()
    # three leaves: the left subtree holds two (the largest power of two below three)
    assert merkle_root(DIGESTS[:3]) == "sha256:" + node(node(ls[0], ls[1]), ls[2]).hex()
    four = node(node(ls[0], ls[1]), node(ls[2], ls[3]))
    assert merkle_root(DIGESTS[:4]) == "sha256:" + four.hex()
    assert merkle_root(DIGESTS[:5]) == "sha256:" + node(four, ls[4]).hex()
    seven = node(four, node(node(ls[4], ls[5]), ls[6]))
    assert merkle_root(DIGESTS[:7]) == "sha256:" + seven.hex()


def test_merkle_root_separates_leaves_from_nodes_and_orders() -> None:
    # a leaf whose digest is an interior node's hash must not give that node's root
    ls = [leaf(d) for d in DIGESTS[:2]]
    forged = "sha256:" + node(ls[0], ls[1]).hex()
    assert merkle_root([forged]) != merkle_root(DIGESTS[:2])
    swapped = [DIGESTS[1], DIGESTS[0], *DIGESTS[2:]]
    assert merkle_root(swapped) != merkle_root(DIGESTS)
    assert merkle_root(DIGESTS[:6]) != merkle_root(DIGESTS[:7])
    with pytest.raises(InputError):
        merkle_root([])
    with pytest.raises(InputError) as raised:
        merkle_root([DIGESTS[0], DIGESTS[1], "sha256:zz"])
    assert raised.value.field == "partial_digests[2]"


# --- the sample ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fraction", "n", "k"),
    [(0.1, 10, 1), (0.07, 100, 7), (0.1, 400, 40), (0.05, 49, 3), (1.0, 13, 13), (1e-9, 5, 1)],
)
def test_sample_size(fraction: float, n: int, k: int) -> None:
    assert sample_size(fraction, n) == k


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.01, float("nan"), float("inf")])
def test_sample_size_refuses_bad_fractions(fraction: float) -> None:
    with pytest.raises(InputError) as raised:
        sample_size(fraction, 10)
    assert raised.value.field == "witness_sample"


def test_sample_known_answer_and_determinism() -> None:
    sample = derive_sample(primary_receipt_digest=RECEIPT, nonce=NONCE, n_chunks=100, k=10)
    # pinned: changing the stream, the domain tag or the shuffle changes every sample
    assert sample == PINNED_SAMPLE
    assert sample == derive_sample(primary_receipt_digest=RECEIPT, nonce=NONCE, n_chunks=100, k=10)
    assert sampled_indices_valid(sample, 100)
    # every input of the derivation changes the sample
    other_nonce = derive_sample(primary_receipt_digest=RECEIPT, nonce=bytes(32), n_chunks=100, k=10)
    other_receipt = derive_sample(
        primary_receipt_digest=digest("another receipt"), nonce=NONCE, n_chunks=100, k=10
    )
    other_n = derive_sample(primary_receipt_digest=RECEIPT, nonce=NONCE, n_chunks=101, k=10)
    assert len({sample, other_nonce, other_receipt, other_n}) == 4


PINNED_SAMPLE = (7, 10, 12, 15, 26, 28, 59, 63, 74, 77)


def reference_sample(receipt: str, nonce: bytes, n: int, k: int) -> tuple[int, ...]:
    """The sample re-derived from its specification (module docstring), independently."""
    import hmac

    prefix = b"regaudit/witness-sample/v1\x00" + bytes.fromhex(receipt[7:])
    prefix += n.to_bytes(8, "big") + k.to_bytes(8, "big")
    words: list[int] = []
    for counter in range(300):
        block = hmac.new(nonce, prefix + counter.to_bytes(8, "big"), hashlib.sha256).digest()
        words += [int.from_bytes(block[i : i + 8], "big") for i in range(0, 32, 8)]
    items = list(range(n))
    for position in range(k):
        bound = n - position
        limit = 2**64 - 2**64 % bound
        while (word := words.pop(0)) >= limit:
            pass
        other = position + word % bound
        items[position], items[other] = items[other], items[position]
    return tuple(sorted(items[:k]))


@pytest.mark.parametrize(("n", "k"), [(100, 10), (7, 7), (1000, 3), (3, 2)])
def test_sample_matches_its_specification(n: int, k: int) -> None:
    for i in range(5):
        receipt, nonce = digest(f"spec {i}"), hashlib.sha256(f"n{i}".encode()).digest()
        assert derive_sample(
            primary_receipt_digest=receipt, nonce=nonce, n_chunks=n, k=k
        ) == reference_sample(receipt, nonce, n, k)


def test_sample_edges() -> None:
    whole = derive_sample(primary_receipt_digest=RECEIPT, nonce=NONCE, n_chunks=37, k=37)
    assert whole == tuple(range(37))
    assert derive_sample(primary_receipt_digest=RECEIPT, nonce=NONCE, n_chunks=1, k=1) == (0,)
    big = derive_sample(primary_receipt_digest=RECEIPT, nonce=NONCE, n_chunks=2**20, k=1000)
    assert len(set(big)) == 1000 and sampled_indices_valid(big, 2**20)
    for bad in (
        {"n_chunks": 10, "k": 0},
        {"n_chunks": 10, "k": 11},
        {"n_chunks": 0, "k": 1},
        {"n_chunks": 10, "k": 1, "nonce": b"short"},
        {"n_chunks": 10, "k": 1, "primary_receipt_digest": "sha256:00"},
    ):
        arguments = {"primary_receipt_digest": RECEIPT, "nonce": NONCE, **bad}
        with pytest.raises(InputError):
            derive_sample(**arguments)  # type: ignore[arg-type]


def test_sampled_indices_valid() -> None:
    assert sampled_indices_valid([0, 3, 9], 10)
    assert not sampled_indices_valid([], 10)
    assert not sampled_indices_valid([3, 3], 10)
    assert not sampled_indices_valid([4, 3], 10)
    assert not sampled_indices_valid([0, 10], 10)
    assert not sampled_indices_valid([-1, 2], 10)


def test_every_chunk_is_equally_likely() -> None:
    """Over 6000 receipt digests, each of 12 chunks is in a k=3 sample about 1/4 of the time."""
    n, k, draws = 12, 3, 6000
    counts = [0] * n
    for i in range(draws):
        for chunk in derive_sample(
            primary_receipt_digest=digest(f"receipt {i}"), nonce=NONCE, n_chunks=n, k=k
        ):
            counts[chunk] += 1
    expected = draws * k / n
    sigma = math.sqrt(draws * (k / n) * (1 - k / n))
    assert all(abs(c - expected) < 4.5 * sigma for c in counts), counts


@pytest.mark.parametrize(("n", "altered", "fraction"), [(50, 1, 0.1), (50, 5, 0.1), (40, 4, 0.05)])
def test_detection_rate_matches_the_stated_probability(
    n: int, altered: int, fraction: float
) -> None:
    """A cheat alters ``altered`` chunks (spread over the job); over 4000 primary receipts the
    witness's sample catches it at the exact hypergeometric rate, which is at least the stated
    bound 1 - (1 - f)^k."""
    k = sample_size(fraction, n)
    cheated = {round(j * n / altered) for j in range(altered)}
    draws = 4000
    caught = sum(
        bool(
            cheated.intersection(
                derive_sample(
                    primary_receipt_digest=digest(f"series {n}/{altered} #{i}"),
                    nonce=hashlib.sha256(f"nonce {i}".encode()).digest(),
                    n_chunks=n,
                    k=k,
                )
            )
        )
        for i in range(draws)
    )
    exact = detection_probability(n, altered, k)
    bound = detection_bound(altered / n, k)
    assert exact >= bound
    sigma = math.sqrt(exact * (1 - exact) / draws)
    assert abs(caught / draws - exact) < 4 * sigma, (caught / draws, exact, bound)
    assert caught / draws > bound - 4 * sigma


def test_detection_formulas() -> None:
    assert detection_bound(0.1, 5) == pytest.approx(1 - 0.9**5)
    assert detection_bound(0.0, 5) == 0.0
    assert detection_probability(50, 1, 5) == pytest.approx(0.1)
    assert detection_probability(10, 10, 1) == 1.0
    assert detection_probability(10, 0, 10) == 0.0
    summary = detection_summary(100, 10)
    assert set(summary) == {"f=0.01", "f=0.05", "f=0.1", "one_chunk"}
    assert summary["f=0.1"] == pytest.approx(1 - 0.9**10)
    assert summary["one_chunk"] == pytest.approx(1 - 0.99**10)
    with pytest.raises(InputError):
        detection_bound(1.5, 3)
