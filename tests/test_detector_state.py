"""Every detector's typed state record captures all it learned: a detector restored from its
encoded record is indistinguishable from the original (every attribute, recursively) and scores
the following buckets bit for bit the same.

Why this test: a field forgotten in ``state()`` would only show as a slightly different score days
after a restart; comparing the objects' whole attribute trees catches it at once.
"""

from __future__ import annotations

import math
import random
from collections import deque
from typing import Any

import msgspec
import pytest

from monitor.anomaly.divergence_cusum import DivergenceDetector
from monitor.anomaly.freshness import FreshnessDetector
from monitor.anomaly.latency import LatencyDetector
from monitor.anomaly.mix import MixDetector
from monitor.anomaly.model import CheckDef, CheckKind, Target
from monitor.anomaly.proportion import ProportionDetector
from monitor.anomaly.segments import Segments
from monitor.anomaly.state import DetectorState
from monitor.anomaly.volume import VolumeDetector
from monitor.ledger.sketch import LatencySketch

BUCKET = 300.0


def _check(kind: CheckKind, **params: Any) -> CheckDef:
    return CheckDef(
        f"{kind}-check", kind, Target("p", hop="h"), warmup=3600.0, min_events=5, params=params
    )


def _tree(obj: Any) -> Any:
    """A comparable picture of an object: attributes recursively, floats by their bits (so
    -0.0, NaN and an int-valued float that became an int are all told apart)."""
    if isinstance(obj, float):
        return ("float", obj.hex()) if not math.isnan(obj) else ("float", "nan")
    if isinstance(obj, (bool, int, str, type(None))):
        return (type(obj).__name__, obj)
    if isinstance(obj, (list, tuple, deque)):
        extra = obj.maxlen if isinstance(obj, deque) else None
        return (type(obj).__name__, extra, [_tree(v) for v in obj])
    if isinstance(obj, dict):
        return ("dict", [(k, _tree(v)) for k, v in obj.items()])
    if isinstance(obj, (set, frozenset)):
        return ("set", sorted(obj))
    if isinstance(obj, CheckDef):
        return ("check", repr(obj))
    if hasattr(obj, "__dict__"):
        return (type(obj).__name__, {k: _tree(v) for k, v in sorted(vars(obj).items())})
    return ("other", repr(obj))


def _sketch(rng: random.Random, scale: float) -> LatencySketch:
    s = LatencySketch()
    for _ in range(30):
        s.add(rng.expovariate(1 / scale))
    return s


def _points(kind: str, rng: random.Random, n: int) -> list[Any]:
    out: list[Any] = []
    for i in range(n):
        drop = 0.6 if n * 0.6 < i < n * 0.7 else 1.0
        if kind == "divergence":
            e = rng.randint(80, 120)
            out.append((e, int(e * drop) - rng.randint(0, 1)))
        elif kind in ("volume-count", "freshness"):
            out.append(0 if kind == "freshness" and drop < 1 else int(rng.gauss(100, 10) * drop))
        elif kind == "volume-real":
            out.append(rng.gauss(50, 5) * drop + 10 * math.sin(i / 12))
        elif kind == "proportion":
            t = rng.randint(80, 120)
            out.append((int(t * 0.05 / drop) + rng.randint(0, 3), t))
        elif kind == "mix":
            out.append({"a": rng.randint(40, 60), "b": int(rng.randint(40, 60) * drop), "c": 2})
        elif kind == "latency":
            out.append(_sketch(rng, 0.5 / drop))
    return out


CASES = {
    "divergence": lambda: DivergenceDetector(_check(CheckKind.DIVERGENCE), BUCKET),
    "volume-count": lambda: VolumeDetector(_check(CheckKind.VOLUME, min_history=12), BUCKET),
    "volume-real": lambda: VolumeDetector(
        _check(CheckKind.VOLUME, min_history=12, value_type="real"), BUCKET
    ),
    "proportion": lambda: ProportionDetector(_check(CheckKind.REJECTIONS), BUCKET),
    "freshness": lambda: FreshnessDetector(_check(CheckKind.FRESHNESS), BUCKET),
    "latency": lambda: LatencyDetector(_check(CheckKind.LATENCY), BUCKET),
    "mix": lambda: MixDetector(_check(CheckKind.MIX, attribute="x"), BUCKET),
}


@pytest.mark.parametrize("kind", sorted(CASES))
@pytest.mark.parametrize("cut", [3, 40, 700])
def test_a_restored_detector_is_the_detector_it_was(kind: str, cut: int) -> None:
    rng = random.Random(f"{kind}-{cut}")
    points = _points(kind, rng, cut + 300)
    start = 1_767_225_600.0
    original = CASES[kind]()
    for i, p in enumerate(points[:cut]):
        original.update(start + i * BUCKET, p)
    blob = msgspec.msgpack.encode(original.state())
    restored = CASES[kind]()
    restored.restore(msgspec.msgpack.decode(blob, type=DetectorState))
    assert _tree(restored) == _tree(original)
    for i, p in enumerate(points[cut:], start=cut):
        a, b = original.update(start + i * BUCKET, p), restored.update(start + i * BUCKET, p)
        assert (a.score.hex(), a.state, a.alert) == (b.score.hex(), b.state, b.alert)
        assert a.evidence == b.evidence
    assert _tree(restored) == _tree(original)


def test_a_state_is_refused_by_another_kind_of_detector() -> None:
    state = CASES["mix"]().state()
    with pytest.raises(TypeError):
        CASES["proportion"]().restore(state)  # type: ignore[arg-type]


def test_segments_round_trip() -> None:
    seg = Segments(5.0, span=12.0)
    for counts in ({"eu": 40, "us": 3}, {"eu": 41}, {"us": 2, "ap": 1}):
        seg.split(counts)
    again = Segments.from_state(
        msgspec.msgpack.decode(msgspec.msgpack.encode(seg.state()), type=type(seg.state()))
    )
    assert _tree(again) == _tree(seg)
    assert again.split({"eu": 39, "us": 9}) == seg.split({"eu": 39, "us": 9})
