"""Per-series tail calibration (``monitor.anomaly.tail_threshold``) on constructed score series."""

from __future__ import annotations

import msgspec
import numpy as np

from monitor.anomaly.model import CheckDef, CheckKind, Target
from monitor.anomaly.tail_threshold import TailThreshold, gpd_quantile
from monitor.anomaly.volume import VolumeDetector
from monitor.anomaly.volume_state import VolumeState

N_PARETO = 59


def _exceedances(x: np.ndarray, t: TailThreshold, warm: int) -> int:
    n = 0
    for i, r in enumerate(x):
        if i >= warm and r >= t.threshold:
            n += 1
        t.add(float(r))
    return n


def test_pareto_scores_are_held_to_the_stated_rate():
    # Ratios with a Pareto tail (shape 2): the model's r = 1 is exceeded by 4% of buckets, 40
    # times the allowed 0.1%. The fitted tail brings it to 56 expected exceedances in 56,000.
    rng = np.random.default_rng(7)
    x = 0.2 * rng.random(60_000) ** -0.5
    assert int((x[4000:] >= 1.0).sum()) == 2198
    t = TailThreshold(alpha=0.001, memory=4000, refit_every=500, max_threshold=100.0)
    n = _exceedances(x, t, 4000)
    assert t.method == "gpd"
    assert n == N_PARETO  # 56 expected at the stated rate; within 30% over a long run
    assert 0.7 * 56 <= n <= 1.3 * 56


def test_a_series_the_model_fits_keeps_the_models_threshold():
    # Ratios whose tail is lighter than the model's: the calibration never lowers r = 1.
    rng = np.random.default_rng(3)
    x = np.abs(rng.normal(0.0, 0.15, 20_000))
    t = TailThreshold(alpha=0.001, memory=4000, refit_every=500)
    assert _exceedances(x, t, 4000) == 0
    assert t.threshold == 1.0


def test_gpd_quantile_exponential_limit():
    # ξ = 0: exponential excess, u + σ·ln(rate/α).
    assert abs(gpd_quantile(1.0, 2.0, 0.0, 0.01, 0.0001) - (1.0 + 2.0 * np.log(100.0))) < 1e-9
    assert gpd_quantile(1.0, 2.0, 0.5, 0.01, 0.02) == 1.0


def test_volume_state_keeps_the_calibration_and_reads_records_without_it():
    check = CheckDef(
        name="v",
        kind=CheckKind.VOLUME,
        target=Target(pipeline="p"),
        false_alarms_per_30d=1.0,
        warmup=0.0,
        params={"calibrate": "all", "calibration_refit_seconds": 3600},
    )
    d = VolumeDetector(check, 300.0)
    rng = np.random.default_rng(1)
    for i in range(3000):
        d.update(i * 300.0, float(rng.poisson(50)))
    state = d.state()
    assert (
        state.calibration is not None and len(state.calibration.window) == 3000 - 24
    )  # scored buckets only
    blob = msgspec.msgpack.encode(state)
    again = VolumeDetector(check, 300.0)
    again.restore(msgspec.msgpack.decode(blob, type=VolumeState))
    assert again.calibration.state() == d.calibration.state()
    # A record written before the calibration existed: the series re-learns it, no crash.
    old = msgspec.structs.replace(state, calibration=None)
    fresh = VolumeDetector(check, 300.0)
    fresh.restore(old)
    assert fresh.calibration.threshold == 1.0 and len(fresh.calibration.window) == 0
