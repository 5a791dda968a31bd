"""Which series a segmented count check judges: every known segment (a silent one counts 0), and
small segments rolled up into one series instead of alerting alone.

A segment that stops sending is exactly what a volume or freshness check exists to catch, but a
closed bucket only lists the segments it saw: without remembering the others, "EU went to zero"
would be invisible. And a segment with a handful of events per bucket cannot carry a test on its
own (every wobble is large in relative terms, and each segment spends its own false-alarm budget),
so segments whose typical count is below ``rollup_below`` are summed into ``ROLLUP``.

Typical is an exponentially weighted mean over about ``span`` buckets (default an hour of
minutes), with hysteresis: a segment joins the roll-up below ``rollup_below`` and leaves it above
twice that, so membership does not flap. A segment that went silent decays into the roll-up after
its own series had time to alarm.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.anomaly.detector_state import SegmentsState

ROLLUP = "__small_segments__"
"""The series name of the rolled-up small segments (a label value in alerts and metrics)."""


@dataclass
class Segments:
    rollup_below: float
    span: float = 60.0
    _mean: dict[str, float] = field(default_factory=dict)
    _small: set[str] = field(default_factory=set)

    def split(self, counts: Mapping[str, int]) -> list[tuple[str, int]]:
        """This bucket's series and their counts: known segments (0 when absent) and the roll-up."""
        alpha = 2.0 / (self.span + 1.0)
        for name in counts:
            if name not in self._mean:
                # A newcomer starts at its first count: no warm-up for its membership.
                self._mean[name] = float(counts[name])
                if counts[name] < self.rollup_below:
                    self._small.add(name)
        for name, mean in self._mean.items():
            mean += alpha * (counts.get(name, 0) - mean)
            self._mean[name] = mean
            if name in self._small and mean > 2.0 * self.rollup_below:
                self._small.discard(name)
            elif name not in self._small and mean < self.rollup_below:
                self._small.add(name)
        out = [
            (name, counts.get(name, 0)) for name in sorted(self._mean) if name not in self._small
        ]
        if self._small:
            out.append((ROLLUP, sum(counts.get(name, 0) for name in self._small)))
        return out

    @property
    def small(self) -> frozenset[str]:
        return frozenset(self._small)

    def state(self) -> SegmentsState:
        """Typical counts and roll-up membership, for the checkpoint (``monitor.anomaly.state``)."""
        return SegmentsState(self.rollup_below, self.span, dict(self._mean), sorted(self._small))

    @classmethod
    def from_state(cls, state: SegmentsState) -> Segments:
        return cls(state.rollup_below, state.span, dict(state.mean), set(state.small))


def unsegmented(counts: Counter[str]) -> list[tuple[str, int]]:
    """A check without ``segment_by`` has one series (named ""), 0 when nothing came."""
    return [("", sum(counts.values()))]
