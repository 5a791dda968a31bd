"""Variability features of the precedent test: has the series ever moved this much (or this little)
from bucket to bucket, over the last 30 min, 3 h or 12 h?

The value features of ``volume_precedent`` see a change of level, a new spike height or a denser
burst of spikes, but not a change of *spread* around an unchanged level: a flat metric that starts
to oscillate between two values (an auto-scaling group flapping), noise that doubles after a
deployment, or a busy metric that goes quiet. Those move the mean absolute step
``|x_t − x_{t−1}|`` over a window of ``w`` buckets, a distribution-free scale measure that costs O(1)
per bucket (no variance of a residual model, which real metrics do not follow). Each window is one
more ``PrecedentFeature`` with the same budget-derived margin as the value features.

Only windows of several buckets: one step is a spike, which the value and day-over-day features
already judge.

**Flagged buckets do not teach the windows.** A spike makes two large steps (up and back). If they
stayed in the windows, the 12-hour variability would carry the spike for 12 hours and come back as
a "new" alert when the hold-off ends: the same incident twice. So the step of a flagged bucket is
replaced by the last step of a normal bucket, and the next step is taken from the last normal
value. A lasting change of spread is still seen: it keeps flagging buckets until
``relearn_seconds``, after which its buckets are no longer excluded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.anomaly.volume_precedent import PrecedentFeature
from monitor.anomaly.volume_state import VariabilityState

__all__ = ["Variability"]


@dataclass
class Variability:
    """Means of ``|x_t − x_{t−1}|`` over each window of ``scales`` (buckets), as precedent
    features; ``step`` feeds one value, ``exclude_last`` takes back a flagged one."""

    scales: tuple[int, ...]
    memory: int
    features: list[PrecedentFeature] = field(init=False)
    _prev: float | None = None
    """The value the next step is taken from (the last normal one after an exclusion)."""
    _prev_normal: float | None = None
    _last_step: float | None = None
    _fill: float = 0.0
    """The last step of a bucket that was not flagged: what a flagged bucket's step becomes."""
    _last_excluded: bool = False

    def __post_init__(self) -> None:
        self.features = [
            PrecedentFeature(f"variability (mean step) over {w}", w, self.memory)
            for w in self.scales
            if w > 1
        ]

    def step(self, x: float) -> float | None:
        """The step into ``x`` (None for the first value, or with no feature at all)."""
        if not self.features:
            return None
        if self._last_step is not None and not self._last_excluded:
            self._fill = self._last_step
        self._last_excluded = False
        self._prev_normal = self._prev
        self._last_step = None if self._prev is None else abs(x - self._prev)
        self._prev = x
        return self._last_step

    def exclude_last(self) -> None:
        """The bucket just observed was flagged: its step becomes the last normal one, and the next
        step starts from the value before it."""
        if not self.features or self._prev_normal is None:
            return
        self._prev = self._prev_normal
        if self._last_step is not None:
            for feat in self.features:
                feat.amend_last(self._fill)
        self._last_excluded = True

    def state(self) -> VariabilityState:
        return VariabilityState(
            features=[f.state() for f in self.features],
            prev=self._prev,
            prev_normal=self._prev_normal,
            last_step=self._last_step,
            fill=self._fill,
            last_excluded=self._last_excluded,
        )

    def restore(self, state: VariabilityState) -> None:
        for feat, saved in zip(self.features, state.features, strict=True):
            feat.restore(saved)
        self._prev, self._prev_normal, self._last_step = (
            state.prev,
            state.prev_normal,
            state.last_step,
        )
        self._fill, self._last_excluded = state.fill, state.last_excluded
