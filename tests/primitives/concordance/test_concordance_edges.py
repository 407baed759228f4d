"""Edge cases and tie semantics: the encoding, the exact oracle against sksurv on tie-heavy
data, and the circuit's exact behaviour where the sign polynomial is exact (p(0) = 0)."""

from __future__ import annotations

import numpy as np
import pytest
from sksurv.metrics import concordance_index_censored

from regaudit.shared.errors import BundleFormatError, NoiseBoundError
from regaudit.shared.planning import evaluate_plaintext
from regaudit.shared.primitives.concordance.circuit import ConcordanceCircuit
from regaudit.shared.primitives.concordance.inputs import parse
from regaudit.shared.primitives.concordance.layout import output_scale, pair_count, sign_polynomial
from regaudit.shared.primitives.concordance.reference import reference
from regaudit.shared.primitives.concordance.report import build_report, decode, decode_outputs


def _parse(risk: list[float], time: list[float], event: list[int]):  # type: ignore[no-untyped-def]
    return parse({"risk": risk, "time": time, "event": event})


def _circuit_report(data) -> dict:  # type: ignore[no-untyped-def]
    _, outputs = evaluate_plaintext(ConcordanceCircuit(), data)
    return decode(outputs, data.public, data.rows)


def test_encoding_orders_events_before_censorings_and_keeps_event_ties() -> None:
    data = _parse([1, 2, 3, 4, 5], [2, 2, 2, 1, 3], [1, 1, 0, 0, 1])
    code = data.time_code
    assert code[3] < code[0] == code[1] < code[2] < code[4]
    # two events share time 2: each has one other tied event
    assert data.tie_weight.tolist() == [0.25, 0.25, 0.0, 0.0, 0.0]
    assert data.risk_code.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_sign_polynomial_is_odd_and_exact_at_zero() -> None:
    x = np.linspace(-1, 1, 2001)
    assert np.allclose(sign_polynomial(x), -sign_polynomial(-x))
    assert sign_polynomial(0.0) == 0.0
    assert np.abs(sign_polynomial(x)).max() <= 1.1803


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reference_equals_sksurv_on_tie_heavy_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    time = rng.integers(0, 12, n).astype(float)  # many tied times
    event = (rng.random(n) < 0.5).astype(int)
    risk = rng.integers(0, 6, n).astype(float)  # many tied risks
    ref = concordance_index_censored(event.astype(bool), time, risk)
    data = _parse(risk.tolist(), time.tolist(), event.tolist())
    exact = reference(data)
    assert exact["c_index"] == pytest.approx(ref[0], abs=1e-12)
    assert exact["comparable_pairs"] == ref[1] + ref[2] + ref[3]
    assert exact["tied_risk_pairs"] == ref[3] and exact["tied_time_pairs"] == ref[4]
    # the circuit on the same tie-heavy data stays close
    report = _circuit_report(data)
    assert abs(report["c_index"] - ref[0]) < 0.02


def test_all_risks_tied_gives_exactly_one_half() -> None:
    rng = np.random.default_rng(7)
    time = rng.exponential(5, 200).tolist()
    event = (rng.random(200) < 0.6).astype(int).tolist()
    report = _circuit_report(_parse([0.4] * 200, time, event))
    assert report["c_index"] == 0.5  # p(0) = 0: every pair counts 1/2 exactly


def test_uncensored_comparable_count_is_exact_with_tied_event_times() -> None:
    # no censoring: every pair is comparable unless its two times are tied; the circuit's
    # comparable count is exact there (D = 0), tied event pairs are removed by the ties columns
    rng = np.random.default_rng(11)
    n = 150
    time = rng.integers(0, 30, n).astype(float)
    risk = rng.normal(size=n)
    data = _parse(risk.tolist(), time.tolist(), [1] * n)
    exact = reference(data)
    _, counts = np.unique(time, return_counts=True)
    assert exact["comparable_pairs"] == pair_count(n) - int((counts * (counts - 1) // 2).sum())
    report = _circuit_report(data)
    assert report["comparable_pairs"] == pytest.approx(exact["comparable_pairs"], abs=1e-6)


def test_event_and_censoring_at_the_same_time_are_comparable() -> None:
    data = _parse([2.0, 1.0], [5.0, 5.0], [1, 0])
    exact = reference(data)
    assert exact["comparable_pairs"] == 1 and exact["c_index"] == 1.0
    report = _circuit_report(data)
    assert report["comparable_pairs"] == pytest.approx(1.0, abs=0.05)
    # two events at the same time are not comparable -> no comparable pair at all
    with pytest.raises(Exception) as info:
        _parse([2.0, 1.0], [5.0, 5.0], [1, 1])
    assert getattr(info.value, "field", None) == "event"


def test_decode_refuses_disagreeing_slots_and_wrong_shapes() -> None:
    public = {"patients": 10}
    rows = pair_count(10)
    good = [np.full(16, 20.0), np.full(16, 5.0)]
    comparable, balance, noise = decode_outputs(good, public, rows)
    assert (comparable, balance) == (20.0 / output_scale(rows), 5.0 / output_scale(rows))
    assert noise > 0
    bad = [good[0].copy(), good[1]]
    bad[0][3] += 0.5
    with pytest.raises(NoiseBoundError):
        decode_outputs(bad, public, rows)
    with pytest.raises(BundleFormatError):
        decode_outputs(good[:1], public, rows)
    with pytest.raises(BundleFormatError):
        decode_outputs(good, public, rows + 1)
    with pytest.raises(NoiseBoundError):
        decode_outputs([np.full(16, np.nan), good[1]], public, rows)


def test_undefined_c_index_when_nothing_is_comparable() -> None:
    report = build_report(0.0, 0.0, patients=10)
    assert report["c_index"] is None and report["c_index_error_bound"] is None


def test_streamed_chunks_equal_the_materialized_layout() -> None:
    from regaudit.shared.circuits.base import iter_chunks

    rng = np.random.default_rng(3)
    n = 200  # 19,900 pairs: 3 chunks of 8,192, the last one padded
    data = _parse(
        rng.normal(size=n).tolist(),
        rng.exponential(size=n).tolist(),
        (rng.random(n) < 0.5).astype(int).tolist(),
    )
    columns = data.columns()
    i, j = np.triu_indices(n, 1)
    assert np.array_equal(columns["risk_i"], data.risk_code[i])
    assert np.array_equal(columns["time_j"], data.time_code[j])
    streamed = list(data.iter_chunks(8192))
    generic = list(iter_chunks(columns, 8192))
    assert len(streamed) == len(generic) == 3
    for got, want in zip(streamed, generic, strict=True):
        assert list(got) == list(want)
        for name in got:
            assert np.array_equal(got[name], want[name])


def test_report_matches_the_output_schema() -> None:
    from regaudit.shared import schemas

    rng = np.random.default_rng(5)
    n = 60
    data = _parse(
        rng.normal(size=n).tolist(),
        rng.exponential(size=n).tolist(),
        (rng.random(n) < 0.5).astype(int).tolist(),
    )
    report = _circuit_report(data)
    schemas.validate("concordance.output", report)
    schemas.validate("concordance.output", build_report(0.0, 0.0, patients=n))
