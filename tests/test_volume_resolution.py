"""The series' measurement resolution and the precedent test's allowance for it."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.anomaly.model import CheckDef, CheckKind, Target
from monitor.anomaly.volume import VolumeDetector
from monitor.anomaly.volume_precedent import PrecedentTest
from monitor.anomaly.volume_resolution import Resolution

DAY = 86400.0
BUCKET = 300.0
T0 = 1_700_006_400.0  # a Wednesday 00:00 UTC
Q = 0.002


def grid(k: int) -> float:
    """``k`` steps of the grid, as a CSV would print it (0.134, not 0.13400000000000001)."""
    return round(k * Q, 3)


def test_the_grid_step_is_the_smallest_common_step_when_the_other_common_ones_are_on_it():
    r = Resolution(min_steps=50)
    for k in [66, 67, 33, 34, 67, 66] * 20:  # steps of 0.002, 0.068, 0.066, ... as in EC2 CPU
        r.add(grid(k))
    assert r.quantum() == 0.002
    bimodal = Resolution(min_steps=50)
    for v in [100.0, 118.0, 144.4, 177.4] * 30:  # usual jumps of 18, 26.4 and 33 bytes: no grid
        bimodal.add(v)
    assert bimodal.quantum() == 0.0
    noise = Resolution(min_steps=50)
    for v in np.random.default_rng(1).normal(10.0, 1.0, 500).tolist():  # no step recurs
        noise.add(v)
    assert noise.quantum() == 0.0
    short = Resolution(min_steps=50)
    for k in [66, 67] * 20:  # 39 steps: not enough to say
        short.add(grid(k))
    assert short.quantum() == 0.0


def test_the_resolution_survives_a_checkpoint():
    r = Resolution()
    for k in [66, 67, 33] * 40:
        r.add(grid(k))
    again = Resolution()
    again.restore(r.state())
    assert again.quantum() == r.quantum() == 0.002
    r.add(grid(70))
    again.add(grid(70))
    assert again.state() == r.state()
    with pytest.raises(ValueError, match="share"):
        Resolution(share=0.0)


def quiet_test() -> PrecedentTest:
    """A precedent test that has seen a quiet level on a 0.002 grid, and once a job's spike."""
    t = PrecedentTest(per_day=1, alpha=1e-3, scales=(1,), min_history=4, min_margin=0.05)
    for k in [66, 67] * 60 + [700, 66]:
        t.observe(grid(k))
    return t


def test_a_move_of_two_grid_steps_past_the_range_is_forgiven_and_a_third_is_not():
    t = quiet_test()
    assert t._resolution() == 0.002
    assert t.observe(grid(64))[0] == 0.0  # two steps below everything seen
    r, name = quiet_test().observe(grid(63))  # three: one step past the allowance
    assert name == "mean of 1" and 0.0 < r < 0.1  # of a range of 634 steps
    coded, plain = (
        PrecedentTest(per_day=1, alpha=1e-3, scales=(1,), min_history=4, quanta=q) for q in (2, 0)
    )
    for k in [0, 10] * 60:  # 0/10 steps: the step is the signal, not a rounding of it
        coded.observe(grid(k))
        plain.observe(grid(k))
    assert coded.resolution.quantum() == 0.02 and coded._resolution() == 0.0
    r = coded.observe(grid(20))[0]  # one range past: judged as without the allowance
    assert r == plain.observe(grid(20))[0] == pytest.approx(7.084467683731041)


def quiet_cpu(days: int, seed: int) -> list[float]:
    """An idle instance's CPU share on a 0.002 grid: 0.132 or 0.134, and 0.2 at 03:00 each night
    (a job: the values span 34 grid steps, their 12-hour mean a fraction of one)."""
    rng = np.random.default_rng(seed)
    values = [grid(int(k)) for k in rng.choice([66, 67], size=days * 288)]
    for d in range(days):
        values[d * 288 + 36] = grid(100)
    return values


def alerts(values: list[float], **params: object) -> list[int]:
    check = CheckDef(
        "cpu",
        CheckKind.VOLUME,
        Target("p"),
        false_alarms_per_30d=1.0,
        warmup=7 * DAY,
        params=params,
    )
    det = VolumeDetector(check, BUCKET)
    return [i for i, v in enumerate(values) if det.update(T0 + i * BUCKET, v).alert]


def test_a_quantised_quiet_series_moving_one_step_past_its_range_does_not_alarm():
    values = quiet_cpu(12, seed=3)
    step = 8 * 288 + 96  # day 8, 08:00: twelve hours at 0.130 or 0.132, one step lower
    lower = np.random.default_rng(13).choice([65, 66], size=144)
    values[step : step + 144] = [grid(int(k)) for k in lower]
    drop = 10 * 288 + 120  # day 10, 10:00: the level drops to 0.066 for three hours
    values[drop : drop + 36] = [grid(33)] * 36
    assert alerts(values) == [drop]
    # Without the allowance the one-step move alarmed 20 minutes in; the real drop is found at
    # its first bucket either way.
    assert alerts(values, precedent_resolution_quanta=0) == [step + 4, drop]
