"""The CUSUM detection-delay floor: how fast *any* detector can notice a rate drop at a given ARL0.

Use it to judge a detector, never inside one: ``bench/detection.py`` prints each detector's mean
delay as a ratio to this floor. The formulas are those of ``shared/DETECTION-LIMITS.md``:

* information per bucket ``I``: the KL divergence of the post-change from the pre-change law. For a
  Poisson count (volume) ``I = μ0·[(1−d)·ln(1−d) + d]``; for arrivals of ``n`` expected events on an
  edge (binomial, delivery ``p0`` dropping to ``p0·(1−d)``) ``I = n·KL(Bern(p0(1−d)) ‖ Bern(p0))``,
  which tends to the Poisson value when ``p0`` is small;
* first order (Lorden 1971): ``delay ≈ ln(ARL0) / I``;
* diffusion refinement: ``ARL0 = (e^h − h − 1)/I`` and ``delay = (h + e^{−h} − 1)/I`` exactly for
  the Brownian approximation of the log-likelihood ratio; ``h`` is solved from the first equation;
* a delay cannot be shorter than one bucket, so the floor is ``max(1, diffusion delay)``.

With a seasonal baseline the delay is reached when the *cumulative* information since the change
reaches the diffusion target ``I·delay = h + e^{−h} − 1`` (``cumulative_floor``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DelayFloor",
    "binomial_information",
    "cumulative_floor",
    "cusum_floor",
    "diffusion_delay",
    "diffusion_threshold",
    "first_order_delay",
    "poisson_floor",
    "poisson_information",
]


def poisson_information(mu0: float, d: float) -> float:
    """KL(Pois(μ0(1−d)) ‖ Pois(μ0)) in nats: the information per bucket of a relative drop ``d``."""
    if not 0 < d <= 1:
        raise ValueError(f"drop must be in (0, 1], got {d}")
    keep = 1.0 - d
    return mu0 * ((keep * math.log(keep) if keep > 0 else 0.0) + d)


def binomial_information(n: float, p0: float, d: float) -> float:
    """``n·KL(Bern(p0(1−d)) ‖ Bern(p0))``: information of one edge bucket with ``n`` expected events
    when the delivery probability drops from ``p0`` by the relative size ``d``."""
    if not 0 < p0 < 1:
        raise ValueError(f"p0 must be in (0, 1), got {p0}; use 1 - tolerance for an `all` edge")
    if not 0 < d <= 1:
        raise ValueError(f"drop must be in (0, 1], got {d}")
    p1 = p0 * (1.0 - d)
    kl = (p1 * math.log(p1 / p0) if p1 > 0 else 0.0) + (1 - p1) * math.log((1 - p1) / (1 - p0))
    return n * kl


def first_order_delay(information: float, arl0: float) -> float:
    """Lorden's first-order floor ``ln(ARL0)/I`` in buckets."""
    return math.log(arl0) / information


def diffusion_threshold(information: float, arl0: float) -> float:
    """The ``h`` with ``(e^h − h − 1)/I = ARL0`` (Newton's method on a convex increasing function)."""
    target = information * arl0
    if target <= 0:
        raise ValueError("information and arl0 must be positive")
    h = math.log1p(target) + 1.0  # above the root: e^h - h - 1 >= target there
    for _ in range(100):
        f = math.expm1(h) - h - target
        step = f / math.expm1(h)
        h -= step
        if abs(step) < 1e-13 * max(1.0, h):
            break
    return h


def diffusion_delay(information: float, arl0: float) -> float:
    """The diffusion-approximation delay ``(h + e^{−h} − 1)/I`` at the exactly calibrated ``h``."""
    h = diffusion_threshold(information, arl0)
    return (h + math.exp(-h) - 1.0) / information


@dataclass(frozen=True)
class DelayFloor:
    """The delay floor of one (information, ARL0) pair, in buckets."""

    information: float
    arl0: float
    first_order: float
    diffusion_h: float
    diffusion: float

    @property
    def floor(self) -> float:
        """The number to compare a detector with: the diffusion delay, but never under one bucket."""
        return max(1.0, self.diffusion)


def cusum_floor(information: float, arl0: float) -> DelayFloor:
    h = diffusion_threshold(information, arl0)
    return DelayFloor(
        information=information,
        arl0=arl0,
        first_order=first_order_delay(information, arl0),
        diffusion_h=h,
        diffusion=(h + math.exp(-h) - 1.0) / information,
    )


def poisson_floor(mu0: float, d: float, arl0: float) -> DelayFloor:
    """The floor for a relative drop ``d`` of a Poisson rate ``μ0`` per bucket (DETECTION-LIMITS table)."""
    return cusum_floor(poisson_information(mu0, d), arl0)


def cumulative_floor(
    information_after_change: Iterable[float], mean_information: float, arl0: float
) -> float:
    """The floor with a time-varying baseline: buckets (interpolated, at least 1) until the cumulative
    information since the change reaches ``h + e^{−h} − 1``, ``h`` calibrated at the mean information
    (the pre-change false-alarm behaviour is set by the average, the delay by the local rate).
    Returns ``inf`` if the series ends first."""
    h = diffusion_threshold(mean_information, arl0)
    target = h + math.exp(-h) - 1.0
    total = 0.0
    for i, info in enumerate(information_after_change):
        if total + info >= target:
            return max(1.0, i + (target - total) / info)
        total += info
    return math.inf
