"""The share of an edge's events that its ``to`` hop receives by design: a learned-ratio edge.

A consent filter or a router passes a share of the events that match its edge, and nobody can
promise that share exactly; hopwatch learns it (``divergence`` with ``learn_ratio: true``). Real
shares are less tidy than a constant, and each untidiness is a shape the divergence check must not
read as loss:

- a **daily cycle** (consent differs by time zone, so the share follows the hour of day):
  ``daily_swing`` around the level, highest at ``peak_hour`` UTC;
- **over-dispersion** per minute (the mix of a minute is not the mix of the day): each minute's
  share is drawn from a Beta with the curve's mean and standard deviation ``spread``;
- a **shape within the day** that is not a sinusoid (a routing rule that holds in office hours):
  ``daily_steps`` are ``(hour of day UTC, factor)``, the level times ``factor`` from that hour to
  the next listed one, around the clock;
- a **step** that stays (a product change): from ``steps[i][0]`` seconds after the scenario start
  the level is ``steps[i][1]``; the daily cycle scales with the level.

The events an edge does not pass never reach its ``to`` hop, exactly like a ``loss``, but they are
behaviour, not a fault: ``GroundTruth.filtered`` counts them apart from ``dropped``. The same model
drives ``bench/detection.py``'s learned-share rows, so the benchmark and a scenario file mean the
same shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_DAY = 86400.0


@dataclass(frozen=True)
class PassShare:
    """How the share an edge passes moves: level, daily cycle, per-minute spread, lasting steps.

    Shares are fractions (the YAML spec takes percents); ``steps`` are ``(seconds after the
    scenario start, new level)`` in time order."""

    level: float
    daily_swing: float = 0.0
    peak_hour: float = 6.0
    spread: float = 0.0
    steps: tuple[tuple[float, float], ...] = ()
    daily_steps: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        hours = [h for h, _ in self.daily_steps]
        if any(not 0.0 <= h < 24.0 for h in hours) or hours != sorted(set(hours)):
            raise ValueError("daily_steps must be at distinct hours in [0, 24), in order")
        if any(f <= 0 for _, f in self.daily_steps):
            raise ValueError("daily_steps factors must be positive")
        levels = (self.level, *(level for _, level in self.steps))
        for level in levels:
            if not 0.0 <= level <= 1.0:
                raise ValueError(f"a pass share must be in [0, 1], got {level}")
        if self.daily_swing < 0 or self.spread < 0:
            raise ValueError("daily_swing and spread must not be negative")
        factors = [f for _, f in self.daily_steps] or [1.0]
        for level in levels:
            low, high = _scaled(level, self.level, self.daily_swing)
            low, high = low * min(factors), high * max(factors)
            if low < 0.0 or high > 1.0:
                raise ValueError(
                    f"a daily swing of ±{self.daily_swing:.1%} around {level:.1%} leaves [0, 1]"
                )
            if self.spread and not 0.0 < low <= high < 1.0:
                raise ValueError("a spread needs the share strictly between 0 and 1")
            if self.spread and self.spread**2 >= low * (1.0 - low):
                raise ValueError(
                    f"a spread of {self.spread:.1%} is too wide for a share of {low:.1%} "
                    f"(a Beta needs sd² < share·(1 − share))"
                )
        at = [t for t, _ in self.steps]
        if any(t < 0 for t in at) or at != sorted(at):
            raise ValueError("steps must be at non-negative times, in order")

    def level_at(self, t: np.ndarray, origin: float) -> np.ndarray:
        """The level (before the daily cycle) at absolute times ``t``."""
        out = np.full(np.shape(t), self.level, dtype=float)
        for at, level in self.steps:
            out = np.where(np.asarray(t) >= origin + at, level, out)
        return out

    def mean(self, t: np.ndarray | float, origin: float) -> np.ndarray:
        """The expected share at absolute times ``t`` (epoch seconds) of a run starting at ``origin``."""
        t = np.asarray(t, dtype=float)
        level = self.level_at(t, origin)
        hour = (t % _DAY) / 3600.0
        if self.daily_steps:
            at = np.asarray([h for h, _ in self.daily_steps])
            factor = np.asarray([f for _, f in self.daily_steps])
            # Before the first listed hour the last factor still holds (around the clock).
            level = level * factor[(np.searchsorted(at, hour, side="right") - 1) % len(at)]
        if not self.daily_swing:
            return level
        cycle = np.cos(2.0 * np.pi * (hour - self.peak_hour) / 24.0)
        return level * (1.0 + self.daily_swing / self.level * cycle)

    def draw(self, rng: np.random.Generator, t: np.ndarray, origin: float) -> np.ndarray:
        """The share of the minutes at times ``t``: the mean, or a Beta draw around it."""
        m = self.mean(t, origin)
        if not self.spread:
            return m
        total = m * (1.0 - m) / self.spread**2 - 1.0
        return rng.beta(m * total, (1.0 - m) * total)


def _scaled(level: float, base: float, swing: float) -> tuple[float, float]:
    """The lowest and highest share of the daily cycle at ``level`` (the swing scales with it)."""
    if base <= 0:
        return level, level
    s = swing * level / base
    return level - s, level + s


__all__ = ["PassShare"]
