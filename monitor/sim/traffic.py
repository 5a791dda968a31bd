"""How many events the simulated SDKs create each minute, and what they look like.

The volume model is what the ``volume`` and ``mix`` checks are meant to learn: a base rate with a
minute-of-day curve (per region, in the region's local time, so the region mix drifts over the day),
a weekly curve (quieter weekends), and gamma-Poisson over-dispersion so minute counts are noisier than
Poisson, as real traffic is. Everything is drawn from a caller-supplied numpy ``Generator``, so the
simulator decides how randomness is seeded (one generator per simulated minute).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SECONDS_PER_MINUTE = 60.0
_DAY = 86400.0
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; Monday is 0.


@dataclass(frozen=True)
class Mix:
    """A categorical attribute and the share of events taking each value (shares sum to 1)."""

    name: str
    values: tuple[str, ...]
    shares: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.values) != len(self.shares) or not self.values:
            raise ValueError(f"mix {self.name!r}: needs one share per value")
        if any(s < 0 for s in self.shares) or not math.isclose(sum(self.shares), 1.0, abs_tol=1e-6):
            raise ValueError(f"mix {self.name!r}: shares must be non-negative and sum to 1")

    def draw(self, u: np.ndarray) -> np.ndarray:
        """Value indices for uniforms ``u`` (inverse CDF), so one uniform per event decides the value."""
        cum = np.cumsum(self.shares)
        return np.minimum(np.searchsorted(cum, u, side="right"), len(self.values) - 1)


@dataclass(frozen=True)
class Region:
    """A region's share of the base rate and its UTC offset (its traffic peaks in its afternoon)."""

    name: str
    share: float
    utc_offset_hours: float = 0.0


def _mix(name: str, pairs: dict[str, float]) -> Mix:
    return Mix(name, tuple(pairs), tuple(pairs.values()))


@dataclass(frozen=True)
class TrafficModel:
    """The shape of the traffic at the first hop. ``rate_per_minute`` is the mean over a whole week."""

    rate_per_minute: float = 600.0
    dispersion: float = 50.0
    """Gamma shape k of the per-minute rate multiplier (variance of the rate is 1/k); inf is Poisson."""
    diurnal_amplitude: float = 0.6
    """Peak-to-mean swing of the minute-of-day curve: night is ``1 - a``, the afternoon peak ``1 + a``."""
    peak_hour: float = 15.0
    weekend_factor: float = 0.7
    regions: tuple[Region, ...] = (
        Region("eu", 0.45, 1.0),
        Region("us", 0.40, -5.0),
        Region("uk", 0.15, 0.0),
    )
    event_types: Mix = field(
        default_factory=lambda: _mix(
            "event_type",
            {
                "user_signed_up": 0.15,
                "email_opt_in_granted": 0.10,
                "trial_started": 0.10,
                "plan_upgraded": 0.05,
                "feature_used": 0.60,
            },
        )
    )
    attributes: tuple[Mix, ...] = field(
        default_factory=lambda: (
            _mix("consent", {"granted": 0.8, "denied": 0.2}),
            _mix("source", {"web": 0.5, "ios": 0.3, "android": 0.2}),
            _mix("schema_version", {"3": 0.9, "2": 0.1}),
        )
    )

    def __post_init__(self) -> None:
        if self.rate_per_minute < 0:
            raise ValueError("rate_per_minute must not be negative")
        if not 0 <= self.diurnal_amplitude < 1:
            raise ValueError("diurnal_amplitude must be in [0, 1)")
        if not 0 < self.weekend_factor <= 3.5:
            raise ValueError("weekend_factor must be in (0, 3.5]")
        if not math.isclose(sum(r.share for r in self.regions), 1.0, abs_tol=1e-6):
            raise ValueError("region shares must sum to 1")

    def seasonality(self, t: np.ndarray | float, utc_offset_hours: float = 0.0) -> np.ndarray:
        """Multiplier of the mean rate at epoch seconds ``t`` in a region; its weekly mean is 1."""
        local = np.asarray(t, dtype=float) + utc_offset_hours * 3600.0
        hour = (local % _DAY) / 3600.0
        diurnal = 1.0 + self.diurnal_amplitude * np.cos(2 * np.pi * (hour - self.peak_hour) / 24.0)
        weekday = (np.floor(local / _DAY).astype(np.int64) + _EPOCH_WEEKDAY) % 7
        weekday_factor = (7.0 - 2.0 * self.weekend_factor) / 5.0
        weekly = np.where(weekday >= 5, self.weekend_factor, weekday_factor)
        return diurnal * weekly

    def expected_per_minute(self, minute_start: float) -> np.ndarray:
        """Mean event count per region (in ``regions`` order) for the minute starting at ``minute_start``."""
        mid = minute_start + SECONDS_PER_MINUTE / 2
        return np.array(
            [
                self.rate_per_minute * r.share * float(self.seasonality(mid, r.utc_offset_hours))
                for r in self.regions
            ]
        )

    def draw_counts(self, rng: np.random.Generator, minute_start: float) -> np.ndarray:
        """Events per region in one minute: Poisson with a gamma-distributed rate (over-dispersion)."""
        lam = self.expected_per_minute(minute_start)
        if math.isfinite(self.dispersion):
            lam = lam * rng.gamma(self.dispersion, 1.0 / self.dispersion, size=len(lam))
        return rng.poisson(lam)
