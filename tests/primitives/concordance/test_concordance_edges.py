"""Edge cases, tie semantics and integrity of the per-patient encodings: the transforms, the
derived one-hot, the circuit's exact counts against sksurv on tie-heavy data, the decoder's
refusals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sksurv.metrics import concordance_index_censored

from regaudit.shared.errors import BundleFormatError, NoiseBoundError
from regaudit.shared.plaintext import PlaintextBackend
from regaudit.shared.planning import evaluate_plaintext
from regaudit.shared.primitives.concordance.circuit import ConcordanceCircuit, onehot
from regaudit.shared.primitives.concordance.encoding import counts, encode, transforms
from regaudit.shared.primitives.concordance.inputs import ConcordanceData, parse
from regaudit.shared.primitives.concordance.layout import (
    LAYOUT_SLOTS,
    ROWS,
    geometry,
    output_scale,
    pair_count,
)
from regaudit.shared.primitives.concordance.reference import reference
from regaudit.shared.primitives.concordance.report import build_report, decode, decode_counts


def _parse(risk: Any, time: Any, event: Any) -> ConcordanceData:
    return parse({"risk": list(risk), "time": list(time), "event": list(event)})


def _circuit_report(data: ConcordanceData) -> dict[str, Any]:
    _, outputs = evaluate_plaintext(ConcordanceCircuit(), data)
    return decode(outputs, data.public, data.rows)


def _assert_equals_sksurv(data: ConcordanceData) -> dict[str, Any]:
    ref = concordance_index_censored(data.event.astype(bool), data.time, data.risk)
    report = _circuit_report(data)
    assert report["comparable_pairs"] == ref[1] + ref[2] + ref[3]
    assert report["concordant_pairs"] == ref[1] + 0.5 * ref[3]
    assert report["tied_risk_pairs"] == ref[3]
    assert report["c_index"] == pytest.approx(ref[0], abs=1e-15)
    assert report["c_index_error_bound"] == 0.0
    return report


def test_transforms_follow_the_public_rules() -> None:
    # times 2, 2, 2, 1, 3; events first at a tied time, then higher risk first
    data = _parse([1, 2, 3, 4, 5], [2, 2, 2, 1, 3], [1, 1, 0, 0, 1])
    t = data.transform
    assert t.time_position.tolist() == [2, 1, 3, 0, 4]
    assert t.risk_position.tolist() == [0, 1, 2, 3, 4]
    # patient 1 (p = 1) has one later tied event partner (patient 0, p = 2, other risk)
    assert t.tied.tolist() == [0, 1, 0, 0, 0]
    assert t.tied_other.tolist() == [0, 1, 0, 0, 0]
    assert t.equal.tolist() == [0, 0, 0, 0, 0]
    # recomputable: the same raw values give the same transforms and encodings
    again = transforms(data.risk.copy(), data.time.copy(), data.event.copy())
    for field in ("time_position", "risk_position", "bucket", "sigma", "tied", "equal"):
        assert np.array_equal(getattr(again, field), getattr(t, field))
    first, second = data.columns(), encode(again, data.event)
    assert all(np.array_equal(first[name], second[name]) for name in first)


def test_onehot_is_derived_from_the_thermometer_in_every_block() -> None:
    block = geometry(100).block
    backend = PlaintextBackend(LAYOUT_SLOTS, max_level=6)
    values = (np.arange(LAYOUT_SLOTS // block) * 2) % (block - 1)
    theta = np.concatenate([(np.arange(block) > v).astype(float) for v in values])
    derived = onehot(backend, backend.vector(theta), block).values.reshape(-1, block)
    assert np.array_equal(derived, np.eye(block)[values])
    # <onehot(u), theta(v)> = [v < u] for all u, v; an all-zero block (no patient) gives the
    # last slot only, which the event (0 there) removes
    for u in range(values.size):
        thetas = (np.arange(block)[None, :] > np.arange(block - 1)[:, None]).astype(float)
        assert np.array_equal(thetas @ derived[u], (np.arange(block - 1) < values[u]) * 1.0)
    empty = onehot(backend, backend.vector(np.zeros(LAYOUT_SLOTS)), block).values
    assert np.array_equal(empty.reshape(-1, block)[0], np.eye(block)[block - 1])


def test_no_one_hot_is_uploaded_and_one_thermometer_serves_all_pairs() -> None:
    # a client that changes one patient's uploaded thermometer changes ALL of that patient's
    # pairs consistently: every later patient b is compared with the same forged bucket
    rng = np.random.default_rng(4)
    n = 200
    data = _parse(
        rng.normal(size=n), rng.integers(0, 40, n).astype(float), (rng.random(n) < 0.5) * 1
    )
    assert not any("onehot" in name for name in data.columns())
    t = data.transform
    shape = t.shape
    events = np.flatnonzero(data.event == 1.0)
    patient = int(events[np.argmin(t.time_position[events])])
    old = int(t.bucket[patient])
    new = old + 2 if old + 2 < shape.buckets else old - 2
    columns = data.columns()
    back, c = divmod(int(t.time_position[patient]), shape.x_count)
    lane = shape.lanes - 1 - back
    span = slice(lane * shape.block, (lane + 1) * shape.block)
    columns[f"x_theta_{c}"][span] = np.arange(shape.block) > new
    circuit = ConcordanceCircuit()
    backend = PlaintextBackend(LAYOUT_SLOTS, max_level=6)
    vectors = {name: backend.vector(values, level=2) for name, values in columns.items()}
    outputs = circuit.finalize(
        backend, circuit.evaluate_chunk(backend, vectors, data.public), data.public, ROWS
    )
    got = round(float(outputs[0].values[0]) / output_scale(n))
    later = t.time_position > t.time_position[patient]
    moved = int(np.sum(later & (t.bucket < new))) - int(np.sum(later & (t.bucket < old)))
    assert moved != 0
    assert got == counts(t, data.event)["twice_concordant"] + 2 * moved


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_circuit_equals_sksurv_on_tie_heavy_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    time = rng.integers(0, 12, n).astype(float)  # many tied times
    event = (rng.random(n) < 0.5).astype(int)
    risk = rng.integers(0, 6, n).astype(float)  # many tied risks
    data = _parse(risk, time, event)
    report = _assert_equals_sksurv(data)
    exact = reference(data)
    assert report["concordant_pairs"] == exact["concordant_pairs"]


def test_all_risks_tied_gives_exactly_one_half() -> None:
    rng = np.random.default_rng(7)
    time = rng.exponential(5, 200)
    event = (rng.random(200) < 0.6).astype(int)
    report = _assert_equals_sksurv(_parse([0.4] * 200, time, event))
    assert report["c_index"] == 0.5
    assert report["tied_risk_pairs"] == report["comparable_pairs"]


def test_uncensored_comparable_count_with_tied_event_times() -> None:
    rng = np.random.default_rng(11)
    n = 150
    time = rng.integers(0, 30, n).astype(float)
    data = _parse(rng.normal(size=n), time, [1] * n)
    _, sizes = np.unique(time, return_counts=True)
    tied = int((sizes * (sizes - 1) // 2).sum())
    report = _assert_equals_sksurv(data)
    assert report["comparable_pairs"] == pair_count(n) - tied
    assert report["tied_event_pairs"] == tied


def test_event_and_censoring_at_the_same_time_are_comparable() -> None:
    report = _assert_equals_sksurv(_parse([2.0, 1.0], [5.0, 5.0], [1, 0]))
    assert report["comparable_pairs"] == 1 and report["c_index"] == 1.0
    with pytest.raises(Exception) as info:
        _parse([2.0, 1.0], [5.0, 5.0], [1, 1])
    assert getattr(info.value, "field", None) == "event"


def test_negative_zero_and_negative_risks() -> None:
    _assert_equals_sksurv(_parse([-0.0, 0.0, -1.5, 2.0, -1.5], [1, 2, 3, 4, 5], [1, 1, 1, 0, 1]))


def test_decode_refuses_non_integers_and_wrong_shapes() -> None:
    public = {"patients": 10}
    mu = output_scale(10)
    good = [np.full(16, 40.0 * mu), np.full(16, 30.0 * mu), np.full(16, 2 * mu), np.zeros(16)]
    assert decode_counts(good, public, ROWS) == {
        "twice_concordant": 40,
        "comparable": 30,
        "tied_risk": 2,
        "tied_event": 0,
    }
    off = [v.copy() for v in good]
    off[0][3] += 0.3 * mu
    with pytest.raises(NoiseBoundError, match=r"within 0\.25"):
        decode_counts(off, public, ROWS)
    inconsistent = [np.full(16, 80.0 * mu), *good[1:]]
    with pytest.raises(NoiseBoundError, match="inconsistent"):
        decode_counts(inconsistent, public, ROWS)
    with pytest.raises(BundleFormatError):
        decode_counts(good[:3], public, ROWS)
    with pytest.raises(BundleFormatError):
        decode_counts(good, public, ROWS + 1)
    with pytest.raises(NoiseBoundError):
        decode_counts([np.full(16, np.nan), *good[1:]], public, ROWS)


def test_undefined_c_index_when_nothing_is_comparable() -> None:
    zero = {"twice_concordant": 0, "comparable": 0, "tied_risk": 0, "tied_event": 0}
    report = build_report(zero, patients=10)
    assert report["c_index"] is None and report["c_index_error_bound"] == 0.0


def test_report_matches_the_output_schema() -> None:
    from regaudit.shared import schemas

    rng = np.random.default_rng(5)
    n = 60
    data = _parse(rng.normal(size=n), rng.exponential(size=n), (rng.random(n) < 0.5) * 1)
    schemas.validate("concordance.output", _circuit_report(data))
    zero = {"twice_concordant": 0, "comparable": 0, "tied_risk": 0, "tied_event": 0}
    schemas.validate("concordance.output", build_report(zero, patients=n))
